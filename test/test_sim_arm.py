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

"""The simulated arm: kinematics, collision, limits, success, determinism."""

import math

import numpy as np
import pytest

from imitation_ros.errors import ConfigError, SimError
from imitation_ros.sim.arm import (ArmConfig, ArmSim, end_effector, forward_kinematics,
                                   jacobian, link_clearance, sample_task, Task)


def _task(start=(0.0, 0.0, 0.0), goal=(2.0, 0.0), obstacle=(1.45, 0.6), radius=0.15) -> Task:
    return Task(start=np.array(start, dtype=float), goal=np.array(goal, dtype=float),
                obstacle=np.array(obstacle, dtype=float), obstacle_radius=radius)


def test_forward_kinematics_straight_and_bent() -> None:
    """A straight arm reaches its full length; a right angle at the base points it along y."""
    cfg = ArmConfig()
    np.testing.assert_allclose(end_effector(cfg, np.zeros(3)), [2.4, 0.0], atol=1e-12)
    np.testing.assert_allclose(end_effector(cfg, [math.pi / 2, 0, 0]), [0.0, 2.4], atol=1e-12)
    pts = forward_kinematics(cfg, [0.0, math.pi / 2, 0.0])
    np.testing.assert_allclose(pts, [[0, 0], [1.0, 0], [1.0, 0.8], [1.0, 1.4]], atol=1e-12)


def test_forward_kinematics_batched_matches_single() -> None:
    """Batched kinematics equals one-at-a-time kinematics."""
    cfg = ArmConfig()
    qs = np.random.default_rng(0).uniform(-2, 2, size=(5, 3))
    batch = forward_kinematics(cfg, qs)
    for q, pts in zip(qs, batch):
        np.testing.assert_allclose(pts, forward_kinematics(cfg, q))


def test_jacobian_matches_finite_differences() -> None:
    """The analytic Jacobian equals a central finite difference of the end effector."""
    cfg = ArmConfig()
    q = np.array([0.3, -0.7, 1.1])
    eps = 1e-6
    numeric = np.stack([(end_effector(cfg, q + eps * e) - end_effector(cfg, q - eps * e))
                        / (2 * eps) for e in np.eye(3)], axis=1)
    np.testing.assert_allclose(jacobian(cfg, q), numeric, atol=1e-6)


def test_collision_when_a_link_touches_the_obstacle() -> None:
    """A link that passes through the obstacle ends the episode as a collision."""
    cfg = ArmConfig()
    task = _task(obstacle=(0.5, 0.0), radius=0.1)
    assert link_clearance(cfg, task, np.zeros(3)) < 0
    sim = ArmSim(cfg)
    sim.reset(task=_task(start=(0.5, 0, 0), obstacle=(0.5, 0.0), radius=0.1))
    result = sim.step(np.zeros(3))
    assert not result.done  # one step of 0.075 rad does not reach it yet
    for _ in range(20):
        if result.done:
            break
        result = sim.step(np.zeros(3))
    assert result.done and not result.success and result.reason == 'collision'


def test_joint_limit_ends_the_episode() -> None:
    """Driving a joint past its limit is a failure."""
    cfg = ArmConfig(joint_upper=(0.1, 2.6, 2.6))
    sim = ArmSim(cfg)
    sim.reset(task=_task())
    result = sim.step(np.array([1.0, 0.0, 0.0]))
    while not result.done:
        result = sim.step(np.array([1.0, 0.0, 0.0]))
    assert result.reason == 'joint_limit' and not result.success


def test_success_at_the_goal_and_timeout_otherwise() -> None:
    """Reaching the goal within tolerance succeeds; standing still runs out of steps."""
    cfg = ArmConfig(max_steps=30)
    sim = ArmSim(cfg)
    sim.reset(task=_task(start=(0.0, 0.0, 0.3), goal=(2.4, 0.0)))
    result = sim.step(np.zeros(3))
    while not result.done:
        result = sim.step(np.zeros(3))
    assert result.success and result.reason == 'success'
    sim.reset(task=_task(start=(0.0, 0.0, 0.3), goal=(0.0, 2.0)))
    result = sim.step(sim.q)
    while not result.done:
        result = sim.step(sim.q)
    assert result.reason == 'timeout' and sim.steps == 30


def test_position_controller_respects_max_speed() -> None:
    """A far target moves each joint by at most max_joint_speed * dt per step."""
    cfg = ArmConfig()
    sim = ArmSim(cfg)
    sim.reset(task=_task())
    before = sim.q.copy()
    sim.step(np.array([1.0, -1.0, 0.01]))
    np.testing.assert_allclose(sim.q - before, [0.075, -0.075, 0.01])


def test_action_delay_and_nan_hold() -> None:
    """With a delay of 2 the target acts two steps later; a NaN action keeps the last target."""
    cfg = ArmConfig(action_delay=2)
    sim = ArmSim(cfg)
    sim.reset(task=_task())
    sim.step(np.array([0.05, 0, 0]))
    sim.step(np.array([0.05, 0, 0]))
    assert np.allclose(sim.q, 0)
    sim.step(np.array([np.nan, 0, 0]))
    assert sim.q[0] == pytest.approx(0.05)
    sim.step(np.array([np.nan, 0, 0]))
    sim.step(np.array([np.nan, 0, 0]))
    assert np.all(np.isfinite(sim.q)) and sim.q[0] == pytest.approx(0.05)


def test_episodes_are_deterministic_given_a_seed() -> None:
    """Same seed, same tasks and same noisy motion; another seed differs."""
    cfg = ArmConfig(actuation_noise=0.01)

    def roll(seed: int) -> np.ndarray:
        sim = ArmSim(cfg, seed=seed)
        out = []
        for _ in range(3):
            task = sim.reset()
            for _ in range(5):
                sim.step(sim.q + 0.02)
            out.append(np.concatenate([task.vector(), sim.q]))
        return np.array(out)

    np.testing.assert_array_equal(roll(4), roll(4))
    assert not np.allclose(roll(4), roll(5))


def test_sampled_tasks_stay_in_their_ranges() -> None:
    """Tasks keep the obstacle between start and goal and start collision-free."""
    cfg = ArmConfig()
    rng = np.random.default_rng(0)
    for _ in range(200):
        task = sample_task(cfg, rng)
        start = end_effector(cfg, task.start)
        assert start[0] < task.obstacle[0] - task.obstacle_radius < task.goal[0]
        assert link_clearance(cfg, task, task.start) > 0.1
        assert np.all(task.start >= cfg.lower) and np.all(task.start <= cfg.upper)


def test_bad_configuration_and_actions_are_rejected() -> None:
    """Inconsistent configs and wrong action shapes raise errors that name the problem."""
    with pytest.raises(ConfigError, match='joint_lower'):
        ArmConfig(joint_lower=(-1.0, -1.0))
    sim = ArmSim()
    with pytest.raises(SimError, match='reset'):
        sim.step(np.zeros(3))
    sim.reset()
    with pytest.raises(SimError, match='shape'):
        sim.step(np.zeros(2))


def test_steps_are_cheap() -> None:
    """Thousands of steps run in well under a second each thousand (coarse bound, not a bench)."""
    import time
    sim = ArmSim(seed=1)
    sim.reset()
    start = time.perf_counter()
    for _ in range(1000):
        if sim.done:
            sim.reset()
        sim.step(sim.q + 0.01)
    assert time.perf_counter() - start < 2.0
