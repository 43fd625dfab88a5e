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

"""The queued bag writer: order, a full queue that waits, a failed disk write, abort."""

from __future__ import annotations

from pathlib import Path
import threading

import pytest

from imitation_ros.data import (episode_info, EpisodeBagWriter, partial_path, QueuedBagWriter,
                                read_bag_messages)
from imitation_ros.data import messages as m
from imitation_ros.errors import DataError

T0 = 1_700_000_000 * 1_000_000_000
FACTS = {'episode': 3, 'success': True, 'reason': 'success', 'source': 'hg_dagger',
         'policy_version': 'v1', 'interventions': 0, 'human_steps': 0, 'steps': 200,
         'joint_names': ['joint1', 'joint2', 'joint3'], 'dt': '0.05', 'dropped': 0}


def _messages(n: int) -> list[tuple[str, bytes, int]]:
    """Return n steps of joint state, task and command, in time order."""
    out = []
    for k in range(n):
        t = T0 + k * 50_000_000
        out.append((m.JOINT_STATES, m.encode_joint_state(t, ['joint1', 'joint2', 'joint3'],
                                                         [float(k), 0.0, 0.0], [0.0] * 3), t))
        out.append((m.TASK, m.encode_float64_array([2.0, 0.0, 1.5, 0.0, 0.16]), t))
        out.append((m.COMMANDS, m.encode_float64_array([float(k), 0.0, 0.0]), t + 1_000_000))
    return out


def test_queued_writer_writes_every_message_in_order(tmp_path: Path) -> None:
    """Everything queued is in the finished bag, in order, as the direct writer writes it."""
    msgs = _messages(200)
    direct = EpisodeBagWriter(tmp_path / 'direct')
    queued = QueuedBagWriter(tmp_path / 'queued')
    for topic, raw, t in msgs:
        direct.write(topic, raw, t)
        queued.write(topic, raw, t)
    a, b = direct.close(FACTS), queued.close(FACTS)
    assert episode_info(b).message_counts == episode_info(a).message_counts
    assert episode_info(b).message_counts[m.COMMANDS] == 200
    ra, rb = read_bag_messages(a, with_images=False), read_bag_messages(b, with_images=False)
    assert rb.joint_stamps.tolist() == ra.joint_stamps.tolist()
    assert rb.commands.values.tolist() == [[float(k), 0.0, 0.0] for k in range(200)]
    assert not partial_path(b).exists() and not queued.is_open


def test_full_queue_makes_the_caller_wait_and_drops_nothing(tmp_path: Path) -> None:
    """A queue of 2 messages: writes wait for room (counted), none is lost."""
    msgs = _messages(100)
    gate = threading.Event()
    writer = QueuedBagWriter(tmp_path / 'q', max_messages=2)
    inner = writer._bag.write   # the test slows the disk until the queue has filled

    def slow(topic: str, raw: bytes, t_ns: int) -> None:
        gate.wait()
        inner(topic, raw, t_ns)

    writer._bag.write = slow
    done = threading.Thread(target=lambda: [writer.write(*x) for x in msgs])
    done.start()
    done.join(timeout=0.5)
    assert done.is_alive(), 'a full queue must hold the caller'
    gate.set()
    done.join()
    stats = writer.stats()
    assert stats.stalls >= 1 and stats.peak_messages <= 2
    bag = writer.close(FACTS)
    assert writer.stats().written == 300
    assert sum(episode_info(bag).message_counts.values()) == 300


def test_failed_disk_write_is_raised_and_the_bag_discarded(tmp_path: Path) -> None:
    """A write failing in the thread: error set, next write raises (cause kept), close aborts."""
    writer = QueuedBagWriter(tmp_path / 'q')

    def full(topic: str, raw: bytes, t_ns: int) -> None:
        raise DataError('writing failed: no space left') from OSError(28, 'No space left')

    writer._bag.write = full
    topic, raw, t = _messages(1)[0]
    writer.write(topic, raw, t)
    with pytest.raises(DataError, match='no space') as caught:
        writer.flush()
    assert isinstance(caught.value.__cause__, OSError) and writer.error is not None
    with pytest.raises(DataError, match='no space'):
        writer.write(topic, raw, t)
    with pytest.raises(DataError, match='no space'):
        writer.close(FACTS)
    assert not writer.is_open
    assert not (tmp_path / 'q').exists() and not partial_path(tmp_path / 'q').exists()


def test_bad_messages_are_refused_at_once(tmp_path: Path) -> None:
    """Non-CDR bytes, a negative time or an unknown topic raise in write(), not later."""
    with QueuedBagWriter(tmp_path / 'q') as writer:
        with pytest.raises(DataError, match='not CDR'):
            writer.write(m.COMMANDS, b'xx', T0)
        with pytest.raises(DataError, match='>= 0'):
            writer.write(m.COMMANDS, m.encode_float64_array([0.0]), -1)
        with pytest.raises(DataError, match='topic table'):
            writer.write('/tf', m.encode_float64_array([0.0]), T0)
        assert writer.error is None
        writer.abort()
    assert not partial_path(tmp_path / 'q').exists()
