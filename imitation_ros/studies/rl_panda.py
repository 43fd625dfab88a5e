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
Behavior cloning for the start, reinforcement learning for the rest: on the MuJoCo Panda.

The fine-tuning study of :mod:`imitation_ros.studies.rl` on the Panda's reach
task (no ROS). Per training seed, from ``demos`` demonstrations of the left
reach demonstrator (the seven arm joints, as the demo records them): **BC**
(an ``mse`` policy), **BC + RL** without a human
(:func:`~imitation_ros.training.rl.panda.finetune_in_panda`), **BC + RL with
interventions** (the simulated operator watching every RL episode, its steps in
the prior buffer) and **HG-DAgger** (rounds of rollouts with the same operator,
its steps aggregated and the policy retrained). Every episode, training and
evaluation, runs through the gate's state machine
(:func:`~imitation_ros.dagger.panda_loop.run_panda_episode`); every evaluated
model is the exported ONNX file on the same evaluation tasks. Writes
``table.md``, ``curve.png`` and ``cells.json``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
import json
from pathlib import Path
import time
from typing import Any, Optional, Sequence

import numpy as np

from .parallel import spawn_pool
from .rl import _json_default, curve, LABELS, plot_curves, RlPoint, table_body, verdict
from ..errors import ConfigError

#: The Panda study's methods (BC always runs: the others start from it).
PANDA_METHODS: tuple[str, ...] = ('bc', 'rl', 'rl_hil', 'hg_dagger')
#: Seeds: evaluation task i is EVAL_SEED + i for every model; the others per training seed.
EVAL_SEED = 10_000
DEMO_SEED = 20_000
RL_SEED = 30_000
DAGGER_SEED = 40_000


def _default_finetune() -> Any:
    from ..training.rl import FinetuneConfig, Td3Config  # lazy: torch only when fine-tuning
    # The Panda's position controller moves a joint at most about 0.054 rad per period
    # (half of Franka's speed limits at 20 Hz): the critic's action unit.
    return FinetuneConfig(episodes=100, warmup_episodes=20, critic_warmup_updates=2000,
                          td3=Td3Config(actor_lr=1e-5, alpha=1.0, max_step=0.05))


@dataclass(frozen=True)
class PandaRlConfig:
    """Everything that defines the Panda study besides the seeds."""

    demos: int = 4
    """Demonstrations of the left reach demonstrator that start every method."""
    bc_steps: int = 1000
    """Gradient steps of every BC fit (the start and each HG-DAgger round)."""
    eval_episodes: int = 100
    """Evaluation episodes per model (tasks EVAL_SEED + i)."""
    eval_every: int = 25
    """RL episodes between two evaluations of the exported policy."""
    rounds: int = 8
    """HG-DAgger rounds."""
    episodes_per_round: int = 4
    """HG-DAgger rollouts per round."""
    operator_side: int = 1
    """The operator's side of the pole (+1 left, the demonstrator's)."""
    hil_explore_noise: float = 0.1
    """Exploration noise of the RL episodes the operator watches (fraction of max_step)."""
    target: float = 0.98
    """Success the RL methods are asked to reach."""
    rl: Any = field(default_factory=_default_finetune)
    """The :class:`~imitation_ros.training.rl.FinetuneConfig`."""

    def __post_init__(self) -> None:
        for name in ('demos', 'bc_steps', 'eval_episodes', 'eval_every', 'rounds',
                     'episodes_per_round'):
            if getattr(self, name) < 1:
                raise ConfigError(f'{name} must be >= 1, got {getattr(self, name)}')
        if self.operator_side not in (1, -1):
            raise ConfigError(f'operator_side must be 1 or -1, got {self.operator_side!r}')


#: Small sizes for a smoke run (``--quick``) and the tests.
QUICK_PANDA = dict(demos=3, bc_steps=300, eval_episodes=10, eval_every=5, rounds=2,
                   episodes_per_round=2)
QUICK_PANDA_RL = dict(episodes=10, warmup_episodes=3, critic_warmup_updates=100,
                      updates_per_step=0.5)


