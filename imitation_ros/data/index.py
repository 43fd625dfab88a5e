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
The episode index: what the loader made of each bag, kept beside the data for the next load.

The trainer loads its whole data folder every round; the index lets it read
only the bags it has not seen. It lives under ``<data_dir>/.imitation_ros-index/``
(one folder per load mode, with or without images) and holds, per bag, the
aligned columns (``cols-<digest>.npz``) or the reason the bag was skipped, and,
with images, each bag's per-sample frames appended to one raw store file
(``images-<id>.u8``) that the loader memory-maps, so 1000 episodes of images
never sit in RAM.

Bag digest (:func:`bag_digest`)
    SHA-256 of the bag's ``metadata.yaml`` bytes and the name, size and
    modification time (ns) of every other file in the bag folder, salted with
    the index format, the load mode and the :class:`ReadLimits`. Not a hash of
    the content: that would read every bag (40 MB with images) every round,
    the very cost the index exists to save. Bags are written once and renamed
    into place whole; reindexing, converting, copying over or editing a bag
    changes its metadata, a size or a modification time. What the digest cannot
    see is a same-size rewrite that also restores the modification time: delete
    the index folder (or load with ``index=False``) after such surgery.

Safety
    The index is input like the bags: ``index.json`` carries a SHA-256 of its
    own body, every entry is checked (names, offsets within the store, array
    shapes) before use, and an index that is corrupt, of another format or
    names files that are gone is rebuilt with an :class:`IndexWarning`, never
    trusted. Files are written to a temporary name, flushed and renamed into
    place (atomic), so a reader sees the old or the new index, never half of
    one; readers take no lock. One writer at a time: a writer holds an
    exclusive ``flock`` on ``lock``; a second process that finds it taken loads
    with what the index already has and reads the rest of the bags itself,
    without writing. A reader that raced a writer and finds a file gone reads
    those bags again.
