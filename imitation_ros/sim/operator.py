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
The simulated human operator of HG-DAgger: watches the arm, grabs the gamepad when needed.

:class:`SimulatedOperator` sees what a person beside the robot sees (the joint
positions and the task) and answers, every control period, with the gamepad state
``joy_node`` would publish (8 axes, 11 buttons, Xbox layout): after a reaction delay
it takes over when a joint nears its limit, a link nears the obstacle, the arm
stalls, the end effector leaves both expert paths or the gate asks for help; it
steers with the scripted expert's stick motion on the nearer side, re-grips when
the gate lost the pad, and lets go once back on the path past the obstacle.
Deterministic given the seed. The decision rule with every threshold:
docs/nodes.md (sim_human).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
import math
from typing import Any

import numpy as np

from ..errors import ConfigError
from .arm import ArmConfig, end_effector, link_clearance, Task
from .experts import _path, DemonstratorStyle, ScriptedExpert

#: Number of axes and buttons of an Xbox pad as joy_node publishes it.
N_AXES = 8
N_BUTTONS = 11
#: The side codes of :class:`DemonstratorStyle`: +1 above (+y), -1 below (-y).
SIDES: tuple[int, int] = (1, -1)

REASON_IDLE = 'idle'
REASON_OK = 'ok'
REASON_JOINT_LIMIT = 'joint_limit'
REASON_COLLISION = 'collision_risk'
REASON_STALLED = 'stalled'
REASON_OFF_CORRIDOR = 'off_corridor'
REASON_HELP = 'help'
#: Reason while the deadman is let go to press it again (the gate's joy-lost hold).
REASON_REGRIP = 'regrip'
#: Prefix of the reason while trouble is seen but the reaction delay runs.
REACTING_PREFIX = 'reacting:'


