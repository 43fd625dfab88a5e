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
Bounded reading of a bag's files: ``metadata.yaml`` and MCAP storage.

A bag is input from outside (a recorder, a copied folder, a hand edit), so no
length it states is trusted before it is checked against what is left and
against a limit: ``metadata.yaml`` is read up to :data:`MAX_METADATA_BYTES`
and refused when it holds YAML aliases (:data:`MAX_YAML_ALIASES`); an MCAP
record longer than the rest of its file or chunk, a chunk that declares more
than :attr:`ReadLimits.max_chunk_bytes` or decompresses to more (or less)
than it declares, and a bag whose records together exceed
:attr:`ReadLimits.max_bag_bytes` or :attr:`ReadLimits.max_records` are a
:class:`~imitation_ros.errors.DataError` before the memory or time is spent.
Each chunk is decompressed with an output limit of its declared size plus one
byte, so a compression bomb costs at most that. The MCAP data section is read
front to back (chunks and loose records); summary and index records are not
followed, so a broken index cannot point the reader anywhere.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
import os
from pathlib import Path
import stat
import struct
from typing import Any, BinaryIO
import zlib

import yaml

from ..errors import DataError

#: Largest ``metadata.yaml`` read, bytes. rosbag2 writes a few KiB per bag (one entry per
#: topic plus custom_data); anything larger is not a bag's metadata.
MAX_METADATA_BYTES = 1 << 20
#: YAML aliases allowed in ``metadata.yaml``. rosbag2 writes none, and a handful of nested
#: aliases make a few KiB of YAML expand to gigabytes once its values are copied or printed.
MAX_YAML_ALIASES = 0
#: Default of :attr:`ReadLimits.max_chunk_bytes`: one MCAP chunk, decompressed, bytes.
#: rosbag2 writes chunks of 768 KiB and rosbags of 1 MiB (a larger message gets a chunk of
#: its own), so this leaves room for messages of up to 256 MiB.
MAX_CHUNK_BYTES = 256 << 20
#: Default of :attr:`ReadLimits.max_bag_bytes`: everything read from one bag (records and
#: decompressed chunks), bytes. An episode of the simulated arm with images is about 40 MB.
MAX_BAG_BYTES = 2 << 30
#: Default of :attr:`ReadLimits.max_records`: MCAP records (messages and the schema, channel,
#: chunk and index records around them) read from one bag. A two-minute episode holds about
#: 30 000; a robot publishing joint states at 1 kHz fills a million in about 15 minutes.
MAX_RECORDS = 2_000_000

MCAP_MAGIC = b'\x89MCAP0\r\n'
_OP_HEADER, _OP_FOOTER, _OP_SCHEMA, _OP_CHANNEL, _OP_MESSAGE, _OP_CHUNK = 1, 2, 3, 4, 5, 6
_OP_DATA_END = 0x0F
_MAX_INT64 = 2**63 - 1
#: Largest compression name, schema name or topic read (bytes): far above any real one.
_MAX_NAME_BYTES = 4096


@dataclass(frozen=True)
class ReadLimits:
    """How much one bag may cost to read; a bag over a limit is a DataError (that bag only)."""

    max_chunk_bytes: int = MAX_CHUNK_BYTES
    """Largest MCAP chunk (decompressed) or single record, bytes."""
    max_bag_bytes: int = MAX_BAG_BYTES
    """Largest total of records read and chunks decompressed from one bag, bytes."""
    max_records: int = MAX_RECORDS
    """Most MCAP records (messages included) read from one bag."""

    def __post_init__(self) -> None:
        """Check every limit is a positive integer."""
        for name in ('max_chunk_bytes', 'max_bag_bytes', 'max_records'):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise DataError(f'ReadLimits.{name} must be a positive integer, got {value!r}')


