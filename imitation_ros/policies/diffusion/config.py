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


"""Options of the ``diffusion`` kind."""

from __future__ import annotations

from dataclasses import dataclass

from ...errors import ConfigError


@dataclass(frozen=True)
class DiffusionConfig:
    """Settings of the diffusion policy (DDPM training, DDIM sampling, action chunks)."""

    horizon: int = 8
    """Actions predicted per chunk H."""
    execute: int = 4
    """Actions executed before re-planning k (receding horizon), 1 <= k <= H."""
    train_steps: int = 100
    """Diffusion timesteps of the DDPM forward process."""
    sample_steps: int = 10
    """DDIM steps at run time."""
    hidden: tuple[int, ...] = (256, 256, 256)
    """Hidden widths of the noise-prediction network."""
    time_dim: int = 32
    """Width of the sinusoidal timestep embedding."""
    clip: float = 5.0
    """Clip of the predicted clean sample (normalized units)."""

    def __post_init__(self) -> None:
        if not 1 <= self.execute <= self.horizon:
            raise ConfigError(f'diffusion needs 1 <= execute <= horizon, got {self.execute}, '
                              f'{self.horizon}')
        if not 1 <= self.sample_steps <= self.train_steps:
            raise ConfigError('diffusion needs 1 <= sample_steps <= train_steps')
