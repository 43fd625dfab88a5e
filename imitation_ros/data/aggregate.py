# Copyright 2026 imitation_ros contributors
#
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#
#     http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS,
# WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
# See the License for the specific language governing permissions and
# limitations under the License.

"""
Build the training set from episode data, per the lecture.

- ``demo`` episodes: every sample, labelled by what was executed (the demonstrator's action).
- ``hg_dagger`` episodes: only the samples under human control, from each takeover onward
  (D <- D u {(s'_i, a*_i)} for i >= t); the policy's own steps carry no label.
- ``dagger`` episodes: every visited state, labelled with the expert's action (not what was
  executed); samples without an expert label are dropped.

Correction samples (hg_dagger and dagger) are drawn ``correction_weight`` times as often as a
demonstration sample, so a few takeovers matter without replacing the base demonstrations.
"""

from __future__ import annotations

from dataclasses import dataclass
import hashlib
import json
from typing import Optional, Sequence

import numpy as np

from ..errors import DataError
from .bags import EpisodeInfo
from .dataset import Dataset, SOURCE_CODES

#: Default sampling weight of a correction sample relative to a demonstration sample.
DEFAULT_CORRECTION_WEIGHT = 2.0


@dataclass(frozen=True)
class LabelledSamples:
    """Samples selected for training, with their labels and weights."""

    state: np.ndarray
    """Joint positions, (N, n), rad."""
    task: np.ndarray
    """Task vectors, (N, k)."""
    action: np.ndarray
    """Label: absolute joint target, (N, n), rad."""
    episode: np.ndarray
    """Episode index (into the dataset's episodes), (N,)."""
    step: np.ndarray
    """Control step within the episode, (N,)."""
    weight: np.ndarray
    """Sampling weight, (N,)."""
    correction: np.ndarray
    """True for human or expert corrections, (N,)."""
    image: Optional[np.ndarray]
    """Camera frames, (N, H, W, 3) uint8, or None."""

    def __len__(self) -> int:
        """Return the number of samples."""
        return int(self.state.shape[0])


def aggregate(data: Dataset, *,
              correction_weight: float = DEFAULT_CORRECTION_WEIGHT) -> LabelledSamples:
    """Select and label the samples of ``data`` for training (see the module docstring)."""
    if correction_weight <= 0:
        raise DataError(f'correction_weight must be > 0, got {correction_weight}')
    demo = data.source == SOURCE_CODES['demo']
    hg = (data.source == SOURCE_CODES['hg_dagger']) & data.human
    labelled = np.all(np.isfinite(data.expert_actions), axis=1)
    dagger = (data.source == SOURCE_CODES['dagger']) & labelled
    keep = demo | hg | dagger
    if not keep.any():
        raise DataError('no labelled samples: the bags hold no demonstrations, no human '
                        'takeovers and no expert labels')
    action = np.where(dagger[:, None], data.expert_actions, data.actions)
    correction = hg | dagger
    weight = np.where(correction, correction_weight, 1.0)
    return LabelledSamples(
        state=data.positions[keep], task=data.task[keep], action=action[keep],
        episode=data.episode_id[keep].astype(np.int64), step=data.step[keep].astype(np.int64),
        weight=weight[keep], correction=correction[keep],
        image=None if data.images is None else data.images[keep])


def data_digest(episodes: Sequence[EpisodeInfo]) -> str:
    """Return a SHA-256 over the episodes' facts (names, counts, custom data): the data's id."""
    h = hashlib.sha256()
    for info in sorted(episodes, key=lambda e: (str(e.path.parent.name), str(e.path.name))):
        h.update(json.dumps({'bag': f'{info.path.parent.name}/{info.path.name}',
                             'counts': dict(sorted(info.message_counts.items())),
                             'custom': dict(sorted(info.custom_data.items()))},
                            sort_keys=True).encode())
    return h.hexdigest()
