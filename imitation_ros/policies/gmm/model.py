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


"""The ``gmm`` kind's torch model: a mixture density network over the next action."""

from __future__ import annotations

import math
from typing import Optional

import torch
from torch import nn

from ..base import Batch, mlp, Policy, PolicySpec
from .config import GmmConfig


class _GmmHeads(nn.Module):
    """Export graph of the GMM: mixture parameters in absolute units."""

    def __init__(self, policy: 'GmmPolicy') -> None:
        super().__init__()
        self.policy = policy

    def forward(self, state: torch.Tensor, task: torch.Tensor,
                image: Optional[torch.Tensor] = None) -> tuple[torch.Tensor, ...]:
        logits, mu, log_std = self.policy.heads(state, task, image)
        scaler = self.policy.scaler
        means = mu * scaler.std + scaler.mean + state.unsqueeze(1)
        stds = torch.exp(log_std) * scaler.std
        return torch.log_softmax(logits, dim=-1), means, stds


class GmmPolicy(Policy):
    """Version 1: a mixture of K Gaussians trained by negative log-likelihood."""

    kind = 'gmm'

    def __init__(self, spec: PolicySpec, config: GmmConfig = GmmConfig()) -> None:
        """Create the network."""
        super().__init__(spec, config)
        k, n = config.components, spec.n_joints
        self.net = mlp([self.encoder.out_dim, *config.hidden, k * (1 + 2 * n)])

    def heads(self, state: torch.Tensor, task: torch.Tensor,
              image: Optional[torch.Tensor] = None) -> tuple[torch.Tensor, ...]:
        """Return logits (B, K), means (B, K, n) and log stds (B, K, n), normalized units."""
        k, n = self.config.components, self.spec.n_joints
        out = self.net(self.encoder(state, task, image))
        logits = out[:, :k]
        mu = out[:, k:k + k * n].reshape(-1, k, n)
        log_std = out[:, k + k * n:].reshape(-1, k, n).clamp(self.config.min_log_std, 2.0)
        return logits, mu, log_std

    def loss(self, batch: Batch) -> torch.Tensor:
        """Return the per-sample negative log-likelihood of the demonstrated action, (B,)."""
        target = self.scaler.normalize(batch.action[:, 0], batch.state)
        logits, mu, log_std = self.heads(batch.state, batch.task, batch.image)
        z = (target.unsqueeze(1) - mu) / torch.exp(log_std)
        log_prob = (-0.5 * z ** 2 - log_std - 0.5 * math.log(2 * math.pi)).sum(dim=-1)
        return -torch.logsumexp(torch.log_softmax(logits, dim=-1) + log_prob, dim=-1)

    def export_module(self, variant: str = 'default') -> nn.Module:
        """Return the graph exported to ONNX: log weights, means, stds (absolute)."""
        return _GmmHeads(self)
