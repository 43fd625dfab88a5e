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
The simulated operator of the Panda: watches the reach task, steers the tool with the sticks.

The Panda counterpart of :class:`imitation_ros.sim.operator.SimulatedOperator`,
with the same interface (``start_episode``, ``step``, ``end_episode``, the
gamepad as joy_node publishes it) and the same decision rule, measured on the
tool frame (the ``tcp`` site) instead of the planar end effector:

1. **Trouble** (first that holds is the reason): ``joint_limit`` (a joint within
   ``limit_margin_rad`` of Franka's limits); ``collision_risk`` (the tool frame,
   the hand or a wrist link closer than ``collision_margin_m`` to the pole's
   surface below its top, or nearer the table than ``table_margin_m``, or about
   to be within ``collision_lookahead_s`` at its approach speed); ``stalled``
   (the tool made no progress toward the goal, by ``stall_progress_m``, for
   ``stall_s``); ``off_corridor`` (the tool farther than ``corridor_m`` from
   both demonstrators' paths, left and right of the pole); ``help`` (the gate
   asks for help).
2. **Reaction**: the takeover starts ``reaction_delay_s`` (plus up to
   ``reaction_jitter_s``) after trouble was first seen, if it held throughout.
3. **Takeover**: the side whose path is closer (or ``side``, unless the other is
   closer by ``side_margin_m``), kept for the whole takeover; deadman held; the
   sticks carry that side's demonstrator's tool velocity
   (:meth:`~imitation_ros.sim.panda.experts.ReachExpert.command`) divided by
   ``linear_speed``: ``axes[axis_map]`` = x, y, z in the base frame. The gate
   turns them back into joint targets with its cartesian mapping
   (:func:`gate_teleop`: every component of the tool's motion controlled, the
   rotation held, the null space pulled toward the ready posture, as the
   demonstrators hold it).
4. **Release** once the tool has stayed within ``release_m`` of the chosen path
   for ``release_hold_s``, past the pole (by its radius and ``collision_margin_m``),
   with no limit or collision trouble.

Only the reach task: a pick demonstrator needs the cube's pose, which no topic
of the interface carries, and the policy's action has no gripper command.
Deterministic given the seed.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
import math
from typing import Any

import numpy as np

from ...errors import ConfigError
from ..operator import (let_go, N_AXES, N_BUTTONS, OperatorOutput, path_distance,
                        REACTING_PREFIX, REASON_COLLISION, REASON_HELP, REASON_IDLE,
                        REASON_JOINT_LIMIT, REASON_OFF_CORRIDOR, REASON_OK, REASON_STALLED,
                        Regrip)
from .experts import ReachExpert, ReachStyle
from .interface import BASE_LINK, TIP_LINK
from .kinematics import Kinematics
from .model import ARM_JOINTS, FINGER_JOINTS, JOINT_LOWER, JOINT_UPPER, PandaConfig, PandaModel
from .observe import observation_from_joints
from .tasks import PandaTask, READY, TASK_LAYOUTS

#: Sides of the pole: +1 left (+y), -1 right.
SIDES: tuple[int, int] = (1, -1)
#: Bodies watched for collision with the pole, besides the tool frame.
WATCHED_BODIES: tuple[str, ...] = ('panda_link5', 'panda_link6', 'panda_link7', 'panda_hand')
#: The only task the operator drives.
TASK_KIND = 'reach'


