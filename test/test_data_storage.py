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

"""Bounded bag reading: metadata limits, MCAP record and chunk checks, bombs in a child."""

from __future__ import annotations

from pathlib import Path
import struct

import hostile_bags as h
from imitation_ros.data import messages as m
from imitation_ros.data import episode_info, read_bag_messages
from imitation_ros.data.storage import (Budget, load_metadata, MAX_METADATA_BYTES, read_mcap,
                                        ReadLimits)
from imitation_ros.errors import DataError
import pytest

WANTED = {m.JOINT_STATES: m.JOINT_STATE_TYPE, m.COMMANDS: m.FLOAT64_ARRAY_TYPE}


def test_reader_matches_rosbags_on_a_good_bag(tmp_path: Path) -> None:
    """The bounded reader yields the same messages, times and bytes as rosbags' reader."""
    from rosbags.rosbag2 import Reader

    bag = h.good_bag(tmp_path / 'ep', steps=30)
    ours = read_mcap(h.mcap_of(bag), {t: m.TOPICS[t] for t in m.TOPICS}, Budget(ReadLimits()))
    theirs: dict[str, list[tuple[int, bytes]]] = {}
    with Reader(bag) as reader:
        for conn, t_ns, data in reader.messages():
            theirs.setdefault(conn.topic, []).append((t_ns, bytes(data)))
    assert {t: v for t, v in ours.messages.items() if v} == theirs
    assert ours.types[m.JOINT_STATES] == m.JOINT_STATE_TYPE


def test_compressed_chunks_read_back(tmp_path: Path) -> None:
    """A zstd or lz4 chunk that decompresses to its declared size reads like the plain one."""
    import lz4.frame
    from backports import zstd

    bag = h.good_bag(tmp_path / 'ep')
    plain = read_mcap(h.mcap_of(bag), WANTED, Budget(ReadLimits())).messages
    inner = h.chunk_contents(h.mcap_of(bag).read_bytes())
    for name, compress in (('zstd', zstd.compress), ('lz4', lz4.frame.compress)):
        h.rebuild_mcap(bag, payload=compress(inner), compression=name, declared=len(inner))
        assert read_mcap(h.mcap_of(bag), WANTED, Budget(ReadLimits())).messages == plain, name


@pytest.mark.parametrize('declared_delta', [-1, +1])
def test_chunk_size_must_match_its_declaration(tmp_path: Path, declared_delta: int) -> None:
    """A chunk that decompresses to more or less than it declares is refused."""
    from backports import zstd

    bag = h.good_bag(tmp_path / 'ep')
    inner = h.chunk_contents(h.mcap_of(bag).read_bytes())
    h.rebuild_mcap(bag, payload=zstd.compress(inner), compression='zstd',
                   declared=len(inner) + declared_delta)
    with pytest.raises(DataError, match='decompresses to'):
        read_mcap(h.mcap_of(bag), WANTED, Budget(ReadLimits()))


def test_zstd_bomb_costs_at_most_its_declared_size(tmp_path: Path) -> None:
    """A chunk of 256 MiB of zeros declaring 7 KB fails after producing about 7 KB."""
    import tracemalloc

    bag = h.good_bag(tmp_path / 'ep')
    h.zstd_bomb(bag, 256 << 20)
    tracemalloc.start()
    try:
        with pytest.raises(DataError, match='more than the'):
            read_mcap(h.mcap_of(bag), WANTED, Budget(ReadLimits()))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 4 << 20, f'peak {peak} bytes'


