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

"""The recorder node over real DDS: episode bags, history, failures, SIGTERM, bad data_dir."""

from __future__ import annotations

import json
import os
from pathlib import Path
import signal
import subprocess
import sys
import threading
import time
from typing import Any, Callable

from diagnostic_msgs.msg import DiagnosticArray
from imitation_ros.data import episode_info, find_episode_bags, read_bag_messages, read_episode
from imitation_ros.errors import DataError
from imitation_ros.nodes.conversions import array_msg, diagnostic_level, joint_state_msg
from imitation_ros.nodes.qos import (EPISODE_QOS, IMAGE_PUB_QOS, MODEL_QOS,
                                     ROBOT_DESCRIPTION_QOS, STATE_QOS)
from imitation_ros.nodes.expert_labeler import label_msg
from imitation_ros.nodes.recorder import count_key, main, offered_reliability, RecorderNode
import numpy as np
import pytest
from rclpy.context import Context
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.qos import qos_profile_sensor_data, ReliabilityPolicy
from sensor_msgs.msg import Image, Joy, JointState
from std_msgs.msg import Bool, Float64, Float64MultiArray, String
from ros_harness import Spinner, poll_until, private_domain_id

ROOT = Path(__file__).resolve().parents[1]
DOMAIN_ID = private_domain_id(74)
TIMEOUT_S = 15.0
#: Subprocess start-up (python, rclpy, rosbags imports) on a loaded 2-core machine.
PROCESS_TIMEOUT_S = 60.0
JOINTS = ('joint1', 'joint2', 'joint3')
PLANAR_URDF = ROOT / 'urdf' / 'planar3.urdf'
PANDA_URDF = ROOT / 'urdf' / 'panda.urdf'
PANDA_ARM = tuple(f'panda_joint{i}' for i in range(1, 8))
TASK = [2.05, 0.0, 1.55, 0.0, 0.16]
MODEL_VERSION = 'v-test-3'

JS, TASK_T, JOY, POLICY, CMD = ('/joint_states', '/imitation/task', '/joy',
                                '/imitation/policy_action',
                                '/forward_position_controller/commands')
IV, EXPERT, EPISODE, GATE = ('/imitation/intervention', '/imitation/expert_action',
                             '/imitation/episode', '/imitation/gate_state')
DOUBT, HELP = '/imitation/uncertainty', '/imitation/help_request'
CAMERA = '/camera/image_raw'


