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
Which model files a robot may load: allowed directories and the trainer's manifest.

Anyone on the DDS domain can publish a path on ``imitation/model``, so a path
alone proves nothing. A model is loaded only when

1. its real path (symbolic links resolved, the request holding no ``..``) lies
   inside one of the allowed model directories (:class:`ModelTrust`); a path
   outside gets one message whether or not the file exists, so the replies
   tell a peer nothing about the file system;
2. the ``manifest.json`` in the model's own directory lists its file name,
   written by whoever produced it (the trainer lists each model it publishes,
   :func:`record_model`, after validating it), and
3. the SHA-256 of the bytes read matches the listed one. Those same bytes are
   what ONNX Runtime loads, so the file cannot change between the check and
   the load.

Manifest (``manifest.json``, written atomically, one per models directory)::

    {"format": "imitation_ros.models/1",
     "models": {"policy_v001.onnx": {"sha256": "<hex>", "size": 1234567,
                                     "version": "v001", "listed": "<UTC ISO time>"}}}

A model made by hand (trained with ``imitation-ros train``, or the model
shipped with the package) is listed with
``python -m imitation_ros.runtime.model_trust add models/NAME.onnx``.
Standard library (plus ONNX Runtime to validate what ``add`` lists).
"""

from __future__ import annotations

import argparse
import contextlib
from dataclasses import dataclass
from datetime import datetime, timezone
import hashlib
import json
import os
from pathlib import Path
import stat
import sys
from typing import Any, Iterator, Optional, Sequence

from .atomic import write_atomic
from ..errors import ImitationError, ModelError

#: File name of the manifest in every models directory.
MANIFEST = 'manifest.json'
#: Format tag of the manifest.
MANIFEST_FORMAT = 'imitation_ros.models/1'
#: Largest model file read (bytes); exported policies are well under 10 MB.
MAX_MODEL_BYTES = 256 * 1024 * 1024
#: Largest manifest read (bytes).
MAX_MANIFEST_BYTES = 16 * 1024 * 1024
#: Longest path accepted on imitation/model (characters).
MAX_PATH_CHARS = 4096
#: What every refused path outside the allowed directories gets, whether it exists or not.
OUTSIDE = ('refused: models load only from the allowed model directories (policy parameter '
           "model_dirs), by a path without '..'")


def sha256_hex(data: bytes) -> str:
    """Return the SHA-256 of ``data`` as lowercase hex."""
    return hashlib.sha256(data).hexdigest()


def _shown(path: Any) -> str:
    text = str(path)
    return text if len(text) <= 300 else text[:300] + '...'


def _read_bounded(path: Path, limit: int, what: str) -> bytes:
    """Read a regular file (not through a final symbolic link) of at most ``limit`` bytes."""
    flags = os.O_RDONLY | getattr(os, 'O_NOFOLLOW', 0) | getattr(os, 'O_CLOEXEC', 0)
    fd = os.open(path, flags)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise ModelError(f'{_shown(path)}: refused: the {what} is not a regular file')
        if info.st_size > limit:
            raise ModelError(f'{_shown(path)}: refused: the {what} has {info.st_size} bytes, '
                             f'more than the {limit} allowed')
        chunks, size = [], 0
        while True:
            chunk = os.read(fd, min(1 << 20, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
            if size > limit:
                raise ModelError(f'{_shown(path)}: refused: the {what} grew past {limit} bytes '
                                 'while being read')
        return b''.join(chunks)
    finally:
        os.close(fd)


def read_manifest(directory: Path | str) -> dict[str, dict]:
    """
    Return the models listed in ``directory``'s manifest (file name -> entry).

    A missing manifest lists nothing.

    :raises ModelError: the manifest is unreadable or malformed.
    """
    path = Path(directory) / MANIFEST
    try:
        raw = _read_bounded(path, MAX_MANIFEST_BYTES, 'manifest')
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise ModelError(f'{_shown(path)} cannot be read ({exc.strerror or exc}); fix its '
                         'permissions or let the trainer write it again') from exc
    try:
        data = json.loads(raw.decode('utf-8'))
    except (UnicodeDecodeError, ValueError) as exc:
        raise ModelError(f'{_shown(path)} is not valid JSON ({exc}); remove it and list the '
                         'models again (python -m imitation_ros.runtime.model_trust add '
                         'DIR/*.onnx)') from exc
    models = data.get('models') if isinstance(data, dict) else None
    if (not isinstance(data, dict) or data.get('format') != MANIFEST_FORMAT
            or not isinstance(models, dict)):
        raise ModelError(f'{_shown(path)} is not a model manifest of format '
                         f'{MANIFEST_FORMAT!r}; remove it and list the models again')
    return {str(k): v for k, v in models.items() if isinstance(v, dict)}


@contextlib.contextmanager
def _locked(directory: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``directory`` (no lock file: flock on the folder itself)."""
    try:
        import fcntl  # lazy: POSIX only; the module imports without it
    except ImportError:  # not a POSIX system: writers are serialized by the trainer alone
        yield
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def record_model(path: Path | str, *, version: str = '', digest: Optional[str] = None,
                 size: Optional[int] = None) -> dict:
    """
    List ``path`` in the manifest of its directory; return its entry.

    :param digest: SHA-256 (hex) of the bytes that were validated; computed from
        the file when not given.
    :param size: their length in bytes (with ``digest``).
    """
    path = Path(path)
    directory = path.parent
    if digest is None:
        data = _read_bounded(path, MAX_MODEL_BYTES, 'model file')
        digest, size = sha256_hex(data), len(data)
    entry = {'sha256': digest, 'size': int(size if size is not None else path.stat().st_size),
             'version': version,
             'listed': datetime.now(timezone.utc).isoformat(timespec='seconds')}
    with _locked(directory):
        models = read_manifest(directory)
        models[path.name] = entry
        text = json.dumps({'format': MANIFEST_FORMAT, 'models': dict(sorted(models.items()))},
                          indent=1, sort_keys=True)
        write_atomic(directory / MANIFEST, (text + '\n').encode('utf-8'))
    return entry


