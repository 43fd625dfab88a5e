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

"""The DAgger expert interface and the scripted sim expert behind it."""

from __future__ import annotations

from dataclasses import replace

from imitation_ros.dagger.expert import Expert, SCRIPTED_EXPERTS, ScriptedSimExpert
from imitation_ros.errors import ConfigError
from imitation_ros.sim.arm import ArmConfig, ArmSim, Task
from imitation_ros.sim.experts import DemonstratorStyle, sample_style, ScriptedExpert
import numpy as np
import pytest

CONFIG = ArmConfig()


def _run(expert: Expert, seed: int, steps: int = 1000,
         driver: Expert | None = None) -> tuple[ArmSim, Task]:
    """Roll one episode: ``driver`` acts for the first 25 steps (if given), then ``expert``."""
    sim = ArmSim(CONFIG, seed=seed)
    task = sim.reset()
    expert.reset(task)
    if driver is not None:
        driver.reset(task)
    for step in range(steps):
        if sim.done:
            break
        actor = driver if driver is not None and step < 25 else expert
        sim.step(actor.action(sim.q, task))
    return sim, task


def test_above_and_below_are_the_scripted_demonstrators() -> None:
    """The adapter's action is ScriptedExpert.action with the side and style given."""
    style = DemonstratorStyle(speed=0.6, clearance=0.14, lookahead=0.25, entry=0.8)
    sim = ArmSim(CONFIG, seed=2)
    task = sim.reset()
    rng = np.random.default_rng(0)
    for name, side in (('above', 1), ('below', -1)):
        expert = ScriptedSimExpert(CONFIG, name, style=style)
        expert.reset(task)
        scripted = ScriptedExpert(config=CONFIG, style=replace(style, side=side))
        for _ in range(20):
            q = task.start + rng.normal(0.0, 0.3, size=3)
            np.testing.assert_array_equal(expert.action(q, task), scripted.action(q, task))
        assert expert.side == side and expert.committed


def test_multi_draws_a_demonstrator_per_episode_from_the_seed() -> None:
    """multi: a new demonstrator per reset, the same sequence for the same seed."""
    rng = np.random.default_rng(5)
    expected = [sample_style('multi', rng) for _ in range(6)]
    expert = ScriptedSimExpert(CONFIG, 'multi', seed=5)
    task = ArmSim(CONFIG, seed=1).reset()
    styles = []
    for _ in range(6):
        expert.reset(task)
        styles.append(expert.style)
    assert styles == expected
    assert {s.side for s in styles} == {1, -1}


def test_nearest_follows_the_side_the_learner_took_and_latches_it() -> None:
    """nearest: after a learner went below, the expert finishes below (and reaches the goal)."""
    for seed in range(4):
        for side, name in ((1, 'above'), (-1, 'below')):
            expert = ScriptedSimExpert(CONFIG, 'nearest')
            sim, _ = _run(expert, seed, driver=ScriptedSimExpert(CONFIG, name))
            assert sim.success, (seed, name, sim.reason)
            assert expert.side == side and expert.committed
    # reset unlatches.
    expert.reset(ArmSim(CONFIG, seed=9).reset())
    assert not expert.committed


@pytest.mark.parametrize('name', SCRIPTED_EXPERTS)
def test_every_scripted_expert_reaches_the_goal(name: str) -> None:
    """Driving the arm itself, each choice solves the task (it is an expert)."""
    expert = ScriptedSimExpert(CONFIG, name, seed=3)
    results = [_run(expert, seed)[0].success for seed in range(10)]
    assert all(results), results


def test_the_path_starts_at_the_episode_start() -> None:
    """The label depends on task.start: the expert must know the episode's start posture."""
    expert = ScriptedSimExpert(CONFIG, 'above')
    task = ArmSim(CONFIG, seed=4).reset()
    moved = replace(task, start=task.start + np.array([0.3, -0.2, 0.1]))
    q = task.start + np.array([0.2, -0.4, 0.1])
    assert not np.allclose(expert.action(q, task), expert.action(q, moved))


def test_bad_input_is_a_config_error() -> None:
    """Unknown names, bad margins, wrong-size or non-finite states raise ConfigError."""
    with pytest.raises(ConfigError, match='sideways'):
        ScriptedSimExpert(CONFIG, 'sideways')
    with pytest.raises(ConfigError, match='commit_m'):
        ScriptedSimExpert(CONFIG, 'nearest', commit_m=0.0)
    expert = ScriptedSimExpert(CONFIG, 'above')
    task = ArmSim(CONFIG, seed=4).reset()
    with pytest.raises(ConfigError, match='3 finite'):
        expert.action(np.zeros(2), task)
    with pytest.raises(ConfigError, match='3 finite'):
        expert.action(np.array([0.0, np.nan, 0.0]), task)
    with pytest.raises(ConfigError, match='task.start'):
        expert.action(np.zeros(3), replace(task, start=np.zeros(2)))


def test_an_expert_needs_only_action() -> None:
    """Expert is abstract in action; reset is an optional hook."""
    with pytest.raises(TypeError):
        Expert()

    class Still(Expert):
        def action(self, q: np.ndarray, task: Task) -> np.ndarray:
            return np.asarray(q)

    still = Still()
    task = ArmSim(CONFIG, seed=4).reset()
    still.reset(task)
    np.testing.assert_array_equal(still.action(task.start, task), task.start)
    assert still.describe() == 'Still'
