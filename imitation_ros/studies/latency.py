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
Inference latency per policy kind: ONNX Runtime against PyTorch eager on the same model.

Single observation (batch 1), one thread each, after warm-up; p50 and p99 over
``calls`` calls. ONNX Runtime is timed in a fresh process without torch, as the
robot runs it (:func:`~imitation_ros.studies.timing.measure_policy_process`);
PyTorch eager in this process: the exported graph's torch module on the same
inputs, its outputs turned into the action by the same kind runtime code
(:mod:`~imitation_ros.policies.kind`). Both are pinned to one CPU (``cpu``,
default 0). For chunked kinds (diffusion) one call is one chunk
(``sample_steps`` DDIM steps), and both diffusion exports (the denoiser
called once per step, and the whole sampler in one graph) are timed.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Callable, Iterator, Optional

import numpy as np
import torch

from ..cli.collect import collect
from ..data import find_episode_bags
from ..errors import ConfigError, ModelError
from ..policies.base import Policy, TrainConfig
from ..policies.registry import get_kind, KINDS
from ..runtime.onnx_policy import OnnxPolicy
from ..training.export import export_policy, io_shapes, kind_runtime, resolve_variant
from ..training.pipeline import train_from_bags, TrainRequest
from .timing import check_cpu, measure, measure_policy_process


@contextlib.contextmanager
def pinned(cpu: Optional[int]) -> Iterator[None]:
    """Run the block pinned to ``cpu`` (None: as is), then restore the affinity."""
    if cpu is None:
        yield
        return
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {cpu})
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


def _torch_call(policy: Policy, state: np.ndarray, task: np.ndarray) -> Callable[[], object]:
    """Return a closure doing, in torch eager, what the runtime does for one observation."""
    variant = resolve_variant(policy, None)
    runtime = kind_runtime(policy, variant)
    graph = policy.export_module(variant)
    feeds = {'state': state[None].astype(np.float32), 'task': task[None].astype(np.float32),
             **runtime.zero_feeds(1)}
    inputs, _ = io_shapes(policy, variant)
    args = [torch.as_tensor(feeds[name]) for name in inputs]
    if runtime.chunked:
        return lambda: graph(*args)   # one chunk, as the runtime's predict_chunk
    rng = np.random.default_rng(0)

    def call() -> np.ndarray:
        outs = graph(*args)
        outs = outs if isinstance(outs, tuple) else (outs,)
        return runtime.single_action([o.numpy() for o in outs], rng)
    return call


def measure_diffusion_exports(policy: Policy, directory: Path | str, *,
                              calls: int = 200) -> dict:
    """
    Export both diffusion variants and time one chunk of each with ONNX Runtime.

    The denoiser variant runs the DDIM loop in numpy (``sample_steps`` session
    calls per chunk); the sampler variant is one call. Both run single-threaded
    on the CPU with batch 1 and the same noise.

    :returns: ``{'sampler': {...}, 'denoiser': {...}, 'best_variant': ...}``
        where each variant has 'path', 'p50_ms', 'p99_ms', 'mean_ms', plus
        'sample_steps' and 'parameter_count'.
    """
    if policy.kind != 'diffusion':
        raise ConfigError(f'measure_diffusion_exports needs a diffusion policy, got {policy.kind}')
    variants = get_kind(policy.kind).runtime.variants
    directory = Path(directory)
    spec = policy.spec
    n, k = spec.n_joints, len(spec.task_layout)
    mean = np.asarray(spec.state_norm.mean)
    state, task = mean[:n], mean[n:n + k]
    image = np.zeros(spec.image_shape, dtype=np.uint8) if spec.image_shape else None
    noise = np.random.default_rng(0).standard_normal((1, policy.horizon, n)).astype(np.float32)
    result: dict = {'sample_steps': int(policy.config.sample_steps),
                    'parameter_count': policy.parameter_count()}
    for variant in variants:
        path = export_policy(policy, directory / f'diffusion-{variant}.onnx', variant=variant)
        runtime = OnnxPolicy(path, threads=1)
        runtime.warmup()
        stats = measure(lambda: runtime.predict_chunk(state, task, image, noise=noise),
                        calls=calls, warmup=min(50, calls))
        result[variant] = {'path': str(path), **stats}
    result['best_variant'] = min(variants, key=lambda v: result[v]['p50_ms'])
    return result


def run_latency(out: Path, *, calls: int = 1000, warmup: int = 50,
                train_steps: int = 300, progress: bool = True,
                cpu: Optional[int] = 0) -> list[dict]:
    """
    Train each kind briefly on a small dataset, export, time both runtimes; print a table.

    :param cpu: pin both timings to this CPU (None: no pinning).
    """
    check_cpu(cpu)
    out.mkdir(parents=True, exist_ok=True)
    session = out / 'data' / 'multi'
    if not session.exists() or not find_episode_bags(session):
        collect('multi', 20, out / 'data', seed=7, session='multi', camera_every=0,
                progress=False)
    rows = []
    torch.set_num_threads(1)
    for kind in KINDS:
        res = train_from_bags(TrainRequest(
            data=(session,), kind=kind, out=out / f'latency_{kind}.onnx',
            config=TrainConfig(steps=train_steps), progress=progress, version=f'latency-{kind}'))
        n = res.policy.spec.n_joints
        k = len(res.policy.spec.task_layout)
        mean = np.asarray(res.policy.spec.state_norm.mean)
        state, task = mean[:n], mean[n:n + k]
        # As on the robot: a process with numpy and ONNX Runtime only (no torch).
        ort_stats = measure_policy_process(str(res.model), state, task, calls=calls,
                                           warmup=warmup, cpu=cpu)
        if ort_stats.pop('torch_imported'):
            raise ModelError('the ONNX Runtime timing process imported torch; the robot-side '
                             'runtime must not')
        with torch.no_grad(), pinned(cpu):
            torch_stats = measure(_torch_call(res.policy, state, task), calls, warmup)
        row = {'kind': kind, 'parameters': res.parameters, 'ort': ort_stats,
               'torch': torch_stats}
        if kind == 'diffusion':
            row['exports'] = measure_diffusion_exports(res.policy, out, calls=min(calls, 300))
        rows.append(row)
    return rows


def format_latency(rows: list[dict]) -> str:
    """Format the latency rows as a markdown table (and the diffusion export comparison)."""
    lines = ['| policy | parameters | ONNX Runtime p50 / p99 (ms) | PyTorch eager p50 / p99 (ms) '
             '| ORT speed-up (p50) |', '|---|---|---|---|---|']
    for r in rows:
        o, t = r['ort'], r['torch']
        unit = ' (one 10-step chunk)' if r['kind'] == 'diffusion' else ''
        lines.append(f"| {r['kind']}{unit} | {r['parameters']:,} | {o['p50_ms']:.3f} / "
                     f"{o['p99_ms']:.3f} | {t['p50_ms']:.3f} / {t['p99_ms']:.3f} | "
                     f"{t['p50_ms'] / max(o['p50_ms'], 1e-9):.1f}x |")
    for r in rows:
        if 'exports' in r:
            e = r['exports']
            lines += ['', f"Diffusion exports, one chunk of {e['sample_steps']} DDIM steps "
                      f"({e['parameter_count']:,} parameters):", '',
                      '| export | p50 (ms) | p99 (ms) |', '|---|---|---|']
            for v in ('denoiser', 'sampler'):
                lines.append(f"| {v} | {e[v]['p50_ms']:.3f} | {e[v]['p99_ms']:.3f} |")
            lines.append(f"\nkept: {e['best_variant']}")
    return '\n'.join(lines)
