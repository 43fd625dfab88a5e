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

"""The expert_labeler node over real DDS: one expert label per joint state, or none and why."""

from __future__ import annotations

import json
from pathlib import Path
import threading
import time
from typing import Any, Callable, Optional

from diagnostic_msgs.msg import DiagnosticArray
from imitation_ros.dagger.expert import Expert
from imitation_ros.nodes.conversions import array_msg, diagnostic_level, joint_state_msg
from imitation_ros.nodes.expert_labeler import ExpertLabelerNode, ExpertParams, main
from imitation_ros.nodes.params import defaults
from imitation_ros.nodes.qos import EPISODE_QOS, ROBOT_DESCRIPTION_QOS, STATE_QOS
from imitation_ros.sim.arm import ArmConfig, ArmSim, Task
from imitation_ros.sim.experts import DemonstratorStyle, ScriptedExpert
import numpy as np
import pytest
from rclpy.context import Context
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.parameter import Parameter
from sensor_msgs.msg import JointState
from std_msgs.msg import Float64MultiArray, String
import yaml
from ros_harness import poll_until, private_domain_id

ROOT = Path(__file__).resolve().parents[1]
DOMAIN_ID = private_domain_id(78)
TIMEOUT_S = 15.0
CONFIG = ArmConfig()
PLANAR_URDF = ROOT / 'urdf' / 'planar3.urdf'
PANDA_URDF = ROOT / 'urdf' / 'panda.urdf'
#: The planar arm, from its URDF file (the robot the expert labels here).
PLANAR = Parameter('urdf_file', value=str(PLANAR_URDF))
ABOVE = ScriptedExpert(config=CONFIG, style=DemonstratorStyle(side=1))


