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

"""The intervention_gate node over real DDS: takeover, e-stop, timeouts, clamps, beta, help."""

from __future__ import annotations

import json
from pathlib import Path
import threading
import time
from typing import Any, Callable

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from imitation_ros.nodes.conversions import array_from_msg, diagnostic_level, joint_state_msg
from imitation_ros.nodes.intervention_gate import GateParams, InterventionGateNode, main
from imitation_ros.nodes.params import defaults
from imitation_ros.nodes.qos import COMMAND_QOS, DIAGNOSTICS_QOS, MODEL_QOS, STATE_QOS
from imitation_ros.sim.arm import ArmConfig, end_effector
from imitation_ros.sim.operator import gate_teleop
import numpy as np
import pytest
from rclpy.context import Context
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.parameter_client import AsyncParameterClient
from sensor_msgs.msg import JointState, Joy
from std_msgs.msg import Bool, Float64, Float64MultiArray, String
from trajectory_msgs.msg import JointTrajectory
import yaml
from ros_harness import Spinner, poll_until, private_domain_id

ROOT = Path(__file__).resolve().parents[1]
DOMAIN_ID = private_domain_id(72)
#: Faster than the defaults so the file runs in seconds; timeouts generous for a loaded machine.
#: The planar arm from its URDF, driven with the planar mapping (as in the simulation).
OVERRIDES = {'rate_hz': 50.0, 'cmd_timeout_s': 0.6, 'joy_timeout_s': 0.6, 'output': 'both',
             'state_timeout_s': 0.6,
             'expert_timeout_s': 0.6, 'uncertainty_timeout_s': 0.6, 'help_threshold': 0.5,
             'risk_threshold': 0.5,
             'help_release_s': 0.2, 'urdf_file': str(ROOT / 'urdf' / 'planar3.urdf'),
             **gate_teleop()}
JOINTS = ['joint1', 'joint2', 'joint3']
Q0 = np.array([0.4, -0.8, 0.6])
DEADMAN, ESTOP, RESET = 4, 1, 7
TIMEOUT_S = 10.0
#: Namespace of a second gate that never gets a usable joint state.
NO_STATE_NS = 'nostate'


