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

"""Checkpoints next to models, and warm starts from them (train_policy, the pipeline, the CLI)."""

from pathlib import Path

import numpy as np
import pytest
import torch

from imitation_ros.collect import collect
from imitation_ros.cli.main import main
from imitation_ros.errors import ConfigError, ModelError, TrainingError
from imitation_ros.policies.base import TrainConfig
from imitation_ros.runtime.onnx_policy import OnnxPolicy
from imitation_ros.training.checkpoint import checkpoint_path, load_checkpoint, save_checkpoint
from imitation_ros.training.jobs import JobSpec
from imitation_ros.training.pipeline import train_from_bags, TrainRequest
from imitation_ros.training.trainer import train_policy

SMALL = TrainConfig(steps=30, hidden=(32, 32), doubt_ensemble=2, doubt_hidden=(8,))


@pytest.fixture(scope='module')
def bags(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Four single-demonstrator episodes written as bags."""
    root = tmp_path_factory.mktemp('data')
    collect('above', 4, root, seed=5, camera_every=0, progress=False)
    return root


@pytest.fixture(scope='module')
def first(bags: Path, tmp_path_factory: pytest.TempPathFactory):
    """Train a small mse model from scratch, with its checkpoint."""
    out = tmp_path_factory.mktemp('models') / 'policy_v001.onnx'
    return train_from_bags(TrainRequest(data=(bags,), kind='mse', out=out, config=SMALL,
                                        options={'hidden': (32, 32)}, progress=False,
                                        version='v001'))


def _observation(policy) -> tuple[torch.Tensor, torch.Tensor]:
    rng = np.random.default_rng(0)
    state = torch.tensor(rng.uniform(-1, 1, (5, policy.spec.n_joints)), dtype=torch.float32)
    task = torch.tensor(rng.uniform(-0.5, 0.5, (5, len(policy.spec.task_layout))),
                        dtype=torch.float32)
    return state, task


def test_checkpoint_round_trip(first, tmp_path: Path) -> None:
    """The checkpoint next to the model rebuilds the same policy and doubt ensemble."""
    ckpt = checkpoint_path(first.model)
    assert ckpt == first.model.with_suffix('.pt') and ckpt.is_file()
    loaded = load_checkpoint(ckpt)
    assert loaded.kind == 'mse' and loaded.spec == first.policy.spec
    assert loaded.config == first.policy.config
    state, task = _observation(loaded)
    with torch.no_grad():
        torch.testing.assert_close(loaded.export_module()(state, task),
                                   first.policy.export_module()(state, task))
        assert loaded.doubt is not None
        torch.testing.assert_close(loaded.doubt(state, task), first.policy.doubt(state, task))
    # What the ONNX file says and what the checkpoint holds agree.
    onnx_action = OnnxPolicy(first.model).act(state[0].numpy().astype(np.float64),
                                              task[0].numpy().astype(np.float64))
    with torch.no_grad():
        torch_action = loaded.export_module()(state[:1], task[:1])[0].numpy()
    np.testing.assert_allclose(onnx_action, torch_action, atol=1e-4)
    again = save_checkpoint(loaded, tmp_path / 'copy.pt')
    assert load_checkpoint(again).config == loaded.config


def test_bad_checkpoints_are_refused(tmp_path: Path) -> None:
    """A missing file, garbage and a foreign torch file each get a clear ModelError."""
    with pytest.raises(ModelError, match='no checkpoint'):
        load_checkpoint(tmp_path / 'missing.pt')
    (tmp_path / 'junk.pt').write_bytes(b'not a checkpoint')
    with pytest.raises(ModelError, match='not a readable checkpoint'):
        load_checkpoint(tmp_path / 'junk.pt')
    torch.save({'weights': torch.zeros(3)}, tmp_path / 'other.pt')
    with pytest.raises(ModelError, match='not an imitation_ros checkpoint'):
        load_checkpoint(tmp_path / 'other.pt')


def test_warm_start_starts_from_the_weights(first, bags: Path, tmp_path: Path) -> None:
    """A warm start begins at the previous weights; a fresh start does not."""
    from imitation_ros.data.aggregate import aggregate
    from imitation_ros.data.dataset import load_dataset
    from imitation_ros.training.trainer import build_training_set
    samples = aggregate(load_dataset([bags]))
    tset = build_training_set(samples.state, samples.task, samples.action, samples.episode,
                              samples.step, weight=samples.weight)
    init = load_checkpoint(checkpoint_path(first.model))
    # A learning rate so small that one step cannot move the weights measurably.
    still = TrainConfig(steps=1, lr=1e-12, hidden=(32, 32), doubt_ensemble=2,
                        doubt_hidden=(8,))
    warm, _ = train_policy('mse', tset, init.spec, still, options={'hidden': (32, 32)},
                           init=init, progress=False)
    cold, _ = train_policy('mse', tset, init.spec, still, options={'hidden': (32, 32)},
                           seed=1, progress=False)
    state, task = _observation(init)
    with torch.no_grad():
        ref = init.export_module()(state, task)
        torch.testing.assert_close(warm.export_module()(state, task), ref, atol=1e-6, rtol=0)
        torch.testing.assert_close(warm.doubt(state, task), init.doubt(state, task),
                                   atol=1e-6, rtol=0)
        assert (cold.export_module()(state, task) - ref).abs().max() > 1e-3
    with pytest.raises(ConfigError, match='cannot warm start a GmmPolicy'):
        train_policy('gmm', tset, init.spec, still, init=init, progress=False)
    with pytest.raises(ConfigError, match='other layer shapes'):
        train_policy('mse', tset, init.spec, still, options={'hidden': (16, 16)}, init=init,
                     progress=False)


def test_pipeline_warm_start(first, bags: Path, tmp_path: Path) -> None:
    """init_from keeps the checkpoint's spec and settings and records where it started."""
    out = tmp_path / 'policy_v002.onnx'
    result = train_from_bags(TrainRequest(
        data=(bags,), kind='mse', out=out, config=SMALL, progress=False, version='v002',
        init_from=checkpoint_path(first.model)))
    assert result.policy.spec == first.policy.spec  # normalization kept, not refitted
    assert result.policy.config == first.policy.config  # hidden (32, 32) without options
    assert OnnxPolicy(out).training_data['init_from'] == str(checkpoint_path(first.model))
    assert OnnxPolicy(out).training_data['misaligned_dropped'] == result.misaligned
    assert checkpoint_path(out).is_file()
    with pytest.raises(TrainingError, match='it is a mse policy, not gmm'):
        train_from_bags(TrainRequest(data=(bags,), kind='gmm', out=tmp_path / 'g.onnx',
                                     config=SMALL, progress=False,
                                     init_from=checkpoint_path(first.model)))
    with pytest.raises(TrainingError, match='settings differ'):
        train_from_bags(TrainRequest(data=(bags,), kind='mse', out=tmp_path / 'h.onnx',
                                     config=SMALL, options={'hidden': (64,)}, progress=False,
                                     init_from=checkpoint_path(first.model)))
    with pytest.raises(TrainingError, match='features are planar-fk'):
        train_from_bags(TrainRequest(data=(bags,), kind='mse', out=tmp_path / 'r.onnx',
                                     config=SMALL, features='raw', progress=False,
                                     init_from=checkpoint_path(first.model)))


def test_cli_init_from(first, bags: Path, tmp_path: Path,
                       capsys: pytest.CaptureFixture) -> None:
    """imitation-ros train --init-from warm starts; --no-checkpoint writes no NAME.pt."""
    out = tmp_path / 'v3.onnx'
    rc = main(['train', '--data', str(bags), '--policy', 'mse', '--out', str(out),
               '--steps', '5', '--init-from', str(checkpoint_path(first.model)),
               '--doubt-ensemble', '0', '--no-checkpoint', '--no-progress'])
    assert rc == 0, capsys.readouterr().err
    assert 'warm start from' in capsys.readouterr().out
    assert out.is_file() and not checkpoint_path(out).exists()
    rc = main(['train', '--data', str(bags), '--policy', 'mse', '--out', str(out),
               '--steps', '5', '--init-from', str(tmp_path / 'nope.pt'), '--no-progress'])
    assert rc == 1 and 'no checkpoint' in capsys.readouterr().err


def test_job_command_carries_init_from(tmp_path: Path) -> None:
    """The trainer node's child command warm starts only when told to."""
    spec = JobSpec(data=(tmp_path,), out=tmp_path / 'p_v002.onnx', version='v002')
    assert '--init-from' not in spec.command()
    assert spec.command()[spec.command().index('--max-command-step') + 1] == '0.1'
    warm = JobSpec(data=(tmp_path,), out=tmp_path / 'p_v002.onnx', version='v002',
                   init_from=tmp_path / 'p_v001.pt')
    cmd = warm.command()
    assert cmd[cmd.index('--init-from') + 1] == str(tmp_path / 'p_v001.pt')
