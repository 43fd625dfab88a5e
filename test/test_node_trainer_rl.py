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

"""The trainer node in mode rl over real DDS: RL fine-tuning jobs from the deployed model."""

from __future__ import annotations

import json
from pathlib import Path
import sys

from imitation_ros.collect import collect
from imitation_ros.data import EpisodeRecord, messages as m
from imitation_ros.data.dataset import load_dataset
from imitation_ros.data.episode import record_custom_data
from imitation_ros.data.writer import EpisodeBagWriter
from imitation_ros.errors import ConfigError, TrainingError
from imitation_ros.nodes.qos import MODEL_QOS
from imitation_ros.nodes.trainer import TrainerNode, TrainerParams
from imitation_ros.runtime.model_trust import ModelTrust, read_manifest
from imitation_ros.runtime.onnx_policy import OnnxPolicy
from imitation_ros.training.jobs import (child_command, count_training_samples, JobSpec,
                                         TrainingJob)
import numpy as np
import pytest
from rclpy.context import Context
from rclpy.node import Node
from rclpy.parameter import Parameter
from std_msgs.msg import String
from ros_harness import poll_until, private_domain_id, Spinner

DOMAIN_ID = private_domain_id(97)
TIMEOUT_S = 240.0
MS = 1_000_000


class Probe(Node):
    """Listens to the trainer's model and status topics."""

    def __init__(self, context: Context) -> None:
        super().__init__('trainer_rl_probe', context=context)
        self.models: list[str] = []
        self.status: list[dict] = []
        self.create_subscription(String, 'imitation/model', self._on_model, MODEL_QOS)
        self.create_subscription(String, 'imitation/trainer_status', self._on_status, 10)

    def _on_model(self, msg: String) -> None:
        self.models.append(msg.data)

    def _on_status(self, msg: String) -> None:
        self.status.append(json.loads(msg.data))


def _gated_takeover(data_dir: Path, demos: Path, episode: int, human_from: int) -> int:
    """Write an hg_dagger bag with the gate's decisions; return its human-driven steps."""
    d = load_dataset([demos])
    n, dt_ns, t0 = 30, 50 * MS, 1_900_000_000_000_000_000 + episode * 10 ** 10
    human = np.arange(n) >= human_from
    record = EpisodeRecord(
        joint_names=d.joint_names, t0_ns=t0, dt=0.05, positions=d.positions[:n + 1],
        velocities=np.zeros((n + 1, 3)), task=d.task[0], actions=d.actions[:n],
        intervention=human, episode=episode, success=True, reason='success',
        source='hg_dagger', policy_version='v001')
    msgs = [(t0 - MS, m.EPISODE, m.encode_episode_event('start', episode))]
    for t in range(n + 1):
        s = t0 + t * dt_ns
        msgs += [(s, m.JOINT_STATES, m.encode_joint_state(s, d.joint_names, d.positions[t])),
                 (s, m.TASK, m.encode_float64_array(d.task[0]))]
        if t == n:
            break
        command = [float(v) for v in d.actions[t]]
        source = 'human' if human[t] else 'policy'
        decision = {'source': source, 'mode': source, 'stamp': 0.0, 'command': command,
                    'state_stamp': s}
        msgs += [(s + MS, m.INTERVENTION, m.encode_bool(bool(human[t]))),
                 (s + MS, m.COMMANDS, m.encode_float64_array(command)),
                 (s + MS, m.GATE_STATE, m.encode_string(json.dumps(decision)))]
    msgs.append((t0 + n * dt_ns + MS, m.EPISODE,
                 m.encode_episode_event('end', episode, success=True, reason='success')))
    with EpisodeBagWriter(data_dir / 'hg' / f'ep_{episode:05d}') as writer:
        for t_ns, topic, raw in msgs:
            writer.write(topic, raw, t_ns)
        writer.close(record_custom_data(record))
    return int(human.sum())


def _deploy_bc(data: Path, models: Path) -> Path:
    """Train a small BC mse model the way the trainer does (a child process); return its .pt."""
    spec = JobSpec(data=(data,), out=models / 'bc.onnx', version='bc', policy='mse', steps=30,
                   options=('hidden=[16, 16]',), niceness=0)
    job = TrainingJob(spec)
    result = poll_until(job.poll, TIMEOUT_S, 'the BC model', period=0.1)
    assert result.ok, result.message
    return spec.out.with_suffix('.pt')


