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
Scripted demonstrators: the "humans" whose data the policies imitate.

A demonstrator follows a path for the end effector that passes the obstacle on
one side (``above``: +y, ``below``: -y) and reaches the goal, using damped
least-squares differential inverse kinematics; the arm's redundancy (three
joints for a 2-D position) curls the links around the obstacle on the same
side. It is stateless: its action depends only on the measured joint positions
and the task, so it can label any state (DAgger) and express the same motion as
gamepad stick values (the simulated operator).

``multi`` is the lecture's multi-human data: each episode a different
demonstrator, with its own side, speed, clearance and smoothness.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
import math

import numpy as np

from ..errors import ConfigError
from ..interface.kinematics import null_space_direction
from .arm import ArmConfig, end_effector, forward_kinematics, jacobian, Task

EXPERT_NAMES: tuple[str, ...] = ('above', 'below', 'multi')


@dataclass(frozen=True)
class DemonstratorStyle:
    """
    How one demonstrator moves.

    ``side`` picks the mode; the rest shapes the trajectory inside the mode.
    """

    side: int = 1
    """+1 passes the obstacle above (+y), -1 below (-y)."""
    speed: float = 0.8
    """Fraction of the arm's max joint speed the demonstrator uses (0, 1]."""
    clearance: float = 0.16
    """Distance kept between the end effector path and the obstacle surface (m)."""
    lookahead: float = 0.2
    """Distance of the tracked point ahead along the path (m); longer is smoother."""
    entry: float = 0.7
    """Where the path meets the arc around the obstacle, as a fraction of pi (0.5 .. 1.0).

    1.0 heads for the obstacle's near point and turns late; smaller values head
    for its side straight from the start."""

    def __post_init__(self) -> None:
        if self.side not in (1, -1):
            raise ConfigError(f'side must be +1 (above) or -1 (below), got {self.side}')
        if not 0.0 < self.speed <= 1.0:
            raise ConfigError(f'speed must be in (0, 1], got {self.speed}')
        if not 0.5 <= self.entry <= 1.0:
            raise ConfigError(f'entry must be in [0.5, 1.0], got {self.entry}')
        if self.clearance <= 0 or self.lookahead <= 0:
            raise ConfigError('clearance and lookahead must be positive')


def _path(config: ArmConfig, task: Task, style: DemonstratorStyle) -> np.ndarray:
    """
    End effector path: start, an arc around the obstacle on ``style.side``, goal.

    :returns: polyline points, shape (P, 2), m.
    """
    start = end_effector(config, task.start)
    radius = task.obstacle_radius + style.clearance
    angles = style.side * np.linspace(style.entry * math.pi, 0.2 * math.pi, 9)
    arc = task.obstacle + radius * np.stack([np.cos(angles), np.sin(angles)], axis=-1)
    return np.vstack([start, arc, task.goal])


def _project(path: np.ndarray, point: np.ndarray) -> tuple[float, np.ndarray]:
    """Arc length of the path point closest to ``point``, and cumulative lengths."""
    a, b = path[:-1], path[1:]
    ab = b - a
    seg_len = np.linalg.norm(ab, axis=1)
    t = np.clip(np.sum((point - a) * ab, axis=1) / np.maximum(seg_len ** 2, 1e-12), 0, 1)
    d = np.linalg.norm(a + t[:, None] * ab - point, axis=1)
    i = int(np.argmin(d))
    cum = np.concatenate([[0.0], np.cumsum(seg_len)])
    return float(cum[i] + t[i] * seg_len[i]), cum


def _point_at(path: np.ndarray, cum: np.ndarray, s: float) -> np.ndarray:
    s = float(np.clip(s, 0.0, cum[-1]))
    i = int(np.clip(np.searchsorted(cum, s, side='right') - 1, 0, len(path) - 2))
    seg = cum[i + 1] - cum[i]
    t = 0.0 if seg <= 0 else (s - cum[i]) / seg
    return path[i] + t * (path[i + 1] - path[i])


#: Preferred posture near the goal per side (rad): links curl around the obstacle.
_POSTURE_ABOVE = np.array([0.55, -0.5, -1.0])


