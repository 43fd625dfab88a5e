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
Damaged and hostile episode bags for the reader tests, and a bounded child process to read them.

Every maker starts from a good bag written by :func:`write_episode` and changes one
thing, the way a broken disk, a killed writer or an attacker would: a length
field, the footer, a compressed chunk, a metadata value, a message's bytes.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
import re
import struct
import subprocess
import sys
import time
from typing import Any, Callable

from imitation_ros.data import messages as m
from imitation_ros.data import EpisodeBagWriter, EpisodeRecord, write_episode
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
T0 = 1_700_000_000 * 1_000_000_000
NAMES = ('joint1', 'joint2', 'joint3')
MAGIC = b'\x89MCAP0\r\n'
#: Address space of the child process that reads a hostile bag, bytes: the interpreter with
#: numpy, rosbags and the package takes about 120 MB; a bomb that gets through fails here.
CHILD_MEMORY_BYTES = 1 << 30
#: Wall-clock limit of that child, s: generous for a loaded machine; a hang fails here.
CHILD_TIMEOUT_S = 120.0


def record(seed: int = 0, steps: int = 12) -> EpisodeRecord:
    """Return a small synthetic episode (3 joints, ``steps`` steps, a takeover in the middle)."""
    rng = np.random.default_rng(seed)
    positions = np.cumsum(rng.normal(0.0, 0.02, size=(steps + 1, 3)), axis=0)
    return EpisodeRecord(
        joint_names=NAMES, t0_ns=T0 + seed * 10**10, dt=0.05, positions=positions,
        velocities=np.zeros((steps + 1, 3)), task=np.array([2.0, 0.0, 1.5, 0.0, 0.16]),
        actions=positions[1:] + 0.01, intervention=np.arange(steps) % 5 == 2, episode=seed,
        success=True, reason='success', source='hg_dagger', policy_version='v1',
        expert_actions=positions[1:] + 0.02)


def good_bag(path: Path, seed: int = 0, steps: int = 12) -> Path:
    """Write a good episode bag at ``path`` and return it."""
    return write_episode(record(seed, steps), path)


def mcap_of(bag: Path) -> Path:
    """Return the bag's MCAP file."""
    return next(bag.glob('*.mcap'))


def top_records(data: bytes) -> list[tuple[int, int, int]]:
    """List (offset, opcode, length) of an MCAP file's records, front to back until the footer."""
    out = []
    pos = len(MAGIC)
    while pos + 9 <= len(data) - len(MAGIC):
        op, length = struct.unpack_from('<BQ', data, pos)
        out.append((pos, op, length))
        if op == 0x02:
            break
        pos += 9 + length
    return out


def chunk_contents(data: bytes) -> bytes:
    """Return the records inside the (uncompressed) chunks of an MCAP file, concatenated."""
    inner = b''
    for pos, op, length in top_records(data):
        if op != 0x06:
            continue
        body = data[pos + 9:pos + 9 + length]
        (n,) = struct.unpack_from('<I', body, 28)
        compression = body[32:32 + n].decode()
        assert compression == '', 'write_episode writes uncompressed chunks'
        inner += body[32 + n + 8:]
    return inner


def _record(op: int, body: bytes) -> bytes:
    return struct.pack('<BQ', op, len(body)) + body


def _string(text: str) -> bytes:
    raw = text.encode()
    return struct.pack('<I', len(raw)) + raw


def mcap_bytes(*, payload: bytes, compression: str, declared: int, crc: int = 0) -> bytes:
    """
    Return an MCAP file of header, one chunk (``payload`` as its records), data end, footer.

    The file has no summary, so a reader must scan it (rosbags then decompresses every
    chunk). ``declared`` is the chunk's uncompressed size as written in the chunk.
    """
    chunk = (struct.pack('<QQQI', T0, T0, declared, crc) + _string(compression)
             + struct.pack('<Q', len(payload)) + payload)
    return (MAGIC + _record(0x01, _string('ros2') + _string('hostile'))
            + _record(0x06, chunk) + _record(0x0F, struct.pack('<I', 0))
            + _record(0x02, struct.pack('<QQI', 0, 0, 0)) + MAGIC)


