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

"""Atomic writes: one-step replacement, no temporary file left by a killed writer."""

from __future__ import annotations

import os
from pathlib import Path
import signal
import subprocess
import sys
import textwrap
import time

from imitation_ros.runtime import atomic
from imitation_ros.runtime.atomic import set_commit_check, sweep_stale_temps, write_atomic
import pytest

ROOT = Path(__file__).resolve().parents[1]
TIMEOUT_S = 60.0

#: A real writer process that stops inside its fsync (the file's bytes written, not yet
#: in place) and says so; the test then kills it with SIGKILL.
_STALLED_WRITER = textwrap.dedent('''
    import os, sys, time
    from imitation_ros.runtime import atomic

    def stalled_fsync(fd):
        print('in fsync', flush=True)
        time.sleep(600)

    os.fsync = stalled_fsync
    atomic.write_atomic(sys.argv[1], b'x' * 1_000_000, allow_unnamed=sys.argv[2] == 'unnamed')
''')


def _kill_mid_write(target: Path, mode: str) -> None:
    """Run the stalled writer for ``target`` and SIGKILL it inside its fsync."""
    proc = subprocess.Popen([sys.executable, '-c', _STALLED_WRITER, str(target), mode],
                            stdout=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        line = proc.stdout.readline()  # blocks until the writer is inside fsync (or died)
        assert line.strip() == 'in fsync', f'the writer did not reach fsync: {line!r}'
        proc.send_signal(signal.SIGKILL)
        assert proc.wait(timeout=TIMEOUT_S) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()


def _unnamed_supported(directory: Path) -> bool:
    flag = getattr(os, 'O_TMPFILE', 0)
    if not flag:
        return False
    try:
        os.close(os.open(directory, flag | os.O_WRONLY, 0o600))
    except OSError:
        return False
    return True


@pytest.mark.parametrize('unnamed', [True, False])
def test_write_replaces_in_one_step_and_leaves_nothing_else(tmp_path: Path,
                                                            unnamed: bool) -> None:
    """A new file and a replacement appear whole, readable by all, with no other entry."""
    path = tmp_path / 'sub' / 'model.onnx'
    write_atomic(path, b'first', allow_unnamed=unnamed)
    assert path.read_bytes() == b'first'
    write_atomic(path, b'second', mode=0o640, allow_unnamed=unnamed)
    assert path.read_bytes() == b'second'
    assert path.stat().st_mode & 0o777 == 0o640
    assert [p.name for p in path.parent.iterdir()] == ['model.onnx']


@pytest.mark.parametrize('unnamed', [True, False])
def test_commit_check_stops_a_write_before_the_file_appears(tmp_path: Path,
                                                            unnamed: bool) -> None:
    """A commit check that raises leaves the old file and no temporary file."""
    path = tmp_path / 'model.onnx'
    write_atomic(path, b'old')

    def refuse() -> None:
        raise RuntimeError('parent gone')

    set_commit_check(refuse)
    try:
        with pytest.raises(RuntimeError, match='parent gone'):
            write_atomic(path, b'new', allow_unnamed=unnamed)
        with pytest.raises(RuntimeError, match='parent gone'):
            write_atomic(tmp_path / 'fresh.onnx', b'new', allow_unnamed=unnamed)
    finally:
        set_commit_check(None)
    assert path.read_bytes() == b'old'
    assert [p.name for p in tmp_path.iterdir()] == ['model.onnx']


def test_writer_killed_mid_write_leaves_nothing_visible(tmp_path: Path) -> None:
    """SIGKILL inside the fsync of an O_TMPFILE write leaves the folder empty."""
    if not _unnamed_supported(tmp_path):
        pytest.skip('this file system has no O_TMPFILE; the named-temporary test covers it')
    _kill_mid_write(tmp_path / 'policy_v001.onnx', 'unnamed')
    assert list(tmp_path.iterdir()) == []


def test_named_temporary_of_a_killed_writer_is_swept(tmp_path: Path) -> None:
    """Without O_TMPFILE a killed writer leaves a hidden temporary file; the sweep removes it."""
    _kill_mid_write(tmp_path / 'policy_v001.onnx', 'named')
    left = [p.name for p in tmp_path.iterdir()]
    assert len(left) == 1 and left[0].startswith('.policy_v001.onnx.'), left
    assert [p.name for p in sweep_stale_temps(tmp_path)] == left
    assert list(tmp_path.iterdir()) == []


def test_sweep_keeps_live_writers_and_other_files(tmp_path: Path) -> None:
    """Temporary files of live writers, recent unowned ones and ordinary files stay."""
    live = atomic.temp_name(tmp_path / 'a.onnx')  # this process: alive
    dead = tmp_path / '.b.onnx.4194999.0123456789abcdef.tmp'  # above any pid_max here
    unowned_new = tmp_path / '.c.onnx.k2j3h4.tmp'
    unowned_old = tmp_path / '.d.pt.tmp'
    keep = [tmp_path / 'model.onnx', tmp_path / '.hidden', tmp_path / 'x.tmp']
    for path in [live, dead, unowned_new, unowned_old, *keep]:
        path.write_bytes(b'1')
    hour_ago = time.time() - 3600
    os.utime(unowned_old, (hour_ago, hour_ago))
    removed = sweep_stale_temps(tmp_path)
    assert sorted(p.name for p in removed) == sorted([dead.name, unowned_old.name])
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        p.name for p in [live, unowned_new, *keep])
    assert sweep_stale_temps(tmp_path / 'missing') == []
