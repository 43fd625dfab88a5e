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

"""A short RL fine-tuning run (the study's smoke size) against its BC start."""

from dataclasses import replace
from pathlib import Path

from imitation_ros.studies.rl import QUICK, QUICK_BASE, QUICK_RL, RlStudyConfig, run_rl_study
from imitation_ros.training.rl import FinetuneConfig


def test_a_short_finetuning_run_beats_its_bc_start_on_a_fixed_seed(tmp_path: Path) -> None:
    """20 RL episodes through the gate raise the exported policy's success over BC's."""
    study = RlStudyConfig(**QUICK)
    study = replace(study, base=replace(study.base, **QUICK_BASE),
                    rl=replace(FinetuneConfig(), **QUICK_RL))
    points = run_rl_study(tmp_path, study, seeds=(0,), progress=False, methods=('bc', 'rl'))
    bc = next(p for p in points if p.method == 'bc')
    rl = [p for p in points if p.method == 'rl']
    assert rl[-1].episodes == QUICK_RL['episodes']
    assert rl[-1].success_rate > bc.success_rate
    assert (tmp_path / 'table.md').is_file() and (tmp_path / 'curve.png').is_file()
