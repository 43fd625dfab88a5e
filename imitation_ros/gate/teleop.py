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
Joystick to joint command mapping (teleoperation), plain numpy.

Cartesian mode: the left stick moves the end effector in the plane (x, y) at up
to ``linear_speed`` m/s; a third axis moves the elbow in the arm's null space
(the motion that keeps the end effector still) at up to ``elbow_speed`` rad/s.
Joint velocities come from damped least squares on the positional Jacobian, so
the mapping stays bounded near singular postures. Joint mode: each axis drives
one joint at up to ``joint_speed`` rad/s.
"""

from __future__ import annotations

import numpy as np

from ..sim.arm import ArmConfig, jacobian

#: Damping of the least-squares inverse (m^2); bounds joint speed near singularities.
DLS_DAMPING = 0.01


def null_space_direction(config: ArmConfig, q: np.ndarray) -> np.ndarray:
    """
    Return the unit joint-space direction that leaves the end effector still.

    The sign is fixed so that positive motion raises the first joint, which
    makes the elbow axis mean the same thing in every posture.

    :returns: shape (n,), unitless.
    """
    jac = jacobian(config, q)
    _, _, vt = np.linalg.svd(jac)
    direction = vt[-1]
    if direction[0] < 0:
        direction = -direction
    return direction


def cartesian_velocity(config: ArmConfig, q: np.ndarray, ee_velocity: np.ndarray,
                       elbow_rate: float = 0.0) -> np.ndarray:
    """
    Joint velocity for an end effector velocity plus an elbow (null space) rate.

    :param ee_velocity: desired end effector velocity, shape (2,), m/s.
    :param elbow_rate: null-space speed, rad/s along :func:`null_space_direction`.
    :returns: joint velocity, shape (n,), rad/s.
    """
    q = np.asarray(q, dtype=np.float64)
    jac = jacobian(config, q)
    pinv = jac.T @ np.linalg.inv(jac @ jac.T + DLS_DAMPING * np.eye(2))
    qdot = pinv @ np.asarray(ee_velocity, dtype=np.float64)
    if elbow_rate:
        qdot = qdot + elbow_rate * null_space_direction(config, q)
    return qdot


def axes_to_target(config: ArmConfig, q: np.ndarray, axes: np.ndarray, *,
                   linear_speed: float, elbow_speed: float, dt: float) -> np.ndarray:
    """
    Map cartesian stick values to the next absolute joint target.

    :param axes: (x, y, elbow) stick values in [-1, 1] after deadzone.
    :returns: absolute joint target, shape (n,), rad (not yet clamped to limits).
    """
    axes = np.clip(np.asarray(axes, dtype=np.float64), -1.0, 1.0)
    qdot = cartesian_velocity(config, q, axes[:2] * linear_speed, float(axes[2]) * elbow_speed)
    peak = float(np.max(np.abs(qdot)))
    if peak > config.max_joint_speed:
        qdot *= config.max_joint_speed / peak
    return np.asarray(q, dtype=np.float64) + qdot * dt
