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

"""A short HG-DAgger demo on the MuJoCo Panda over real DDS, and its Panda settings."""

from __future__ import annotations

import os
from pathlib import Path

from imitation_ros.bringup.demo import run_demo
from imitation_ros.bringup.panda_demo import collect_panda_demos, panda_overrides
from imitation_ros.data import episode_info, find_episode_bags
from imitation_ros.data.dataset import load_dataset
from imitation_ros.errors import ConfigError
from imitation_ros.interface.robot import RobotModel
from imitation_ros.runtime.onnx_policy import OnnxPolicy
from imitation_ros.sim.panda.model import ARM_JOINTS
from imitation_ros.sim.panda.operator import gate_teleop
import pytest
from ros_harness import private_domain_id

DOMAIN_ID = private_domain_id(87)


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


def test_panda_overrides_put_every_node_on_the_seven_arm_joints() -> None:
    """sim_arm, sim_human, expert run the Panda; policy, recorder on its arm joints; gate maps."""
    base = {'sim_arm': {'seed': 3, 'actuation_noise': 0.01}, 'sim_human': {'side': 1},
            'policy': {'rate_hz': 50.0}, 'intervention_gate': {'rate_hz': 50.0},
            'recorder': {}, 'trainer': {}, 'expert': {'expert': 'above'}}
    out = panda_overrides(base, side=-1)
    assert out['sim_arm'] == {'seed': 3, 'robot': 'panda', 'panda_task': 'reach'}
    assert out['sim_human'] == {'side': -1, 'robot': 'panda'}
    chain = {'base_link': out['policy']['base_link'], 'tip_link': out['policy']['tip_link']}
    urdf = (Path(__file__).resolve().parents[1] / 'urdf' / 'panda.urdf').read_text()
    assert RobotModel.from_urdf(urdf, **chain).joint_names == tuple(ARM_JOINTS)
    assert {k: out['recorder'][k] for k in chain} == chain
    assert out['policy']['rate_hz'] == 50.0
    assert out['intervention_gate'] == {'rate_hz': 50.0, **gate_teleop()}
    assert out['trainer'] == {'features': 'raw'}
    assert out['expert'] == {'expert': 'above', 'robot': 'panda', **chain}
    assert base['sim_arm']['actuation_noise'] == 0.01  # the planar overrides left as they were


def test_panda_demonstrations_hold_the_arm_joints_as_the_recorder_writes_them(
        tmp_path: Path) -> None:
    """The demo's first demonstrations: 7 arm joints and 7 targets per step, left of the pole."""
    summary = collect_panda_demos('above', 2, tmp_path, seed=0)
    assert summary.episodes == summary.successes == 2
    assert summary.modes == {'left': 2}
    data = load_dataset([summary.session_dir])
    assert data.joint_names == ARM_JOINTS
    assert data.positions.shape[1] == 7


def test_unknown_robot_is_refused_before_anything_runs(tmp_path: Path) -> None:
    """A robot the demo does not know: ConfigError naming the choices, nothing written."""
    with pytest.raises(ConfigError, match='planar3, panda'):
        run_demo(data_dir=tmp_path / 'data', models_dir=tmp_path / 'models', robot='ur5')
    assert not (tmp_path / 'data').exists()


def test_panda_round_trains_records_the_arm_joints_and_evaluates_alone(
        tmp_path: Path, private_domain) -> None:
    """Round 0 on the Panda over DDS; its takeovers train v002 (hot-reloaded); models run alone."""
    lines: list[str] = []
    rounds = run_demo(data_dir=tmp_path / 'data', models_dir=tmp_path / 'models', rounds=1,
                      episodes=2, demos=2, policy='mse', train_steps=30, seed=1,
                      log=lines.append, domain_id=DOMAIN_ID, robot='panda', eval_episodes=2)
    assert [r.episodes for r in rounds] == [2, 2]
    assert all(r.autonomous is not None for r in rounds)
    assert any('alone: success' in line for line in lines)
    session = next((tmp_path / 'data').iterdir())
    bags = find_episode_bags(session / 'hg_dagger')
    recorded = [episode_info(b) for b in bags]
    assert len(recorded) >= 4 and {i.source for i in recorded} == {'hg_dagger'}
    assert load_dataset(bags).joint_names == ARM_JOINTS
    assert next((tmp_path / 'models').rglob('hg_dagger_rounds.png')).stat().st_size > 1000
    v001 = OnnxPolicy(next((tmp_path / 'models').rglob('policy_v001.onnx')))
    assert v001.joint_names == ARM_JOINTS and len(v001.task_layout) == 7
    if rounds[0].corrections == 0:
        # Whether the operator takes over depends on DDS timing; a round without one
        # brings no HG-DAgger data and keeps its model.
        assert [r.version for r in rounds] == ['v001', 'v001']
        return
    assert [r.version for r in rounds] == ['v001', 'v002']
    assert any('hot-reloaded' in line for line in lines)
    assert {i.policy_version for i in recorded} >= {'v001', 'v002'}
    v002 = OnnxPolicy(next((tmp_path / 'models').rglob('policy_v002.onnx')))
    sources = v002.training_data['sources']
    assert sources.get('hg_dagger', 0) >= rounds[0].episodes and sources.get('demo') == 2
