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

"""The fleet over DDS: two robots in namespaces, isolated; one operator serves each in turn."""

from __future__ import annotations

import json
from pathlib import Path
import threading
from typing import Any

from imitation_ros.bringup.composed import ComposedGraph, share_dir
from imitation_ros.data import episode_info, find_episode_bags, read_bag_messages
from imitation_ros.interface import topics
from imitation_ros.nodes.fleet_operator import FleetOperatorParams
from imitation_ros.nodes.params import defaults
from imitation_ros.nodes.qos import COMMAND_QOS, STATE_QOS
from rclpy.node import Node
from sensor_msgs.msg import Joy
from std_msgs.msg import Float64MultiArray, String
import pytest
from ros_harness import poll_until, private_domain_id
import yaml

DOMAIN_ID = private_domain_id(84)
TIMEOUT_S = 180.0
ROOT = Path(__file__).resolve().parents[1]
ROBOTS = ('robot1', 'robot2')


class FleetProbe:
    """Every robot's commands, gate decisions and pads, and the operator's status."""

    def __init__(self, node: Node) -> None:
        self.lock = threading.Lock()
        self.commands: dict[str, list[tuple[float, ...]]] = {r: [] for r in ROBOTS}
        self.decided: dict[str, set[tuple[float, ...]]] = {r: set() for r in ROBOTS}
        self.pads: dict[str, list[tuple[float, bool]]] = {r: [] for r in ROBOTS}
        self.status: dict = {}
        for robot in ROBOTS:
            node.create_subscription(Float64MultiArray, f'/{robot}/{topics.COMMANDS.name}',
                                     self._keep_command(robot), COMMAND_QOS)
            node.create_subscription(String, f'/{robot}/{topics.GATE_STATE.name}',
                                     self._keep_decision(robot), 100)
            node.create_subscription(Joy, f'/{robot}/{topics.JOY.name}', self._keep_pad(robot),
                                     STATE_QOS)
        node.create_subscription(String, topics.FLEET_STATUS.bag_name, self._on_status, 10)

    def _keep_command(self, robot: str) -> Any:
        def callback(msg: Float64MultiArray) -> None:
            with self.lock:
                self.commands[robot].append(tuple(msg.data))
        return callback

    def _keep_decision(self, robot: str) -> Any:
        def callback(msg: String) -> None:
            with self.lock:
                self.decided[robot].add(tuple(json.loads(msg.data)['command']))
        return callback

    def _keep_pad(self, robot: str) -> Any:
        def callback(msg: Joy) -> None:
            stamp = msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9
            with self.lock:
                self.pads[robot].append((stamp, bool(msg.buttons[4])))
        return callback

    def _on_status(self, msg: String) -> None:
        with self.lock:
            self.status = json.loads(msg.data)

    def taken_over(self) -> bool:
        """Return whether the operator took over every robot at least once."""
        with self.lock:
            robots = self.status.get('robots', {})
            return all(robots.get(r, {}).get('takeovers', 0) >= 1 for r in ROBOTS)


@pytest.fixture(scope='module')
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """Two robots, their trainer and the fleet operator, composed over real DDS."""
    tmp = tmp_path_factory.mktemp('fleet')
    model = share_dir() / 'models' / 'planar_gmm_multi.onnx'
    overrides: dict = {'trainer': {'data_dir': str(tmp / 'data'),
                                   'models_dir': str(tmp / 'models'),
                                   'min_new_samples': 10_000_000},
                       # A longer reaction than a person's: the operator turning from one
                       # robot to the next is easy to see in the pads' stamps.
                       'fleet_operator': {'reaction_delay_s': 0.5}}
    for robot in ROBOTS:
        overrides[f'{robot}/sim_arm'] = {'camera_hz': 0.0}
        overrides[f'{robot}/policy'] = {'model_path': str(model),
                                        'model_dirs': str(model.parent)}
        # Any doubt asks for help: both robots ask at once, and again after each service.
        overrides[f'{robot}/intervention_gate'] = {'help_threshold': 1e-9}
        overrides[f'{robot}/recorder'] = {'data_dir': str(tmp / 'data'),
                                          'record_images': False}
    composed = ComposedGraph('fleet', use_sim=True, overrides=overrides, robots=len(ROBOTS))
    composed.start(domain_id=DOMAIN_ID)
    try:
        node = composed.add(Node('fleet_probe', context=composed.context))
        probe = FleetProbe(node)
        yield composed, node, probe
    finally:
        composed.stop()


