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

from imitation_ros.errors import ConfigError
from imitation_ros.gate.arbiter import Arbiter, GateConfig, GateMode, GateOutput
from imitation_ros.gate.joy import JoyConfig, JoyInput, joy_to_target, parse_joy
from imitation_ros.sim.arm import ArmConfig
import numpy as np
import pytest

Q = np.array([0.4, -0.8, 0.6])
CFG = GateConfig()
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
    """During a hold the command stays at the first hold position while the measured q drifts."""
    arb = running(0.05)
    arb.on_joint_state(Q + 0.02, 0.2)
    first = tick(arb, 0.3).command
    np.testing.assert_array_equal(first, Q + 0.02)
    for i in range(1, 6):
        arb.on_joint_state(Q + 0.02 - 0.01 * i, 0.3 + 0.05 * i)
        np.testing.assert_array_equal(tick(arb, 0.3 + 0.05 * i).command, first)
    arb.on_joint_state(Q - 0.3, 0.7)
    out = tick(arb, 0.7)
    np.testing.assert_allclose(out.command, Q - 0.2)
    assert out.clamped, 'a latched hold far from the arm is still limited to max_joint_step'
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
                               joy_to_target(CFG.joy, CFG.arm, Q - 0.01, push, CFG.dt))


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
    expected = joy_to_target(CFG.joy, CFG.arm, Q, stick, CFG.dt)
    np.testing.assert_allclose(out.command, expected)
    assert (out.mode, out.source) == (GateMode.HUMAN, 'human') and out.intervention
    moved = Q + np.array([0.01, 0.02, -0.01])
    arb.on_joint_state(moved, 0.02)
    arb.on_joy(stick, 0.03)
    out = tick(arb, 0.04)
    np.testing.assert_allclose(out.command,
                               joy_to_target(CFG.joy, CFG.arm, moved, stick, CFG.dt))
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


def test_joint_mode_takeover() -> None:
    """In joint mode each mapped axis drives its joint."""
    jcfg = JoyConfig(teleop_mode='joint', axis_map=(0, 1, 4), scale=(1.0, 1.0, 1.0))
    arb = Arbiter(replace(CFG, joy=jcfg))
    arb.on_joint_state(Q, 0.0)
    arb.on_joy(parse_joy([1.0, 0.0, 0.0, 0.0, -1.0, 0, 0, 0], [0, 0, 0, 0, 1] + [0] * 6, jcfg),
               0.0)
    np.testing.assert_allclose(tick(arb, 0.0).command - Q, [0.05, 0.0, -0.05])


@pytest.mark.parametrize('changes', [
    {'rate_hz': 0.0}, {'cmd_timeout_s': -1.0}, {'joy_timeout_s': float('nan')},
    {'max_joint_step': 0.0}, {'limit_margin': -0.01}, {'limit_margin': 2.5},
    {'joy': JoyConfig(teleop_mode='joint', axis_map=(0, 1), scale=(1.0, 1.0))},
])
def test_bad_gate_config_raises(changes: dict) -> None:
    """Non-positive rates and timeouts, bad margins and mismatched joint maps are refused."""
    with pytest.raises(ConfigError):
        replace(CFG, **changes)


def test_random_event_sequences_keep_every_invariant() -> None:
    """Random inputs: commands stay finite, inside limits, within max step; takeover blocks."""
    rng = np.random.default_rng(7)
    arm = ArmConfig()
    lo, hi = arm.lower + CFG.limit_margin, arm.upper - CFG.limit_margin
    for _ in range(20):
        arb = Arbiter(CFG)
        now = 0.0
        q = rng.uniform(lo, hi)
        deadman_held = False
        arb.on_joint_state(q, now)
        for _ in range(300):
            now += float(rng.uniform(0.0, 0.12))
            event = rng.integers(0, 4)
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
                assert out.source != 'policy', 'policy command while the deadman is held'
            if out.estop:
                assert out.mode is GateMode.ESTOP
