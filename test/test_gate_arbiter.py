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

"""The arbitration state machine: takeover, e-stop, timeouts, stale and invalid actions, clamps."""

from __future__ import annotations

from dataclasses import replace
from typing import Optional

from imitation_ros.errors import ConfigError
from imitation_ros.gate.arbiter import Arbiter, GateConfig, GateMode, GateOutput
from imitation_ros.gate.joy import JoyConfig, JoyInput, parse_joy
import numpy as np
import pytest
from gate_fixtures import PLANAR, PLANAR_JOY, teleop

Q = np.array([0.4, -0.8, 0.6])
#: The tests of the other inputs tick seconds apart without new joint states; the joint
#: state timeout has tests of its own (test_gate_properties.py too) with the default.
CFG = GateConfig(robot=PLANAR, joy=PLANAR_JOY, state_timeout_s=1000.0)
#: The planar arm with the gate's defaults.
DEFAULT = GateConfig(robot=PLANAR, joy=PLANAR_JOY)
DEADMAN, ESTOP, RESET = 4, 1, 7


def joy(*pressed: int, axes: dict[int, float] | None = None) -> JoyInput:
    """Build a valid Xbox-layout Joy with ``pressed`` buttons and the given axes."""
    ax = [0.0] * 8
    for i, v in (axes or {}).items():
        ax[i] = v
    return parse_joy(ax, [1 if i in pressed else 0 for i in range(11)], JoyConfig())


def running(action_offset: float = 0.05) -> Arbiter:
    """Return an arbiter at t=0 with a measured state and a fresh valid policy action."""
    arb = Arbiter(CFG)
    arb.on_joint_state(Q, 0.0)
    arb.on_policy_action(Q + action_offset, 0.0, 'v3')
    return arb


def tick(arb: Arbiter, now: float) -> GateOutput:
    """Tick and assert that there is an output."""
    out = arb.tick(now)
    assert out is not None
    return out


def test_no_output_before_the_first_joint_state() -> None:
    """Before any joint state there is nothing safe to send: tick returns None."""
    arb = Arbiter(CFG)
    arb.on_policy_action(Q, 0.0)
    arb.on_joy(joy(DEADMAN), 0.0)
    assert arb.tick(0.01) is None and not arb.has_state
    arb.on_joint_state(Q, 0.02)
    assert tick(arb, 0.03).mode is GateMode.HUMAN


def test_hold_before_the_first_policy_action() -> None:
    """With a state but no action yet the gate holds at the measured q."""
    arb = Arbiter(CFG)
    arb.on_joint_state(Q, 0.0)
    out = tick(arb, 0.0)
    assert out.mode is GateMode.HOLD_STALE_POLICY and out.source == 'hold'
    assert 'no policy action' in out.reason
    np.testing.assert_array_equal(out.command, Q)


def test_policy_action_passes_through() -> None:
    """A fresh valid action within the limits is sent unchanged, labelled policy."""
    out = tick(running(), 0.05)
    np.testing.assert_array_equal(out.command, Q + 0.05)
    assert (out.mode, out.source, out.reason) == (GateMode.POLICY, 'policy', '')
    assert not out.intervention and not out.estop and not out.clamped
    assert out.model_version == 'v3'


def test_policy_action_is_clamped_to_max_step_and_limits() -> None:
    """A far target moves at most max_joint_step; beyond the limits it stops at the margin."""
    arb = running()
    arb.on_policy_action(Q + np.array([0.5, -0.5, 0.03]), 0.0)
    out = tick(arb, 0.01)
    np.testing.assert_allclose(out.command, Q + np.array([0.1, -0.1, 0.03]))
    assert out.clamped and out.source == 'policy'
    near = np.array([2.15, -2.75, 0.0])
    arb.on_joint_state(near, 0.02)
    arb.on_policy_action(np.array([3.0, -3.0, 0.0]), 0.02)
    out = tick(arb, 0.03)
    np.testing.assert_allclose(out.command, [2.2 - 0.02, -2.8 + 0.02, 0.0])
    assert out.clamped and arb.counts['clamped_commands'] == 2


def test_stale_policy_holds_at_measured_and_never_repeats_the_target() -> None:
    """No action for cmd_timeout_s: hold at the measured q (not the old target) until a new one."""
    arb = running(0.05)
    assert tick(arb, 0.2).mode is GateMode.POLICY
    arb.on_joint_state(Q + 0.02, 0.2)
    for now in (0.26, 0.5, 3.0):
        out = tick(arb, now)
        assert out.mode is GateMode.HOLD_STALE_POLICY and 'old' in out.reason
        np.testing.assert_array_equal(out.command, Q + 0.02)
        assert not np.allclose(out.command, Q + 0.05)
    arb.on_policy_action(Q + 0.04, 3.1)
    out = tick(arb, 3.12)
    assert out.mode is GateMode.POLICY
    np.testing.assert_allclose(out.command, Q + 0.04)


def test_hold_is_latched_and_does_not_follow_a_sagging_arm() -> None:
    """
    During a hold the command stays at the first hold position while the measured q drifts.

    An arm moved farther than max_joint_step from the latch (a reset, a hand) is held
    where it is measured, never driven back toward the old latch.
    """
    arb = running(0.05)
    arb.on_joint_state(Q + 0.02, 0.2)
    first = tick(arb, 0.3).command
    np.testing.assert_array_equal(first, Q + 0.02)
    for i in range(1, 6):
        arb.on_joint_state(Q + 0.02 - 0.01 * i, 0.3 + 0.05 * i)
        np.testing.assert_array_equal(tick(arb, 0.3 + 0.05 * i).command, first)
    assert arb.counts['hold_relatches'] == 0
    arb.on_joint_state(Q - 0.3, 0.7)
    out = tick(arb, 0.7)
    np.testing.assert_allclose(out.command, Q - 0.3)
    assert not out.clamped and arb.counts['hold_relatches'] == 1
    arb.on_joint_state(Q, 0.8)
    arb.on_policy_action(Q + 0.01, 0.8)
    assert tick(arb, 0.8).mode is GateMode.POLICY
    arb.on_joint_state(Q + 0.01, 0.9)
    arb.on_joy(joy(ESTOP), 0.9)
    np.testing.assert_allclose(tick(arb, 0.9).command, Q + 0.01)


