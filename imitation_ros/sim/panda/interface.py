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
The simulated Panda behind the interface of a ros2_control arm, without ROS.

What the ``sim_arm`` node's MuJoCo backend (``nodes/sim_panda.py``) needs
beyond :class:`~imitation_ros.sim.panda.sim.PandaSim`: the controller settings
from the node's rate, joint states in the URDF's names (the seven arm joints
and both fingers), a gripper command (finger joint positions, as a forward
command controller of the finger joints takes them) turned into the finger
gap, the check that a URDF describes the simulated arm, the episode events,
and a camera opened by the thread that renders (an OpenGL context belongs to
the thread that made it).
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from ...errors import ConfigError, SimError
from .camera import Camera, gl_problem, open_camera
from .errors import CameraUnavailableError
from .kinematics import Kinematics
from .model import ARM_JOINTS, FINGER_JOINTS, GRIPPER_MAX_WIDTH, JOINT_LOWER, JOINT_UPPER
from .model import PandaConfig
from .sim import PandaSim

#: Joint names of ``joint_states``: the arm, base to tip, then both fingers.
JOINT_STATE_NAMES: tuple[str, ...] = (*ARM_JOINTS, *FINGER_JOINTS)
#: Travel of one finger (m): the gap is the sum of both fingers' positions.
FINGER_TRAVEL = GRIPPER_MAX_WIDTH / 2
#: Physics timestep the controller settings aim at (s); a control period holds whole steps.
PHYSICS_STEP_S = 0.002
#: Largest distance between the URDF's tool frame and the sim's (m).
URDF_TOLERANCE_M = 1e-6
#: The URDF link of the tool frame (the sim's ``tcp`` site).
TIP_LINK = 'panda_hand_tcp'
#: The URDF's root link, where the sim's world frame is.
BASE_LINK = 'panda_link0'


def panda_config(*, rate_hz: float, max_steps: int, speed_scale: float, image_size: int,
                 camera_name: str) -> PandaConfig:
    """
    Return the sim's settings for a node stepping it at ``rate_hz``.

    The control period is 1 / rate_hz, split into whole physics steps of about
    :data:`PHYSICS_STEP_S`. The camera is left closed: the node opens it in the
    thread that renders (:class:`FrameSource`).

    :raises ConfigError: a value the sim refuses (the message names it).
    """
    dt = 1.0 / float(rate_hz)
    substeps = max(1, int(round(dt / PHYSICS_STEP_S)))
    return PandaConfig(dt=dt, substeps=substeps, max_steps=int(max_steps),
                       speed_scale=float(speed_scale), image_width=int(image_size),
                       image_height=int(image_size), camera_name=camera_name, camera=False)


def joint_state(sim: PandaSim) -> tuple[np.ndarray, np.ndarray]:
    """
    Return the measured positions and velocities in :data:`JOINT_STATE_NAMES` order.

    :returns: positions (9,) (rad for the arm, m for each finger) and velocities (9,)
        (rad/s, m/s).
    """
    d, p = sim.data, sim.panda
    positions = np.concatenate([d.qpos[p.arm_qpos], d.qpos[p.finger_qpos]])
    velocities = np.concatenate([d.qvel[p.arm_dof], d.qvel[p.finger_dof]])
    return positions.astype(np.float64), velocities.astype(np.float64)


def gripper_width(values: Sequence[float]) -> float:
    """
    Return the finger gap (m) a gripper command asks for.

    :param values: one finger position (``panda_finger_joint1``; the other finger
        mimics it) or both (``panda_finger_joint1``, ``panda_finger_joint2``), m,
        each within [0, :data:`FINGER_TRAVEL`].
    :raises SimError: another count, a value that is not finite or out of travel.
    """
    v = np.asarray(values, dtype=np.float64).reshape(-1)
    if v.size not in (1, 2):
        raise SimError(f'a gripper command has 1 value ({FINGER_JOINTS[0]}, the other finger '
                       f'mimics it) or 2 ({", ".join(FINGER_JOINTS)}), got {v.size}')
    if not np.all(np.isfinite(v)) or np.any(v < -1e-9) or np.any(v > FINGER_TRAVEL + 1e-9):
        raise SimError(f'finger positions must be finite and within [0, {FINGER_TRAVEL:g}] m, '
                       f'got {v.tolist()}')
    width = 2.0 * float(v[0]) if v.size == 1 else float(v.sum())
    return float(np.clip(width, 0.0, GRIPPER_MAX_WIDTH))


