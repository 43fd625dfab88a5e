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

"""The gate node on any arm, over real DDS: the robot from its URDF, Panda teleop, gripper."""

from __future__ import annotations

import json
from pathlib import Path
import threading
from typing import Any, Callable

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from imitation_ros.interface import topics
from imitation_ros.nodes.conversions import diagnostic_level, joint_state_msg
from imitation_ros.nodes.intervention_gate import InterventionGateNode, main
from imitation_ros.nodes.qos import (COMMAND_QOS, DIAGNOSTICS_QOS, ROBOT_DESCRIPTION_QOS,
                                     STATE_QOS)
from imitation_ros.nodes.sim_arm import SimArmNode
from imitation_ros.sim.operator import gate_teleop
import numpy as np
import pytest
from rclpy.context import Context
from rclpy.node import Node
from rclpy.parameter import Parameter
from sensor_msgs.msg import JointState, Joy
from std_msgs.msg import Float64MultiArray, String
from ros_harness import poll_until, private_domain_id, Spinner
from gate_fixtures import PANDA, PANDA_GRIPPER, PANDA_READY, PLANAR

ROOT = Path(__file__).resolve().parents[1]
DOMAIN_ID = private_domain_id(82)
TIMEOUT_S = 15.0
DEADMAN, ESTOP, RESET, ROTATE = 4, 1, 7, 5
GRIP_OPEN, GRIP_CLOSE, NEXT_JOINT = 3, 0, 5
PLANAR_URDF = ROOT / 'urdf' / 'planar3.urdf'
PANDA_URDF = ROOT / 'urdf' / 'panda.urdf'
#: The Panda's gate: its chain, its gripper; faster than the defaults so the file runs quickly.
PANDA_PARAMS = {'urdf_file': str(PANDA_URDF), 'base_link': 'panda_link0',
                'tip_link': 'panda_hand_tcp', 'gripper_joints': ['panda_finger_joint1'],
                'rate_hz': 50.0, 'cmd_timeout_s': 0.6, 'joy_timeout_s': 0.6,
                'state_timeout_s': 0.6}


