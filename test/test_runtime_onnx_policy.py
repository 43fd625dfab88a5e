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

"""The ONNX Runtime policy: parity with torch, sampling, receding horizon, bad files."""

from __future__ import annotations

import json
from pathlib import Path
import subprocess
import sys

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from imitation_ros.errors import ConfigError, ImitationError, ModelError
from imitation_ros.policies.ar import ArConfig
from imitation_ros.policies.base import Normalizer, observation_features, PolicySpec
from imitation_ros.policies.diffusion import model as diffusion_model, schedule
from imitation_ros.policies.gmm import gmm_select
from imitation_ros.policies.registry import make_policy
from imitation_ros.runtime.onnx_policy import OnnxPolicy
from imitation_ros.training.export import export_policy

ROOT = Path(__file__).resolve().parents[1]
JOINTS = ('joint1', 'joint2', 'joint3')
TASK = ('goal_x', 'goal_y', 'obstacle_x', 'obstacle_y', 'obstacle_r')
LINKS = (0.4, 0.3, 0.2)
N, K, H = 3, 5, 8
BINS = ArConfig().bins
MODELS = ('mse', 'gmm', 'ar', 'sampler', 'denoiser')


def _observations(batch: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Return joint states and task vectors in the range the specs were fitted on."""
    rng = np.random.default_rng(seed)
    state = rng.uniform(-1.0, 1.0, (batch, N))
    task = np.column_stack([rng.uniform(0.3, 0.8, batch), rng.uniform(-0.3, 0.3, batch),
                            rng.uniform(0.2, 0.5, batch), rng.uniform(-0.2, 0.2, batch),
                            rng.uniform(0.05, 0.1, batch)])
    return state, task


def _spec(*, image: bool = False) -> PolicySpec:
    """Return a spec whose normalization comes from random data (no training needed)."""
    state, task = _observations(500, seed=0)
    links = None if image else LINKS
    with torch.no_grad():
        obs = observation_features(torch.as_tensor(state), torch.as_tensor(task), links).numpy()
    rel = np.random.default_rng(1).normal(0.0, 0.05, (500, N))
    return PolicySpec(JOINTS, TASK, Normalizer.fit(obs), Normalizer.fit(rel),
                      image_shape=(96, 96, 3) if image else None, link_lengths=links)


@pytest.fixture(scope='module')
def models(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Export one small untrained model per kind (both diffusion variants)."""
    out = tmp_path_factory.mktemp('models')
    spec = _spec()
    result = {}
    for name in MODELS:
        kind = name if name in ('mse', 'gmm', 'ar') else 'diffusion'
        torch.manual_seed(0)
        policy = make_policy(kind, spec, {'hidden': (32, 32)}).eval()
        variant = name if kind == 'diffusion' else None
        path = export_policy(policy, out / f'{name}.onnx', variant=variant,
                             metadata_extra={'version': f'{name}-1', 'digest': 'abc'})
        result[name] = (policy, path)
    return result


def _t(x: np.ndarray) -> torch.Tensor:
    return torch.as_tensor(np.asarray(x, dtype=np.float32))


@pytest.mark.parametrize('name', MODELS)
def test_runtime_matches_torch(models: dict, name: str) -> None:
    """act_batch with given noise equals the torch policy within 1e-4 for every kind."""
    policy, path = models[name]
    runtime = OnnxPolicy(path)
    state, task = _observations(6, seed=2)
    rng = np.random.default_rng(3)
    s, t = _t(state), _t(task)
    with torch.no_grad():
        if name == 'mse':
            pairs = [(runtime.act_batch(state, task), policy(s, t).numpy())]
        elif name == 'gmm':
            lw, means, stds = (v.double().numpy() for v in policy.export_module()(s, t))
            noise = (rng.random(6), rng.standard_normal((6, N)))
            pairs = [(runtime.act_batch(state, task), gmm_select(
                lw, means, stds, mode='argmax', uniform=noise[0], normal=noise[1]))]
            sampler = OnnxPolicy(path, mode='sample')
            pairs.append((sampler.act_batch(state, task, noise=noise), gmm_select(
                lw, means, stds, mode='sample', uniform=noise[0], normal=noise[1])))
        elif name == 'ar':
            gumbel = (0.7 * rng.gumbel(size=(6, N, BINS))).astype(np.float32)
            graph = policy.export_module()
            pairs = [(runtime.act_batch(state, task),
                      graph(s, t, torch.zeros(6, N, BINS)).numpy()),
                     (runtime.act_batch(state, task, noise=gumbel),
                      graph(s, t, _t(gumbel)).numpy())]
        else:
            noise = rng.standard_normal((6, H, N)).astype(np.float32)
            ref = policy.scaler.denormalize(policy.sample(s, t, _t(noise)), s).numpy()
            pairs = [(runtime.act_batch(state, task, noise=noise), ref)]
    for got, ref in pairs:
        assert got.dtype == np.float64 and got.shape == ref.shape
        np.testing.assert_allclose(got, ref, atol=1e-4, rtol=0)


def test_diffusion_variants_agree(models: dict) -> None:
    """The sampler graph and the numpy DDIM loop over the denoiser give the same chunk."""
    state, task = _observations(1, seed=4)
    noise = np.random.default_rng(5).standard_normal((H, N))
    a = OnnxPolicy(models['sampler'][1]).predict_chunk(state[0], task[0], noise=noise)
    b = OnnxPolicy(models['denoiser'][1]).predict_chunk(state[0], task[0], noise=noise)
    assert a.shape == (H, N)
    np.testing.assert_allclose(a, b, atol=1e-4, rtol=0)


@pytest.mark.parametrize('name', ['mse', 'gmm', 'ar'])
def test_act_is_one_row_of_act_batch(models: dict, name: str) -> None:
    """One act returns (n,) float64 absolute targets equal to the batched call."""
    runtime = OnnxPolicy(models[name][1])
    state, task = _observations(1, seed=6)
    action = runtime.act(state[0], task[0])
    assert action.shape == (N,) and action.dtype == np.float64
    np.testing.assert_allclose(action, runtime.act_batch(state, task)[0], atol=1e-12)
    assert runtime.predict_chunk(state[0], task[0]).shape == (1, N)


@pytest.mark.parametrize('name,options', [('mse', {}), ('gmm', {}), ('gmm', {'mode': 'sample'}),
                                          ('ar', {}), ('ar', {'temperature': 1.0})])
def test_act_fast_path_equals_general_path(models: dict, name: str, options: dict) -> None:
    """The bound batch-1 buffers of act give exactly the general path's targets and noise."""
    path = models[name][1]
    fast, general = OnnxPolicy(path, seed=5, **options), OnnxPolicy(path, seed=5, **options)
    assert fast._binding is not None
    fast.warmup()
    state, task = _observations(8, seed=30)
    kept = []
    for i in range(8):
        s = state[i].astype(np.float32) if i % 2 else state[i]
        t = list(task[i]) if i % 3 == 0 else task[i]
        action = fast.act(s, t)
        assert action.shape == (N,) and action.dtype == np.float64
        np.testing.assert_array_equal(action, general.predict_chunk(state[i], task[i])[0])
        kept.append((action, action.copy()))
    for action, copy in kept:  # results are not views of the reused buffers
        np.testing.assert_array_equal(action, copy)


@pytest.mark.parametrize('name', ['mse', 'gmm', 'ar'])
def test_act_fast_path_rejects_bad_inputs(models: dict, name: str) -> None:
    """Wrong shapes and NaN, Inf or float32-overflowing values raise; later calls are clean."""
    runtime = OnnxPolicy(models[name][1])
    state, task = _observations(1, seed=31)
    good = runtime.act(state[0], task[0])
    with pytest.raises(ConfigError, match=r'state must have shape \(3,\)'):
        runtime.act(np.zeros((1, 3)), task[0])
    with pytest.raises(ConfigError, match='task must have shape'):
        runtime.act(state[0], np.zeros(6))
    for bad_state, bad_task in (([np.nan, 0.0, 0.0], task[0]), (state[0], [0, 0, np.inf, 0, 0]),
                                ([1e39, 0.0, 0.0], task[0])):  # 1e39 is Inf in float32
        with pytest.raises(ConfigError, match='NaN or Inf'), \
                np.errstate(over='ignore'):
            runtime.act(np.asarray(bad_state), np.asarray(bad_task))
    np.testing.assert_array_equal(runtime.act(state[0], task[0]), good)
    with runtime._single_lock:  # buffers busy (another thread): the general path answers
        np.testing.assert_array_equal(runtime.act(state[0], task[0]), good)


@pytest.mark.parametrize('name,options', [('gmm', {'mode': 'sample'}),
                                          ('ar', {'temperature': 1.0}),
                                          ('sampler', {})])
def test_sampling_is_seeded(models: dict, name: str, options: dict) -> None:
    """The runtime's generator makes sampling reproducible per seed and varied across seeds."""
    path = models[name][1]
    state, task = _observations(1, seed=7)
    runs = {}
    for seed in (0, 0, 1):
        runtime = OnnxPolicy(path, seed=seed, **options)
        runs.setdefault(seed, []).append(
            np.stack([runtime.predict_chunk(state[0], task[0]) for _ in range(4)]))
    np.testing.assert_array_equal(runs[0][0], runs[0][1])
    assert not np.allclose(runs[0][0], runs[1][0])


def test_defaults_come_from_the_model(models: dict) -> None:
    """Mode, temperature and execute default to the exported settings; bad values are refused."""
    assert OnnxPolicy(models['gmm'][1]).mode == 'argmax'
    assert OnnxPolicy(models['ar'][1]).temperature == 0.0
    runtime = OnnxPolicy(models['sampler'][1])
    assert (runtime.horizon, runtime.execute) == (H, 4)
    assert OnnxPolicy(models['sampler'][1], execute=8).execute == 8
    with pytest.raises(ConfigError, match='execute'):
        OnnxPolicy(models['sampler'][1], execute=9)
    with pytest.raises(ConfigError, match='mode'):
        OnnxPolicy(models['gmm'][1], mode='mean')
    with pytest.raises(ConfigError, match='temperature'):
        OnnxPolicy(models['ar'][1], temperature=-1.0)


@pytest.mark.parametrize('name', ['sampler', 'denoiser'])
def test_receding_horizon(models: dict, name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Diffusion act plans once per `execute` steps from the queue; reset re-plans."""
    runtime = OnnxPolicy(models[name][1], execute=3, seed=11)
    twin = OnnxPolicy(models[name][1], execute=3, seed=11)
    state, task = _observations(1, seed=8)
    s, t = state[0], task[0]
    calls = []
    real_run = runtime._run
    monkeypatch.setattr(runtime, '_run', lambda feeds: calls.append(1) or real_run(feeds))
    per_chunk = 1 if name == 'sampler' else 10
    first = twin.predict_chunk(s, t)
    got = [runtime.act(s, t) for _ in range(3)]
    assert len(calls) == per_chunk and runtime.pending == 0
    np.testing.assert_allclose(np.stack(got), first[:3], atol=1e-12)
    second = twin.predict_chunk(s, t)
    np.testing.assert_allclose(runtime.act(s, t), second[0], atol=1e-12)
    assert len(calls) == 2 * per_chunk and runtime.pending == 2
    runtime.reset()
    assert runtime.pending == 0
    runtime.act(s, t)
    assert len(calls) == 3 * per_chunk and runtime.pending == 2


def test_warmup_leaves_sampling_untouched(models: dict) -> None:
    """Warm-up returns a latency and neither draws noise nor fills the queue."""
    path = models['sampler'][1]
    state, task = _observations(1, seed=9)
    warm, cold = OnnxPolicy(path, seed=3), OnnxPolicy(path, seed=3)
    assert warm.warmup(iterations=2) > 0
    assert warm.pending == 0
    np.testing.assert_array_equal(warm.act(state[0], task[0]), cold.act(state[0], task[0]))


def test_properties(models: dict) -> None:
    """The runtime exposes the model's identity and layout."""
    runtime = OnnxPolicy(models['denoiser'][1], expect_joint_names=list(JOINTS))
    assert (runtime.kind, runtime.variant, runtime.version) == ('diffusion', 'denoiser',
                                                                'denoiser-1')
    assert runtime.joint_names == JOINTS and runtime.task_layout == TASK
    assert not runtime.needs_image and runtime.image_shape is None
    assert runtime.metadata['imitation_ros.format'] == '1'
    assert runtime.training_data == {'digest': 'abc'}
    assert runtime.settings['config']['sample_steps'] == 10
    assert runtime.providers == ['CPUExecutionProvider']
    assert 'denoiser' in repr(runtime)


def test_image_policy(tmp_path: Path) -> None:
    """An image policy needs uint8 frames of its shape and matches torch."""
    torch.manual_seed(0)
    policy = make_policy('mse', _spec(image=True), {'hidden': (32, 32)}).eval()
    runtime = OnnxPolicy(export_policy(policy, tmp_path / 'image.onnx'))
    assert runtime.needs_image and runtime.image_shape == (96, 96, 3)
    state, task = _observations(2, seed=10)
    images = np.random.default_rng(0).integers(0, 256, (2, 96, 96, 3), dtype=np.uint8)
    with torch.no_grad():
        ref = policy(_t(state), _t(task), torch.from_numpy(images)).numpy()
    np.testing.assert_allclose(runtime.act_batch(state, task, images), ref, atol=1e-4, rtol=0)
    np.testing.assert_allclose(runtime.act(state[0], task[0], images[0]), ref[0], atol=1e-4)
    with pytest.raises(ConfigError, match='needs camera images'):
        runtime.act(state[0], task[0])
    with pytest.raises(ConfigError, match='uint8'):
        runtime.act(state[0], task[0], images[0].astype(np.float32))


def test_bad_inputs_are_config_errors(models: dict) -> None:
    """Wrong shapes and NaN observations raise ConfigError naming what is expected."""
    runtime = OnnxPolicy(models['mse'][1])
    state, task = _observations(1, seed=12)
    with pytest.raises(ConfigError, match=r'state must have shape \(3,\)'):
        runtime.act(np.zeros(4), task[0])
    with pytest.raises(ConfigError, match='task must have shape'):
        runtime.act(state[0], np.zeros(3))
    with pytest.raises(ConfigError, match='NaN'):
        runtime.act(np.array([np.nan, 0.0, 0.0]), task[0])
    with pytest.raises(ConfigError, match='deterministic'):
        runtime.act_batch(state, task, noise=np.zeros((1, 3)))
    with pytest.raises(ConfigError, match='noise must have shape'):
        OnnxPolicy(models['ar'][1]).act_batch(state, task, noise=np.zeros((1, 3, 5)))


def _rewrite(src: Path, dst: Path, **changes: str | None) -> Path:
    """Copy a model with metadata keys changed (None deletes a key)."""
    model = onnx.load(str(src))
    props = {p.key: p.value for p in model.metadata_props}
    for key, value in changes.items():
        key = key.replace('__', '.')
        if value is None:
            props.pop(key, None)
        else:
            props[key] = value
    del model.metadata_props[:]
    onnx.helper.set_model_props(model, props)
    onnx.save(model, str(dst))
    return dst


@pytest.mark.parametrize('content,what', [
    (b'', 'empty'), (np.random.default_rng(0).bytes(4096), 'not a loadable'),
    (b'{"kind": "mse"}', 'not a loadable'), (None, 'not a loadable')])
def test_unreadable_files(models: dict, tmp_path: Path, content: bytes | None,
                          what: str) -> None:
    """Empty, random, JSON and truncated files raise ModelError naming the path."""
    path = tmp_path / 'bad.onnx'
    if content is None:
        data = models['mse'][1].read_bytes()
        content = data[:len(data) // 2]
    path.write_bytes(content)
    with pytest.raises(ModelError, match=what) as info:
        OnnxPolicy(path)
    assert str(path) in str(info.value)


def test_missing_file(tmp_path: Path) -> None:
    """A path that does not exist says so and how to make a model."""
    with pytest.raises(ModelError, match='does not exist.*imitation-ros train'):
        OnnxPolicy(tmp_path / 'nope.onnx')


def test_missing_metadata(models: dict, tmp_path: Path) -> None:
    """A plain ONNX file, or one missing keys, is refused with the keys listed."""
    src = models['mse'][1]
    plain = onnx.load(str(src))
    del plain.metadata_props[:]
    onnx.save(plain, str(tmp_path / 'plain.onnx'))
    with pytest.raises(ModelError, match='not an imitation_ros policy.*joint_names'):
        OnnxPolicy(tmp_path / 'plain.onnx')
    path = _rewrite(src, tmp_path / 'partial.onnx', settings=None, version=None)
    with pytest.raises(ModelError, match='lacks required metadata settings, version'):
        OnnxPolicy(path)
    path = _rewrite(models['denoiser'][1], tmp_path / 'd.onnx', ddim_steps=None)
    with pytest.raises(ModelError, match='ddim_steps'):
        OnnxPolicy(path)


@pytest.mark.parametrize('changes,match', [
    ({'imitation_ros__format': '2'}, "format '2'"),
    ({'kind': 'transformer'}, 'unknown policy kind'),
    ({'joint_names': 'not json'}, 'not valid JSON'),
    ({'inputs': json.dumps({'state': ['B', 3]})}, 'metadata inputs'),
    ({'horizon': 'eight'}, 'must be an integer'),
])
def test_corrupt_metadata(models: dict, tmp_path: Path, changes: dict, match: str) -> None:
    """Unknown formats and kinds, broken JSON and wrong I/O lists raise ModelError."""
    path = _rewrite(models['mse'][1], tmp_path / 'm.onnx', **changes)
    with pytest.raises(ModelError, match=match):
        OnnxPolicy(path)


def test_metadata_disagreeing_with_graph(models: dict, tmp_path: Path) -> None:
    """Metadata claiming another action dim or joint count than the graph is refused."""
    src = models['mse'][1]
    meta = {p.key: p.value for p in onnx.load(str(src)).metadata_props}
    action = json.loads(meta['action'])
    action['dim'] = 4
    path = _rewrite(src, tmp_path / 'a.onnx', action=json.dumps(action))
    with pytest.raises(ModelError, match='action dim 4'):
        OnnxPolicy(path)
    # A consistent metadata story for four joints, but the graph has three.
    obs = json.loads(meta['observation'])
    obs['state_dim'] = 4
    action['normalization'] = {'mean': [0.0] * 4, 'std': [1.0] * 4}
    path = _rewrite(src, tmp_path / 'b.onnx', action=json.dumps(action),
                    observation=json.dumps(obs), joint_names=json.dumps([*JOINTS, 'joint4']),
                    inputs=json.dumps({'state': ['B', 4], 'task': ['B', 5]}),
                    outputs=json.dumps({'action': ['B', 4]}))
    with pytest.raises(ModelError, match=r"graph input 'state' has shape \(B, 3\)"):
        OnnxPolicy(path)


def test_wrong_robot(models: dict) -> None:
    """expect_joint_names refuses a model trained for other joints or another order."""
    path = models['gmm'][1]
    with pytest.raises(ModelError, match='another robot'):
        OnnxPolicy(path, expect_joint_names=['shoulder', 'elbow', 'wrist'])
    with pytest.raises(ModelError, match='another order'):
        OnnxPolicy(path, expect_joint_names=list(reversed(JOINTS)))


def test_non_finite_output_fails_safe(tmp_path: Path) -> None:
    """A graph producing NaN raises ModelError (an ImitationError) unless checks are off."""
    torch.manual_seed(0)
    policy = make_policy('mse', _spec(), {'hidden': (32, 32)}).eval()
    with torch.no_grad():
        policy.net[0].weight[0, 0] = float('nan')
    path = export_policy(policy, tmp_path / 'nan.onnx')
    state, task = _observations(1, seed=13)
    with pytest.raises(ImitationError, match='NaN or Inf'):
        OnnxPolicy(path).act(state[0], task[0])
    assert np.isnan(OnnxPolicy(path, check_finite=False).act(state[0], task[0])).any()


def test_providers(models: dict) -> None:
    """Unavailable accelerators fall back to the CPU with a warning; unknown names fail."""
    path = models['mse'][1]
    if 'CUDAExecutionProvider' in ort.get_available_providers():
        pytest.skip('CUDA is available here; the fallback cannot be observed')
    with pytest.warns(RuntimeWarning, match='CUDAExecutionProvider is not available'):
        runtime = OnnxPolicy(path, providers=['cuda'])
    assert runtime.providers == ['CPUExecutionProvider']
    assert OnnxPolicy(path, providers=['cpu'], threads=2).providers == ['CPUExecutionProvider']
    with pytest.raises(ConfigError, match='unknown ONNX Runtime provider'):
        OnnxPolicy(path, providers=['gpu9000'])


def test_diffusion_schedule_is_one_numpy_module() -> None:
    """The torch model and the runtime share the numpy DDIM schedule rather than copying it."""
    assert diffusion_model.ddim_schedule is schedule.ddim_schedule
    assert diffusion_model.cosine_alphas_cumprod is schedule.cosine_alphas_cumprod
    steps = schedule.ddim_schedule(100, 10)
    assert [s[0] for s in steps] == list(range(90, -1, -10)) and steps[-1][2] == 1.0


def test_runtime_imports_no_torch() -> None:
    """Importing the runtime, the model slot and every kind's run-time half loads no torch."""
    code = ('import sys, imitation_ros.runtime.onnx_policy, imitation_ros.runtime.model_slot, '
            'imitation_ros.policies.registry; '
            'from imitation_ros.policies import KINDS; '
            'assert [k.runtime for k in KINDS.values()]; '
            "assert 'torch' not in sys.modules, 'torch imported'")
    proc = subprocess.run([sys.executable, '-c', code], cwd=ROOT, capture_output=True,
                          text=True, env={'PYTHONPATH': str(ROOT), 'PATH': '/usr/bin:/bin'})
    assert proc.returncode == 0, proc.stderr


@pytest.fixture(scope='module')
def trained_with_doubt(tmp_path_factory: pytest.TempPathFactory) -> tuple:
    """Train a small mse policy (with its doubt ensemble) on a smooth map and export it."""
    from imitation_ros.policies.base import TrainConfig
    from imitation_ros.training.trainer import build_training_set, fit_spec, train_policy
    state, task = _observations(600, seed=20)
    action = state + 0.2 * np.sin(2.0 * state) + 0.05 * task[:, :1]
    data = build_training_set(state, task, action, np.repeat(np.arange(30), 20),
                              np.tile(np.arange(20), 30))
    spec = fit_spec(data, JOINTS, TASK, link_lengths=LINKS)
    config = TrainConfig(steps=400, batch_size=128, val_fraction=0.0, doubt_hidden=(32, 32))
    policy, _ = train_policy('mse', data, spec, config, options={'hidden': (32, 32)},
                             progress=False)
    path = export_policy(policy, tmp_path_factory.mktemp('doubt') / 'mse-doubt.onnx',
                         metadata_extra={'version': 'doubt-1'})
    return policy, path


#: Far outside the training data: joints beyond the sampled range, goal and obstacle elsewhere.
FAR_STATES = np.array([[2.8, -2.8, 2.5], [-2.5, 2.5, -2.8], [2.0, 2.0, 2.0]])
FAR_TASKS = np.array([[-1.5, 1.5, -0.5, 1.0, 0.4], [2.5, -2.0, 1.5, -1.0, 0.3],
                      [0.0, 0.0, 0.0, 0.0, 0.5]])


def test_doubt_is_high_far_from_the_data(trained_with_doubt: tuple) -> None:
    """A state far outside the training data gets a doubt well above every familiar state's."""
    policy, path = trained_with_doubt
    runtime = OnnxPolicy(path)
    assert runtime.has_doubt and runtime.doubt_info['method'] == 'ensemble'
    assert runtime.doubt_info['config']['members'] == 5
    state, task = _observations(200, seed=21)  # familiar: the training distribution
    familiar = runtime.doubt_batch(state, task)
    far = runtime.doubt_batch(FAR_STATES, FAR_TASKS)
    assert familiar.shape == (200,) and np.all(np.isfinite(familiar)) and np.all(familiar >= 0)
    assert far.min() > 3.0 * np.percentile(familiar, 99), (far, np.percentile(familiar, 99))
    with torch.no_grad():  # the graph's doubt is the torch ensemble's
        ref = policy.doubt(_t(FAR_STATES), _t(FAR_TASKS)).numpy()
    np.testing.assert_allclose(far, ref, rtol=1e-4, atol=1e-5)


def test_act_with_doubt_matches_act(trained_with_doubt: tuple) -> None:
    """act_with_doubt returns act's action and the doubt_batch value of that observation."""
    _, path = trained_with_doubt
    runtime = OnnxPolicy(path)
    state, task = _observations(1, seed=22)
    action, doubt = runtime.act_with_doubt(state[0], task[0])
    np.testing.assert_allclose(action, runtime.act(state[0], task[0]), atol=1e-12)
    assert doubt == pytest.approx(runtime.doubt_batch(state, task)[0], rel=1e-6)
    _, far = runtime.act_with_doubt(FAR_STATES[0], FAR_TASKS[0])
    assert far > doubt


def test_model_without_doubt_loads(models: dict) -> None:
    """A model exported without an ensemble (older files) loads; its doubt is unavailable."""
    runtime = OnnxPolicy(models['mse'][1])
    assert not runtime.has_doubt and runtime.doubt_info is None
    assert 'doubt' not in runtime.metadata
    state, task = _observations(1, seed=23)
    action, doubt = runtime.act_with_doubt(state[0], task[0])
    assert doubt is None
    np.testing.assert_allclose(action, runtime.act(state[0], task[0]), atol=1e-12)
    with pytest.raises(ModelError, match='no doubt output'):
        runtime.doubt_batch(state, task)


def test_diffusion_doubt_from_the_queue(tmp_path: Path) -> None:
    """Diffusion: the doubt is that of the current observation, also when acting from the queue."""
    from imitation_ros.policies.ensemble import DoubtEnsemble
    torch.manual_seed(0)
    policy = make_policy('diffusion', _spec(), {'hidden': (32, 32)}).eval()
    policy.attach_doubt(DoubtEnsemble(policy.spec, seed=3))
    runtime = OnnxPolicy(export_policy(policy, tmp_path / 'd.onnx'), execute=2)
    state, task = _observations(2, seed=24)
    _, first = runtime.act_with_doubt(state[0], task[0])
    assert runtime.pending == 1
    _, second = runtime.act_with_doubt(state[1], task[1])  # served from the queue
    np.testing.assert_allclose([first, second], runtime.doubt_batch(state, task), rtol=1e-5)