def wait_for(predicate: Callable[[], Any], timeout: float = TIMEOUT_S, what: str = '') -> Any:
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout`` s."""
    return poll_until(predicate, timeout, what)


class Probe(Node):
    """
    The world around the gate: a fake arm, a policy and a gamepad, and a recorder of outputs.

    At 50 Hz it publishes joint_states (the fake arm: ``echo`` jumps to each
    command like a perfect controller, ``lag`` moves toward it at 1 rad/s,
    ``frozen`` stays put), the expert action, the policy's doubt and action
    (doubt first, as the policy node does) and the Joy currently set.
    """

    def __init__(self, context: Context) -> None:
        super().__init__('gate_probe', context=context)
        self.lock = threading.Lock()
        self.q = Q0.copy()
        self.sent_states: dict[int, np.ndarray] = {}
        self.follow = 'echo'
        self.names = list(JOINTS)
        self.publish_states = True
        self.last_published_q: np.ndarray | None = None
        self.policy: np.ndarray | None = None
        self.expert: np.ndarray | None = None
        self.doubt: float | None = None
        self.risk: float | None = None
        self.helps: list[bool] = []
        self.joy: Joy | None = None
        self.last_command: np.ndarray | None = None
        self.last_raw: Float64MultiArray | None = None
        self.commands: list[np.ndarray] = []
        self.states: list[dict] = []
        self.interventions: list[bool] = []
        self.trajectories: list[JointTrajectory] = []
        self.diagnostics: list[DiagnosticStatus] = []
        self.no_state_commands = 0
        self._joint_pub = self.create_publisher(JointState, 'joint_states', STATE_QOS)
        self._bad_joint_pub = self.create_publisher(JointState, f'{NO_STATE_NS}/joint_states',
                                                    STATE_QOS)
        self._policy_pub = self.create_publisher(Float64MultiArray, 'imitation/policy_action',
                                                 STATE_QOS)
        self._joy_pub = self.create_publisher(Joy, 'joy', STATE_QOS)
        self._expert_pub = self.create_publisher(Float64MultiArray, 'imitation/expert_action',
                                                 STATE_QOS)
        self._doubt_pub = self.create_publisher(Float64, 'imitation/uncertainty', STATE_QOS)
        self._risk_pub = self.create_publisher(Float64, 'imitation/risk', STATE_QOS)
        self.create_subscription(Bool, 'imitation/help_request', self._on_help, STATE_QOS)
        self._version_pub = self.create_publisher(String, 'imitation/model_version', MODEL_QOS)
        self._version_pub.publish(String(data='v7'))
        self.create_subscription(Float64MultiArray, 'forward_position_controller/commands',
                                 self._on_command, COMMAND_QOS)
        self.create_subscription(Float64MultiArray,
                                 f'{NO_STATE_NS}/forward_position_controller/commands',
                                 self._on_no_state_command, COMMAND_QOS)
        self.create_subscription(String, 'imitation/gate_state', self._on_state, STATE_QOS)
        self.create_subscription(Bool, 'imitation/intervention', self._on_intervention,
                                 STATE_QOS)
        self.create_subscription(JointTrajectory, 'joint_trajectory_controller/joint_trajectory',
                                 self._on_trajectory, COMMAND_QOS)
        self.create_subscription(DiagnosticArray, '/diagnostics', self._on_diag,
                                 DIAGNOSTICS_QOS)
        self.create_timer(0.02, self._on_timer)

    def _on_timer(self) -> None:
        with self.lock:
            if self.follow == 'lag' and self.last_command is not None:
                self.q = self.q + np.clip(self.last_command - self.q, -0.02, 0.02)
            q = self.q.copy()
            names, policy, joy = list(self.names), self.policy, self.joy
            expert, doubt, risk = self.expert, self.doubt, self.risk
            stamp = self.get_clock().now()
            self.sent_states[stamp.nanoseconds] = q
            publish_states = self.publish_states
            if publish_states:
                self.last_published_q = q
        if publish_states:
            self._joint_pub.publish(joint_state_msg(names, q, stamp=stamp.to_msg()))
        self._bad_joint_pub.publish(joint_state_msg(['a', 'b', 'c'], q))
        if expert is not None:
            self._expert_pub.publish(Float64MultiArray(data=[float(v) for v in expert]))
        if doubt is not None:
            self._doubt_pub.publish(Float64(data=float(doubt)))
        if risk is not None:
            self._risk_pub.publish(Float64(data=float(risk)))
        if policy is not None:
            msg = Float64MultiArray()
            msg.data = [float(v) for v in policy]
            self._policy_pub.publish(msg)
        if joy is not None:
            self._joy_pub.publish(joy)

    def _on_command(self, msg: Float64MultiArray) -> None:
        command = np.asarray(msg.data, dtype=np.float64)
        self.last_raw = msg
        with self.lock:
            self.commands.append(command)
            self.last_command = command
            if self.follow == 'echo':
                self.q = command.copy()

    def _on_no_state_command(self, msg: Float64MultiArray) -> None:
        self.no_state_commands += 1

    def _on_state(self, msg: String) -> None:
        with self.lock:
            self.states.append(json.loads(msg.data))

    def _on_help(self, msg: Bool) -> None:
        with self.lock:
            self.helps.append(bool(msg.data))

    def _on_intervention(self, msg: Bool) -> None:
        with self.lock:
            self.interventions.append(bool(msg.data))

    def _on_trajectory(self, msg: JointTrajectory) -> None:
        with self.lock:
            self.trajectories.append(msg)

    def _on_diag(self, msg: DiagnosticArray) -> None:
        with self.lock:
            self.diagnostics.extend(msg.status)

    # --- helpers used by the tests ----------------------------------------------------

    def set_joy(self, *pressed: int, axes: dict[int, float] | None = None) -> None:
        """Publish this Xbox-layout Joy at 50 Hz from now on (like joy_node's autorepeat)."""
        ax = [0.0] * 8
        for i, v in (axes or {}).items():
            ax[i] = v
        self.joy = Joy(axes=ax, buttons=[1 if i in pressed else 0 for i in range(11)])

    def mark(self) -> tuple[int, int]:
        """Return the current (commands, gate states) counts, to look only at what follows."""
        with self.lock:
            return len(self.commands), len(self.states)

    def wait_mode(self, mode: str, since: int | None = None, timeout: float = TIMEOUT_S) -> int:
        """Wait for a gate_state with ``mode`` after index ``since``; return its index."""
        start = self.mark()[1] if since is None else since

        def find() -> int | None:
            with self.lock:
                for i in range(start, len(self.states)):
                    if self.states[i]['mode'] == mode:
                        return i + 1
            return None

        return wait_for(find, timeout, f'gate mode {mode}') - 1

    def wait_commands(self, count: int) -> list[np.ndarray]:
        """Wait for ``count`` more commands and return them."""
        start = self.mark()[0]
        wait_for(lambda: len(self.commands) >= start + count, what=f'{count} more commands')
        with self.lock:
            return self.commands[start:start + count]

    def states_since(self, index: int) -> list[dict]:
        """Return the gate states received after the first ``index``."""
        with self.lock:
            return self.states[index:]

    def neutral(self, policy: np.ndarray | None) -> None:
        """Release every button, clear an e-stop, set the policy action; wait for the arm."""
        self.set_joy(RESET)
        mark = self.mark()[1]
        wait_for(lambda: any(not s['estop'] for s in self.states_since(mark)),
                 what='the e-stop cleared')
        self.set_joy()
        with self.lock:
            self.follow = 'echo'
            self.names = list(JOINTS)
            self.publish_states = True
            self.policy = policy
        self.wait_mode('policy' if policy is not None else 'hold_stale_policy')
        if policy is not None:
            wait_for(lambda: np.allclose(self.q, policy), what='the arm at the policy target')
        self.joy = None


@pytest.fixture(scope='module')
def harness(ros: Context) -> tuple[InterventionGateNode, Probe]:
    """Spin the gate, a second gate without joint states, and the probe in one thread."""
    overrides = [Parameter(k, value=v) for k, v in OVERRIDES.items()]
    gate = InterventionGateNode(context=ros, parameter_overrides=overrides)
    no_state = InterventionGateNode(context=ros, namespace=NO_STATE_NS,
                                    parameter_overrides=overrides)
    probe = Probe(ros)
    spinner = Spinner(ros, gate, no_state, probe)
    wait_for(lambda: probe.commands, what='the first command')
    yield gate, probe
    spinner.close()


def test_policy_action_passes_through_with_both_outputs(
        harness: tuple[InterventionGateNode, Probe]) -> None:
    """A policy action within limits is the command, on both outputs, labelled in gate_state."""
    _, probe = harness
    target = Q0 + np.array([0.05, -0.05, 0.05])
    probe.neutral(target)
    wait_for(lambda: any(np.allclose(c, target) for c in probe.wait_commands(3)),
             what='the policy action as the command')
    state = probe.states_since(probe.mark()[1] - 1)[-1]
    assert state['source'] == 'policy' and state['mode'] == 'policy'
    assert state['model_version'] == 'v7' and state['estop'] is False
    assert state['intervention'] is False and state['clamped'] is False
    traj = wait_for(lambda: [t for t in probe.trajectories
                             if np.allclose(t.points[0].positions, target)],
                    what='a JointTrajectory with the action')[-1]
    assert list(traj.joint_names) == JOINTS and len(traj.points) == 1
    assert traj.points[0].time_from_start.nanosec == 20_000_000
    assert traj.points[0].time_from_start.sec == 0


def test_commands_are_clamped_to_limits_and_max_step(
        harness: tuple[InterventionGateNode, Probe]) -> None:
    """Near a limit, a far target gives limit - margin and at most max_joint_step per joint."""
    _, probe = harness
    probe.neutral(None)
    with probe.lock:
        probe.follow = 'frozen'
        probe.q = np.array([2.15, -0.8, 0.6])
        probe.policy = np.array([3.0, -0.5, 0.6])
    expected = np.array([2.2 - 0.02, -0.8 + 0.1, 0.6])
    index = probe.wait_mode('policy')
    commands = probe.wait_commands(5)
    assert all(np.allclose(c, expected) for c in commands), commands
    states = probe.states_since(index)[1:5]
    assert all(s['clamped'] for s in states)
    # Each decision names the command it sent and the joint state it was decided at.
    for s in states:
        np.testing.assert_array_equal(s['command'], expected)
        with probe.lock:
            decided_at = probe.sent_states[s['state_stamp']]
        np.testing.assert_array_equal(decided_at, [2.15, -0.8, 0.6])


def test_stale_policy_holds_at_measured_never_the_old_target(
        harness: tuple[InterventionGateNode, Probe]) -> None:
    """When actions stop, the gate keeps publishing the measured position, not the target."""
    _, probe = harness
    probe.neutral(None)
    target = Q0 + np.array([0.3, -0.3, 0.3])
    with probe.lock:
        probe.follow = 'lag'
        probe.policy = target
    probe.wait_mode('policy')
    probe.wait_commands(5)
    probe.policy = None
    index = probe.wait_mode('hold_stale_policy')
    assert 'old' in probe.states_since(index)[0]['reason']
    commands = probe.wait_commands(20)
    assert not any(np.allclose(c, target, atol=1e-6) for c in commands)
    assert all(np.array_equal(c, commands[0]) for c in commands), 'the hold must stay put'
    wait_for(lambda: np.allclose(probe.q, commands[0]), what='the arm at the hold')
    assert all(s['source'] == 'hold' for s in probe.states_since(index))


def test_nan_policy_action_holds(harness: tuple[InterventionGateNode, Probe]) -> None:
    """A NaN action gives finite hold commands (hold_invalid_policy); a valid one resumes."""
    _, probe = harness
    probe.neutral(Q0)
    with probe.lock:
        q = probe.q.copy()
        probe.policy = np.array([np.nan, 0.0, 0.0])
    probe.wait_mode('hold_invalid_policy')
    commands = probe.wait_commands(5)
    assert all(np.all(np.isfinite(c)) and np.allclose(c, q) for c in commands)
    probe.policy = q + 0.02
    probe.wait_mode('policy')


def test_takeover_blocks_policy_until_release(
        harness: tuple[InterventionGateNode, Probe]) -> None:
    """After a takeover Joy no policy value reaches the commands until the deadman is released."""
    _, probe = harness
    probe.neutral(Q0 + 0.01)
    probe.set_joy(DEADMAN)
    wait_for(lambda: probe.interventions and probe.interventions[-1],
             what='intervention True')
    start, state_start = probe.mark()
    with probe.lock:
        distinctive = probe.q + np.array([0.07, -0.07, 0.07])
        probe.policy = distinctive
    commands = probe.wait_commands(25)
    assert not any(np.allclose(c, distinctive, atol=1e-6) for c in commands)
    assert all(s['source'] == 'human' and s['intervention']
               for s in probe.states_since(state_start))
    probe.set_joy()
    wait_for(lambda: not probe.interventions[-1], what='intervention False')
    wait_for(lambda: any(np.allclose(c, distinctive) for c in probe.commands[start:]),
             what='the policy value after release')
    probe.joy = None


def test_stick_moves_the_end_effector_forward(
        harness: tuple[InterventionGateNode, Probe]) -> None:
    """Deadman + left stick up: human commands move the end effector in +x."""
    _, probe = harness
    probe.neutral(None)
    probe.set_joy(DEADMAN, axes={1: 1.0})
    probe.wait_mode('human')
    start = probe.mark()[0]
    x0 = end_effector(ArmConfig(), probe.commands[start - 1])[0]
    wait_for(lambda: end_effector(ArmConfig(), probe.commands[-1])[0] > x0 + 0.05,
             what='the end effector 5 cm further forward')
    with probe.lock:
        x = [end_effector(ArmConfig(), c)[0] for c in probe.commands[start:]]
    assert all(b >= a - 1e-9 for a, b in zip(x, x[1:])), 'stick up must only move forward'
    probe.set_joy()
    probe.wait_mode('hold_stale_policy')
    probe.joy = None


def test_estop_latches_until_reset(harness: tuple[InterventionGateNode, Probe]) -> None:
    """E-stop holds (diagnostics ERROR) over policy and deadman until the reset button."""
    gate, probe = harness
    probe.neutral(Q0 + 0.03)
    probe.set_joy(ESTOP)
    index = probe.wait_mode('estop')
    probe.set_joy(DEADMAN)
    with probe.lock:
        q = probe.q.copy()
        probe.policy = q + 0.04
    commands = probe.wait_commands(15)
    assert all(np.allclose(c, q) for c in commands), 'e-stop must hold'
    assert all(s['mode'] == 'estop' and s['estop'] for s in probe.states_since(index))
    assert not probe.interventions[-1]
    mark = len(probe.diagnostics)
    wait_for(lambda: any(d.hardware_id == gate.get_fully_qualified_name()
                         and diagnostic_level(d) == 2 for d in probe.diagnostics[mark:]),
             timeout=3.0, what='diagnostics ERROR while e-stopped')
    probe.set_joy(RESET)
    probe.wait_mode('policy')
    probe.joy = None


def test_joy_timeout_holds_until_deadman_released(
        harness: tuple[InterventionGateNode, Probe]) -> None:
    """Joy silent in a takeover: hold (commands go on), kept after a re-press, until release."""
    _, probe = harness
    probe.neutral(Q0 + 0.02)
    probe.set_joy(DEADMAN)
    probe.wait_mode('human')
    probe.joy = None
    index = probe.wait_mode('hold_joy_lost')
    assert probe.wait_commands(15), 'the gate must never go silent'
    wait_for(lambda: not probe.interventions[-1], what='intervention False')
    probe.set_joy(DEADMAN)
    mark = probe.mark()[1]
    wait_for(lambda: len(probe.states_since(mark)) >= 15, what='more gate states')
    assert all(s['mode'] == 'hold_joy_lost' for s in probe.states_since(index))
    probe.set_joy()
    probe.wait_mode('policy')
    probe.joy = None


def test_estop_latches_from_a_joy_with_a_nan_axis(
        harness: tuple[InterventionGateNode, Probe]) -> None:
    """A Joy with the e-stop pressed and a NaN axis: gate_state says estop, commands hold."""
    _, probe = harness
    probe.neutral(Q0 + 0.03)
    with probe.lock:
        q = probe.q.copy()
    axes = [0.0] * 8
    axes[5] = float('nan')
    probe.joy = Joy(axes=axes, buttons=[1 if i == ESTOP else 0 for i in range(11)])
    index = probe.wait_mode('estop')
    probe.joy = Joy(axes=[0.0] * 8, buttons=[0] * 11)
    mark = probe.mark()[1]
    wait_for(lambda: len(probe.states_since(mark)) >= 10, what='more gate states')
    states = probe.states_since(index)
    assert all(s['mode'] == 'estop' and s['estop'] and s['source'] == 'hold' for s in states)
    assert all(np.allclose(s['command'], q) for s in states)
    probe.set_joy(RESET)
    probe.wait_mode('policy')
    probe.joy = None


def test_malformed_joy_is_read_per_field_and_counted(
        harness: tuple[InterventionGateNode, Probe]) -> None:
    """Deadman held with NaN axes: a hold (no motion, no policy), counted in diagnostics."""
    gate, probe = harness
    probe.neutral(Q0)
    with probe.lock:
        q = probe.q.copy()
        probe.policy = Q0 + 0.05
    probe.joy = Joy(axes=[float('nan')] * 8, buttons=[0, 0, 0, 0, 1] + [0] * 6)
    index = probe.wait_mode('hold_invalid_joy')
    mark = probe.mark()[1]
    wait_for(lambda: len(probe.states_since(mark)) >= 10, what='more gate states')
    states = probe.states_since(index)
    assert all(s['mode'] == 'hold_invalid_joy' and s['source'] == 'hold' for s in states)
    assert all(np.allclose(s['command'], q) for s in states)
    assert 'unreadable' in states[0]['reason']

    def counted() -> bool:
        for d in list(probe.diagnostics):
            values = {kv.key: kv.value for kv in d.values}
            if d.hardware_id == gate.get_fully_qualified_name() and \
                    int(values['malformed_joy']) >= 2 and values['mode'] == 'hold_invalid_joy':
                return diagnostic_level(d) == 1 and 'unreadable' in d.message
        return False

    wait_for(counted, timeout=3.0, what='malformed Joy counted and a WARN in diagnostics')
    probe.set_joy()
    probe.wait_mode('policy')
    probe.joy = None


def test_stale_joint_states_hold_and_say_why(
        harness: tuple[InterventionGateNode, Probe]) -> None:
    """joint_states silent for state_timeout_s: the gate holds at the last q and warns; resumes."""
    gate, probe = harness
    probe.neutral(Q0 + 0.02)
    with probe.lock:
        probe.publish_states = False
    index = probe.wait_mode('hold_stale_state')
    assert 'state_timeout_s' in probe.states_since(index)[0]['reason']
    with probe.lock:
        q = probe.last_published_q.copy()  # no state is published after the stop
        probe.policy = Q0 + 0.06
    commands = probe.wait_commands(20)
    assert all(np.allclose(c, q) for c in commands), 'the gate must hold, never go silent'
    mark = len(probe.diagnostics)
    wait_for(lambda: any(d.hardware_id == gate.get_fully_qualified_name()
                         and diagnostic_level(d) == 1 and 'joint state' in d.message
                         for d in probe.diagnostics[mark:]),
             timeout=3.0, what='diagnostics WARN for the stale joint state')
    with probe.lock:
        probe.publish_states = True
    probe.wait_mode('policy')
    probe.policy = None


def test_wrong_joint_names_keep_the_last_known_state(
        harness: tuple[InterventionGateNode, Probe]) -> None:
    """Joint states without our joints are ignored; the gate keeps holding the last known q."""
    _, probe = harness
    probe.neutral(None)
    with probe.lock:
        q = probe.q.copy()
        probe.names = ['x', 'y', 'z']
    commands = probe.wait_commands(10)
    assert all(np.allclose(c, q) for c in commands)
    probe.names = list(JOINTS)


def test_gate_is_silent_and_in_error_before_the_first_joint_state(
        harness: tuple[InterventionGateNode, Probe]) -> None:
    """A gate that never got a usable joint state sends nothing and reports ERROR."""
    _, probe = harness
    name = f'/{NO_STATE_NS}/intervention_gate'

    def error_status() -> DiagnosticStatus | None:
        for d in list(probe.diagnostics):
            values = {kv.key: kv.value for kv in d.values}
            if d.hardware_id == name and int(values['rejected_joint_states']) > 0:
                return d
        return None

    status = wait_for(error_status, timeout=4.0, what='no-state diagnostics')
    assert diagnostic_level(status) == 2 and 'no joint state' in status.message
    assert probe.no_state_commands == 0


def test_intervention_is_republished_steadily(
        harness: tuple[InterventionGateNode, Probe]) -> None:
    """imitation/intervention is republished at intervention_rate_hz without changes."""
    _, probe = harness
    start = len(probe.interventions)
    wait_for(lambda: len(probe.interventions) >= start + 3, timeout=3.0,
             what='three republished intervention flags')


def test_model_version_reaches_diagnostics(harness: tuple[InterventionGateNode, Probe]) -> None:
    """The latched model version appears in diagnostics."""
    gate, probe = harness

    def version() -> str | None:
        for d in reversed(list(probe.diagnostics)):
            if d.hardware_id == gate.get_fully_qualified_name():
                values = {kv.key: kv.value for kv in d.values}
                return values['model_version']
        return None

    assert wait_for(version, timeout=3.0, what='gate diagnostics') == 'v7'


def test_command_layout_label_names_the_joints(
        harness: tuple[InterventionGateNode, Probe]) -> None:
    """The command array says its joint order in layout.dim[0].label."""
    _, probe = harness
    msg = wait_for(lambda: probe.last_raw, what='a command')
    assert msg.layout.dim[0].label == ','.join(JOINTS)
    assert array_from_msg(msg, 3).shape == (3,)


def set_beta(gate: InterventionGateNode, value: float) -> None:
    """Set beta in-process, as a test would; fail if refused."""
    result = gate.set_parameters([Parameter('beta', value=value)])[0]
    assert result.successful, result.reason


def test_beta_one_executes_the_expert_action_clamped(
        harness: tuple[InterventionGateNode, Probe]) -> None:
    """With beta = 1 commands are the expert's action through the same clamps, source expert."""
    gate, probe = harness
    probe.neutral(Q0 + 0.01)
    with probe.lock:
        probe.follow = 'frozen'
        q = probe.q.copy()
        probe.expert = q + np.array([0.3, 0.0, -0.05])
    try:
        set_beta(gate, 1.0)
        index = probe.wait_mode('expert')
        commands = probe.wait_commands(10)
        assert all(np.allclose(c, q + np.array([0.1, 0.0, -0.05])) for c in commands), commands
        states = probe.states_since(index)
        assert all(s['source'] == 'expert' and s['mode'] == 'expert' for s in states[:10])
        assert states[0]['clamped'] and states[0]['beta'] == 1.0
        assert not states[0]['intervention']
        probe.expert = q + np.array([0.02, -0.03, 0.04])
        wait_for(lambda: any(np.allclose(c, probe.expert) for c in probe.wait_commands(3)),
                 what='the unclamped expert action as the command')
        probe.set_joy(DEADMAN)
        index = probe.wait_mode('human')
        probe.wait_commands(10)
        assert all(s['source'] == 'human' for s in probe.states_since(index + 1))
        probe.set_joy()
        probe.wait_mode('expert')
    finally:
        set_beta(gate, 0.0)
        probe.expert = None
        probe.joy = None
    probe.wait_mode('policy')


def test_beta_is_set_at_run_time_and_out_of_range_is_refused(
        harness: tuple[InterventionGateNode, Probe]) -> None:
    """A ROS parameter set (service) changes beta at run time; [0, 1] is enforced."""
    gate, probe = harness
    probe.neutral(Q0 + 0.01)
    with probe.lock:
        probe.expert = probe.q + np.array([0.0, 0.03, 0.0])
    client = AsyncParameterClient(probe, gate.get_fully_qualified_name())
    assert client.wait_for_services(timeout_sec=TIMEOUT_S)

    def remote_set(value: Any) -> Any:
        future = client.set_parameters([Parameter('beta', value=value)])
        wait_for(future.done, what='the parameter service')
        return future.result().results[0]

    try:
        assert remote_set(0.5).successful
        assert gate.arbiter.beta == 0.5 and gate.get_parameter('beta').value == 0.5
        mark = probe.mark()[1]

        def drawn() -> list:
            # On a loaded machine an input may go stale for a period (the gate then holds);
            # beta decides only between the two actions it has.
            return [s['source'] for s in probe.states_since(mark)
                    if s['source'] in ('expert', 'policy')]

        wait_for(lambda: len(drawn()) >= 150, what='150 gate decisions between the actions')
        sources = drawn()[:150]
        share = sources.count('expert') / len(sources)
        assert set(sources) == {'expert', 'policy'} and 0.25 <= share <= 0.75, share
        other = {s['source'] for s in probe.states_since(mark)} - {'expert', 'policy'}
        assert other <= {'hold'}, other
        for bad in (1.5, -0.1):
            result = remote_set(bad)
            assert not result.successful
        assert not remote_set(1).successful, 'an integer is not a double'
        assert gate.arbiter.beta == 0.5 and gate.get_parameter('beta').value == 0.5
        local = gate.set_parameters([Parameter('beta', value=2.0)])[0]
        assert not local.successful and gate.arbiter.beta == 0.5
        other = gate.set_parameters([Parameter('cmd_timeout_s', value=1.0)])[0]
        assert not other.successful and gate.params.cmd_timeout_s == 0.6
        set_beta(gate, 0.25)
        assert gate.arbiter.beta == 0.25
    finally:
        set_beta(gate, 0.0)
        probe.expert = None
    probe.wait_mode('policy')


def calm_down(probe: Probe) -> None:
    """Publish a low doubt until the help request clears, then stop publishing doubt."""
    probe.doubt = 0.0
    wait_for(lambda: probe.helps and not probe.helps[-1], what='help_request False')
    probe.doubt = None


def test_high_doubt_holds_requests_help_and_warns(
        harness: tuple[InterventionGateNode, Probe]) -> None:
    """Doubt above help_threshold: hold at measured, help_request True, diagnostics WARN."""
    gate, probe = harness
    probe.neutral(Q0 + 0.01)
    probe.doubt = 0.2
    mark = probe.mark()[1]
    wait_for(lambda: len(probe.states_since(mark)) >= 10, what='more gate states')
    assert all(s['mode'] == 'policy' and not s['help_request']
               for s in probe.states_since(mark)[2:10]), 'a familiar state must pass'
    try:
        probe.doubt = 2.0
        wait_for(lambda: probe.helps and probe.helps[-1], what='help_request True')
        with probe.lock:
            q = probe.q.copy()
            distinctive = q + np.array([0.06, -0.06, 0.06])
            probe.policy = distinctive
        index = probe.wait_mode('hold_help')
        commands = probe.wait_commands(20)
        assert all(np.allclose(c, q) for c in commands), 'the help hold must stay at measured'
        states = probe.states_since(index)
        assert all(s['source'] == 'hold' and s['help_request'] for s in states)
        assert states[0]['uncertainty'] == 2.0 and not states[0]['intervention']
        count = len(probe.helps)
        wait_for(lambda: len(probe.helps) >= count + 2 and all(probe.helps[count:]),
                 timeout=3.0, what='help_request republished')
        mark = len(probe.diagnostics)
        status = wait_for(lambda: next((d for d in probe.diagnostics[mark:]
                                        if d.hardware_id == gate.get_fully_qualified_name()
                                        and diagnostic_level(d) == 1), None),
                          timeout=3.0, what='diagnostics WARN while asking for help')
        assert 'help' in status.message
        assert {kv.key: kv.value for kv in status.values}['help_request'] == 'True'
        calm_down(probe)
        wait_for(lambda: any(np.allclose(c, distinctive) for c in probe.wait_commands(3)),
                 what='the policy action after the doubt calmed')
        assert not any(np.allclose(c, distinctive) for c in commands)
    finally:
        probe.doubt = None


def test_deadman_answers_a_help_request(harness: tuple[InterventionGateNode, Probe]) -> None:
    """Pressing the deadman clears the request at once; releasing with high doubt asks again."""
    _, probe = harness
    probe.neutral(Q0 + 0.01)
    try:
        probe.doubt = 2.0
        wait_for(lambda: probe.helps and probe.helps[-1], what='help_request True')
        probe.set_joy(DEADMAN)
        wait_for(lambda: probe.interventions and probe.interventions[-1],
                 what='intervention True')
        wait_for(lambda: not probe.helps[-1], what='help_request False at the takeover')
        index = probe.wait_mode('human')
        assert not probe.states_since(index)[0]['help_request']
        probe.set_joy()
        wait_for(lambda: probe.helps[-1], what='a new help_request after the release')
        probe.wait_mode('hold_help')
        calm_down(probe)
    finally:
        probe.doubt = None
        probe.joy = None
    probe.wait_mode('policy')


def test_high_risk_asks_for_help_until_it_calms(
        harness: tuple[InterventionGateNode, Probe]) -> None:
    """Risk above risk_threshold (calm doubt): help_request and a hold; calm risk: policy."""
    _, probe = harness
    probe.neutral(Q0 + 0.01)
    try:
        probe.doubt, probe.risk = 0.1, 0.2
        probe.wait_mode('policy')
        probe.risk = 0.9
        wait_for(lambda: probe.helps and probe.helps[-1], what='help_request True')
        index = probe.wait_mode('hold_help')
        state = probe.states_since(index)[0]
        assert state['risk'] == 0.9 and 'risk 0.9 > risk_threshold 0.5' in state['reason']
        probe.risk = 0.1
        wait_for(lambda: not probe.helps[-1], what='help_request False once the risk calmed')
        probe.wait_mode('policy')
    finally:
        probe.doubt = probe.risk = None


def test_bad_parameter_exits_with_code_1(ros: Context) -> None:
    """main() logs and returns 1 for out-of-range, clashing or inconsistent parameters."""
    assert main(['--ros-args', '-p', 'rate_hz:=0.0']) == 1
    assert main(['--ros-args', '-p', 'estop_button:=4']) == 1
    assert main(['--ros-args', '-p', 'axis_map:=[1, 1, 4]']) == 1
    assert main(['--ros-args', '-p', "cartesian_task:=['linear_x', 'w']"]) == 1
    assert main(['--ros-args', '-p', 'urdf_file:=/no/such/robot.urdf']) == 1
    assert main(['--ros-args', '-p', 'output:=bogus']) == 1
    assert main(['--ros-args', '-p', 'beta:=1.5']) == 1
    assert main(['--ros-args', '-p', 'help_threshold:=-1.0']) == 1
    assert main(['--ros-args', '-p', 'teleop_mode:=joint', '-p', 'next_joint_button:=4']) == 1


def test_yaml_defaults_equal_code_defaults() -> None:
    """config/intervention_gate.yaml holds exactly the code defaults, every key commented."""
    text = (ROOT / 'config' / 'intervention_gate.yaml').read_text(encoding='utf-8')
    data = yaml.safe_load(text)
    assert data['intervention_gate']['ros__parameters'] == defaults(GateParams)
    for key in defaults(GateParams):
        line = next(ln for ln in text.splitlines() if ln.strip().startswith(f'{key}:'))
        assert '#' in line, f'{key} has no comment with its unit'


class _SlowGateFeeder(Node):
    """Publishes joint states and a new policy action at 50 Hz into two gate namespaces."""

    def __init__(self, context: Context, namespaces: tuple[str, ...]) -> None:
        super().__init__('slow_gate_feeder', context=context)
        self.count = 0
        self.commands: dict[str, int] = {ns: 0 for ns in namespaces}
        self._pubs = []
        for ns in namespaces:
            self._pubs.append((
                self.create_publisher(JointState, f'{ns}/joint_states', STATE_QOS),
                self.create_publisher(Float64MultiArray, f'{ns}/imitation/policy_action',
                                      STATE_QOS)))
            self.create_subscription(Float64MultiArray,
                                     f'{ns}/forward_position_controller/commands',
                                     lambda msg, ns=ns: self._on_command(ns), COMMAND_QOS)
        self.create_timer(0.02, self._on_timer)

    def _on_timer(self) -> None:
        self.count += 1
        action = Q0 + 0.001 * (self.count % 20)  # a new (small) target every message
        for joint_pub, policy_pub in self._pubs:
            joint_pub.publish(joint_state_msg(JOINTS, Q0))
            policy_pub.publish(Float64MultiArray(data=[float(v) for v in action]))

    def _on_command(self, ns: str) -> None:
        self.commands[ns] += 1


def test_fresh_policy_actions_are_forwarded_at_once(ros: Context) -> None:
    """forward_on_action publishes each valid policy action on arrival, not only per tick."""
    slow = {'rate_hz': 1.0, 'cmd_timeout_s': 0.6, 'urdf_file': OVERRIDES['urdf_file']}
    gates = [InterventionGateNode(context=ros, namespace=ns, parameter_overrides=[
        Parameter(k, value=v) for k, v in {**slow, 'forward_on_action': on}.items()])
        for ns, on in (('fwd_on', True), ('fwd_off', False))]
    feeder = _SlowGateFeeder(ros, ('fwd_on', 'fwd_off'))
    spinner = Spinner(ros, *gates, feeder)
    try:
        wait_for(lambda: feeder.commands['fwd_on'] >= 5, what='forwarded commands')
        start = dict(feeder.commands)
        time.sleep(1.5)
        on = feeder.commands['fwd_on'] - start['fwd_on']
        off = feeder.commands['fwd_off'] - start['fwd_off']
        # 50 actions/s arrive; the 1 Hz timer alone publishes 1-2 commands in 1.5 s.
        assert on >= 20, f'only {on} commands in 1.5 s with forward_on_action'
        assert off <= 3, f'{off} commands in 1.5 s at 1 Hz without forward_on_action'
    finally:
        spinner.close()
        for node in (*gates, feeder):
            node.destroy_node()


def test_recorded_outputs_keep_a_history_a_lagging_recorder_can_fetch(
        harness: tuple[InterventionGateNode, Probe]) -> None:
    """Commands, gate state, intervention and help keep 2000 messages for late reliable readers."""
    gate, _ = harness
    depth = {p.topic_name: p.qos_profile.depth for p in gate.publishers}
    for topic in ('/forward_position_controller/commands', '/imitation/gate_state',
                  '/imitation/intervention', '/imitation/help_request'):
        assert depth[topic] == 2000, topic