def wait_for(predicate: Callable[[], Any], timeout: float = TIMEOUT_S, what: str = '') -> Any:
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout`` s."""
    return poll_until(predicate, timeout, what)


def gate(ros: Context, namespace: str, **params: Any) -> InterventionGateNode:
    """Return a gate in ``namespace`` with these parameters."""
    return InterventionGateNode(context=ros, namespace=namespace,
                                parameter_overrides=[Parameter(k, value=v)
                                                     for k, v in params.items()])


class FakeArm(Node):
    """
    A perfect position-controlled arm around one gate, and its gamepad.

    At 50 Hz it publishes joint_states of ``names`` (each command received becomes
    the measured position) and the Joy set; it records the gate's commands, its
    decisions (gate_state), gripper commands and diagnostics.
    """

    def __init__(self, context: Context, namespace: str, names: tuple[str, ...],
                 q0: np.ndarray) -> None:
        super().__init__('fake_arm', context=context, namespace=namespace)
        self.lock = threading.Lock()
        self.names = list(names)
        self.q = np.array(q0, dtype=np.float64)
        self.joy: Joy | None = None
        self.commands: list[np.ndarray] = []
        self.states: list[dict] = []
        self.grippers: list[list[float]] = []
        self.diagnostics: list[DiagnosticStatus] = []
        self._joint_pub = self.create_publisher(JointState, topics.JOINT_STATES.name, STATE_QOS)
        self._joy_pub = self.create_publisher(Joy, topics.JOY.name, STATE_QOS)
        self.create_subscription(Float64MultiArray, topics.COMMANDS.name, self._on_command,
                                 COMMAND_QOS)
        self.create_subscription(Float64MultiArray, topics.GRIPPER_COMMANDS.name,
                                 self._on_gripper, COMMAND_QOS)
        self.create_subscription(String, topics.GATE_STATE.name, self._on_state, STATE_QOS)
        self.create_subscription(DiagnosticArray, topics.DIAGNOSTICS.name, self._on_diag,
                                 DIAGNOSTICS_QOS)
        self.create_timer(0.02, self._on_timer)

    def _on_timer(self) -> None:
        with self.lock:
            q, joy = self.q.copy(), self.joy
        self._joint_pub.publish(joint_state_msg(self.names, q,
                                                stamp=self.get_clock().now().to_msg()))
        if joy is not None:
            self._joy_pub.publish(joy)

    def _on_command(self, msg: Float64MultiArray) -> None:
        command = np.asarray(msg.data, dtype=np.float64)
        with self.lock:
            self.commands.append(command)
            self.q = command.copy()

    def _on_gripper(self, msg: Float64MultiArray) -> None:
        with self.lock:
            self.grippers.append(list(msg.data))

    def _on_state(self, msg: String) -> None:
        with self.lock:
            self.states.append(json.loads(msg.data))

    def _on_diag(self, msg: DiagnosticArray) -> None:
        with self.lock:
            self.diagnostics.extend(msg.status)

    def set_joy(self, *pressed: int, axes: dict[int, float] | None = None) -> None:
        """Publish this Xbox-layout Joy at 50 Hz from now on (None: no Joy at all)."""
        ax = [0.0] * 8
        for i, v in (axes or {}).items():
            ax[i] = v
        with self.lock:
            self.joy = Joy(axes=ax, buttons=[1 if i in pressed else 0 for i in range(11)])

    def mark(self) -> tuple[int, int]:
        """Return the (commands, gate states) counts, to look only at what follows."""
        with self.lock:
            return len(self.commands), len(self.states)

    def commands_since(self, index: int) -> list[np.ndarray]:
        """Return the commands received after the first ``index``."""
        with self.lock:
            return list(self.commands[index:])

    def states_since(self, index: int) -> list[dict]:
        """Return the gate states received after the first ``index``."""
        with self.lock:
            return list(self.states[index:])

    def wait_mode(self, mode: str, timeout: float = TIMEOUT_S) -> int:
        """Wait for a gate state in ``mode`` from now on; return the index after it."""
        start = self.mark()[1]

        def seen() -> int | None:
            for i, state in enumerate(self.states_since(start)):
                if state['mode'] == mode:
                    return start + i + 1
            return None
        return wait_for(seen, timeout, f'gate mode {mode}')

    def diagnosis(self, gate_name: str) -> DiagnosticStatus | None:
        """Return the newest diagnostic status of the gate named ``gate_name``."""
        with self.lock:
            mine = [d for d in self.diagnostics if d.hardware_id == gate_name]
        return mine[-1] if mine else None


class DescriptionSource(Node):
    """Publishes a robot description on a namespace's topic, latched, as robot_state_publisher."""

    def __init__(self, context: Context, namespace: str) -> None:
        super().__init__('robot_state_publisher', context=context, namespace=namespace)
        self._pub = self.create_publisher(String, topics.ROBOT_DESCRIPTION.name,
                                          ROBOT_DESCRIPTION_QOS)

    def publish(self, urdf: str) -> None:
        """Publish ``urdf`` once (transient local: later subscribers get it too)."""
        self._pub.publish(String(data=urdf))


# --- the robot from its URDF ----------------------------------------------------------