def test_centred_sticks_hold_and_moving_sticks_integrate_from_measured() -> None:
    """In a takeover, centred sticks hold the takeover position; a push moves from measured q."""
    arb = running()
    arb.on_joy(joy(DEADMAN), 0.0)
    np.testing.assert_array_equal(tick(arb, 0.0).command, Q)
    arb.on_joint_state(Q - 0.01, 0.01)
    arb.on_joy(joy(DEADMAN), 0.01)
    out = tick(arb, 0.01)
    assert out.source == 'human' and out.intervention
    np.testing.assert_array_equal(out.command, Q)
    push = joy(DEADMAN, axes={1: 1.0})
    arb.on_joy(push, 0.02)
    np.testing.assert_allclose(tick(arb, 0.02).command,
                               teleop(CFG, Q - 0.01, push))


@pytest.mark.parametrize('bad', [
    np.array([0.1, np.nan, 0.2]), np.array([np.inf, 0.0, 0.0]), np.array([0.1, 0.2]),
    np.zeros(4), 'not numbers'])
def test_invalid_policy_action_holds_until_a_valid_one(bad: object) -> None:
    """A NaN, Inf or wrong-length action holds (never reuses the older valid one)."""
    arb = running(0.05)
    assert arb.on_policy_action(bad, 0.1) is False
    out = tick(arb, 0.11)
    assert out.mode is GateMode.HOLD_INVALID_POLICY and out.source == 'hold'
    assert 'rejected' in out.reason and np.all(np.isfinite(out.command))
    np.testing.assert_array_equal(out.command, Q)
    assert arb.counts['invalid_policy_actions'] == 1
    assert arb.on_policy_action(Q - 0.03, 0.12) is True
    out = tick(arb, 0.13)
    assert out.mode is GateMode.POLICY
    np.testing.assert_allclose(out.command, Q - 0.03)


def test_takeover_drives_from_the_measured_position() -> None:
    """Deadman + stick: the human command is the teleop target from the measured q."""
    arb = running()
    stick = joy(DEADMAN, axes={1: 0.8, 3: -0.2})
    arb.on_joy(stick, 0.0)
    out = tick(arb, 0.01)
    expected = teleop(CFG, Q, stick)
    np.testing.assert_allclose(out.command, expected)
    assert (out.mode, out.source) == (GateMode.HUMAN, 'human') and out.intervention
    moved = Q + np.array([0.01, 0.02, -0.01])
    arb.on_joint_state(moved, 0.02)
    arb.on_joy(stick, 0.03)
    out = tick(arb, 0.04)
    np.testing.assert_allclose(out.command,
                               teleop(CFG, moved, stick))
    assert arb.counts['takeovers'] == 1


def test_no_policy_command_after_a_takeover_joy() -> None:
    """Once a deadman Joy arrived, later policy actions are never output until release."""
    arb = running()
    arb.on_joy(joy(DEADMAN), 0.0)
    assert arb.human_in_control(0.0)
    distinctive = Q + np.array([0.07, -0.07, 0.07])
    now = 0.0
    for _ in range(20):
        now += 0.01
        arb.on_policy_action(distinctive, now)
        arb.on_joy(joy(DEADMAN), now)
        out = tick(arb, now)
        assert out.source == 'human' and not np.allclose(out.command, distinctive)
    arb.on_joy(joy(), now)
    assert not arb.human_in_control(now)
    out = tick(arb, now + 0.01)
    assert out.mode is GateMode.POLICY and not out.intervention
    np.testing.assert_allclose(out.command, distinctive)


def test_release_returns_to_policy_only_with_a_fresh_action() -> None:
    """After release the policy resumes if its action is fresh; an old action means hold."""
    arb = running()
    arb.on_joy(joy(DEADMAN), 0.0)
    arb.on_joy(joy(DEADMAN), 0.1)
    arb.on_joy(joy(DEADMAN), 0.2)
    arb.on_joy(joy(), 0.3)
    out = tick(arb, 0.3)
    assert out.mode is GateMode.HOLD_STALE_POLICY
    np.testing.assert_array_equal(out.command, Q)


def test_estop_latches_until_reset() -> None:
    """E-stop holds (also over the deadman) until reset with the e-stop button released."""
    arb = running()
    arb.on_joy(joy(ESTOP), 0.0)
    arb.on_joy(joy(), 0.01)
    arb.on_policy_action(Q + 0.05, 0.02)
    out = tick(arb, 0.02)
    assert out.mode is GateMode.ESTOP and out.estop and out.source == 'hold'
    np.testing.assert_array_equal(out.command, Q)
    arb.on_joy(joy(DEADMAN), 0.03)
    out = tick(arb, 0.03)
    assert out.mode is GateMode.ESTOP and not out.intervention
    assert not arb.human_in_control(0.03)
    arb.on_joy(joy(DEADMAN, ESTOP, RESET), 0.04)
    assert tick(arb, 0.04).mode is GateMode.ESTOP, 'reset while e-stop is held must not clear'
    arb.on_joy(joy(DEADMAN, RESET), 0.05)
    out = tick(arb, 0.05)
    assert out.mode is GateMode.HUMAN and not out.estop
    arb.on_joy(joy(), 0.06)
    arb.on_policy_action(Q + 0.05, 0.06)
    assert tick(arb, 0.07).mode is GateMode.POLICY
    assert arb.counts['estops'] == 1


def test_estop_without_any_takeover() -> None:
    """The e-stop works in policy mode; a reset with no latch changes nothing."""
    arb = running()
    arb.on_joy(joy(RESET), 0.0)
    assert tick(arb, 0.01).mode is GateMode.POLICY
    arb.on_joy(joy(ESTOP), 0.02)
    assert arb.estop and tick(arb, 0.03).mode is GateMode.ESTOP
    arb.on_joy(joy(RESET), 0.04)
    arb.on_policy_action(Q, 0.04)
    assert not arb.estop and tick(arb, 0.05).mode is GateMode.POLICY


