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

"""Wall-clock latency of a callable: median, 99th percentile and mean (numpy only)."""

from __future__ import annotations

import time
from typing import Callable

import numpy as np

from ..errors import ConfigError


def measure(fn: Callable[[], object], calls: int = 1000, warmup: int = 50) -> dict:
    """
    Call ``fn`` ``warmup`` times untimed, then ``calls`` times timed.

    :returns: ``{'p50_ms', 'p99_ms', 'mean_ms', 'max_ms', 'calls'}``, milliseconds.
    """
    if calls < 1 or warmup < 0:
        raise ConfigError(f'need calls >= 1 and warmup >= 0, got {calls}, {warmup}')
    for _ in range(warmup):
        fn()
    ns = np.empty(calls, dtype=np.int64)
    clock = time.perf_counter_ns
    for i in range(calls):
        start = clock()
        fn()
        ns[i] = clock() - start
    ms = ns / 1e6
    return {'p50_ms': float(np.percentile(ms, 50)), 'p99_ms': float(np.percentile(ms, 99)),
            'mean_ms': float(ms.mean()), 'max_ms': float(ms.max()), 'calls': int(calls)}
