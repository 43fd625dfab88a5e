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


"""The ``gmm`` kind at run time: pick a mixture component, then its mean or a sample (numpy)."""

from __future__ import annotations

from typing import Any, Mapping, Optional

import numpy as np

from ...errors import ConfigError
from ..kind import KindRuntime, positive_int, Run, Shape


def gmm_select(log_weights: np.ndarray, means: np.ndarray, stds: np.ndarray, *,
               mode: str, uniform: np.ndarray, normal: np.ndarray) -> np.ndarray:
    """
    Pick actions from mixture parameters (shared by the runtime and the parity tests).

    :param log_weights: (B, K); ``means``, ``stds``: (B, K, n) absolute.
    :param mode: 'argmax' (mean of the most probable component) or 'sample'.
    :param uniform: (B,) in [0, 1), picks the component when sampling.
    :param normal: (B, n) standard normal noise for the within-component sample.
    :returns: (B, n) absolute joint targets.
    """
    if mode == 'argmax':
        k = np.argmax(log_weights, axis=-1)
        return means[np.arange(len(k)), k]
    w = np.exp(log_weights - log_weights.max(axis=-1, keepdims=True))
    cdf = np.cumsum(w / w.sum(axis=-1, keepdims=True), axis=-1)
    k = np.minimum((cdf < uniform[:, None]).sum(axis=-1), cdf.shape[-1] - 1)
    idx = np.arange(len(k))
    return means[idx, k] + stds[idx, k] * normal


class GmmRuntime(KindRuntime):
    """
    Graph: observation -> ``log_weights`` (B, K), ``means`` and ``stds`` (B, K, n) absolute.

    Noise (used in 'sample' mode): a tuple (uniform (B,) in [0, 1), standard
    normal (B, n)).
    """

    @classmethod
    def graph_io(cls, n: int, horizon: int, config: Mapping[str, Any],
                 variant: str) -> tuple[dict[str, Shape], dict[str, Shape]]:
        """Return no inputs of its own and the three mixture outputs."""
        c = positive_int(config, 'components')
        return {}, {'log_weights': ['B', c], 'means': ['B', c, n], 'stds': ['B', c, n]}

    def configure(self, mode: Optional[str] = None, temperature: Optional[float] = None) -> None:
        """Set the selection mode: 'argmax' or 'sample'."""
        super().configure(mode, temperature)
        if self.mode not in ('argmax', 'sample'):
            raise ConfigError(f"gmm mode must be 'argmax' or 'sample', got {self.mode!r}")

    def draw_noise(self, rng: np.random.Generator, batch: int) -> Any:
        """Draw (uniform (B,), normal (B, n)) from ``rng``."""
        return rng.random(batch), rng.standard_normal((batch, self.n))

    def zero_noise(self, batch: int) -> Any:
        """Return a mid-range uniform and zero normal noise."""
        return np.full(batch, 0.5), np.zeros((batch, self.n))

    def one_noise(self, noise: Any) -> Any:
        """Return (uniform, normal) for one observation with the batch axis."""
        if noise is None:
            return None
        uniform, normal = noise
        return np.reshape(uniform, (1,)), np.reshape(normal, (1, -1))

    def forward(self, run: Run, feeds: dict, state: np.ndarray, noise: Any,
                rng: np.random.Generator) -> np.ndarray:
        """Return the chosen actions, (B, n) float64."""
        b, n = state.shape
        log_w, means, stds = run(feeds)
        if self.mode == 'sample':
            if noise is None:
                uniform, normal = rng.random(b), rng.standard_normal((b, n))
            else:
                uniform, normal = (np.asarray(v, dtype=np.float64) for v in noise)
                if uniform.shape != (b,) or normal.shape != (b, n):
                    raise ConfigError(f'gmm noise must be (uniform ({b},), normal ({b}, {n}))'
                                      f', got {uniform.shape}, {normal.shape}')
        else:
            uniform, normal = np.zeros(b), np.zeros((b, n))
        return gmm_select(log_w.astype(np.float64), means.astype(np.float64),
                          stds.astype(np.float64), mode=self.mode, uniform=uniform,
                          normal=normal)

    def single_action(self, outputs: list, rng: np.random.Generator) -> np.ndarray:
        """Return the chosen action (n,) float64 from batch-1 mixture outputs."""
        log_w, means, stds = outputs
        if self.mode == 'argmax':
            # gmm_select's argmax on the float64 copies picks the same component (the
            # cast is exact and keeps the order and ties), so skip copying (K, n) arrays.
            return means[0, int(np.argmax(log_w[0]))].astype(np.float64)
        uniform, normal = rng.random(1), rng.standard_normal((1, self.n))
        return gmm_select(log_w.astype(np.float64), means.astype(np.float64),
                          stds.astype(np.float64), mode='sample', uniform=uniform,
                          normal=normal)[0]
