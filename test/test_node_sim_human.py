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

"""The sim_human node over real DDS: a joy_node-like pad that takes over a failing arm."""

from __future__ import annotations

import json
from pathlib import Path
import threading
import time
from typing import Any, Callable

from diagnostic_msgs.msg import DiagnosticArray
from imitation_ros.nodes.conversions import array_msg, joint_state_msg
from imitation_ros.nodes.intervention_gate import InterventionGateNode
from imitation_ros.nodes.params import defaults
from imitation_ros.nodes.qos import EPISODE_QOS, STATE_QOS
from imitation_ros.nodes.recorder import RecorderParams
from imitation_ros.nodes.sim_human import main, SimHumanNode, SimHumanParams
from imitation_ros.sim.arm import ArmConfig, ArmSim, end_effector, link_clearance, Task
from imitation_ros.sim.experts import DemonstratorStyle
from imitation_ros.sim.operator import expert_path, gate_teleop, path_distance
import numpy as np
import pytest
from rclpy.context import Context
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.parameter import Parameter
from sensor_msgs.msg import Joy, JointState
from std_msgs.msg import Bool, Float64MultiArray, String
import yaml
from ros_harness import Spinner, poll_until, private_domain_id, spin_until
from gate_fixtures import planar_target, planar_velocity

ROOT = Path(__file__).resolve().parents[1]
DOMAIN_ID = private_domain_id(75)
TIMEOUT_S = 15.0
CONFIG = ArmConfig()
PARAMS = SimHumanParams()
#: Time-to-contact off, so trouble is a pure function of each published state.
OVERRIDES = {'collision_lookahead_s': 0.0}


def wait_for(predicate: Callable[[], Any], timeout: float = TIMEOUT_S, what: str = '') -> Any:
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout`` s."""
    return poll_until(predicate, timeout, what)


def straight_policy(q: np.ndarray, task: Task, speed: float = 0.8) -> np.ndarray:
    """Move the end effector on the straight line to the goal: right through the obstacle."""
    ee = end_effector(CONFIG, q)
    to_goal = task.goal - ee
    dist = float(np.linalg.norm(to_goal))
    qdot = planar_velocity(CONFIG, q, to_goal / max(dist, 1e-9) * min(speed, 2.5 * dist))
    peak = float(np.max(np.abs(qdot)))
    if peak > CONFIG.max_joint_speed:
        qdot *= CONFIG.max_joint_speed / peak
    return q + qdot * CONFIG.dt


def in_trouble(task: Task, q: np.ndarray) -> bool:
    """Whether a state is off both expert corridors or too close to the obstacle."""
    ee = end_effector(CONFIG, q)
    near = min(path_distance(expert_path(CONFIG, task, DemonstratorStyle(side=s)), ee)
               for s in (1, -1))
    return near > PARAMS.corridor_m or link_clearance(CONFIG, task, q) < PARAMS.collision_margin_m


class ArmProbe(Node):
    """Plays the arm: steps a sim at 20 Hz with a bad policy, or with the pad when held."""

    def __init__(self, context: Context) -> None:
        super().__init__('sim_human_probe', context=context)
        self.lock = threading.Lock()
        self.sim = ArmSim(CONFIG, seed=3)
        self.task = self.sim.reset()
        self.running = False
        self.joys: list[tuple[float, Joy]] = []
        self.trouble_at: float | None = None
        self.diagnostics: list[Any] = []
        self.joint_pub = self.create_publisher(JointState, 'joint_states', STATE_QOS)
        self.task_pub = self.create_publisher(Float64MultiArray, 'imitation/task', STATE_QOS)
        self.episode_pub = self.create_publisher(String, 'imitation/episode', EPISODE_QOS)
        self.create_subscription(Joy, 'joy', self._on_joy, STATE_QOS)
        self.create_subscription(DiagnosticArray, '/diagnostics', self._on_diag, 50)
        self.create_timer(CONFIG.dt, self._on_tick)

    def now(self) -> float:
        """Return the node clock in seconds."""
        return self.get_clock().now().nanoseconds * 1e-9

    def _on_joy(self, msg: Joy) -> None:
        with self.lock:
            self.joys.append((self.now(), msg))

    def _on_diag(self, msg: DiagnosticArray) -> None:
        with self.lock:
            for status in msg.status:
                if status.name.startswith('sim_human'):
                    self.diagnostics.append({kv.key: kv.value for kv in status.values})

    def latest_joy(self) -> Joy | None:
        """Return the newest Joy message received."""
        with self.lock:
            return self.joys[-1][1] if self.joys else None

    def _on_tick(self) -> None:
        """One control period of the arm: pad when the deadman is held, else the policy."""
        if not self.running or self.sim.done:
            return
        q = self.sim.q.copy()
        joy = self.latest_joy()
        if joy is not None and joy.buttons[PARAMS.enable_button]:
            axes = np.asarray(joy.axes)
            target = planar_target(CONFIG, q, (axes[1], axes[0], axes[3]))
        else:
            target = straight_policy(q, self.task)
        self.sim.step(target)
        self.publish_state()

    def publish_state(self) -> None:
        """Publish the arm's joint state and task; note when trouble first shows."""
        now = self.get_clock().now()
        q = self.sim.q.copy()
        self.joint_pub.publish(joint_state_msg(CONFIG.joint_names, q, self.sim.qd, now.to_msg()))
        self.task_pub.publish(array_msg(self.task.vector()))
        if self.running and self.trouble_at is None and in_trouble(self.task, q):
            self.trouble_at = now.nanoseconds * 1e-9

    def start(self, episode: int) -> float:
        """Announce the episode and let the arm move; returns the start time."""
        event = {'event': 'start', 'episode': episode, 'start': self.task.start.tolist(),
                 'task': self.task.vector().tolist(), 'stamp': self.now()}
        self.episode_pub.publish(String(data=json.dumps(event)))
        t = self.now()
        self.running = True
        return t

    def end(self, episode: int) -> float:
        """Announce the end of the episode; returns the time."""
        self.running = False
        event = {'event': 'end', 'episode': episode, 'success': bool(self.sim.success),
                 'reason': self.sim.reason or 'reset', 'stamp': self.now()}
        self.episode_pub.publish(String(data=json.dumps(event)))
        return self.now()