def rebuild_mcap(bag: Path, *, payload: bytes, compression: str, declared: int,
                 crc: int = 0) -> None:
    """Replace the bag's MCAP file by :func:`mcap_bytes` of the arguments."""
    mcap_of(bag).write_bytes(mcap_bytes(payload=payload, compression=compression,
                                        declared=declared, crc=crc))


def zstd_zeros(n_bytes: int) -> bytes:
    """Return one zstd frame of ``n_bytes`` zero bytes, compressed in steps (tens of KiB)."""
    from backports import zstd
    comp = zstd.ZstdCompressor()
    block = bytes(1 << 20)
    out = []
    for start in range(0, n_bytes, len(block)):
        out.append(comp.compress(block[:min(len(block), n_bytes - start)]))
    out.append(comp.flush())
    return b''.join(out)


def zstd_bomb(bag: Path, n_bytes: int = 1 << 30) -> None:
    """Replace the bag's data by one zstd chunk of ``n_bytes`` zeros declaring its real size."""
    real = chunk_contents(mcap_of(bag).read_bytes())
    rebuild_mcap(bag, payload=zstd_zeros(n_bytes), compression='zstd', declared=len(real))


def set_record_length(bag: Path, opcode: int, length: int) -> None:
    """Set the length field of the first record with ``opcode`` in the bag's MCAP file."""
    path = mcap_of(bag)
    data = bytearray(path.read_bytes())
    pos = next(p for p, op, _ in top_records(bytes(data)) if op == opcode)
    struct.pack_into('<Q', data, pos + 1, length)
    path.write_bytes(bytes(data))


def break_footer(bag: Path) -> None:
    """Overwrite the footer record (before the closing magic) with zeros."""
    path = mcap_of(bag)
    data = bytearray(path.read_bytes())
    data[-len(MAGIC) - 29:-len(MAGIC)] = bytes(29)
    path.write_bytes(bytes(data))


def edit_metadata(bag: Path, edit: Callable[[str], str]) -> None:
    """Rewrite the bag's metadata.yaml through ``edit`` (text in, text out)."""
    meta = bag / 'metadata.yaml'
    text = edit(meta.read_text())
    meta.write_text(text)


def non_integer_message_count(bag: Path) -> None:
    """Make the first topic's message_count (topics_with_message_count) a word."""
    edit_metadata(bag, lambda t: re.sub(r'^  - message_count: \d+', '  - message_count: many',
                                        t, count=1, flags=re.MULTILINE))
    assert 'message_count: many' in (bag / 'metadata.yaml').read_text()


def alias_bomb(bag: Path, levels: int = 9, width: int = 10) -> None:
    """
    Put a YAML alias bomb into custom_data: ``width ** levels`` strings once expanded.

    The file stays a few KiB; printing the last value would take ``width ** levels``
    times five bytes.
    """
    lines = ['  custom_data:',
             '    bomb_0: &b0 [' + ', '.join(['"abc"'] * width) + ']']
    for k in range(1, levels):
        lines.append(f'    bomb_{k}: &b{k} [' + ', '.join([f'*b{k - 1}'] * width) + ']')

    def edit(text: str) -> str:
        return re.sub(r'^  custom_data:\n', '\n'.join(lines) + '\n', text, count=1,
                      flags=re.MULTILINE)
    edit_metadata(bag, edit)
    assert 'bomb_0' in (bag / 'metadata.yaml').read_text()


