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
up = +1; 3 right stick horizontal, left = +1; 4 right stick vertical, up = +1;
2 and 5 the triggers) and 11 buttons (0 A, 1 B, 2 X, 3 Y, 4 LB, 5 RB, 6 back,
7 start, ...). :func:`parse_joy` reads the raw arrays field by field into a
:class:`JoyInput` and never refuses a message whole: an unreadable field (a
missing index, NaN / Inf, an axis far outside [-1, 1], a button that is not an
integer) is marked unreadable and the others keep their value, so an e-stop
press in a message with a broken axis still latches (docs/gate.md says what
each unreadable field does; in short: a readable e-stop
press always counts, and an unreadable axis or deadman never moves the arm).
:func:`stick_values` applies the deadzone and :func:`joy_to_target` maps the
sticks to the next absolute joint target (:mod:`imitation_ros.gate.teleop`):

* ``cartesian`` (default): ``axis_map`` (x, y, z) moves the tip along the base
  frame's axes at up to ``scale`` m/s (teleop_twist_joy's Xbox layout: left
  stick up = +x, left = +y; right stick up = +z); while ``rotation_button`` is
  held, ``rotation_axis_map`` (roll, pitch, yaw) turns it about those axes at up
  to ``rotation_scale`` rad/s instead. Components of ``cartesian_task`` that no
  stick drives are held still; ``elbow_axis`` moves the arm in its null space
  when that is one-dimensional; ``null_space`` says what else happens there
  (``takeover``: hold the posture of the takeover; ``rest``: ``rest_posture``;
  ``elbow``: nothing but the elbow, the planar arm's mapping);
* ``joint``: ``joint_axis`` drives one joint at up to ``joint_speed`` rad/s;
  ``next_joint_button`` / ``previous_joint_button`` select it (the arbiter
  keeps the selection).

``gripper_open_button`` / ``gripper_close_button`` open and close a gripper in
both modes (the arbiter sends it). A negative scale inverts its axis; -1 for an
axis or button means none. Joint speeds are capped by the caller (the gate:
``max_joint_step * rate_hz``); targets are not clamped here: the arbiter passes
every command through :func:`imitation_ros.gate.limits.safe_command`.
"""

from __future__ import annotations

from dataclasses import dataclass
import itertools
import math
from typing import Any, Optional

import numpy as np

from .teleop import cap_speed, elbow_velocity, joint_target, posture_velocity, stick_speeds
from ..errors import ConfigError, ImitationError
from ..interface.kinematics import ArmKinematics, null_space_direction, TASK_COMPONENTS

#: Teleoperation modes.
TELEOP_MODES: tuple[str, ...] = ('cartesian', 'joint')
#: Uses of the null space in cartesian mode (see the module docstring).
NULL_SPACE_MODES: tuple[str, ...] = ('takeover', 'rest', 'elbow')
#: How far past +-1 an axis may read before it counts as unreadable; drivers round (a
#: float32 1.0000001 is a full deflection, 3.0 is a broken driver).
AXIS_TOLERANCE = 1e-3
#: Entries of a Joy's axes or buttons that are read; gamepads have a few dozen at most, and
#: the bound caps the time a hostile message can cost. Further axes count as unreadable.
MAX_JOY_ENTRIES = 256
#: Linear and rotational task components, in the order of axis_map / rotation_axis_map.
LINEAR, ANGULAR = TASK_COMPONENTS[:3], TASK_COMPONENTS[3:]


class JoyError(ImitationError, ValueError):
    """The stick mapping cannot be applied: bad measured positions or period."""


def _index(value: Any) -> bool:
    """Whether ``value`` is an axis or button index, or -1 for none."""
    return type(value) is int and value >= -1


def _numbers(values: tuple, count: int) -> bool:
    return len(values) == count and all(
        isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
        for v in values)


@dataclass(frozen=True)
class JoyConfig:
    """
    Which buttons and axes of the gamepad do what, and how the sticks move the arm.

    Defaults are teleop_twist_joy's Xbox layout of ``joy_node`` (see the module
    docstring); -1 for an axis or button means none.
    """

    enable_button: int = 4
    """Deadman button index (LB): held = human in control."""
    estop_button: int = 1
    """E-stop button index (B): latches a stop until ``reset_button``."""
    reset_button: int = 7
    """Button index (start) that clears the e-stop latch."""
    teleop_mode: str = 'cartesian'
    """'cartesian' (sticks move the tip) or 'joint' (one axis drives the selected joint)."""
    deadzone: float = 0.05
    """Stick values with magnitude below this are zero; motion starts smoothly at its edge."""
    cartesian_task: tuple[str, ...] = TASK_COMPONENTS
    """Components of the tip's motion the teleop controls (driven, or else held still);
    the others are left free. ('linear_x', 'linear_y') for a planar arm."""
    axis_map: tuple[int, ...] = (1, 0, 4)
    """Axis indices moving the tip along x, y, z (base frame); -1: not driven."""
    scale: tuple[float, ...] = (0.2, 0.2, 0.2)
    """Full-deflection speed along x, y, z (m/s); negative inverts."""
    rotation_button: int = 5
    """Held (RB): the sticks turn the tip (rotation_axis_map) instead of moving it; -1: none."""
    rotation_axis_map: tuple[int, ...] = (3, 1, 0)
    """Axis indices turning the tip about x, y, z (roll, pitch, yaw) while rotation_button
    is held; -1: not driven."""
    rotation_scale: tuple[float, ...] = (0.5, 0.5, 0.5)
    """Full-deflection rate about x, y, z (rad/s); negative inverts."""
    elbow_axis: int = 3
    """Axis index moving the arm in a one-dimensional null space (the elbow), when the
    rotation button is not held; -1: none."""
    elbow_scale: float = 0.5
    """Full-deflection elbow speed (rad/s, along the unit null-space direction)."""
    null_space: str = 'takeover'
    """What moves the null space besides the elbow: 'takeover' (hold the posture of the
    takeover, and keep joints off their limits), 'rest' (hold rest_posture, likewise),
    'elbow' (nothing: the planar arm's mapping, which sim_human drives)."""
    rest_posture: tuple[float, ...] = (0.0,)
    """Posture held with null_space 'rest' (rad, one per joint)."""
    posture_gain: float = 1.0
    """Rate of the pull toward the held posture (1/s)."""
    joint_axis: int = 1
    """Joint mode: the axis driving the selected joint."""
    joint_speed: float = 0.5
    """Joint mode: full-deflection speed of the selected joint (rad/s); negative inverts."""
    next_joint_button: int = 5
    """Joint mode: selects the next joint (toward the tip, wrapping); -1: none."""
    previous_joint_button: int = 2
    """Joint mode: selects the previous joint; -1: none."""
    gripper_open_button: int = 3
    """Opens the gripper during a takeover (Y); -1: none."""
    gripper_close_button: int = 0
    """Closes the gripper during a takeover (A); -1: none."""

    def __post_init__(self) -> None:
        for name in ('cartesian_task', 'axis_map', 'scale', 'rotation_axis_map',
                     'rotation_scale', 'rest_posture'):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        safety = {'enable_button': self.enable_button, 'estop_button': self.estop_button,
                  'reset_button': self.reset_button}
        for name, value in safety.items():
            if type(value) is not int or value < 0:
                raise ConfigError(f'{name} must be a button index >= 0, got {value!r}')
        if self.teleop_mode not in TELEOP_MODES:
            raise ConfigError(f'teleop_mode must be one of {", ".join(TELEOP_MODES)}, got '
                              f'{self.teleop_mode!r}')
        if self.null_space not in NULL_SPACE_MODES:
            raise ConfigError(f'null_space must be one of {", ".join(NULL_SPACE_MODES)}, got '
                              f'{self.null_space!r}')
        indices = ('rotation_button', 'elbow_axis', 'next_joint_button',
                   'previous_joint_button', 'gripper_open_button', 'gripper_close_button')
        for name in indices:
            if not _index(getattr(self, name)):
                raise ConfigError(f'{name} must be an index >= 0, or -1 for none, got '
                                  f'{getattr(self, name)!r}')
        if type(self.joint_axis) is not int or self.joint_axis < 0:
            raise ConfigError(f'joint_axis must be an axis index >= 0, got {self.joint_axis!r}')
        for name in ('axis_map', 'rotation_axis_map'):
            value = getattr(self, name)
            if len(value) != 3 or not all(_index(a) for a in value):
                raise ConfigError(f'{name} must be 3 axis indices (x, y, z), -1 for none, got '
                                  f'{value}')
        for name in ('scale', 'rotation_scale'):
            if not _numbers(getattr(self, name), 3):
                raise ConfigError(f'{name} must be 3 finite speeds (x, y, z), got '
                                  f'{getattr(self, name)}')
        for name in ('elbow_scale', 'joint_speed', 'posture_gain'):
            if not _numbers((getattr(self, name),), 1):
                raise ConfigError(f'{name} must be a finite number, got {getattr(self, name)!r}')
        if self.posture_gain < 0:
            raise ConfigError(f'posture_gain must be >= 0 (1/s), got {self.posture_gain}')
        if not self.rest_posture or not _numbers(self.rest_posture, len(self.rest_posture)):
            raise ConfigError(f'rest_posture must be finite joint positions (rad), got '
                              f'{self.rest_posture}')
        if not (isinstance(self.deadzone, (int, float)) and 0.0 <= self.deadzone < 1.0):
            raise ConfigError(f'deadzone must be in [0, 1), got {self.deadzone!r}')
        self._check_task()
        self._check_buttons(safety)

    def _check_task(self) -> None:
        task = self.cartesian_task
        if not task or not all(isinstance(c, str) for c in task) \
                or any(c not in TASK_COMPONENTS for c in task) or len(set(task)) != len(task):
            raise ConfigError(f'cartesian_task must be distinct names among '
                              f'{", ".join(TASK_COMPONENTS)}, got {list(task)}')
        if self.teleop_mode != 'cartesian':
            return
        groups = [(self.axis_map, LINEAR, 'axis_map')]
        if self.rotation_button >= 0:
            groups.append((self.rotation_axis_map, ANGULAR, 'rotation_axis_map'))
        for axes, names, label in groups:
            for axis, name in zip(axes, names):
                if axis >= 0 and name not in task:
                    raise ConfigError(f'{label} drives {name} with axis {axis} but '
                                      f'cartesian_task {list(task)} leaves {name} free: add it '
                                      'to the task or set the axis to -1')
        linear = [a for a in (*self.axis_map, self.elbow_axis) if a >= 0]
        rotation = [a for a in self.rotation_axis_map if a >= 0]
        if len(set(linear)) != len(linear) or len(set(rotation)) != len(rotation):
            raise ConfigError(f'one stick axis drives two motions: axis_map {self.axis_map}, '
                              f'elbow_axis {self.elbow_axis}, rotation_axis_map '
                              f'{self.rotation_axis_map}')

    def _check_buttons(self, safety: dict[str, int]) -> None:
        used = dict(safety)
        used.update(gripper_open_button=self.gripper_open_button,
                    gripper_close_button=self.gripper_close_button)
        if self.teleop_mode == 'cartesian':
            used['rotation_button'] = self.rotation_button
        else:
            used.update(next_joint_button=self.next_joint_button,
                        previous_joint_button=self.previous_joint_button)
        used = {name: index for name, index in used.items() if index >= 0}
        if len(set(used.values())) != len(used):
            raise ConfigError(f'the buttons of the {self.teleop_mode} mode must all differ, got '
                              f'{used}')

    @property
    def buttons(self) -> dict[str, int]:
        """Return the buttons this mode reads, by parameter name (none of them -1)."""
        names = ['enable_button', 'estop_button', 'reset_button', 'gripper_open_button',
                 'gripper_close_button']
        names += (['rotation_button'] if self.teleop_mode == 'cartesian'
                  else ['next_joint_button', 'previous_joint_button'])
        return {name: getattr(self, name) for name in names if getattr(self, name) >= 0}

    @property
    def axes(self) -> tuple[int, ...]:
        """Return the axis indices this mode reads."""
        if self.teleop_mode == 'joint':
            return (self.joint_axis,)
        used = [*self.axis_map, self.elbow_axis]
        if self.rotation_button >= 0:
            used += self.rotation_axis_map
        return tuple(a for a in used if a >= 0)

    @property
    def min_axes(self) -> int:
        """Return the number of axes a Joy needs for this mapping."""
        return max(self.axes, default=-1) + 1

    @property
    def min_buttons(self) -> int:
        """Return the number of buttons a Joy needs for this mapping."""
        return max(self.buttons.values()) + 1

    def check_robot(self, n_joints: int) -> None:
        """
        Check that this mapping fits an arm with ``n_joints`` joints.

        :raises ConfigError: null_space 'elbow' without exactly one joint more than task
            components, or a rest_posture of another length.
        """
        if self.teleop_mode != 'cartesian':
            return
        task = len(self.cartesian_task)
        if self.null_space == 'elbow' and n_joints - task != 1:
            raise ConfigError(f'null_space elbow needs one joint more than task components, '
                              f'but the arm has {n_joints} joints and cartesian_task {task} '
                              f'components; use null_space takeover, or a task of '
                              f'{n_joints - 1} components')
        if self.null_space == 'rest' and len(self.rest_posture) != n_joints:
            raise ConfigError(f'rest_posture has {len(self.rest_posture)} values but the arm '
                              f'has {n_joints} joints; give one per joint, base to tip')

    def elbow_used(self, n_joints: int) -> bool:
        """Return whether the elbow axis moves an arm of ``n_joints`` joints (1-D null space)."""
        return (self.teleop_mode == 'cartesian' and self.elbow_axis >= 0
                and n_joints - len(self.cartesian_task) == 1)


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
        one axis is not trusted on the others. In cartesian mode an unreadable
        rotation button counts too (whether the sticks move or turn the tip is unknown).
        """
        if len(self.axes) < config.min_axes:
            return (f'Joy has {len(self.axes)} axes but the stick mapping uses axis '
                    f'{config.min_axes - 1}')
        if self.bad_axes:
            more = ' ...' if len(self.bad_axes) > 8 else ''
            return f'Joy axes {list(self.bad_axes[:8])}{more} unreadable'
        rotation = config.rotation_button
        if config.teleop_mode == 'cartesian' and rotation >= 0 and self.button(rotation) is None:
            return f'rotation button {rotation} unreadable'
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
        problems.append(f'Joy has {len(ax)} axes but the stick mapping uses axis '
                        f'{config.min_axes - 1}; check the gamepad driver or the axis parameters')
    missing = {name: index for name, index in config.buttons.items() if index >= len(btn)}
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


@dataclass(frozen=True)
class Sticks:
    """The mapped stick values of one Joy, after the deadzone, each in [-1, 1]."""

    linear: np.ndarray
    """Along x, y, z (axis_map), shape (3,); zero where not driven or while rotating."""
    angular: np.ndarray
    """About x, y, z (rotation_axis_map), shape (3,); zero unless the rotation button is held."""
    elbow: float = 0.0
    """The elbow axis; zero while rotating."""
    joint: float = 0.0
    """Joint mode: the joint axis."""

    @property
    def moving(self) -> bool:
        """Return whether any stick asks for motion."""
        return bool(np.any(self.linear) or np.any(self.angular) or self.elbow or self.joint)


def stick_values(joy: JoyInput, config: JoyConfig) -> Sticks:
    """
    Return the mapped stick values after the deadzone (see :class:`Sticks`).

    :raises JoyError: the sticks are unreadable (see :meth:`JoyInput.stick_problem`).
    """
    problem = joy.stick_problem(config)
    if problem:
        raise JoyError(f'{problem}: the sticks cannot be read')

    def read(axes: tuple[int, ...]) -> np.ndarray:
        raw = np.array([joy.axes[a] if a >= 0 else 0.0 for a in axes], dtype=np.float64)
        return apply_deadzone(raw, config.deadzone)

    zero = np.zeros(3)
    if config.teleop_mode == 'joint':
        return Sticks(zero, zero.copy(), joint=float(read((config.joint_axis,))[0]))
    if config.rotation_button >= 0 and joy.pressed(config.rotation_button):
        return Sticks(zero, read(config.rotation_axis_map))
    elbow = float(read((config.elbow_axis,))[0]) if config.elbow_axis >= 0 else 0.0
    return Sticks(read(config.axis_map), zero, elbow=elbow)


def task_velocity(config: JoyConfig, sticks: Sticks) -> np.ndarray:
    """
    Return the speed of each component of ``cartesian_task`` the sticks ask for.

    Driven components get the stick times its scale (m/s, rad/s); the others 0
    (held still). Shape (len(cartesian_task),).
    """
    speeds = dict.fromkeys(TASK_COMPONENTS, 0.0)
    for values, axes, scale, names in ((sticks.linear, config.axis_map, config.scale, LINEAR),
                                       (sticks.angular, config.rotation_axis_map,
                                        config.rotation_scale, ANGULAR)):
        driven = [i for i, axis in enumerate(axes) if axis >= 0]
        if not driven:
            continue
        # Driven axes together (stick_speeds scales them by the fastest one).
        values = stick_speeds(np.asarray(values)[driven], [scale[i] for i in driven])
        for i, value in zip(driven, values):
            speeds[names[i]] = value
    return np.array([speeds[name] for name in config.cartesian_task], dtype=np.float64)


def elbow_rate(config: JoyConfig, sticks: Sticks) -> float:
    """Return the elbow speed the sticks ask for (rad/s along the null-space direction)."""
    value = float(np.clip(sticks.elbow * np.sign(config.elbow_scale), -1.0, 1.0))
    return value * float(abs(config.elbow_scale))


def joy_to_target(config: JoyConfig, robot: ArmKinematics, q: np.ndarray, joy: JoyInput,
                  dt: float, *, max_joint_speed: float, lower: np.ndarray,
                  upper: np.ndarray, joint: int = 0,
                  rest: Optional[np.ndarray] = None) -> np.ndarray:
    """
    Map the sticks to the next absolute joint target, starting from the measured ``q``.

    :param robot: the arm's kinematics (joint count, Jacobian).
    :param q: measured joint positions, shape (n,), rad.
    :param dt: time the stick speeds are integrated over (s).
    :param max_joint_speed: cap of every joint's speed (rad/s).
    :param lower: lowest joint positions a command may reach (limits with margin), (n,).
    :param upper: highest joint positions a command may reach, (n,).
    :param joint: joint mode: index of the selected joint.
    :param rest: the posture the null space holds (null_space takeover / rest), (n,)
        rad; None: none (the elbow stick, when moved, still acts).
    :returns: absolute joint target, shape (n,), rad; not yet clamped to limits.
    :raises JoyError: ``q`` has the wrong shape or is not finite, ``dt`` <= 0, the
        sticks are unreadable, or ``joint`` is not a joint of the arm.
    """
    q = np.asarray(q, dtype=np.float64)
    n = robot.n_joints
    if q.shape != (n,) or not np.all(np.isfinite(q)):
        raise JoyError(f'measured joint positions must be {n} finite values, got {q.tolist()}')
    if not (math.isfinite(dt) and dt > 0):
        raise JoyError(f'dt must be a positive number of seconds, got {dt}')
    sticks = stick_values(joy, config)
    if config.teleop_mode == 'joint':
        if not 0 <= joint < n:
            raise JoyError(f'joint index {joint} is not one of the arm\'s {n} joints')
        speed = float(stick_speeds([sticks.joint], [config.joint_speed])[0])
        return joint_target(q, joint, speed, max_joint_speed=max_joint_speed, dt=dt)
    rows = [TASK_COMPONENTS.index(name) for name in config.cartesian_task]
    jac = robot.jacobian(q)[rows]
    velocity = task_velocity(config, sticks)
    rate = elbow_rate(config, sticks) if config.elbow_used(n) else 0.0
    if config.null_space == 'elbow':
        qdot = cap_speed(elbow_velocity(jac, velocity, rate), max_joint_speed)
        return q + qdot * dt
    if rate:
        secondary = rate * null_space_direction(jac)
    elif rest is not None and config.posture_gain > 0:
        secondary = config.posture_gain * (np.asarray(rest, dtype=np.float64) - q)
    else:
        secondary = None
    qdot = posture_velocity(jac, velocity, q, lower=np.asarray(lower, dtype=np.float64),
                            upper=np.asarray(upper, dtype=np.float64), dt=dt,
                            max_joint_speed=max_joint_speed, secondary=secondary)
    return q + qdot * dt