def wait_for(predicate: Callable[[], Any], timeout: float = TIMEOUT_S, what: str = '') -> Any:
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout`` s."""
    return poll_until(predicate, timeout, what)


class Probe(Node):
    """Plays the rest of the system: publishes every contract topic, listens to diagnostics."""

    def __init__(self, context: Context) -> None:
        super().__init__('recorder_probe', context=context)
        self.pubs = {
            JS: self.create_publisher(JointState, JS, STATE_QOS),
            TASK_T: self.create_publisher(Float64MultiArray, TASK_T, STATE_QOS),
            JOY: self.create_publisher(Joy, JOY, STATE_QOS),
            POLICY: self.create_publisher(Float64MultiArray, POLICY, STATE_QOS),
            CMD: self.create_publisher(Float64MultiArray, CMD, STATE_QOS),
            IV: self.create_publisher(Bool, IV, STATE_QOS),
            EXPERT: self.create_publisher(Float64MultiArray, EXPERT, STATE_QOS),
            EPISODE: self.create_publisher(String, EPISODE, EPISODE_QOS),
            GATE: self.create_publisher(String, GATE, STATE_QOS),
            DOUBT: self.create_publisher(Float64, DOUBT, STATE_QOS),
            HELP: self.create_publisher(Bool, HELP, STATE_QOS),
        }
        self.model_pub = self.create_publisher(String, '/imitation/model_version', MODEL_QOS)
        # The robot, latched as robot_state_publisher does: recorders without a URDF
        # parameter (every one here but the Panda's) take it from this topic.
        self.description_pub = self.create_publisher(String, '/robot_description',
                                                     ROBOT_DESCRIPTION_QOS)
        self.description_pub.publish(String(data=PLANAR_URDF.read_text(encoding='utf-8')))
        self.lock = threading.Lock()
        self.stamps: dict[tuple[str, int], float] = {}
        self.diagnostics: list[DiagnosticArray] = []
        self.create_subscription(DiagnosticArray, '/diagnostics', self._on_diag, 50)

    def _on_diag(self, msg: DiagnosticArray) -> None:
        with self.lock:
            self.diagnostics.append(msg)

    def recorder_status(self, session_dir: Path) -> Any:
        """Return the newest recorder diagnostic status of the recorder writing session_dir."""
        with self.lock:
            msgs = list(self.diagnostics)
        for msg in reversed(msgs):
            for status in msg.status:
                values = {kv.key: kv.value for kv in status.values}
                if values.get('session_dir') == str(session_dir):
                    return status, values
        return None

    def wait_subscribers(self, count: int,
                         topics: tuple[str, ...] = (JS, CMD, EPISODE, IV, DOUBT, HELP)
                         ) -> None:
        """Wait until ``count`` recorders subscribe to ``topics``."""
        for topic in topics:
            wait_for(lambda: self.pubs[topic].get_subscription_count() >= count,
                     timeout=PROCESS_TIMEOUT_S, what=f'{count} subscribers on {topic}')

    def event(self, kind: str, episode: int, stamp: float | None = None, **extra: Any) -> None:
        """Publish an episode event, stamped now unless ``stamp`` (s) is given."""
        stamp = time.time() if stamp is None else stamp
        self.stamps[(kind, episode)] = stamp
        data = {'event': kind, 'episode': episode, 'stamp': stamp, **extra}
        if kind == 'start':
            data.update(start=[1.8, -2.6, 0.0], task=TASK)
        self.pubs[EPISODE].publish(String(data=json.dumps(data)))

    def state(self, k: int) -> None:
        """Publish joint state and task number ``k``."""
        q = np.array([1.8, -2.6, 0.0]) + 0.01 * k
        stamp = self.get_clock().now().to_msg()
        self.pubs[JS].publish(joint_state_msg(JOINTS, q, np.zeros(3), stamp))
        self.pubs[TASK_T].publish(array_msg(TASK))


@pytest.fixture(scope='module')
def harness(ros: Context, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Run a recorder and a probe with one executor in a background thread."""
    data = tmp_path_factory.mktemp('data')
    rec = RecorderNode(context=ros, parameter_overrides=[
        Parameter('data_dir', value=str(data)), Parameter('session', value='live')])
    probe = Probe(ros)
    spinner = Spinner(ros, rec, probe)
    env = {'ros': ros, 'rec': rec, 'probe': probe, 'executor': spinner.executor,
           'session': data / 'live'}
    probe.model_pub.publish(String(data=MODEL_VERSION))
    wait_for(lambda: rec.policy_version == MODEL_VERSION, what='the model version')
    yield env
    spinner.close()


def record_episode(env: dict[str, Any], episode: int, steps: int = 30,
                   human: tuple[int, int] = (10, 20), success: bool = True) -> dict[str, int]:
    """Publish one episode's traffic in order, checked message by message; return the counts."""
    rec: RecorderNode = env['rec']
    probe: Probe = env['probe']
    probe.wait_subscribers(1)
    probe.event('start', episode)
    wait_for(lambda: rec.current_episode() == episode, what=f'episode {episode} to open')
    expected = {EPISODE: 1}

    def sent(topic: str) -> None:
        expected[topic] = expected.get(topic, 0) + 1
        wait_for(lambda: rec.current_counts().get(topic, 0) >= expected[topic],
                 what=f'{topic} message {expected[topic]}')

    # The policy asks for help just before the human takes over (the help hold).
    asking = (max(0, human[0] - 3), human[0])
    for k in range(steps):
        flag = human[0] <= k < human[1]
        if k == 0 or k in human:
            probe.pubs[IV].publish(Bool(data=flag))
            sent(IV)
        if k == 0 or k in asking:
            probe.pubs[HELP].publish(Bool(data=asking[0] <= k < asking[1]))
            sent(HELP)
        probe.state(k)
        sent(JS)
        sent(TASK_T)
        probe.pubs[DOUBT].publish(Float64(data=0.05 * k))
        sent(DOUBT)
        probe.pubs[POLICY].publish(array_msg([0.1 * k, 0.0, 0.0]))
        sent(POLICY)
        if k % 2 == 0:
            probe.pubs[EXPERT].publish(array_msg([0.2 * k, 0.0, 0.0]))
            sent(EXPERT)
        joy = Joy()
        joy.axes = [0.0] * 8
        joy.buttons = [0] * 11
        joy.buttons[4] = int(flag)
        probe.pubs[JOY].publish(joy)
        sent(JOY)
        probe.pubs[GATE].publish(String(data=json.dumps(
            {'source': 'human' if flag else 'policy', 'estop': False})))
        sent(GATE)
        probe.pubs[CMD].publish(array_msg([1.8 + 0.01 * (k + 1), -2.6, 0.0]))
        sent(CMD)
    probe.state(steps)
    sent(JS)
    sent(TASK_T)
    probe.event('end', episode, success=success, reason='success' if success else 'collision')
    expected[EPISODE] += 1
    bag = env['session'] / f'ep_{episode:05d}'
    wait_for(bag.exists, what=f'the bag of episode {episode}')
    return expected


