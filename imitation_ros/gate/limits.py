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
"""

from __future__ import annotations

from typing import Optional

import numpy as np

#: Distance kept from each joint limit (rad), so tracking noise does not cross it.
LIMIT_MARGIN = 0.02


def safe_command(target: np.ndarray, measured: np.ndarray, lower: np.ndarray,
                 upper: np.ndarray, *, max_step: Optional[float] = None,
                 margin: float = LIMIT_MARGIN) -> tuple[np.ndarray, bool]:
    """
    Clamp ``target`` (n,) rad to the limits and to ``max_step`` rad from ``measured``.

    A target with NaN or Inf, or of the wrong shape, is replaced by the measured
    positions (a hold).

    :returns: the command and whether it had to be changed.
    """
    measured = np.asarray(measured, dtype=np.float64)
    target = np.asarray(target, dtype=np.float64)
    if target.shape != measured.shape or not np.all(np.isfinite(target)):
        hold = np.clip(measured, lower + margin, upper - margin)
        return hold, True
    out = target
    if max_step is not None:
        out = np.clip(out, measured - max_step, measured + max_step)
    out = np.clip(out, np.asarray(lower) + margin, np.asarray(upper) - margin)
    return out, bool(np.any(out != target))
