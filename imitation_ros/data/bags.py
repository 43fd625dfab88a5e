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
Episode bags: one rosbag2 bag (MCAP storage) per episode, written and read without rclpy.

Layout and life cycle
    A bag lives at ``<data_dir>/<session>/<episode>/`` (any depth is accepted
    when searching). While it is being written it is staged inside the sibling
    directory ``<episode>.partial/``; only after the MCAP file and
    ``metadata.yaml`` are complete and flushed is it renamed (atomically, one
    ``rename``) to ``<episode>/``. Readers skip everything under ``*.partial``
    with a :class:`DataWarning`, so an unfinished or crashed recording is never
    taken for an episode and never disappears without a word.

Hostile or damaged bags
    Reading is bounded (:mod:`imitation_ros.data.storage`: metadata size and YAML
    aliases, record lengths, chunk sizes against their declared size and
    :class:`ReadLimits`). A bag that cannot be read, whatever the reason, is a
    :class:`~imitation_ros.errors.DataError` naming it; :func:`scan_episode_bags`
    and the dataset loader skip such a bag with a :class:`DataWarning` and report
    it as a :class:`SkippedBag`, and go on with the others.

Episode facts
    Stored as strings in the bag metadata's ``custom_data`` (shown by
    ``ros2 bag info`` on Iron and later): ``episode``, ``success``
    (``true``/``false``), ``reason``, ``source`` (one of :data:`SOURCES`),
    ``policy_version``, ``interventions`` (number of human takeovers),
    ``steps`` (control steps), ``joint_names`` (comma separated, the order of
    every command), ``dt`` (control period, s), plus ``human_steps`` /
    ``expert_labels`` when known and whatever extra keys the caller adds.

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

:func:`read_episode` inverts this by the alignment rule of
:mod:`imitation_ros.data.dataset` (observation = latest message at or before
each command), so it reads bags recorded live, off the grid, the same way.

