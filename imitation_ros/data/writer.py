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
Write episode bags: one rosbag2 bag (MCAP storage) per episode, without rclpy.

:class:`EpisodeBagWriter` stages a bag at ``<episode>.partial/`` and renames it
into place only after the MCAP file and ``metadata.yaml`` are complete and
flushed (one atomic ``rename``), so readers never see an unfinished bag.
:class:`QueuedBagWriter` does the same from a thread of its own behind a bounded
queue (a caller that outpaces the disk waits, counted, and nothing is dropped).
:func:`write_episode` writes an :class:`~imitation_ros.data.episode.EpisodeRecord`
with the live system's topics, message types and timing.

Timing rule of :func:`write_episode` (log time = header stamp, ns)
    * state ``t`` (``t = 0..T``) is stamped ``s_t = t0 + t * dt`` and published
      on ``/joint_states`` and ``/imitation/task``; an image showing state ``t``
      on ``/camera/image_raw`` at ``s_t`` too;
    * the policy's and the expert's proposals for step ``t`` (when present) on
      ``/imitation/policy_action`` and ``/imitation/expert_action`` at
      ``s_t + 0.5 ms``;
    * ``/imitation/intervention`` (Bool) at ``s_t + 1 ms`` at step 0 and whenever
      it changes, then the executed command of step ``t`` on
      ``/forward_position_controller/commands`` at ``s_t + 1 ms``: a command
      always follows the state it was computed from;
    * ``/imitation/episode`` JSON ``{"event": "start", "episode": N}`` at
      ``t0 - 1 ms`` (before everything) and
      ``{"event": "end", "episode": N, "success": ..., "reason": ...}`` at
      ``s_T + 1 ms`` (after the final state).

:func:`imitation_ros.data.reader.read_episode` inverts this by the alignment
rule (:mod:`imitation_ros.data.alignment`: observation = latest message at or
before each command), so it reads bags recorded live, off the grid, the same way.

Bags use rosbag2 metadata version 8: its QoS field is a string, which Humble's
``ros2 bag info`` still parses (version 9 writes a YAML list that Humble rejects);
Jazzy and Kilted read version 8.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
import contextlib
from dataclasses import dataclass
import os
from pathlib import Path
import shutil
import threading
import time
from typing import Any
import warnings

import numpy as np

from . import messages as m
from .episode import (custom_data_problems, custom_str, DataWarning, EpisodeRecord,
                      partial_path, record_custom_data)
from ..errors import DataError

BAG_VERSION = 8

_MS = 1_000_000
_NS_PER_S = 1_000_000_000
#: Default bounds of a :class:`QueuedBagWriter`'s queue: messages and bytes.
QUEUE_MESSAGES = 20_000
QUEUE_BYTES = 256 << 20


