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
The helper processes of the benchmarks: a fake arm, a relay, a probe and a load generator.

Each runs as its own process (``python -m imitation_ros.studies.bench_nodes ROLE
CONFIG.json``) with the executor of :func:`imitation_ros.nodes.spin.make_executor`
(``$IMITATION_ROS_EXECUTOR``) and stops on SIGINT like the package's nodes.

* ``arm`` publishes ``/imitation/task`` and then ``/joint_states`` at ``rate_hz``
  from a thread that sleeps to absolute deadlines, replaying recorded joint
  positions and tasks; every header stamp is the wall clock (ns) at publication.
  It does not follow the commands: every state differs from the last, so an
  action (and the command made of it) names one state only.
* ``relay`` is the bare-rclpy floor: it subscribes ``/joint_states`` (or the
  previous relay's topic) and publishes a Float64MultiArray of
  ``[stamp sec, stamp nanosec, positions...]`` (``layout.data_offset`` = 2), the
  least a node can do per hop.
* ``probe`` subscribes raw (no deserialization before the receive time is taken)
  to the joint states, the policy's actions, the gate's commands and decisions and
  the last relay's output, and keeps (receive time in ns, bytes) per message. The
  window starts ``warmup_s`` after the first policy action (or relay message) and
  lasts ``seconds``; then the probe writes everything to ``out`` (npz) and stops.
* ``load`` (``benchmark recorder``) waits for the recorder's subscriptions,
  publishes an episode start event, streams each of its ``streams`` (joint states,
  task, commands, gate decisions, camera images of any size) at its rate for
  ``seconds``, waits ``drain_s`` and publishes the end event; it writes how many
  messages and bytes of each topic it published to ``out`` (JSON) and stops.
  Every message names its index on its topic (0, 1, ...; -1 for the one sent
  before the episode): a joint state in its first position, an array in its
  first value, a gate decision in its ``stamp``, an image in its ``frame_id``.
"""

from __future__ import annotations

import argparse
import array
import json
import os
from pathlib import Path
import signal
import sys
import threading
import time
from typing import Any

from builtin_interfaces.msg import Time
import numpy as np
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image, JointState
from std_msgs.msg import Float64MultiArray, MultiArrayDimension, String

from ..interface import topics
from ..nodes.conversions import array_msg, joint_state_msg
from ..nodes.qos import EPISODE_QOS, IMAGE_PUB_QOS, MODEL_QOS, STATE_PUB_QOS, STATE_QOS
from ..nodes.spin import spin_node

#: Topic of the first relay (fed by /joint_states) and of the second (fed by the first).
RELAY_TOPICS = ('/bench/relay_a', '/bench/relay_b')
#: What the probe records, by name in its dump: (topic, message type).
PROBE_TOPICS: dict[str, tuple[str, type]] = {
    'states': (topics.JOINT_STATES.name, JointState),
    'actions': (topics.POLICY_ACTION.name, Float64MultiArray),
    'commands': (topics.COMMANDS.name, Float64MultiArray),
    'gate': (topics.GATE_STATE.name, String),
    'floor': (RELAY_TOPICS[1], Float64MultiArray),
}
#: The probe's subscriptions: reliable like the publishers, deep enough never to drop.
PROBE_QOS = QoSProfile(depth=1000, history=HistoryPolicy.KEEP_LAST,
                       reliability=ReliabilityPolicy.RELIABLE,
                       durability=DurabilityPolicy.VOLATILE)
#: Longest wait of the arm for its subscribers and the policy's model (s).
START_TIMEOUT_S = 60.0
_NS = 1_000_000_000


def _stamp(ns: int) -> Time:
    return Time(sec=ns // _NS, nanosec=ns % _NS)


class FakeArm(Node):
    """Replays joint positions and tasks at ``rate_hz`` from a thread (see the module doc)."""

    def __init__(self, config: dict) -> None:
        super().__init__('bench_arm')
        path = np.load(config['path'])
        self.positions = np.asarray(path['positions'], dtype=np.float64)
        self.tasks = np.asarray(path['tasks'], dtype=np.float64)
        self.names = tuple(config['joint_names'])
        self.period_ns = int(round(_NS / float(config['rate_hz'])))
        self.state_pub = self.create_publisher(JointState, topics.JOINT_STATES.name, STATE_PUB_QOS)
        self.task_pub = self.create_publisher(Float64MultiArray, topics.TASK.name, STATE_PUB_QOS)
        self.published = 0
        self.late = 0
        self.waits = {str(k): int(v) for k, v in config.get('wait_subscribers', {}).items()}
        self.model = '' if config.get('wait_model') else 'not waited for'
        if config.get('wait_model'):
            self.create_subscription(String, topics.MODEL_VERSION.name, self._on_model,
                                     MODEL_QOS)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _on_model(self, msg: String) -> None:
        self.model = msg.data

    def _ready(self) -> bool:
        """Every subscriber matched and the policy's model loaded."""
        return bool(self.model) and all(self.count_subscribers(topic) >= n
                                        for topic, n in self.waits.items())

    def _run(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not self._ready() and time.monotonic() < deadline:
            if self._stop.wait(0.05):
                return
        # Graph discovery runs slightly ahead of endpoint matching: a second more.
        if self._stop.wait(1.0):
            return
        i = 0
        deadline = time.time_ns()
        n = len(self.positions)
        while not self._stop.is_set():
            k = i % (2 * n - 2) if n > 1 else 0
            k = k if k < n else 2 * n - 2 - k   # forth and back along the recorded path
            self.task_pub.publish(array_msg(self.tasks[k]))
            stamp = time.time_ns()
            self.state_pub.publish(joint_state_msg(self.names, self.positions[k],
                                                   stamp=_stamp(stamp)))
            self.published += 1
            i += 1
            deadline += self.period_ns
            wait = deadline - time.time_ns()
            if wait < 0:
                self.late += 1
                deadline = time.time_ns()   # behind: do not burst to catch up
                continue
            self._stop.wait(wait / _NS)

    def stop(self) -> None:
        """Stop publishing."""
        self._stop.set()
        self._thread.join(timeout=2.0)


class Relay(Node):
    """One bare-rclpy hop: the stamp and the positions, forwarded as a Float64MultiArray."""

    def __init__(self, config: dict) -> None:
        index = int(config['index'])
        super().__init__(f'bench_relay_{index}')
        self.pub = self.create_publisher(Float64MultiArray, RELAY_TOPICS[index], STATE_QOS)
        self.label = 'stamp_sec,stamp_nanosec,positions'
        if index == 0:
            self.create_subscription(JointState, topics.JOINT_STATES.name, self._on_state,
                                     STATE_QOS)
        else:
            self.create_subscription(Float64MultiArray, RELAY_TOPICS[index - 1],
                                     self._on_array, STATE_QOS)

    def _publish(self, values: Any) -> None:
        msg = Float64MultiArray()
        msg.layout.dim = [MultiArrayDimension(label=self.label, size=len(values) - 2,
                                              stride=len(values) - 2)]
        msg.layout.data_offset = 2
        msg.data = values
        self.pub.publish(msg)

    def _on_state(self, msg: JointState) -> None:
        stamp = msg.header.stamp
        self._publish(array.array('d', [float(stamp.sec), float(stamp.nanosec),
                                        *msg.position]))

    def _on_array(self, msg: Float64MultiArray) -> None:
        self._publish(array.array('d', msg.data))


class Probe(Node):
    """Records (receive time, raw bytes) per topic; stops itself after its window."""

    def __init__(self, config: dict) -> None:
        super().__init__('bench_probe')
        self.config = config
        self.warmup_ns = int(float(config['warmup_s']) * _NS)
        self.window_ns = int(float(config['seconds']) * _NS)
        self.start_on = config.get('start_on', 'actions')
        self.records: dict[str, list[tuple[int, bytes]]] = {k: [] for k in PROBE_TOPICS}
        self.first_ns = 0
        self.window: tuple[int, int] = (0, 0)
        self.done = False
        for name, (topic, kind) in PROBE_TOPICS.items():
            self.create_subscription(kind, topic, self._callback(name), PROBE_QOS, raw=True)
        self.create_timer(0.1, self._check)

    def _callback(self, name: str) -> Any:
        records = self.records[name]

        def callback(raw: bytes) -> None:
            records.append((time.time_ns(), raw))
            if not self.first_ns and name == self.start_on:
                self.first_ns = records[-1][0]
        return callback

    def _check(self) -> None:
        if not self.first_ns or self.done:
            return
        start = self.first_ns + self.warmup_ns
        end = start + self.window_ns
        if time.time_ns() > end + _NS // 2:   # half a second for the window's last commands
            self.done = True
            self.window = (start, end)
            os.kill(os.getpid(), signal.SIGINT)

    def dump(self) -> None:
        """Write every record and the window to ``out`` (npz)."""
        arrays: dict[str, Any] = {'window': np.asarray(self.window, dtype=np.int64)}
        for name, records in self.records.items():
            arrays[f'{name}_t'] = np.asarray([t for t, _ in records], dtype=np.int64)
            arrays[f'{name}_len'] = np.asarray([len(r) for _, r in records], dtype=np.int64)
            arrays[f'{name}_raw'] = np.frombuffer(b''.join(r for _, r in records),
                                                  dtype=np.uint8)
        out = Path(self.config['out'])
        tmp = out.with_suffix('.tmp.npz')
        np.savez(tmp, **arrays)
        os.replace(tmp, out)


class LoadGenerator(Node):
    """Streams topics at fixed rates inside one episode (see the module docstring)."""

    def __init__(self, config: dict) -> None:
        super().__init__('bench_load')
        self.config = config
        self.streams = [dict(s) for s in config['streams']]
        self.pubs: dict[str, Any] = {}
        for stream in self.streams:
            topic = stream['topic']
            if topic not in self.pubs:
                kind = Image if stream['kind'] == 'image' else _STREAM_TYPES[stream['kind']]
                qos = IMAGE_PUB_QOS if stream['kind'] == 'image' else STATE_PUB_QOS
                depth = int(config.get('publisher_depth', 0))
                if depth:   # a deeper writer history than the nodes' (what it buys)
                    qos = QoSProfile(depth=depth, history=qos.history,
                                     reliability=qos.reliability, durability=qos.durability)
                self.pubs[topic] = self.create_publisher(kind, topic, qos)
        self.event_pub = self.create_publisher(String, topics.EPISODE.name, EPISODE_QOS)
        self.published = {s['topic']: 0 for s in self.streams}
        self.bytes = {s['topic']: 0 for s in self.streams}
        self.failed: dict[str, list[int]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _message(self, stream: dict, k: int, stamp: Time) -> tuple[Any, int]:
        """Return the k-th message of ``stream`` and its payload size (bytes)."""
        kind = stream['kind']
        if kind == 'joint_state':
            # The message's index as its first position: a lost one can be named.
            msg = joint_state_msg(('joint1', 'joint2', 'joint3'), np.array([k, 0.0, 0.0]),
                                  np.zeros(3), stamp=stamp)
            return msg, 48
        if kind in ('task', 'command'):
            n = 5 if kind == 'task' else 3
            return array_msg(np.arange(n, dtype=np.float64) + k, 'bench'), 8 * n
        if kind == 'gate_state':
            text = json.dumps({'source': 'policy', 'stamp': k, 'state_stamp': k,
                               'command': [1e-3 * (k % 1000)] * 3})
            return String(data=text), len(text)
        msg = stream['image']
        msg.header.stamp = stamp
        msg.header.frame_id = str(k)
        return msg, len(msg.data)

    def _run(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline and not all(
                self.count_subscribers(t) >= 1 for t in [*self.pubs, topics.EPISODE.name]):
            if self._stop.wait(0.05):
                return
        if self._stop.wait(1.0):   # endpoint matching runs slightly behind graph discovery
            return
        for stream in self.streams:
            if stream['kind'] == 'image':
                h, w, enc = int(stream['height']), int(stream['width']), stream['encoding']
                channels = 3 if enc == 'rgb8' else 1
                msg = Image(height=h, width=w, encoding=enc, step=w * channels)
                msg.data = np.random.default_rng(0).integers(
                    0, 255, h * w * channels, dtype=np.uint8).tobytes()
                stream['image'] = msg
        if self.config.get('prime', True):
            # One message per topic before the episode: the first sample a new writer sends
            # over a match can be lost (measured: index 0 of every topic, now and then).
            for stream in self.streams:
                msg, _ = self._message(stream, -1, _stamp(time.time_ns()))
                self.pubs[stream['topic']].publish(msg)
            if self._stop.wait(1.0):
                return
        episode = int(self.config.get('episode', 0))
        self._event({'event': 'start', 'episode': episode, 'stamp': time.time()})
        self._stop.wait(float(self.config.get('settle_s', 1.0)))
        start, start_ns = time.monotonic(), time.time_ns()
        end = start + float(self.config['seconds'])
        while not self._stop.is_set():
            now = time.monotonic()
            if now >= end:
                break
            stamp = _stamp(time.time_ns())
            for stream in self.streams:
                due = int((now - start) * float(stream['rate_hz'])) + 1
                topic = stream['topic']
                while stream.setdefault('sent', 0) < due:
                    msg, size = self._message(stream, stream['sent'], stamp)
                    try:
                        self.pubs[topic].publish(msg)
                    except Exception:  # noqa: B902 - a writer whose reader lags refuses
                        # The index is spent but nothing went out: the count says so.
                        self.failed.setdefault(topic, []).append(stream['sent'])
                    stream['sent'] += 1
                    self.published[topic] += 1
                    self.bytes[topic] += size
            nxt = min(start + stream['sent'] / float(stream['rate_hz'])
                      for stream in self.streams)
            self._stop.wait(max(0.0, min(nxt - time.monotonic(), 0.001)))
        self.elapsed = time.monotonic() - start
        end_ns = time.time_ns()
        self._stop.wait(float(self.config.get('drain_s', 1.0)))
        self._event({'event': 'end', 'episode': episode, 'success': True, 'reason': 'load',
                     'stamp': time.time()})
        Path(self.config['out']).write_text(json.dumps({
            'published': self.published, 'bytes': self.bytes, 'seconds': self.elapsed,
            'publish_failed': self.failed,
            'start_ns': start_ns, 'end_ns': end_ns}))
        # Stay up: a reliable writer repairs what a late reader missed only while it lives.
        self._stop.wait(float(self.config.get('linger_s', 4.0)))
        os.kill(os.getpid(), signal.SIGINT)

    def _event(self, event: dict) -> None:
        self.event_pub.publish(String(data=json.dumps(event)))

    def stop(self) -> None:
        """Stop streaming."""
        self._stop.set()
        self._thread.join(timeout=5.0)


_STREAM_TYPES = {'joint_state': JointState, 'task': Float64MultiArray,
                 'command': Float64MultiArray, 'gate_state': String}

ROLES = {'arm': FakeArm, 'relay': Relay, 'probe': Probe, 'load': LoadGenerator}


def _on_stop(node: Node) -> None:
    if isinstance(node, LoadGenerator):
        node.stop()
    elif isinstance(node, FakeArm):
        node.stop()
        print(json.dumps({'published': node.published, 'late': node.late}), flush=True)
    elif isinstance(node, Probe):
        node.dump()


def main(argv: list[str] | None = None) -> int:
    """Run one helper process: ``ROLE CONFIG.json``."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('role', choices=sorted(ROLES))
    parser.add_argument('config', type=Path)
    args = parser.parse_args(argv)
    config = json.loads(args.config.read_text())
    return spin_node(lambda: ROLES[args.role](config), f'bench_{args.role}', None,
                     on_stop=_on_stop)


if __name__ == '__main__':
    sys.exit(main())
