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
The two Panda tasks, their task vectors and how episodes draw them from a seed.

World frame: the arm's base at the origin on a table whose top is z = 0, x
forward, y to the left, z up, metres. The tool frame (``tcp`` site) sits
between the finger tips.

``reach``: carry the tool from its start to a goal point past a pole standing
between them; the pole is taller than the path, so the tool goes around it on
the left (+y) or the right (-y).

``pick``: grasp a cube lying on the table and put it on a target pad; a
parallel gripper can close on either pair of the cube's faces, so the wrist
turns one way or the other (two grasp modes).

A task vector (published on ``/imitation/task``) has the layout of
:data:`TASK_LAYOUTS` for its kind. Start postures are not part of it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
import math

import numpy as np

from ...errors import ConfigError, SimError
from .kinematics import Kinematics, solve_ik

#: Task kinds, in the order of ``--task`` choices.
TASK_KINDS: tuple[str, ...] = ('reach', 'pick')

#: Layout of each kind's task vector (metres and radians).
TASK_LAYOUTS: dict[str, tuple[str, ...]] = {
    'reach': ('goal_x', 'goal_y', 'goal_z', 'pole_x', 'pole_y', 'pole_radius', 'pole_height'),
    'pick': ('cube_x', 'cube_y', 'cube_yaw', 'target_x', 'target_y', 'target_radius'),
}

#: A posture with the tool pointing down in front of the arm (Franka's "ready" pose), rad.
READY = np.array([0.0, -0.785, 0.0, -2.356, 0.0, 1.571, 0.785])


@dataclass(frozen=True)
class PandaTask:
    """
    One episode's task; which fields matter depends on ``kind``.

    Unused fields keep their defaults (a reach task has no cube).
    """

    kind: str
    """'reach' or 'pick'."""
    start: np.ndarray
    """Start arm joint positions, shape (7,), rad."""
    start_width: float = 0.08
    """Start finger gap (m)."""
    goal: np.ndarray = field(default_factory=lambda: np.zeros(3))
    """Reach goal of the tool frame, shape (3,), m."""
    goal_tolerance: float = 0.025
    """Reach success when the tool frame is this close to the goal (m)."""
    pole: np.ndarray = field(default_factory=lambda: np.zeros(4))
    """Pole (x, y, radius, height), m; a pick task has none (radius 0)."""
    cube: np.ndarray = field(default_factory=lambda: np.zeros(3))
    """Cube start (x, y, yaw) on the table, m and rad."""
    target: np.ndarray = field(default_factory=lambda: np.zeros(3))
    """Target pad (x, y, radius), m; success when the cube's centre rests within radius."""

    def __post_init__(self) -> None:
        if self.kind not in TASK_KINDS:
            raise ConfigError(f'unknown task kind {self.kind!r}; choose one of '
                              f'{", ".join(TASK_KINDS)}')

    @property
    def layout(self) -> tuple[str, ...]:
        """Return the names of :meth:`vector`'s entries."""
        return TASK_LAYOUTS[self.kind]

    def vector(self) -> np.ndarray:
        """Task vector in the layout of ``TASK_LAYOUTS[kind]``, float64."""
        if self.kind == 'reach':
            return np.concatenate([self.goal, self.pole]).astype(np.float64)
        return np.concatenate([self.cube, self.target]).astype(np.float64)

    @staticmethod
    def from_vector(kind: str, vector: np.ndarray, start: np.ndarray) -> 'PandaTask':
        """Inverse of :meth:`vector` (the start posture is not part of the vector)."""
        if kind not in TASK_LAYOUTS:
            raise ConfigError(f'unknown task kind {kind!r}; choose one of {", ".join(TASK_KINDS)}')
        v = np.asarray(vector, dtype=np.float64)
        n = len(TASK_LAYOUTS[kind])
        if v.shape != (n,) or not np.all(np.isfinite(v)):
            raise ConfigError(f'a {kind} task vector needs {n} finite values, got {v!r}')
        start = np.asarray(start, dtype=np.float64).copy()
        if kind == 'reach':
            return PandaTask(kind, start, goal=v[0:3].copy(), pole=v[3:7].copy())
        return PandaTask(kind, start, cube=v[0:3].copy(), target=v[3:6].copy())


