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

from imitation_ros.gate.limits import LIMIT_MARGIN, LimitError, safe_command
import numpy as np
import pytest

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


def test_measured_outside_the_limits_approaches_by_at_most_max_step() -> None:
    """Measured 0.5 rad past a limit: the command is max_step toward it, never a jump."""
    measured = np.array([1.5, -2.5])
    for target in (np.zeros(2), np.array([5.0, -5.0]), measured, np.array([np.nan, 0.0])):
        cmd, changed = safe_command(target, measured, LOWER, UPPER, max_step=0.1)
        np.testing.assert_allclose(cmd, [1.4, -2.4])
        assert changed
    near = np.array([1.03, -2.0])
    cmd, _ = safe_command(np.array([0.5, -1.95]), near, LOWER, UPPER, max_step=0.1)
    np.testing.assert_allclose(cmd, [0.93, -1.95])
    cmd, _ = safe_command(np.array([5.0, -5.0]), near, LOWER, UPPER, max_step=0.1)
    np.testing.assert_allclose(cmd, [1.0 - LIMIT_MARGIN, -2.0 + LIMIT_MARGIN])


def test_without_a_step_bound_the_limits_alone_clamp() -> None:
    """max_step None (the sim evaluation) clamps to the limits only."""
    cmd, changed = safe_command(np.array([5.0, 0.0]), np.array([1.5, 0.0]), LOWER, UPPER)
    np.testing.assert_allclose(cmd, [1.0 - LIMIT_MARGIN, 0.0])
    assert changed


def test_non_finite_measured_is_refused() -> None:
    """No safe command exists without a finite measured position: LimitError, not NaN."""
    with pytest.raises(LimitError, match='finite'):
        safe_command(np.zeros(2), np.array([np.nan, 0.0]), LOWER, UPPER, max_step=0.1)
