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
Export a trained policy to one self-contained ONNX file.

The file holds the graph (normalization, forward kinematics features and the
kind's decode included, so the graph maps raw observations to absolute joint
targets) and everything the runtime needs as ``metadata_props``: the joint
order, the task layout, the input/output shapes, the sampler settings and
where the training data came from. All values are strings; structured values
are JSON. The runtime (:class:`~imitation_ros.runtime.onnx_policy.OnnxPolicy`)
validates the graph against this metadata when it loads the file.

Metadata keys (format ``1``):

``imitation_ros.format``, ``kind``, ``variant``, ``joint_names``,
``task_layout``, ``observation``, ``action``, ``inputs``, ``outputs``,
``settings``, ``horizon``, ``execute``, ``training_data``, ``version``,
``created``, ``torch_version``, ``parameter_count``, ``opset``; diffusion also
``ddim_steps``, ``train_steps``, ``ddim_clip`` and ``noise_schedule``.

A policy trained with a doubt ensemble (``TrainConfig.doubt_ensemble``, on by
default) has one more graph output, ``doubt`` (B,) float32, listed last in
``outputs``, and the metadata key ``doubt``: JSON with ``method``
('ensemble'), ``output``, ``statistic`` (what the number is), ``units``,
``features``, ``config`` (members, hidden widths, bootstrap) and
``parameter_count``. Models without it load as before and report no doubt.
"""

from __future__ import annotations

import copy
from datetime import datetime, timezone
import io
import json
from pathlib import Path
from typing import Any, Optional
import warnings

import numpy as np
import onnx
from onnx import numpy_helper
import torch

from ..errors import ConfigError, ModelError
from ..policies.ensemble import WithDoubt
from ..policies.kinds import Policy
from ..runtime.atomic import write_atomic

#: Version of the metadata layout; the runtime refuses files of another format.
FORMAT = '1'
#: ONNX opset of exported graphs (Mish needs 18).
OPSET = 18
#: Diffusion export variants: the whole DDIM in one graph, or one noise prediction.
DIFFUSION_VARIANTS = ('sampler', 'denoiser')
#: Batch size of the example inputs used for tracing (the batch axis is dynamic).
_TRACE_BATCH = 2
#: Output name of the doubt ensemble's disagreement, (B,) float32.
DOUBT_OUTPUT = 'doubt'
#: Optional bool input (default false) that switches the doubt computation on.
DOUBT_GATE = 'want_doubt'


def resolve_variant(policy: Policy, variant: Optional[str]) -> str:
    """Return the export variant: 'sampler' or 'denoiser' for diffusion, else 'default'."""
    if policy.kind == 'diffusion':
        variant = variant or 'sampler'
        if variant not in DIFFUSION_VARIANTS:
            raise ConfigError(f'diffusion export variant must be one of {DIFFUSION_VARIANTS}, '
                              f'got {variant!r}')
        return variant
    if variant not in (None, '', 'default'):
        raise ConfigError(f'only diffusion policies have export variants; {policy.kind} has none '
                          f'(got {variant!r}); leave variant unset')
    return 'default'


def io_shapes(policy: Policy, variant: Optional[str] = None) -> tuple[dict, dict]:
    """Return the graph's input and output shapes, name -> list with 'B' for the batch axis."""
    variant = resolve_variant(policy, variant)
    spec = policy.spec
    n, k = spec.n_joints, len(spec.task_layout)
    cfg = getattr(policy, 'config', None)
    horizon = int(policy.horizon)
    known: dict[str, list] = {
        'state': ['B', n], 'task': ['B', k],
        'image': ['B', *spec.image_shape] if spec.image_shape else None,
        'noise': ['B', horizon, n], 'sample': ['B', horizon, n], 'timestep': ['B'],
        'gumbel': ['B', n, getattr(cfg, 'bins', 0)],
        'action': ['B', n], 'actions': ['B', horizon, n], 'eps': ['B', horizon, n],
        'log_weights': ['B', getattr(cfg, 'components', 0)],
        'means': ['B', getattr(cfg, 'components', 0), n],
        'stds': ['B', getattr(cfg, 'components', 0), n],
        'doubt': ['B'],
    }
    inputs, outputs = _io_names(policy, variant)
    return {name: known[name] for name in inputs}, {name: known[name] for name in outputs}


