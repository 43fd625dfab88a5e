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

"""The trainer node over real DDS: retrains on new corrections and publishes validated models."""

from __future__ import annotations

import json
from pathlib import Path
import time
from typing import Any, Callable

from imitation_ros.cli.collect import collect
from imitation_ros.data import EpisodeRecord, write_episode
from imitation_ros.data.dataset import load_dataset
from imitation_ros.nodes.params import defaults
from imitation_ros.nodes.qos import MODEL_QOS
from imitation_ros.nodes.trainer import TrainerNode, TrainerParams
from imitation_ros.runtime.model_trust import ModelTrust, read_manifest
from imitation_ros.runtime.onnx_policy import OnnxPolicy
from imitation_ros.training.jobs import count_training_samples, next_model_path
import numpy as np
import pytest
from rclpy.context import Context
from rclpy.node import Node
from rclpy.parameter import Parameter
from std_msgs.msg import String
from std_srvs.srv import Trigger
import yaml
from ros_harness import Spinner, poll_until, private_domain_id

ROOT = Path(__file__).resolve().parents[1]
DOMAIN_ID = private_domain_id(76)
TIMEOUT_S = 120.0


def wait_for(predicate: Callable[[], Any], timeout: float = TIMEOUT_S, what: str = '') -> Any:
    """Poll predicate until it returns something truthy; fail after timeout s."""
    return poll_until(predicate, timeout, what, period=0.02)


class Probe(Node):
    """Listens to the trainer's model and status topics, calls ~/train."""

    def __init__(self, context: Context) -> None:
        super().__init__('trainer_probe', context=context)
        self.models: list[str] = []
        self.status: list[dict] = []
        self.create_subscription(String, 'imitation/model', self._on_model, MODEL_QOS)
        self.create_subscription(String, 'imitation/trainer_status', self._on_status, 10)
        self.client = self.create_client(Trigger, 'trainer/train')

    def _on_model(self, msg: String) -> None:
        self.models.append(msg.data)

    def _on_status(self, msg: String) -> None:
        self.status.append(json.loads(msg.data))

    def train(self) -> Trigger.Response:
        """Call ~/train and return the response."""
        assert self.client.wait_for_service(timeout_sec=10.0)
        future = self.client.call_async(Trigger.Request())
        return wait_for(lambda: future.result(), 10.0, 'the ~/train response')


def _hg_episode(data_dir: Path, demos: Path, episode: int, human_from: int) -> None:
    """Write an hg_dagger episode whose steps from human_from on are human-controlled."""
    d = load_dataset([demos])
    n = 30
    write_episode(EpisodeRecord(
        joint_names=d.joint_names, t0_ns=1_900_000_000_000_000_000 + episode * 10 ** 10,
        dt=0.05, positions=d.positions[:n + 1], velocities=np.zeros((n + 1, 3)),
        task=d.task[0], actions=d.actions[:n], intervention=np.arange(n) >= human_from,
        episode=episode, success=True, reason='success', source='hg_dagger',
        policy_version='v001'), data_dir / 'hg' / f'ep_{episode:05d}')


@pytest.fixture()
def harness(ros: Context, tmp_path: Path):
    """Run a trainer on a fresh data folder with demonstrations, and a probe."""
    data = tmp_path / 'data'
    collect('multi', 4, data, seed=1, session='demos', camera_every=0, progress=False)
    overrides = {'data_dir': str(data), 'models_dir': str(tmp_path / 'models'),
                 'train_steps': 20, 'min_new_samples': 40, 'check_period_s': 0.2,
                 'policy': 'mse', 'options_json': '{"hidden": [16, 16]}'}
    trainer = TrainerNode(context=ros, parameter_overrides=[
        Parameter(k, value=v) for k, v in overrides.items()])
    probe = Probe(ros)
    spinner = Spinner(ros, trainer, probe)
    yield trainer, probe, data
    spinner.close()


def test_new_corrections_trigger_a_validated_model(harness) -> None:
    """Enough new human-labelled samples start a training whose model is published."""
    trainer, probe, data = harness
    _hg_episode(data, data / 'demos', 0, human_from=10)  # 20 human samples: not yet
    time.sleep(1.0)
    assert not probe.models
    _hg_episode(data, data / 'demos', 1, human_from=5)  # 25 more: 45 >= 40
    path = wait_for(lambda: probe.models, what='a published model')[0]
    policy = OnnxPolicy(path)
    assert policy.version == 'v001' and Path(path).name == 'policy_v001.onnx'
    assert policy.training_data['corrections'] == 45
    # Listed before it was published: a policy node allowing models_dir loads it.
    entry = read_manifest(Path(path).parent)['policy_v001.onnx']
    assert entry['version'] == 'v001'
    trusted = ModelTrust([trainer.params.models_dir]).verify(path)
    assert trusted.sha256 == entry['sha256'] and trusted.data == Path(path).read_bytes()
    states = [s['state'] for s in probe.status]
    assert 'training' in states and states[-1] == 'done'


