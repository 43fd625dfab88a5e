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
What an episode bag is: its facts, the record it holds, and the check that it is finished.

Layout and life cycle
    A bag lives at ``<data_dir>/<session>/<episode>/`` (any depth is accepted
    when searching). While it is being written it is staged inside the sibling
    directory ``<episode>.partial/`` (:func:`partial_path`); only a finished bag
    is renamed into place. Readers skip everything under ``*.partial``
    (:data:`PARTIAL_REASON`) with a :class:`DataWarning`, so an unfinished or
    crashed recording is never taken for an episode and never disappears
    without a word.

Episode facts
    Stored as strings in the bag metadata's ``custom_data`` (shown by
    ``ros2 bag info`` on Iron and later): ``episode``, ``success``
    (``true``/``false``), ``reason``, ``source`` (one of :data:`SOURCES`),
    ``policy_version``, ``interventions`` (number of human takeovers),
    ``steps`` (control steps), ``joint_names`` (comma separated, the order of
    every command), ``dt`` (control period, s), plus ``human_steps`` /
    ``expert_labels`` when known and whatever extra keys the caller adds.
    :class:`EpisodeInfo` is what ``metadata.yaml`` alone says (no message
    decoded); :func:`bag_problem` says why a directory is not a finished bag.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
import math
import os
from pathlib import Path
import re
import stat
import struct
from typing import Any

import numpy as np

from . import messages as m
from .storage import load_metadata, MCAP_MAGIC
from ..errors import DataError

#: Where an episode came from; the index is the code stored in datasets.
SOURCES: tuple[str, ...] = ('demo', 'hg_dagger', 'dagger')
#: Suffix of a bag directory that is still being written (or was abandoned).
PARTIAL_SUFFIX = '.partial'
#: custom_data keys every episode bag carries.
REQUIRED_KEYS: tuple[str, ...] = ('episode', 'success', 'reason', 'source', 'policy_version',
                                  'interventions', 'steps', 'joint_names', 'dt')
#: custom_data keys with a meaning of their own (not returned in ``EpisodeRecord.extra``).
STANDARD_KEYS: frozenset[str] = frozenset(REQUIRED_KEYS + ('human_steps', 'expert_labels'))

#: Largest control period ``dt`` a bag may state, s (the recorder allows up to 10 s).
MAX_DT_S = 3600.0

_NS_PER_S = 1_000_000_000
_MAX_STAMP_NS = 2**63 - 1
#: An MCAP footer record: opcode, length, summary start, summary offset start, CRC.
_MCAP_FOOTER_BYTES = 1 + 8 + 8 + 8 + 4
#: Why a ``*.partial`` directory is skipped.
PARTIAL_REASON = ('it is unfinished (a *.partial directory): a recorder is still writing it, or '
                  'was killed mid-episode; if none is writing it, `ros2 bag reindex` on the bag '
                  'inside may recover it, otherwise delete it')


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


def custom_str(value: Any) -> str:
    """Convert a custom_data value to the string stored in the bag."""
    if isinstance(value, (bool, np.bool_)):
        return 'true' if value else 'false'
    if isinstance(value, (list, tuple)):
        return ','.join(str(v) for v in value)
    return str(value)


def custom_data_problems(data: Mapping[str, str]) -> list[str]:
    """Say what is missing or wrong in the custom_data of a bag being finished."""
    problems = [f'{key!r} is missing' for key in REQUIRED_KEYS if key not in data]
    return problems + custom_value_problems(data)


def custom_value_problems(data: Mapping[str, str]) -> list[str]:
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


def record_custom_data(record: EpisodeRecord) -> dict[str, str]:
    data = {
        'episode': str(record.episode),
        'success': custom_str(record.success),
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


def info_from_metadata(bag: Path, meta: Mapping[str, Any]) -> EpisodeInfo:
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
    problems = custom_value_problems(custom)
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
    return info_from_metadata(bag, load_metadata(bag))


def storage_files(bag_dir: Path, meta: Mapping[str, Any]) -> list[Path]:
    """Return the bag's storage files named by its metadata (inside ``bag_dir`` only)."""
    rels = meta['relative_file_paths']
    if not all(isinstance(rel, str) for rel in rels):
        raise DataError(f'{bag_dir / "metadata.yaml"}: relative_file_paths holds a non-string')
    return [bag_dir / Path(rel).name for rel in rels]


def meta_str(meta: Mapping[str, Any], key: str) -> str:
    """Return a string entry of the metadata ('' when absent); DataError when not a string."""
    value = meta.get(key) or ''
    if not isinstance(value, str):
        raise DataError(f'metadata {key} is a {type(value).__name__}, not a string')
    return value


def bag_problem(bag_dir: Path) -> str | None:
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
        files = storage_files(bag_dir, meta)
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
        info_from_metadata(bag_dir, meta)
    except DataError as exc:
        return str(exc)
    return None