def test_robot_description_from_the_transient_local_topic(ros: Context) -> None:
    """Without parameters the gate waits for the topic, says so, and commands once it came."""
    source = DescriptionSource(ros, 'late')
    early = DescriptionSource(ros, 'early')
    early.publish(PLANAR.urdf)  # before the gate exists: transient local delivers it
    late_gate = gate(ros, 'late', rate_hz=50.0)
    early_gate = gate(ros, 'early', rate_hz=50.0)
    arms = [FakeArm(ros, ns, PLANAR.joint_names, np.zeros(3)) for ns in ('late', 'early')]
    spinner = Spinner(ros, source, early, late_gate, early_gate, *arms)
    try:
        wait_for(lambda: arms[1].commands, what='commands of the gate that got the URDF')
        assert early_gate.robot is not None and early_gate.robot.joint_names == PLANAR.joint_names
        name = late_gate.get_fully_qualified_name()
        status = wait_for(lambda: arms[0].diagnosis(name), what='diagnostics of the waiting gate')
        assert diagnostic_level(status) == 2
        assert 'waiting for the robot description on /late/robot_description' in status.message
        assert not arms[0].commands and late_gate.robot is None, 'no command without a robot'
        source.publish(PLANAR.urdf)
        wait_for(lambda: arms[0].commands, what='commands once the description came')
        assert late_gate.robot.joint_names == ('joint1', 'joint2', 'joint3')
        np.testing.assert_array_equal(late_gate.robot.upper, PLANAR.upper)
    finally:
        spinner.close()


def test_the_gate_takes_the_robot_sim_arm_publishes(ros: Context) -> None:
    """sim_arm publishes planar3.urdf on robot_description; the gate drives the sim with it."""
    arm = SimArmNode(context=ros, namespace='sim', parameter_overrides=[
        Parameter('rate_hz', value=50.0), Parameter('camera_hz', value=0.0)])
    sim_gate = gate(ros, 'sim', rate_hz=50.0, **gate_teleop())
    spinner = Spinner(ros, arm, sim_gate)
    try:
        wait_for(lambda: arm._commands_accepted > 5, what='the sim taking the gate\'s commands')
        assert sim_gate.robot.urdf == PLANAR_URDF.read_text(encoding='utf-8')
        assert sim_gate.robot.joint_names == tuple(arm.params.joint_names)
    finally:
        spinner.close()


def test_no_robot_description_in_time_exits_1_and_says_what_to_set(
        ros: Context, capfd: pytest.CaptureFixture) -> None:
    """Neither parameter nor topic within robot_description_timeout_s: exit code 1."""
    assert main(['--ros-args', '-r', '__ns:=/nobody', '-p',
                 'robot_description_timeout_s:=0.5']) == 1
    err = capfd.readouterr().err
    assert 'no robot description on /nobody/robot_description' in err
    assert 'urdf_file' in err and 'robot_state_publisher' in err


@pytest.mark.parametrize('params, says', [
    (['robot_description:=not a urdf'], 'not valid XML'),
    ([f'urdf_file:={PANDA_URDF}'], 'tip_link'),
    ([f'urdf_file:={PANDA_URDF}', 'tip_link:=gripper'], "'gripper' is not a link"),
    ([f'urdf_file:={PLANAR_URDF}', 'base_link:=tool0', 'tip_link:=base_link'],
     'does not hang below'),
    ([f'urdf_file:={PLANAR_URDF}', 'null_space:=rest'], 'rest_posture'),
    ([f'urdf_file:={PANDA_URDF}', 'tip_link:=panda_hand_tcp',
      "cartesian_task:=['linear_x', 'linear_y']", 'axis_map:=[1, 0, -1]',
      'rotation_button:=-1', 'null_space:=elbow'], 'one joint more'),
    ([f'urdf_file:={PANDA_URDF}', 'tip_link:=panda_hand_tcp',
      "gripper_joints:=['panda_joint7']"], 'gripper_joints'),
    ([f'urdf_file:={PLANAR_URDF}', f'robot_description:={"<robot/>"}'], 'both set'),
])
def test_a_wrong_robot_description_exits_1_at_start_up(
        ros: Context, capfd: pytest.CaptureFixture, params: list, says: str) -> None:
    """Unparsable URDF, links missing or off the chain, a mapping that does not fit: exit 1."""
    args = ['--ros-args']
    for item in params:
        args += ['-p', item]
    assert main(args) == 1
    assert says in capfd.readouterr().err