def test_episode_bag_has_every_message_and_the_episode_facts(harness: dict[str, Any]) -> None:
    """One episode -> one finished bag with exact counts and custom_data, readable by rosbags."""
    expected = record_episode(harness, 7)
    bag = harness['session'] / 'ep_00007'
    assert not list(harness['session'].glob('*.partial'))
    assert find_episode_bags(harness['session']) == [bag]
    info = episode_info(bag)
    assert dict(info.message_counts) == expected
    assert info.episode == 7 and info.success and info.reason == 'success'
    assert info.source == 'hg_dagger' and info.policy_version == MODEL_VERSION
    assert info.interventions == 1 and info.human_steps == 10 and info.steps == 30
    assert info.joint_names == JOINTS and info.dt == pytest.approx(0.05)
    custom = info.custom_data
    assert custom['dropped'] == '0' and custom['help_requests'] == '1'
    assert custom[count_key(DOUBT)] == '30' and custom[count_key(HELP)] == '3'
    assert custom[count_key(CMD)] == '30' and custom[count_key('/camera/image_raw')] == '0'
    assert info.expert_labels == expected[EXPERT] > 0
    record = read_episode(bag)
    assert record.steps == 30 and record.interventions == 1
    assert int(record.intervention.sum()) == 10
    np.testing.assert_allclose(record.actions[:, 0], 1.8 + 0.01 * np.arange(1, 31))
    np.testing.assert_allclose(record.task, TASK)


def test_an_episodes_first_state_that_beats_its_start_event_is_in_the_bag(
        harness: dict[str, Any]) -> None:
    """States and labels arrive before their start event: those of the episode go in the bag."""
    rec: RecorderNode = harness['rec']
    probe: Probe = harness['probe']
    probe.wait_subscribers(1)
    outside = rec.messages_outside
    probe.state(0)  # the arm between episodes: stamped before the start
    before = probe.get_clock().now()
    time.sleep(0.05)
    first = probe.get_clock().now()
    q = np.array([1.8, -2.6, 0.0])
    probe.pubs[JS].publish(joint_state_msg(JOINTS, q, np.zeros(3), first.to_msg()))
    probe.pubs[TASK_T].publish(array_msg(TASK))
    # The expert's labels name the states they are for: the one between episodes and the first.
    for at, value in ((before, 0.5), (first, 0.7)):
        sec, nanosec = divmod(at.nanoseconds, 1_000_000_000)
        probe.pubs[EXPERT].publish(label_msg(np.full(3, value), 'expert', (sec, nanosec)))
    wait_for(lambda: rec.messages_outside >= outside + 6, what='the messages outside an episode')
    probe.event('start', 61, stamp=first.nanoseconds * 1e-9)
    wait_for(lambda: rec.current_episode() == 61, what='episode 61 to open')
    probe.state(1)
    wait_for(lambda: rec.current_counts().get(JS, 0) >= 2, what='the second state')
    probe.event('end', 61, success=False, reason='timeout')
    bag = harness['session'] / 'ep_00061'
    wait_for(bag.exists, what='the bag of episode 61')
    messages = read_bag_messages(bag, with_images=False)
    assert len(messages.joint_stamps) == 2
    assert int(messages.joint_stamps[0]) == first.nanoseconds
    assert episode_info(bag).message_counts[TASK_T] == 2
    assert messages.expert_stamps.tolist() == [first.nanoseconds], 'the first state\'s label only'
    np.testing.assert_allclose(messages.expert.values, [[0.7, 0.7, 0.7]])


