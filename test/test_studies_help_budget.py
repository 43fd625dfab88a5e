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

"""Doubt and risk thresholds from a budget: held-out time asked, the search, calibrate-help."""

from __future__ import annotations

from pathlib import Path
import shutil

from imitation_ros.cli.main import main
from imitation_ros.policies.base import TrainConfig
from imitation_ros.runtime.onnx_policy import OnnxPolicy
from imitation_ros.studies.help_budget import calibrate_budget, calibrate_labelled, choose_pair
from imitation_ros.studies.help_threshold import LabelledDoubt
from imitation_ros.training.pipeline import train_from_bags, TrainRequest
from imitation_ros.training.risk import RiskConfig
import numpy as np
import pytest
import torch
import yaml
from help_fixtures import record_mixed

ROOT = Path(__file__).resolve().parents[1]
#: How far the held-out fraction of time asked may be from the budget.
TOLERANCE = 0.03


def _synthetic(episodes: int = 300, steps: int = 100, seed: int = 0) -> LabelledDoubt:
    """Doubt and risk per state; the last 20 states of every third episode lead to a takeover."""
    rng = np.random.default_rng(seed)
    n = episodes * steps
    episode = np.repeat(np.arange(episodes), steps)
    step = np.tile(np.arange(steps), episodes)
    takeover = (episode % 3 == 0) & (step >= steps - 20)
    autonomous = ~takeover & ~((episode % 3 == 0) & (step >= steps - 40))
    doubt = rng.lognormal(-2.0, 0.5, n) + 0.05 * takeover * rng.random(n)
    risk = np.clip(rng.beta(2.0, 8.0, n) + takeover * (0.3 + 0.2 * rng.random(n)), 0.0, 1.0)
    return LabelledDoubt(doubt=doubt, takeover=takeover, autonomous=autonomous,
                         events=episodes // 3, episodes=episodes, risk=risk, episode=episode,
                         policy=np.ones(n, dtype=bool))


@pytest.mark.parametrize('budget', [0.05, 0.1, 0.2])
def test_budget_is_met_on_held_out_episodes(budget: float) -> None:
    """The thresholds chosen on 70 % of the episodes ask for the budget on the other 30 %."""
    cal = calibrate_labelled(_synthetic(), budget=budget, held_out_fraction=0.3, seed=1)
    assert cal.held_out['episodes'] == 90 and cal.calibration['episodes'] == 210
    assert cal.calibration['asked'] == pytest.approx(budget, abs=0.005)
    assert abs(cal.held_out['asked'] - budget) <= TOLERANCE
    assert cal.help_threshold > 0 or cal.risk_threshold > 0


def test_both_signals_catch_at_least_as_much_as_either() -> None:
    """The share search includes doubt alone and risk alone, so together catches at least both."""
    data = _synthetic()
    ref, moments = data.autonomous, data.takeover
    both = choose_pair(data.doubt, data.risk, ref, moments, 0.05)
    doubt = choose_pair(data.doubt, data.risk, ref, moments, 0.05, shares=(1.0,))
    risk = choose_pair(data.doubt, data.risk, ref, moments, 0.05, shares=(0.0,))
    assert doubt.risk_threshold == 0.0 and risk.help_threshold == 0.0
    for rule in (both, doubt, risk):
        assert rule.reference_rate <= 0.05
    assert both.detection_rate >= max(doubt.detection_rate, risk.detection_rate)
    assert both.detection_rate > 0.5, 'the risk separates the synthetic moments well'
    no_risk = choose_pair(data.doubt, None, ref, moments, 0.05)
    assert no_risk.share == 1.0 and no_risk.risk_threshold == 0.0


@pytest.fixture(scope='module')
def model_and_bags(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Train a policy with doubt and risk on 80 recorded hg_dagger episodes; return it and them."""
    torch.set_num_threads(1)
    bags = record_mixed(tmp_path_factory.mktemp('budget') / 'hg', pairs=40, seed=21)
    result = train_from_bags(TrainRequest(
        data=(bags,), kind='mse', out=tmp_path_factory.mktemp('m') / 'p.onnx',
        config=TrainConfig(steps=100, val_fraction=0.0, doubt_hidden=(32,)),
        options={'hidden': (32,)}, progress=False, risk=RiskConfig(steps=400)))
    assert OnnxPolicy(result.model).has_risk
    return result.model, bags


def test_calibrate_help_budget_writes_both_thresholds(model_and_bags: tuple[Path, Path],
                                                      tmp_path: Path,
                                                      capsys: pytest.CaptureFixture) -> None:
    """--budget 0.1 on recorded bags: both keys in the params file, budget met held out."""
    model, bags = model_and_bags
    config = tmp_path / 'gate.yaml'
    shutil.copyfile(ROOT / 'config' / 'intervention_gate.yaml', config)
    assert main(['calibrate-help', '--data', str(bags), '--model', str(model),
                 '--budget', '0.1', '--config', str(config)]) == 0
    out = capsys.readouterr().out
    assert 'held out' in out and 'risk_threshold' in out
    params = yaml.safe_load(config.read_text())['intervention_gate']['ros__parameters']
    cal = calibrate_budget(model, [bags], budget=0.1)
    assert params['help_threshold'] == pytest.approx(cal.help_threshold, rel=1e-5)
    assert params['risk_threshold'] == pytest.approx(cal.risk_threshold, rel=1e-5)
    print(f"budget 0.1: asked {cal.calibration['asked']:.3f} calibration, "
          f"{cal.held_out['asked']:.3f} held out ({cal.held_out['episodes']} episodes)")
    assert abs(cal.held_out['asked'] - 0.1) <= TOLERANCE
    assert cal.held_out['detection'] > cal.held_out['asked'], 'better than asking at random'
