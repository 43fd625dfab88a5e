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
What the teleop and the demonstrators need of an arm's kinematics, and the algebra they share.

:class:`ArmKinematics` is the part of a robot model the intervention gate uses: the
chain's joint names and limits and the tip's 6 x n Jacobian in the base frame
(:class:`~imitation_ros.interface.robot.RobotModel` from a URDF has it, and so has
the simulated planar arm's model in ``sim/kinematics.py``). The functions are plain
numpy on a Jacobian: the damped least-squares inverse, the null space and its
direction, shared by the gate's teleop (stick to joint motion) and the scripted
demonstrators (joint motion back to stick values), so neither imports the other.
"""

from __future__ import annotations

from typing import Protocol, Sequence

import numpy as np

#: The rows of a 6 x n Jacobian: linear velocity along x, y, z (m/s), then angular
#: velocity about x, y, z (rad/s), in the base frame; the names a teleop task uses
#: (geometry_msgs/Twist's fields; never a bare 'y', which ROS parameter files read as
#: a boolean).
TASK_COMPONENTS: tuple[str, ...] = ('linear_x', 'linear_y', 'linear_z', 'angular_x',
                                    'angular_y', 'angular_z')
#: Damping of the least-squares inverse (m^2); bounds joint speed near singularities.
DLS_DAMPING = 0.01
#: Singular values below this (relative to the largest) count as zero in a null space.
RANK_TOLERANCE = 1e-9
#: Smallest singular value (m/rad) below which :func:`adaptive_damping` starts to damp.
SINGULAR_REGION = 0.1


class ArmKinematics(Protocol):
    """An arm as the gate sees it: joints, limits and the tip's Jacobian."""

    joint_names: tuple[str, ...]
    """Joint names, base to tip: commands and joint states use this order."""
    lower: np.ndarray
    """Lower position limits, shape (n,), rad (m for prismatic); -inf for continuous."""
    upper: np.ndarray
    """Upper position limits, shape (n,)."""

    @property
    def n_joints(self) -> int:
        """Return the number of joints n."""

    def jacobian(self, q: Sequence[float]) -> np.ndarray:
        """Return the tip's Jacobian in the base frame, shape (6, n), rows TASK_COMPONENTS."""


def task_rows(components: Sequence[str]) -> list[int]:
    """
    Return the Jacobian rows of the task components named (see TASK_COMPONENTS).

    :raises ValueError: an unknown or repeated name.
    """
    rows = []
    for name in components:
        if name not in TASK_COMPONENTS:
            raise ValueError(f'unknown task component {name!r}; use {", ".join(TASK_COMPONENTS)}')
        rows.append(TASK_COMPONENTS.index(name))
    if len(set(rows)) != len(rows):
        raise ValueError(f'task components repeat: {list(components)}')
    return rows


def dls_inverse(jac: np.ndarray, damping: float = DLS_DAMPING) -> np.ndarray:
    """
    Return the damped least-squares inverse ``J^T (J J^T + damping I)^-1``, shape (n, m).

    Bounded near singular postures, where the plain pseudo-inverse blows up.
    """
    return jac.T @ np.linalg.inv(jac @ jac.T + damping * np.eye(jac.shape[0]))


def adaptive_damping(jac: np.ndarray, damping: float = DLS_DAMPING,
                     region: float = SINGULAR_REGION) -> float:
    """
    Return the damping for ``jac``: none away from singular postures, up to ``damping`` at one.

    ``damping * (1 - (s / region)^2)`` where the smallest singular value ``s`` is
    below ``region``, else 0: the inverse is exact where it can be and bounded where
    it must be (Nakamura and Hanafusa's rule).
    """
    if jac.size == 0:
        return 0.0
    smallest = float(np.linalg.svd(jac, compute_uv=False)[-1]) if jac.shape[0] <= jac.shape[1] \
        else 0.0
    if smallest >= region:
        return 0.0
    return damping * (1.0 - (smallest / region) ** 2)


def null_space_direction(jac: np.ndarray) -> np.ndarray:
    """
    Return the unit joint-space direction of least tip motion for the rows of ``jac``.

    For an (n - 1) x n Jacobian of full rank this spans its null space: the
    self-motion that keeps those task components still (the planar arm's
    elbow). The sign is fixed so that positive motion raises the first joint,
    which makes the direction mean the same thing in every posture.

    :returns: shape (n,), unitless.
    """
    _, _, vt = np.linalg.svd(jac)
    direction = vt[-1]
    if direction[0] < 0:
        direction = -direction
    return direction


def null_space_projector(jac: np.ndarray) -> np.ndarray:
    """
    Return ``I - J+ J``, shape (n, n): joint motion through it leaves ``J``'s task still.

    Uses the exact pseudo-inverse (singular values below RANK_TOLERANCE of the
    largest count as zero), so a motion it projects disturbs the task by nothing
    but rounding.
    """
    n = jac.shape[1]
    if jac.shape[0] == 0:
        return np.eye(n)
    return np.eye(n) - np.linalg.pinv(jac, rcond=RANK_TOLERANCE) @ jac
