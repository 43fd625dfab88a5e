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

"""The robot from its URDF: the planar arm and the Panda, their chains, limits and kinematics."""

from __future__ import annotations

import math
from pathlib import Path

from imitation_ros.errors import ConfigError
from imitation_ros.interface.robot import GripperModel, RobotModel
from imitation_ros.sim.arm import ArmConfig, end_effector, jacobian
import numpy as np
import pytest

URDF = Path(__file__).resolve().parents[1] / 'urdf'
PANDA_JOINTS = tuple(f'panda_joint{i}' for i in range(1, 8))


@pytest.fixture(scope='module')
def planar() -> RobotModel:
    """Return the planar arm's URDF model."""
    return RobotModel.from_file(URDF / 'planar3.urdf')


@pytest.fixture(scope='module')
def panda() -> RobotModel:
    """Return the Panda's arm chain, base to the hand's tool frame."""
    return RobotModel.from_file(URDF / 'panda.urdf', base_link='panda_link0',
                                tip_link='panda_hand_tcp')


def test_planar_urdf_matches_the_simulated_arm_within_1e_9(planar: RobotModel) -> None:
    """Joints, limits, speed, end effector and Jacobian agree with sim/arm.py's kinematics."""
    config = ArmConfig()
    assert planar.joint_names == config.joint_names
    np.testing.assert_array_equal(planar.lower, config.lower)
    np.testing.assert_array_equal(planar.upper, config.upper)
    np.testing.assert_array_equal(planar.velocity, [config.max_joint_speed] * 3)
    rng = np.random.default_rng(0)
    for q in rng.uniform(config.lower, config.upper, size=(200, 3)):
        np.testing.assert_allclose(planar.position(q)[:2], end_effector(config, q), atol=1e-9)
        assert abs(planar.position(q)[2]) < 1e-12
        jac = planar.jacobian(q)
        np.testing.assert_allclose(jac[:2], jacobian(config, q), atol=1e-9)
        # A planar arm turns about z only and never moves out of its plane.
        np.testing.assert_allclose(jac[2:5], 0.0, atol=1e-12)
        np.testing.assert_allclose(jac[5], 1.0, atol=1e-12)


def _dh(a: float, d: float, alpha: float, theta: float) -> np.ndarray:
    """Craig's (modified) DH transform, as Franka publishes the Panda's kinematics."""
    ca, sa, ct, st = math.cos(alpha), math.sin(alpha), math.cos(theta), math.sin(theta)
    return np.array([[ct, -st, 0.0, a],
                     [st * ca, ct * ca, -sa, -d * sa],
                     [st * sa, ct * sa, ca, d * ca],
                     [0.0, 0.0, 0.0, 1.0]])


#: Franka's published DH table of the Panda: (a, d, alpha) per joint, then the flange.
PANDA_DH = [(0.0, 0.333, 0.0), (0.0, 0.0, -math.pi / 2), (0.0, 0.316, math.pi / 2),
            (0.0825, 0.0, math.pi / 2), (-0.0825, 0.384, -math.pi / 2),
            (0.0, 0.0, math.pi / 2), (0.088, 0.0, math.pi / 2)]


def _panda_tcp(q: np.ndarray) -> np.ndarray:
    """Return the Panda's tool frame from the DH table: flange 0.107 m, hand -45 deg, 0.1034 m."""
    pose = np.eye(4)
    for (a, d, alpha), theta in zip(PANDA_DH, q):
        pose = pose @ _dh(a, d, alpha, theta)
    flange = _dh(0.0, 0.107, 0.0, -math.pi / 4)
    tcp = np.eye(4)
    tcp[2, 3] = 0.1034
    return pose @ flange @ tcp


