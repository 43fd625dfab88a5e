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


"""The ``mse`` kind's torch model: version 0 behavioral cloning."""

from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from ..base import Batch, mlp, Policy, PolicySpec
from .config import MseConfig


class MsePolicy(Policy):
    """Version 0 behavioral cloning: a deterministic MLP trained with mean squared error."""

    kind = 'mse'

    def __init__(self, spec: PolicySpec, config: MseConfig = MseConfig()) -> None:
        """Create the network."""
        super().__init__(spec, config)
        self.net = mlp([self.encoder.out_dim, *config.hidden, spec.n_joints])

    def loss(self, batch: Batch) -> torch.Tensor:
        """Return per-sample mean squared error in normalized units, (B,)."""
        target = self.scaler.normalize(batch.action[:, 0], batch.state)
        pred = self.net(self.encoder(batch.state, batch.task, batch.image))
        return ((pred - target) ** 2).mean(dim=-1)

    def forward(self, state: torch.Tensor, task: torch.Tensor,
                image: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Return the absolute joint target, (B, n)."""
        z = self.net(self.encoder(state, task, image))
        return self.scaler.denormalize(z, state)

    def export_module(self, variant: str = 'default') -> nn.Module:
        """Return the module exported to ONNX (this one)."""
        return self