class EpisodeBagWriter:
    """
    Write one episode as a rosbag2 MCAP bag from raw CDR messages.

    The bag is staged at ``<bag_dir>.partial/`` and appears at ``bag_dir`` only
    when :meth:`close` succeeds. Use it as a context manager: an exception in
    the ``with`` body aborts (deletes) the staged bag.

    :param bag_dir: the finished bag's directory; must not exist yet.
    :param topics: topic -> message type of the topics that may be written
        (default :data:`imitation_ros.data.messages.TOPICS`); a topic gets its
        connection on its first message, so unused topics are not in the bag.
    """

    def __init__(self, bag_dir: Path | str, *, topics: Mapping[str, str] | None = None) -> None:
        # lazy: rosbags (about 80 ms) only when writing a bag
        from rosbags.rosbag2 import StoragePlugin, Writer

        self.bag_dir = Path(bag_dir)
        self.partial_dir = partial_path(self.bag_dir)
        self._topics = dict(m.TOPICS if topics is None else topics)
        self._connections: dict[str, Any] = {}
        self._writer: Any = None
        if self.bag_dir.exists():
            msg = (f'episode bag {self.bag_dir} exists already; refusing to overwrite a finished '
                   'episode: pick a new episode number or session directory')
            raise DataError(msg)
        try:
            self.bag_dir.parent.mkdir(parents=True, exist_ok=True)
            self.partial_dir.mkdir()
        except FileExistsError:
            msg = (f'{self.partial_dir} exists: another recorder is writing this episode, or a '
                   'previous recording crashed; it holds no finished episode, delete it '
                   'or pick a new episode number')
            raise DataError(msg) from None
        except OSError as exc:
            msg = (f'cannot create episode bag {self.partial_dir}: {exc.strerror}; choose a '
                   'writable data directory (e.g. data_dir:=$HOME/imitation_data) or fix its '
                   'permissions')
            raise DataError(msg) from exc
        # The Writer names its MCAP file after its directory, so it writes into
        # a directory with the final name inside the staging directory; the
        # finished bag is then one rename away and needs no rewriting.
        writer = Writer(self.partial_dir / self.bag_dir.name, version=BAG_VERSION,
                        storage_plugin=StoragePlugin.MCAP)
        try:
            writer.open()
        except Exception as exc:
            shutil.rmtree(self.partial_dir, ignore_errors=True)
            msg = (f'cannot open episode bag in {self.partial_dir}: {exc}; check free space and '
                   'permissions of the data directory')
            raise DataError(msg) from exc
        self._writer = writer

    @property
    def is_open(self) -> bool:
        """Return True until :meth:`close` or :meth:`abort`."""
        return self._writer is not None

    def check(self, topic: str, raw: bytes | memoryview, t_ns: int) -> None:
        """Raise DataError when :meth:`write` would refuse the message for what it is."""
        if len(raw) < 4 or raw[0] != 0 or raw[1] not in (0, 1):
            msg = (f'message for {topic} is not CDR (no encapsulation header); pass the bytes '
                   'of rclpy.serialization.serialize_message or a messages.encode_* function')
            raise DataError(msg)
        if int(t_ns) < 0:
            raise DataError(f'log time must be >= 0 ns, got {t_ns}')
        if topic not in self._connections and topic not in self._topics:
            msg = (f'topic {topic!r} is not in this bag writer\'s topic table '
                   f'({", ".join(sorted(self._topics))}); add it via topics=')
            raise DataError(msg)

    def write(self, topic: str, raw: bytes | memoryview, t_ns: int) -> None:
        """
        Append one serialized message.

        :param topic: a topic of the writer's topic table.
        :param raw: CDR bytes with encapsulation header (what rclpy's
            ``serialize_message`` returns, or an encoder of
            :mod:`imitation_ros.data.messages`).
        :param t_ns: log (receive) time, ns since the epoch, >= 0.
        """
        if self._writer is None:
            raise DataError(f'episode bag {self.bag_dir} is already closed or aborted')
        self.check(topic, raw, t_ns)
        conn = self._connections.get(topic)
        if conn is None:
            msgtype = self._topics[topic]
            try:
                conn = self._writer.add_connection(topic, msgtype, typestore=m.typestore())
            except Exception as exc:
                msg = (f'cannot add {topic} ({msgtype}) to the bag: {exc}; the type must be '
                       'a standard ROS 2 message known to rosbags')
                raise DataError(msg) from exc
            self._connections[topic] = conn
        try:
            self._writer.write(conn, int(t_ns), raw)
        except OSError as exc:
            msg = f'writing {self.partial_dir} failed: {exc}; check free disk space'
            raise DataError(msg) from exc

    def close(self, custom_data: Mapping[str, Any]) -> Path:
        """
        Finish the bag with its episode facts and move it to ``bag_dir``.

        :param custom_data: at least the keys of :data:`REQUIRED_KEYS`; values
            are stored as strings (bools as 'true'/'false', sequences comma
            joined).
        :returns: the finished bag directory.
        :raises DataError: facts missing or malformed (the bag stays open so
            the caller can retry or abort), or the bag could not be finished.
        """
        if self._writer is None:
            raise DataError(f'episode bag {self.bag_dir} is already closed or aborted')
        data = {str(k): custom_str(v) for k, v in custom_data.items()}
        problems = custom_data_problems(data)
        if problems:
            msg = (f'episode bag {self.bag_dir}: custom_data is incomplete: '
                   f'{"; ".join(problems)}')
            raise DataError(msg)
        writer, self._writer = self._writer, None
        inner = writer.path
        try:
            for key, value in data.items():
                writer.set_custom_data(key, value)
            writer.close()
            for f in inner.iterdir():
                # Flush the data before the rename publishes the bag, so a power
                # cut cannot leave a "finished" bag with a torn file.
                with f.open('rb') as fh:
                    os.fsync(fh.fileno())
        except Exception as exc:
            with contextlib.suppress(Exception):  # the original error is the one to report
                writer.abort()
            shutil.rmtree(self.partial_dir, ignore_errors=True)
            raise DataError(f'finishing episode bag {self.bag_dir} failed: {exc}') from exc
        if self.bag_dir.exists():
            msg = (f'{self.bag_dir} appeared while this episode was written (two recorders '
                   f'share a data directory?); the episode is kept in {inner}')
            raise DataError(msg)
        os.rename(inner, self.bag_dir)
        self.partial_dir.rmdir()
        return self.bag_dir

    def abort(self) -> None:
        """Drop the unfinished bag (idempotent; does nothing after :meth:`close`)."""
        writer, self._writer = self._writer, None
        if writer is None:
            return
        try:
            writer.abort()
        finally:
            shutil.rmtree(self.partial_dir, ignore_errors=True)

    def __enter__(self) -> EpisodeBagWriter:
        """Return the writer itself."""
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        """Abort on an exception; a body that never called close() also aborts, with a warning."""
        if self._writer is None:
            return
        self.abort()
        if exc_type is None:
            warnings.warn(f'episode bag {self.bag_dir} was never closed; it was discarded',
                          DataWarning, stacklevel=2)


