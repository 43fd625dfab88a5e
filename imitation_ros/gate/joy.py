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
The gamepad: its configuration, validated input, and the stick to joint target mapping.

A ``sensor_msgs/Joy`` as ``joy_node`` publishes it for an Xbox-style pad has 8
axes in [-1, 1] (0 left stick horizontal, left = +1; 1 left stick vertical,
up = +1; 3 right stick horizontal, left = +1; ...) and 11 buttons (0 A, 1 B,
4 LB, 7 start, ...). :func:`parse_joy` reads the raw arrays field by field into a
:class:`JoyInput` and never refuses a message whole: an unreadable field (a
missing index, NaN / Inf, an axis far outside [-1, 1], a button that is not an
integer) is marked unreadable and the others keep their value, so an e-stop
press in a message with a broken axis still latches (the arbiter's module
docstring says what each unreadable field does; in short: a readable e-stop
press always counts, and an unreadable axis or deadman never moves the arm).
:func:`stick_values` applies the deadzone and :func:`joy_to_target` maps the
sticks to the next absolute joint target:

* ``cartesian`` (default): ``axis_map = (x, y, elbow)`` axes move the end
  effector at up to ``scale[0]`` / ``scale[1]`` m/s along x / y and the elbow
  in the null space at up to ``scale[2]`` rad/s, through
  :func:`imitation_ros.gate.teleop.axes_to_target` (damped least squares,
  joint speed capped at the arm's ``max_joint_speed``);
* ``joint``: axis ``axis_map[i]`` drives joint ``i`` at up to ``scale[i]`` rad/s
  (capped at ``max_joint_speed``).

A negative scale inverts its axis. Targets are not clamped here: the arbiter
passes every command through :func:`imitation_ros.gate.limits.safe_command`.
"""

from __future__ import annotations

from dataclasses import dataclass
import itertools
import math
from typing import Any, Optional

import numpy as np

from .teleop import axes_to_target
from ..errors import ConfigError, ImitationError
from ..sim.arm import ArmConfig

#: Teleoperation modes.
TELEOP_MODES: tuple[str, ...] = ('cartesian', 'joint')
#: How far past +-1 an axis may read before it counts as unreadable; drivers round (a
#: float32 1.0000001 is a full deflection, 3.0 is a broken driver).
AXIS_TOLERANCE = 1e-3
#: Entries of a Joy's axes or buttons that are read; gamepads have a few dozen at most, and
#: the bound caps the time a hostile message can cost. Further axes count as unreadable.
MAX_JOY_ENTRIES = 256


class JoyError(ImitationError, ValueError):
    """The stick mapping cannot be applied: bad measured positions or period."""


@dataclass(frozen=True)
class JoyConfig:
    """
    Which buttons and axes of the gamepad do what.

    Defaults are the Xbox layout of ``joy_node`` (see the module docstring).
    """

    enable_button: int = 4
    """Deadman button index (LB): held = human in control."""
    estop_button: int = 1
    """E-stop button index (B): latches a stop until ``reset_button``."""
    reset_button: int = 7
    """Button index (start) that clears the e-stop latch."""
    teleop_mode: str = 'cartesian'
    """'cartesian' (sticks move the end effector) or 'joint' (one axis per joint)."""
    axis_map: tuple[int, ...] = (1, 0, 3)
    """Axis indices: cartesian (x, y, elbow); joint mode one per joint, base to tip."""
    scale: tuple[float, ...] = (1.2, 1.2, 1.5)
    """Full-deflection speed per entry of ``axis_map``: cartesian (m/s, m/s, rad/s); joint
    mode rad/s. Negative inverts the axis."""
    deadzone: float = 0.05
    """Stick values with magnitude below this are zero; motion starts smoothly at its edge."""

    def __post_init__(self) -> None:
        buttons = {'enable_button': self.enable_button, 'estop_button': self.estop_button,
                   'reset_button': self.reset_button}
        for name, value in buttons.items():
            if type(value) is not int or value < 0:
                raise ConfigError(f'{name} must be a button index >= 0, got {value!r}')
        if len(set(buttons.values())) != len(buttons):
            raise ConfigError(f'enable_button, estop_button and reset_button must be three '
                              f'different buttons, got {buttons}')
        if self.teleop_mode not in TELEOP_MODES:
            raise ConfigError(f'teleop_mode must be one of {", ".join(TELEOP_MODES)}, got '
                              f'{self.teleop_mode!r}')
        axis_map = tuple(self.axis_map)
        scale = tuple(self.scale)
        object.__setattr__(self, 'axis_map', axis_map)
        object.__setattr__(self, 'scale', scale)
        if not axis_map or any(type(a) is not int or a < 0 for a in axis_map):
            raise ConfigError(f'axis_map must be non-empty axis indices >= 0, got {axis_map}')
        if len(scale) != len(axis_map):
            raise ConfigError(f'scale has {len(scale)} entries but axis_map has '
                              f'{len(axis_map)}; give one scale per mapped axis')
        if not all(isinstance(s, (int, float)) and math.isfinite(s) for s in scale):
            raise ConfigError(f'scale must be finite numbers, got {scale}')
        if self.teleop_mode == 'cartesian' and len(axis_map) != 3:
            raise ConfigError(f'cartesian teleop needs axis_map = (x, y, elbow) axis indices, '
                              f'got {len(axis_map)} entries')
        if not (isinstance(self.deadzone, (int, float)) and 0.0 <= self.deadzone < 1.0):
            raise ConfigError(f'deadzone must be in [0, 1), got {self.deadzone!r}')

    @property
    def min_axes(self) -> int:
        """Return the number of axes a Joy needs for this mapping."""
        return max(self.axis_map) + 1

    @property
    def min_buttons(self) -> int:
        """Return the number of buttons a Joy needs for this mapping."""
        return max(self.enable_button, self.estop_button, self.reset_button) + 1

    def check_joints(self, n_joints: int) -> None:
        """
        Check that this mapping fits an arm with ``n_joints`` joints.

        :raises ConfigError: joint mode with a different number of mapped axes.
        """
        if self.teleop_mode == 'joint' and len(self.axis_map) != n_joints:
            raise ConfigError(f'joint teleop maps {len(self.axis_map)} axes but the arm has '
                              f'{n_joints} joints; give axis_map and scale one entry per joint')


@dataclass(frozen=True)
class JoyInput:
    """
    One gamepad reading, read field by field (see :func:`parse_joy`).

    Every field that could not be read is marked as such: ``None`` for a
    button, NaN for an axis (its index is then in ``bad_axes``).
    """

    axes: tuple[float, ...]
    """Axis values, each in [-1, 1], or NaN where the axis was unreadable."""
    buttons: tuple[Optional[int], ...]
    """Button values (non-zero is pressed), or None where the button was unreadable."""
    stamp: float = 0.0
    """Header stamp of the message (s; 0.0 if unreadable); informative only, freshness
    uses receive time."""
    bad_axes: tuple[int, ...] = ()
    """Indices of the unreadable axes (those beyond MAX_JOY_ENTRIES included as one entry,
    MAX_JOY_ENTRIES)."""
    problems: tuple[str, ...] = ()
    """What could not be read, in words (empty for a well-formed message)."""

    def button(self, index: int) -> Optional[bool]:
        """Return whether button ``index`` is held, or None when it is missing or unreadable."""
        if not 0 <= index < len(self.buttons):
            return None
        value = self.buttons[index]
        return None if value is None else value != 0

    def pressed(self, index: int) -> bool:
        """Return True only when button ``index`` is readable and held."""
        return self.button(index) is True

    def stick_problem(self, config: JoyConfig) -> str:
        """
        Say why the sticks must not move the arm, or return '' when they may.

        Any unreadable axis counts, mapped or not: a driver that sends garbage on
        one axis is not trusted on the others.
        """
        if len(self.axes) < config.min_axes:
            return (f'Joy has {len(self.axes)} axes but axis_map uses axis '
                    f'{config.min_axes - 1}')
        if self.bad_axes:
            more = ' ...' if len(self.bad_axes) > 8 else ''
            return f'Joy axes {list(self.bad_axes[:8])}{more} unreadable'
        return ''

    @property
    def well_formed(self) -> bool:
        """Return True when every field of the message was readable."""
        return not self.problems


def _read_axes(axes: Any) -> tuple[tuple[float, ...], tuple[int, ...], list[str]]:
    """Axis values (NaN where unreadable), the unreadable indices, and the problems."""
    try:
        raw = list(itertools.islice(iter(axes), MAX_JOY_ENTRIES + 1))
    except TypeError:
        return (), (), [f'Joy axes are not a sequence: {type(axes).__name__}']
    values: list[float] = []
    bad: list[int] = []
    for i, v in enumerate(raw[:MAX_JOY_ENTRIES]):
        value = math.nan
        if isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(
                v, (bool, np.bool_)):
            try:
                value = float(v)
            except OverflowError:  # an int too large for a float
                value = math.nan
            if not abs(value) <= 1.0 + AXIS_TOLERANCE:  # also catches NaN
                value = math.nan
        if math.isnan(value):
            bad.append(i)
            values.append(math.nan)
        else:
            values.append(min(1.0, max(-1.0, value)))
    problems = []
    if bad:
        shown = [raw[i] for i in bad[:8]]
        problems.append(f'Joy axes {bad[:8]}{" ..." if len(bad) > 8 else ""} are not numbers '
                        f'in [-1, 1] (got {shown!r:.200})')
    if len(raw) > MAX_JOY_ENTRIES:
        bad.append(MAX_JOY_ENTRIES)
        problems.append(f'Joy has more than {MAX_JOY_ENTRIES} axes: a broken driver')
    return tuple(values), tuple(bad), problems


def _read_buttons(buttons: Any) -> tuple[tuple[Optional[int], ...], list[str]]:
    """Button values (None where unreadable) and the problems."""
    try:
        raw = list(itertools.islice(iter(buttons), MAX_JOY_ENTRIES + 1))
    except TypeError:
        return (), [f'Joy buttons are not a sequence: {type(buttons).__name__}']
    values: list[Optional[int]] = []
    bad = []
    for i, b in enumerate(raw[:MAX_JOY_ENTRIES]):
        if isinstance(b, (bool, np.bool_, int, np.integer)):
            values.append(int(b))
        else:
            values.append(None)
            bad.append(i)
    problems = []
    if bad:
        problems.append(f'Joy buttons {bad[:8]}{" ..." if len(bad) > 8 else ""} are not '
                        f'integers (got {[raw[i] for i in bad[:8]]!r:.200})')
    if len(raw) > MAX_JOY_ENTRIES:
        problems.append(f'Joy has more than {MAX_JOY_ENTRIES} buttons; the rest are ignored')
    return tuple(values), problems


def parse_joy(axes: Any, buttons: Any, config: JoyConfig, stamp: Any = 0.0) -> JoyInput:
    """
    Read raw Joy arrays field by field; never raises.

    :param axes: the message's axes (floats in [-1, 1]).
    :param buttons: the message's buttons (integers).
    :param config: the mapping; the problems name the configured buttons and axes
        the message lacks.
    :param stamp: the message's header stamp (s).
    :returns: the reading, with unreadable fields marked and described in ``problems``.
    """
    ax, bad_axes, problems = _read_axes(axes)
    btn, button_problems = _read_buttons(buttons)
    problems += button_problems
    if len(ax) < config.min_axes:
        problems.append(f'Joy has {len(ax)} axes but axis_map uses axis {config.min_axes - 1}; '
                        'check the gamepad driver or the axis_map parameter')
    configured = (('enable', config.enable_button), ('estop', config.estop_button),
                  ('reset', config.reset_button))
    missing = {name: index for name, index in configured if index >= len(btn)}
    if missing:
        problems.append(f'Joy has {len(btn)} buttons, which lacks the configured {missing}')
    try:
        stamp_s = float(stamp)
    except (TypeError, ValueError, OverflowError):
        stamp_s = math.nan
    if not math.isfinite(stamp_s):
        problems.append(f'Joy stamp is not a finite number: {stamp!r:.40}')
        stamp_s = 0.0
    return JoyInput(axes=ax, buttons=btn, stamp=stamp_s, bad_axes=bad_axes,
                    problems=tuple(problems))


def apply_deadzone(values: np.ndarray, deadzone: float) -> np.ndarray:
    """
    Zero values within ``deadzone`` and rescale the rest so that they start at 0.

    ``v -> sign(v) * (|v| - deadzone) / (1 - deadzone)``: continuous at the edge
    (no jump when the stick leaves the deadzone) and still reaching +-1.
    """
    v = np.clip(np.asarray(values, dtype=np.float64), -1.0, 1.0)
    mag = np.maximum(np.abs(v) - deadzone, 0.0) / (1.0 - deadzone)
    return np.sign(v) * mag


def stick_values(joy: JoyInput, config: JoyConfig) -> np.ndarray:
    """
    Return the mapped stick values after the deadzone, shape (len(axis_map),), in [-1, 1].

    Cartesian mode: (x, y, elbow). Joint mode: one value per joint.

    :raises JoyError: the sticks are unreadable (see :meth:`JoyInput.stick_problem`).
    """
    problem = joy.stick_problem(config)
    if problem:
        raise JoyError(f'{problem}: the sticks cannot be read')
    raw = np.array([joy.axes[i] for i in config.axis_map], dtype=np.float64)
    return apply_deadzone(raw, config.deadzone)


def joy_to_target(config: JoyConfig, arm_config: ArmConfig, q: np.ndarray, joy: JoyInput,
                  dt: float) -> np.ndarray:
    """
    Map the sticks to the next absolute joint target, starting from the measured ``q``.

    :param q: measured joint positions, shape (n,), rad.
    :param dt: control period (s).
    :returns: absolute joint target, shape (n,), rad; not yet clamped to limits.
    :raises JoyError: ``q`` has the wrong shape or is not finite, ``dt`` <= 0, or the
        sticks are unreadable.
    :raises ConfigError: joint mode with a mapping that does not fit the arm.
    """
    q = np.asarray(q, dtype=np.float64)
    n = arm_config.n_joints
    if q.shape != (n,) or not np.all(np.isfinite(q)):
        raise JoyError(f'measured joint positions must be {n} finite values, got {q.tolist()}')
    if not (math.isfinite(dt) and dt > 0):
        raise JoyError(f'dt must be a positive number of seconds, got {dt}')
    sticks = stick_values(joy, config)
    scale = np.asarray(config.scale, dtype=np.float64)
    if config.teleop_mode == 'joint':
        config.check_joints(n)
        qdot = np.clip(sticks * scale, -arm_config.max_joint_speed, arm_config.max_joint_speed)
        return q + qdot * dt
    # Cartesian: axes_to_target takes one linear speed for x and y, so unequal (or
    # negative) x / y scales are folded into the stick values it receives.
    linear = float(max(abs(scale[0]), abs(scale[1])))
    xy = sticks[:2] * scale[:2] / linear if linear > 0 else np.zeros(2)
    elbow = float(sticks[2] * np.sign(scale[2]))
    return axes_to_target(arm_config, q, np.array([xy[0], xy[1], elbow]),
                          linear_speed=linear, elbow_speed=float(abs(scale[2])), dt=dt)
