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

"""The scale study's tables: medians per configuration, 2 processes vs 1, the fault drills."""

from typing import Optional

from imitation_ros.studies.scale import compare, CONFIGS, format_scale_table, ScaleRun


def _run(config: int, repeat: int, rate: float, loss: Optional[float],
         success: Optional[float] = None,
         **kw) -> ScaleRun:
    label, processes, threads = CONFIGS[config]
    fields = dict(label=label, processes=processes, threads=threads, repeat=repeat, ok=True,
                  wall_s=10.0, train_s=5.0, samples_per_s=rate, final_val_loss=loss,
                  restarts=0, resumed_from_step=None, load_before=1.0, load_after=2.0,
                  files_written=3, success_rate=success)
    fields.update(kw)
    return ScaleRun(**fields)


def test_compare_uses_first_repeats_and_median_rates() -> None:
    """Loss and success gaps come from the first repeats; speedups from median samples/s."""
    runs = [_run(0, 0, 100, 0.10, 0.30), _run(1, 0, 50, 0.10, 0.30), _run(2, 0, 150, 0.11, 0.25),
            _run(0, 1, 300, 0.10), _run(1, 1, 70, 0.10), _run(2, 1, 170, 0.11),
            _run(0, 2, 200, 0.10), _run(1, 2, 60, 0.10), _run(2, 2, 160, 0.11)]
    gaps = compare(runs)
    assert abs(gaps['val_loss_rel_diff'] - 0.1) < 1e-9
    assert abs(gaps['success_diff'] - 0.05) < 1e-9
    assert abs(gaps['speedup_vs_1_thread'] - 160 / 200) < 1e-9
    assert abs(gaps['speedup_vs_2_threads'] - 160 / 60) < 1e-9


def test_table_lists_failed_drill_with_its_error() -> None:
    """A failed drill is a row saying failed, with no files and its error line."""
    failed = _run(2, 0, 0.0, None, label='drill', ok=False, files_written=0,
                  error='distributed training failed | no model was written')
    table = format_scale_table([_run(0, 0, 100, 0.1, 0.3), failed])
    row = table.splitlines()[-1]
    assert row.startswith('| drill | failed | 0 |')
    assert 'distributed training failed / no model was written' in row
    assert '| 1 process, 1 thread | 1 | 100 (100-100) |' in table