def bad_sequence_length(path: Path) -> Path:
    """Write a bag whose third joint state says it has 2^32 - 16 joint names."""
    rec = record(7)
    with EpisodeBagWriter(path) as writer:
        writer.write(m.EPISODE, m.encode_episode_event('start', 7), T0 - 1_000_000)
        for t in range(rec.steps + 1):
            s = T0 + t * 50_000_000
            raw = bytearray(m.encode_joint_state(s, NAMES, rec.positions[t]))
            if t == 2:
                # encapsulation (4), stamp (8), frame_id '' (4 + 1, padded to 4): the names.
                assert struct.unpack_from('<I', raw, 20)[0] == len(NAMES)
                struct.pack_into('<I', raw, 20, 2**32 - 16)
            writer.write(m.JOINT_STATES, bytes(raw), s)
            writer.write(m.TASK, m.encode_float64_array(rec.task), s)
            if t < rec.steps:
                writer.write(m.COMMANDS, m.encode_float64_array(rec.actions[t]), s + 1_000_000)
        return writer.close({'episode': 7, 'success': True, 'reason': 'success',
                             'source': 'demo', 'policy_version': '', 'interventions': 0,
                             'steps': rec.steps, 'joint_names': list(NAMES), 'dt': 0.05})


def read_in_child(code: str, *args: Any) -> dict[str, Any]:
    """
    Run ``code`` in a child Python with :data:`CHILD_MEMORY_BYTES` of address space.

    ``code`` sees ``args`` (JSON) and sets ``result`` (a JSON-able dict). Returns that
    dict plus ``rc``, ``peak_rss_kb`` (its peak resident memory) and ``output``; a child
    that runs past :data:`CHILD_TIMEOUT_S` is killed and reported with rc None.
    """
    script = f'''
import json, resource, sys, warnings
resource.setrlimit(resource.RLIMIT_AS, ({CHILD_MEMORY_BYTES}, {CHILD_MEMORY_BYTES}))
args = json.loads(sys.argv[1])
warnings.simplefilter('always')
result = {{}}
{code}
# VmHWM: the peak resident set of this process image (ru_maxrss would carry over the
# parent's from before exec).
with open('/proc/self/status') as status:
    result['peak_rss_kb'] = next(int(line.split()[1]) for line in status
                                 if line.startswith('VmHWM:'))
print('RESULT ' + json.dumps(result))
'''
    env = dict(os.environ, OPENBLAS_NUM_THREADS='1', OMP_NUM_THREADS='1',
               PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get('PYTHONPATH', ''))
    try:
        proc = subprocess.run([sys.executable, '-c', script, json.dumps(list(args))], env=env,
                              cwd=ROOT, capture_output=True, text=True,
                              timeout=CHILD_TIMEOUT_S)
    except subprocess.TimeoutExpired as exc:
        return {'rc': None, 'output': f'killed after {CHILD_TIMEOUT_S} s: {exc.stderr!r}'}
    out: dict[str, Any] = {'rc': proc.returncode, 'output': proc.stdout + proc.stderr}
    for line in proc.stdout.splitlines():
        if line.startswith('RESULT '):
            out.update(json.loads(line[len('RESULT '):]))
    return out


#: Child code: load_dataset over args[0]; the samples, episodes and skipped bags.
LOAD_CODE = '''
from imitation_ros.data.dataset import load_dataset
from imitation_ros.errors import DataError
try:
    ds = load_dataset(args[0])
    result.update(samples=len(ds), episodes=len(ds.episodes),
                  skipped=[[str(s.path), s.reason] for s in getattr(ds, 'skipped', ())])
except DataError as exc:
    result.update(error=str(exc)[:2000])
'''

#: Child code: bag-info over args[0]; its text.
BAG_INFO_CODE = '''
from imitation_ros.data import format_bag_info
result.update(text=format_bag_info(args[0]))
'''


def abandon(partial: Path) -> Path:
    """Date a ``*.partial`` bag an hour back: what a recorder killed long ago leaves."""
    then = time.time() - 3600.0
    for path in (partial, *partial.rglob('*')):
        os.utime(path, (then, then))
    return partial