@pytest.fixture(scope='module')
def harness(ros: Context) -> tuple[SimHumanNode, ArmProbe]:
    """Run sim_human and the arm probe with one executor in a background thread."""
    overrides = [Parameter(k, value=v) for k, v in OVERRIDES.items()]
    human = SimHumanNode(context=ros, parameter_overrides=overrides)
    probe = ArmProbe(ros)
    spinner = Spinner(ros, human, probe)
    yield human, probe
    spinner.close()


@pytest.fixture(scope='module')
def episode(harness: tuple[SimHumanNode, ArmProbe]) -> dict[str, Any]:
    """Record the pad: idle, one episode of a policy driving into the obstacle, idle again."""
    human, probe = harness
    wait_for(lambda: len(probe.joys) >= 10, what='joy messages before any episode')
    probe.publish_state()
    with probe.lock:
        idle_before = [j for _, j in probe.joys]
    started = probe.start(1)
    wait_for(lambda: any(j.buttons[PARAMS.enable_button] for _, j in list(probe.joys)),
             what='the deadman')
    # Let the takeover run a little, then end the episode.
    wait_for(lambda: probe.sim.done or len(probe.joys) > len(idle_before) + 40,
             what='the takeover to run')
    ended = probe.end(1)
    wait_for(lambda: any(t > ended + 0.2 for t, _ in list(probe.joys)), what='joy after end')
    with probe.lock:
        joys = list(probe.joys)
    return {'idle_before': idle_before, 'started': started, 'ended': ended, 'joys': joys,
            'trouble_at': probe.trouble_at, 'probe': probe, 'human': human}


def _stamp(msg: Joy) -> float:
    return msg.header.stamp.sec + 1e-9 * msg.header.stamp.nanosec


