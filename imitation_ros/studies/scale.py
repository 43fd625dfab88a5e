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
Training in one process vs several (``train --nproc``): same model, throughput, faults.

Each configuration is the real ``imitation-ros train`` command in a fresh
process, on the same collected episodes with the same seed: one process with
one thread, one process with one thread per core, and ``--nproc 2`` (torchrun,
gloo, one thread per worker). The repeats run interleaved, so a change in the
machine's load hits every configuration alike; the load average is recorded
beside each run. Every first repeat's model is evaluated in the simulated arm
on the same tasks. Two fault drills follow: a worker killed (SIGKILL) mid-run
with one restart allowed (torchrun restarts both, they resume from the last
training state) and without restarts (the command fails and writes nothing).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
import json
import os
from pathlib import Path
import shutil
import statistics
import subprocess
import sys
import time
from typing import Optional

from ..collect import collect
from ..data import scan_episode_bags
from ..runtime.onnx_policy import OnnxPolicy
from .evaluate import evaluate_policy

#: (label, processes, threads per process) of the configurations compared.
CONFIGS = (('1 process, 1 thread', 1, 1), ('1 process, 2 threads', 1, 2),
           ('2 processes (gloo), 1 thread each', 2, 1))


@dataclass(frozen=True)
class ScaleRun:
    """One ``imitation-ros train`` command and what it reported."""

    label: str
    """Configuration (or fault drill) name."""
    processes: int
    """Training processes."""
    threads: int
    """Torch threads per process (OMP_NUM_THREADS)."""
    repeat: int
    """Repeat index (0-based)."""
    ok: bool
    """The command exited 0 and wrote a model."""
    wall_s: float
    """The whole command: start, data, training, export, validation (s)."""
    train_s: float
    """The training loop (s, 0 when it failed)."""
    samples_per_s: float
    """Training samples drawn per second, all processes together (0 when it failed)."""
    final_val_loss: Optional[float]
    """Validation loss of the last step."""
    restarts: int
    """Times torchrun restarted the workers."""
    resumed_from_step: Optional[int]
    """Step of the training state the last restart resumed from."""
    load_before: float
    """1-minute load average when the command started."""
    load_after: float
    """1-minute load average when it ended."""
    files_written: int
    """Files in the output folder afterwards."""
    error: str = ''
    """Last line of the command's stderr when it failed."""
    success_rate: Optional[float] = None
    """Evaluated success rate of the model (first repeats and drills only)."""


def _train(work: Path, name: str, data: Path, train_args: list[str], *, processes: int,
           threads: int, extra: tuple[str, ...] = (), env_extra: Optional[dict] = None,
           label: str = '', repeat: int = 0) -> ScaleRun:
    """Run one ``imitation-ros train`` command; return what it reported."""
    out_dir = work / 'models' / name
    shutil.rmtree(out_dir, ignore_errors=True)
    out = out_dir / 'model.onnx'
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), **(env_extra or {}))
    # lazy: it imports torch; this process only launches trainers
    from ..training.distributed import FAULT_ENV
    if FAULT_ENV not in (env_extra or {}):
        env.pop(FAULT_ENV, None)
    cmd = [sys.executable, '-m', 'imitation_ros.cli.main', 'train', '--data', str(data),
           '--out', str(out), *train_args, *extra]
    if processes > 1:
        cmd += ['--nproc', str(processes)]
    load_before = os.getloadavg()[0]
    start = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    load_after = os.getloadavg()[0]
    files = len(list(out_dir.iterdir())) if out_dir.is_dir() else 0
    common = dict(label=label or name, processes=processes, threads=threads, repeat=repeat,
                  wall_s=wall, load_before=load_before, load_after=load_after,
                  files_written=files)
    if proc.returncode != 0 or not out.is_file():
        lines = [line for line in proc.stderr.splitlines() if line.strip()]
        return ScaleRun(ok=False, train_s=0.0, samples_per_s=0.0, final_val_loss=None,
                        restarts=0, resumed_from_step=None,
                        error=lines[-1] if lines else f'exit {proc.returncode}', **common)
    meta = OnnxPolicy(out).training_data
    dist = meta.get('distributed') or {}
    steps, batch = meta['steps'], _arg(train_args, '--batch-size', 256)
    return ScaleRun(ok=True, train_s=steps * batch / max(meta['samples_per_s'], 1e-9),
                    samples_per_s=meta['samples_per_s'], final_val_loss=meta['final_val_loss'],
                    restarts=dist.get('restarts', 0),
                    resumed_from_step=dist.get('resumed_from_step'), **common)


def _arg(args: list[str], flag: str, default: int) -> int:
    return int(args[args.index(flag) + 1]) if flag in args else default


def _evaluate(run: ScaleRun, model: Path, episodes: int) -> ScaleRun:
    if not run.ok:
        return run
    result = evaluate_policy(OnnxPolicy(model), episodes=episodes)
    return ScaleRun(**dict(asdict(run), success_rate=result.success_rate))


