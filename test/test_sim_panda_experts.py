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


"""The Panda demonstrators: success on fixed seeds, their modes, statelessness."""

import numpy as np
import pytest

from imitation_ros.errors import ConfigError
from imitation_ros.sim.panda.experts import (make_expert, PickExpert, PickStyle, ReachExpert,
                                             ReachStyle, sample_style)
from imitation_ros.sim.panda.model import PandaConfig
from imitation_ros.sim.panda.observe import observe
from imitation_ros.sim.panda.rollout import grasp_mode, passing_side, rollout
from imitation_ros.sim.panda.sim import PandaSim

SEEDS = (11, 12, 13)


@pytest.fixture(scope='module')
def reach_sim() -> PandaSim:
    return PandaSim(PandaConfig(camera=False), task_kind='reach')


@pytest.fixture(scope='module')
def pick_sim() -> PandaSim:
    return PandaSim(PandaConfig(camera=False), task_kind='pick')


@pytest.mark.parametrize('side', [1, -1])
def test_reach_demonstrators_succeed_on_their_side(reach_sim: PandaSim, side: int) -> None:
    """Left and right reach demonstrators reach the goal, passing the pole on their side."""
    expert = ReachExpert(reach_sim.kinematics, reach_sim.config, ReachStyle(side=side))
    for seed in SEEDS:
        trajectory = rollout(reach_sim, expert.action, seed=seed)
        assert trajectory.success, (seed, trajectory.reason)
        assert passing_side(trajectory) == side


@pytest.mark.parametrize('grasp', [0, 1])
def test_pick_demonstrators_put_the_cube_on_the_target(pick_sim: PandaSim, grasp: int) -> None:
    """Both grasp modes pick the cube up and leave it on the target."""
    expert = PickExpert(pick_sim.kinematics, pick_sim.config, PickStyle(grasp=grasp))
    for seed in SEEDS:
        trajectory = rollout(pick_sim, expert.action, seed=seed)
        assert trajectory.success, (seed, trajectory.reason)
        assert grasp_mode(pick_sim.kinematics, trajectory) == grasp
        cube = trajectory.cube[-1, :2]
        assert np.linalg.norm(cube - trajectory.task.target[:2]) <= trajectory.task.target[2]


def test_grasp_modes_turn_the_wrist_a_quarter_turn_apart(pick_sim: PandaSim) -> None:
    """At the moment the fingers close, the two modes' wrist joints differ by about pi/2."""
    wrists = []
    for grasp in (0, 1):
        expert = PickExpert(pick_sim.kinematics, pick_sim.config, PickStyle(grasp=grasp))
        trajectory = rollout(pick_sim, expert.action, seed=SEEDS[0])
        closing = int(np.argmax(trajectory.actions[:, 7] < 0.01))
        wrists.append(trajectory.joints[closing, 6])
    assert abs(abs(wrists[0] - wrists[1]) - np.pi / 2) < 0.2, wrists


def test_demonstrator_is_a_stateless_feedback_policy(pick_sim: PandaSim) -> None:
    """The same state gives the same action, from this or a fresh demonstrator."""
    task = pick_sim.reset(seed=SEEDS[1])
    style = PickStyle(grasp=1)
    expert = PickExpert(pick_sim.kinematics, pick_sim.config, style)
    for _ in range(15):
        pick_sim.step(expert.action(observe(pick_sim), task))
    obs = observe(pick_sim)
    first = expert.action(obs, task)
    fresh = PickExpert(pick_sim.kinematics, pick_sim.config, style)
    np.testing.assert_array_equal(first, expert.action(obs, task))
    np.testing.assert_array_equal(first, fresh.action(obs, task))


def test_multi_draws_both_modes() -> None:
    """The multi-demonstrator draws both modes of each task and varies the speed."""
    rng = np.random.default_rng(0)
    reach = [sample_style('reach', 'multi', rng) for _ in range(40)]
    pick = [sample_style('pick', 'multi', rng) for _ in range(40)]
    assert {s.side for s in reach} == {1, -1}
    assert {s.grasp for s in pick} == {0, 1}
    assert len({s.speed for s in reach}) == 40


def test_unknown_demonstrator_is_refused(reach_sim: PandaSim) -> None:
    """An unknown name raises ConfigError listing the choices."""
    with pytest.raises(ConfigError, match='left'):
        make_expert('reach', 'above', reach_sim.kinematics, reach_sim.config,
                    np.random.default_rng(0))
