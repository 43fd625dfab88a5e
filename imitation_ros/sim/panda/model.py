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
The Panda model: loading the MJCF scene, its names and indices, the controller settings.

The MJCF (``assets/scene.xml`` including ``assets/panda.xml``) is written from
Franka's published kinematic parameters; ``PandaModel`` resolves every name the
simulator, the camera and the demonstrators need once, so they index arrays
instead of looking names up in the control loop.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ...errors import ConfigError
from .gl import mujoco

#: The MJCF scene: the arm, a table whose top is z = 0, a pole, a cube, a target and a goal.
SCENE_XML = Path(__file__).resolve().parent / 'assets' / 'scene.xml'

#: Arm joint names, base to tip, as in the Panda URDF and on ``/joint_states``.
ARM_JOINTS: tuple[str, ...] = tuple(f'panda_joint{i}' for i in range(1, 8))
#: Finger joint names (prismatic, 0 closed .. 0.04 m open each), as in the Panda URDF.
FINGER_JOINTS: tuple[str, ...] = ('panda_finger_joint1', 'panda_finger_joint2')

#: Franka's joint limits (rad).
JOINT_LOWER = np.array([-2.8973, -1.7628, -2.8973, -3.0718, -2.8973, -0.0175, -2.8973])
JOINT_UPPER = np.array([2.8973, 1.7628, 2.8973, -0.0698, 2.8973, 3.7525, 2.8973])
#: Franka's joint velocity limits (rad/s).
JOINT_VELOCITY = (2.175, 2.175, 2.175, 2.175, 2.61, 2.61, 2.61)
#: Largest finger gap (m): both fingers open 0.04 m.
GRIPPER_MAX_WIDTH = 0.08
#: Cameras of the scene: 'front' looks at the workspace from ahead, 'top' from above.
CAMERAS: tuple[str, ...] = ('front', 'top')


@dataclass(frozen=True)
class PandaConfig:
    """
    Controller, timing and episode settings of the simulated Panda.

    Times in seconds, speeds in rad/s (arm) and m/s (gripper gap).
    """

    dt: float = 0.05
    """Control period (s); 20 Hz by default, like the planar arm."""
    substeps: int = 25
    """Physics steps per control period; the MJCF's timestep is dt / substeps."""
    max_joint_speed: tuple[float, ...] = JOINT_VELOCITY
    """Largest speed of each arm joint's setpoint (rad/s): Franka's velocity limits."""
    speed_scale: float = 0.5
    """Fraction of ``max_joint_speed`` the position controller allows, in (0, 1]."""
    gripper_speed: float = 0.1
    """Largest speed of the finger gap's setpoint (m/s)."""
    max_steps: int = 300
    """Step budget per episode (control periods); running out of it is a failure."""
    image_width: int = 96
    """Camera image width (px)."""
    image_height: int = 96
    """Camera image height (px)."""
    camera_name: str = 'front'
    """MJCF camera the images come from ('front' or 'top')."""
    camera: bool = True
    """Open the off-screen camera; without OpenGL the sim runs without one either way."""

    def __post_init__(self) -> None:
        if self.dt <= 0 or self.substeps < 1:
            raise ConfigError(f'dt must be positive and substeps >= 1, got {self.dt}, '
                              f'{self.substeps}')
        if len(self.max_joint_speed) != len(ARM_JOINTS) or min(self.max_joint_speed) <= 0:
            raise ConfigError(f'max_joint_speed needs {len(ARM_JOINTS)} positive speeds '
                              f'(rad/s), got {self.max_joint_speed}')
        if not 0.0 < self.speed_scale <= 1.0:
            raise ConfigError(f'speed_scale must be in (0, 1], got {self.speed_scale}')
        if self.gripper_speed <= 0 or self.max_steps < 1:
            raise ConfigError('gripper_speed must be positive and max_steps >= 1')
        if self.camera_name not in CAMERAS:
            raise ConfigError(f'camera_name must be one of {", ".join(CAMERAS)}, '
                              f'got {self.camera_name!r}')
        if not (16 <= self.image_width <= 640 and 16 <= self.image_height <= 480):
            raise ConfigError(f'image size must be 16..640 x 16..480 px, got '
                              f'{self.image_width}x{self.image_height}')

    @property
    def joint_speed(self) -> np.ndarray:
        """Return the speed limit of each arm joint's setpoint, shape (7,), rad/s."""
        return np.asarray(self.max_joint_speed, dtype=np.float64) * self.speed_scale


