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
Make any joint command safe to send: finite, inside the joint limits, small steps.

ros2_control's forward command controller acts on whatever arrives, NaN
included, and keeps acting on it; so every command that leaves the gate (and
every policy action in the sim evaluation) passes through :func:`safe_command`.
With a step bound, no command is ever farther than ``max_step`` from the
measured position, not even to get back inside the limits: an arm measured
outside them is led back at most ``max_step`` per call.
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from ..errors import ImitationError

#: Distance kept from each joint limit (rad), so tracking noise does not cross it.
LIMIT_MARGIN = 0.02


class LimitError(ImitationError, ValueError):
    """No safe command can be made: the measured positions are not finite."""


def safe_command(target: np.ndarray, measured: np.ndarray, lower: np.ndarray,
                 upper: np.ndarray, *, max_step: Optional[float] = None,
                 margin: float = LIMIT_MARGIN) -> tuple[np.ndarray, bool]:
    """
    Clamp ``target`` (n,) rad to the limits and to ``max_step`` rad from ``measured``.

    Per joint, the command is the point nearest to the target inside
    ``[lower + margin, upper - margin]`` and within ``max_step`` of ``measured``.
    When no point is both (``measured`` more than ``max_step`` outside the
    limits), the step bound wins: the command is ``max_step`` from ``measured``
    toward the limits. A target with NaN or Inf, or of the wrong shape, is
    replaced by the measured positions (a hold, clamped the same way).

    :param measured: measured joint positions, shape (n,), rad; must be finite.
    :param max_step: largest distance of the command from ``measured`` (rad); None: no bound.
    :returns: the command and whether it differs from the target.
    :raises LimitError: ``measured`` is not finite.
    """
    measured = np.asarray(measured, dtype=np.float64)
    if not np.all(np.isfinite(measured)):
        raise LimitError(f'measured joint positions must be finite, got {measured.tolist()}; '
                         'refuse such joint states before they reach the clamp')
    target = np.asarray(target, dtype=np.float64)
    bad = target.shape != measured.shape or not np.all(np.isfinite(target))
    out = measured if bad else target
    # Limits first, then the step bound: where both can hold this gives the nearest point
    # satisfying both; where they cannot, the step bound wins (no jump back into the limits).
    out = np.clip(out, np.asarray(lower) + margin, np.asarray(upper) - margin)
    if max_step is not None:
        out = np.clip(out, measured - max_step, measured + max_step)
    return out, bool(bad or np.any(out != target))
