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
Risk beside novelty, measured: which signal catches the moments before trouble.

The policy, the calibration episodes and the evaluation tasks of the help
study (:mod:`~imitation_ros.studies.help_requests`, same seeds): an ``mse``
policy on multi-demonstrator demonstrations with its doubt ensemble. Then
``risk_episodes`` HG-DAgger episodes on other tasks (the policy drives, the
simulated operator takes over) train the risk model
(:mod:`~imitation_ros.training.risk`), merged into a copy of the model. The
thresholds are chosen on the calibration episodes (hg_dagger bags) and
measured on the evaluation episodes (the policy with the operator watching, no
help requests), which they never saw: for a false-alarm rate (fraction of
autonomous states, more than ``margin_s`` before any takeover or failure, where
a signal fires) the **catch rate** is the fraction of the policy-controlled
states within ``window_s`` before a takeover or failure where it fires (and,
per event, the fraction of takeovers and failures with at least one such state
caught), for novelty (doubt) alone, risk alone and both (either fires, the
budget split searched by :func:`~imitation_ros.studies.help_budget.choose_pair`),
over a range of false-alarm rates (the ROC-like curve). ``--budget``'s
thresholds are reported with the fraction of evaluation time they ask. Finally
the closed loop on the evaluation tasks with help requests from novelty alone
and from novelty or risk (at the false-alarm rate's thresholds): success,
takeovers, human time, requests. Writes ``table.md``, ``roc.png`` and
``results.json``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
import json
from pathlib import Path
import shutil
import time
from typing import Callable, Sequence

import numpy as np
import torch

from ..collect import collect
from ..dagger.loop import Episode, run_episodes, sample_tasks
from ..data import load_dataset
from ..policies.base import TrainConfig
from ..runtime.onnx_policy import OnnxPolicy
from ..sim.arm import ArmConfig, Task
from ..sim.operator import SimulatedOperator
from ..training.pipeline import train_from_bags, TrainRequest
from ..training.risk import attach_risk, risk_samples, RiskConfig, roc_auc, train_risk
from .help_budget import calibrate_labelled, choose_pair, fires, PairRule, rates, SHARES
from .help_requests import write_calibration_bags
from .help_threshold import doubt_at_recorded_states, LabelledDoubt

#: The signals compared and the shares of the target each may give the doubt.
RULES: dict[str, tuple[float, ...]] = {'novelty alone': (1.0,), 'risk alone': (0.0,),
                                       'novelty or risk': SHARES}
#: False-alarm rates of the curve.
CURVE_RATES = (0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4)


@dataclass(frozen=True)
class HelpRiskConfig:
    """Settings of the risk study (the first ones as the help study's)."""

    kind: str = 'mse'
    """Policy kind."""
    expert: str = 'multi'
    """Demonstrator of the training data."""
    train_episodes: int = 50
    """Demonstrations the policy is trained on."""
    steps: int = 2000
    """Gradient steps of the policy."""
    calib_episodes: int = 100
    """HG-DAgger episodes (the help study's tasks) the thresholds are chosen on."""
    eval_episodes: int = 200
    """Evaluation episodes (the help study's tasks)."""
    risk_episodes: int = 200
    """HG-DAgger episodes on other tasks the risk model is trained on."""
    horizon_steps: int = 20
    """Risk label horizon (control periods)."""
    risk_steps: int = 3000
    """Gradient steps of the risk model."""
    false_alarm_rate: float = 0.05
    """False-alarm rate of the table's thresholds and of the closed loop."""
    budget: float = 0.1
    """Budget whose thresholds are reported with the time they ask."""
    window_s: float = 1.0
    """Seconds before a takeover or failure that count as moments to catch."""
    margin_s: float = 2.0
    """Seconds before any takeover or failure within which a state is not autonomous."""
    actuation_noise: float = 0.01
    """Std of joint motion noise per step (rad)."""
    seed: int = 0
    """Seed of everything (the help study's)."""


def _events_caught(labelled: LabelledDoubt, on: np.ndarray) -> tuple[int, int]:
    """Return (events caught, events): runs of takeover moments with at least one state on."""
    assert labelled.episode is not None
    caught = total = 0
    for ep in np.unique(labelled.episode):
        idx = np.flatnonzero(labelled.episode == ep)
        moments = labelled.takeover[idx]
        starts = np.flatnonzero(moments & ~np.concatenate([[False], moments[:-1]]))
        for s in starts:
            e = s
            while e + 1 < len(idx) and moments[e + 1]:
                e += 1
            total += 1
            caught += bool(on[idx[s:e + 1]].any())
    return caught, total


def measure(rule: PairRule, labelled: LabelledDoubt) -> dict:
    """Return what ``rule`` does on ``labelled``: false alarms, catch rate, events caught."""
    on = fires(labelled.doubt, labelled.risk, rule.help_threshold, rule.risk_threshold)
    caught, events = _events_caught(labelled, on)
    return {'false_alarm': float(np.mean(on[labelled.autonomous])),
            'catch': float(np.mean(on[labelled.takeover])),
            'events_caught': caught, 'events': events,
            'help_threshold': rule.help_threshold, 'risk_threshold': rule.risk_threshold,
            'share': rule.share}


def _labelled(policy: OnnxPolicy, episodes: Sequence[Episode], arm: ArmConfig, folder: Path,
              config: HelpRiskConfig) -> LabelledDoubt:
    if folder.exists():
        shutil.rmtree(folder)
    write_calibration_bags(episodes, arm, folder, policy_version=policy.version)
    return doubt_at_recorded_states(policy, [folder], window_s=config.window_s,
                                    margin_s=config.margin_s)


def _asker(policy: OnnxPolicy, rule: PairRule) -> Callable[[np.ndarray, Task], float]:
    """Return a doubt hook for the offline loop: > 1 exactly when the gate's rule fires."""
    def score(q: np.ndarray, task: Task) -> float:
        s, t = q[None], task.vector()[None]
        value = 0.0
        if rule.help_threshold > 0:
            value = float(policy.doubt_batch(s, t)[0]) / rule.help_threshold
        if rule.risk_threshold > 0:
            value = max(value, float(policy.risk_batch(s, t)[0]) / rule.risk_threshold)
        return value
    return score


def _loop_row(name: str, episodes: Sequence[Episode]) -> dict:
    n = max(1, len(episodes))
    return {'condition': name, 'episodes': len(episodes),
            'success': sum(ep.success for ep in episodes) / n,
            'failures_per_100': 100.0 * sum(not ep.success for ep in episodes) / n,
            'takeovers_per_episode': sum(ep.takeovers for ep in episodes) / n,
            'human_time': float(np.mean([ep.human_fraction for ep in episodes])),
            'requests_per_episode': sum(ep.help_requests for ep in episodes) / n,
            'hold_time': float(np.mean([np.mean(ep.help) if len(ep.help) else 0.0
                                        for ep in episodes]))}


def run_help_risk_study(out: Path, config: HelpRiskConfig = HelpRiskConfig(), *,
                        progress: bool = True) -> dict:
    """Run the study (module docstring); write the table, curve and JSON; return the results."""
    torch.set_num_threads(1)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    arm = replace(ArmConfig(), actuation_noise=config.actuation_noise)
    session = out / 'data' / f'{config.expert}_seed{config.seed}'
    if not (session.exists() and any(session.iterdir())):
        collect(config.expert, config.train_episodes, out / 'data', seed=config.seed,
                camera_every=0, progress=progress)
    model_path = out / 'models' / f'{config.kind}.onnx'
    train_from_bags(TrainRequest(
        data=(session,), kind=config.kind, out=model_path,
        config=TrainConfig(steps=config.steps, val_fraction=0.0), seed=config.seed,
        version=f'help-{config.kind}-s{config.seed}', progress=progress, risk=None))
    policy = OnnxPolicy(model_path, seed=config.seed)

    # The risk: HG-DAgger episodes of this policy on other tasks, then merged into a copy.
    risk_seed = config.seed + 3000
    risk_eps = run_episodes(arm, sample_tasks(arm, config.risk_episodes, seed=risk_seed),
                            seed=risk_seed, policy=policy,
                            operator=SimulatedOperator(arm, seed=risk_seed),
                            progress=progress, desc='risk episodes')
    risk_dir = out / 'data' / 'risk_hg_dagger'
    if risk_dir.exists():
        shutil.rmtree(risk_dir)
    write_calibration_bags(risk_eps, arm, risk_dir, policy_version=policy.version)
    samples = risk_samples(load_dataset([risk_dir]), config.horizon_steps)
    net, risk_report = train_risk(
        samples, RiskConfig(horizon_steps=config.horizon_steps, steps=config.risk_steps),
        link_lengths=arm.link_lengths, seed=config.seed)
    risk_path = out / 'models' / f'{config.kind}_risk.onnx'
    attach_risk(model_path, net, risk_report, out=risk_path)
    policy = OnnxPolicy(risk_path, seed=config.seed)

    calib_seed, eval_seed = config.seed + 1000, config.seed + 2000
    calib_eps = run_episodes(arm, sample_tasks(arm, config.calib_episodes, seed=calib_seed),
                             seed=calib_seed, policy=policy,
                             operator=SimulatedOperator(arm, seed=calib_seed),
                             progress=progress, desc='calibration episodes')
    calib = _labelled(policy, calib_eps, arm, out / 'data' / 'calibration_hg_dagger', config)
    tasks = sample_tasks(arm, config.eval_episodes, seed=eval_seed)
    watched = run_episodes(arm, tasks, seed=eval_seed, policy=policy,
                           operator=SimulatedOperator(arm, seed=eval_seed),
                           progress=progress, desc='without help requests')
    evaluation = _labelled(policy, watched, arm, out / 'data' / 'evaluation_hg_dagger', config)

    def choose(data: LabelledDoubt, rate: float, shares: Sequence[float]) -> PairRule:
        return choose_pair(data.doubt, data.risk, data.autonomous, data.takeover, rate, shares)

    table = {name: measure(choose(calib, config.false_alarm_rate, shares), evaluation)
             for name, shares in RULES.items()}
    curves = {name: [measure(choose(calib, rate, shares), evaluation) for rate in CURVE_RATES]
              for name, shares in RULES.items()}
    budget = calibrate_labelled(calib, budget=config.budget, held_out_fraction=0.0,
                                seed=config.seed, model_version=policy.version)
    budget_eval = rates(evaluation, np.ones(len(evaluation.doubt), dtype=bool),
                        budget.help_threshold, budget.risk_threshold)
    policy_states = evaluation.policy if evaluation.policy is not None else slice(None)
    auc = {'novelty': roc_auc(evaluation.doubt[policy_states],
                              evaluation.takeover[policy_states]),
           'risk': roc_auc(evaluation.risk[policy_states], evaluation.takeover[policy_states])
           if evaluation.risk is not None else float('nan')}

    loops = [_loop_row('without help requests', watched)]
    for name in ('novelty alone', 'novelty or risk'):
        rule = PairRule(table[name]['help_threshold'], table[name]['risk_threshold'],
                        table[name]['share'], 0.0, 0.0)
        eps = run_episodes(arm, tasks, seed=eval_seed, policy=policy,
                           operator=SimulatedOperator(arm, seed=eval_seed),
                           doubt=_asker(policy, rule), help_threshold=1.0,
                           progress=progress, desc=f'help from {name}')
        loops.append(_loop_row(f'help requests from {name}', eps))
    results = {'config': asdict(config), 'risk_model': risk_report, 'table': table,
               'curves': curves, 'curve_rates': list(CURVE_RATES), 'auc': auc,
               'budget': {**budget.as_dict(), 'evaluation': budget_eval},
               'closed_loop': loops, 'model': str(risk_path),
               'seconds': time.perf_counter() - start}
    (out / 'results.json').write_text(json.dumps(results, indent=1, default=_plain))
    write_table(results, out / 'table.md')
    plot_curves(curves, out / 'roc.png', config)
    return results


def _plain(value: object) -> object:
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    if isinstance(value, tuple):
        return list(value)
    return str(value)


def write_table(results: dict, path: Path) -> Path:
    """Write the markdown tables of the study."""
    c = results['config']
    r = results['risk_model']
    b = results['budget']
    lines = [
        f"Policy: {c['kind']} on {c['train_episodes']} {c['expert']}-demonstrator episodes "
        f"({c['steps']} steps), as in the help study. Risk model: MLP trained on "
        f"{r['episodes']} HG-DAgger episodes of that policy on other tasks ({r['states']} "
        f"policy states, {r['events']} takeovers or failures, horizon {c['horizon_steps']} "
        f"steps = {c['horizon_steps'] * 0.05:g} s), held-out AUC {r['held_out_auc']:.2f}. "
        f"Thresholds chosen on the {c['calib_episodes']} calibration episodes, measured on "
        f"the {c['eval_episodes']} evaluation episodes (operator watching, no help requests).",
        '',
        f"Catch rate at a false-alarm rate of {c['false_alarm_rate']:g} (chosen on "
        'calibration): moments = policy-controlled states within '
        f"{c['window_s']:g} s before a takeover or failure; false alarms = autonomous states "
        f"(more than {c['margin_s']:g} s before any) where the rule fires.",
        '',
        '| signal | false alarms (eval) | moments caught (eval) | takeovers/failures with a '
        'moment caught | help_threshold | risk_threshold |',
        '|---|---|---|---|---|---|',
    ]
    for name, row in results['table'].items():
        lines.append(f"| {name} | {row['false_alarm']:.3f} | {row['catch']:.2f} | "
                     f"{row['events_caught']}/{row['events']} "
                     f"({row['events_caught'] / max(1, row['events']):.2f}) | "
                     f"{row['help_threshold']:.4g} | {row['risk_threshold']:.4g} |")
    auc = results['auc']
    lines += ['', f"ROC AUC on the evaluation's policy states (moments vs the rest): novelty "
              f"{auc['novelty']:.2f}, risk {auc['risk']:.2f}.", '',
              f"Budget {b['target']:g} (`calibrate-help --budget {b['target']:g}` on the "
              f"calibration episodes): help_threshold {b['help_threshold']:.4g}, "
              f"risk_threshold {b['risk_threshold']:.4g}; on the evaluation episodes it asks "
              f"{b['evaluation']['asked']:.3f} of the policy time, false alarms "
              f"{b['evaluation']['false_alarm']:.3f}, moments caught "
              f"{b['evaluation']['detection']:.2f}.", '',
              'Closed loop on the evaluation tasks (same tasks, noise and operator seeds), '
              'thresholds of the table:', '',
              '| condition | success | failures / 100 ep | takeovers / ep | human time | '
              'help requests / ep | time held asking |',
              '|---|---|---|---|---|---|---|']
    for row in results['closed_loop']:
        lines.append(f"| {row['condition']} | {row['success']:.2f} | "
                     f"{row['failures_per_100']:.0f} | {row['takeovers_per_episode']:.2f} | "
                     f"{row['human_time']:.2f} | {row['requests_per_episode']:.2f} | "
                     f"{row['hold_time']:.3f} |")
    path.write_text('\n'.join(lines) + '\n')
    return path


def plot_curves(curves: dict, path: Path, config: HelpRiskConfig) -> Path:
    """Plot catch rate against false-alarm rate (both on the evaluation episodes) per signal."""
    import matplotlib  # lazy: matplotlib only when plotting
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt  # lazy: matplotlib only when plotting
    fig, ax = plt.subplots(figsize=(6.0, 4.5))
    for name, points in curves.items():
        ax.plot([p['false_alarm'] for p in points], [p['catch'] for p in points], 'o-',
                label=name, markersize=3)
    ax.axvline(config.false_alarm_rate, color='grey', linestyle=':', linewidth=1)
    ax.axhline(0.6, color='grey', linestyle='--', linewidth=1, label='target 0.6')
    ax.set_xlabel('false-alarm rate (autonomous states, evaluation)')
    ax.set_ylabel(f'moments caught (<= {config.window_s:g} s before trouble)')
    ax.set_xlim(0.0, max(CURVE_RATES) * 1.05)
    ax.set_ylim(0.0, 1.0)
    ax.grid(alpha=0.3)
    ax.legend(loc='lower right')
    ax.set_title('Asking for help: novelty, risk, both (thresholds from calibration)')
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
