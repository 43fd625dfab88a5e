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
The compounding-error study: behavioral cloning against DAgger and HG-DAgger, per label.

Offline (no ROS): every rollout is the closed loop of :mod:`imitation_ros.dagger.loop`
(the sim with actuation noise, the gate's arbitration and clamp, the simulated
operator behind ``sim_human``). One demonstrator (``above``: the question is
compounding error, not mode collapse), one policy kind (``mse`` by default).

* **BC**: train on the first N demonstrations for a geometric ladder of N; the
  labels are the demonstrations' samples. The demonstrations are recorded without
  actuation noise by default (``demo_noise``): BC then learns the expert's own path
  only, and the noise of deployment makes its errors compound.
* **DAgger**: start from the BC model of ``initial_demos`` demonstrations; each
  round roll out the mixture policy (beta from
  :class:`~imitation_ros.dagger.beta.BetaSchedule`, preset ``dagger``; a fresh draw
  every control period), label every visited state with the expert's action
  there, aggregate, retrain on everything (fine-tuning the previous round's
  model, as the trainer node does; ``warm_start=False``: from scratch). Labels: the
  initial demonstrations plus every visited state.
* **HG-DAgger**: the same start; each round roll out the policy alone while the
  simulated operator watches and takes over when it sees trouble; only the
  human-controlled steps join the data, labelled with the commands the gate
  executed from the sticks. Labels: the initial demonstrations plus the
  human-labelled samples; a round without a takeover keeps its model (nothing new
  to learn). The operator's burden per round: takeovers per episode and the
  fraction of time under human control.

Correction samples (DAgger's and HG-DAgger's) get the sampling weight of the
training pipeline (``data/aggregate.py``, ``DEFAULT_CORRECTION_WEIGHT``); no
validation split is held out (the success rate in the sim is the measure).
Every model is exported to ONNX and evaluated through
:class:`~imitation_ros.runtime.onnx_policy.OnnxPolicy` on one fixed set of tasks
with fixed per-episode noise seeds, the same for every model and seed. Training
seeds change the demonstrations, the round tasks, the initialization and the
batches.

Writes ``table.md``, ``curve.png`` (success against labels, mean and spread over
seeds) and ``cells.json`` (every evaluated model) into the output folder.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
import json
from pathlib import Path
import time
from typing import Any, Optional, Sequence

import numpy as np

from .parallel import spawn_pool
from ..dagger.beta import BetaSchedule
from ..dagger.loop import Episode, gate_config, run_episodes, sample_tasks
from ..data.aggregate import DEFAULT_CORRECTION_WEIGHT
from ..errors import ConfigError
from ..runtime.onnx_policy import OnnxPolicy
from ..sim.arm import ArmConfig, TASK_LAYOUT
from ..sim.experts import DemonstratorStyle, ScriptedExpert
from ..sim.operator import OperatorParams, SimulatedOperator

METHODS: tuple[str, ...] = ('bc', 'dagger', 'hg_dagger')
LABELS = {'bc': 'BC', 'dagger': 'DAgger', 'hg_dagger': 'HG-DAgger'}
COLORS = {'bc': 'tab:blue', 'dagger': 'tab:orange', 'hg_dagger': 'tab:green'}