"""

from __future__ import annotations

from dataclasses import dataclass
import errno
import hashlib
import json
import os
from pathlib import Path
import re
import secrets
import time
from typing import Any, BinaryIO, Mapping
import warnings

import numpy as np

from .storage import MAX_METADATA_BYTES, ReadLimits

#: Folder of the index inside a data folder (the scan never enters it).
INDEX_DIR = '.imitation_ros-index'
#: Raise when what the loader makes of a bag changes (alignment, decoding): old entries
#: then no longer match any digest and are rebuilt.
INDEX_FORMAT = 1
#: Largest ``index.json`` read, bytes (about 300 bytes per bag).
MAX_INDEX_BYTES = 256 << 20
#: Columns cached per bag, with their dtypes.
COLUMNS: Mapping[str, str] = {
    'positions': 'float64', 'velocities': 'float64', 'task': 'float64', 'actions': 'float64',
    'expert_actions': 'float64', 'human': 'bool', 'source': 'int8', 'step': 'int64'}
_JOINT_COLUMNS = ('positions', 'velocities', 'actions', 'expert_actions')
#: Unreferenced files (temporary or replaced) older than this are deleted, s.
_STALE_S = 3600.0
#: Bytes copied per read while compacting or assembling image rows.
_COPY_BYTES = 64 << 20
_NAME = re.compile(r'[A-Za-z0-9_.-]{1,200}')
_BAG_PLACEHOLDER = '\x00BAG\x00'


class IndexWarning(UserWarning):
    """The episode index could not be used or written; the loader reads the bags instead."""


def bag_digest(bag: Path, salt: str) -> str:
    """Return the digest of one bag (see the module docstring); OSError when it is unreadable."""
    h = hashlib.sha256(salt.encode())
    with (bag / 'metadata.yaml').open('rb') as fh:
        meta = fh.read(MAX_METADATA_BYTES + 1)
    h.update(len(meta).to_bytes(8, 'little') + meta)
    for entry in sorted(os.scandir(bag), key=lambda e: e.name):
        if entry.name == 'metadata.yaml':
            continue
        st = entry.stat()
        h.update(f'{entry.name}\x00{st.st_size}\x00{st.st_mtime_ns}\n'.encode(
            'utf-8', 'surrogateescape'))
    return h.hexdigest()


@dataclass(frozen=True)
class ImageBlock:
    """Per-sample frames of one bag: rows of an index store file, or an array in memory."""

    rows: int
    """Number of frames (the bag's samples)."""
    frame: tuple[int, int, int]
    """Shape of one frame (H, W, 3)."""
    store: Path | None = None
    """Raw uint8 store file holding the rows, or None when ``array`` holds them."""
    offset: int = 0
    """Index of the first row in ``store``."""
    array: np.ndarray | None = None
    """The frames, (rows, H, W, 3) uint8, when not in a store."""


@dataclass
class Cached:
    """What the index holds for one bag."""

    columns: dict[str, np.ndarray] | None
    """The aligned columns (:data:`COLUMNS`), or None when the bag was skipped."""
    joint_names: tuple[str, ...]
    """Column order of the joint arrays."""
    error: str | None
    """Why the bag was skipped (None when it loaded)."""
    images: ImageBlock | None
    """Its frames (None without images)."""


def _checksum(body: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f'tmp-{os.getpid()}-{secrets.token_hex(4)}')
    try:
        with tmp.open('wb') as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _copy_rows(src: Path, offset: int, nbytes: int, out: BinaryIO) -> None:
    """Copy ``nbytes`` from ``src`` at byte ``offset`` to ``out`` in bounded reads."""
    with src.open('rb') as fh:
        fh.seek(offset)
        left = nbytes
        while left:
            chunk = fh.read(min(left, _COPY_BYTES))
            if not chunk:
                raise OSError(errno.EIO, f'{src} ends early')
            out.write(chunk)
            left -= len(chunk)


class RootIndex:
    """
    The episode index of one data folder, for one load mode.

    Use :meth:`open`; then :meth:`lookup` each bag, :meth:`add` what was read,
    and :meth:`finish` with the bags in load order.
    """

    def __init__(self, root: Path, folder: Path, *, with_images: bool, limits: ReadLimits,
                 writable: bool, lock_fd: int | None) -> None:
        """Hold an opened index (see :meth:`open`)."""
        self.root = root
        self.folder = folder
        self.with_images = with_images
        self.salt = (f'imitation_ros index {INDEX_FORMAT} images={with_images} '
                     f'{limits.max_chunk_bytes} {limits.max_bag_bytes} {limits.max_records}')
        self.writable = writable
        self._lock_fd = lock_fd
        self.entries: dict[str, dict[str, Any]] = {}
        self.store: dict[str, Any] | None = None
        self.hits = 0
        self.misses = 0
        self._append: BinaryIO | None = None
        self._changed = False

    # --- opening ----------------------------------------------------------------------------

    @classmethod
    def open(cls, root: Path, *, with_images: bool, limits: ReadLimits) -> RootIndex | None:
        """
        Open (creating when needed) the index of data folder ``root``.

        Returns None for a root that is a bag itself (its folder is not the place for
        an index). A folder that cannot be written gives a read-only index (hits only)
        with an :class:`IndexWarning`; one that another process is writing, too.
        """
        root = Path(root)
        if not root.is_dir() or (root / 'metadata.yaml').exists():
            return None
        folder = root / INDEX_DIR / ('images' if with_images else 'plain')
        writable, lock_fd = True, None
        try:
            folder.mkdir(parents=True, exist_ok=True)
            lock_fd = os.open(folder / 'lock', os.O_RDWR | os.O_CREAT, 0o644)
            import fcntl  # lazy: POSIX only; the module imports without it
            try:
                fcntl.flock(lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                warnings.warn(f'episode index {folder} is being written by another process; '
                              'using what it holds and reading the other bags without '
                              'indexing them', IndexWarning, stacklevel=3)
                os.close(lock_fd)
                writable, lock_fd = False, None
        except OSError as exc:
            if lock_fd is not None:
                os.close(lock_fd)
            warnings.warn(f'cannot write the episode index under {root} ({exc.strerror or exc}); '
                          'every bag is read on every load: make the data folder writable to '
                          'read only new bags', IndexWarning, stacklevel=3)
            writable, lock_fd = False, None
            if not (folder / 'index.json').is_file():
                return None
        index = cls(root, folder, with_images=with_images, limits=limits, writable=writable,
                    lock_fd=lock_fd)
        index._load()
        return index

    def _load(self) -> None:
        path = self.folder / 'index.json'
        if not path.exists():
            return
        try:
            with path.open('rb') as fh:
                raw = fh.read(MAX_INDEX_BYTES + 1)
            if len(raw) > MAX_INDEX_BYTES:
                raise ValueError(f'it is larger than {MAX_INDEX_BYTES} bytes')
            doc = json.loads(raw)
            self._validate(doc)
        except (OSError, ValueError, TypeError, KeyError, RecursionError) as exc:
            warnings.warn(f'episode index {path} is corrupt or stale ({str(exc)[:200]}); '
                          'rebuilding it from the bags', IndexWarning, stacklevel=4)
            self.entries, self.store, self._changed = {}, None, True
            return
        self.entries = doc['body']['entries']
        self.store = doc['body']['store']

    def _validate(self, doc: Any) -> None:
        """Check an index document, raising ValueError (or KeyError/TypeError) naming the flaw."""
        if not isinstance(doc, dict) or not isinstance(doc.get('body'), dict):
            raise ValueError('not an index document')
        body = doc['body']
        if doc.get('sha256') != _checksum(body):
            raise ValueError('its checksum does not match its content')
        if body.get('format') != INDEX_FORMAT or body.get('images') != self.with_images:
            raise ValueError(f'format {body.get("format")!r}, this loader writes {INDEX_FORMAT}')
        store = body['store']
        if store is not None:
            if not _NAME.fullmatch(store['file']) or not isinstance(store['rows'], int) or \
                    store['rows'] < 0 or len(store['frame']) != 3 or \
                    not all(isinstance(v, int) and v > 0 for v in store['frame']):
                raise ValueError('its image store record is malformed')
            size = (self.folder / store['file']).stat().st_size
            if size < store['rows'] * int(np.prod(store['frame'])):
                raise ValueError(f'its image store {store["file"]} is shorter than recorded')
        entries = body['entries']
        if not isinstance(entries, dict):
            raise ValueError('entries is not a mapping')
        for rel, e in entries.items():
            if not isinstance(rel, str) or not isinstance(e, dict) or \
                    not isinstance(e['digest'], str) or not isinstance(e['rows'], int) or \
                    e['rows'] < 0:
                raise ValueError(f'entry {str(rel)[:80]!r} is malformed')
            if e['error'] is None:
                if not isinstance(e['columns'], str) or not _NAME.fullmatch(e['columns']):
                    raise ValueError(f'entry {rel[:80]!r} names no columns file')
                off = e.get('image_offset')
                if self.with_images and off is not None and (
                        store is None or not isinstance(off, int) or off < 0 or
                        off + e['rows'] > store['rows']):
                    raise ValueError(f'entry {rel[:80]!r} points outside the image store')
            elif not isinstance(e['error'], str):
                raise ValueError(f'entry {rel[:80]!r} has a malformed error')

    # --- per bag ----------------------------------------------------------------------------

    def _rel(self, bag: Path) -> str:
        return bag.relative_to(self.root).as_posix()

    def lookup(self, bag: Path) -> tuple[str | None, Cached | None]:
        """
        Return the bag's digest and what the index holds for it (None: read the bag).

        A digest of None means the bag could not be digested (it cannot be indexed).
        """
        try:
            digest = bag_digest(bag, self.salt)
        except OSError:
            return None, None
        e = self.entries.get(self._rel(bag))
        if e is None or e['digest'] != digest:
            return digest, None
        if e['error'] is not None:
            self.hits += 1
            return digest, Cached(None, (), e['error'].replace(_BAG_PLACEHOLDER, str(bag)), None)
        try:
            with np.load(self.folder / e['columns'], allow_pickle=False) as z:
                columns = {k: np.asarray(z[k]) for k in COLUMNS}
                names = tuple(str(n) for n in z['joint_names'])
            for k, dtype in COLUMNS.items():
                width = len(names) if k in _JOINT_COLUMNS else None
                col = columns[k]
                if col.dtype != np.dtype(dtype) or len(col) != e['rows'] or (
                        width is not None and col.shape != (e['rows'], width)) or (
                        k == 'task' and col.ndim != 2):
                    raise ValueError(f'column {k} has the wrong type or shape')
            images = None
            if self.with_images:
                if e.get('image_offset') is None or self.store is None:
                    raise ValueError('its images are not in the store')
                images = ImageBlock(rows=e['rows'], frame=tuple(self.store['frame']),
                                    store=self.folder / self.store['file'],
                                    offset=e['image_offset'])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            warnings.warn(f'episode index entry of {bag} is unusable ({str(exc)[:200]}); '
                          'reading the bag again', IndexWarning, stacklevel=4)
            return digest, None
        self.hits += 1
        return digest, Cached(columns, names, None, images)

    def add(self, bag: Path, digest: str | None, cached: Cached) -> Cached:
        """
        Record what was read of ``bag``; return it with its frames moved to the store.

        Does nothing (returns ``cached``) when the index is read-only or the bag has no
        digest.
        """
        self.misses += 1
        if not self.writable or digest is None:
            return cached
        rel = self._rel(bag)
        try:
            if cached.error is not None:
                self.entries[rel] = {'digest': digest, 'rows': 0, 'columns': None,
                                     'error': cached.error.replace(str(bag), _BAG_PLACEHOLDER)}
                self._changed = True
                return cached
            assert cached.columns is not None
            name = f'cols-{digest[:32]}.npz'
            tmp = self.folder / f'tmp-{os.getpid()}-{secrets.token_hex(4)}.npz'
            try:
                np.savez(tmp, joint_names=np.array(cached.joint_names, dtype=str),
                         **{k: cached.columns[k] for k in COLUMNS})
                os.replace(tmp, self.folder / name)
            finally:
                tmp.unlink(missing_ok=True)
            rows = len(cached.columns['actions'])
            entry: dict[str, Any] = {'digest': digest, 'rows': rows, 'columns': name,
                                     'error': None, 'image_offset': None}
            if self.with_images:
                block = None
                if cached.images is not None and cached.images.array is not None:
                    block = self._append_images(cached.images.array)
                if block is None:
                    # Frames of another size than the store's: this bag is read every time.
                    return cached
                entry['image_offset'] = block.offset
                cached = Cached(cached.columns, cached.joint_names, None, block)
            self.entries[rel] = entry
            self._changed = True
        except OSError as exc:
            self._give_up(exc)
        return cached

    def _append_images(self, frames: np.ndarray) -> ImageBlock | None:
        """Append (rows, H, W, 3) frames to the store; None when they do not fit its frame."""
        frame = tuple(int(v) for v in frames.shape[1:])
        if self.store is None:
            self.store = {'file': f'images-{secrets.token_hex(8)}.u8', 'rows': 0,
                          'frame': list(frame)}
            (self.folder / self.store['file']).write_bytes(b'')
        if tuple(self.store['frame']) != frame:
            return None
        path = self.folder / self.store['file']
        if self._append is None:
            self._append = path.open('r+b')
            # Rows past the recorded end are left by a writer that died before its index
            # was written; nobody maps them.
            self._append.truncate(self.store['rows'] * int(np.prod(frame)))
            self._append.seek(0, os.SEEK_END)
        self._append.write(np.ascontiguousarray(frames, dtype=np.uint8).tobytes())
        block = ImageBlock(rows=len(frames), frame=frame, store=path, offset=self.store['rows'])
        self.store['rows'] += len(frames)
        return block

    def _give_up(self, exc: OSError) -> None:
        warnings.warn(f'cannot write the episode index {self.folder} ({exc.strerror or exc}); '
                      'this load reads the remaining bags without indexing them',
                      IndexWarning, stacklevel=4)
        self.writable = False

    # --- finishing --------------------------------------------------------------------------

    def finish(self, order: list[Path]) -> dict[Path, ImageBlock]:
        """
        Write the index for the bags of this load (in load order); return their image blocks.

        Entries of bags no longer found are dropped. When the bags' frames do not lie in
        the store in load order (a new bag sorted between old ones, bags deleted), the
        store is rewritten in load order, so the next loads map it as one block.
        """
        rels = {self._rel(b): b for b in order}
        blocks: dict[Path, ImageBlock] = {}
        try:
            if self._append is not None:
                self._append.flush()
                os.fsync(self._append.fileno())
                self._append.close()
                self._append = None
            if not self.writable:
                return self._blocks(rels)
            kept = {rel: self.entries[rel] for rel in rels if rel in self.entries}
            if kept.keys() != self.entries.keys():
                self.entries, self._changed = kept, True
            if self.with_images and self.store is not None and self._needs_compaction():
                self._compact()
            if self._changed:
                body = {'format': INDEX_FORMAT, 'images': self.with_images,
                        'store': self.store, 'entries': self.entries}
                doc = {'body': body, 'sha256': _checksum(body)}
                _write_atomic(self.folder / 'index.json', json.dumps(doc).encode())
                self._changed = False
            self._collect_garbage()
            blocks = self._blocks(rels)
        except OSError as exc:
            self._give_up(exc)
            blocks = {}
        finally:
            self.close()
        return blocks

    def _blocks(self, rels: Mapping[str, Path]) -> dict[Path, ImageBlock]:
        if not self.with_images or self.store is None:
            return {}
        out = {}
        for rel, bag in rels.items():
            e = self.entries.get(rel)
            if e is not None and e['error'] is None and e.get('image_offset') is not None:
                out[bag] = ImageBlock(rows=e['rows'], frame=tuple(self.store['frame']),
                                      store=self.folder / self.store['file'],
                                      offset=e['image_offset'])
        return out

    def _needs_compaction(self) -> bool:
        assert self.store is not None
        at = None
        used = 0
        for e in self.entries.values():
            off = e.get('image_offset') if e['error'] is None else None
            if off is None:
                continue
            if at is not None and off != at:
                return True
            at = off + e['rows']
            used += e['rows']
        # Rows of bags no longer loaded: compact once they are a quarter of the store.
        return self.store['rows'] - used > max(used // 3, 0) and self.store['rows'] > used

    def _compact(self) -> None:
        assert self.store is not None
        old = self.folder / self.store['file']
        frame_bytes = int(np.prod(self.store['frame']))
        name = f'images-{secrets.token_hex(8)}.u8'
        tmp = self.folder / f'tmp-{os.getpid()}-{secrets.token_hex(4)}'
        rows = 0
        try:
            with tmp.open('wb') as out:
                for e in self.entries.values():
                    off = e.get('image_offset') if e['error'] is None else None
                    if off is None:
                        continue
                    _copy_rows(old, off * frame_bytes, e['rows'] * frame_bytes, out)
                    e['image_offset'] = rows
                    rows += e['rows']
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, self.folder / name)
        finally:
            tmp.unlink(missing_ok=True)
        self.store = {'file': name, 'rows': rows, 'frame': self.store['frame']}
        self._changed = True

    def _collect_garbage(self) -> None:
        """Delete files the index no longer names (temporary ones only once they are stale)."""
        keep = {'index.json', 'lock'}
        keep.update(e['columns'] for e in self.entries.values() if e['error'] is None)
        if self.store is not None:
            keep.add(self.store['file'])
        now = time.time()
        for f in self.folder.iterdir():
            if f.name in keep:
                continue
            try:
                if f.name.startswith('tmp-') and now - f.stat().st_mtime < _STALE_S:
                    continue
                f.unlink()
            except OSError:
                pass

    def close(self) -> None:
        """Release the writer lock (idempotent)."""
        if self._append is not None:
            self._append.close()
            self._append = None
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None


def assemble_images(blocks: list[ImageBlock], scratch: Path | None) -> np.ndarray:
    """
    Join per-bag frame blocks into one (N, H, W, 3) uint8 array with bounded memory.

    Blocks that lie back to back in one store file become one read-only memory map of
    it (no copy); otherwise the rows are copied, a bounded piece at a time, into an
    unlinked scratch file under ``scratch`` that is then memory-mapped. Without a
    scratch folder, or when every block is in memory, they are concatenated in memory.
    """
    frame = blocks[0].frame if blocks else (0, 0, 3)
    total = sum(b.rows for b in blocks)
    if total == 0:
        return np.zeros((0,) + tuple(frame), dtype=np.uint8)
    frame_bytes = int(np.prod(frame))
    merged: list[ImageBlock] = []
    for b in blocks:
        if b.rows == 0:
            continue
        last = merged[-1] if merged else None
        if last is not None and b.store is not None and last.store == b.store and \
                last.offset + last.rows == b.offset:
            merged[-1] = ImageBlock(rows=last.rows + b.rows, frame=frame, store=b.store,
                                    offset=last.offset)
        else:
            merged.append(b)
    if len(merged) == 1 and merged[0].array is not None:
        return merged[0].array
    if len(merged) == 1 and merged[0].store is not None:
        b = merged[0]
        return np.memmap(b.store, dtype=np.uint8, mode='r', offset=b.offset * frame_bytes,
                         shape=(b.rows,) + tuple(frame))
    if scratch is None or all(b.store is None for b in merged):
        return np.concatenate([_in_memory(b, frame_bytes) for b in merged])
    tmp = scratch / f'tmp-{os.getpid()}-{secrets.token_hex(4)}-assembly'
    try:
        with tmp.open('w+b') as out:
            for b in merged:
                if b.store is not None:
                    _copy_rows(b.store, b.offset * frame_bytes, b.rows * frame_bytes, out)
                else:
                    assert b.array is not None
                    out.write(np.ascontiguousarray(b.array).tobytes())
            out.flush()
            images = np.memmap(out, dtype=np.uint8, mode='r', shape=(total,) + tuple(frame))
    finally:
        # The map keeps the data alive; the name goes at once, so nothing is left behind.
        tmp.unlink(missing_ok=True)
    return images


def _in_memory(b: ImageBlock, frame_bytes: int) -> np.ndarray:
    if b.array is not None:
        return b.array
    assert b.store is not None
    with b.store.open('rb') as fh:
        fh.seek(b.offset * frame_bytes)
        data = fh.read(b.rows * frame_bytes)
    return np.frombuffer(data, dtype=np.uint8).reshape((b.rows,) + tuple(b.frame))
