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

"""sim_arm with robot panda over DDS: commands, gripper, episodes, camera, operator, expert."""

from __future__ import annotations

import json
import os
from pathlib import Path
import subprocess
import sys
import threading
from typing import Any, Callable

from diagnostic_msgs.msg import DiagnosticArray
from imitation_ros.interface.robot import RobotModel
from imitation_ros.nodes.conversions import (array_from_msg, array_msg, image_from_msg,
                                             joint_positions)
from imitation_ros.nodes.expert_labeler import ExpertLabelerNode
from imitation_ros.nodes.intervention_gate import InterventionGateNode
from imitation_ros.nodes.qos import (COMMAND_QOS, EPISODE_QOS, IMAGE_SUB_QOS,
                                     ROBOT_DESCRIPTION_QOS, STATE_QOS)
from imitation_ros.nodes.sim_arm import create_sim_arm, main
from imitation_ros.nodes.sim_human import SimHumanNode
from imitation_ros.nodes.sim_panda import SimPandaNode
from imitation_ros.sim.panda.experts import ReachExpert, ReachStyle
from imitation_ros.sim.panda.interface import JOINT_STATE_NAMES
from imitation_ros.sim.panda.model import ARM_JOINTS, FINGER_JOINTS
from imitation_ros.sim.panda.observe import observation_from_joints
from imitation_ros.sim.panda.operator import gate_teleop
from imitation_ros.sim.panda.tasks import PandaTask, TASK_LAYOUTS
import numpy as np
import pytest
from rclpy.context import Context
from rclpy.node import Node
from rclpy.parameter import Parameter
from sensor_msgs.msg import Image, JointState
from std_msgs.msg import Float64MultiArray, String
from std_srvs.srv import Trigger
from ros_harness import poll_until, private_domain_id, Spinner

ROOT = Path(__file__).resolve().parents[1]
DOMAIN_ID = private_domain_id(83)
#: Long episodes so that none times out while a test drives it; no camera in this process
#: (MuJoCo picked its OpenGL backend when the first test module imported it).
OVERRIDES = {'robot': 'panda', 'rate_hz': 20.0, 'camera_hz': 0.0, 'panda_max_steps': 5000,
             'reset_delay_s': 0.3, 'seed': 3}
TIMEOUT_S = 30.0


