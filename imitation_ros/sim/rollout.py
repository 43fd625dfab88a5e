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
Roll a controller in the simulated arm, directly (no DDS), and keep what happened.

Used by ``imitation-ros collect`` (demonstrations), by policy evaluation and by
the studies; the ROS nodes run the same sim through ``sim_arm`` instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np

from .arm import ArmConfig, ArmSim, end_effector, Task
from .render import render, View

#: A controller maps (measured joint positions (n,) rad, task) to an absolute joint target (n,).
Controller = Callable[[np.ndarray, Task], np.ndarray]


@dataclass(frozen=True)
class Trajectory:
    """One episode at the control rate."""

    task: Task
    """The episode's task."""
    positions: np.ndarray
    """Measured joint positions before each action plus the final state, (T + 1, n), rad."""
    velocities: np.ndarray
    """Joint velocities at the same instants, (T + 1, n), rad/s."""
    actions: np.ndarray
    """Executed absolute joint targets, (T, n), rad."""
    images: Optional[np.ndarray]
    """Camera frames, (T_img, H, W, 3) uint8 RGB, or None."""
    image_steps: Optional[np.ndarray]
    """Index of the state each frame shows, (T_img,), int."""
    success: bool
    """True when the goal was reached."""
    reason: str
    """How the episode ended: success, collision, joint_limit or timeout."""

    @property
    def steps(self) -> int:
        """Return the number of control periods T."""
        return int(self.actions.shape[0])

    def ee_path(self, sim: ArmSim) -> np.ndarray:
        """Return the end effector positions, (T + 1, 2), m."""
        return end_effector(sim.config, self.positions)


def rollout(sim: ArmSim, controller: Controller, *, task: Task | None = None,
            image_every: int = 0, view: View | None = None) -> Trajectory:
    """
    Run one episode of ``controller`` in ``sim`` until it ends.

    :param task: the task to use (default: draw one from the sim's ranges).
    :param image_every: render a frame every this many steps (0: no images).
    :returns: the trajectory; the sim is left at the episode's end.
    """
    current = sim.reset(task=task)
    positions = [sim.q.copy()]
    velocities = [sim.qd.copy()]
    actions = []
    images, image_steps = [], []
    step = 0
    while not sim.done:
        if image_every and step % image_every == 0:
            images.append(render(sim.config, current, sim.q, view))
            image_steps.append(step)
        action = np.asarray(controller(sim.q.copy(), current), dtype=np.float64)
        result = sim.step(action)
        actions.append(action)
        positions.append(result.q)
        velocities.append(result.qd)
        step += 1
    return Trajectory(
        task=current, positions=np.array(positions), velocities=np.array(velocities),
        actions=np.array(actions),
        images=np.array(images, dtype=np.uint8) if images else None,
        image_steps=np.array(image_steps, dtype=np.int64) if images else None,
        success=sim.success, reason=sim.reason)


def passing_side(config: ArmConfig, trajectory: Trajectory) -> int:
    """Return +1 if the end effector passed beside the obstacle above, -1 below, 0 never."""
    ee = end_effector(config, trajectory.positions)
    obstacle = trajectory.task.obstacle
    near = np.abs(ee[:, 0] - obstacle[0]) < 0.06
    if not near.any():
        return 0
    return 1 if float(np.mean(ee[near, 1] - obstacle[1])) > 0 else -1
