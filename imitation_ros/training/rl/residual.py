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
Residual RL on a frozen Gaussian-mixture policy, exported as one ``gmm`` graph.

A ``gmm`` policy's action is the mean of its most probable component. The
residual is a small network that sees the observation features and that base
action and adds a bounded correction (``tanh``, at most ``scale`` rad per
joint); its last layer starts at zero, so the residual policy starts as the
base exactly. RL trains the residual only; the base's weights (and its doubt
ensemble) stay as behavior cloning left them.

The export is the base's own graph with the correction added to every
component's mean: ``log_weights`` and ``stds`` are the base's, ``means`` are
``base means + residual(observation, most probable mean)``. The runtime picks the
most probable component from the unchanged weights and gets base + residual:
the same file format, kind and metadata contract as any ``gmm`` model (a
``mode: sample`` run samples around the shifted means). The settings carry a
``residual`` entry saying what was added.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
import io
from pathlib import Path
from typing import Optional

import torch
from torch import nn

from ...errors import ConfigError, ModelError
from ...policies.base import mlp, PolicySpec
from ...policies.ensemble import DoubtConfig, DoubtEnsemble
from ...policies.gmm.config import GmmConfig
from ...policies.gmm.model import GmmPolicy
from ...policies.registry import make_policy
from ...runtime.atomic import write_atomic

#: Format tag of a residual policy's checkpoint (NAME.pt beside its NAME.onnx).
RESIDUAL_FORMAT = 'imitation_ros.rl_residual/1'


@dataclass(frozen=True)
class ResidualConfig:
    """Shape and bound of the residual network."""

    hidden: tuple[int, ...] = (256, 256)
    """Hidden widths of the residual MLP."""
    scale: float = 0.05
    """Largest correction per joint (rad): ``scale * tanh(output)``."""

    def __post_init__(self) -> None:
        if not self.hidden or any(h < 1 for h in self.hidden) or not self.scale > 0:
            raise ConfigError(f'the residual needs hidden widths >= 1 and scale > 0 rad, got '
                              f'{self.hidden}, {self.scale}')


class _ResidualGmmHeads(nn.Module):
    """Export graph: the base's mixture with the residual added to every component's mean."""

    def __init__(self, policy: 'ResidualGmm') -> None:
        super().__init__()
        self.policy = policy

    def forward(self, state: torch.Tensor, task: torch.Tensor,
                image: Optional[torch.Tensor] = None) -> tuple[torch.Tensor, ...]:
        log_w, means, stds = self.policy.mixture(state, task)
        base = self.policy.most_probable(log_w, means)
        correction = self.policy.correction(state, task, base)
        return log_w, means + correction.unsqueeze(1), stds


