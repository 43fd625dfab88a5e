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
What seeing costs: parameters and ONNX Runtime latency of every kind with each image encoder.

Each kind is built for the Panda's observation (8 joints, the reach task
vector of 7, a 96x96 camera frame) with its default options and each image
encoder (and without one, for reference), exported to one ONNX file and timed
in a fresh process that imports numpy and ONNX Runtime only, as the robot runs
it: batch 1, one thread, pinned to one CPU, ``calls`` calls of
``OnnxPolicy.act`` after warm-up (diffusion: ``predict_chunk``, one chunk of
``sample_steps`` DDIM steps, the encoder run once per chunk). The weights are
the initial ones: latency and size do not depend on training. Beside it, the
cost of training each encoder: milliseconds per frame of a forward and
backward pass (batch 32, one thread, training mode).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
import sys
import time
from typing import Optional, Sequence

import numpy as np

from ..policies.registry import KINDS, make_policy
from .timing import check_cpu, measure, run_timing_process

#: The Panda's joint layout and reach task layout (as sim/panda names them), without MuJoCo.
PANDA_JOINTS = (*(f'panda_joint{i}' for i in range(1, 8)), 'gripper_width')
PANDA_TASK = ('goal_x', 'goal_y', 'goal_z', 'pole_x', 'pole_y', 'pole_radius', 'pole_height')
IMAGE_SHAPE = (96, 96, 3)
_CHILD = 'from imitation_ros.studies.vision_latency import _child; _child()'


def panda_spec(encoder: Optional[str]):
    """Return a PolicySpec of the Panda's shapes (unit normalization), with ``encoder`` or none."""
    # lazy: torch only when building; the CLI imports this module
    from ..policies.base import Normalizer, PolicySpec
    from ..policies.vision import IMAGE_ENCODERS  # lazy: torch only when building
    n, k = len(PANDA_JOINTS), len(PANDA_TASK)
    return PolicySpec(joint_names=PANDA_JOINTS, task_layout=PANDA_TASK,
                      state_norm=Normalizer((0.0,) * (n + k), (1.0,) * (n + k)),
                      action_norm=Normalizer((0.0,) * n, (0.05,) * n),
                      image_shape=IMAGE_SHAPE if encoder else None,
                      image_encoder=encoder or IMAGE_ENCODERS[0])


def time_in_fresh_process(model: Path, *, calls: int, warmup: int, cpu: Optional[int],
                          timeout_s: float = 600.0) -> dict:
    """Time one image-or-state ONNX policy in a process with numpy and ONNX Runtime only."""
    request = {'model': str(model), 'calls': calls, 'warmup': warmup, 'cpu': cpu}
    return run_timing_process(_CHILD, request, str(model), timeout_s=timeout_s)


def _child() -> None:
    """Time the model described on stdin; print one JSON line."""
    from ..runtime.onnx_policy import OnnxPolicy  # in the child: ONNX Runtime without torch
    req = json.loads(sys.stdin.read())
    if req['cpu'] is not None:
        os.sched_setaffinity(0, {int(req['cpu'])})
    policy = OnnxPolicy(req['model'], seed=0, threads=1)
    policy.warmup()
    rng = np.random.default_rng(0)
    state = rng.uniform(-1.0, 1.0, len(policy.joint_names))
    task = rng.uniform(-0.5, 0.5, len(policy.task_layout))
    image = None
    if policy.needs_image:
        image = rng.integers(0, 256, policy.image_shape, dtype=np.uint8)
    if policy.chunked:
        stats = measure(lambda: policy.predict_chunk(state, task, image), req['calls'],
                        req['warmup'])
    else:
        stats = measure(lambda: policy.act(state, task, image), req['calls'], req['warmup'])
    stats['torch_imported'] = 'torch' in sys.modules
    print(json.dumps(stats))


def run_vision_latency(out: Path, *, calls: int = 300, warmup: int = 20,
                       kinds: Sequence[str] = tuple(KINDS),
                       encoders: Optional[Sequence[Optional[str]]] = None,
                       cpu: Optional[int] = 0) -> list[dict]:
    """
    Export every (kind, encoder) and time it; return one row each (also ``latency.json``).

    :param encoders: image encoders (None in the list: the state-only model); default
        the state-only model and every encoder.
    """
    import torch  # lazy: torch only when measuring
    from ..policies.vision import IMAGE_ENCODERS  # lazy: torch only when measuring
    if encoders is None:
        encoders = (None, *IMAGE_ENCODERS)
    from ..training.export import export_policy  # lazy: torch only when measuring
    check_cpu(cpu)
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(1)
    rows = []
    for encoder in encoders:
        for kind in kinds:
            torch.manual_seed(0)
            policy = make_policy(kind, panda_spec(encoder)).eval()
            name = f"{kind}_{encoder or 'state'}"
            path = export_policy(policy, out / f'{name}.onnx', metadata_extra={'version': name})
            image_params = 0
            if policy.encoder.image is not None:
                image_params = sum(p.numel() for p in policy.encoder.image.parameters())
            stats = time_in_fresh_process(path, calls=calls, warmup=warmup, cpu=cpu)
            rows.append({'kind': kind, 'encoder': encoder or 'none',
                         'parameters': policy.parameter_count(),
                         'encoder_parameters': image_params,
                         'model_bytes': path.stat().st_size, 'ort': stats})
            print(f"{kind:9s} {encoder or 'none':15s} {policy.parameter_count():>11,} "
                  f"parameters  p50 {stats['p50_ms']:.3f} ms  p99 {stats['p99_ms']:.3f} ms",
                  flush=True)
    train_ms = {name: encoder_train_ms(name) for name in {r['encoder'] for r in rows}
                if name != 'none'}
    for r in rows:
        r['encoder_train_ms_per_frame'] = train_ms.get(r['encoder'], 0.0)
    (out / 'latency.json').write_text(json.dumps(rows, indent=1))
    return rows


def encoder_train_ms(name: str, batch: int = 32, repeats: int = 3) -> float:
    """Return ms per frame of the encoder's forward and backward pass (training mode)."""
    import torch  # lazy: torch only when measuring
    from ..policies.vision import make_image_encoder  # lazy: torch only when measuring
    torch.manual_seed(0)
    encoder = make_image_encoder(name, IMAGE_SHAPE).train()
    frames = torch.randint(0, 256, (batch, *IMAGE_SHAPE), dtype=torch.uint8)
    encoder(frames).square().mean().backward()  # warm-up
    start = time.perf_counter()
    for _ in range(repeats):
        encoder.zero_grad(set_to_none=True)
        encoder(frames).square().mean().backward()
    return (time.perf_counter() - start) / (repeats * batch) * 1000


def format_vision_latency(rows: list[dict]) -> str:
    """Format the rows as a markdown table."""
    lines = ['| policy | image encoder | parameters (of which the encoder) | ONNX file (MB) | '
             'ONNX Runtime p50 / p99 (ms) | encoder training (ms per frame) |',
             '|---|---|---|---|---|---|']
    for r in rows:
        unit = ' (one 10-step chunk)' if r['kind'] == 'diffusion' else ''
        o = r['ort']
        lines.append(f"| {r['kind']}{unit} | {r['encoder']} | {r['parameters']:,} "
                     f"({r['encoder_parameters']:,}) | {r['model_bytes'] / 1e6:.1f} | "
                     f"{o['p50_ms']:.3f} / {o['p99_ms']:.3f} | "
                     f"{r.get('encoder_train_ms_per_frame', 0.0):.2f} |")
    return '\n'.join(lines)