def test_joy_timeout_latches_hold_until_release_and_repress() -> None:
    """No Joy for joy_timeout_s in a takeover: hold; a deadman Joy keeps it; release clears it."""
    arb = running()
    arb.on_joy(joy(DEADMAN), 0.0)
    assert tick(arb, 0.15).mode is GateMode.HUMAN
    out = tick(arb, 0.25)
    assert out.mode is GateMode.HOLD_JOY_LOST and out.source == 'hold'
    assert not out.intervention and 'release the deadman' in out.reason
    np.testing.assert_array_equal(out.command, Q)
    arb.on_joy(joy(DEADMAN, axes={1: 1.0}), 0.3)
    assert tick(arb, 0.31).mode is GateMode.HOLD_JOY_LOST, 'latched: still holding'
    arb.on_policy_action(Q + 0.05, 0.32)
    arb.on_joy(joy(), 0.33)
    assert tick(arb, 0.34).mode is GateMode.POLICY
    arb.on_joy(joy(DEADMAN), 0.35)
    assert tick(arb, 0.36).mode is GateMode.HUMAN
    assert arb.counts['joy_losses'] == 1 and arb.counts['takeovers'] == 2


def test_joy_gap_latches_even_without_a_tick_in_between() -> None:
    """A late Joy after a gap longer than joy_timeout_s latches the hold by itself."""
    arb = running()
    arb.on_joy(joy(DEADMAN), 0.0)
    arb.on_joy(joy(DEADMAN), 0.5)
    assert not arb.human_in_control(0.5)
    assert tick(arb, 0.5).mode is GateMode.HOLD_JOY_LOST


def test_no_joy_is_fine_outside_a_takeover() -> None:
    """The policy needs no Joy: silence of the pad outside a takeover changes nothing."""
    arb = running()
    arb.on_joy(joy(), 0.0)
    arb.on_policy_action(Q + 0.05, 1.0)
    assert tick(arb, 1.0).mode is GateMode.POLICY


def test_hold_is_clamped_into_the_limits() -> None:
    """A measured q past a limit is held at the limit minus the margin (finite, inside)."""
    arb = Arbiter(CFG)
    arb.on_joint_state(np.array([2.25, 0.0, -2.79]), 0.0)
    out = tick(arb, 0.0)
    np.testing.assert_allclose(out.command, [2.18, 0.0, -2.78])
    assert out.clamped


def test_measured_q_beyond_a_limit_is_led_back_by_at_most_max_joint_step() -> None:
    """Measured 0.3 rad past a limit: every command is max_joint_step toward it, never a jump."""
    arb = Arbiter(CFG)
    q = np.array([2.5, 0.0, -3.0])
    arb.on_joint_state(q, 0.0)
    arb.on_policy_action(np.array([2.0, 0.0, -2.0]), 0.0)
    out = tick(arb, 0.0)
    np.testing.assert_allclose(out.command, [2.4, 0.0, -2.9])
    assert out.clamped and out.mode is GateMode.POLICY
    hold = Arbiter(CFG)
    now = 0.0
    for _ in range(10):
        hold.on_joint_state(q, now)
        command = tick(hold, now).command
        assert np.max(np.abs(command - q)) <= CFG.max_joint_step + 1e-12
        q, now = command, now + 0.05  # a perfect position controller
    np.testing.assert_allclose(q, [2.18, 0.0, -2.78])


def test_stale_joint_state_holds_at_the_last_measured_position() -> None:
    """No joint state for state_timeout_s: hold at the last q, policy fresh or not; then resume."""
    arb = Arbiter(DEFAULT)
    assert DEFAULT.state_timeout_s == 0.25
    arb.on_joint_state(Q, 0.0)
    now = 0.0
    for _ in range(5):
        arb.on_policy_action(Q + 0.05, now)
        assert tick(arb, now).mode is GateMode.POLICY
        now += 0.05
    arb.on_policy_action(Q + 0.07, 0.3)
    out = tick(arb, 0.3)
    assert out.mode is GateMode.HOLD_STALE_STATE and out.source == 'hold'
    assert 'state_timeout_s' in out.reason and '0.3 s old' in out.reason
    np.testing.assert_array_equal(out.command, Q)
    for t in (0.35, 1.0, 2.0):
        arb.on_policy_action(Q + 0.07, t)
        np.testing.assert_array_equal(tick(arb, t).command, Q)
    assert arb.counts['state_timeouts'] == 1
    arb.on_joint_state(Q + 0.01, 2.01)
    out = tick(arb, 2.02)
    assert out.mode is GateMode.POLICY
    np.testing.assert_allclose(out.command, Q + 0.07)


def test_stale_joint_state_holds_a_takeover_too() -> None:
    """During a takeover a stale q holds (no teleop from an old position); fresh q resumes."""
    arb = Arbiter(replace(DEFAULT, joy_timeout_s=5.0))
    arb.on_joint_state(Q, 0.0)
    arb.on_joy(joy(DEADMAN, axes={1: 1.0}), 0.0)
    assert tick(arb, 0.0).mode is GateMode.HUMAN
    arb.on_joy(joy(DEADMAN, axes={1: 1.0}), 0.5)
    assert not arb.human_in_control(0.5)
    out = tick(arb, 0.5)
    assert out.mode is GateMode.HOLD_STALE_STATE and not out.intervention
    np.testing.assert_array_equal(out.command, Q)
    arb.on_joint_state(Q, 0.6)
    assert tick(arb, 0.6).mode is GateMode.HUMAN and arb.human_in_control(0.6)


def test_rejected_joint_states_go_stale() -> None:
    """Only valid joint states refresh the measured q: NaN states alone end in a stale hold."""
    arb = Arbiter(DEFAULT)
    arb.on_joint_state(Q, 0.0)
    for now in (0.1, 0.2, 0.3):
        arb.on_joint_state([np.nan, 0.0, 0.0], now)
        arb.on_policy_action(Q + 0.05, now)
    assert tick(arb, 0.3).mode is GateMode.HOLD_STALE_STATE


