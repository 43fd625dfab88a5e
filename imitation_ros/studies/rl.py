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
Behavior cloning for the start, reinforcement learning for the rest: the fine-tuning study.

Offline (no ROS), on the planar arm with actuation noise where behavior cloning's
errors compound (the compounding-error setting of :mod:`imitation_ros.studies.dagger`:
one demonstrator, demonstrations recorded without noise). Per training seed:

* **BC**: an ``mse`` policy trained on ``demos`` demonstrations (the start of
  every other method);
* **BC + RL**: TD3 fine-tuning with the demonstrations in the prior buffer and no
  human (:func:`~imitation_ros.training.rl.finetune_in_sim`);
* **BC + RL with interventions**: the same with the simulated operator watching
  every RL episode; its takeovers stop the actor, and the steps it drove join the
  prior buffer (HIL-SERL's recipe);
* **HG-DAgger**: the same start, rounds of rollouts with the same operator, the
  human-driven steps aggregated and the policy retrained (the study's own
  implementation, :mod:`imitation_ros.studies.dagger`);
* optionally **gmm BC** and **gmm BC + residual RL**: a Gaussian mixture cloned on
  the same demonstrations, then a residual on the frozen mixture.

Every RL episode runs through the gate's state machine. Every evaluated model is
the exported ONNX file run by :class:`~imitation_ros.runtime.onnx_policy.OnnxPolicy`
through the gate, on one fixed set of tasks with fixed noise seeds (the same for
every model and seed). Writes ``table.md``, ``curve.png`` (success against
environment episodes and against human labels) and ``cells.json``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
import json
from pathlib import Path
import time
from typing import Any, Optional, Sequence

import numpy as np

from .dagger import _evaluation, _Runner, evaluate, LabelBank, Point, StudyConfig, train_model
from ..dagger.loop import gate_config, run_episodes, sample_tasks
from .parallel import spawn_pool
from ..errors import ConfigError
from ..sim.operator import OperatorParams, SimulatedOperator

METHODS: tuple[str, ...] = ('bc', 'rl', 'rl_hil', 'hg_dagger', 'bc_gmm', 'rl_gmm')
LABELS = {'bc': 'BC', 'rl': 'BC + RL, no human', 'rl_hil': 'BC + RL with interventions',
          'hg_dagger': 'HG-DAgger', 'bc_gmm': 'gmm BC', 'rl_gmm': 'gmm BC + residual RL'}
COLORS = {'bc': 'tab:blue', 'rl': 'tab:red', 'rl_hil': 'tab:purple', 'hg_dagger': 'tab:green',
          'bc_gmm': 'tab:cyan', 'rl_gmm': 'tab:orange'}
#: Methods that start from the gmm policy instead of the mse one.
GMM_METHODS = ('bc_gmm', 'rl_gmm')


def _default_base() -> StudyConfig:
    return StudyConfig(bc_demos=(8,), initial_demos=8, rounds=10,
                       operator=OperatorParams(side=1))


@dataclass(frozen=True)
class RlStudyConfig:
    """Everything that defines the study besides the seeds."""

    base: StudyConfig = field(default_factory=_default_base)
    """The compounding-error setting (noise, demonstrations, BC training, HG-DAgger rounds,
    evaluation); ``base.initial_demos`` demonstrations start every method."""
    rl: Any = None
    """The :class:`~imitation_ros.training.rl.FinetuneConfig` (None: its defaults)."""
    gmm_train_steps: int = 3000
    """Gradient steps of the gmm BC policy."""
    eval_every: int = 25
    """RL episodes between two evaluations of the exported policy."""
    target: float = 0.98
    """Success the RL methods are asked to reach."""
    hil_explore_noise: float = 0.1
    """Exploration noise of the RL episodes the operator watches (fraction of max_step):
    every step the actor's noise pushes out of the operator's corridor costs labels."""

    def __post_init__(self) -> None:
        if self.eval_every < 1 or self.gmm_train_steps < 1:
            raise ConfigError('eval_every and gmm_train_steps must be >= 1')
        if not 0.0 < self.target <= 1.0:
            raise ConfigError(f'target is a success rate in (0, 1], got {self.target}')

    def finetune(self) -> Any:
        """Return the fine-tuning configuration."""
        from ..training.rl import FinetuneConfig  # lazy: torch only when fine-tuning
        return self.rl if self.rl is not None else FinetuneConfig()


#: Small sizes for a smoke run (``--quick``).
QUICK = dict(eval_every=10)
QUICK_BASE = dict(train_steps=300, eval_episodes=20, rounds=2, episodes_per_round=2,
                  bc_demos=(4,), initial_demos=4)
QUICK_RL = dict(episodes=20, warmup_episodes=5, critic_warmup_updates=200,
                updates_per_step=0.5)


@dataclass(frozen=True)
class RlPoint:
    """One evaluated model: a point of a method's curves."""

    method: str
    """One of :data:`METHODS`."""
    seed: int
    """Training seed."""
    episodes: int
    """Environment episodes after the BC start (RL episodes or HG-DAgger rollouts)."""
    labels: int
    """Human labels in the training data: demonstration samples plus human-driven steps."""
    success_rate: float
    """Fraction of the evaluation episodes that reached the goal."""
    reasons: dict
    """Count per end reason of the evaluation episodes."""
    failed_episodes: int = 0
    """Training episodes so far that ended in a collision or at a joint limit."""
    takeovers: int = 0
    """Operator takeovers so far."""
    seconds: float = 0.0
    """Wall time of the method so far (s)."""


def run_rl_study(out: Path, config: Optional[RlStudyConfig] = None,
                 seeds: Sequence[int] = (0, 1, 2), *, progress: bool = True,
                 methods: Sequence[str] = ('bc', 'rl', 'rl_hil', 'hg_dagger'),
                 workers: int = 1) -> list[RlPoint]:
    """
    Run the study; write ``table.md``, ``curve.png`` and ``cells.json`` into ``out``.

    :param methods: which of :data:`METHODS` to run (bc always runs: the others start from it).
    :param workers: seeds run at once, one process each (results are the same).
    """
    cfg = config or RlStudyConfig()
    unknown = set(methods) - set(METHODS)
    if unknown:
        raise ConfigError(f'unknown methods {sorted(unknown)}; choose among {", ".join(METHODS)}')
    methods = tuple(m for m in METHODS if m in set(methods) | {'bc'})
    if 'rl_gmm' in methods and 'bc_gmm' not in methods:
        methods = tuple(m for m in METHODS if m in set(methods) | {'bc_gmm'})
    if workers < 1:
        raise ConfigError(f'workers must be >= 1, got {workers}')
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    eval_tasks = sample_tasks(cfg.base.arm, cfg.base.eval_episodes, seed=cfg.base.eval_seed)
    expert = _evaluation(run_episodes(cfg.base.arm, eval_tasks, seed=cfg.base.eval_seed,
                                      expert=cfg.base.expert(), beta=1.0, label=False))
    print(f'expert on the evaluation tasks (noise {cfg.base.actuation_noise} rad): success '
          f'{expert.success_rate:.2f}', flush=True)
    jobs = [dict(config=cfg, seed=s, out=out, eval_tasks=eval_tasks, methods=methods,
                 progress=progress and workers == 1, started=started) for s in seeds]
    points: list[RlPoint] = []
    if workers == 1 or len(jobs) == 1:
        for job in jobs:
            points += run_rl_seed(job)
    else:
        with spawn_pool(workers) as pool:
            for seed_points in pool.map(run_rl_seed, jobs):
                points += seed_points
    seconds = time.perf_counter() - started
    write_outputs(points, out, cfg, seeds=seeds, seconds=seconds,
                  expert_success=expert.success_rate, workers=workers)
    return points


def run_rl_seed(job: dict) -> list[RlPoint]:
    """Run every method of one training seed; ``job`` holds run_rl_study's settings."""
    import torch  # lazy: torch only when training
    torch.set_num_threads(1)
    cfg: RlStudyConfig = job['config']
    seed, out, started = job['seed'], job['out'], job['started']
    base = cfg.base

    def log(p: RlPoint) -> None:
        print(f'[{time.perf_counter() - started:6.0f} s] seed {seed} {LABELS[p.method]:27s} '
              f'{p.episodes:4d} episodes {p.labels:5d} labels -> success {p.success_rate:.2f} '
              f'{p.reasons} (failed training episodes {p.failed_episodes}, takeovers '
              f'{p.takeovers})', flush=True)

    runner = _Runner(base, seed, out, job['eval_tasks'], job['progress'], lambda p: None)
    demos = runner.demonstrations()[:base.initial_demos]
    bank = LabelBank()
    for e in demos:
        bank.add(e, e.actions)
    points: list[RlPoint] = []
    t0 = time.perf_counter()
    bc_model, bc_eval, _ = runner._fit(bank, f'bc_n{base.initial_demos}')
    bc = RlPoint('bc', seed, 0, bank.labels, bc_eval.success_rate, bc_eval.reasons,
                 seconds=time.perf_counter() - t0)
    points.append(bc)
    log(bc)
    for method in ('rl', 'rl_hil'):
        if method in job['methods']:
            points += _rl_curve(method, cfg, seed, out, job, bc_model[1], demos, bc, log)
    if 'hg_dagger' in job['methods']:
        t0 = time.perf_counter()
        start = _dagger_point(bc, base)
        hg = runner.iterate('hg_dagger', demos, bc_model, start)
        failed = takeovers = 0
        for p in hg[1:]:
            # Per round: rollouts that failed even with the operator's help, and takeovers.
            failed += int(round((1.0 - p.rollout_success) * base.episodes_per_round))
            takeovers += int(round(p.takeovers_per_episode * base.episodes_per_round))
            points.append(RlPoint('hg_dagger', seed, p.stage * base.episodes_per_round,
                                  p.labels, p.success_rate, p.reasons, failed, takeovers,
                                  time.perf_counter() - t0))
            log(points[-1])
    if 'bc_gmm' in job['methods']:
        t0 = time.perf_counter()
        gmm_cfg = replace(base, kind='gmm', train_steps=cfg.gmm_train_steps)
        path = out / 'models' / f'bc_gmm_s{seed}.onnx'
        gmm = train_model(bank, gmm_cfg, path, seed=seed)
        res = evaluate(gmm[0], base, job['eval_tasks'])
        gp = RlPoint('bc_gmm', seed, 0, bank.labels, res.success_rate, res.reasons,
                     seconds=time.perf_counter() - t0)
        points.append(gp)
        log(gp)
        if 'rl_gmm' in job['methods']:
            points += _rl_curve('rl_gmm', cfg, seed, out, job, gmm[1], demos, gp, log)
    return points


def _dagger_point(bc: RlPoint, base: StudyConfig) -> Any:
    return Point('hg_dagger', bc.seed, 0, base.initial_demos, bc.labels, 0, bc.success_rate,
                 bc.reasons, 0.0)


def _rl_curve(method: str, cfg: RlStudyConfig, seed: int, out: Path, job: dict,
              start_policy: Any, demos: Sequence[Any], start: RlPoint, log: Any
              ) -> list[RlPoint]:
    """Fine-tune ``start_policy`` with RL; evaluate the export every ``eval_every`` episodes."""
    # lazy: torch only when training
    from ..training.rl import (finetune_in_sim, from_episode, prepare_actor, save_finetuned,
                               Transitions)
    base = cfg.base
    rl = cfg.finetune()
    arm = base.arm
    policy = prepare_actor(start_policy)
    links = policy.spec.link_lengths
    prior = Transitions.concat([from_episode(e, rl.reward, links, all_human=True)
                                for e in demos])
    operator = (SimulatedOperator(arm, base.operator, seed=seed) if method == 'rl_hil'
                else None)
    if operator is not None:
        rl = replace(rl, explore_noise=cfg.hil_explore_noise)
    points = [replace(start, method=method)]
    counters = {'failed': 0, 'takeovers': 0, 'human': 0}
    t0 = time.perf_counter()

    def on_episode(ep: Any, current: Any) -> None:
        counters['failed'] += ep.reason in ('collision', 'joint_limit')
        counters['takeovers'] += ep.takeovers
        counters['human'] += ep.human_steps
        done = ep.index + 1
        if done % cfg.eval_every and done != rl.episodes:
            return
        path = out / 'models' / f'{method}_s{seed}_e{done:04d}.onnx'
        save_finetuned(current, path, checkpoint=done == rl.episodes, metadata_extra={
            'version': path.stem, 'training_data': {
                'method': LABELS[method], 'demos': len(demos), 'rl_episodes': done,
                'human_steps': counters['human'], 'seed': seed}})
        res = evaluate(path, base, job['eval_tasks'])
        points.append(RlPoint(method, seed, done, start.labels + counters['human'],
                              res.success_rate, res.reasons, counters['failed'],
                              counters['takeovers'], time.perf_counter() - t0))
        log(points[-1])

    finetune_in_sim(policy, prior, arm=arm, gate=gate_config(arm), config=rl, seed=seed,
                    operator=operator, on_episode=on_episode, progress=job['progress'])
    return points


# ----------------------------------------------------------------------------- summaries
def curve(points: Sequence[RlPoint], method: str) -> list[dict]:
    """Return a method's curve: per episode count, labels and success over seeds."""
    rows = []
    for e in sorted({p.episodes for p in points if p.method == method}):
        sel = [p for p in points if p.method == method and p.episodes == e]
        rates = np.array([p.success_rate for p in sel])
        labels = np.array([p.labels for p in sel], dtype=float)
        rows.append({'episodes': e, 'labels': float(labels.mean()),
                     'labels_min': int(labels.min()), 'labels_max': int(labels.max()),
                     'mean': float(rates.mean()), 'std': float(rates.std()),
                     'min': float(rates.min()), 'max': float(rates.max()),
                     'seeds': [round(float(r), 2) for r in rates], 'n': len(sel),
                     'failed': float(np.mean([p.failed_episodes for p in sel])),
                     'takeovers': float(np.mean([p.takeovers for p in sel]))})
    return rows


def first_reaching(rows: Sequence[dict], success: float) -> Optional[dict]:
    """Return the first row whose mean success is >= ``success``, or None."""
    return next((r for r in rows if r['mean'] >= success - 1e-9), None)


def verdict(points: Sequence[RlPoint], target: float) -> dict:
    """
    Check the study's targets.

    BC starts at or below 0.7; BC + RL without a human reaches ``target`` (mean over
    seeds); with interventions it reaches the success HG-DAgger reaches with fewer
    human labels (the success compared: the higher of the two curves' best, capped
    by the lower one's best, so both reach it).
    """
    out: dict = {'target': target}
    bc = curve(points, 'bc')
    out['bc_start'] = bc[0]['mean'] if bc else None
    out['bc_start_ok'] = bool(bc) and bc[0]['mean'] <= 0.7 + 1e-9
    rl = curve(points, 'rl')
    if rl:
        hit = first_reaching(rl, target)
        out['rl_final'] = rl[-1]['mean']
        out['rl_episodes_to_target'] = hit['episodes'] if hit else None
        out['rl_ok'] = rl[-1]['mean'] >= target - 1e-9
    hil, hg = curve(points, 'rl_hil'), curve(points, 'hg_dagger')
    if hil and hg:
        level = min(max(r['mean'] for r in hil), max(r['mean'] for r in hg))
        a, b = first_reaching(hil, level), first_reaching(hg, level)
        out['compared_success'] = level
        out['hil_labels'] = a['labels'] if a else None
        out['hg_labels'] = b['labels'] if b else None
        out['hil_fewer_labels'] = bool(a and b and a['labels'] < b['labels'])
    return out


def _fmt(row: dict) -> str:
    return f"{row['mean']:.2f} ± {row['std']:.2f} ({', '.join(map(str, row['seeds']))})"


def _labels(row: dict) -> str:
    if row['labels_min'] == row['labels_max']:
        return f"{row['labels_min']}"
    return f"{row['labels']:.0f} ({row['labels_min']}–{row['labels_max']})"


def write_table(points: Sequence[RlPoint], path: Path, cfg: RlStudyConfig, *,
                seeds: Sequence[int], seconds: float, expert_success: float,
                workers: int = 1) -> str:
    """Write the markdown tables: final results, the curves, the verdict."""
    base, rl = cfg.base, cfg.finetune()
    td3 = rl.td3
    lines = [
        f'Planar arm, actuation noise {base.actuation_noise} rad per joint and control period '
        f'(demonstrations recorded without it); one demonstrator (`above`); '
        f'{base.initial_demos} demonstrations start every method; BC: `{base.kind}`, '
        f'{base.train_steps} gradient steps. RL: TD3 with the demonstrations (and takeovers) '
        f'in a prior buffer sampled {td3.prior_fraction:.0%} per batch, a BC term '
        f'(alpha {td3.alpha}, bc {td3.bc_weight}), actor lr {td3.actor_lr:g}, '
        f'{rl.episodes} episodes ({rl.warmup_episodes} warm-up episodes, then '
        f'{rl.critic_warmup_updates} critic-only updates, then {rl.updates_per_step:g} update '
        f'per step), exploration noise {rl.explore_noise:g} x {td3.max_step} rad '
        f'({cfg.hil_explore_noise:g} x with the operator watching); reward: '
        f'success {rl.reward.success:+g}, collision or joint limit {rl.reward.failure:+g}, '
        f'progress {rl.reward.progress:g} per m. HG-DAgger: {base.rounds} rounds of '
        f'{base.episodes_per_round} rollouts, {base.warm_start_steps} fine-tuning steps per '
        f'round; operator side {base.operator.side:+d}. {len(seeds)} training seeds; '
        f'{base.eval_episodes} evaluation episodes per model (the same tasks and noise for '
        f'every model, the exported ONNX file through the gate). The expert succeeds in '
        f'{expert_success:.2f} of them. Run time {seconds / 60:.1f} min on this machine '
        f'({workers} worker process{"es" if workers > 1 else ""}).', '']
    text = '\n'.join(lines + table_body(points, cfg.target, rl.episodes)) + '\n'
    path.write_text(text)
    return text


def table_body(points: Sequence[RlPoint], target: float, rl_episodes: int) -> list[str]:
    """Return the table's lines after its header: final results, curves, the verdict."""
    methods = [m for m in METHODS if any(p.method == m for p in points)]
    lines = ['| method | environment episodes | human labels | success | failed training '
             'episodes | takeovers |', '|---|---|---|---|---|---|']
    for m in methods:
        rows = curve(points, m)
        if not rows:
            continue
        r = rows[-1]
        ep = '–' if m in ('bc', 'bc_gmm') else f"{r['episodes']}"
        fail = '–' if m in ('bc', 'bc_gmm') else f"{r['failed']:.1f}"
        take = f"{r['takeovers']:.1f}" if m in ('rl_hil', 'hg_dagger') else '–'
        lines.append(f'| {LABELS[m]} | {ep} | {_labels(r)} | {_fmt(r)} | {fail} | {take} |')
    lines += ['', 'human labels: demonstration samples plus steps the operator drove (mean over '
              'seeds, range in brackets); success: mean ± standard deviation over seeds '
              '(per-seed values in brackets); failed training episodes: episodes run while '
              'learning that ended in a collision or at a joint limit (mean over seeds).', '',
              'Curves (success of the exported policy after that many environment episodes):',
              '', '| method | episodes | human labels | success |', '|---|---|---|---|']
    for m in methods:
        if m in ('bc', 'bc_gmm'):
            continue
        for r in curve(points, m):
            lines.append(f"| {LABELS[m]} | {r['episodes']} | {_labels(r)} | {_fmt(r)} |")
    v = verdict(points, target)
    lines += ['']
    if v.get('bc_start') is not None:
        lines.append(f"- BC start {v['bc_start']:.2f} (target <= 0.70): "
                     f"{'met' if v['bc_start_ok'] else 'NOT met'}.")
    if 'rl_final' in v:
        reach = (f", first at {v['rl_episodes_to_target']} episodes"
                 if v['rl_episodes_to_target'] is not None else '')
        lines.append(f"- BC + RL without a human: {v['rl_final']:.2f} after {rl_episodes} "
                     f"episodes (target >= {target:.2f}){reach}: "
                     f"{'met' if v['rl_ok'] else 'NOT met'}.")
    if 'compared_success' in v:
        lines.append(f"- Human labels to reach mean success {v['compared_success']:.2f}: "
                     f"with interventions {_maybe(v['hil_labels'])}, HG-DAgger "
                     f"{_maybe(v['hg_labels'])}: "
                     f"{'fewer' if v['hil_fewer_labels'] else 'NOT fewer'} with RL.")
    return lines


def _maybe(value: Optional[float]) -> str:
    return 'not reached' if value is None else f'{value:.0f}'


def plot_curves(points: Sequence[RlPoint], path: Path, target: float, setting: str) -> Path:
    """
    Draw success against environment episodes and against human labels, per method.

    :param setting: what the title says of the setting (the arm, its noise).
    """
    import matplotlib  # lazy: matplotlib only when plotting
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt  # lazy: matplotlib only when plotting
    fig, axes = plt.subplots(1, 2, figsize=(11.0, 4.2), dpi=110)
    for m in METHODS:
        rows = curve(points, m)
        if not rows:
            continue
        mean = np.array([r['mean'] for r in rows])
        for ax, key in zip(axes, ('episodes', 'labels')):
            x = np.array([r[key] for r in rows])
            if m in ('bc', 'bc_gmm'):
                ax.scatter(x, mean, color=COLORS[m], marker='s', zorder=3, label=LABELS[m])
                continue
            ax.plot(x, mean, marker='o', ms=3, color=COLORS[m], label=LABELS[m], lw=1.6)
            ax.fill_between(x, [r['min'] for r in rows], [r['max'] for r in rows],
                            color=COLORS[m], alpha=0.15, lw=0)
    for ax in axes:
        ax.axhline(target, color='0.4', ls='--', lw=1, label=f'target {target:.2f}')
        ax.set_ylim(-0.02, 1.02)
        ax.set_ylabel('success rate')
        ax.grid(alpha=0.3)
    axes[0].set_xlabel('environment episodes after the BC start')
    axes[1].set_xlabel('human labels (demonstration samples + operator steps)')
    axes[1].legend(fontsize=7, loc='lower right')
    seeds = len({p.seed for p in points})
    fig.suptitle(f'BC for the start, RL for the rest: {setting}, {seeds} seeds '
                 '(line: mean, band: min–max)', fontsize=9)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def write_outputs(points: Sequence[RlPoint], out: Path, cfg: RlStudyConfig, *,
                  seeds: Sequence[int], seconds: float, expert_success: float,
                  workers: int = 1) -> None:
    """Write ``table.md``, ``curve.png`` and ``cells.json``."""
    write_table(points, out / 'table.md', cfg, seeds=seeds, seconds=seconds,
                expert_success=expert_success, workers=workers)
    plot_curves(points, out / 'curve.png', cfg.target,
                f'actuation noise {cfg.base.actuation_noise} rad')
    base = asdict(cfg.base)
    base['beta'] = cfg.base.beta.describe()
    (out / 'cells.json').write_text(json.dumps({
        'config': {'base': base, 'rl': asdict(cfg.finetune()), 'eval_every': cfg.eval_every,
                   'gmm_train_steps': cfg.gmm_train_steps, 'target': cfg.target,
                   'hil_explore_noise': cfg.hil_explore_noise},
        'seeds': list(seeds), 'seconds': seconds, 'expert_success': expert_success,
        'verdict': verdict(points, cfg.target),
        'curves': {m: curve(points, m) for m in METHODS if any(p.method == m for p in points)},
        'points': [asdict(p) for p in points]}, indent=1, default=_json_default))


def _json_default(value: object) -> object:
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, (tuple, set)):
        return list(value)
    raise TypeError(f'not JSON serializable: {type(value).__name__}')