def _io_names(policy: Policy, variant: str) -> tuple[list[str], list[str]]:
    if policy.kind == 'diffusion':
        inputs, outputs = policy.onnx_inputs(variant), policy.onnx_outputs(variant)
    else:
        inputs, outputs = policy.onnx_inputs(), policy.onnx_outputs()
    if getattr(policy, 'doubt', None) is not None:
        outputs = [*outputs, 'doubt']
    return inputs, outputs


def _example(name: str, shape: list) -> torch.Tensor:
    dims = [_TRACE_BATCH if d == 'B' else int(d) for d in shape]
    if name == 'image':
        return torch.zeros(dims, dtype=torch.uint8)
    if name == 'timestep':
        return torch.zeros(dims, dtype=torch.int64)
    return torch.zeros(dims, dtype=torch.float32)


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    return str(value)


def _dumps(value: Any) -> str:
    return json.dumps(value, default=_json_default, sort_keys=True)


def policy_metadata(policy: Policy, variant: Optional[str] = None,
                    metadata_extra: Optional[dict] = None) -> dict[str, str]:
    """
    Build the ``metadata_props`` of the exported file (all values strings).

    ``metadata_extra['version']`` becomes the model version (default: the UTC
    time of export); ``metadata_extra['training_data']`` and every other key
    of ``metadata_extra`` go into the ``training_data`` JSON object.
    """
    variant = resolve_variant(policy, variant)
    spec = policy.spec
    extra = dict(metadata_extra or {})
    now = datetime.now(timezone.utc)
    version = str(extra.pop('version', '') or now.strftime('%Y%m%dT%H%M%SZ'))
    training = extra.pop('training_data', None) or {}
    if not isinstance(training, dict):
        raise ConfigError('metadata_extra["training_data"] must be a dict, got '
                          f'{type(training).__name__}')
    training = {**training, **extra}
    inputs, outputs = io_shapes(policy, variant)
    execute = int(getattr(policy.config, 'execute', 1)) if hasattr(policy, 'config') else 1
    meta = {
        'imitation_ros.format': FORMAT,
        'kind': policy.kind,
        'variant': variant,
        'joint_names': _dumps(list(spec.joint_names)),
        'task_layout': _dumps(list(spec.task_layout)),
        'observation': _dumps({
            'state_dim': spec.n_joints,
            'task_dim': len(spec.task_layout),
            'image_shape': list(spec.image_shape) if spec.image_shape else None,
            'link_lengths': list(spec.link_lengths) if spec.link_lengths else None,
            'features': 'raw' if spec.link_lengths is None else 'planar-fk',
            'feature_dim': spec.obs_dim,
            'normalization': spec.state_norm.to_dict(),
        }),
        'action': _dumps({
            'dim': spec.n_joints,
            'units': 'rad',
            'prediction': 'relative',
            'output': 'absolute',
            'normalization': spec.action_norm.to_dict(),
        }),
        'inputs': _dumps(inputs),
        'outputs': _dumps(outputs),
        'settings': _dumps(policy.settings()),
        'horizon': str(int(policy.horizon)),
        'execute': str(execute),
        'training_data': _dumps(training),
        'version': version,
        'created': now.isoformat(timespec='seconds'),
        'torch_version': torch.__version__,
        'parameter_count': str(policy.parameter_count()),
        'opset': str(OPSET),
    }
    if policy.kind == 'diffusion':
        cfg = policy.config
        meta.update({'ddim_steps': str(cfg.sample_steps), 'train_steps': str(cfg.train_steps),
                     'ddim_clip': repr(float(cfg.clip)), 'noise_schedule': 'cosine'})
    if getattr(policy, 'doubt', None) is not None:
        meta['doubt'] = _dumps(policy.doubt.metadata())
    return meta