def test_joy_is_a_gamepad_at_rate_hz(episode: dict[str, Any]) -> None:
    """Joy: header stamps and frame_id, 8 axes in [-1, 1], 11 int buttons, steady at rate_hz."""
    joys = [j for _, j in episode['joys']]
    assert len(joys) >= 40
    stamps = np.array([_stamp(j) for j in joys])
    assert stamps[0] > 0 and np.all(np.diff(stamps) > 0)
    # The median period is immune to a stall of the (shared, loaded) test executor.
    period = float(np.median(np.diff(stamps)))
    rate = (len(stamps) - 1) / (stamps[-1] - stamps[0])
    assert 0.6 / PARAMS.rate_hz <= period <= 1.5 / PARAMS.rate_hz, (period, rate)
    assert 0.4 * PARAMS.rate_hz <= rate <= 1.5 * PARAMS.rate_hz, (period, rate)
    for j in joys:
        assert j.header.frame_id == 'joy'
        assert len(j.axes) == 8 and all(-1.0 <= a <= 1.0 for a in j.axes)
        assert len(j.buttons) == 11 and all(type(b) is int and b in (0, 1) for b in j.buttons)


def test_idle_outside_episodes(episode: dict[str, Any]) -> None:
    """Before the start and after the end event the pad is all zeros."""
    assert all(not any(j.axes) and not any(j.buttons) for j in episode['idle_before'])
    after = [j for t, j in episode['joys'] if t > episode['ended'] + 0.15]
    assert after and all(not any(j.axes) and not any(j.buttons) for j in after)


def test_deadman_pressed_after_the_reaction_delay(episode: dict[str, Any]) -> None:
    """The first held deadman comes reaction_delay_s (or a little more) after the trouble."""
    trouble = episode['trouble_at']
    assert trouble is not None, 'the probe arm never left the corridor'
    held = [j for _, j in episode['joys'] if j.buttons[PARAMS.enable_button]]
    first = _stamp(held[0])
    assert first >= trouble + PARAMS.reaction_delay_s - 1e-3
    assert first <= trouble + PARAMS.reaction_delay_s + 1.0
    assert any(abs(j.axes[1]) > 0.05 or abs(j.axes[0]) > 0.05 for j in held), 'no steering'
    assert all(j.axes[2] == 0.0 and list(j.axes[4:]) == [0.0] * 4 for j in held)


def test_diagnostics_report_the_takeover(episode: dict[str, Any]) -> None:
    """/diagnostics carries engaged, takeovers and reason."""
    probe: ArmProbe = episode['probe']
    status = wait_for(lambda: next((d for d in list(probe.diagnostics)
                                    if int(d['takeovers_total']) >= 1), None),
                      timeout=5.0, what='diagnostics with a takeover')
    assert {'engaged', 'takeovers', 'reason', 'episode'} <= status.keys()


def test_late_joiner_stays_idle_after_replayed_history(
        episode: dict[str, Any], ros: Context) -> None:
    """A sim_human started after the episode ended takes the replayed start + end: idle."""
    late = SimHumanNode(context=ros)
    executor = SingleThreadedExecutor(context=ros)
    executor.add_node(late)
    try:
        deadline = time.monotonic() + TIMEOUT_S
        while ((late.episode != 1 or late.operator.active)
               and time.monotonic() < deadline):
            executor.spin_once(timeout_sec=0.05)
        assert late.episode == 1 and not late.operator.active
    finally:
        executor.shutdown()
        late.destroy_node()


