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

"""The torch to ONNX export: checker, metadata, parity with torch, atomic writes."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from imitation_ros.errors import ConfigError, ModelError
from imitation_ros.policies.base import Policy, TrainConfig
from imitation_ros.policies.registry import make_policy
from imitation_ros.training import export as ex
from imitation_ros.training.export import export_policy
from imitation_ros.training.trainer import build_training_set, fit_spec, train_policy

JOINTS = ('joint1', 'joint2', 'joint3')
TASK = ('goal_x', 'goal_y', 'obstacle_x', 'obstacle_y', 'obstacle_r')
LINKS = (0.4, 0.3, 0.2)
SMALL = {'hidden': (32, 32)}
CASES = [('mse', None), ('gmm', None), ('ar', None), ('diffusion', 'sampler'),
         ('diffusion', 'denoiser')]
REQUIRED = {'imitation_ros.format', 'kind', 'variant', 'joint_names', 'task_layout',
            'observation', 'action', 'inputs', 'outputs', 'settings', 'horizon', 'execute',
            'training_data', 'version', 'created', 'torch_version', 'parameter_count'}


def _data(seed: int = 0, *, horizon: int = 1, image: bool = False, constant_task: bool = False):
    """Return random per-step samples shaped like the sim's, as a TrainingSet."""
    rng = np.random.default_rng(seed)
    n = 400
    state = rng.uniform(-1.0, 1.0, (n, 3))
    task = np.column_stack([rng.uniform(0.3, 0.8, n), rng.uniform(-0.3, 0.3, n),
                            rng.uniform(0.2, 0.5, n), rng.uniform(-0.2, 0.2, n),
                            np.full(n, 0.08) if constant_task else rng.uniform(0.05, 0.1, n)])
    action = state + rng.normal(0.0, 0.05, (n, 3))
    episode, step = np.repeat(np.arange(20), 20), np.tile(np.arange(20), 20)
    frames = rng.integers(0, 256, (n, 96, 96, 3), dtype=np.uint8) if image else None
    return build_training_set(state, task, action, episode, step, horizon=horizon, image=frames)


def _policy(kind: str, *, image: bool = False, constant_task: bool = False,
            links: tuple | None = LINKS, seed: int = 0) -> Policy:
    """Return an untrained small policy with a spec fitted on random data."""
    horizon = 8 if kind == 'diffusion' else 1
    data = _data(horizon=horizon, image=image, constant_task=constant_task)
    spec = fit_spec(data, JOINTS, TASK, with_image=image, link_lengths=links)
    torch.manual_seed(seed)
    return make_policy(kind, spec, SMALL).eval()


def _inputs(policy: Policy, variant: str | None, batch: int = 6, seed: int = 1) -> dict:
    """Return random graph inputs in the data's range, name -> numpy array."""
    rng = np.random.default_rng(seed)
    data = _data(seed=seed + 10, horizon=policy.horizon,
                 image=policy.spec.image_shape is not None)
    idx = rng.choice(len(data), batch, replace=False)
    feeds = {'state': data.state[idx].astype(np.float32),
             'task': data.task[idx].astype(np.float32)}
    if data.image is not None:
        feeds['image'] = data.image[idx]
    n, h = policy.spec.n_joints, policy.horizon
    if policy.kind == 'ar':
        feeds['gumbel'] = rng.gumbel(size=(batch, n, policy.config.bins)).astype(np.float32)
    if variant == 'sampler':
        feeds['noise'] = rng.standard_normal((batch, h, n)).astype(np.float32)
    if variant == 'denoiser':
        feeds['sample'] = rng.standard_normal((batch, h, n)).astype(np.float32)
        feeds['timestep'] = rng.integers(0, policy.config.train_steps, batch).astype(np.int64)
    return feeds


def _torch_outputs(policy: Policy, variant: str | None, feeds: dict) -> list[np.ndarray]:
    """Run the export module in torch on ``feeds``."""
    module = policy.export_module(variant) if variant else policy.export_module()
    names = list(ex.io_shapes(policy, variant)[0])
    with torch.no_grad():
        out = module(*(torch.from_numpy(feeds[name]) for name in names))
    return [t.numpy() for t in (out if isinstance(out, tuple) else (out,))]


def _ort_outputs(path: Path, feeds: dict) -> list[np.ndarray]:
    """Run the exported file with plain ONNX Runtime."""
    session = ort.InferenceSession(str(path), providers=['CPUExecutionProvider'])
    return session.run(None, feeds)


@pytest.mark.parametrize('kind,variant', CASES)
def test_export_checks_and_matches_torch(tmp_path: Path, kind: str, variant: str | None) -> None:
    """Every kind exports a valid graph whose outputs match torch within 1e-4."""
    policy = _policy(kind)
    path = export_policy(policy, tmp_path / f'{kind}.onnx', variant=variant)
    onnx.checker.check_model(str(path), full_check=True)
    feeds = _inputs(policy, variant)
    for ref, got in zip(_torch_outputs(policy, variant, feeds), _ort_outputs(path, feeds)):
        assert got.shape == ref.shape
        np.testing.assert_allclose(got, ref, atol=1e-4, rtol=0)
    if kind == 'ar':  # zero noise is the most probable bin
        feeds['gumbel'] = np.zeros_like(feeds['gumbel'])
        ref, got = _torch_outputs(policy, variant, feeds)[0], _ort_outputs(path, feeds)[0]
        np.testing.assert_allclose(got, ref, atol=1e-4, rtol=0)
    assert sorted(p.name for p in tmp_path.iterdir()) == [f'{kind}.onnx'], 'temp file left'


