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
Inference latency at the sizes users deploy: ONNX Runtime against PyTorch eager per size.

Each size (:data:`SIZES`) is a policy built for the Panda's observation (8 joints, the
reach task vector of 7): diffusion with MLP denoisers of about 4.5 M and 20 M
parameters (one call = one chunk of ``sample_steps`` DDIM steps, the sampler export),
and mse with an image encoder (resnet18, the small cnn) on 96x96 and 224x224 rgb
frames. The weights are the initial ones (seed 0): latency does not depend on
training. Each is exported to ONNX and timed in a fresh process that imports numpy and
ONNX Runtime only, as the robot runs it (batch 1, one thread, pinned to ``cpu``, after
warm-up), once per execution provider asked for ('cpu', 'cuda', 'tensorrt'; a row
records the providers that really ran); PyTorch eager runs the exported graph's torch
module in this process on the same inputs (one thread, pinned; on the GPU too when
torch sees one). Where no GPU or no GPU build of ONNX Runtime is present, the table
says so instead of timing it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
import sys
from typing import Callable, Optional, Sequence
import warnings

import numpy as np

from ..errors import ConfigError
from ..policies.registry import make_policy
from .timing import check_cpu, measure, run_timing_process
from .vision_latency import PANDA_JOINTS, PANDA_TASK

#: Name -> (kind, image encoder or None, frame side in pixels or 0, kind options, what).
SIZES: dict[str, tuple[str, Optional[str], int, dict, str]] = {
    'diffusion_4.5m': ('diffusion', None, 0, {'hidden': (1024,) * 5},
                       'diffusion, MLP denoiser 5 x 1024'),
    'diffusion_20m': ('diffusion', None, 0, {'hidden': (2048,) * 6},
                      'diffusion, MLP denoiser 6 x 2048'),
    'resnet18_96': ('mse', 'resnet18', 96, {}, 'mse + resnet18 on 96x96 rgb'),
    'resnet18_224': ('mse', 'resnet18', 224, {}, 'mse + resnet18 on 224x224 rgb'),
    'cnn_96': ('mse', 'cnn', 96, {}, 'mse + small cnn on 96x96 rgb'),
    'cnn_224': ('mse', 'cnn', 224, {}, 'mse + small cnn on 224x224 rgb'),
}
_CHILD = 'from imitation_ros.studies.deployed_sizes import _child; _child()'


def gpu_facts() -> dict:
    """Return what GPU support this machine has: torch CUDA devices and ONNX Runtime providers."""
    import onnxruntime as ort  # lazy: torch only when measuring; the CLI imports this module
    import torch  # lazy: torch only when measuring
    return {'torch_cuda': bool(torch.cuda.is_available()),
            'gpu': torch.cuda.get_device_name(0) if torch.cuda.is_available() else '',
            'ort_providers': list(ort.get_available_providers()),
            'nvidia_device': os.path.exists('/dev/nvidia0')}


def build(name: str):
    """Build the torch policy of size ``name`` (initial weights, seed 0)."""
    import torch  # lazy: torch only when measuring
    from ..policies.base import Normalizer, PolicySpec  # lazy: torch only when measuring
    from ..policies.vision import IMAGE_ENCODERS  # lazy: torch only when measuring
    kind, encoder, side, options, _ = SIZES[name]
    n, k = len(PANDA_JOINTS), len(PANDA_TASK)
    spec = PolicySpec(joint_names=PANDA_JOINTS, task_layout=PANDA_TASK,
                      state_norm=Normalizer((0.0,) * (n + k), (1.0,) * (n + k)),
                      action_norm=Normalizer((0.0,) * n, (0.05,) * n),
                      image_shape=(side, side, 3) if encoder else None,
                      image_encoder=encoder or IMAGE_ENCODERS[0])
    torch.manual_seed(0)
    return make_policy(kind, spec, options).eval()


