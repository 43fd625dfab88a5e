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


"""The ``ar`` kind at run time: temperature-scaled Gumbel noise into the decode graph (numpy)."""

from __future__ import annotations

from typing import Any, Mapping, Optional

import numpy as np

from ...errors import ConfigError
from ..kind import KindRuntime, noise_array, positive_int, Run, Shape


class ArRuntime(KindRuntime):
    """
    Graph: observation, ``gumbel`` (B, n, bins) -> ``action`` (B, n) absolute.

    The whole decode is in the graph: it takes argmax(logits + gumbel) per
    dimension. Zero noise is the most probable bin; temperature T > 0 samples
    with T times standard Gumbel noise. Noise: the ``gumbel`` input itself,
    already scaled.
    """

    @classmethod
    def graph_io(cls, n: int, horizon: int, config: Mapping[str, Any],
                 variant: str) -> tuple[dict[str, Shape], dict[str, Shape]]:
        """Return the ``gumbel`` input and the ``action`` output."""
        return {'gumbel': ['B', n, positive_int(config, 'bins')]}, {'action': ['B', n]}

    def configure(self, mode: Optional[str] = None, temperature: Optional[float] = None) -> None:
        """Set the sampling temperature (0: most probable bin)."""
        super().configure(mode, temperature)
        if not (np.isfinite(self.temperature) and self.temperature >= 0):
            raise ConfigError(f'ar temperature must be >= 0 (0: most probable bin), got '
                              f'{self.temperature}')

    def noise_shape(self, batch: int) -> Optional[tuple[int, ...]]:
        """Return the shape of the ``gumbel`` input, (B, n, bins)."""
        return self.shape('gumbel', batch)

    def draw_noise(self, rng: np.random.Generator, batch: int) -> Any:
        """Draw temperature-scaled Gumbel noise from ``rng``."""
        return (max(self.temperature, 0.0)
                * rng.gumbel(size=self.noise_shape(batch))).astype(np.float32)

    def forward(self, run: Run, feeds: dict, state: np.ndarray, noise: Any,
                rng: np.random.Generator) -> np.ndarray:
        """Return the decoded actions, (B, n) float64."""
        shape = self.noise_shape(len(state))
        if noise is not None:
            gumbel = noise_array(noise, shape, 'ar gumbel')
        elif self.temperature > 0:
            gumbel = (self.temperature * rng.gumbel(size=shape)).astype(np.float32)
        else:
            gumbel = np.zeros(shape, np.float32)
        feeds['gumbel'] = gumbel
        return run(feeds)[0].astype(np.float64)

    def fill_bound(self, bound: dict[str, np.ndarray], rng: np.random.Generator) -> None:
        """Draw one call's Gumbel noise into the bound input (left at zero for T = 0)."""
        if self.temperature > 0:
            gumbel = bound['gumbel']
            gumbel[...] = self.temperature * rng.gumbel(size=gumbel.shape)
