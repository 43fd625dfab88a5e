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

"""The policy node over real DDS: inputs, rate, hot reload, trust and checks of models, shadow."""

from __future__ import annotations

import json
from pathlib import Path
import threading
import time
from typing import Any, Callable, Optional

from builtin_interfaces.msg import Time
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from imitation_ros.nodes.conversions import (array_from_msg, array_msg, diagnostic_level,
                                             image_msg, joint_state_msg)
from imitation_ros.nodes.params import defaults
from imitation_ros.nodes.policy_node import main, PolicyNode, PolicyParams, STATUS_QOS
from imitation_ros.nodes.qos import (COMMAND_QOS, EPISODE_QOS, IMAGE_PUB_QOS, MODEL_QOS,
                                     ROBOT_DESCRIPTION_QOS, STATE_QOS)
from imitation_ros.policies.base import Normalizer, PolicySpec
from imitation_ros.policies.ensemble import DoubtConfig, DoubtEnsemble
from imitation_ros.policies.registry import make_policy
from imitation_ros.policies.risk import RiskNet
from imitation_ros.runtime.model_trust import OUTSIDE, record_model
from imitation_ros.runtime.onnx_policy import OnnxPolicy
from imitation_ros.training.export import export_policy
from imitation_ros.training.risk import attach_risk
import numpy as np
import pytest
from rclpy.context import Context
from rclpy.node import Node
from rclpy.parameter import Parameter
from std_msgs.msg import Bool, Float64, Float64MultiArray, String
import torch
import yaml
from ros_harness import Spinner, poll_until, private_domain_id

ROOT = Path(__file__).resolve().parents[1]
DOMAIN_ID = private_domain_id(73)
TIMEOUT_S = 15.0
JOINTS = ('joint1', 'joint2', 'joint3')
TASK_LAYOUT = ('goal_x', 'goal_y', 'obstacle_x', 'obstacle_y', 'obstacle_radius')
STATE = np.array([0.3, -0.5, 0.2])
TASK = np.array([2.0, 0.0, 1.5, 0.0, 0.15])
#: What the probe says the gate executed, for the shadow comparison.
COMMAND = STATE + np.array([0.1, -0.05, 0.0])
FEED_PERIOD_S = 0.02
PLANAR_URDF = ROOT / 'urdf' / 'planar3.urdf'
PANDA_URDF = ROOT / 'urdf' / 'panda.urdf'
#: The planar arm, from its URDF file (the robot every policy node here runs on).
PLANAR = Parameter('urdf_file', value=str(PLANAR_URDF))


def wait_for(predicate: Callable[[], Any], timeout: float = TIMEOUT_S, what: str = '') -> Any:
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout`` s."""
    return poll_until(predicate, timeout, what)


def _spec(joints: tuple[str, ...] = JOINTS, seed: int = 0, state_std: Optional[float] = None,
          image: bool = False, action_scale: float = 1.0) -> PolicySpec:
    """Return a spec with normalization from random data (no training needed)."""
    rng = np.random.default_rng(seed)
    obs = rng.normal(size=(200, len(joints) + len(TASK_LAYOUT)))
    state_norm = Normalizer.fit(obs)
    if state_std is not None:
        state_norm = Normalizer(state_norm.mean, (state_std,) * len(state_norm.mean))
    rel = rng.normal(0.0, 0.05, (200, len(joints))) * action_scale
    return PolicySpec(joints, TASK_LAYOUT, state_norm, Normalizer.fit(rel),
                      image_shape=(32, 32, 3) if image else None)


def _export(path: Path, version: str, kind: str = 'mse', seed: int = 0,
            options: Optional[dict] = None, doubt: bool = False, **spec_args: Any) -> str:
    """Export a small untrained policy (with an untrained doubt ensemble); return its path."""
    torch.manual_seed(seed)
    policy = make_policy(kind, _spec(seed=seed, **spec_args),
                         {'hidden': (16, 16), **(options or {})}).eval()
    if doubt:  # random members already disagree more the farther the input is
        policy.attach_doubt(DoubtEnsemble(policy.spec, DoubtConfig(hidden=(16,)), seed=seed))
    return str(export_policy(policy, path, metadata_extra={'version': version}))


@pytest.fixture(scope='module')
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """
    Return the test models, every one listed in its folder's manifest as a trainer lists them.

    Two good models, corrupt and foreign ones, one that NaNs away from its mean, one
    with actions a million times too large; 'outside' is a good model (listed) in a
    folder the node does not allow, 'dir' the allowed folder.
    """
    out = tmp_path_factory.mktemp('policy_models')
    garbage = out / 'garbage.onnx'
    garbage.write_bytes(np.random.default_rng(0).bytes(2048))
    elsewhere = tmp_path_factory.mktemp('not_allowed')
    paths = {
        'v1': _export(out / 'v1.onnx', 'v1', seed=1),
        'v2': _export(out / 'v2.onnx', 'v2', seed=2),
        'four': _export(out / 'four.onnx', 'four', joints=('joint1', 'joint2', 'joint3', 'j4')),
        # A std below float32's normal range: finite at the training mean (what the
        # validation runs), (x - mean) / std overflows to Inf, then NaN, anywhere else.
        'nan': _export(out / 'nan.onnx', 'nan', state_std=1e-40),
        'image': _export(out / 'image.onnx', 'img-1', image=True),
        'diffusion': _export(out / 'diffusion.onnx', 'diff-1', kind='diffusion',
                             options={'horizon': 4, 'execute': 4, 'train_steps': 10,
                                      'sample_steps': 2}),
        'garbage': str(garbage),
        'doubt': _export(out / 'doubt.onnx', 'doubt-1', seed=3, doubt=True),
        'risk': _export(out / 'risk.onnx', 'risk-1', seed=5, doubt=True),
        'scaled': _export(out / 'scaled.onnx', 'scaled', seed=4, action_scale=1e6),
        'outside': _export(elsewhere / 'v9.onnx', 'v9', seed=9),
    }
    # An untrained risk network: any finite probability will do for the wiring.
    width = len(JOINTS) + len(TASK_LAYOUT)
    attach_risk(paths['risk'], RiskNet(None, np.zeros(width), np.ones(width), (8,), seed=5),
                {'held_out_auc': float('nan')})
    for path in paths.values():
        record_model(Path(path))
    return {**paths, 'dir': str(out)}


def expected_action(path: str) -> np.ndarray:
    """Return what the model at ``path`` outputs for the probe's observation."""
    return OnnxPolicy(path).act(STATE, TASK)