def test_estop_latches_from_a_joy_with_unreadable_axes() -> None:
    """An e-stop press in a Joy with a NaN, out-of-range or missing axis still latches."""
    for axes in ([0.0, 0.0, float('nan')] + [0.0] * 5, [3.0] + [0.0] * 7, [0.0, 0.0]):
        arb = running()
        arb.on_joy(parse_joy(axes, [1 if i == ESTOP else 0 for i in range(11)], JoyConfig()),
                   0.0)
        for now in (0.01, 0.02):
            arb.on_policy_action(Q + 0.05, now)
            out = tick(arb, now)
            assert out.mode is GateMode.ESTOP and out.estop, axes
            np.testing.assert_array_equal(out.command, Q)


def test_estop_latches_from_a_short_buttons_array() -> None:
    """Buttons that end after the e-stop's index: a readable press latches, reset needs both."""
    arb = running()
    arb.on_joy(parse_joy([0.0] * 8, [0, 1], JoyConfig()), 0.0)
    assert tick(arb, 0.01).mode is GateMode.ESTOP
    arb.on_joy(parse_joy([0.0] * 8, [0, 0, 0, 0, 0, 0, 0, 1], JoyConfig()), 0.02)
    assert not arb.estop, 'reset pressed with the e-stop readable and released'
    arb.on_joy(parse_joy([0.0] * 8, [0, 1], JoyConfig()), 0.03)
    arb.on_joy(parse_joy([0.0] * 8, [0, None, 0, 0, 0, 0, 0, 1], JoyConfig()), 0.04)
    assert arb.estop, 'a reset with the e-stop unreadable does not clear'


@pytest.mark.parametrize('axes', [
    [0.0, 1.0, 0.0, float('nan')] + [0.0] * 4,
    [0.0, 1.0, 0.0, 0.0, 0.0, float('inf'), 0.0, 0.0],
    [0.0, 1.0, 0.0, 1.5] + [0.0] * 4,
    [0.0, 1.0],
])
def test_unreadable_axis_under_deadman_holds_neither_moves_nor_returns_to_policy(
        axes: list) -> None:
    """Deadman held with a bad axis (mapped or not): hold at the takeover q, no policy."""
    arb = running()
    arb.on_joy(joy(DEADMAN, axes={1: 1.0}), 0.0)
    assert not np.allclose(tick(arb, 0.0).command, Q)
    arb.on_joint_state(Q + 0.01, 0.01)
    arb.on_joy(parse_joy(axes, [1 if i == DEADMAN else 0 for i in range(11)], JoyConfig()),
               0.02)
    assert not arb.human_in_control(0.02)
    for now in (0.02, 0.05, 0.1):
        arb.on_policy_action(Q + 0.05, now)
        out = tick(arb, now)
        assert out.mode is GateMode.HOLD_INVALID_JOY and out.source == 'hold'
        assert 'unreadable' in out.reason or 'stick mapping' in out.reason
        assert not out.intervention
        np.testing.assert_array_equal(out.command, Q + 0.01)
    arb.on_joy(joy(DEADMAN), 0.12)
    assert tick(arb, 0.12).mode is GateMode.HUMAN
    arb.on_joy(joy(), 0.13)
    assert tick(arb, 0.13).mode is GateMode.POLICY


def test_unreadable_deadman_neither_takes_over_nor_ends_a_takeover() -> None:
    """A Joy lacking the deadman: no takeover; during one, hold, then joy lost until release."""
    cfg = replace(CFG, joy_timeout_s=0.2)
    arb = Arbiter(cfg)
    arb.on_joint_state(Q, 0.0)
    arb.on_policy_action(Q + 0.05, 0.0)
    short = parse_joy([0.0] * 8, [0, 0], JoyConfig())
    arb.on_joy(short, 0.0)
    assert tick(arb, 0.0).mode is GateMode.POLICY
    arb.on_joy(joy(DEADMAN), 0.01)
    arb.on_joy(short, 0.02)
    arb.on_policy_action(Q + 0.05, 0.02)
    out = tick(arb, 0.02)
    assert out.mode is GateMode.HOLD_INVALID_JOY and 'deadman' in out.reason
    for now in (0.1, 0.2, 0.3):
        arb.on_joy(short, now)
        arb.on_policy_action(Q + 0.05, now)
    assert tick(arb, 0.3).mode is GateMode.HOLD_JOY_LOST
    arb.on_joy(joy(), 0.31)
    assert tick(arb, 0.31).mode is GateMode.POLICY
    assert arb.counts['malformed_joy'] == 5


def test_bad_joint_state_is_ignored_and_counted() -> None:
    """A NaN or wrong-length joint state is refused; the last known q stays in use."""
    arb = running()
    assert arb.on_joint_state([np.nan, 0.0, 0.0], 0.01) is False
    assert arb.on_joint_state([0.0, 0.0], 0.01) is False
    assert arb.counts['rejected_joint_states'] == 2
    np.testing.assert_array_equal(arb.measured, Q)
    np.testing.assert_allclose(tick(arb, 0.02).command, Q + 0.05)


def test_model_version_is_kept_when_an_action_has_none() -> None:
    """An action without a version keeps the last known one."""
    arb = running()
    arb.on_policy_action(Q, 0.01)
    assert tick(arb, 0.02).model_version == 'v3'
    arb.on_policy_action(Q, 0.03, 'v4')
    assert tick(arb, 0.04).model_version == 'v4' and arb.model_version == 'v4'


def test_joint_mode_drives_the_joint_the_buttons_select() -> None:
    """Joint mode: the stick drives one joint; next / previous presses select it, wrapping."""
    jcfg = JoyConfig(teleop_mode='joint', joint_speed=0.4)
    arb = Arbiter(replace(CFG, joy=jcfg))
    arb.on_joint_state(Q, 0.0)
    nxt, prev = jcfg.next_joint_button, jcfg.previous_joint_button
    for now, pressed, joint in ((0.0, (), 0), (0.1, (nxt,), 1), (0.2, (nxt,), 1),
                                (0.3, (), 1), (0.4, (nxt,), 2), (0.5, (), 2), (0.6, (nxt,), 0),
                                (0.7, (nxt,), 0), (0.8, (), 0), (0.9, (prev,), 2)):
        # A held button selects once: at 0.2 and 0.7 it is still held from the tick before.
        arb.on_joy(joy(DEADMAN, *pressed, axes={1: -1.0}), now)
        out = tick(arb, now)
        assert arb.selected_joint == joint, now
        step = np.zeros(3)
        step[joint] = -0.4 * CFG.dt
        np.testing.assert_allclose(out.command, Q + step)


