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
Human-gated against robot-gated HG-DAgger, offline, on the same seeds and tasks.

Per training seed: ``initial_demos`` demonstrations of the ``above`` expert (recorded
without actuation noise) and a start policy with its doubt ensemble
(:func:`~imitation_ros.training.pipeline.train_from_bags`). Then two loops of
``rounds`` rounds from that start, each round ``episodes`` episodes of the
closed loop (:mod:`imitation_ros.dagger.loop`, actuation noise on) on the same
tasks, noise seeds and operator seed in both arms. **Human-gated**: the
simulated operator watches every episode and takes over when it sees trouble.
**Robot-gated**: the operator does not watch (``OperatorParams.watch`` False);
before the round the thresholds are set from a budget of the operator's time
(:func:`~imitation_ros.studies.help_budget.calibrate_budget`, what
``calibrate-help --budget`` does) on ``calib_episodes`` episodes of the round's
policy alone on other tasks; the policy's doubt and risk reach the gate every
period, the gate asks (``help_until_calm``), the operator takes over after its
reaction delay and hands back when the request clears. Every round is written as
hg_dagger bags, and the next policy warm starts from the last checkpoint on the
demonstrations plus every round so far (the trainer node's aggregation; the
robot-gated arm also trains the risk model on its bags). A round without a
takeover keeps its model. Every model runs ``eval_episodes`` fixed tasks alone.
Per arm and round: success of the round's episodes, success of the model trained
after it alone, human time (in control) and the operator's attention (human-gated:
all the time; robot-gated: a request standing or in control), takeovers, help
requests, failures that no request preceded within ``unasked_window_s``. Writes
``table.md``, ``results.json`` and ``rounds.png``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
import json
from pathlib import Path
import shutil
import time
from typing import Callable, Optional, Sequence

import numpy as np
import torch

from ..collect.planar import collect
from ..dagger.loop import Episode, gate_config, run_episodes, sample_tasks, Signals
from ..errors import ConfigError
from ..policies.base import TrainConfig
from ..runtime.onnx_policy import OnnxPolicy
from ..sim.arm import ArmConfig, Task
from ..sim.operator import OperatorParams, SimulatedOperator
from ..training.checkpoint import checkpoint_path
from ..training.pipeline import train_from_bags, TrainRequest
from ..training.risk import RiskConfig
from .help_budget import calibrate_budget
from .help_requests import write_calibration_bags

#: The two loops compared.
ARMS: tuple[str, ...] = ('human', 'robot')
ARM_LABELS = {'human': 'human-gated', 'robot': 'robot-gated'}
COLORS = {'human': 'tab:green', 'robot': 'tab:purple'}
#: Control period of the simulated arm (s).
ARM_DT = ArmConfig().dt


@dataclass(frozen=True)
class RobotGatedConfig:
    """Settings of the study (sizes, noise, training, the operator, the budget)."""

    rounds: int = 8
    """HG-DAgger rounds per arm."""
    episodes: int = 10
    """Episodes per round."""
    seeds: tuple[int, ...] = (0, 1, 2, 3, 4, 5)
    """Training seeds (demonstrations, tasks, noise, initialization)."""
    initial_demos: int = 8
    """Demonstrations of the start policy (8: it succeeds about half the time, the regime
    a robot-gated loop is for; with far fewer it fails before its doubt rises)."""
    kind: str = 'mse'
    """Policy kind."""
    train_steps: int = 1000
    """Gradient steps of the start policy."""
    warm_start_steps: int = 300
    """Gradient steps of each round's warm start."""
    risk_steps: int = 1500
    """Gradient steps of the robot-gated arm's risk model."""
    eval_episodes: int = 200
    """Episodes of the fixed evaluation tasks per model (policy alone)."""
    calib_episodes: int = 20
    """Episodes of the policy alone the robot-gated thresholds are set on, per round."""
    budget: float = 0.1
    """Fraction of the policy's time the gate may ask for help (calibrate-help --budget)."""
    help_release_s: float = 0.5
    """Doubt and risk calm this long clear a request (the gate's help_release_s, s)."""
    actuation_noise: float = 0.01
    """Std of the joint motion noise per control period (rad)."""
    unasked_window_s: float = 2.0
    """A failure is unasked when no request stood within this long before the end (s)."""
    eval_seed: int = 10_000
    """Seed of the evaluation tasks and their noise."""
    operator: OperatorParams = field(default_factory=lambda: OperatorParams(side=1))
    """The operator of both arms (the robot-gated one with ``watch`` False)."""
    target_gap: float = 0.03
    """Target: robot-gated final model alone at most this far below human-gated."""
    target_human_ratio: float = 0.5
    """Target: robot-gated human time at most this fraction of human-gated."""

    def __post_init__(self) -> None:
        for name in ('rounds', 'episodes', 'initial_demos', 'train_steps', 'warm_start_steps',
                     'risk_steps', 'eval_episodes', 'calib_episodes'):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f'{name} must be an integer >= 1, got {value!r}')
        if not self.seeds or len(set(self.seeds)) != len(self.seeds):
            raise ConfigError(f'seeds must be distinct and at least one, got {self.seeds!r}')
        if not 0.0 < self.budget < 1.0:
            raise ConfigError(f'budget is a fraction of the time in (0, 1), got {self.budget}')
        if self.actuation_noise < 0 or self.unasked_window_s < 0 or self.help_release_s < 0:
            raise ConfigError('actuation_noise, unasked_window_s and help_release_s must be >= 0')

    @property
    def arm(self) -> ArmConfig:
        """Return the simulated arm: default geometry, this study's actuation noise."""
        return replace(ArmConfig(), actuation_noise=self.actuation_noise)


