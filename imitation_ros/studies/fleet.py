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
One operator, several robots, measured offline (no ROS): :mod:`imitation_ros.dagger.fleet`.

1. ``demos`` demonstrations of ``expert`` and a first policy ``v1`` with its doubt ensemble.
2. The gates' help threshold: the ``help_quantile`` quantile of v1's doubt on the states it
   visits alone (:func:`~imitation_ros.dagger.fleet.doubt_quantile`).
3. One round: ``robots`` arms run ``episodes`` tasks each with v1, one fleet operator
   serving their help requests (robot-gated, ``order``). Per robot and for the fleet:
   success without a takeover, with help, help requests, services, time waiting for the
   operator, human time.
4. Every episode is written as an hg_dagger bag under ``data/fleet/<robot>``; two
   policies are trained from scratch with the same steps and seed: on the demonstrations
   plus robot1's bags (one robot's data) and plus every robot's (the fleet's data).
5. v1 and both retrained policies run ``eval_episodes`` fixed tasks alone.

Writes ``table.md`` and ``results.json`` into the output folder.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
import json
from pathlib import Path
import time

import numpy as np
import torch

from ..collect import collect
from ..dagger.fleet import doubt_quantile, FleetEpisode, run_fleet
from ..dagger.loop import sample_tasks
from ..data import EpisodeRecord, write_episode
from ..policies.base import TrainConfig
from ..runtime.onnx_policy import OnnxPolicy
from ..sim.arm import ArmConfig, Task
from ..sim.fleet import FleetParams
from ..training.pipeline import train_from_bags, TrainRequest
from .evaluate import evaluate_policy


@dataclass(frozen=True)
class FleetStudyConfig:
    """Settings of the fleet study."""

    robots: int = 3
    episodes: int = 10
    """Episodes per robot."""
    demos: int = 3
    expert: str = 'above'
    kind: str = 'mse'
    steps: int = 1000
    """Gradient steps of every training."""
    help_quantile: float = 0.9
    order: str = 'first_come'
    eval_episodes: int = 100
    actuation_noise: float = 0.01
    seed: int = 0


def _write_bags(episodes: list[FleetEpisode], arm: ArmConfig, out: Path, version: str) -> int:
    """Write ``episodes`` as hg_dagger bags under ``out``; return the human-labelled steps."""
    t0 = 1_767_225_600_000_000_000
    human = 0
    for i, ep in enumerate(episodes):
        # The state after the last command is not kept: the last one is repeated.
        positions = np.vstack([ep.states, ep.states[-1:]])
        write_episode(EpisodeRecord(
            joint_names=tuple(arm.joint_names), t0_ns=t0, dt=arm.dt, positions=positions,
            velocities=np.full_like(positions, np.nan), task=ep.task.vector(),
            actions=ep.actions, intervention=ep.human, episode=i, success=ep.success,
            reason=ep.reason, source='hg_dagger', policy_version=version),
            out / f'ep_{i:05d}')
        t0 += int((ep.steps + 20) * arm.dt * 1e9)
        human += int(ep.human.sum())
    return human


def _train(data: tuple[Path, ...], out: Path, config: FleetStudyConfig, version: str) -> Path:
    train_from_bags(TrainRequest(data=data, kind=config.kind, out=out,
                                 config=TrainConfig(steps=config.steps, val_fraction=0.0),
                                 seed=config.seed, version=version, progress=False))
    return out