def test_messages_taken_after_the_end_event_but_published_before_are_in_the_bag(
        harness: dict[str, Any], tmp_path: Path) -> None:
    """A state stamped before the end and a command go in; a state stamped after closes it."""
    probe: Probe = harness['probe']
    rec = RecorderNode(context=harness['ros'], parameter_overrides=[
        Parameter('data_dir', value=str(tmp_path)), Parameter('session', value='late'),
        Parameter('end_wait_s', value=60.0), Parameter('end_quiet_s', value=60.0)])
    # Both far beyond the test: the state stamped after the end must close it.
    harness['executor'].add_node(rec)
    try:
        probe.wait_subscribers(2)
        probe.event('start', 62)
        wait_for(lambda: rec.current_episode() == 62, what='episode 62 to open')
        probe.state(0)
        wait_for(lambda: rec.current_counts().get(JS, 0) >= 1, what='the first state')
        late = probe.get_clock().now()   # published before the end, taken after it
        probe.event('end', 62, success=True, reason='success')
        wait_for(lambda: rec.current_counts().get(EPISODE, 0) >= 2, what='the end event')
        probe.pubs[JS].publish(joint_state_msg(JOINTS, np.array([1.8, -2.6, 0.0]), np.zeros(3),
                                               late.to_msg()))
        probe.pubs[CMD].publish(array_msg([1.8, -2.6, 0.0]))
        wait_for(lambda: rec.current_counts().get(CMD, 0) >= 1 and
                 rec.current_counts().get(JS, 0) >= 2, what='the late state and command')
        assert rec.current_episode() == 62, 'the episode waits for its late messages'
        probe.state(1)   # stamped after the end: the recorder has caught up
        bag = tmp_path / 'late' / 'ep_00062'
        wait_for(bag.exists, what='the bag of episode 62')
        counts = episode_info(bag).message_counts
        assert counts[JS] == 2 and counts[CMD] == 1 and counts[EPISODE] == 2
        assert int(read_bag_messages(bag, with_images=False).joint_stamps[-1]) == \
            late.nanoseconds
    finally:
        _drop_recorder(harness, rec)


def test_bag_is_readable_by_mcap(harness: dict[str, Any]) -> None:
    """The MCAP file decodes with mcap + mcap_ros2: same topics, counts, types and payloads."""
    from mcap.reader import make_reader
    from mcap_ros2.decoder import DecoderFactory

    bag = harness['session'] / 'ep_00007'
    if not bag.exists():
        record_episode(harness, 7)
    files = list(bag.glob('*.mcap'))
    assert len(files) == 1
    counts: dict[str, int] = {}
    schemas: dict[str, str] = {}
    events = []
    with files[0].open('rb') as fh:
        reader = make_reader(fh, decoder_factories=[DecoderFactory()])
        for schema, channel, _, msg in reader.iter_decoded_messages():
            counts[channel.topic] = counts.get(channel.topic, 0) + 1
            schemas[channel.topic] = schema.name
            if channel.topic == EPISODE:
                events.append(json.loads(msg.data))
    assert counts == dict(episode_info(bag).message_counts)
    assert schemas[JS] == 'sensor_msgs/msg/JointState' and schemas[IV] == 'std_msgs/msg/Bool'
    assert schemas[DOUBT] == 'std_msgs/msg/Float64' and schemas[HELP] == 'std_msgs/msg/Bool'
    assert [e['event'] for e in events] == ['start', 'end']
    assert all(e['episode'] == 7 for e in events)


def test_images_are_subscribed_as_reliable_as_every_publisher_offers(
        harness: dict[str, Any]) -> None:
    """Reliable while every camera publisher is; a best-effort camera joins and is recorded."""
    rec: RecorderNode = harness['rec']
    probe: Probe = harness['probe']
    assert offered_reliability([]) == ReliabilityPolicy.BEST_EFFORT
    reliable = probe.create_publisher(Image, CAMERA, IMAGE_PUB_QOS)
    wait_for(lambda: rec.image_reliability == ReliabilityPolicy.RELIABLE,
             what='a reliable image subscription')
    best_effort = probe.create_publisher(Image, CAMERA, qos_profile_sensor_data)
    try:
        wait_for(lambda: rec.image_reliability == ReliabilityPolicy.BEST_EFFORT,
                 what='a best-effort image subscription')
        wait_for(lambda: best_effort.get_subscription_count() >= 1, what='the camera matched')
        probe.event('start', 63)
        wait_for(lambda: rec.current_episode() == 63, what='episode 63 to open')
        frame = Image(height=4, width=4, encoding='rgb8', step=12, data=bytes(48))

        def recorded() -> bool:
            frame.header.stamp = probe.get_clock().now().to_msg()
            best_effort.publish(frame)   # best effort: send again until one arrives
            time.sleep(0.05)
            return rec.current_counts().get(CAMERA, 0) >= 1
        wait_for(recorded, what='a best-effort frame in the episode')
        probe.event('end', 63, success=False, reason='timeout')
        bag = harness['session'] / 'ep_00063'
        wait_for(bag.exists, what='the bag of episode 63')
        assert episode_info(bag).message_counts[CAMERA] >= 1
    finally:
        probe.destroy_publisher(reliable)
        probe.destroy_publisher(best_effort)