def test_rl_mode_finetunes_the_deployed_model_and_publishes_it(ros: Context,
                                                               tmp_path: Path) -> None:
    """Mode rl runs finetune --rl from the deployed BC checkpoint and publishes a listed model."""
    data = tmp_path / 'data'
    collect('above', 3, data, seed=1, session='demos', camera_every=0, progress=False)
    deployed = _deploy_bc(data, tmp_path / 'deployed')
    overrides = {'data_dir': str(data), 'models_dir': str(tmp_path / 'models'),
                 'mode': 'rl', 'init_checkpoint': str(deployed), 'rl_updates': 40,
                 'min_new_samples': 18, 'check_period_s': 0.2}
    trainer = TrainerNode(context=ros, parameter_overrides=[
        Parameter(k, value=v) for k, v in overrides.items()])
    probe = Probe(ros)
    spinner = Spinner(ros, trainer, probe)
    try:
        human = _gated_takeover(data, data / 'demos', 0, human_from=12)  # 18 new human steps
        job = poll_until(lambda: trainer._job, TIMEOUT_S, 'an rl job', period=0.02)
        cmd = child_command(job.spec)
        assert cmd[cmd.index('-c') + 4:cmd.index('-c') + 6] == ['finetune', '--rl']
        assert cmd[cmd.index('--init-from') + 1] == str(deployed)
        assert cmd[cmd.index('--updates') + 1] == '40'
        assert cmd[cmd.index('--data') + 1] == str(data) and '--sim' not in cmd
        path = poll_until(lambda: probe.models, TIMEOUT_S, 'a published model', period=0.05)[0]
    finally:
        spinner.close()
    assert Path(path).name == 'policy_v001.onnx'
    policy = OnnxPolicy(path)
    facts = policy.training_data
    assert policy.version == 'v001' and policy.kind == 'mse'
    assert facts['method'] == 'rl' and facts['rl_source'] == 'bags'
    assert facts['init_from'] == str(deployed) and facts['updates'] == 40
    # The demonstrations and the takeover's human steps are the prior data; the policy's
    # own gate-decided steps the rest.
    demo_steps = count_training_samples([data / 'demos']).demo_steps
    assert facts['prior_transitions'] == demo_steps + human
    assert facts['online_transitions'] == 30 - human
    entry = read_manifest(Path(path).parent)['policy_v001.onnx']
    trusted = ModelTrust([str(tmp_path / 'models')]).verify(path)
    assert trusted.sha256 == entry['sha256'] and entry['version'] == 'v001'
    assert Path(path).with_suffix('.pt').is_file()
    started = [s for s in probe.status if s['state'] == 'training' and 'mode' in s]
    assert started and started[0]['mode'] == 'rl' and probe.status[-1]['state'] == 'done'


def test_rl_mode_needs_the_deployed_checkpoint(ros: Context, tmp_path: Path) -> None:
    """Mode rl without init_checkpoint stops the node at start-up with the reason."""
    with pytest.raises(ConfigError, match='init_checkpoint'):
        TrainerNode(context=ros, parameter_overrides=[
            Parameter('data_dir', value=str(tmp_path)), Parameter('mode', value='rl')])


def test_rl_job_command_and_its_checks(tmp_path: Path) -> None:
    """An rl JobSpec runs finetune --rl on the bags; without a checkpoint it is refused."""
    spec = JobSpec(data=(tmp_path / 'd',), out=tmp_path / 'm.onnx', version='v003', steps=77,
                   seed=4, init_from=tmp_path / 'bc.pt', mode='rl', max_command_step=0.2)
    assert spec.command() == [
        sys.executable, '-m', 'imitation_ros.cli.main', 'finetune', '--rl', '--init-from',
        str(tmp_path / 'bc.pt'), '--data', str(tmp_path / 'd'), '--out',
        str(tmp_path / 'm.onnx'), '--updates', '77', '--seed', '4', '--version', 'v003',
        '--max-command-step', '0.2', '--no-progress']
    with pytest.raises(TrainingError, match='init_from'):
        JobSpec(data=(tmp_path,), out=tmp_path / 'm.onnx', version='v1', mode='rl')
    with pytest.raises(TrainingError, match='mode'):
        JobSpec(data=(tmp_path,), out=tmp_path / 'm.onnx', version='v1', mode='ppo')
    assert TrainerParams().mode == 'train'
