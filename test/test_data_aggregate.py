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

"""The training set per the lecture: which samples, which labels, and which are dropped."""

from pathlib import Path

import numpy as np
import pytest

from imitation_ros.data.aggregate import aggregate, DEFAULT_MAX_COMMAND_STEP
from imitation_ros.data import EpisodeRecord, write_episode
from imitation_ros.data.dataset import load_dataset
from imitation_ros.errors import DataError

JOINTS = ('joint1', 'joint2', 'joint3')
N = 20


def _episode(path: Path, source: str, *, human_from: int = N, bad: tuple[int, ...] = (),
             episode: int = 0, expert: bool = False) -> None:
    """Write an episode whose commands step 0.05 rad from each state; ``bad`` ones jump 1 rad."""
    positions = np.cumsum(np.full((N + 1, 3), 0.04), axis=0) - 0.4
    actions = positions[:N] + 0.05
    for i in bad:
        actions[i] = positions[i] + 1.0  # decided at another state: too far for the gate
    write_episode(EpisodeRecord(
        joint_names=JOINTS, t0_ns=1_800_000_000_000_000_000 + episode * 10 ** 11, dt=0.05,
        positions=positions, velocities=np.zeros((N + 1, 3)),
        task=np.array([0.5, 0.2, 0.3, 0.0, 0.08]), actions=actions,
        intervention=np.arange(N) >= human_from, episode=episode, success=True,
        reason='success', source=source,
        expert_actions=(positions[:N] + 2.0) if expert else None), path)


def test_hg_dagger_keeps_human_steps_and_drops_misaligned_ones(tmp_path: Path) -> None:
    """Only human steps join; commands too far from their state are dropped and counted."""
    _episode(tmp_path / 'demo' / 'ep_00000', 'demo', bad=(3,))
    _episode(tmp_path / 'hg' / 'ep_00001', 'hg_dagger', human_from=8, bad=(2, 10, 11),
             episode=1)
    data = load_dataset([tmp_path])
    samples = aggregate(data)
    # demo: 20 - 1 bad; hg: steps 8..19 human = 12, minus 2 bad (step 2 is the policy's).
    assert len(samples) == 19 + 10 and samples.misaligned == 3
    assert int(samples.correction.sum()) == 10
    assert np.max(np.abs(samples.action - samples.state)) <= DEFAULT_MAX_COMMAND_STEP
    kept = aggregate(data, max_command_step=None)
    assert len(kept) == 20 + 12 and kept.misaligned == 0
    looser = aggregate(data, max_command_step=2.0)
    assert looser.misaligned == 0
    with pytest.raises(DataError, match='max_command_step'):
        aggregate(data, max_command_step=0.0)


def test_expert_labels_are_not_checked_against_the_step(tmp_path: Path) -> None:
    """Expert labels name their state exactly: a far one is the expert's, not misaligned."""
    _episode(tmp_path / 'dagger' / 'ep_00000', 'dagger', expert=True)
    samples = aggregate(load_dataset([tmp_path]))
    assert len(samples) == N and samples.misaligned == 0
    np.testing.assert_allclose(samples.action - samples.state, 2.0)
