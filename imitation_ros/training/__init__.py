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
Training: the torch parts, and the torch-free job control the trainer node uses.

Torch: :mod:`.trainer` (the training loop), :mod:`.export` (torch to ONNX),
:mod:`.checkpoint` (``NAME.pt`` beside each model), :mod:`.pipeline` (bags to
model, what ``imitation-ros train`` runs). Torch-free: :mod:`.jobs` (the
trainer node's retraining in a child process, sample counts, model paths).

The package imports none of them itself, so importing :mod:`.jobs` loads no torch.
"""

__all__ = ['checkpoint', 'export', 'jobs', 'pipeline', 'trainer']
