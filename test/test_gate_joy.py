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
from imitation_ros.gate.arbiter import GateConfig
from imitation_ros.gate.joy import (apply_deadzone, JoyConfig, JoyError, JoyInput,
                                    joy_to_target, MAX_JOY_ENTRIES, parse_joy, stick_values,
                                    task_velocity)
from imitation_ros.gate.teleop import cap_speed, elbow_velocity
from imitation_ros.sim.arm import ArmConfig, end_effector, jacobian
import numpy as np
import pytest
from gate_fixtures import PANDA, PANDA_READY, PLANAR, PLANAR_JOY, teleop

Q = np.array([0.4, -0.8, 0.6])
DT = 0.05


def xbox(axes: dict[int, float] | None = None, pressed: tuple[int, ...] = ()) -> JoyInput:
    """Build a valid Xbox-layout Joy (8 axes, 11 buttons) with the given axes and buttons."""
    ax = [0.0] * 8
    for i, v in (axes or {}).items():
        ax[i] = v
    buttons = [1 if i in pressed else 0 for i in range(11)]
    return parse_joy(ax, buttons, JoyConfig())


def test_defaults_are_the_contract_and_teleop_twist_joy_s_xbox_layout() -> None:
    """LB deadman, B e-stop, start reset; left stick x (up) / y (left), right stick z, RB turns."""
    cfg = JoyConfig()
    assert (cfg.enable_button, cfg.estop_button, cfg.reset_button) == (4, 1, 7)
    assert cfg.teleop_mode == 'cartesian' and cfg.deadzone == 0.05
    assert cfg.axis_map == (1, 0, 4) and cfg.rotation_button == 5
    assert cfg.rotation_axis_map == (3, 1, 0)
    assert cfg.cartesian_task == ('linear_x', 'linear_y', 'linear_z', 'angular_x',
                                  'angular_y', 'angular_z')
    assert cfg.null_space == 'takeover' and cfg.elbow_axis == 3
    assert cfg.min_axes == 5 and cfg.min_buttons == 8
    joint = JoyConfig(teleop_mode='joint')
    assert joint.axes == (1,) and set(joint.buttons.values()) == {0, 1, 2, 3, 4, 5, 7}


@pytest.mark.parametrize('changes', [
    {'enable_button': 1},
    {'reset_button': 4},
    {'estop_button': -1},
    {'gripper_open_button': 4},
    {'rotation_button': 3},
    {'teleop_mode': 'joint', 'next_joint_button': 4},
    {'teleop_mode': 'twist'},
    {'null_space': 'free'},
    {'axis_map': (1, 0)},
    {'axis_map': (1, 0, -3)},
    {'axis_map': (1, 1, 4)},
    {'axis_map': (1, 0, 3)},  # the elbow's axis
    {'scale': (1.0, 1.0)},
    {'scale': (1.0, float('nan'), 1.0)},
    {'cartesian_task': ('linear_x', 'linear_y', 'w')},
    {'cartesian_task': ('linear_x', 'linear_x')},
    {'cartesian_task': ('linear_x', 'linear_y')},  # axis_map drives z, the task leaves it free
    {'rest_posture': (float('nan'),)},
    {'posture_gain': -1.0},
    {'joint_axis': -1},
    {'deadzone': 1.0},
    {'deadzone': -0.1},
])
def test_bad_config_raises_config_error(changes: dict) -> None:
    """Clashing buttons or axes, unknown modes or components, bad numbers are refused."""
    with pytest.raises(ConfigError):
        JoyConfig(**changes)


def test_the_mapping_is_checked_against_the_arm() -> None:
    """null_space elbow needs one joint more than task components; rest one value per joint."""
    PLANAR_JOY.check_robot(3)
    with pytest.raises(ConfigError, match='one joint more'):
        PLANAR_JOY.check_robot(7)
    JoyConfig().check_robot(7)
    with pytest.raises(ConfigError, match='rest_posture'):
        JoyConfig(null_space='rest').check_robot(7)
    JoyConfig(null_space='rest', rest_posture=tuple(PANDA_READY)).check_robot(7)
    assert JoyConfig().elbow_used(7) and not JoyConfig().elbow_used(6)
    assert PLANAR_JOY.elbow_used(3)


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
    assert short.stick_problem(PLANAR_JOY) == '', 'its sticks need no button'
    assert 'rotation button' in short.stick_problem(JoyConfig())
    odd = parse_joy([0.0] * 8, [0, 'x', 1.0, 0, 1] + [0] * 6, JoyConfig())
    assert odd.button(1) is None and odd.button(2) is None and odd.button(4) is True
    few = parse_joy([0.0, 0.0], [0] * 11, JoyConfig())
    assert 'the stick mapping uses axis 4' in few.stick_problem(JoyConfig())
    no_rotation = parse_joy([0.0] * 8, [0, 0, 0, 0, 1, None] + [0] * 5, JoyConfig())
    assert 'rotation button 5 unreadable' in no_rotation.stick_problem(JoyConfig())
    assert no_rotation.stick_problem(PLANAR_JOY) == '', 'no rotation button in that mapping'
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


def test_stick_values_follow_the_mapping_and_the_rotation_button() -> None:
    """Without RB the sticks are (x, y, z) and the elbow; with RB held, (roll, pitch, yaw)."""
    cfg = JoyConfig()
    joy = xbox({0: 0.5, 1: -1.0, 3: 0.02, 4: 0.9})
    sticks = stick_values(joy, cfg)
    np.testing.assert_allclose(sticks.linear, [-1.0, 0.45 / 0.95, 0.85 / 0.95])
    assert not np.any(sticks.angular) and sticks.elbow == 0.0 and sticks.moving
    turning = stick_values(xbox({0: 0.5, 1: -1.0, 3: 1.0, 4: 0.9}, pressed=(5,)), cfg)
    np.testing.assert_allclose(turning.angular, [1.0, -1.0, 0.45 / 0.95])
    assert not np.any(turning.linear) and turning.elbow == 0.0
    assert not stick_values(xbox({0: 0.03}), cfg).moving