def _export_bytes(policy: Policy, variant: str) -> bytes:
    inputs, outputs = io_shapes(policy, variant)
    module = policy.export_module(variant) if policy.kind == 'diffusion' \
        else policy.export_module()
    if getattr(policy, 'doubt', None) is not None:
        module = WithDoubt(module, policy.doubt, policy.encoder)
    args = tuple(_example(name, shape) for name, shape in inputs.items())
    dynamic = {name: {0: 'B'} for name in [*inputs, *outputs]}
    buf = io.BytesIO()
    was_training = policy.training
    policy.eval()
    try:
        with warnings.catch_warnings(), torch.no_grad():
            # The TorchScript exporter is deprecated but still the one that handles these
            # small graphs reliably; its warnings (and the tracer's) are expected.
            warnings.simplefilter('ignore', DeprecationWarning)
            warnings.simplefilter('ignore', FutureWarning)
            warnings.simplefilter('ignore', torch.jit.TracerWarning)
            torch.onnx.export(module, args, buf, dynamo=False, opset_version=OPSET,
                              input_names=list(inputs), output_names=list(outputs),
                              dynamic_axes=dynamic, do_constant_folding=True)
    except Exception as exc:  # any exporter failure means this model cannot be shipped
        raise ModelError(f'torch.onnx.export failed for the {policy.kind} policy '
                         f'({type(exc).__name__}: {exc}); check that the policy was built with '
                         'make_policy and is on the CPU') from exc
    finally:
        policy.train(was_training)
    return buf.getvalue()


def gate_doubt(model: onnx.ModelProto, output: str = DOUBT_OUTPUT,
               gate: str = DOUBT_GATE) -> None:
    """
    Move the nodes only ``output`` needs into an ``If`` on the optional input ``gate``.

    ONNX Runtime runs every node of a graph whatever outputs are asked for, so an
    ensemble computed next to the policy would slow every call. After this, the
    graph has one more input, ``gate`` (bool scalar, default false through an
    initializer, so callers that do not feed it are unchanged): false gives NaN
    for ``output`` at the cost of two tiny nodes; true computes it. Edits
    ``model`` in place.
    """
    graph = model.graph
    producer = {name: i for i, node in enumerate(graph.node) for name in node.output}

    def ancestors(names: list[str]) -> set[int]:
        seen: set[int] = set()
        stack = [producer[n] for n in names if n in producer]
        while stack:
            i = stack.pop()
            if i in seen:
                continue
            seen.add(i)
            node = graph.node[i]
            inputs = list(node.input)
            for attr in node.attribute:  # outer-scope names used inside subgraphs
                for sub in ([attr.g] if attr.HasField('g') else []) + list(attr.graphs):
                    inputs += [n for sn in sub.node for n in sn.input]
            stack += [producer[n] for n in inputs if n in producer]
        return seen

    others = [o.name for o in graph.output if o.name != output]
    if len(others) == len(graph.output):
        raise ModelError(f'gate_doubt: the graph has no output {output!r}')
    only = sorted(ancestors([output]) - ancestors(others))
    moved = [graph.node[i] for i in only]
    branch_out = f'{output}_computed'
    for node in moved:
        for k, name in enumerate(node.output):
            if name == output:
                node.output[k] = branch_out
    out_info = next(o for o in graph.output if o.name == output)
    elem = out_info.type.tensor_type.elem_type
    then_graph = onnx.helper.make_graph(
        [copy.deepcopy(n) for n in moved], f'{output}_then', [],
        [onnx.helper.make_tensor_value_info(branch_out, elem, None)])
    first_input = graph.input[0].name
    nan = onnx.helper.make_tensor('nan', elem, [1], [float('nan')])
    else_graph = onnx.helper.make_graph([
        onnx.helper.make_node('Shape', [first_input], [f'{output}_batch'], start=0, end=1),
        onnx.helper.make_node('ConstantOfShape', [f'{output}_batch'], [f'{output}_skipped'],
                              value=nan),
    ], f'{output}_else', [], [onnx.helper.make_tensor_value_info(f'{output}_skipped', elem,
                                                                 None)])
    keep = [n for i, n in enumerate(graph.node) if i not in set(only)]
    del graph.node[:]
    graph.node.extend(keep)
    graph.node.append(onnx.helper.make_node('If', [gate], [output], name=f'{output}_gate',
                                            then_branch=then_graph, else_branch=else_graph))
    graph.input.append(onnx.helper.make_tensor_value_info(gate, onnx.TensorProto.BOOL, []))
    graph.initializer.append(numpy_helper.from_array(np.array(False), gate))