class ResidualGmm(GmmPolicy):
    """A frozen ``gmm`` base plus a trainable residual; kind ``gmm`` for the export."""

    def __init__(self, spec: PolicySpec, config: GmmConfig = GmmConfig(),
                 residual: ResidualConfig = ResidualConfig()) -> None:
        """Build the base network and a zero residual (call :meth:`from_base` to copy one)."""
        super().__init__(spec, config)
        if spec.image_shape is not None:
            raise ConfigError('residual RL runs on state policies; this gmm sees camera images')
        self.residual_config = residual
        n = spec.n_joints
        self.residual = mlp([self.encoder.out_dim + n, *residual.hidden, n])
        last = self.residual[-1]
        nn.init.zeros_(last.weight)
        nn.init.zeros_(last.bias)
        self.freeze_base()

    @classmethod
    def from_base(cls, base: GmmPolicy, residual: ResidualConfig = ResidualConfig()
                  ) -> 'ResidualGmm':
        """Return a residual policy over a copy of ``base`` (weights and doubt ensemble)."""
        if getattr(base, 'kind', '') != 'gmm' or isinstance(base, ResidualGmm):
            raise ConfigError('a residual starts from a plain gmm policy')
        policy = cls(base.spec, base.config, residual)
        own = {k: v for k, v in base.state_dict().items() if not k.startswith('doubt.')}
        missing, unexpected = policy.load_state_dict(own, strict=False)
        if unexpected or any(not k.startswith('residual.') for k in missing):
            raise ConfigError(f'the gmm base does not fit ({unexpected or missing})')
        doubt = getattr(base, 'doubt', None)
        if doubt is not None:
            copy_doubt = DoubtEnsemble(doubt.spec, doubt.config)
            copy_doubt.load_state_dict(doubt.state_dict())
            policy.attach_doubt(copy_doubt)
        policy.freeze_base()
        return policy.eval()

    def freeze_base(self) -> None:
        """Keep every weight but the residual's fixed."""
        for name, p in self.named_parameters():
            p.requires_grad_(name.startswith('residual.'))

    def mixture(self, state: torch.Tensor, task: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Return the base's log weights (B, K), means and stds (B, K, n), absolute rad."""
        logits, mu, log_std = self.heads(state, task)
        means = mu * self.scaler.std + self.scaler.mean + state.unsqueeze(1)
        return torch.log_softmax(logits, dim=-1), means, torch.exp(log_std) * self.scaler.std

    @staticmethod
    def most_probable(log_w: torch.Tensor, means: torch.Tensor) -> torch.Tensor:
        """Return the mean of each row's most probable component, (B, n)."""
        k = torch.argmax(log_w, dim=-1)
        index = k.view(-1, 1, 1).expand(-1, 1, means.shape[-1])
        return torch.gather(means, 1, index).squeeze(1)

    def correction(self, state: torch.Tensor, task: torch.Tensor,
                   base: torch.Tensor) -> torch.Tensor:
        """Return the residual (B, n) rad for the base's absolute action ``base`` (B, n)."""
        z = (base - state - self.scaler.mean) / self.scaler.std
        out = self.residual(torch.cat([self.encoder(state, task), z], dim=-1))
        return self.residual_config.scale * torch.tanh(out)

    def rl_action(self, state: torch.Tensor, task: torch.Tensor) -> torch.Tensor:
        """Return the deterministic action RL trains: base (most probable mean) + residual."""
        with torch.no_grad():
            log_w, means, _ = self.mixture(state, task)
            base = self.most_probable(log_w, means)
        return base + self.correction(state, task, base)

    def export_module(self, variant: str = 'default') -> nn.Module:
        """Return the graph exported to ONNX: the base mixture with shifted means."""
        return _ResidualGmmHeads(self)

    def settings(self) -> dict:
        """Return the gmm settings plus what the residual is."""
        return {**super().settings(), 'residual': {
            'method': 'residual RL (TD3) on the frozen gmm base',
            'added_to': 'every component mean', **asdict(self.residual_config)}}

    def parameter_count(self) -> int:
        """Return the number of parameters of base and residual (the doubt ensemble not)."""
        return sum(p.numel() for name, p in self.named_parameters()
                   if not name.startswith('doubt.'))


def save_residual(policy: ResidualGmm, path: Path | str) -> Path:
    """Write a residual policy's checkpoint (``RESIDUAL_FORMAT``) in one step; return the path."""
    doubt = getattr(policy, 'doubt', None)
    data = {'format': RESIDUAL_FORMAT, 'kind': policy.kind,
            'config': _plain(asdict(policy.config)),
            'residual_config': _plain(asdict(policy.residual_config)),
            'spec': policy.spec.to_dict(),
            'state_dict': {k: v.detach().cpu().clone() for k, v in policy.state_dict().items()
                           if not k.startswith('doubt.')},
            'doubt': None if doubt is None else {
                'config': _plain(asdict(doubt.config)),
                'state_dict': {k: v.detach().cpu().clone()
                               for k, v in doubt.state_dict().items()}}}
    buffer = io.BytesIO()
    torch.save(data, buffer)
    return write_atomic(Path(path), buffer.getvalue())


def load_residual(data: dict, path: Path) -> ResidualGmm:
    """Rebuild a residual policy from a loaded ``RESIDUAL_FORMAT`` checkpoint dictionary."""
    try:
        spec = PolicySpec.from_dict(data['spec'])
        base = make_policy('gmm', spec, data['config'])
        policy = ResidualGmm.from_base(base, ResidualConfig(**{
            k: tuple(v) if isinstance(v, list) else v
            for k, v in data['residual_config'].items()}))
        policy.load_state_dict(data['state_dict'], strict=False)
        if data.get('doubt') is not None:
            doubt = DoubtEnsemble(spec, DoubtConfig(**{
                k: tuple(v) if isinstance(v, list) else v
                for k, v in data['doubt']['config'].items()}))
            doubt.load_state_dict(data['doubt']['state_dict'])
            policy.attach_doubt(doubt)
    except (KeyError, TypeError, ValueError, RuntimeError, ConfigError) as exc:
        raise ModelError(f'{path} does not hold a consistent residual gmm policy '
                         f'({exc.__class__.__name__}: {exc}); fine-tune again from the base '
                         'checkpoint') from exc
    policy.freeze_base()
    return policy.eval()


def _plain(value: object) -> object:
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value