def test_panda_urdf_is_franka_s_published_kinematics(panda: RobotModel) -> None:
    """7 joints with Franka's limits; the tool pose equals the DH table's within 1e-9."""
    assert panda.joint_names == PANDA_JOINTS
    np.testing.assert_allclose(panda.lower, [-2.8973, -1.7628, -2.8973, -3.0718, -2.8973,
                                             -0.0175, -2.8973])
    np.testing.assert_allclose(panda.upper, [2.8973, 1.7628, 2.8973, -0.0698, 2.8973, 3.7525,
                                             2.8973])
    np.testing.assert_allclose(panda.velocity, [2.175] * 4 + [2.61] * 3)
    rng = np.random.default_rng(1)
    for q in rng.uniform(panda.lower, panda.upper, size=(100, 7)):
        np.testing.assert_allclose(panda.pose(q), _panda_tcp(q), atol=1e-9)


def test_jacobian_is_the_derivative_of_the_tool_pose(panda: RobotModel) -> None:
    """Linear rows match finite differences of the position; angular rows of the rotation."""
    q = np.array([0.1, -0.4, 0.2, -2.0, 0.3, 1.8, 0.5])
    jac = panda.jacobian(q)
    eps = 1e-6
    for i in range(7):
        dq = np.zeros(7)
        dq[i] = eps
        plus, minus = panda.pose(q + dq), panda.pose(q - dq)
        np.testing.assert_allclose(jac[:3, i], (plus[:3, 3] - minus[:3, 3]) / (2 * eps),
                                   atol=1e-6)
        skew = (plus[:3, :3] - minus[:3, :3]) / (2 * eps) @ panda.pose(q)[:3, :3].T
        np.testing.assert_allclose(jac[3:, i], [skew[2, 1], skew[0, 2], skew[1, 0]],
                                   atol=1e-6)


def test_panda_gripper_opens_to_four_centimetres_per_finger() -> None:
    """The finger joint of the URDF: closed at 0, open at 0.04 m; its mimic is not listed."""
    gripper = GripperModel.from_urdf((URDF / 'panda.urdf').read_text(),
                                     ['panda_finger_joint1'])
    np.testing.assert_allclose(gripper.open, [0.04])
    np.testing.assert_allclose(gripper.closed, [0.0])
    with pytest.raises(ConfigError, match='non-mimic'):
        GripperModel.from_urdf((URDF / 'panda.urdf').read_text(), ['panda_finger_joint2'])


@pytest.mark.parametrize('urdf, links, match', [
    ('', {}, 'empty'),
    ('<robot name="x"><link', {}, 'not valid XML'),
    ('<sdf/>', {}, 'expected <robot>'),
    ('<robot name="x"><joint name="j" type="revolute"><parent link="a"/><child link="b"/>'
     '</joint></robot>', {}, 'no <limit>'),
    ((URDF / 'panda.urdf').read_text(), {}, 'several end links'),
    ((URDF / 'panda.urdf').read_text(), {'tip_link': 'gripper'}, 'not a link'),
    ((URDF / 'panda.urdf').read_text(), {'base_link': 'panda_link4', 'tip_link': 'panda_link2'},
     'does not hang below'),
])
def test_a_bad_robot_description_is_a_clear_error(urdf: str, links: dict, match: str) -> None:
    """Empty, not XML, not a URDF, a joint without limits, ambiguous or wrong links."""
    with pytest.raises(ConfigError, match=match):
        RobotModel.from_urdf(urdf, **links)


def test_a_model_for_other_joints_is_refused(planar: RobotModel, panda: RobotModel) -> None:
    """Joint names that are not the robot's, in its order, name both lists."""
    planar.check_joint_names(('joint1', 'joint2', 'joint3'), 'the model')
    with pytest.raises(ConfigError, match=r"the model has joints \['joint2', 'joint1'"):
        planar.check_joint_names(('joint2', 'joint1', 'joint3'), 'the model')
    with pytest.raises(ConfigError, match='panda_joint1'):
        panda.check_joint_names(('joint1', 'joint2', 'joint3'), 'the model')


def test_kinematics_refuse_positions_of_the_wrong_size(panda: RobotModel) -> None:
    """Three values for a seven-joint arm, or a NaN, are a ConfigError, not a crash."""
    with pytest.raises(ConfigError, match='7 finite values'):
        panda.position([0.0, 0.0, 0.0])
    with pytest.raises(ConfigError, match='7 finite values'):
        panda.jacobian([0.0] * 6 + [math.nan])