class Budget:
    """What is left of one bag's :class:`ReadLimits` while its files are read."""

    def __init__(self, limits: ReadLimits) -> None:
        """Start with the whole of ``limits``."""
        self.limits = limits
        self.bytes_read = 0
        self.records = 0

    def spend(self, nbytes: int, records: int = 0) -> None:
        """Account for ``nbytes`` bytes and ``records`` records; DataError past a limit."""
        self.bytes_read += nbytes
        self.records += records
        if self.bytes_read > self.limits.max_bag_bytes:
            msg = (f'it holds more than {self.limits.max_bag_bytes} bytes (max_bag_bytes); '
                   'raise ReadLimits.max_bag_bytes if the bag is genuine')
            raise DataError(msg)
        if self.records > self.limits.max_records:
            msg = (f'it holds more than {self.limits.max_records} records (max_records); '
                   'raise ReadLimits.max_records if the bag is genuine')
            raise DataError(msg)

    def check_chunk(self, nbytes: int, what: str) -> None:
        """Refuse one record or chunk of ``nbytes`` over the per-chunk limit (DataError)."""
        if nbytes > self.limits.max_chunk_bytes:
            msg = (f'{what} of {nbytes} bytes exceeds the limit of '
                   f'{self.limits.max_chunk_bytes} (max_chunk_bytes)')
            raise DataError(msg)


def _regular_file_size(path: Path) -> int:
    """Return the size of ``path``; DataError unless it is a regular file."""
    try:
        st = path.stat()
    except OSError as exc:
        raise DataError(f'cannot read {path}: {exc.strerror or exc}') from exc
    if not stat.S_ISREG(st.st_mode):
        # A FIFO would block the reader, a device could be endless.
        raise DataError(f'{path} is not a regular file')
    return st.st_size


def load_metadata(bag_dir: Path) -> dict[str, Any]:
    """
    Parse ``bag_dir/metadata.yaml`` within the limits; return its rosbag2_bagfile_information.

    Scalars come back as strings (lists and mappings as such); callers convert.

    :raises DataError: missing, not a regular file, larger than
        :data:`MAX_METADATA_BYTES`, with more than :data:`MAX_YAML_ALIASES`
        aliases, not YAML, or not rosbag2 metadata.
    """
    # Every scalar as a string, as rosbag2 means them (no YAML 1.1 booleans, dates or
    # base-60 numbers); libyaml when PyYAML has it (about 50 times faster than Python).
    loader = getattr(yaml, 'CBaseLoader', yaml.BaseLoader)
    path = bag_dir / 'metadata.yaml'
    size = _regular_file_size(path)
    if size > MAX_METADATA_BYTES:
        msg = (f'{path} is {size} bytes, more than the {MAX_METADATA_BYTES} a rosbag2 '
               'metadata file can need')
        raise DataError(msg)
    try:
        with path.open('rb') as fh:
            text = fh.read(MAX_METADATA_BYTES + 1).decode('utf-8')
    except OSError as exc:
        raise DataError(f'cannot read {path}: {exc.strerror or exc}') from exc
    except UnicodeDecodeError as exc:
        raise DataError(f'{path} is not UTF-8 text: {exc}') from exc
    if len(text.encode('utf-8')) > MAX_METADATA_BYTES:
        raise DataError(f'{path} grew past {MAX_METADATA_BYTES} bytes while it was read')
    try:
        # Count aliases on the event stream first: building the document from an alias
        # bomb is cheap, but every later copy or print of it is not.
        aliases = sum(isinstance(event, yaml.AliasEvent)
                      for event in yaml.parse(text, Loader=loader))
        if aliases > MAX_YAML_ALIASES:
            msg = (f'{path} uses {aliases} YAML aliases (at most {MAX_YAML_ALIASES}); rosbag2 '
                   'writes none: regenerate it with `ros2 bag reindex`')
            raise DataError(msg)
        doc = yaml.load(text, Loader=loader)
    except DataError:
        raise
    except Exception as exc:  # YAMLError and its kin, RecursionError on deep nesting
        raise DataError(f'{path} is not valid YAML: {type(exc).__name__}: '
                        f'{str(exc)[:300]}') from exc
    info = doc.get('rosbag2_bagfile_information') if isinstance(doc, dict) else None
    if not isinstance(info, dict) or not isinstance(info.get('relative_file_paths'), list):
        raise DataError(f'{path} is not rosbag2 metadata (no rosbag2_bagfile_information)')
    return info


# ---------------------------------------------------------------------------------------------
# MCAP