def run_rl_panda_study(out: Path, urdf: str, config: Optional[PandaRlConfig] = None,
                       seeds: Sequence[int] = (0, 1, 2), *, progress: bool = True,
                       methods: Sequence[str] = PANDA_METHODS,
                       workers: int = 1) -> list[RlPoint]:
    """
    Run the study; write ``table.md``, ``curve.png`` and ``cells.json`` into ``out``.

    :param urdf: the Panda's URDF text (the gate's robot model).
    :param workers: seeds run at once, one process each (results are the same).
    """
    cfg = config or PandaRlConfig()
    unknown = set(methods) - set(PANDA_METHODS)
    if unknown:
        raise ConfigError(f'unknown methods {sorted(unknown)}; choose among '
                          f'{", ".join(PANDA_METHODS)}')
    methods = tuple(m for m in PANDA_METHODS if m in set(methods) | {'bc'})
    if workers < 1:
        raise ConfigError(f'workers must be >= 1, got {workers}')
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    jobs = [dict(config=cfg, seed=s, out=out, urdf=urdf, methods=methods,
                 progress=progress and workers == 1, started=started) for s in seeds]
    points: list[RlPoint] = []
    demo_success: list[float] = []
    if workers == 1 or len(jobs) == 1:
        results = [run_rl_panda_seed(job) for job in jobs]
    else:
        with spawn_pool(workers) as pool:
            results = list(pool.map(run_rl_panda_seed, jobs))
    for seed_points, demo_rate in results:
        points += seed_points
        demo_success.append(demo_rate)
    seconds = time.perf_counter() - started
    write_panda_outputs(points, out, cfg, seeds=seeds, seconds=seconds,
                        demo_success=float(np.mean(demo_success)), workers=workers)
    return points


def run_rl_panda_seed(job: dict) -> tuple[list[RlPoint], float]:
    """Run every method of one training seed; return its points and the demonstrator's success."""
    import torch  # lazy: torch only when training
    # lazy: MuJoCo and torch only when the study runs
    from ..dagger.panda_loop import panda_gate_config, run_panda_episode
    from ..sim.panda.experts import ReachExpert, ReachStyle  # lazy: MuJoCo only when running
    from ..sim.panda.model import PandaConfig  # lazy: MuJoCo only when running
    from ..sim.panda.sim import PandaSim  # lazy: MuJoCo only when running
    from ..training.rl.panda import expert_controller  # lazy: torch only when training
    torch.set_num_threads(1)
    cfg: PandaRlConfig = job['config']
    seed, out, started = job['seed'], Path(job['out']), job['started']
    gate = panda_gate_config(job['urdf'])
    sim = PandaSim(PandaConfig(camera=False), task_kind='reach')

    def log(p: RlPoint) -> None:
        print(f'[{time.perf_counter() - started:6.0f} s] seed {seed} {LABELS[p.method]:27s} '
              f'{p.episodes:4d} episodes {p.labels:5d} labels -> success {p.success_rate:.2f} '
              f'{p.reasons} (failed training episodes {p.failed_episodes}, takeovers '
              f'{p.takeovers})', flush=True)

    expert = ReachExpert(sim.kinematics, sim.config, ReachStyle(side=cfg.operator_side))
    demos = [run_panda_episode(sim, expert_controller(sim, expert), gate,
                               seed=DEMO_SEED + 100 * seed + i) for i in range(cfg.demos)]
    demo_rate = float(np.mean([d.success for d in demos]))
    labels = sum(d.steps for d in demos)
    t0 = time.perf_counter()
    bank = _Bank()
    for d in demos:
        bank.add(d, np.ones(d.steps, dtype=bool))
    bc_path = out / 'models' / f'bc_s{seed}.onnx'
    bc_policy = bank.train(bc_path, cfg.bc_steps, seed)
    rate, reasons = evaluate_gated(bc_path, gate, cfg.eval_episodes)
    bc = RlPoint('bc', seed, 0, labels, rate, reasons, seconds=time.perf_counter() - t0)
    points = [bc]
    log(bc)
    for method in ('rl', 'rl_hil'):
        if method in job['methods']:
            points += _rl_curve(method, cfg, seed, out, gate, bc_policy, demos, bc, log)
    if 'hg_dagger' in job['methods']:
        points += _hg_dagger(cfg, seed, out, gate, bank, bc, log)
    sim.close()
    return points, demo_rate