def test_history_and_repeated_events_are_not_recorded(harness: dict[str, Any]) -> None:
    """Replayed starts of closed episodes and of episodes begun before the recorder are ignored."""
    rec: RecorderNode = harness['rec']
    probe: Probe = harness['probe']
    if not (harness['session'] / 'ep_00007').exists():
        record_episode(harness, 7)
    failed = rec.episodes_failed
    probe.event('start', 7, stamp=probe.stamps[('start', 7)])  # the same event again
    probe.event('start', 8, stamp=time.time() - 600.0)  # began long before the recorder
    probe.event('start', 9)
    wait_for(lambda: rec.current_episode() == 9, what='episode 9 to open')
    probe.event('end', 8, success=True, reason='success')
    probe.state(0)
    wait_for(lambda: rec.current_counts().get(JS, 0) == 1, what='a joint state in episode 9')
    probe.event('end', 9, success=False, reason='timeout')
    bag = wait_for(lambda: rec.last_bag if rec.last_bag and rec.last_bag.name == 'ep_00009'
                   else None, what='the bag of episode 9')
    info = episode_info(bag)
    assert info.message_counts[EPISODE] == 2 and info.reason == 'timeout' and not info.success
    assert not (harness['session'] / 'ep_00008').exists()
    assert not (harness['session'] / 'ep_00007_1').exists()
    assert not list(harness['session'].glob('*.partial'))
    assert rec.episodes_failed == failed


def test_restarted_source_reusing_a_number_gets_a_new_bag(harness: dict[str, Any]) -> None:
    """A newer start event with a number already recorded (source restarted): ep_NNNNN_1."""
    rec: RecorderNode = harness['rec']
    probe: Probe = harness['probe']
    if not (harness['session'] / 'ep_00007').exists():
        record_episode(harness, 7)
    probe.event('start', 7)
    wait_for(lambda: rec.current_episode() == 7, what='episode 7 to open again')
    probe.event('end', 7, success=False, reason='collision')
    bag = harness['session'] / 'ep_00007_1'
    wait_for(bag.exists, what='the second bag of episode 7')
    assert episode_info(bag).reason == 'collision'
    assert episode_info(harness['session'] / 'ep_00007').reason == 'success'


def test_write_failure_aborts_the_bag_and_recording_goes_on(harness: dict[str, Any]) -> None:
    """A failing disk write discards that episode's bag, reports ERROR, and the next records."""
    rec: RecorderNode = harness['rec']
    probe: Probe = harness['probe']
    probe.wait_subscribers(1)
    probe.event('start', 11)
    wait_for(lambda: rec.current_episode() == 11, what='episode 11 to open')
    writer = rec._current.writer  # the test reaches in to break the disk

    def broken(topic: str, raw: bytes, t_ns: int) -> None:
        raise DataError('writing failed: No space left on device') from OSError(28, 'ENOSPC')

    writer.write = broken
    probe.state(0)
    wait_for(lambda: rec.current_episode() is None, what='the episode to be aborted')
    probe.event('end', 11, success=True, reason='success')
    session = harness['session']
    status = wait_for(lambda: (s := probe.recorder_status(session)) and
                      diagnostic_level(s[0]) == 2 and s, what='an ERROR diagnostic')
    assert 'episode 11 aborted' in status[0].message
    assert not (session / 'ep_00011').exists() and not (session / 'ep_00011.partial').exists()
    record_episode(harness, 12, steps=5, human=(1, 3))
    assert episode_info(session / 'ep_00012').interventions == 1


