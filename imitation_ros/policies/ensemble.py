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
The policy's own doubt: a small ensemble trained next to it, exported in the same file.

K small MLPs ("members") regress the normalized relative action (the first
action of the chunk, ``(a - q - mean) / std``) from the normalized observation
features (the same features the policy sees, without camera features). Each
member starts from its own random initialization and sees its own bootstrap of
every batch, so the members agree where the data is dense and extrapolate
differently away from it. The doubt of an observation is the disagreement of
the members::

    doubt = sqrt(mean over joints of (variance over members of the predicted
                 normalized action))

in units of the action normalization's standard deviation (a dimensionless
number: a few hundredths on familiar states, growing without bound away from
the data). It measures how far from the training data an
observation is (epistemic uncertainty), not how many ways the demonstrators
went (two modes of equal weight make every member predict their average).

All K members train as one batched network (grouped weights, one batched
matrix product per layer). For export they become one wide MLP with
block-diagonal weights whose last layer also subtracts the members' mean
(folded into the weights), so the exported doubt is six graph nodes: three
Gemm, two Relu, one ReduceL2 — about one extra small MLP per inference.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
import math
from typing import Optional

import torch
from torch import nn

from ..errors import ConfigError
from .base import observation_features, PolicySpec

#: What the exported ``doubt`` output is, written into the model metadata.
STATISTIC = ('sqrt(mean over joints of the variance over ensemble members of the predicted '
             'normalized relative action)')


@dataclass(frozen=True)
class DoubtConfig:
    """Settings of the doubt ensemble."""

    members: int = 5
    """Ensemble size K (>= 2)."""
    hidden: tuple[int, ...] = (64, 64)
    """Hidden layer widths of each member."""
    bootstrap: bool = True
    """Each member draws its own batch indices (a bootstrap of the training set)."""

    def __post_init__(self) -> None:
        if isinstance(self.members, bool) or not isinstance(self.members, int) \
                or self.members < 2:
            raise ConfigError(f'doubt ensemble needs >= 2 members (0 turns it off), got '
                              f'{self.members!r}')
        if not self.hidden or any(int(h) < 1 for h in self.hidden):
            raise ConfigError(f'doubt ensemble hidden widths must be positive, got '
                              f'{self.hidden!r}')
        object.__setattr__(self, 'hidden', tuple(int(h) for h in self.hidden))


