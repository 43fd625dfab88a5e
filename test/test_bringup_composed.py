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

"""The composed graph: each node spins on its own; one stuck in a callback leaves the gate be."""

from __future__ import annotations

import json
import threading
from typing import Any, Callable

from imitation_ros.bringup.composed import ComposedGraph, share_dir
from imitation_ros.interface import topics
from imitation_ros.nodes.qos import STATE_QOS
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.node import Node
from std_msgs.msg import String
from ros_harness import poll_until, private_domain_id

DOMAIN_ID = private_domain_id(77)
TIMEOUT_S = 120.0
#: Callbacks hung per node, each in its own group: more than a shared pool of threads would have.
HUNG_PER_NODE = 4


def test_a_node_stuck_in_a_callback_does_not_stop_the_gate() -> None:
    """The arm and the policy hang in a callback: the gate goes on deciding, and holds."""
    model = share_dir() / 'models' / 'planar_gmm_multi.onnx'
    composed = ComposedGraph('deploy', use_sim=True, overrides={
        'sim_arm': {'camera_hz': 0.0},
        'policy': {'model_path': str(model), 'model_dirs': str(model.parent)}})
    composed.start(domain_id=DOMAIN_ID)
    release = threading.Event()
    lock = threading.Lock()
    modes: list[str] = []
    stuck: list[str] = []

    def on_gate(msg: String) -> None:
        with lock:
            modes.append(json.loads(msg.data)['mode'])

    def hang(name: str) -> Callable[[], None]:
        def callback() -> None:
            with lock:
                stuck.append(name)
            release.wait()  # as a callback that never returns (a write, an inference)
        return callback

    def decisions_after(mark: int, mode: str = '') -> Any:
        with lock:
            return len(modes) - mark >= 25 and (not mode or mode in modes[mark:])

    try:
        probe = composed.add(Node('composed_probe', context=composed.context))
        probe.create_subscription(String, topics.GATE_STATE.name, on_gate, STATE_QOS)
        poll_until(lambda: decisions_after(0), TIMEOUT_S, 'the gate deciding', period=0.05)
        for name in ('sim_arm', 'policy'):
            node = composed.nodes[name]
            for _ in range(HUNG_PER_NODE):
                node.create_timer(0.01, hang(name),
                                  callback_group=MutuallyExclusiveCallbackGroup())
        poll_until(lambda: 'sim_arm' in stuck, TIMEOUT_S, 'the arm stuck in a callback',
                   period=0.05)
        with lock:
            mark = len(modes)
        poll_until(lambda: decisions_after(mark, 'hold_stale_state'), TIMEOUT_S,
                   'the gate deciding (a hold at the last state) while they hang', period=0.05)
        assert not release.is_set() and 'sim_arm' in stuck
        assert composed.errors == []
    finally:
        release.set()
        composed.stop()
