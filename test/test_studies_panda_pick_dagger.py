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


"""HG-DAgger and DAgger rounds on the Panda pick task, tiny: bags, labels, the next version."""

from __future__ import annotations

from pathlib import Path

from imitation_ros.data import episode_info, find_episode_bags
from imitation_ros.data.aggregate import aggregate
from imitation_ros.data.dataset import load_dataset
from imitation_ros.errors import ConfigError
from imitation_ros.runtime.onnx_policy import OnnxPolicy
from imitation_ros.studies.panda_pick_dagger import format_pick_rounds, run_pick_rounds
import numpy as np
import pytest


def test_hg_dagger_round_records_the_operators_corrections_and_retrains(tmp_path: Path) -> None:
    """A barely trained v001 is taken over; the takeovers are corrections v002 trains on."""
    lines: list[str] = []
    rounds = run_pick_rounds(tmp_path, mode='hg_dagger', rounds=1, episodes=2, demos=2,
                             kind='mse', train_steps=20, warm_steps=10, eval_episodes=1,
                             log=lines.append)
    assert [r.version for r in rounds] == ['v001', 'v002']
    assert rounds[0].takeovers_per_episode >= 1 and rounds[0].labelled > 0
    assert all(r.alone is not None for r in rounds)
    bags = find_episode_bags(tmp_path / 'data' / 'round_0')
    assert len(bags) == 2 and {episode_info(b).source for b in bags} == {'hg_dagger'}
    samples = aggregate(load_dataset(bags))
    assert int(samples.correction.sum()) == rounds[0].labelled
    v002 = OnnxPolicy(tmp_path / 'models' / 'policy_v002.onnx')
    assert v002.training_data['sources'] == {'demo': 2, 'hg_dagger': 2}
    assert '| 1 | v002 | 2 |' in format_pick_rounds(rounds, 'hg_dagger')


def test_dagger_round_labels_every_state_and_mixes_in_the_expert(tmp_path: Path) -> None:
    """Round 0 at beta 0.5: every recorded state has the pick expert's 8-value label."""
    rounds = run_pick_rounds(tmp_path, mode='dagger', rounds=0, episodes=2, demos=2,
                             kind='mse', train_steps=20, eval_episodes=0)
    assert rounds[0].beta == 0.5 and 0.0 < rounds[0].helped_fraction < 1.0
    bags = find_episode_bags(tmp_path / 'data' / 'round_0')
    data = load_dataset(bags)
    labelled = np.all(np.isfinite(data.expert_actions), axis=1)
    assert data.expert_actions.shape[1] == 8
    assert labelled.sum() == rounds[0].labelled > 0


def test_unknown_mode_is_refused(tmp_path: Path) -> None:
    """An unknown mode: ConfigError naming the modes, nothing collected."""
    with pytest.raises(ConfigError, match='hg_dagger, dagger'):
        run_pick_rounds(tmp_path, mode='rl')
    assert not any(tmp_path.iterdir())