class Probe(Node):
    """The policy node's surroundings: feeds inputs, sends models, records what comes out."""

    def __init__(self, context: Context, namespace: str = '') -> None:
        super().__init__('policy_probe', context=context, namespace=namespace)
        self.lock = threading.Lock()
        #: Header stamp (ns) each action names through its padding; -1 for none.
        self.stamps: list[int] = []
        self.feed = False
        self.feed_image = False
        self.feed_command = False
        self.actions: list[tuple[float, np.ndarray]] = []
        self.versions: list[str] = []
        self.statuses: list[dict] = []
        self.shadow_errors: list[float] = []
        self.diagnostics: list[DiagnosticArray] = []
        self.uncertainties: list[float] = []
        self.risks: list[float] = []
        self.state, self.task = STATE, TASK
        self._joint_pub = self.create_publisher(type(joint_state_msg(JOINTS, STATE)),
                                                'joint_states', STATE_QOS)
        self._task_pub = self.create_publisher(Float64MultiArray, 'imitation/task', STATE_QOS)
        self._image_pub = self.create_publisher(type(image_msg(np.zeros((2, 2, 3), np.uint8))),
                                                'camera/image_raw', IMAGE_PUB_QOS)
        self._command_pub = self.create_publisher(Float64MultiArray,
                                                  'forward_position_controller/commands',
                                                  COMMAND_QOS)
        self.model_pub = self.create_publisher(String, 'imitation/model', MODEL_QOS)
        self.shadow_pub = self.create_publisher(String, 'imitation/shadow_model', MODEL_QOS)
        self.intervention_pub = self.create_publisher(Bool, 'imitation/intervention',
                                                      STATE_QOS)
        self.episode_pub = self.create_publisher(String, 'imitation/episode', EPISODE_QOS)
        self.create_subscription(Float64MultiArray, 'imitation/policy_action', self._on_action,
                                 STATE_QOS)
        self.create_subscription(String, 'imitation/model_version', self._on_version,
                                 MODEL_QOS)
        self.create_subscription(String, 'imitation/policy_status', self._on_status,
                                 STATUS_QOS)
        self.create_subscription(Float64, 'imitation/shadow_error', self._on_shadow, STATE_QOS)
        self.create_subscription(Float64, 'imitation/uncertainty', self._on_uncertainty,
                                 STATE_QOS)
        self.create_subscription(Float64, 'imitation/risk', self._on_risk, STATE_QOS)
        self.create_subscription(DiagnosticArray, '/diagnostics', self._on_diag, 10)
        self.create_timer(FEED_PERIOD_S, self._on_feed)

    def _on_feed(self) -> None:
        stamp = self.get_clock().now().to_msg()
        if self.feed:
            self._joint_pub.publish(joint_state_msg(JOINTS, self.state, stamp=stamp))
            self._task_pub.publish(array_msg(self.task))
        if self.feed_image:
            rgb = np.full((32, 32, 3), 90, np.uint8)
            self._image_pub.publish(image_msg(rgb, stamp, 'camera'))
        if self.feed_command:
            self._command_pub.publish(array_msg(COMMAND))

    def _on_action(self, msg: Float64MultiArray) -> None:
        stamp = -1
        if msg.layout.data_offset == 2:
            stamp = int(msg.data[0]) * 1_000_000_000 + int(msg.data[1])
        with self.lock:
            self.actions.append((time.monotonic(), array_from_msg(msg, 3)))
            self.stamps.append(stamp)

    def send_state(self, node: PolicyNode, stamp_ns: int) -> None:
        """Publish the task, wait until ``node`` has it, then one joint state (0: unstamped)."""
        before = node._task.at
        self._task_pub.publish(array_msg(self.task))
        # Topics arrive independently: a state before its task would find the task stale.
        wait_for(lambda: node._task.at != before, what='the task at the node')
        stamp = Time(sec=stamp_ns // 1_000_000_000, nanosec=stamp_ns % 1_000_000_000)
        self._joint_pub.publish(joint_state_msg(JOINTS, self.state, stamp=stamp))

    def _on_version(self, msg: String) -> None:
        with self.lock:
            self.versions.append(msg.data)

    def _on_status(self, msg: String) -> None:
        with self.lock:
            self.statuses.append(json.loads(msg.data))

    def _on_shadow(self, msg: Float64) -> None:
        with self.lock:
            self.shadow_errors.append(msg.data)

    def _on_uncertainty(self, msg: Float64) -> None:
        with self.lock:
            self.uncertainties.append(msg.data)

    def _on_risk(self, msg: Float64) -> None:
        with self.lock:
            self.risks.append(msg.data)

    def _on_diag(self, msg: DiagnosticArray) -> None:
        with self.lock:
            self.diagnostics.append(msg)

    def n_actions(self) -> int:
        """Return how many actions arrived so far."""
        with self.lock:
            return len(self.actions)

    def actions_since(self, index: int) -> list[np.ndarray]:
        """Return the actions received after the first ``index``."""
        with self.lock:
            return [a for _, a in self.actions[index:]]

    def status(self, event: str, path: str, since: int = 0) -> Optional[dict]:
        """Return the first ``event`` status for ``path`` after the first ``since``, or None."""
        with self.lock:
            for s in self.statuses[since:]:
                if s['event'] == event and s['path'] == path:
                    return s
        return None

    def diag(self, suffix: str, predicate: Callable[[DiagnosticStatus], bool],
             since: int = 0) -> Optional[DiagnosticStatus]:
        """Return the first status named 'policy: <suffix>' matching ``predicate``, or None."""
        with self.lock:
            arrays = list(self.diagnostics[since:])
        for array in arrays:
            for status in array.status:
                if status.name == f'policy: {suffix}' and predicate(status):
                    return status
        return None

    def load(self, path: str, version: str) -> None:
        """Send ``path`` on imitation/model; wait until it is active and acting."""
        with self.lock:
            n_status = len(self.statuses)
        self.model_pub.publish(String(data=path))
        wait_for(lambda: self.status('loaded', path, n_status), what=f'{version} loaded')
        wait_for(lambda: self.versions and self.versions[-1] == version,
                 what=f'model_version {version}')


@pytest.fixture(scope='module')
def harness(ros: Context, models: dict[str, str]) -> tuple[PolicyNode, Probe]:
    """Spin the policy node (starting on v1) and a probe with one executor in a thread."""
    overrides = [Parameter('model_path', value=models['v1']),
                 Parameter('model_dirs', value=models['dir']), PLANAR,
                 # Few, so a test can replace them all by feeding one state for a second.
                 Parameter('candidate_observations', value=20)]
    node = PolicyNode(context=ros, parameter_overrides=overrides)
    probe = Probe(ros)
    spinner = Spinner(ros, node, probe)
    yield node, probe
    spinner.close()


def _values(status: DiagnosticStatus) -> dict[str, str]:
    return {kv.key: kv.value for kv in status.values}


def _acting(probe: Probe, action: np.ndarray) -> None:
    """Wait until the node publishes ``action``."""
    def check() -> bool:
        with probe.lock:
            return bool(probe.actions) and np.allclose(probe.actions[-1][1], action, atol=1e-6)
    wait_for(check, what=f'the action {action}')


def test_stale_inputs_publish_nothing_and_warn(harness: tuple[PolicyNode, Probe]) -> None:
    """With no joint state or task the model loads but no action goes out; diagnostics WARN."""
    node, probe = harness
    wait_for(lambda: probe.versions and probe.versions[-1] == 'v1', what='v1 at start-up')
    status = wait_for(lambda: probe.diag('control', lambda s: 'joint_states never' in s.message),
                      what='a stale-input warning')
    assert diagnostic_level(status) == 1 and 'imitation/task never received' in status.message
    assert _values(status)['joint_states_age_s'] == 'never'
    wait_for(lambda: node._ticks >= 5, what='a few ticks')
    assert probe.n_actions() == 0


def test_fresh_inputs_give_actions_and_an_ok_diagnostic(harness: tuple[PolicyNode, Probe],
                                                        models: dict[str, str]) -> None:
    """Fresh inputs: v1's action for the observation, and an OK diagnostic."""
    node, probe = harness
    probe.feed = True
    want = expected_action(models['v1'])
    _acting(probe, want)
    start = probe.n_actions()
    wait_for(lambda: probe.n_actions() >= start + 20, what='20 more actions')
    assert all(np.allclose(a, want, atol=1e-6) for a in probe.actions_since(start))
    status = wait_for(lambda: probe.diag('control', lambda s: diagnostic_level(s) == 0),
                      what='an OK control diagnostic')
    assert 'v1' in status.message


def test_one_action_per_joint_state_naming_its_stamp(harness: tuple[PolicyNode, Probe],
                                                     models: dict[str, str]) -> None:
    """With trigger joint_states each new state gets exactly one action, padded with its stamp."""
    node, probe = harness
    assert node.params.trigger == 'joint_states'
    probe.feed = False
    probe.load(models['v1'], 'v1')
    time.sleep(0.3)  # actions of the fed states still on their way
    start = probe.n_actions()
    stamps = [1_700_000_000_000_000_000 + k * 1_000_003 for k in range(1, 31)]
    for k, stamp in enumerate(stamps):
        # One state at a time: the next goes out once this one's action came back.
        probe.send_state(node, stamp)
        wait_for(lambda: probe.n_actions() >= start + k + 1, what=f'the action of state {k}')
    time.sleep(0.5)  # several timer periods (20 Hz): a timer would repeat actions here
    with probe.lock:
        got = probe.stamps[start:]
        actions = [a for _, a in probe.actions[start:]]
    assert got == stamps
    want = expected_action(models['v1'])
    assert all(np.allclose(a, want, atol=1e-6) for a in actions)


def test_unstamped_joint_state_gives_an_action_without_padding(
        harness: tuple[PolicyNode, Probe], models: dict[str, str]) -> None:
    """A joint state stamped 0 names no state: the action has data_offset 0 and n values."""
    node, probe = harness
    probe.feed = False
    probe.load(models['v1'], 'v1')
    time.sleep(0.3)
    start = probe.n_actions()
    probe.send_state(node, 0)
    wait_for(lambda: probe.n_actions() > start, what='the action of the unstamped state')
    with probe.lock:
        assert probe.stamps[start] == -1
        assert np.allclose(probe.actions[start][1], expected_action(models['v1']), atol=1e-6)


def test_timer_trigger_acts_at_the_rate_and_repeats(ros: Context,
                                                    models: dict[str, str]) -> None:
    """With trigger timer: actions at rate_hz whatever the states; a repeat names its state."""
    node = PolicyNode(context=ros, namespace='timer', parameter_overrides=[
        Parameter('model_path', value=models['v1']), Parameter('model_dirs', value=models['dir']),
        Parameter('trigger', value='timer'), PLANAR])
    probe = Probe(ros, namespace='timer')
    spinner = Spinner(ros, node, probe)
    try:
        probe.feed = True
        want = expected_action(models['v1'])
        _acting(probe, want)
        start = probe.n_actions()
        # The rate itself is measured by `imitation-ros benchmark loop`, not asserted here.
        wait_for(lambda: probe.n_actions() >= start + 41, what='41 more actions')
        probe.feed = False
        stamp = 1_700_000_000_123_456_789
        probe.send_state(node, stamp)
        # The timer (20 Hz) repeats the action of the one state until its inputs go stale.
        wait_for(lambda: probe.stamps.count(stamp) >= 2, what='a repeated action of the state')
    finally:
        spinner.close()


def test_inputs_going_stale_stop_the_actions(harness: tuple[PolicyNode, Probe]) -> None:
    """When joint states and the task stop, actions stop within obs_timeout_s; WARN with age."""
    node, probe = harness
    probe.feed = True
    count = probe.n_actions()
    # Long enough that the first state (perhaps before its task) is not the last report.
    wait_for(lambda: probe.n_actions() > count + 30, what='actions')
    with probe.lock:
        n_diag = len(probe.diagnostics)
    probe.feed = False
    stopped = time.monotonic()
    status = wait_for(lambda: probe.diag('control', lambda s: 'joint_states 0.' in s.message
                                         and diagnostic_level(s) == 1, n_diag),
                      what='a stale warning with the age')
    assert 's old (> 0.25 s)' in status.message
    with probe.lock:
        last = probe.actions[-1][0]
    # Generous slack over obs_timeout_s for a loaded machine; a stale loop would go on forever.
    assert last - stopped < node.params.obs_timeout_s + 1.0
    count = probe.n_actions()
    time.sleep(0.5)
    assert probe.n_actions() == count, 'actions kept coming from stale inputs'
    probe.feed = True
    wait_for(lambda: probe.n_actions() > count, what='actions again once inputs are fresh')


def test_hot_reload_changes_version_and_actions(harness: tuple[PolicyNode, Probe],
                                                models: dict[str, str]) -> None:
    """A path on imitation/model swaps in v2: new model_version, 'loaded' status, v2's actions."""
    node, probe = harness
    probe.feed = True
    probe.load(models['v1'], 'v1')
    _acting(probe, expected_action(models['v1']))
    probe.load(models['v2'], 'v2')
    status = probe.status('loaded', models['v2'])
    assert status['version'] == 'v2' and status['role'] == 'active'
    assert status['previous_version'] == 'v1' and status['reason'] == ''
    _acting(probe, expected_action(models['v2']))
    assert node.slot.version == 'v2'


@pytest.mark.parametrize('name, words', [('garbage', 'not a loadable ONNX model'),
                                         ('four', 'trained for joints')])
def test_bad_model_is_rejected_old_keeps_publishing(harness: tuple[PolicyNode, Probe],
                                                    models: dict[str, str], name: str,
                                                    words: str) -> None:
    """Random bytes or a 4-joint model: 'rejected' with the reason, ERROR, v2 keeps acting."""
    _, probe = harness
    probe.feed = True
    probe.load(models['v2'], 'v2')
    with probe.lock:
        n_status, n_diag, n_versions = (len(probe.statuses), len(probe.diagnostics),
                                        len(probe.versions))
    probe.model_pub.publish(String(data=models[name]))
    status = wait_for(lambda: probe.status('rejected', models[name], n_status),
                      what='the rejection')
    assert words in status['reason'] and status['active_version'] == 'v2'
    diag = wait_for(lambda: probe.diag('model', lambda s: diagnostic_level(s) == 2, n_diag),
                    what='an ERROR diagnostic')
    assert words in diag.message and 'v2 keeps running' in diag.message
    count = probe.n_actions()
    wait_for(lambda: probe.n_actions() >= count + 5, what='actions after the rejection')
    want = expected_action(models['v2'])
    assert all(np.allclose(a, want, atol=1e-6) for a in probe.actions_since(count))
    assert len(probe.versions) == n_versions and probe.versions[-1] == 'v2'


def _reject(probe: Probe, path: str) -> dict:
    """Send ``path`` on imitation/model and return the node's rejection status."""
    with probe.lock:
        n_status = len(probe.statuses)
    probe.model_pub.publish(String(data=path))
    return wait_for(lambda: probe.status('rejected', path, n_status), what=f'{path} rejected')


def _observing(node: PolicyNode, state: np.ndarray, task: np.ndarray) -> None:
    """Wait until every observation the node keeps for checking models is (state, task)."""
    def only() -> bool:
        kept = node.recorded_observations()
        return len(kept) == node.params.candidate_observations and all(
            np.allclose(q, state) and np.allclose(t, task) for q, t, _ in kept)
    wait_for(only, what=f'the recorded observations to be {state}')


def test_model_nan_on_recent_observations_is_refused(harness: tuple[PolicyNode, Probe],
                                                     models: dict[str, str]) -> None:
    """A model finite only at its training mean is refused on the observations the node saw."""
    node, probe = harness
    probe.feed = True
    probe.load(models['v1'], 'v1')
    _observing(node, STATE, TASK)
    status = _reject(probe, models['nan'])
    assert 'NaN' in status['reason'] and 'recorded observations' in status['reason']
    assert status['active_version'] == 'v1' and node.slot.version == 'v1'


def test_nan_action_publishes_nothing_then_recovers(harness: tuple[PolicyNode, Probe],
                                                    models: dict[str, str]) -> None:
    """A model that NaNs on a new state publishes nothing (ERROR); reloading v1 recovers."""
    node, probe = harness
    observation = json.loads(OnnxPolicy(models['nan']).metadata['observation'])
    mean = np.asarray(observation['normalization']['mean'])
    probe.feed = True
    try:
        # Observed only at its training mean, the model passes every check.
        probe.state, probe.task = mean[:3], mean[3:]
        _observing(node, mean[:3], mean[3:])
        with probe.lock:
            n_diag = len(probe.diagnostics)
        probe.load(models['nan'], 'nan')
        probe.state, probe.task = STATE, TASK
        wait_for(lambda: node._errors >= 3, what='failing ticks')
        count = probe.n_actions()
        errors = node._errors
        wait_for(lambda: node._errors >= errors + 3, what='more failing ticks')
        assert probe.n_actions() == count, 'an action was published from a NaN model'
        status = wait_for(lambda: probe.diag('control', lambda s: diagnostic_level(s) == 2,
                                             n_diag), what='an ERROR control diagnostic')
        assert 'NaN' in status.message
    finally:
        probe.state, probe.task = STATE, TASK
    probe.load(models['v1'], 'v1')
    _acting(probe, expected_action(models['v1']))


def test_paths_outside_the_model_dirs_get_one_answer(harness: tuple[PolicyNode, Probe],
                                                     models: dict[str, str]) -> None:
    """A valid listed model outside model_dirs, a missing file, '..': one refusal; v1 drives."""
    node, probe = harness
    probe.feed = True
    probe.load(models['v1'], 'v1')
    outside = models['outside']
    missing = str(Path(outside).with_name('missing.onnx'))
    dotdot = f'{models["dir"]}/../{Path(outside).parent.name}/v9.onnx'
    for path in (outside, missing, dotdot, '/etc/passwd'):
        assert _reject(probe, path)['reason'] == f'{path}: {OUTSIDE}'
    count = probe.n_actions()
    wait_for(lambda: probe.n_actions() >= count + 3, what='actions after the refusals')
    want = expected_action(models['v1'])
    assert all(np.allclose(a, want, atol=1e-6) for a in probe.actions_since(count))
    assert node.slot.version == 'v1'


def test_unlisted_changed_and_wild_models_are_refused(harness: tuple[PolicyNode, Probe],
                                                      models: dict[str, str]) -> None:
    """In model_dirs: unlisted, changed after listing, or actions past the limits: refused."""
    node, probe = harness
    probe.feed = True
    probe.load(models['v1'], 'v1')
    folder = Path(models['dir'])
    unlisted = folder / 'unlisted.onnx'
    unlisted.write_bytes(Path(models['v2']).read_bytes())
    assert 'not listed in' in _reject(probe, str(unlisted))['reason']
    changed = folder / 'changed.onnx'
    changed.write_bytes(Path(models['v2']).read_bytes())
    record_model(changed, version='v2')
    data = bytearray(changed.read_bytes())
    data[-1] ^= 0xFF
    changed.write_bytes(bytes(data))
    assert 'differs from the one listed' in _reject(probe, str(changed))['reason']
    status = _reject(probe, models['scaled'])
    assert 'leave the joint limits' in status['reason']
    assert status['active_version'] == 'v1' and node.slot.version == 'v1'


def test_image_model_needs_fresh_images(harness: tuple[PolicyNode, Probe],
                                        models: dict[str, str]) -> None:
    """An image model subscribes to camera/image_raw and acts only while frames are fresh."""
    node, probe = harness
    probe.feed = True
    with probe.lock:
        n_diag = len(probe.diagnostics)
    probe.load(models['image'], 'img-1')
    wait_for(lambda: probe.diag('control', lambda s: 'camera/image_raw never' in s.message,
                                n_diag), what='a missing-image warning')
    count = probe.n_actions()
    probe.feed_image = True
    try:
        wait_for(lambda: probe.n_actions() >= count + 3, what='image policy actions')
        want = OnnxPolicy(models['image']).act(STATE, TASK, np.full((32, 32, 3), 90, np.uint8))
        _acting(probe, want)
    finally:
        probe.feed_image = False
    probe.load(models['v1'], 'v1')


def test_queue_reset_on_takeover_end_and_episode_start(harness: tuple[PolicyNode, Probe],
                                                       models: dict[str, str]) -> None:
    """The chunk queue is dropped when control returns from the human and at a new episode."""
    node, probe = harness
    probe.feed = True
    probe.load(models['diffusion'], 'diff-1')
    wait_for(lambda: node.slot.active.pending > 0, what='a partly executed chunk')
    resets = node._queue_resets
    probe.intervention_pub.publish(Bool(data=True))
    time.sleep(0.2)  # the takeover itself resets nothing
    assert node._queue_resets == resets
    probe.intervention_pub.publish(Bool(data=False))
    wait_for(lambda: node._queue_resets == resets + 1, what='a reset at the hand-back')
    episode = json.dumps({'event': 'start', 'episode': 4242})
    probe.episode_pub.publish(String(data=episode))
    wait_for(lambda: node._queue_resets == resets + 2, what='a reset at the episode start')
    probe.episode_pub.publish(String(data=episode))  # a repeat of the same episode
    probe.episode_pub.publish(String(data=json.dumps({'event': 'end', 'episode': 4242})))
    probe.episode_pub.publish(String(data='not json'))
    wait_for(lambda: node._episode == 4242, what='the episode number')
    time.sleep(0.2)
    assert node._queue_resets == resets + 2
    probe.load(models['v1'], 'v1')


def test_shadow_error_is_published(harness: tuple[PolicyNode, Probe],
                                   models: dict[str, str]) -> None:
    """A shadow candidate is compared with the executed command and never actuates."""
    node, probe = harness
    probe.feed = True
    probe.load(models['v1'], 'v1')
    probe.feed_command = True
    try:
        with probe.lock:
            n_status = len(probe.statuses)
        probe.shadow_pub.publish(String(data=models['v2']))
        status = wait_for(lambda: probe.status('loaded', models['v2'], n_status),
                          what='the shadow loaded')
        assert status['role'] == 'shadow' and status['active_version'] == 'v1'
        assert probe.versions[-1] == 'v1', 'the shadow must not change the model version'
        want = float(np.max(np.abs(expected_action(models['v2']) - COMMAND)))
        wait_for(lambda: len(probe.shadow_errors) >= 5, what='shadow errors')
        assert probe.shadow_errors[-1] == pytest.approx(want, abs=1e-6)
        diag = wait_for(lambda: probe.diag('shadow', lambda s: 'mean' in s.message),
                        what='a shadow summary')
        values = _values(diag)
        assert float(values['mean_rad']) == pytest.approx(want, rel=1e-3)
        assert float(values['p95_rad']) == pytest.approx(want, rel=1e-3)
        assert values['version'] == 'v2'
        count = probe.n_actions()
        wait_for(lambda: probe.n_actions() >= count + 3, what='actions with a shadow')
        v1 = expected_action(models['v1'])
        assert all(np.allclose(a, v1, atol=1e-6) for a in probe.actions_since(count))
        probe.shadow_pub.publish(String(data=''))
        wait_for(lambda: node.shadow_slot.active is None, what='shadow mode off')
    finally:
        probe.feed_command = False


def test_uncertainty_is_published_and_rises_far_from_the_data(
        harness: tuple[PolicyNode, Probe], models: dict[str, str]) -> None:
    """A doubt model publishes imitation/uncertainty per action; a far state gives more doubt."""
    node, probe = harness
    probe.feed = True
    probe.load(models['v1'], 'v1')  # no doubt output: nothing on imitation/uncertainty
    with probe.lock:
        n_diag = len(probe.diagnostics)
    diag = wait_for(lambda: probe.diag('model', lambda s: 'v1' in s.message, n_diag),
                    what='a model diagnostic for v1')
    assert 'unavailable' in _values(diag)['uncertainty']
    count = len(probe.uncertainties)
    time.sleep(0.3)
    assert len(probe.uncertainties) == count, 'a model without doubt published uncertainty'
    probe.load(models['doubt'], 'doubt-1')
    runtime = OnnxPolicy(models['doubt'])
    familiar = runtime.doubt_batch(STATE[None], TASK[None])[0]
    wait_for(lambda: len(probe.uncertainties) >= count + 5, what='uncertainty messages')
    assert probe.uncertainties[-1] == pytest.approx(familiar, rel=1e-5)
    far_state, far_task = np.array([2.5, -2.5, 2.5]), TASK * 10.0
    far = runtime.doubt_batch(far_state[None], far_task[None])[0]
    assert far > 5.0 * familiar
    try:
        probe.state, probe.task = far_state, far_task
        wait_for(lambda: probe.uncertainties[-1] == pytest.approx(far, rel=1e-5),
                 what='the far state\'s uncertainty')
    finally:
        probe.state, probe.task = STATE, TASK
    with probe.lock:
        n_diag = len(probe.diagnostics)
    diag = wait_for(lambda: probe.diag('model', lambda s: 'doubt-1' in s.message, n_diag),
                    what='a model diagnostic for doubt-1')
    assert _values(diag)['uncertainty'] == 'published on imitation/uncertainty'
    probe.load(models['v1'], 'v1')


def test_risk_is_published_only_by_a_model_with_a_risk_output(
        harness: tuple[PolicyNode, Probe], models: dict[str, str]) -> None:
    """A risk model publishes imitation/risk per action (its value); an old one publishes none."""
    node, probe = harness
    probe.feed = True
    probe.load(models['v1'], 'v1')
    with probe.lock:
        n_diag = len(probe.diagnostics)
    diag = wait_for(lambda: probe.diag('model', lambda s: 'v1' in s.message, n_diag),
                    what='a model diagnostic for v1')
    assert 'unavailable' in _values(diag)['risk']
    count = len(probe.risks)
    time.sleep(0.3)
    assert len(probe.risks) == count, 'a model without a risk output published risk'
    probe.load(models['risk'], 'risk-1')
    expected = OnnxPolicy(models['risk']).risk_batch(STATE[None], TASK[None])[0]
    assert 0.0 <= expected <= 1.0
    wait_for(lambda: len(probe.risks) >= count + 5, what='risk messages')
    assert probe.risks[-1] == pytest.approx(expected, rel=1e-5)
    with probe.lock:
        n_diag = len(probe.diagnostics)
    diag = wait_for(lambda: probe.diag('model', lambda s: 'risk-1' in s.message, n_diag),
                    what='a model diagnostic for risk-1')
    assert _values(diag)['risk'] == 'published on imitation/risk'
    probe.load(models['v1'], 'v1')


@pytest.mark.parametrize('trusted', [True, False])
def test_shipped_model_starts_from_the_package_models_folder(
        ros: Context, models: dict[str, str], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch, trusted: bool) -> None:
    """A listed model in the package's models folder is a start model unless that is off."""
    import imitation_ros.nodes.policy_node as policy_node
    shipped = tmp_path / 'share' / 'models' / 'shipped.onnx'
    shipped.parent.mkdir(parents=True)
    shipped.write_bytes(Path(models['v1']).read_bytes())
    record_model(shipped, version='v1')
    monkeypatch.setattr(policy_node, 'package_models_dir', lambda: shipped.parent)
    # Its own namespace: the module's probe does not talk to it.
    node = PolicyNode(context=ros, namespace='shipped', parameter_overrides=[
        Parameter('model_path', value=str(shipped)),
        Parameter('model_dirs', value=str(tmp_path / 'trainer_models')),
        Parameter('trust_package_models', value=trusted), PLANAR])
    spinner = Spinner(ros, node)
    try:
        assert (str(shipped.parent) in node.trust.directories) == trusted
        assert node.slot.wait_idle(TIMEOUT_S)
        wait_for(lambda: not node.slot.busy, what='the start model swapped or rejected')
        assert node.slot.version == ('v1' if trusted else '')
        if not trusted:
            assert OUTSIDE in node._last_rejection
    finally:
        spinner.close()  # destroys the node too


def test_package_models_folder_is_the_source_trees_here() -> None:
    """Run from the source tree, the package's models folder is its models/."""
    from imitation_ros.nodes.policy_node import package_models_dir
    assert package_models_dir() == ROOT / 'models'


def test_bad_parameter_exits_with_code_1(ros: Context) -> None:
    """main() logs and returns 1 for an out-of-range, mistyped or unknown-choice parameter."""
    assert main(['--ros-args', '-p', 'rate_hz:=0.0']) == 1
    assert main(['--ros-args', '-p', 'rate_hz:=20']) == 1
    assert main(['--ros-args', '-p', 'providers:=[gpu]']) == 1
    assert main(['--ros-args', '-p', 'mode:=best']) == 1
    assert main(['--ros-args', '-p', "model_dirs:=''", '-p', 'trust_package_models:=false']) == 1


def test_yaml_defaults_equal_code_defaults() -> None:
    """config/policy.yaml holds exactly the code defaults, every key commented."""
    text = (ROOT / 'config' / 'policy.yaml').read_text(encoding='utf-8')
    data = yaml.safe_load(text)
    assert data['policy']['ros__parameters'] == defaults(PolicyParams)
    for key in defaults(PolicyParams):
        line = next(ln for ln in text.splitlines() if ln.strip().startswith(f'{key}:'))
        assert '#' in line, f'{key} has no comment with its unit'


#: The Panda's arm joints (the policy's) and its fingers (in /joint_states, not the policy's).
PANDA_ARM = tuple(f'panda_joint{i}' for i in range(1, 8))
PANDA_FINGERS = ('panda_finger_joint1', 'panda_finger_joint2')
PANDA_TASK = ('goal_x', 'goal_y', 'goal_z', 'pole_x', 'pole_y', 'pole_radius', 'pole_height')


def test_policy_node_runs_a_seven_joint_arm_and_refuses_a_model_of_another(
        ros: Context, models: dict[str, str], tmp_path: Path) -> None:
    """On the Panda's URDF chain (7 joints, picked by name from 9); a planar model refused."""
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    spec = PolicySpec(PANDA_ARM, PANDA_TASK, Normalizer.fit(rng.normal(size=(200, 14))),
                      Normalizer.fit(rng.normal(0.0, 0.05, (200, 7))))
    path = str(export_policy(make_policy('mse', spec, {'hidden': (16, 16)}).eval(),
                             tmp_path / 'panda.onnx', metadata_extra={'version': 'panda-1'}))
    record_model(Path(path))
    q = np.array([0.0, -0.5, 0.1, -2.0, 0.05, 1.6, 0.8])
    task = np.array([0.5, 0.2, 0.3, 0.45, 0.0, 0.04, 0.5])
    want = OnnxPolicy(path).act(q, task)
    node = PolicyNode(context=ros, namespace='panda', parameter_overrides=[
        Parameter('model_path', value=path),
        Parameter('model_dirs', value=f"{tmp_path}:{models['dir']}"),
        Parameter('urdf_file', value=str(PANDA_URDF)),
        Parameter('base_link', value='panda_link0'),
        Parameter('tip_link', value='panda_hand_tcp')])
    probe = Node('panda_probe', context=ros, namespace='panda')
    got: list[np.ndarray] = []
    statuses: list[dict] = []
    probe.create_subscription(Float64MultiArray, 'imitation/policy_action',
                              lambda m: got.append(array_from_msg(m, 7)), STATE_QOS)
    probe.create_subscription(String, 'imitation/policy_status',
                              lambda m: statuses.append(json.loads(m.data)), STATUS_QOS)
    joints = probe.create_publisher(type(joint_state_msg(PANDA_ARM, q)), 'joint_states',
                                    STATE_QOS)
    tasks = probe.create_publisher(Float64MultiArray, 'imitation/task', STATE_QOS)
    models_pub = probe.create_publisher(String, 'imitation/model', MODEL_QOS)
    # Fingers first and the arm reversed: the node must pick its joints by name.
    names = PANDA_FINGERS + PANDA_ARM[::-1]
    positions = np.concatenate([[0.04, 0.04], q[::-1]])

    def feed() -> None:
        tasks.publish(array_msg(task))
        joints.publish(joint_state_msg(names, positions, stamp=probe.get_clock().now().to_msg()))

    probe.create_timer(FEED_PERIOD_S, feed)
    spinner = Spinner(ros, node, probe)
    try:
        wait_for(lambda: got and np.allclose(got[-1], want, atol=1e-6),
                 what='the 7-joint action')
        assert node.robot.joint_names == PANDA_ARM
        # A model of the planar arm names other joints: refused, the Panda's keeps acting.
        models_pub.publish(String(data=models['v1']))
        refused = wait_for(lambda: next((s for s in statuses if s['path'] == models['v1']
                                         and s['event'] != 'loaded'), None),
                           what='the planar model refused')
        assert 'joint' in json.dumps(refused).lower(), refused
        n = len(got)
        wait_for(lambda: len(got) >= n + 5, what='more actions after the refusal')
        assert np.allclose(got[-1], want, atol=1e-6)
    finally:
        spinner.close()


# --- the robot from its URDF ------------------------------------------------------------


def _description_source(ros: Context, namespace: str) -> tuple[Node, Any]:
    """Return a node publishing on ``namespace``'s robot_description as robot_state_publisher."""
    source = Node('robot_state_publisher', context=ros, namespace=namespace)
    return source, source.create_publisher(String, 'robot_description', ROBOT_DESCRIPTION_QOS)


def test_robot_description_from_the_transient_local_topic(
        ros: Context, models: dict[str, str]) -> None:
    """Without parameters the node waits for the topic, says so, and loads its model after it."""
    node = PolicyNode(context=ros, namespace='described', parameter_overrides=[
        Parameter('model_path', value=models['v1']), Parameter('model_dirs', value=models['dir'])])
    probe = Probe(ros, namespace='described')
    source, description = _description_source(ros, 'described')
    spinner = Spinner(ros, node, probe, source)
    try:
        status = wait_for(lambda: probe.diag('control', lambda s: 'waiting for the robot '
                                             'description' in s.message),
                          what='a diagnostic of the waiting node')
        assert diagnostic_level(status) == 2
        assert '/described/robot_description' in status.message
        assert node.robot is None and node.slot.version == '' and not node.slot.busy
        description.publish(String(data=PLANAR_URDF.read_text(encoding='utf-8')))
        wait_for(lambda: probe.versions and probe.versions[-1] == 'v1', what='v1 loaded')
        assert node.robot.joint_names == JOINTS
        probe.feed = True
        _acting(probe, expected_action(models['v1']))
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
    (['urdf_file:=/no/such/robot.urdf'], 'cannot read urdf_file'),
    ([f'urdf_file:={PANDA_URDF}'], 'tip_link'),
    ([f'urdf_file:={PANDA_URDF}', 'tip_link:=gripper'], "'gripper' is not a link"),
    ([f'urdf_file:={PLANAR_URDF}', f'robot_description:={"<robot/>"}'], 'both set'),
])
def test_a_wrong_robot_description_exits_1_at_start_up(
        ros: Context, capfd: pytest.CaptureFixture, params: list, says: str) -> None:
    """An unreadable or unparsable URDF, or links that are not a chain of it: exit 1."""
    args = ['--ros-args']
    for item in params:
        args += ['-p', item]
    assert main(args) == 1
    assert says in capfd.readouterr().err


def test_a_wrong_robot_description_on_the_topic_exits_1(
        ros: Context, capfd: pytest.CaptureFixture) -> None:
    """An unusable URDF from the topic stops the node with exit code 1 and the reason."""
    source, description = _description_source(ros, 'broken')
    description.publish(String(data='<robot name="nothing"><link name="a"/></robot>'))
    spinner = Spinner(ros, source)
    try:
        assert main(['--ros-args', '-r', '__ns:=/broken']) == 1
    finally:
        spinner.close()
    err = capfd.readouterr().err
    assert 'topic /broken/robot_description is unusable' in err
