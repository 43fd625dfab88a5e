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


"""The model file's metadata: its format and the keys every exported policy carries."""

from __future__ import annotations

#: Key of the format version in the ONNX file's metadata_props.
FORMAT_KEY = 'imitation_ros.format'
#: The format the exporter writes.
FORMAT = '1'
#: Formats the runtime reads.
SUPPORTED_FORMATS: tuple[str, ...] = ('1',)
#: Metadata every model file carries (a policy kind may need more: its ``metadata_keys``).
REQUIRED_KEYS: tuple[str, ...] = (FORMAT_KEY, 'kind', 'variant', 'joint_names', 'task_layout',
                                  'observation', 'action', 'inputs', 'outputs', 'settings',
                                  'horizon', 'execute', 'version')
#: Optional metadata key (JSON) describing the ``risk`` output: a model without it has no risk.
RISK_KEY = 'risk'
#: Graph output of the risk, (B,) float32, the probability of trouble within the horizon.
RISK_OUTPUT = 'risk'
#: Optional bool input (default false through an initializer) that computes the risk.
RISK_GATE = 'want_risk'
