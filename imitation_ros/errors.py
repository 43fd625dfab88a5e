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
The one exception hierarchy of imitation_ros.

Every error says what went wrong and how to fix it. Callers that must never
crash (control-loop callbacks) catch :class:`ImitationError` and fail safe.
"""

from __future__ import annotations


class ImitationError(Exception):
    """Base class of every error raised by imitation_ros."""


class ConfigError(ImitationError, ValueError):
    """A configuration value or ROS parameter is out of range or inconsistent."""


class SimError(ImitationError):
    """The simulated arm was used wrongly (bad action shape, stepping a finished episode)."""


class DataError(ImitationError):
    """An episode bag or dataset is missing, malformed, truncated or inconsistent."""


class ModelError(ImitationError):
    """A policy model file is missing, not ONNX, or does not match its metadata."""


class TrainingError(ImitationError):
    """Training could not run or produced an unusable model."""