def wait_for(predicate: Callable[[], Any], timeout: float = TIMEOUT_S, what: str = '') -> Any:
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout`` s."""
    return poll_until(predicate, timeout, what)


class Probe(Node):
    """Plays the arm (joint states, task, episode events) and collects labels and diagnostics."""

    def __init__(self, context: Context, namespace: str = '') -> None:
        super().__init__('expert_probe', context=context, namespace=namespace or None)
        self.lock = threading.Lock()
        self.labels: list[np.ndarray] = []
        self.label_stamps: list[int] = []
        self.label_names: list[str] = []
        self.diagnostics: list[Any] = []
        self.joint_pub = self.create_publisher(JointState, 'joint_states', STATE_QOS)
        self.task_pub = self.create_publisher(Float64MultiArray, 'imitation/task', STATE_QOS)
        self.episode_pub = self.create_publisher(String, 'imitation/episode', EPISODE_QOS)
        self.create_subscription(Float64MultiArray, 'imitation/expert_action', self._on_label,
                                 STATE_QOS)
        self.create_subscription(DiagnosticArray, '/diagnostics', self._on_diag, 50)
        self._stamp_ns = 1_000_000_000
        ns = self.get_namespace().rstrip('/')
        self.expert_name = f'{ns}/expert'

    def _on_label(self, msg: Float64MultiArray) -> None:
        with self.lock:
            data = np.asarray(msg.data, dtype=np.float64)
            offset = msg.layout.data_offset
            self.labels.append(data[offset:])
            # The padding names the labelled state: its header stamp (sec, nanosec).
            self.label_stamps.append(int(data[0]) * 1_000_000_000 + int(data[1])
                                     if offset == 2 else -1)
            self.label_names.append(msg.layout.dim[0].label if msg.layout.dim else '')

    def _on_diag(self, msg: DiagnosticArray) -> None:
        with self.lock:
            for status in msg.status:
                if status.hardware_id == self.expert_name:
                    self.diagnostics.append(status)

    def n_labels(self) -> int:
        """Return how many labels arrived."""
        with self.lock:
            return len(self.labels)

    def labels_since(self, count: int) -> list[np.ndarray]:
        """Return the labels after the first ``count``."""
        with self.lock:
            return list(self.labels[count:])

    def diag(self, predicate: Callable[[Any], bool], since: int = 0) -> Optional[Any]:
        """Return the newest diagnostics status (after ``since``) that matches."""
        with self.lock:
            hits = [s for s in self.diagnostics[since:] if predicate(s)]
        return hits[-1] if hits else None

    def n_diag(self) -> int:
        """Return how many diagnostics statuses arrived."""
        with self.lock:
            return len(self.diagnostics)

    def state(self, q: np.ndarray, names: tuple[str, ...] = CONFIG.joint_names,
              stamp_ns: Optional[int] = None) -> None:
        """Publish a joint state with a new (or the given) header stamp."""
        if stamp_ns is None:
            self._stamp_ns += 50_000_000
            stamp_ns = self._stamp_ns
        msg = joint_state_msg(names, q, np.zeros(len(q)))
        msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(stamp_ns, 1_000_000_000)
        self.joint_pub.publish(msg)

    def task(self, task: Task) -> None:
        """Publish the task vector."""
        self.task_pub.publish(array_msg(task.vector()))

    def start(self, episode: int, task: Task, stamp: Optional[float] = None) -> float:
        """Publish an episode start event (stamped between two states); return its stamp (s)."""
        if stamp is None:
            stamp = (self._stamp_ns + 1_000_000) * 1e-9
        event = {'event': 'start', 'episode': episode, 'start': task.start.tolist(),
                 'task': task.vector().tolist(), 'stamp': stamp}
        self.episode_pub.publish(String(data=json.dumps(event)))
        return stamp

    def end(self, episode: int, stamp: Optional[float] = None) -> float:
        """Publish an episode end event (stamped at the last state); return its stamp (s)."""
        if stamp is None:
            stamp = self._stamp_ns * 1e-9
        event = {'event': 'end', 'episode': episode, 'success': False, 'reason': 'timeout',
                 'stamp': stamp}
        self.episode_pub.publish(String(data=json.dumps(event)))
        return stamp


def _values(status: Any) -> dict[str, str]:
    return {kv.key: kv.value for kv in status.values}


class Spinner:
    """Spin nodes in a background thread."""

    def __init__(self, context: Context, *nodes: Node) -> None:
        self.executor = SingleThreadedExecutor(context=context)
        for node in nodes:
            self.executor.add_node(node)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._spin, daemon=True)
        self._thread.start()

    def _spin(self) -> None:
        while not self._stop.is_set():
            self.executor.spin_once(timeout_sec=0.05)

    def stop(self) -> None:
        """Stop spinning (the nodes are not destroyed)."""
        self._stop.set()
        self._thread.join(timeout=5.0)
        self.executor.shutdown()


@pytest.fixture(scope='module')
def harness(ros: Context) -> tuple[ExpertLabelerNode, Probe]:
    """Run the expert (the scripted 'above' demonstrator) and the probe."""
    node = ExpertLabelerNode(context=ros, parameter_overrides=[Parameter('expert', value='above'),
                                                               PLANAR])
    probe = Probe(ros)
    spinner = Spinner(ros, node, probe)
    wait_for(lambda: probe.count_publishers('imitation/expert_action') >= 1
             and node.count_publishers('joint_states') >= 1, what='discovery')
    yield node, probe
    spinner.stop()
    probe.destroy_node()
    node.destroy_node()


def _episode(seed: int) -> tuple[Task, list[np.ndarray]]:
    """Return a task and states visited by the scripted expert (with noise on the way)."""
    sim = ArmSim(CONFIG, seed=seed)
    task = sim.reset()
    rng = np.random.default_rng(seed)
    states = []
    for _ in range(25):
        states.append(sim.q.copy())
        sim.step(ABOVE.action(sim.q, task) + rng.normal(0.0, 0.03, size=3))
        if sim.done:
            break
    return task, states


def test_one_label_per_joint_state_equal_to_the_scripted_expert(harness) -> None:
    """Every new joint state gets exactly one label: the scripted expert's action for it."""
    node, probe = harness
    task, states = _episode(seed=4)
    probe.start(1, task)
    wait_for(lambda: node.episode == 1, what='the start event')
    probe.task(task)
    count = probe.n_labels()
    stamps = []
    for q in states:  # at the arm's 20 Hz
        probe.task(task)
        probe.state(q)
        stamps.append(probe._stamp_ns)
        time.sleep(0.05)
    wait_for(lambda: probe.n_labels() >= count + len(states), what='one label per state')
    time.sleep(0.3)
    labels = probe.labels_since(count)
    assert len(labels) == len(states)
    for q, label in zip(states, labels):
        np.testing.assert_allclose(label, ABOVE.action(q, task), atol=1e-12)
    assert probe.label_names[-1] == 'joint1,joint2,joint3'
    assert probe.label_stamps[count:] == stamps
    # The same message again (same header stamp) is the same state: not labelled twice.
    probe.task(task)
    probe.state(states[-1], stamp_ns=probe._stamp_ns)
    probe.state(states[-1])
    wait_for(lambda: probe.n_labels() >= count + len(states) + 1, what='the new state')
    time.sleep(0.3)
    assert probe.n_labels() == count + len(states) + 1