@dataclass(frozen=True)
class RoundResult:
    """One round of one arm and seed (round 0: the start model, no episodes)."""

    arm: str
    seed: int
    round: int
    model_alone: float
    """Success of the model trained after this round, alone on the evaluation tasks."""
    episodes: int = 0
    """Episodes of the round."""
    success: float = float('nan')
    """Success of the round's episodes (with the operator)."""
    human_fraction: float = float('nan')
    """Control periods under the operator's control / all periods of the round."""
    human_s: float = 0.0
    """Time under the operator's control in the round (s)."""
    attention_s: float = 0.0
    """Time the operator had to attend to the arm (s): human-gated every period (it
    watches), robot-gated the periods with a request standing or under its control."""
    steps: int = 0
    """Control periods of the round."""
    takeovers: int = 0
    help_requests: int = 0
    failures: int = 0
    unasked_failures: int = 0
    """Failures with no help request within ``unasked_window_s`` before the end."""
    human_labels: int = 0
    """Human-controlled samples the round added."""
    retrained: bool = False
    """False: no takeover, the model was kept."""
    help_threshold: float = 0.0
    """Robot-gated: the gate's doubt threshold of the round (0: off)."""
    risk_threshold: float = 0.0
    """Robot-gated: the gate's risk threshold of the round (0: off or no risk model)."""
    asked_calibration: float = float('nan')
    """Robot-gated: fraction of the calibration episodes' policy time asked."""
    takeover_without_request: int = 0
    """Takeovers that began while no help request stood (robot-gated: must be 0)."""
    ended_in_control: int = 0
    """Episodes that ended with the operator in control."""


def takeovers_without_request(episode: Episode) -> int:
    """Return the takeovers of ``episode`` that began while no help request stood."""
    human = episode.human
    starts = np.flatnonzero(human & ~np.concatenate([[False], human[:-1]]))
    return int(np.count_nonzero(~episode.help[starts]))


def unasked_failure(episode: Episode, window_s: float, dt: float) -> bool:
    """Return whether ``episode`` failed with no help request within ``window_s`` of its end."""
    if episode.success:
        return False
    tail = max(1, int(round(window_s / dt)))
    return not bool(episode.help[-tail:].any())


def policy_signals(policy: OnnxPolicy) -> Signals:
    """Return the loop's signals hook: the policy's doubt and (if it has one) risk at (q, task)."""
    def signals(q: np.ndarray, task: Task) -> tuple[float, Optional[float]]:
        s, t = q[None], task.vector()[None]
        risk = float(policy.risk_batch(s, t)[0]) if policy.has_risk else None
        return float(policy.doubt_batch(s, t)[0]), risk
    return signals


def _alone(policy_path: Path, cfg: RobotGatedConfig, tasks: Sequence[Task],
           progress: bool) -> float:
    episodes = run_episodes(cfg.arm, tasks, seed=cfg.eval_seed,
                            policy=OnnxPolicy(policy_path, seed=0), progress=progress,
                            desc='model alone')
    return float(np.mean([e.success for e in episodes]))


