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
Align each command of an episode bag with the observation it was decided at.

Alignment rule (applied to the raw messages by log time, so it holds for bags
recorded live, where clocks are not on a grid, as well as for bags written by
:func:`imitation_ros.data.writer.write_episode`):

* one sample per message on ``/forward_position_controller/commands`` (the
  executed command is the sample's action);
* when the bag holds the gate's ``/imitation/gate_state`` decisions, a command
  pairs with the decision logged within one control period of it that carries
  the same command, and its joint state is the one whose header stamp that
  decision names (``state_stamp``), and ``human`` is whether the decision's
  source was the human: exact, whatever order the recorder received the
  messages in. Commands without such a decision use the log-time rule below;
* its observation is the latest ``/joint_states``, the latest
  ``/imitation/task`` and, when images are loaded, the latest
  ``/camera/image_raw``, each with log time <= the command's log time;
  commands before the first joint state or task (or image, when images are
  loaded) are dropped;
* ``human`` is the latest ``/imitation/intervention`` with log time <= the
  command's (False when there is none);
* the expert label is the label of the command's observed joint state: a
  ``/imitation/expert_action`` that names its joint state (the expert node puts
  the state's header stamp (sec, nanosec) in two leading padding values,
  ``layout.data_offset`` = 2) labels exactly the commands observing that state,
  whatever the log times; a label that names none counts when it is the latest
  with log time in (command time - one control period, command time]; NaN when
  there is none (DAgger labels only what the expert saw);
* joint states are reordered by name to the bag's ``joint_names``
  custom_data (the command order); a joint state lacking one of them is a
  DataError naming the bag and the joint (:mod:`imitation_ros.data.reader`).

:func:`align_commands` applies the rule to the decoded messages of one bag
(:class:`BagMessages`, which :func:`imitation_ros.data.reader.read_bag_messages`
produces); it reads no file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from . import messages as m
from .episode import EpisodeInfo
from ..errors import DataError

_NS_PER_S = 1_000_000_000
#: Gate decisions on each side of a command considered when pairing them.
_PAIRING_CANDIDATES = 16


@dataclass(frozen=True, eq=False)
class Series:
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
    joints: Series
    """Joint states: values (K, 2, n) = positions, velocities (rad, rad/s; NaN if absent)."""
    task: Series
    """Task vectors, values (K, k)."""
    commands: Series
    """Executed commands, values (K, n)."""
    intervention: Series
    """Intervention flags, values (K,) bool."""
    policy: Series
    """Policy proposals, values (K, n)."""
    expert: Series
    """Expert labels, values (K, n)."""
    images: Series | None
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
    out = _windowed(Series(bag.expert.times[~named], bag.expert.values[~named]), cmd_times,
                    period_ns, n)
    row_of = {int(s): i for i, s in zip(np.flatnonzero(named), stamps[named])}  # newest wins
    rows = np.array([row_of.get(int(s), -1) for s in bag.joint_stamps[state_index]],
                    dtype=np.int64)
    hit = rows >= 0
    out[hit] = bag.expert.values[rows[hit]]
    return out


def _windowed(series: Series, cmd_times: np.ndarray, period_ns: int, n: int) -> np.ndarray:
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