@dataclass(frozen=True)
class StudyConfig:
    """Everything that defines the study (sizes, noise, training), besides the seeds."""

    actuation_noise: float = 0.01
    """Std of the Gaussian noise added to each joint's motion per control period (rad)."""
    demo_noise: Optional[float] = 0.0
    """
    Actuation noise while the demonstrations are recorded (rad); None: ``actuation_noise``.
    0 (default): a careful demonstration, so BC sees only the expert's own path and its
    errors compound under the noise of deployment (Ross et al.'s setting). With noise
    during the demonstrations the closed-loop expert's recoveries enter the data (DART's
    remedy) and BC barely suffers. Every rollout (evaluation, DAgger, HG-DAgger) runs
    with ``actuation_noise``.
    """
    max_steps: int = ArmConfig().max_steps
    """Step budget per episode (control periods); running out of it is a failure."""
    kind: str = 'mse'
    """Policy kind trained by every method."""
    train_steps: int = 1000
    """Gradient steps per model trained from scratch."""
    warm_start: bool = True
    """DAgger / HG-DAgger: fine-tune the previous round's model on the grown data, as the
    trainer node does (``warm_start``); False trains each round from scratch. BC models
    are always trained from scratch on their whole data."""
    warm_start_steps: int = 300
    """Gradient steps of a warm-started round (the trainer node's ``warm_start_steps``)."""
    batch_size: int = 256
    """Samples per gradient step."""
    hidden: tuple[int, ...] = (256, 256, 256)
    """Hidden layer widths of the policy MLP."""
    bc_demos: tuple[int, ...] = (1, 2, 4, 8, 16, 32, 64)
    """The BC ladder: numbers of demonstrations (episodes) trained on."""
    initial_demos: int = 1
    """Demonstrations DAgger and HG-DAgger start from (their round-0 policy is BC on these)."""
    rounds: int = 6
    """DAgger and HG-DAgger rounds (roll out, label, aggregate, retrain)."""
    episodes_per_round: int = 4
    """Rollouts per round."""
    beta: BetaSchedule = field(default_factory=lambda: BetaSchedule.preset('dagger'))
    """DAgger's beta schedule (round i executes the expert with probability beta(i))."""
    correction_weight: float = DEFAULT_CORRECTION_WEIGHT
    """Sampling weight of a correction sample relative to a demonstration sample."""
    eval_episodes: int = 100
    """Evaluation episodes per model (the same tasks and noise for every model)."""
    eval_seed: int = 10_000
    """Seed of the evaluation tasks and their noise."""
    operator: OperatorParams = field(default_factory=lambda: OperatorParams(side=1))
    """
    The simulated human of HG-DAgger: ``sim_human``'s defaults, correcting above like
    the demonstrator (``side`` 1, as the demo sets it for the ``above`` expert).
    """
    target: float = 0.95
    """Success rate the label-efficiency comparison asks for."""

    def __post_init__(self) -> None:
        if self.actuation_noise < 0:
            raise ConfigError(f'actuation_noise must be >= 0 rad, got {self.actuation_noise}')
        if self.demo_noise is not None and not self.demo_noise >= 0:
            raise ConfigError(f'demo_noise must be >= 0 rad or None (the actuation noise), got '
                              f'{self.demo_noise}')
        if not self.bc_demos or any(n < 1 for n in self.bc_demos) \
                or list(self.bc_demos) != sorted(set(self.bc_demos)):
            raise ConfigError(f'bc_demos must be increasing positive episode counts, got '
                              f'{self.bc_demos}')
        if self.initial_demos not in self.bc_demos:
            raise ConfigError(f'initial_demos ({self.initial_demos}) must be on the BC ladder '
                              f'{self.bc_demos}: DAgger and HG-DAgger start from that BC model')
        for name in ('rounds', 'episodes_per_round', 'eval_episodes', 'train_steps',
                     'batch_size', 'max_steps', 'warm_start_steps'):
            if getattr(self, name) < 1:
                raise ConfigError(f'{name} must be >= 1, got {getattr(self, name)}')

    @property
    def arm(self) -> ArmConfig:
        """Return the simulated ArmConfig: default geometry, this study's actuation noise."""
        return replace(ArmConfig(), actuation_noise=self.actuation_noise,
                       max_steps=self.max_steps)

    @property
    def demo_arm(self) -> ArmConfig:
        """Return the ArmConfig the demonstrations are recorded with (``demo_noise``)."""
        noise = self.actuation_noise if self.demo_noise is None else self.demo_noise
        return replace(self.arm, actuation_noise=noise)

    def expert(self) -> ScriptedExpert:
        """Return the demonstrator: the single ``above`` expert."""
        return ScriptedExpert(config=self.arm, style=DemonstratorStyle(side=1))


#: Small sizes for a smoke run (``--quick``): about a minute or two on two cores.
QUICK = dict(train_steps=150, bc_demos=(1, 2, 4, 8), initial_demos=1, rounds=2,
             episodes_per_round=2, eval_episodes=20)