@dataclass(frozen=True)
class ReachRanges:
    """Uniform ranges a reach task is drawn from (m); the tool points down with yaw 0."""

    start_x: tuple[float, float] = (0.33, 0.38)
    start_y: tuple[float, float] = (-0.05, 0.05)
    start_z: tuple[float, float] = (0.16, 0.22)
    goal_x: tuple[float, float] = (0.64, 0.70)
    goal_y: tuple[float, float] = (-0.05, 0.05)
    goal_z: tuple[float, float] = (0.16, 0.22)
    pole_x: tuple[float, float] = (0.49, 0.53)
    pole_y: tuple[float, float] = (-0.03, 0.03)
    pole_radius: tuple[float, float] = (0.03, 0.045)
    pole_height: tuple[float, float] = (0.27, 0.32)


@dataclass(frozen=True)
class PickRanges:
    """Uniform ranges a pick task is drawn from (m, rad)."""

    start_x: tuple[float, float] = (0.36, 0.44)
    start_y: tuple[float, float] = (-0.05, 0.05)
    start_z: tuple[float, float] = (0.26, 0.33)
    cube_x: tuple[float, float] = (0.45, 0.6)
    cube_y: tuple[float, float] = (-0.25, -0.1)
    cube_yaw: tuple[float, float] = (-math.pi / 6, math.pi / 6)
    target_x: tuple[float, float] = (0.45, 0.6)
    target_y: tuple[float, float] = (0.1, 0.25)
    target_radius: float = 0.03


def _uniform(rng: np.random.Generator, *ranges: tuple[float, float]) -> np.ndarray:
    return np.array([rng.uniform(*r) for r in ranges])


def _start_posture(kin: Kinematics, position: np.ndarray) -> np.ndarray:
    return solve_ik(kin, position, 0.0, READY, posture=READY)


def sample_reach(kin: Kinematics, rng: np.random.Generator,
                 ranges: ReachRanges | None = None) -> PandaTask:
    """Draw a reach task whose straight start-goal line runs through the pole."""
    r = ranges or ReachRanges()
    for _ in range(100):
        start = _uniform(rng, r.start_x, r.start_y, r.start_z)
        goal = _uniform(rng, r.goal_x, r.goal_y, r.goal_z)
        pole = _uniform(rng, r.pole_x, r.pole_y, r.pole_radius, r.pole_height)
        line = goal[:2] - start[:2]
        rel = pole[:2] - start[:2]
        miss = abs(line[0] * rel[1] - line[1] * rel[0]) / np.linalg.norm(line)
        if miss < pole[2]:
            return PandaTask('reach', _start_posture(kin, start), goal=goal, pole=pole)
    raise ConfigError('ReachRanges put no pole on the start-goal line; move the ranges')


def sample_pick(kin: Kinematics, rng: np.random.Generator,
                ranges: PickRanges | None = None) -> PandaTask:
    """Draw a pick-and-place task."""
    r = ranges or PickRanges()
    start = _uniform(rng, r.start_x, r.start_y, r.start_z)
    cube = _uniform(rng, r.cube_x, r.cube_y, r.cube_yaw)
    target = np.array([*_uniform(rng, r.target_x, r.target_y), r.target_radius])
    return PandaTask('pick', _start_posture(kin, start), cube=cube, target=target)


def sample_task(kind: str, kin: Kinematics, rng: np.random.Generator) -> PandaTask:
    """Draw a task of ``kind`` ('reach' or 'pick'); deterministic given the generator."""
    if kind == 'reach':
        return sample_reach(kin, rng)
    if kind == 'pick':
        return sample_pick(kin, rng)
    raise SimError(f'unknown task kind {kind!r}; choose one of {", ".join(TASK_KINDS)}')