@dataclass(frozen=True)
class OperatorParams:
    """
    Thresholds and gamepad mapping of the simulated operator.

    Lengths in m, angles in rad, times in s, speeds in m/s or rad/s; stick
    values are unitless in [-1, 1].
    """

    corridor_m: float = 0.1
    """Take over when the end effector is farther than this from both expert paths (m)."""
    collision_margin_m: float = 0.06
    """Take over when a link comes closer than this to the obstacle's surface (m)..."""
    collision_lookahead_s: float = 0.3
    """... or will at its current approach speed within this time (s); 0 disables."""
    stall_s: float = 1.0
    """Take over when the end effector made no progress toward the goal for this long (s)."""
    stall_progress_m: float = 0.02
    """Improvement of the best distance to the goal that counts as progress (m)."""
    limit_margin_rad: float = 0.1
    """Take over when a joint is this close to a limit (rad)."""
    reaction_delay_s: float = 0.25
    """Human reaction time between seeing trouble and grabbing the pad (s)."""
    reaction_jitter_s: float = 0.0
    """Extra reaction time drawn uniformly from [0, this] per takeover (s)."""
    release_m: float = 0.04
    """Let go once the end effector is this close to the chosen path (m)..."""
    release_hold_s: float = 0.3
    """... for this long in a row, beyond the obstacle (s)."""
    regrip_s: float = 0.15
    """How long the deadman stays released when re-gripping after a joy-lost hold (s)."""
    hold_until_end: bool = False
    """Keep control until the episode ends once taken over."""
    linear_speed: float = 1.2
    """End effector speed of a full stick deflection, as the gate's scale[0..1] (m/s)."""
    elbow_speed: float = 1.5
    """Null-space speed of a full elbow stick deflection, as the gate's scale[2] (rad/s)."""
    enable_button: int = 4
    """Deadman button held while in control (4 = LB)."""
    axis_map: tuple[int, int, int] = (1, 0, 3)
    """Axes carrying end effector x, end effector y and elbow (as the gate's axis_map)."""
    stick_noise: float = 0.0
    """Std of Gaussian noise added to each stick value while in control (unitless)."""
    side: int = 0
    """Side the operator steers on: 0 the expert path closer to the end effector at the
    takeover; +1 above / -1 below, as a person who demonstrated one way corrects the same
    way (the other side only when its path is closer by more than ``side_margin_m``)."""
    side_margin_m: float = 0.2
    """With ``side`` set: how much closer the other side's path must be to steer there (m)."""
    watch: bool = True
    """Watch the arm and take over on trouble (human-gated); False: act only on help
    requests and hand back when the request clears (robot-gated)."""
    style: DemonstratorStyle = field(default_factory=DemonstratorStyle)
    """Speed, clearance, smoothness of the operator's own motion and of the
    expert paths it watches (its ``side`` is ignored: both sides are used)."""

    def __post_init__(self) -> None:
        positive = ('corridor_m', 'collision_margin_m', 'stall_s', 'stall_progress_m',
                    'release_m', 'linear_speed', 'elbow_speed')
        non_negative = ('collision_lookahead_s', 'limit_margin_rad', 'reaction_delay_s',
                        'reaction_jitter_s', 'release_hold_s', 'stick_noise', 'side_margin_m',
                        'regrip_s')
        if isinstance(self.side, bool) or self.side not in (0, *SIDES):
            raise ConfigError(f'operator side must be 0 (the closer path), 1 (above) or -1 '
                              f'(below), got {self.side!r}')
        for name in positive + non_negative:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ConfigError(f'operator {name} must be a number, got {value!r}')
            if not math.isfinite(value):
                raise ConfigError(f'operator {name} must be finite, got {value!r}')
            if name in positive and value <= 0:
                raise ConfigError(f'operator {name} must be > 0, got {value!r}')
            if name in non_negative and value < 0:
                raise ConfigError(f'operator {name} must be >= 0, got {value!r}')
        if not isinstance(self.watch, bool):
            raise ConfigError(f'operator watch must be true or false, got {self.watch!r}')
        if self.release_m >= self.corridor_m:
            raise ConfigError(f'operator release_m ({self.release_m}) must be smaller than '
                              f'corridor_m ({self.corridor_m}), or it would let go off corridor')
        if not isinstance(self.enable_button, int) or not 0 <= self.enable_button < N_BUTTONS:
            raise ConfigError(f'operator enable_button must be a button index 0..'
                              f'{N_BUTTONS - 1}, got {self.enable_button!r}')
        axes = tuple(self.axis_map)
        if (len(axes) != 3 or len(set(axes)) != 3
                or not all(isinstance(a, int) and 0 <= a < N_AXES for a in axes)):
            raise ConfigError(f'operator axis_map must be 3 distinct axis indices 0..{N_AXES - 1}'
                              f' (x, y, elbow), got {self.axis_map!r}')
        object.__setattr__(self, 'axis_map', axes)
        if not isinstance(self.style, DemonstratorStyle):
            raise ConfigError(f'operator style must be a DemonstratorStyle, got {self.style!r}')


def gate_teleop(params: OperatorParams | None = None) -> dict[str, Any]:
    """
    Return the intervention gate's teleop parameters that read this operator's sticks.

    The planar mapping: the tip's x and y on ``axis_map[0]``, ``axis_map[1]`` at
    ``linear_speed``, the rest of the motion free, and the elbow (the arm's
    one-dimensional null space) on ``axis_map[2]`` at ``elbow_speed``, moved by
    nothing else. Keys are ``intervention_gate`` parameters (and
    :class:`~imitation_ros.gate.joy.JoyConfig` fields), lists as ROS holds them.
    """
    p = params if params is not None else OperatorParams()
    return {'teleop_mode': 'cartesian', 'cartesian_task': ['linear_x', 'linear_y'],
            'axis_map': [p.axis_map[0], p.axis_map[1], -1],
            'scale': [p.linear_speed, p.linear_speed, p.linear_speed],
            'rotation_button': -1, 'elbow_axis': p.axis_map[2],
            'elbow_scale': p.elbow_speed, 'null_space': 'elbow'}