class _Body:
    """A record's bytes with bounds-checked little-endian reads (DataError past the end)."""

    def __init__(self, data: bytes | memoryview, what: str) -> None:
        self.data = memoryview(data)
        self.pos = 0
        self.what = what

    @property
    def left(self) -> int:
        return len(self.data) - self.pos

    def take(self, n: int) -> memoryview:
        if n < 0 or n > self.left:
            msg = f'{self.what} needs {n} more bytes but only {self.left} are left'
            raise DataError(msg)
        out = self.data[self.pos:self.pos + n]
        self.pos += n
        return out

    def uint(self, size: int) -> int:
        return int.from_bytes(self.take(size), 'little')

    def text(self, limit: int = _MAX_NAME_BYTES) -> str:
        n = self.uint(4)
        if n > limit:
            raise DataError(f'{self.what} has a string of {n} bytes (at most {limit})')
        try:
            return bytes(self.take(n)).decode('utf-8')
        except UnicodeDecodeError as exc:
            raise DataError(f'{self.what} has a string that is not UTF-8') from exc


@dataclass
class McapMessages:
    """The messages of some topics of one MCAP file."""

    messages: dict[str, list[tuple[int, bytes]]]
    """Topic -> (log time in ns, CDR bytes) in file order."""
    types: dict[str, str]
    """Topic -> message type of every channel in the file."""


class _McapScan:
    """One pass over an MCAP file's data section, keeping the messages of ``wanted`` topics."""

    def __init__(self, path: Path, wanted: Mapping[str, str], budget: Budget) -> None:
        self.path = path
        self.wanted = wanted
        self.budget = budget
        self.schemas: dict[int, str] = {}
        self.channels: dict[int, str | None] = {}  # id -> topic, None when not wanted
        self.out = McapMessages({t: [] for t in wanted}, {})

    def run(self) -> McapMessages:
        size = _regular_file_size(self.path)
        with self.path.open('rb') as fh:
            if fh.read(len(MCAP_MAGIC)) != MCAP_MAGIC:
                raise DataError(f'{self.path.name} does not start with the MCAP magic bytes')
            self._top_level(fh, size)
        return self.out

    def _top_level(self, fh: BinaryIO, size: int) -> None:
        pos = len(MCAP_MAGIC)
        first = True
        while True:
            if size - pos < 9:
                msg = (f'{self.path.name} ends at byte {size} inside its data section (no '
                       'data-end or footer record): truncated')
                raise DataError(msg)
            op, length = struct.unpack('<BQ', fh.read(9))
            pos += 9
            if length > size - pos:
                msg = (f'{self.path.name}: the record at byte {pos - 9} (opcode {op:#04x}) '
                       f'claims {length} bytes but only {size - pos} are left')
                raise DataError(msg)
            self.budget.spend(0, 1)
            if first and op != _OP_HEADER:
                raise DataError(f'{self.path.name} does not begin with an MCAP header record')
            if op in (_OP_DATA_END, _OP_FOOTER):
                return
            if op in (_OP_HEADER, _OP_SCHEMA, _OP_CHANNEL, _OP_MESSAGE, _OP_CHUNK):
                self.budget.check_chunk(length, f'record at byte {pos - 9}')
                self.budget.spend(length)
                body = fh.read(length)
                if len(body) != length:
                    raise DataError(f'{self.path.name} shrank while it was read')
                where = f'{self.path.name}: record at byte {pos - 9}'
                if op == _OP_HEADER:
                    if not first:
                        raise DataError(f'{where} is a second MCAP header')
                    profile = _Body(body, where).text()
                    if profile != 'ros2':
                        raise DataError(f'{self.path.name} has MCAP profile {profile!r}, not '
                                        "'ros2'")
                elif op == _OP_CHUNK:
                    self._chunk(_Body(body, where))
                else:
                    self._record(op, _Body(body, where))
            else:
                # Indexes, attachments, metadata: not needed to read the messages.
                fh.seek(length, os.SEEK_CUR)
            pos += length
            first = False

    def _chunk(self, body: _Body) -> None:
        body.uint(16)  # message start and end time
        declared = body.uint(8)
        crc = body.uint(4)
        compression = body.text(64)
        length = body.uint(8)
        if length != body.left:
            msg = (f'{body.what}: a chunk says its records take {length} bytes but '
                   f'{body.left} follow')
            raise DataError(msg)
        self.budget.check_chunk(declared, f'{body.what}: a chunk that decompresses')
        self.budget.spend(declared if compression else 0)
        raw = _decompress(compression, body.take(length), declared, body.what)
        if crc and zlib.crc32(raw) != crc:
            raise DataError(f'{body.what}: a chunk fails its CRC check (corrupt)')
        inner = _Body(raw, f'{body.what} (chunk)')
        while inner.left:
            op = inner.uint(1)
            n = inner.uint(8)
            rec = _Body(inner.take(n), f'{inner.what}, record at byte {inner.pos - n - 9}')
            self.budget.spend(0, 1)
            if op not in (_OP_SCHEMA, _OP_CHANNEL, _OP_MESSAGE):
                raise DataError(f'{rec.what} has opcode {op:#04x}; a chunk holds only '
                                'schemas, channels and messages')
            self._record(op, rec)

    def _record(self, op: int, body: _Body) -> None:
        if op == _OP_SCHEMA:
            schema_id = body.uint(2)
            self.schemas[schema_id] = body.text()
        elif op == _OP_CHANNEL:
            channel_id = body.uint(2)
            schema_id = body.uint(2)
            topic = body.text()
            encoding = body.text(64)
            msgtype = self.schemas.get(schema_id, '')
            self.out.types[topic] = msgtype
            if topic in self.wanted:
                if msgtype != self.wanted[topic] or encoding != 'cdr':
                    msg = (f'topic {topic} has type {msgtype or "(no schema)"} in {encoding!r} '
                           f'encoding, the contract says {self.wanted[topic]} in CDR; remap '
                           'the topic when recording')
                    raise DataError(msg)
                self.channels[channel_id] = topic
            else:
                self.channels[channel_id] = None
        else:
            channel_id = body.uint(2)
            body.uint(4)  # sequence
            log_time = body.uint(8)
            body.uint(8)  # publish time
            if channel_id not in self.channels:
                raise DataError(f'{body.what} is a message on channel {channel_id}, which no '
                                'channel record defines before it')
            topic = self.channels[channel_id]
            if topic is None:
                return
            if log_time > _MAX_INT64:
                raise DataError(f'{body.what} has log time {log_time} ns, past 2^63 - 1')
            self.out.messages[topic].append((log_time, bytes(body.take(body.left))))