def test_too_long_episode_is_closed_and_history_is_skipped(
        harness: dict[str, Any], tmp_path: Path) -> None:
    """A second recorder closes an episode past max_episode_s and ignores the replayed history."""
    probe: Probe = harness['probe']
    before = len(list(find_episode_bags(harness['session'])))
    rec2 = RecorderNode(context=harness['ros'], parameter_overrides=[
        Parameter('data_dir', value=str(tmp_path)), Parameter('session', value='s2'),
        Parameter('max_episode_s', value=0.5)])
    harness['executor'].add_node(rec2)
    try:
        probe.wait_subscribers(2)
        probe.event('start', 20)
        bag = tmp_path / 's2' / 'ep_00020'
        wait_for(bag.exists, what='the too_long bag')
        info = episode_info(bag)
        assert info.reason == 'too_long' and not info.success
        probe.event('end', 20, success=True, reason='success')
        wait_for(lambda: (harness['session'] / 'ep_00020').exists(),
                 what='the first recorder\'s bag of episode 20')
        assert find_episode_bags(tmp_path) == [bag], 'history must not become bags'
        assert not list((tmp_path / 's2').glob('*.partial'))
        assert len(find_episode_bags(harness['session'])) == before + 1
    finally:
        harness['executor'].remove_node(rec2)
        rec2.destroy_node()


def _late_recorder(harness: dict[str, Any], data_dir: Path, session: str) -> RecorderNode:
    """Start another recorder in the harness (as a restarted one would come up)."""
    rec = RecorderNode(context=harness['ros'], parameter_overrides=[
        Parameter('data_dir', value=str(data_dir)), Parameter('session', value=session),
        # Far beyond this test's few seconds: the start-up window alone must not decide.
        Parameter('late_start_s', value=60.0)])
    harness['executor'].add_node(rec)
    return rec


def _drop_recorder(harness: dict[str, Any], rec: RecorderNode) -> None:
    harness['executor'].remove_node(rec)
    rec.destroy_node()


def test_recorder_restarted_mid_episode_writes_no_bag_for_its_tail(
        harness: dict[str, Any], tmp_path: Path) -> None:
    """A recorder that comes up after the arm moved in an episode writes no bag of that episode."""
    probe: Probe = harness['probe']
    probe.wait_subscribers(1)
    probe.event('start', 40)
    for k in range(10):
        probe.state(k)  # the episode runs: the arm leaves its start posture
    rec2 = _late_recorder(harness, tmp_path, 'restarted')
    session = tmp_path / 'restarted'
    try:
        probe.wait_subscribers(2)
        wait_for(lambda: rec2.current_episode() == 40, what='the replayed start of episode 40')
        for k in range(10, 20):
            probe.state(k)
            probe.pubs[CMD].publish(array_msg([1.8 + 0.01 * k, -2.6, 0.0]))
        probe.event('end', 40, success=True, reason='success')
        wait_for((harness['session'] / 'ep_00040').exists,
                 what='the bag of the recorder that saw the whole episode')
        wait_for(lambda: rec2.current_episode() is None, what='episode 40 to be over')
        assert not list(session.iterdir()), 'neither a bag nor a .partial of the tail'
        assert rec2.episodes_missed_start == 1 and rec2.episodes_written == 0
        wait_for(lambda: (s := probe.recorder_status(session))
                 and s[1]['episodes_missed_start'] == '1',
                 what='episodes_missed_start on /diagnostics')
    finally:
        _drop_recorder(harness, rec2)


def test_replayed_start_superseded_by_an_older_start_is_history_not_a_missed_episode(
        harness: dict[str, Any], tmp_path: Path) -> None:
    """Two replayed starts, both older than the recorder: the first is history, not missed."""
    probe: Probe = harness['probe']
    probe.wait_subscribers(1)
    probe.event('start', 42)  # never ends: its end event was lost
    probe.event('start', 43)
    # The robot is known before the event history arrives, so every replayed event is
    # handled one by one (the order a robot_description topic may also give).
    rec4 = RecorderNode(context=harness['ros'], parameter_overrides=[
        Parameter('data_dir', value=str(tmp_path)), Parameter('session', value='history'),
        Parameter('robot_description', value=PLANAR_URDF.read_text()),
        Parameter('late_start_s', value=60.0)])
    harness['executor'].add_node(rec4)
    try:
        probe.wait_subscribers(2)
        wait_for(lambda: rec4.current_episode() == 43, what='the replayed start of episode 43')
        assert rec4.episodes_missed_start == 0, 'episode 42 ended before the recorder came up'
        for k in range(4):
            probe.state(k)
            probe.pubs[CMD].publish(array_msg([1.8 + 0.01 * (k + 1), -2.6, 0.0]))
        wait_for(lambda: rec4.current_counts().get(JS, 0) == 4, what='four states of 43')
        probe.event('end', 43, success=True, reason='success')
        wait_for((tmp_path / 'history' / 'ep_00043').exists, what='the bag of episode 43')
        assert rec4.episodes_missed_start == 0
        assert not (tmp_path / 'history' / 'ep_00042').exists()
    finally:
        _drop_recorder(harness, rec4)