Bags use rosbag2 metadata version 8: its QoS field is a string, which Humble's
``ros2 bag info`` still parses (version 9 writes a YAML list that Humble rejects);
Jazzy and Kilted read version 8.
"""

from __future__ import annotations

from collections.abc import Mapping
import contextlib
from dataclasses import dataclass, field
import json
import math
import os
from pathlib import Path
import re
import shutil
import stat
import struct
from typing import Any, Sequence
import warnings

import numpy as np

from . import messages as m
from .storage import Budget, load_metadata, MCAP_MAGIC, read_mcap, ReadLimits
from ..errors import DataError

#: Where an episode came from; the index is the code stored in datasets.
SOURCES: tuple[str, ...] = ('demo', 'hg_dagger', 'dagger')
#: Suffix of a bag directory that is still being written (or was abandoned).
PARTIAL_SUFFIX = '.partial'
#: rosbag2 metadata version written (see the module docstring for why not 9).
BAG_VERSION = 8
#: custom_data keys every episode bag carries.
REQUIRED_KEYS: tuple[str, ...] = ('episode', 'success', 'reason', 'source', 'policy_version',
                                  'interventions', 'steps', 'joint_names', 'dt')
#: custom_data keys with a meaning of their own (not returned in ``EpisodeRecord.extra``).
STANDARD_KEYS: frozenset[str] = frozenset(REQUIRED_KEYS + ('human_steps', 'expert_labels'))

#: Largest control period ``dt`` a bag may state, s (the recorder allows up to 10 s).
MAX_DT_S = 3600.0

_MS = 1_000_000
_NS_PER_S = 1_000_000_000
_MAX_STAMP_NS = 2**63 - 1
#: An MCAP footer record: opcode, length, summary start, summary offset start, CRC.
_MCAP_FOOTER_BYTES = 1 + 8 + 8 + 8 + 4
#: Gate decisions on each side of a command considered when pairing them.
_PAIRING_CANDIDATES = 16


class DataWarning(UserWarning):
    """A bag was skipped (unfinished, truncated, unreadable or inconsistent)."""


@dataclass(frozen=True)
class SkippedBag:
    """A bag that a scan or a loader left out, and why."""

    path: Path
    """The bag directory (or ``*.partial`` directory)."""
    reason: str
    """Why it was left out (one line, for people)."""

    def message(self) -> str:
        """Return the warning text: which bag and why."""
        return f'skipping bag {self.path}: {self.reason}'


def partial_path(bag_dir: Path | str) -> Path:
    """Return the staging directory used while ``bag_dir`` is being written."""
    bag = Path(bag_dir)
    return bag.with_name(bag.name + PARTIAL_SUFFIX)


def _custom_str(value: Any) -> str:
    """Convert a custom_data value to the string stored in the bag."""
    if isinstance(value, (bool, np.bool_)):
        return 'true' if value else 'false'
    if isinstance(value, (list, tuple)):
        return ','.join(str(v) for v in value)
    return str(value)


def _custom_data_problems(data: Mapping[str, str]) -> list[str]:
    problems = [f'{key!r} is missing' for key in REQUIRED_KEYS if key not in data]
    return problems + _custom_value_problems(data)


def _custom_value_problems(data: Mapping[str, str]) -> list[str]:
    """Say what is wrong with the standard keys that ``data`` holds (missing ones are fine)."""
    problems = []
    if 'success' in data and data['success'] not in ('true', 'false'):
        problems.append(f"success must be 'true' or 'false', got {data['success'][:40]!r}")
    if 'source' in data and data['source'] not in SOURCES:
        problems.append(f"source must be one of {', '.join(SOURCES)}, got "
                        f"{data['source'][:40]!r}")
    for key in ('episode', 'interventions', 'steps', 'human_steps', 'expert_labels'):
        if key in data:
            try:
                int(data[key])
            except ValueError:
                problems.append(f'{key} must be an integer, got {data[key][:40]!r}')
    if 'joint_names' in data:
        names = data['joint_names'].split(',')
        if len(set(names)) != len(names) or not all(names):
            problems.append(f"joint_names must be distinct non-empty names, comma separated, "
                            f"got {data['joint_names'][:80]!r}")
    if 'dt' in data:
        try:
            ok = 0 < float(data['dt']) <= MAX_DT_S
        except ValueError:
            ok = False
        if not ok:
            problems.append(f"dt must be a number of seconds in (0, {MAX_DT_S:g}], got "
                            f"{data['dt'][:40]!r}")
    return problems


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
        if len(raw) < 4 or raw[0] != 0 or raw[1] not in (0, 1):
            msg = (f'message for {topic} is not CDR (no encapsulation header); pass the bytes '
                   'of rclpy.serialization.serialize_message or a messages.encode_* function')
            raise DataError(msg)
        if int(t_ns) < 0:
            raise DataError(f'log time must be >= 0 ns, got {t_ns}')
        conn = self._connections.get(topic)
        if conn is None:
            msgtype = self._topics.get(topic)
            if msgtype is None:
                msg = (f'topic {topic!r} is not in this bag writer\'s topic table '
                       f'({", ".join(sorted(self._topics))}); add it via topics=')
                raise DataError(msg)
            try:
                conn = self._writer.add_connection(topic, msgtype, typestore=m.typestore())
            except Exception as exc:
                msg = (f'cannot add {topic} ({msgtype}) to the bag: {exc}; the type must be '
                       'a standard ROS 2 message known to rosbags')
                raise DataError(msg) from exc
            self._connections[topic] = conn
        try:
            self._writer.write(conn, int(t_ns), bytes(raw))
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
        data = {str(k): _custom_str(v) for k, v in custom_data.items()}
        problems = _custom_data_problems(data)
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


# ---------------------------------------------------------------------------------------------
# Episode records


def _array(value: Any, name: str, dtype: Any, shape: tuple[int | None, ...]) -> np.ndarray:
    """Convert ``value`` to an array and check its shape (None = any size)."""
    try:
        arr = np.array(value, dtype=dtype)
    except (TypeError, ValueError) as exc:
        raise DataError(f'EpisodeRecord.{name} is not a {np.dtype(dtype)} array: {exc}') from exc
    if arr.ndim != len(shape) or any(s is not None and a != s for a, s in zip(arr.shape, shape)):
        want = '(' + ', '.join('*' if s is None else str(s) for s in shape) + ')'
        raise DataError(f'EpisodeRecord.{name} must have shape {want}, got {arr.shape}')
    return arr


@dataclass(frozen=True, eq=False)
class EpisodeRecord:
    """One episode at the control rate: T steps, T + 1 states."""

    joint_names: tuple[str, ...]
    """Joint names; the column order of every (., n) array."""
    t0_ns: int
    """Stamp of state 0 (ns since the epoch)."""
    dt: float
    """Control period (s)."""
    positions: np.ndarray
    """Measured joint positions before each action plus the final state, (T+1, n), rad."""
    velocities: np.ndarray
    """Measured joint velocities, (T+1, n), rad/s (NaN where the robot sends none)."""
    task: np.ndarray
    """Task vector, (k,); (5,) in the sim (see ``TASK_LAYOUT``)."""
    actions: np.ndarray
    """Executed absolute joint targets (what went to the controller), (T, n), rad."""
    intervention: np.ndarray
    """True where the human was in control at step t, (T,) bool."""
    episode: int
    """Episode number within its session."""
    success: bool
    """True when the episode reached its goal."""
    reason: str
    """Why it ended ('success', 'collision', 'timeout', ...)."""
    source: str
    """One of :data:`SOURCES`: demo, hg_dagger or dagger."""
    policy_actions: np.ndarray | None = None
    """What the policy proposed at each step, (T, n), rad (NaN: none), or None."""
    expert_actions: np.ndarray | None = None
    """The expert's label at each step, (T, n), rad (NaN: no label), or None."""
    images: np.ndarray | None = None
    """Camera frames, (T_img, H, W, 3) uint8 RGB, or None."""
    image_steps: np.ndarray | None = None
    """Index of the state each image shows, (T_img,) int in [0, T]; None without images."""
    policy_version: str = ''
    """Version of the policy that ran ('' for pure demonstrations)."""
    extra: Mapping[str, str] = field(default_factory=dict)
    """More custom_data to store (string keys and values, no standard key)."""

    def __post_init__(self) -> None:
        """Coerce arrays to their dtypes and check every shape."""
        def put(name: str, value: Any) -> None:
            object.__setattr__(self, name, value)

        names = tuple(str(n) for n in self.joint_names)
        if not names or len(set(names)) != len(names) or any(not n or ',' in n for n in names):
            msg = (f'EpisodeRecord.joint_names must be unique non-empty names without commas, '
                   f'got {names}')
            raise DataError(msg)
        put('joint_names', names)
        n = len(names)
        if not isinstance(self.t0_ns, (int, np.integer)) or self.t0_ns < 0:
            raise DataError(f'EpisodeRecord.t0_ns must be an integer >= 0, got {self.t0_ns!r}')
        put('t0_ns', int(self.t0_ns))
        if not (math.isfinite(self.dt) and self.dt > 0):
            raise DataError(f'EpisodeRecord.dt must be a positive period in s, got {self.dt}')
        put('dt', float(self.dt))
        actions = _array(self.actions, 'actions', np.float64, (None, n))
        t = actions.shape[0]
        put('actions', actions)
        put('positions', _array(self.positions, 'positions', np.float64, (t + 1, n)))
        put('velocities', _array(self.velocities, 'velocities', np.float64, (t + 1, n)))
        put('task', _array(self.task, 'task', np.float64, (None,)))
        put('intervention', _array(self.intervention, 'intervention', bool, (t,)))
        for name in ('policy_actions', 'expert_actions'):
            value = getattr(self, name)
            if value is not None:
                put(name, _array(value, name, np.float64, (t, n)))
        if (self.images is None) != (self.image_steps is None):
            raise DataError('EpisodeRecord.images and image_steps must be given together')
        if self.images is not None:
            images = np.asarray(self.images)
            if images.ndim != 4 or images.shape[3] != 3 or images.dtype != np.uint8:
                msg = (f'EpisodeRecord.images must be (T_img, H, W, 3) uint8, got shape '
                       f'{images.shape} dtype {images.dtype}')
                raise DataError(msg)
            steps = _array(self.image_steps, 'image_steps', np.int64, (images.shape[0],))
            if steps.size and (steps.min() < 0 or steps.max() > t):
                raise DataError(f'EpisodeRecord.image_steps must lie in [0, {t}]')
            put('images', images)
            put('image_steps', steps)
        if self.source not in SOURCES:
            raise DataError(f'EpisodeRecord.source must be one of {SOURCES}, got {self.source!r}')
        put('episode', int(self.episode))
        put('success', bool(self.success))
        put('reason', str(self.reason))
        put('policy_version', str(self.policy_version))
        extra = {str(k): str(v) for k, v in self.extra.items()}
        if clash := sorted(STANDARD_KEYS & extra.keys()):
            msg = (f'EpisodeRecord.extra must not set the standard keys {clash}; use the '
                   'record\'s own fields')
            raise DataError(msg)
        put('extra', extra)

    @property
    def steps(self) -> int:
        """Return the number of control steps T."""
        return int(self.actions.shape[0])

    @property
    def interventions(self) -> int:
        """Count human takeovers (False -> True edges; a start under human control counts)."""
        return count_takeovers(self.intervention)