def export_policy(policy: Policy, path: Path | str, *, metadata_extra: Optional[dict] = None,
                  variant: Optional[str] = None) -> Path:
    """
    Export ``policy`` to the ONNX file ``path`` with its metadata; return the path.

    The graph is checked with the ONNX checker, then the file appears in one
    step (:func:`~imitation_ros.runtime.atomic.write_atomic`): a reader never
    sees half a file, a failed export leaves an existing model untouched, and an
    export killed midway leaves no temporary file behind.

    :param metadata_extra: 'version' (model version string) and 'training_data'
        (data digest, episode counts, ...); other keys join 'training_data'.
    :param variant: diffusion only: 'sampler' (default; the whole DDIM in one
        graph) or 'denoiser' (one noise prediction; the runtime loops).
    """
    path = Path(path)
    variant = resolve_variant(policy, variant)
    meta = policy_metadata(policy, variant, metadata_extra)
    if any(p.device.type != 'cpu' for p in policy.parameters()):
        policy = copy.deepcopy(policy).cpu()  # export on the CPU; leave the caller's copy be
    model = onnx.load_model_from_string(_export_bytes(policy, variant))
    if getattr(policy, 'doubt', None) is not None:
        gate_doubt(model)
    onnx.helper.set_model_props(model, meta)
    model.doc_string = (f'imitation_ros {policy.kind} policy ({variant}), version '
                        f'{meta["version"]}, joints {", ".join(policy.spec.joint_names)}')
    try:
        # Checked in memory (full_check: strict shape inference too) before any byte is
        # written, so a bad graph never reaches the disk.
        onnx.checker.check_model(model, full_check=True)
    except onnx.checker.ValidationError as exc:
        raise ModelError(f'the exported {policy.kind} graph fails the ONNX checker ({exc}); '
                         'this is an export bug, not a data problem') from exc
    write_atomic(path, model.SerializeToString())
    return path


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
    from ..runtime.latency import measure
    from ..runtime.onnx_policy import OnnxPolicy
    if policy.kind != 'diffusion':
        raise ConfigError(f'measure_diffusion_exports needs a diffusion policy, got {policy.kind}')
    directory = Path(directory)
    spec = policy.spec
    n, k = spec.n_joints, len(spec.task_layout)
    mean = np.asarray(spec.state_norm.mean)
    state, task = mean[:n], mean[n:n + k]
    image = np.zeros(spec.image_shape, dtype=np.uint8) if spec.image_shape else None
    noise = np.random.default_rng(0).standard_normal((1, policy.horizon, n)).astype(np.float32)
    result: dict = {'sample_steps': int(policy.config.sample_steps),
                    'parameter_count': policy.parameter_count()}
    for variant in DIFFUSION_VARIANTS:
        path = export_policy(policy, directory / f'diffusion-{variant}.onnx', variant=variant)
        runtime = OnnxPolicy(path, threads=1)
        runtime.warmup()
        stats = measure(lambda: runtime.predict_chunk(state, task, image, noise=noise),
                        calls=calls, warmup=min(50, calls))
        result[variant] = {'path': str(path), **stats}
    result['best_variant'] = min(DIFFUSION_VARIANTS, key=lambda v: result[v]['p50_ms'])
    return result
