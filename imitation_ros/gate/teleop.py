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
Stick speeds to joint targets for any arm (teleoperation), plain numpy.

Cartesian: the teleop task is a set of components of the tip's motion in the base
frame (:data:`~imitation_ros.interface.kinematics.TASK_COMPONENTS`: x, y, z, roll,
pitch, yaw); the sticks give each a speed (zero for the ones held still), and damped
least squares on those rows of the arm's Jacobian turns them into joint speeds,
bounded near singular postures. What the task leaves free (the null space) is used
in one of two ways:

* ``elbow``: only the elbow stick moves it, along the unit null-space direction of
  an arm with one joint more than task components (the planar arm's elbow,
  :func:`elbow_velocity`); joints at a limit are left to the gate's clamp;
* ``posture`` (:func:`posture_velocity`): the null space pulls the arm toward a
  rest posture, the elbow stick (when the null space is one-dimensional) moves
  along it instead, and a joint that would pass its limit this period is stopped
  at the limit while the others solve the task without it (saturation in the
  null space), so the tip keeps its direction as long as the other joints can.

Either way the joint speeds are scaled together so that none exceeds the gate's
cap, and the target is the measured position plus speed times period. Joint
mode (:func:`joint_target`) drives one joint at a time.
"""

from __future__ import annotations

from typing import Optional, Sequence

import numpy as np

from ..interface.kinematics import (adaptive_damping, dls_inverse, null_space_direction,
                                    null_space_projector)

#: Tolerance of the limit test of the posture solver (rad/s).
LIMIT_TOLERANCE = 1e-12


def stick_speeds(sticks: np.ndarray, scale: Sequence[float]) -> np.ndarray:
    """
    Return the speed of each stick: its value times its scale (a negative scale inverts).

    Computed as a fraction of the fastest axis's speed, clipped to [-1, 1], times
    that speed: a full deflection of the fastest axis gives exactly its speed.

    :param sticks: stick values in [-1, 1] after the deadzone, shape (k,).
    :param scale: full-deflection speed per stick, shape (k,).
    :returns: shape (k,), in the scale's unit.
    """
    scale = np.asarray(scale, dtype=np.float64)
    fastest = float(np.max(np.abs(scale))) if scale.size else 0.0
    if fastest <= 0:
        return np.zeros(len(scale))
    fraction = np.clip(np.asarray(sticks, dtype=np.float64) * scale / fastest, -1.0, 1.0)
    return fraction * fastest


def cap_speed(qdot: np.ndarray, max_joint_speed: float) -> np.ndarray:
    """Scale all joint speeds together so that none exceeds ``max_joint_speed`` (rad/s)."""
    peak = float(np.max(np.abs(qdot))) if qdot.size else 0.0
    if peak > max_joint_speed:
        qdot *= max_joint_speed / peak
    return qdot


def elbow_velocity(jac: np.ndarray, velocity: np.ndarray, elbow_rate: float = 0.0) -> np.ndarray:
    """
    Joint speeds for task speeds plus an elbow (one-dimensional null space) rate.

    :param jac: the task rows of the Jacobian, shape (m, n).
    :param velocity: task speeds, shape (m,) (m/s for x, y, z; rad/s for rotations).
    :param elbow_rate: speed along :func:`~imitation_ros.interface.kinematics.
        null_space_direction` (rad/s).
    :returns: joint speeds, shape (n,), rad/s.
    """
    qdot = dls_inverse(jac) @ np.asarray(velocity, dtype=np.float64)
    if elbow_rate:
        qdot = qdot + elbow_rate * null_space_direction(jac)
    return qdot


def posture_velocity(jac: np.ndarray, velocity: np.ndarray, q: np.ndarray, *,
                     lower: np.ndarray, upper: np.ndarray, dt: float,
                     max_joint_speed: float, secondary: Optional[np.ndarray] = None
                     ) -> np.ndarray:
    """
    Joint speeds for task speeds, a secondary motion in the null space, inside the limits.

    Solves the task with damped least squares (damped only near singular postures:
    :func:`~imitation_ros.interface.kinematics.adaptive_damping`) and adds ``secondary``
    projected into the task's null space; then every joint whose speed would carry it past
    ``[lower, upper]`` within ``dt`` is fixed at the speed that reaches the limit,
    and the task is solved again with the remaining joints (at most n rounds).
    Speeds are scaled together to ``max_joint_speed`` in every round.

    :param jac: the task rows of the Jacobian, shape (m, n).
    :param velocity: task speeds, shape (m,).
    :param q: measured joint positions, shape (n,), rad.
    :param lower: lowest joint positions allowed (limits with margin), shape (n,).
    :param upper: highest joint positions allowed, shape (n,).
    :param secondary: joint speeds wanted in the null space (posture, elbow), shape (n,).
    :returns: joint speeds, shape (n,), rad/s.
    """
    n = jac.shape[1]
    velocity = np.asarray(velocity, dtype=np.float64)
    secondary = np.zeros(n) if secondary is None else np.asarray(secondary, dtype=np.float64)
    with np.errstate(invalid='ignore'):  # inf - inf of a continuous joint's limits
        low = np.where(np.isfinite(lower), (lower - q) / dt, -np.inf)
        high = np.where(np.isfinite(upper), (upper - q) / dt, np.inf)
    locked = np.zeros(n, dtype=bool)
    fixed = np.zeros(n)
    qdot = np.zeros(n)
    for _ in range(n):
        free = ~locked
        sub = jac[:, free]
        remaining = velocity - jac[:, locked] @ fixed[locked]
        qdot = fixed.copy()
        inverse = dls_inverse(sub, adaptive_damping(sub))
        qdot[free] = inverse @ remaining + null_space_projector(sub) @ secondary[free]
        qdot = cap_speed(qdot, max_joint_speed)
        over = free & ((qdot < low - LIMIT_TOLERANCE) | (qdot > high + LIMIT_TOLERANCE))
        if not over.any():
            break
        fixed[over] = np.clip(qdot[over], low[over], high[over])
        locked |= over
        if locked.all():
            qdot = cap_speed(fixed.copy(), max_joint_speed)
            break
    return qdot


def joint_target(q: np.ndarray, joint: int, speed: float, *, max_joint_speed: float,
                 dt: float) -> np.ndarray:
    """
    Move joint ``joint`` at ``speed`` (rad/s, capped at ``max_joint_speed``) for ``dt`` s.

    :returns: absolute joint target, shape (n,), rad; the other joints stay at ``q``.
    """
    target = np.asarray(q, dtype=np.float64).copy()
    target[joint] += float(np.clip(speed, -max_joint_speed, max_joint_speed)) * dt
    return target
