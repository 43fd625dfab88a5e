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
``created``, ``torch_version``, ``parameter_count``, ``opset``, and the kind's
own keys (:meth:`~imitation_ros.policies.kind.KindRuntime.export_metadata`;
diffusion: ``ddim_steps``, ``train_steps``, ``ddim_clip`` and ``noise_schedule``).
The graph's inputs and outputs are the kind's
(:meth:`~imitation_ros.policies.kind.KindRuntime.graph_io`), the same
description the runtime checks the file against.

A policy trained with a doubt ensemble (``TrainConfig.doubt_ensemble``, on by
default) has one more graph output, ``doubt`` (B,) float32, listed last in
``outputs``, and the metadata key ``doubt``: JSON with ``method``
('ensemble'), ``output``, ``statistic`` (what the number is), ``units``,
``features``, ``config`` (members, hidden widths, bootstrap) and
``parameter_count``. Models without it load and report no doubt.
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
from ..interface.model_format import FORMAT, FORMAT_KEY
from ..policies.base import Policy
from ..policies.ensemble import WithDoubt
from ..policies.kind import DOUBT_GATE, DOUBT_OUTPUT, KindRuntime, ModelInfo
from ..policies.registry import get_kind, KINDS
from ..runtime.atomic import write_atomic

__all__ = ['export_policy', 'FORMAT', 'gate_doubt', 'io_shapes', 'kind_runtime', 'OPSET',
           'policy_metadata', 'resolve_variant']

#: ONNX opset of exported graphs (Mish needs 18).
OPSET = 18
#: Batch size of the example inputs used for tracing (the batch axis is dynamic).
_TRACE_BATCH = 2
#: Torch types of the graph's element types; float32 when not listed.
_TORCH_TYPES = {'tensor(uint8)': torch.uint8, 'tensor(int64)': torch.int64}


def resolve_variant(policy: Policy, variant: Optional[str]) -> str:
    """Return the export variant: the given one, or the kind's default (its first)."""
    variants = get_kind(policy.kind).runtime.variants
    variant = variant or variants[0]
    if variant in variants:
        return variant
    if len(variants) > 1:
        raise ConfigError(f'{policy.kind} export variant must be one of {variants}, '
                          f'got {variant!r}')
    having = [name for name, kind in KINDS.items() if len(kind.runtime.variants) > 1]
    raise ConfigError(f'only {", ".join(having) or "no"} policies have export variants; '
                      f'{policy.kind} has none (got {variant!r}); leave variant unset')


def _config(policy: Policy) -> dict:
    """Return the kind's options as the metadata stores them (``settings.config``)."""
    return policy.settings().get('config') or {}


def io_shapes(policy: Policy, variant: Optional[str] = None) -> tuple[dict, dict]:
    """Return the graph's input and output shapes, name -> list with 'B' for the batch axis."""
    variant = resolve_variant(policy, variant)
    spec = policy.spec
    own_inputs, own_outputs = get_kind(policy.kind).runtime.graph_io(
        spec.n_joints, int(policy.horizon), _config(policy), variant)
    inputs = {'state': ['B', spec.n_joints], 'task': ['B', len(spec.task_layout)],
              **own_inputs}
    if spec.image_shape:
        inputs['image'] = ['B', *spec.image_shape]
    outputs = dict(own_outputs)
    if getattr(policy, 'doubt', None) is not None:
        outputs[DOUBT_OUTPUT] = ['B']
    return inputs, outputs


def kind_runtime(policy: Policy, variant: Optional[str] = None) -> KindRuntime:
    """
    Return the run-time half of ``policy``'s kind as the runtime builds it from the export.

    With the model's default sampling options; for running the torch graph
    through the same sampling code as ONNX Runtime (benchmarks, parity checks).
    """
    variant = resolve_variant(policy, variant)
    spec = policy.spec
    runtime = get_kind(policy.kind).runtime(ModelInfo(
        n_joints=spec.n_joints, horizon=int(policy.horizon), variant=variant,
        config=_config(policy), metadata=policy_metadata(policy, variant),
        action_mean=np.asarray(spec.action_norm.mean, np.float32),
        action_std=np.asarray(spec.action_norm.std, np.float32)))
    runtime.configure()
    return runtime


def _example(name: str, shape: list, types: dict) -> torch.Tensor:
    dims = [_TRACE_BATCH if d == 'B' else int(d) for d in shape]
    return torch.zeros(dims, dtype=_TORCH_TYPES.get(types.get(name, ''), torch.float32))


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
    execute = int(getattr(policy.config, 'execute', 1))
    meta = {
        FORMAT_KEY: FORMAT,
        'kind': policy.kind,
        'variant': variant,
        'joint_names': _dumps(list(spec.joint_names)),
        'task_layout': _dumps(list(spec.task_layout)),
        'observation': _dumps({
            'state_dim': spec.n_joints,
            'task_dim': len(spec.task_layout),
            'image_shape': list(spec.image_shape) if spec.image_shape else None,
            'image_encoder': spec.image_encoder if spec.image_shape else None,
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
    meta.update(get_kind(policy.kind).runtime.export_metadata(_config(policy)))
    if getattr(policy, 'doubt', None) is not None:
        meta['doubt'] = _dumps(policy.doubt.metadata())
    return meta


def _export_bytes(policy: Policy, variant: str) -> bytes:
    inputs, outputs = io_shapes(policy, variant)
    module = policy.export_module(variant)
    if getattr(policy, 'doubt', None) is not None:
        module = WithDoubt(module, policy.doubt, policy.encoder)
    types = {'image': 'tensor(uint8)', **get_kind(policy.kind).runtime.input_types}
    args = tuple(_example(name, shape, types) for name, shape in inputs.items())
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
    :param variant: the kind's export variant (default its first); diffusion:
        'sampler' (the whole DDIM in one graph) or 'denoiser' (one noise
        prediction; the runtime loops).
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