def test_help_request_is_answered_by_a_takeover(ros: Context) -> None:
    """imitation/help_request on a fine-looking arm: deadman after the reaction delay (help)."""
    overrides = [Parameter('stall_s', value=100.0), Parameter('collision_lookahead_s', value=0.0)]
    helped = SimHumanNode(context=ros, namespace='helped', parameter_overrides=overrides)
    deaf = SimHumanNode(context=ros, namespace='deaf', parameter_overrides=overrides + [
        Parameter('answer_help', value=False)])
    world = Node('help_probe', context=ros)
    task = ArmSim(CONFIG, seed=3).reset()
    joys: dict[str, list[tuple[float, Joy]]] = {'helped': [], 'deaf': []}
    pubs = {}
    for ns in joys:
        pubs[ns] = (world.create_publisher(JointState, f'{ns}/joint_states', STATE_QOS),
                    world.create_publisher(String, f'{ns}/imitation/episode', EPISODE_QOS),
                    world.create_publisher(Bool, f'{ns}/imitation/help_request', STATE_QOS))
        world.create_subscription(
            Joy, f'{ns}/joy',
            lambda msg, ns=ns: joys[ns].append((time.monotonic(), msg)), STATE_QOS)
    executor = SingleThreadedExecutor(context=ros)
    for node in (helped, deaf, world):
        executor.add_node(node)
    asked = {'at': None}

    def world_tick() -> None:
        """Keep the arm at its start (on both expert paths): only help can cause a takeover."""
        for joint_pub, _, help_pub in pubs.values():
            joint_pub.publish(joint_state_msg(CONFIG.joint_names, task.start))
            help_pub.publish(Bool(data=asked['at'] is not None))

    world.create_timer(0.05, world_tick)

    try:
        event = {'event': 'start', 'episode': 1, 'start': task.start.tolist(),
                 'task': task.vector().tolist(), 'stamp': time.time()}
        for _, episode_pub, _ in pubs.values():
            episode_pub.publish(String(data=json.dumps(event)))
        spin_until(executor, lambda: helped.operator.active and deaf.operator.active,
                   TIMEOUT_S, 'both operators watching')
        start = time.monotonic()
        spin_until(executor, lambda: time.monotonic() > start + 0.5, 5.0,
                   'a quiet half second')
        assert not any(j.buttons[PARAMS.enable_button] for _, j in joys['helped'] + joys['deaf'])
        assert helped.operator.reason == 'ok', 'the still arm must look fine'
        asked['at'] = time.monotonic()
        spin_until(executor,
                   lambda: any(j.buttons[PARAMS.enable_button] for _, j in joys['helped']),
                   TIMEOUT_S, 'the deadman answering the help request')
        first = next(t for t, j in joys['helped'] if j.buttons[PARAMS.enable_button])
        assert first - asked['at'] >= PARAMS.reaction_delay_s - 0.02
        assert helped.operator.engaged and helped.operator.reason == 'help'
        start = time.monotonic()
        spin_until(executor, lambda: time.monotonic() > start + 0.5, 5.0, 'a half second more')
        assert not any(j.buttons[PARAMS.enable_button] for _, j in joys['deaf']), \
            'answer_help false must ignore help requests'
    finally:
        executor.shutdown()
        for node in (world, deaf, helped):
            node.destroy_node()


def test_robot_gated_operator_acts_only_on_help_requests(ros: Context) -> None:
    """Robot-gated (watch false): no deadman without a request; the request's end hands back."""
    overrides = [Parameter('stall_s', value=100.0), Parameter('collision_lookahead_s', value=0.0)]
    gated = SimHumanNode(context=ros, namespace='gated', parameter_overrides=overrides + [
        Parameter('watch', value=False)])
    watching = SimHumanNode(context=ros, namespace='watching', parameter_overrides=overrides)
    world = Node('gated_probe', context=ros)
    task = ArmSim(CONFIG, seed=4).reset()
    rng = np.random.default_rng(0)
    margin = PARAMS.limit_margin_rad + 0.2
    trouble = next(q for q in (rng.uniform(CONFIG.lower + margin, CONFIG.upper - margin)
                               for _ in range(10_000)) if in_trouble(task, q))
    joys: dict[str, list[tuple[float, Joy]]] = {'gated': [], 'watching': []}
    pubs = {}
    for ns in joys:
        pubs[ns] = (world.create_publisher(JointState, f'{ns}/joint_states', STATE_QOS),
                    world.create_publisher(String, f'{ns}/imitation/episode', EPISODE_QOS),
                    world.create_publisher(Bool, f'{ns}/imitation/help_request', STATE_QOS))
        world.create_subscription(
            Joy, f'{ns}/joy',
            lambda msg, ns=ns: joys[ns].append((time.monotonic(), msg)), STATE_QOS)
    executor = SingleThreadedExecutor(context=ros)
    for node in (gated, watching, world):
        executor.add_node(node)
    asked = {'on': False}

    def world_tick() -> None:
        """Hold the arm in trouble (off both corridors); the request as the test sets it."""
        for joint_pub, _, help_pub in pubs.values():
            joint_pub.publish(joint_state_msg(CONFIG.joint_names, trouble))
            help_pub.publish(Bool(data=asked['on']))

    def pressed(ns: str, since: float = 0.0) -> list[float]:
        return [t for t, j in joys[ns] if t >= since and j.buttons[PARAMS.enable_button]]

    world.create_timer(0.05, world_tick)
    try:
        event = {'event': 'start', 'episode': 1, 'start': task.start.tolist(),
                 'task': task.vector().tolist(), 'stamp': time.time()}
        for _, episode_pub, _ in pubs.values():
            episode_pub.publish(String(data=json.dumps(event)))
        spin_until(executor, lambda: gated.operator.active and watching.operator.active,
                   TIMEOUT_S, 'both operators in the episode')
        spin_until(executor, lambda: pressed('watching'), TIMEOUT_S,
                   'the watching operator taking over the arm in trouble')
        start = time.monotonic()
        spin_until(executor, lambda: time.monotonic() > start + 1.0, 5.0, 'a second more')
        assert joys['gated'] and not pressed('gated'), 'robot-gated acted without a request'
        asked['on'] = True
        on_at = time.monotonic()
        spin_until(executor, lambda: pressed('gated'), TIMEOUT_S, 'the answer to the request')
        assert pressed('gated')[0] - on_at >= PARAMS.reaction_delay_s - 0.02
        assert gated.operator.engaged and gated.operator.reason == 'help'
        asked['on'] = False
        spin_until(executor, lambda: not gated.operator.engaged, TIMEOUT_S,
                   'the hand-back once the request cleared')
        released = time.monotonic()
        spin_until(executor, lambda: time.monotonic() > released + 1.0, 5.0, 'a second more')
        late = [t for t, j in joys['gated'] if t > released + 0.3]
        assert late and not pressed('gated', released + 0.3), 'acted again without a request'
    finally:
        executor.shutdown()
        for node in (world, watching, gated):
            node.destroy_node()


