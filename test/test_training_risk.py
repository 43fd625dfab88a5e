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

"""The risk model: labels from recorded takeovers, ranking held-out episodes, its ONNX output."""

from __future__ import annotations

from pathlib import Path

from imitation_ros.data import load_dataset
from imitation_ros.errors import ModelError
from imitation_ros.policies.base import TrainConfig
from imitation_ros.runtime.onnx_policy import OnnxPolicy
from imitation_ros.sim.arm import TASK_LAYOUT
from imitation_ros.training.export import export_policy
from imitation_ros.training.pipeline import train_from_bags, TrainRequest
from imitation_ros.training.risk import (attach_risk, risk_labels, risk_samples, roc_auc,
                                         RiskConfig, train_risk)
from imitation_ros.training.trainer import build_training_set, fit_spec, train_policy
import numpy as np
import pytest
import torch
from help_fixtures import ARM, record_mixed

#: Chance is 0.5; the risk must rank the held-out states well above it.
MIN_AUC = 0.75


@pytest.fixture(scope='module')
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """60 hg_dagger episodes, half driven into the operator's takeover (help_fixtures)."""
    torch.set_num_threads(1)
    return record_mixed(tmp_path_factory.mktemp('risk') / 'hg')


def test_labels_mark_states_before_takeovers_and_failures() -> None:
    """Risky: within the horizon before a takeover or a failed end; human states unlabelled."""
    human = np.array([False] * 30 + [True] * 5 + [False] * 15)
    n = len(human)
    risky, policy, events = risk_labels(human, np.zeros(n, int), np.arange(n),
                                        np.zeros(n, bool), horizon_steps=10)
    assert events == 1
    assert np.flatnonzero(risky).tolist() == list(range(20, 30))
    assert policy.tolist() == (~human).tolist()
    risky, _, events = risk_labels(np.zeros(20, bool), np.zeros(20, int), np.arange(20),
                                   np.ones(20, bool), horizon_steps=5)
    assert events == 1 and np.flatnonzero(risky).tolist() == list(range(15, 20))
    assert roc_auc(np.array([0.1, 0.2, 0.3, 0.4]), np.array([0, 0, 1, 1], bool)) == 1.0
    assert roc_auc(np.array([0.5, 0.5]), np.array([0, 1], bool)) == 0.5


def test_risk_ranks_failing_states_above_succeeding_ones(recorded: Path) -> None:
    """On held-out recorded episodes the risk's ROC AUC is far above chance (seeded)."""
    samples = risk_samples(load_dataset([recorded]), 20)
    assert samples.events >= 20 and 0.05 < samples.risky.mean() < 0.95
    config = RiskConfig(steps=600, held_out_fraction=0.3)
    _, report = train_risk(samples, config, link_lengths=ARM.link_lengths, seed=0)
    print(f"risk held-out AUC {report['held_out_auc']:.3f} on "
          f"{report['held_out_episodes']} episodes")
    assert report['held_out_episodes'] == 18
    assert report['held_out_auc'] >= MIN_AUC
    _, again = train_risk(samples, config, link_lengths=ARM.link_lengths, seed=0)
    assert again['held_out_auc'] == report['held_out_auc'], 'not deterministic'


def test_attached_risk_runs_in_onnx_runtime_and_old_models_have_none(
        recorded: Path, tmp_path: Path) -> None:
    """The merged graph gives the torch risk; actions and doubt are unchanged; no risk: None."""
    data = load_dataset([recorded])
    tset = build_training_set(data.positions, data.task, data.actions, data.episode_id,
                              data.step)
    spec = fit_spec(tset, data.joint_names, TASK_LAYOUT)
    policy, _ = train_policy('mse', tset, spec, TrainConfig(steps=30, val_fraction=0.0,
                                                            doubt_hidden=(16,)),
                             options={'hidden': (16,)}, progress=False)
    path = export_policy(policy, tmp_path / 'm.onnx', metadata_extra={'version': 'r-1'})
    old = OnnxPolicy(path)
    assert not old.has_risk and old.risk_info is None
    with pytest.raises(ModelError, match='no risk output'):
        old.risk_batch(data.positions[:1], data.task[:1])
    samples = risk_samples(data, 20)
    net, report = train_risk(samples, RiskConfig(steps=100), link_lengths=ARM.link_lengths)
    attach_risk(path, net, report)
    new = OnnxPolicy(path)
    assert new.has_risk and new.risk_info['horizon_steps'] == 20
    got = new.risk_batch(samples.states[:64], samples.tasks[:64])
    with torch.no_grad():
        want = net(torch.as_tensor(samples.states[:64], dtype=torch.float32),
                   torch.as_tensor(samples.tasks[:64], dtype=torch.float32)).numpy()
    np.testing.assert_allclose(got, want, atol=1e-5)
    assert np.all((got >= 0) & (got <= 1))
    q, t = data.positions[0], data.task[0]
    np.testing.assert_allclose(new.act(q, t), old.act(q, t), atol=1e-6)
    assert new.act_with_doubt(q, t)[1] == pytest.approx(old.act_with_doubt(q, t)[1], rel=1e-5)
    with pytest.raises(ModelError, match='already has a risk'):
        attach_risk(path, net, report)


