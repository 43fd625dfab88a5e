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
The simulated planar arm as the gate sees a robot (``interface.kinematics.ArmKinematics``).

The offline studies run the gate's own state machine on the simulated arm; this
gives it that arm's joints, limits and Jacobian from :mod:`imitation_ros.sim.arm`
itself, so the study's gate moves exactly the arm it simulates, whatever its link
lengths. For the default geometry it agrees with ``urdf/planar3.urdf`` (what the
``intervention_gate`` node reads) within 1e-9 (tested).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from .arm import ArmConfig, end_effector, jacobian


@dataclass(frozen=True, eq=False)
class PlanarArmModel:
    """The planar arm of ``config``: base frame = the sim's plane, z up; tip = end effector."""

    config: ArmConfig

    @property
    def joint_names(self) -> tuple[str, ...]:
        """Return the joint names, base to tip."""
        return tuple(self.config.joint_names)

    @property
    def lower(self) -> np.ndarray:
        """Return the lower joint limits, shape (n,), rad."""
        return self.config.lower

    @property
    def upper(self) -> np.ndarray:
        """Return the upper joint limits, shape (n,), rad."""
        return self.config.upper

    @property
    def n_joints(self) -> int:
        """Return the number of joints."""
        return self.config.n_joints

    def position(self, q: Sequence[float]) -> np.ndarray:
        """Return the end effector's position, shape (3,), m: the sim's x, y and z = 0."""
        return np.append(end_effector(self.config, np.asarray(q, dtype=np.float64)), 0.0)

    def jacobian(self, q: Sequence[float]) -> np.ndarray:
        """
        Return the end effector's Jacobian, shape (6, n): x, y rows of the sim, yaw row of ones.

        Every joint turns about z, so the arm never leaves its plane (rows z, roll,
        pitch are zero) and each joint turns the tool at its own rate.
        """
        q = np.asarray(q, dtype=np.float64)
        out = np.zeros((6, self.config.n_joints))
        out[:2] = jacobian(self.config, q)
        out[5] = 1.0
        return out