@dataclass(frozen=True)
class Point:
    """One trained and evaluated model: a point of a method's success-against-labels curve."""

    method: str
    """'bc', 'dagger' or 'hg_dagger'."""
    seed: int
    """Training seed."""
    stage: int
    """BC: index on the ladder; DAgger / HG-DAgger: rounds aggregated so far (0: the start)."""
    demos: int
    """Demonstrations in the training data."""
    labels: int
    """Expert-labelled samples in the training data (demonstration samples included)."""
    corrections: int
    """Of which correction samples (DAgger: expert labels of visited states; HG: human)."""
    success_rate: float
    """Fraction of evaluation episodes that reached the goal."""
    reasons: dict
    """Count per end reason of the evaluation episodes."""
    train_seconds: float
    """Wall time of training and export (s)."""
    beta: Optional[float] = None
    """DAgger: beta of the round whose rollouts were last aggregated."""
    takeovers_per_episode: Optional[float] = None
    """HG-DAgger: takeovers per rollout episode of that round."""
    human_fraction: Optional[float] = None
    """HG-DAgger: fraction of that round's control periods under human control."""
    rollout_success: Optional[float] = None
    """DAgger / HG-DAgger: success of that round's rollouts (with the expert's or human's help)."""
    rollout_steps: Optional[int] = None
    """DAgger / HG-DAgger: control periods of that round's rollouts."""
    round_labels: Optional[int] = None
    """DAgger / HG-DAgger: labels that round added (DAgger: every period; HG: human periods)."""


class LabelBank:
    """Aggregated training data in memory: states, task vectors, labels, weights."""

    def __init__(self) -> None:
        self._parts: list[tuple[np.ndarray, ...]] = []
        self.episodes = 0
        self.demos = 0
        self.labels = 0
        self.corrections = 0

    def add(self, episode: Episode, labels: np.ndarray, mask: Optional[np.ndarray] = None, *,
            weight: float = 1.0, correction: bool = False) -> int:
        """
        Add the samples of ``episode`` where ``mask`` holds, labelled ``labels``; return how many.

        :param labels: (T, n) absolute joint targets, one per control period of the episode.
        :param mask: (T,) bool; default every period.
        """
        t = episode.steps
        labels = np.asarray(labels, dtype=np.float64)
        if labels.shape != episode.states.shape:
            raise ConfigError(f'labels must have shape {episode.states.shape}, got {labels.shape}')
        keep = np.ones(t, dtype=bool) if mask is None else np.asarray(mask, dtype=bool)
        count = int(keep.sum())
        if count and not np.all(np.isfinite(labels[keep])):
            raise ConfigError('a label is not finite; the expert or the gate produced NaN / Inf')
        self.episodes += 1
        if not correction:
            self.demos += 1
        if count:
            steps = np.arange(t)[keep]
            self._parts.append((episode.states[keep], np.tile(episode.task.vector(), (count, 1)),
                                labels[keep], np.full(count, self.episodes - 1), steps,
                                np.full(count, float(weight))))
        self.labels += count
        self.corrections += count if correction else 0
        return count

    def arrays(self) -> tuple[np.ndarray, ...]:
        """Return (state, task, action, episode, step, weight) concatenated."""
        if not self._parts:
            raise ConfigError('no labelled samples yet')
        return tuple(np.concatenate([p[i] for p in self._parts]) for i in range(6))

    def copy(self) -> 'LabelBank':
        """Return a copy that can grow independently."""
        other = LabelBank()
        other._parts = list(self._parts)
        other.episodes, other.demos = self.episodes, self.demos
        other.labels, other.corrections = self.labels, self.corrections
        return other


#: A trained model: its ONNX file and its torch policy (for warm starts; None if not kept).
Model = tuple[Path, Any]


