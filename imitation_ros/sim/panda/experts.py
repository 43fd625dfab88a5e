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
Scripted Panda demonstrators: differential inverse kinematics on MuJoCo's Jacobian.

Each demonstrator is a stateless feedback policy: from an observation (joints,
finger gap, cube pose) and the task it computes a tool command (linear and
angular velocity of the tool frame and a finger gap), then joint targets by
damped least squares on ``mj_jacSite`` with the elbow held near a posture in
the null space. Stateless, it can label any visited state (DAgger) and its tool
command can drive a simulated gamepad.

Reach demonstrators pass the pole on the left (+y, ``side=+1``) or the right;
pick demonstrators grasp the cube by one pair of faces (``grasp=0``: the wrist
follows the cube's yaw) or the other (``grasp=1``: a quarter turn further).
``multi`` draws a new demonstrator (mode, speed, clearance, heights) for
every episode: the lecture's data from several people.
"""

from __future__ import annotations

from dataclasses import dataclass
import math

import numpy as np

from ...errors import ConfigError
from .kinematics import (down_rotation, dls_velocity, Kinematics, rotation_error, tool_yaw,
                         wrap_half_turn)
from .model import GRIPPER_MAX_WIDTH, JOINT_LOWER, JOINT_UPPER, PandaConfig
from .observe import PandaObservation
from .tasks import PandaTask, READY

#: Demonstrator names per task kind.
EXPERT_NAMES: dict[str, tuple[str, ...]] = {
    'reach': ('left', 'right', 'multi'),
    'pick': ('straight', 'turned', 'multi'),
}

_MAX_ANGULAR = 1.5  # rad/s
_ROT_GAIN = 4.0  # 1/s
_POS_GAIN = 4.0  # 1/s


@dataclass(frozen=True)
class ToolCommand:
    """A demonstrator's command in the tool frame's terms (world axes)."""

    linear: np.ndarray
    """Tool frame velocity, shape (3,), m/s."""
    angular: np.ndarray
    """Tool frame angular velocity, shape (3,), rad/s."""
    width: float
    """Finger gap target (m)."""


@dataclass(frozen=True)
class ReachStyle:
    """How one reach demonstrator moves; ``side`` is the mode."""

    side: int = 1
    """+1 passes the pole on the left (+y), -1 on the right."""
    speed: float = 0.8
    """Fraction of the top tool speed (0.3 m/s) and of the joints' speed limits, (0, 1]."""
    clearance: float = 0.16
    """Distance from the pole's surface to the tool frame's path (m)."""
    entry: float = 0.75
    """Where the path meets the arc around the pole, as a fraction of pi (0.5 .. 1.0)."""
    lookahead: float = 0.06
    """Distance of the tracked point ahead along the path (m)."""

    def __post_init__(self) -> None:
        if self.side not in (1, -1):
            raise ConfigError(f'side must be +1 (left) or -1 (right), got {self.side}')
        if not 0.0 < self.speed <= 1.0:
            raise ConfigError(f'speed must be in (0, 1], got {self.speed}')
        if not 0.5 <= self.entry <= 1.0:
            raise ConfigError(f'entry must be in [0.5, 1.0], got {self.entry}')
        if self.clearance <= 0 or self.lookahead <= 0:
            raise ConfigError('clearance and lookahead must be positive')


@dataclass(frozen=True)
class PickStyle:
    """How one pick-and-place demonstrator moves; ``grasp`` is the mode."""

    grasp: int = 0
    """0: fingers on the cube's faces across its yaw; 1: on the other pair (wrist turned)."""
    speed: float = 0.8
    """Fraction of the top tool speed (0.3 m/s) and of the joints' speed limits, (0, 1]."""
    approach: float = 0.08
    """Height above the cube from which the tool descends to grasp (m)."""
    carry: float = 0.14
    """Height of the cube's centre while carrying it (m)."""

    def __post_init__(self) -> None:
        if self.grasp not in (0, 1):
            raise ConfigError(f'grasp must be 0 or 1, got {self.grasp}')
        if not 0.0 < self.speed <= 1.0:
            raise ConfigError(f'speed must be in (0, 1], got {self.speed}')
        if not (0.03 <= self.approach <= 0.2 and 0.06 <= self.carry <= 0.3):
            raise ConfigError('approach must be 0.03..0.2 m and carry 0.06..0.3 m')


def _limit(v: np.ndarray, top: float) -> np.ndarray:
    n = float(np.linalg.norm(v))
    return v if n <= top else v * (top / n)


class _DiffIK:
    """Turns a tool command into joint targets; shared by the demonstrators."""

    def __init__(self, kin: Kinematics, config: PandaConfig, speed: float) -> None:
        self.kin = kin
        self.config = config
        self.speed = speed

    def orient(self, rotation: np.ndarray, yaw: float) -> np.ndarray:
        """Angular velocity turning the tool toward pointing down at ``yaw``, (3,) rad/s."""
        err = rotation_error(rotation, down_rotation(yaw))
        return _limit(_ROT_GAIN * err, _MAX_ANGULAR)

    def joint_targets(self, q: np.ndarray, command: ToolCommand) -> np.ndarray:
        """Absolute joint targets for the next control period, shape (8,) (rad, m)."""
        jac = self.kin.jacobian(q)
        posture = READY.copy()
        posture[6] = q[6]  # the wrist's yaw comes from the orientation task
        twist = np.concatenate([command.linear, command.angular])
        qdot = dls_velocity(jac, twist, q, posture, posture_gain=1.0)
        limit = self.speed * self.config.joint_speed
        ratio = float(np.max(np.abs(qdot) / limit))
        if ratio > 1.0:
            qdot = qdot / ratio
        target = np.clip(q + qdot * self.config.dt, JOINT_LOWER + 0.02, JOINT_UPPER - 0.02)
        return np.concatenate([target, [command.width]])


class ReachExpert:
    """
    A reach demonstrator: follows a path from the start around the pole to the goal.

    The path runs from the tool's start position to an arc around the pole on
    ``style.side`` and on to the goal, the height changing linearly; the tool
    chases a point ``lookahead`` ahead of its projection on the path, pointing
    down at yaw 0.
    """

    def __init__(self, kin: Kinematics, config: PandaConfig, style: ReachStyle) -> None:
        self.kin = kin
        self.config = config
        self.style = style
        self._ik = _DiffIK(kin, config, style.speed)

    def path(self, task: PandaTask) -> np.ndarray:
        """Tool path: start, arc points, goal; shape (P, 3), m."""
        start, _ = self.kin.tcp(task.start)
        goal = np.asarray(task.goal, dtype=np.float64)
        pole = np.asarray(task.pole[:2], dtype=np.float64)
        u = (goal[:2] - start[:2]) / max(float(np.linalg.norm(goal[:2] - start[:2])), 1e-9)
        n = np.array([-u[1], u[0]])
        radius = task.pole[2] + self.style.clearance
        angles = self.style.side * np.linspace(self.style.entry * math.pi, 0.2 * math.pi, 9)
        arc_xy = pole + radius * (np.cos(angles)[:, None] * u + np.sin(angles)[:, None] * n)
        along = np.clip(((arc_xy - start[:2]) @ u) / max(float((goal[:2] - start[:2]) @ u),
                                                         1e-9), 0.0, 1.0)
        arc_z = start[2] + along * (goal[2] - start[2])
        return np.vstack([start, np.column_stack([arc_xy, arc_z]), goal])

    def command(self, obs: PandaObservation, task: PandaTask) -> ToolCommand:
        """Tool command at this state."""
        pos, rot = self.kin.tcp(obs.q)
        path = self.path(task)
        s, cum = _project(path, pos)
        carrot = _point_at(path, cum, s + self.style.lookahead)
        to_goal = float(np.linalg.norm(task.goal - pos))
        direction = carrot - pos
        norm = float(np.linalg.norm(direction))
        top = 0.3 * self.style.speed
        speed = min(top, _POS_GAIN * to_goal + 0.01)
        linear = np.zeros(3) if norm < 1e-9 else direction / norm * speed
        return ToolCommand(linear=linear, angular=self._ik.orient(rot, 0.0),
                           width=GRIPPER_MAX_WIDTH)

    def action(self, obs: PandaObservation, task: PandaTask) -> np.ndarray:
        """Absolute joint targets and finger gap for the next period, shape (8,)."""
        return self._ik.joint_targets(obs.q, self.command(obs, task))


class PickExpert:
    """
    A pick-and-place demonstrator; its phase follows from the state alone.

    Cube on the target and released: open and rise. Cube held (the finger gap
    matches the cube and the tool is at it): lift to the carry height, move
    over the target, lower and open. Otherwise: open, go above the cube with
    the wrist at the grasp yaw, descend and close.
    """

    def __init__(self, kin: Kinematics, config: PandaConfig, style: PickStyle,
                 cube_half: float = 0.025) -> None:
        self.kin = kin
        self.config = config
        self.style = style
        self.cube_half = cube_half
        self._ik = _DiffIK(kin, config, style.speed)

    def grasp_yaw(self, cube_yaw: float) -> float:
        """Wrist yaw of this demonstrator's grasp of a cube at ``cube_yaw`` (rad)."""
        # One fixed representative per mode (no half-turn ambiguity), so each mode turns
        # the wrist one way: grasp 0 to [-pi/2, pi/2), grasp 1 a quarter turn further.
        return wrap_half_turn(cube_yaw) + self.style.grasp * math.pi / 2

    def _move(self, pos: np.ndarray, goal: np.ndarray) -> np.ndarray:
        return _limit(_POS_GAIN * (goal - pos), 0.3 * self.style.speed)

    def command(self, obs: PandaObservation, task: PandaTask) -> ToolCommand:
        """Tool command at this state."""
        pos, rot = self.kin.tcp(obs.q)
        yaw_now = tool_yaw(rot)
        cube = obs.cube[:3]
        h = self.cube_half
        target = np.asarray(task.target[:2], dtype=np.float64)
        near_cube = float(np.linalg.norm(pos - cube))
        on_target = (np.linalg.norm(cube[:2] - target) < 0.5 * task.target[2]
                     and cube[2] < h + 0.006)
        held = 2 * h - 0.012 < obs.width < 2 * h + 0.002 and near_cube < 0.02
        if on_target:
            # Release, then rise once the fingers are clear.
            up = pos.copy()
            up[2] = h + self.style.approach
            linear = self._move(pos, up) if obs.width > 0.07 else np.zeros(3)
            return ToolCommand(linear, self._ik.orient(rot, yaw_now), GRIPPER_MAX_WIDTH)
        if held:
            shift = target - cube[:2]
            far = float(np.linalg.norm(shift))
            low = h - 0.004  # aim below the table top so the release height is met
            lift = float(np.clip((cube[2] - low) / (self.style.carry - low), 0.0, 1.0))
            goal = pos.copy()
            goal[:2] = pos[:2] + shift * (lift if far > 0.01 else 1.0)
            goal[2] = pos[2] + ((self.style.carry if far > 0.01 else low) - cube[2])
            return ToolCommand(self._move(pos, goal), self._ik.orient(rot, yaw_now), 0.0)
        yaw_goal = self.grasp_yaw(obs.cube_yaw)
        yaw_err = abs(_wrap(yaw_goal - yaw_now))
        xy_err = float(np.linalg.norm(cube[:2] - pos[:2]))
        closing = obs.width < GRIPPER_MAX_WIDTH - 0.005
        at_grasp = near_cube < (0.02 if closing else 0.008) and yaw_err < 0.1
        angular = self._ik.orient(rot, yaw_goal)
        if at_grasp:
            return ToolCommand(self._move(pos, cube), angular, 0.0)
        above = cube + np.array([0.0, 0.0, self.style.approach])
        if closing and pos[2] < cube[2] + 0.03:
            # Fingers closed off the cube: open and rise before moving sideways.
            goal = pos.copy()
            goal[2] = above[2]
            return ToolCommand(self._move(pos, goal), angular, GRIPPER_MAX_WIDTH)
        aligned = xy_err < 0.008 and yaw_err < 0.08
        goal = cube.copy() if aligned else above
        if pos[2] < above[2] - 0.02 and xy_err > 0.02:
            goal = np.array([pos[0], pos[1], above[2]])  # rise before moving sideways
        return ToolCommand(self._move(pos, goal), angular, GRIPPER_MAX_WIDTH)

    def action(self, obs: PandaObservation, task: PandaTask) -> np.ndarray:
        """Absolute joint targets and finger gap for the next period, shape (8,)."""
        return self._ik.joint_targets(obs.q, self.command(obs, task))


def _wrap(angle: float) -> float:
    return float((angle + math.pi) % (2 * math.pi) - math.pi)


def _project(path: np.ndarray, point: np.ndarray) -> tuple[float, np.ndarray]:
    """Arc length of the path point closest to ``point``, and the cumulative lengths."""
    a, b = path[:-1], path[1:]
    ab = b - a
    seg = np.linalg.norm(ab, axis=1)
    t = np.clip(np.sum((point - a) * ab, axis=1) / np.maximum(seg ** 2, 1e-12), 0.0, 1.0)
    d = np.linalg.norm(a + t[:, None] * ab - point, axis=1)
    i = int(np.argmin(d))
    cum = np.concatenate([[0.0], np.cumsum(seg)])
    return float(cum[i] + t[i] * seg[i]), cum


def _point_at(path: np.ndarray, cum: np.ndarray, s: float) -> np.ndarray:
    s = float(np.clip(s, 0.0, cum[-1]))
    i = int(np.clip(np.searchsorted(cum, s, side='right') - 1, 0, len(path) - 2))
    seg = cum[i + 1] - cum[i]
    t = 0.0 if seg <= 0 else (s - cum[i]) / seg
    return path[i] + t * (path[i + 1] - path[i])


def sample_style(kind: str, name: str, rng: np.random.Generator) -> ReachStyle | PickStyle:
    """Draw a demonstrator style: a fixed mode by name, or anything for 'multi'."""
    if name not in EXPERT_NAMES.get(kind, ()):
        choices = ', '.join(f'{k}: {"/".join(v)}' for k, v in EXPERT_NAMES.items())
        raise ConfigError(f'unknown {kind} demonstrator {name!r}; choose one of {choices}')
    if kind == 'reach':
        if name != 'multi':
            return ReachStyle(side=1 if name == 'left' else -1)
        return ReachStyle(side=1 if rng.random() < 0.5 else -1,
                          speed=float(rng.uniform(0.6, 1.0)),
                          clearance=float(rng.uniform(0.14, 0.18)),
                          entry=float(rng.uniform(0.65, 0.85)),
                          lookahead=float(rng.uniform(0.05, 0.08)))
    if name != 'multi':
        return PickStyle(grasp=0 if name == 'straight' else 1)
    return PickStyle(grasp=int(rng.random() < 0.5), speed=float(rng.uniform(0.6, 1.0)),
                     approach=float(rng.uniform(0.06, 0.1)),
                     carry=float(rng.uniform(0.1, 0.18)))


def make_expert(kind: str, name: str, kin: Kinematics, config: PandaConfig,
                rng: np.random.Generator, cube_half: float = 0.025) -> ReachExpert | PickExpert:
    """Make a demonstrator for one episode; 'multi' draws a new style each call."""
    style = sample_style(kind, name, rng)
    if kind == 'reach':
        return ReachExpert(kin, config, style)
    return PickExpert(kin, config, style, cube_half=cube_half)
