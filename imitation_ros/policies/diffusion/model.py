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


"""The ``diffusion`` kind's torch model: DDPM over action chunks, DDIM sampling."""

from __future__ import annotations

import math
from typing import Optional

import torch
from torch import nn

from ...errors import ConfigError
from ..base import Batch, mlp, Policy, PolicySpec, sinusoidal_embedding
from .config import DiffusionConfig
from .schedule import cosine_alphas_cumprod, ddim_schedule


class _Denoiser(nn.Module):
    """Export graph: one noise prediction."""

    def __init__(self, policy: 'DiffusionPolicy') -> None:
        super().__init__()
        self.policy = policy

    def forward(self, state: torch.Tensor, task: torch.Tensor, sample: torch.Tensor,
                timestep: torch.Tensor, image: Optional[torch.Tensor] = None) -> torch.Tensor:
        cond = self.policy.encoder(state, task, image)
        return self.policy.eps(sample, timestep, cond)


class _Sampler(nn.Module):
    """Export graph: the whole fixed-step DDIM sampler, initial noise as an input."""

    def __init__(self, policy: 'DiffusionPolicy') -> None:
        super().__init__()
        self.policy = policy

    def forward(self, state: torch.Tensor, task: torch.Tensor, noise: torch.Tensor,
                image: Optional[torch.Tensor] = None) -> torch.Tensor:
        z = self.policy.sample(state, task, noise, image)
        return self.policy.scaler.denormalize(z, state)


class DiffusionPolicy(Policy):
    """Version 1: DDPM with noise prediction over action chunks, DDIM at run time."""

    kind = 'diffusion'

    def __init__(self, spec: PolicySpec, config: DiffusionConfig = DiffusionConfig()) -> None:
        """Create the network."""
        super().__init__(spec, config)
        self.horizon = config.horizon
        flat = config.horizon * spec.n_joints
        self.net = mlp([flat + config.time_dim + self.encoder.out_dim, *config.hidden, flat])
        ac = cosine_alphas_cumprod(config.train_steps)
        self.register_buffer('alphas_cumprod', torch.tensor(ac, dtype=torch.float32))

    def eps(self, sample: torch.Tensor, timestep: torch.Tensor,
            cond: torch.Tensor) -> torch.Tensor:
        """Predict the noise in ``sample`` (B, H, n) at ``timestep`` (B,)."""
        b = sample.shape[0]
        temb = sinusoidal_embedding(timestep, self.config.time_dim)
        x = torch.cat([sample.reshape(b, -1), temb, cond], dim=-1)
        return self.net(x).reshape(sample.shape)

    def loss(self, batch: Batch) -> torch.Tensor:
        """Return the per-sample noise-prediction MSE at a random timestep, (B,)."""
        x0 = self.scaler.normalize(batch.action, batch.state)
        b = x0.shape[0]
        t = torch.randint(0, self.config.train_steps, (b,), device=x0.device)
        noise = torch.randn_like(x0)
        ac = self.alphas_cumprod[t].view(b, 1, 1)
        xt = ac.sqrt() * x0 + (1 - ac).sqrt() * noise
        cond = self.encoder(batch.state, batch.task, batch.image)
        return ((self.eps(xt, t, cond) - noise) ** 2).mean(dim=(1, 2))

    def sample(self, state: torch.Tensor, task: torch.Tensor, noise: torch.Tensor,
               image: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Deterministic DDIM from ``noise`` (B, H, n); returns normalized chunk (B, H, n)."""
        cond = self.encoder(state, task, image)
        x = noise
        for t, a_t, a_prev in ddim_schedule(self.config.train_steps, self.config.sample_steps):
            tt = torch.full((x.shape[0],), t, dtype=torch.int64)
            e = self.eps(x, tt, cond)
            x0 = ((x - math.sqrt(1 - a_t) * e) / math.sqrt(a_t)).clamp(
                -self.config.clip, self.config.clip)
            e = (x - math.sqrt(a_t) * x0) / math.sqrt(1 - a_t)
            x = math.sqrt(a_prev) * x0 + math.sqrt(1 - a_prev) * e
        return x

    def export_module(self, variant: str = 'sampler') -> nn.Module:
        """Return the graph exported to ONNX: 'sampler' (whole DDIM) or 'denoiser'."""
        if variant == 'sampler':
            return _Sampler(self)
        if variant == 'denoiser':
            return _Denoiser(self)
        raise ConfigError(f"diffusion export variant must be 'sampler' or 'denoiser': {variant}")