def train_model(bank: LabelBank, config: StudyConfig, path: Path, *, seed: int,
                progress: bool = False, desc: str = '', init: Any = None) -> Model:
    """
    Train a policy of ``config.kind`` on ``bank`` with the project's trainer; export it.

    :param init: a torch policy to fine-tune for ``config.warm_start_steps`` (its
        normalization kept, as the trainer's warm start does); None trains from scratch.
    :returns: the exported ONNX file and the torch policy.
    """
    from ..policies.base import TrainConfig  # lazy: torch only when training
    from ..training.export import export_policy  # lazy: torch only when training
    # lazy: torch only when training
    from ..training.trainer import build_training_set, fit_spec, train_policy
    arm = config.arm
    state, task, action, episode, step, weight = bank.arrays()
    tset = build_training_set(state, task, action, episode, step, weight=weight)
    spec = (init.spec if init is not None
            else fit_spec(tset, arm.joint_names, TASK_LAYOUT, link_lengths=arm.link_lengths))
    steps = config.warm_start_steps if init is not None else config.train_steps
    train_cfg = TrainConfig(steps=steps, batch_size=config.batch_size,
                            val_fraction=0.0, hidden=config.hidden)
    policy, history = train_policy(config.kind, tset, spec, train_cfg, seed=seed,
                                   progress=progress, desc=desc or f'train {config.kind}',
                                   init=init)
    path.parent.mkdir(parents=True, exist_ok=True)
    return export_policy(policy, path, metadata_extra={
        'version': path.stem, 'training_data': {
            'episodes': bank.episodes, 'demos': bank.demos, 'samples': len(tset),
            'corrections': bank.corrections, 'correction_weight': config.correction_weight,
            'seed': seed, 'steps': steps, 'warm_start': init is not None,
            'final_train_loss': history.train_loss[-1] if history.train_loss else None}}), policy


@dataclass(frozen=True)
class Evaluation:
    """Outcome of one model on the evaluation tasks."""

    success_rate: float
    reasons: dict


def evaluate(model: Path, config: StudyConfig, tasks: Sequence, *, progress: bool = False,
             desc: str = 'evaluate') -> Evaluation:
    """Run ``model`` through OnnxPolicy and the gate on ``tasks`` (fixed noise seeds)."""
    policy = OnnxPolicy(model, seed=0)
    episodes = run_episodes(config.arm, tasks, seed=config.eval_seed, policy=policy,
                            progress=progress, desc=desc)
    return _evaluation(episodes)


def _evaluation(episodes: Sequence[Episode]) -> Evaluation:
    reasons: dict = {}
    for e in episodes:
        reasons[e.reason] = reasons.get(e.reason, 0) + 1
    return Evaluation(success_rate=reasons.get('success', 0) / max(1, len(episodes)),
                      reasons=reasons)