def test_a_new_episode_resets_the_expert_to_its_start(harness) -> None:
    """The expert's path starts at the episode's start posture (from the start event)."""
    node, probe = harness
    task, states = _episode(seed=5)
    other = Task(start=task.start + np.array([0.3, -0.2, 0.1]), goal=task.goal,
                 obstacle=task.obstacle, obstacle_radius=task.obstacle_radius)
    q = states[8]
    assert not np.allclose(ABOVE.action(q, task), ABOVE.action(q, other), atol=1e-6)
    stamps = {}
    for episode, current in ((2, task), (3, other)):
        stamps[episode] = probe.start(episode, current)
        wait_for(lambda: node.episode == episode, what=f'episode {episode}')
        count = probe.n_labels()
        probe.task(current)
        probe.state(q)
        wait_for(lambda: probe.n_labels() > count, what='a label')
        np.testing.assert_allclose(probe.labels_since(count)[0], ABOVE.action(q, current),
                                   atol=1e-12)
    # A replayed start (transient-local history) does not reset it back.
    probe.start(2, task, stamp=stamps[2])
    count = probe.n_labels()
    time.sleep(0.2)
    probe.task(other)
    probe.state(q)
    wait_for(lambda: probe.n_labels() > count, what='a label')
    np.testing.assert_allclose(probe.labels_since(count)[0], ABOVE.action(q, other), atol=1e-12)


def test_each_state_is_labelled_for_its_own_episode_whatever_the_arrival_order(harness) -> None:
    """A first state before its start event, and the old task after it, get the new episode."""
    node, probe = harness
    old, states = _episode(seed=11)
    new, new_states = _episode(seed=12)
    assert not np.allclose(old.vector(), new.vector())
    probe.start(20, old)
    wait_for(lambda: node.episode == 20, what='episode 20')
    probe.task(old)
    probe.state(states[0])
    probe.end(20)
    wait_for(lambda: not node._running, what='the end of episode 20')
    count = probe.n_labels()
    # The first state of episode 21 arrives before its start event, between two old tasks.
    probe.task(old)
    seen = node._states
    probe.state(new_states[0])
    first_stamp = probe._stamp_ns
    wait_for(lambda: node._states > seen, what='the first state of episode 21')
    probe.start(21, new, stamp=first_stamp * 1e-9)
    wait_for(lambda: node.episode == 21, what='episode 21')
    # The previous episode's task, delivered late, is not this episode's task.
    at = node._task_at
    probe.task(old)
    wait_for(lambda: node._task_at != at, what='the late task')
    probe.state(new_states[1])
    wait_for(lambda: probe.n_labels() >= count + 2, what='labels of both states')
    time.sleep(0.3)
    labels = probe.labels_since(count)
    assert len(labels) == 2, 'one label per state of episode 21, none for the old episode'
    assert probe.label_stamps[count] == first_stamp, 'the waiting first state, labelled late'
    for q, label, what in zip(new_states[:2], labels, ('first state', 'second state')):
        np.testing.assert_allclose(label, ABOVE.action(q, new), atol=1e-12,
                                   err_msg=f'{what} not labelled with its episode\'s task')
    # Once imitation/task has carried the episode's own task, a different one is a change.
    probe.task(new)
    moved = Task(start=new.start, goal=new.goal + np.array([0.0, 0.05]), obstacle=new.obstacle,
                 obstacle_radius=new.obstacle_radius)
    probe.task(moved)
    wait_for(lambda: np.allclose(node._task.goal, moved.goal), what='the moved goal')
    probe.state(new_states[2])
    wait_for(lambda: probe.n_labels() >= count + 3, what='a label for the moved goal')
    np.testing.assert_allclose(probe.labels_since(count)[2], ABOVE.action(new_states[2], moved),
                               atol=1e-12)


