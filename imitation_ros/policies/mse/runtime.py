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


"""The ``mse`` kind at run time: one deterministic action per observation (numpy)."""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from ...errors import ConfigError
from ..kind import KindRuntime, Run, Shape


class MseRuntime(KindRuntime):
    """Graph: observation -> ``action`` (B, n) absolute; no noise."""

    @classmethod
    def graph_io(cls, n: int, horizon: int, config: Mapping[str, Any],
                 variant: str) -> tuple[dict[str, Shape], dict[str, Shape]]:
        """Return no inputs of its own and the ``action`` output."""
        return {}, {'action': ['B', n]}

    def forward(self, run: Run, feeds: dict, state: np.ndarray, noise: Any,
                rng: np.random.Generator) -> np.ndarray:
        """Return the graph's actions, (B, n) float64."""
        if noise is not None:
            raise ConfigError('an mse policy is deterministic; pass noise=None')
        return run(feeds)[0].astype(np.float64)