class _Seed:
    """One training seed: its data, models and the rounds of both arms."""

    def __init__(self, cfg: RobotGatedConfig, seed: int, work: Path, eval_tasks: Sequence[Task],
                 progress: bool, log: Callable[[RoundResult], None]) -> None:
        self.cfg, self.seed, self.work = cfg, seed, work / f'seed{seed}'
        self.eval_tasks, self.progress, self.log = eval_tasks, progress, log
        if self.work.exists():
            shutil.rmtree(self.work)

    def _train(self, data: Sequence[Path], out: Path, *, init: Optional[Path], risk: bool,
               version: str) -> Path:
        cfg = self.cfg
        steps = cfg.warm_start_steps if init is not None else cfg.train_steps
        train_from_bags(TrainRequest(
            data=tuple(data), kind=cfg.kind, out=out,
            config=TrainConfig(steps=steps, val_fraction=0.0), seed=self.seed, version=version,
            progress=self.progress, init_from=None if init is None else checkpoint_path(init),
            risk=RiskConfig(steps=cfg.risk_steps) if risk else None))
        return out

    def start(self) -> tuple[Path, Path]:
        """Record the demonstrations, train the start policy; return (demos, model)."""
        cfg = self.cfg
        collect('above', cfg.initial_demos, self.work / 'data', seed=self.seed, session='demos',
                config=replace(cfg.arm, actuation_noise=0.0), camera_every=0,
                progress=self.progress)
        demos = self.work / 'data' / 'demos'
        model = self._train([demos], self.work / 'models' / 'start.onnx', init=None, risk=False,
                            version=f'rg-start-s{self.seed}')
        return demos, model

    def _gate(self, policy: OnnxPolicy, r: int) -> tuple[dict, Signals]:
        """Robot-gated: thresholds from the budget on the policy alone; the gate and signals."""
        cfg = self.cfg
        base = 4_000 + 100 * self.seed + r
        calib = run_episodes(cfg.arm, sample_tasks(cfg.arm, cfg.calib_episodes, seed=base),
                             seed=base, policy=policy, progress=self.progress,
                             desc='calibration (policy alone)')
        folder = self.work / 'calibration' / f'round{r}'
        write_calibration_bags(calib, cfg.arm, folder, policy_version=policy.version)
        cal = calibrate_budget(policy, [folder], budget=cfg.budget, held_out_fraction=0.0,
                               seed=self.seed)
        gate = replace(gate_config(cfg.arm), help_threshold=cal.help_threshold,
                       risk_threshold=cal.risk_threshold, help_release_s=cfg.help_release_s,
                       help_until_calm=True)
        return {'gate': gate, 'help_threshold': cal.help_threshold,
                'risk_threshold': cal.risk_threshold,
                'asked_calibration': cal.calibration['asked']}, policy_signals(policy)

    def loop(self, arm: str, demos: Path, start: Path, start_alone: float) -> list[RoundResult]:
        """Run the rounds of ``arm`` ('human' or 'robot') from the start model."""
        cfg = self.cfg
        robot = arm == 'robot'
        params = replace(cfg.operator, watch=not robot)
        model, data = start, [demos]
        rows: list[RoundResult] = []
        for r in range(1, cfg.rounds + 1):
            policy = OnnxPolicy(model, seed=self.seed)
            tasks = sample_tasks(cfg.arm, cfg.episodes, seed=2_000 + 100 * self.seed + r)
            operator = SimulatedOperator(cfg.arm, params, seed=5_000 + 100 * self.seed + r)
            extra: dict = {}
            kwargs: dict = {}
            if robot:
                extra, kwargs['signals'] = self._gate(policy, r)
                kwargs['gate'] = extra.pop('gate')
            episodes = run_episodes(cfg.arm, tasks, seed=3_000 + 100 * self.seed + r,
                                    policy=policy, operator=operator, progress=self.progress,
                                    desc=f'{arm}-gated round {r}', **kwargs)
            folder = self.work / 'data' / arm / f'round{r}'
            write_calibration_bags(episodes, cfg.arm, folder, policy_version=policy.version)
            data.append(folder)
            human = sum(int(e.human.sum()) for e in episodes)
            steps = sum(e.steps for e in episodes)
            alone = rows[-1].model_alone if rows else start_alone
            if human:
                model = self._train(data, self.work / 'models' / arm / f'round{r}.onnx',
                                    init=model, risk=robot, version=f'rg-{arm}-r{r}-s{self.seed}')
                alone = _alone(model, cfg, self.eval_tasks, self.progress)
            rows.append(RoundResult(
                arm=arm, seed=self.seed, round=r, model_alone=alone, episodes=len(episodes),
                success=float(np.mean([e.success for e in episodes])),
                human_fraction=human / max(1, steps), human_s=human * cfg.arm.dt, steps=steps,
                attention_s=cfg.arm.dt * sum(int((e.help | e.human).sum()) if robot else e.steps
                                             for e in episodes),
                takeovers=sum(e.takeovers for e in episodes),
                help_requests=sum(e.help_requests for e in episodes),
                failures=sum(not e.success for e in episodes),
                unasked_failures=sum(unasked_failure(e, cfg.unasked_window_s, cfg.arm.dt)
                                     for e in episodes),
                human_labels=human, retrained=bool(human),
                takeover_without_request=sum(takeovers_without_request(e) for e in episodes),
                ended_in_control=sum(bool(e.steps and e.human[-1]) for e in episodes),
                **extra))
            self.log(rows[-1])
        return rows