def test_joint_selection_ignores_unreadable_buttons() -> None:
    """An unreadable next button neither selects nor forgets that it was held."""
    jcfg = JoyConfig(teleop_mode='joint')
    arb = Arbiter(replace(CFG, joy=jcfg))
    arb.on_joint_state(Q, 0.0)
    nxt = jcfg.next_joint_button
    buttons = [0] * 11
    buttons[DEADMAN] = buttons[nxt] = 1
    arb.on_joy(parse_joy([0.0] * 8, buttons, jcfg), 0.0)
    assert arb.selected_joint == 1
    buttons[nxt] = None
    arb.on_joy(parse_joy([0.0] * 8, buttons, jcfg), 0.05)
    buttons[nxt] = 1
    arb.on_joy(parse_joy([0.0] * 8, buttons, jcfg), 0.1)
    assert arb.selected_joint == 1, 'a press held through an unreadable reading is one press'


@pytest.mark.parametrize('changes', [
    {'rate_hz': 0.0}, {'cmd_timeout_s': -1.0}, {'joy_timeout_s': float('nan')},
    {'max_joint_step': 0.0}, {'limit_margin': -0.01}, {'limit_margin': 2.5},
    {'joy': JoyConfig(null_space='elbow')}, {'joy': JoyConfig(null_space='rest')},
    {'beta': -0.1}, {'beta': 1.5}, {'beta': float('nan')}, {'beta_seed': -1},
    {'expert_timeout_s': 0.0}, {'uncertainty_timeout_s': -1.0}, {'help_threshold': -0.5},
    {'help_threshold': float('inf')}, {'help_release_s': -0.1},
])
def test_bad_gate_config_raises(changes: dict) -> None:
    """Non-positive rates and timeouts, bad margins and mismatched joint maps are refused."""
    with pytest.raises(ConfigError):
        replace(CFG, **changes)


@pytest.mark.parametrize('cfg', [CFG, replace(CFG, beta=0.5, help_threshold=1.0)],
                         ids=['hg_dagger', 'beta_and_help'])
def test_random_event_sequences_keep_every_invariant(cfg: GateConfig) -> None:
    """Random inputs: commands stay finite, inside limits, within max step; takeover blocks."""
    rng = np.random.default_rng(7)
    lo, hi = PLANAR.lower + CFG.limit_margin, PLANAR.upper - CFG.limit_margin
    for _ in range(20):
        arb = Arbiter(cfg)
        now = 0.0
        q = rng.uniform(lo, hi)
        deadman_held = False
        arb.on_joint_state(q, now)
        for _ in range(300):
            now += float(rng.uniform(0.0, 0.12))
            event = rng.integers(0, 6)
            if event == 4:
                expert = q + rng.normal(0, 0.3, 3)
                if rng.random() < 0.1:
                    expert[rng.integers(0, 3)] = np.inf
                arb.on_expert_action(expert, now)
            elif event == 5:
                arb.on_uncertainty(float(rng.exponential(0.7)), now)
            if event == 0:
                q = np.clip(q + rng.normal(0, 0.05, 3), lo, hi)
                arb.on_joint_state(q, now)
            elif event == 1:
                action = q + rng.normal(0, 0.3, 3)
                if rng.random() < 0.1:
                    action[rng.integers(0, 3)] = np.nan
                arb.on_policy_action(action, now)
            elif event == 2:
                pressed = tuple(b for b in (DEADMAN, ESTOP, RESET) if rng.random() < 0.4)
                axes = {i: float(rng.uniform(-1, 1)) for i in (0, 1, 3)}
                arb.on_joy(joy(*pressed, axes=axes), now)
                deadman_held = DEADMAN in pressed
            out = tick(arb, now)
            assert out.command.shape == (3,) and np.all(np.isfinite(out.command))
            assert np.all(out.command >= lo - 1e-12) and np.all(out.command <= hi + 1e-12)
            assert np.max(np.abs(out.command - q)) <= CFG.max_joint_step + 1e-12
            assert out.intervention == (out.mode is GateMode.HUMAN)
            if deadman_held:
                assert out.source not in ('policy', 'expert'), 'no policy/expert under deadman'
                assert not out.help_request, 'a takeover answers the help request'
            if out.help_request and not out.estop:
                assert out.mode is GateMode.HOLD_HELP
            if out.source == 'expert':
                assert cfg.beta > 0
            if out.estop:
                assert out.mode is GateMode.ESTOP


# --- beta-mixing (DAgger) ----------------------------------------------------------------

EXPERT_Q = Q + np.array([-0.04, 0.03, -0.02])


def mixing(beta: float, seed: int = 0) -> Arbiter:
    """Return an arbiter with a measured state, a fresh expert action and ``beta``."""
    arb = Arbiter(replace(CFG, beta=beta, beta_seed=seed))
    arb.on_joint_state(Q, 0.0)
    arb.on_expert_action(EXPERT_Q, 0.0)
    return arb


def decisions(arb: Arbiter, n: int, *, dt: float = 0.05, expert: bool = True) -> list[str]:
    """Feed ``n`` policy actions (and expert actions), tick once after each; return sources."""
    sources = []
    now = 0.0
    for _ in range(n):
        now += dt
        if expert:
            arb.on_expert_action(EXPERT_Q, now)
        arb.on_policy_action(Q + 0.05, now)
        sources.append(tick(arb, now).source)
    return sources


def test_beta_zero_never_executes_the_expert() -> None:
    """With beta = 0 (default) every decision is the policy's, exactly as without the feature."""
    plain = running(0.05)
    mixed = mixing(0.0)
    mixed.on_policy_action(Q + 0.05, 0.0, 'v3')
    for k in range(200):
        now = 0.01 * (k + 1)
        mixed.on_expert_action(EXPERT_Q, now)
        if k % 5 == 0:
            plain.on_policy_action(Q + 0.05, now)
            mixed.on_policy_action(Q + 0.05, now)
        a, b = tick(plain, now), tick(mixed, now)
        assert (a.mode, a.source, a.reason) == (b.mode, b.source, b.reason) == (
            GateMode.POLICY, 'policy', '')
        np.testing.assert_array_equal(a.command, b.command)
    assert set(decisions(mixing(0.0), 2000)) == {'policy'}


