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
Fuzz the bag reader with mutated bags: a DataError or a correct read, bounded in memory and time.

Every case writes one mutated copy of a small good bag and runs what bag-info and the
loader run on it (the scan, :func:`format_bag_info` with its check of every message,
:func:`load_dataset`) under ``tracemalloc`` and an alarm. Any other exception, a
peak of Python memory over :data:`PEAK_BYTES` or a run past :data:`CASE_TIMEOUT_S`
fails the case. The examples are derandomized (the same ones on every run);
``IMITATION_ROS_FUZZ_EXAMPLES=N`` runs N random ones per mutation instead.
"""

from __future__ import annotations

import contextlib
import functools
import os
from pathlib import Path
import re
import signal
import struct
import tempfile
import tracemalloc
from typing import Any, Iterator
import warnings

from hypothesis import given, HealthCheck, settings, strategies as st
import hostile_bags as h
from imitation_ros.data import format_bag_info, scan_episode_bags
from imitation_ros.data.dataset import Dataset, load_dataset
from imitation_ros.data.storage import ReadLimits
from imitation_ros.errors import DataError
import numpy as np

#: Read limits of the fuzzed reads: small, so that a case that gets through stays cheap.
LIMITS = ReadLimits(max_chunk_bytes=8 << 20, max_bag_bytes=32 << 20, max_records=100_000)
#: Largest Python memory peak of one case, bytes (three chunks' worth plus the interpreter's
#: own allocations during the read).
PEAK_BYTES = 3 * LIMITS.max_chunk_bytes + (16 << 20)
#: A case running this long hangs (generous for a loaded 2-core machine), s.
CASE_TIMEOUT_S = 60

_RANDOM = os.environ.get('IMITATION_ROS_FUZZ_EXAMPLES')
FUZZ = settings(max_examples=int(_RANDOM) if _RANDOM else 30, derandomize=not _RANDOM,
                deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@functools.lru_cache(maxsize=1)
def _template() -> tuple[bytes, str, Dataset]:
    """Return a good bag's MCAP bytes, its metadata.yaml and its dataset (built once)."""
    with tempfile.TemporaryDirectory() as tmp:
        bag = h.good_bag(Path(tmp) / 'ep', seed=5, steps=12)
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')
            data = load_dataset(bag)
        return h.mcap_of(bag).read_bytes(), (bag / 'metadata.yaml').read_text(), data


@contextlib.contextmanager
def _bounded() -> Iterator[None]:
    """Fail the case past CASE_TIMEOUT_S (SIGALRM) or PEAK_BYTES of Python memory."""
    def timeout(signum: int, frame: Any) -> None:
        raise TimeoutError(f'a fuzz case ran longer than {CASE_TIMEOUT_S} s')

    previous = signal.signal(signal.SIGALRM, timeout)
    signal.alarm(CASE_TIMEOUT_S)
    tracemalloc.start()
    try:
        yield
        _, peak = tracemalloc.get_traced_memory()
        assert peak <= PEAK_BYTES, f'a fuzz case peaked at {peak} bytes of Python memory'
    finally:
        tracemalloc.stop()
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def _read(mcap: bytes, metadata: str | bytes) -> Dataset | None:
    """
    Write the bag and read it as bag-info and the loader do; None when it is refused.

    Only DataError may refuse it; the loader refuses exactly the bags that bag-info
    marks unreadable or skips.
    """
    with tempfile.TemporaryDirectory() as tmp:
        bag = Path(tmp) / 'ep'
        bag.mkdir()
        (bag / 'ep.mcap').write_bytes(mcap)
        (bag / 'metadata.yaml').write_bytes(
            metadata.encode() if isinstance(metadata, str) else metadata)
        with warnings.catch_warnings(), _bounded():
            warnings.simplefilter('ignore')
            found, skipped = scan_episode_bags(tmp)
            assert len(found) + len(skipped) == 1
            # bag-info reads every bag as the loader does (check_bag) and says which it skips.
            text = format_bag_info(tmp, limits=LIMITS)
            readable = bool(found) and 'UNREADABLE' not in text
            try:
                data = load_dataset(tmp, limits=LIMITS)
            except DataError:
                data = None
        assert (data is not None) == (readable and len(data or ()) > 0), text
        return data


def _same(a: Dataset, b: Dataset) -> bool:
    """Return True when two datasets hold the same samples."""
    return all(np.array_equal(getattr(a, k), getattr(b, k), equal_nan=True)
               for k in ('positions', 'actions', 'expert_actions', 'human', 'task'))


