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

"""The recorder benchmark's counting: indices per topic, the table, and one real load."""

from __future__ import annotations

import json
from pathlib import Path

from imitation_ros.data import messages as m
from imitation_ros.studies.recorder_throughput import (format_recorder, largest_episode_s, LOADS,
                                                       message_index, run_load, topic_counts)
import numpy as np
import pytest
from ros_harness import private_domain_id

DOMAIN_ID = private_domain_id(96)


def test_message_index_reads_the_index_each_kind_names() -> None:
    """Joint state, arrays, gate decisions and images each give back the index they carry."""
    state = m.encode_joint_state(5, ('a', 'b', 'c'), np.array([41.0, 0.0, 0.0]))
    assert message_index('joint_state', state) == 41
    assert message_index('command', m.encode_float64_array(np.array([7.0, 8.0, 9.0]))) == 7
    assert message_index('gate_state', m.encode_string(json.dumps({'stamp': 12}))) == 12
    image = m.encode_image(5, np.zeros((3, 4, 3), dtype=np.uint8), frame_id='1234')
    assert message_index('image', image) == 1234


def test_topic_counts_names_lost_and_extra_messages() -> None:
    """Lost = indices published but absent, named; the primer (-1) and repeats are extra."""
    counts = topic_counts({'/a': 5, '/b': 3}, {'/a': [-1, 0, 1, 1, 4], '/b': []})
    assert counts['/a'] == {'published': 5, 'recorded': 3, 'lost': 2, 'extra': 2, 'refused': 0,
                            'lost_first': [2, 3]}
    assert counts['/b'] == {'published': 3, 'recorded': 0, 'lost': 3, 'extra': 0, 'refused': 0,
                            'lost_first': [0, 1, 2]}


def test_topic_counts_leaves_refused_publications_out_of_published_and_lost() -> None:
    """An index whose publish raised was never sent: not published, not lost."""
    counts = topic_counts({'/a': 5}, {'/a': [0, 1, 4]}, {'/a': [2]})
    assert counts['/a'] == {'published': 4, 'recorded': 3, 'lost': 1, 'extra': 0, 'refused': 1,
                            'lost_first': [3]}


def _row(name: str, lost: int, msg_per_s: float, mb_per_s: float) -> dict:
    row = {'load': name, 'seconds': 10.0, 'lost': lost, 'msg_per_s': msg_per_s,
           'mb_per_s': mb_per_s, 'cpu_percent': 50.0, 'bag_bytes': 1, 'bag_mb_per_s': mb_per_s,
           'executor': 'default', 'publisher_depth': 0, 'load_avg': [1.0, 1.0, 1.0, 2.0],
           'topics': {'/joint_states': {'published': 100, 'recorded': 100 - lost, 'lost': lost,
                                        'extra': 1, 'bytes': 4800}}}
    row['largest_episode_s'] = largest_episode_s(row)
    return row


def test_format_recorder_compares_the_best_lossless_load_with_rosbag2() -> None:
    """Every load and topic is a row; the ratio uses the fastest load that lost nothing."""
    table = format_recorder([_row('small_2k', 0, 2000.0, 0.1), _row('small_5k', 3, 4000.0, 0.2),
                             _row('big_30', 0, 30.0, 31.5)])
    assert table.count('| small_') == 4 and table.count('| big_30 |') == 2
    assert 'most without loss: 2,000.0 msg/s (small_2k) = 0.0050' in table
    assert 'most without loss: 31.5 MB/s (big_30) = 0.0143' in table
    lossy = format_recorder([_row('small_5k', 3, 4000.0, 0.2)])
    assert 'none without loss; most, losing 3' in lossy


def test_largest_episode_is_bounded_by_the_readers_limits() -> None:
    """Bytes per second or messages per second, whichever reaches the loader's bound first."""
    from imitation_ros.data.storage import ReadLimits
    limits = ReadLimits()
    assert largest_episode_s({'bag_mb_per_s': 1.0, 'msg_per_s': 1.0}) == pytest.approx(
        limits.max_bag_bytes / 1e6)
    assert largest_episode_s({'bag_mb_per_s': 1e-6, 'msg_per_s': 1000.0}) == pytest.approx(
        limits.max_records / 1000.0)


def test_sim_load_is_recorded_and_counted_per_topic(tmp_path: Path) -> None:
    """The recorder and the load generator as processes: every topic published, read back."""
    row = run_load(tmp_path, 'sim', LOADS['sim'][1], seconds=2.0, domain_id=DOMAIN_ID,
                   log=lambda _: None)
    assert set(row['topics']) == {s['topic'] for s in LOADS['sim'][1]}
    for topic, t in row['topics'].items():
        assert t['published'] > 0, topic
        assert 0 <= t['recorded'] <= t['published'] and t['lost'] == t['published'] - t['recorded']
    # Reliable streams at 20 Hz into a queue of 1000: nothing of them may go missing.
    assert row['topics']['/joint_states']['lost'] == 0
    assert row['recorder_dropped'] == 0 and row['msg_per_s'] > 0
