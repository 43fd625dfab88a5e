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
Command arbitration between the policy and the human (HG-DAgger), as a pure state machine.

The :class:`Arbiter` is fed the measured joint positions, the policy's actions
(absolute joint targets), the expert's actions, the policy's doubt and risk, gamepad
readings (read field by field by :func:`imitation_ros.gate.joy.parse_joy`), each
with the time it arrived, and once per control period :meth:`Arbiter.tick` says
what to send to the arm: the policy's action, the human's teleop, the expert's
action (DAgger's beta draw) or a hold at the measured position. No ROS and no
clock of its own (every method takes ``now``, s), so every transition is tested
without a node. Every command goes through :func:`imitation_ros.gate.limits.safe_command`.
The inputs, latches, modes in priority order and the transition table are in
docs/gate.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field
import enum
import math
from typing import Any, Optional

import numpy as np

from .joy import JoyConfig, JoyInput, joy_to_target, stick_values
from .limits import LIMIT_MARGIN, safe_command
from ..errors import ConfigError, ImitationError
from ..interface.kinematics import ArmKinematics
from ..interface.robot import GripperModel


class GateMode(str, enum.Enum):
    """What the gate is doing this tick (the value is the name published in gate_state)."""

    POLICY = 'policy'
    """A fresh, valid policy action passes through."""
    HUMAN = 'human'
    """Deadman held: the gamepad drives the arm."""
    HOLD_STALE_POLICY = 'hold_stale_policy'
    """No policy action yet, or the newest is older than cmd_timeout_s: hold."""
    HOLD_INVALID_POLICY = 'hold_invalid_policy'
    """The newest policy action has NaN / Inf or the wrong length: hold."""
    HOLD_JOY_LOST = 'hold_joy_lost'
    """Joy stopped during a takeover: hold until the deadman is released."""
    ESTOP = 'estop'
    """E-stop latched: hold until the reset button."""
    HOLD_INTERNAL_ERROR = 'hold_internal_error'
    """Never from the arbiter: a caller's hold when the arbiter itself failed."""
    EXPERT = 'expert'
    """β-mixing: the draw said expert; the fresh expert action is executed."""
    HOLD_INVALID_EXPERT = 'hold_invalid_expert'
    """The draw said expert and the fresh expert action has NaN / Inf or the wrong length."""
    HOLD_HELP = 'hold_help'
    """The policy's doubt exceeded help_threshold or its risk risk_threshold: hold until a
    human answers or both calm."""
    HOLD_STALE_STATE = 'hold_stale_state'
    """The newest joint state is older than state_timeout_s: hold at the last measured q."""
    HOLD_INVALID_JOY = 'hold_invalid_joy'
    """Takeover, but the newest Joy's deadman or sticks are unreadable: hold."""


#: Modes in which the gate holds because an input went quiet (a WARN in diagnostics).
STALE_MODES = frozenset({GateMode.HOLD_STALE_POLICY, GateMode.HOLD_JOY_LOST,
                         GateMode.HOLD_STALE_STATE})

#: The ``source`` of each mode's command.
SOURCES = {GateMode.POLICY: 'policy', GateMode.HUMAN: 'human', GateMode.EXPERT: 'expert'}
#: Holds because an input was rejected (a WARN in diagnostics).
INVALID_MODES = frozenset({GateMode.HOLD_INVALID_POLICY, GateMode.HOLD_INVALID_EXPERT,
                           GateMode.HOLD_INVALID_JOY})


def check_beta(beta: Any) -> float:
    """
    Return ``beta`` as a float after checking it is a probability.

    :raises ConfigError: not a finite number in [0, 1].
    """
    if isinstance(beta, bool) or not isinstance(beta, (int, float)) \
            or not math.isfinite(beta) or not 0.0 <= beta <= 1.0:
        raise ConfigError(f'beta must be a probability in [0, 1] (0: never the expert, 1: '
                          f'always), got {beta!r}')
    return float(beta)


@dataclass(frozen=True)
class GateConfig:
    """The arm, timing, safety limits and the gamepad mapping of the gate."""

    robot: ArmKinematics
    """The arm: joint names and order, limits (rad), the Jacobian of its tip (from its
    URDF: :class:`~imitation_ros.interface.robot.RobotModel`)."""
    rate_hz: float = 20.0
    """Control rate (Hz); the teleop integrates stick speeds over 1 / rate_hz."""
    cmd_timeout_s: float = 0.25
    """A policy action older than this is stale (s)."""
    joy_timeout_s: float = 0.2
    """No Joy for this long during a takeover latches a hold (s)."""
    state_timeout_s: float = 0.25
    """A joint state older than this is stale: hold (s; 5 periods of a 20 Hz arm)."""
    max_joint_step: float = 0.1
    """Largest distance of a command from the measured position, per joint (rad)."""
    limit_margin: float = LIMIT_MARGIN
    """Distance kept from each joint limit (rad)."""
    teleop_horizon_s: float = 0.0
    """
    Time the stick speed is integrated over from the measured position (s); 0: 1 / rate_hz.

    Set it to the arm's state period when the gate ticks faster than the arm
    reports: ticks between two joint states then aim at the same point instead
    of creeping by speed / rate_hz from a position that has not changed.
    """
    joy: JoyConfig = field(default_factory=JoyConfig)
    """Gamepad buttons and stick mapping."""
    beta: float = 0.0
    """Initial probability that a policy action's decisions execute the expert (0..1)."""
    beta_seed: int = 0
    """Seed of the β draws."""
    expert_timeout_s: float = 0.25
    """An expert action older than this is not used (s)."""
    help_threshold: float = 0.0
    """Doubt above which the policy asks for help (policy's doubt units); 0 disables."""
    risk_threshold: float = 0.0
    """Risk above which the policy asks for help (probability 0..1); 0 disables."""
    uncertainty_timeout_s: float = 0.25
    """A doubt or risk older than this is unknown (s)."""
    help_release_s: float = 0.5
    """Every fresh signal must stay at or below its threshold this long to clear a request
    (s)."""
    help_until_calm: bool = False
    """A request answered by the deadman stays raised while the human drives, until every
    fresh signal calmed for help_release_s (a robot-gated operator hands back then); False:
    the deadman ends it at once."""
    gripper: Optional[GripperModel] = None
    """The gripper the gamepad's gripper buttons open and close; None: no gripper."""

    def __post_init__(self) -> None:
        for name in ('rate_hz', 'cmd_timeout_s', 'joy_timeout_s', 'state_timeout_s',
                     'max_joint_step', 'expert_timeout_s', 'uncertainty_timeout_s'):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise ConfigError(f'{name} must be a positive number, got {value!r}')
        for name in ('help_threshold', 'help_release_s', 'risk_threshold'):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and not isinstance(value, bool)
                    and math.isfinite(value) and value >= 0):
                raise ConfigError(f'{name} must be a number >= 0, got {value!r}')
        if self.risk_threshold > 1.0:
            raise ConfigError(f'risk_threshold is a probability: 0 (off) to 1, got '
                              f'{self.risk_threshold!r}')
        check_beta(self.beta)
        if isinstance(self.beta_seed, bool) or not isinstance(self.beta_seed, int) \
                or self.beta_seed < 0:
            raise ConfigError(f'beta_seed must be an integer >= 0, got {self.beta_seed!r}')
        horizon = self.teleop_horizon_s
        if not (isinstance(horizon, (int, float)) and math.isfinite(horizon) and horizon >= 0):
            raise ConfigError(f'teleop_horizon_s must be >= 0 s, got {horizon!r}')
        margin = self.limit_margin
        if not (isinstance(margin, (int, float)) and math.isfinite(margin) and margin >= 0):
            raise ConfigError(f'limit_margin must be >= 0 rad, got {margin!r}')
        n = self.robot.n_joints
        if n < 1 or np.shape(self.robot.lower) != (n,) or np.shape(self.robot.upper) != (n,):
            raise ConfigError(f'the robot model must give {n} lower and upper joint limits')
        span = float(np.min(self.robot.upper - self.robot.lower))
        if 2 * margin >= span:
            raise ConfigError(f'limit_margin {margin} rad leaves no room between the joint '
                              f'limits (narrowest range {span:.3g} rad); make it smaller')
        self.joy.check_robot(n)

    @property
    def n_joints(self) -> int:
        """Return the number of joints."""
        return self.robot.n_joints

    @property
    def max_joint_speed(self) -> float:
        """Return the teleop's joint speed cap (rad/s): max_joint_step per control period."""
        return self.max_joint_step * self.rate_hz

    @property
    def dt(self) -> float:
        """Return the control period (s)."""
        return 1.0 / self.rate_hz

    @property
    def teleop_dt(self) -> float:
        """Return the time the teleop integrates stick speeds over (s)."""
        return self.teleop_horizon_s or self.dt