@dataclass(frozen=True)
class TrustedModel:
    """A model file that passed :meth:`ModelTrust.verify`."""

    path: Path
    """Its real path (symbolic links resolved)."""
    data: bytes
    """The bytes that were checked; load these, not the file again."""
    sha256: str
    """Their SHA-256 (hex), as listed."""
    version: str
    """The version the manifest lists ('' when it names none)."""


def _inside(path: Path, root: Path) -> bool:
    return path != root and root in path.parents


class ModelTrust:
    """
    The allowed model directories and the check every requested path goes through.

    :param directories: folders models may be loaded from (relative ones are
        taken from the working directory, resolved at every check, so a folder
        created later counts).
    :param max_bytes: largest model file accepted.
    """

    def __init__(self, directories: Sequence[Path | str], *,
                 max_bytes: int = MAX_MODEL_BYTES) -> None:
        """Keep the directories; nothing is checked before the first request."""
        self.directories = tuple(str(d) for d in directories if str(d))
        self.max_bytes = int(max_bytes)

    def roots(self) -> list[Path]:
        """Return the real paths of the allowed directories, now."""
        return [Path(os.path.realpath(d)) for d in self.directories]

    def resolve(self, path: Path | str) -> Path:
        """
        Return the real path of ``path`` when it lies inside an allowed directory.

        :raises ModelError: with :data:`OUTSIDE` only, whatever the reason (outside,
            ``..``, a symbolic link out, an unusable string), and whether or not a
            file exists there.
        """
        text = str(path)
        refused = ModelError(f'{_shown(text)}: {OUTSIDE}')
        if (not text or '\x00' in text or len(text) > MAX_PATH_CHARS
                or '..' in Path(text).parts):
            raise refused
        try:
            real = Path(os.path.realpath(text))
        except (OSError, ValueError):
            raise refused from None
        if not any(_inside(real, root) for root in self.roots()):
            raise refused
        return real

    def verify(self, path: Path | str) -> TrustedModel:
        """
        Check ``path`` completely and return its verified bytes.

        :raises ModelError: outside the allowed directories (:meth:`resolve`), not
            listed in its directory's manifest, missing, too large, or its digest
            differs from the listed one.
        """
        real = self.resolve(path)
        shown = _shown(path)
        manifest = real.parent / MANIFEST
        entry = read_manifest(real.parent).get(real.name)
        if entry is None:
            raise ModelError(f'{shown}: refused: not listed in {_shown(manifest)}; the trainer '
                             'lists every model it publishes, a model made otherwise is listed '
                             'with "python -m imitation_ros.runtime.model_trust add PATH"')
        listed = str(entry.get('sha256', '')).lower()
        try:
            data = _read_bounded(real, self.max_bytes, 'model file')
        except FileNotFoundError:
            raise ModelError(f'{shown}: refused: listed in {_shown(manifest)} but the file is '
                             'missing') from None
        except OSError as exc:
            raise ModelError(f'{shown}: refused: cannot read it ({exc.strerror or exc})') from exc
        digest = sha256_hex(data)
        if digest != listed:
            raise ModelError(f'{shown}: refused: its SHA-256 {digest[:16]}... differs from the '
                             f'one listed in {_shown(manifest)} ({listed[:16]}...): the file '
                             'changed after it was listed; retrain it, or list it again if the '
                             'change is yours')
        return TrustedModel(real, data, digest, str(entry.get('version', '')))