def test_recorder_up_before_the_arm_moved_records_the_whole_episode(
        harness: dict[str, Any], tmp_path: Path) -> None:
    """A start event older than the recorder, the arm still at its start posture: recorded."""
    probe: Probe = harness['probe']
    probe.wait_subscribers(1)
    probe.event('start', 41)
    rec3 = _late_recorder(harness, tmp_path, 'race')
    try:
        probe.wait_subscribers(2)
        wait_for(lambda: rec3.current_episode() == 41, what='the replayed start of episode 41')
        for k in range(6):
            probe.state(k)  # state 0 is the start posture the event names
            probe.pubs[CMD].publish(array_msg([1.8 + 0.01 * (k + 1), -2.6, 0.0]))
        wait_for(lambda: rec3.current_counts().get(CMD, 0) == 6 and
                 rec3.current_counts().get(JS, 0) == 6, what='six states and commands')
        probe.event('end', 41, success=False, reason='collision')
        bag = tmp_path / 'race' / 'ep_00041'
        wait_for(bag.exists, what='the bag of episode 41')
        assert rec3.episodes_missed_start == 0
        info = episode_info(bag)
        assert info.message_counts[JS] == 6 and info.reason == 'collision'
        assert read_episode(bag).steps == 6
    finally:
        _drop_recorder(harness, rec3)


def _recorder_process(data_dir: Path) -> subprocess.Popen:
    env = dict(os.environ, ROS_DOMAIN_ID=str(DOMAIN_ID), PYTHONUNBUFFERED='1',
               PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get('PYTHONPATH', ''))
    cmd = [sys.executable, '-m', 'imitation_ros.nodes.recorder', '--ros-args',
           '-p', f'data_dir:={data_dir}', '-p', 'session:=proc']
    return subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


@pytest.mark.parametrize('signum', [signal.SIGTERM, signal.SIGINT], ids=['SIGTERM', 'SIGINT'])
def test_signal_closes_the_open_bag_as_interrupted(harness: dict[str, Any], tmp_path: Path,
                                                   signum: int) -> None:
    """A recorder process stopped by SIGTERM / SIGINT mid-episode leaves a complete bag."""
    probe: Probe = harness['probe']
    episode = 30 if signum == signal.SIGTERM else 31
    session = (tmp_path / 'proc').resolve()
    proc = _recorder_process(tmp_path)
    try:
        probe.wait_subscribers(2)
        # Its diagnostics show that it is up and has taken the replayed history.
        wait_for(lambda: probe.recorder_status(session), timeout=PROCESS_TIMEOUT_S,
                 what='the recorder process diagnostics')
        probe.event('start', episode)
        wait_for((session / f'ep_{episode:05d}.partial').exists, what='the staged bag')
        for k in range(5):
            probe.state(k)
            probe.pubs[CMD].publish(array_msg([1.8, -2.6, 0.01 * k]))
        # 1 event + 5 joint states + 5 tasks + 5 commands.
        wait_for(lambda: (s := probe.recorder_status(session))
                 and int(s[1]['episode_messages']) >= 16, what='the messages in its bag')
        proc.send_signal(signum)
        out, _ = proc.communicate(timeout=PROCESS_TIMEOUT_S)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, out
    bag = session / f'ep_{episode:05d}'
    assert bag.exists() and not (session / f'ep_{episode:05d}.partial').exists(), out
    info = episode_info(bag)
    assert info.reason == 'interrupted' and not info.success
    assert info.message_counts[CMD] == 5 and info.message_counts[JS] == 5
    assert info.message_counts[EPISODE] == 1
    assert read_episode(bag).steps == 5
    probe.event('end', episode, success=False, reason='reset')


def test_unwritable_data_dir_exits_1(tmp_path: Path) -> None:
    """data_dir below a regular file: exit code 1 and a message that names the fix."""
    blocker = tmp_path / 'not_a_dir'
    blocker.write_text('x')
    proc = _recorder_process(blocker / 'data')
    out, _ = proc.communicate(timeout=PROCESS_TIMEOUT_S)
    assert proc.returncode == 1, out
    assert 'cannot create the session directory' in out and 'data_dir' in out


def test_bad_parameter_exits_with_code_1(ros: Context) -> None:
    """main() logs and returns 1 for an unknown source or topic."""
    assert main(['--ros-args', '-p', 'source:=teleop']) == 1
    assert main(['--ros-args', '-p', 'topics:=[/joint_states,/tf]']) == 1
    assert main(['--ros-args', '-p', 'max_episode_s:=0.0']) == 1