class _Runner:
    """One training seed of the study: the data, the models, the points."""

    def __init__(self, config: StudyConfig, seed: int, out: Path, eval_tasks: Sequence,
                 progress: bool, log) -> None:
        self.cfg = config
        self.seed = seed
        self.models = out / 'models'
        self.eval_tasks = eval_tasks
        self.progress = progress
        self.log = log
        self.arm = config.arm
        self.expert = config.expert()
        self.gate = gate_config(self.arm)

    def _fit(self, bank: LabelBank, name: str,
             init: Any = None) -> tuple[Model, Evaluation, float]:
        start = time.perf_counter()
        model = train_model(bank, self.cfg, self.models / f'{name}_s{self.seed}.onnx',
                            seed=self.seed, progress=self.progress, desc=f'train {name}',
                            init=init)
        seconds = time.perf_counter() - start
        result = evaluate(model[0], self.cfg, self.eval_tasks, progress=self.progress,
                          desc=f'eval {name}')
        return model, result, seconds

    def demonstrations(self) -> list[Episode]:
        """Roll the expert alone (beta = 1) on this seed's tasks, with ``demo_noise``."""
        n = max(self.cfg.bc_demos)
        tasks = sample_tasks(self.arm, n, seed=1_000 + self.seed)
        return run_episodes(self.cfg.demo_arm, tasks, seed=1_100 + self.seed, expert=self.expert,
                            beta=1.0, gate=self.gate, progress=self.progress,
                            desc='demonstrations')

    def bc(self, demos: Sequence[Episode]) -> tuple[list[Point], dict[int, Model]]:
        """Train and evaluate BC on every rung of the ladder; return the points and models."""
        points, models = [], {}
        for stage, n in enumerate(self.cfg.bc_demos):
            bank = LabelBank()
            for e in demos[:n]:
                bank.add(e, e.actions)
            model, res, seconds = self._fit(bank, f'bc_n{n}')
            # Only the start of DAgger / HG-DAgger is fine-tuned later: keep no other
            # torch policy alive.
            models[n] = model if n == self.cfg.initial_demos else (model[0], None)
            points.append(Point('bc', self.seed, stage, n, bank.labels, 0, res.success_rate,
                                res.reasons, seconds))
            self.log(points[-1])
        return points, models

    def iterate(self, method: str, demos: Sequence[Episode], start: Model,
                start_point: Point) -> list[Point]:
        """Run the rounds of ``method`` ('dagger' or 'hg_dagger') from the BC model ``start``."""
        cfg = self.cfg
        bank = LabelBank()
        for e in demos[:cfg.initial_demos]:
            bank.add(e, e.actions)
        points = [replace(start_point, method=method, stage=0)]
        model = start
        operator = (SimulatedOperator(self.arm, cfg.operator, seed=self.seed)
                    if method == 'hg_dagger' else None)
        for r in range(cfg.rounds):
            tasks = sample_tasks(self.arm, cfg.episodes_per_round,
                                 seed=2_000 + 100 * self.seed + r)
            policy = OnnxPolicy(model[0], seed=self.seed)
            desc = f'{method} round {r + 1} rollouts'
            if method == 'dagger':
                beta = cfg.beta.beta(r)
                episodes = run_episodes(self.arm, tasks, seed=3_000 + 100 * self.seed + r,
                                        policy=policy, expert=self.expert, beta=beta,
                                        gate=self.gate, progress=self.progress, desc=desc)
                for e in episodes:
                    assert e.labels is not None
                    bank.add(e, e.labels, weight=cfg.correction_weight, correction=True)
                extra = dict(beta=beta)
            else:
                episodes = run_episodes(self.arm, tasks, seed=3_000 + 100 * self.seed + r,
                                        policy=policy, operator=operator, gate=self.gate,
                                        progress=self.progress, desc=desc)
                for e in episodes:
                    bank.add(e, e.actions, e.human, weight=cfg.correction_weight,
                             correction=True)
                steps = sum(e.steps for e in episodes)
                extra = dict(takeovers_per_episode=float(np.mean([e.takeovers
                                                                  for e in episodes])),
                             human_fraction=sum(int(e.human.sum()) for e in episodes)
                             / max(1, steps))
            if bank.labels == points[-1].labels:
                # No takeover, nothing new to learn: the model stays (as the demo keeps it).
                res, seconds = Evaluation(points[-1].success_rate, points[-1].reasons), 0.0
            else:
                model, res, seconds = self._fit(bank, f'{method}_r{r + 1}',
                                                init=model[1] if cfg.warm_start else None)
            points.append(Point(method, self.seed, r + 1, cfg.initial_demos, bank.labels,
                                bank.corrections, res.success_rate, res.reasons, seconds,
                                rollout_success=float(np.mean([e.success for e in episodes])),
                                rollout_steps=sum(e.steps for e in episodes),
                                round_labels=bank.labels - points[-1].labels, **extra))
            self.log(points[-1])
        return points


def run_dagger_study(out: Path, config: Optional[StudyConfig] = None,
                     seeds: Sequence[int] = (0, 1, 2), *, progress: bool = True,
                     methods: Sequence[str] = METHODS, workers: int = 1) -> list[Point]:
    """
    Run the study; write ``table.md``, ``curve.png`` and ``cells.json`` into ``out``.

    :param workers: training seeds run at once, one process each (seeds are
        independent; the points are the same as with one worker).
    """
    cfg = config or StudyConfig()
    unknown = set(methods) - set(METHODS)
    if unknown or 'bc' not in methods:
        raise ConfigError(f'methods must include bc and be among {", ".join(METHODS)}; '
                          f'got {", ".join(methods)}')
    if workers < 1:
        raise ConfigError(f'workers must be >= 1, got {workers}')
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    eval_tasks = sample_tasks(cfg.arm, cfg.eval_episodes, seed=cfg.eval_seed)
    expert_eval = _evaluation(run_episodes(cfg.arm, eval_tasks, seed=cfg.eval_seed,
                                           expert=cfg.expert(), beta=1.0, label=False))
    print(f'expert on the evaluation tasks (noise {cfg.actuation_noise} rad): success '
          f'{expert_eval.success_rate:.2f} {expert_eval.reasons}', flush=True)
    jobs = [dict(config=cfg, seed=seed, out=out, eval_tasks=eval_tasks,
                 progress=progress and workers == 1, methods=tuple(methods), started=started)
            for seed in seeds]
    points: list[Point] = []
    if workers == 1 or len(jobs) == 1:
        for job in jobs:
            points += run_seed(job)
    else:
        # One process per seed, one thread each; results are collected in seed order.
        with spawn_pool(workers) as pool:
            for seed_points in pool.map(run_seed, jobs):
                points += seed_points
    seconds = time.perf_counter() - started
    write_outputs(points, out, cfg, seeds=seeds, seconds=seconds,
                  expert_success=expert_eval.success_rate)
    return points