class _Bank:
    """The human labels so far: (state, task, action) per step, with episode and step ids."""

    def __init__(self) -> None:
        self.parts: list[tuple[np.ndarray, ...]] = []

    def add(self, episode: Any, mask: np.ndarray) -> None:
        """Keep the steps of ``episode`` where ``mask`` (T,) is True."""
        idx = np.flatnonzero(mask)
        if idx.size == 0:
            return
        task = np.tile(episode.task.vector(), (idx.size, 1))
        eid = np.full(idx.size, len(self.parts))
        self.parts.append((episode.states[idx], task, episode.actions[idx], eid, idx))

    @property
    def labels(self) -> int:
        """Return the number of labelled steps."""
        return int(sum(p[0].shape[0] for p in self.parts))

    def train(self, path: Path, steps: int, seed: int) -> Any:
        """Fit an ``mse`` policy on every label, export it to ``path``; return the torch policy."""
        from ..policies.base import TrainConfig  # lazy: torch only when training
        from ..sim.panda.model import ARM_JOINTS  # lazy: MuJoCo only when running
        from ..sim.panda.tasks import TASK_LAYOUTS  # lazy: MuJoCo only when running
        from ..training.export import export_policy  # lazy: torch only when training
        # lazy: torch only when training
        from ..training.trainer import build_training_set, fit_spec, train_policy
        state, task, action, episode, step = (np.concatenate(c) for c in zip(*self.parts))
        tset = build_training_set(state, task, action, episode, step)
        spec = fit_spec(tset, ARM_JOINTS, TASK_LAYOUTS['reach'])
        train = TrainConfig(steps=steps, batch_size=256, val_fraction=0.0)
        policy, _ = train_policy('mse', tset, spec, train, seed=seed, progress=False)
        path.parent.mkdir(parents=True, exist_ok=True)
        export_policy(policy, path, metadata_extra={'version': path.stem, 'training_data': {
            'labels': len(tset), 'seed': seed, 'steps': steps}})
        return policy


def evaluate_gated(model: Path, gate: Any, episodes: int, *,
                   operator: Any = None) -> tuple[float, dict]:
    """Roll the exported ``model`` through the gate on tasks EVAL_SEED + i; return its success."""
    from ..dagger.panda_loop import onnx_controller, run_panda_episode  # lazy: MuJoCo
    from ..runtime.onnx_policy import OnnxPolicy  # lazy: onnxruntime only when evaluating
    from ..sim.panda.model import PandaConfig  # lazy: MuJoCo only when running
    from ..sim.panda.sim import PandaSim  # lazy: MuJoCo only when running
    controller, reset = onnx_controller(OnnxPolicy(model, seed=0, threads=1))
    sim = PandaSim(PandaConfig(camera=False), task_kind='reach')
    reasons: dict = {}
    try:
        for i in range(episodes):
            reset()
            ep = run_panda_episode(sim, controller, gate, seed=EVAL_SEED + i, operator=operator)
            reasons[ep.reason] = reasons.get(ep.reason, 0) + 1
    finally:
        sim.close()
    return reasons.get('success', 0) / episodes, reasons


def _rl_curve(method: str, cfg: PandaRlConfig, seed: int, out: Path, gate: Any,
              start_policy: Any, demos: Sequence[Any], start: RlPoint, log: Any
              ) -> list[RlPoint]:
    """Fine-tune ``start_policy`` with RL; evaluate the export every ``eval_every`` episodes."""
    from ..sim.panda.operator import PandaOperator, PandaOperatorParams  # lazy: MuJoCo
    from ..training.rl import prepare_actor, save_finetuned, Transitions  # lazy: torch
    from ..training.rl.panda import finetune_in_panda, panda_transitions  # lazy: torch
    rl = cfg.rl
    policy = prepare_actor(start_policy)
    prior = Transitions.concat([panda_transitions(d, rl.reward, all_human=True)
                                for d in demos])
    operator = None
    if method == 'rl_hil':
        operator = PandaOperator(PandaOperatorParams(side=cfg.operator_side), seed=seed)
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
        rate, reasons = evaluate_gated(path, gate, cfg.eval_episodes)
        points.append(RlPoint(method, seed, done, start.labels + counters['human'], rate,
                              reasons, counters['failed'], counters['takeovers'],
                              time.perf_counter() - t0))
        log(points[-1])

    finetune_in_panda(policy, prior, gate=gate, config=rl, seed=seed, operator=operator,
                      episode_seed=RL_SEED + 1000 * seed, on_episode=on_episode)
    return points