def run_robot_gated_study(out: Path, config: RobotGatedConfig = RobotGatedConfig(), *,
                          progress: bool = True, work: Optional[Path] = None) -> dict:
    """Run the study (module docstring); write the table, plot and JSON; return the results."""
    torch.set_num_threads(1)
    cfg = config
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    work = Path(work) if work is not None else out / 'work'
    started = time.perf_counter()
    eval_tasks = sample_tasks(cfg.arm, cfg.eval_episodes, seed=cfg.eval_seed)

    def log(row: RoundResult) -> None:
        print(f'[{time.perf_counter() - started:6.0f} s] seed {row.seed} '
              f'{ARM_LABELS[row.arm]:11s} round {row.round}: success {row.success:.2f}, '
              f'model alone {row.model_alone:.2f}, human {row.human_fraction:.3f}, '
              f'{row.takeovers} takeovers, {row.help_requests} requests, '
              f'{row.unasked_failures}/{row.failures} failures unasked', flush=True)

    rows: list[RoundResult] = []
    for seed in cfg.seeds:
        runner = _Seed(cfg, seed, work, eval_tasks, progress, log)
        demos, start = runner.start()
        alone = _alone(start, cfg, eval_tasks, progress)
        for arm in ARMS:
            rows.append(RoundResult(arm=arm, seed=seed, round=0, model_alone=alone))
            rows += runner.loop(arm, demos, start, alone)
    results = {'config': asdict(cfg), 'rows': [asdict(r) for r in rows],
               'summary': summarize(rows, cfg), 'seconds': time.perf_counter() - started}
    (out / 'results.json').write_text(json.dumps(results, indent=1, default=_plain))
    write_table(results, out / 'table.md')
    plot_rounds(results, out / 'rounds.png')
    return results


def _plain(value: object) -> object:
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    if isinstance(value, tuple):
        return list(value)
    return str(value)


def _rows(rows: Sequence[RoundResult | dict]) -> list[dict]:
    return [asdict(r) if isinstance(r, RoundResult) else dict(r) for r in rows]


def per_round(rows: Sequence[RoundResult | dict], arm: str) -> list[dict]:
    """Return per round of ``arm``: means over seeds (episode counts pooled), spread of alone."""
    sel = [r for r in _rows(rows) if r['arm'] == arm]
    out = []
    for k in sorted({r['round'] for r in sel}):
        at = [r for r in sel if r['round'] == k]
        alone = np.array([r['model_alone'] for r in at])
        n = max(1, sum(r['episodes'] for r in at))
        steps = max(1, sum(r['steps'] for r in at))
        out.append({
            'round': k, 'seeds': len(at), 'alone_mean': float(alone.mean()),
            'alone_std': float(alone.std()), 'alone_min': float(alone.min()),
            'alone_max': float(alone.max()), 'alone': [round(float(a), 2) for a in alone],
            'episodes': sum(r['episodes'] for r in at),
            'success': sum(r['success'] * r['episodes'] for r in at) / n,
            'human_fraction': sum(r['human_fraction'] * r['steps'] for r in at) / steps,
            'human_s': float(np.mean([r['human_s'] for r in at])),
            'attention': sum(r['attention_s'] for r in at) / (steps * ARM_DT),
            'takeovers': sum(r['takeovers'] for r in at) / n,
            'requests': sum(r['help_requests'] for r in at) / n,
            'failures': sum(r['failures'] for r in at) / n,
            'unasked': sum(r['unasked_failures'] for r in at) / n,
            'without_request': sum(r['takeover_without_request'] for r in at),
            'help_threshold': float(np.mean([r['help_threshold'] for r in at])),
            'risk_threshold': float(np.mean([r['risk_threshold'] for r in at])),
            'asked': float(np.mean([r['asked_calibration'] for r in at]))})
    return out


