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
What a policy sees of the Panda: joint positions, the finger gap, the cube, the task vector.

A policy conditions on the same kinds of inputs as on the planar arm: the
measured joints (here 7 arm joints and the finger gap, :data:`JOINT_LAYOUT`)
and the task vector (``tasks.TASK_LAYOUTS``), optionally a camera image. The
cube's pose is part of the simulator's state (a perception system's output on
a real robot); the demonstrators read it to label any state.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...errors import SimError
from .model import ARM_JOINTS

#: Layout of the joint observation: the arm joints, then the finger gap (rad, m).
JOINT_LAYOUT: tuple[str, ...] = (*ARM_JOINTS, 'gripper_width')


@dataclass(frozen=True)
class PandaObservation:
    """The measured state a demonstrator or policy acts on."""

    q: np.ndarray
    """Arm joint positions, shape (7,), rad."""
    width: float
    """Finger gap (m)."""
    cube: np.ndarray
    """Cube pose: position (3,) m and quaternion (w, x, y, z), shape (7,)."""

    def joints(self) -> np.ndarray:
        """Joint observation in :data:`JOINT_LAYOUT`, shape (8,)."""
        return np.concatenate([self.q, [self.width]])

    @property
    def cube_yaw(self) -> float:
        """Cube's rotation about the world z axis (rad)."""
        w, x, y, z = self.cube[3:7]
        return float(np.arctan2(2 * (w * z + x * y), 1 - 2 * (y * y + z * z)))


def observe(sim) -> PandaObservation:
    """Read the observation of a :class:`~imitation_ros.sim.panda.sim.PandaSim`."""
    return PandaObservation(q=sim.q, width=sim.width, cube=sim.cube_pose)


def observation_from_joints(joints: np.ndarray,
                            cube: np.ndarray | None = None) -> PandaObservation:
    """Build an observation from a joint vector (8,) in :data:`JOINT_LAYOUT` and a cube pose."""
    j = np.asarray(joints, dtype=np.float64)
    if j.shape != (len(JOINT_LAYOUT),) or not np.all(np.isfinite(j)):
        raise SimError(f'joint observation needs {len(JOINT_LAYOUT)} finite values '
                       f'({", ".join(JOINT_LAYOUT)}), got {j!r}')
    c = np.array([0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0]) if cube is None else np.asarray(cube)
    return PandaObservation(q=j[:7].copy(), width=float(j[7]), cube=c.astype(np.float64))