def run_scale_benchmark(work: Path, *, episodes: int = 100, policy: str = 'mse',
                        steps: int = 1000, batch_size: int = 256, repeats: int = 3,
                        eval_episodes: int = 100, seed: int = 0,
                        faults: bool = True, progress: bool = True) -> list[ScaleRun]:
    """Collect (or reuse) ``episodes`` under ``work/data``; train each configuration."""
    # lazy: it imports torch; this process only launches trainers
    from ..training.distributed import FAULT_ENV

    work = Path(work)
    data = work / 'data'
    session = data / 'multi'
    if not session.exists() or len(scan_episode_bags(session)[0]) != episodes:
        shutil.rmtree(data, ignore_errors=True)
        collect('multi', episodes, data, seed=seed, session='multi', camera_every=0,
                progress=progress)
    train_args = ['--policy', policy, '--steps', str(steps), '--batch-size', str(batch_size),
                  '--seed', str(seed), '--no-progress', '--version', 'scale']

    def say(run: ScaleRun) -> None:
        if progress:
            state = f'{run.samples_per_s:.0f} samples/s' if run.ok else run.error
            print(f'  {run.label} #{run.repeat}: {state}, {run.wall_s:.1f} s, load '
                  f'{run.load_before:.1f}-{run.load_after:.1f}', file=sys.stderr)

    runs = []
    for repeat in range(repeats):
        for i, (label, processes, threads) in enumerate(CONFIGS):
            name = f'c{i}_r{repeat}'
            run = _train(work, name, data, train_args, processes=processes, threads=threads,
                         label=label, repeat=repeat)
            if repeat == 0:
                run = _evaluate(run, work / 'models' / name / 'model.onnx', eval_episodes)
            say(run)
            runs.append(run)
    if faults:
        every = max(1, steps // 10)
        kill_at = int(steps * 0.55)
        drill = {FAULT_ENV: f'1:{kill_at}'}
        extra = ('--checkpoint-every', str(every))
        run = _train(work, 'restart', data, train_args, processes=2, threads=1,
                     extra=(*extra, '--max-restarts', '1'), env_extra=drill,
                     label=f'2 processes, rank 1 killed after step {kill_at}, 1 restart')
        run = _evaluate(run, work / 'models' / 'restart' / 'model.onnx', eval_episodes)
        say(run)
        runs.append(run)
        run = _train(work, 'no_restart', data, train_args, processes=2, threads=1,
                     extra=(*extra, '--max-restarts', '0'), env_extra=drill,
                     label=f'2 processes, rank 1 killed after step {kill_at}, no restart')
        say(run)
        runs.append(run)
    return runs


def format_scale_table(runs: list[ScaleRun]) -> str:
    """Return the Markdown tables: per configuration (medians over repeats), then the drills."""
    lines = ['| configuration | runs | samples/s (median, min-max) | training s | command s | '
             'validation loss | evaluated success | load avg |',
             '|---|---|---|---|---|---|---|---|']
    labels = [c[0] for c in CONFIGS]
    for label in labels:
        mine = [r for r in runs if r.label == label and r.ok]
        if not mine:
            continue
        rate = [r.samples_per_s for r in mine]
        first = next((r for r in mine if r.repeat == 0), mine[0])
        success = '' if first.success_rate is None else f'{first.success_rate:.2f}'
        loads = [x for r in mine for x in (r.load_before, r.load_after)]
        lines.append(f'| {label} | {len(mine)} | {statistics.median(rate):.0f} '
                     f'({min(rate):.0f}-{max(rate):.0f}) | '
                     f'{statistics.median(r.train_s for r in mine):.1f} | '
                     f'{statistics.median(r.wall_s for r in mine):.1f} | '
                     f'{first.final_val_loss:.5f} | {success} | '
                     f'{min(loads):.1f}-{max(loads):.1f} |')
    drills = [r for r in runs if r.label not in labels]
    if drills:
        lines += ['', '| fault drill | exit | restarts | resumed from step | validation loss | '
                  'evaluated success | files written | command s | error |',
                  '|---|---|---|---|---|---|---|---|---|']
        for r in drills:
            val = '' if r.final_val_loss is None else f'{r.final_val_loss:.5f}'
            success = '' if r.success_rate is None else f'{r.success_rate:.2f}'
            error = r.error.replace('|', '/')[:200]
            lines.append(f'| {r.label} | {"ok" if r.ok else "failed"} | {r.restarts} | '
                         f'{"" if r.resumed_from_step is None else r.resumed_from_step} | '
                         f'{val} | {success} | {r.files_written} | {r.wall_s:.1f} | {error} |')
    return '\n'.join(lines)


def compare(runs: list[ScaleRun]) -> dict:
    """Return 2 processes vs 1 (1 thread), first repeats: relative loss and success gaps."""
    one = next(r for r in runs if r.label == CONFIGS[0][0] and r.repeat == 0)
    two = next(r for r in runs if r.label == CONFIGS[2][0] and r.repeat == 0)
    out = {}
    if one.ok and two.ok:
        out['val_loss_rel_diff'] = abs(two.final_val_loss - one.final_val_loss) / max(
            abs(one.final_val_loss), 1e-12)
        if one.success_rate is not None and two.success_rate is not None:
            out['success_diff'] = abs(two.success_rate - one.success_rate)
        rate = {c[0]: statistics.median(r.samples_per_s for r in runs if r.label == c[0]
                                        and r.ok) for c in CONFIGS
                if any(r.label == c[0] and r.ok for r in runs)}
        out['speedup_vs_1_thread'] = rate[CONFIGS[2][0]] / rate[CONFIGS[0][0]]
        if CONFIGS[1][0] in rate:
            out['speedup_vs_2_threads'] = rate[CONFIGS[2][0]] / rate[CONFIGS[1][0]]
    return out


def write_results(runs: list[ScaleRun], out: Path, settings: dict) -> str:
    """Write ``table.md`` and ``runs.json`` under ``out``; return the table and comparison."""
    out.mkdir(parents=True, exist_ok=True)
    gaps = compare(runs)
    text = format_scale_table(runs)
    text += '\n\n' + ', '.join(f'{k}: {v:.4g}' for k, v in gaps.items())
    (out / 'table.md').write_text(text + '\n')
    (out / 'runs.json').write_text(json.dumps(
        {'settings': settings, 'cpus': os.cpu_count(), 'compare': gaps,
         'runs': [asdict(r) for r in runs]}, indent=1) + '\n')
    return text
