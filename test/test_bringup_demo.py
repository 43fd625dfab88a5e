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

"""One short end-to-end HG-DAgger round of the composed graph over real DDS."""

from __future__ import annotations

import os
from pathlib import Path

from imitation_ros.bringup.demo import run_demo
from imitation_ros.data.bags import episode_info, find_episode_bags
from imitation_ros.runtime.onnx_policy import OnnxPolicy
import pytest

DOMAIN_ID = 77


@pytest.fixture()
def private_domain():
    """Run on a private ROS domain."""
    old = os.environ.get('ROS_DOMAIN_ID')
    os.environ['ROS_DOMAIN_ID'] = str(DOMAIN_ID)
    yield
    if old is None:
        os.environ.pop('ROS_DOMAIN_ID', None)
    else:
        os.environ['ROS_DOMAIN_ID'] = old


def test_one_round_trains_publishes_and_hot_reloads(tmp_path: Path, private_domain) -> None:
    """Round 0 runs v001; the trainer's v002 is hot-reloaded by the policy node for round 1."""
    lines: list[str] = []
    rounds = run_demo(data_dir=tmp_path / 'data', models_dir=tmp_path / 'models', rounds=1,
                      episodes=2, demos=3, policy='mse', train_steps=30, seed=1,
                      log=lines.append, domain_id=DOMAIN_ID)
    assert [r.version for r in rounds] == ['v001', 'v002']
    assert all(r.episodes == 2 for r in rounds)
    assert any('hot-reloaded' in line for line in lines)
    session = next((tmp_path / 'data').iterdir())
    recorded = [episode_info(b) for b in find_episode_bags(session / 'hg_dagger')]
    assert len(recorded) >= 4 and {i.source for i in recorded} == {'hg_dagger'}
    assert {i.policy_version for i in recorded} >= {'v001', 'v002'}
    v002 = OnnxPolicy(next((tmp_path / 'models').rglob('policy_v002.onnx')))
    # v002 was trained on the demonstrations plus the bags recorded in round 0.
    assert v002.training_data['episodes'] >= 4
    assert next((tmp_path / 'models').rglob('hg_dagger_rounds.png')).stat().st_size > 1000
