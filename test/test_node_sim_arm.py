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

"""The sim_arm node over real DDS: commands, episodes, rejection of bad input, reset, config."""

from __future__ import annotations

import json
from pathlib import Path
import threading
from typing import Any, Callable

from diagnostic_msgs.msg import DiagnosticArray
from imitation_ros.nodes.conversions import (array_from_msg, array_msg, diagnostic_level,
                                             image_from_msg, joint_positions)
from imitation_ros.nodes.params import defaults
from imitation_ros.interface.robot import RobotModel
from imitation_ros.nodes.qos import (COMMAND_QOS, EPISODE_QOS, IMAGE_SUB_QOS,
                                     ROBOT_DESCRIPTION_QOS, STATE_QOS)
from imitation_ros.nodes.sim_arm import (main, package_urdf, SimArmNode, SimArmParams,
                                         TASK_LABEL)
from imitation_ros.sim.arm import Task
from imitation_ros.sim.experts import make_expert
import numpy as np
import pytest
from rclpy.context import Context
from rclpy.node import Node
from rclpy.parameter import Parameter
from sensor_msgs.msg import Image, JointState
from std_msgs.msg import Float64MultiArray, String
from std_srvs.srv import Trigger
import yaml
from ros_harness import Spinner, poll_until, private_domain_id

ROOT = Path(__file__).resolve().parents[1]
DOMAIN_ID = private_domain_id(71)
#: Faster than the defaults so the file runs in seconds; long episodes so none times out.
OVERRIDES = {'rate_hz': 50.0, 'camera_hz': 10.0, 'max_joint_speed': 3.0, 'max_steps': 2000,
             'reset_delay_s': 0.3, 'seed': 3}
TIMEOUT_S = 10.0


