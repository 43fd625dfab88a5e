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

"""The fleet operator: its help queue, one robot at a time, every request served."""

import math

from imitation_ros.dagger.fleet import run_fleet
from imitation_ros.dagger.loop import sample_tasks
from imitation_ros.errors import ConfigError
from imitation_ros.sim.arm import ArmConfig
from imitation_ros.sim.fleet import (EPISODE_END, FleetOperator, FleetParams, HelpQueue,
                                     ROBOT_LOST, SERVED, WITHDRAWN)
import numpy as np
import pytest

ARM = ArmConfig()
ROBOTS = ['robot1', 'robot2', 'robot3']


def test_first_come_serves_in_arrival_order() -> None:
    """first_come pops the oldest request; a repeated request keeps its place."""
    queue = HelpQueue('first_come')
    assert queue.add('b', 1.0, doubt=0.1) and queue.add('a', 2.0, doubt=9.0)
    assert not queue.add('b', 3.0, doubt=5.0)  # already waiting: one request per robot
    assert queue.waiting == ['b', 'a'] and len(queue) == 2
    assert queue.pop(4.0).robot == 'b'
    assert queue.pop(4.0).robot == 'a'
    assert queue.pop(4.0) is None


def test_highest_doubt_goes_first_but_no_request_starves() -> None:
    """highest_doubt pops the largest doubt, unless a request waited past max_wait_s."""
    queue = HelpQueue('highest_doubt', max_wait_s=10.0)
    queue.add('calm', 0.0, doubt=0.2)
    queue.add('worried', 1.0, doubt=0.9)
    queue.add('unknown', 2.0)
    assert queue.pop(3.0).robot == 'worried'
    queue.add('worried', 4.0, doubt=0.9)
    queue.update_doubt('unknown', 0.5)
    assert queue.pop(5.0).robot == 'worried'
    queue.add('worried', 6.0, doubt=0.9)
    # 'calm' has waited 11 s > max_wait_s: it goes before the larger doubts.
    assert queue.pop(11.0).robot == 'calm'
    assert queue.pop(11.0).robot == 'worried'
    assert queue.withdraw('unknown') is not None and len(queue) == 0


def test_queue_and_fleet_refuse_bad_settings() -> None:
    """An unknown order, a non-positive wait or duplicate robots say what to use."""
    with pytest.raises(ConfigError, match='first_come, highest_doubt'):
        HelpQueue('random')
    with pytest.raises(ConfigError, match='max_wait_s'):
        HelpQueue('first_come', max_wait_s=0.0)
    with pytest.raises(ConfigError, match='distinct'):
        FleetOperator(ARM, ['robot1', 'robot1'])
    with pytest.raises(ConfigError, match='unknown robot'):
        FleetOperator(ARM, ROBOTS).step('robot9', np.zeros(3), 0.0)


def _standing_still(q, task):
    return np.asarray(q)


@pytest.mark.parametrize('order', ['first_come', 'highest_doubt'])
def test_every_request_is_served_and_never_two_robots_at_once(order: str) -> None:
    """Three arms that always doubt: each request ends, every robot is served, one at a time."""
    tasks = {r: sample_tasks(ARM, 2, seed=i) for i, r in enumerate(ROBOTS)}
    doubts = {id(t): 1.0 + i for i, r in enumerate(ROBOTS) for t in tasks[r]}
    run = run_fleet(ARM, tasks, policies={r: _standing_still for r in ROBOTS},
                    doubt=lambda q, task: doubts[id(task)], help_threshold=0.5,
                    params=FleetParams(order=order))
    assert run.most_engaged == 1  # the operator drove some arm, never two in one period
    for robot in ROBOTS:
        stats = run.stats[robot]
        assert stats.served >= 1 and stats.takeovers >= 1 and stats.human_s > 0, robot
        # Every queued request ended: served, withdrawn, or cut by its episode's end.
        assert stats.requests == stats.served + stats.withdrawn + stats.interrupted, robot
        assert sum(e.human.sum() for e in run.of(robot)) > 0
    # Services never overlap in time.
    for before, after in zip(run.services, run.services[1:]):
        assert after.started >= before.ended
    assert {s.outcome for s in run.services} <= {SERVED, WITHDRAWN, EPISODE_END}
    # While one robot is served, another waits: the fleet shares one operator.
    assert max(run.stats[r].max_wait_s for r in ROBOTS) > 0


def test_a_request_that_clears_in_the_queue_is_withdrawn_and_the_robot_goes_on() -> None:
    """A doubt that calms while the operator serves another robot clears the request."""
    tasks = {r: sample_tasks(ARM, 1, seed=i) for i, r in enumerate(ROBOTS[:2])}
    asked = {'robot2': 0}

    def doubt(q, task):
        # robot1 doubts all along; robot2 for its first 10 periods only (the gate holds it
        # still meanwhile: the doubt calms by itself, as a passing disturbance would).
        if task is tasks['robot1'][0]:
            return 1.0
        asked['robot2'] += 1
        return 1.0 if asked['robot2'] <= 10 else 0.0

    def creep(q, task):
        return np.asarray(q) + np.array([0.02, 0.0, 0.0])

    run = run_fleet(ARM, tasks, policies={'robot1': _standing_still, 'robot2': creep},
                    doubt=doubt, help_threshold=0.5, help_release_s=0.1)
    assert run.stats['robot2'].withdrawn == 1 and run.stats['robot2'].served == 0
    assert run.stats['robot1'].served >= 1
    # robot2 went on without the operator: its policy moved it.
    (episode,) = run.of('robot2')
    assert not episode.human.any() and np.ptp(episode.states[:, 0]) > 0.1


def test_a_lost_robot_does_not_block_the_queue() -> None:
    """A served robot that goes quiet ends its service after lost_after_s; the next is served."""
    fleet = FleetOperator(ARM, ROBOTS[:2], FleetParams(lost_after_s=0.5))
    tasks = sample_tasks(ARM, 2, seed=3)
    for robot, task in zip(ROBOTS[:2], tasks):
        fleet.start_episode(robot, task)
    fleet.set_help('robot1', True, 0.0)
    fleet.set_help('robot2', True, 0.01)
    assert fleet.serving == 'robot1' and fleet.queue.waiting == ['robot2']
    fleet.step('robot1', tasks[0].start, 0.05)
    # robot1 says nothing more; robot2 keeps asking.
    t = 0.1
    while fleet.serving == 'robot1' and t < 5.0:
        fleet.set_help('robot2', True, t)
        t += 0.05
    assert fleet.services[-1].outcome == ROBOT_LOST and fleet.serving == 'robot2'
    assert math.isclose(fleet.services[-1].ended, 0.6, abs_tol=0.06)
    assert fleet.stats['robot2'].max_wait_s > 0.5


def test_only_the_served_robot_gets_a_pressed_deadman() -> None:
    """Pads of robots not being served stay idle while their requests wait."""
    fleet = FleetOperator(ARM, ROBOTS)
    tasks = sample_tasks(ARM, 3, seed=5)
    for robot, task in zip(ROBOTS, tasks):
        fleet.start_episode(robot, task)
    engaged_by = set()
    for k in range(40):
        now = k * ARM.dt
        for robot, task in zip(ROBOTS, tasks):
            fleet.set_help(robot, True, now)
            out = fleet.step(robot, task.start, now)
            if out.engaged:
                engaged_by.add(robot)
            else:
                assert not out.buttons.any() and not out.axes.any()
    assert engaged_by == {'robot1'}  # served first (first come), held for its whole turn
    assert fleet.queue.waiting == ['robot2', 'robot3']