def _inputs(policy) -> dict:
    """Return one observation's feeds (float32 state and task, a uint8 frame) by input name."""
    # lazy: torch only when measuring
    from ..training.export import io_shapes, kind_runtime, resolve_variant
    variant = resolve_variant(policy, None)
    rng = np.random.default_rng(0)
    spec = policy.spec
    feeds = {'state': rng.uniform(-1, 1, (1, spec.n_joints)).astype(np.float32),
             'task': rng.uniform(-0.5, 0.5, (1, len(spec.task_layout))).astype(np.float32),
             **kind_runtime(policy, variant).zero_feeds(1)}
    if spec.image_shape:
        feeds['image'] = rng.integers(0, 256, (1, *spec.image_shape), dtype=np.uint8)
    inputs, _ = io_shapes(policy, variant)
    return {name: feeds[name] for name in inputs}


def torch_call(policy, device: str = 'cpu') -> Callable[[], object]:
    """Return a closure running the exported graph's torch module once (one chunk or action)."""
    import torch  # lazy: torch only when measuring
    from ..training.export import resolve_variant  # lazy: torch only when measuring
    graph = policy.export_module(resolve_variant(policy, None)).to(device)
    args = [torch.as_tensor(v, device=device) for v in _inputs(policy).values()]
    if device == 'cpu':
        return lambda: graph(*args)

    def call() -> object:
        out = graph(*args)
        torch.cuda.synchronize()
        return out
    return call


def time_onnx(model: Path, provider: str, *, calls: int, warmup: int, cpu: Optional[int],
              timeout_s: float = 900.0) -> dict:
    """Time an ONNX policy with one provider in a process with numpy and ONNX Runtime only."""
    request = {'model': str(model), 'calls': calls, 'warmup': warmup, 'cpu': cpu,
               'provider': provider}
    return run_timing_process(_CHILD, request, str(model), timeout_s=timeout_s)


def _child() -> None:
    """Time the model described on stdin with one provider; print one JSON line."""
    from ..runtime.onnx_policy import OnnxPolicy  # in the child: ONNX Runtime without torch
    req = json.loads(sys.stdin.read())
    if req['cpu'] is not None:
        os.sched_setaffinity(0, {int(req['cpu'])})
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', RuntimeWarning)   # the row names what really ran
        policy = OnnxPolicy(req['model'], seed=0, threads=1, providers=[req['provider']])
    policy.warmup()
    rng = np.random.default_rng(0)
    state = rng.uniform(-1.0, 1.0, len(policy.joint_names))
    task = rng.uniform(-0.5, 0.5, len(policy.task_layout))
    image = rng.integers(0, 256, policy.image_shape, dtype=np.uint8) \
        if policy.needs_image else None
    if policy.chunked:
        stats = measure(lambda: policy.predict_chunk(state, task, image), req['calls'],
                        req['warmup'])
    else:
        stats = measure(lambda: policy.act(state, task, image), req['calls'], req['warmup'])
    stats['torch_imported'] = 'torch' in sys.modules
    stats['providers'] = policy.providers
    print(json.dumps(stats))


