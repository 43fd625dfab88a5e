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

One sample per arm state: a gate that ticks faster than the arm reports its joints (the demo
runs the gate at 50 Hz beside a 20 Hz arm) sends several commands per joint state, and only
the last one before the next state is what the arm executed. Consecutive samples of an
episode with the same joint state collapse into that last one, so a takeover is not counted
two or three times over (which would silently multiply ``correction_weight``).

Misaligned samples are dropped (and counted in ``LabelledSamples.misaligned``): the gate
clamps every command to ``max_joint_step`` (0.1 rad by default) from the joint position it
measured, so an executed command farther than ``max_command_step`` from the joint state it
is paired with was decided at another state. Live bags pair commands and joint states by
log time, and around episode ends and resets, or when the arm's next state reaches the
recorder before the gate's command does, a command lands on the wrong state; one such
sample at 1-3 rad off pulls a squared-error policy far more than a hundred good ones.
Expert labels (DAgger) are not checked: they name their state exactly.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Optional

import numpy as np

from .dataset import Dataset, SOURCE_CODES
from ..errors import DataError

#: Default sampling weight of a correction sample relative to a demonstration sample.
DEFAULT_CORRECTION_WEIGHT = 2.0
#: Default largest distance (rad, any joint) of an executed command from its paired joint
#: state: the gate's default ``max_joint_step``.
DEFAULT_MAX_COMMAND_STEP = 0.1


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
    misaligned: int = 0
    """Samples dropped because their command was too far from their joint state."""

    def __len__(self) -> int:
        """Return the number of samples."""
        return int(self.state.shape[0])


def last_per_state(data: Dataset) -> np.ndarray:
    """
    Return a mask, (N,) bool, keeping the last sample of each run of one joint state.

    A run is consecutive samples of one episode whose joint positions are identical (the
    same /joint_states message observed by several commands).
    """
    n = len(data)
    keep = np.ones(n, dtype=bool)
    if n > 1:
        same = (np.all(data.positions[1:] == data.positions[:-1], axis=1)
                & (data.episode_id[1:] == data.episode_id[:-1]))
        keep[:-1] = ~same
    return keep


def _rank_in_episode(episode: np.ndarray) -> np.ndarray:
    """Return each sample's index within its episode, (N,) int64 (samples in order)."""
    n = len(episode)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    starts = np.r_[True, episode[1:] != episode[:-1]]
    first = np.maximum.accumulate(np.where(starts, np.arange(n), 0))
    return (np.arange(n) - first).astype(np.int64)


def aggregate(data: Dataset, *, correction_weight: float = DEFAULT_CORRECTION_WEIGHT,
              one_per_state: bool = True,
              max_command_step: Optional[float] = DEFAULT_MAX_COMMAND_STEP) -> LabelledSamples:
    """
    Select and label the samples of ``data`` for training (see the module docstring).

    :param one_per_state: keep only the last command per joint state (see above).
    :param max_command_step: drop executed-command samples (demo, hg_dagger) whose command
        is farther than this from their joint state on any joint (rad; the gate's
        ``max_joint_step``); None keeps them all.
    """
    if correction_weight <= 0:
        raise DataError(f'correction_weight must be > 0, got {correction_weight}')
    if max_command_step is not None and not max_command_step > 0:
        raise DataError(f'max_command_step must be > 0 rad (None keeps every sample), got '
                        f'{max_command_step}')
    if one_per_state:
        data = data.subset(last_per_state(data))
        # Renumber the steps as arm steps, so action chunks stay contiguous.
        data = replace(data, step=_rank_in_episode(data.episode_id))
    demo = data.source == SOURCE_CODES['demo']
    hg = (data.source == SOURCE_CODES['hg_dagger']) & data.human
    labelled = np.all(np.isfinite(data.expert_actions), axis=1)
    dagger = (data.source == SOURCE_CODES['dagger']) & labelled
    misaligned = np.zeros(len(data), dtype=bool)
    if max_command_step is not None:
        far = np.max(np.abs(data.actions - data.positions), axis=1) > max_command_step + 1e-9
        misaligned = far & (demo | hg)
    keep = (demo | hg | dagger) & ~misaligned
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
        image=None if data.images is None else data.images[keep],
        misaligned=int(misaligned.sum()))
