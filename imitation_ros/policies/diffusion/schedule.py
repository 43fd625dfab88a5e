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
The diffusion noise schedule, the DDIM timesteps and one DDIM update (numpy only).

:meth:`~imitation_ros.policies.diffusion.model.DiffusionPolicy.sample` and the
runtime's denoiser loop use the same functions, so both produce the same chunk
from the same noise.
"""

from __future__ import annotations

import math

import numpy as np


def cosine_alphas_cumprod(steps: int) -> np.ndarray:
    """Return the squared-cosine noise schedule (Nichol & Dhariwal), alpha-bar per step."""
    s = 0.008
    x = np.linspace(0, steps, steps + 1)
    ac = np.cos(((x / steps) + s) / (1 + s) * math.pi * 0.5) ** 2
    ac = ac / ac[0]
    betas = np.clip(1 - ac[1:] / ac[:-1], 0, 0.999)
    return np.cumprod(1.0 - betas)


def ddim_timesteps(train_steps: int, sample_steps: int) -> np.ndarray:
    """Return the DDIM timesteps, descending, (sample_steps,)."""
    return (np.arange(sample_steps)[::-1] * (train_steps // sample_steps)).astype(np.int64)


def ddim_schedule(train_steps: int, sample_steps: int) -> list[tuple[int, float, float]]:
    """
    Return the DDIM loop as (timestep, alpha-bar at it, alpha-bar of the next step).

    The last step goes to alpha-bar 1 (the clean sample).
    """
    ts = ddim_timesteps(train_steps, sample_steps)
    ac = cosine_alphas_cumprod(train_steps)
    out = []
    for i, t in enumerate(ts):
        a_prev = float(ac[ts[i + 1]]) if i + 1 < len(ts) else 1.0
        out.append((int(t), float(ac[t]), a_prev))
    return out


def ddim_step(x: np.ndarray, eps: np.ndarray, a_t: float, a_prev: float,
              clip: float) -> np.ndarray:
    """
    Take one deterministic DDIM step from ``x`` given the predicted noise ``eps``.

    Predicts the clean sample, clips it to [-clip, clip] (normalized units),
    recomputes the noise consistent with the clipped sample and moves to
    alpha-bar ``a_prev``. Works in the dtype of ``x`` (float32 like the graph).
    """
    x0 = np.clip((x - math.sqrt(1 - a_t) * eps) / math.sqrt(a_t), -clip, clip)
    e = (x - math.sqrt(a_t) * x0) / math.sqrt(1 - a_t)
    return math.sqrt(a_prev) * x0 + math.sqrt(1 - a_prev) * e
