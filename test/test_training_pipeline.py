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

"""A tiny train, export, evaluate run on real episode bags (what the CLI and trainer do)."""

from pathlib import Path

import numpy as np
from hostile_bags import abandon
import pytest

from imitation_ros.cli.collect import collect
from imitation_ros.cli.main import main
from imitation_ros.data import aggregate, data_digest, EpisodeRecord, write_episode
from imitation_ros.data.dataset import load_dataset
from imitation_ros.errors import TrainingError
from imitation_ros.policies.base import TrainConfig
from imitation_ros.runtime.onnx_policy import OnnxPolicy
from imitation_ros.studies.evaluate import evaluate_policy
from imitation_ros.training.pipeline import train_from_bags, TrainRequest


@pytest.fixture(scope='module')
def bags(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Six multi-demonstrator episodes written as bags."""
    root = tmp_path_factory.mktemp('data')
    collect('multi', 6, root, seed=3, camera_every=0, progress=False)
    return root


@pytest.mark.parametrize('kind', ['mse', 'diffusion'])
def test_train_export_evaluate(bags: Path, tmp_path: Path, kind: str) -> None:
    """Training on bags writes a model and loss plot that ONNX Runtime runs in the sim."""
    out = tmp_path / f'{kind}.onnx'
    result = train_from_bags(TrainRequest(
        data=(bags,), kind=kind, out=out, config=TrainConfig(steps=40, hidden=(32, 32)),
        options={'hidden': (32, 32)}, progress=False, version='v-test'))
    assert result.model == out and out.stat().st_size > 1000
    assert result.loss_plot.read_bytes()[:4] == b'\x89PNG'
    policy = OnnxPolicy(out)
    assert policy.kind == kind and policy.version == 'v-test'
    assert policy.training_data['digest'] == result.digest
    assert policy.training_data['samples'] == result.samples > 100
    evaluation = evaluate_policy(policy, episodes=2, seed=5)
    assert evaluation.episodes == 2 and sum(evaluation.reasons.values()) == 2


def test_cli_train(bags: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """imitation-ros train prints a summary and writes the model and its loss curves."""
    out = tmp_path / 'models' / 'gmm.onnx'
    rc = main(['train', '--data', str(bags), '--policy', 'gmm', '--out', str(out),
               '--steps', '30', '--option', 'hidden=[32, 32]', '--no-progress'])
    assert rc == 0, capsys.readouterr().err
    text = capsys.readouterr().out
    assert 'trained gmm' in text and out.exists() and out.with_suffix('.loss.png').exists()
    assert main(['train', '--data', str(bags), '--policy', 'gmm', '--out', str(out),
                 '--option', 'componentz=3', '--no-progress']) == 1
    assert 'componentz' in capsys.readouterr().err


def test_skipped_bags_are_counted_in_the_summary_and_the_model(
        bags: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """A damaged bag and a killed recording beside good bags: training runs and counts both."""
    import shutil

    good = next(p for p in sorted(bags.rglob('metadata.yaml'))).parent
    extra = tmp_path / 'more'
    broken = extra / 'broken'
    shutil.copytree(good, broken)
    mcap = next(broken.glob('*.mcap'))
    mcap.write_bytes(mcap.read_bytes()[:-40] + mcap.read_bytes()[-8:])  # footer gone
    abandon(shutil.copytree(good, extra / 'ep_00009.partial' / 'ep_00009').parent)
    out = tmp_path / 'mse.onnx'
    with pytest.warns(UserWarning, match='broken'):
        rc = main(['train', '--data', str(bags), str(extra), '--policy', 'mse', '--out',
                   str(out), '--steps', '5', '--option', 'hidden=[16, 16]', '--no-progress'])
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    first, *rest = captured.out.splitlines()
    assert first.startswith('trained mse') and 'skipped 2 unreadable bag(s)' in first
    assert any(str(broken) in line for line in rest)
    assert any('ep_00009.partial' in line for line in rest)
    meta = OnnxPolicy(out).training_data
    assert meta['skipped_bags'] == 2 and meta['episodes'] == 6
    assert sorted(Path(s['bag']).name for s in meta['skipped']) == ['broken', 'ep_00009.partial']


def test_corrections_weighted_not_replacing(bags: Path, tmp_path: Path) -> None:
    """Human takeover samples join the demonstrations with the correction weight."""
    data = load_dataset([bags])
    n = 12
    record = EpisodeRecord(
        joint_names=data.joint_names, t0_ns=2_000_000_000_000_000_000, dt=0.05,
        positions=data.positions[:n + 1], velocities=np.zeros((n + 1, 3)),
        task=data.task[0], actions=data.actions[:n],
        intervention=np.arange(n) >= 5, episode=0, success=True, reason='success',
        source='hg_dagger', policy_version='v1')
    write_episode(record, tmp_path / 'hg' / 'ep_00000')
    both = load_dataset([bags, tmp_path / 'hg'])
    samples = aggregate(both, correction_weight=3.0)
    assert len(samples) == len(data) + 7  # only the human steps of the takeover episode
    assert samples.correction.sum() == 7 and set(samples.weight[samples.correction]) == {3.0}
    assert set(samples.weight[~samples.correction]) == {1.0}
    assert data_digest(both.episodes) != data_digest(data.episodes)


def test_bad_requests_fail_clearly(bags: Path, tmp_path: Path) -> None:
    """An unknown kind or a non-.onnx output path is refused before any work."""
    with pytest.raises(TrainingError, match='unknown policy kind'):
        TrainRequest(data=(bags,), kind='lstm', out=tmp_path / 'x.onnx')
    with pytest.raises(TrainingError, match='.onnx'):
        TrainRequest(data=(bags,), kind='mse', out=tmp_path / 'x.pt')