def test_decides_on_each_joint_state(ros: Context) -> None:
    """With react_to_joint_states a joy follows every new state; without, only the timer."""
    slow = [Parameter('rate_hz', value=1.0)]
    reacting = SimHumanNode(context=ros, namespace='reacting', parameter_overrides=slow)
    timed = SimHumanNode(context=ros, namespace='timed', parameter_overrides=slow + [
        Parameter('react_to_joint_states', value=False)])
    world = Node('react_probe', context=ros)
    task = ArmSim(CONFIG, seed=3).reset()
    joys: dict[str, list[float]] = {'reacting': [], 'timed': []}
    pubs = {}
    for ns in joys:
        pubs[ns] = (world.create_publisher(JointState, f'{ns}/joint_states', STATE_QOS),
                    world.create_publisher(String, f'{ns}/imitation/episode', EPISODE_QOS))
        world.create_subscription(Joy, f'{ns}/joy',
                                  lambda msg, ns=ns: joys[ns].append(time.monotonic()),
                                  STATE_QOS)
    executor = SingleThreadedExecutor(context=ros)
    for node in (reacting, timed, world):
        executor.add_node(node)
    world.create_timer(0.05, lambda: [pub.publish(joint_state_msg(CONFIG.joint_names,
                                                                  task.start))
                                      for pub, _ in pubs.values()])

    try:
        event = {'event': 'start', 'episode': 1, 'start': task.start.tolist(),
                 'task': task.vector().tolist(), 'stamp': time.time()}
        for _, episode_pub in pubs.values():
            episode_pub.publish(String(data=json.dumps(event)))
        spin_until(executor, lambda: reacting.operator.active and timed.operator.active,
                   TIMEOUT_S, 'both operators watching')
        start = time.monotonic()
        spin_until(executor, lambda: time.monotonic() > start + 2.0, 10.0,
                   'two seconds of states')
        counts = {ns: sum(t > start for t in ts) for ns, ts in joys.items()}
        # 20 Hz joint states for 2 s: about 40 decisions when reacting, 2 or 3 on the timer.
        assert counts['reacting'] >= 20 and counts['timed'] <= 4, counts
    finally:
        executor.shutdown()
        for node in (world, timed, reacting):
            node.destroy_node()


class PausableSpinner(Spinner):
    """A Spinner that can stop serving its nodes for a while, as a stopped process would."""

    def __init__(self, context: Context, *nodes: Any) -> None:
        self.paused = threading.Event()
        super().__init__(context, *nodes)

    def _spin(self) -> None:
        while not self._stop.is_set():
            if self.paused.is_set():
                time.sleep(0.01)
                continue
            self.executor.spin_once(timeout_sec=0.05)