def test_beta_one_always_executes_the_fresh_expert_action() -> None:
    """With beta = 1 every command is the newest expert action, labelled expert, not a takeover."""
    arb = mixing(1.0)
    assert set(decisions(arb, 500)) == {'expert'}
    out = tick(arb, 500 * 0.05)
    np.testing.assert_array_equal(out.command, EXPERT_Q)
    assert (out.mode, out.source, out.reason) == (GateMode.EXPERT, 'expert', '')
    assert not out.intervention and not out.help_request
    assert arb.counts['expert_draws'] == 500 and arb.counts['expert_commands'] == 501


@pytest.mark.parametrize('beta', [0.1, 0.5, 0.85])
def test_beta_sets_the_rate_of_expert_decisions(beta: float) -> None:
    """Over many decisions the expert share is beta within a binomial tolerance (4 sigma)."""
    n = 4000
    sources = decisions(mixing(beta, seed=3), n)
    k = sources.count('expert')
    assert sources.count('policy') == n - k
    assert abs(k - beta * n) <= 4.0 * np.sqrt(n * beta * (1 - beta)), (k, beta * n)


def test_one_draw_per_policy_action_and_the_expert_target_follows() -> None:
    """Ticks between two policy actions keep its decision; the newest expert action is used."""
    arb = mixing(0.5, seed=11)
    seen = set()
    now = 0.0
    for k in range(60):
        now += 0.1
        arb.on_policy_action(Q + 0.05, now)
        first = None
        for j in range(4):  # the gate ticks 4x per policy action
            now += 0.02
            expert = EXPERT_Q + 0.001 * j
            arb.on_expert_action(expert, now)
            out = tick(arb, now)
            first = first or out.source
            assert out.source == first, 'the decision changed between two policy actions'
            if out.source == 'expert':
                np.testing.assert_array_equal(out.command, expert)
        seen.add(first)
    assert seen == {'expert', 'policy'}


def test_same_seed_same_draws_and_beta_nests() -> None:
    """A seed fixes the draws; a larger beta executes the expert at least where a smaller did."""
    a = decisions(mixing(0.3, seed=5), 300)
    assert a == decisions(mixing(0.3, seed=5), 300)
    b = decisions(mixing(0.6, seed=5), 300)
    assert all(y == 'expert' for x, y in zip(a, b) if x == 'expert')
    assert a != decisions(mixing(0.3, seed=6), 300)


def test_stale_or_missing_expert_falls_back_to_the_policy() -> None:
    """Draw says expert but the expert is older than expert_timeout_s (or never came): policy."""
    arb = mixing(1.0)
    arb.on_policy_action(Q + 0.05, 1.0)
    out = tick(arb, 1.0)
    assert (out.mode, out.source) == (GateMode.POLICY, 'policy')
    assert 'no fresh expert action' in out.reason and 'old' in out.reason
    np.testing.assert_allclose(out.command, Q + 0.05)
    assert arb.counts['expert_unavailable'] == 1
    never = Arbiter(replace(CFG, beta=1.0))
    never.on_joint_state(Q, 0.0)
    never.on_policy_action(Q + 0.05, 0.0)
    out = tick(never, 0.01)
    assert out.source == 'policy' and 'none received' in out.reason
    arb.on_expert_action(EXPERT_Q, 1.05)
    assert tick(arb, 1.06).source == 'expert'


def test_expert_action_is_clamped_and_nan_holds() -> None:
    """The expert goes through the same clamps; a NaN expert action holds at measured."""
    arb = mixing(1.0)
    arb.on_expert_action(Q + np.array([0.5, 0.0, 0.0]), 0.0)
    arb.on_policy_action(Q, 0.0)
    out = tick(arb, 0.01)
    np.testing.assert_allclose(out.command, Q + np.array([0.1, 0.0, 0.0]))
    assert out.clamped and out.source == 'expert'
    assert not arb.on_expert_action([np.nan, 0.0, 0.0], 0.02)
    out = tick(arb, 0.03)
    assert (out.mode, out.source) == (GateMode.HOLD_INVALID_EXPERT, 'hold')
    assert 'non-finite' in out.reason
    np.testing.assert_array_equal(out.command, Q)
    assert not arb.on_expert_action([0.1, 0.2], 0.04)
    assert arb.counts['invalid_expert_actions'] == 2


def test_expert_does_not_keep_a_silent_policy_going() -> None:
    """Decisions are made per policy action: a stale policy holds even with beta = 1."""
    arb = mixing(1.0)
    arb.on_policy_action(Q + 0.05, 0.0)
    arb.on_expert_action(EXPERT_Q, 1.0)
    out = tick(arb, 1.0)
    assert out.mode is GateMode.HOLD_STALE_POLICY
    np.testing.assert_array_equal(out.command, Q)


def test_human_and_estop_beat_the_expert() -> None:
    """With beta = 1 the deadman gives HUMAN, the e-stop ESTOP; the expert resumes after."""
    arb = mixing(1.0)
    arb.on_policy_action(Q + 0.05, 0.0)
    assert tick(arb, 0.01).source == 'expert'
    arb.on_joy(joy(DEADMAN), 0.02)
    arb.on_expert_action(EXPERT_Q, 0.02)
    out = tick(arb, 0.03)
    assert (out.mode, out.source, out.intervention) == (GateMode.HUMAN, 'human', True)
    arb.on_joy(joy(ESTOP), 0.04)
    assert tick(arb, 0.05).mode is GateMode.ESTOP
    arb.on_joy(joy(RESET), 0.06)
    arb.on_joy(joy(), 0.07)
    arb.on_policy_action(Q + 0.05, 0.07)
    arb.on_expert_action(EXPERT_Q, 0.07)
    assert tick(arb, 0.08).source == 'expert'


