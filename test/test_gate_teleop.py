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

"""Stick speeds to joint motion on any arm: damped least squares, null space, joint limits."""

from __future__ import annotations

import ast
from pathlib import Path

from imitation_ros.gate.arbiter import Arbiter, GateConfig
from imitation_ros.gate.joy import JoyConfig, parse_joy
from imitation_ros.gate.teleop import (cap_speed, elbow_velocity, joint_target,
                                       posture_velocity, stick_speeds)
from imitation_ros.interface.kinematics import (null_space_direction, null_space_projector,
                                                task_rows)
from imitation_ros.sim.arm import ArmConfig, jacobian
from imitation_ros.sim.kinematics import PlanarArmModel
import numpy as np
import pinocchio as pin
import pytest
from gate_fixtures import PANDA, PANDA_READY, PLANAR, PLANAR_JOY, teleop

ROOT = Path(__file__).resolve().parents[1]
Q = np.array([0.4, -0.8, 0.6])
DEADMAN, ROTATE = 4, 5


def xbox(axes: dict[int, float], *pressed: int) -> list:
    """Return (axes, buttons) of an Xbox-layout Joy with the deadman and ``pressed`` held."""
    ax = [0.0] * 8
    for i, v in axes.items():
        ax[i] = v
    return [ax, [1 if i in (DEADMAN, *pressed) else 0 for i in range(11)]]


def drive(cfg: GateConfig, q0: np.ndarray, axes: dict[int, float], *pressed: int,
          ticks: int = 40) -> tuple[np.ndarray, list[np.ndarray]]:
    """Run the arbiter in a takeover, each command fed back as the next joint state."""
    arb = Arbiter(cfg)
    q, now, commands = q0.copy(), 0.0, []
    for _ in range(ticks):
        arb.on_joint_state(q, now)
        arb.on_joy(parse_joy(*xbox(axes, *pressed), cfg.joy, now), now)
        out = arb.tick(now)
        assert out is not None and out.source == 'human'
        q = out.command
        commands.append(q)
        now += cfg.dt
    return q, commands


def test_the_gate_imports_nothing_of_the_simulator() -> None:
    """gate/ takes its robot from the robot model (interface/), never from sim/."""
    for path in sorted((ROOT / 'imitation_ros' / 'gate').glob('*.py')):
        for node in ast.walk(ast.parse(path.read_text(encoding='utf-8'))):
            if isinstance(node, ast.ImportFrom):
                module = '.' * node.level + (node.module or '')
                assert 'sim' not in module.split('.'), f'{path.name} imports {module}'


def test_stick_speeds_scale_each_axis_and_invert_with_a_negative_scale() -> None:
    """Speed = stick * scale; a full deflection of the fastest axis gives exactly its scale."""
    np.testing.assert_allclose(stick_speeds([1.0, -0.5, 0.25], [0.2, -0.1, 0.4]),
                               [0.2, 0.05, 0.1])
    assert stick_speeds([1.0], [1.2])[0] == 1.2
    np.testing.assert_array_equal(stick_speeds([1.0, 1.0], [0.0, 0.0]), [0.0, 0.0])


def test_cap_speed_scales_all_joints_together() -> None:
    """Above the cap every joint speed shrinks by the same factor (the direction is kept)."""
    qdot = cap_speed(np.array([4.0, -1.0, 2.0]), 2.0)
    np.testing.assert_allclose(qdot, [2.0, -0.5, 1.0])
    np.testing.assert_array_equal(cap_speed(np.array([0.5, -0.2]), 2.0), [0.5, -0.2])


def test_elbow_direction_keeps_the_planar_end_effector_still() -> None:
    """The null-space direction does not move the end effector to first order."""
    jac = jacobian(ArmConfig(), Q)
    n = null_space_direction(jac)
    assert np.allclose(jac @ n, 0, atol=1e-9) and n[0] > 0
    np.testing.assert_allclose(elbow_velocity(jac, np.zeros(2), 1.0), n)