def count_takeovers(intervention: np.ndarray) -> int:
    """Count False -> True edges of a (T,) bool series (True at step 0 counts as one)."""
    iv = np.asarray(intervention, dtype=bool)
    if iv.size == 0:
        return 0
    return int(iv[0]) + int(np.count_nonzero(iv[1:] & ~iv[:-1]))


def _record_custom_data(record: EpisodeRecord) -> dict[str, str]:
    data = {
        'episode': str(record.episode),
        'success': _custom_str(record.success),
        'reason': record.reason,
        'source': record.source,
        'policy_version': record.policy_version,
        'interventions': str(record.interventions),
        'steps': str(record.steps),
        'joint_names': ','.join(record.joint_names),
        'dt': repr(record.dt),
        'human_steps': str(int(np.count_nonzero(record.intervention))),
    }
    if record.expert_actions is not None:
        labelled = np.all(np.isfinite(record.expert_actions), axis=1)
        data['expert_labels'] = str(int(np.count_nonzero(labelled)))
    data.update(record.extra)
    return data


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
        return writer.close(_record_custom_data(record))


# ---------------------------------------------------------------------------------------------
# Finding and checking bags


def _storage_files(bag_dir: Path, meta: Mapping[str, Any]) -> list[Path]:
    """Return the bag's storage files named by its metadata (inside ``bag_dir`` only)."""
    rels = meta['relative_file_paths']
    if not all(isinstance(rel, str) for rel in rels):
        raise DataError(f'{bag_dir / "metadata.yaml"}: relative_file_paths holds a non-string')
    return [bag_dir / Path(rel).name for rel in rels]


def _meta_str(meta: Mapping[str, Any], key: str) -> str:
    """Return a string entry of the metadata ('' when absent); DataError when not a string."""
    value = meta.get(key) or ''
    if not isinstance(value, str):
        raise DataError(f'metadata {key} is a {type(value).__name__}, not a string')
    return value


def _bag_problem(bag_dir: Path) -> str | None:
    """Say why ``bag_dir`` is not a finished bag with valid metadata, or None when it is."""
    reindex = (f'if its recording was interrupted, `ros2 bag reindex {bag_dir}` may recover '
               'it, otherwise delete it')
    if not (bag_dir / 'metadata.yaml').is_file():
        return f'it has no metadata.yaml (recording interrupted?); {reindex}'
    try:
        meta = load_metadata(bag_dir)
    except DataError as exc:
        return str(exc)
    try:
        files = _storage_files(bag_dir, meta)
    except DataError as exc:
        return str(exc)
    for f in files:
        try:
            st = f.stat()
        except OSError:
            return f'its storage file {f.name} is missing'
        if not stat.S_ISREG(st.st_mode):
            return f'its storage file {f.name} is not a regular file'
        size = st.st_size
        if f.name.endswith('.mcap'):
            # A finished MCAP file starts and ends with the magic bytes; a
            # truncated or still-open one does not end with them.
            if size < 2 * len(MCAP_MAGIC) + _MCAP_FOOTER_BYTES:
                return f'its storage file {f.name} is truncated ({size} bytes); {reindex}'
            with f.open('rb') as fh:
                head = fh.read(len(MCAP_MAGIC))
                fh.seek(-len(MCAP_MAGIC) - _MCAP_FOOTER_BYTES, os.SEEK_END)
                footer = fh.read(_MCAP_FOOTER_BYTES)
                tail = fh.read(len(MCAP_MAGIC))
            if head != MCAP_MAGIC or tail != MCAP_MAGIC:
                return f'its storage file {f.name} is truncated or not MCAP; {reindex}'
            # The footer (opcode 2, 20 bytes: summary start, summary offsets start, CRC) is
            # the last thing a writer writes; offsets must point inside the file.
            op, length, summary, offsets = struct.unpack_from('<BQQQ', footer)
            end = size - len(MCAP_MAGIC) - _MCAP_FOOTER_BYTES
            if op != 0x02 or length != 20 or not (
                    summary == 0 or len(MCAP_MAGIC) <= summary <= end) or not (
                    offsets == 0 or summary <= offsets <= end):
                return f'its storage file {f.name} has a broken MCAP footer; {reindex}'
        elif size == 0:
            return f'its storage file {f.name} is empty'
    try:
        _info_from_metadata(bag_dir, meta)
    except DataError as exc:
        return str(exc)
    return None


def _natural_key(path: Path) -> list[Any]:
    """Sort key that orders 'ep2' before 'ep10'."""
    parts = re.split(r'(\d+)', str(path))
    return [int(p) if i % 2 else p for i, p in enumerate(parts)]


#: Why a ``*.partial`` directory is skipped.
PARTIAL_REASON = ('it is unfinished (a *.partial directory): a recorder is still writing it, or '
                  'was killed mid-episode; if none is writing it, `ros2 bag reindex` on the bag '
                  'inside may recover it, otherwise delete it')


def scan_episode_bags(root: Path | str) -> tuple[list[Path], list[SkippedBag]]:
    """
    Find the finished episode bags under ``root`` (or ``root`` itself) and the ones left out.

    A bag is a directory with ``metadata.yaml``. Left out, with the reason:
    ``*.partial`` directories (with everything in them), bags whose metadata
    is unreadable, over the limits of :mod:`~imitation_ros.data.storage` or
    inconsistent (message counts, times, custom_data values), bags whose
    storage file is missing or truncated, and directories holding storage
    files without ``metadata.yaml``. Only metadata and the ends of the storage
    files are read; :func:`check_bag` reads the messages too.

    :returns: the bags, sorted naturally ('ep2' before 'ep10'), and the skipped ones.
    :raises DataError: ``root`` does not exist.
    """
    root = Path(root)
    if not root.exists():
        msg = (f'{root} does not exist; pass the data directory the recorder writes to '
               '(its data_dir parameter) or a session or episode directory inside it')
        raise DataError(msg)
    if root.name.endswith(PARTIAL_SUFFIX):
        return [], [SkippedBag(root, PARTIAL_REASON)]
    found: list[Path] = []
    skipped: list[SkippedBag] = []
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        for d in sorted(dirnames):
            if d.endswith(PARTIAL_SUFFIX):
                skipped.append(SkippedBag(here / d, PARTIAL_REASON))
        dirnames[:] = [d for d in dirnames if not d.endswith(PARTIAL_SUFFIX)]
        storage = [f for f in filenames if re.search(r'\.(mcap|db3)(\.zstd)?$', f)]
        if 'metadata.yaml' not in filenames and not storage:
            continue
        if 'metadata.yaml' in filenames:
            # A bag directory never nests further bags.
            dirnames[:] = []
        problem = _bag_problem(here)
        if problem is not None:
            skipped.append(SkippedBag(here, problem))
            continue
        found.append(here)
    return (sorted(found, key=_natural_key),
            sorted(skipped, key=lambda s: _natural_key(s.path)))