def test_limits_refuse_big_chunks_bags_and_record_counts(tmp_path: Path) -> None:
    """Each of the read limits, set below what a good bag needs, refuses it by name."""
    bag = h.good_bag(tmp_path / 'ep', steps=30)
    path = h.mcap_of(bag)
    size = path.stat().st_size
    with pytest.raises(DataError, match='max_chunk_bytes'):
        read_mcap(path, WANTED, Budget(ReadLimits(max_chunk_bytes=1000)))
    with pytest.raises(DataError, match='max_bag_bytes'):
        read_mcap(path, WANTED, Budget(ReadLimits(max_bag_bytes=size // 2)))
    with pytest.raises(DataError, match='max_records'):
        read_mcap(path, WANTED, Budget(ReadLimits(max_records=20)))
    with pytest.raises(DataError, match='max_records'):
        read_bag_messages(bag, limits=ReadLimits(max_records=20))
    with pytest.raises(DataError, match='positive integer'):
        ReadLimits(max_records=0)


@pytest.mark.parametrize('opcode', [0x01, 0x06])
def test_a_length_past_the_end_is_refused_before_reading(tmp_path: Path, opcode: int) -> None:
    """A record claiming 2^40 bytes (or one byte more than is left) is a DataError."""
    bag = h.good_bag(tmp_path / 'ep')
    h.set_record_length(bag, opcode, 2**40)
    with pytest.raises(DataError, match='claims 1099511627776 bytes'):
        read_mcap(h.mcap_of(bag), WANTED, Budget(ReadLimits()))


def test_records_inside_a_chunk_are_bounded_by_the_chunk(tmp_path: Path) -> None:
    """A message inside a chunk whose length runs past the chunk is a DataError."""
    bag = h.good_bag(tmp_path / 'ep')
    inner = bytearray(h.chunk_contents(h.mcap_of(bag).read_bytes()))
    pos = 0
    while inner[pos] != 0x05:  # the first message record, after schemas and channels
        pos += 9 + struct.unpack_from('<Q', inner, pos + 1)[0]
    struct.pack_into('<Q', inner, pos + 1, len(inner))
    h.rebuild_mcap(bag, payload=bytes(inner), compression='', declared=len(inner))
    with pytest.raises(DataError, match='more bytes but only'):
        read_mcap(h.mcap_of(bag), WANTED, Budget(ReadLimits()))


def test_wrong_topic_type_is_named(tmp_path: Path) -> None:
    """A wanted topic recorded with another type is a DataError naming both types."""
    bag = h.good_bag(tmp_path / 'ep')
    with pytest.raises(DataError, match='/joint_states has type sensor_msgs/msg/JointState.*'
                                        'std_msgs/msg/String'):
        read_mcap(h.mcap_of(bag), {m.JOINT_STATES: m.STRING_TYPE}, Budget(ReadLimits()))


def test_metadata_size_and_aliases_are_bounded(tmp_path: Path) -> None:
    """metadata.yaml over the size limit, with aliases, or a FIFO is refused, not parsed."""
    import os

    bag = h.good_bag(tmp_path / 'ep')
    assert load_metadata(bag)['storage_identifier'] == 'mcap'
    h.alias_bomb(bag)
    with pytest.raises(DataError, match='YAML aliases'):
        load_metadata(bag)
    (bag / 'metadata.yaml').write_text('a: ' + 'x' * MAX_METADATA_BYTES)
    with pytest.raises(DataError, match='more than'):
        load_metadata(bag)
    (bag / 'metadata.yaml').unlink()
    os.mkfifo(bag / 'metadata.yaml')
    with pytest.raises(DataError, match='not a regular file'):
        load_metadata(bag)


def test_sqlite3_bags_read_like_mcap_ones(tmp_path: Path) -> None:
    """A bag in sqlite3 storage (older ros2 bag record) gives the same messages, within limits."""
    from rosbags.rosbag2 import Reader, StoragePlugin, Writer

    bag = h.good_bag(tmp_path / 'mcap', steps=20)
    db3 = tmp_path / 'db3'
    with Reader(bag) as reader, Writer(db3, version=8,
                                       storage_plugin=StoragePlugin.SQLITE3) as writer:
        conns = {c.id: writer.add_connection(c.topic, c.msgtype, typestore=m.typestore())
                 for c in reader.connections}
        for conn, t_ns, data in reader.messages():
            writer.write(conns[conn.id], t_ns, data)
        for key, value in episode_info(bag).custom_data.items():
            writer.set_custom_data(key, value)
    a, b = read_bag_messages(bag), read_bag_messages(db3)
    assert (a.commands.values == b.commands.values).all() and len(b.commands.times) == 20
    assert (a.joints.times == b.joints.times).all()
    with pytest.raises(DataError, match='max_records'):
        read_bag_messages(db3, limits=ReadLimits(max_records=10))