def test_no_state_is_labelled_before_the_first_start_event(ros: Context) -> None:
    """States before any episode event wait; the start event labels those it covers, in order."""
    node = ExpertLabelerNode(context=ros, namespace='/late',
                             parameter_overrides=[Parameter('expert', value='above'), PLANAR])
    probe = Probe(ros, namespace='/late')
    spinner = Spinner(ros, node, probe)
    try:
        wait_for(lambda: node.count_publishers('joint_states') >= 1
                 and probe.count_subscribers('joint_states') >= 1, what='discovery')
        task, states = _episode(seed=13)
        other = Task.from_vector(task.vector(), task.start + 0.05)
        # The task topic and three states arrive before the (transient-local) start event,
        # which is stamped at the second: the first is outside the episode, the others in it.
        stamps = []
        for i in range(3):
            probe.task(task)
            probe.state(states[i])
            stamps.append(probe._stamp_ns)
            wait_for(lambda i=i: node._states == i + 1, what=f'state {i}')
        time.sleep(0.3)
        assert probe.n_labels() == 0, 'a state was labelled before its episode was known'
        probe.start(0, other, stamp=stamps[1] * 1e-9)
        wait_for(lambda: probe.n_labels() == 2, what='the covered states labelled late')
        time.sleep(0.3)
        assert probe.label_stamps == stamps[1:], 'each covered state once, in order'
        for label, q in zip(probe.labels_since(0), states[1:3]):
            np.testing.assert_allclose(label, ABOVE.action(q, other), atol=1e-12)
        assert node._outside == 1 and node._late_labels == 2
    finally:
        spinner.stop()
        probe.destroy_node()
        node.destroy_node()


def test_stale_inputs_give_no_label_and_say_why(harness) -> None:
    """A task older than obs_timeout_s: no label, WARN naming it; no joint states: WARN too."""
    node, probe = harness
    task, states = _episode(seed=6)
    probe.start(4, task)
    probe.task(task)
    wait_for(lambda: node.episode == 4, what='episode 4')
    time.sleep(node.params.obs_timeout_s + 0.2)
    count, diag_count = probe.n_labels(), probe.n_diag()
    for q in states[:5]:
        probe.state(q)
        time.sleep(0.05)
    status = wait_for(lambda: probe.diag(lambda s: 'imitation/task' in s.message, diag_count),
                      what='diagnostics naming the stale task')
    assert diagnostic_level(status) == 1 and 'not labelling' in status.message
    time.sleep(0.2)
    assert probe.n_labels() == count
    assert int(_values(status)['states_skipped']) >= 1
    # Fresh again: labels resume.
    probe.task(task)
    probe.state(states[5])
    wait_for(lambda: probe.n_labels() == count + 1, what='labels to resume')
    # No joint states for longer than obs_timeout_s: the periodic report says so.
    diag_count = probe.n_diag()
    status = wait_for(lambda: probe.diag(lambda s: 'joint_states' in s.message
                                         and diagnostic_level(s) == 1, diag_count),
                      what='diagnostics naming the stale joint states')
    assert 'old' in status.message