def test_a_wrong_robot_description_on_the_topic_exits_1(
        ros: Context, capfd: pytest.CaptureFixture) -> None:
    """An unusable URDF from the topic stops the node with exit code 1 and the reason."""
    source = DescriptionSource(ros, 'broken')
    source.publish('<robot name="nothing"><link name="a"/></robot>')
    spinner = Spinner(ros, source)
    try:
        assert main(['--ros-args', '-r', '__ns:=/broken']) == 1
    finally:
        spinner.close()
    err = capfd.readouterr().err
    assert 'topic /broken/robot_description is unusable' in err and 'tip_link' in err


# --- teleop on the 7-joint Panda --------------------------------------------------------


@pytest.fixture(scope='module')
def panda(ros: Context) -> Any:
    """Spin a Panda gate (cartesian, gripper) and its fake arm at the ready posture."""
    node = gate(ros, 'panda', **PANDA_PARAMS)
    arm = FakeArm(ros, 'panda', PANDA.joint_names, PANDA_READY)
    spinner = Spinner(ros, node, arm)
    wait_for(lambda: arm.commands, what='the first command')
    yield node, arm
    spinner.close()


def release(arm: FakeArm) -> None:
    """Let go of the pad (clearing an e-stop) and wait until the gate holds for the policy."""
    arm.set_joy(RESET)
    arm.wait_mode('hold_stale_policy')
    arm.set_joy()
    arm.wait_mode('hold_stale_policy')


def assert_inside_limits(commands: list[np.ndarray], margin: float = 0.02) -> None:
    """Every command lies inside the Panda's joint limits minus the gate's margin."""
    lo, hi = PANDA.lower + margin, PANDA.upper - margin
    for command in commands:
        assert command.shape == (7,)
        assert np.all(command >= lo - 1e-12) and np.all(command <= hi + 1e-12), command


@pytest.mark.parametrize('axis, direction', [(1, (1.0, 0.0, 0.0)), (0, (0.0, 1.0, 0.0)),
                                             (4, (0.0, 0.0, 1.0)), (1, (-1.0, 0.0, 0.0))])
def test_each_stick_moves_the_panda_tip_in_its_direction(
        panda: tuple, axis: int, direction: tuple) -> None:
    """Deadman + left stick up / left, right stick up: the commanded tip moves x / y / z."""
    _, arm = panda
    release(arm)
    value = float(np.sign(sum(direction)))
    start = arm.mark()[0]
    p0 = PANDA.position(arm.commands_since(start - 1)[0])
    arm.set_joy(DEADMAN, axes={axis: value})
    unit = np.array(direction)
    wait_for(lambda: (PANDA.position(arm.commands_since(start)[-1]) - p0) @ unit > 0.04
             if arm.commands_since(start) else False, what='the tip 4 cm along the stick')
    arm.set_joy(DEADMAN)
    arm.wait_mode('human')
    commands = arm.commands_since(start)
    assert_inside_limits(commands)
    tips = [PANDA.position(c) for c in commands]
    along = [float((p - p0) @ unit) for p in tips]
    across = [float(np.linalg.norm((p - p0) - a * unit)) for p, a in zip(tips, along)]
    assert all(b >= a - 1e-6 for a, b in zip(along, along[1:])), 'only ever along the stick'
    assert max(across) < 0.1 * max(along), 'straight along the stick'
    states = arm.states_since(arm.mark()[1] - 5)
    assert all(s['source'] == 'human' and s['intervention'] for s in states)
    release(arm)