def warn_skipped(skipped: Sequence[SkippedBag], stacklevel: int = 3) -> None:
    """Issue one :class:`DataWarning` per skipped bag, naming it and why."""
    for s in skipped:
        warnings.warn(s.message(), DataWarning, stacklevel=stacklevel)


def find_episode_bags(root: Path | str) -> list[Path]:
    """
    Find the finished episode bags under ``root`` (or ``root`` itself), sorted.

    The bags :func:`scan_episode_bags` leaves out are skipped with one
    :class:`DataWarning` each, naming the bag and why.
    """
    bags, skipped = scan_episode_bags(root)
    warn_skipped(skipped)
    return bags


# ---------------------------------------------------------------------------------------------
# Metadata-only summaries


@dataclass(frozen=True)
class EpisodeInfo:
    """What a bag's metadata says about its episode (no message is decoded)."""

    path: Path
    """The bag directory."""
    episode: int
    """Episode number (-1 when the bag does not say)."""
    start_ns: int
    """Log time of the first message (ns since the epoch)."""
    duration_s: float
    """Time from the first to the last message (s)."""
    message_counts: Mapping[str, int]
    """Messages per topic."""
    success: bool
    """True when the episode reached its goal."""
    reason: str
    """Why it ended ('' when the bag does not say)."""
    source: str
    """demo, hg_dagger or dagger ('' when the bag does not say)."""
    policy_version: str
    """Version of the policy that ran ('' for none)."""
    interventions: int | None
    """Number of human takeovers (None: unknown)."""
    steps: int
    """Control steps (custom_data ``steps``, else the number of commands)."""
    joint_names: tuple[str, ...]
    """Joint order of commands (empty when the bag does not say)."""
    dt: float | None
    """Control period (s), None when unknown."""
    human_steps: int | None
    """Steps under human control (None: unknown)."""
    expert_labels: int | None
    """Steps carrying an expert label (None: unknown)."""
    custom_data: Mapping[str, str]
    """All of the bag's custom_data."""


def _int_or_none(value: str | None) -> int | None:
    try:
        return None if value is None else int(value)
    except ValueError:
        return None


def _count(value: Any, what: str) -> int:
    """Return a non-negative integer of metadata (int or decimal string); ValueError if not."""
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= _MAX_STAMP_NS:
        return value
    if isinstance(value, str) and re.fullmatch(r'[0-9]{1,19}', value.strip()) and \
            int(value) <= _MAX_STAMP_NS:
        return int(value)
    raise ValueError(f'{what} {str(value)[:40]!r} is not a count')


def _scalar_str(value: Any) -> str | None:
    """Return a YAML scalar as the string rosbag2 meant; None for a list or mapping."""
    if value is None:
        return ''
    if isinstance(value, bool):
        return 'true' if value else 'false'
    if isinstance(value, (str, int, float)):
        return str(value)
    return None


def _info_from_metadata(bag: Path, meta: Mapping[str, Any]) -> EpisodeInfo:
    """Build the :class:`EpisodeInfo` of parsed metadata; DataError when it is inconsistent."""
    where = bag / 'metadata.yaml'
    try:
        topics = meta.get('topics_with_message_count') or []
        if not isinstance(topics, list):
            raise TypeError('topics_with_message_count is not a list')
        counts = {}
        for x in topics:
            name = _scalar_str(x['topic_metadata']['name'])
            if name is None:
                raise ValueError('a topic name is not a string')
            counts[name] = _count(x['message_count'], f'message_count of topic {name[:80]!r}')
        _count(meta.get('message_count', '0'), 'message_count')
        duration_ns = _count(meta['duration']['nanoseconds'], 'duration')
        start_ns = _count(meta['starting_time']['nanoseconds_since_epoch'], 'starting_time')
    except (KeyError, TypeError, ValueError) as exc:
        raise DataError(f'{where} lacks valid topic counts or times: {exc}') from exc
    raw_custom = meta.get('custom_data') or {}
    if not isinstance(raw_custom, dict):
        raise DataError(f'{where}: custom_data is not a mapping of strings')
    custom = {}
    for k, v in raw_custom.items():
        key, value = _scalar_str(k), _scalar_str(v)
        if key is None or value is None:
            raise DataError(f'{where}: custom_data {str(key)[:80]!r} is not a string; '
                            'rosbag2 custom_data maps strings to strings')
        custom[key] = value
    problems = _custom_value_problems(custom)
    if problems:
        raise DataError(f'{where}: custom_data is invalid: {"; ".join(problems)}')
    dt = float(custom['dt']) if 'dt' in custom else None
    steps = _int_or_none(custom.get('steps'))
    names = custom.get('joint_names', '')
    episode = _int_or_none(custom.get('episode'))
    return EpisodeInfo(
        path=bag, episode=-1 if episode is None else episode, start_ns=start_ns,
        duration_s=duration_ns / _NS_PER_S, message_counts=counts,
        success=custom.get('success') == 'true', reason=custom.get('reason', ''),
        source=custom.get('source', ''), policy_version=custom.get('policy_version', ''),
        interventions=_int_or_none(custom.get('interventions')),
        steps=counts.get(m.COMMANDS, 0) if steps is None else steps,
        joint_names=tuple(n for n in names.split(',') if n), dt=dt,
        human_steps=_int_or_none(custom.get('human_steps')),
        expert_labels=_int_or_none(custom.get('expert_labels')), custom_data=custom)


def episode_info(bag_dir: Path | str) -> EpisodeInfo:
    """
    Summarize one bag from its ``metadata.yaml`` alone (cheap, bounded).

    :raises DataError: the metadata is missing, over the limits of
        :mod:`~imitation_ros.data.storage`, or inconsistent.
    """
    bag = Path(bag_dir)
    return _info_from_metadata(bag, load_metadata(bag))


