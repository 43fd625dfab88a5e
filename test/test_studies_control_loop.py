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

"""The loop benchmark's pairing: stamped actions, commands by content, and the real gate."""

from __future__ import annotations

import json
from pathlib import Path
import threading
import time
from typing import Any

from builtin_interfaces.msg import Time
from imitation_ros.data import messages as m
from imitation_ros.interface import topics
from imitation_ros.nodes.intervention_gate import InterventionGateNode
from imitation_ros.nodes.policy_node import action_msg, PolicyNode
from imitation_ros.nodes.qos import STATE_QOS
from imitation_ros.policies.base import Normalizer, PolicySpec
from imitation_ros.policies.registry import make_policy
from imitation_ros.runtime.model_trust import record_model
from imitation_ros.studies.control_loop import analyse, format_loop
from imitation_ros.training.export import export_policy
import numpy as np
import pytest
from rclpy.context import Context
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.serialization import serialize_message
from sensor_msgs.msg import JointState
from std_msgs.msg import Float64MultiArray, String
import torch
from ros_harness import poll_until, private_domain_id, Spinner

DOMAIN_ID = private_domain_id(90)
ROOT = Path(__file__).resolve().parents[1]
JOINTS = ('joint1', 'joint2', 'joint3')
LABEL = ','.join(JOINTS)
T0 = 1_700_000_000_000_000_000
MS = 1_000_000


def _dump(records: dict[str, list[tuple[int, bytes]]], window: tuple[int, int]) -> dict:
    """Build a probe dump (the npz layout) from (receive ns, raw) records per topic."""
    dump: dict[str, Any] = {'window': np.asarray(window, dtype=np.int64)}
    for name in ('states', 'actions', 'commands', 'gate', 'floor'):
        rows = records.get(name, [])
        dump[f'{name}_t'] = np.asarray([t for t, _ in rows], dtype=np.int64)
        dump[f'{name}_len'] = np.asarray([len(r) for _, r in rows], dtype=np.int64)
        dump[f'{name}_raw'] = np.frombuffer(b''.join(r for _, r in rows), dtype=np.uint8)
    return dump


def _state(stamp: int) -> bytes:
    return m.encode_joint_state(stamp, JOINTS, np.full(3, stamp % 1000 / 1e3))


def _action(stamp: int, values: np.ndarray) -> bytes:
    sec, nanosec = divmod(stamp, 1_000_000_000)
    return serialize_message(action_msg(values, LABEL, (sec, nanosec)))


def _gate(source: str, command: np.ndarray) -> bytes:
    return m.encode_string(json.dumps({'source': source, 'command': command.tolist()}))


def test_analyse_pairs_commands_with_the_state_their_action_names() -> None:
    """Latency per state from its first command; repeats, a hold and a missed state counted."""
    states = [T0 + k * 10 * MS for k in range(6)]
    records: dict[str, list] = {'states': [(s, _state(s)) for s in states],
                                'actions': [], 'commands': [], 'gate': [], 'floor': []}
    for k, s in enumerate(states):
        records['floor'].append((s + 1 * MS, _action(s, np.zeros(3))))
        if k == 3:
            hold = np.array([9.0, 9.0, 9.0])   # state 3: no action, the gate holds
            records['commands'].append((s + 5 * MS, m.encode_float64_array(hold)))
            records['gate'].append((s + 5 * MS, _gate('hold', hold)))
            continue
        values = np.array([k, -k, 0.5 * k]) + 0.123
        records['actions'].append((s + 1 * MS, _action(s, values)))
        # The first command 2 ms after the state; the gate's timer repeats it 4 ms later.
        for delay in (2, 6):
            records['commands'].append((s + delay * MS, m.encode_float64_array(values)))
            records['gate'].append((s + delay * MS, _gate('policy', values)))
    result = analyse(_dump(records, (states[0], states[-1])), rate_hz=100.0)
    assert result['states'] == 6
    assert result['policy']['n'] == 5 and result['policy']['p50_ms'] == pytest.approx(2.0)
    assert result['floor']['n'] == 6 and result['floor']['p50_ms'] == pytest.approx(1.0)
    assert result['ratio_p50'] == pytest.approx(2.0)
    assert result['states_without_command'] == 1 and result['holds'] == 1
    assert result['repeats'] == 5 and result['unmatched'] == 0
    assert result['commands_per_state'] == pytest.approx(10 / 6)
    assert result['max_gap_ms'] == pytest.approx(9.0)   # state 2's repeat to state 3's hold


def test_analyse_splits_chunks_into_replanning_and_executed_steps() -> None:
    """With every state acted on, index % execute == 0 is a re-plan; a gap hides the phase."""
    states = [T0 + k * 10 * MS for k in range(8)]
    records: dict[str, list] = {'states': [(s, _state(s)) for s in states], 'actions': [],
                                'commands': [], 'gate': [], 'floor': []}
    for k, s in enumerate(states):
        values = np.array([k, 1.0, 2.0])
        delay = 5 if k % 4 == 0 else 2
        records['actions'].append((s + MS, _action(s, values)))
        records['commands'].append((s + delay * MS, m.encode_float64_array(values)))
    result = analyse(_dump(records, (states[0], states[-1])), rate_hz=100.0, execute=4)
    assert result['phases_known']
    assert result['replan']['n'] == 2 and result['replan']['p50_ms'] == pytest.approx(5.0)
    assert result['executed']['n'] == 6 and result['executed']['max_ms'] == pytest.approx(2.0)
    del records['actions'][3]
    assert not analyse(_dump(records, (states[0], states[-1])), rate_hz=100.0,
                       execute=4)['phases_known']