def run_fleet_study(out: Path, config: FleetStudyConfig = FleetStudyConfig(),
                    log=print) -> dict:
    """Run the study (module docstring); write the table and JSON; return the results."""
    torch.set_num_threads(1)
    start = time.perf_counter()
    out = Path(out)
    arm = replace(ArmConfig(), actuation_noise=config.actuation_noise)
    demos = out / 'data' / 'demos'
    if not (demos.exists() and any(demos.iterdir())):
        collect(config.expert, config.demos, out / 'data', seed=config.seed, session='demos',
                camera_every=0, config=arm, progress=False)
    models = out / 'models'
    v1 = _train((demos,), models / 'v1.onnx', config, 'fleet-v1')
    doubt_policy = OnnxPolicy(v1, seed=config.seed, threads=1)
    threshold = doubt_quantile(doubt_policy, arm, config.help_quantile, seed=config.seed)
    log(f'v1 trained; help threshold {threshold:.4g}')

    def doubt(q: np.ndarray, task: Task) -> float:
        return float(doubt_policy.doubt_batch(q[None], task.vector()[None])[0])

    robots = [f'robot{i}' for i in range(1, config.robots + 1)]
    tasks = {r: sample_tasks(arm, config.episodes, seed=config.seed + 1000 + i)
             for i, r in enumerate(robots)}
    policies = {r: OnnxPolicy(v1, seed=config.seed + i, threads=1)
                for i, r in enumerate(robots)}
    run = run_fleet(arm, tasks, policies=policies, doubt=doubt, help_threshold=threshold,
                    params=FleetParams(order=config.order), seed=config.seed + 2000,
                    operator_seed=config.seed)
    rows = []
    for r in robots:
        eps, s = run.of(r), run.stats[r]
        rows.append({'robot': r, 'episodes': len(eps),
                     'success': float(np.mean([e.success and not e.human.any() for e in eps])),
                     'success_with_help': float(np.mean([e.success for e in eps])),
                     'requests': s.requests, 'served': s.served, 'withdrawn': s.withdrawn,
                     'interrupted': s.interrupted,
                     'wait_s': s.wait_s, 'max_wait_s': s.max_wait_s, 'human_s': s.human_s})
    labelled = {r: _write_bags(run.of(r), arm, out / 'data' / 'fleet' / r, 'fleet-v1')
                for r in robots}
    log(f'fleet round: {run.seconds:.0f} s simulated, human-labelled steps {labelled}')
    one = _train((demos, out / 'data' / 'fleet' / robots[0]), models / 'one_robot.onnx',
                 config, 'fleet-one')
    fleet = _train((demos, out / 'data' / 'fleet'), models / 'fleet.onnx', config,
                   'fleet-all')
    alone = {}
    for name, path in (('v1 (demonstrations)', v1), ('+ robot1 data', one),
                       (f'+ {config.robots} robots data', fleet)):
        result = evaluate_policy(OnnxPolicy(path, seed=0, threads=1),
                                 episodes=config.eval_episodes, config=arm)
        alone[name] = result.success_rate
        log(f'{name}: alone {result.success_rate:.2f}')
    results = {'config': asdict(config), 'threshold': threshold, 'robots': rows,
               'labelled': labelled, 'alone': alone, 'simulated_s': run.seconds,
               'most_engaged': run.most_engaged, 'seconds': time.perf_counter() - start}
    (out / 'results.json').write_text(json.dumps(results, indent=1))
    (out / 'table.md').write_text(format_table(results), encoding='utf-8')
    return results


def format_table(results: dict) -> str:
    """Return the study's tables (per robot and fleet; models alone) as markdown."""
    c = results['config']
    rows = results['robots']
    lines = [f"{c['robots']} robots, {c['episodes']} episodes each, one operator "
             f"({c['order'].replace('_', ' ')}); {c['kind']} policy from {c['demos']} "
             f"demonstrations ({c['steps']} steps); help threshold "
             f"{results['threshold']:.4g} (the {c['help_quantile']} quantile of its doubt "
             f"alone); actuation noise {c['actuation_noise']} rad.", '',
             '| robot | episodes | success (no takeover) | success with help | requests | '
             'served | withdrawn | cut by the episode end | waiting for the operator (s) | '
             'longest wait (s) | human time (s) |', '|---' * 11 + '|']
    for r in rows:
        lines.append(f"| {r['robot']} | {r['episodes']} | {r['success']:.2f} | "
                     f"{r['success_with_help']:.2f} | {r['requests']} | {r['served']} | "
                     f"{r['withdrawn']} | {r['interrupted']} | {r['wait_s']:.1f} | "
                     f"{r['max_wait_s']:.1f} | "
                     f"{r['human_s']:.1f} |")
    n = sum(r['episodes'] for r in rows)
    lines.append(f"| fleet | {n} | {sum(r['success'] * r['episodes'] for r in rows) / n:.2f} "
                 f"| {sum(r['success_with_help'] * r['episodes'] for r in rows) / n:.2f} | "
                 f"{sum(r['requests'] for r in rows)} | {sum(r['served'] for r in rows)} | "
                 f"{sum(r['withdrawn'] for r in rows)} | "
                 f"{sum(r['interrupted'] for r in rows)} | "
                 f"{sum(r['wait_s'] for r in rows):.1f} | "
                 f"{max(r['max_wait_s'] for r in rows):.1f} | "
                 f"{sum(r['human_s'] for r in rows):.1f} |")
    lines += ['', f"Each model alone ({c['eval_episodes']} fixed tasks, no operator), "
              'retrained from scratch with the same steps and seed:', '',
              '| training data | success alone |', '|---|---|']
    lines += [f'| {name} | {rate:.2f} |' for name, rate in results['alone'].items()]
    return '\n'.join(lines) + '\n'
