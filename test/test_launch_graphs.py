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

"""The launch files with use_sim:=true, under launch_pytest: graphs, rates, the loop, Panda."""

from __future__ import annotations

import json
import os
from pathlib import Path
import sys
import threading
import time
from typing import Any, Callable

import pytest
from ros_harness import private_domain_id

launch_pytest = pytest.importorskip(
    'launch_pytest', reason='the launch stack is not on PyPI: make setup installs it from '
    'LAUNCH_WHEELS (../shared/wheels/ros2-launch), a ROS 2 install has it')
pytest.importorskip('launch_ros', reason='launch_ros comes with the launch stack')

DOMAIN_ID = private_domain_id(80)
#: Longest wait for a graph to come up, a topic to reach its rate, a bag, a model (s).
STARTUP_S = 180.0
#: Longest wait for the HG-DAgger loop to record a takeover and hot-load two models (s).
LOOP_S = 420.0
SHIPPED_MODEL = Path(__file__).resolve().parents[1] / 'models' / 'planar_gmm_multi.onnx'
#: Parameters for a quick loop: tiny trainings after a few corrections.
QUICK_TRAINER = {'train_steps': 40, 'warm_start_steps': 20, 'min_new_samples': 30,
                 'check_period_s': 0.5}


def _prefix_with_package() -> str:
    """Return the install prefix holding imitation_ros as colcon lays it out; fail if none."""
    from ament_index_python.packages import get_package_prefix, PackageNotFoundError
    os.environ.setdefault('AMENT_PREFIX_PATH', sys.prefix)
    try:
        prefix = get_package_prefix('imitation_ros')
    except PackageNotFoundError:
        pytest.fail('imitation_ros is not in the ament index of AMENT_PREFIX_PATH '
                    f'({os.environ["AMENT_PREFIX_PATH"]}): run make setup', pytrace=False)
    for exe in ('sim_arm', 'policy_node', 'intervention_gate', 'recorder', 'trainer',
                'sim_human', 'expert_labeler'):
        if not os.access(os.path.join(prefix, 'lib', 'imitation_ros', exe), os.X_OK):
            pytest.fail(f'{prefix}/lib/imitation_ros/{exe} is missing: run make setup',
                        pytrace=False)
    return prefix


def _include(name: str, **arguments: str) -> Any:
    """Return a LaunchDescription including ``name``.launch.py with the arguments, then ready."""
    from launch import LaunchDescription
    from launch.actions import IncludeLaunchDescription, SetEnvironmentVariable
    from launch.launch_description_sources import PythonLaunchDescriptionSource
    from launch.substitutions import PathJoinSubstitution
    from launch_ros.substitutions import FindPackageShare
    _prefix_with_package()
    source = PythonLaunchDescriptionSource(PathJoinSubstitution(
        [FindPackageShare('imitation_ros'), 'launch', f'{name}.launch.py']))
    # Ready first: the test's own deadlines then bound a graph that never comes up (a
    # launch that fails before a later ReadyToTest would leave the test waiting for ever).
    return LaunchDescription([
        SetEnvironmentVariable('ROS_DOMAIN_ID', str(DOMAIN_ID)),
        SetEnvironmentVariable('PYTHONUNBUFFERED', '1'),
        launch_pytest.actions.ReadyToTest(),
        IncludeLaunchDescription(source, launch_arguments={'use_sim': 'true',
                                                           **arguments}.items())])


def _params_file(path: Path, params: dict[str, dict[str, Any]]) -> str:
    """Write a ROS 2 parameters file (node -> parameters) and return its path."""
    path.write_text(json.dumps({node: {'ros__parameters': values}
                                for node, values in params.items()}), encoding='utf-8')
    return str(path)


