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

"""The Panda's closed loop without ROS: a controller, the operator and the gate's arbiter."""

from pathlib import Path

from imitation_ros.dagger.panda_loop import (onnx_controller, panda_gate_config,
                                             run_panda_episode)
from imitation_ros.errors import ConfigError
from imitation_ros.gate.arbiter import GateConfig
from imitation_ros.gate.limits import safe_command
from imitation_ros.interface.robot import RobotModel
from imitation_ros.runtime.onnx_policy import OnnxPolicy
from imitation_ros.sim.panda.experts import ReachExpert, ReachStyle
from imitation_ros.sim.panda.model import ARM_JOINTS, PandaConfig
from imitation_ros.sim.panda.operator import PandaOperator, PandaOperatorParams
from imitation_ros.sim.panda.sim import PandaSim
from imitation_ros.training.rl.panda import expert_controller
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
URDF = (ROOT / 'urdf' / 'panda.urdf').read_text(encoding='utf-8')
GATE = panda_gate_config(URDF)


@pytest.fixture(scope='module')
def sim() -> PandaSim:
    s = PandaSim(PandaConfig(camera=False), task_kind='reach')
    yield s
    s.close()


def straight_at_goal(sim: PandaSim):
    """Return a bad policy: the tool straight at the goal, through the pole."""
    def controller(q: np.ndarray, task: np.ndarray) -> np.ndarray:
        step = sim.task.goal - sim.tcp
        step *= min(0.012, float(np.linalg.norm(step))) / max(float(np.linalg.norm(step)), 1e-9)
        return q + np.linalg.pinv(sim.kinematics.jacobian(q)[:3]) @ step
    return controller


def assert_gated(ep) -> None:
    """Every executed command is a fixed point of the gate's clamp."""
    for q, a in zip(ep.states, ep.actions):
        again, _ = safe_command(a, q, GATE.robot.lower, GATE.robot.upper,
                                max_step=GATE.max_joint_step, margin=GATE.limit_margin)
        np.testing.assert_allclose(again, a, atol=1e-9)


def test_the_demonstrator_through_the_gate_reaches_the_goal_without_holds(sim) -> None:
    """The gate forwards a good controller's targets: success, no hold, no human step."""
    expert = ReachExpert(sim.kinematics, sim.config, ReachStyle(side=1))
    ep = run_panda_episode(sim, expert_controller(sim, expert), GATE, seed=3)
    assert ep.success and ep.reason == 'success'
    assert not ep.human.any() and not ep.held.any()
    assert ep.states.shape == ep.actions.shape == (ep.steps, 7)
    assert ep.tool.shape == (ep.steps + 1, 3)
    assert np.linalg.norm(ep.tool[-1] - ep.task.goal) < ep.task.goal_tolerance + 1e-9
    assert_gated(ep)


def test_the_operator_takes_over_a_policy_heading_into_the_pole(sim) -> None:
    """Alone the policy collides; watched, the operator steps in (marked human) and it succeeds."""
    alone = run_panda_episode(sim, straight_at_goal(sim), GATE, seed=0)
    assert alone.reason == 'collision' and not alone.human.any()
    operator = PandaOperator(PandaOperatorParams(side=1), seed=0)
    ep = run_panda_episode(sim, straight_at_goal(sim), GATE, seed=0, operator=operator)
    assert ep.success and ep.takeovers >= 1
    assert ep.human.any() and not ep.human[0]
    assert_gated(ep)


def test_a_non_finite_policy_target_makes_the_gate_hold_at_the_measured_position(sim) -> None:
    """Non-finite targets are refused: the gate holds at the measured position, no crash."""
    ep = run_panda_episode(sim, lambda q, task: np.full(7, np.nan), GATE, seed=1)
    assert ep.held.all() and not ep.human.any()
    assert np.all(np.isfinite(ep.actions))
    np.testing.assert_allclose(ep.actions, ep.states, atol=1e-12)
    assert ep.reason == 'timeout'


def test_a_gate_or_model_of_other_joints_is_refused(sim, tmp_path: Path) -> None:
    """The loop needs the Panda arm's gate and a model of the seven arm joints."""
    planar = RobotModel.from_urdf((ROOT / 'urdf' / 'planar3.urdf').read_text(encoding='utf-8'))
    bad = GateConfig(robot=planar, rate_hz=20.0)
    with pytest.raises(ConfigError, match='panda_gate_config'):
        run_panda_episode(sim, lambda q, task: q, bad, seed=0)
    with pytest.raises(ConfigError, match='seven arm joints'):
        onnx_controller(OnnxPolicy(ROOT / 'models' / 'planar_gmm_multi.onnx'))
    assert tuple(GATE.robot.joint_names) == ARM_JOINTS
