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

"""The soak's runner and report: a node dying at start-up, faults, losses, memory bound."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
import sys

from imitation_ros.bringup.composed import share_dir
from imitation_ros.bringup.soak import (FaultResult, format_report, MEMORY_GROWTH_BOUND_MB,
                                        Soak, SoakReport)
import pytest
from ros_harness import private_domain_id

DOMAIN_ID = private_domain_id(77)


def test_a_node_that_exits_at_start_up_stops_the_soak_naming_its_log(tmp_path: Path) -> None:
    """A node process that exits at once: RuntimeError naming it, the others stopped."""
    soak = Soak(tmp_path / 'soak', minutes=0.0, domain_id=DOMAIN_ID,
                model=share_dir() / 'models' / 'planar_gmm_multi.onnx', log=lambda _: None)
    for name, proc in soak.processes.items():
        code = 'raise SystemExit(3)' if name == 'recorder' else 'import time; time.sleep(600)'
        proc.cmd = [sys.executable, '-c', code]
    with pytest.raises(RuntimeError, match='recorder exited at start-up') as error:
        soak.run()
    assert str(soak.processes['recorder'].log) in str(error.value)
    assert all(p.proc.poll() is not None for p in soak.processes.values())


def test_report_gives_each_fault_and_marks_memory_beyond_the_bound() -> None:
    """Hold and recovery times per fault, losses, and memory growth checked against the bound."""
    report = SoakReport(minutes=30.0)
    report.faults = [FaultResult('joy_unplug', 0.0, (0.0, 1.0), 'held, then driven again',
                                 hold_s=0.2, back_s=0.5),
                     FaultResult('joy_unplug', 9.0, (9.0, 10.0), 'held, then driven again',
                                 hold_s=0.3, back_s=0.7),
                     FaultResult('disk_full', 5.0, (5.0, 5.0), 'skipped: no tmpfs')]
    report.topics = {'/joint_states': (1000, 998)}
    report.memory_mb = {'sim_arm': (100.0, 100.0 + MEMORY_GROWTH_BOUND_MB),
                        'policy': (100.0, 101.0 + MEMORY_GROWTH_BOUND_MB),
                        'recorder': (80.0, 200.0)}
    report.restarts = Counter({'recorder': 3})
    report.losses = [(7, 40, [3, 4])]
    table = format_report(report)
    assert '| joy_unplug | 2 | 0.300 / 0.300 | 0.700 / 0.700 | 2x held, then driven again |' \
        in table
    assert '| disk_full | 1 | - | - | 1x skipped: no tmpfs |' in table
    assert '| /joint_states | 1000 | 998 | 2 |' in table
    assert '| sim_arm | 100 | 120 | +20 | yes |' in table
    assert '| policy | 100 | 121 | +21 | **NO** |' in table
    assert '| recorder | 80 | 200 | +120 | restarted' in table
    assert 'Episode 7: 2 of its 40 joint states missing' in table