def run_seed(job: dict) -> list[Point]:
    """Run every method of one training seed; ``job`` holds run_dagger_study's settings."""
    import torch  # lazy: torch only when training
    torch.set_num_threads(1)
    cfg: StudyConfig = job['config']
    started = job['started']

    def log(p: Point) -> None:
        extra = ''
        if p.beta is not None:
            extra = f', beta {p.beta:.3g}'
        if p.takeovers_per_episode is not None:
            extra = (f', {p.takeovers_per_episode:.2f} takeovers/episode, human '
                     f'{p.human_fraction:.2f} of the time')
        print(f'[{time.perf_counter() - started:6.0f} s] seed {p.seed} {LABELS[p.method]:9s} '
              f'stage {p.stage}: {p.labels:5d} labels -> success {p.success_rate:.2f} '
              f'{p.reasons}{extra}', flush=True)

    runner = _Runner(cfg, job['seed'], job['out'], job['eval_tasks'], job['progress'], log)
    demos = runner.demonstrations()
    bc_points, bc_models = runner.bc(demos)
    points = list(bc_points)
    start_point = bc_points[cfg.bc_demos.index(cfg.initial_demos)]
    for method in job['methods']:
        if method != 'bc':
            points += runner.iterate(method, demos, bc_models[cfg.initial_demos], start_point)
    return points


# ----------------------------------------------------------------------------- summaries
def curve(points: Sequence[Point], method: str) -> list[dict]:
    """
    Return a method's curve: per stage, labels and success over seeds (mean, std, min, max).

    Stages line up across seeds (the same ladder rung or round); label counts of
    DAgger and HG-DAgger vary a little between seeds, so their mean is the x value.
    """
    stages = sorted({p.stage for p in points if p.method == method})
    rows = []
    for s in stages:
        sel = [p for p in points if p.method == method and p.stage == s]
        rates = np.array([p.success_rate for p in sel])
        labels = np.array([p.labels for p in sel], dtype=float)
        row = {'stage': s, 'demos': sel[0].demos, 'labels': float(labels.mean()),
               'labels_min': int(labels.min()), 'labels_max': int(labels.max()),
               'mean': float(rates.mean()), 'std': float(rates.std()),
               'min': float(rates.min()), 'max': float(rates.max()),
               'seeds': [round(float(r), 2) for r in rates]}
        for key in ('beta', 'takeovers_per_episode', 'human_fraction', 'rollout_success'):
            vals = [getattr(p, key) for p in sel if getattr(p, key) is not None]
            row[key] = float(np.mean(vals)) if vals else None
        rows.append(row)
    return rows


def labels_to_reach(rows: Sequence[dict], target: float) -> Optional[float]:
    """Return the mean labels of the first stage whose mean success is >= ``target``, or None."""
    for row in rows:
        if row['mean'] >= target - 1e-9:
            return row['labels']
    return None


def verdict(points: Sequence[Point], target: float) -> dict:
    """
    Check the label-efficiency target of the study.

    DAgger and HG-DAgger must reach ``target`` with at most a third of the labels BC
    needs for it, or BC must never reach it within its ladder.
    """
    methods = [m for m in METHODS if any(p.method == m for p in points)]
    need = {m: labels_to_reach(curve(points, m), target) for m in methods}
    bc = need.get('bc')
    bc_budget = max(p.labels for p in points if p.method == 'bc')
    ok = {}
    for m in methods:
        if m == 'bc':
            continue
        if need[m] is None:
            ok[m] = False
        elif bc is None:
            ok[m] = True
        else:
            ok[m] = need[m] <= bc / 3.0
    return {'target': target, 'labels_needed': need, 'bc_budget': bc_budget,
            'met': {m: ok[m] for m in ok}, 'all_met': bool(ok) and all(ok.values())}