def test_joint_states_without_our_joints_are_ignored(harness) -> None:
    """A JointState lacking the configured joints gives no label and is counted."""
    node, probe = harness
    task, states = _episode(seed=7)
    probe.start(5, task)
    wait_for(lambda: node.episode == 5, what='episode 5')
    count, diag_count = probe.n_labels(), probe.n_diag()
    bad_before = node._bad_messages
    probe.task(task)
    probe.state(states[0], names=('a', 'b', 'c'))
    wait_for(lambda: node._bad_messages > bad_before, what='the bad message counted')
    probe.task(task)
    probe.state(states[1])
    wait_for(lambda: probe.n_labels() == count + 1, what='the good state labelled')
    status = wait_for(lambda: probe.diag(lambda s: 'bad_messages' in _values(s), diag_count),
                      what='periodic diagnostics')
    assert int(_values(status)['bad_messages']) >= 1
    assert 'lacks joints' in _values(status)['last_bad_message']


class Planner(Expert):
    """A stand-in for a planner: steps a fixed fraction toward the goal posture."""

    def __init__(self) -> None:
        self.resets: list[Task] = []

    def reset(self, task: Task) -> None:
        """Remember the task (a planner would plan here)."""
        self.resets.append(task)

    def action(self, q: np.ndarray, task: Task) -> np.ndarray:
        """Return a target 10% of the way from q to the start posture, mirrored."""
        return q + 0.1 * (-task.start - q)


def test_any_expert_stands_in_and_tasks_start_episodes_without_events(ros: Context) -> None:
    """A planner replaces the scripted expert; without episode events a new task starts one."""
    planner = Planner()
    node = ExpertLabelerNode(expert=planner, context=ros, namespace='/real',
                             parameter_overrides=[Parameter('episodes_from', value='task'),
                                                  PLANAR])
    probe = Probe(ros, namespace='/real')
    spinner = Spinner(ros, node, probe)
    try:
        wait_for(lambda: node.count_publishers('joint_states') >= 1, what='discovery')
        task, states = _episode(seed=8)
        count = probe.n_labels()
        for q in states[3:6]:
            probe.task(task)
            probe.state(q)
            time.sleep(0.05)
        wait_for(lambda: probe.n_labels() == count + 3, what='three labels')
        # The first state seen with the task is the episode's start.
        assert len(planner.resets) == 1
        np.testing.assert_array_equal(planner.resets[0].start, states[3])
        for q, label in zip(states[3:6], probe.labels_since(count)):
            np.testing.assert_allclose(label, planner.action(q, planner.resets[0]))
        moved = Task(start=task.start, goal=task.goal + 0.1, obstacle=task.obstacle,
                     obstacle_radius=task.obstacle_radius)
        probe.task(moved)
        probe.state(states[6])
        wait_for(lambda: probe.n_labels() == count + 4, what='a label for the new task')
        assert len(planner.resets) == 2
        np.testing.assert_array_equal(planner.resets[1].start, states[6])
        np.testing.assert_array_equal(planner.resets[1].goal, moved.goal)
    finally:
        spinner.stop()
        probe.destroy_node()
        node.destroy_node()


def test_a_failing_expert_publishes_nothing_and_reports_an_error(ros: Context) -> None:
    """An exception in the expert: no label for that state, ERROR on /diagnostics."""
    class Broken(Planner):
        def action(self, q: np.ndarray, task: Task) -> np.ndarray:
            raise RuntimeError('planner found no path')

    node = ExpertLabelerNode(expert=Broken(), context=ros, namespace='/broken',
                             parameter_overrides=[Parameter('episodes_from', value='task'),
                                                  PLANAR])
    probe = Probe(ros, namespace='/broken')
    spinner = Spinner(ros, node, probe)
    try:
        wait_for(lambda: node.count_publishers('joint_states') >= 1, what='discovery')
        task, states = _episode(seed=9)
        for q in states[:3]:
            probe.task(task)
            probe.state(q)
            time.sleep(0.05)
        status = wait_for(lambda: probe.diag(lambda s: diagnostic_level(s) == 2),
                          what='an ERROR status')
        assert 'no path' in status.message and probe.n_labels() == 0
    finally:
        spinner.stop()
        probe.destroy_node()
        node.destroy_node()