def check_urdf_is_the_sim(robot: Any, kinematics: Kinematics, *, samples: int = 8,
                          seed: int = 0) -> None:
    """
    Check that a URDF chain (:class:`~imitation_ros.interface.robot.RobotModel`) is this Panda.

    Its joints must be :data:`~imitation_ros.sim.panda.model.ARM_JOINTS`, and its
    tool frame must sit where the sim's ``tcp`` site does at random postures.

    :raises ConfigError: other joints, or a tool frame more than URDF_TOLERANCE_M off.
    """
    robot.check_joint_names(ARM_JOINTS, 'the simulated Panda')
    rng = np.random.default_rng(seed)
    for q in rng.uniform(JOINT_LOWER, JOINT_UPPER, size=(samples, len(ARM_JOINTS))):
        gap = float(np.linalg.norm(robot.position(q) - kinematics.tcp(q)[0]))
        if gap > URDF_TOLERANCE_M:
            raise ConfigError(f'the URDF {robot.name} does not describe the simulated Panda: at '
                              f'q = {q.round(3).tolist()} its {robot.tip_link} is {gap:.3g} m '
                              "from the sim's tool frame; give the package's urdf/panda.urdf")


def start_event(sim: PandaSim, *, rate_hz: float, stamp: float) -> dict[str, Any]:
    """Return the ``imitation/episode`` start event of the sim's current episode."""
    task = sim.task
    if task is None:
        raise SimError('no episode has started; call reset() first')
    return {'event': 'start', 'episode': int(sim.episode), 'robot': 'panda',
            'task_kind': task.kind, 'start': sim.q.tolist(), 'start_width': sim.width,
            'task': task.vector().tolist(), 'task_layout': list(task.layout),
            'joint_names': list(ARM_JOINTS), 'max_steps': int(sim.config.max_steps),
            'rate_hz': float(rate_hz), 'stamp': float(stamp)}


def end_event(sim: PandaSim, *, success: bool, reason: str, stamp: float) -> dict[str, Any]:
    """Return the ``imitation/episode`` end event of the sim's current episode."""
    return {'event': 'end', 'episode': int(sim.episode), 'success': bool(success),
            'reason': reason, 'steps': int(sim.steps), 'stamp': float(stamp)}


class FrameSource:
    """
    The sim's camera, opened on the first :meth:`frame` by the thread that calls it.

    :param sim: the simulator whose state is rendered.
    """

    def __init__(self, sim: PandaSim) -> None:
        self.sim = sim
        self._camera: Camera | None = None
        self.problem = gl_problem()
        """Why there are no frames ('' while there may be)."""

    @property
    def available(self) -> bool:
        """Return False once it is known that no frame can be rendered."""
        return not self.problem

    def frame(self) -> np.ndarray:
        """
        Render the current state: RGB, shape (image_size, image_size, 3), uint8.

        :raises CameraUnavailableError: no OpenGL context (:attr:`problem` says why).
        """
        if self.problem:
            raise CameraUnavailableError(self.problem)
        if self._camera is None:
            cfg = self.sim.config
            self._camera, self.problem = open_camera(self.sim.model, cfg.camera_name,
                                                     cfg.image_width, cfg.image_height)
            if self._camera is None:
                raise CameraUnavailableError(self.problem)
        return self._camera.render(self.sim.data)

    def close(self) -> None:
        """Free the OpenGL context (from the thread that rendered, where possible)."""
        if self._camera is not None:
            self._camera.close()
            self._camera = None
