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

"""Independent study jobs in parallel processes."""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor
import multiprocessing


def spawn_pool(workers: int) -> ProcessPoolExecutor:
    """
    Return a pool of ``workers`` spawned processes.

    Spawned, not forked, so no torch or ONNX Runtime state (threads, sessions) is
    shared with the parent; each job sets its own thread count.
    """
    return ProcessPoolExecutor(max_workers=workers,
                               mp_context=multiprocessing.get_context('spawn'))