def _records(data: bytes, start: int) -> list[tuple[int, int, int]]:
    """List (offset, opcode, length) of the records in ``data`` from ``start`` on."""
    out = []
    pos = start
    while pos + 9 <= len(data):
        op, length = struct.unpack_from('<BQ', data, pos)
        out.append((pos, op, length))
        pos += 9 + length
    return out


def test_the_template_reads_back() -> None:
    """The unmutated bag reads correctly through the fuzz harness (the cases can succeed)."""
    mcap, metadata, data = _template()
    assert len(data) == 12
    back = _read(mcap, metadata)
    assert back is not None and _same(back, data)


@FUZZ
@given(flips=st.lists(st.tuples(st.floats(0, 1, exclude_max=True), st.integers(0, 7)),
                      min_size=1, max_size=8))
def test_bit_flips(flips: list[tuple[float, int]]) -> None:
    """Flipped bits anywhere in the MCAP file: refused, or read (the index is not trusted)."""
    mcap, metadata, data = _template()
    mutated = bytearray(mcap)
    for where, bit in flips:
        mutated[int(where * len(mcap))] ^= 1 << bit
    back = _read(bytes(mutated), metadata)
    data_end = next(p for p, op, _ in h.top_records(mcap) if op == 0x0F)
    if back is not None and all(int(w * len(mcap)) > data_end + 12 for w, _ in flips):
        # Only the summary and indexes after the data section changed.
        assert _same(back, data)


@FUZZ
@given(start=st.floats(0, 1, exclude_max=True), length=st.floats(0, 1),
       keep_tail=st.booleans())
def test_truncations_and_cut_out_ranges(start: float, length: float, keep_tail: bool) -> None:
    """A file cut short is refused; one with a range cut out is refused or read."""
    mcap, metadata, _ = _template()
    a = int(start * len(mcap))
    b = min(len(mcap), a + 1 + int(length * (len(mcap) - a)))
    mutated = mcap[:a] + (mcap[b:] if keep_tail else b'')
    back = _read(mutated, metadata)
    if not keep_tail:
        assert back is None


HUGE = st.sampled_from([2**64 - 1, 2**63, 2**40, 2**32 + 5, 2**31, 0, 1, 22])


@FUZZ
@given(index=st.integers(0, 200), value=HUGE, delta=st.integers(-3, 3),
       inside=st.booleans(), compression=st.sampled_from(['', 'zstd', 'lz4']))
def test_length_fields_set_huge(index: int, value: int, delta: int, inside: bool,
                                compression: str) -> None:
    """A record length, top level or inside a chunk, set to a huge or wrong value."""
    import lz4.frame
    from backports import zstd

    mcap, metadata, _ = _template()
    if inside:
        inner = bytearray(h.chunk_contents(mcap))
        records = _records(bytes(inner), 0)
        pos = records[index % len(records)][0]
        struct.pack_into('<Q', inner, pos + 1, max(0, min(2**64 - 1, value + delta)))
        compress = {'': bytes, 'zstd': zstd.compress, 'lz4': lz4.frame.compress}[compression]
        mutated = h.mcap_bytes(payload=compress(bytes(inner)), compression=compression,
                               declared=len(inner))
    else:
        records = h.top_records(mcap)
        pos = records[index % len(records)][0]
        buf = bytearray(mcap)
        struct.pack_into('<Q', buf, pos + 1, max(0, min(2**64 - 1, value + delta)))
        mutated = bytes(buf)
    _read(mutated, metadata)


@FUZZ
@given(message=st.integers(0, 10_000), offset=st.integers(0, 200), value=HUGE)
def test_cdr_lengths_set_huge(message: int, offset: int, value: int) -> None:
    """A 32-bit word (a sequence or string length, say) of one message set huge or zero."""
    mcap, metadata, _ = _template()
    inner = bytearray(h.chunk_contents(mcap))
    messages = [(p, n) for p, op, n in _records(bytes(inner), 0) if op == 0x05]
    pos, length = messages[message % len(messages)]
    data = pos + 9 + 22  # channel, sequence, log and publish time precede the CDR bytes
    words = (length - 22) // 4
    struct.pack_into('<I', inner, data + 4 * (offset % words), value % 2**32)
    _read(h.mcap_bytes(payload=bytes(inner), compression='', declared=len(inner)), metadata)


