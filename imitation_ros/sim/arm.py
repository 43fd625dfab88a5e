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

"""
A planar revolute arm that must reach around a circular obstacle.

Frame: the arm's base is at the origin of a planar world frame (x forward,
y to the left, metres); joint angles are radians, each measured relative to the
previous link. The end effector starts close to the base, the goal lies beyond
a circular obstacle standing on the line between them, so the arm must pass the
obstacle on one side ("above": +y, or "below": -y).

Actions are absolute joint position targets, tracked like a position
controller with a maximum joint speed (what a ros2_control
``forward_command_controller`` with a position interface does). Optional
actuation noise and action delay make compounding errors show.

Everything is deterministic given a seed and cheap (tens of microseconds per
step), so policies can be evaluated on hundreds of episodes in seconds.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
import math

import numpy as np

from ..errors import ConfigError, SimError
from ..interface.task import PLANAR_TASK_LAYOUT as TASK_LAYOUT


@dataclass(frozen=True)
class ArmConfig:
    """
    Geometry, limits and dynamics of the simulated arm.

    All lengths in metres, angles in radians, speeds in rad/s, times in seconds.
    """

    link_lengths: tuple[float, ...] = (1.0, 0.8, 0.6)
    """Length of each link, base to tip (m); its length sets the number of joints."""
    joint_lower: tuple[float, ...] = (-2.2, -2.8, -2.8)
    """Lower joint limit per joint (rad)."""
    joint_upper: tuple[float, ...] = (2.2, 2.8, 2.8)
    """Upper joint limit per joint (rad)."""
    max_joint_speed: float = 1.5
    """Largest joint speed the position controller produces (rad/s)."""
    dt: float = 0.05
    """Control period (s); 20 Hz by default."""
    link_radius: float = 0.02
    """Half thickness of a link (m); a link touches the obstacle within this distance."""
    goal_tolerance: float = 0.08
    """Success when the end effector is this close to the goal (m)."""
    max_steps: int = 200
    """Step budget per episode; running out of it is a failure."""
    actuation_noise: float = 0.0
    """Std of Gaussian noise added to each joint's motion per step (rad)."""
    action_delay: int = 0
    """Control periods between a command and the controller acting on it."""
    joint_names: tuple[str, ...] = ('joint1', 'joint2', 'joint3')
    """Joint names, base to tip, as published on ``/joint_states``."""

    def __post_init__(self) -> None:
        n = len(self.link_lengths)
        if n < 2:
            raise ConfigError(f'link_lengths needs at least 2 links, got {n}')
        for name in ('joint_lower', 'joint_upper', 'joint_names'):
            if len(getattr(self, name)) != n:
                msg = (f'{name} has {len(getattr(self, name))} entries but link_lengths has {n}; '
                       'give one entry per joint')
                raise ConfigError(msg)
        if any(length <= 0 for length in self.link_lengths):
            raise ConfigError(f'link_lengths must be positive, got {self.link_lengths}')
        if any(lo >= hi for lo, hi in zip(self.joint_lower, self.joint_upper)):
            raise ConfigError('every joint_lower must be below its joint_upper')
        if self.max_joint_speed <= 0 or self.dt <= 0:
            raise ConfigError('max_joint_speed and dt must be positive')
        if self.max_steps < 1 or self.action_delay < 0 or self.actuation_noise < 0:
            msg = 'max_steps >= 1, action_delay >= 0 and actuation_noise >= 0 are required'
            raise ConfigError(msg)

    @property
    def n_joints(self) -> int:
        """Return the number of revolute joints."""
        return len(self.link_lengths)

    @property
    def lower(self) -> np.ndarray:
        """Return the lower joint limits, shape (n,), rad."""
        return np.asarray(self.joint_lower, dtype=np.float64)

    @property
    def upper(self) -> np.ndarray:
        """Return the upper joint limits, shape (n,), rad."""
        return np.asarray(self.joint_upper, dtype=np.float64)

    @property
    def reach(self) -> float:
        """Return the total arm length (m)."""
        return float(sum(self.link_lengths))


@dataclass(frozen=True)
class Task:
    """
    One episode's task: where the arm starts, the goal and the obstacle.

    ``vector()`` is the layout of :data:`TASK_LAYOUT`, published on
    ``/imitation/task`` as a Float64MultiArray.
    """

    start: np.ndarray
    """Start joint positions, shape (n,), rad."""
    goal: np.ndarray
    """Goal position of the end effector, shape (2,), m."""
    obstacle: np.ndarray
    """Obstacle centre, shape (2,), m."""
    obstacle_radius: float
    """Obstacle radius (m)."""

    def vector(self) -> np.ndarray:
        """Task as (goal_x, goal_y, obstacle_x, obstacle_y, obstacle_radius), shape (5,)."""
        return np.array([*self.goal, *self.obstacle, self.obstacle_radius], dtype=np.float64)

    @staticmethod
    def from_vector(vector: np.ndarray, start: np.ndarray) -> 'Task':
        """Inverse of :meth:`vector` (the start is not part of the vector)."""
        v = np.asarray(vector, dtype=np.float64)
        if v.shape != (len(TASK_LAYOUT),):
            raise ConfigError(f'task vector must have shape ({len(TASK_LAYOUT)},), got {v.shape}')
        return Task(start=np.asarray(start, dtype=np.float64).copy(), goal=v[0:2].copy(),
                    obstacle=v[2:4].copy(), obstacle_radius=float(v[4]))