def test_ar_refine_exports_and_stays_near_the_chosen_bin(tmp_path: Path) -> None:
    """Export ar with refine: ONNX matches torch, each output lies within the window."""
    policy = _policy('ar')
    policy.config = replace(policy.config, refine=2)
    path = export_policy(policy, tmp_path / 'ar.onnx')
    feeds = _inputs(policy, None)
    ref, got = _torch_outputs(policy, None, feeds)[0], _ort_outputs(path, feeds)[0]
    np.testing.assert_allclose(got, ref, atol=1e-4, rtol=0)
    coarse = replace(policy.config, refine=0)
    policy.config = coarse
    centers = _torch_outputs(policy, None, feeds)[0]  # the chosen bins' centers (absolute)
    width = 2 * coarse.bound / coarse.bins * np.asarray(policy.spec.action_norm.std)
    assert np.all(np.abs(ref - centers) <= 2 * width + 1e-6)
    assert np.any(np.abs(ref - centers) > 1e-6)  # it does refine


def test_dynamic_batch_axis(tmp_path: Path) -> None:
    """The exported graph runs any batch size, including 1."""
    policy = _policy('diffusion')
    path = export_policy(policy, tmp_path / 'd.onnx')
    for batch in (1, 3, 17):
        feeds = _inputs(policy, 'sampler', batch=batch, seed=batch)
        assert _ort_outputs(path, feeds)[0].shape == (batch, 8, 3)


def test_image_policy_exports_and_matches(tmp_path: Path) -> None:
    """A policy with a 96x96 camera input exports; the image input is uint8 (B, 96, 96, 3)."""
    policy = _policy('mse', image=True, links=None)
    path = export_policy(policy, tmp_path / 'image.onnx')
    onnx.checker.check_model(str(path), full_check=True)
    feeds = _inputs(policy, None, batch=3)
    np.testing.assert_allclose(_ort_outputs(path, feeds)[0],
                               _torch_outputs(policy, None, feeds)[0], atol=1e-4, rtol=0)
    session = ort.InferenceSession(str(path), providers=['CPUExecutionProvider'])
    image = [a for a in session.get_inputs() if a.name == 'image'][0]
    assert image.type == 'tensor(uint8)' and image.shape[1:] == [96, 96, 3]
    meta = session.get_modelmeta().custom_metadata_map
    assert json.loads(meta['observation'])['image_shape'] == [96, 96, 3]
    assert json.loads(meta['inputs'])['image'] == ['B', 96, 96, 3]


def test_constant_dimension_gives_finite_outputs(tmp_path: Path) -> None:
    """A task column that never changes gets std 1 and the graph stays finite."""
    policy = _policy('gmm', constant_task=True, links=None)
    assert policy.spec.state_norm.std[3 + 4] == 1.0
    path = export_policy(policy, tmp_path / 'c.onnx')
    feeds = _inputs(policy, None)
    for out in _ort_outputs(path, feeds):
        assert np.all(np.isfinite(out))


def test_metadata_contents(tmp_path: Path) -> None:
    """The file carries the layout, shapes, settings, version and training data as strings."""
    policy = _policy('diffusion')
    extra = {'version': 'v7', 'training_data': {'digest': 'abc', 'episodes': np.int64(20)},
             'note': Path('/data/x')}
    path = export_policy(policy, tmp_path / 'd.onnx', metadata_extra=extra, variant='denoiser')
    props = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
    assert REQUIRED | {'ddim_steps', 'train_steps', 'ddim_clip'} <= set(props)
    assert props['imitation_ros.format'] == '1'
    assert (props['kind'], props['variant'], props['version']) == ('diffusion', 'denoiser', 'v7')
    assert json.loads(props['joint_names']) == list(JOINTS)
    assert json.loads(props['task_layout']) == list(TASK)
    assert json.loads(props['training_data']) == {'digest': 'abc', 'episodes': 20,
                                                  'note': '/data/x'}
    assert json.loads(props['inputs']) == {'state': ['B', 3], 'task': ['B', 5],
                                           'sample': ['B', 8, 3], 'timestep': ['B']}
    assert json.loads(props['outputs']) == {'eps': ['B', 8, 3]}
    assert (props['horizon'], props['execute'], props['ddim_steps'], props['train_steps']) == (
        '8', '4', '10', '100')
    assert int(props['parameter_count']) == policy.parameter_count()
    obs, act = json.loads(props['observation']), json.loads(props['action'])
    assert obs['link_lengths'] == list(LINKS) and obs['image_shape'] is None
    assert obs['normalization']['std'] == list(policy.spec.state_norm.std)
    assert (act['dim'], act['prediction'], act['output']) == (3, 'relative', 'absolute')
    assert json.loads(props['settings'])['config']['horizon'] == 8
    default = export_policy(policy, tmp_path / 'e.onnx')
    version = {p.key: p.value for p in onnx.load(str(default)).metadata_props}['version']
    assert version.endswith('Z') and len(version) == 16, version