# --- the robot from its URDF ------------------------------------------------------------


def test_the_robots_joints_name_the_commands_of_every_bag(
        harness: dict[str, Any], tmp_path: Path) -> None:
    """The topic's planar arm names the harness's bags; a Panda recorder's name its 7 joints."""
    probe: Probe = harness['probe']
    assert harness['rec'].robot.joint_names == JOINTS  # from the latched topic
    rec = RecorderNode(context=harness['ros'], parameter_overrides=[
        Parameter('data_dir', value=str(tmp_path)), Parameter('session', value='panda'),
        Parameter('urdf_file', value=str(PANDA_URDF)),
        Parameter('base_link', value='panda_link0'),
        Parameter('tip_link', value='panda_hand_tcp')])
    harness['executor'].add_node(rec)
    try:
        probe.wait_subscribers(2)
        probe.event('start', 50)
        wait_for(lambda: rec.current_episode() == 50, what='the Panda recorder\'s episode')
        probe.event('end', 50, success=True, reason='success')
        bag = tmp_path / 'panda' / 'ep_00050'
        wait_for(bag.exists, what='the Panda recorder\'s bag')
        assert episode_info(bag).joint_names == PANDA_ARM
        wait_for((harness['session'] / 'ep_00050').exists, what='the harness\'s bag')
        assert episode_info(harness['session'] / 'ep_00050').joint_names == JOINTS
    finally:
        _drop_recorder(harness, rec)


def test_episode_events_wait_for_the_robot_description(
        harness: dict[str, Any], tmp_path: Path) -> None:
    """Nothing is recorded before the description; the episode it held back is, whole, after."""
    probe: Probe = harness['probe']
    # Topics at the root (the probe's), the description on a topic of its own.
    rec = RecorderNode(context=harness['ros'], cli_args=[
        '--ros-args', '-r', '__node:=blind_recorder',
        '-r', 'robot_description:=/blind/robot_description'], parameter_overrides=[
        Parameter('data_dir', value=str(tmp_path)), Parameter('session', value='blind'),
        Parameter('robot_description_timeout_s', value=600.0)])
    source = Node('robot_state_publisher', context=harness['ros'], namespace='/blind')
    description = source.create_publisher(String, 'robot_description', ROBOT_DESCRIPTION_QOS)
    harness['executor'].add_node(rec)
    harness['executor'].add_node(source)
    session = (tmp_path / 'blind').resolve()
    try:
        status = wait_for(lambda: probe.recorder_status(session), what='its diagnostics')
        assert 'waiting for the robot description on /blind/robot_description' in \
            status[0].message and 'not recording' in status[0].message
        probe.wait_subscribers(2)
        probe.event('start', 51)
        probe.state(0)  # the start posture the event names
        probe.state(1)
        wait_for(lambda: (harness['session'] / 'ep_00051.partial').exists(),
                 what='the harness recorder\'s episode 51')
        time.sleep(1.5)  # the episode began well before the robot came (the posture check)
        assert rec.current_episode() is None and not list(session.iterdir())
        description.publish(String(data=PLANAR_URDF.read_text(encoding='utf-8')))
        wait_for(lambda: rec.current_episode() == 51, what='the held-back start of episode 51')
        probe.state(2)
        probe.event('end', 51, success=True, reason='success')
        wait_for((session / 'ep_00051').exists, what='the bag of episode 51')
        info = episode_info(session / 'ep_00051')
        assert info.joint_names == JOINTS and info.message_counts[JS] == 3
        assert rec.episodes_missed_start == 0
    finally:
        harness['executor'].remove_node(source)
        source.destroy_node()
        _drop_recorder(harness, rec)


def test_no_or_a_wrong_robot_description_exits_1_at_start_up(
        ros: Context, tmp_path: Path, capfd: pytest.CaptureFixture) -> None:
    """None within robot_description_timeout_s, or an unusable one: exit code 1 and the fix."""
    data = ['-p', f'data_dir:={tmp_path}']
    assert main(['--ros-args', '-r', '__ns:=/nobody', '-p',
                 'robot_description_timeout_s:=0.5', *data]) == 1
    err = capfd.readouterr().err
    assert 'no robot description on /nobody/robot_description' in err and 'urdf_file' in err
    assert main(['--ros-args', '-p', 'robot_description:=not a urdf', *data]) == 1
    assert 'not valid XML' in capfd.readouterr().err
