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
The policy's risk: a small classifier of "trouble ahead" from the observation.

One MLP maps the normalized observation features (the policy's own
:func:`~imitation_ros.policies.base.observation_features`, no camera) to the
probability that, under the policy that drove when the data was recorded, a
human takes over or the episode fails within a horizon (the labels and the
training loop live in :mod:`imitation_ros.training.risk`). Where the doubt
ensemble (:mod:`~imitation_ros.policies.ensemble`) says "I have not seen this",
the risk says "from states like this one, things went wrong". The exported
graph maps (state (B, n) rad, task (B, k)) to ``risk`` (B,), a probability.
"""

from __future__ import annotations

from typing import Optional, Sequence

import numpy as np
import torch
from torch import nn

from .base import observation_features


class RiskNet(nn.Module):
    """
    Observation -> probability of a takeover or failure within the horizon.

    :param link_lengths: planar link lengths (m) for the forward-kinematics
        features, or None for the raw [q, task] features.
    :param feature_mean: mean of the features, (D,); ``feature_std`` (D,) their std.
    :param hidden: hidden layer widths.
    :param seed: seed of the initialization (a private generator).
    """

    def __init__(self, link_lengths: Optional[Sequence[float]], feature_mean: np.ndarray,
                 feature_std: np.ndarray, hidden: Sequence[int] = (64, 64),
                 seed: int = 0) -> None:
        """Create the network."""
        super().__init__()
        self.link_lengths = (None if link_lengths is None
                             else tuple(float(v) for v in link_lengths))
        mean = torch.as_tensor(np.asarray(feature_mean, np.float32))
        std = torch.as_tensor(np.maximum(np.asarray(feature_std, np.float32), 1e-6))
        self.register_buffer('feature_mean', mean)
        self.register_buffer('feature_std', std)
        sizes = [int(mean.numel()), *(int(h) for h in hidden), 1]
        gen = torch.Generator().manual_seed(int(seed) + 104729)
        layers: list[nn.Module] = []
        for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
            layer = nn.Linear(fan_in, fan_out)
            bound = 1.0 / float(np.sqrt(fan_in))
            with torch.no_grad():
                layer.weight.copy_((torch.rand(fan_out, fan_in, generator=gen) * 2 - 1) * bound)
                layer.bias.copy_((torch.rand(fan_out, generator=gen) * 2 - 1) * bound)
            layers.append(layer)
            if i < len(sizes) - 2:
                layers.append(nn.ReLU())
        self.net = nn.Sequential(*layers)

    @staticmethod
    def raw_features(state: torch.Tensor, task: torch.Tensor,
                     link_lengths: Optional[Sequence[float]]) -> torch.Tensor:
        """Return the unnormalized features, (B, D)."""
        return observation_features(state, task, None if link_lengths is None
                                    else tuple(link_lengths))

    def logits(self, state: torch.Tensor, task: torch.Tensor) -> torch.Tensor:
        """Return the logit of the risk, (B,)."""
        x = (self.raw_features(state, task, self.link_lengths) - self.feature_mean) \
            / self.feature_std
        return self.net(x).squeeze(-1)

    def forward(self, state: torch.Tensor, task: torch.Tensor) -> torch.Tensor:
        """Return the risk, (B,), a probability in [0, 1]."""
        return torch.sigmoid(self.logits(state, task))

    def parameter_count(self) -> int:
        """Return the number of trainable parameters."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad)