def test_trigger_trains_and_failure_publishes_nothing(harness, tmp_path: Path) -> None:
    """~/train starts a training; a training that fails reports it and publishes no model."""
    trainer, probe, data = harness
    assert probe.train().success
    wait_for(lambda: probe.models, what='the triggered model')
    assert Path(probe.models[-1]).name == 'policy_v001.onnx'
    # Break the next training: an option the policy kind does not have.
    object.__setattr__(trainer.params, 'options_json', '{"componentz": 3}')
    n_models = len(probe.models)
    assert probe.train().success
    failed = wait_for(lambda: [s for s in probe.status if s['state'] == 'failed'],
                      what='a failed status')
    assert 'componentz' in failed[-1]['message']
    time.sleep(0.5)
    assert len(probe.models) == n_models
    assert not (tmp_path / 'models' / 'policy_v002.onnx').exists()


def test_next_version_warm_starts_from_the_last(harness, tmp_path: Path) -> None:
    """The second version fine-tunes the first (its checkpoint), for warm_start_steps."""
    trainer, probe, data = harness
    object.__setattr__(trainer.params, 'warm_start_steps', 7)
    assert probe.train().success
    wait_for(lambda: len(probe.models) >= 1, what='the first model')
    first = OnnxPolicy(probe.models[0])
    assert first.training_data['init_from'] is None and first.training_data['steps'] == 20
    assert Path(probe.models[0]).with_suffix('.pt').is_file()
    wait_for(lambda: trainer._job is None, 10.0, 'the trainer to be idle')
    assert probe.train().success
    wait_for(lambda: len(probe.models) >= 2, what='the second model')
    second = OnnxPolicy(probe.models[1])
    assert second.version == 'v002' and second.training_data['steps'] == 7
    assert second.training_data['init_from'] == str(Path(probe.models[0]).with_suffix('.pt'))
    starts = [s.get('warm_start') for s in probe.status if s['state'] == 'training'
              and 'warm_start' in s]
    assert starts[0] is False and starts[-1] is True


def test_start_up_sweeps_temporary_files_of_dead_writers(ros: Context, tmp_path: Path) -> None:
    """A temporary file left by a killed export is removed when the trainer starts."""
    models = tmp_path / 'models'
    models.mkdir()
    stale = models / '.policy_v001.onnx.4194999.0123456789abcdef.tmp'  # no such process
    stale.write_bytes(b'half a model')
    kept = models / 'policy_v000.onnx'
    kept.write_bytes(b'x')
    node = TrainerNode(context=ros, parameter_overrides=[
        Parameter('data_dir', value=str(tmp_path / 'data')),
        Parameter('models_dir', value=str(models))])
    try:
        assert sorted(p.name for p in models.iterdir()) == ['policy_v000.onnx']
    finally:
        node.destroy_node()


def test_missing_init_checkpoint_refused(ros: Context, tmp_path: Path) -> None:
    """init_checkpoint naming no file stops the node at start-up with the reason."""
    from imitation_ros.errors import ConfigError
    with pytest.raises(ConfigError, match='init_checkpoint'):
        TrainerNode(context=ros, parameter_overrides=[
            Parameter('data_dir', value=str(tmp_path)),
            Parameter('init_checkpoint', value=str(tmp_path / 'missing.pt'))])


def test_counts_and_versions(tmp_path: Path) -> None:
    """Label counting reads metadata only; versions continue from existing files."""
    collect('above', 2, tmp_path / 'd', seed=0, session='s', camera_every=0, progress=False)
    counts = count_training_samples([tmp_path / 'd', tmp_path / 'missing'])
    assert counts.episodes == 2 and counts.demo_steps > 40 and counts.correction_steps == 0
    (tmp_path / 'm').mkdir()
    (tmp_path / 'm' / 'policy_v007.onnx').write_bytes(b'x')
    path, version = next_model_path(tmp_path / 'm', 'policy')
    assert version == 'v008' and path.name == 'policy_v008.onnx'


def test_counter_survives_a_bag_renamed_during_the_scan(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A listing that fails (a folder renamed mid-walk) keeps the bags seen before."""
    from imitation_ros.training.jobs import LabelCounter
    collect('above', 2, tmp_path / 'd', seed=0, session='s', camera_every=0, progress=False)
    counter = LabelCounter([tmp_path / 'd'])
    before = counter.count()
    assert before.episodes == 2

    def renamed(self: Path, pattern: str):
        raise FileNotFoundError(f'{self} changed while walking')

    monkeypatch.setattr(Path, 'rglob', renamed)
    assert counter.count() == before


def test_yaml_defaults_equal_code_defaults() -> None:
    """config/trainer.yaml holds exactly the code defaults."""
    with open(ROOT / 'config' / 'trainer.yaml', encoding='utf-8') as f:
        params = yaml.safe_load(f)['trainer']['ros__parameters']
    assert params == defaults(TrainerParams)
