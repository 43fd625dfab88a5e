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


"""The ``diffusion`` kind at run time: initial noise, and the DDIM loop of the denoiser (numpy)."""

from __future__ import annotations

from typing import Any, Mapping, Optional

import numpy as np

from ...errors import ConfigError
from ..kind import KindRuntime, metadata_int, ModelInfo, noise_array, Run, Shape
from .schedule import ddim_schedule, ddim_step


class DiffusionRuntime(KindRuntime):
    """
    Chunks of ``horizon`` actions from initial noise (B, H, n) in normalized units.

    Two exports: 'sampler' (observation, ``noise`` -> ``actions`` (B, H, n)
    absolute: the whole DDIM in the graph) and 'denoiser' (observation,
    ``sample`` (B, H, n), ``timestep`` (B,) int64 -> ``eps``: one noise
    prediction; the DDIM loop runs here, ``ddim_steps`` graph calls per chunk).
    Noise: the initial sample, standard normal.
    """

    chunked = True
    variants = ('sampler', 'denoiser')
    metadata_keys = ('ddim_steps', 'train_steps', 'ddim_clip')
    input_types = {'timestep': 'tensor(int64)'}

    @classmethod
    def graph_io(cls, n: int, horizon: int, config: Mapping[str, Any],
                 variant: str) -> tuple[dict[str, Shape], dict[str, Shape]]:
        """Return the inputs and outputs of the variant."""
        if variant == 'sampler':
            return {'noise': ['B', horizon, n]}, {'actions': ['B', horizon, n]}
        return ({'sample': ['B', horizon, n], 'timestep': ['B']},
                {'eps': ['B', horizon, n]})

    @classmethod
    def export_metadata(cls, config: Mapping[str, Any]) -> dict[str, str]:
        """Return the DDIM schedule: ``ddim_steps``, ``train_steps``, ``ddim_clip``."""
        return {'ddim_steps': str(int(config['sample_steps'])),
                'train_steps': str(int(config['train_steps'])),
                'ddim_clip': repr(float(config['clip'])), 'noise_schedule': 'cosine'}

    def __init__(self, info: ModelInfo) -> None:
        """Read the DDIM schedule from the metadata."""
        super().__init__(info)
        steps = metadata_int(info.metadata, 'ddim_steps')
        train = metadata_int(info.metadata, 'train_steps')
        if not 1 <= steps <= train:
            raise ConfigError(f'ddim_steps {steps} must be in 1..train_steps ({train})')
        clip = info.metadata['ddim_clip']
        try:
            self.clip = float(clip)
        except ValueError as exc:
            raise ConfigError(f'ddim_clip must be a number, got {clip!r}') from exc
        self.schedule = ddim_schedule(train, steps)

    def noise_shape(self, batch: int) -> Optional[tuple[int, ...]]:
        """Return the shape of the initial noise, (B, horizon, n)."""
        return (batch, self.horizon, self.n)

    def draw_noise(self, rng: np.random.Generator, batch: int) -> Any:
        """Draw standard normal initial noise from ``rng``."""
        return rng.standard_normal(self.noise_shape(batch)).astype(np.float32)

    def forward(self, run: Run, feeds: dict, state: np.ndarray, noise: Any,
                rng: np.random.Generator) -> np.ndarray:
        """Return the predicted chunks, (B, horizon, n) float64, absolute."""
        b = len(state)
        shape = self.noise_shape(b)
        x = (noise_array(noise, shape, 'diffusion') if noise is not None
             else rng.standard_normal(shape).astype(np.float32))
        if self.info.variant == 'sampler':
            feeds['noise'] = x
            return run(feeds)[0].astype(np.float64)
        for step, a_t, a_prev in self.schedule:
            feeds['sample'] = x
            feeds['timestep'] = np.full(b, step, dtype=np.int64)
            x = ddim_step(x, run(feeds)[0], a_t, a_prev, self.clip)
        chunk = x * self.info.action_std + self.info.action_mean + state[:, None, :]
        return chunk.astype(np.float64)