def test_set_beta_at_run_time() -> None:
    """set_beta changes the next draws; values outside [0, 1] are refused and change nothing."""
    arb = mixing(0.0)
    assert set(decisions(arb, 50)) == {'policy'}
    arb.set_beta(1.0)
    assert arb.beta == 1.0
    assert set(decisions(arb, 50)) == {'expert'}
    for bad in (-0.01, 1.01, float('nan'), True, 'x'):
        with pytest.raises(ConfigError, match='beta'):
            arb.set_beta(bad)
    assert arb.beta == 1.0


# --- help requests -------------------------------------------------------------------------

HELP = replace(CFG, help_threshold=0.5, help_release_s=0.3, uncertainty_timeout_s=0.25)


def helping(doubt: float, now: float = 0.0) -> Arbiter:
    """Return a running arbiter (help enabled) that just got ``doubt`` with its action."""
    arb = Arbiter(HELP)
    arb.on_joint_state(Q, now)
    arb.on_uncertainty(doubt, now)
    arb.on_policy_action(Q + 0.05, now)
    return arb


def act(arb: Arbiter, doubt: float, now: float) -> GateOutput:
    """One policy step: doubt, action, tick."""
    arb.on_uncertainty(doubt, now)
    arb.on_policy_action(Q + 0.05, now)
    return tick(arb, now)


def test_familiar_state_passes_and_disabled_never_asks() -> None:
    """Doubt at or below the threshold: POLICY; threshold 0 (default): never a request."""
    arb = helping(0.2)
    out = tick(arb, 0.01)
    assert (out.mode, out.help_request) == (GateMode.POLICY, False)
    assert act(arb, 0.5, 0.05).mode is GateMode.POLICY  # equal is not above
    off = Arbiter(CFG)
    off.on_joint_state(Q, 0.0)
    for k in range(20):
        out = act(off, 1e9, 0.05 * k)
        assert out.mode is GateMode.POLICY and not out.help_request
    assert off.counts['help_requests'] == 0


def test_high_doubt_holds_at_measured_and_requests_help() -> None:
    """Doubt above the threshold: hold at the measured q, help_request, never the action."""
    arb = helping(0.2)
    tick(arb, 0.01)
    arb.on_joint_state(Q + 0.01, 0.02)
    assert arb.on_uncertainty(3.0, 0.05)
    assert arb.help_requested(0.05), 'raised at once, not at the next tick'
    arb.on_policy_action(Q + 0.08, 0.05)
    for now in (0.06, 0.1, 0.2):
        out = tick(arb, now)
        assert (out.mode, out.source, out.help_request) == (GateMode.HOLD_HELP, 'hold', True)
        assert not out.intervention and 'doubt 3 > help_threshold 0.5' in out.reason
        np.testing.assert_array_equal(out.command, Q + 0.01)
    assert arb.counts['help_requests'] == 1


def test_help_clears_after_calm_doubt_for_help_release_s() -> None:
    """The request clears only after help_release_s of fresh doubt at or below the threshold."""
    arb = helping(2.0)
    assert tick(arb, 0.0).mode is GateMode.HOLD_HELP
    assert act(arb, 0.1, 0.1).mode is GateMode.HOLD_HELP   # calm clock starts at 0.1
    assert act(arb, 0.1, 0.2).mode is GateMode.HOLD_HELP
    assert act(arb, 0.9, 0.3).mode is GateMode.HOLD_HELP   # a spike restarts it
    assert act(arb, 0.1, 0.4).mode is GateMode.HOLD_HELP   # ... from 0.4
    assert act(arb, 0.1, 0.5).mode is GateMode.HOLD_HELP
    assert act(arb, 0.1, 0.6).mode is GateMode.HOLD_HELP
    out = act(arb, 0.1, 0.7)
    assert (out.mode, out.help_request) == (GateMode.POLICY, False)
    np.testing.assert_allclose(out.command, Q + 0.05)


def test_stale_doubt_neither_raises_nor_clears() -> None:
    """No fresh doubt raises nothing; a gap in the doubt restarts the calm clock."""
    arb = helping(3.0)
    arb.on_policy_action(Q + 0.05, 1.0)
    # The doubt of t=0 is stale at t=1 but the request stays: no evidence of calm.
    assert tick(arb, 1.0).mode is GateMode.HOLD_HELP
    late = Arbiter(HELP)
    late.on_joint_state(Q, 0.0)
    late.on_joy(joy(DEADMAN), 0.0)
    late.on_uncertainty(3.0, 0.0)  # during a takeover: no request
    late.on_joy(joy(), 0.1)
    late.on_policy_action(Q + 0.05, 1.0)
    assert tick(late, 1.0).mode is GateMode.POLICY, 'a stale doubt must not raise'
    arb.on_uncertainty(0.1, 1.0)
    arb.on_uncertainty(0.1, 1.2)
    arb.on_uncertainty(0.1, 1.6)  # gap 0.4 s > uncertainty_timeout_s: clock restarts at 1.6
    arb.on_policy_action(Q + 0.05, 1.6)
    assert tick(arb, 1.6).mode is GateMode.HOLD_HELP
    assert act(arb, 0.1, 1.8).mode is GateMode.HOLD_HELP
    assert act(arb, 0.1, 1.9).mode is GateMode.POLICY


def test_takeover_answers_help_and_release_reasks_if_still_unsure() -> None:
    """Deadman clears the request at once; after release a high doubt asks again."""
    arb = helping(3.0)
    assert tick(arb, 0.0).help_request
    arb.on_joy(joy(DEADMAN), 0.05)
    assert not arb.help_requested(0.05)
    out = act(arb, 3.0, 0.1)
    assert (out.mode, out.help_request, out.intervention) == (GateMode.HUMAN, False, True)
    arb.on_joy(joy(), 0.15)
    out = act(arb, 3.0, 0.2)
    assert (out.mode, out.help_request) == (GateMode.HOLD_HELP, True)
    assert arb.counts['help_requests'] == 2
    arb.on_joy(joy(DEADMAN), 0.25)
    arb.on_joy(joy(), 0.3)
    out = act(arb, 0.1, 0.35)
    assert (out.mode, out.help_request) == (GateMode.POLICY, False)