class DoubtEnsemble(nn.Module):
    """
    K member MLPs over the normalized observation features, run as one batched network.

    :param spec: the policy's spec (feature normalization and action normalization).
    :param config: ensemble size and widths.
    :param seed: seed of the members' initialization (a private generator, so
        adding the ensemble does not change the policy's own random stream).
    """

    def __init__(self, spec: PolicySpec, config: DoubtConfig = DoubtConfig(),
                 seed: int = 0) -> None:
        """Create the members."""
        super().__init__()
        self.spec = spec
        self.config = config
        mean, std = spec.state_norm.tensors()
        self.register_buffer('obs_mean', mean)
        self.register_buffer('obs_std', std)
        amean, astd = spec.action_norm.tensors()
        self.register_buffer('act_mean', amean)
        self.register_buffer('act_std', astd)
        self.link_lengths = spec.link_lengths
        k = config.members
        sizes = [spec.obs_dim, *config.hidden, spec.n_joints]
        gen = torch.Generator().manual_seed(int(seed) + 7919)
        self.weights = nn.ParameterList()
        self.biases = nn.ParameterList()
        for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
            # The default nn.Linear initialization, drawn per member.
            bound = 1.0 / math.sqrt(fan_in)
            w = (torch.rand(k, fan_in, fan_out, generator=gen) * 2 - 1) * bound
            b = (torch.rand(k, 1, fan_out, generator=gen) * 2 - 1) * bound
            self.weights.append(nn.Parameter(w))
            self.biases.append(nn.Parameter(b))
        self.act = nn.ReLU()

    @property
    def members(self) -> int:
        """Return the ensemble size K."""
        return self.config.members

    def features(self, state: torch.Tensor, task: torch.Tensor) -> torch.Tensor:
        """Return the normalized observation features, (..., D)."""
        shape = state.shape[:-1]
        s = state.reshape(-1, state.shape[-1])
        t = task.reshape(-1, task.shape[-1])
        x = (observation_features(s, t, self.link_lengths) - self.obs_mean) / self.obs_std
        return x.reshape(*shape, x.shape[-1])

    def members_forward(self, x: torch.Tensor) -> torch.Tensor:
        """
        Run every member: ``x`` (B, D) shared or (K, B, D) per member -> (K, B, n).

        Normalized relative actions.
        """
        n_layers = len(self.weights)
        if x.dim() == 2:
            # Shared input: one matrix product against the members' first layers side by side.
            w0 = self.weights[0]
            k, d, h = w0.shape
            y = (x @ w0.permute(1, 0, 2).reshape(d, k * h)).reshape(-1, k, h)
            y = y.transpose(0, 1) + self.biases[0]
        else:
            y = torch.matmul(x, self.weights[0]) + self.biases[0]
        for i in range(1, n_layers):
            y = torch.matmul(self.act(y), self.weights[i]) + self.biases[i]
        return y

    def loss(self, state: torch.Tensor, task: torch.Tensor,
             action: torch.Tensor) -> torch.Tensor:
        """
        Return the members' mean squared error, summed over members, per sample (B,).

        :param state: (K, B, n) rad, one batch per member (or (B, n) shared);
            ``task`` (K, B, k) or (B, k); ``action`` the absolute first action,
            (K, B, n) or (B, n), rad.
        """
        target = (action - state - self.act_mean) / self.act_std
        pred = self.members_forward(self.features(state, task))
        if target.dim() == 2:
            target = target.unsqueeze(0)
        return ((pred - target) ** 2).mean(dim=-1).sum(dim=0)

    def forward(self, state: torch.Tensor, task: torch.Tensor) -> torch.Tensor:
        """Return the doubt of each observation, (B,) (see the module docstring)."""
        return self.from_features(self.features(state, task))

    def from_features(self, x: torch.Tensor) -> torch.Tensor:
        """Return the doubt, (B,), from normalized observation features ``x`` (B, D)."""
        pred = self.members_forward(x)
        dev = pred - pred.mean(dim=0, keepdim=True)
        return (dev ** 2).mean(dim=(0, 2)).sqrt()

    def export_module(self) -> nn.Module:
        """Return the graph exported to ONNX: features (B, D) -> doubt (B,), same numbers."""
        return _DenseDoubt(self)

    def parameter_count(self) -> int:
        """Return the number of trainable parameters."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad)

    def metadata(self) -> dict:
        """Return what the ensemble is, for the ``doubt`` key of the model file."""
        return {'method': 'ensemble', 'output': 'doubt', 'shape': ['B'],
                'statistic': STATISTIC, 'units': 'normalized action std (dimensionless)',
                'features': 'normalized observation features (no camera features)',
                'config': asdict(self.config), 'parameter_count': self.parameter_count()}


class _DenseDoubt(nn.Module):
    """The ensemble as one wide MLP: block-diagonal weights, mean removal folded into the last."""

    def __init__(self, ensemble: DoubtEnsemble) -> None:
        super().__init__()
        k, n = ensemble.members, ensemble.spec.n_joints
        with torch.no_grad():
            ws = [w.detach().cpu() for w in ensemble.weights]
            bs = [b.detach().cpu().reshape(k, -1) for b in ensemble.biases]
            weights = [ws[0].permute(1, 0, 2).reshape(ws[0].shape[1], -1)]
            weights += [torch.block_diag(*w) for w in ws[1:]]
            biases = [b.reshape(-1) for b in bs]
            # (I_K - 1/K) kron I_n: each member's prediction minus the members' mean,
            # scaled so that the L2 norm over the K * n values is the RMS deviation.
            centre = torch.kron(torch.eye(k) - torch.full((k, k), 1.0 / k), torch.eye(n))
            centre = centre / math.sqrt(k * n)
            weights[-1] = weights[-1] @ centre
            biases[-1] = biases[-1] @ centre
        self.layers = nn.ModuleList()
        for w, b in zip(weights, biases):
            layer = nn.Linear(w.shape[0], w.shape[1])
            with torch.no_grad():
                layer.weight.copy_(w.T)
                layer.bias.copy_(b)
            self.layers.append(layer)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i < len(self.layers) - 1:
                x = torch.relu(x)
        return torch.linalg.vector_norm(x, dim=-1)


class WithDoubt(nn.Module):
    """
    Export wrapper: the kind's graph plus the ensemble's ``doubt`` (B,) as the last output.

    With ``encoder`` (the policy's observation encoder), the ensemble reads the
    normalized features the policy computes anyway (the first D of the
    encoder's output, before any camera features) instead of computing them a
    second time; the numbers are the same.
    """

    def __init__(self, graph: nn.Module, doubt: DoubtEnsemble,
                 encoder: Optional[nn.Module] = None) -> None:
        """Wrap ``graph`` (the kind's export module) and ``doubt``."""
        super().__init__()
        self.graph = graph
        self.doubt = doubt
        self.dense = doubt.export_module()
        self.encoder = encoder

    def forward(self, state: torch.Tensor, task: torch.Tensor,
                *rest: Optional[torch.Tensor]) -> tuple[torch.Tensor, ...]:
        """Return the graph's outputs followed by the doubt."""
        seen: list[torch.Tensor] = []
        handle = None
        if self.encoder is not None:
            handle = self.encoder.register_forward_hook(
                lambda module, args, output: seen.append(output))
        try:
            out = self.graph(state, task, *rest)
        finally:
            if handle is not None:
                handle.remove()
        out = out if isinstance(out, tuple) else (out,)
        if seen and seen[0].shape[0] == state.shape[0]:
            features = seen[0][:, :self.doubt.spec.obs_dim]
        else:
            features = self.doubt.features(state, task)
        return (*out, self.dense(features))
