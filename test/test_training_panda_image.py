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

"""Image policies on Panda camera bags: export parity per kind and encoder, train-export-run."""

from dataclasses import replace
import json
import os
from pathlib import Path
import subprocess
import sys

import numpy as np
import onnxruntime as ort
import pytest
import torch

from imitation_ros.cli.main import main
from imitation_ros.data import load_dataset
from imitation_ros.policies.registry import make_policy
from imitation_ros.runtime.onnx_policy import OnnxPolicy
from imitation_ros.training import export as ex
from imitation_ros.training.export import export_policy
from imitation_ros.training.trainer import build_training_set, fit_spec

ROOT = Path(__file__).resolve().parents[1]
JOINTS = (*(f'panda_joint{i}' for i in range(1, 8)), 'gripper_width')
REACH = ('goal_x', 'goal_y', 'goal_z', 'pole_x', 'pole_y', 'pole_radius', 'pole_height')
SMALL = {'hidden': (32, 32)}
CASES = [('mse', None), ('gmm', None), ('ar', None), ('diffusion', 'sampler'),
         ('diffusion', 'denoiser')]

# A fresh process: MuJoCo reads MUJOCO_GL once, when it is imported.
_COLLECT = """
import sys
from imitation_ros.collect.panda import collect_panda
collect_panda('reach', 'multi', 1, sys.argv[1], seed=4, session='reach', camera_every=1,
              progress=False)
"""
_RUN = """
import json, sys
from imitation_ros.runtime.onnx_policy import OnnxPolicy
from imitation_ros.sim.panda.model import PandaConfig
from imitation_ros.studies.expressivity_panda import evaluate_panda
r = evaluate_panda(OnnxPolicy(sys.argv[1]), 'reach', episodes=1,
                   config=PandaConfig(max_steps=4))
print(json.dumps({'steps': r.steps, 'reasons': r.reasons, 'torch': 'torch' in sys.modules}))
"""


def _fresh_process(code: str, *args: str) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, '-c', code, *args], cwd=ROOT, capture_output=True,
                          env={**os.environ, 'MUJOCO_GL': 'egl'}, text=True, timeout=300)
    if proc.returncode != 0 and 'no camera' in proc.stderr:
        pytest.skip(f'no OpenGL context for the camera here: {proc.stderr.strip()[-300:]}')
    assert proc.returncode == 0, proc.stderr
    return proc


@pytest.fixture(scope='module')
def bags(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One reach episode of the Panda with a camera frame every control step."""
    out = tmp_path_factory.mktemp('panda_image')
    _fresh_process(_COLLECT, str(out))
    return out / 'reach'


@pytest.fixture(scope='module')
def training_set(bags: Path):
    """Return the episode as a training set with chunks of 8 (images included) and its spec."""
    data = load_dataset([bags], with_images=True, index=False)
    assert data.images is not None and data.joint_names == JOINTS
    tset = build_training_set(data.positions, data.task, data.actions, data.episode_id,
                              data.step, horizon=8, image=np.asarray(data.images))
    return tset, fit_spec(tset, JOINTS, REACH, with_image=True)


def _feeds(policy, variant, tset, batch: int = 4) -> dict:
    """Return graph inputs from the bag's samples (real frames) and random noise."""
    rng = np.random.default_rng(1)
    idx = rng.choice(len(tset), batch, replace=False)
    feeds = {'state': tset.state[idx].astype(np.float32),
             'task': tset.task[idx].astype(np.float32), 'image': tset.image[idx]}
    n, h = policy.spec.n_joints, policy.horizon
    if policy.kind == 'ar':
        feeds['gumbel'] = rng.gumbel(size=(batch, n, policy.config.bins)).astype(np.float32)
    if variant == 'sampler':
        feeds['noise'] = rng.standard_normal((batch, h, n)).astype(np.float32)
    if variant == 'denoiser':
        feeds['sample'] = rng.standard_normal((batch, h, n)).astype(np.float32)
        feeds['timestep'] = rng.integers(0, policy.config.train_steps, batch).astype(np.int64)
    return feeds


def _check_parity(policy, variant, tset, path: Path) -> None:
    """Export ``policy`` and compare torch with ONNX Runtime on the bag's frames (1e-4)."""
    export_policy(policy, path, variant=variant)
    feeds = _feeds(policy, variant, tset)
    module = policy.export_module(variant) if variant else policy.export_module()
    names = list(ex.io_shapes(policy, variant)[0])
    assert names[-1] == 'image'
    with torch.no_grad():
        ref = module(*(torch.from_numpy(feeds[name]) for name in names))
    ref = [t.numpy() for t in (ref if isinstance(ref, tuple) else (ref,))]
    session = ort.InferenceSession(str(path), providers=['CPUExecutionProvider'])
    got = session.run(None, feeds)
    assert len(got) == len(ref)
    for r, g in zip(ref, got):
        assert g.shape == r.shape and np.all(np.isfinite(g))
        np.testing.assert_allclose(g, r, atol=1e-4, rtol=0)


@pytest.mark.parametrize('kind,variant', CASES)
def test_spatial_softmax_policy_matches_torch_for_every_kind(
        tmp_path: Path, training_set, kind: str, variant) -> None:
    """Every kind with the spatial-softmax encoder: ONNX Runtime equals torch within 1e-4."""
    tset, spec = training_set
    torch.manual_seed(0)
    policy = make_policy(kind, replace(spec, image_encoder='spatial-softmax'), SMALL).eval()
    _check_parity(policy, variant, tset, tmp_path / f'{kind}.onnx')


@pytest.mark.parametrize('encoder,kind', [('resnet18', 'gmm'), ('cnn', 'ar')])
def test_other_encoders_match_torch(tmp_path: Path, training_set, encoder: str,
                                    kind: str) -> None:
    """ResNet-18 (GroupNorm, spatial softmax) and the small CNN export and match within 1e-4."""
    tset, spec = training_set
    torch.manual_seed(0)
    policy = make_policy(kind, replace(spec, image_encoder=encoder), SMALL).eval()
    _check_parity(policy, None, tset, tmp_path / f'{encoder}.onnx')


def test_train_export_and_run_on_panda_image_bags(tmp_path: Path, bags: Path,
                                                  training_set) -> None:
    """imitation-ros train --image on Panda bags gives a model the runtime and the sim run."""
    model = tmp_path / 'diffusion.onnx'
    assert main(['train', '--data', str(bags), '--policy', 'diffusion', '--out', str(model),
                 '--image', 'spatial-softmax', '--features', 'raw', '--steps', '3',
                 '--batch-size', '8', '--doubt-ensemble', '0', '--no-progress',
                 '--no-checkpoint']) == 0
    policy = OnnxPolicy(model)
    assert policy.needs_image and policy.image_shape == (96, 96, 3)
    assert policy.joint_names == JOINTS and policy.task_layout == REACH
    observation = json.loads(policy.metadata['observation'])
    assert observation['image_encoder'] == 'spatial-softmax'
    assert observation['features'] == 'raw'
    tset, _ = training_set
    action = policy.act(tset.state[0], tset.task[0], tset.image[0])
    assert action.shape == (8,) and np.all(np.isfinite(action))
    # Rolled in the MuJoCo sim, each step's frame rendered for it, without torch.
    run = json.loads(_fresh_process(_RUN, str(model)).stdout.strip().splitlines()[-1])
    assert 1 <= run['steps'] <= 4 and sum(run['reasons'].values()) == 1
    assert run['torch'] is False
