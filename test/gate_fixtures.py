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

"""The arms the gate tests run on: the planar arm and the Panda, from the package's URDFs."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from imitation_ros.gate.arbiter import GateConfig
from imitation_ros.gate.joy import JoyConfig, joy_to_target, JoyInput
from imitation_ros.gate.teleop import cap_speed, elbow_velocity
from imitation_ros.interface.robot import GripperModel, RobotModel
from imitation_ros.sim.arm import ArmConfig, jacobian
from imitation_ros.sim.operator import gate_teleop
import numpy as np

URDF = Path(__file__).resolve().parents[1] / 'urdf'
#: The simulated planar arm (joint1..3, base_link -> tool0).
PLANAR = RobotModel.from_file(URDF / 'planar3.urdf')
#: The Franka Panda's arm (panda_joint1..7, panda_link0 -> panda_hand_tcp).
PANDA = RobotModel.from_file(URDF / 'panda.urdf', base_link='panda_link0',
                             tip_link='panda_hand_tcp')
#: The Panda's gripper (one commanded finger joint; the other mimics it).
PANDA_GRIPPER = GripperModel.from_urdf(PANDA.urdf, ['panda_finger_joint1'])
#: The Panda's ready posture (rad): elbow bent, hand pointing down.
PANDA_READY = np.array([0.0, -0.785, 0.0, -2.356, 0.0, 1.571, 0.785])
#: The planar mapping the simulated operator drives (x, y; the elbow on axis 3).
PLANAR_JOY = JoyConfig(**gate_teleop())


def teleop(cfg: GateConfig, q: np.ndarray, joy: JoyInput, *, joint: int = 0,
           rest: np.ndarray | None = None) -> np.ndarray:
    """Return the teleop target the arbiter of ``cfg`` computes from ``q`` (before the clamp)."""
    lower = np.asarray(cfg.robot.lower) + cfg.limit_margin
    upper = np.asarray(cfg.robot.upper) - cfg.limit_margin
    return joy_to_target(cfg.joy, cfg.robot, q, joy, cfg.teleop_dt,
                         max_joint_speed=cfg.max_joint_speed, lower=lower, upper=upper,
                         joint=joint, rest=rest)


def planar_target(config: ArmConfig, q: np.ndarray, axes: Sequence[float], *,
                  linear_speed: float = 1.2, elbow_speed: float = 1.5) -> np.ndarray:
    """Map (x, y, elbow) stick values as the gate's planar mapping does, on the sim's arm."""
    axes = np.clip(np.asarray(axes, dtype=np.float64), -1.0, 1.0)
    qdot = elbow_velocity(jacobian(config, q), axes[:2] * linear_speed,
                          float(axes[2]) * elbow_speed)
    return np.asarray(q) + cap_speed(qdot, config.max_joint_speed) * config.dt


def planar_velocity(config: ArmConfig, q: np.ndarray, ee_velocity: np.ndarray) -> np.ndarray:
    """Joint speeds (rad/s) moving the planar end effector at ``ee_velocity`` (m/s)."""
    return elbow_velocity(jacobian(config, q), ee_velocity)