def _table(rows: list[list[str]]) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return ['  '.join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]


def format_bag_info(root: Path | str, *, check: bool = True,
                    limits: ReadLimits | None = None) -> str:
    """
    Describe every episode bag under ``root`` as a table plus totals (``bag-info``).

    :param check: also read every bag's messages as the loader does
        (:func:`check_bag`) and mark the ones it would skip ``UNREADABLE``;
        False reads metadata only.
    :param limits: read limits of the check (default :class:`ReadLimits`).
    """
    root = Path(root)
    bags, skipped = scan_episode_bags(root)
    infos = [episode_info(b) for b in bags]
    unreadable: dict[Path, str] = {}
    if check:
        for b in bags:
            try:
                check_bag(b, limits=limits)
            except DataError as exc:
                unreadable[b] = str(exc)
    lines: list[str] = []
    readable = [i for i in infos if i.path not in unreadable]
    if not infos:
        lines.append(f'no finished episode bags under {root}')
    else:
        rows = [['path', 'episode', 'duration', 'steps', 'outcome', 'source', 'interventions',
                 'policy']]
        for info in infos:
            rel = info.path.relative_to(root) if info.path != root else Path(info.path.name)
            outcome = 'success' if info.success else f'fail ({info.reason or "?"})'
            if info.path in unreadable:
                outcome = 'UNREADABLE'
            rows.append([str(rel), str(info.episode), f'{info.duration_s:.2f}s', str(info.steps),
                         outcome, info.source or '?',
                         '?' if info.interventions is None else str(info.interventions),
                         info.policy_version or '-'])
        lines += _table(rows)
        lines.append('')
    if readable:
        n = len(readable)
        wins = sum(i.success for i in readable)
        by_source: dict[str, int] = {}
        for i in readable:
            by_source[i.source or '?'] = by_source.get(i.source or '?', 0) + 1
        lines.append(f'episodes: {n}   success: {wins}/{n} ({100.0 * wins / n:.0f}%)   '
                     f'steps: {sum(i.steps for i in readable)}')
        lines.append('by source: ' + ', '.join(f'{k} {v}' for k, v in sorted(by_source.items())))
        human = [i.human_steps for i in readable]
        if all(h is not None for h in human):
            lines.append(f'human-labelled samples: {sum(h or 0 for h in human)}')
        expert = [i.expert_labels for i in readable if i.expert_labels is not None]
        if expert:
            lines.append(f'expert-labelled samples: {sum(expert)}')
    if unreadable or skipped:
        lines.append(f'skipped by the loader: {len(unreadable) + len(skipped)} bag(s) '
                     f'({len(unreadable)} unreadable, {len(skipped)} unfinished or damaged); '
                     'not counted above')
    for path, why in unreadable.items():
        lines.append(f'unreadable: {path}: {why}')
    for s in skipped:
        lines.append(f'warning: {s.message()}')
    return '\n'.join(lines).rstrip('\n')


# ---------------------------------------------------------------------------------------------
# Reading messages back


@dataclass(frozen=True, eq=False)
class _Series:
    """One topic's messages, sorted by log time."""

    times: np.ndarray
    """Log times, (K,) int64 ns."""
    values: np.ndarray
    """Decoded payloads, (K, ...)."""


@dataclass(frozen=True, eq=False)
class BagMessages:
    """The decoded messages of one episode bag that alignment needs."""

    path: Path
    """The bag directory."""
    info: EpisodeInfo
    """Metadata summary."""
    joint_names: tuple[str, ...]
    """Column order of joint arrays."""
    joints: _Series
    """Joint states: values (K, 2, n) = positions, velocities (rad, rad/s; NaN if absent)."""
    task: _Series
    """Task vectors, values (K, k)."""
    commands: _Series
    """Executed commands, values (K, n)."""
    intervention: _Series
    """Intervention flags, values (K,) bool."""
    policy: _Series
    """Policy proposals, values (K, n)."""
    expert: _Series
    """Expert labels, values (K, n)."""
    images: _Series | None
    """Images, values (K, H, W, 3) uint8; None when not read."""
    events: tuple[dict[str, Any], ...]
    """Decoded /imitation/episode events."""
    joint_stamps: np.ndarray | None = None
    """Header stamp of each joint state, (K,) int64 ns (None: not read)."""
    expert_stamps: np.ndarray | None = None
    """Header stamp (ns) of the joint state each expert label names, (K,) int64; -1 where
    the label names none (see :func:`labelled_state_stamp`)."""
    gate: GateStates | None = None
    """The gate's per-command decisions (None: the bag has none, e.g. a scripted demo)."""


@dataclass(frozen=True, eq=False)
class GateStates:
    """
    The gate's ``/imitation/gate_state`` messages that name their command and state.

    The gate publishes one right after each command, with the command it sent and the
    header stamp of the joint state it decided at; messages without both are left out.
    """

    times: np.ndarray
    """Log times, (K,) int64 ns, sorted."""
    commands: np.ndarray
    """The command sent, (K, n) rad."""
    state_stamps: np.ndarray
    """Header stamp of the joint state the command was decided at, (K,) int64 ns."""
    human: np.ndarray
    """True where the human's command was sent, (K,) bool."""


def _gate_states(raw: list[tuple[int, bytes]], n: int) -> GateStates | None:
    """
    Decode the gate_state messages that carry ``command`` and ``state_stamp``.

    ``command`` must hold n finite values; returns None when no message qualifies
    (older bags, other gates).
    """
    rows: list[tuple[int, list[float], int, bool]] = []
    for t_ns, data in raw:
        try:
            state = json.loads(m.decode_string(data))
            command = [float(v) for v in state['command']]
            stamp = int(state['state_stamp'])
            human = state.get('source') == 'human'
        except (ValueError, TypeError, KeyError, AttributeError, RecursionError):
            continue  # a decision without the pairing facts: the log-time rule applies
        if len(command) == n and all(math.isfinite(v) for v in command) and \
                0 <= stamp <= _MAX_STAMP_NS:
            rows.append((t_ns, command, stamp, human))
    if not rows:
        return None
    return GateStates(times=np.array([r[0] for r in rows], dtype=np.int64),
                      commands=np.array([r[1] for r in rows], dtype=np.float64),
                      state_stamps=np.array([r[2] for r in rows], dtype=np.int64),
                      human=np.array([r[3] for r in rows], dtype=bool))