@functools.lru_cache(maxsize=8)
def _zeros(n_bytes: int) -> bytes:
    return h.zstd_zeros(n_bytes)


@FUZZ
@given(size=st.sampled_from([0, 1, 4096, 1 << 20, 8 << 20, (8 << 20) + 1, 32 << 20]),
       declared=st.sampled_from(['real', 'size', 'size-1', 'size+1', 'zero', 'huge']),
       garbage=st.binary(max_size=64))
def test_zstd_bombs(size: int, declared: str, garbage: bytes) -> None:
    """A zstd chunk of zeros (up to 32 MiB from a few KiB), any declared size: refused."""
    mcap, metadata, _ = _template()
    real = len(h.chunk_contents(mcap))
    value = {'real': real, 'size': size, 'size-1': max(0, size - 1), 'size+1': size + 1,
             'zero': 0, 'huge': 2**63}[declared]
    mutated = h.mcap_bytes(payload=_zeros(size) + garbage, compression='zstd', declared=value)
    assert _read(mutated, metadata) is None


#: (width, levels) of alias bombs that expand to 6 to 60 million strings: past PEAK_BYTES
#: if anything copies or prints one, and not so far past that a regression exhausts the host.
BOMBS = [(w, n) for w in range(2, 13) for n in range(2, 24) if 6e6 <= w ** n <= 6e7]


@FUZZ
@given(shape=st.sampled_from(BOMBS),
       target=st.sampled_from(['custom_data', 'relative_file_paths', 'storage_identifier',
                               'compression_mode']))
def test_yaml_alias_bombs(shape: tuple[int, int], target: str) -> None:
    """Nested YAML aliases (in custom_data, or pointed to by another key) are refused cheaply."""
    width, levels = shape
    mcap, metadata, _ = _template()
    lines = ['  custom_data:', '    b0: &b0 [' + ', '.join(['"abcd"'] * width) + ']']
    lines += [f'    b{k}: &b{k} [' + ', '.join([f'*b{k - 1}'] * width) + ']'
              for k in range(1, levels)]
    bombed = metadata.replace('  custom_data:', '\n'.join(lines), 1)
    top = f'*b{levels - 1}'
    if target == 'custom_data':
        bombed = bombed.replace(lines[-1], lines[-1] + f'\n    alias: {top}', 1)
    elif target == 'relative_file_paths':
        bombed = re.sub(r'  relative_file_paths:\n  - ep.mcap\n',
                        f'  relative_file_paths: {top}\n', bombed)
    else:
        bombed = re.sub(rf'  {target}: .*\n', f'  {target}: {top}\n', bombed)
    assert top in bombed, target
    assert _read(mcap, bombed) is None


YAML_VALUES = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True),
              st.text(max_size=40)),
    lambda inner: (st.lists(inner, max_size=4)
                   | st.dictionaries(st.text(max_size=8), inner, max_size=4)),
    max_leaves=12)
STANDARD = ['episode', 'success', 'reason', 'source', 'policy_version', 'interventions',
            'steps', 'joint_names', 'dt', 'human_steps', 'expert_labels']


@FUZZ
@given(extra=st.dictionaries(st.one_of(st.sampled_from(STANDARD), st.text(max_size=12)),
                             YAML_VALUES, max_size=6))
def test_random_custom_data(extra: dict[Any, Any]) -> None:
    """Any custom_data values (lists, maps, numbers, text): refused, or the same samples."""
    from io import StringIO

    from ruamel.yaml import YAML

    mcap, metadata, data = _template()
    yaml = YAML(typ='safe')
    doc = yaml.load(metadata)
    custom = doc['rosbag2_bagfile_information']['custom_data']
    custom.update(extra)
    out = StringIO()
    yaml.dump(doc, out)
    back = _read(mcap, out.getvalue())
    if back is not None and not {'joint_names', 'dt'} & set(extra):
        assert _same(back, data)


@FUZZ
@given(flips=st.lists(st.tuples(st.floats(0, 1, exclude_max=True), st.integers(0, 7)),
                      min_size=1, max_size=6))
def test_metadata_bit_flips(flips: list[tuple[float, int]]) -> None:
    """Flipped bits in metadata.yaml: refused, or read."""
    mcap, metadata, _ = _template()
    raw = bytearray(metadata.encode())
    for where, bit in flips:
        raw[int(where * len(raw))] ^= 1 << bit
    _read(mcap, bytes(raw))
