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


"""Options of the ``gmm`` kind."""

from __future__ import annotations

from dataclasses import dataclass

from ...errors import ConfigError


@dataclass(frozen=True)
class GmmConfig:
    """Settings of the Gaussian mixture (mixture density network) policy."""

    components: int = 5
    """Number of mixture components K."""
    hidden: tuple[int, ...] = (256, 256, 256)
    """Hidden layer widths."""
    min_log_std: float = -3.0
    """Lower bound of each component's log std (normalized units)."""
    mode: str = 'argmax'
    """Run-time default: 'argmax' (most probable component's mean) or 'sample'."""

    def __post_init__(self) -> None:
        if self.components < 1:
            raise ConfigError('gmm components must be >= 1')
        if self.mode not in ('argmax', 'sample'):
            raise ConfigError(f"gmm mode must be 'argmax' or 'sample', got {self.mode!r}")
