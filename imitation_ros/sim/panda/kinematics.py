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
Forward kinematics, Jacobians and differential inverse kinematics of the Panda.

Everything runs on MuJoCo's own model (``mj_kinematics``, ``mj_jacSite``) in a
private ``MjData``, so asking about a posture never disturbs a running
simulation. The tool frame is the ``tcp`` site between the finger tips; a
top-down grasp frame has its z axis pointing down and its x axis at a yaw
angle about the world z axis (the fingers close along its y axis).
"""

from __future__ import annotations

import numpy as np

from ...errors import SimError
from .gl import mujoco
from .model import JOINT_LOWER, JOINT_UPPER, PandaModel


def down_rotation(yaw: float) -> np.ndarray:
    """Rotation of a tool frame pointing down with its x axis at ``yaw`` (rad), shape (3, 3)."""
    c, s = np.cos(yaw), np.sin(yaw)
    return np.array([[c, s, 0.0], [s, -c, 0.0], [0.0, 0.0, -1.0]])


def rotation_error(current: np.ndarray, desired: np.ndarray) -> np.ndarray:
    """Small rotation (axis times angle, world frame) taking ``current`` to ``desired``, (3,)."""
    return 0.5 * sum(np.cross(current[:, i], desired[:, i]) for i in range(3))


def tool_yaw(rotation: np.ndarray) -> float:
    """Yaw of a tool frame's x axis about the world z axis (rad)."""
    return float(np.arctan2(rotation[1, 0], rotation[0, 0]))


def wrap_half_turn(angle: float) -> float:
    """Wrap an angle to [-pi/2, pi/2): a parallel gripper is the same after half a turn."""
    return float((angle + np.pi / 2) % np.pi - np.pi / 2)


class Kinematics:
    """
    Kinematic queries on a private copy of the state; cheap (tens of microseconds).

    :param panda: the model (shared, read only).
    """

    def __init__(self, panda: PandaModel) -> None:
        self.panda = panda
        self._data = mujoco.MjData(panda.model)
        self._jacp = np.zeros((3, panda.model.nv))
        self._jacr = np.zeros((3, panda.model.nv))

    def _set(self, q: np.ndarray) -> None:
        q = np.asarray(q, dtype=np.float64)
        if q.shape != (7,) or not np.all(np.isfinite(q)):
            raise SimError(f'arm joint positions must be 7 finite values (rad), got {q!r}')
        self._data.qpos[self.panda.arm_qpos] = q
        mujoco.mj_kinematics(self.panda.model, self._data)

    def tcp(self, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Tool frame at arm posture ``q`` (7,): position (3,) m and rotation (3, 3)."""
        self._set(q)
        site = self.panda.tcp_site
        return self._data.site_xpos[site].copy(), self._data.site_xmat[site].reshape(3, 3).copy()

    def jacobian(self, q: np.ndarray) -> np.ndarray:
        """Tool frame Jacobian at ``q``: rows (linear m/rad, angular rad/rad), shape (6, 7)."""
        self._set(q)
        mujoco.mj_comPos(self.panda.model, self._data)
        mujoco.mj_jacSite(self.panda.model, self._data, self._jacp, self._jacr,
                          self.panda.tcp_site)
        cols = self.panda.arm_dof
        return np.vstack([self._jacp[:, cols], self._jacr[:, cols]])

    def body_position(self, q: np.ndarray, body: str) -> np.ndarray:
        """World position of a body's frame at posture ``q``, shape (3,), m."""
        self._set(q)
        return self._data.body(body).xpos.copy()


def dls_velocity(jac: np.ndarray, twist: np.ndarray, q: np.ndarray, posture: np.ndarray,
                 posture_gain: float, damping: float = 0.05) -> np.ndarray:
    """
    Joint velocity realizing a tool twist, with posture holding in the null space.

    Damped least squares ``J^T (J J^T + damping^2 I)^-1 twist`` plus the null-space
    projection of ``posture_gain * (posture - q)``, which keeps the elbow and the
    redundant joint where the posture puts them.

    :param jac: (6, 7) Jacobian; :param twist: (6,) linear m/s and angular rad/s.
    :returns: joint velocity, shape (7,), rad/s.
    """
    jjt = jac @ jac.T + damping ** 2 * np.eye(jac.shape[0])
    pinv = jac.T @ np.linalg.inv(jjt)
    qdot = pinv @ twist
    null = np.eye(jac.shape[1]) - pinv @ jac
    return qdot + null @ (posture_gain * (posture - q))


def solve_ik(kin: Kinematics, position: np.ndarray, yaw: float, q0: np.ndarray,
             posture: np.ndarray | None = None, iterations: int = 200,
             tolerance: float = 5e-4) -> np.ndarray:
    """
    Arm posture putting the tool frame at ``position`` pointing down at ``yaw``.

    Iterated damped least squares from ``q0``, kept inside the joint limits.

    :raises SimError: when it does not converge (the pose is out of reach).
    """
    q = np.asarray(q0, dtype=np.float64).copy()
    posture = q.copy() if posture is None else np.asarray(posture, dtype=np.float64)
    desired = down_rotation(yaw)
    for _ in range(iterations):
        pos, rot = kin.tcp(q)
        err = np.concatenate([position - pos, rotation_error(rot, desired)])
        if np.linalg.norm(err) < tolerance:
            return q
        q = q + dls_velocity(kin.jacobian(q), err, q, posture, 0.1, damping=0.02)
        q = np.clip(q, JOINT_LOWER + 0.01, JOINT_UPPER - 0.01)
    raise SimError(f'inverse kinematics did not reach {position} at yaw {yaw:.2f} rad '
                   f'(residual {np.linalg.norm(err):.4f}); the pose is out of reach')
