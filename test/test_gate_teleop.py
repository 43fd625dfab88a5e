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

"""Joystick to joint mapping: cartesian motion through the Jacobian, elbow in the null space."""

import numpy as np

from imitation_ros.gate.teleop import (axes_to_target, cartesian_velocity,
                                       null_space_direction)
from imitation_ros.sim.arm import ArmConfig, end_effector, jacobian


def test_cartesian_stick_moves_the_end_effector_along_the_stick() -> None:
    """Pushing x moves the end effector in +x, with negligible y motion."""
    cfg = ArmConfig()
    q = np.array([0.4, -0.8, 0.6])
    target = axes_to_target(cfg, q, [1.0, 0.0, 0.0], linear_speed=0.5, elbow_speed=1.0, dt=0.01)
    motion = end_effector(cfg, target) - end_effector(cfg, q)
    assert motion[0] > 0.004 and abs(motion[1]) < 0.2 * motion[0]


def test_elbow_axis_keeps_the_end_effector_still() -> None:
    """The null-space direction does not move the end effector to first order."""
    cfg = ArmConfig()
    q = np.array([0.4, -0.8, 0.6])
    n = null_space_direction(cfg, q)
    assert np.allclose(jacobian(cfg, q) @ n, 0, atol=1e-9) and n[0] > 0
    qdot = cartesian_velocity(cfg, q, np.zeros(2), elbow_rate=1.0)
    np.testing.assert_allclose(qdot, n)


def test_joint_speed_is_bounded_near_a_singularity() -> None:
    """At the straight (singular) posture the mapped joint speed stays within the limit."""
    cfg = ArmConfig()
    q = np.zeros(3)
    target = axes_to_target(cfg, q, [1.0, 1.0, 1.0], linear_speed=2.0, elbow_speed=2.0,
                            dt=cfg.dt)
    assert np.max(np.abs(target - q)) <= cfg.max_joint_speed * cfg.dt + 1e-12
    assert np.all(np.isfinite(target))