def test_joint_speed_is_bounded_near_a_singularity() -> None:
    """At the straight (singular) planar posture the mapped joint speed stays within the cap."""
    cfg = GateConfig(robot=PLANAR, joy=PLANAR_JOY)
    target = teleop(cfg, np.zeros(3), parse_joy(*xbox({0: 1.0, 1: 1.0, 3: 1.0}), cfg.joy))
    assert np.max(np.abs(target)) <= cfg.max_joint_speed * cfg.dt + 1e-12
    assert np.all(np.isfinite(target))


def test_the_study_s_planar_model_equals_the_urdf_within_1e_9() -> None:
    """The sim's own model of the planar arm gives the gate the URDF's commands within 1e-9."""
    rng = np.random.default_rng(3)
    study = GateConfig(robot=PlanarArmModel(ArmConfig()), joy=PLANAR_JOY)
    node = GateConfig(robot=PLANAR, joy=PLANAR_JOY)
    for q in rng.uniform(PLANAR.lower, PLANAR.upper, size=(200, 3)):
        joy = parse_joy(*xbox({0: rng.uniform(-1, 1), 1: rng.uniform(-1, 1),
                               3: rng.uniform(-1, 1)}), PLANAR_JOY)
        np.testing.assert_allclose(teleop(study, q, joy), teleop(node, q, joy), atol=1e-9)
    np.testing.assert_allclose(PlanarArmModel(ArmConfig()).jacobian(Q), PLANAR.jacobian(Q),
                               atol=1e-9)


@pytest.mark.parametrize('axis, direction', [(1, [1.0, 0.0, 0.0]), (0, [0.0, 1.0, 0.0]),
                                             (4, [0.0, 0.0, 1.0])])
def test_each_stick_moves_the_panda_tip_along_its_axis_keeping_the_orientation(
        axis: int, direction: list) -> None:
    """Left stick up: +x, left: +y, right stick up: +z, at the scale's speed, hand not turning."""
    cfg = GateConfig(robot=PANDA)
    p0, r0 = PANDA.position(PANDA_READY), PANDA.pose(PANDA_READY)[:3, :3]
    q, commands = drive(cfg, PANDA_READY, {axis: 1.0}, ticks=20)
    motion = PANDA.position(q) - p0
    along = float(motion @ direction)
    assert along == pytest.approx(20 * cfg.dt * cfg.joy.scale[0], rel=0.05)
    assert np.linalg.norm(motion - along * np.array(direction)) < 0.05 * along
    assert np.linalg.norm(pin.log3(PANDA.pose(q)[:3, :3] @ r0.T)) < 0.02
    steps = [PANDA.position(b) - PANDA.position(a) for a, b in zip(commands, commands[1:])]
    assert all(float(step @ direction) > 0 for step in steps), 'every step goes that way'


@pytest.mark.parametrize('axis, about', [(3, [1.0, 0.0, 0.0]), (1, [0.0, 1.0, 0.0]),
                                         (0, [0.0, 0.0, 1.0])])
def test_rotation_button_turns_the_panda_hand_about_each_axis_in_place(
        axis: int, about: list) -> None:
    """RB + stick: the hand turns about the base frame's x, y, z; the tip stays put."""
    cfg = GateConfig(robot=PANDA)
    p0, r0 = PANDA.position(PANDA_READY), PANDA.pose(PANDA_READY)[:3, :3]
    q, _ = drive(cfg, PANDA_READY, {axis: 1.0}, ROTATE, ticks=10)
    turn = pin.log3(PANDA.pose(q)[:3, :3] @ r0.T)
    np.testing.assert_allclose(turn, 10 * cfg.dt * 0.5 * np.array(about), atol=0.01)
    assert np.linalg.norm(PANDA.position(q) - p0) < 0.005


def test_the_elbow_turns_the_panda_without_moving_the_hand() -> None:
    """Right stick sideways: the 7th joint's self-motion; the hand's pose stays."""
    cfg = GateConfig(robot=PANDA)
    pose0 = PANDA.pose(PANDA_READY)
    q, _ = drive(cfg, PANDA_READY, {3: 1.0}, ticks=10)
    assert np.max(np.abs(q - PANDA_READY)) > 0.1
    np.testing.assert_allclose(PANDA.pose(q), pose0, atol=0.01)


