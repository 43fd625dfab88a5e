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

"""The gamepad: configuration checks, Joy validation, deadzone and the stick to target mapping."""

from __future__ import annotations

from dataclasses import replace
import math
import re

from imitation_ros.errors import ConfigError, ImitationError
from imitation_ros.gate.joy import (apply_deadzone, JoyConfig, JoyError, JoyInput,
                                    joy_to_target, MAX_JOY_ENTRIES, parse_joy, stick_values)
from imitation_ros.gate.teleop import axes_to_target
from imitation_ros.sim.arm import ArmConfig, end_effector
import numpy as np
import pytest

Q = np.array([0.4, -0.8, 0.6])
DT = 0.05


def xbox(axes: dict[int, float] | None = None, pressed: tuple[int, ...] = ()) -> JoyInput:
    """Build a valid Xbox-layout Joy (8 axes, 11 buttons) with the given axes and buttons."""
    ax = [0.0] * 8
    for i, v in (axes or {}).items():
        ax[i] = v
    buttons = [1 if i in pressed else 0 for i in range(11)]
    return parse_joy(ax, buttons, JoyConfig())


def test_defaults_are_the_contract() -> None:
    """Defaults: LB deadman, B e-stop, start reset, cartesian (1, 0, 3), 1.2/1.2/1.5, 0.05."""
    cfg = JoyConfig()
    assert (cfg.enable_button, cfg.estop_button, cfg.reset_button) == (4, 1, 7)
    assert cfg.teleop_mode == 'cartesian' and cfg.axis_map == (1, 0, 3)
    assert cfg.scale == (1.2, 1.2, 1.5) and cfg.deadzone == 0.05
    assert cfg.min_axes == 4 and cfg.min_buttons == 8


@pytest.mark.parametrize('changes', [
    {'enable_button': 1},
    {'reset_button': 4},
    {'estop_button': -1},
    {'teleop_mode': 'twist'},
    {'axis_map': (1, 0)},
    {'axis_map': (1, 0, -3)},
    {'scale': (1.0, 1.0)},
    {'scale': (1.0, float('nan'), 1.0)},
    {'deadzone': 1.0},
    {'deadzone': -0.1},
])
def test_bad_config_raises_config_error(changes: dict) -> None:
    """Clashing buttons, unknown modes, mismatched maps and bad deadzones are refused."""
    with pytest.raises(ConfigError):
        JoyConfig(**changes)


def test_joint_mode_must_map_one_axis_per_joint() -> None:
    """Joint mode checks its mapping against the arm's number of joints."""
    cfg = JoyConfig(teleop_mode='joint', axis_map=(1, 0), scale=(1.0, 1.0))
    cfg.check_joints(2)
    with pytest.raises(ConfigError, match='3 joints'):
        cfg.check_joints(3)
    with pytest.raises(ConfigError):
        joy_to_target(cfg, ArmConfig(), Q, xbox(), DT)


def test_parse_accepts_an_xbox_message_and_reads_buttons() -> None:
    """A well-formed Joy parses; pressed() reads buttons, a missing one is not pressed."""
    joy = parse_joy([0.0, 1.0000004, 0, 0, 0, 0, 0, 0], [0, 1, 0, 0, 1] + [0] * 6, JoyConfig(),
                    stamp=12.5)
    assert joy.axes[1] == 1.0 and joy.stamp == 12.5
    assert joy.pressed(1) and joy.pressed(4) and not joy.pressed(7) and not joy.pressed(40)


@pytest.mark.parametrize('axes, buttons, match', [
    ([0.0] * 3, [0] * 11, 'axes'),
    ([0.0] * 8, [0] * 7, 'buttons'),
    ([0.0, float('nan')] + [0.0] * 6, [0] * 11, 'axes'),
    ([0.0, float('inf')] + [0.0] * 6, [0] * 11, 'axes'),
    ([0.0, 1.5] + [0.0] * 6, [0] * 11, r'\[-1, 1\]'),
    ([0.0] * 8, [0, 0.5] + [0] * 9, 'integers'),
    (['a'] * 8, [0] * 11, 'axes'),
    (None, [0] * 11, 'not a sequence'),
    ([0.0] * 8, 3, 'not a sequence'),
])
def test_parse_marks_malformed_fields_without_raising(axes: list, buttons: list,
                                                      match: str) -> None:
    """Too few axes / buttons, NaN, Inf, out-of-range axes, fractional buttons: marked, kept."""
    joy = parse_joy(axes, buttons, JoyConfig())
    assert not joy.well_formed
    assert any(re.search(match, problem) for problem in joy.problems), joy.problems


def test_each_field_is_read_on_its_own() -> None:
    """A NaN axis does not hide a pressed e-stop; a short buttons array keeps what it has."""
    joy = parse_joy([0.0, float('nan')] + [0.0] * 6, [0, 1, 0, 0, 1] + [0] * 6, JoyConfig())
    assert joy.button(1) is True and joy.button(4) is True and joy.button(0) is False
    assert joy.bad_axes == (1,) and math.isnan(joy.axes[1]) and joy.axes[0] == 0.0
    assert 'unreadable' in joy.stick_problem(JoyConfig())
    short = parse_joy([0.0] * 8, [0, 1], JoyConfig())
    assert short.button(1) is True and short.button(4) is None and short.button(7) is None
    assert short.pressed(1) and not short.pressed(4)
    assert short.stick_problem(JoyConfig()) == ''
    odd = parse_joy([0.0] * 8, [0, 'x', 1.0, 0, 1] + [0] * 6, JoyConfig())
    assert odd.button(1) is None and odd.button(2) is None and odd.button(4) is True
    few = parse_joy([0.0, 0.0], [0] * 11, JoyConfig())
    assert 'axis_map uses axis 3' in few.stick_problem(JoyConfig())
    with pytest.raises(JoyError, match='unreadable') as info:
        stick_values(joy, JoyConfig())
    assert isinstance(info.value, ImitationError)