@dataclass(frozen=True)
class OperatorOutput:
    """The gamepad state of one control period, as joy_node would publish it."""

    axes: np.ndarray
    """Stick values, shape (8,), float in [-1, 1]."""
    buttons: np.ndarray
    """Button states, shape (11,), int 0 or 1."""
    engaged: bool
    """True while the operator holds the deadman (human in control)."""
    reason: str
    """'idle', 'ok', 'reacting:<trouble>', the trouble that caused the takeover, or
    'regrip' while the deadman is let go to be pressed again."""


def expert_path(config: ArmConfig, task: Task, style: DemonstratorStyle) -> np.ndarray:
    """
    Return the end effector path the scripted expert of ``style`` follows.

    The start (end effector at ``task.start``), an arc around the obstacle on
    ``style.side``, the goal: polyline points, shape (P, 2), m.
    """
    return _path(config, task, style)


def path_distance(path: np.ndarray, point: np.ndarray) -> float:
    """Return the distance (m) from ``point`` (2,) to the polyline ``path`` (P, 2)."""
    a, b = path[:-1], path[1:]
    ab = b - a
    denom = np.maximum(np.sum(ab * ab, axis=1), 1e-12)
    t = np.clip(np.sum((point - a) * ab, axis=1) / denom, 0.0, 1.0)
    return float(np.min(np.linalg.norm(a + t[:, None] * ab - point, axis=1)))


def let_go() -> OperatorOutput:
    """Return the pad with the deadman released and sticks centred (a re-grip)."""
    return OperatorOutput(axes=np.zeros(N_AXES), buttons=np.zeros(N_BUTTONS, dtype=np.int64),
                          engaged=False, reason=REASON_REGRIP)


class Regrip:
    """
    A person's answer to the gate's joy-lost hold: notice it, let go, press again.

    The hold clears only on a released deadman, so an operator who holds on keeps
    the arm stopped for the rest of the takeover.

    :param reaction_delay_s: time to notice the hold (s), plus up to
        ``reaction_jitter_s`` drawn from ``rng``.
    :param regrip_s: how long the deadman stays released (s).
    """

    def __init__(self, reaction_delay_s: float, reaction_jitter_s: float, regrip_s: float,
                 rng: np.random.Generator) -> None:
        self.reaction_delay_s = float(reaction_delay_s)
        self.reaction_jitter_s = float(reaction_jitter_s)
        self.regrip_s = float(regrip_s)
        self._rng = rng
        self.count = 0
        """Re-grips since ``count`` was last set to 0."""
        self.reset()

    def reset(self) -> None:
        """Forget a hold being noticed or a re-grip under way."""
        self._lost_since: float | None = None
        self._delay = 0.0
        self._released_at: float | None = None

    def letting_go(self, now: float, joy_lost: bool) -> bool:
        """Return True while the deadman is let go; call once per period while in control."""
        if self._released_at is not None:
            if now - self._released_at < self.regrip_s - 1e-9:
                return True
            self._released_at = None  # press again: this period steers
            self._lost_since = None
            return False
        if not joy_lost:
            self._lost_since = None
            return False
        if self._lost_since is None:
            self._lost_since = now
            self._delay = self.reaction_delay_s
            if self.reaction_jitter_s > 0:
                self._delay += float(self._rng.uniform(0.0, self.reaction_jitter_s))
        if now - self._lost_since < self._delay - 1e-9:
            return False  # not noticed yet: still holding the deadman, still steering
        self._released_at = now
        self._lost_since = None
        self.count += 1
        return True