def wait_for(predicate: Callable[[], Any], timeout: float = TIMEOUT_S, what: str = '') -> Any:
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout`` s."""
    return poll_until(predicate, timeout, what, period=0.01)


class Probe(Node):
    """The other side of sim_arm: subscribes to what it publishes, sends commands and resets."""

    def __init__(self, context: Context, namespace: str = '') -> None:
        super().__init__('panda_probe', context=context, namespace=namespace)
        self.lock = threading.Lock()
        self.joint_states: list[JointState] = []
        self.events: list[dict] = []
        self.task: Float64MultiArray | None = None
        self.images: list[Image] = []
        self.description: str | None = None
        self.diagnostics: list[DiagnosticArray] = []
        self.controller: Callable[[np.ndarray, float], np.ndarray] | None = None
        self.commands = self.create_publisher(Float64MultiArray,
                                              'forward_position_controller/commands',
                                              COMMAND_QOS)
        self.gripper = self.create_publisher(Float64MultiArray, 'gripper_controller/commands',
                                             COMMAND_QOS)
        self.create_subscription(JointState, 'joint_states', self._on_joint_state, STATE_QOS)
        self.create_subscription(String, 'imitation/episode', self._on_event, EPISODE_QOS)
        self.create_subscription(Float64MultiArray, 'imitation/task', self._on_task, STATE_QOS)
        self.create_subscription(Image, 'camera/image_raw', self._on_image, IMAGE_SUB_QOS)
        self.create_subscription(String, 'robot_description', self._on_description,
                                 ROBOT_DESCRIPTION_QOS)
        self.create_subscription(DiagnosticArray, '/diagnostics', self._on_diag, 10)
        self.reset_client = self.create_client(Trigger, 'sim_arm/reset')

    def _on_joint_state(self, msg: JointState) -> None:
        with self.lock:
            self.joint_states.append(msg)
            controller = self.controller
        if controller is not None:
            q = joint_positions(msg, ARM_JOINTS)
            width = float(np.sum(joint_positions(msg, FINGER_JOINTS)))
            self.commands.publish(array_msg(controller(q, width)))

    def _on_event(self, msg: String) -> None:
        with self.lock:
            self.events.append(json.loads(msg.data))

    def _on_task(self, msg: Float64MultiArray) -> None:
        self.task = msg

    def _on_image(self, msg: Image) -> None:
        with self.lock:
            self.images.append(msg)

    def _on_description(self, msg: String) -> None:
        self.description = msg.data

    def _on_diag(self, msg: DiagnosticArray) -> None:
        with self.lock:
            self.diagnostics.append(msg)

    def positions(self, names: tuple[str, ...] = ARM_JOINTS) -> np.ndarray:
        """Latest measured positions of ``names``."""
        wait_for(lambda: self.joint_states, what='a joint state')
        with self.lock:
            return joint_positions(self.joint_states[-1], names)

    def event(self, kind: str, episode: int) -> dict | None:
        """Return the ``kind`` event of ``episode``, or None if it has not come."""
        with self.lock:
            return next((e for e in self.events
                         if e['event'] == kind and e['episode'] == episode), None)

    def reset(self) -> dict:
        """Call ~/reset and return the start event of the new episode."""
        assert self.reset_client.wait_for_service(timeout_sec=TIMEOUT_S)
        future = self.reset_client.call_async(Trigger.Request())
        response = wait_for(lambda: future.result(), what='the ~/reset response')
        assert response.success, response.message
        episode = int(response.message.split()[1])
        return wait_for(lambda: self.event('start', episode), what=f'start of episode {episode}')

    def send(self, publisher: Any, values: Any) -> None:
        """Publish one command once sim_arm listens."""
        wait_for(lambda: publisher.get_subscription_count() > 0, what='sim_arm subscription')
        msg = Float64MultiArray()
        msg.data = [float(v) for v in values]
        publisher.publish(msg)

    def diagnostic(self, key: str) -> str | None:
        """Return the newest diagnostic value of ``key`` of the sim_arm in this namespace."""
        name = f'{self.get_namespace().rstrip("/")}/sim_arm'
        with self.lock:
            for array in reversed(self.diagnostics):
                for status in array.status:
                    if status.hardware_id == name:
                        values = {v.key: v.value for v in status.values}
                        if key in values:
                            return values[key]
        return None


def task_of(event: dict) -> PandaTask:
    """Return the task of a start event."""
    return PandaTask.from_vector(event['task_kind'], np.asarray(event['task']),
                                 np.asarray(event['start']))


@pytest.fixture(scope='module')
def harness(ros: Context) -> tuple[SimPandaNode, Probe]:
    """sim_arm (robot panda) and a probe node spun by one executor in a background thread."""
    node = create_sim_arm(context=ros, parameter_overrides=[
        Parameter(k, value=v) for k, v in OVERRIDES.items()])
    probe = Probe(ros)
    spinner = Spinner(ros, node, probe)
    yield node, probe
    spinner.close()


def test_robot_parameter_builds_the_panda_with_its_urdf_and_joint_names(
        harness: tuple[SimPandaNode, Probe]) -> None:
    """Parameter robot panda: the MuJoCo node, URDF joint names, Panda URDF latched, reach."""
    node, probe = harness
    assert isinstance(node, SimPandaNode) and node.get_name() == 'sim_arm'
    event = probe.reset()
    assert event['robot'] == 'panda' and event['task_kind'] == 'reach'
    assert event['joint_names'] == list(ARM_JOINTS) and len(event['start']) == 7
    wait_for(lambda: probe.joint_states, what='a joint state')
    assert list(probe.joint_states[-1].name) == list(JOINT_STATE_NAMES)
    description = wait_for(lambda: probe.description, what='robot_description')
    robot = RobotModel.from_urdf(description, tip_link='panda_hand_tcp')
    assert robot.joint_names == ARM_JOINTS
    msg = wait_for(lambda: probe.task, what='a task message')
    assert msg.layout.dim[0].label == ','.join(TASK_LAYOUTS['reach'])
    np.testing.assert_allclose(array_from_msg(msg, 7), event['task'])


def test_command_moves_the_joints_toward_it_and_holds(
        harness: tuple[SimPandaNode, Probe]) -> None:
    """A position command moves the simulated position controllers to it; then they hold."""
    _, probe = harness
    start = np.asarray(probe.reset()['start'])
    target = start + np.array([0.15, 0.0, 0.0, 0.0, 0.0, 0.0, -0.2])
    before = np.abs(probe.positions() - target).max()
    probe.send(probe.commands, target)
    wait_for(lambda: np.abs(probe.positions() - target).max() < 0.01,
             what='the arm at the command')
    assert before > 0.1
    n = len(probe.joint_states)
    wait_for(lambda: len(probe.joint_states) >= n + 10, what='more joint states')
    assert np.abs(probe.positions() - target).max() < 0.01, 'the arm did not hold'


def test_bad_commands_are_rejected_and_the_target_held(
        harness: tuple[SimPandaNode, Probe]) -> None:
    """NaN, wrong-length arm commands and out-of-travel gripper commands are rejected."""
    node, probe = harness
    start = np.asarray(probe.reset()['start'])
    rejected = node._counts['commands_rejected']
    gripper_rejected = node._counts['gripper_rejected']
    probe.send(probe.commands, [*start[:6], float('nan')])
    probe.send(probe.commands, start[:3])
    probe.send(probe.gripper, [0.5])
    wait_for(lambda: node._counts['commands_rejected'] >= rejected + 2
             and node._counts['gripper_rejected'] >= gripper_rejected + 1,
             what='the rejections counted')
    n = len(probe.joint_states)
    wait_for(lambda: len(probe.joint_states) >= n + 10, what='more joint states')
    assert np.abs(probe.positions() - start).max() < 0.01
    assert probe.positions(FINGER_JOINTS).sum() > 0.075  # still open


def test_gripper_command_closes_and_opens_the_fingers(
        harness: tuple[SimPandaNode, Probe]) -> None:
    """gripper_controller/commands with the gate's finger position moves both fingers."""
    _, probe = harness
    probe.reset()
    assert probe.positions(FINGER_JOINTS).sum() > 0.075
    probe.send(probe.gripper, [0.0])  # what the gate sends to close: the lower limit
    wait_for(lambda: probe.positions(FINGER_JOINTS).sum() < 0.005, what='the fingers closed')
    probe.send(probe.gripper, [0.04, 0.04])
    wait_for(lambda: probe.positions(FINGER_JOINTS).sum() > 0.075, what='the fingers open')


