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
What runs on the robot: the ONNX Runtime policy and its hot reload (numpy + onnxruntime only).

- :mod:`.onnx_policy`: :class:`~.onnx_policy.OnnxPolicy` loads one exported
  model, checks it, and turns observations into joint targets.
- :mod:`.model_slot`: loads and checks a new model off the control thread and
  swaps it in between ticks.
- :mod:`.model_trust`: models load only from allowed folders, listed in their
  manifest with the SHA-256 of the bytes.
- :mod:`.atomic`: model files appear in one step.

The package imports none of them itself, so a process that needs only
:mod:`.atomic` or :mod:`.model_trust` (the trainer node) does not load ONNX Runtime.
"""

__all__ = ['atomic', 'model_slot', 'model_trust', 'onnx_policy']