def test_panda_holds_at_measured_under_the_deadman_and_returns_on_release(
        panda: tuple) -> None:
    """Deadman with centred sticks holds; release gives the policy back (here: none, a hold)."""
    _, arm = panda
    release(arm)
    arm.set_joy(DEADMAN)
    index = arm.wait_mode('human')
    held = arm.states_since(index)
    wait_for(lambda: len(arm.states_since(index)) >= 10, what='ten more decisions')
    held = arm.states_since(index)[:10]
    assert all(s['mode'] == 'human' and s['command'] == held[0]['command'] for s in held)
    arm.set_joy(ESTOP, DEADMAN, axes={1: 1.0})
    index = arm.wait_mode('estop')
    wait_for(lambda: len(arm.states_since(index)) >= 10, what='ten e-stop decisions')
    stopped = arm.states_since(index)[:10]
    assert all(s['source'] == 'hold' and s['command'] == stopped[0]['command']
               for s in stopped), 'the e-stop holds whatever the sticks say'
    release(arm)
    assert_inside_limits(arm.commands_since(0))


def test_the_gripper_opens_and_closes_on_its_own_topic_during_a_takeover(
        panda: tuple) -> None:
    """Y opens, A closes: gripper_controller/commands gets the finger's URDF limits."""
    _, arm = panda
    release(arm)
    count = len(arm.grippers)
    arm.set_joy(GRIP_OPEN)  # no deadman: no gripper command
    arm.wait_mode('hold_stale_policy')
    arm.wait_mode('hold_stale_policy')
    assert len(arm.grippers) == count
    arm.set_joy(DEADMAN)
    arm.wait_mode('human')
    arm.set_joy(DEADMAN, GRIP_OPEN)
    wait_for(lambda: len(arm.grippers) > count, what='the open command')
    assert arm.grippers[-1] == [float(PANDA_GRIPPER.open[0])] == [0.04]
    arm.set_joy(DEADMAN)
    arm.wait_mode('human')
    arm.set_joy(DEADMAN, GRIP_CLOSE)
    wait_for(lambda: arm.grippers[-1] == [0.0], what='the close command')
    arm.set_joy(DEADMAN, GRIP_CLOSE)
    arm.wait_mode('human')
    arm.wait_mode('human')
    assert len(arm.grippers) == count + 2, 'one command per press, not per Joy'
    release(arm)


def test_joint_mode_selects_joints_with_the_buttons(ros: Context) -> None:
    """RB selects the next joint, X the previous; the stick moves that joint alone."""
    node = gate(ros, 'panda_joint', teleop_mode='joint', **PANDA_PARAMS)
    arm = FakeArm(ros, 'panda_joint', PANDA.joint_names, PANDA_READY)
    spinner = Spinner(ros, node, arm)
    try:
        wait_for(lambda: arm.commands, what='the first command')
        arm.set_joy(DEADMAN)
        index = arm.wait_mode('human')
        assert arm.states_since(index - 1)[0]['joint'] == 'panda_joint1'
        for pressed, joint in ((NEXT_JOINT, 'panda_joint2'), (None, 'panda_joint2'),
                               (NEXT_JOINT, 'panda_joint3'), (None, 'panda_joint3'),
                               (2, 'panda_joint2')):
            arm.set_joy(DEADMAN, *(() if pressed is None else (pressed,)))
            mark = arm.mark()[1]
            # Ten decisions later the gate has seen this Joy (it comes at the gate's rate).
            wait_for(lambda: len(arm.states_since(mark)) >= 10 and
                     arm.states_since(mark)[-1]['joint'] == joint, what=f'{joint} selected')
        start = arm.mark()[0]
        before = arm.commands_since(start - 1)[0]
        arm.set_joy(DEADMAN, axes={1: 1.0})
        wait_for(lambda: arm.commands_since(start) and
                 arm.commands_since(start)[-1][1] > before[1] + 0.1, what='panda_joint2 moving')
        arm.set_joy(DEADMAN)
        moved = arm.commands_since(start)[-1] - before
        assert moved[1] > 0.1 and np.all(np.abs(np.delete(moved, 1)) < 1e-9)
        assert_inside_limits(arm.commands_since(0), margin=0.02)
    finally:
        spinner.close()