def test_confident_risks_stay_apart_below_one(recorded: Path, tmp_path: Path) -> None:
    """Risks whose logits exceed float32's 1.0 (about 17) keep their order in the file's output."""
    data = load_dataset([recorded])
    tset = build_training_set(data.positions, data.task, data.actions, data.episode_id,
                              data.step)
    spec = fit_spec(tset, data.joint_names, TASK_LAYOUT)
    policy, _ = train_policy('mse', tset, spec, TrainConfig(steps=5, val_fraction=0.0),
                             options={'hidden': (8,)}, progress=False)
    path = export_policy(policy, tmp_path / 'm.onnx', metadata_extra={'version': 'r-1'})
    samples = risk_samples(data, 20)
    net, report = train_risk(samples, RiskConfig(steps=20), link_lengths=ARM.link_lengths)
    with torch.no_grad():   # a very confident model: logits spread over 18-34 on these states
        s = torch.as_tensor(samples.states[:200], dtype=torch.float32)
        t = torch.as_tensor(samples.tasks[:200], dtype=torch.float32)
        lo, hi = np.percentile(net.logits(s, t).numpy(), [5, 95])
        scale = 16.0 / max(hi - lo, 1e-6)
        last = net.net[-1]
        last.weight.mul_(scale)
        last.bias.mul_(scale).add_(18.0 - scale * lo)
        logits = net.logits(s, t).numpy()
        assert np.all(torch.sigmoid(torch.as_tensor(logits[logits > 18])).numpy() == 1.0)
    attach_risk(path, net, report)
    risk = OnnxPolicy(path).risk_batch(samples.states[:200], samples.tasks[:200])
    high = (logits > 18) & (logits < 34)
    assert high.sum() >= 20, 'the test needs states with saturating logits'
    assert np.all(risk[high] < 1.0)
    order = np.argsort(logits[high])
    assert np.all(np.diff(risk[high][order]) >= 0)
    assert len(np.unique(risk[high])) >= 0.9 * high.sum(), 'confident risks tied'
    kept = risk[high]
    np.testing.assert_allclose(np.log(kept / (1 - kept)), logits[high], rtol=5e-3)


def test_pipeline_trains_the_risk_beside_the_policy(recorded: Path, tmp_path: Path) -> None:
    """train_from_bags adds the risk on hg_dagger data; too few takeovers: skipped, said why."""
    result = train_from_bags(TrainRequest(
        data=(recorded,), kind='mse', out=tmp_path / 'p.onnx',
        config=TrainConfig(steps=30, val_fraction=0.0, doubt_hidden=(16,)),
        options={'hidden': (16,)}, progress=False, risk=RiskConfig(steps=200)))
    assert result.risk is not None and 'held_out_auc' in result.risk
    assert OnnxPolicy(result.model).has_risk
    strict = train_from_bags(TrainRequest(
        data=(recorded,), kind='mse', out=tmp_path / 'q.onnx',
        config=TrainConfig(steps=30, val_fraction=0.0, doubt_hidden=(16,)),
        options={'hidden': (16,)}, progress=False, risk=RiskConfig(min_events=10_000)))
    assert 'skipped' in strict.risk and not OnnxPolicy(strict.model).has_risk