@dataclass(frozen=True)
class TaskRanges:
    """
    Uniform ranges every episode's task is drawn from (documented in docs/task.md).

    The start posture is ``sign * (j1, j2, j3)`` with a random sign, so the arm
    starts folded either way; the goal always lies beyond the obstacle.
    """

    start_j1: tuple[float, float] = (1.75, 1.95)
    """First joint at the start (rad), before the random sign."""
    start_j2: tuple[float, float] = (-2.65, -2.5)
    """Second joint at the start (rad), before the random sign."""
    start_j3: tuple[float, float] = (-0.1, 0.15)
    """Third joint at the start (rad), before the random sign."""
    goal_x: tuple[float, float] = (2.0, 2.1)
    """Goal x (m)."""
    goal_y: tuple[float, float] = (-0.1, 0.1)
    """Goal y (m)."""
    obstacle_x: tuple[float, float] = (1.5, 1.6)
    """Obstacle centre x (m)."""
    obstacle_y: tuple[float, float] = (-0.05, 0.05)
    """Obstacle centre y (m)."""
    obstacle_radius: tuple[float, float] = (0.14, 0.18)
    """Obstacle radius (m)."""


def forward_kinematics(config: ArmConfig, q: np.ndarray) -> np.ndarray:
    """
    Positions of the base, every joint and the end effector.

    :param q: joint positions, shape (n,) or (B, n), rad.
    :returns: points, shape (n + 1, 2) or (B, n + 1, 2), m; the last is the end effector.
    """
    q = np.asarray(q, dtype=np.float64)
    lengths = np.asarray(config.link_lengths)
    angles = np.cumsum(q, axis=-1)
    steps = np.stack([np.cos(angles), np.sin(angles)], axis=-1) * lengths[:, None]
    points = np.cumsum(steps, axis=-2)
    zero = np.zeros(points.shape[:-2] + (1, 2))
    return np.concatenate([zero, points], axis=-2)


def end_effector(config: ArmConfig, q: np.ndarray) -> np.ndarray:
    """End effector position, shape (2,) or (B, 2), m."""
    return forward_kinematics(config, q)[..., -1, :]


def jacobian(config: ArmConfig, q: np.ndarray) -> np.ndarray:
    """Positional Jacobian of the end effector, shape (2, n), m/rad."""
    q = np.asarray(q, dtype=np.float64)
    points = forward_kinematics(config, q)
    tip = points[-1]
    rel = tip - points[:-1]
    return np.stack([-rel[:, 1], rel[:, 0]], axis=0)


def segment_distances(points: np.ndarray, center: np.ndarray) -> np.ndarray:
    """
    Distance from ``center`` to each link segment.

    :param points: chain points, shape (..., n + 1, 2), m.
    :param center: a point, shape (2,) or broadcastable to (..., 1, 2), m.
    :returns: shape (..., n), m.
    """
    a = points[..., :-1, :]
    b = points[..., 1:, :]
    ab = b - a
    c = np.asarray(center)
    if c.ndim == points.ndim - 1:
        c = c[..., None, :]
    denom = np.maximum(np.sum(ab * ab, axis=-1), 1e-12)
    t = np.clip(np.sum((c - a) * ab, axis=-1) / denom, 0.0, 1.0)
    closest = a + t[..., None] * ab
    return np.linalg.norm(c - closest, axis=-1)


def link_clearance(config: ArmConfig, task: Task, q: np.ndarray) -> float:
    """Smallest gap between any link's surface and the obstacle (m); <= 0 is contact."""
    points = forward_kinematics(config, q)
    d = segment_distances(points, task.obstacle)
    return float(d.min() - task.obstacle_radius - config.link_radius)


def sample_task(config: ArmConfig, rng: np.random.Generator,
                ranges: TaskRanges | None = None) -> Task:
    """Draw one task from ``ranges``; deterministic given the generator state."""
    r = ranges or TaskRanges()
    if config.n_joints != 3:
        msg = ('sample_task draws 3-joint start postures; pass your own Task to '
               f'ArmSim.reset(task=...) for a {config.n_joints}-joint arm')
        raise ConfigError(msg)
    for _ in range(100):
        sign = 1.0 if rng.random() < 0.5 else -1.0
        start = sign * np.array([rng.uniform(*r.start_j1), rng.uniform(*r.start_j2),
                                 rng.uniform(*r.start_j3)])
        goal = np.array([rng.uniform(*r.goal_x), rng.uniform(*r.goal_y)])
        obstacle = np.array([rng.uniform(*r.obstacle_x), rng.uniform(*r.obstacle_y)])
        radius = float(rng.uniform(*r.obstacle_radius))
        task = Task(start=np.clip(start, config.lower, config.upper), goal=goal,
                    obstacle=obstacle, obstacle_radius=radius)
        if link_clearance(config, task, task.start) > 0.1:
            return task
    raise ConfigError('TaskRanges produce no collision-free start; widen or move the ranges')