def _stack(rows: list[np.ndarray], width: int | None, what: str, bag: Path) -> np.ndarray:
    if width is not None and any(r.shape != (width,) for r in rows):
        bad = next(r.shape for r in rows if r.shape != (width,))
        msg = (f'bag {bag}: {what} has a message of length {bad[0]} but {width} are expected '
               f'(one per joint); the publisher uses a different joint count')
        raise DataError(msg)
    if not rows:
        return np.zeros((0, width or 0))
    if width is None and len({r.shape for r in rows}) > 1:
        raise DataError(f'bag {bag}: {what} messages change length within the episode')
    return np.stack(rows)


#: The topics read back into :class:`BagMessages` (images only on request).
READ_TOPICS: tuple[str, ...] = (m.JOINT_STATES, m.TASK, m.COMMANDS, m.INTERVENTION,
                                m.POLICY_ACTION, m.EXPERT_ACTION, m.EPISODE, m.GATE_STATE)


def _read_raw(bag: Path, topics: Sequence[str],
              limits: ReadLimits) -> dict[str, list[tuple[int, bytes]]]:
    """Read the raw messages of ``topics`` from a checked bag within ``limits`` (DataError)."""
    meta = load_metadata(bag)
    mode = _meta_str(meta, 'compression_mode').lower()
    if mode not in ('', 'none'):
        msg = (f'it is compressed per {mode} (rosbag2 compression_mode); convert it to an '
               'uncompressed bag with `ros2 bag convert`, or record with MCAP chunk '
               'compression, which is read directly')
        raise DataError(msg)
    storage = _meta_str(meta, 'storage_identifier')
    wanted = {t: m.TOPICS[t] for t in topics}
    raw: dict[str, list[tuple[int, bytes]]] = {t: [] for t in topics}
    budget = Budget(limits)
    files = _storage_files(bag, meta)
    if storage == 'mcap':
        for f in files:
            part = read_mcap(f, wanted, budget)
            for topic, items in part.messages.items():
                raw[topic] += items
    elif storage == 'sqlite3':
        _read_sqlite(bag, wanted, budget, raw)
    else:
        raise DataError(f'its storage {storage[:40]!r} is not supported (mcap, sqlite3)')
    return raw


def _read_sqlite(bag: Path, wanted: Mapping[str, str], budget: Budget,
                 raw: dict[str, list[tuple[int, bytes]]]) -> None:
    """Read a sqlite3 bag with rosbags (after its metadata passed the checks), within budget."""
    from rosbags.rosbag2 import Reader

    try:
        with Reader(bag) as reader:
            conns = []
            for conn in reader.connections:
                if conn.topic in wanted:
                    if conn.msgtype != wanted[conn.topic]:
                        msg = (f'topic {conn.topic} has type {conn.msgtype}, the contract '
                               f'says {wanted[conn.topic]}; remap the topic when recording')
                        raise DataError(msg)
                    conns.append(conn)
            for conn, t_ns, data in reader.messages(connections=conns):
                budget.spend(len(data), 1)
                raw[conn.topic].append((int(t_ns), bytes(data)))
    except DataError:
        raise
    except Exception as exc:  # noqa: B902 - rosbags and sqlite raise many kinds
        raise DataError(f'{type(exc).__name__}: {str(exc)[:300]}') from exc


def read_bag_messages(bag_dir: Path | str, *, with_images: bool = True,
                      limits: ReadLimits | None = None) -> BagMessages:
    """
    Decode the contract topics of one finished bag (the basis of alignment).

    Reading is bounded by ``limits`` (default :class:`ReadLimits`) and by the
    metadata limits of :mod:`~imitation_ros.data.storage`.

    :raises DataError: naming the bag: not a finished bag, damaged or over a
        limit, wrong topic types, undecodable messages, or joint states lacking
        a joint of the bag's ``joint_names``.
    """
    bag = Path(bag_dir)
    problem = (_bag_problem(bag) if not bag.name.endswith(PARTIAL_SUFFIX)
               else PARTIAL_REASON)
    if problem is not None:
        raise DataError(f'cannot read bag {bag}: {problem}')
    topics = READ_TOPICS + ((m.CAMERA_IMAGE,) if with_images else ())
    try:
        info = episode_info(bag)
        raw = _read_raw(bag, topics, limits or ReadLimits())
        return _decode(bag, info, raw, with_images)
    except Exception as exc:  # noqa: B902 - whatever breaks, it is this bag that is bad
        text = f'{type(exc).__name__}: {exc}' if not isinstance(exc, DataError) else str(exc)
        if str(bag) in text:
            if isinstance(exc, DataError):
                raise
            raise DataError(text[:2000]) from exc
        raise DataError(f'cannot read bag {bag}: {text[:2000]}') from exc


def _decode(bag: Path, info: EpisodeInfo, raw: dict[str, list[tuple[int, bytes]]],
            with_images: bool) -> BagMessages:
    """Decode the raw messages of one bag into :class:`BagMessages`."""
    for items in raw.values():
        items.sort(key=lambda item: item[0])

    def times(topic: str) -> np.ndarray:
        return np.array([t for t, _ in raw[topic]], dtype=np.int64)

    def decoded(topic: str, decode: Any) -> list[Any]:
        out = []
        for i, (_, data) in enumerate(raw[topic]):
            try:
                out.append(decode(data))
            except DataError as exc:
                raise DataError(f'bag {bag}: message {i} on {topic}: {exc}') from exc
        return out

    states = decoded(m.JOINT_STATES, m.decode_joint_state)
    names = info.joint_names or (states[0].names if states else ())
    n = len(names)
    joint_rows = []
    for st in states:
        index = {name: i for i, name in enumerate(st.names)}
        missing = [name for name in names if name not in index]
        if missing:
            msg = (f'bag {bag}: a /joint_states message lacks joint {missing[0]!r} (it has '
                   f'{", ".join(st.names)}); set joint_names to the robot\'s joints')
            raise DataError(msg)
        order = [index[name] for name in names]
        vel = st.velocities[order] if st.velocities.size else np.full(n, np.nan)
        joint_rows.append(np.stack([st.positions[order], vel]))
    joints = np.stack(joint_rows) if joint_rows else np.zeros((0, 2, n))

    joint_stamps = np.array([st.stamp_ns for st in states], dtype=np.int64)
    expert_stamps = np.array(decoded(m.EXPERT_ACTION, labelled_state_stamp), dtype=np.int64)

    def arrays(topic: str, width: int | None) -> _Series:
        return _Series(times(topic), _stack(decoded(topic, m.decode_float64_array), width,
                                            topic, bag))

    images = None
    if with_images:
        frames = [msg.image for msg in decoded(m.CAMERA_IMAGE, m.decode_image)]
        if frames and len({f.shape for f in frames}) > 1:
            raise DataError(f'bag {bag}: image size changes within the episode')
        images = _Series(times(m.CAMERA_IMAGE),
                         np.stack(frames) if frames else np.zeros((0, 0, 0, 3), np.uint8))
    return BagMessages(
        path=bag, info=info, joint_names=tuple(names),
        joints=_Series(times(m.JOINT_STATES), joints),
        task=arrays(m.TASK, None), commands=arrays(m.COMMANDS, n),
        intervention=_Series(times(m.INTERVENTION),
                             np.array(decoded(m.INTERVENTION, m.decode_bool), dtype=bool)),
        policy=arrays(m.POLICY_ACTION, n), expert=arrays(m.EXPERT_ACTION, n), images=images,
        events=tuple(decoded(m.EPISODE, m.decode_episode_event)),
        joint_stamps=joint_stamps, expert_stamps=expert_stamps,
        gate=_gate_states(raw[m.GATE_STATE], n))