def summarize(rows: Sequence[RoundResult | dict], config: RobotGatedConfig) -> dict:
    """Return the final model-alone success and total human time per arm, and the verdict."""
    arms = {}
    for arm in ARMS:
        table = per_round(rows, arm)
        last = table[-1]
        seeds = {r['seed'] for r in _rows(rows) if r['arm'] == arm}
        total = sum(r['human_s'] for r in _rows(rows) if r['arm'] == arm)
        attention = sum(r['attention_s'] for r in _rows(rows) if r['arm'] == arm)
        arms[arm] = {'final_alone': last['alone_mean'], 'final_alone_std': last['alone_std'],
                     'final_alone_seeds': last['alone'],
                     'human_s_per_seed': total / max(1, len(seeds)),
                     'attention_s_per_seed': attention / max(1, len(seeds)),
                     'takeovers_without_request': sum(t['without_request'] for t in table),
                     'ended_in_control': sum(r['ended_in_control'] for r in _rows(rows)
                                             if r['arm'] == arm),
                     'episodes': sum(r['episodes'] for r in _rows(rows) if r['arm'] == arm)}
    gap = arms['human']['final_alone'] - arms['robot']['final_alone']
    ratio = (arms['robot']['human_s_per_seed'] / arms['human']['human_s_per_seed']
             if arms['human']['human_s_per_seed'] > 0 else float('inf'))
    attention = (arms['robot']['attention_s_per_seed'] / arms['human']['attention_s_per_seed']
                 if arms['human']['attention_s_per_seed'] > 0 else float('inf'))
    return {'arms': arms, 'gap': gap, 'human_ratio': ratio, 'attention_ratio': attention,
            'success_met': bool(gap <= config.target_gap + 1e-9),
            'human_met': bool(ratio <= config.target_human_ratio + 1e-9),
            'met': bool(gap <= config.target_gap + 1e-9
                        and ratio <= config.target_human_ratio + 1e-9)}


def _num(value: float, fmt: str = '.2f') -> str:
    return '–' if value is None or not np.isfinite(value) else format(value, fmt)


