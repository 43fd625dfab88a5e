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
The beta schedule of DAgger: how often the expert's action is executed in round i.

DAgger (Ross et al., 2011) runs the mixture policy pi_i = beta_i pi* + (1 - beta_i) pi_hat_i
in round i. Two presets:

- ``dagger``: beta_i = p ** (i + 1) with p = 0.5: the original paper's beta_i = p^(i-1),
  whose first iteration (beta = 1, pure expert) is the behavioral-cloning dataset here, so
  round 0 (the first round that runs a learned policy) gets p.
- ``hg_dagger``: beta_i = 0.85 ** (i + 1) (the decay per epoch used in the HG-DAgger paper's
  DAgger baseline).
- ``constant``: beta_i = p for every round (p = 0 is "pure" DAgger: never execute the expert).

The mixing is per control decision: each new command independently comes from the expert
with probability beta_i.
"""

from __future__ import annotations

from dataclasses import dataclass

from imitation_ros.errors import ConfigError

PRESETS = ('dagger', 'hg_dagger', 'constant')
DEFAULT_P = {'dagger': 0.5, 'hg_dagger': 0.85, 'constant': 0.0}


@dataclass(frozen=True)
class BetaSchedule:
    """
    A beta schedule: ``beta(i)`` in [0, 1] for round i >= 0 (dimensionless probability).

    ``kind`` is one of :data:`PRESETS`; ``p`` is the decay base (``dagger``, ``hg_dagger``)
    or the constant value (``constant``).
    """

    kind: str = 'dagger'
    p: float = 0.5

    def __post_init__(self) -> None:
        """Reject unknown presets and p outside [0, 1]."""
        if self.kind not in PRESETS:
            raise ConfigError(f'unknown beta schedule {self.kind!r}; use one of '
                              f'{", ".join(PRESETS)}')
        if not 0.0 <= float(self.p) <= 1.0:
            raise ConfigError(f'beta schedule p must be in [0, 1], got {self.p}; '
                              'it is a probability (constant) or a decay base (per round)')

    @staticmethod
    def preset(kind: str, p: float | None = None) -> BetaSchedule:
        """Return the preset ``kind`` with its documented default ``p`` unless given."""
        if kind not in PRESETS:
            raise ConfigError(f'unknown beta schedule {kind!r}; use one of {", ".join(PRESETS)}')
        return BetaSchedule(kind, DEFAULT_P[kind] if p is None else float(p))

    def beta(self, round_index: int) -> float:
        """Return beta for round ``round_index`` (0 = the first round after BC)."""
        if round_index < 0:
            raise ConfigError(f'round index must be >= 0, got {round_index}')
        if self.kind == 'constant':
            return float(self.p)
        return float(self.p) ** (round_index + 1)

    def describe(self) -> str:
        """Return a one-line description for logs and results tables."""
        if self.kind == 'constant':
            return f'beta = {self.p:g} every round'
        return f'beta_i = {self.p:g}^(i+1) ({self.kind})'