def test_the_null_space_holds_the_takeover_posture() -> None:
    """Moving the tip and back, the posture returns near the takeover's (no drift in the elbow)."""
    cfg = GateConfig(robot=PANDA)
    arb = Arbiter(cfg)
    q, now = PANDA_READY + np.array([0.3, 0, -0.3, 0, 0.3, 0, 0]), 0.0
    start = q.copy()
    for axes in ({0: 1.0},) * 20 + ({0: -1.0},) * 20 + ({},) * 2:
        arb.on_joint_state(q, now)
        arb.on_joy(parse_joy(*xbox(axes), cfg.joy, now), now)
        q = arb.tick(now).command
        now += cfg.dt
    assert np.linalg.norm(PANDA.position(q) - PANDA.position(start)) < 0.02
    assert np.max(np.abs(q - start)) < 0.1
    free = drive(GateConfig(robot=PANDA, joy=JoyConfig(posture_gain=0.0)), start,
                 {0: 1.0}, ticks=20)[0]
    held = drive(cfg, start, {0: 1.0}, ticks=20)[0]
    null = null_space_projector(PANDA.jacobian(held)[task_rows(cfg.joy.cartesian_task)])
    assert np.linalg.norm(null @ (held - start)) < np.linalg.norm(
        null_space_projector(PANDA.jacobian(free)) @ (free - start)) + 1e-9


def test_joint_limits_are_never_crossed_and_the_hand_keeps_turning() -> None:
    """Turning the hand for long: joint 7 stops at its limit, the others keep it turning."""
    cfg = GateConfig(robot=PANDA)
    lo, hi = PANDA.lower + cfg.limit_margin, PANDA.upper - cfg.limit_margin
    q, commands = drive(cfg, PANDA_READY, {0: 1.0}, ROTATE, ticks=240)
    assert all(np.all(c >= lo - 1e-12) and np.all(c <= hi + 1e-12) for c in commands)
    assert q[6] == pytest.approx(lo[6]), 'the wrist joint reached its limit'
    poses = [PANDA.pose(c)[:3, :3] for c in commands]
    turns = [pin.log3(b @ a.T) for a, b in zip(poses, poses[1:])]
    rate = 0.5 * cfg.dt
    assert all(t[2] > 0.9 * rate and np.linalg.norm(t[:2]) < 0.1 * rate for t in turns), \
        'about +z at the stick\'s rate, before and after the limit'


def test_posture_velocity_locks_a_joint_at_its_limit_and_re_solves() -> None:
    """A joint that would pass its limit stops there; the task is met with the others."""
    q = PANDA_READY + np.array([0.3, 0.0, -0.3, 0.0, 0.3, 0.0, 0.0])
    jac = PANDA.jacobian(q)
    v = np.array([0.0, 0.0, -0.2, 0.0, 0.0, 0.0])
    free = posture_velocity(jac, v, q, lower=PANDA.lower, upper=PANDA.upper, dt=0.05,
                            max_joint_speed=2.0)
    np.testing.assert_allclose(jac @ free, v, atol=1e-6)
    assert free[6] < -0.1, 'the wrist turns in the free solution'
    lower = PANDA.lower.copy()
    lower[6] = q[6] - 0.001  # a limit the wrist reaches after 0.001 rad
    qdot = posture_velocity(jac, v, q, lower=lower, upper=PANDA.upper, dt=0.05,
                            max_joint_speed=2.0)
    assert qdot[6] == pytest.approx(-0.001 / 0.05)
    np.testing.assert_allclose(jac @ qdot, v, atol=1e-6)


def test_joint_target_moves_only_the_chosen_joint() -> None:
    """Joint mode moves one joint at the speed, capped, for dt."""
    target = joint_target(PANDA_READY, 2, 5.0, max_joint_speed=2.0, dt=0.05)
    expected = PANDA_READY.copy()
    expected[2] += 0.1
    np.testing.assert_allclose(target, expected)