@dataclass(frozen=True)
class PandaOperatorParams:
    """
    Thresholds and gamepad mapping of the Panda's simulated operator.

    Lengths in m, angles in rad, times in s, speeds in m/s; stick values in [-1, 1].
    """

    corridor_m: float = 0.06
    """Take over when the tool is farther than this from both demonstrators' paths (m)."""
    collision_margin_m: float = 0.06
    """Take over when a watched body comes closer than this to the pole's surface (m)..."""
    table_margin_m: float = 0.03
    """... or the tool frame closer than this to the table (m)..."""
    collision_lookahead_s: float = 0.3
    """... or will be at its current approach speed within this time (s); 0 disables."""
    stall_s: float = 1.5
    """Take over when the tool made no progress toward the goal for this long (s)."""
    stall_progress_m: float = 0.01
    """Improvement of the best distance to the goal that counts as progress (m)."""
    limit_margin_rad: float = 0.05
    """Take over when a joint is this close to one of Franka's limits (rad)."""
    reaction_delay_s: float = 0.25
    """Reaction time between seeing trouble and grabbing the pad (s)."""
    reaction_jitter_s: float = 0.0
    """Extra reaction time drawn uniformly from [0, this] per takeover (s)."""
    regrip_s: float = 0.15
    """How long the deadman stays released when re-gripping after a joy-lost hold (s)."""
    release_m: float = 0.02
    """Let go once the tool is this close to the chosen path (m)..."""
    release_hold_s: float = 0.3
    """... for this long in a row, past the pole (s)."""
    hold_until_end: bool = False
    """Keep control until the episode ends once taken over."""
    linear_speed: float = 0.3
    """Tool speed of a full stick deflection, as the gate's ``scale`` (m/s)."""
    enable_button: int = 4
    """Deadman button held while in control (4 = LB)."""
    axis_map: tuple[int, int, int] = (1, 0, 4)
    """Axes carrying the tool's x, y, z speed (the gate's default axis_map)."""
    stick_noise: float = 0.0
    """Std of Gaussian noise added to each stick value while in control."""
    side: int = 0
    """0: steer on the side whose path is closer; +1 left / -1 right (the other side only
    when its path is closer by more than ``side_margin_m``)."""
    side_margin_m: float = 0.1
    """With ``side`` set: how much closer the other side's path must be to steer there (m)."""
    style: ReachStyle = field(default_factory=ReachStyle)
    """Speed, clearance, path of the operator's motion and of the paths it watches
    (its ``side`` is ignored: both sides are used)."""

    def __post_init__(self) -> None:
        positive = ('corridor_m', 'collision_margin_m', 'table_margin_m', 'stall_s',
                    'stall_progress_m', 'release_m', 'linear_speed')
        non_negative = ('collision_lookahead_s', 'limit_margin_rad', 'reaction_delay_s',
                        'reaction_jitter_s', 'regrip_s', 'release_hold_s', 'stick_noise',
                        'side_margin_m')
        for name in positive + non_negative:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) \
                    or not math.isfinite(value):
                raise ConfigError(f'Panda operator {name} must be a finite number, got '
                                  f'{value!r}')
            if (name in positive and value <= 0) or value < 0:
                raise ConfigError(f'Panda operator {name} must be '
                                  f'{"> 0" if name in positive else ">= 0"}, got {value!r}')
        if self.release_m >= self.corridor_m:
            raise ConfigError(f'Panda operator release_m ({self.release_m}) must be smaller '
                              f'than corridor_m ({self.corridor_m})')
        if isinstance(self.side, bool) or self.side not in (0, *SIDES):
            raise ConfigError(f'Panda operator side must be 0, 1 (left) or -1 (right), got '
                              f'{self.side!r}')
        if not isinstance(self.enable_button, int) or not 0 <= self.enable_button < N_BUTTONS:
            raise ConfigError(f'Panda operator enable_button must be 0..{N_BUTTONS - 1}, got '
                              f'{self.enable_button!r}')
        axes = tuple(self.axis_map)
        if (len(axes) != 3 or len(set(axes)) != 3
                or not all(isinstance(a, int) and 0 <= a < N_AXES for a in axes)):
            raise ConfigError(f'Panda operator axis_map must be 3 distinct axis indices 0..'
                              f'{N_AXES - 1} (x, y, z), got {self.axis_map!r}')
        object.__setattr__(self, 'axis_map', axes)


