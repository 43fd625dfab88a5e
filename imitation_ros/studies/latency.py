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
robot runs it (:func:`~imitation_ros.runtime.latency.measure_policy_process`);
PyTorch eager in this process. Both are pinned to one CPU (``cpu``, default 0).
For diffusion one call is one chunk (``sample_steps`` DDIM steps), and both
exports (the denoiser called once per step, and the whole sampler in one graph)
are timed.
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
from ..policies.base import TrainConfig
from ..policies.kinds import KINDS, Policy
from ..policies.sampling import gmm_select
from ..errors import ModelError
from ..runtime.latency import check_cpu, measure, measure_policy_process
from ..training.export import measure_diffusion_exports
from ..training.pipeline import train_from_bags, TrainRequest


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
    st = torch.as_tensor(state[None], dtype=torch.float32)
    tk = torch.as_tensor(task[None], dtype=torch.float32)
    n = policy.spec.n_joints
    if policy.kind == 'mse':
        return lambda: policy(st, tk)
    if policy.kind == 'gmm':
        heads = policy.export_module()
        zeros_u, zeros_n = np.zeros(1), np.zeros((1, n))

        def gmm() -> np.ndarray:
            lw, m, s = heads(st, tk)
            return gmm_select(lw.numpy(), m.numpy(), s.numpy(), mode='argmax',
                              uniform=zeros_u, normal=zeros_n)
        return gmm
    if policy.kind == 'ar':
        sampler = policy.export_module()
        gumbel = torch.zeros(1, n, policy.config.bins)
        return lambda: sampler(st, tk, gumbel)
    sampler = policy.export_module('sampler')
    noise = torch.randn(1, policy.horizon, n, generator=torch.Generator().manual_seed(0))
    return lambda: sampler(st, tk, noise)


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
