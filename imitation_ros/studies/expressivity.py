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
The lecture's expressivity claim, measured.

Train every policy kind on single-demonstrator data (``above``) and on
multi-demonstrator data (``multi``) of equal size, over several training seeds;
evaluate each model in the sim on the same tasks; report success (mean and
spread over seeds) and mode coverage (fraction of rollouts passing above and
below), as a markdown table and a PNG of rollouts drawn around the obstacle.
"""

from __future__ import annotations

from dataclasses import dataclass
import json
from pathlib import Path
import time
from typing import Sequence

import numpy as np
import torch

from ..collect import collect
from ..data import find_episode_bags
from ..policies.base import TrainConfig
from ..policies.registry import KINDS
from ..runtime.onnx_policy import OnnxPolicy
from ..training.pipeline import train_from_bags, TrainRequest
from .evaluate import evaluate_policy, EvalResult
from .parallel import spawn_pool

DATASETS = ('above', 'multi')

#: Gradient steps per kind: diffusion's noise prediction needs the most.
DEFAULT_STEPS = {'mse': 2000, 'gmm': 3000, 'ar': 3000, 'diffusion': 24000}


@dataclass(frozen=True)
class Cell:
    """One trained and evaluated model."""

    dataset: str
    kind: str
    seed: int
    result: EvalResult
    train_seconds: float
    parameters: int


def ensure_data(root: Path, name: str, episodes: int, seed: int) -> Path:
    """Collect ``episodes`` demonstrations of ``name`` into ``root/name`` unless already there."""
    session = root / name
    if session.exists() and len(find_episode_bags(session)) == episodes:
        return session
    if session.exists():
        raise FileExistsError(f'{session} holds a different number of episodes; delete it')
    collect(name, episodes, root, seed=seed, session=name, camera_every=0, progress=False)
    return session


def run_expressivity(out: Path, *, train_episodes: int = 200, eval_episodes: int = 100,
                     seeds: Sequence[int] = (0, 1, 2), kinds: Sequence[str] = tuple(KINDS),
                     steps: dict | None = None, options: dict | None = None,
                     progress: bool = True, device: str = 'cpu',
                     workers: int = 1) -> list[Cell]:
    """
    Run the study and write ``table.md``, ``rollouts.png`` and ``cells.json`` into ``out``.

    :param device: where the policies train ('cpu' or 'cuda'); evaluation runs on the CPU
        through ONNX Runtime either way.
    :param workers: cells trained and evaluated at once, one process each.
    """
    steps_for = {**DEFAULT_STEPS, **(steps or {})}
    out.mkdir(parents=True, exist_ok=True)
    data_root = out / 'data'
    sessions = {name: ensure_data(data_root, name, train_episodes, seed=100 + i)
                for i, name in enumerate(DATASETS)}
    plan = [(dataset, kind, seed) for dataset in DATASETS for kind in kinds for seed in seeds]
    jobs = [dict(dataset=dataset, kind=kind, seed=seed, session=sessions[dataset],
                 out=out / 'models' / f'{dataset}_{kind}_s{seed}.onnx',
                 steps=steps_for[kind], options=(options or {}).get(kind, {}),
                 eval_episodes=eval_episodes, device=device,
                 progress=progress and workers == 1) for dataset, kind, seed in plan]
    cells: list[Cell] = []

    def report(cell: Cell) -> None:
        cells.append(cell)
        r = cell.result
        print(f'[{len(cells)}/{len(plan)}] {cell.dataset:5s} {cell.kind:9s} seed {cell.seed}: '
              f'success {r.success_rate:.2f} (above {r.above}, below {r.below}, {r.reasons}) '
              f'trained in {cell.train_seconds:.0f} s', flush=True)

    if workers == 1:
        for job in jobs:
            report(run_cell(job))
    else:
        # Cells are independent: one process each, one thread each.
        from concurrent.futures import as_completed
        with spawn_pool(workers) as pool:
            # The longest trainings first, so they do not start last.
            ordered = sorted(jobs, key=lambda j: -j['steps'])
            for future in as_completed([pool.submit(run_cell, job) for job in ordered]):
                report(future.result())
        order = {key: i for i, key in enumerate(plan)}
        cells.sort(key=lambda c: order[(c.dataset, c.kind, c.seed)])
    write_table(cells, out / 'table.md', train_episodes=train_episodes,
                eval_episodes=eval_episodes, steps=steps_for)
    plot_rollouts(cells, out / 'rollouts.png')
    (out / 'cells.json').write_text(json.dumps([
        {'dataset': c.dataset, 'kind': c.kind, 'seed': c.seed,
         'success_rate': c.result.success_rate, 'reasons': c.result.reasons,
         'above': c.result.above, 'below': c.result.below, 'train_seconds': c.train_seconds,
         'parameters': c.parameters} for c in cells], indent=1))
    return cells


def run_cell(job: dict) -> Cell:
    """Train one (dataset, kind, seed) model, export it, and evaluate it in the sim."""
    torch.set_num_threads(1)
    start = time.perf_counter()
    res = train_from_bags(TrainRequest(
        data=(job['session'],), kind=job['kind'], out=job['out'],
        config=TrainConfig(steps=job['steps']), options=job['options'], seed=job['seed'],
        device=job['device'], progress=job['progress'],
        version=f"{job['dataset']}-{job['kind']}-s{job['seed']}"))
    seconds = time.perf_counter() - start
    policy = OnnxPolicy(res.model, seed=job['seed'], threads=1)
    result = evaluate_policy(policy, episodes=job['eval_episodes'], keep_paths=40,
                             progress=job['progress'],
                             desc=f"eval {job['dataset']} {job['kind']}")
    return Cell(job['dataset'], job['kind'], job['seed'], result, seconds, res.parameters)


def summarize(cells: Sequence[Cell], dataset: str, kind: str) -> dict:
    """Return mean, std, per-seed success and mode coverage of one (dataset, kind)."""
    sel = [c for c in cells if c.dataset == dataset and c.kind == kind]
    rates = np.array([c.result.success_rate for c in sel])
    eps = sum(c.result.episodes for c in sel)
    return {'mean': float(rates.mean()), 'std': float(rates.std()),
            'seeds': [round(float(r), 2) for r in rates],
            'above': sum(c.result.above for c in sel) / max(1, eps),
            'below': sum(c.result.below for c in sel) / max(1, eps)}


def _cell(s: dict) -> str:
    return f"{s['mean']:.2f} ± {s['std']:.2f} ({', '.join(map(str, s['seeds']))})"


def write_table(cells: Sequence[Cell], path: Path, *, train_episodes: int, eval_episodes: int,
                steps: dict) -> Path:
    """Write the markdown table of success and mode coverage."""
    kinds = list(dict.fromkeys(c.kind for c in cells))
    seeds = sorted({c.seed for c in cells})
    per_kind = ', '.join(f'{k} {steps[k]}' for k in kinds)
    lines = [f'Training data: {train_episodes} episodes per dataset; gradient steps {per_kind}; '
             f'{len(seeds)} training seeds; {eval_episodes} evaluation episodes per model '
             '(the same tasks for every model).', '',
             '| policy | single-demonstrator success | multi-demonstrator success | '
             'multi: passed above / below |', '|---|---|---|---|']
    for kind in kinds:
        s = summarize(cells, 'above', kind)
        m = summarize(cells, 'multi', kind)
        lines.append(f"| {kind} | {_cell(s)} | {_cell(m)} | {m['above']:.2f} / {m['below']:.2f} |")
    lines += ['', 'mean ± standard deviation over training seeds (per-seed values in brackets); '
              'above / below: fraction of all rollouts whose end effector passed the obstacle '
              'on that side (the rest never got beside it).']
    path.write_text('\n'.join(lines) + '\n')
    return path


def plot_rollouts(cells: Sequence[Cell], path: Path) -> Path:
    """Draw end effector paths around the obstacle: one panel per (dataset, kind)."""
    import matplotlib  # lazy: matplotlib only when plotting
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt  # lazy: matplotlib only when plotting
    kinds = list(dict.fromkeys(c.kind for c in cells))
    fig, axes = plt.subplots(len(DATASETS), len(kinds), figsize=(3.2 * len(kinds), 6.0),
                             dpi=100, squeeze=False)
    for r, dataset in enumerate(DATASETS):
        for k, kind in enumerate(kinds):
            ax = axes[r][k]
            cell = next(c for c in cells if c.dataset == dataset and c.kind == kind)
            for ee, success in cell.result.paths:
                ax.plot(ee[:, 0], ee[:, 1], color='tab:green' if success else 'tab:red',
                        alpha=0.45, lw=1)
            ax.add_patch(plt.Circle((0, 0), 0.16, color='0.3', alpha=0.6))
            ax.set_xlim(-1.0, 0.7)
            ax.set_ylim(-0.6, 0.6)
            ax.set_aspect('equal')
            s = summarize(cells, dataset, kind)
            ax.set_title(f'{kind} on {dataset}: {s["mean"]:.2f}', fontsize=9)
            ax.tick_params(labelsize=7)
    fig.suptitle('end effector paths relative to the obstacle (green: success, red: failure)',
                 fontsize=10)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