def _fmt_rate(row: dict) -> str:
    return f"{row['mean']:.2f} ± {row['std']:.2f} ({', '.join(map(str, row['seeds']))})"


def _fmt_labels(row: dict) -> str:
    if row['labels_min'] == row['labels_max']:
        return f"{row['labels_min']}"
    return f"{row['labels']:.0f} ({row['labels_min']}–{row['labels_max']})"


def write_table(points: Sequence[Point], path: Path, config: StudyConfig, *,
                seeds: Sequence[int], seconds: float, expert_success: float) -> str:
    """Write the markdown tables (curves, HG-DAgger's burden, the label-efficiency verdict)."""
    cfg = config
    methods = [m for m in METHODS if any(p.method == m for p in points)]
    training = (f' (BC); DAgger / HG-DAgger rounds fine-tune the previous model for '
                f'{cfg.warm_start_steps} steps' if cfg.warm_start else '')
    demo = cfg.demo_arm.actuation_noise
    demo_noise = (f'demonstrations recorded with {demo} rad' if demo > 0 else
                  'demonstrations recorded without it')
    lines = [
        f'Single demonstrator (`above`), actuation noise {cfg.actuation_noise} rad per joint '
        f'and control period ({demo_noise}); policy `{cfg.kind}`, {cfg.train_steps} gradient '
        f'steps per model from scratch{training}; {len(seeds)} training seeds; '
        f'{cfg.eval_episodes} evaluation episodes per model (the same tasks and noise for '
        f'every model). DAgger / HG-DAgger start from BC on {cfg.initial_demos} '
        f'demonstration(s), then {cfg.rounds} rounds of {cfg.episodes_per_round} rollouts (a '
        'HG-DAgger round without takeovers keeps its model); DAgger '
        f'{cfg.beta.describe()}; HG-DAgger operator side {cfg.operator.side:+d}. The expert '
        f'itself succeeds in {expert_success:.2f} of the evaluation episodes. Run time '
        f'{seconds / 60:.1f} min.', '',
        '| method | stage | demos | labels | success |', '|---|---|---|---|---|']
    for m in methods:
        for row in curve(points, m):
            stage = (f"{row['demos']} demos" if m == 'bc' else
                     ('start' if row['stage'] == 0 else f"round {row['stage']}"))
            if m == 'dagger' and row['beta'] is not None and row['stage'] > 0:
                stage += f" (β {row['beta']:.3g})"
            lines.append(f"| {LABELS[m]} | {stage} | {row['demos']} | {_fmt_labels(row)} | "
                         f"{_fmt_rate(row)} |")
    lines += ['', 'labels: expert-labelled training samples (demonstration samples included; '
              'mean over seeds, range in brackets); success: mean ± standard deviation over '
              'training seeds (per-seed values in brackets).']
    if 'hg_dagger' in methods:
        lines += ['', "HG-DAgger: the human's burden per round (the rollouts that produced the "
                  "round's data, mean over seeds).", '',
                  '| round | takeovers per episode | fraction of time under human control | '
                  'human labels so far | rollout success (with the human) |',
                  '|---|---|---|---|---|']
        for row in curve(points, 'hg_dagger'):
            if row['stage'] == 0:
                continue
            start = cfg.initial_demos and next(
                r['labels'] for r in curve(points, 'hg_dagger') if r['stage'] == 0)
            lines.append(f"| {row['stage']} | {row['takeovers_per_episode']:.2f} | "
                         f"{row['human_fraction']:.3f} | {row['labels'] - start:.0f} | "
                         f"{row['rollout_success']:.2f} |")
    v = verdict(points, cfg.target)
    lines += ['', f"Labels to reach mean success >= {cfg.target:.2f} (first stage that does):", '',
              '| method | labels | fraction of BC\'s |', '|---|---|---|']
    bc = v['labels_needed'].get('bc')
    for m in methods:
        need = v['labels_needed'][m]
        if need is None:
            cell = f"not reached (budget {v['bc_budget']})" if m == 'bc' else 'not reached'
            frac = '–'
        else:
            cell = f'{need:.0f}'
            frac = '1' if m == 'bc' else (f'{need / bc:.2f}' if bc else 'BC never reached it')
        lines.append(f'| {LABELS[m]} | {cell} | {frac} |')
    met = ', '.join(f"{LABELS[m]} {'met' if ok else 'NOT met'}" for m, ok in v['met'].items())
    lines += ['', f'Target (>= {cfg.target:.2f} with at most a third of the labels BC needs, or '
              f'BC never reaching it): {met}.']
    text = '\n'.join(lines) + '\n'
    path.write_text(text)
    return text