@dataclass(frozen=True)
class ScriptedExpert:
    """
    A demonstrator with a fixed style; ``action(q, task)`` is its command.

    :param config: the arm it drives.
    :param style: side, speed, clearance, smoothness.
    """

    config: ArmConfig
    style: DemonstratorStyle

    def ee_velocity(self, q: np.ndarray, task: Task) -> np.ndarray:
        """Desired end effector velocity at state ``q``, shape (2,), m/s."""
        ee = end_effector(self.config, q)
        path = _path(self.config, task, self.style)
        s, cum = _project(path, ee)
        carrot = _point_at(path, cum, s + self.style.lookahead)
        to_goal = float(np.linalg.norm(task.goal - ee))
        direction = carrot - ee
        norm = float(np.linalg.norm(direction))
        if norm < 1e-9:
            return np.zeros(2)
        v_max = self.style.speed * self.config.max_joint_speed * 0.9
        speed = min(v_max, 2.5 * to_goal + 0.05)
        return direction / norm * speed

    def joint_velocity(self, q: np.ndarray, task: Task, v: np.ndarray | None = None) -> np.ndarray:
        """
        Joint velocity realizing ``v`` (default: :meth:`ee_velocity`), shape (n,), rad/s.

        Weighted damped least squares: the end effector follows ``v``; every
        link closer to the obstacle than a safety distance is pushed away with a
        weight that grows as the gap closes; the remaining freedom pulls the
        posture toward the side's preferred shape.
        """
        q = np.asarray(q, dtype=np.float64)
        if v is None:
            v = self.ee_velocity(q, task)
        rows = [jacobian(self.config, q)]
        rhs = [np.asarray(v, dtype=np.float64)]
        rows_c, rhs_c = self._avoidance_rows(q, task)
        rows += rows_c
        rhs += rhs_c
        a = np.vstack(rows)
        b = np.concatenate(rhs)
        lam2 = 0.01
        a_pinv = a.T @ np.linalg.inv(a @ a.T + lam2 * np.eye(a.shape[0]))
        qdot = a_pinv @ b
        null = np.eye(len(q)) - a_pinv @ a
        # The side shows in the posture only once the arm nears the obstacle: before
        # that, both sides' demonstrators move alike (the human picks a side late).
        ee = end_effector(self.config, q)
        start_turn = task.obstacle[0] - task.obstacle_radius - self.style.clearance
        gate = float(np.clip((ee[0] - start_turn + 0.3) / 0.3, 0.0, 1.0))
        qdot = qdot + null @ (gate * (self.style.side * _POSTURE_ABOVE - q))
        limit = self.style.speed * self.config.max_joint_speed
        peak = float(np.max(np.abs(qdot)))
        if peak > limit:
            qdot = qdot * (limit / peak)
        return qdot

    def _avoidance_rows(self, q: np.ndarray,
                        task: Task) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """One weighted 1-row task per link that is too close to the obstacle."""
        safety = 0.2
        points = forward_kinematics(self.config, q)
        rows: list[np.ndarray] = []
        rhs: list[np.ndarray] = []
        n = len(q)
        for link in range(n):
            a, b = points[link], points[link + 1]
            ab = b - a
            t = float(np.clip(np.dot(task.obstacle - a, ab) / np.dot(ab, ab), 0.0, 1.0))
            closest = a + t * ab
            away = closest - task.obstacle
            dist = float(np.linalg.norm(away))
            gap = dist - task.obstacle_radius - self.config.link_radius
            if gap >= safety or dist < 1e-9:
                continue
            normal = away / dist
            # Jacobian of the closest point: joints up to and including this link move it.
            jac = np.zeros((2, n))
            for j in range(link + 1):
                rel = closest - points[j]
                jac[:, j] = (-rel[1], rel[0])
            weight = 6.0 * (safety - gap) / safety
            rows.append(weight * (normal @ jac)[None, :])
            rhs.append(np.array([weight * 2.0 * (safety - gap)]))
        return rows, rhs

    def stick_axes(self, q: np.ndarray, task: Task, *, linear_speed: float,
                   elbow_speed: float) -> np.ndarray:
        """
        Express this demonstrator's motion as cartesian gamepad stick values.

        The inverse of the gate's planar teleop mapping (cartesian task x, y,
        null_space ``elbow``; :func:`imitation_ros.gate.teleop.elbow_velocity`):
        the end effector velocity over ``linear_speed`` and the null-space
        (elbow) rate over ``elbow_speed``, clipped to the stick's range.

        :returns: (x, y, elbow) in [-1, 1], shape (3,).
        """
        q = np.asarray(q, dtype=np.float64)
        qdot = self.joint_velocity(q, task)
        jac = jacobian(self.config, q)
        v = jac @ qdot
        elbow = float(null_space_direction(jac) @ qdot)
        axes = np.array([v[0] / linear_speed, v[1] / linear_speed, elbow / elbow_speed])
        return np.clip(axes, -1.0, 1.0)

    def action(self, q: np.ndarray, task: Task) -> np.ndarray:
        """Absolute joint target for the next control period, shape (n,), rad."""
        q = np.asarray(q, dtype=np.float64)
        target = q + self.joint_velocity(q, task) * self.config.dt
        return np.clip(target, self.config.lower + 0.02, self.config.upper - 0.02)


def sample_style(name: str, rng: np.random.Generator) -> DemonstratorStyle:
    """Draw a demonstrator style for expert ``name`` ('above', 'below' or 'multi')."""
    if name == 'above':
        return DemonstratorStyle(side=1)
    if name == 'below':
        return DemonstratorStyle(side=-1)
    if name == 'multi':
        return DemonstratorStyle(side=1 if rng.random() < 0.5 else -1,
                                 speed=float(rng.uniform(0.6, 1.0)),
                                 clearance=float(rng.uniform(0.12, 0.2)),
                                 lookahead=float(rng.uniform(0.15, 0.25)),
                                 entry=float(rng.uniform(0.6, 0.85)))
    raise ConfigError(f'unknown expert {name!r}; choose one of {", ".join(EXPERT_NAMES)}')


def make_expert(name: str, config: ArmConfig, rng: np.random.Generator) -> ScriptedExpert:
    """Make a demonstrator for one episode; ``multi`` draws a new one each call."""
    return ScriptedExpert(config=config, style=sample_style(name, rng))


def with_side(expert: ScriptedExpert, side: int) -> ScriptedExpert:
    """Return the same demonstrator passing on the given side (+1 above, -1 below)."""
    return replace(expert, style=replace(expert.style, side=side))
