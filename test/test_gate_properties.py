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
Property tests of the gate: any sequence of inputs keeps the safety invariants.

Hypothesis draws sequences of Joy messages (well formed and malformed), policy
and expert actions (finite, NaN, wrong length, huge), doubts, joint states
(NaN, beyond the limits) and clock advances (long enough to make any input
stale), feeds them to :class:`~imitation_ros.gate.arbiter.Arbiter` and ticks
after each, on the planar arm and on the 7-joint Panda (cartesian teleop with
the posture held, joint mode, a gripper). A small model kept here from the raw
inputs (not from the gate's parser) says what the e-stop and deadman must be.
Derandomized, so CI runs the same examples every time.
"""

from __future__ import annotations

from dataclasses import replace
import math
from typing import Any, Optional

from hypothesis import given, HealthCheck, settings, strategies as st
from imitation_ros.gate.arbiter import Arbiter, GateConfig, GateMode
from imitation_ros.gate.joy import AXIS_TOLERANCE, JoyConfig, parse_joy
from imitation_ros.gate.limits import safe_command
import numpy as np
from gate_fixtures import PANDA, PANDA_GRIPPER, PANDA_READY, PLANAR, PLANAR_JOY

DEADMAN, ESTOP, RESET = 4, 1, 7
#: Other buttons of the default mappings: gripper close / open, previous / next joint, RB.
OTHERS = (0, 3, 2, 5)
CONFIGS = [
    GateConfig(robot=PLANAR, joy=PLANAR_JOY),
    GateConfig(robot=PLANAR, joy=PLANAR_JOY, beta=0.5, help_threshold=1.0, rate_hz=50.0,
               teleop_horizon_s=0.05),
    GateConfig(robot=PLANAR, joy=JoyConfig(teleop_mode='joint', joint_speed=-2.0),
               max_joint_step=0.05, limit_margin=0.0, cmd_timeout_s=0.5, state_timeout_s=0.1),
    GateConfig(robot=PANDA, gripper=PANDA_GRIPPER),
    GateConfig(robot=PANDA, joy=JoyConfig(null_space='rest', rest_posture=tuple(PANDA_READY),
                                          scale=(1.0, -1.0, 2.0)),
               beta=0.5, help_threshold=1.0, rate_hz=50.0, teleop_horizon_s=0.05),
    GateConfig(robot=PANDA, joy=JoyConfig(teleop_mode='joint', joint_speed=3.0),
               gripper=PANDA_GRIPPER, max_joint_step=0.05, limit_margin=0.0, cmd_timeout_s=0.5,
               state_timeout_s=0.1),
]
#: Where the joint vectors of each arm are drawn around (rad).
CENTRES = {PLANAR.name: np.zeros(3), PANDA.name: PANDA_READY}
SETTINGS = settings(max_examples=2500, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
EPS = 1e-9

BAD_FLOATS = st.sampled_from([math.nan, math.inf, -math.inf, 1e300, -1e300, 1.5, -7.0])
ANY_FLOAT = st.floats(allow_nan=True, allow_infinity=True)


# --- input strategies ---------------------------------------------------------------------


@st.composite
def joys(draw: st.DrawFn) -> tuple[list, list]:
    """Draw raw Joy (axes, buttons): mostly an Xbox message, often with fields broken."""
    # The e-stop rarely, so that sequences also spend time outside its latch.
    pressed = {button for button, chances in ((DEADMAN, 2), (ESTOP, 8), (RESET, 3), (0, 3),
                                              (3, 3), (2, 3), (5, 3))
               if draw(st.integers(1, chances)) == 1}
    axes: list[Any] = draw(st.lists(st.floats(-1.0, 1.0), min_size=8, max_size=8))
    buttons: list[Any] = [1 if i in pressed else 0 for i in range(11)]
    for _ in range(draw(st.integers(0, 3))):
        kind = draw(st.sampled_from(['axis', 'button', 'short_axes', 'short_buttons', 'long',
                                     'wild']))
        if kind == 'axis' and axes:
            axes[draw(st.integers(0, len(axes) - 1))] = draw(st.one_of(BAD_FLOATS, ANY_FLOAT))
        elif kind == 'button' and buttons:
            # Mostly the buttons that act, so that each is often the one broken.
            index = draw(st.one_of(st.sampled_from([DEADMAN, ESTOP, RESET, *OTHERS]),
                                   st.integers(0, len(buttons) - 1)))
            if index < len(buttons):
                buttons[index] = draw(st.sampled_from(
                    [None, 0.5, 1.0, 'x', True, False, -1, 2 ** 70]))
        elif kind == 'short_axes':
            axes = axes[:draw(st.integers(0, len(axes)))]
        elif kind == 'short_buttons':
            buttons = buttons[:draw(st.integers(0, len(buttons)))]
        elif kind == 'long':
            axes = axes + draw(st.lists(st.one_of(st.floats(-1.0, 1.0), BAD_FLOATS), max_size=4))
        else:
            axes = draw(st.lists(st.one_of(ANY_FLOAT, st.integers(-3, 3), st.none(), st.text()),
                                 max_size=10))
    return axes, buttons


def joint_vectors(n: int, center: np.ndarray, spread: float = 0.3) -> st.SearchStrategy:
    """Joint vectors: mostly finite near ``center``, sometimes NaN / Inf, huge or wrong length."""
    finite = st.lists(st.floats(-spread, spread), min_size=n, max_size=n).map(
        lambda v: list(center + np.array(v)))
    broken = st.lists(st.one_of(st.floats(-3.0, 3.0), BAD_FLOATS), min_size=n, max_size=n)
    wrong = st.lists(st.floats(-1.0, 1.0), max_size=9).filter(lambda v: len(v) != n)
    return st.one_of(finite, finite, broken, wrong, st.just('not numbers'))


def events(n: int, center: np.ndarray) -> st.SearchStrategy:
    """Draw one input event for an arm of ``n`` joints whose postures lie around ``center``."""
    states = st.one_of(
        joint_vectors(n, center, 1.0),
        joint_vectors(n, center, 4.0),  # beyond the limits too
        st.lists(st.one_of(st.floats(-3.0, 3.0), st.just(math.nan)), min_size=n, max_size=n),
        st.lists(st.floats(-1.0, 1.0), max_size=9))
    return st.one_of(
        st.tuples(st.just('joy'), joys()),
        st.tuples(st.just('policy'), joint_vectors(n, center)),
        st.tuples(st.just('expert'), joint_vectors(n, center)),
        st.tuples(st.just('doubt'), st.one_of(st.floats(0.0, 3.0), BAD_FLOATS)),
        st.tuples(st.just('state'), states),
        st.tuples(st.just('advance'), st.one_of(st.floats(0.0, 0.06), st.floats(0.0, 0.8))),
    )


def readable_button(buttons: list, index: int) -> Optional[bool]:
    """Return whether a raw button reads as pressed, or None when it cannot be read."""
    if index >= len(buttons):
        return None
    value = buttons[index]
    if isinstance(value, (bool, int)):
        return value != 0
    return None


def sticks_readable(axes: list, buttons: list, config: JoyConfig) -> bool:
    """
    Return whether the sticks can be read from these raw arrays.

    Every axis a number in [-1, 1], the mapped ones present, and in cartesian mode
    the rotation button readable.
    """
    if len(axes) < max(config.axes) + 1:
        return False
    if config.teleop_mode == 'cartesian' and config.rotation_button >= 0 \
            and readable_button(buttons, config.rotation_button) is None:
        return False
    return all(isinstance(v, (int, float)) and not isinstance(v, bool)
               and abs(v) <= 1.0 + AXIS_TOLERANCE for v in axes)


def valid_vector(values: Any, n: int) -> bool:
    """Return whether ``values`` are n finite numbers."""
    return (not isinstance(values, str) and len(values) == n
            and all(math.isfinite(v) for v in values))


def limit_distance(x: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Return each joint's distance from [lo, hi] (0 inside)."""
    return np.maximum(lo - x, 0.0) + np.maximum(x - hi, 0.0)


def check_command(cfg: GateConfig, command: np.ndarray, q: np.ndarray) -> None:
    """Finite; within max_joint_step of q; inside the limits, or approaching them from q."""
    lo = cfg.robot.lower + cfg.limit_margin
    hi = cfg.robot.upper - cfg.limit_margin
    assert command.shape == (cfg.n_joints,) and np.all(np.isfinite(command)), command
    assert np.all(np.abs(command - q) <= cfg.max_joint_step + EPS), (command, q)
    outside = limit_distance(q, lo, hi)
    allowed = np.maximum(outside - cfg.max_joint_step, 0.0)
    assert np.all(limit_distance(command, lo, hi) <= allowed + EPS), (command, q)


@SETTINGS
@given(data=st.data())
def test_any_input_sequence_keeps_the_gate_safe(data: st.DataObject) -> None:
    """Every tick, on both arms: a safe command, e-stop and takeover as the raw Joys say."""
    cfg = data.draw(st.sampled_from(CONFIGS), label='config')
    n = cfg.n_joints
    sequence = data.draw(st.lists(events(n, CENTRES[cfg.robot.name]), max_size=40),
                         label='events')
    arb = Arbiter(cfg)
    joy_cfg = cfg.joy
    now = 0.0
    q: Optional[np.ndarray] = None
    q_time = 0.0
    estop = takeover = False
    sticks_ok = True
    action: Optional[tuple[Any, float]] = None
    expert: Optional[tuple[Any, float]] = None
    for kind, value in sequence:
        if kind == 'advance':
            now += value
        elif kind == 'state':
            assert arb.on_joint_state(value, now) == valid_vector(value, n)
            if valid_vector(value, n):
                q, q_time = np.array(value, dtype=np.float64), now
        elif kind == 'policy':
            assert arb.on_policy_action(value, now) == valid_vector(value, n)
            action = (value, now)
        elif kind == 'expert':
            assert arb.on_expert_action(value, now) == valid_vector(value, n)
            expert = (value, now)
        elif kind == 'doubt':
            arb.on_uncertainty(value, now)
        else:
            axes, buttons = value
            arb.on_joy(parse_joy(axes, buttons, joy_cfg, now), now)
            pressed = readable_button(buttons, joy_cfg.estop_button)
            if pressed:
                estop = True
            elif pressed is False and readable_button(buttons, joy_cfg.reset_button):
                estop = False
            deadman = readable_button(buttons, joy_cfg.enable_button)
            if deadman is not None:
                takeover = deadman
            sticks_ok = deadman is not None and sticks_readable(axes, buttons, joy_cfg)
        out = arb.tick(now)
        if q is None:
            assert out is None, 'nothing is safe to send before the first joint state'
            continue
        assert out is not None, 'the gate never goes silent once it knows q'
        check_command(cfg, out.command, q)
        assert out.estop == estop and (out.mode is GateMode.ESTOP) == estop
        assert out.intervention == (out.mode is GateMode.HUMAN) == arb.human_in_control(now)
        if takeover:
            assert out.source not in ('policy', 'expert'), 'no policy under the deadman'
        if out.source == 'human':
            assert takeover and sticks_ok and not estop, 'only readable sticks move the arm'
        if out.gripper is not None:
            assert out.mode is GateMode.HUMAN and cfg.gripper is not None, 'gripper: takeovers'
            assert any(np.array_equal(out.gripper, g)
                       for g in (cfg.gripper.open, cfg.gripper.closed))
        if now - q_time > cfg.state_timeout_s:
            assert out.source == 'hold', 'nothing but a hold from a stale joint state'
        if out.source == 'policy':
            assert action is not None and valid_vector(action[0], n)
            assert now - action[1] <= cfg.cmd_timeout_s
            target = np.array(action[0], dtype=np.float64)
            inside, _ = safe_command(target, q, cfg.robot.lower, cfg.robot.upper,
                                     max_step=cfg.max_joint_step, margin=cfg.limit_margin)
            np.testing.assert_array_equal(out.command, inside)
        if out.source == 'expert':
            assert cfg.beta > 0 and expert is not None and valid_vector(expert[0], n)
            assert now - expert[1] <= cfg.expert_timeout_s


@settings(SETTINGS, max_examples=1000)
@given(events=st.lists(st.one_of(st.tuples(st.just('joy'), joys()),
                                 st.tuples(st.just('advance'), st.floats(0.0, 0.3))),
                       max_size=25))
def test_a_readable_estop_latches_and_only_reset_clears_it(events: list) -> None:
    """After a readable e-stop press the gate holds in ESTOP until a readable reset."""
    arb = Arbiter(replace(CONFIGS[0], state_timeout_s=1000.0))
    arb.on_joint_state(np.zeros(3), 0.0)
    arb.on_joy(parse_joy([float('nan')] * 8, [0, 1], JoyConfig()), 0.0)
    now = 0.0
    latched = True
    for kind, value in events:
        if kind == 'advance':
            now += value
            continue
        axes, buttons = value
        arb.on_joy(parse_joy(axes, buttons, JoyConfig(), now), now)
        arb.on_policy_action(np.full(3, 0.05), now)
        reset = (readable_button(buttons, RESET) is True
                 and readable_button(buttons, ESTOP) is False)
        latched = (latched and not reset) or readable_button(buttons, ESTOP) is True
        out = arb.tick(now)
        assert out is not None and out.estop == latched == arb.estop
        if latched:
            assert out.mode is GateMode.ESTOP and out.source == 'hold'
            np.testing.assert_array_equal(out.command, np.zeros(3))


# --- the parsers ----------------------------------------------------------------------------

ANYTHING = st.one_of(st.none(), st.booleans(), st.integers(), ANY_FLOAT, st.text(max_size=5),
                     st.binary(max_size=5))


@settings(SETTINGS, max_examples=1500)
@given(axes=st.one_of(st.lists(ANYTHING, max_size=12), ANYTHING,
                      st.lists(ANY_FLOAT, max_size=12).map(np.array)),
       buttons=st.one_of(st.lists(ANYTHING, max_size=12), ANYTHING,
                         st.lists(st.integers(-2 ** 31, 2 ** 31 - 1), max_size=12).map(
                             lambda v: np.array(v, dtype=np.int32))),
       stamp=ANYTHING)
def test_joy_parser_reads_anything_without_raising(axes: Any, buttons: Any, stamp: Any) -> None:
    """Any Joy arrays give a reading: axes in [-1, 1] or NaN, buttons int or None, stamp finite."""
    joy = parse_joy(axes, buttons, JoyConfig(), stamp)
    assert all(math.isnan(a) or -1.0 <= a <= 1.0 for a in joy.axes)
    assert set(joy.bad_axes) == {i for i, a in enumerate(joy.axes) if math.isnan(a)}
    assert all(b is None or type(b) is int for b in joy.buttons)
    assert math.isfinite(joy.stamp)
    raw_buttons = list(buttons) if isinstance(buttons, (list, np.ndarray, bytes)) else []
    for index in range(12):
        expected = readable_button([b.item() if isinstance(b, np.generic) else b
                                    for b in raw_buttons], index)
        assert joy.button(index) == expected
    assert joy.well_formed == (not joy.problems)
