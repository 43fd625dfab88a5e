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


"""The simulated Panda: determinism, the position controller, how episodes end."""

import numpy as np
import pytest

from imitation_ros.errors import SimError
from imitation_ros.sim.panda.kinematics import solve_ik
from imitation_ros.sim.panda.model import PandaConfig
from imitation_ros.sim.panda.observe import JOINT_LAYOUT, observation_from_joints, observe
from imitation_ros.sim.panda.sim import PandaSim


def _sim(kind: str = 'reach', **overrides) -> PandaSim:
    return PandaSim(PandaConfig(camera=False, **overrides), task_kind=kind)


def _hold(sim: PandaSim) -> np.ndarray:
    return np.concatenate([sim.q, [sim.width]])


def _drive(sim: PandaSim, action: np.ndarray, steps: int) -> None:
    for _ in range(steps):
        if sim.done:
            return
        sim.step(action)


@pytest.mark.parametrize('kind', ['reach', 'pick'])
def test_reset_and_steps_are_deterministic_given_the_seed(kind: str) -> None:
    """Two sims reset with one seed draw the same task and follow the same states."""
    a, b = _sim(kind), _sim(kind)
    task_a, task_b = a.reset(seed=7), b.reset(seed=7)
    np.testing.assert_array_equal(task_a.vector(), task_b.vector())
    np.testing.assert_array_equal(task_a.start, task_b.start)
    action = np.concatenate([task_a.start + 0.2, [0.03]])
    for _ in range(5):
        a.step(action)
        b.step(action)
    np.testing.assert_array_equal(a.q, b.q)
    np.testing.assert_array_equal(a.cube_pose, b.cube_pose)
    assert not np.array_equal(a.reset(seed=8).vector(), task_a.vector())


def test_command_moves_joints_toward_it_at_most_at_max_speed() -> None:
    """Each joint moves toward its target by no more than its speed limit per period."""
    sim = _sim()
    task = sim.reset(seed=1)
    target = task.start + np.array([0.6, -0.3, 0.5, 0.4, -0.6, -0.4, 0.8])
    step_limit = sim.config.joint_speed * sim.config.dt
    moved = np.zeros(7)
    for _ in range(30):
        before = sim.q
        sim.step(np.concatenate([target, [0.08]]))
        delta = sim.q - before
        assert np.all(np.abs(delta) <= step_limit * 1.05 + 1e-4), (delta, step_limit)
        moved += delta
    assert not sim.done, sim.reason
    np.testing.assert_allclose(sim.q, target, atol=0.01)
    assert np.all(np.sign(moved) == np.sign(target - task.start))


def test_nonfinite_action_keeps_the_last_command() -> None:
    """A NaN action is ignored: the arm keeps tracking the previous command."""
    sim = _sim()
    task = sim.reset(seed=2)
    target = np.concatenate([task.start + 0.05, [0.08]])
    sim.step(target)
    sim.step(np.full(8, np.nan))
    _drive(sim, target, 10)
    np.testing.assert_allclose(sim.q, target[:7], atol=0.005)


def test_bad_use_raises_sim_error() -> None:
    """A wrong action shape and stepping a finished episode raise SimError."""
    sim = _sim()
    with pytest.raises(SimError, match='reset'):
        sim.step(np.zeros(8))
    sim.reset(seed=0)
    with pytest.raises(SimError, match='shape'):
        sim.step(np.zeros(7))


def test_touching_the_pole_ends_with_collision() -> None:
    """Driving the tool into the pole ends the episode with 'collision'."""
    sim = _sim()
    task = sim.reset(seed=3)
    x, y, _, height = task.pole
    into = solve_ik(sim.kinematics, np.array([x, y, min(0.2, height - 0.05)]), 0.0, task.start)
    _drive(sim, np.concatenate([into, [0.08]]), 60)
    assert sim.done and sim.reason == 'collision' and not sim.success


def test_touching_the_table_ends_with_collision() -> None:
    """Driving the tool into the table ends the episode with 'collision'."""
    sim = _sim('pick')
    task = sim.reset(seed=4)
    down = solve_ik(sim.kinematics, np.array([0.45, 0.0, 0.05]), 0.0, task.start)
    below = down.copy()
    below[1] += 0.4  # the shoulder pitches forward: the hand goes through the table top
    _drive(sim, np.concatenate([below, [0.08]]), 80)
    assert sim.done and sim.reason == 'collision'


def test_joint_beyond_its_limit_ends_with_joint_limit() -> None:
    """Commanding the wrist past its limit ends the episode with 'joint_limit'."""
    sim = _sim()
    task = sim.reset(seed=5)
    beyond = task.start.copy()
    beyond[6] = 3.3
    _drive(sim, np.concatenate([beyond, [0.08]]), 80)
    assert sim.done and sim.reason == 'joint_limit'


def test_cube_resting_on_the_target_is_success() -> None:
    """The cube put down on the target pad, away from the fingers, is success."""
    sim = _sim('pick')
    task = sim.reset(seed=6)
    sim.step(_hold(sim))
    assert not sim.done
    sim.set_cube(np.array([task.target[0] + 0.01, task.target[1], 0.025]), yaw=0.3)
    sim.step(_hold(sim))
    assert sim.done and sim.success and sim.reason == 'success'


def test_cube_beside_the_target_is_not_success() -> None:
    """A cube resting outside the target radius is not success."""
    sim = _sim('pick')
    task = sim.reset(seed=6)
    sim.set_cube(np.array([task.target[0] + task.target[2] + 0.02, task.target[1], 0.025]))
    _drive(sim, _hold(sim), 5)
    assert not sim.done


def test_holding_still_times_out() -> None:
    """An arm that holds its start posture runs out of steps: 'timeout'."""
    sim = _sim(max_steps=5)
    sim.reset(seed=0)
    _drive(sim, _hold(sim), 10)
    assert sim.done and sim.reason == 'timeout' and sim.steps == 5


def test_ready_posture_is_collision_free() -> None:
    """The ready posture touches neither table nor pole (the episode goes on)."""
    sim = _sim()
    task = sim.reset(seed=0)
    sim.step(np.concatenate([task.start, [0.08]]))
    assert not sim.done
    np.testing.assert_allclose(sim.q, task.start, atol=1e-3)


def test_observation_has_the_joint_layout() -> None:
    """The joint observation is the 7 arm joints then the finger gap; NaN is refused."""
    sim = _sim('pick')
    task = sim.reset(seed=9)
    obs = observe(sim)
    assert len(JOINT_LAYOUT) == 8 and JOINT_LAYOUT[-1] == 'gripper_width'
    np.testing.assert_allclose(obs.joints(), np.concatenate([task.start, [0.08]]), atol=1e-9)
    assert abs(obs.cube_yaw - task.cube[2]) < 1e-9
    with pytest.raises(SimError):
        observation_from_joints(np.full(8, np.nan))
