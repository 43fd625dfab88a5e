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


"""The Panda MJCF: Franka's kinematics, URDF joint names, task vectors."""

import numpy as np
import pytest

from imitation_ros.errors import ConfigError
from imitation_ros.sim.panda.kinematics import Kinematics, solve_ik
from imitation_ros.sim.panda.model import (ARM_JOINTS, FINGER_JOINTS, JOINT_LOWER, JOINT_UPPER,
                                           PandaConfig, PandaModel)
from imitation_ros.sim.panda.tasks import PandaTask, READY, TASK_LAYOUTS

# Franka's modified DH table (a, d, alpha) for joints 1..7 and the flange.
_DH = [(0.0, 0.333, 0.0), (0.0, 0.0, -np.pi / 2), (0.0, 0.316, np.pi / 2),
       (0.0825, 0.0, np.pi / 2), (-0.0825, 0.384, -np.pi / 2), (0.0, 0.0, np.pi / 2),
       (0.088, 0.0, np.pi / 2), (0.0, 0.107, 0.0)]


def _dh_flange(q: np.ndarray) -> np.ndarray:
    t = np.eye(4)
    for i, (a, d, alpha) in enumerate(_DH):
        theta = q[i] if i < 7 else 0.0
        ca, sa, ct, st = np.cos(alpha), np.sin(alpha), np.cos(theta), np.sin(theta)
        t = t @ np.array([[ct, -st, 0, a], [st * ca, ct * ca, -sa, -d * sa],
                          [st * sa, ct * sa, ca, d * ca], [0, 0, 0, 1]])
    return t


@pytest.fixture(scope='module')
def kin() -> Kinematics:
    return Kinematics(PandaModel())


def test_model_matches_franka_dh_table(kin: Kinematics) -> None:
    """The model's flange pose equals Franka's DH forward kinematics at random postures."""
    rng = np.random.default_rng(0)
    for _ in range(20):
        q = rng.uniform(JOINT_LOWER, JOINT_UPPER)
        expected = _dh_flange(q)
        flange = kin.body_position(q, 'panda_hand')
        np.testing.assert_allclose(flange, expected[:3, 3], atol=1e-6)


def test_tool_frame_at_zero_posture(kin: Kinematics) -> None:
    """At q = 0 the tool frame is 0.1034 m below the flange, at (0.088, 0, 0.8226)."""
    pos, rot = kin.tcp(np.zeros(7))
    np.testing.assert_allclose(pos, [0.088, 0.0, 0.8226], atol=1e-6)
    np.testing.assert_allclose(rot[:, 2], [0.0, 0.0, -1.0], atol=1e-6)


def test_joint_names_follow_the_urdf() -> None:
    """Arm and finger joints carry the Panda URDF's names."""
    model = PandaModel().model
    names = [model.joint(i).name for i in range(9)]
    assert tuple(names) == ARM_JOINTS + FINGER_JOINTS


def test_ik_reaches_a_pose(kin: Kinematics) -> None:
    """Inverse kinematics puts the tool at the asked position, pointing down."""
    q = solve_ik(kin, np.array([0.5, -0.1, 0.1]), 0.3, READY, posture=READY)
    pos, rot = kin.tcp(q)
    np.testing.assert_allclose(pos, [0.5, -0.1, 0.1], atol=1e-3)
    assert rot[2, 2] < -0.999


def test_task_vector_round_trips() -> None:
    """A task's vector has its layout's length and rebuilds the same task."""
    for kind, layout in TASK_LAYOUTS.items():
        vector = np.arange(len(layout), dtype=float) + 0.5
        task = PandaTask.from_vector(kind, vector, READY)
        np.testing.assert_array_equal(task.vector(), vector)
        assert task.layout == layout
    with pytest.raises(ConfigError):
        PandaTask.from_vector('reach', np.zeros(3), READY)


def test_config_rejects_bad_values() -> None:
    """Bad settings are refused naming the field."""
    with pytest.raises(ConfigError, match='speed_scale'):
        PandaConfig(speed_scale=0.0)
    with pytest.raises(ConfigError, match='camera_name'):
        PandaConfig(camera_name='side')
