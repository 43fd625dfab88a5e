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


"""
A kind added from outside the package: registered here, it trains, exports, loads and runs.

The ``jitter`` kind below lives in this test module only: an MLP whose exported
graph adds ``scale`` times a uniform noise input to its target. Registering it
is all it takes for the trainer, the export, the checkpoint, OnnxPolicy and the
policy node's model slot to handle it: no file of the package names it.
"""

from dataclasses import dataclass
import time
from typing import Any, Mapping, Optional

import numpy as np
import pytest
import torch
from torch import nn

from imitation_ros.errors import ConfigError, ModelError
from imitation_ros.policies import Kind, KindRuntime, KINDS, make_policy, register_kind
from imitation_ros.policies import unregister_kind
from imitation_ros.policies.base import Batch, mlp, Policy, PolicySpec, TrainConfig
from imitation_ros.policies.kind import noise_array
from imitation_ros.runtime.model_slot import ActionBounds, ModelSlot
from imitation_ros.runtime.onnx_policy import OnnxPolicy
from imitation_ros.training.checkpoint import load_checkpoint, save_checkpoint
from imitation_ros.training.export import export_policy
from imitation_ros.training.trainer import build_training_set, fit_spec, train_policy

JOINTS = ('joint1', 'joint2', 'joint3')
TASK = ('goal_x', 'goal_y', 'obstacle_x', 'obstacle_y', 'obstacle_r')
TIMEOUT_S = 120.0


@dataclass(frozen=True)
class JitterConfig:
    """Options of the test kind."""

    hidden: tuple[int, ...] = (16,)
    """Hidden widths."""
    scale: float = 0.01
    """Jitter amplitude, rad."""


class _JitterGraph(nn.Module):
    def __init__(self, policy: 'JitterPolicy') -> None:
        super().__init__()
        self.policy = policy

    def forward(self, state: torch.Tensor, task: torch.Tensor, jitter: torch.Tensor,
                image: Optional[torch.Tensor] = None) -> torch.Tensor:
        p = self.policy
        target = p.scaler.denormalize(p.net(p.encoder(state, task, image)), state)
        return target + p.config.scale * jitter


class JitterPolicy(Policy):
    """The torch half: an MLP trained with MSE; the graph adds the jitter input."""

    kind = 'jitter'

    def __init__(self, spec: PolicySpec, config: JitterConfig = JitterConfig()) -> None:
        super().__init__(spec, config)
        self.net = mlp([self.encoder.out_dim, *config.hidden, spec.n_joints])

    def loss(self, batch: Batch) -> torch.Tensor:
        target = self.scaler.normalize(batch.action[:, 0], batch.state)
        return ((self.net(self.encoder(batch.state, batch.task)) - target) ** 2).mean(dim=-1)

    def export_module(self, variant: str = 'default') -> nn.Module:
        return _JitterGraph(self)


class JitterRuntime(KindRuntime):
    """The run-time half: uniform noise in [-1, 1) into the ``jitter`` input."""

    @classmethod
    def graph_io(cls, n: int, horizon: int, config: Mapping[str, Any],
                 variant: str) -> tuple[dict, dict]:
        return {'jitter': ['B', n]}, {'action': ['B', n]}

    def noise_shape(self, batch: int) -> Optional[tuple[int, ...]]:
        return self.shape('jitter', batch)

    def draw_noise(self, rng: np.random.Generator, batch: int) -> Any:
        return rng.uniform(-1.0, 1.0, self.noise_shape(batch)).astype(np.float32)

    def forward(self, run, feeds: dict, state: np.ndarray, noise: Any,
                rng: np.random.Generator) -> np.ndarray:
        shape = self.noise_shape(len(state))
        feeds['jitter'] = (noise_array(noise, shape, 'jitter') if noise is not None
                           else self.draw_noise(rng, len(state)))
        return run(feeds)[0].astype(np.float64)

    def fill_bound(self, bound: dict, rng: np.random.Generator) -> None:
        bound['jitter'][...] = rng.uniform(-1.0, 1.0, bound['jitter'].shape)


@pytest.fixture(scope='module')
def jitter_kind():
    """Register the test kind for this module's tests, then remove it."""
    kind = register_kind(Kind('jitter', JitterConfig, JitterRuntime, JitterPolicy))
    yield kind
    unregister_kind('jitter')


def _data():
    rng = np.random.default_rng(0)
    state = rng.uniform(-1.0, 1.0, (300, 3))
    task = np.column_stack([rng.uniform(0.3, 0.8, 300), rng.uniform(-0.3, 0.3, 300),
                            rng.uniform(0.2, 0.5, 300), rng.uniform(-0.2, 0.2, 300),
                            rng.uniform(0.05, 0.1, 300)])
    action = state + 0.1 * np.sin(2.0 * state)
    return build_training_set(state, task, action, np.repeat(np.arange(15), 20),
                              np.tile(np.arange(20), 15))