def _decompress(compression: str, data: memoryview, declared: int, what: str) -> bytes:
    """Decompress one chunk to exactly ``declared`` bytes, never producing more than one extra."""
    if compression == '':
        if len(data) != declared:
            raise DataError(f'{what}: an uncompressed chunk of {len(data)} bytes declares '
                            f'{declared}')
        return bytes(data)
    if compression == 'zstd':
        from backports import zstd  # lazy: only for zstd chunks

        def make() -> Any:
            return zstd.ZstdDecompressor()
        errors: tuple[type[BaseException], ...] = (zstd.ZstdError,)
    elif compression == 'lz4':
        import lz4.frame  # lazy: only for lz4 chunks

        def make() -> Any:
            return lz4.frame.LZ4FrameDecompressor()
        errors = (RuntimeError, ValueError)
    else:
        raise DataError(f'{what}: chunk compression {compression!r} is not supported (zstd, '
                        'lz4 or none)')
    out = bytearray()
    rest = bytes(data)
    try:
        while rest:
            # Concatenated frames are allowed; each one may produce only what is left of
            # the declared size plus one byte, which is enough to see that it is too big.
            dec = make()
            out += dec.decompress(rest, max_length=declared - len(out) + 1)
            if len(out) > declared:
                raise DataError(f'{what}: a chunk decompresses to more than the {declared} '
                                'bytes it declares')
            if not dec.eof:
                raise DataError(f'{what}: a chunk\'s compressed data ends early (truncated)')
            rest = dec.unused_data
    except errors as exc:
        raise DataError(f'{what}: a chunk does not decompress ({compression}): {exc}') from exc
    if len(out) != declared:
        raise DataError(f'{what}: a chunk decompresses to {len(out)} bytes but declares '
                        f'{declared}')
    return bytes(out)


def read_mcap(path: Path, wanted: Mapping[str, str], budget: Budget) -> McapMessages:
    """
    Read the messages of the ``wanted`` topics (topic -> message type) from one MCAP file.

    :raises DataError: the file is not ros2 MCAP, a record or chunk is
        malformed or over a limit of ``budget``, or a wanted topic has another
        type or encoding.
    """
    return _McapScan(Path(path), wanted, budget).run()