def write_table(results: dict, path: Path) -> Path:
    """Write the markdown table: per arm and round, then the totals and the target."""
    c = results['config']
    rows = results['rows']
    s = results['summary']
    seeds = c['seeds']
    lines = [
        f"Planar arm, actuation noise {c['actuation_noise']} rad; policy `{c['kind']}` from "
        f"{c['initial_demos']} `above` demonstrations ({c['train_steps']} steps), then "
        f"{c['rounds']} rounds of {c['episodes']} episodes per arm, each round's data "
        f"aggregated and the policy warm started for {c['warm_start_steps']} steps; "
        f"{len(seeds)} seeds ({', '.join(map(str, seeds))}), the same tasks, noise and "
        f"operator seeds in both arms; model alone on {c['eval_episodes']} fixed tasks. "
        f"Robot-gated: budget {c['budget']:g} of the policy's time (`calibrate-help "
        f"--budget`) on {c['calib_episodes']} episodes of the round's policy alone, gate "
        f"`help_until_calm`, `help_release_s` {c['help_release_s']:g} s, operator "
        f"`watch: false`. Run time {results['seconds'] / 60:.1f} min.", '',
        '| arm | round | success (episodes) | model alone after the round | human time | '
        'operator attention | takeovers / ep | help requests / ep | failures / ep (no request '
        f"within {c['unasked_window_s']:g} s) |",
        '|---|---|---|---|---|---|---|---|---|']
    for arm in ARMS:
        robot = arm == 'robot'
        for t in per_round(rows, arm):
            alone = (f"{t['alone_mean']:.2f} ± {t['alone_std']:.2f} "
                     f"({', '.join(map(str, t['alone']))})")
            if t['round'] == 0:
                lines.append(f"| {ARM_LABELS[arm]} | start | – | {alone} | – | – | – | – | – |")
                continue
            lines.append(
                f"| {ARM_LABELS[arm]} | {t['round']} | {t['success']:.2f} | {alone} | "
                f"{t['human_fraction']:.3f} | {t['attention']:.3f} | {t['takeovers']:.2f} | "
                f"{_num(t['requests']) if robot else '–'} | {t['failures']:.2f} "
                f"({_num(t['unasked']) if robot else '–'}) |")
    h, r = s['arms']['human'], s['arms']['robot']
    lines += [
        '', 'success: mean ± standard deviation over seeds (per seed in brackets); human time: '
        'fraction of the round\'s control periods under the operator\'s control; operator '
        'attention: fraction it must attend (human-gated: all, it watches; robot-gated: a '
        'request standing or in control); rates pooled over seeds. Robot-gated takeovers that '
        f"began without a standing request: {r['takeovers_without_request']}. Episodes that "
        f"ended with the operator in control: human-gated {h['ended_in_control']} of "
        f"{h['episodes']}, robot-gated {r['ended_in_control']} of {r['episodes']}.", '',
        '| arm | final model alone | human time over all rounds (s per seed) | operator '
        'attention (s per seed) |',
        '|---|---|---|---|',
        f"| human-gated | {h['final_alone']:.2f} ± {h['final_alone_std']:.2f} | "
        f"{h['human_s_per_seed']:.1f} | {h['attention_s_per_seed']:.1f} |",
        f"| robot-gated | {r['final_alone']:.2f} ± {r['final_alone_std']:.2f} | "
        f"{r['human_s_per_seed']:.1f} | {r['attention_s_per_seed']:.1f} |", '',
        f"Target (robot-gated within {c['target_gap']:g} of the human-gated final model alone, "
        f"with at most {c['target_human_ratio']:g} of its human time under control): gap "
        f"{s['gap']:+.2f} ({'met' if s['success_met'] else 'NOT met'}), human time ratio "
        f"{s['human_ratio']:.2f} ({'met' if s['human_met'] else 'NOT met'}): "
        f"{'met' if s['met'] else 'NOT met'}. Counting the operator's attention instead of "
        f"its time in control, the ratio is {s['attention_ratio']:.2f}."]
    path.write_text('\n'.join(lines) + '\n')
    return path


def plot_rounds(results: dict, path: Path) -> Path:
    """Plot model-alone success per round (mean, min-max band) and human time per arm."""
    import matplotlib  # lazy: matplotlib only when plotting
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt  # lazy: matplotlib only when plotting
    from matplotlib.ticker import MaxNLocator  # lazy: matplotlib only when plotting
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(10.0, 4.0), dpi=110)
    for arm in ARMS:
        table = per_round(results['rows'], arm)
        x = [t['round'] for t in table]
        ax.plot(x, [t['alone_mean'] for t in table], 'o-', color=COLORS[arm],
                label=ARM_LABELS[arm])
        ax.fill_between(x, [t['alone_min'] for t in table], [t['alone_max'] for t in table],
                        color=COLORS[arm], alpha=0.18, lw=0)
        later = table[1:]
        bx.plot([t['round'] for t in later], [t['human_fraction'] for t in later], 'o-',
                color=COLORS[arm], label=f'{ARM_LABELS[arm]}: in control')
        bx.plot([t['round'] for t in later], [t['attention'] for t in later], ':',
                color=COLORS[arm], label=f'{ARM_LABELS[arm]}: attending')
    ax.set_xlabel('round (0: start)')
    ax.set_ylabel('model alone: success')
    ax.set_ylim(-0.02, 1.02)
    bx.set_xlabel('round')
    bx.set_ylabel('fraction of the round\'s time')
    bx.set_ylim(bottom=0.0)
    for a in (ax, bx):
        a.grid(alpha=0.3)
        a.legend(fontsize=8)
        a.xaxis.set_major_locator(MaxNLocator(integer=True))
    seeds = len(results['config']['seeds'])
    fig.suptitle(f'Human-gated vs robot-gated HG-DAgger ({seeds} seeds; band: min-max)',
                 fontsize=10)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
