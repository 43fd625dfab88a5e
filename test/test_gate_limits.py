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

"""The safety clamp every outgoing command passes through."""

import numpy as np

from imitation_ros.gate.limits import LIMIT_MARGIN, safe_command

LOWER = np.array([-1.0, -2.0])
UPPER = np.array([1.0, 2.0])


def test_inside_limits_passes_unchanged() -> None:
    """A small, finite, in-range target is sent as it is."""
    cmd, changed = safe_command(np.array([0.1, -0.2]), np.zeros(2), LOWER, UPPER, max_step=0.5)
    np.testing.assert_array_equal(cmd, [0.1, -0.2])
    assert not changed


def test_clamped_to_limits_and_max_step() -> None:
    """Targets beyond the limits or too far from the measured position are clamped."""
    cmd, changed = safe_command(np.array([5.0, -0.9]), np.array([0.95, 0.0]), LOWER, UPPER,
                                max_step=0.3)
    np.testing.assert_allclose(cmd, [1.0 - LIMIT_MARGIN, -0.3])
    assert changed


def test_non_finite_or_wrong_shape_holds_at_measured() -> None:
    """NaN, Inf or a wrong-length target becomes a hold at the measured position."""
    measured = np.array([0.3, -0.4])
    for bad in (np.array([np.nan, 0.0]), np.array([0.0, np.inf]), np.zeros(3)):
        cmd, changed = safe_command(bad, measured, LOWER, UPPER, max_step=0.1)
        np.testing.assert_array_equal(cmd, measured)
        assert changed and np.all(np.isfinite(cmd))