@dataclass(frozen=True)
class QueueStats:
    """
    What a :class:`QueuedBagWriter`'s queue went through.

    :param queued: messages waiting now.
    :param peak_messages: most messages waiting at once.
    :param peak_bytes: most bytes waiting at once.
    :param stalls: writes that waited for room (the queue was full).
    :param stall_s: seconds callers waited for room, in all.
    :param batches: times the writer thread emptied the queue.
    :param written: messages the writer thread wrote.
    """

    queued: int
    peak_messages: int
    peak_bytes: int
    stalls: int
    stall_s: float
    batches: int
    written: int


class QueuedBagWriter:
    """
    An :class:`EpisodeBagWriter` fed through a bounded queue and written by a thread of its own.

    :meth:`write` checks the message, queues it and returns, so a ROS callback is
    not held up by the disk; the thread takes everything queued at once (one
    lock round per batch) and writes it in order. A full queue (``max_messages``
    or ``max_bytes``) makes :meth:`write` wait for room, counted in
    :meth:`stats`: nothing is dropped. A failed disk write is kept and raised (a
    :class:`DataError` chained to the ``OSError``) by the next :meth:`write`,
    :meth:`flush` or :meth:`close`; :attr:`error` tells at once. :meth:`close`
    writes what is queued, then finishes the bag as :meth:`EpisodeBagWriter.close`.

    :param bag_dir: the finished bag's directory; must not exist yet.
    :param topics: the writer's topic table (see :class:`EpisodeBagWriter`).
    :param max_messages: most messages queued.
    :param max_bytes: most bytes queued (a single larger message is still taken).
    :param threaded: False writes in the caller's thread, no queue (to measure what the
        thread buys).
    """

    def __init__(self, bag_dir: Path | str, *, topics: Mapping[str, str] | None = None,
                 max_messages: int = QUEUE_MESSAGES, max_bytes: int = QUEUE_BYTES,
                 threaded: bool = True) -> None:
        if max_messages < 1 or max_bytes < 1:
            raise DataError(f'queue bounds must be >= 1, got {max_messages} messages and '
                            f'{max_bytes} bytes')
        self._bag = EpisodeBagWriter(bag_dir, topics=topics)
        self.bag_dir = self._bag.bag_dir
        self.max_messages, self.max_bytes = int(max_messages), int(max_bytes)
        self._queue: deque[tuple[str, bytes | memoryview, int]] = deque()
        self._queued_bytes = 0
        self._busy = False
        self._stopping = False
        self._open = True
        self._error: DataError | None = None
        self._cond = threading.Condition()
        self._peak_messages = self._peak_bytes = self._stalls = self._batches = 0
        self._written = 0
        self._stall_s = 0.0
        self._thread = threading.Thread(target=self._run, name=f'bag {self.bag_dir.name}',
                                        daemon=True)
        self.threaded = bool(threaded)
        if self.threaded:
            self._thread.start()

    @property
    def is_open(self) -> bool:
        """Return True until :meth:`close` or :meth:`abort`."""
        return self._open

    @property
    def error(self) -> DataError | None:
        """Return the write failure of the thread, or None."""
        return self._error

    def stats(self) -> QueueStats:
        """Return the queue's counters."""
        with self._cond:
            return QueueStats(queued=len(self._queue), peak_messages=self._peak_messages,
                              peak_bytes=self._peak_bytes, stalls=self._stalls,
                              stall_s=self._stall_s, batches=self._batches,
                              written=self._written)

    def write(self, topic: str, raw: bytes | memoryview, t_ns: int) -> None:
        """Queue one serialized message (see :meth:`EpisodeBagWriter.write`); wait when full."""
        if not self._open:
            raise DataError(f'episode bag {self.bag_dir} is already closed or aborted')
        self._bag.check(topic, raw, t_ns)
        if not self.threaded:
            self._raise_error()
            try:
                self._bag.write(topic, raw, t_ns)
            except DataError as exc:
                if isinstance(exc.__cause__, OSError):
                    self._error = exc
                raise
            self._written += 1
            return
        size = len(raw)
        with self._cond:
            self._raise_error()
            if self._full(size):
                self._stalls += 1
                began = time.monotonic()
                while self._full(size) and self._error is None:
                    self._cond.wait(0.1)
                self._stall_s += time.monotonic() - began
                self._raise_error()
            self._queue.append((topic, raw, int(t_ns)))
            self._queued_bytes += size
            self._peak_messages = max(self._peak_messages, len(self._queue))
            self._peak_bytes = max(self._peak_bytes, self._queued_bytes)
            self._cond.notify_all()

    def _full(self, size: int) -> bool:
        if not self._queue:
            return False
        return (len(self._queue) >= self.max_messages
                or self._queued_bytes + size > self.max_bytes)

    def _raise_error(self) -> None:
        if self._error is not None:
            raise DataError(str(self._error)) from self._error.__cause__

    def _run(self) -> None:
        """Write batches until stopped; keep the first failure and stop writing."""
        while True:
            with self._cond:
                while not self._queue and not self._stopping:
                    self._cond.wait()
                if not self._queue:
                    return
                batch, self._queue = self._queue, deque()
                self._queued_bytes = 0
                self._busy = True
                self._batches += 1
                self._cond.notify_all()
            written = 0
            try:
                for topic, raw, t_ns in batch:
                    self._bag.write(topic, raw, t_ns)
                    written += 1
            except DataError as exc:
                failure: DataError | None = exc
            except Exception as exc:  # noqa: B902 - anything from the storage layer
                failure = DataError(f'writing {self._bag.partial_dir} failed: {exc!r}')
                failure.__cause__ = exc
            else:
                failure = None
            with self._cond:
                self._written += written
                self._busy = False
                if failure is not None:
                    self._error = failure
                    self._queue.clear()
                    self._queued_bytes = 0
                self._cond.notify_all()
                if failure is not None:
                    return

    def flush(self) -> None:
        """Wait until everything queued is written; raise a write failure."""
        with self._cond:
            while (self._queue or self._busy) and self._error is None \
                    and self.threaded and self._thread.is_alive():
                self._cond.wait(0.1)
            self._raise_error()

    def _stop(self) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self.threaded and self._thread is not threading.current_thread():
            self._thread.join()

    def close(self, custom_data: Mapping[str, Any]) -> Path:
        """
        Write what is queued, then finish the bag (see :meth:`EpisodeBagWriter.close`).

        :raises DataError: a queued message could not be written (the bag is
            aborted), or as :meth:`EpisodeBagWriter.close` (incomplete facts keep
            the bag open for a retry).
        """
        if not self._open:
            raise DataError(f'episode bag {self.bag_dir} is already closed or aborted')
        try:
            self.flush()
        except DataError:
            self.abort()
            raise
        path = self._bag.close(custom_data)   # the thread is idle: nothing is queued
        self._open = False
        self._stop()
        return path

    def abort(self) -> None:
        """Drop what is queued and the unfinished bag (idempotent; nothing after :meth:`close`)."""
        if not self._open:
            return
        self._open = False
        with self._cond:
            self._queue.clear()
            self._queued_bytes = 0
        self._stop()
        self._bag.abort()

    def __enter__(self) -> QueuedBagWriter:
        """Return the writer itself."""
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        """Abort on an exception; a body that never called close() also aborts, with a warning."""
        if not self._open:
            return
        self.abort()
        if exc_type is None:
            warnings.warn(f'episode bag {self.bag_dir} was never closed; it was discarded',
                          DataWarning, stacklevel=2)


