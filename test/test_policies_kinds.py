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

"""Each policy kind on a toy bimodal problem: expressive kinds keep both modes, mse averages."""

import numpy as np
import pytest
import torch

from imitation_ros.errors import ConfigError
from imitation_ros.policies.base import Normalizer, PolicySpec, TrainConfig
from imitation_ros.policies.registry import make_policy
from imitation_ros.policies.gmm import gmm_select
from imitation_ros.training.trainer import build_training_set, train_policy

MODE = 0.5  # the two modes: joint 1 moves by +MODE or -MODE (rad), joint 2 stays


def _toy(n: int = 1200, seed: int = 0):
    rng = np.random.default_rng(seed)
    state = rng.uniform(-1, 1, size=(n, 2))
    task = rng.uniform(-1, 1, size=(n, 1))
    sign = np.where(rng.random(n) < 0.5, 1.0, -1.0)
    action = state + np.stack([sign * MODE, np.zeros(n)], axis=1)
    # Each sample its own episode, so chunks stay within one mode.
    return build_training_set(state, task, action, np.arange(n), np.zeros(n, dtype=int),
                              horizon=2)


def _train(kind: str, options: dict, steps: int = 600):
    data = _toy()
    obs = np.concatenate([data.state, data.task], axis=1)
    rel = data.actions - data.state[:, None, :]
    spec = PolicySpec(joint_names=('a', 'b'), task_layout=('t',),
                      state_norm=Normalizer.fit(obs), action_norm=Normalizer.fit(rel))
    cfg = TrainConfig(steps=steps, batch_size=256, lr=2e-3, val_fraction=0.0)
    policy, _ = train_policy(kind, data, spec, cfg, options=options, seed=0, progress=False)
    return policy


@pytest.fixture(autouse=True)
def _grad_mode_restored():
    """Probing runs without gradients; every test starts and ends with them on."""
    torch.set_grad_enabled(True)
    yield
    torch.set_grad_enabled(True)


def _probe(batch: int = 400):
    gen = torch.Generator().manual_seed(1)
    state = torch.rand(batch, 2, generator=gen) * 1.6 - 0.8
    task = torch.rand(batch, 1, generator=gen) * 1.6 - 0.8
    return state, task


def _modes(relative: np.ndarray) -> tuple[float, float, float]:
    """Fractions near +MODE, near -MODE, and near the average 0."""
    return (float(np.mean(np.abs(relative - MODE) < 0.2)),
            float(np.mean(np.abs(relative + MODE) < 0.2)),
            float(np.mean(np.abs(relative) < 0.15)))


def test_mse_lands_between_the_modes() -> None:
    """Mean squared error regression predicts the average of the two modes."""
    policy = _train('mse', {'hidden': (64, 64)})
    state, task = _probe()
    torch.set_grad_enabled(False)
    rel = (policy(state, task) - state)[:, 0].numpy()
    up, down, middle = _modes(rel)
    assert middle > 0.8 and up < 0.1 and down < 0.1


def test_gmm_puts_mass_on_both_modes() -> None:
    """Sampling the mixture hits both modes; its most probable mean is one of them."""
    policy = _train('gmm', {'hidden': (64, 64), 'components': 4})
    state, task = _probe()
    torch.set_grad_enabled(False)
    lw, means, stds = (t.numpy() for t in policy.export_module()(state, task))
    rng = np.random.default_rng(0)
    sampled = gmm_select(lw, means, stds, mode='sample', uniform=rng.random(len(lw)),
                         normal=rng.standard_normal(means[:, 0].shape))
    up, down, middle = _modes(sampled[:, 0] - state[:, 0].numpy())
    assert up > 0.3 and down > 0.3 and middle < 0.1
    best = gmm_select(lw, means, stds, mode='argmax', uniform=np.zeros(len(lw)),
                      normal=np.zeros(means[:, 0].shape))
    up, down, middle = _modes(best[:, 0] - state[:, 0].numpy())
    assert up + down > 0.9 and middle < 0.05


def test_autoregressive_samples_both_modes() -> None:
    """Sampling the discretized autoregressive policy at temperature 1 hits both modes."""
    policy = _train('ar', {'hidden': (64, 64), 'head_hidden': 32, 'bins': 32})
    state, task = _probe()
    torch.set_grad_enabled(False)
    gumbel = -torch.log(-torch.log(torch.rand(len(state), 2, 32,
                                              generator=torch.Generator().manual_seed(2))))
    action = policy.export_module()(state, task, gumbel)
    up, down, middle = _modes((action - state)[:, 0].numpy())
    assert up > 0.3 and down > 0.3 and middle < 0.1