def labelled_state_stamp(raw: bytes | memoryview) -> int:
    """
    Return the header stamp (ns) of the joint state an expert label names, -1 if none.

    The expert node (:mod:`imitation_ros.nodes.expert_labeler`) puts the labelled
    joint state's header stamp (sec, nanosec) into the two leading padding values of
    the Float64MultiArray (``layout.data_offset`` = 2); any other label names none.
    """
    msg = m._deserialize(raw, m.FLOAT64_ARRAY_TYPE)
    data = np.asarray(msg.data, dtype=np.float64)
    if int(msg.layout.data_offset) != 2 or len(data) < 2 or not np.all(np.isfinite(data[:2])):
        return -1
    sec, nanosec = float(data[0]), float(data[1])
    # builtin_interfaces/Time: int32 seconds.
    if not 0 <= sec < 2**31 or not 0 <= nanosec < 1e9 or sec != int(sec) \
            or nanosec != int(nanosec):
        return -1
    return int(sec) * _NS_PER_S + int(nanosec)


def control_period_ns(bag: BagMessages) -> int:
    """Return the bag's control period: custom_data ``dt``, else the median command spacing."""
    if bag.info.dt is not None:
        return round(bag.info.dt * _NS_PER_S)
    if len(bag.commands.times) >= 2:
        return int(np.median(np.diff(bag.commands.times)))
    msg = f'bag {bag.path} has no dt in custom_data and too few commands to estimate it'
    raise DataError(msg)


def latest_at_or_before(times: np.ndarray, query: np.ndarray) -> np.ndarray:
    """Index of the last of ``times`` (sorted) <= each query time; -1 where none."""
    return np.searchsorted(times, query, side='right') - 1


def _expert_labels(bag: BagMessages, cmd_times: np.ndarray, state_index: np.ndarray,
                   period_ns: int, n: int) -> np.ndarray:
    """
    Expert label of each command's observed joint state, (M, n), NaN where none.

    A label that names its joint state (by header stamp) labels exactly the commands
    observing that state, whatever the log times (under load a label can reach the
    recorder after the next state); a label that names none falls back to the window
    rule (the latest within one control period before the command).
    """
    stamps = bag.expert_stamps
    if stamps is None or bag.joint_stamps is None or not np.any(stamps >= 0):
        return _windowed(bag.expert, cmd_times, period_ns, n)
    named = stamps >= 0
    out = _windowed(_Series(bag.expert.times[~named], bag.expert.values[~named]), cmd_times,
                    period_ns, n)
    row_of = {int(s): i for i, s in zip(np.flatnonzero(named), stamps[named])}  # newest wins
    rows = np.array([row_of.get(int(s), -1) for s in bag.joint_stamps[state_index]],
                    dtype=np.int64)
    hit = rows >= 0
    out[hit] = bag.expert.values[rows[hit]]
    return out


def _windowed(series: _Series, cmd_times: np.ndarray, period_ns: int, n: int) -> np.ndarray:
    """Latest value within one control period before each command, NaN where none."""
    out = np.full((len(cmd_times), n), np.nan)
    idx = latest_at_or_before(series.times, cmd_times)
    ok = idx >= 0
    ok[ok] = series.times[idx[ok]] > cmd_times[ok] - period_ns
    out[ok] = series.values[idx[ok]]
    return out


@dataclass(frozen=True, eq=False)
class Aligned:
    """Per-command samples of one bag, aligned by the dataset's rule."""

    command_times: np.ndarray
    """Log time of each kept command, (M,) int64 ns."""
    state_index: np.ndarray
    """Index into ``BagMessages.joints`` of each command's observation, (M,)."""
    positions: np.ndarray
    """(M, n) rad."""
    velocities: np.ndarray
    """(M, n) rad/s."""
    task: np.ndarray
    """(M, k)."""
    actions: np.ndarray
    """Executed commands, (M, n) rad."""
    human: np.ndarray
    """(M,) bool."""
    policy_actions: np.ndarray
    """(M, n) rad, NaN where no proposal."""
    expert_actions: np.ndarray
    """(M, n) rad, NaN where no label."""
    image_index: np.ndarray | None
    """Index into ``BagMessages.images`` of each command's image, (M,); None without images."""
    named: np.ndarray | None = None
    """True where the gate named the command's joint state (paired exactly), (M,) bool."""


def _gate_pairing(bag: BagMessages, period_ns: int) -> tuple[np.ndarray, np.ndarray]:
    """
    Joint state index and human flag of each command from the gate's decisions.

    A command pairs with the gate_state logged within one control period of it that
    carries the same values (the gate publishes both back to back); its joint state is
    the one with the header stamp that gate_state names. Returns (K,) state indices, -1
    where no decision or no recorded state matches, and (K,) human flags (valid where
    the index is >= 0).
    """
    cmd_t, cmd = bag.commands.times, bag.commands.values
    index = np.full(len(cmd_t), -1, dtype=np.int64)
    human = np.zeros(len(cmd_t), dtype=bool)
    gate = bag.gate
    if gate is None or bag.joint_stamps is None or not len(cmd_t):
        return index, human
    state_of = {int(s): i for i, s in enumerate(bag.joint_stamps)}  # newest wins
    lo = np.searchsorted(gate.times, cmd_t - period_ns, side='left')
    hi = np.searchsorted(gate.times, cmd_t + period_ns, side='right')
    # Only the decisions logged nearest each command are candidates: the gate publishes
    # one per command, so a crowd of them within one period is a broken clock, and
    # scanning it all would cost commands x decisions.
    mid = np.searchsorted(gate.times, cmd_t, side='left')
    lo = np.maximum(lo, mid - _PAIRING_CANDIDATES)
    hi = np.minimum(hi, mid + _PAIRING_CANDIDATES)
    for i in range(len(cmd_t)):
        best, best_dt = -1, None
        for g in range(lo[i], hi[i]):
            if np.array_equal(gate.commands[g], cmd[i]):
                dt = abs(int(gate.times[g]) - int(cmd_t[i]))
                if best_dt is None or dt < best_dt:
                    best, best_dt = g, dt
        if best >= 0:
            j = state_of.get(int(gate.state_stamps[best]), -1)
            if j >= 0:
                index[i], human[i] = j, gate.human[best]
    return index, human