def test_format_loop_prints_every_cell() -> None:
    """The table has a row per cell and per ablation variant."""
    states = [T0 + k * 10 * MS for k in range(3)]
    records = {'states': [(s, _state(s)) for s in states],
               'actions': [(s + MS, _action(s, np.ones(3) * k)) for k, s in enumerate(states)],
               'commands': [(s + 2 * MS, m.encode_float64_array(np.ones(3) * k))
                            for k, s in enumerate(states)],
               'floor': [(s + MS, _action(s, np.zeros(3))) for s in states]}
    cell = analyse(_dump(records, (states[0], states[-1])), rate_hz=100.0)
    cell.update(kind='mse', rate_hz=100.0, variant='events', cpu_percent={'policy': 12.0})
    text = format_loop({'seconds': 1.0, 'cells': [cell], 'ablation': [cell],
                        'variants': [{'key': 'events', 'label': 'the defaults'}]})
    assert '| mse | 100 | 3 | 2.00 / 2.00 / 2.00 |' in text
    assert '| the defaults | 2.00 / 2.00 / 2.00 |' in text


# --- over DDS: the real policy node and gate ------------------------------------------


@pytest.fixture(scope='module')
def model(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Export a small untrained mse policy and list it in its folder's manifest."""
    rng = np.random.default_rng(0)
    spec = PolicySpec(JOINTS, ('goal_x', 'goal_y', 'obstacle_x', 'obstacle_y', 'obstacle_radius'),
                      Normalizer.fit(rng.normal(size=(200, 8))),
                      Normalizer.fit(rng.normal(0.0, 0.05, (200, 3))))
    torch.manual_seed(0)
    path = export_policy(make_policy('mse', spec, {'hidden': (16, 16)}).eval(),
                         tmp_path_factory.mktemp('loop_model') / 'm.onnx',
                         metadata_extra={'version': 'loop-test'})
    record_model(path)
    return str(path)


class RawProbe(Node):
    """Feeds the task and joint states; keeps (receive ns, raw) of what the graph sends."""

    def __init__(self, context: Context) -> None:
        super().__init__('loop_probe', context=context)
        self.lock = threading.Lock()
        self.records: dict[str, list] = {k: [] for k in ('states', 'actions', 'commands',
                                                         'gate')}
        for name, topic, kind in (('states', topics.JOINT_STATES, JointState),
                                  ('actions', topics.POLICY_ACTION, Float64MultiArray),
                                  ('commands', topics.COMMANDS, Float64MultiArray),
                                  ('gate', topics.GATE_STATE, String)):
            self.create_subscription(kind, topic.name, self._keep(name), 100, raw=True)
        self.state_pub = self.create_publisher(JointState, topics.JOINT_STATES.name, STATE_QOS)
        self.task_pub = self.create_publisher(Float64MultiArray, topics.TASK.name, STATE_QOS)

    def _keep(self, name: str) -> Any:
        def callback(raw: bytes) -> None:
            with self.lock:
                self.records[name].append((time.time_ns(), bytes(raw)))
        return callback

    def count(self, name: str) -> int:
        """Return how many messages of ``name`` arrived."""
        with self.lock:
            return len(self.records[name])


def test_gate_executes_stamped_actions_and_the_probe_pairs_each_state(
        ros: Context, model: str) -> None:
    """Each joint state's padded action reaches the arm as its n targets, paired to the state."""
    policy = PolicyNode(context=ros, parameter_overrides=[
        Parameter('model_path', value=model),
        Parameter('model_dirs', value=str(model.rsplit('/', 1)[0])),
        Parameter('urdf_file', value=str(ROOT / 'urdf' / 'planar3.urdf'))])
    gate = InterventionGateNode(context=ros, parameter_overrides=[
        Parameter('forward_on_action', value=True), Parameter('max_joint_step', value=3.2),
        Parameter('urdf_file', value=str(ROOT / 'urdf' / 'planar3.urdf'))])
    probe = RawProbe(ros)
    spinner = Spinner(ros, policy, gate, probe)
    try:
        poll_until(lambda: policy.slot.version == 'loop-test', 30.0, 'the model loaded')
        stamps = []
        for k in range(20):
            stamp = time.time_ns()
            stamps.append(stamp)
            before = policy._task.at
            probe.task_pub.publish(Float64MultiArray(data=[2.0, 0.0, 1.5, 0.0, 0.15]))
            poll_until(lambda: policy._task.at != before, 15.0, 'the task at the policy')
            q = [0.3 + 0.01 * k, -0.5, 0.2]
            msg = JointState(name=list(JOINTS), position=q)
            msg.header.stamp = Time(sec=stamp // 1_000_000_000, nanosec=stamp % 1_000_000_000)
            probe.state_pub.publish(msg)
            poll_until(lambda: probe.count('actions') > k, 15.0, f'the action of state {k}')
        poll_until(lambda: probe.count('commands') >= probe.count('actions'), 15.0,
                   'the commands')
        time.sleep(0.3)
        with probe.lock:
            records = {k: list(v) for k, v in probe.records.items()}
    finally:
        spinner.close()
    result = analyse(_dump(records, (stamps[0], stamps[-1])), rate_hz=20.0)
    assert result['states'] == 20 and result['states_without_command'] == 0
    assert result['policy']['n'] == 20 and result['unmatched'] == 0
    for _, raw in records['actions']:
        action = m.decode_float64_array(raw)   # the padding skipped, as the gate does
        assert action.shape == (3,)