def plot_curve(points: Sequence[Point], path: Path, config: StudyConfig, *,
               expert_success: Optional[float] = None) -> Path:
    """Draw success against labels per method: mean over seeds, min-max band, every seed."""
    import matplotlib  # lazy: matplotlib only when plotting
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt  # lazy: matplotlib only when plotting
    fig, ax = plt.subplots(figsize=(7.0, 4.3), dpi=110)
    for m in METHODS:
        rows = curve(points, m)
        if not rows:
            continue
        x = np.array([r['labels'] for r in rows])
        mean = np.array([r['mean'] for r in rows])
        ax.plot(x, mean, marker='o', color=COLORS[m], label=LABELS[m], lw=1.8)
        ax.fill_between(x, [r['min'] for r in rows], [r['max'] for r in rows],
                        color=COLORS[m], alpha=0.18, lw=0)
        ax.errorbar(x, mean, yerr=[r['std'] for r in rows], fmt='none', ecolor=COLORS[m],
                    alpha=0.8, capsize=3)
        for seed in sorted({p.seed for p in points}):
            sel = sorted((p for p in points if p.method == m and p.seed == seed),
                         key=lambda p: p.stage)
            ax.plot([p.labels for p in sel], [p.success_rate for p in sel], color=COLORS[m],
                    alpha=0.25, lw=0.8)
    ax.axhline(config.target, color='0.4', ls='--', lw=1, label=f'target {config.target:.2f}')
    if expert_success is not None:
        ax.axhline(expert_success, color='k', ls=':', lw=1,
                   label=f'expert {expert_success:.2f}')
    ax.set_xscale('log')
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel('expert-labelled samples (log scale)')
    ax.set_ylabel('success rate')
    seeds = len({p.seed for p in points})
    ax.set_title(f'Compounding error: actuation noise {config.actuation_noise} rad '
                 f'(demonstrations {config.demo_arm.actuation_noise} rad), {seeds} seeds\n'
                 '(line: mean, bars: std, band: min–max)', fontsize=9)
    ax.grid(alpha=0.3, which='both')
    ax.legend(fontsize=8, loc='lower right')
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def write_outputs(points: Sequence[Point], out: Path, config: StudyConfig, *,
                  seeds: Sequence[int], seconds: float, expert_success: float) -> None:
    """Write ``table.md``, ``curve.png`` and ``cells.json``."""
    write_table(points, out / 'table.md', config, seeds=seeds, seconds=seconds,
                expert_success=expert_success)
    plot_curve(points, out / 'curve.png', config, expert_success=expert_success)
    cfg = asdict(config)
    cfg['beta'] = {'kind': config.beta.kind, 'p': config.beta.p,
                   'describe': config.beta.describe()}
    (out / 'cells.json').write_text(json.dumps({
        'config': cfg, 'seeds': list(seeds), 'seconds': seconds,
        'expert_success': expert_success, 'verdict': verdict(points, config.target),
        'curves': {m: curve(points, m) for m in METHODS if any(p.method == m for p in points)},
        'points': [asdict(p) for p in points]}, indent=1, default=_json_default))


def _json_default(value: object) -> object:
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    if isinstance(value, (tuple, set)):
        return list(value)
    raise TypeError(f'not JSON serializable: {type(value).__name__}')