def _hg_dagger(cfg: PandaRlConfig, seed: int, out: Path, gate: Any, bank: _Bank,
               start: RlPoint, log: Any) -> list[RlPoint]:
    """Run rounds of rollouts with the operator; add its steps to the labels; refit each round."""
    from ..dagger.panda_loop import onnx_controller, run_panda_episode  # lazy: MuJoCo
    from ..runtime.onnx_policy import OnnxPolicy  # lazy: onnxruntime only when evaluating
    from ..sim.panda.model import PandaConfig  # lazy: MuJoCo only when running
    from ..sim.panda.operator import PandaOperator, PandaOperatorParams  # lazy: MuJoCo
    from ..sim.panda.sim import PandaSim  # lazy: MuJoCo only when running
    operator = PandaOperator(PandaOperatorParams(side=cfg.operator_side), seed=seed)
    sim = PandaSim(PandaConfig(camera=False), task_kind='reach')
    model = out / 'models' / f'bc_s{seed}.onnx'
    points = [replace(start, method='hg_dagger')]
    failed = takeovers = 0
    t0 = time.perf_counter()
    try:
        for r in range(cfg.rounds):
            controller, reset = onnx_controller(OnnxPolicy(model, seed=seed, threads=1))
            for i in range(cfg.episodes_per_round):
                reset()
                ep = run_panda_episode(sim, controller, gate, operator=operator,
                                       seed=DAGGER_SEED + 1000 * seed + r * 100 + i)
                failed += ep.reason in ('collision', 'joint_limit')
                takeovers += ep.takeovers
                bank.add(ep, ep.human)
            model = out / 'models' / f'hg_dagger_s{seed}_r{r + 1:02d}.onnx'
            bank.train(model, cfg.bc_steps, seed)
            rate, reasons = evaluate_gated(model, gate, cfg.eval_episodes)
            points.append(RlPoint('hg_dagger', seed, (r + 1) * cfg.episodes_per_round,
                                  bank.labels, rate, reasons, failed, takeovers,
                                  time.perf_counter() - t0))
            log(points[-1])
    finally:
        sim.close()
    return points


def write_panda_outputs(points: Sequence[RlPoint], out: Path, cfg: PandaRlConfig, *,
                        seeds: Sequence[int], seconds: float, demo_success: float,
                        workers: int = 1) -> str:
    """Write ``table.md``, ``curve.png`` and ``cells.json``; return the table."""
    rl = cfg.rl
    td3 = rl.td3
    header = [
        f'MuJoCo Panda, reach task (around the pole), the seven arm joints; '
        f'{cfg.demos} demonstrations of the left reach demonstrator start every method '
        f'(the demonstrator succeeds in {demo_success:.2f} of them); BC: `mse`, '
        f'{cfg.bc_steps} gradient steps. RL: TD3 with the demonstrations (and takeovers) in '
        f'a prior buffer sampled {td3.prior_fraction:.0%} per batch, a BC term (alpha '
        f'{td3.alpha}, bc {td3.bc_weight}), actor lr {td3.actor_lr:g}, {rl.episodes} episodes '
        f'({rl.warmup_episodes} warm-up episodes, then {rl.critic_warmup_updates} critic-only '
        f'updates, then {rl.updates_per_step:g} update per step), exploration noise '
        f'{rl.explore_noise:g} x {td3.max_step} rad ({cfg.hil_explore_noise:g} x with the '
        f'operator watching); reward: success {rl.reward.success:+g}, collision or joint '
        f'limit {rl.reward.failure:+g}, progress {rl.reward.progress:g} per m of the tool '
        f'frame. HG-DAgger: {cfg.rounds} rounds of {cfg.episodes_per_round} rollouts, the '
        f'policy refit on all labels each round; operator side {cfg.operator_side:+d}. '
        f'{len(seeds)} training seeds; {cfg.eval_episodes} evaluation episodes per model (the '
        f'same tasks for every model, the exported ONNX file through the gate). Run time '
        f'{seconds / 60:.1f} min on this machine ({workers} worker '
        f'process{"es" if workers > 1 else ""}).', '']
    text = '\n'.join(header + table_body(points, cfg.target, rl.episodes)) + '\n'
    (out / 'table.md').write_text(text)
    plot_curves(points, out / 'curve.png', cfg.target, 'MuJoCo Panda reach')
    (out / 'cells.json').write_text(json.dumps({
        'config': {**{k: v for k, v in asdict(cfg).items() if k != 'rl'},
                   'rl': asdict(rl)},
        'seeds': list(seeds), 'seconds': seconds, 'demo_success': demo_success,
        'verdict': verdict(points, cfg.target),
        'curves': {m: curve(points, m) for m in PANDA_METHODS
                   if any(p.method == m for p in points)},
        'points': [asdict(p) for p in points]}, indent=1, default=_json_default))
    return text
