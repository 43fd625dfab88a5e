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
Wall-clock latency of a callable: median, 99th percentile and mean (numpy, no torch).

:func:`measure_policy_process` times an ONNX policy in a fresh Python process that
imports only numpy and ONNX Runtime, as the robot runs it (``policy_node`` never
imports torch): a process that has trained with torch keeps torch's thread pools and
allocator around, and ONNX Runtime calls in it measured about 1.5 times slower here.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from typing import Callable, Optional, Sequence

import numpy as np

from ..errors import ConfigError, ModelError

#: What the fresh process runs: read the request from stdin, print the result as JSON.
_CHILD = 'from imitation_ros.studies.timing import _policy_child; _policy_child()'


def measure(fn: Callable[[], object], calls: int = 1000, warmup: int = 50) -> dict:
    """
    Call ``fn`` ``warmup`` times untimed, then ``calls`` times timed.

    :returns: ``{'p50_ms', 'p99_ms', 'mean_ms', 'max_ms', 'calls'}``, milliseconds.
    """
    if calls < 1 or warmup < 0:
        raise ConfigError(f'need calls >= 1 and warmup >= 0, got {calls}, {warmup}')
    for _ in range(warmup):
        fn()
    ns = np.empty(calls, dtype=np.int64)
    clock = time.perf_counter_ns
    for i in range(calls):
        start = clock()
        fn()
        ns[i] = clock() - start
    ms = ns / 1e6
    return {'p50_ms': float(np.percentile(ms, 50)), 'p99_ms': float(np.percentile(ms, 99)),
            'mean_ms': float(ms.mean()), 'max_ms': float(ms.max()), 'calls': int(calls)}


def check_cpu(cpu: Optional[int]) -> None:
    """Raise ConfigError unless ``cpu`` is None or a CPU this process may run on."""
    if cpu is not None and cpu not in os.sched_getaffinity(0):
        raise ConfigError(f'cannot pin to CPU {cpu}: this process may use CPUs '
                          f'{sorted(os.sched_getaffinity(0))}')


def _policy_child() -> None:
    """Time one ONNX policy as described on stdin; print the result as one JSON line."""
    from ..runtime.onnx_policy import OnnxPolicy  # ONNX Runtime loads in the timed process only

    req = json.loads(sys.stdin.read())
    if req['cpu'] is not None:
        os.sched_setaffinity(0, {int(req['cpu'])})
    policy = OnnxPolicy(req['model'], seed=0, threads=int(req['threads']),
                        providers=req.get('providers') or None)
    policy.warmup()
    state = np.asarray(req['state'], dtype=np.float64)
    task = np.asarray(req['task'], dtype=np.float64)
    if policy.chunked:
        stats = measure(lambda: policy.predict_chunk(state, task), req['calls'], req['warmup'])
    else:
        stats = measure(lambda: policy.act(state, task), req['calls'], req['warmup'])
    stats['torch_imported'] = 'torch' in sys.modules
    stats['providers'] = policy.providers
    print(json.dumps(stats))


def measure_policy_process(model: str, state: Sequence[float], task: Sequence[float], *,
                           calls: int = 1000, warmup: int = 50, threads: int = 1,
                           cpu: Optional[int] = None, timeout_s: float = 600.0,
                           providers: Sequence[str] = ('cpu',)) -> dict:
    """
    Time ``OnnxPolicy.act`` (diffusion: ``predict_chunk``, one chunk) in a fresh process.

    The process imports numpy and ONNX Runtime only (``torch_imported`` in the result
    says whether anything pulled torch in), loads ``model``, warms it up and times
    ``calls`` calls at the observation (``state`` (n,) rad, ``task`` (k,)).
    ``cpu`` pins the process to that CPU (as a robot pins its control process; on a
    small machine it also keeps the scheduler from moving the loop between cores,
    which costs the caches); None lets it run anywhere.

    ``providers`` are asked of ONNX Runtime in that order (CPU fallback).

    :returns: :func:`measure`'s dict plus ``torch_imported`` and ``providers``, the
        providers the session really ran with (``session.get_providers()``).
    :raises ModelError: the process failed (its stderr is in the message).
    """
    if calls < 1 or warmup < 0:
        raise ConfigError(f'need calls >= 1 and warmup >= 0, got {calls}, {warmup}')
    check_cpu(cpu)
    request = {'cpu': cpu, 'model': str(model), 'state': [float(v) for v in state],
               'task': [float(v) for v in task], 'calls': int(calls), 'warmup': int(warmup),
               'threads': int(threads), 'providers': [str(p) for p in providers]}
    return run_timing_process(_CHILD, request, str(model), timeout_s=timeout_s,
                              forbid_torch=False)


def run_timing_process(child: str, request: dict, what: str, *, timeout_s: float,
                       forbid_torch: bool = True) -> dict:
    """
    Run ``python -c child`` with ``request`` as JSON on stdin; return its last JSON line.

    :param what: what is timed, for the error messages (a model path).
    :param forbid_torch: pop ``torch_imported`` from the result and raise when it is true
        (the robot side must not import torch).
    :raises ModelError: the process failed, ran past ``timeout_s`` or imported torch.
    """
    try:
        proc = subprocess.run([sys.executable, '-c', child], input=json.dumps(request),
                              text=True, capture_output=True, timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired as exc:
        raise ModelError(f'timing {what} took longer than {timeout_s:g} s') from exc
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        raise ModelError(f'timing {what} in a fresh process failed (exit {proc.returncode}): '
                         f'{proc.stderr.strip()[-2000:]}')
    stats = json.loads(lines[-1])
    if forbid_torch and stats.pop('torch_imported', False):
        raise ModelError('the ONNX Runtime timing process imported torch; the robot side '
                         'must not')
    return stats
