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
Policy kinds (mse, gmm, ar, diffusion): one folder each, and the registry that names them.

A kind lives in ``policies/<name>/``: ``config.py`` (its options, a frozen
dataclass), ``model.py`` (the torch model: loss and export graph, a
:class:`~imitation_ros.policies.base.Policy`), ``runtime.py`` (numpy: a
:class:`~imitation_ros.policies.kind.KindRuntime` saying the graph's inputs
and outputs, the sampling noise and how outputs become actions). Adding a kind
is a new folder and a :class:`~imitation_ros.policies.kind.Kind` in
:mod:`~imitation_ros.policies.registry` (or :func:`register_kind` from
outside the package).

Torch lives in ``base``, ``ensemble`` and each kind's ``model``; this
package's ``__init__``, ``kind``, ``registry`` and each kind's ``config`` and
``runtime`` import no torch, so the robot side loads them.
"""

from .kind import DOUBT_GATE, DOUBT_OUTPUT, Kind, KindRuntime, ModelInfo
from .registry import get_kind, KINDS, make_policy, register_kind, unregister_kind

__all__ = ['DOUBT_GATE', 'DOUBT_OUTPUT', 'get_kind', 'Kind', 'KindRuntime', 'KINDS',
           'make_policy', 'ModelInfo', 'register_kind', 'unregister_kind']