def wait_for(predicate: Callable[[], Any], timeout: float = TIMEOUT_S, what: str = '') -> Any:
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout`` s."""
    return poll_until(predicate, timeout, what)


class Probe(Node):
    """The other side of sim_arm: subscribes to all it publishes, sends commands and resets."""

    def __init__(self, context: Context) -> None:
        super().__init__('sim_arm_probe', context=context)
        self.lock = threading.Lock()
        self.joint_states: list[JointState] = []
        self.events: list[dict] = []
        self.task: Float64MultiArray | None = None
        self.image: Image | None = None
        self.diagnostics: list[DiagnosticArray] = []
        self.controller: Callable[[np.ndarray], np.ndarray] | None = None
        self.commands = self.create_publisher(Float64MultiArray,
                                              'forward_position_controller/commands',
                                              COMMAND_QOS)
        self.create_subscription(JointState, 'joint_states', self._on_joint_state, STATE_QOS)
        self.create_subscription(String, 'imitation/episode', self._on_event, EPISODE_QOS)
        self.create_subscription(Float64MultiArray, 'imitation/task', self._on_task, STATE_QOS)
        self.create_subscription(Image, 'camera/image_raw', self._on_image, IMAGE_SUB_QOS)
        self.create_subscription(DiagnosticArray, '/diagnostics', self._on_diag, 10)
        self.reset_client = self.create_client(Trigger, 'sim_arm/reset')

    def _on_joint_state(self, msg: JointState) -> None:
        with self.lock:
            self.joint_states.append(msg)
            controller = self.controller
        if controller is not None:
            q = joint_positions(msg, SimArmParams().joint_names)
            self.commands.publish(array_msg(controller(q)))

    def _on_event(self, msg: String) -> None:
        with self.lock:
            self.events.append(json.loads(msg.data))

    def _on_task(self, msg: Float64MultiArray) -> None:
        self.task = msg

    def _on_image(self, msg: Image) -> None:
        self.image = msg

    def _on_diag(self, msg: DiagnosticArray) -> None:
        with self.lock:
            self.diagnostics.append(msg)

    def q(self) -> np.ndarray:
        """Latest measured joint positions."""
        wait_for(lambda: self.joint_states, what='a joint state')
        with self.lock:
            return joint_positions(self.joint_states[-1], SimArmParams().joint_names)

    def states_since(self, index: int) -> list[np.ndarray]:
        """Joint positions of every joint state received after the first ``index``."""
        with self.lock:
            msgs = self.joint_states[index:]
        return [joint_positions(m, SimArmParams().joint_names) for m in msgs]

    def event(self, kind: str, episode: int) -> dict | None:
        """Return the ``kind`` event of ``episode``, or None if it has not come."""
        with self.lock:
            for e in self.events:
                if e['event'] == kind and e['episode'] == episode:
                    return e
        return None

    def reset(self) -> dict:
        """Call ~/reset and return the start event of the new episode."""
        assert self.reset_client.wait_for_service(timeout_sec=TIMEOUT_S)
        future = self.reset_client.call_async(Trigger.Request())
        response = wait_for(lambda: future.result(), what='the ~/reset response')
        assert response.success, response.message
        episode = int(response.message.split()[1])
        return wait_for(lambda: self.event('start', episode), what=f'start of episode {episode}')

    def send(self, values: Any) -> None:
        """Publish one command once sim_arm listens."""
        wait_for(lambda: self.commands.get_subscription_count() > 0, what='sim_arm subscription')
        msg = Float64MultiArray()
        msg.data = [float(v) for v in values]
        self.commands.publish(msg)


@pytest.fixture(scope='module')
def harness(ros: Context) -> tuple[SimArmNode, Probe]:
    """sim_arm and a probe node spun by one executor in a background thread."""
    overrides = [Parameter(k, value=v) for k, v in OVERRIDES.items()]
    sim = SimArmNode(context=ros, parameter_overrides=overrides)
    probe = Probe(ros)
    spinner = Spinner(ros, sim, probe)
    yield sim, probe
    spinner.close()


def test_command_moves_joint_states_toward_it(harness: tuple[SimArmNode, Probe]) -> None:
    """A command moves /joint_states to it, at the configured rate, and the arm then holds."""
    sim, probe = harness
    assert sim.sim.config.dt == pytest.approx(1.0 / OVERRIDES['rate_hz'])
    start = np.asarray(probe.reset()['start'])
    target = start + np.array([0.15, -0.15, 0.1])
    n0 = len(probe.joint_states)
    probe.send(target)
    wait_for(lambda: np.allclose(probe.q(), target, atol=1e-6), what='the arm at the target')
    states = probe.states_since(n0)
    dist = [float(np.max(np.abs(q - target))) for q in states]
    assert all(b <= a + 1e-9 for a, b in zip(dist, dist[1:])), 'the arm did not move toward it'
    max_step = OVERRIDES['max_joint_speed'] / OVERRIDES['rate_hz']
    assert all(np.max(np.abs(b - a)) <= max_step + 1e-9 for a, b in zip(states, states[1:]))
    last = probe.joint_states[-1]
    assert list(last.name) == list(SimArmParams().joint_names)
    assert last.header.stamp.sec > 0 and len(last.velocity) == 3
    n1 = len(probe.joint_states)
    wait_for(lambda: len(probe.joint_states) >= n1 + 5, what='more joint states')
    assert all(np.allclose(q, target) for q in probe.states_since(n1)), 'did not hold'


def test_expert_reaches_goal_and_episode_ends_with_success(
        harness: tuple[SimArmNode, Probe]) -> None:
    """Driven by the scripted expert, the episode ends with success; the arm stays, then resets."""
    _, probe = harness
    start_event = probe.reset()
    episode = start_event['episode']
    vector = wait_for(lambda: probe.task, what='a task message')
    assert vector.layout.dim[0].label == TASK_LABEL
    task = Task.from_vector(np.asarray(start_event['task']), start=start_event['start'])
    np.testing.assert_allclose(array_from_msg(probe.task, 5), task.vector())
    config = SimArmParams(**OVERRIDES).arm_config()
    expert = make_expert('above', config, np.random.default_rng(0))
    probe.controller = lambda q: expert.action(q, task)
    try:
        end = wait_for(lambda: probe.event('end', episode), what='the episode end')
    finally:
        probe.controller = None
    assert end['success'] is True and end['reason'] == 'success' and end['steps'] > 0
    n_end = len(probe.joint_states)
    nxt = wait_for(lambda: probe.event('start', episode + 1), what='the auto-reset start')
    held = probe.states_since(n_end)
    restart = np.asarray(nxt['start'])
    held = [q for q in held if not np.allclose(q, restart)]
    assert len(held) >= 3 and all(np.allclose(q, held[0]) for q in held), 'arm moved after end'


def test_nan_and_wrong_length_commands_are_rejected(harness: tuple[SimArmNode, Probe]) -> None:
    """Commands with NaN, Inf or a wrong length are rejected (and counted); the arm holds."""
    _, probe = harness
    start = np.asarray(probe.reset()['start'])
    target = start + np.array([-0.1, 0.1, 0.05])
    probe.send(target)
    wait_for(lambda: np.allclose(probe.q(), target, atol=1e-6), what='the arm at the target')
    n0 = len(probe.joint_states)
    probe.send([float('nan'), 0.0, 0.0])
    probe.send([float('inf'), 0.0, 0.0])
    probe.send([0.1, 0.2])
    probe.send([0.1, 0.2, 0.3, 0.4])

    def rejected() -> int:
        with probe.lock:
            diags = list(probe.diagnostics)
        for msg in diags:
            values = {kv.key: kv.value for kv in msg.status[0].values}
            if int(values['commands_rejected']) >= 4:
                return msg.status[0]
        return None

    status = wait_for(rejected, timeout=3.0, what='diagnostics counting 4 rejected commands')
    assert diagnostic_level(status) == 1, 'rejected commands must raise a WARN'
    assert status.name == 'sim_arm: simulation'
    states = probe.states_since(n0)
    assert len(states) >= 5 and all(np.allclose(q, target) for q in states), 'arm did not hold'


def test_reset_starts_the_next_episode(harness: tuple[SimArmNode, Probe]) -> None:
    """~/reset ends the running episode (reason 'reset') and starts the next one."""
    _, probe = harness
    first = probe.reset()['episode']
    second = probe.reset()
    assert second['episode'] == first + 1
    end = probe.event('end', first)
    assert end is not None and end['success'] is False and end['reason'] == 'reset'
    assert len(second['start']) == 3 and len(second['task']) == 5
    wait_for(lambda: np.allclose(probe.q(), second['start']), what='the arm at the new start')


def test_camera_publishes_rgb8(harness: tuple[SimArmNode, Probe]) -> None:
    """/camera/image_raw carries image_size x image_size rgb8 images in frame_id."""
    _, probe = harness
    msg = wait_for(lambda: probe.image, what='an image')
    assert msg.encoding == 'rgb8' and msg.header.frame_id == 'camera'
    img = image_from_msg(msg, SimArmParams().image_size)
    assert img.dtype == np.uint8 and img.std() > 0


def test_robot_description_is_the_planar_urdf_latched(
        harness: tuple[SimArmNode, Probe], ros: Context) -> None:
    """robot_description (transient local) carries urdf/planar3.urdf, even for a late joiner."""
    late = Node('late_joiner', context=ros)
    got: list[str] = []
    late.create_subscription(String, 'robot_description', lambda m: got.append(m.data),
                             ROBOT_DESCRIPTION_QOS)
    spinner = Spinner(ros, late)
    try:
        wait_for(lambda: got, what='the robot description')
    finally:
        spinner.close()
    assert got[0] == (ROOT / 'urdf' / 'planar3.urdf').read_text(encoding='utf-8')
    assert package_urdf().resolve() == (ROOT / 'urdf' / 'planar3.urdf').resolve()
    assert RobotModel.from_urdf(got[0]).joint_names == ('joint1', 'joint2', 'joint3')


def test_bad_parameter_exits_with_code_1(ros: Context) -> None:
    """main() logs and returns 1 for an out-of-range or mistyped parameter, or another URDF."""
    assert main(['--ros-args', '-p', 'rate_hz:=0.0']) == 1
    assert main(['--ros-args', '-p', 'rate_hz:=20']) == 1
    assert main(['--ros-args', '-p', 'joint_names:=[a,b]']) == 1
    assert main(['--ros-args', '-p', f'urdf_file:={ROOT / "urdf" / "panda.urdf"}']) == 1
    assert main(['--ros-args', '-p', 'urdf_file:=/no/such.urdf']) == 1


def test_yaml_defaults_equal_code_defaults() -> None:
    """config/sim_arm.yaml holds exactly the code defaults of both arms, every key commented."""
    from imitation_ros.nodes.sim_panda import SimPandaParams
    planar, panda = defaults(SimArmParams), defaults(SimPandaParams)
    shared = (set(planar) & set(panda)) - {'robot'}
    assert shared and all(planar[k] == panda[k] for k in shared), 'shared keys differ'
    text = (ROOT / 'config' / 'sim_arm.yaml').read_text(encoding='utf-8')
    data = yaml.safe_load(text)
    assert data['sim_arm']['ros__parameters'] == {**panda, **planar}
    for key in {**panda, **planar}:
        line = next(ln for ln in text.splitlines() if ln.strip().startswith(f'{key}:'))
        assert '#' in line, f'{key} has no comment with its unit'


def test_states_and_images_keep_a_history_a_lagging_recorder_can_fetch(
        harness: tuple[SimArmNode, Probe]) -> None:
    """Joint states and task keep 2000 messages for late reliable readers, images 10."""
    sim, _ = harness
    depth = {p.topic_name: p.qos_profile.depth for p in sim.publishers}
    assert depth['/joint_states'] == 2000 and depth['/imitation/task'] == 2000
    if '/camera/image_raw' in depth:
        assert depth['/camera/image_raw'] == 10