def _add(paths: Sequence[Path]) -> int:
    from .onnx_policy import OnnxPolicy  # ONNX Runtime: only this command; the trainer imports us
    status = 0
    for path in paths:
        try:
            data = _read_bounded(path, MAX_MODEL_BYTES, 'model file')
            policy = OnnxPolicy(path, model_bytes=data)
            entry = record_model(path, version=policy.version, digest=sha256_hex(data),
                                 size=len(data))
        except (ImitationError, OSError) as exc:
            print(f'not listed: {exc}', file=sys.stderr)
            status = 1
            continue
        print(f'listed {path.name} ({policy.kind} {entry["version"]}, sha256 '
              f'{entry["sha256"]}) in {path.parent / MANIFEST}')
    return status


def _verify(paths: Sequence[Path], directories: Sequence[str]) -> int:
    status = 0
    for path in paths:
        trust = ModelTrust(directories or [str(path.parent)])
        try:
            model = trust.verify(path)
        except ModelError as exc:
            print(exc, file=sys.stderr)
            status = 1
            continue
        print(f'{path}: listed, sha256 {model.sha256}')
    return status


def main(argv: Optional[Sequence[str]] = None) -> int:
    """List models in their directory's manifest (``add``) or check them (``verify``)."""
    parser = argparse.ArgumentParser(
        prog='python -m imitation_ros.runtime.model_trust',
        description='List ONNX models in the manifest of their directory, which the policy '
                    'node checks before it loads a model, or check models against it.')
    sub = parser.add_subparsers(dest='command', required=True)
    add = sub.add_parser('add', help='validate each model and list it with its SHA-256')
    add.add_argument('models', nargs='+', type=Path)
    verify = sub.add_parser('verify', help='check each model as the policy node would')
    verify.add_argument('models', nargs='+', type=Path)
    verify.add_argument('--dirs', nargs='*', default=[],
                        help='allowed directories (default: the model\'s own)')
    args = parser.parse_args(argv)
    if args.command == 'add':
        return _add(args.models)
    return _verify(args.models, args.dirs)


if __name__ == '__main__':
    sys.exit(main())
