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
"""Retrain turnaround: the data folder reaches its size, the table sums the phases."""

from __future__ import annotations

from pathlib import Path

from imitation_ros.collect import collect
from imitation_ros.data import find_episode_bags, load_dataset
from imitation_ros.studies.turnaround import (format_turnaround, make_data, PHASES,
                                              run_turnaround)
from ros_harness import private_domain_id

#: This module's ROS domain before the offset (a policy_node process runs in it).
DOMAIN_BASE = 98


def test_make_data_copies_pool_bags_up_to_the_size(tmp_path: Path) -> None:
    """Copies of the pool's bags, each loadable, hold at least the samples asked for."""
    collect('multi', 3, tmp_path / 'pool', seed=1, session='multi', camera_every=0,
            progress=False)
    per_bag = len(load_dataset(tmp_path / 'pool', index=False).actions) / 3
    folder = make_data(tmp_path, int(per_bag * 7), tmp_path / 'pool', log=lambda _: None)
    assert len(find_episode_bags(folder)) >= 7
    assert len(load_dataset(folder, index=False).actions) >= int(per_bag * 7) - 3 * per_bag


def test_table_lists_every_phase_and_the_total() -> None:
    """One row per size with the median of each phase and their sum."""
    median = {p: 1.0 for p in PHASES} | {'total': float(len(PHASES))}
    result = {'kind': 'gmm', 'rounds': 2, 'sizes': [
        {'size': 5000, 'samples': 5100, 'episodes': 110, 'steps': 300, 'cold_load_s': 1.0,
         'cold_ms_per_episode': 9.1, 'rounds': [], 'median': median,
         'load_avg': [2.0, 2.0, 2.0]}]}
    table = format_turnaround(result)
    assert '| 5,100 (110) | 300 | 9.1 | 1.00 | 1.00 | 1.00 | 1.00 | 1.00 | 1.00 | 1.00 | 7.0 |' \
        in table


def test_a_retrained_model_goes_live_in_a_policy_node_process(tmp_path: Path) -> None:
    """One tiny round end to end: the policy_node process announces the new version."""
    result = run_turnaround(tmp_path, sizes=(200,), rounds=1, steps=5, pool_episodes=6,
                            domain_id=private_domain_id(DOMAIN_BASE), log=lambda _: None)
    (entry,) = result['sizes']
    (row,) = entry['rounds']
    assert Path(row['model']).name == 'n200_v001.onnx'
    assert all(row[p] >= 0.0 for p in PHASES) and row['hot_load'] > 0.0
    assert entry['samples'] >= 200
