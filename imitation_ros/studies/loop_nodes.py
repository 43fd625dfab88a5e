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
The helper processes of ``imitation-ros benchmark loop``: a fake arm, a relay and a probe.

Each runs as its own process (``python -m imitation_ros.studies.loop_nodes ROLE
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
from sensor_msgs.msg import JointState
from std_msgs.msg import Float64MultiArray, MultiArrayDimension, String

from ..interface import topics
from ..nodes.conversions import array_msg, joint_state_msg
from ..nodes.qos import MODEL_QOS, STATE_QOS
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
        self.state_pub = self.create_publisher(JointState, topics.JOINT_STATES.name, STATE_QOS)
        self.task_pub = self.create_publisher(Float64MultiArray, topics.TASK.name, STATE_QOS)
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


ROLES = {'arm': FakeArm, 'relay': Relay, 'probe': Probe}


def _on_stop(node: Node) -> None:
    if isinstance(node, FakeArm):
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