def test_task_velocity_scales_each_stick_and_holds_the_rest() -> None:
    """Driven components get stick times scale; the others of the task are held at 0."""
    cfg = JoyConfig(scale=(0.2, -0.1, 0.3))
    v = task_velocity(cfg, stick_values(xbox({1: 1.0, 0: 1.0, 4: -0.5}), cfg))
    np.testing.assert_allclose(v, [0.2, -0.1, -0.3 * 0.45 / 0.95, 0.0, 0.0, 0.0])
    v = task_velocity(cfg, stick_values(xbox({3: 1.0, 1: 0.5}, pressed=(5,)), cfg))
    np.testing.assert_allclose(v, [0.0, 0.0, 0.0, 0.5, 0.5 * 0.45 / 0.95, 0.0])


def test_planar_mapping_is_the_operator_s_inverse() -> None:
    """Planar mapping: x, y through damped least squares, the elbow along the null space."""
    cfg = GateConfig(robot=PLANAR, joy=PLANAR_JOY)
    joy = xbox({0: 0.3, 1: 0.7, 3: -0.4})
    sticks = stick_values(joy, PLANAR_JOY)
    jac = PLANAR.jacobian(Q)[:2]
    qdot = elbow_velocity(jac, sticks.linear[:2] * 1.2, float(sticks.elbow) * 1.5)
    expected = Q + cap_speed(qdot, cfg.max_joint_speed) * cfg.dt
    np.testing.assert_allclose(teleop(cfg, Q, joy), expected, atol=1e-12)
    np.testing.assert_allclose(jac, jacobian(ArmConfig(), Q), atol=1e-9)


def test_stick_up_moves_forward_and_left_moves_plus_y() -> None:
    """Left stick up moves the planar end effector +x; left stick left moves it +y."""
    arm = ArmConfig()
    cfg = GateConfig(robot=PLANAR, joy=PLANAR_JOY)
    ee0 = end_effector(arm, Q)
    forward = end_effector(arm, teleop(cfg, Q, xbox({1: 1.0}))) - ee0
    left = end_effector(arm, teleop(cfg, Q, xbox({0: 1.0}))) - ee0
    assert forward[0] > 0.02 and abs(forward[1]) < 0.3 * forward[0]
    assert left[1] > 0.02 and abs(left[0]) < 0.3 * left[1]


def test_elbow_axis_moves_joints_but_not_the_end_effector() -> None:
    """The right stick moves the planar arm in the null space: joints move, the tip stays."""
    arm = ArmConfig()
    target = teleop(GateConfig(robot=PLANAR, joy=PLANAR_JOY), Q, xbox({3: 1.0}))
    assert np.max(np.abs(target - Q)) > 0.02
    assert np.linalg.norm(end_effector(arm, target) - end_effector(arm, Q)) < 5e-3


def test_centred_sticks_hold_the_measured_position() -> None:
    """With the sticks in the deadzone the target is the measured q (both mappings)."""
    for cfg, q in ((GateConfig(robot=PLANAR, joy=PLANAR_JOY), Q),
                   (GateConfig(robot=PANDA), PANDA_READY)):
        target = teleop(cfg, q, xbox({0: 0.03, 1: -0.04}), rest=q)
        np.testing.assert_array_equal(target, q)


def test_negative_scale_inverts_an_axis() -> None:
    """scale[0] < 0 moves the end effector -x for stick up."""
    arm = ArmConfig()
    cfg = GateConfig(robot=PLANAR, joy=replace(PLANAR_JOY, scale=(-1.2, 1.2, 1.2)))
    motion = end_effector(arm, teleop(cfg, Q, xbox({1: 1.0})))
    assert motion[0] < end_effector(arm, Q)[0] - 0.02


def test_joint_mode_drives_the_selected_joint_capped_at_max_speed() -> None:
    """Joint mode: the joint axis drives the selected joint at joint_speed, capped."""
    cfg = GateConfig(robot=PANDA, joy=JoyConfig(teleop_mode='joint', joint_speed=-0.5))
    target = teleop(cfg, PANDA_READY, xbox({1: 1.0}), joint=3)
    expected = PANDA_READY.copy()
    expected[3] -= 0.5 * cfg.dt
    np.testing.assert_allclose(target, expected)
    fast = replace(cfg, joy=JoyConfig(teleop_mode='joint', joint_speed=20.0))
    target = teleop(fast, PANDA_READY, xbox({1: -1.0}), joint=6)
    assert target[6] == pytest.approx(PANDA_READY[6] - fast.max_joint_speed * fast.dt)
    with pytest.raises(JoyError, match='joint index 7'):
        teleop(cfg, PANDA_READY, xbox({1: 1.0}), joint=7)


def test_bad_measured_position_raises() -> None:
    """A wrong-length or NaN measured q, or dt <= 0, is a JoyError (the arbiter then holds)."""
    cfg = GateConfig(robot=PLANAR, joy=PLANAR_JOY)
    with pytest.raises(JoyError):
        teleop(cfg, Q[:2], xbox())
    with pytest.raises(JoyError):
        teleop(cfg, np.array([0.0, np.nan, 0.0]), xbox())
    with pytest.raises(JoyError):
        joy_to_target(PLANAR_JOY, PLANAR, Q, xbox(), 0.0, max_joint_speed=2.0,
                      lower=PLANAR.lower, upper=PLANAR.upper)
