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
Training checkpoints: the torch weights behind an exported model, for warm starts.

``NAME.pt`` is written next to ``NAME.onnx``. The ONNX file is what runs on the
robot; the checkpoint lets the next version continue training from this one
(HG-DAgger and DAgger retrain after every round: fine-tuning the previous
weights on the grown data set takes a fraction of the steps of a fresh start
and does not re-draw the policy's behaviour from a new initialization). It
holds the kind, the kind's settings, the spec (layout and normalization), the
weights and the doubt ensemble when there is one, as plain containers and
tensors, so it loads with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

from dataclasses import asdict
import io
from pathlib import Path

import torch

from ..errors import ModelError
from ..policies.base import Policy, PolicySpec
from ..policies.ensemble import DoubtConfig, DoubtEnsemble
from ..policies.registry import make_policy
from ..runtime.atomic import write_atomic
from .jobs import checkpoint_path

__all__ = ['checkpoint_path', 'FORMAT', 'load_checkpoint', 'save_checkpoint']

#: Format tag of the checkpoint dictionary.
FORMAT = 'imitation_ros.checkpoint/1'


def _plain(value: object) -> object:
    """Turn tuples into lists recursively (weights_only loads lists, dicts and scalars)."""
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def save_checkpoint(policy: Policy, path: Path | str) -> Path:
    """
    Write ``policy`` (and its doubt ensemble) to ``path``; return the path.

    Put in place in one step, as the models are
    (:func:`~imitation_ros.runtime.atomic.write_atomic`): no half file, and no
    temporary file left when the writer is killed.
    """
    path = Path(path)
    doubt = getattr(policy, 'doubt', None)
    state = {k: v.detach().cpu().clone() for k, v in policy.state_dict().items()
             if not k.startswith('doubt.')}
    data = {'format': FORMAT, 'kind': policy.kind, 'config': _plain(asdict(policy.config)),
            'spec': policy.spec.to_dict(), 'state_dict': state,
            'doubt': None if doubt is None else {
                'config': _plain(asdict(doubt.config)),
                'state_dict': {k: v.detach().cpu().clone()
                               for k, v in doubt.state_dict().items()}}}
    buffer = io.BytesIO()
    torch.save(data, buffer)
    return write_atomic(path, buffer.getvalue())


def load_checkpoint(path: Path | str) -> Policy:
    """
    Rebuild the policy saved in ``path`` (on the CPU, eval mode).

    :raises ModelError: the file is missing, not a checkpoint, or does not fit its kind.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelError(f'no checkpoint at {path}; train from scratch (no --init-from) or '
                         'point at the NAME.pt written next to a model')
    try:
        data = torch.load(path, map_location='cpu', weights_only=True)
    except Exception as exc:  # noqa: BLE001 - torch raises many types for a bad file
        raise ModelError(f'{path} is not a readable checkpoint ({exc.__class__.__name__}: '
                         f'{exc}); retrain from scratch') from exc
    if not isinstance(data, dict) or data.get('format') != FORMAT:
        raise ModelError(f'{path} is not an imitation_ros checkpoint (expected format '
                         f'{FORMAT!r}); retrain from scratch')
    try:
        spec = PolicySpec.from_dict(data['spec'])
        policy = make_policy(data['kind'], spec, data['config'])
        policy.load_state_dict(data['state_dict'])
        if data.get('doubt') is not None:
            doubt = DoubtEnsemble(spec, DoubtConfig(**{
                k: tuple(v) if isinstance(v, list) else v
                for k, v in data['doubt']['config'].items()}))
            doubt.load_state_dict(data['doubt']['state_dict'])
            policy.attach_doubt(doubt)
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise ModelError(f'{path} does not hold a consistent {data.get("kind")} policy '
                         f'({exc.__class__.__name__}: {exc}); retrain from scratch') from exc
    return policy.eval()