def run_sizes(out: Path, *, sizes: Sequence[str] = tuple(SIZES), calls: int = 100,
              warmup: int = 10, cpu: Optional[int] = 0,
              providers: Sequence[str] = ('cpu', 'cuda', 'tensorrt'),
              log: Callable[[str], None] = print) -> dict:
    """
    Build, export and time every size; write ``out/sizes.json`` and return its content.

    A GPU provider is timed only when ONNX Runtime has it (else the row says it was not
    available); torch eager on the GPU only when torch sees a CUDA device.
    """
    import torch  # lazy: torch only when measuring
    from ..training.export import export_policy  # lazy: torch only when measuring
    from .latency import pinned   # torch: never in the timing child
    unknown = [s for s in sizes if s not in SIZES]
    if unknown:
        raise ConfigError(f'unknown size {unknown[0]!r}; choose from {", ".join(SIZES)}')
    check_cpu(cpu)
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(1)
    facts = gpu_facts()
    names = {'cpu': 'CPUExecutionProvider', 'cuda': 'CUDAExecutionProvider',
             'tensorrt': 'TensorrtExecutionProvider'}
    rows = []
    for name in sizes:
        policy = build(name)
        path = export_policy(policy, out / f'{name}.onnx', metadata_extra={'version': name})
        row: dict = {'size': name, 'what': SIZES[name][4], 'kind': SIZES[name][0],
                     'parameters': policy.parameter_count(), 'model_bytes': path.stat().st_size,
                     'sample_steps': int(getattr(policy.config, 'sample_steps', 0)),
                     'ort': {}, 'torch': {}}
        for provider in providers:
            full = names.get(provider, provider)
            if full not in facts['ort_providers']:
                row['ort'][provider] = {'skipped': f'{full} not in this ONNX Runtime build'}
                continue
            row['ort'][provider] = time_onnx(path, provider, calls=calls, warmup=warmup,
                                             cpu=cpu if provider == 'cpu' else None)
        with torch.no_grad(), pinned(cpu):
            row['torch']['cpu'] = measure(torch_call(policy), calls, warmup)
        if facts['torch_cuda']:
            with torch.no_grad():
                row['torch']['cuda'] = measure(torch_call(policy, 'cuda'), calls, warmup)
        else:
            row['torch']['cuda'] = {'skipped': 'torch sees no CUDA device'}
        rows.append(row)
        cpu_ort = row['ort'].get('cpu', {})
        log(f"{name:15s} {row['parameters']:>11,} parameters  ORT cpu p50 "
            f"{cpu_ort.get('p50_ms', float('nan')):.2f} ms  torch cpu p50 "
            f"{row['torch']['cpu']['p50_ms']:.2f} ms")
    result = {'rows': rows, 'gpu': facts, 'calls': calls, 'load_avg': list(os.getloadavg())}
    (out / 'sizes.json').write_text(json.dumps(result, indent=1))
    return result


def _cell(stats: dict) -> str:
    if 'skipped' in stats:
        return 'not run'
    return f"{stats['p50_ms']:.2f} / {stats['p99_ms']:.2f}"


def format_sizes(result: dict) -> str:
    """Format the sizes as a markdown table with a line on the GPU."""
    rows, gpu = result['rows'], result['gpu']
    lines = ['| size | model | parameters | ONNX file (MB) | ONNX Runtime CPU p50 / p99 (ms) '
             '| PyTorch eager CPU p50 / p99 (ms) | ORT speed-up (p50) | ORT CUDA | ORT '
             'TensorRT | torch CUDA |', '|---|---|---|---|---|---|---|---|---|---|']
    for r in rows:
        o, t = r['ort'].get('cpu', {'skipped': ''}), r['torch']['cpu']
        speed = '-' if 'skipped' in o else f"{t['p50_ms'] / max(o['p50_ms'], 1e-9):.1f}x"
        unit = f" (one {r['sample_steps']}-step chunk)" if r['kind'] == 'diffusion' else ''
        lines.append(f"| {r['size']} | {r['what']}{unit} | {r['parameters']:,} | "
                     f"{r['model_bytes'] / 1e6:.1f} | {_cell(o)} | {_cell(t)} | {speed} | "
                     f"{_cell(r['ort'].get('cuda', {'skipped': ''}))} | "
                     f"{_cell(r['ort'].get('tensorrt', {'skipped': ''}))} | "
                     f"{_cell(r['torch'].get('cuda', {'skipped': ''}))} |")
    ran = sorted({', '.join(s.get('providers', [])) for r in rows for s in r['ort'].values()
                  if 'providers' in s})
    if gpu['gpu'] or gpu['nvidia_device']:
        where = f"GPU: {gpu['gpu'] or 'an NVIDIA device'}"
    else:
        where = 'No GPU on this machine'
    avg = result.get('load_avg')
    lines += ['', f"{where}; ONNX Runtime providers in this build: "
              f"{', '.join(gpu['ort_providers'])}; torch CUDA: "
              f"{'yes' if gpu['torch_cuda'] else 'no'}. Sessions ran on: {' / '.join(ran)}. "
              f"{result['calls']} calls per timing, batch 1, one thread"
              + (f"; 1-minute load average {avg[0]:.1f} at the end." if avg else '.')]
    return '\n'.join(lines)