def test_bad_parameter_exits_with_code_1(ros: Context) -> None:
    """main() logs and returns 1 for an unknown expert or an out-of-range parameter."""
    assert main(['--ros-args', '-p', 'expert:=sideways']) == 1
    assert main(['--ros-args', '-p', 'link_lengths:=[1.0]']) == 1
    assert main(['--ros-args', '-p', 'entry:=0.2']) == 1


def test_yaml_defaults_equal_code_defaults() -> None:
    """config/expert.yaml holds exactly the code defaults, every key commented."""
    text = (ROOT / 'config' / 'expert.yaml').read_text(encoding='utf-8')
    data = yaml.safe_load(text)
    assert list(data) == ['expert']
    assert data['expert']['ros__parameters'] == defaults(ExpertParams)
    for key in defaults(ExpertParams):
        # Parameters are indented under ros__parameters (the node is also called expert).
        line = next(ln for ln in text.splitlines() if ln.startswith(f'    {key}:'))
        assert '#' in line, f'{key} has no comment with its unit'


# --- the robot from its URDF ------------------------------------------------------------


def test_robot_description_from_the_transient_local_topic(ros: Context) -> None:
    """Without parameters the expert waits for the topic, says so; held states get labels after."""
    node = ExpertLabelerNode(context=ros, namespace='/described', parameter_overrides=[
        Parameter('expert', value='above'), Parameter('episodes_from', value='task')])
    probe = Probe(ros, namespace='/described')
    source = Node('robot_state_publisher', context=ros, namespace='/described')
    description = source.create_publisher(String, 'robot_description', ROBOT_DESCRIPTION_QOS)
    spinner = Spinner(ros, node, probe, source)
    try:
        status = wait_for(lambda: probe.diag(lambda s: 'waiting for the robot description'
                                             in s.message), what='the waiting diagnostic')
        assert diagnostic_level(status) == 2 and '/described/robot_description' in status.message
        assert node.expert is None
        wait_for(lambda: probe.count_subscribers('joint_states') >= 1, what='discovery')
        task, states = _episode(seed=3)
        for q in states[:2]:  # before the robot: they wait for it
            probe.task(task)
            probe.state(q)
            time.sleep(0.05)
        wait_for(lambda: len(node._early) >= 4, what='the inputs held for the robot')
        assert probe.n_labels() == 0
        description.publish(String(data=PLANAR_URDF.read_text(encoding='utf-8')))
        wait_for(lambda: node.expert is not None, what='the expert built for the robot')
        assert node.robot.joint_names == CONFIG.joint_names
        wait_for(lambda: probe.n_labels() >= 2, what='the held states labelled')
        np.testing.assert_allclose(probe.labels_since(0)[:2],
                                   [ABOVE.action(q, task) for q in states[:2]], atol=1e-12)
    finally:
        spinner.stop()
        for each in (source, probe, node):
            each.destroy_node()


@pytest.mark.parametrize('params, says', [
    (['robot_description_timeout_s:=0.5'], 'no robot description on /robot_description'),
    (['robot_description:=not a urdf'], 'not valid XML'),
    (['urdf_file:=/no/such/robot.urdf'], 'cannot read urdf_file'),
    ([f'urdf_file:={PANDA_URDF}', 'tip_link:=panda_hand_tcp'], 'planar3 expert'),
    ([f'urdf_file:={PLANAR_URDF}', 'link_lengths:=[1.0, 0.8, 0.5]'], 'planar3 expert'),
    ([f'urdf_file:={PLANAR_URDF}', 'robot:=panda'], 'they must match in order'),
])
def test_a_missing_or_wrong_robot_exits_1_at_start_up(
        ros: Context, capfd: pytest.CaptureFixture, params: list, says: str) -> None:
    """No description, an unusable one, or not the expert's arm (Panda, other links): exit 1."""
    args = ['--ros-args']
    for item in params:
        args += ['-p', item]
    assert main(args) == 1
    assert says in capfd.readouterr().err