@dataclass(frozen=True)
class GateOutput:
    """What the gate sends this tick, and why."""

    command: np.ndarray
    """Absolute joint target, shape (n,), rad; always finite, within max_joint_step of the
    measured q and within limits (or approaching them, see docs/gate.md)."""
    source: str
    """'policy', 'human' or 'hold'."""
    mode: GateMode
    """The arbitration mode (see docs/gate.md)."""
    reason: str
    """Why, in words (empty in plain POLICY / HUMAN mode)."""
    intervention: bool
    """True while the human is in control (mode HUMAN)."""
    model_version: str
    """Version of the policy whose actions the gate last received ('' if none)."""
    estop: bool
    """True while the e-stop is latched."""
    clamped: bool
    """True when the requested target was changed by the joint limits or max step."""
    help_request: bool = False
    """True while the policy asks for help (mode HOLD_HELP)."""
    gripper: Optional[np.ndarray] = None
    """Gripper joint targets to send this tick (a gripper button was pressed in a takeover),
    shape (k,); None: none."""


class Arbiter:
    """
    The gate's state machine (docs/gate.md has the full table).

    :param config: timing, limits and gamepad mapping.
    """

    def __init__(self, config: GateConfig | None = None) -> None:
        self.config = config if config is not None else GateConfig()
        self._lower = np.asarray(self.config.robot.lower, dtype=np.float64)
        self._upper = np.asarray(self.config.robot.upper, dtype=np.float64)
        self._q: Optional[np.ndarray] = None
        self._q_time: Optional[float] = None
        self._action: Optional[np.ndarray] = None
        self._action_time: Optional[float] = None
        self._action_error = ''
        self._model_version = ''
        self._joy: Optional[JoyInput] = None
        self._joy_time: Optional[float] = None
        self._takeover = False
        self._joy_lost = False
        self._estop = False
        self._joy_gap = 0.0
        self._hold_q: Optional[np.ndarray] = None
        self._was_stale = False
        self._beta = check_beta(self.config.beta)
        self._rng = np.random.default_rng(self.config.beta_seed)
        self._draw_expert = False
        self._expert: Optional[np.ndarray] = None
        self._expert_time: Optional[float] = None
        self._expert_error = ''
        self._signals = {'doubt': _Signal('help_threshold', config.help_threshold),
                         'risk': _Signal('risk_threshold', config.risk_threshold)}
        self._help = False
        self._help_cause = ''
        self._rest_q: Optional[np.ndarray] = None
        self._joint = 0
        self._pressed: dict[int, bool] = {}
        self._gripper_request: Optional[np.ndarray] = None
        self.counts: dict[str, int] = {
            'ticks': 0, 'policy_actions': 0, 'invalid_policy_actions': 0,
            'rejected_joint_states': 0, 'clamped_commands': 0, 'takeovers': 0,
            'estops': 0, 'joy_losses': 0, 'teleop_errors': 0, 'expert_draws': 0,
            'expert_actions': 0, 'invalid_expert_actions': 0, 'expert_commands': 0,
            'expert_unavailable': 0, 'uncertainties': 0, 'invalid_uncertainties': 0,
            'help_requests': 0, 'risks': 0, 'invalid_risks': 0, 'state_timeouts': 0,
            'malformed_joy': 0,
            'gripper_commands': 0, 'hold_relatches': 0}
        """Event counters for diagnostics (monotonic)."""

    # --- inputs -----------------------------------------------------------------------

    def on_joint_state(self, q: Any, now: float) -> bool:
        """
        Take the measured joint positions, shape (n,), rad.

        :returns: False (and counts it) when ``q`` has the wrong length or is not
            finite; the last known positions then stay in use.
        """
        try:
            arr = np.array(q, dtype=np.float64)
        except (TypeError, ValueError):
            arr = None
        if arr is None or arr.shape != (self.config.n_joints,) or not np.all(np.isfinite(arr)):
            self.counts['rejected_joint_states'] += 1
            return False
        self._q = arr
        self._q_time = float(now)
        return True

    def on_policy_action(self, action: Any, now: float, model_version: str = '') -> bool:
        """
        Take the policy's newest action: absolute joint targets, shape (n,), rad.

        An invalid action (wrong length, NaN / Inf) replaces the previous one, so
        the gate holds rather than reuse an older target.

        :param model_version: version of the model that produced it ('' keeps the last known).
        :returns: whether the action is valid.
        """
        self.counts['policy_actions'] += 1
        if model_version:
            self._model_version = str(model_version)
        self._action_time = float(now)
        # One draw per action whatever beta is, so the seed fixes the whole sequence.
        self._draw_expert = bool(self._rng.random() < self._beta)
        self.counts['expert_draws'] += int(self._draw_expert)
        arr, error = self._joint_vector(action)
        self._action, self._action_error = arr, error
        if arr is None:
            self.counts['invalid_policy_actions'] += 1
            return False
        return True

    def on_expert_action(self, action: Any, now: float) -> bool:
        """
        Take the expert's newest action: absolute joint targets, shape (n,), rad.

        An invalid one replaces the previous one, like a policy action.

        :returns: whether the action is valid.
        """
        self.counts['expert_actions'] += 1
        self._expert_time = float(now)
        self._expert, self._expert_error = self._joint_vector(action)
        if self._expert is None:
            self.counts['invalid_expert_actions'] += 1
            return False
        return True

    def on_uncertainty(self, doubt: Any, now: float) -> bool:
        """
        Take the policy's newest doubt (its uncertainty, in the policy's units, >= 0).

        A non-finite or unreadable doubt counts as infinite. A help request is
        raised at once when the doubt exceeds ``help_threshold`` and no takeover
        or latch is on.

        :returns: whether the doubt was a finite number.
        """
        return self._on_signal('doubt', doubt, float(now), 'uncertainties',
                               'invalid_uncertainties')

    def on_risk(self, risk: Any, now: float) -> bool:
        """
        Take the policy's newest risk (probability of trouble ahead, 0..1).

        A non-finite or unreadable risk counts as infinite. A help request is
        raised at once when the risk exceeds ``risk_threshold`` (when not 0) and
        no takeover or latch is on.

        :returns: whether the risk was a finite number.
        """
        return self._on_signal('risk', risk, float(now), 'risks', 'invalid_risks')

    def _on_signal(self, name: str, raw: Any, now: float, count: str, invalid: str) -> bool:
        self.counts[count] += 1
        try:
            value = float(raw)
        except (TypeError, ValueError):
            value = math.nan
        valid = math.isfinite(value)
        if not valid:
            self.counts[invalid] += 1
            value = math.inf
        self._signals[name].update(value, now, self.config.uncertainty_timeout_s)
        self._update_help(now)
        return valid

    def set_beta(self, beta: float) -> None:
        """
        Change the probability of executing the expert; the next draw uses it.

        :raises ConfigError: not a finite number in [0, 1].
        """
        self._beta = check_beta(beta)

    def _joint_vector(self, values: Any) -> tuple[Optional[np.ndarray], str]:
        """(array, '') for n finite joint values, else (None, why)."""
        n = self.config.n_joints
        try:
            arr = np.array(values, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            return None, f'not numbers ({exc})'
        if arr.shape != (n,):
            return None, f'{arr.size} values, expected {n}'
        if not np.all(np.isfinite(arr)):
            return None, f'non-finite values {arr.tolist()}'
        return arr, ''

    def on_joy(self, joy: JoyInput, now: float) -> None:
        """
        Take a gamepad reading, read field by field (see :func:`parse_joy`).

        The deadman, e-stop and reset buttons act at once, each only when
        readable (see docs/gate.md); the newest reading's sticks drive a
        takeover, or hold it when unreadable.
        """
        cfg = self.config.joy
        now = float(now)
        self._joy = joy
        if not joy.well_formed:
            self.counts['malformed_joy'] += 1
        estop = joy.button(cfg.estop_button)
        if estop:
            if not self._estop:
                self.counts['estops'] += 1
            self._estop = True
        elif estop is False and joy.pressed(cfg.reset_button):
            self._estop = False
        self._read_presses(joy)
        deadman = joy.button(cfg.enable_button)
        if deadman is None:
            # Whether the human holds the deadman is unknown: neither a takeover, nor its
            # end, nor a sign that it goes on (joy_lost latches if this lasts).
            return
        gap = None if self._joy_time is None else now - self._joy_time
        self._joy_time = now
        if deadman:
            if self._takeover:
                late = gap is not None and gap > self.config.joy_timeout_s
                if late and not self._joy_lost:
                    self._latch_joy_lost(gap)
            else:
                self._takeover = True
                self.counts['takeovers'] += 1
            # The human answered: a pending help request is done (or, with
            # help_until_calm, stands until the policy is sure again).
            if not self.config.help_until_calm:
                self._help = False
        else:
            self._takeover = False
            self._joy_lost = False
            self._rest_q = None

    def _read_presses(self, joy: JoyInput) -> None:
        """Select joints and ask for the gripper: each readable press counts once, at its edge."""
        cfg = self.config.joy

        def pressed_now(index: int) -> bool:
            if index < 0:
                return False
            value = joy.button(index)
            if value is None:  # unreadable: no edge, and the last known state stays
                return False
            before = self._pressed.get(index, False)
            self._pressed[index] = value
            return value and not before

        if cfg.teleop_mode == 'joint':
            step = int(pressed_now(cfg.next_joint_button)) - int(
                pressed_now(cfg.previous_joint_button))
            self._joint = (self._joint + step) % self.config.n_joints
        opening = pressed_now(cfg.gripper_open_button)
        closing = pressed_now(cfg.gripper_close_button)
        gripper = self.config.gripper
        if gripper is not None and opening != closing:
            # Both at once is no request; the tick sends it only during a takeover.
            self._gripper_request = (gripper.open if opening else gripper.closed).copy()

    # --- state ------------------------------------------------------------------------

    @property
    def has_state(self) -> bool:
        """Return whether a joint state has been received (ticks give commands)."""
        return self._q is not None

    @property
    def measured(self) -> Optional[np.ndarray]:
        """Return the last measured joint positions (n,) rad, or None before the first."""
        return None if self._q is None else self._q.copy()

    @property
    def estop(self) -> bool:
        """Return whether the e-stop is latched."""
        return self._estop

    @property
    def selected_joint(self) -> int:
        """Return the index of the joint the joint mode drives (0 at start)."""
        return self._joint

    @property
    def beta(self) -> float:
        """Return the current probability of executing the expert (0..1)."""
        return self._beta

    @property
    def uncertainty(self) -> Optional[float]:
        """Return the newest doubt received (inf for a non-finite one), or None."""
        return self._signals['doubt'].value

    @property
    def risk(self) -> Optional[float]:
        """Return the newest risk received (inf for a non-finite one), or None."""
        return self._signals['risk'].value

    @property
    def help_cause(self) -> str:
        """Say what raised the newest help request ('doubt 0.3 > help_threshold 0.1')."""
        return self._help_cause

    def doubt_fresh(self, now: float) -> bool:
        """Return whether a doubt at most ``uncertainty_timeout_s`` old is known."""
        return self._signals['doubt'].fresh(float(now), self.config.uncertainty_timeout_s)

    def help_requested(self, now: float) -> bool:
        """Return whether the policy asks for help now (the help_request flag)."""
        self._update_latches(float(now))
        self._update_help(float(now))
        return self._help

    @property
    def model_version(self) -> str:
        """Return the version of the policy whose actions arrived last ('' if none)."""
        return self._model_version

    def human_in_control(self, now: float) -> bool:
        """Return whether the human drives the arm now (the intervention flag: mode HUMAN)."""
        now = float(now)
        self._update_latches(now)
        return (self._takeover and not self._joy_lost and not self._estop
                and not self.state_stale(now) and not self._joy_problem())

    def state_stale(self, now: float) -> bool:
        """Return whether the newest joint state is older than ``state_timeout_s``."""
        return (self._q_time is not None
                and float(now) - self._q_time > self.config.state_timeout_s)

    def _joy_problem(self) -> str:
        """Say why the newest Joy cannot drive a takeover ('' when it can)."""
        joy = self._joy
        if joy is None:
            return ''
        index = self.config.joy.enable_button
        if joy.button(index) is None:
            return f'deadman button {index} unreadable in the newest Joy'
        return joy.stick_problem(self.config.joy)

    def _latch_joy_lost(self, gap: float) -> None:
        self._joy_lost = True
        self._joy_gap = gap
        self.counts['joy_losses'] += 1

    def _update_latches(self, now: float) -> None:
        """Latch joy_lost when the Joy went quiet during a takeover."""
        if self._takeover and not self._joy_lost and self._joy_time is not None:
            gap = now - self._joy_time
            if gap > self.config.joy_timeout_s:
                self._latch_joy_lost(gap)

    def _update_help(self, now: float) -> None:
        """Raise or clear the help request by the rule in docs/gate.md."""
        cfg = self.config
        signals = [(name, sig) for name, sig in self._signals.items() if sig.threshold > 0]
        if not signals:
            self._help = False
            return
        if self._takeover and not (cfg.help_until_calm and self._help):
            self._help = False  # the human is answering (or the takeover is lost: a hold)
            return
        timeout = cfg.uncertainty_timeout_s
        fresh = [(name, sig) for name, sig in signals if sig.fresh(now, timeout)]
        for name, sig in signals:
            if not sig.fresh(now, timeout):
                sig.calm_since = None
        if self._help:
            # A stale signal neither raises nor holds a request (a model without a risk
            # output leaves the doubt alone in charge).
            if fresh and all(sig.calm_since is not None
                             and now - sig.calm_since >= cfg.help_release_s - 1e-9
                             for _, sig in fresh):
                self._help = False
        elif not self._estop and not self._takeover:
            for name, sig in fresh:
                if sig.value is not None and sig.value > sig.threshold:
                    self._help = True
                    self._help_cause = (f'{name} {sig.value:.4g} > {sig.key} '
                                        f'{sig.threshold:.4g}')
                    self.counts['help_requests'] += 1
                    break

    # --- output -----------------------------------------------------------------------

    def tick(self, now: float) -> GateOutput | None:
        """
        Decide this control period's command.

        :returns: the command and why; None only before the first joint state
            (nothing is safe to send then).
        """
        if self._q is None:
            return None
        now = float(now)
        self.counts['ticks'] += 1
        self._update_latches(now)
        self._update_help(now)
        cfg = self.config
        q = self._q
        target: Optional[np.ndarray] = None
        if self._estop:
            mode = GateMode.ESTOP
            reason = (f'e-stop latched: release button {cfg.joy.estop_button} and press '
                      f'button {cfg.joy.reset_button} to reset')
        elif self._takeover and self._joy_lost:
            mode = GateMode.HOLD_JOY_LOST
            reason = (f'no Joy for {self._joy_gap:.3g} s during a takeover (joy_timeout_s '
                      f'{cfg.joy_timeout_s:g}): release the deadman to return control to the '
                      'policy, press it again to take over')
        elif self.state_stale(now):
            mode = GateMode.HOLD_STALE_STATE
            age = now - (self._q_time or 0.0)
            reason = (f'newest joint state is {age:.3g} s old (state_timeout_s '
                      f'{cfg.state_timeout_s:g}): holding at the last measured position until '
                      'joint_states is fresh')
        elif self._takeover and self._joy_problem():
            mode = GateMode.HOLD_INVALID_JOY
            reason = (f'{self._joy_problem()}: holding (no motion, and the policy stays off '
                      'until the deadman is released)')
        elif self._takeover:
            mode, reason, target = self._human_decision(q)
        else:
            mode, reason, target = self._policy_decision(now, q)
        stale = mode is GateMode.HOLD_STALE_STATE
        if stale and not self._was_stale:
            self.counts['state_timeouts'] += 1
        self._was_stale = stale
        if target is None:
            # Hold: latch the measured q at the first hold tick and keep it (see
            # docs/gate.md): re-reading q every tick would let the arm creep. An arm
            # measured farther from the latch than one step was moved by something else
            # (a reset, a hand): holding means not driving it back, so latch anew.
            if self._hold_q is None:
                self._hold_q = q.copy()
            elif float(np.max(np.abs(q - self._hold_q))) > cfg.max_joint_step:
                self._hold_q = q.copy()
                self.counts['hold_relatches'] += 1
            target = self._hold_q
        else:
            self._hold_q = None
        command, changed = safe_command(target, q, self._lower, self._upper,
                                        max_step=cfg.max_joint_step, margin=cfg.limit_margin)
        if not np.all(np.isfinite(command)):
            # Unreachable with finite measured q; kept so the guarantee does not depend on it.
            command = np.clip(np.nan_to_num(q), self._lower + cfg.limit_margin,
                              self._upper - cfg.limit_margin)
            changed = True
        if changed:
            self.counts['clamped_commands'] += 1
        source = SOURCES.get(mode, 'hold')
        if mode is GateMode.HUMAN and reason:
            source = 'hold'
        if mode is GateMode.EXPERT:
            self.counts['expert_commands'] += 1
        # A gripper press acts only in a takeover; one made outside it is dropped.
        gripper = self._gripper_request if mode is GateMode.HUMAN else None
        self._gripper_request = None
        if gripper is not None:
            self.counts['gripper_commands'] += 1
        return GateOutput(command=command, source=source, mode=mode, reason=reason,
                          intervention=mode is GateMode.HUMAN, model_version=self._model_version,
                          estop=self._estop, clamped=bool(changed), help_request=self._help,
                          gripper=gripper)

    def _human_decision(self, q: np.ndarray) -> tuple[GateMode, str, Optional[np.ndarray]]:
        """Mode, reason and target (None: hold) in a takeover."""
        cfg = self.config
        joy = self._joy
        if self._rest_q is None:
            self._rest_q = q.copy()  # the posture of the takeover (or where the elbow left it)
        try:
            sticks = None if joy is None else stick_values(joy, cfg.joy)
            if sticks is None or not sticks.moving:
                return GateMode.HUMAN, '', None
            rest = {'takeover': self._rest_q, 'elbow': None,
                    'rest': np.asarray(cfg.joy.rest_posture, dtype=np.float64)}[
                        cfg.joy.null_space]
            if sticks.elbow and cfg.joy.elbow_used(cfg.n_joints):
                self._rest_q = None  # the elbow moves the held posture: latch it anew
            margin = cfg.limit_margin
            target = joy_to_target(cfg.joy, cfg.robot, q, joy, cfg.teleop_dt,
                                   max_joint_speed=cfg.max_joint_speed,
                                   lower=self._lower + margin, upper=self._upper - margin,
                                   joint=self._joint, rest=rest)
            return GateMode.HUMAN, '', target
        except (ImitationError, ValueError, ArithmeticError) as exc:
            # A teleop failure must not hand control back to the policy: hold.
            self.counts['teleop_errors'] += 1
            return GateMode.HUMAN, f'teleop failed, holding: {exc}', None

    def _policy_decision(self, now: float,
                         q: np.ndarray) -> tuple[GateMode, str, Optional[np.ndarray]]:
        """Mode, reason and target (None: hold) when no takeover or latch is on."""
        cfg = self.config
        if self._help:
            return (GateMode.HOLD_HELP,
                    f'policy asks for help: {self._help_cause}; holding until a human takes '
                    f'over (deadman) or doubt and risk stay at or below their thresholds for '
                    f'{cfg.help_release_s:g} s',
                    None)
        if self._action_time is None:
            return GateMode.HOLD_STALE_POLICY, 'no policy action received yet', None
        age = now - self._action_time
        if age > cfg.cmd_timeout_s:
            return (GateMode.HOLD_STALE_POLICY,
                    f'policy action is {age:.3g} s old (cmd_timeout_s {cfg.cmd_timeout_s:g})',
                    None)
        note = ''
        if self._draw_expert:
            if self._expert_time is not None and now - self._expert_time <= cfg.expert_timeout_s:
                if self._expert is None:
                    return (GateMode.HOLD_INVALID_EXPERT,
                            f'expert action rejected: {self._expert_error}', None)
                return GateMode.EXPERT, '', self._expert
            self.counts['expert_unavailable'] += 1
            age_text = ('none received' if self._expert_time is None
                        else f'newest is {now - self._expert_time:.3g} s old')
            note = (f'beta drew the expert but no fresh expert action on '
                    f'imitation/expert_action ({age_text}, expert_timeout_s '
                    f'{cfg.expert_timeout_s:g}): the policy action is used')
        if self._action is None:
            reason = f'policy action rejected: {self._action_error}'
            return GateMode.HOLD_INVALID_POLICY, f'{reason}; {note}' if note else reason, None
        return GateMode.POLICY, note, self._action


class _Signal:
    """One help signal (doubt or risk): newest value, when it came, since when it is calm."""

    def __init__(self, key: str, threshold: float) -> None:
        self.key = key
        self.threshold = float(threshold)
        self.value: Optional[float] = None
        self.time: Optional[float] = None
        self.calm_since: Optional[float] = None

    def update(self, value: float, now: float, timeout: float) -> None:
        gap = None if self.time is None else now - self.time
        self.value, self.time = value, now
        if value > self.threshold or (gap is not None and gap > timeout):
            self.calm_since = None
        if value <= self.threshold and self.calm_since is None:
            self.calm_since = now

    def fresh(self, now: float, timeout: float) -> bool:
        return self.time is not None and now - self.time <= timeout
