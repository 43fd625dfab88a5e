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

"""The fine-tuned policy exports to the same ONNX file the runtime runs, within 1e-4 of torch."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch

from imitation_ros.errors import ConfigError, ModelError
from imitation_ros.policies import make_policy
from imitation_ros.runtime.onnx_policy import OnnxPolicy
from imitation_ros.training.checkpoint import load_checkpoint, save_checkpoint
from imitation_ros.training.rl import (load_policy, prepare_actor, ResidualGmm, save_finetuned,
                                       Td3Agent, Td3Config, Transitions)
from imitation_ros.training.trainer import build_training_set, fit_spec

JOINTS = ('joint1', 'joint2', 'joint3')
TASK = ('goal_x', 'goal_y', 'obstacle_x', 'obstacle_y', 'obstacle_radius')
LINKS = (1.0, 0.8, 0.6)
SMALL = {'hidden': (32, 32)}


def _samples(seed: int, n: int = 300) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return states, task vectors and absolute actions in the sim's range."""
    rng = np.random.default_rng(seed)
    state = rng.uniform(-2.0, 2.0, (n, 3))
    task = np.column_stack([rng.uniform(2.0, 2.1, n), rng.uniform(-0.1, 0.1, n),
                            rng.uniform(1.5, 1.6, n), rng.uniform(-0.05, 0.05, n),
                            rng.uniform(0.14, 0.18, n)])
    return state, task, state + rng.normal(0.0, 0.05, (n, 3))


def _policy(kind: str, seed: int = 0):
    """Return a small untrained policy of ``kind`` with a spec fitted on sim-like data."""
    state, task, action = _samples(seed)
    data = build_training_set(state, task, action, np.repeat(np.arange(15), 20),
                              np.tile(np.arange(20), 15))
    spec = fit_spec(data, JOINTS, TASK, link_lengths=LINKS)
    torch.manual_seed(seed)
    return make_policy(kind, spec, SMALL).eval()


def _rl_steps(policy, steps: int = 30):
    """Take TD3 steps on random transitions so the weights move away from the start."""
    state, task, action = _samples(1, 128)
    batch = Transitions(state=state, task=task, action=action, reward=np.ones(128),
                        next_state=action, done=np.zeros(128, bool), human=np.zeros(128, bool))
    agent = Td3Agent(policy, Td3Config(critic_hidden=(32,), batch_size=128, actor_lr=1e-2,
                                       policy_delay=1))
    before = {k: v.clone() for k, v in policy.state_dict().items()}
    for _ in range(steps):
        agent.update(batch, np.arange(128) < 64)
    moved = [k for k, v in policy.state_dict().items() if not torch.equal(before[k], v)]
    return policy.eval(), moved


def _feeds(batch: int = 8) -> dict:
    state, task, _ = _samples(5, batch)
    return {'state': state.astype(np.float32), 'task': task.astype(np.float32)}


def test_the_finetuned_mse_policy_matches_torch_in_onnx_runtime(tmp_path: Path) -> None:
    """An RL-updated mse policy exports as an mse model: ORT within 1e-4, OnnxPolicy runs it."""
    policy, moved = _rl_steps(prepare_actor(_policy('mse')))
    assert moved, 'the TD3 steps changed no weight'
    path, ckpt = save_finetuned(policy, tmp_path / 'rl.onnx', metadata_extra={'version': 'v2'})
    feeds = _feeds()
    with torch.no_grad():
        ref = policy(torch.from_numpy(feeds['state']), torch.from_numpy(feeds['task'])).numpy()
    got = ort.InferenceSession(str(path), providers=['CPUExecutionProvider']).run(
        ['action'], feeds)[0]
    np.testing.assert_allclose(got, ref, atol=1e-4, rtol=0)
    runtime = OnnxPolicy(path, expect_joint_names=JOINTS)
    assert runtime.kind == 'mse' and runtime.version == 'v2'
    np.testing.assert_allclose(runtime.act_batch(feeds['state'], feeds['task']), ref, atol=1e-4)
    # The checkpoint is a plain one: the trainer's warm start takes it.
    again = load_checkpoint(ckpt)
    with torch.no_grad():
        np.testing.assert_allclose(again(torch.from_numpy(feeds['state']),
                                         torch.from_numpy(feeds['task'])).numpy(), ref,
                                   atol=1e-6)


def test_a_residual_starts_as_its_gmm_base_exactly() -> None:
    """The residual's last layer starts at zero: base + residual is the base's argmax action."""
    base = _policy('gmm')
    residual = prepare_actor(base)
    assert isinstance(residual, ResidualGmm)
    feeds = _feeds()
    state, task = torch.from_numpy(feeds['state']), torch.from_numpy(feeds['task'])
    with torch.no_grad():
        log_w, means, _ = residual.mixture(state, task)
        k = torch.argmax(log_w, dim=-1)
        expected = means[torch.arange(len(k)), k]
        np.testing.assert_allclose(residual.rl_action(state, task).numpy(), expected.numpy(),
                                   atol=1e-7)
    trainable = {n for n, p in residual.named_parameters() if p.requires_grad}
    assert trainable and all(n.startswith('residual.') for n in trainable)


def test_the_residual_gmm_is_one_gmm_graph_matching_torch(tmp_path: Path) -> None:
    """Base + residual export as one gmm graph; the runtime's argmax action is base + residual."""
    policy, moved = _rl_steps(prepare_actor(_policy('gmm')))
    assert moved and all(k.startswith('residual.') for k in moved)
    path, ckpt = save_finetuned(policy, tmp_path / 'res.onnx')
    feeds = _feeds()
    state, task = torch.from_numpy(feeds['state']), torch.from_numpy(feeds['task'])
    with torch.no_grad():
        refs = [t.numpy() for t in policy.export_module()(state, task)]
        action = policy.rl_action(state, task).numpy()
        base = ResidualGmm.most_probable(*policy.mixture(state, task)[:2]).numpy()
    assert np.abs(action - base).max() > 1e-3, 'the residual should change the action'
    session = ort.InferenceSession(str(path), providers=['CPUExecutionProvider'])
    outs = session.run(['log_weights', 'means', 'stds'], feeds)
    for ref, got in zip(refs, outs):
        np.testing.assert_allclose(got, ref, atol=1e-4, rtol=0)
    runtime = OnnxPolicy(path, expect_joint_names=JOINTS)
    assert runtime.kind == 'gmm' and runtime.settings['residual']['scale'] > 0
    np.testing.assert_allclose(runtime.act_batch(feeds['state'], feeds['task']), action,
                               atol=1e-4)
    again = load_policy(ckpt)
    with torch.no_grad():
        np.testing.assert_allclose(again.rl_action(state, task).numpy(), action, atol=1e-6)
    with pytest.raises(ModelError):
        load_checkpoint(ckpt)  # a residual checkpoint is not silently read as its base


def test_kinds_without_a_deterministic_actor_are_refused(tmp_path: Path) -> None:
    """Kinds without a deterministic action (ar) are refused; mse gets no residual."""
    with pytest.raises(ConfigError, match='ar'):
        prepare_actor(_policy('ar'))
    with pytest.raises(ConfigError):
        prepare_actor(_policy('mse'), residual=True)
    with pytest.raises(ConfigError):
        prepare_actor(_policy('gmm'), residual=False)
    path = save_checkpoint(_policy('mse'), tmp_path / 'bc.pt')
    assert prepare_actor(path).kind == 'mse'
