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
Roll a controller in the simulated Panda, directly (no DDS), and keep what happened.

The Panda counterpart of ``imitation_ros.sim.rollout``: demonstrations,
policy evaluation and the measurements in ``bench`` run through it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np

from .kinematics import Kinematics, tool_yaw, wrap_half_turn
from .observe import observe, PandaObservation
from .sim import PandaSim
from .tasks import PandaTask

#: A controller maps (observation, task) to an action: 7 joint targets (rad) and a gap (m).
Controller = Callable[[PandaObservation, PandaTask], np.ndarray]


@dataclass(frozen=True)
class PandaTrajectory:
    """One episode at the control rate."""

    task: PandaTask
    """The episode's task."""
    joints: np.ndarray
    """Measured joints and finger gap before each action plus the final state, (T + 1, 8)."""
    tcp: np.ndarray
    """Tool frame positions at the same instants, (T + 1, 3), m."""
    cube: np.ndarray
    """Cube poses at the same instants, (T + 1, 7) (m, quaternion w x y z)."""
    actions: np.ndarray
    """Executed actions, (T, 8) (rad, m)."""
    images: Optional[np.ndarray]
    """Camera frames, (T_img, H, W, 3) uint8 RGB, or None."""
    image_steps: Optional[np.ndarray]
    """Index of the state each frame shows, (T_img,), int."""
    success: bool
    """True when the task was achieved."""
    reason: str
    """How the episode ended (``sim.END_REASONS``)."""
    velocities: Optional[np.ndarray] = None
    """Joint velocities and finger gap speed at the states, (T + 1, 8) (rad/s, m/s)."""

    @property
    def steps(self) -> int:
        """Return the number of control periods T."""
        return int(self.actions.shape[0])


def rollout(sim: PandaSim, controller: Controller, *, task: PandaTask | None = None,
            seed: int | None = None, image_every: int = 0) -> PandaTrajectory:
    """
    Run one episode of ``controller`` in ``sim`` until it ends.

    :param task: the task to use (default: draw one from the sim's generator).
    :param seed: reseed the sim's generator first.
    :param image_every: render a frame every this many steps (0: none); needs a camera.
    """
    current = sim.reset(task=task, seed=seed)
    obs = observe(sim)
    joints, tcp, cube = [obs.joints()], [sim.tcp], [obs.cube]
    velocities = [sim.joint_velocities()]
    actions, images, image_steps = [], [], []
    step = 0
    while not sim.done:
        if image_every and step % image_every == 0:
            images.append(sim.render())
            image_steps.append(step)
        action = np.asarray(controller(obs, current), dtype=np.float64)
        sim.step(action)
        obs = observe(sim)
        actions.append(action)
        joints.append(obs.joints())
        tcp.append(sim.tcp)
        cube.append(obs.cube)
        velocities.append(sim.joint_velocities())
        step += 1
    return PandaTrajectory(
        task=current, joints=np.array(joints), tcp=np.array(tcp), cube=np.array(cube),
        actions=np.array(actions).reshape(-1, 8),
        images=np.array(images, dtype=np.uint8) if images else None,
        image_steps=np.array(image_steps, dtype=np.int64) if images else None,
        success=sim.success, reason=sim.reason, velocities=np.array(velocities))


def passing_side(trajectory: PandaTrajectory) -> int:
    """Reach: +1 if the tool passed the pole on the left (+y), -1 on the right, 0 never."""
    pole = trajectory.task.pole
    near = np.abs(trajectory.tcp[:, 0] - pole[0]) < 0.03
    if not near.any():
        return 0
    return 1 if float(np.mean(trajectory.tcp[near, 1] - pole[1])) > 0 else -1


def grasp_mode(kin: Kinematics, trajectory: PandaTrajectory) -> int:
    """
    Pick: which pair of the cube's faces the fingers closed on first.

    0 when the wrist's yaw matched the cube's (modulo a half turn), 1 when it was
    a quarter turn off, -1 when the gripper never closed.
    """
    closing = np.flatnonzero(trajectory.actions[:, 7] < 0.01)
    if closing.size == 0:
        return -1
    i = int(closing[0])
    _, rotation = kin.tcp(trajectory.joints[i, :7])
    w, x, y, z = trajectory.cube[i, 3:7]
    cube_yaw = float(np.arctan2(2 * (w * z + x * y), 1 - 2 * (y * y + z * z)))
    offset = abs(wrap_half_turn(tool_yaw(rotation) - cube_yaw))
    return 0 if offset < np.pi / 4 else 1