class SimulatedOperator:
    """
    A simulated human with a gamepad; the decision rule is in docs/nodes.md (sim_human).

    :param config: the arm being watched (geometry, joint limits).
    :param params: thresholds and gamepad mapping.
    :param seed: seed of the reaction jitter and stick noise.
    """

    def __init__(self, config: ArmConfig, params: OperatorParams | None = None,
                 seed: int = 0) -> None:
        self.config = config
        self.params = params if params is not None else OperatorParams()
        self.seed = int(seed)
        self._rng = np.random.default_rng(self.seed)
        self._experts = {side: ScriptedExpert(config=config,
                                              style=replace(self.params.style, side=side))
                         for side in SIDES}
        self.task: Task | None = None
        self._paths: dict[int, np.ndarray] = {}
        self.takeovers = 0
        self._regripper = Regrip(self.params.reaction_delay_s, self.params.reaction_jitter_s,
                                 self.params.regrip_s, self._rng)
        self._reset_state()

    def _reset_state(self) -> None:
        self.engaged = False
        self.side = 0
        self.reason = REASON_IDLE
        self._trouble_since: float | None = None
        self._trouble_reason = ''
        self._engaged_at = 0.0
        self._delay = 0.0
        self._within_since: float | None = None
        self._best_goal: float | None = None
        self._progress_at: float | None = None
        self._last_clearance: tuple[float, float] | None = None
        self._regripper.reset()

    @property
    def active(self) -> bool:
        """Return True while an episode runs (between start_episode and end_episode)."""
        return self.task is not None

    def start_episode(self, task: Task) -> None:
        """Begin watching a new episode; ``task.start`` anchors the expert paths."""
        start = np.asarray(task.start, dtype=np.float64)
        if start.shape != (self.config.n_joints,):
            raise ConfigError(f'task.start must have {self.config.n_joints} joint positions, '
                              f'got shape {start.shape}')
        self.task = task
        self._paths = {side: expert_path(self.config, task, self._experts[side].style)
                       for side in SIDES}
        self.takeovers = 0
        self._regripper.count = 0
        self._reset_state()
        self.reason = REASON_OK

    def update_task(self, task: Task) -> None:
        """Replace the running episode's task (goal or obstacle moved), keeping the state."""
        if self.task is None:
            self.start_episode(task)
            return
        self.task = task
        self._paths = {side: expert_path(self.config, task, self._experts[side].style)
                       for side in SIDES}

    def end_episode(self) -> None:
        """Stop watching: the pad goes idle until the next start_episode."""
        self.task = None
        self._paths = {}
        self._reset_state()

    def idle_output(self) -> OperatorOutput:
        """Return the gamepad at rest: sticks centred, no button."""
        return OperatorOutput(axes=np.zeros(N_AXES), buttons=np.zeros(N_BUTTONS, dtype=np.int64),
                              engaged=False, reason=self.reason)

    def distances(self, q: np.ndarray) -> dict[int, float]:
        """Return the end effector's distance (m) to each side's expert path (+1, -1)."""
        ee = end_effector(self.config, np.asarray(q, dtype=np.float64))
        return {side: path_distance(path, ee) for side, path in self._paths.items()}

    def _choose_side(self, dist: dict[int, float]) -> int:
        """Pick the side of a takeover from the distances to both expert paths (m)."""
        closer = 1 if dist[1] <= dist[-1] else -1
        preferred = self.params.side
        if preferred == 0 or closer == preferred:
            return closer
        return closer if dist[closer] + self.params.side_margin_m < dist[preferred] \
            else preferred

    def _trouble(self, q: np.ndarray, now: float, help_requested: bool = False) -> str:
        """
        Return what is wrong at ``q`` (a reason of the decision rule) or '' when nothing is.

        Updates the stall clock and the approach speed, so ``step`` calls it once per period.
        """
        if self.task is None:
            return ''
        p = self.params
        cfg = self.config
        q = np.asarray(q, dtype=np.float64)
        ee = end_effector(cfg, q)
        to_goal = float(np.linalg.norm(ee - self.task.goal))
        if self._best_goal is None or self._progress_at is None or self.engaged:
            # The stall clock only runs while the policy drives.
            self._best_goal, self._progress_at = to_goal, now
        elif to_goal < self._best_goal - p.stall_progress_m:
            self._best_goal, self._progress_at = to_goal, now
        clearance = link_clearance(cfg, self.task, q)
        predicted = clearance
        if (self._last_clearance is not None and p.collision_lookahead_s > 0
                and clearance < 2.0 * p.collision_margin_m):
            before, then = self._last_clearance
            if now > then:
                # A person judges "about to hit" by the time to contact, not by distance alone.
                rate = (clearance - before) / (now - then)
                predicted = clearance + min(rate, 0.0) * p.collision_lookahead_s
        self._last_clearance = (clearance, now)
        near_limit = (np.any(q - cfg.lower < p.limit_margin_rad)
                      or np.any(cfg.upper - q < p.limit_margin_rad))
        if near_limit:
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
        Watch the arm at joint positions ``q`` (n,) rad at time ``now`` (s); return the pad.

        Call it once per control period with a monotonic ``now``.

        :param help_requested: the gate asks for help now (``imitation/help_request``):
            trouble ``help`` when nothing else is wrong; ignored while engaged (the
            operator releases by its usual rule), except robot-gated (``watch``
            false), where its end hands control back.
        :param joy_lost: the gate holds because the pad's messages went missing during
            the takeover (its mode ``hold_joy_lost``): while engaged, a re-grip after
            the reaction delay; ignored otherwise.
        """
        if self.task is None:
            self.reason = REASON_IDLE
            return self.idle_output()
        p = self.params
        q = np.asarray(q, dtype=np.float64)
        if q.shape != (self.config.n_joints,) or not np.all(np.isfinite(q)):
            raise ConfigError(f'joint positions must be {self.config.n_joints} finite values, '
                              f'got {q.tolist()}')
        now = float(now)
        trouble = self._trouble(q, now, bool(help_requested))
        if not p.watch:
            # Robot-gated: what the arm does is not looked at; only the request counts.
            trouble = REASON_HELP if help_requested and not self.engaged else ''
        if self.engaged:
            released = self._regrip(now, bool(joy_lost))
            if released is not None:
                return released
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
            self._engaged_at = now
            self.takeovers += 1
            self.reason = self._trouble_reason
            self._trouble_since = None
            self._within_since = None
        elif not p.hold_until_end and (
                self._recovered(q, now, trouble) if p.watch
                else self._handed_back(now, bool(help_requested))):
            self.engaged = False
            self.side = 0
            self.reason = REASON_OK
            self._within_since = None
            self._best_goal = None  # restart the stall clock
            return self.idle_output()
        return self._steer(q)

    def _regrip(self, now: float, joy_lost: bool) -> OperatorOutput | None:
        """Return the pad with the deadman let go while re-gripping, else None (steer on)."""
        return let_go() if self._regripper.letting_go(now, joy_lost) else None

    @property
    def regrips(self) -> int:
        """Return the re-grips of this episode."""
        return self._regripper.count

    def _handed_back(self, now: float, help_requested: bool) -> bool:
        """Robot-gated: the gate cleared the request and the minimum time in control passed."""
        return (not help_requested
                and now - self._engaged_at >= self.params.release_hold_s - 1e-9)

    def _recovered(self, q: np.ndarray, now: float, trouble: str) -> bool:
        """Whether the arm has been back on the chosen path, past the obstacle, long enough."""
        assert self.task is not None
        p = self.params
        ee = end_effector(self.config, q)
        on_path = path_distance(self._paths[self.side], ee) <= p.release_m
        past = ee[0] > self.task.obstacle[0]
        safe = trouble not in (REASON_JOINT_LIMIT, REASON_COLLISION)
        if not (on_path and past and safe):
            self._within_since = None
            return False
        if self._within_since is None:
            self._within_since = now
        return now - self._within_since >= p.release_hold_s - 1e-9

    def _steer(self, q: np.ndarray) -> OperatorOutput:
        """Deadman held, sticks where the chosen side's expert would push them."""
        assert self.task is not None
        p = self.params
        sticks = self._experts[self.side].stick_axes(q, self.task, linear_speed=p.linear_speed,
                                                     elbow_speed=p.elbow_speed)
        if p.stick_noise > 0:
            sticks = sticks + self._rng.normal(0.0, p.stick_noise, size=3)
        axes = np.zeros(N_AXES)
        axes[list(p.axis_map)] = np.clip(sticks, -1.0, 1.0)
        buttons = np.zeros(N_BUTTONS, dtype=np.int64)
        buttons[p.enable_button] = 1
        return OperatorOutput(axes=axes, buttons=buttons, engaged=True, reason=self.reason)