def test_every_robot_runs_in_its_namespace_and_hears_only_its_own_gate(fleet: Any) -> None:
    """/robotN's arm hears /robotN's gate alone; nothing is left on the root names."""
    composed, node, _ = fleet

    def names(infos: list) -> set[str]:
        return {f'{i.node_namespace.rstrip("/")}/{i.node_name}' for i in infos}

    def wired() -> bool:
        return all(
            names(node.get_publishers_info_by_topic(f'/{r}/{topics.COMMANDS.name}'))
            == {f'/{r}/intervention_gate'}
            and f'/{r}/sim_arm' in names(node.get_subscriptions_info_by_topic(
                f'/{r}/{topics.COMMANDS.name}'))
            and names(node.get_publishers_info_by_topic(f'/{r}/{topics.JOY.name}'))
            == {'/fleet_operator'}
            and f'/{r}/policy' in names(
                node.get_subscriptions_info_by_topic(topics.MODEL.bag_name))
            for r in ROBOTS)

    poll_until(wired, TIMEOUT_S, 'every robot wired in its namespace')
    for topic in (topics.COMMANDS, topics.JOINT_STATES, topics.JOY, topics.POLICY_ACTION):
        assert node.get_publishers_info_by_topic(topic.bag_name) == []
        assert node.get_subscriptions_info_by_topic(topic.bag_name) == []
    assert names(node.get_publishers_info_by_topic(topics.MODEL.bag_name)) == {'/trainer'}
    assert composed.errors == []


def test_a_command_for_one_robot_never_reaches_the_other(fleet: Any) -> None:
    """Each command on /robotN's controller topic is one its gate decided, never the other's."""
    composed, _, probe = fleet

    def enough() -> bool:
        with probe.lock:
            return all(len(probe.commands[r]) >= 100 for r in ROBOTS)

    poll_until(enough, TIMEOUT_S, 'commands on both robots')
    # A command's decision (gate_state, published after it) may still be on its way.
    poll_until(lambda: all(len(probe.decided[r]) >= 100 for r in ROBOTS), TIMEOUT_S,
               'decisions of both gates')
    with probe.lock:
        commands = {r: list(probe.commands[r][:100]) for r in ROBOTS}
        decided = {r: set(probe.decided[r]) for r in ROBOTS}
    one, two = ROBOTS
    # The arms started apart (different seeds): no decision of one equals one of the other.
    assert decided[one].isdisjoint(decided[two])
    for robot, other in ((one, two), (two, one)):
        assert all(c in decided[robot] for c in commands[robot]), robot
        assert not any(c in decided[other] for c in commands[robot]), robot
    assert composed.errors == []


def test_the_operator_serves_each_robot_one_at_a_time(fleet: Any) -> None:
    """Both robots ask; the operator takes each over in turn, never both pads at once."""
    composed, _, probe = fleet
    poll_until(probe.taken_over, TIMEOUT_S, 'the operator taking over each robot')
    with probe.lock:
        pads = {r: list(probe.pads[r]) for r in ROBOTS}
        status = dict(probe.status)
    pressed = {r: [t for t, down in pads[r] if down] for r in ROBOTS}
    assert all(pressed[r] for r in ROBOTS), 'a pad never pressed its deadman'
    # The operator's decisions, by the stamps it gave them: turns do not overlap.
    events = sorted((t, r, down) for r in ROBOTS for t, down in pads[r])
    holding: dict[str, bool] = {r: False for r in ROBOTS}
    for _, robot, down in events:
        holding[robot] = down
        assert sum(holding.values()) <= 1, f'two deadmen held at once: {holding}'
    for robot in ROBOTS:
        stats = status['robots'][robot]
        assert stats['requests'] >= 1 and stats['takeovers'] >= 1 and stats['human_s'] > 0
    assert composed.errors == []


def test_each_robot_records_into_its_own_folder_under_the_root_names(fleet: Any) -> None:
    """/robotN's recorder writes bags under data_dir/robotN, its topics under the root names."""
    composed, _, _ = fleet
    data = Path(composed.nodes['trainer'].params.data_dir)

    def bags() -> dict:
        found = {r: find_episode_bags(data / r) for r in ROBOTS}
        return found if all(found.values()) else {}

    found = poll_until(bags, TIMEOUT_S, 'a finished bag of each robot', period=0.5)
    for robot in ROBOTS:
        bag = found[robot][0]
        messages = read_bag_messages(bag, with_images=False)  # reads /joint_states...
        assert len(messages.joints.values) > 0 and len(messages.commands.values) > 0, robot
        assert episode_info(bag).source == 'hg_dagger'


def test_yaml_defaults_equal_code_defaults() -> None:
    """config/fleet_operator.yaml holds exactly the code defaults, every key commented."""
    text = (ROOT / 'config' / 'fleet_operator.yaml').read_text(encoding='utf-8')
    data = yaml.safe_load(text)
    assert data['fleet_operator']['ros__parameters'] == defaults(FleetOperatorParams)
    for key in defaults(FleetOperatorParams):
        line = next(ln for ln in text.splitlines() if ln.strip().startswith(f'{key}:'))
        assert '#' in line, f'{key} has no comment with its unit'