def gate_teleop(params: PandaOperatorParams | None = None) -> dict[str, Any]:
    """
    Return the intervention gate's parameters that read this operator's sticks on the Panda.

    The chain ``panda_link0`` -> ``panda_hand_tcp``, its gripper, and the cartesian
    mapping: x, y, z of the tool on ``axis_map`` at ``linear_speed``, the rotation
    held still, the one-dimensional null space pulled toward the ready posture.
    Keys are ``intervention_gate`` parameters, lists as ROS holds them.
    """
    p = params if params is not None else PandaOperatorParams()
    return {'base_link': BASE_LINK, 'tip_link': TIP_LINK,
            'gripper_joints': [FINGER_JOINTS[0]], 'teleop_mode': 'cartesian',
            'cartesian_task': ['linear_x', 'linear_y', 'linear_z', 'angular_x', 'angular_y',
                               'angular_z'],
            'axis_map': list(p.axis_map), 'scale': [p.linear_speed] * 3,
            'rotation_button': -1, 'elbow_axis': -1, 'null_space': 'rest',
            'rest_posture': [float(v) for v in READY], 'posture_gain': 1.0}


class PandaOperator:
    """
    A simulated person with a gamepad beside the Panda; the rule is in the module docstring.

    :param params: thresholds and gamepad mapping.
    :param seed: seed of the reaction jitter and stick noise.
    :param config: the sim's settings the demonstrators plan with (dt, speed limits).
    """

    #: Joint names read from ``joint_states``, base to tip.
    joint_names: tuple[str, ...] = ARM_JOINTS

    def __init__(self, params: PandaOperatorParams | None = None, seed: int = 0,
                 config: PandaConfig | None = None) -> None:
        self.params = params if params is not None else PandaOperatorParams()
        self.config = config if config is not None else PandaConfig(camera=False)
        self.kinematics = Kinematics(PandaModel(self.config))
        self.seed = int(seed)
        self._rng = np.random.default_rng(self.seed)
        self._experts = {side: ReachExpert(self.kinematics, self.config,
                                           replace(self.params.style, side=side))
                         for side in SIDES}
        self.task: PandaTask | None = None
        self._paths: dict[int, np.ndarray] = {}
        self.takeovers = 0
        self._regripper = Regrip(self.params.reaction_delay_s, self.params.reaction_jitter_s,
                                 self.params.regrip_s, self._rng)
        self._reset_state()

    @staticmethod
    def task_from_vector(vector: Any, start: Any) -> PandaTask:
        """Return the reach task of an ``imitation/task`` vector and the start posture (7,)."""
        return PandaTask.from_vector(TASK_KIND, np.asarray(vector, dtype=np.float64),
                                     np.asarray(start, dtype=np.float64))

    @property
    def task_size(self) -> int:
        """Return the length of the task vector."""
        return len(TASK_LAYOUTS[TASK_KIND])

    def _reset_state(self) -> None:
        self.engaged = False
        self.side = 0
        self.reason = REASON_IDLE
        self._trouble_since: float | None = None
        self._trouble_reason = ''
        self._delay = 0.0
        self._within_since: float | None = None
        self._best_goal: float | None = None
        self._progress_at: float | None = None
        self._last_clearance: tuple[float, float] | None = None
        self._regripper.reset()

    @property
    def regrips(self) -> int:
        """Return the re-grips of this episode (after the gate's joy-lost hold)."""
        return self._regripper.count

    @property
    def active(self) -> bool:
        """Return True while an episode runs."""
        return self.task is not None

    def start_episode(self, task: PandaTask) -> None:
        """
        Begin watching a new episode.

        :raises ConfigError: a pick task, or a start posture that is not 7 joints.
        """
        if task.kind != TASK_KIND:
            raise ConfigError(f'the simulated Panda operator drives the reach task only, got '
                              f'{task.kind!r}: a pick demonstrator needs the cube pose, which '
                              'no topic carries')
        start = np.asarray(task.start, dtype=np.float64)
        if start.shape != (len(ARM_JOINTS),) or not np.all(np.isfinite(start)):
            raise ConfigError(f'task.start must be {len(ARM_JOINTS)} finite joint positions, '
                              f'got {start!r}')
        self.task = task
        self._paths = {side: self._experts[side].path(task) for side in SIDES}
        self.takeovers = 0
        self._regripper.count = 0
        self._reset_state()
        self.reason = REASON_OK

    def update_task(self, task: PandaTask) -> None:
        """Replace the running episode's task (goal or pole moved), keeping the state."""
        if self.task is None:
            self.start_episode(task)
            return
        self.task = task
        self._paths = {side: self._experts[side].path(task) for side in SIDES}

    def end_episode(self) -> None:
        """Stop watching: the pad goes idle until the next start_episode."""
        self.task = None
        self._paths = {}
        self._reset_state()

    def idle_output(self) -> OperatorOutput:
        """Return the gamepad at rest: sticks centred, no button."""
        return OperatorOutput(axes=np.zeros(N_AXES), buttons=np.zeros(N_BUTTONS, dtype=np.int64),
                              engaged=False, reason=self.reason)

    def tool(self, q: np.ndarray) -> np.ndarray:
        """Return the tool frame's position at arm posture ``q`` (7,), shape (3,), m."""
        return self.kinematics.tcp(q)[0]

    def distances(self, q: np.ndarray) -> dict[int, float]:
        """Return the tool's distance (m) to each side's demonstrator path (+1, -1)."""
        tool = self.tool(q)
        return {side: path_distance(path, tool) for side, path in self._paths.items()}

    def clearance(self, q: np.ndarray) -> float:
        """
        Return the smallest gap (m) between the watched points and the pole or the table.

        Pole: horizontal distance of the tool frame, the hand and the wrist links'
        origins from the pole's axis minus its radius, for points below its top;
        table: the tool frame's height above ``table_margin_m`` (so both compare
        with ``collision_margin_m``).
        """
        assert self.task is not None
        x, y, radius, height = self.task.pole
        points = [self.tool(q)] + [self.kinematics.body_position(q, b) for b in WATCHED_BODIES]
        gaps = [float(np.hypot(pt[0] - x, pt[1] - y) - radius) for pt in points
                if pt[2] < height]
        table = float(points[0][2]) - self.params.table_margin_m + self.params.collision_margin_m
        return min([table, *gaps])

    def _choose_side(self, dist: dict[int, float]) -> int:
        closer = 1 if dist[1] <= dist[-1] else -1
        preferred = self.params.side
        if preferred == 0 or closer == preferred:
            return closer
        return closer if dist[closer] + self.params.side_margin_m < dist[preferred] \
            else preferred

    def _trouble(self, q: np.ndarray, now: float, help_requested: bool) -> str:
        """Return what is wrong at ``q`` ('' if nothing); call once per period."""
        assert self.task is not None
        p = self.params
        to_goal = float(np.linalg.norm(self.tool(q) - self.task.goal))
        if self._best_goal is None or self._progress_at is None or self.engaged:
            self._best_goal, self._progress_at = to_goal, now
        elif to_goal < self._best_goal - p.stall_progress_m:
            self._best_goal, self._progress_at = to_goal, now
        clearance = self.clearance(q)
        predicted = clearance
        if (self._last_clearance is not None and p.collision_lookahead_s > 0
                and clearance < 2.0 * p.collision_margin_m):
            before, then = self._last_clearance
            if now > then:
                rate = (clearance - before) / (now - then)
                predicted = clearance + min(rate, 0.0) * p.collision_lookahead_s
        self._last_clearance = (clearance, now)
        if (np.any(q - JOINT_LOWER < p.limit_margin_rad)
                or np.any(JOINT_UPPER - q < p.limit_margin_rad)):
            return REASON_JOINT_LIMIT
        if min(clearance, predicted) < p.collision_margin_m:
            return REASON_COLLISION
        if not self.engaged and now - self._progress_at >= p.stall_s:
            return REASON_STALLED
        if min(self.distances(q).values()) > p.corridor_m:
            return REASON_OFF_CORRIDOR
        if help_requested and not self.engaged:
            return REASON_HELP
        return ''

    def step(self, q: np.ndarray, now: float, help_requested: bool = False,
             joy_lost: bool = False) -> OperatorOutput:
        """
        Watch the arm at joint positions ``q`` (7,) rad at time ``now`` (s); return the pad.

        Call it once per control period with a monotonic ``now``. ``help_requested`` and
        ``joy_lost`` as for :meth:`~imitation_ros.sim.operator.SimulatedOperator.step`.

        :raises ConfigError: ``q`` is not 7 finite values.
        """
        if self.task is None:
            self.reason = REASON_IDLE
            return self.idle_output()
        p = self.params
        q = np.asarray(q, dtype=np.float64)
        if q.shape != (len(ARM_JOINTS),) or not np.all(np.isfinite(q)):
            raise ConfigError(f'joint positions must be {len(ARM_JOINTS)} finite values, got '
                              f'{q.tolist()}')
        now = float(now)
        trouble = self._trouble(q, now, bool(help_requested))
        if self.engaged and self._regripper.letting_go(now, bool(joy_lost)):
            return let_go()
        if not self.engaged:
            if not trouble:
                self._trouble_since = None
                self.reason = REASON_OK
                return self.idle_output()
            if self._trouble_since is None:
                self._trouble_since = now
                self._delay = p.reaction_delay_s
                if p.reaction_jitter_s > 0:
                    self._delay += float(self._rng.uniform(0.0, p.reaction_jitter_s))
                self._trouble_reason = trouble
            if now - self._trouble_since < self._delay - 1e-9:
                self.reason = REACTING_PREFIX + self._trouble_reason
                return self.idle_output()
            self.side = self._choose_side(self.distances(q))
            self.engaged = True
            self.takeovers += 1
            self.reason = self._trouble_reason
            self._trouble_since = None
            self._within_since = None
        elif not p.hold_until_end and self._recovered(q, now, trouble):
            self.engaged = False
            self.side = 0
            self.reason = REASON_OK
            self._within_since = None
            self._best_goal = None
            return self.idle_output()
        return self._steer(q)

    def _recovered(self, q: np.ndarray, now: float, trouble: str) -> bool:
        assert self.task is not None
        p = self.params
        tool = self.tool(q)
        on_path = path_distance(self._paths[self.side], tool) <= p.release_m
        # Past the pole with room: the wrist trails the tool, and a policy handed back
        # control beside the pole may still swing it in.
        past = tool[0] > self.task.pole[0] + self.task.pole[2] + p.collision_margin_m
        safe = trouble not in (REASON_JOINT_LIMIT, REASON_COLLISION)
        if not (on_path and past and safe):
            self._within_since = None
            return False
        if self._within_since is None:
            self._within_since = now
        return now - self._within_since >= p.release_hold_s - 1e-9

    def sticks(self, q: np.ndarray, side: int) -> np.ndarray:
        """Return the stick values (x, y, z in [-1, 1]) of one side's demonstrator at ``q``."""
        assert self.task is not None
        command = self._experts[side].command(observation_from_joints(
            np.concatenate([q, [0.08]])), self.task)
        return np.clip(command.linear / self.params.linear_speed, -1.0, 1.0)

    def _steer(self, q: np.ndarray) -> OperatorOutput:
        """Deadman held, sticks where the chosen side's demonstrator would push them."""
        p = self.params
        sticks = self.sticks(q, self.side)
        if p.stick_noise > 0:
            sticks = sticks + self._rng.normal(0.0, p.stick_noise, size=3)
        axes = np.zeros(N_AXES)
        axes[list(p.axis_map)] = np.clip(sticks, -1.0, 1.0)
        buttons = np.zeros(N_BUTTONS, dtype=np.int64)
        buttons[p.enable_button] = 1
        return OperatorOutput(axes=axes, buttons=buttons, engaged=True, reason=self.reason)
