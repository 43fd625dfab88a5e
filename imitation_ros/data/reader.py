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
Read episode bags back: decode the contract topics of one finished bag.

:func:`read_bag_messages` reads one bag within :class:`~imitation_ros.data.storage.ReadLimits`
(MCAP through the bounded reader of :mod:`imitation_ros.data.storage`, sqlite3
through rosbags after its metadata passed the checks) and decodes it into the
:class:`~imitation_ros.data.alignment.BagMessages` that alignment works on;
:func:`read_episode` turns a bag back into the
:class:`~imitation_ros.data.episode.EpisodeRecord` it was written from, and
:func:`check_bag` reads a bag exactly as the dataset loader does.

Hostile or damaged bags
    A bag that cannot be read, whatever the reason, is a
    :class:`~imitation_ros.errors.DataError` naming it; the catalogue and the
    dataset loader skip such a bag with a
    :class:`~imitation_ros.data.episode.DataWarning` and go on with the others.
"""

from __future__ import annotations

from collections.abc import Mapping
import json
import math
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from . import messages as m
from .alignment import align_commands, BagMessages, control_period_ns, GateStates, Series
from .episode import (bag_problem, episode_info, EpisodeInfo, EpisodeRecord, meta_str,
                      PARTIAL_REASON, PARTIAL_SUFFIX, SOURCES, STANDARD_KEYS, storage_files)
from .storage import Budget, load_metadata, read_mcap, ReadLimits
from ..errors import DataError

_NS_PER_S = 1_000_000_000
_MAX_STAMP_NS = 2**63 - 1


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
    mode = meta_str(meta, 'compression_mode').lower()
    if mode not in ('', 'none'):
        msg = (f'it is compressed per {mode} (rosbag2 compression_mode); convert it to an '
               'uncompressed bag with `ros2 bag convert`, or record with MCAP chunk '
               'compression, which is read directly')
        raise DataError(msg)
    storage = meta_str(meta, 'storage_identifier')
    wanted = {t: m.TOPICS[t] for t in topics}
    raw: dict[str, list[tuple[int, bytes]]] = {t: [] for t in topics}
    budget = Budget(limits)
    files = storage_files(bag, meta)
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
    from rosbags.rosbag2 import Reader  # lazy: rosbags only for sqlite3 bags

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
    problem = (bag_problem(bag) if not bag.name.endswith(PARTIAL_SUFFIX)
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
            msg = (f'bag {bag}: a {m.JOINT_STATES} message lacks joint {missing[0]!r} (it has '
                   f'{", ".join(st.names)}); set joint_names to the robot\'s joints')
            raise DataError(msg)
        order = [index[name] for name in names]
        vel = st.velocities[order] if st.velocities.size else np.full(n, np.nan)
        joint_rows.append(np.stack([st.positions[order], vel]))
    joints = np.stack(joint_rows) if joint_rows else np.zeros((0, 2, n))

    joint_stamps = np.array([st.stamp_ns for st in states], dtype=np.int64)
    expert_stamps = np.array(decoded(m.EXPERT_ACTION, labelled_state_stamp), dtype=np.int64)

    def arrays(topic: str, width: int | None) -> Series:
        return Series(times(topic), _stack(decoded(topic, m.decode_float64_array), width,
                                           topic, bag))

    images = None
    if with_images:
        frames = [msg.image for msg in decoded(m.CAMERA_IMAGE, m.decode_image)]
        if frames and len({f.shape for f in frames}) > 1:
            raise DataError(f'bag {bag}: image size changes within the episode')
        images = Series(times(m.CAMERA_IMAGE),
                        np.stack(frames) if frames else np.zeros((0, 0, 0, 3), np.uint8))
    return BagMessages(
        path=bag, info=info, joint_names=tuple(names),
        joints=Series(times(m.JOINT_STATES), joints),
        task=arrays(m.TASK, None), commands=arrays(m.COMMANDS, n),
        intervention=Series(times(m.INTERVENTION),
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