@pytest.fixture(scope='module')
def trained(jitter_kind, tmp_path_factory: pytest.TempPathFactory) -> tuple:
    """Train the test kind a few steps (with a doubt ensemble) and export it."""
    data = _data()
    spec = fit_spec(data, JOINTS, TASK, link_lengths=(0.4, 0.3, 0.2))
    config = TrainConfig(steps=40, batch_size=64, val_fraction=0.1, doubt_ensemble=2,
                         doubt_hidden=(8,))
    policy, history = train_policy('jitter', data, spec, config, options={'scale': 0.02},
                                   progress=False)
    assert len(history.train_loss) > 0 and isinstance(policy, JitterPolicy)
    path = export_policy(policy, tmp_path_factory.mktemp('jitter') / 'jitter.onnx',
                         metadata_extra={'version': 'jitter-1'})
    return policy, path, data


def test_registered_kind_is_listed_and_built(jitter_kind) -> None:
    """The registry lists the new kind after the four of the package and builds its model."""
    assert list(KINDS)[:4] == ['mse', 'gmm', 'ar', 'diffusion'] and 'jitter' in KINDS
    spec = fit_spec(_data(), JOINTS, TASK)
    policy = make_policy('jitter', spec, {'hidden': [8, 8]})
    assert isinstance(policy, JitterPolicy) and policy.config.hidden == (8, 8)
    with pytest.raises(ConfigError, match='registered already'):
        register_kind(jitter_kind)
    with pytest.raises(ConfigError, match='unknown jitter options'):
        make_policy('jitter', spec, {'bins': 3})


def test_registered_kind_runs_in_onnx_runtime_as_in_torch(trained: tuple) -> None:
    """The ONNX runtime runs the new kind: given noise matches torch, own noise is seeded."""
    policy, path, data = trained
    runtime = OnnxPolicy(path, seed=3)
    assert runtime.kind == 'jitter' and runtime.has_doubt and not runtime.chunked
    states, tasks = data.state[:5], data.task[:5]
    noise = np.random.default_rng(1).uniform(-1, 1, (5, 3)).astype(np.float32)
    with torch.no_grad():
        ref = policy.export_module()(torch.as_tensor(states, dtype=torch.float32),
                                     torch.as_tensor(tasks, dtype=torch.float32),
                                     torch.as_tensor(noise)).numpy()
    np.testing.assert_allclose(runtime.act_batch(states, tasks, noise=noise), ref,
                               atol=1e-4, rtol=0)
    # act (the bound fast path) draws the same noise as act_batch from the same seed.
    fast = OnnxPolicy(path, seed=7).act(states[0], tasks[0])
    general = OnnxPolicy(path, seed=7).act_batch(states[:1], tasks[:1])[0]
    np.testing.assert_allclose(fast, general, atol=1e-6, rtol=0)
    action, doubt = runtime.act_with_doubt(states[0], tasks[0])
    assert action.shape == (3,) and np.isfinite(doubt) and doubt >= 0
    assert runtime.warmup(1) > 0


def test_registered_kind_round_trips_a_checkpoint(trained: tuple, tmp_path) -> None:
    """The checkpoint of the new kind rebuilds the same model."""
    policy, _, data = trained
    loaded = load_checkpoint(save_checkpoint(policy, tmp_path / 'jitter.pt'))
    state = torch.as_tensor(data.state[:4], dtype=torch.float32)
    task = torch.as_tensor(data.task[:4], dtype=torch.float32)
    zero = torch.zeros(4, 3)
    with torch.no_grad():
        torch.testing.assert_close(loaded.export_module()(state, task, zero),
                                   policy.export_module()(state, task, zero))


def test_registered_kind_is_swapped_in_by_the_model_slot(trained: tuple) -> None:
    """The policy node's model slot loads, checks and installs a model of the new kind."""
    _, path, data = trained
    slot = ModelSlot(joint_names=JOINTS, warmup_iterations=1,
                     bounds=ActionBounds((-3.0,) * 3, (3.0,) * 3))
    try:
        slot.request(str(path))
        deadline = time.monotonic() + TIMEOUT_S
        result = slot.swap_if_ready()
        while result is None and time.monotonic() < deadline:
            time.sleep(0.01)
            result = slot.swap_if_ready()
        assert result is not None and result.loaded, result
        assert slot.active.kind == 'jitter' and slot.version == 'jitter-1'
        assert np.all(np.isfinite(slot.active.act(data.state[0], data.task[0])))
    finally:
        slot.close()


def test_unregistered_kind_is_refused(trained: tuple, tmp_path) -> None:
    """Without its registration the model does not load, with a message naming the kind."""
    _, path, _ = trained
    copy = tmp_path / 'jitter.onnx'
    copy.write_bytes(path.read_bytes())
    kind = KINDS['jitter']
    unregister_kind('jitter')
    try:
        with pytest.raises(ModelError, match="unknown policy kind 'jitter'"):
            OnnxPolicy(copy)
        with pytest.raises(ConfigError, match="unknown policy kind 'jitter'"):
            make_policy('jitter', fit_spec(_data(), JOINTS, TASK))
    finally:
        register_kind(kind)