def test_demonstrator_reaches_the_goal_and_the_episode_ends_with_success(
        harness: tuple[SimPandaNode, Probe]) -> None:
    """Driven over DDS by the left demonstrator, the episode ends with success."""
    node, probe = harness
    event = probe.reset()
    task = task_of(event)
    expert = ReachExpert(node.sim.kinematics, node.sim.config, ReachStyle(side=1))
    probe.controller = lambda q, width: expert.action(
        observation_from_joints(np.concatenate([q, [width]])), task)[:7]
    try:
        end = wait_for(lambda: probe.event('end', event['episode']), what='the episode end')
    finally:
        probe.controller = None
    assert end['success'] is True and end['reason'] == 'success', end


def test_collision_with_the_pole_ends_the_episode_with_its_event(
        harness: tuple[SimPandaNode, Probe]) -> None:
    """Steering the tool straight at the goal runs into the pole: end event 'collision'."""
    node, probe = harness
    event = probe.reset()
    task = task_of(event)
    kin = node.sim.kinematics

    def straight(q: np.ndarray, width: float) -> np.ndarray:
        position = kin.tcp(q)[0]
        step = task.goal - position
        step *= min(0.015, float(np.linalg.norm(step))) / max(float(np.linalg.norm(step)), 1e-9)
        return q + np.linalg.pinv(kin.jacobian(q)[:3]) @ step

    probe.controller = straight
    try:
        end = wait_for(lambda: probe.event('end', event['episode']), what='the episode end')
    finally:
        probe.controller = None
    assert end['success'] is False and end['reason'] == 'collision', end