class Probe:
    """A node on the test's domain that counts topics, reads gate_state and model versions."""

    def __init__(self) -> None:
        import rclpy
        from rclpy.context import Context
        from rclpy.executors import SingleThreadedExecutor
        from sensor_msgs.msg import Image, JointState
        from std_msgs.msg import Float64MultiArray, String
        from imitation_ros.nodes.qos import IMAGE_SUB_QOS, MODEL_QOS, STATE_QOS
        os.environ['ROS_DOMAIN_ID'] = str(DOMAIN_ID)
        self.context = Context()
        rclpy.init(context=self.context, domain_id=DOMAIN_ID)
        self.node = rclpy.create_node('launch_probe', context=self.context)
        self.lock = threading.Lock()
        self.times: dict[str, list[float]] = {}
        self.gate: list[dict] = []
        self.versions: list[str] = []
        self.joint_names: set[tuple[str, ...]] = set()
        for topic, kind, qos in (('joint_states', JointState, STATE_QOS),
                                 ('imitation/task', Float64MultiArray, STATE_QOS),
                                 ('forward_position_controller/commands', Float64MultiArray,
                                  STATE_QOS),
                                 ('imitation/policy_action', Float64MultiArray, STATE_QOS),
                                 ('camera/image_raw', Image, IMAGE_SUB_QOS)):
            self.times[topic] = []
            self.node.create_subscription(kind, topic, self._stamp(topic), qos)
        self.node.create_subscription(JointState, 'joint_states', self._on_joints, STATE_QOS)
        self.node.create_subscription(String, 'imitation/gate_state', self._on_gate, 100)
        self.node.create_subscription(String, 'imitation/model_version', self._on_version,
                                      MODEL_QOS)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._spin, daemon=True)
        self._thread.start()

    def _spin(self) -> None:
        while not self._stop.is_set():
            self.executor.spin_once(timeout_sec=0.05)

    def _stamp(self, topic: str) -> Callable[[Any], None]:
        def on_message(msg: Any) -> None:
            with self.lock:
                self.times[topic].append(time.monotonic())
        return on_message

    def _on_joints(self, msg: Any) -> None:
        with self.lock:
            self.joint_names.add(tuple(msg.name))

    def _on_gate(self, msg: Any) -> None:
        with self.lock:
            self.gate.append(json.loads(msg.data))

    def _on_version(self, msg: Any) -> None:
        with self.lock:
            self.versions.append(msg.data)

    def node_names(self) -> set[str]:
        """Return the names of the nodes on the domain."""
        return {name for name, _ in self.node.get_node_names_and_namespaces()}

    def median_period(self, topic: str, since: float) -> float | None:
        """Return the median time between messages of ``topic`` after ``since`` (s)."""
        with self.lock:
            times = [t for t in self.times[topic] if t >= since]
        if len(times) < 20:
            return None
        gaps = sorted(b - a for a, b in zip(times, times[1:]))
        return gaps[len(gaps) // 2]

    def gate_states(self) -> list[dict]:
        """Return the gate's decisions so far."""
        with self.lock:
            return list(self.gate)

    def close(self) -> None:
        """Stop spinning and shut the probe's context down."""
        import rclpy
        self._stop.set()
        self._thread.join(timeout=5.0)
        self.executor.shutdown()
        self.node.destroy_node()
        rclpy.shutdown(context=self.context)


def wait_for(predicate: Callable[[], Any], timeout: float, what: str) -> Any:
    """Poll ``predicate`` until it holds and return its value; fail with ``what`` at timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    pytest.fail(f'timed out after {timeout:g} s waiting for {what}', pytrace=False)


@pytest.fixture()
def probe():
    """Provide a probe node on the launch's ROS domain."""
    p = Probe()
    yield p
    p.close()


def assert_graph_runs(probe: Probe, nodes: set[str], rates: dict[str, float]) -> None:
    """Every node of the graph is up and each topic comes at its rate (median period)."""
    wait_for(lambda: nodes <= probe.node_names(), STARTUP_S,
             f'nodes {sorted(nodes)} (seen {sorted(probe.node_names())})')
    since = time.monotonic()
    for topic, hz in rates.items():
        period = wait_for(lambda: probe.median_period(topic, since), STARTUP_S,
                          f'20 messages on {topic}')
        assert 0.5 / hz <= period <= 1.5 / hz, f'{topic}: median period {period:.4f} s ' \
            f'for {hz:g} Hz'


STATE_RATES = {'joint_states': 20.0, 'imitation/task': 20.0,
               'forward_position_controller/commands': 20.0, 'camera/image_raw': 10.0}


@launch_pytest.fixture
def deploy():
    """deploy.launch.py with its default model: the policy shipped with the package."""
    return _include('deploy')


@pytest.mark.launch(fixture=deploy)
def test_deploy_runs_the_shipped_policy(probe: Probe) -> None:
    """sim_arm, policy and gate run at their rates and the shipped policy drives the arm."""
    assert_graph_runs(probe, {'sim_arm', 'policy', 'intervention_gate'},
                      {**STATE_RATES, 'imitation/policy_action': 20.0})
    wait_for(lambda: sum(s['source'] == 'policy' for s in probe.gate_states()) >= 20,
             STARTUP_S, 'the gate forwarding 20 policy actions')
    assert 'planar-gmm-multi' in ''.join(probe.versions)


@launch_pytest.fixture
def record_demos(tmp_path: Path):
    """record_demos.launch.py into a temporary data folder."""
    return _include('record_demos', data_dir=str(tmp_path / 'data'))


@pytest.mark.launch(fixture=record_demos)
def test_record_demos_records_the_operators_demonstrations(probe: Probe,
                                                           tmp_path: Path) -> None:
    """sim_arm, sim_human, gate and recorder run; a finished demo bag has human steps."""
    from imitation_ros.data import episode_info, find_episode_bags
    assert_graph_runs(probe, {'sim_arm', 'sim_human', 'intervention_gate', 'recorder'},
                      STATE_RATES)
    data = tmp_path / 'data'
    infos = wait_for(lambda: [episode_info(b) for b in find_episode_bags(data)]
                     if data.exists() else [], STARTUP_S, 'a finished demo bag')
    assert {i.source for i in infos} == {'demo'}
    assert any((i.human_steps or 0) > 0 for i in infos)


def _dagger(tmp_path: Path, beta: str) -> Any:
    return _include('dagger', beta=beta, model=str(SHIPPED_MODEL),
                    data_dir=str(tmp_path / 'data'), models_dir=str(tmp_path / 'models'),
                    params_file=_params_file(tmp_path / 'params.yaml', {
                        'trainer': {'min_new_samples': 10_000_000}}))


@launch_pytest.fixture
def dagger_half(tmp_path: Path):
    """dagger.launch.py with beta:=0.5 and the shipped model."""
    return _dagger(tmp_path, '0.5')


@launch_pytest.fixture
def dagger_one(tmp_path: Path):
    """dagger.launch.py with beta:=1 (an integer on the command line) and the shipped model."""
    return _dagger(tmp_path, '1')


def _dagger_decisions(probe: Probe, beta: float) -> list[dict]:
    assert_graph_runs(probe, {'sim_arm', 'policy', 'intervention_gate', 'expert', 'recorder',
                              'trainer'}, STATE_RATES)

    def decisions() -> list[dict]:
        return [s for s in probe.gate_states() if s['source'] in ('policy', 'expert')]

    wait_for(lambda: len(decisions()) >= 100, STARTUP_S, '100 policy or expert decisions')
    assert {s['beta'] for s in probe.gate_states()} == {beta}
    return decisions()


@pytest.mark.launch(fixture=dagger_half)
def test_dagger_at_beta_one_half_mixes_expert_and_policy(probe: Probe) -> None:
    """At beta 0.5 the gate executes both the expert's and the policy's actions."""
    sources = [s['source'] for s in _dagger_decisions(probe, 0.5)]
    share = sources.count('expert') / len(sources)
    assert 0.2 < share < 0.8, f'expert share {share:.2f} at beta 0.5'


#: The gate's reason when beta drew the expert but no fresh label was there (documented).
NO_FRESH_LABEL = 'beta drew the expert but no fresh expert action'


@pytest.mark.launch(fixture=dagger_one)
def test_dagger_at_beta_one_starts_the_gate_and_executes_the_expert(probe: Probe) -> None:
    """beta:=1 reaches the gate as 1.0: the expert executes unless no fresh label is there."""
    decisions = _dagger_decisions(probe, 1.0)
    # The policy executes at beta 1 only through the documented no-fresh-label fallback
    # (an episode's first states, labels late on a loaded machine).
    policy = [s for s in decisions if s['source'] == 'policy']
    assert all(NO_FRESH_LABEL in s['reason'] for s in policy), policy[:3]
    assert len(policy) < len(decisions) / 2, f'{len(policy)} of {len(decisions)} by the policy'


@launch_pytest.fixture
def hg_dagger(tmp_path: Path):
    """hg_dagger.launch.py without a start model, with quick trainings."""
    return _include('hg_dagger', data_dir=str(tmp_path / 'data'),
                    models_dir=str(tmp_path / 'models'), policy='mse',
                    params_file=_params_file(tmp_path / 'params.yaml',
                                             {'trainer': QUICK_TRAINER}))


@pytest.mark.launch(fixture=hg_dagger)
def test_hg_dagger_records_takeovers_and_hot_loads_retrained_models(
        probe: Probe, tmp_path: Path) -> None:
    """A takeover is recorded into a bag; the trainer's v001 and v002 drive in turn."""
    from imitation_ros.data import episode_info, find_episode_bags
    assert_graph_runs(probe, {'sim_arm', 'sim_human', 'policy', 'intervention_gate',
                              'recorder', 'trainer'}, STATE_RATES)
    data = tmp_path / 'data'
    wait_for(lambda: data.exists() and any((episode_info(b).interventions or 0) > 0
                                           for b in find_episode_bags(data)),
             LOOP_S, 'a bag with a takeover')
    for version in ('v001', 'v002'):
        wait_for(lambda: any(s['model_version'] == version and s['source'] == 'policy'
                             for s in probe.gate_states()), LOOP_S,
                 f'the policy node to hot-load {version} and the gate to forward it')
    assert (tmp_path / 'models' / 'policy_v002.onnx').is_file()


PANDA_ARM = tuple(f'panda_joint{i}' for i in range(1, 8))


@launch_pytest.fixture
def hg_dagger_panda(tmp_path: Path):
    """hg_dagger.launch.py robot:=panda, no camera, no training (the graph, not the loop)."""
    return _include('hg_dagger', robot='panda', data_dir=str(tmp_path / 'data'),
                    models_dir=str(tmp_path / 'models'), policy='mse',
                    params_file=_params_file(tmp_path / 'params.yaml', {
                        'sim_arm': {'camera_hz': 0.0},
                        'trainer': {'min_new_samples': 10_000_000}}))


@pytest.mark.launch(fixture=hg_dagger_panda)
def test_hg_dagger_on_the_panda_runs_its_arm_and_the_operator_drives_through_the_gate(
        probe: Probe) -> None:
    """robot:=panda: panda_joint1..7 on joint_states; the gate holds, then forwards takeovers."""
    nodes = {'sim_arm', 'sim_human', 'policy', 'intervention_gate', 'recorder', 'trainer'}
    wait_for(lambda: nodes <= probe.node_names(), STARTUP_S,
             f'nodes {sorted(nodes)} (seen {sorted(probe.node_names())})')
    names = wait_for(lambda: probe.joint_names, STARTUP_S, 'joint states')
    assert {n[:7] for n in names} == {PANDA_ARM}, names
    # No model yet: the gate holds; the simulated operator sees the arm stall and takes
    # over, and the gate forwards its sticks, mapped on the Panda's chain, as 7 targets.
    wait_for(lambda: any(s['source'] == 'hold' for s in probe.gate_states()), STARTUP_S,
             'the gate holding without a model')
    human = wait_for(lambda: [s for s in probe.gate_states() if s['source'] == 'human'],
                     STARTUP_S, 'the gate forwarding a takeover of the simulated operator')
    assert all(len(s['command']) == 7 for s in human), human[:2]