def test_regrips_after_the_gates_joy_lost_hold(ros: Context) -> None:
    """The gate latches joy-lost while sim_human is stalled; it lets go, presses, drives again."""
    ns = 'regrip'
    gate = InterventionGateNode(context=ros, namespace=ns, parameter_overrides=[
        Parameter(k, value=v) for k, v in {
            'rate_hz': 50.0, 'state_timeout_s': 2.0,
            'urdf_file': str(ROOT / 'urdf' / 'planar3.urdf'), **gate_teleop()}.items()])
    human = SimHumanNode(context=ros, namespace=ns, parameter_overrides=[
        Parameter('collision_lookahead_s', value=0.0)])
    world = Node('regrip_world', context=ros, namespace=ns)
    task = ArmSim(CONFIG, seed=3).reset()
    q = task.start.copy()
    q[0] = CONFIG.joint_upper[0] - 0.05  # near a limit: the operator takes over, never lets go
    lock = threading.Lock()
    modes: list[tuple[float, str]] = []
    joys: list[tuple[float, int]] = []
    joint_pub = world.create_publisher(JointState, 'joint_states', STATE_QOS)
    episode_pub = world.create_publisher(String, 'imitation/episode', EPISODE_QOS)

    def on_gate(msg: String) -> None:
        with lock:
            modes.append((time.monotonic(), json.loads(msg.data)['mode']))

    def on_joy(msg: Joy) -> None:
        with lock:
            joys.append((time.monotonic(), msg.buttons[PARAMS.enable_button]))

    def seen(mode: str, after: float) -> bool:
        with lock:
            return any(t > after and m == mode for t, m in modes)

    world.create_subscription(String, 'imitation/gate_state', on_gate, STATE_QOS)
    world.create_subscription(Joy, 'joy', on_joy, STATE_QOS)
    world.create_timer(CONFIG.dt, lambda: joint_pub.publish(
        joint_state_msg(CONFIG.joint_names, q)))
    world_spinner = Spinner(ros, gate, world)
    human_spinner = PausableSpinner(ros, human)
    try:
        event = {'event': 'start', 'episode': 1, 'start': task.start.tolist(),
                 'task': task.vector().tolist(), 'stamp': time.time()}
        episode_pub.publish(String(data=json.dumps(event)))
        wait_for(lambda: seen('human', 0.0), what='the takeover through the gate')
        stalled = time.monotonic()
        human_spinner.paused.set()
        wait_for(lambda: seen('hold_joy_lost', stalled), what="the gate's joy-lost hold")
        resumed = time.monotonic()
        human_spinner.paused.clear()
        wait_for(lambda: seen('human', resumed), what='the human driving again')
        with lock:
            pads = [pressed for t, pressed in joys if t > resumed]
        assert 0 in pads, 'the deadman must be let go in between'
        assert 1 in pads[pads.index(0):], 'and pressed again'
        assert human.operator.regrips >= 1 and human.operator.takeovers == 1
    finally:
        human_spinner.close()
        world_spinner.close()


def test_bad_parameter_exits_with_code_1(ros: Context) -> None:
    """main() logs and returns 1 for out-of-range or inconsistent parameters."""
    assert main(['--ros-args', '-p', 'rate_hz:=0.0']) == 1
    assert main(['--ros-args', '-p', 'release_m:=0.5']) == 1
    assert main(['--ros-args', '-p', 'axis_map:=[1,1,3]']) == 1


@pytest.mark.parametrize('node,cls', [('sim_human', SimHumanParams),
                                      ('recorder', RecorderParams)])
def test_yaml_defaults_equal_code_defaults(node: str, cls: type) -> None:
    """config/<node>.yaml holds exactly the code defaults, every key commented."""
    text = (ROOT / 'config' / f'{node}.yaml').read_text(encoding='utf-8')
    data = yaml.safe_load(text)
    assert data[node]['ros__parameters'] == defaults(cls)
    for key in defaults(cls):
        line = next(ln for ln in text.splitlines() if ln.strip().startswith(f'{key}:'))
        assert '#' in line, f'{key} has no comment with its unit'
