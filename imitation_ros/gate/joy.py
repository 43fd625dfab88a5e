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
4 LB, 7 start, ...). :func:`parse_joy` turns the raw arrays into a
:class:`JoyInput`, refusing anything malformed (too few axes or buttons for the
configured indices, NaN / Inf, values far outside [-1, 1]), so a broken driver
can never steer the arm. :func:`stick_values` applies the deadzone and
:func:`joy_to_target` maps the sticks to the next absolute joint target:

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
import math
from typing import Any, Sequence

import numpy as np

from .teleop import axes_to_target
from ..errors import ConfigError, ImitationError
from ..sim.arm import ArmConfig

#: Teleoperation modes.
TELEOP_MODES: tuple[str, ...] = ('cartesian', 'joint')
#: How far past +-1 an axis may read before the message counts as malformed; drivers
#: round (a float32 1.0000001 is a full deflection, 3.0 is a broken driver).
AXIS_TOLERANCE = 1e-3


class JoyError(ImitationError, ValueError):
    """A Joy message is malformed: too few axes or buttons, NaN / Inf, out-of-range axes."""


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
    """One validated gamepad reading (see :func:`parse_joy`)."""

    axes: tuple[float, ...]
    """Axis values, each in [-1, 1]."""
    buttons: tuple[int, ...]
    """Button values; non-zero is pressed."""
    stamp: float = 0.0
    """Header stamp of the message (s); informative only, freshness uses receive time."""

    def pressed(self, index: int) -> bool:
        """Return True when button ``index`` is held; a missing button counts as released."""
        return 0 <= index < len(self.buttons) and self.buttons[index] != 0


def parse_joy(axes: Sequence[Any], buttons: Sequence[Any], config: JoyConfig,
              stamp: float = 0.0) -> JoyInput:
    """
    Validate raw Joy arrays against ``config``.

    :param axes: the message's axes (floats in [-1, 1]).
    :param buttons: the message's buttons (integers).
    :param stamp: the message's header stamp (s).
    :raises JoyError: too few axes or buttons for the configured indices, a
        non-finite axis, an axis beyond +-(1 + AXIS_TOLERANCE), a non-integer button.
    """
    try:
        ax = np.asarray(axes, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError) as exc:
        raise JoyError(f'Joy axes are not numbers: {exc}') from exc
    if ax.size < config.min_axes:
        raise JoyError(f'Joy has {ax.size} axes but axis_map uses axis {config.min_axes - 1}; '
                       'check the gamepad driver or the axis_map parameter')
    if not np.all(np.isfinite(ax)):
        raise JoyError(f'Joy axes are not finite: {ax.tolist()}')
    if np.any(np.abs(ax) > 1.0 + AXIS_TOLERANCE):
        raise JoyError(f'Joy axes must lie in [-1, 1], got {ax.tolist()}')
    raw_buttons = list(buttons)
    if len(raw_buttons) < config.min_buttons:
        raise JoyError(f'Joy has {len(raw_buttons)} buttons but button '
                       f'{config.min_buttons - 1} is configured (enable {config.enable_button}, '
                       f'estop {config.estop_button}, reset {config.reset_button})')
    out_buttons = []
    for b in raw_buttons:
        if isinstance(b, (bool, np.bool_)):
            out_buttons.append(int(b))
        elif isinstance(b, (int, np.integer)):
            out_buttons.append(int(b))
        else:
            raise JoyError(f'Joy buttons must be integers, got {raw_buttons}')
    stamp = float(stamp)
    if not math.isfinite(stamp):
        raise JoyError(f'Joy stamp is not finite: {stamp}')
    return JoyInput(axes=tuple(float(v) for v in np.clip(ax, -1.0, 1.0)),
                    buttons=tuple(out_buttons), stamp=stamp)


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
    """
    raw = np.array([joy.axes[i] if i < len(joy.axes) else 0.0 for i in config.axis_map])
    return apply_deadzone(raw, config.deadzone)


def joy_to_target(config: JoyConfig, arm_config: ArmConfig, q: np.ndarray, joy: JoyInput,
                  dt: float) -> np.ndarray:
    """
    Map the sticks to the next absolute joint target, starting from the measured ``q``.

    :param q: measured joint positions, shape (n,), rad.
    :param dt: control period (s).
    :returns: absolute joint target, shape (n,), rad; not yet clamped to limits.
    :raises JoyError: ``q`` has the wrong shape or is not finite, or ``dt`` <= 0.
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
