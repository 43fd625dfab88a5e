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
The simulated Panda and its episode, with the same shape of API as the planar arm.

``reset`` draws a task from the seed and puts the arm, the pole, the cube and
the target in place; ``step`` applies one action for one control period
(``dt``, several physics steps). An action is the seven arm joints' absolute
position targets (rad) followed by the finger gap target (m), shape (8,).

The position controller moves each joint's setpoint toward its target at most
at the joint's speed limit, like a ros2_control position controller with a
joint limiter, and MuJoCo's PD servos (with velocity feed-forward and Franka's
torque limits) track the setpoint; gravity is compensated, as the Panda's own
controller does. The finger gap's setpoint moves at ``gripper_speed`` and the
fingers squeeze with a bounded force when an object stops them.

An episode ends with ``success``, ``collision`` (the arm touches the pole or the
table; from MuJoCo's contacts, checked at every physics step), ``joint_limit``
(a joint beyond Franka's limits), ``cube_lost`` (the cube fell off the table)
or ``timeout``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ...errors import SimError
from .camera import open_camera
from .errors import CameraUnavailableError
from .gl import mujoco
from .kinematics import Kinematics
from .model import GRIPPER_MAX_WIDTH, JOINT_LOWER, JOINT_UPPER, PandaConfig, PandaModel
from .tasks import PandaTask, sample_task, TASK_KINDS

#: Reasons an episode ends with, as in the planar arm plus ``cube_lost``.
END_REASONS: tuple[str, ...] = ('success', 'collision', 'joint_limit', 'cube_lost', 'timeout')

#: Largest gap between the finger gap's setpoint and the measured gap (m).
_SQUEEZE = 0.02

#: Where the cube waits, hidden, during reach episodes (m).
_PARKED_CUBE = np.array([-0.3, 0.65, 0.025])


@dataclass(frozen=True)
class PandaStep:
    """What one control period of the sim produced."""

    q: np.ndarray
    """Measured arm joint positions after the step, shape (7,), rad."""
    qd: np.ndarray
    """Measured arm joint velocities after the step, shape (7,), rad/s."""
    width: float
    """Measured finger gap after the step (m)."""
    done: bool
    """True when the episode ended with this step."""
    success: bool
    """True when the task was achieved."""
    reason: str
    """'' while running, else one of :data:`END_REASONS`."""


@dataclass
class PandaSim:
    """
    The simulated Panda and its episode; a plain object, no ROS.

    :param config: controller, timing, episode and camera settings.
    :param task_kind: 'reach' or 'pick'; the kind ``reset`` draws.
    :param seed: seeds the episode generator.
    """

    config: PandaConfig = field(default_factory=PandaConfig)
    task_kind: str = 'reach'
    seed: int = 0

    def __post_init__(self) -> None:
        if self.task_kind not in TASK_KINDS:
            raise SimError(f'unknown task kind {self.task_kind!r}; choose one of '
                           f'{", ".join(TASK_KINDS)}')
        self.panda = PandaModel(self.config)
        self.model = self.panda.model
        self.data = mujoco.MjData(self.model)
        self.kinematics = Kinematics(self.panda)
        self._rng = np.random.default_rng(self.seed)
        self.task: PandaTask | None = None
        self.steps = 0
        self.done = True
        self.success = False
        self.reason = ''
        self.episode = -1
        self._command = np.zeros(8)
        self._width_setpoint = GRIPPER_MAX_WIDTH
        self.camera, self.camera_error = None, 'camera disabled (PandaConfig.camera=False)'
        if self.config.camera:
            self.camera, self.camera_error = open_camera(
                self.model, self.config.camera_name, self.config.image_width,
                self.config.image_height)

    # ----------------------------------------------------------------- state
    @property
    def q(self) -> np.ndarray:
        """Measured arm joint positions, shape (7,), rad."""
        return self.data.qpos[self.panda.arm_qpos].copy()

    @property
    def qd(self) -> np.ndarray:
        """Measured arm joint velocities, shape (7,), rad/s."""
        return self.data.qvel[self.panda.arm_dof].copy()

    def joint_velocities(self) -> np.ndarray:
        """Arm joint velocities and the finger gap's speed, shape (8,) (rad/s, m/s)."""
        gap = float(np.sum(self.data.qvel[self.panda.finger_dof]))
        return np.concatenate([self.qd, [gap]])

    @property
    def width(self) -> float:
        """Measured finger gap (m)."""
        return float(np.sum(self.data.qpos[self.panda.finger_qpos]))

    @property
    def tcp(self) -> np.ndarray:
        """Tool frame position, shape (3,), m."""
        return self.data.site_xpos[self.panda.tcp_site].copy()

    @property
    def tcp_rotation(self) -> np.ndarray:
        """Tool frame rotation, shape (3, 3)."""
        return self.data.site_xmat[self.panda.tcp_site].reshape(3, 3).copy()

    @property
    def cube_pose(self) -> np.ndarray:
        """Cube pose: position (3,) m and quaternion (w, x, y, z), shape (7,)."""
        adr = self.panda.cube_qpos
        return self.data.qpos[adr:adr + 7].copy()

    @property
    def has_camera(self) -> bool:
        """Return True when :meth:`render` can produce images."""
        return self.camera is not None

    # --------------------------------------------------------------- episode
    def reset(self, task: PandaTask | None = None, seed: int | None = None) -> PandaTask:
        """
        Start a new episode and return its task.

        :param task: use this task instead of drawing one.
        :param seed: reseed the episode generator first (reproducible single episodes).
        """
        if seed is not None:
            self._rng = np.random.default_rng(seed)
        if task is None:
            task = sample_task(self.task_kind, self.kinematics, self._rng)
        start = np.asarray(task.start, dtype=np.float64)
        if start.shape != (7,) or not np.all(np.isfinite(start)):
            raise SimError(f'task.start must be 7 finite joint positions (rad), got {start!r}')
        p, m, d = self.panda, self.model, self.data
        mujoco.mj_resetData(m, d)
        d.qpos[p.arm_qpos] = start
        width = float(np.clip(task.start_width, 0.0, GRIPPER_MAX_WIDTH))
        d.qpos[p.finger_qpos] = width / 2
        if task.kind == 'reach':
            x, y, radius, height = task.pole
            p.size_pole(radius, height, active=True)
            d.mocap_pos[p.pole_mocap] = (x, y, 0.0)
            d.mocap_pos[p.goal_mocap] = task.goal
            m.geom_rgba[m.body_geomadr[m.body('goal').id], 3] = 0.8
            self._place_cube(_PARKED_CUBE, 0.0, visible=False)
            d.mocap_pos[p.target_mocap] = (_PARKED_CUBE[0], -_PARKED_CUBE[1], -0.01)
        else:
            p.size_pole(0.01, 0.01, active=False)
            d.mocap_pos[p.pole_mocap] = (-0.3, -0.65, 0.0)
            d.mocap_pos[p.goal_mocap] = (-0.3, -0.65, -0.1)
            m.geom_rgba[m.body_geomadr[m.body('goal').id], 3] = 0.0
            self._place_cube(np.array([task.cube[0], task.cube[1], p.cube_half]), task.cube[2],
                             visible=True)
            d.mocap_pos[p.target_mocap] = (task.target[0], task.target[1], 0.0)
            p.set_target_radius(task.target[2])
        d.ctrl[p.arm_act] = start
        d.ctrl[p.gripper_act] = width / 2
        mujoco.mj_forward(m, d)
        self.task = task
        self._command = np.concatenate([start, [width]])
        self._width_setpoint = width
        self.steps = 0
        self.done = False
        self.success = False
        self.reason = ''
        self.episode += 1
        return task

    def _place_cube(self, position: np.ndarray, yaw: float, visible: bool) -> None:
        adr, dof = self.panda.cube_qpos, self.panda.cube_dof
        self.data.qpos[adr:adr + 3] = position
        self.data.qpos[adr + 3:adr + 7] = (np.cos(yaw / 2), 0.0, 0.0, np.sin(yaw / 2))
        self.data.qvel[dof:dof + 6] = 0.0
        self.model.geom_rgba[self.panda.cube_geom, 3] = 1.0 if visible else 0.0

    def set_cube(self, position: np.ndarray, yaw: float = 0.0) -> None:
        """Put the cube at ``position`` (3,) m with ``yaw`` rad, at rest (tests, scenes)."""
        self._place_cube(np.asarray(position, dtype=np.float64), yaw, visible=True)
        mujoco.mj_forward(self.model, self.data)

    def step(self, action: np.ndarray) -> PandaStep:
        """
        Apply one action for one control period.

        :param action: 7 arm joint targets (rad) and the finger gap target (m), shape (8,).
            A non-finite action is rejected (the controller keeps its last command), as a
            real driver must never act on NaN.
        """
        if self.done or self.task is None:
            raise SimError('episode is over; call reset() before step()')
        a = np.asarray(action, dtype=np.float64)
        if a.shape != (8,):
            raise SimError(f'action must have shape (8,): 7 joint targets (rad) and the finger '
                           f'gap (m), got {a.shape}')
        if np.all(np.isfinite(a)):
            self._command = a.copy()
        cfg, p, m, d = self.config, self.panda, self.model, self.data
        q0 = d.qpos[p.arm_qpos].copy()
        limit = cfg.joint_speed * cfg.dt
        delta = np.clip(self._command[:7] - q0, -limit, limit)
        feed_forward = p.arm_kv / p.arm_kp * (delta / cfg.dt)
        width_goal = float(np.clip(self._command[7], 0.0, GRIPPER_MAX_WIDTH))
        # The gap setpoint stays near the measured gap, so a squeeze is bounded and an
        # open command acts at once instead of first unwinding a setpoint deep in the cube.
        width = self.width
        w0 = float(np.clip(self._width_setpoint, width - _SQUEEZE, width + _SQUEEZE))
        w_delta = float(np.clip(width_goal - w0, -cfg.gripper_speed * cfg.dt,
                                cfg.gripper_speed * cfg.dt))
        n = cfg.substeps
        collided = False
        for k in range(1, n + 1):
            d.ctrl[p.arm_act] = q0 + delta * (k / n) + feed_forward
            d.ctrl[p.gripper_act] = (w0 + w_delta * (k / n)) / 2
            mujoco.mj_step(m, d)
            collided = collided or self._arm_touches_obstacle()
        self._width_setpoint = w0 + w_delta
        self.steps += 1
        self._check_end(collided)
        return PandaStep(q=self.q, qd=self.qd, width=self.width, done=self.done,
                         success=self.success, reason=self.reason)

    def _arm_touches_obstacle(self) -> bool:
        ncon = self.data.ncon
        if ncon == 0:
            return False
        g1 = self.data.contact.geom1[:ncon]
        g2 = self.data.contact.geom2[:ncon]
        arm, obstacle = self.panda.arm_geom, self.panda.obstacle_geom
        return bool(np.any((arm[g1] & obstacle[g2]) | (arm[g2] & obstacle[g1])))

    def cube_on_target(self) -> bool:
        """Return True when the cube rests on the target pad, released by the fingers."""
        assert self.task is not None
        p, d = self.panda, self.data
        pos = self.cube_pose[:3]
        if np.linalg.norm(pos[:2] - self.task.target[:2]) > self.task.target[2]:
            return False
        if abs(pos[2] - p.cube_half) > 0.004:
            return False
        speed = np.linalg.norm(d.qvel[p.cube_dof:p.cube_dof + 3])
        return bool(speed < 0.02 and not self._fingers_touch_cube())

    def _fingers_touch_cube(self) -> bool:
        ncon = self.data.ncon
        g1 = self.data.contact.geom1[:ncon]
        g2 = self.data.contact.geom2[:ncon]
        cube, fingers = self.panda.cube_geom, self.panda.finger_geoms
        return bool(np.any(((g1 == cube) & np.isin(g2, fingers))
                           | ((g2 == cube) & np.isin(g1, fingers))))

    def _check_end(self, collided: bool) -> None:
        task = self.task
        assert task is not None
        q = self.q
        if collided:
            self._end(False, 'collision')
        elif np.any(q < JOINT_LOWER) or np.any(q > JOINT_UPPER):
            self._end(False, 'joint_limit')
        elif task.kind == 'reach' and np.linalg.norm(self.tcp - task.goal) <= task.goal_tolerance:
            self._end(True, 'success')
        elif task.kind == 'pick' and self.cube_on_target():
            self._end(True, 'success')
        elif task.kind == 'pick' and self.cube_pose[2] < -0.05:
            self._end(False, 'cube_lost')
        elif self.steps >= self.config.max_steps:
            self._end(False, 'timeout')

    def _end(self, success: bool, reason: str) -> None:
        self.done = True
        self.success = success
        self.reason = reason

    # ---------------------------------------------------------------- camera
    def render(self) -> np.ndarray:
        """
        Render the current state from the configured camera.

        :returns: RGB image, shape (image_height, image_width, 3), uint8.
        :raises CameraUnavailableError: when the sim has no camera (the message says why).
        """
        if self.camera is None:
            raise CameraUnavailableError(self.camera_error)
        return self.camera.render(self.data)

    def close(self) -> None:
        """Free the camera's OpenGL context; the physics keeps working."""
        if self.camera is not None:
            self.camera.close()
            self.camera = None
            self.camera_error = 'camera closed'
