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
``recorder``: writes every episode as one rosbag2 bag (MCAP storage).

The topics of the ``topics`` parameter are subscribed raw and written unchanged into
``<data_dir>/<session>/ep_NNNNN`` (staged as ``.partial`` until complete), between
the start and end events of ``/imitation/episode``; what arrives just before a start
event is kept for it. A bag holds a whole episode or is not written; its metadata
holds the episode facts (outcome, source, model version, takeovers, steps, the
robot's joint names from its URDF: :mod:`.robot_source`). A write failure aborts
that bag and recording goes on; SIGINT and SIGTERM close the open bag as
``interrupted``. A writer thread behind a bounded queue writes (a full queue
makes the callback wait, counted as ``writer_stalls``; nothing is dropped), and an
ended episode stays open for its late messages. Every topic, parameter and rule: docs/nodes.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from collections import deque
import json
import math
import os
from pathlib import Path
import sys
import threading
from typing import Any, Callable, Sequence

from diagnostic_msgs.msg import DiagnosticArray
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from rclpy.serialization import deserialize_message
from sensor_msgs.msg import Image, JointState, Joy
from std_msgs.msg import Bool, Float64, Float64MultiArray, String

from .conversions import DIAG_ERROR, DIAG_OK, DIAG_WARN, diagnostic_array, diagnostic_status
from .params import declare_and_read, param
from .qos import DIAGNOSTICS_QOS, EPISODE_QOS, MODEL_QOS
from .robot_source import RobotParams, RobotSource
from .spin import spin_node
from ..data import messages as m
from ..data import count_takeovers, partial_path, QueuedBagWriter, SOURCES
from ..data.reader import labelled_state_stamp
from ..errors import ConfigError, DataError
from ..interface import topics
from ..interface.robot import RobotModel

NODE_NAME = 'recorder'
#: Period of ``/diagnostics`` (s).
DIAGNOSTICS_PERIOD_S = 1.0
#: Period of the check for episodes that run too long (s).
WATCHDOG_PERIOD_S = 0.1
#: Seconds between two repeats of the same throttled warning.
WARN_THROTTLE_S = 2.0
_NS_PER_S = 1_000_000_000
#: How long messages received outside an episode are kept for its start event (s).
BUFFER_S = 1.0
#: Most messages kept outside an episode.
BUFFER_MESSAGES = 256
#: Most episode events kept until the robot description comes (the transient-local depth).
EARLY_EVENTS = 50

GATE_STATE = m.GATE_STATE
"""The gate's arbitration decision per command (std_msgs/String JSON)."""
MODEL_VERSION = topics.MODEL_VERSION.bag_name
"""The policy's active model version (std_msgs/String, transient local)."""
MODEL = topics.MODEL.bag_name
"""The newest model path from the trainer (std_msgs/String, transient local)."""

#: Every topic the recorder can record: bag topic name -> (message class, type name).
KNOWN_TOPICS: dict[str, tuple[type, str]] = {
    m.JOINT_STATES: (JointState, m.JOINT_STATE_TYPE),
    m.CAMERA_IMAGE: (Image, m.IMAGE_TYPE),
    m.TASK: (Float64MultiArray, m.FLOAT64_ARRAY_TYPE),
    m.JOY: (Joy, m.JOY_TYPE),
    m.POLICY_ACTION: (Float64MultiArray, m.FLOAT64_ARRAY_TYPE),
    m.COMMANDS: (Float64MultiArray, m.FLOAT64_ARRAY_TYPE),
    m.INTERVENTION: (Bool, m.BOOL_TYPE),
    m.EXPERT_ACTION: (Float64MultiArray, m.FLOAT64_ARRAY_TYPE),
    m.EPISODE: (String, m.STRING_TYPE),
    m.UNCERTAINTY: (Float64, m.FLOAT64_TYPE),
    m.HELP_REQUEST: (Bool, m.BOOL_TYPE),
    GATE_STATE: (String, m.STRING_TYPE),
    MODEL_VERSION: (String, m.STRING_TYPE),
    MODEL: (String, m.STRING_TYPE),
}
#: Stamped topics kept outside an episode, placed by header stamp, with their type.
STAMPED_TOPICS: dict[str, type] = {m.JOINT_STATES: JointState, m.CAMERA_IMAGE: Image}
#: Topics kept outside an episode for its start event (see the module docstring).
BUFFERED_TOPICS = frozenset({*STAMPED_TOPICS, m.TASK, m.EXPERT_ACTION})
#: Tolerance between an event's float-second stamp and a header stamp (ns).
STAMP_TOLERANCE_NS = 1000
DEFAULT_TOPICS: tuple[str, ...] = (
    m.JOINT_STATES, m.CAMERA_IMAGE, m.TASK, m.JOY, m.POLICY_ACTION, m.COMMANDS,
    m.INTERVENTION, m.EXPERT_ACTION, m.EPISODE, GATE_STATE, m.UNCERTAINTY, m.HELP_REQUEST)

#: Streams (joint states, commands, ...): reliable like their publishers, and a queue
#: of 5000 (10 s of 500 Hz joint states, about 1 MB per topic) so that a recorder
#: behind by a busy CPU drops nothing it has received (docs/performance.md).
RECORD_QOS = QoSProfile(depth=5000, history=HistoryPolicy.KEEP_LAST,
                        reliability=ReliabilityPolicy.RELIABLE,
                        durability=DurabilityPolicy.VOLATILE)
#: Images: a queue of 30 (1 s at 30 Hz, 28 MB of 640x480 rgb8 at most) rides out
#: the same stalls. Reliable only while every publisher offers reliable (sim_arm):
#: a best-effort subscription loses most large frames whose fragments a busy
#: receiver misses (docs/performance.md), and a reliable one would not match camera
#: drivers publishing with the sensor-data profile (best effort).
RECORD_IMAGE_QOS = QoSProfile(depth=30, history=HistoryPolicy.KEEP_LAST,
                              reliability=ReliabilityPolicy.BEST_EFFORT,
                              durability=DurabilityPolicy.VOLATILE)


def offered_reliability(offered: Sequence[ReliabilityPolicy]) -> ReliabilityPolicy:
    """Return what to subscribe with: reliable when every publisher offers it (and one does)."""
    if offered and all(r == ReliabilityPolicy.RELIABLE for r in offered):
        return ReliabilityPolicy.RELIABLE
    return ReliabilityPolicy.BEST_EFFORT


def _qos_for(topic: str) -> QoSProfile:
    if topic == m.EPISODE:
        return EPISODE_QOS
    if topic in (MODEL_VERSION, MODEL):
        return MODEL_QOS
    if topic == m.CAMERA_IMAGE:
        return RECORD_IMAGE_QOS
    return RECORD_QOS


def count_key(topic: str) -> str:
    """Return the custom_data key of a topic's message count ('messages_joint_states')."""
    return 'messages_' + topic.strip('/').replace('/', '_')


@dataclass(frozen=True)
class RecorderParams(RobotParams):
    """Parameters of ``recorder`` (see config/recorder.yaml)."""

    data_dir: str = param('data', 'Directory under which sessions of episode bags are '
                          'written (relative: to the working directory)', unit='path')
    session: str = param('', 'Session directory name under data_dir; empty: '
                         'session_YYYYmmdd_HHMMSS (UTC, at start-up)', unit='name')
    source: str = param('hg_dagger', 'Where the episodes come from, stored in every bag',
                        choices=SOURCES)
    topics: tuple[str, ...] = param(DEFAULT_TOPICS, 'Absolute names of the topics recorded '
                                    'into every episode bag (names as stored; subscribed in '
                                    "the node's namespace; remap to record other topics under "
                                    'them)')
    record_images: bool = param(True, 'Record /camera/image_raw when it is in topics')
    dt: float = param(0.05, 'Control period of the recorded system, stored in every bag',
                      unit='s', minimum=1e-4, maximum=10.0)
    max_episode_s: float = param(120.0, 'An episode open longer than this is closed as '
                                 'too_long', unit='s', minimum=0.1, maximum=86400.0)
    late_start_s: float = param(5.0, 'An episode whose start event is up to this much older '
                                'than the recorder is still recorded when nothing of it has '
                                'happened yet (start-up races; see start_tolerance_rad); older '
                                'ones are history', unit='s', minimum=0.0, maximum=3600.0)
    start_tolerance_rad: float = param(0.05, 'An episode that began before the recorder came up '
                                       'is recorded only if the first joint state it receives '
                                       'is this close to the start posture named by the start '
                                       'event, on every joint', unit='rad', minimum=0.0,
                                       maximum=3.2)
    end_wait_s: float = param(10.0, 'An episode is closed at the first joint state stamped '
                              'after its end event, once its queues are empty, or at the '
                              'latest this long after the event, so that messages published '
                              'before the end but still queued reach its bag (0: at once)',
                              unit='s', minimum=0.0, maximum=60.0)
    end_quiet_s: float = param(3.5, 'An ended episode is closed once no message at all has '
                               'been taken for this long while the node ran, counted in '
                               'watchdog ticks of 0.1 s: longer than the publishers\' '
                               'heartbeat period (Fast DDS: 3 s), which is when a reliable '
                               'writer repairs the last samples of a stream', unit='s',
                               minimum=0.1, maximum=60.0)
    write_thread: bool = param(True, 'Write bags from a thread of their own behind a bounded '
                               'queue (false: in the subscription callback)')

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.data_dir:
            raise ConfigError('parameter data_dir must not be empty; give a directory, e.g. '
                              'data_dir:=$HOME/imitation_data')
        if self.session in ('.', '..') or '/' in self.session or '\\' in self.session:
            raise ConfigError(f'parameter session must be a plain directory name, got '
                              f'{self.session!r}')
        unknown = [t for t in self.topics if t not in KNOWN_TOPICS]
        if unknown:
            raise ConfigError(f'parameter topics has {unknown}, which the recorder cannot type; '
                              f'record some of {sorted(KNOWN_TOPICS)} (remap other topics '
                              'onto these names)')
        if len(set(self.topics)) != len(self.topics):
            raise ConfigError(f'parameter topics lists a topic twice: {list(self.topics)}')
        if m.EPISODE not in self.topics:
            raise ConfigError(f'parameter topics must include {m.EPISODE}: it marks where '
                              'episodes start and end')


@dataclass
class _Episode:
    """The episode being recorded."""

    episode: int
    writer: QueuedBagWriter
    opened_ns: int
    start_stamp_ns: int | None
    start_delay_s: float
    counts: dict[str, int] = field(default_factory=dict)
    intervention: list[bool] = field(default_factory=list)
    help: list[bool] = field(default_factory=list)
    steps: int = 0
    human_steps: int = 0
    dropped: int = 0
    start_posture: dict[str, float] | None = None
    """Joint name -> start position (rad) to find in the first joint state before the bag
    counts as a whole episode; None once found, or for an episode that began live."""
    end: tuple[bool, str, int, int] | None = None
    """Once its end event arrived: (success, reason, the event's stamp in ns, its receive
    time on the node clock in ns)."""


def start_posture(event: dict[str, Any], joint_names: tuple[str, ...]) -> dict[str, float] | None:
    """
    Return the start posture a start event names (joint name -> rad), or None when none.

    ``"start"`` lists one position per joint, in the order of the event's
    ``"joint_names"`` when it has them, else of ``joint_names``.
    """
    start = event.get('start')
    names = event.get('joint_names', list(joint_names))
    if not isinstance(start, list) or not isinstance(names, list) or len(start) != len(names):
        return None
    try:
        posture = {str(n): float(q) for n, q in zip(names, start)}
    except (TypeError, ValueError):
        return None
    if not set(joint_names) <= set(posture) or not all(
            math.isfinite(posture[n]) for n in joint_names):
        return None
    return {n: posture[n] for n in joint_names}


def at_posture(names: Sequence[str], positions: Sequence[float], posture: dict[str, float],
               tolerance: float) -> bool:
    """Return True when a joint state has every joint of ``posture`` within ``tolerance`` rad."""
    measured = dict(zip(names, positions))
    return all(n in measured and abs(float(measured[n]) - q) <= tolerance
               for n, q in posture.items())


def _header_stamp_ns(raw: bytes, kind: Any) -> int:
    """Return the header stamp (ns) of a serialized stamped message."""
    stamp = deserialize_message(raw, kind).header.stamp
    return int(stamp.sec) * _NS_PER_S + int(stamp.nanosec)


def _event_stamp_ns(event: dict[str, Any]) -> int | None:
    """Return the event's ``stamp`` (s, publisher clock) in ns, or None without one."""
    stamp = event.get('stamp')
    if isinstance(stamp, bool) or not isinstance(stamp, (int, float)):
        return None
    return int(round(float(stamp) * _NS_PER_S))


def _last_start(events: list[tuple[bytes, int]]) -> int:
    """Return the index of the newest start event among raw episode events (0 if none)."""
    for index in range(len(events) - 1, -1, -1):
        try:
            if json.loads(deserialize_message(events[index][0], String).data)['event'] == 'start':
                return index
        except (ValueError, TypeError, KeyError):
            continue
    return 0


class RecorderNode(Node):
    """
    The episode recorder as a ROS 2 node (node name ``recorder``).

    :param kwargs: passed to ``rclpy.node.Node`` (``parameter_overrides``,
        ``context``, ``namespace``...).
    :raises ConfigError: a parameter is invalid, or the robot description given by
        parameter is unusable (the node is destroyed first). One from the topic raises
        from the callback that finds out (``main`` then exits 1).
    :raises DataError: the session directory cannot be created or written.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(NODE_NAME, **kwargs)
        try:
            self.params = declare_and_read(self, RecorderParams)
            # The robot's joints name the commands in every bag.
            self.robot: RobotModel | None = self.params.robot_from_parameters()
            self.session = self.params.session or datetime.now(timezone.utc).strftime(
                'session_%Y%m%d_%H%M%S')
            self.session_dir = self._prepare_session_dir()
        except (ConfigError, DataError):
            self.destroy_node()
            raise
        p = self.params
        self._started_ns = self.get_clock().now().nanoseconds
        self._bag_topics = {t: KNOWN_TOPICS[t][1] for t in KNOWN_TOPICS}
        self._current: _Episode | None = None
        # Start stamp (ns, None if the event had none) of every episode handled so far:
        # recorded, skipped or failed. Events are keyed on the episode number.
        self._handled: dict[int, int | None] = {}
        self._lock = threading.RLock()
        self.intervention = False
        self.help_request = False
        self.policy_version = ''
        self.episodes_written = 0
        self.episodes_failed = 0
        self.episodes_missed_start = 0
        self.messages_written = 0
        self.messages_outside = 0
        self._before_start: deque[tuple[str, bytes, int]] = deque(maxlen=BUFFER_MESSAGES)
        # Episode events (raw, receive time) that came before the robot description.
        self._early_events: deque[tuple[bytes, int]] = deque(maxlen=EARLY_EVENTS)
        self.dropped_total = 0
        self.writer_stalls = 0
        self.writer_peak = 0
        # Messages taken, and watchdog ticks in a row that saw none taken: the queues are
        # empty only if the node ran (ticked) and found nothing, not if it was starved.
        self._taken = 0
        self._taken_at_tick = 0
        self._quiet_ticks = 0
        self.last_bag: Path | None = None
        self._last_error = ''
        self._error_latched = False

        self._diag_pub = self.create_publisher(DiagnosticArray, topics.DIAGNOSTICS.name,
                                               DIAGNOSTICS_QOS)
        self.recorded_topics = tuple(t for t in p.topics
                                     if p.record_images or t != m.CAMERA_IMAGE)
        self._image_sub: Any = None
        for topic in self.recorded_topics:
            if topic == m.CAMERA_IMAGE:
                self._adapt_image_qos()
                continue
            # Subscribed by the relative name (the node's namespace applies), stored as named.
            self.create_subscription(KNOWN_TOPICS[topic][0], topics.node_name(topic),
                                     self._raw_callback(topic), _qos_for(topic), raw=True)
        # Bookkeeping needs these even when they are not recorded.
        if m.INTERVENTION not in self.recorded_topics:
            self.create_subscription(Bool, topics.INTERVENTION.name, self._on_intervention_msg,
                                     RECORD_QOS)
        if MODEL_VERSION not in self.recorded_topics:
            self.create_subscription(String, topics.MODEL_VERSION.name,
                                     self._on_model_version_msg,
                                     MODEL_QOS)
        self.create_timer(WATCHDOG_PERIOD_S, self._on_watchdog)
        self.create_timer(DIAGNOSTICS_PERIOD_S, self._on_diagnostics)
        self._robot_source = (RobotSource(self, p, self._set_robot) if self.robot is None
                              else None)
        self.get_logger().info(
            f'recording {len(self.recorded_topics)} topics into {self.session_dir} '
            f'(source {p.source}), one bag per episode')

    # --- set-up ------------------------------------------------------------------------

    def _set_robot(self, robot: RobotModel) -> None:
        """
        Take the robot whose joints name the recorded commands; handle the events held back.

        The recorder counts as up from ``BUFFER_S`` before now (what came since is still
        kept): an episode that began earlier is recorded only when nothing of it happened
        yet, as for a recorder started late.
        """
        self.get_logger().info(f'robot {robot.name or "(unnamed)"}: joints '
                               f'{list(robot.joint_names)}')
        with self._lock:
            self.robot = robot
            kept_since = self.get_clock().now().nanoseconds - int(BUFFER_S * _NS_PER_S)
            self._started_ns = max(self._started_ns, kept_since)
            early, self._early_events = list(self._early_events), deque()
            # From the newest start on: older events are history, and the messages kept
            # from before (BUFFER_S) belong to the newest episode only.
            for raw, t_ns in early[_last_start(early):]:
                self._on_episode_raw(raw, t_ns)

    def _prepare_session_dir(self) -> Path:
        """Create ``<data_dir>/<session>`` and check it is writable (DataError if not)."""
        session_dir = Path(self.params.data_dir).expanduser().resolve() / self.session
        hint = ('set data_dir to a writable directory, e.g. --ros-args -p '
                'data_dir:=$HOME/imitation_data')
        try:
            session_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise DataError(f'cannot create the session directory {session_dir}: '
                            f'{exc.strerror or exc}; {hint}') from exc
        probe = session_dir / f'.write_test_{os.getpid()}'
        try:
            probe.write_bytes(b'')
            probe.unlink()
        except OSError as exc:
            raise DataError(f'cannot write into the session directory {session_dir}: '
                            f'{exc.strerror or exc}; {hint}') from exc
        return session_dir

    # --- callbacks ---------------------------------------------------------------------

    def _raw_callback(self, topic: str) -> Callable[[bytes], None]:
        """Make the raw subscription callback of one topic."""
        def callback(raw: bytes) -> None:
            self._on_raw(topic, raw)
        return callback

    def _on_raw(self, topic: str, raw: bytes) -> None:
        """Write one serialized message into the open episode (or count it as outside)."""
        t_ns = self.get_clock().now().nanoseconds
        self._taken += 1
        try:
            if topic == m.EPISODE:
                if self.robot is None:
                    self._early_events.append((raw, t_ns))  # a bag needs the joint names
                    return
                self._on_episode_raw(raw, t_ns)
                return
            if topic == m.INTERVENTION:
                self._on_intervention(bool(deserialize_message(raw, Bool).data))
            elif topic == MODEL_VERSION:
                self.policy_version = str(deserialize_message(raw, String).data)
            elif topic == m.HELP_REQUEST:
                self._on_help_request(bool(deserialize_message(raw, Bool).data))
            with self._lock:
                ep = self._current
                if ep is not None and ep.end is not None and topic in STAMPED_TOPICS and \
                        _header_stamp_ns(raw, STAMPED_TOPICS[topic]) > ep.end[2]:
                    if topic == m.JOINT_STATES:
                        # Taken in arrival order: what was published before the end is in.
                        self._close(ep.end[0], ep.end[1], t_ns)
                    ep = None
                if ep is None:
                    self.messages_outside += 1
                    if topic in BUFFERED_TOPICS:
                        self._before_start.append((topic, raw, t_ns))
                    return
                if topic == m.JOINT_STATES and ep.start_posture is not None:
                    if not self._check_start_posture(ep, raw):
                        return
                if not self._write(ep, topic, raw, t_ns):
                    return
                if topic == m.COMMANDS:
                    ep.steps += 1
                    ep.human_steps += int(self.intervention)
        except Exception as exc:  # noqa: B902 - a callback must never raise
            self.dropped_total += 1
            self.get_logger().error(f'recording a message on {topic} failed: {exc!r}',
                                    throttle_duration_sec=WARN_THROTTLE_S)

    def _on_intervention_msg(self, msg: Bool) -> None:
        self._on_intervention(bool(msg.data))

    def _on_model_version_msg(self, msg: String) -> None:
        self.policy_version = str(msg.data)

    def _on_intervention(self, value: bool) -> None:
        """Track the newest intervention flag and the episode's series of flags."""
        with self._lock:
            self.intervention = value
            if self._current is not None and self._current.end is None:
                self._current.intervention.append(value)

    def _on_help_request(self, value: bool) -> None:
        """Track the episode's series of help request flags."""
        with self._lock:
            self.help_request = value
            if self._current is not None and self._current.end is None:
                self._current.help.append(value)

    def _on_episode_raw(self, raw: bytes, t_ns: int) -> None:
        """Open or close episodes on start / end events (keyed on the episode number)."""
        try:
            event = json.loads(deserialize_message(raw, String).data)
            kind = str(event['event'])
            episode = int(event['episode'])
        except (ValueError, TypeError, KeyError) as exc:
            self.get_logger().warning(f'ignoring an /imitation/episode message that is not '
                                      f'{{"event": ..., "episode": N}} JSON: {exc!r}',
                                      throttle_duration_sec=WARN_THROTTLE_S)
            return
        with self._lock:
            if kind == 'start':
                self._on_start(episode, event, raw, t_ns)
            elif kind == 'end':
                self._on_end(episode, event, raw, t_ns)

    def _on_start(self, episode: int, event: dict[str, Any], raw: bytes, t_ns: int) -> None:
        current = self._current
        stamp = _event_stamp_ns(event)
        if episode in self._handled:
            before = self._handled[episode]
            if stamp is None or before is None or stamp <= before:
                return  # a repeat, or transient-local history of an episode already handled
            # A newer start reusing the number: its publisher restarted.
            self.get_logger().warning(f'episode {episode} started again (its source restarted?);'
                                      ' recording it under a new name')
        self._handled[episode] = stamp
        late_ns = int(self.params.late_start_s * _NS_PER_S)
        if stamp is not None and stamp < self._started_ns - late_ns:
            self.get_logger().info(f'episode {episode} started before the recorder came up; '
                                   'not recording it')
            return
        if current is not None and current.end is not None:
            self._close(current.end[0], current.end[1], t_ns)   # its end wait is cut short
        elif current is not None and current.start_posture is not None:
            if stamp is not None and stamp < self._started_ns:
                # Both starts are history (transient-local replay): the older episode ended
                # before the recorder came up, so nothing of it was missed.
                current.writer.abort()
                self._current = None
                self.get_logger().info(f'episode {current.episode} ended before the recorder '
                                       'came up; not recording it')
            else:
                self._drop_tail(current, f'episode {episode} started before a joint state of '
                                'it arrived')
        elif current is not None:
            self.get_logger().warning(f'episode {episode} started while episode '
                                      f'{current.episode} had no end event; closing it')
            self._close(False, 'missing_end', t_ns)
        posture = None
        if stamp is not None and stamp < self._started_ns:
            # Begun before this recorder: a whole episode only if nothing has happened yet.
            posture = start_posture(event, self.robot.joint_names)
            if posture is None or m.JOINT_STATES not in self.recorded_topics:
                why = ('its start event names no start posture' if posture is None
                       else f'{m.JOINT_STATES} is not recorded')
                self._missed_start(episode, f'{why}, so the recorder cannot tell that it saw '
                                   'its beginning')
                return
        bag_dir = self._bag_dir(episode)
        try:
            writer = QueuedBagWriter(bag_dir, topics=self._bag_topics,
                                     threaded=self.params.write_thread)
        except DataError as exc:
            self._fail(f'episode {episode}: {exc}')
            return
        delay = 0.0 if stamp is None else max(0.0, (t_ns - stamp) / _NS_PER_S)
        self._current = _Episode(episode=episode, writer=writer, opened_ns=t_ns,
                                 start_stamp_ns=stamp, start_delay_s=delay,
                                 start_posture=posture)
        if self.intervention:
            # Control was with the human when the episode began.
            self._current.intervention.append(True)
        if self.help_request:
            self._current.help.append(True)
        self._write_buffered(self._current, stamp, t_ns)
        self._write(self._current, m.EPISODE, raw, t_ns)
        pending = (' (it began before the recorder came up: kept only if the arm is still at '
                   'its start posture)') if posture is not None else ''
        self.get_logger().info(f'recording episode {episode} into {bag_dir.name}{pending}')

    def _write_buffered(self, ep: _Episode, stamp: int | None, now_ns: int) -> None:
        """Write what arrived before the start event but belongs to the episode."""
        kept, self._before_start = self._before_start, deque(maxlen=BUFFER_MESSAGES)
        if stamp is None:
            return
        oldest = now_ns - int(BUFFER_S * _NS_PER_S)
        for topic, raw, t_ns in kept:
            if t_ns < oldest:
                continue
            at = t_ns
            if topic in STAMPED_TOPICS:
                at = _header_stamp_ns(raw, STAMPED_TOPICS[topic])
            elif topic == m.EXPERT_ACTION:
                # A label belongs where the state it names does; one naming none, by receipt.
                named = labelled_state_stamp(raw)
                at = named if named >= 0 else t_ns
            if at >= stamp - STAMP_TOLERANCE_NS:
                if topic == m.JOINT_STATES and ep.start_posture is not None \
                        and not self._check_start_posture(ep, raw):
                    return
                self._write(ep, topic, raw, t_ns)
                self.messages_outside -= 1

    def _on_end(self, episode: int, event: dict[str, Any], raw: bytes, t_ns: int) -> None:
        current = self._current
        if current is None or current.episode != episode or current.end is not None:
            return  # not ours: an episode already closed or ending, skipped, or not started
        stamp = _event_stamp_ns(event)
        if stamp is not None and stamp < self._started_ns:
            # Both its start and end are history from before the recorder came up.
            current.writer.abort()
            self._current = None
            self.get_logger().info(f'episode {episode} ended before the recorder came up; '
                                   'not recording it')
            return
        if current.start_posture is not None:
            self._drop_tail(current, 'it ended before the recorder got a joint state of it')
            return
        if not self._write(current, m.EPISODE, raw, t_ns):
            return
        success, reason = bool(event.get('success', False)), str(event.get('reason', ''))
        if self.params.end_wait_s <= 0.0 or stamp is None:
            self._close(success, reason, t_ns)
            return
        current.end = (success, reason, stamp, t_ns)

    def _check_start_posture(self, ep: _Episode, raw: bytes) -> bool:
        """
        Check the first joint state of an episode begun before the recorder came up.

        Returns True (and records the episode from here on) when the arm is still at the
        start posture; else drops the episode's bag and returns False.
        """
        assert ep.start_posture is not None
        msg = deserialize_message(raw, JointState)
        if at_posture(list(msg.name), list(msg.position), ep.start_posture,
                      self.params.start_tolerance_rad):
            ep.start_posture = None
            self.get_logger().info(f'episode {ep.episode} began before the recorder came up, '
                                   'but the arm is still at its start posture: recording it')
            return True
        self._drop_tail(ep, 'the arm has left its start posture (beyond start_tolerance_rad = '
                        f'{self.params.start_tolerance_rad:g} rad), so its beginning is missing')
        return False

    def _drop_tail(self, ep: _Episode, why: str) -> None:
        """Discard the bag of an episode begun before the recorder came up (caller locks)."""
        try:
            ep.writer.abort()
        except Exception as exc:  # noqa: B902 - the bag is dropped either way
            why = f'{why}; removing its partial bag failed: {exc!r}'
        self._current = None
        self._missed_start(ep.episode, why)

    def _missed_start(self, episode: int, why: str) -> None:
        """Count and report an episode not recorded because its beginning was missed."""
        self.episodes_missed_start += 1
        self.get_logger().warning(f'episode {episode} began before the recorder came up and '
                                  f'{why}; not recording it (a bag holds a whole episode)')

    def _on_watchdog(self) -> None:
        """Close an episode at the end of its end wait, on a write failure, or when too long."""
        with self._lock:
            self._quiet_ticks = 0 if self._taken != self._taken_at_tick else \
                self._quiet_ticks + 1
            self._taken_at_tick = self._taken
            ep = self._current
            if ep is None:
                return
            if ep.writer.error is not None:
                self._abort(ep, f'writing failed: {ep.writer.error}')
                return
            now = self.get_clock().now().nanoseconds
            if ep.end is not None:
                quiet = self._quiet_ticks * WATCHDOG_PERIOD_S >= self.params.end_quiet_s
                if now - ep.end[3] >= self.params.end_wait_s * _NS_PER_S or quiet:
                    self._close(ep.end[0], ep.end[1], now)
                return
            if now - ep.opened_ns > self.params.max_episode_s * _NS_PER_S:
                if ep.start_posture is not None:
                    self._drop_tail(ep, 'no joint state of it arrived within max_episode_s')
                    return
                self.get_logger().warning(
                    f'episode {ep.episode} open for more than {self.params.max_episode_s:g} s '
                    'without an end event; closing it as too_long')
                self._close(False, 'too_long', now)

    # --- bags --------------------------------------------------------------------------

    def _bag_dir(self, episode: int) -> Path:
        """Return ``ep_NNNNN`` in the session, or ``ep_NNNNN_K`` when that name is taken."""
        base = f'ep_{episode:05d}'
        path = self.session_dir / base
        k = 0
        while path.exists() or partial_path(path).exists():
            # A restarted source (numbers from 0 again) or a reused session directory.
            k += 1
            path = self.session_dir / f'{base}_{k}'
        return path

    def _write(self, ep: _Episode, topic: str, raw: bytes, t_ns: int) -> bool:
        """Write one message; a disk failure aborts the episode. Returns True when written."""
        try:
            ep.writer.write(topic, raw, t_ns)
        except DataError as exc:
            if isinstance(exc.__cause__, OSError) or not ep.writer.is_open \
                    or ep.writer.error is not None:
                self._abort(ep, f'writing {topic} failed: {exc}')
            else:
                ep.dropped += 1
                self.dropped_total += 1
                self.get_logger().error(f'episode {ep.episode}: dropped a message on {topic}: '
                                        f'{exc}', throttle_duration_sec=WARN_THROTTLE_S)
            return False
        except Exception as exc:  # noqa: B902 - anything from the storage layer aborts
            self._abort(ep, f'writing {topic} failed: {exc!r}')
            return False
        ep.counts[topic] = ep.counts.get(topic, 0) + 1
        self.messages_written += 1
        return True

    def _abort(self, ep: _Episode, why: str) -> None:
        """Drop the open bag of ``ep`` (nothing half written stays) and report the error."""
        try:
            ep.writer.abort()
        except Exception as exc:  # noqa: B902 - the first error is the one to report
            why = f'{why}; removing the partial bag failed too: {exc!r}'
        self._current = None
        self.dropped_total += sum(ep.counts.values())
        self._fail(f'episode {ep.episode} aborted, its bag is discarded: {why}')

    def _fail(self, why: str) -> None:
        self.episodes_failed += 1
        self._last_error = why
        self._error_latched = True
        self.get_logger().error(why)

    def custom_data(self, ep: _Episode, success: bool, reason: str) -> dict[str, Any]:
        """Return the episode facts stored in a bag's metadata."""
        data: dict[str, Any] = {
            'episode': ep.episode, 'success': bool(success), 'reason': reason,
            'source': self.params.source, 'policy_version': self.policy_version,
            'interventions': count_takeovers(ep.intervention), 'human_steps': ep.human_steps,
            'steps': ep.steps, 'joint_names': list(self.robot.joint_names),
            'dt': repr(float(self.params.dt)), 'dropped': ep.dropped,
            'start_delay_s': f'{ep.start_delay_s:.3f}', 'session': self.session,
        }
        if m.HELP_REQUEST in self.recorded_topics:
            data['help_requests'] = count_takeovers(ep.help)
        if m.EXPERT_ACTION in self.recorded_topics:
            # The trainer counts new DAgger labels from this, without opening the bag.
            data['expert_labels'] = ep.counts.get(m.EXPERT_ACTION, 0)
        for topic in self.recorded_topics:
            data[count_key(topic)] = ep.counts.get(topic, 0)
        return data

    def _close(self, success: bool, reason: str, t_ns: int) -> None:
        """Finish the open bag with its episode facts (caller holds the lock)."""
        ep = self._current
        if ep is None:
            return
        self._current = None
        stats = ep.writer.stats()
        self.writer_stalls += stats.stalls
        self.writer_peak = max(self.writer_peak, stats.peak_messages)
        try:
            path = ep.writer.close(self.custom_data(ep, success, reason))
        except Exception as exc:  # noqa: B902 - DataError or a storage error
            try:
                ep.writer.abort()
            except Exception:  # noqa: B902 - the close error is the one to report
                pass
            self._fail(f'episode {ep.episode}: finishing its bag failed: {exc}')
            return
        self.episodes_written += 1
        self.last_bag = path
        self._error_latched = False
        self.get_logger().info(
            f'episode {ep.episode} written to {path} ({reason or "no reason"}, '
            f'{ep.steps} steps, {count_takeovers(ep.intervention)} takeovers, '
            f'{sum(ep.counts.values())} messages; writer queue peak {stats.peak_messages}, '
            f'{stats.stalls} stalls)')

    def close_episode(self, reason: str = 'interrupted') -> Path | None:
        """Close the open bag now (success false) and return it; None when none was open."""
        with self._lock:
            if self._current is None:
                return None
            if self._current.end is not None:   # ended: closed as its end event says
                self._close(self._current.end[0], self._current.end[1],
                            self.get_clock().now().nanoseconds)
                return self.last_bag
            if self._current.start_posture is not None:
                self._drop_tail(self._current, f'it was closed ({reason}) before a joint state '
                                'of it arrived')
                return None
            self._close(False, reason, self.get_clock().now().nanoseconds)
            return self.last_bag

    def current_episode(self) -> int | None:
        """Return the number of the episode being recorded, or None."""
        with self._lock:
            return None if self._current is None else self._current.episode

    def current_counts(self) -> dict[str, int]:
        """Return the messages written per topic into the open bag (empty when none)."""
        with self._lock:
            return {} if self._current is None else dict(self._current.counts)

    # --- diagnostics -------------------------------------------------------------------

    def _adapt_image_qos(self) -> None:
        """Subscribe to images with the reliability their publishers offer (RECORD_IMAGE_QOS)."""
        offered = [p.qos_profile.reliability
                   for p in self.get_publishers_info_by_topic(
                       self.resolve_topic_name(topics.CAMERA_IMAGE.name))]
        wanted = offered_reliability(offered)
        if self._image_sub is not None:
            if not offered or self._image_sub.qos_profile.reliability == wanted:
                return  # keep the subscription while no publisher is up
            self.destroy_subscription(self._image_sub)
        base = RECORD_IMAGE_QOS
        qos = QoSProfile(depth=base.depth, history=base.history, reliability=wanted,
                         durability=base.durability)
        self._image_sub = self.create_subscription(
            Image, topics.CAMERA_IMAGE.name, self._raw_callback(m.CAMERA_IMAGE), qos, raw=True)
        if offered:
            self.get_logger().info(f'{m.CAMERA_IMAGE}: subscribed {wanted.name.lower()}, as '
                                   'its publishers offer')

    @property
    def image_reliability(self) -> ReliabilityPolicy | None:
        """Return the image subscription's reliability (None when images are not recorded)."""
        return None if self._image_sub is None else self._image_sub.qos_profile.reliability

    def _on_diagnostics(self) -> None:
        """Publish the recorder's state on /diagnostics."""
        if self._image_sub is not None:
            self._adapt_image_qos()
        now = self.get_clock().now()
        with self._lock:
            ep = self._current
            current = -1 if ep is None else ep.episode
            queue = None if ep is None else ep.writer.stats()
            values = {'episodes_written': self.episodes_written,
                      'episodes_failed': self.episodes_failed,
                      'episodes_missed_start': self.episodes_missed_start,
                      'current_episode': current,
                      'messages_written': self.messages_written,
                      'episode_messages': 0 if ep is None else sum(ep.counts.values()),
                      'dropped': self.dropped_total, 'outside_episode': self.messages_outside,
                      'policy_version': self.policy_version,
                      'writer_queue': 0 if queue is None else queue.queued,
                      'writer_peak': max(self.writer_peak,
                                         0 if queue is None else queue.peak_messages),
                      'writer_stalls': self.writer_stalls + (0 if queue is None
                                                             else queue.stalls),
                      'session_dir': str(self.session_dir), 'last_error': self._last_error}
        if self.robot is None and self._robot_source is not None:
            level, message = DIAG_ERROR, f'{self._robot_source.waiting()}: not recording'
        elif self._error_latched:
            level, message = DIAG_ERROR, self._last_error
        elif self.dropped_total:
            level, message = DIAG_WARN, f'{self.dropped_total} messages could not be written'
        elif ep is not None:
            level, message = DIAG_OK, f'recording episode {current}'
        else:
            level, message = DIAG_OK, 'waiting for an episode start'
        status = diagnostic_status(f'{self.get_name()}: episodes', level, message, values,
                                   hardware_id='recorder')
        self._diag_pub.publish(diagnostic_array([status], now.to_msg()))


def _close_open_episode(node: RecorderNode) -> None:
    path = node.close_episode('interrupted')
    if path is not None:
        node.get_logger().info(f'stopped: the open episode was closed as {path}')


def main(args: list[str] | None = None) -> int:
    """
    Run ``recorder`` until SIGINT / SIGTERM; close the open bag as 'interrupted' first.

    Returns 1 (after logging why) on a bad parameter or an unwritable data_dir.
    """
    return spin_node(RecorderNode, NODE_NAME, args, on_stop=_close_open_episode,
                     errors=(ConfigError, DataError))


if __name__ == '__main__':
    sys.exit(main())