def test_bad_parameters_exit_with_code_1(ros: Context) -> None:
    """An unknown robot or task, or a URDF that is not the simulated Panda: exit 1."""
    assert main(['--ros-args', '-p', 'robot:=ur5']) == 1
    assert main(['--ros-args', '-p', 'robot:=panda', '-p', 'panda_task:=stack']) == 1
    assert main(['--ros-args', '-p', 'robot:=panda', '-p',
                 f'panda_urdf_file:={ROOT / "urdf" / "planar3.urdf"}']) == 1
    assert main(['--ros-args', '-p', 'robot:=panda', '-p', 'image_size:=1000']) == 1


# --- the camera, in a node process of its own (MuJoCo reads MUJOCO_GL at import) --------

_GL_PROBE = """
from imitation_ros.sim.panda.camera import open_camera
from imitation_ros.sim.panda.model import PandaModel
camera, why = open_camera(PandaModel().model, 'front', 64, 48)
print('ok' if camera is not None else why)
"""


def _env(**changes: str | None) -> dict:
    env = dict(os.environ, ROS_DOMAIN_ID=str(DOMAIN_ID))
    for key, value in changes.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


def _node_process(namespace: str, env: dict, *params: str) -> subprocess.Popen:
    args = [sys.executable, '-m', 'imitation_ros.nodes.sim_arm', '--ros-args',
            '-r', f'__ns:=/{namespace}', '-p', 'robot:=panda']
    for item in params:
        args += ['-p', item]
    return subprocess.Popen(args, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def _stop(process: subprocess.Popen) -> str:
    process.terminate()
    try:
        out, _ = process.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        out, _ = process.communicate()
    assert process.returncode == 0, out[-3000:]
    return out


def test_camera_frames_arrive_with_the_declared_encoding_and_size(ros: Context) -> None:
    """With EGL, camera/image_raw carries rgb8 frames of image_size, showing the scene."""
    env = _env(MUJOCO_GL='egl')
    gl = subprocess.run([sys.executable, '-c', _GL_PROBE], cwd=ROOT, env=env,
                        capture_output=True, text=True, timeout=120)
    if gl.stdout.strip() != 'ok':
        pytest.skip(f'no OpenGL context here: {gl.stdout.strip() or gl.stderr[-500:]}')
    process = _node_process('cam', env, 'camera_hz:=10.0', 'image_size:=64')
    probe = Probe(ros, namespace='cam')
    spinner = Spinner(ros, probe)
    try:
        wait_for(lambda: len(probe.images) >= 3, timeout=60.0, what='three camera frames')
    finally:
        spinner.close()
        out = _stop(process)
    image = probe.images[-1]
    assert image.encoding == 'rgb8' and (image.height, image.width) == (64, 64)
    assert image.header.frame_id == 'camera'
    assert image_from_msg(image, 64).std() > 5.0, 'a blank frame'
    assert 'camera front 64x64' in out


def test_without_gl_the_node_runs_without_camera_and_says_so(ros: Context) -> None:
    """MUJOCO_GL=disable: joint states and episodes go on, no image publisher, a log line."""
    process = _node_process('nogl', _env(MUJOCO_GL='disable'), 'camera_hz:=10.0')
    probe = Probe(ros, namespace='nogl')
    spinner = Spinner(ros, probe)
    try:
        wait_for(lambda: len(probe.joint_states) >= 5, timeout=60.0, what='joint states')
        wait_for(lambda: probe.event('start', 0), what='the first episode')
        reason = wait_for(lambda: probe.diagnostic('camera'), what='diagnostics')
        assert 'MUJOCO_GL' in reason
        assert probe.count_publishers('/nogl/camera/image_raw') == 0
    finally:
        spinner.close()
        out = _stop(process)
    assert 'running without camera' in out and 'MUJOCO_GL' in out


# --- the simulated operator on the Panda, through the gate ------------------------------

def test_sim_human_takes_over_through_the_gate_and_reaches_the_goal(ros: Context) -> None:
    """
    sim_human (robot panda) drives the gamepad; the gate's cartesian mapping moves the arm.

    No policy runs, so the gate holds, the arm stalls, the operator takes over and steers
    around the pole to the goal: the episode ends with success after a takeover.
    """
    ns = 'loop'
    arm = create_sim_arm(context=ros, namespace=ns, parameter_overrides=[
        Parameter(k, value=v) for k, v in {**OVERRIDES, 'panda_max_steps': 600,
                                           'auto_reset': False}.items()])
    gate_params = {**gate_teleop(), 'rate_hz': 20.0, 'joy_timeout_s': 1.0,
                   'state_timeout_s': 1.0}
    gate = InterventionGateNode(context=ros, namespace=ns, parameter_overrides=[
        Parameter(k, value=v) for k, v in gate_params.items()])
    human = SimHumanNode(context=ros, namespace=ns, parameter_overrides=[
        Parameter('robot', value='panda'), Parameter('seed', value=1),
        Parameter('hold_until_end', value=True)])
    probe = Probe(ros, namespace=ns)
    spinners = [Spinner(ros, arm), Spinner(ros, gate), Spinner(ros, human, probe)]
    try:
        wait_for(lambda: probe.event('start', 0), what='the episode start')
        wait_for(lambda: human.operator.takeovers >= 1, timeout=60.0, what='a takeover')
        end = wait_for(lambda: probe.event('end', 0), timeout=120.0, what='the episode end')
    finally:
        for spinner in spinners:
            spinner.close()
    assert end['reason'] == 'success', end
    assert human._takeovers_total >= 1


# --- the DAgger expert labelling the Panda ----------------------------------------------

def test_expert_labeler_labels_the_panda_and_its_labels_reach_the_goal(
        harness: tuple[SimPandaNode, Probe], ros: Context) -> None:
    """expert_labeler (robot panda) labels each joint state; executing the labels succeeds."""
    _, probe = harness
    # The robot from the URDF sim_arm publishes on robot_description: its arm chain.
    expert = ExpertLabelerNode(context=ros, parameter_overrides=[
        Parameter('robot', value='panda'), Parameter('expert', value='below'),
        Parameter('base_link', value='panda_link0'),
        Parameter('tip_link', value='panda_hand_tcp')])
    labels: list[np.ndarray] = []
    relay = Node('label_relay', context=ros)

    def forward(msg: Float64MultiArray) -> None:
        action = np.asarray(msg.data, dtype=np.float64)[int(msg.layout.data_offset):]
        labels.append(action)
        probe.commands.publish(array_msg(action))

    relay.create_subscription(Float64MultiArray, 'imitation/expert_action', forward, STATE_QOS)
    spinner = Spinner(ros, expert, relay)
    try:
        event = probe.reset()
        end = wait_for(lambda: probe.event('end', event['episode']), timeout=60.0,
                       what='the episode end')
    finally:
        spinner.close()
    assert end['reason'] == 'success', end
    assert labels and all(label.shape == (7,) for label in labels)
    assert expert.expert.describe().startswith('Panda reach below')
    assert expert.robot.joint_names == tuple(f'panda_joint{i}' for i in range(1, 8))