def test_parse_bounds_the_work_of_a_huge_message() -> None:
    """Only the first MAX_JOY_ENTRIES entries are read; more axes make the sticks unusable."""
    joy = parse_joy(np.zeros(100_000), np.zeros(100_000, dtype=np.int32), JoyConfig())
    assert len(joy.axes) == MAX_JOY_ENTRIES and len(joy.buttons) == MAX_JOY_ENTRIES
    assert joy.stick_problem(JoyConfig()) and joy.button(1) is False


def test_parse_keeps_a_bad_stamp_out() -> None:
    """A non-finite or unreadable stamp reads as 0.0 and is named as a problem."""
    for stamp in (float('nan'), 'soon', None):
        joy = parse_joy([0.0] * 8, [0] * 11, JoyConfig(), stamp)
        assert joy.stamp == 0.0 and any('stamp' in p for p in joy.problems)
    assert parse_joy([0.0] * 8, [0] * 11, JoyConfig(), 3.5).well_formed


def test_deadzone_zeroes_small_values_and_starts_smoothly() -> None:
    """Inside the deadzone: 0; just outside: just above 0; full deflection: 1; odd symmetric."""
    v = apply_deadzone(np.array([0.0, 0.04, -0.05, 0.0501, 0.5, 1.0, -1.0]), 0.05)
    assert v[0] == v[1] == v[2] == 0.0
    assert 0.0 < v[3] < 1e-3
    assert v[4] == pytest.approx(0.45 / 0.95)
    assert v[5] == 1.0 and v[6] == -1.0


def test_stick_values_follow_axis_map() -> None:
    """Stick values come out as (axes[1], axes[0], axes[3]) after the deadzone."""
    joy = xbox({0: 0.5, 1: -1.0, 3: 0.02, 4: 0.9})
    np.testing.assert_allclose(stick_values(joy, JoyConfig()), [-1.0, 0.45 / 0.95, 0.0])


def test_cartesian_equals_axes_to_target_with_the_contract_mapping() -> None:
    """Cartesian mode is axes_to_target(q, (axes[1], axes[0], axes[3]), 1.2, 1.5, dt)."""
    joy = xbox({0: 0.3, 1: 0.7, 3: -0.4})
    cfg = JoyConfig()
    expected = axes_to_target(ArmConfig(), Q, stick_values(joy, cfg), linear_speed=1.2,
                              elbow_speed=1.5, dt=DT)
    np.testing.assert_allclose(joy_to_target(cfg, ArmConfig(), Q, joy, DT), expected)


def test_stick_up_moves_forward_and_left_moves_plus_y() -> None:
    """Left stick up moves the end effector +x; left stick left moves it +y."""
    arm = ArmConfig()
    ee0 = end_effector(arm, Q)
    forward = end_effector(arm, joy_to_target(JoyConfig(), arm, Q, xbox({1: 1.0}), DT)) - ee0
    left = end_effector(arm, joy_to_target(JoyConfig(), arm, Q, xbox({0: 1.0}), DT)) - ee0
    assert forward[0] > 0.02 and abs(forward[1]) < 0.3 * forward[0]
    assert left[1] > 0.02 and abs(left[0]) < 0.3 * left[1]


def test_elbow_axis_moves_joints_but_not_the_end_effector() -> None:
    """The right stick moves the arm in the null space: joints move, the tip stays."""
    arm = ArmConfig()
    target = joy_to_target(JoyConfig(), arm, Q, xbox({3: 1.0}), DT)
    assert np.max(np.abs(target - Q)) > 0.02
    assert np.linalg.norm(end_effector(arm, target) - end_effector(arm, Q)) < 5e-3


def test_centred_sticks_hold_the_measured_position() -> None:
    """With the sticks in the deadzone the target is the measured q."""
    target = joy_to_target(JoyConfig(), ArmConfig(), Q, xbox({0: 0.03, 1: -0.04}), DT)
    np.testing.assert_array_equal(target, Q)


def test_negative_scale_inverts_an_axis() -> None:
    """scale[0] < 0 moves the end effector -x for stick up."""
    arm = ArmConfig()
    cfg = replace(JoyConfig(), scale=(-1.2, 1.2, 1.5))
    motion = end_effector(arm, joy_to_target(cfg, arm, Q, xbox({1: 1.0}), DT))
    assert motion[0] < end_effector(arm, Q)[0] - 0.02


def test_joint_mode_drives_each_joint_at_its_scale_capped_at_max_speed() -> None:
    """Joint mode: axis_map[i] drives joint i at scale[i] rad/s, capped at max_joint_speed."""
    cfg = JoyConfig(teleop_mode='joint', axis_map=(0, 1, 4), scale=(1.0, -0.5, 3.0))
    arm = ArmConfig()
    target = joy_to_target(cfg, arm, Q, xbox({0: 1.0, 1: 1.0, 4: -1.0}), DT)
    np.testing.assert_allclose(target - Q, [1.0 * DT, -0.5 * DT, -arm.max_joint_speed * DT])


def test_bad_measured_position_raises() -> None:
    """A wrong-length or NaN measured q, or dt <= 0, is a JoyError (the arbiter then holds)."""
    with pytest.raises(JoyError):
        joy_to_target(JoyConfig(), ArmConfig(), Q[:2], xbox(), DT)
    with pytest.raises(JoyError):
        joy_to_target(JoyConfig(), ArmConfig(), np.array([0.0, np.nan, 0.0]), xbox(), DT)
    with pytest.raises(JoyError):
        joy_to_target(JoyConfig(), ArmConfig(), Q, xbox(), 0.0)