def align_commands(bag: BagMessages, *, need_images: bool = False) -> Aligned:
    """Apply the alignment rule of :mod:`imitation_ros.data.dataset` to one bag."""
    cmd_t = bag.commands.times
    period = control_period_ns(bag) if len(cmd_t) else 1
    js = latest_at_or_before(bag.joints.times, cmd_t)
    named_js, named_human = _gate_pairing(bag, period)
    named = named_js >= 0
    js[named] = named_js[named]
    tk = latest_at_or_before(bag.task.times, cmd_t)
    keep = (js >= 0) & (tk >= 0)
    im = None
    if need_images:
        if bag.images is None or len(bag.images.times) == 0:
            msg = (f'bag {bag.path} has no {m.CAMERA_IMAGE} messages but images were '
                   'requested; load without images or record the camera topic')
            raise DataError(msg)
        im = latest_at_or_before(bag.images.times, cmd_t)
        keep &= im >= 0
        im = im[keep]
    cmd_t, js, tk = cmd_t[keep], js[keep], tk[keep]
    named, named_human = named[keep], named_human[keep]
    n = len(bag.joint_names)
    iv = latest_at_or_before(bag.intervention.times, cmd_t)
    human = np.zeros(len(cmd_t), dtype=bool)
    human[iv >= 0] = bag.intervention.values[iv[iv >= 0]]
    human[named] = named_human[named]
    return Aligned(
        command_times=cmd_t, state_index=js, positions=bag.joints.values[js, 0],
        velocities=bag.joints.values[js, 1], task=bag.task.values[tk],
        actions=bag.commands.values[keep], human=human,
        policy_actions=_windowed(bag.policy, cmd_t, period, n),
        expert_actions=_expert_labels(bag, cmd_t, js, period, n), image_index=im,
        named=named)


def episode_facts(bag: BagMessages) -> dict[str, Any]:
    """Return the episode facts from custom_data, falling back to /imitation/episode events."""
    info = bag.info
    custom = info.custom_data
    start = next((e for e in bag.events if e['event'] == 'start'), {})
    end = next((e for e in bag.events if e['event'] == 'end'), {})
    if info.source not in SOURCES:
        msg = (f'bag {bag.path}: custom_data source is {info.source!r}, expected one of '
               f'{", ".join(SOURCES)}; record with the imitation_ros recorder or add '
               '`--custom-data source=demo` to `ros2 bag record`')
        raise DataError(msg)
    episode = info.episode if 'episode' in custom else int(end.get('episode',
                                                                   start.get('episode', -1)))
    success = info.success if 'success' in custom else bool(end.get('success', False))
    reason = info.reason if 'reason' in custom else str(end.get('reason', ''))
    return {'episode': episode, 'success': success, 'reason': reason, 'source': info.source,
            'policy_version': info.policy_version}


def read_episode(bag_dir: Path | str, *, with_images: bool = True) -> EpisodeRecord:
    """
    Read an episode bag back into an :class:`EpisodeRecord` (inverse of write_episode).

    States are aligned to commands by the dataset rule; the final state is the
    last joint state logged after the last command. Images are assigned to the
    state whose observation window (after the previous command, up to its
    command) contains them; images older than state 0 are dropped.
    """
    bag = read_bag_messages(bag_dir, with_images=with_images)
    if len(bag.joints.times) == 0 or len(bag.task.times) == 0:
        msg = (f'bag {bag.path} has no {m.JOINT_STATES} or no {m.TASK} message; record both '
               'topics')
        raise DataError(msg)
    al = align_commands(bag)
    n_steps = len(al.command_times)
    if n_steps:
        last = len(bag.joints.times) - 1
        after = bag.joints.times[last] > al.command_times[-1]
        final = last if after else int(al.state_index[-1])
        state_idx = np.append(al.state_index, final)
        t0 = int(bag.joints.times[al.state_index[0]])
        task = al.task[0]
    else:
        state_idx = np.array([len(bag.joints.times) - 1])
        t0 = int(bag.joints.times[-1])
        task = bag.task.values[-1]
    images = image_steps = None
    if bag.images is not None and len(bag.images.times):
        keep = bag.images.times >= bag.joints.times[state_idx[0]]
        images = bag.images.values[keep]
        image_steps = np.searchsorted(al.command_times, bag.images.times[keep], side='left')
    custom = bag.info.custom_data
    policy = al.policy_actions if len(bag.policy.times) else None
    expert = al.expert_actions if len(bag.expert.times) else None
    dt = bag.info.dt if bag.info.dt is not None else control_period_ns(bag) / _NS_PER_S
    return EpisodeRecord(
        joint_names=bag.joint_names, t0_ns=t0, dt=dt,
        positions=bag.joints.values[state_idx, 0], velocities=bag.joints.values[state_idx, 1],
        task=task, actions=al.actions, intervention=al.human, policy_actions=policy,
        expert_actions=expert, images=images, image_steps=image_steps,
        extra={k: v for k, v in custom.items() if k not in STANDARD_KEYS}, **episode_facts(bag))


def check_bag(bag_dir: Path | str, *, limits: ReadLimits | None = None) -> None:
    """
    Read one bag as the dataset loader does (images included when it has them).

    :raises DataError: naming the bag and why the loader would skip it.
    """
    bag = Path(bag_dir)
    messages = read_bag_messages(bag, with_images=True, limits=limits)
    try:
        episode_facts(messages)
        align_commands(messages)
    except DataError:
        raise
    except Exception as exc:  # noqa: B902 - whatever breaks, it is this bag that is bad
        raise DataError(f'cannot read bag {bag}: {type(exc).__name__}: {exc}') from exc