def test_export_replaces_atomically_and_keeps_old_file_on_failure(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A failed export leaves the previous model and no temporary file behind."""
    path = export_policy(_policy('mse'), tmp_path / 'm.onnx', metadata_extra={'version': 'old'})
    before = path.read_bytes()

    def broken(*args, **kwargs) -> None:
        raise onnx.checker.ValidationError('simulated')

    monkeypatch.setattr(ex.onnx.checker, 'check_model', broken)
    with pytest.raises(ModelError, match='ONNX checker'):
        export_policy(_policy('mse', seed=1), path, metadata_extra={'version': 'new'})
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ['m.onnx']
    monkeypatch.undo()
    export_policy(_policy('mse', seed=1), path, metadata_extra={'version': 'new'})
    assert path.read_bytes() != before
    assert path.stat().st_mode & 0o444 == 0o444, 'readers of another user must see the model'


def test_bad_variants_are_refused(tmp_path: Path) -> None:
    """Only diffusion has variants, and only 'sampler' and 'denoiser'."""
    with pytest.raises(ConfigError, match='only diffusion'):
        export_policy(_policy('mse'), tmp_path / 'm.onnx', variant='sampler')
    with pytest.raises(ConfigError, match='sampler'):
        export_policy(_policy('diffusion'), tmp_path / 'd.onnx', variant='fast')
    assert not list(tmp_path.iterdir())


def test_trained_policy_exports_and_matches(tmp_path: Path) -> None:
    """A briefly trained gmm exports and matches torch (trained weights, not only init)."""
    data = _data()
    spec = fit_spec(data, JOINTS, TASK, link_lengths=LINKS)
    config = TrainConfig(steps=15, batch_size=64, val_fraction=0.0)
    policy, history = train_policy('gmm', data, spec, config, options=SMALL, progress=False)
    assert history.train_loss
    path = export_policy(policy, tmp_path / 'g.onnx', metadata_extra={'version': 't'})
    feeds = _inputs(policy, None)
    for ref, got in zip(_torch_outputs(policy, None, feeds), _ort_outputs(path, feeds)):
        np.testing.assert_allclose(got, ref, atol=1e-4, rtol=0)


def test_doubt_output_is_gated_and_matches_torch(tmp_path: Path) -> None:
    """A trained policy exports its doubt ensemble: metadata, a gated 'doubt' output = torch."""
    data = _data()
    spec = fit_spec(data, JOINTS, TASK, link_lengths=LINKS)
    config = TrainConfig(steps=15, batch_size=64, val_fraction=0.0, doubt_ensemble=3)
    policy, _ = train_policy('gmm', data, spec, config, options=SMALL, progress=False)
    assert policy.doubt is not None and policy.doubt.members == 3
    path = export_policy(policy, tmp_path / 'g.onnx', metadata_extra={'version': 't'})
    props = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
    assert json.loads(props['outputs'])['doubt'] == ['B']
    info = json.loads(props['doubt'])
    assert (info['method'], info['output'], info['config']['members']) == ('ensemble', 'doubt', 3)
    assert info['parameter_count'] == policy.doubt.parameter_count()
    assert int(props['parameter_count']) == policy.parameter_count(), 'policy only'
    feeds = _inputs(policy, None)
    plain = _ort_outputs(path, feeds)
    for ref, got in zip(_torch_outputs(policy, None, feeds), plain):
        np.testing.assert_allclose(got, ref, atol=1e-4, rtol=0)
    assert np.isnan(plain[-1]).all(), 'not asked for: the ensemble branch is skipped'
    got = _ort_outputs(path, {**feeds, 'want_doubt': np.array(True)})[-1]
    with torch.no_grad():
        ref = policy.doubt(torch.from_numpy(feeds['state']), torch.from_numpy(feeds['task']))
    np.testing.assert_allclose(got, ref.numpy(), atol=1e-5, rtol=1e-4)
    assert got.shape == (6,) and np.all(got > 0)


def test_doubt_ensemble_can_be_off(tmp_path: Path) -> None:
    """doubt_ensemble=0 trains none: the file has no doubt output and no doubt metadata."""
    data = _data()
    spec = fit_spec(data, JOINTS, TASK, link_lengths=LINKS)
    config = TrainConfig(steps=5, batch_size=32, val_fraction=0.0, doubt_ensemble=0)
    policy, _ = train_policy('mse', data, spec, config, options=SMALL, progress=False)
    assert policy.doubt is None
    path = export_policy(policy, tmp_path / 'm.onnx')
    props = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
    assert 'doubt' not in props and 'doubt' not in json.loads(props['outputs'])
    with pytest.raises(ConfigError, match='doubt_ensemble'):
        TrainConfig(doubt_ensemble=1)