def test_nan_doubt_counts_as_infinite() -> None:
    """A non-finite or unreadable doubt is maximal doubt: help, counted as invalid."""
    arb = helping(0.1)
    assert not arb.on_uncertainty(float('nan'), 0.01)
    assert arb.uncertainty == float('inf') and arb.help_requested(0.01)
    assert not arb.on_uncertainty('x', 0.02)
    assert arb.counts['invalid_uncertainties'] == 2


def test_help_beats_the_expert_and_estop_beats_help() -> None:
    """With beta = 1 and a help request: hold; an e-stop wins and raises no request of its own."""
    arb = Arbiter(replace(HELP, beta=1.0))
    arb.on_joint_state(Q, 0.0)
    arb.on_expert_action(EXPERT_Q, 0.0)
    out = act(arb, 0.1, 0.0)
    assert out.source == 'expert'
    out = act(arb, 2.0, 0.05)
    assert (out.mode, out.source) == (GateMode.HOLD_HELP, 'hold')
    arb.on_joy(joy(ESTOP), 0.06)
    assert tick(arb, 0.07).mode is GateMode.ESTOP
    fresh = helping(0.1)
    fresh.on_joy(joy(ESTOP), 0.01)
    out = act(fresh, 5.0, 0.02)
    assert out.mode is GateMode.ESTOP and not out.help_request
    fresh.on_joy(joy(RESET), 0.03)
    assert tick(fresh, 0.04).mode is GateMode.HOLD_HELP, 'asked once the e-stop is reset'


RISKY = replace(HELP, risk_threshold=0.6)


def step(arb: Arbiter, doubt: Optional[float], risk: Optional[float], now: float) -> GateOutput:
    """One policy step: doubt and risk (None: not sent), action, tick."""
    if doubt is not None:
        arb.on_uncertainty(doubt, now)
    if risk is not None:
        arb.on_risk(risk, now)
    arb.on_policy_action(Q + 0.05, now)
    return tick(arb, now)


def test_risk_above_its_threshold_asks_for_help() -> None:
    """Risk alone raises a request (calm doubt); risk_threshold 0 ignores any risk."""
    arb = Arbiter(RISKY)
    arb.on_joint_state(Q, 0.0)
    assert step(arb, 0.1, 0.3, 0.0).mode is GateMode.POLICY
    out = step(arb, 0.1, 0.9, 0.05)
    assert (out.mode, out.help_request) == (GateMode.HOLD_HELP, True)
    assert 'risk 0.9 > risk_threshold 0.6' in out.reason
    only_doubt = Arbiter(HELP)
    only_doubt.on_joint_state(Q, 0.0)
    for k in range(10):
        assert step(only_doubt, 0.1, 1.0, 0.05 * k).mode is GateMode.POLICY
    assert not arb.on_risk(float('nan'), 0.06) and arb.risk == float('inf')
    assert arb.counts['invalid_risks'] == 1


def test_request_clears_only_when_doubt_and_risk_are_both_calm() -> None:
    """Raised by the risk, a calm doubt alone does not clear it; both calm for release_s do."""
    arb = Arbiter(RISKY)
    arb.on_joint_state(Q, 0.0)
    assert step(arb, 0.1, 0.9, 0.0).mode is GateMode.HOLD_HELP
    for now in (0.1, 0.2, 0.3, 0.4, 0.5):
        assert step(arb, 0.1, 0.8, now).mode is GateMode.HOLD_HELP
    assert step(arb, 0.1, 0.2, 0.6).mode is GateMode.HOLD_HELP  # risk calm from 0.6
    assert step(arb, 0.9, 0.2, 0.7).mode is GateMode.HOLD_HELP  # doubt spikes: its clock
    assert step(arb, 0.1, 0.2, 0.8).mode is GateMode.HOLD_HELP  # restarts at 0.8
    assert step(arb, 0.1, 0.2, 1.0).mode is GateMode.HOLD_HELP
    out = step(arb, 0.1, 0.2, 1.1)
    assert (out.mode, out.help_request) == (GateMode.POLICY, False)
    assert arb.counts['help_requests'] == 1


def test_missing_risk_leaves_the_doubt_in_charge() -> None:
    """A model without risk (nothing on imitation/risk): the doubt raises and clears alone."""
    arb = Arbiter(RISKY)
    arb.on_joint_state(Q, 0.0)
    assert step(arb, 3.0, None, 0.0).mode is GateMode.HOLD_HELP
    assert step(arb, 0.1, None, 0.1).mode is GateMode.HOLD_HELP
    assert step(arb, 0.1, None, 0.3).mode is GateMode.HOLD_HELP
    assert step(arb, 0.1, None, 0.4).mode is GateMode.POLICY


@pytest.mark.parametrize('value', [1.5, -0.1, float('nan')])
def test_risk_threshold_outside_zero_to_one_is_refused(value: float) -> None:
    """risk_threshold is a probability: outside [0, 1] is a ConfigError."""
    with pytest.raises(ConfigError, match='risk_threshold'):
        replace(HELP, risk_threshold=value)


def test_help_until_calm_keeps_an_answered_request_until_both_signals_calm() -> None:
    """help_until_calm: the deadman does not end the request; calm doubt and risk do."""
    arb = Arbiter(replace(RISKY, help_until_calm=True))
    arb.on_joint_state(Q, 0.0)
    assert step(arb, 0.1, 0.9, 0.0).mode is GateMode.HOLD_HELP
    arb.on_joy(joy(DEADMAN), 0.05)
    out = step(arb, 0.1, 0.9, 0.1)
    assert (out.mode, out.help_request, out.intervention) == (GateMode.HUMAN, True, True)
    arb.on_joy(joy(DEADMAN), 0.15)
    assert step(arb, 0.1, 0.2, 0.2).help_request  # calm from 0.2
    arb.on_joy(joy(DEADMAN), 0.25)
    assert step(arb, 0.1, 0.2, 0.4).help_request
    arb.on_joy(joy(DEADMAN), 0.45)
    out = step(arb, 0.1, 0.2, 0.5)
    assert (out.mode, out.help_request) == (GateMode.HUMAN, False)
    arb.on_joy(joy(DEADMAN), 0.55)
    assert not step(arb, 3.0, 0.9, 0.6).help_request, 'no new request while the human drives'
    assert arb.counts['help_requests'] == 1
