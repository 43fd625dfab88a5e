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


"""The ``ar`` kind's torch model: each action dimension discretized, decoded in order."""

from __future__ import annotations

from typing import Optional

import torch
from torch import nn
import torch.nn.functional as F

from ..base import Batch, mlp, Policy, PolicySpec
from .config import ArConfig


class _ArSampler(nn.Module):
    """Export graph of the AR policy: the whole decode, noise given as an input."""

    def __init__(self, policy: 'ArPolicy') -> None:
        super().__init__()
        self.policy = policy

    def forward(self, state: torch.Tensor, task: torch.Tensor, gumbel: torch.Tensor,
                image: Optional[torch.Tensor] = None) -> torch.Tensor:
        z = self.policy.decode(state, task, gumbel, image)
        return self.policy.scaler.denormalize(z, state)


class ArPolicy(Policy):
    """
    Version 1: each action dimension discretized, p(a1) p(a2 | a1) p(a3 | a1, a2).

    A shared trunk encodes the observation; one head per dimension sees the
    trunk features and the values already chosen for earlier dimensions.
    """

    kind = 'ar'

    def __init__(self, spec: PolicySpec, config: ArConfig = ArConfig()) -> None:
        """Create the network."""
        super().__init__(spec, config)
        n = spec.n_joints
        width = config.hidden[-1]
        self.trunk = mlp([self.encoder.out_dim, *config.hidden], out_activation=True)
        self.heads = nn.ModuleList(
            mlp([width + d, config.head_hidden, config.bins]) for d in range(n))
        edges = torch.linspace(-config.bound, config.bound, config.bins + 1)
        self.register_buffer('edges', edges, persistent=False)
        self.register_buffer('centers', 0.5 * (edges[1:] + edges[:-1]))

    def to_bins(self, z: torch.Tensor) -> torch.Tensor:
        """Map normalized values (B, n) to bin indices (B, n)."""
        c = self.config
        idx = torch.floor((z.clamp(-c.bound, c.bound - 1e-6) + c.bound) / (2 * c.bound) * c.bins)
        return idx.long().clamp(0, c.bins - 1)

    def loss(self, batch: Batch) -> torch.Tensor:
        """Return the per-sample cross-entropy summed over dimensions (teacher forcing), (B,)."""
        target = self.scaler.normalize(batch.action[:, 0], batch.state)
        bins = self.to_bins(target)
        prev = self.centers[bins]
        h = self.trunk(self.encoder(batch.state, batch.task, batch.image))
        total = torch.zeros(target.shape[0], device=target.device)
        soft = self.gauss_targets(target) if self.config.label_sigma > 0 else None
        for d, head in enumerate(self.heads):
            logits = head(torch.cat([h, prev[:, :d]], dim=-1))
            if soft is None:
                total = total + F.cross_entropy(logits, bins[:, d], reduction='none',
                                                label_smoothing=self.config.label_smoothing)
            else:
                total = total - (soft[:, d] * F.log_softmax(logits, dim=-1)).sum(dim=-1)
        return total

    def gauss_targets(self, z: torch.Tensor) -> torch.Tensor:
        """Return HL-Gauss target probabilities (B, n, bins) for normalized values (B, n)."""
        c = self.config
        sigma = c.label_sigma * 2 * c.bound / c.bins
        z = z.clamp(-c.bound, c.bound).unsqueeze(-1)
        cdf = torch.special.ndtr((self.edges - z) / sigma)
        mass = cdf[..., 1:] - cdf[..., :-1]
        return mass / mass.sum(dim=-1, keepdim=True).clamp_min(1e-12)

    def decode(self, state: torch.Tensor, task: torch.Tensor, gumbel: torch.Tensor,
               image: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Decode dimension by dimension: argmax(logits + gumbel); returns normalized (B, n)."""
        h = self.trunk(self.encoder(state, task, image))
        chosen: list[torch.Tensor] = []
        out: list[torch.Tensor] = []
        bins = torch.arange(self.config.bins, device=h.device)
        for d, head in enumerate(self.heads):
            logits = head(torch.cat([h, *chosen], dim=-1))
            idx = torch.argmax(logits + gumbel[:, d], dim=-1)
            chosen.append(self.centers[idx].unsqueeze(-1))
            if self.config.refine:
                near = ((bins.unsqueeze(0) - idx.unsqueeze(-1)).abs()
                        <= self.config.refine).to(logits.dtype)
                # Softmax restricted to the window around the chosen bin.
                w = torch.softmax(logits - (1.0 - near) * 1e9, dim=-1)
                out.append((w * self.centers).sum(dim=-1, keepdim=True))
            else:
                out.append(chosen[-1])
        return torch.cat(out, dim=-1)

    def export_module(self, variant: str = 'default') -> nn.Module:
        """Return the graph exported to ONNX (the full decode; Gumbel noise an input)."""
        return _ArSampler(self)
