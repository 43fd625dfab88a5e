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
Atomic file writes that leave nothing behind when the writer is killed.

:func:`write_atomic` puts a file in place in one step: a reader sees the old
file or the whole new one, never half a file. On Linux the bytes go into an
unnamed file (``O_TMPFILE``: no directory entry until it is complete), which
is then linked under its final name (a new file) or under a hidden temporary
name that is renamed over the old one at once; a writer killed while writing
leaves nothing visible. Where ``O_TMPFILE`` or ``linkat`` is missing (other
systems, some network file systems) the bytes go to a hidden temporary file
named ``.NAME.<pid>.<token>.tmp``; :func:`sweep_stale_temps` removes the ones
whose writer is dead (or that are old), and the trainer calls it before it
writes.

A process may install a commit check (:func:`set_commit_check`): it runs just
before a file is put in place and may end the process instead (a training
child whose parent is gone must not publish a model).

Standard library only: both the robot side and the trainer use it.
"""

from __future__ import annotations

import ctypes
import os
from pathlib import Path
import re
import secrets
import threading
import time
from typing import Callable, Optional

#: ``linkat`` flag: follow the ``/proc/self/fd`` link to the unnamed file.
_AT_SYMLINK_FOLLOW = 0x400
_AT_FDCWD = -100
#: Temporary names this module makes: ``.NAME.<pid>.<token>.tmp``.
_TEMP = re.compile(r'^\.(?P<name>.+)\.(?P<pid>\d+)\.(?P<token>[0-9a-f]{16})\.tmp$')
#: Temporary names of earlier writers of models and checkpoints (no owner recorded):
#: ``.NAME.onnx.<random>.tmp`` and ``.NAME.pt.tmp``.
_LEGACY_TEMP = re.compile(r'^\..+\.(onnx\.[^.]+|pt)\.tmp$')
#: A temporary file older than this (s) is stale whoever wrote it: writes take
#: milliseconds to seconds.
STALE_TEMP_S = 300.0

_commit_check: Optional[Callable[[], None]] = None
_linkat_lock = threading.Lock()
_linkat: Optional[Callable[..., int]] = None
_linkat_missing = False


def set_commit_check(check: Optional[Callable[[], None]]) -> None:
    """Run ``check()`` before every file is put in place (None: no check)."""
    global _commit_check
    _commit_check = check


def temp_name(path: Path) -> Path:
    """Return a fresh hidden temporary name next to ``path``, owned by this process."""
    return path.with_name(f'.{path.name}.{os.getpid()}.{secrets.token_hex(8)}.tmp')


def _libc_linkat() -> Optional[Callable[..., int]]:
    global _linkat, _linkat_missing
    with _linkat_lock:
        if _linkat is None and not _linkat_missing:
            try:
                func = ctypes.CDLL(None, use_errno=True).linkat
                func.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p,
                                 ctypes.c_int]
                func.restype = ctypes.c_int
                _linkat = func
            except (OSError, AttributeError):
                _linkat_missing = True
        return _linkat


def _link_fd(fd: int, target: Path) -> None:
    """Give the unnamed file ``fd`` the name ``target`` (OSError when impossible)."""
    linkat = _libc_linkat()
    if linkat is None:
        raise OSError('linkat is not available')
    # os.link does not follow the /proc/self/fd link (it calls link()), linkat with
    # AT_SYMLINK_FOLLOW does, and needs no privilege (AT_EMPTY_PATH would).
    if linkat(_AT_FDCWD, f'/proc/self/fd/{fd}'.encode(), _AT_FDCWD, os.fsencode(target),
              _AT_SYMLINK_FOLLOW) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, os.strerror(errno), str(target))


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems cannot sync a directory; the rename is still atomic
    finally:
        os.close(fd)


def _commit() -> None:
    if _commit_check is not None:
        _commit_check()


def _write_unnamed(path: Path, data: bytes, mode: int) -> bool:
    """Write through an O_TMPFILE file; False when this file system cannot."""
    flag = getattr(os, 'O_TMPFILE', 0)
    if not flag:
        return False
    try:
        fd = os.open(path.parent, flag | os.O_WRONLY, mode)
    except OSError:
        return False  # EOPNOTSUPP, EISDIR on kernels without it, ...
    try:
        os.fchmod(fd, mode)  # the umask applied to the open
        _write_all(fd, data)
        os.fsync(fd)
        _commit()
        try:
            _link_fd(fd, path)  # a new file: it appears complete, in one step
            return True
        except FileExistsError:
            pass  # replacing a file: link under a temporary name, then rename over it
        except OSError:
            return False
        temp = temp_name(path)
        try:
            _link_fd(fd, temp)
        except OSError:
            return False
        try:
            os.replace(temp, path)
        except BaseException:
            temp.unlink(missing_ok=True)
            raise
        return True
    finally:
        os.close(fd)


def _write_named(path: Path, data: bytes, mode: int) -> None:
    """Write to a hidden temporary name, then rename it over ``path``."""
    temp = temp_name(path)
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        try:
            os.fchmod(fd, mode)
            _write_all(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        _commit()
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


def write_atomic(path: Path | str, data: bytes, *, mode: int = 0o644,
                 allow_unnamed: bool = True) -> Path:
    """
    Put ``data`` at ``path`` in one step; return the path.

    :param mode: permission bits of the new file.
    :param allow_unnamed: False forces the named-temporary path (the fallback of
        file systems without ``O_TMPFILE``).
    :raises OSError: the file could not be written; ``path`` is unchanged then.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not (allow_unnamed and _write_unnamed(path, data, mode)):
        _write_named(path, data, mode)
    _fsync_dir(path.parent)
    return path


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    return True


def sweep_stale_temps(directory: Path | str, *, max_age_s: float = STALE_TEMP_S) -> list[Path]:
    """
    Remove the temporary files of dead (or long gone) writers in ``directory``.

    A temporary name of this module whose writer process no longer exists, or
    any such name (or an earlier writer's ``.NAME.onnx.*.tmp`` /
    ``.NAME.pt.tmp``) older than ``max_age_s``, is removed. Returns what was
    removed; a missing directory is fine.
    """
    directory = Path(directory)
    removed: list[Path] = []
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return removed
    now = time.time()
    for entry in entries:
        match = _TEMP.match(entry.name)
        if match is None and not _LEGACY_TEMP.match(entry.name):
            continue
        try:
            if not entry.is_file(follow_symlinks=False):
                continue
            old = now - entry.stat(follow_symlinks=False).st_mtime > max_age_s
        except OSError:
            continue
        dead = match is not None and not _alive(int(match.group('pid')))
        if dead or old:
            try:
                os.unlink(entry.path)
                removed.append(Path(entry.path))
            except OSError:
                pass
    return removed