@dataclass(frozen=True)
class StepResult:
    """What one control period of the sim produced."""

    q: np.ndarray
    """Measured joint positions after the step, shape (n,), rad."""
    qd: np.ndarray
    """Joint velocities over the step, shape (n,), rad/s."""
    done: bool
    """True when the episode ended with this step."""
    success: bool
    """True when the end effector reached the goal."""
    reason: str
    """'' while running; 'success', 'collision', 'joint_limit' or 'timeout' at the end."""


@dataclass
class ArmSim:
    """
    The simulated arm and its episode; a plain object, no ROS.

    ``reset`` starts an episode, ``step`` applies one absolute joint target for
    one control period. Holding the last target when no new one comes is the
    caller's choice: pass the previous target again.
    """

    config: ArmConfig = field(default_factory=ArmConfig)
    ranges: TaskRanges = field(default_factory=TaskRanges)
    seed: int = 0

    def __post_init__(self) -> None:
        self._rng = np.random.default_rng(self.seed)
        self.task: Task | None = None
        self.q = np.zeros(self.config.n_joints)
        self.qd = np.zeros(self.config.n_joints)
        self.target = np.zeros(self.config.n_joints)
        self.steps = 0
        self.done = True
        self.success = False
        self.reason = ''
        self.episode = -1
        self._pending: deque[np.ndarray] = deque()
        self._last_command = self.q.copy()

    def reset(self, task: Task | None = None, seed: int | None = None) -> Task:
        """
        Start a new episode and return its task.

        :param task: use this task instead of drawing one.
        :param seed: reseed the episode generator first (reproducible single episodes).
        """
        if seed is not None:
            self._rng = np.random.default_rng(seed)
        self.task = task if task is not None else sample_task(self.config, self._rng, self.ranges)
        if self.task.start.shape != (self.config.n_joints,):
            raise SimError(f'task.start must have shape ({self.config.n_joints},)')
        self.q = self.task.start.astype(np.float64).copy()
        self.qd = np.zeros_like(self.q)
        self.target = self.q.copy()
        self._last_command = self.q.copy()
        self._pending = deque(self.q.copy() for _ in range(self.config.action_delay))
        self.steps = 0
        self.done = False
        self.success = False
        self.reason = ''
        self.episode += 1
        return self.task

    @property
    def ee(self) -> np.ndarray:
        """End effector position, shape (2,), m."""
        return end_effector(self.config, self.q)

    def step(self, action: np.ndarray) -> StepResult:
        """
        Apply an absolute joint target (shape (n,), rad) for one control period.

        A non-finite action is rejected (the controller keeps its last target),
        as a real driver must never act on NaN.
        """
        if self.done or self.task is None:
            raise SimError('episode is over; call reset() before step()')
        a = np.asarray(action, dtype=np.float64)
        if a.shape != (self.config.n_joints,):
            raise SimError(f'action must have shape ({self.config.n_joints},), got {a.shape}')
        if np.all(np.isfinite(a)):
            self._last_command = a.copy()
        # A non-finite command repeats the last valid one, like a driver that drops it.
        self._pending.append(self._last_command.copy())
        self.target = self._pending.popleft()
        cfg = self.config
        max_step = cfg.max_joint_speed * cfg.dt
        delta = np.clip(self.target - self.q, -max_step, max_step)
        if cfg.actuation_noise > 0:
            delta = delta + self._rng.normal(0.0, cfg.actuation_noise, size=delta.shape)
        self.q = self.q + delta
        self.qd = delta / cfg.dt
        self.steps += 1
        self._check_end()
        return StepResult(q=self.q.copy(), qd=self.qd.copy(), done=self.done,
                          success=self.success, reason=self.reason)

    def _check_end(self) -> None:
        cfg = self.config
        assert self.task is not None
        if link_clearance(cfg, self.task, self.q) <= 0.0:
            self._end(False, 'collision')
        elif np.any(self.q < cfg.lower) or np.any(self.q > cfg.upper):
            self._end(False, 'joint_limit')
        elif np.linalg.norm(self.ee - self.task.goal) <= cfg.goal_tolerance:
            self._end(True, 'success')
        elif self.steps >= cfg.max_steps:
            self._end(False, 'timeout')

    def _end(self, success: bool, reason: str) -> None:
        self.done = True
        self.success = success
        self.reason = reason


def wrap_to_pi(angle: float) -> float:
    """Wrap an angle to [-pi, pi)."""
    return (angle + math.pi) % (2 * math.pi) - math.pi