class PandaModel:
    """
    The compiled MuJoCo model and the indices of everything named in it.

    :param config: sets the physics timestep (``dt / substeps``).
    """

    def __init__(self, config: PandaConfig | None = None) -> None:
        self.config = config or PandaConfig()
        try:
            self.model = mujoco.MjModel.from_xml_path(str(SCENE_XML))
        except (ValueError, OSError) as exc:
            msg = f'cannot load the Panda scene {SCENE_XML}: {exc}; reinstall imitation_ros'
            raise ConfigError(msg) from exc
        self.model.opt.timestep = self.config.dt / self.config.substeps
        m = self.model
        self.arm_qpos = np.array([m.jnt_qposadr[m.joint(n).id] for n in ARM_JOINTS])
        self.arm_dof = np.array([m.jnt_dofadr[m.joint(n).id] for n in ARM_JOINTS])
        self.finger_qpos = np.array([m.jnt_qposadr[m.joint(n).id] for n in FINGER_JOINTS])
        self.finger_dof = np.array([m.jnt_dofadr[m.joint(n).id] for n in FINGER_JOINTS])
        self.arm_act = np.array([m.actuator(f'actuator{i}').id for i in range(1, 8)])
        self.gripper_act = m.actuator('gripper').id
        # ctrl = setpoint + kv / kp * setpoint velocity gives velocity feed-forward.
        self.arm_kp = m.actuator_gainprm[self.arm_act, 0].copy()
        self.arm_kv = -m.actuator_biasprm[self.arm_act, 2].copy()
        self.tcp_site = m.site('tcp').id
        self.cube_body = m.body('cube').id
        self.cube_qpos = m.jnt_qposadr[m.joint('cube').id]
        self.cube_dof = m.jnt_dofadr[m.joint('cube').id]
        self.cube_geom = m.geom('cube').id
        self.cube_half = float(m.geom_size[self.cube_geom, 0])
        self.pole_geom = m.geom('pole').id
        self.pole_mocap = m.body_mocapid[m.body('pole').id]
        self.target_mocap = m.body_mocapid[m.body('target').id]
        self.target_geom = m.geom('target').id
        self.goal_mocap = m.body_mocapid[m.body('goal').id]
        self.table_geom = m.geom('table').id
        arm_bodies = {m.body(n).id for n in (
            *(f'panda_link{i}' for i in range(1, 8)), 'panda_hand', 'panda_leftfinger',
            'panda_rightfinger')}
        self.arm_geom = np.array([m.geom_bodyid[g] in arm_bodies for g in range(m.ngeom)])
        self.finger_geoms = np.array([m.geom('panda_leftfinger_geom').id,
                                      m.geom('panda_rightfinger_geom').id])
        #: Geoms the arm must never touch: an episode ends with 'collision' when it does.
        self.obstacle_geom = np.zeros(m.ngeom, dtype=bool)
        self.obstacle_geom[[self.pole_geom, self.table_geom]] = True

    def size_pole(self, radius: float, height: float, active: bool = True) -> None:
        """Size the pole (m); an inactive pole is invisible and touches nothing."""
        m, g = self.model, self.pole_geom
        m.geom_size[g] = (radius, height / 2, 0.0)
        m.geom_pos[g] = (0.0, 0.0, height / 2)
        # The broad phase uses these bounds; they must follow the size.
        m.geom_rbound[g] = float(np.hypot(radius, height / 2))
        m.geom_aabb[g] = (0.0, 0.0, 0.0, radius, radius, height / 2)
        m.geom_contype[g] = 2 if active else 0
        m.geom_conaffinity[g] = 1 if active else 0
        m.geom_rgba[g, 3] = 1.0 if active else 0.0

    def set_target_radius(self, radius: float) -> None:
        """Size the (visual) target pad, m."""
        self.model.geom_size[self.target_geom, 0] = radius
