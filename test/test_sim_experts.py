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

"""The scripted demonstrators: success on both sides, two real modes in the multi data."""

import numpy as np
import pytest

from imitation_ros.errors import ConfigError
from imitation_ros.sim.arm import ArmConfig, ArmSim, end_effector
from imitation_ros.sim.experts import DemonstratorStyle, make_expert, sample_style, with_side
from gate_fixtures import planar_target

EPISODES = 60


def _roll(name: str, episodes: int, seed: int, config: ArmConfig | None = None):
    cfg = config or ArmConfig()
    sim = ArmSim(cfg, seed=seed)
    rng = np.random.default_rng(seed + 100)
    outcomes, offsets = [], []
    for _ in range(episodes):
        task = sim.reset()
        expert = make_expert(name, cfg, rng)
        passing = []
        while not sim.done:
            sim.step(expert.action(sim.q, task))
            ee = sim.ee
            if abs(ee[0] - task.obstacle[0]) < 0.05:
                passing.append(ee[1] - task.obstacle[1])
        outcomes.append(sim.success)
        offsets.append(float(np.mean(passing)) if passing else 0.0)
    return np.array(outcomes), np.array(offsets)


@pytest.mark.parametrize('name,sign', [('above', 1.0), ('below', -1.0)])
def test_single_side_experts_succeed_on_their_side(name: str, sign: float) -> None:
    """Each single-side expert succeeds in >= 98% of episodes and passes on its side."""
    success, offsets = _roll(name, EPISODES, seed=11)
    assert success.mean() >= 0.98
    assert np.all(np.sign(offsets) == sign)


def test_multi_expert_succeeds_and_has_two_modes() -> None:
    """Multi-human data passes both above and below, with a gap at the straight line."""
    success, offsets = _roll('multi', 2 * EPISODES, seed=12)
    assert success.mean() >= 0.98
    above = (offsets > 0).mean()
    assert 0.3 <= above <= 0.7, f'mode balance {above:.2f}'
    # Two modes, not one wide one: nobody passes within the obstacle's radius of the line.
    assert np.min(np.abs(offsets)) > 0.14


def test_experts_succeed_with_actuation_noise() -> None:
    """Being feedback policies, the demonstrators recover from small actuation noise."""
    success, _ = _roll('multi', 40, seed=13, config=ArmConfig(actuation_noise=0.01))
    assert success.mean() >= 0.95


def test_expert_labels_any_state() -> None:
    """An expert can be asked for its action at states it did not visit (DAgger)."""
    cfg = ArmConfig()
    sim = ArmSim(cfg, seed=3)
    task = sim.reset()
    expert = make_expert('above', cfg, np.random.default_rng(0))
    rng = np.random.default_rng(1)
    for _ in range(20):
        q = np.clip(task.start + rng.normal(0, 0.2, size=3), cfg.lower + 0.05,
                    cfg.upper - 0.05)
        action = expert.action(q, task)
        assert action.shape == (3,) and np.all(np.isfinite(action))
        assert np.max(np.abs(action - q)) <= cfg.max_joint_speed * cfg.dt + 1e-9


def test_stick_values_drive_the_arm_to_the_goal() -> None:
    """Stick values from the expert, mapped back by the teleop, reach the goal."""
    cfg = ArmConfig()
    sim = ArmSim(cfg, seed=4)
    rng = np.random.default_rng(5)
    wins = 0
    for _ in range(20):
        task = sim.reset()
        expert = make_expert('multi', cfg, rng)
        while not sim.done:
            axes = expert.stick_axes(sim.q, task, linear_speed=1.2, elbow_speed=1.5)
            assert axes.shape == (3,) and np.all(np.abs(axes) <= 1.0)
            sim.step(planar_target(cfg, sim.q, axes))
        wins += sim.success
    assert wins >= 19


def test_multi_demonstrators_differ_in_style() -> None:
    """Each multi episode draws its own side, speed, clearance and smoothness."""
    rng = np.random.default_rng(0)
    styles = [sample_style('multi', rng) for _ in range(50)]
    assert {s.side for s in styles} == {1, -1}
    assert len({round(s.speed, 4) for s in styles}) > 40
    assert len({round(s.lookahead, 4) for s in styles}) > 40


def test_unknown_expert_and_bad_style_are_rejected() -> None:
    """A typo in the expert name or an impossible style is a ConfigError."""
    with pytest.raises(ConfigError, match='above, below, multi'):
        sample_style('abvoe', np.random.default_rng(0))
    with pytest.raises(ConfigError, match='side'):
        DemonstratorStyle(side=0)
    expert = make_expert('above', ArmConfig(), np.random.default_rng(0))
    assert with_side(expert, -1).style.side == -1


def test_start_end_effector_is_left_of_the_obstacle() -> None:
    """The task forces a choice: the straight line from start to goal crosses the obstacle."""
    cfg = ArmConfig()
    sim = ArmSim(cfg, seed=9)
    for _ in range(50):
        task = sim.reset()
        start = end_effector(cfg, task.start)
        d = task.goal - start
        t = np.clip(np.dot(task.obstacle - start, d) / np.dot(d, d), 0, 1)
        gap = np.linalg.norm(start + t * d - task.obstacle)
        assert gap < task.obstacle_radius
