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


"""The pick task's simulated operator and labelling expert on the MuJoCo Panda, without ROS."""

from __future__ import annotations

from imitation_ros.dagger.panda_expert import PandaPickExpert
from imitation_ros.errors import ConfigError
from imitation_ros.sim.panda.model import PandaConfig
from imitation_ros.sim.panda.observe import observation_from_joints, observe
from imitation_ros.sim.panda.pick_operator import PandaPickOperator, PickOperatorParams
from imitation_ros.sim.panda.rollout import grasp_mode, rollout
from imitation_ros.sim.panda.sim import PandaSim
from imitation_ros.sim.panda.tasks import PandaTask
import numpy as np
import pytest

CONFIG = PandaConfig(camera=False)


@pytest.fixture(scope='module')
def sim() -> PandaSim:
    """Make a pick-task sim without camera."""
    s = PandaSim(CONFIG, task_kind='pick')
    yield s
    s.close()


def _watched(sim: PandaSim, operator: PandaPickOperator, learner, seed: int):
    """Roll ``learner`` with ``operator`` watching; its action replaces the learner's."""
    step = [0]

    def controller(obs, task):
        if step[0] == 0:
            operator.start_episode(task)
        taken = operator.step(obs, step[0] * CONFIG.dt)
        step[0] += 1
        return learner(obs, task) if taken is None else taken

    return rollout(sim, controller, seed=seed)


@pytest.mark.parametrize('name, grasp', [('straight', 0), ('turned', 1)])
def test_pick_expert_labels_executed_put_the_cube_on_the_target(
        sim: PandaSim, name: str, grasp: int) -> None:
    """Executing the pick expert's labels succeeds, with that expert's grasp."""
    expert = PandaPickExpert(name, config=CONFIG)
    for seed in range(3):
        trajectory = rollout(sim, expert.action, seed=900 + seed)
        assert trajectory.reason == 'success'
        assert grasp_mode(sim.kinematics, trajectory) == grasp
        assert trajectory.actions.shape[1] == 8


def test_nearest_pick_expert_follows_the_grasp_the_wrist_is_turned_to(sim: PandaSim) -> None:
    """With the wrist a quarter turn off the cube, nearest labels the turned grasp and latches."""
    task = sim.reset(seed=910)
    turned = PandaPickExpert('turned', config=CONFIG)
    obs = None
    for _ in range(200):  # the turned demonstrator until its fingers close
        obs = observe(sim)
        if obs.width < 0.06:
            break
        sim.step(turned.action(obs, task))
    nearest = PandaPickExpert('nearest', config=CONFIG)
    nearest.reset(task)
    assert np.allclose(nearest.action(obs, task), turned.action(obs, task))
    assert nearest.describe() == 'Panda pick nearest (grasp 1, committed)'


def test_pick_expert_refuses_a_reach_task_and_bad_joints() -> None:
    """A reach task or non-finite joints: ConfigError, no label."""
    expert = PandaPickExpert('straight', config=CONFIG)
    obs = observation_from_joints(np.array([0, -0.785, 0, -2.356, 0, 1.571, 0.785, 0.08]))
    reach = PandaTask('reach', np.zeros(7))
    with pytest.raises(ConfigError, match='pick task'):
        expert.action(obs, reach)
    with pytest.raises(ConfigError, match='unknown pick expert'):
        PandaPickExpert('left')


def test_operator_never_takes_over_the_demonstrators(sim: PandaSim) -> None:
    """Watching multi demonstrators (both grasps) it never takes over; they succeed."""
    grasps = set()
    for seed in range(4):
        expert = PandaPickExpert('multi', seed=seed, config=CONFIG)
        operator = PandaPickOperator(config=CONFIG)
        first = [True]

        def learner(obs, task):
            if first[0]:
                expert.reset(task)
                first[0] = False
            return expert.action(obs, task)

        trajectory = _watched(sim, operator, learner, seed=920 + seed)
        assert trajectory.reason == 'success' and operator.takeovers == 0
        grasps.add(grasp_mode(sim.kinematics, trajectory))
    assert grasps == {0, 1}


def test_operator_takes_over_a_stalled_arm_and_places_the_cube(sim: PandaSim) -> None:
    """A learner holding still is taken over (stalled) and the operator puts the cube down."""
    operator = PandaPickOperator(PickOperatorParams(hold_until_end=True), config=CONFIG)
    trajectory = _watched(sim, operator, lambda obs, task: np.concatenate([obs.q, [0.08]]),
                          seed=930)
    assert operator.reasons == ['stalled']
    assert trajectory.reason == 'success'


def test_operator_takes_over_a_dropped_cube_and_hands_back_after_lifting(
        sim: PandaSim) -> None:
    """The cube let go on the way: taken over (dropped), handed back once lifted again."""
    straight = PandaPickExpert('straight', config=CONFIG)
    operator = PandaPickOperator(config=CONFIG)
    opened = []

    def learner(obs, task):
        action = straight.action(obs, task)
        if obs.cube[2] > 0.08 and not opened:
            opened.append(True)  # open the fingers once, high above the table
        if opened and not operator.takeovers:
            action[7] = 0.08
        return action

    trajectory = _watched(sim, operator, learner, seed=940)
    assert operator.reasons[0] == 'dropped'
    assert trajectory.reason == 'success'
    # Handed back while carrying: the last takeover ended before the episode did.
    assert not operator.engaged


def test_operator_refuses_a_reach_task_and_bad_thresholds() -> None:
    """The reach task belongs to the reach operator; negative thresholds are refused."""
    with pytest.raises(ConfigError, match='pick task'):
        PandaPickOperator(config=CONFIG).start_episode(PandaTask('reach', np.zeros(7)))
    with pytest.raises(ConfigError, match='stall_s'):
        PickOperatorParams(stall_s=-1.0)