def test_autoregressive_greedy_decode_picks_one_mode() -> None:
    """With Gaussian bin labels and refine, the most probable bins land on a mode, not between."""
    policy = _train('ar', {'hidden': (64, 64), 'head_hidden': 32, 'bins': 32,
                           'label_sigma': 1.5, 'refine': 2})
    state, task = _probe()
    torch.set_grad_enabled(False)
    action = policy.export_module()(state, task, torch.zeros(len(state), 2, 32))
    up, down, middle = _modes((action - state)[:, 0].numpy())
    assert up + down > 0.9 and middle < 0.05


def test_ar_gaussian_labels_spread_around_the_value() -> None:
    """HL-Gauss targets: a distribution over bins centred on the exact value, not its bin."""
    spec = PolicySpec(joint_names=('a', 'b'), task_layout=('t',),
                      state_norm=Normalizer.fit(np.random.randn(10, 3)),
                      action_norm=Normalizer.fit(np.random.randn(10, 2)))
    policy = make_policy('ar', spec, {'bins': 32, 'bound': 3.0, 'label_sigma': 1.5})
    z = torch.tensor([[0.0, 1.03], [-2.9, 5.0]])
    target = policy.gauss_targets(z)
    assert target.shape == (2, 2, 32)
    assert torch.allclose(target.sum(dim=-1), torch.ones(2, 2))
    mean = (target * policy.centers).sum(dim=-1)
    assert abs(float(mean[0, 0])) < 1e-4 and abs(float(mean[0, 1]) - 1.03) < 1e-3
    width = 6.0 / 32
    far = (policy.centers - 1.03).abs() > 6 * 1.5 * width
    assert float(target[0, 1][far].max()) < 1e-6  # nothing leaks to distant bins
    assert int(target[1, 1].argmax()) == 31  # beyond the bound: the last bin
    with pytest.raises(ConfigError, match='label_sigma'):
        make_policy('ar', spec, {'label_sigma': -1.0})


def test_diffusion_samples_both_modes() -> None:
    """DDIM samples from different noise land on both modes, not between them."""
    policy = _train('diffusion', {'hidden': (128, 128), 'horizon': 2, 'execute': 1,
                                  'sample_steps': 10}, steps=1500)
    state, task = _probe()
    torch.set_grad_enabled(False)
    noise = torch.randn(len(state), 2, 2, generator=torch.Generator().manual_seed(3))
    chunk = policy.export_module('sampler')(state, task, noise)
    up, down, middle = _modes((chunk[:, 0] - state)[:, 0].numpy())
    assert up > 0.25 and down > 0.25 and middle < 0.15


def test_unknown_kind_and_option_are_rejected() -> None:
    """A typo in the kind or an option name says what is valid."""
    spec = PolicySpec(joint_names=('a',), task_layout=('t',),
                      state_norm=Normalizer.fit(np.random.randn(10, 2)),
                      action_norm=Normalizer.fit(np.random.randn(10, 1)))
    with pytest.raises(ConfigError, match='mse, gmm, ar, diffusion'):
        make_policy('gaussian', spec)
    with pytest.raises(ConfigError, match='components'):
        make_policy('gmm', spec, {'component': 3})
    with pytest.raises(ConfigError, match='execute'):
        make_policy('diffusion', spec, {'horizon': 4, 'execute': 5})


def test_constant_dimension_does_not_become_nan() -> None:
    """A dimension that never changes in the data normalizes with std 1, not 0."""
    x = np.random.default_rng(0).normal(size=(50, 3))
    x[:, 1] = 4.2
    norm = Normalizer.fit(x)
    assert norm.std[1] == 1.0 and np.isfinite(norm.std).all()
    with pytest.raises(ConfigError, match='NaN'):
        Normalizer.fit(np.array([[np.nan, 1.0]]))


def test_doubt_ensemble_disagrees_far_from_the_data() -> None:
    """The ensemble trained alongside agrees on the data and disagrees far outside it."""
    policy = _train('mse', {'hidden': (64, 64)}, steps=400)
    assert policy.doubt is not None and policy.doubt.members == 5
    state, task = _probe()  # inside the data's range
    far_state = torch.tensor([[6.0, -6.0], [-5.0, 7.0], [8.0, 8.0]])
    far_task = torch.tensor([[6.0], [-6.0], [9.0]])
    torch.set_grad_enabled(False)
    familiar = policy.doubt(state, task).numpy()
    far = policy.doubt(far_state, far_task).numpy()
    assert familiar.shape == (len(state),) and np.all(familiar >= 0)
    assert far.min() > 3.0 * np.percentile(familiar, 99)
    assert policy.parameter_count() < sum(p.numel() for p in policy.parameters())