def write_episode(record: EpisodeRecord, bag_dir: Path | str) -> Path:
    """
    Write ``record`` as an episode bag with the live system's topics, types and timing.

    The timing rule is in the module docstring. Rows of policy/expert actions
    that are not finite are not published (no proposal, no label).

    :returns: the finished bag directory.
    """
    dt_ns = round(record.dt * _NS_PER_S)
    if dt_ns <= _MS:
        raise DataError(f'dt must exceed 1 ms to fit the timing rule, got {record.dt} s')
    if record.t0_ns < _MS:
        raise DataError(f't0_ns must be >= 1 ms (the start event is 1 ms earlier), got '
                        f'{record.t0_ns}')
    t0, names, n_steps = record.t0_ns, record.joint_names, record.steps
    out: list[tuple[int, str, bytes]] = [
        (t0 - _MS, m.EPISODE, m.encode_episode_event('start', record.episode))]
    images_by_step: dict[int, list[int]] = {}
    if record.images is not None and record.image_steps is not None:
        for k, s in enumerate(record.image_steps):
            images_by_step.setdefault(int(s), []).append(k)
    task_raw = m.encode_float64_array(record.task)
    last_iv: bool | None = None
    for t in range(n_steps + 1):
        s = t0 + t * dt_ns
        out.append((s, m.JOINT_STATES, m.encode_joint_state(s, names, record.positions[t],
                                                            record.velocities[t])))
        out.append((s, m.TASK, task_raw))
        for k in images_by_step.get(t, ()):
            assert record.images is not None
            out.append((s, m.CAMERA_IMAGE, m.encode_image(s, record.images[k])))
        if t == n_steps:
            break
        for topic, arr in ((m.POLICY_ACTION, record.policy_actions),
                           (m.EXPERT_ACTION, record.expert_actions)):
            if arr is not None and np.all(np.isfinite(arr[t])):
                out.append((s + _MS // 2, topic, m.encode_float64_array(arr[t])))
        iv = bool(record.intervention[t])
        if iv != last_iv:
            out.append((s + _MS, m.INTERVENTION, m.encode_bool(iv)))
            last_iv = iv
        out.append((s + _MS, m.COMMANDS, m.encode_float64_array(record.actions[t])))
    out.append((t0 + n_steps * dt_ns + _MS, m.EPISODE,
                m.encode_episode_event('end', record.episode, success=record.success,
                                       reason=record.reason)))
    # Stable sort by time: equal times keep the order above (intervention before command).
    out.sort(key=lambda item: item[0])
    with EpisodeBagWriter(bag_dir) as writer:
        for t_ns, topic, raw in out:
            writer.write(topic, raw, t_ns)
        return writer.close(record_custom_data(record))
