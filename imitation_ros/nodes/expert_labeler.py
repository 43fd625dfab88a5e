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
``expert_labeler`` (node ``expert``): DAgger's expert, labelling every state the arm visits.

A thin adapter around an :class:`~imitation_ros.dagger.expert.Expert` (the scripted
demonstrator in the sim; a planner can stand in on a real arm): it takes the robot
from its URDF (:mod:`.robot_source`), builds or checks the expert for it, and labels
each new joint state once with the expert's absolute joint target on
``imitation/expert_action``, naming the state it labels, for the episode that state
belongs to (``imitation/episode`` events reset the expert; ``episodes_from: task``
starts one per new task). A missing or stale task gives no label; an exception in
the expert gives none for that state and an ERROR on ``/diagnostics``. Every topic,
parameter and rule: docs/nodes.md.
"""

from __future__ import annotations

import array
from collections import deque
from dataclasses import dataclass
import json
import sys
import time
from typing import Any, Callable, Optional

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
import numpy as np
from rclpy.node import Node
from rclpy.time import Time
from sensor_msgs.msg import JointState
from std_msgs.msg import Float64MultiArray, String

from .conversions import (array_from_msg, array_msg, DIAG_ERROR, DIAG_OK, DIAG_WARN,
                          diagnostic_array, diagnostic_status, joint_positions)
from .params import declare_and_read, param
from .qos import DIAGNOSTICS_QOS, EPISODE_QOS, STATE_PUB_QOS, STATE_QOS
from .robot_source import RobotParams, RobotSource
from .sim_arm import check_urdf_is_the_sim
from ..dagger.expert import DEFAULT_COMMIT_M, Expert, SCRIPTED_EXPERTS, ScriptedSimExpert
from ..errors import ConfigError, ImitationError
from ..interface import topics
from ..interface.robot import RobotModel
from ..sim.arm import ArmConfig, Task, TASK_LAYOUT
from ..sim.experts import DemonstratorStyle
from .spin import spin_node

NODE_NAME = 'expert'
#: Period of ``/diagnostics`` (s).
DIAGNOSTICS_PERIOD_S = 1.0
#: Seconds between two repeats of the same throttled warning or error.
WARN_THROTTLE_S = 2.0
#: Shortest interval between two extra /diagnostics reports on input status changes (s).
IMMEDIATE_DIAG_MIN_S = 0.5
#: Leading padding values of a label: the labelled joint state's stamp (sec, nanosec).
STAMP_PADDING = 2
#: Where episodes come from (the ``episodes_from`` parameter).
EPISODE_SOURCES: tuple[str, ...] = ('events', 'task')
#: Inputs, as named in diagnostics.
JOINT_STATES, TASK = topics.JOINT_STATES.name, topics.TASK.name
#: Tolerance when comparing a joint state's header stamp with an event's stamp (s):
#: events carry float seconds, states integer nanoseconds; states are ms apart.
STAMP_TOLERANCE_S = 1e-6
#: Joint states kept waiting for a start event (the newest ones; about 5 s at 20 Hz):
#: bounds the memory a missing start event can cost.
WAITING_STATES = 100
#: Input messages kept until the robot description comes (the newest; about 5 s of joint
#: states, tasks and events at 20 Hz): they are handled, in order, once it has.
EARLY_MESSAGES = 300

_STYLE = DemonstratorStyle()


@dataclass(frozen=True)
class ExpertParams(RobotParams):
    """Parameters of ``expert_labeler`` (see config/expert.yaml)."""

    robot: str = param('planar3', 'The arm labelled: planar3 (the planar arm of link_lengths) '
                       'or panda (the MuJoCo Panda of sim_arm robot panda, its reach task: '
                       'above = the +y side of the pole, below = -y; the planar geometry '
                       'parameters are not used)', choices=('planar3', 'panda'))
    expert: str = param('nearest', "Scripted expert: 'above' / 'below' (that side of the "
                        "obstacle), 'multi' (a new demonstrator per episode) or 'nearest' "
                        '(the side the arm is nearer to, latched per episode)',
                        choices=SCRIPTED_EXPERTS)
    link_lengths: tuple[float, ...] = param((1.0, 0.8, 0.6), 'Link lengths of the arm, base '
                                            'to tip', unit='m', minimum=1e-3, maximum=100.0)
    max_joint_speed: float = param(1.5, 'Largest joint speed of the arm; the expert moves at '
                                   'speed times it', unit='rad/s', minimum=0.01, maximum=20.0)
    dt: float = param(0.05, "Control period of the arm (its joint_states period): a label is "
                      'the target for one period ahead', unit='s', minimum=1e-4, maximum=10.0)
    speed: float = param(_STYLE.speed, 'Fraction of max_joint_speed the expert uses (not '
                         'multi)', unit='1', minimum=0.01, maximum=1.0)
    clearance: float = param(_STYLE.clearance, 'Distance the expert path keeps from the '
                             'obstacle surface (not multi)', unit='m', minimum=1e-3,
                             maximum=10.0)
    lookahead: float = param(_STYLE.lookahead, 'Distance ahead along the path the expert '
                             'steers to; longer is smoother (not multi)', unit='m',
                             minimum=1e-3, maximum=10.0)
    entry: float = param(_STYLE.entry, 'Where the path meets the arc around the obstacle, as a '
                         'fraction of pi (not multi)', unit='pi rad', minimum=0.5, maximum=1.0)
    commit_m: float = param(DEFAULT_COMMIT_M, "nearest: one side's path must be this much "
                            'nearer to the end effector to latch that side', unit='m',
                            minimum=1e-4, maximum=10.0)
    obs_timeout_s: float = param(0.25, 'Largest age of the task when a joint state arrives; '
                                 'older or missing: no label', unit='s', minimum=0.001,
                                 maximum=60.0)
    episodes_from: str = param('events', "events: episodes begin and end with "
                               'imitation/episode events (the sim, an episode manager), and '
                               'a state is labelled only inside one; task: no events, a new '
                               'task vector starts an episode', choices=EPISODE_SOURCES)
    seed: int = param(0, "Seed of the 'multi' demonstrator draws", minimum=0,
                      maximum=2 ** 31 - 1)

    def __post_init__(self) -> None:
        super().__post_init__()
        if len(self.link_lengths) < 2:
            raise ConfigError(f'parameter link_lengths needs at least 2 links, got '
                              f'{list(self.link_lengths)}')
        self.style()

    def arm_config(self, robot: RobotModel) -> ArmConfig:
        """
        Return the planar arm the expert drives: ``robot``'s joints and limits, our geometry.

        :raises ConfigError: ``robot`` is not the planar arm of ``link_lengths``.
        """
        try:
            config = ArmConfig(link_lengths=self.link_lengths, joint_lower=tuple(robot.lower),
                               joint_upper=tuple(robot.upper),
                               max_joint_speed=self.max_joint_speed, dt=self.dt,
                               joint_names=robot.joint_names)
            check_urdf_is_the_sim(robot, config)
        except ConfigError as exc:
            raise ConfigError(f'the planar3 expert (link_lengths {list(self.link_lengths)}) '
                              f'cannot label the robot {robot.name or "(unnamed)"} with joints '
                              f'{list(robot.joint_names)}: {exc}') from None
        return config

    def style(self) -> DemonstratorStyle:
        """Return the demonstrator's speed, clearance, lookahead and entry (side: ``expert``)."""
        return DemonstratorStyle(speed=self.speed, clearance=self.clearance,
                                 lookahead=self.lookahead, entry=self.entry)

    def make_expert(self, robot: RobotModel) -> Expert:
        """
        Return the scripted expert these parameters describe, for ``robot``.

        :raises ConfigError: the expert's arm is not ``robot``.
        """
        if self.robot == 'panda':
            from ..dagger.panda_expert import PandaReachExpert  # lazy: MuJoCo only for the Panda
            return PandaReachExpert(self.expert, seed=self.seed, commit_m=self.commit_m)
        return ScriptedSimExpert(self.arm_config(robot), self.expert, style=self.style(),
                                 seed=self.seed, commit_m=self.commit_m)


def label_msg(action: np.ndarray, label: str, stamp: tuple[int, int]) -> Float64MultiArray:
    """
    Build the label of one joint state: the targets, after the state's stamp as padding.

    :param action: absolute joint targets, shape (n,), rad.
    :param label: the joint names, comma-separated (``layout.dim[0].label``).
    :param stamp: header stamp (sec, nanosec) of the labelled joint state; (0, 0): none,
        and the message has no padding.
    """
    msg = array_msg(action, label)
    if stamp != (0, 0):
        msg.layout.data_offset = STAMP_PADDING
        msg.data = array.array('d', [float(stamp[0]), float(stamp[1]), *msg.data])
    return msg


def _age(at_ns: Optional[int], now_ns: int) -> Optional[float]:
    return None if at_ns is None else (now_ns - at_ns) * 1e-9


def _fmt_age(age: Optional[float]) -> Any:
    return 'never' if age is None else round(age, 3)


class ExpertLabelerNode(Node):
    """
    The DAgger expert as a ROS 2 node (node name ``expert``).

    :param expert: the expert to ask; None: the scripted sim expert of the
        ``expert`` parameter. It is called from the node's callbacks only; one with
        ``joint_names`` must name the robot's joints.
    :param kwargs: passed to ``rclpy.node.Node`` (``parameter_overrides``,
        ``context``, ``namespace``...).
    :raises ConfigError: a parameter is invalid, or the robot description given by
        parameter is unusable or not the expert's arm (the node is destroyed first).
        One from the topic raises from the callback that finds out (``main`` exits 1).
    """

    def __init__(self, expert: Optional[Expert] = None, **kwargs: Any) -> None:
        super().__init__(NODE_NAME, **kwargs)
        self._given_expert = expert
        self.expert: Optional[Expert] = None
        self.robot: Optional[RobotModel] = None
        try:
            self.params = declare_and_read(self, ExpertParams)
            robot = self.params.robot_from_parameters()
        except ConfigError:
            self.destroy_node()
            raise
        p = self.params
        self._names: tuple[str, ...] = ()
        self._label = ''
        self._n = 0
        # Episode: number and start stamp (events), the task in use (with its start).
        self.episode: Optional[int] = None
        self._start_stamp: Optional[float] = None
        self._running = False
        self._uses_events = self.params.episodes_from == 'events'
        self._task: Optional[Task] = None
        self._pending_reset = False
        # Stamps (s) of the current episode's start and end events (None: unknown), whether
        # imitation/task has carried the episode's own task yet, and the newest joint states
        # stamped after the last end, waiting for the start event that covers them (on a
        # slow machine several states can beat the start event).
        self._episode_start_s: Optional[float] = None
        self._episode_end_s: Optional[float] = None
        self._task_in_sync = True
        self._waiting: deque[tuple[np.ndarray, int, tuple[int, int]]] = deque(
            maxlen=WAITING_STATES)
        # Newest task vector and joint state, with node-clock receive times (ns).
        self._task_vector: Optional[np.ndarray] = None
        self._task_at: Optional[int] = None
        self._state_at: Optional[int] = None
        self._last_stamp: Optional[tuple[int, int]] = None
        # Counters and status.
        self._states = self._labels = self._skipped = self._duplicates = 0
        self._outside = self._late_labels = 0
        self._bad_messages = self._errors = self._errors_reported = 0
        self._resets = 0
        self._last_error = ''
        self._last_bad = ''
        self._stale_key: tuple[str, ...] = ()
        self._stale_text = ''
        self._immediate_diag_at: Optional[int] = None
        self._compute_ms: list[float] = []

        self._label_pub = self.create_publisher(Float64MultiArray, topics.EXPERT_ACTION.name,
                                                STATE_PUB_QOS)
        self._diag_pub = self.create_publisher(DiagnosticArray, topics.DIAGNOSTICS.name,
                                               DIAGNOSTICS_QOS)
        # Inputs that come before the robot wait for it (the expert needs its joints).
        self._early: deque[tuple[Callable[[Any], None], Any]] = deque(maxlen=EARLY_MESSAGES)
        # Created first, so an episode start waiting beside a joint state is handled first.
        self.create_subscription(String, topics.EPISODE.name, self._held(self._on_episode),
                                 EPISODE_QOS)
        self.create_subscription(Float64MultiArray, topics.TASK.name, self._held(self._on_task),
                                 STATE_QOS)
        self.create_subscription(JointState, topics.JOINT_STATES.name,
                                 self._held(self._on_joint_state), STATE_QOS)
        self.create_timer(DIAGNOSTICS_PERIOD_S, self._on_diagnostics)
        self._robot_source: Optional[RobotSource] = None
        if robot is None:
            self._robot_source = RobotSource(self, p, self._set_robot)
            return
        try:
            self._set_robot(robot)
        except ConfigError:
            self.destroy_node()
            raise

    def _set_robot(self, robot: RobotModel) -> None:
        """
        Build the expert for ``robot``, then handle the inputs that waited for it.

        :raises ConfigError: the expert's arm is not ``robot``.
        """
        p = self.params
        expert = self._given_expert or p.make_expert(robot)
        names = getattr(expert, 'joint_names', None)
        if names is not None:
            robot.check_joint_names(names, f'the expert {expert.describe()}')
        self.robot, self.expert = robot, expert
        self._names = robot.joint_names
        self._label = ','.join(self._names)
        self._n = len(self._names)
        self.get_logger().info(
            f'expert {expert.describe()} labelling every joint state of '
            f'{list(self._names)} on imitation/expert_action (control period {p.dt:g} s)')
        early, self._early = self._early, deque()
        for handle, msg in early:
            handle(msg)

    def _held(self, handle: Callable[[Any], None]) -> Callable[[Any], None]:
        """Return a callback that hands messages to ``handle``, held until the robot came."""
        def callback(msg: Any) -> None:
            if self.expert is None:
                self._early.append((handle, msg))
                return
            handle(msg)
        return callback

    # --- inputs -----------------------------------------------------------------------

    def _now_ns(self) -> int:
        return self.get_clock().now().nanoseconds

    def _on_episode(self, msg: String) -> None:
        """Reset the expert on a start event; note the end of the episode."""
        try:
            self._handle_episode(msg)
        except Exception as exc:  # noqa: BLE001 - a callback never raises
            self._errors += 1
            self._last_error = f'episode event: {type(exc).__name__}: {exc}'
            self.get_logger().error(self._last_error, throttle_duration_sec=WARN_THROTTLE_S)

    def _handle_episode(self, msg: String) -> None:
        try:
            event = json.loads(msg.data)
            kind = event['event']
            episode = int(event['episode'])
        except (ValueError, TypeError, KeyError) as exc:
            self._bad(f'ignoring imitation/episode message {msg.data[:80]!r}: {exc!r}; '
                      'expected JSON with "event" and "episode"')
            return
        stamp = event.get('stamp')
        if isinstance(stamp, bool) or not isinstance(stamp, (int, float)):
            stamp = None  # without stamps, episode numbers alone order the events
        newer = (stamp is not None and self._start_stamp is not None
                 and stamp > self._start_stamp)
        if kind == 'start':
            if self.episode is not None and episode <= self.episode and not newer:
                return  # a repeat, or history of an episode already seen (transient local)
            self.episode = episode
            self._start_stamp = stamp
            try:
                vector = np.asarray(event['task'], dtype=np.float64)
                start = np.asarray(event['start'], dtype=np.float64)
                if start.shape != (self._n,) or not np.all(np.isfinite(start)):
                    raise ConfigError(f'"start" must be {self._n} finite joint positions, '
                                      f'got {start.tolist()}')
                task = self._task_of(vector, start)
            except (KeyError, TypeError, ValueError, ImitationError) as exc:
                self._running = False
                self._bad(f'episode {episode}: start event without a usable "task" and '
                          f'"start" ({exc!r}); the next task vector and joint state start it')
                self._pending_reset = True
                return
            self._begin(task, why=f'episode {episode}')
            # The start event carries the episode's task: it is current from now on.
            self._task_vector, self._task_at = task.vector(), self._now_ns()
            self._running = True
            self._task_in_sync = False
            self._episode_start_s, self._episode_end_s = stamp, None
            self._label_waiting_state()
        elif kind == 'end':
            if self.episode is None or episode >= self.episode:
                self.episode = episode
                self._running = False
                self._episode_end_s = stamp

    def _on_task(self, msg: Float64MultiArray) -> None:
        try:
            size = self.expert.task_size if self.params.robot == 'panda' else len(TASK_LAYOUT)
            vector = array_from_msg(msg, size, what='task')
        except ImitationError as exc:
            self._bad(f'ignoring imitation/task: {exc}')
            return
        try:
            changed = self._task is None or not np.allclose(vector, self._task.vector(),
                                                            atol=1e-9)
            now = self._now_ns()
            if self._uses_events and not self._task_in_sync:
                self._task_at = now  # the task source is alive
                if changed:
                    return  # the previous episode's task, delivered after this start event
                self._task_in_sync = True
            self._task_vector, self._task_at = vector, now
            if not changed:
                return
            if self._uses_events:
                if self._running and self._task is not None:
                    # Goal or obstacle moved during the episode: same start, no reset.
                    self._task = self._task_of(vector, self._task.start)
                    self.get_logger().info(f'episode {self.episode}: task changed to '
                                           f'{vector.tolist()}')
                return  # between episodes: the next start event brings the task
            # No episode events: a new task starts a new episode at the next joint
            # state, which is its start posture.
            self._pending_reset = True
        except Exception as exc:  # noqa: BLE001 - a callback never raises
            self._errors += 1
            self._last_error = f'task: {type(exc).__name__}: {exc}'
            self.get_logger().error(self._last_error, throttle_duration_sec=WARN_THROTTLE_S)

    def _on_joint_state(self, msg: JointState) -> None:
        """Label this state once: the expert's action for it, or nothing (stale, error)."""
        now = self._now_ns()
        try:
            q = joint_positions(msg, self._names)
        except ImitationError as exc:
            self._bad(f'ignoring joint_states: {exc}')
            return
        try:
            stamp = (int(msg.header.stamp.sec), int(msg.header.stamp.nanosec))
            if stamp != (0, 0) and stamp == self._last_stamp:
                self._duplicates += 1
                return
            self._last_stamp = stamp
            self._states += 1
            self._state_at = now
            where = self._episode_of(stamp)
            if where == 'after_end':
                if len(self._waiting) == self._waiting.maxlen:
                    self._outside += 1  # the oldest waiting state is dropped unlabelled
                self._waiting.append((q, now, stamp))
            elif where == 'before_start':
                self._outside += 1
            else:
                self._label_state(q, now, stamp)
        except Exception as exc:  # noqa: BLE001 - a callback never raises: no label
            self._errors += 1
            self._last_error = f'{type(exc).__name__}: {exc}'
            self.get_logger().error(f'no expert label for this state: {self._last_error}',
                                    throttle_duration_sec=WARN_THROTTLE_S)

    # --- labelling --------------------------------------------------------------------

    def _episode_of(self, stamp: tuple[int, int]) -> str:
        """
        Place a joint state relative to the current episode by its header stamp.

        'after_end': before any episode event, or stamped after the last end event (its
        start event may be on the way); 'before_start': stamped before the current
        episode's start; 'in': anything else, including unstamped states and events.
        """
        if self._uses_events and self.episode is None:
            return 'after_end'  # no episode known yet: its start event may be on the way
        if stamp == (0, 0):
            return 'in'
        at = stamp[0] + stamp[1] * 1e-9
        if not self._running and self._episode_end_s is not None:
            if at > self._episode_end_s + STAMP_TOLERANCE_S:
                return 'after_end'
        elif self._running and self._episode_start_s is not None:
            if at < self._episode_start_s - STAMP_TOLERANCE_S:
                return 'before_start'
        return 'in'

    def _label_waiting_state(self) -> None:
        """Label the states that waited for this start event, those the episode covers."""
        while self._waiting:
            q, at, stamp = self._waiting.popleft()
            if self._episode_of(stamp) == 'in':
                self._late_labels += 1
                self._label_state(q, at, stamp)
            else:
                self._outside += 1

    def _task_of(self, vector: np.ndarray, start: np.ndarray) -> Any:
        """Return the labelled arm's task of a task vector and a start posture."""
        if self.params.robot == 'panda':
            from ..sim.panda.tasks import PandaTask  # lazy: MuJoCo only for the Panda
            return PandaTask.from_vector('reach', vector, start)
        return Task.from_vector(vector, start)

    def _begin(self, task: Task, why: str) -> None:
        """Start an episode at ``task.start``: reset the expert."""
        self._task = task
        self._pending_reset = False
        self._resets += 1
        self.expert.reset(task)
        self.get_logger().info(f'{why}: expert {self.expert.describe()} from start '
                               f'{np.round(task.start, 3).tolist()}')

    def _label_state(self, q: np.ndarray, now: int, stamp: tuple[int, int]) -> None:
        stale = self._stale_inputs(now)
        self._skipped += int(bool(stale))
        self._note_stale(stale, now)
        if stale:
            return
        assert self._task_vector is not None
        if self._pending_reset or self._task is None:
            self._begin(self._task_of(self._task_vector, q),
                        why=f'new task {self._task_vector.tolist()}')
        assert self._task is not None
        start = time.perf_counter()  # wall time: the node clock may be simulated
        try:
            action = np.asarray(self.expert.action(q, self._task), dtype=np.float64)
            if action.shape != q.shape or not np.all(np.isfinite(action)):
                raise ConfigError(f'expert {self.expert.describe()} returned '
                                  f'{action.tolist()}; expected {len(q)} finite joint targets')
            msg = label_msg(action, self._label, stamp)
        except Exception as exc:  # noqa: BLE001 - a callback never raises: no label
            self._errors += 1
            self._last_error = f'{type(exc).__name__}: {exc}'
            self.get_logger().error(f'no expert label for this state: {self._last_error}',
                                    throttle_duration_sec=WARN_THROTTLE_S)
            return
        self._label_pub.publish(msg)
        self._labels += 1
        self._compute_ms.append((time.perf_counter() - start) * 1e3)

    def _stale_inputs(self, now: int) -> list[tuple[str, Optional[float]]]:
        """Return (input, age or None) for the task when missing or too old."""
        age = _age(self._task_at, now)
        if self._task_vector is None or age is None or age > self.params.obs_timeout_s:
            return [(TASK, age)]
        return []

    def _note_stale(self, stale: list[tuple[str, Optional[float]]], now: int) -> None:
        limit = self.params.obs_timeout_s
        self._stale_text = '; '.join(
            f'{name} never received' if age is None
            else f'{name} {age:.3f} s old (> {limit:g} s)' for name, age in stale)
        if stale:
            self.get_logger().warning(f'not labelling: {self._stale_text}',
                                      throttle_duration_sec=WARN_THROTTLE_S)
        key = tuple(name for name, _ in stale)
        if key != self._stale_key:
            self._stale_key = key
            last = self._immediate_diag_at
            if last is None or (now - last) * 1e-9 >= IMMEDIATE_DIAG_MIN_S:
                self._immediate_diag_at = now
                self._publish_diagnostics(periodic=False)

    def _bad(self, text: str) -> None:
        self._bad_messages += 1
        self._last_bad = text
        self.get_logger().warning(text, throttle_duration_sec=WARN_THROTTLE_S)

    # --- diagnostics ------------------------------------------------------------------

    def _on_diagnostics(self) -> None:
        self._publish_diagnostics(periodic=True)

    def _publish_diagnostics(self, periodic: bool) -> None:
        try:
            now = self.get_clock().now()
            status = self._status(now)
            self._diag_pub.publish(diagnostic_array([status], now.to_msg()))
        except Exception as exc:  # noqa: BLE001 - diagnostics must not take the node down
            self.get_logger().error(f'diagnostics failed: {exc}',
                                    throttle_duration_sec=WARN_THROTTLE_S)
        if periodic:
            self._errors_reported = self._errors
            self._compute_ms.clear()

    def _status(self, now: Time) -> DiagnosticStatus:
        now_ns = now.nanoseconds
        limit = self.params.obs_timeout_s
        state_age = _age(self._state_at, now_ns)
        new_errors = self._errors - self._errors_reported
        if self.expert is None and self._robot_source is not None:
            level, message = DIAG_ERROR, f'{self._robot_source.waiting()}: not labelling'
        elif new_errors:
            level, message = DIAG_ERROR, (f'{new_errors} states not labelled: '
                                          f'{self._last_error}')
        elif state_age is None:
            level, message = DIAG_WARN, f'not labelling: {JOINT_STATES} never received'
        elif state_age > limit:
            level, message = DIAG_WARN, (f'not labelling: {JOINT_STATES} {state_age:.3f} s '
                                         f'old (> {limit:g} s)')
        elif self._stale_key:
            level, message = DIAG_WARN, f'not labelling: {self._stale_text}'
        else:
            level, message = DIAG_OK, f'labelling with {self.expert.describe()}'
        times = self._compute_ms
        values: dict[str, Any] = {
            'expert': self.expert.describe() if self.expert else '', 'joints': self._label,
            'episode': -1 if self.episode is None
            else self.episode, 'episode_running': self._running, 'resets': self._resets,
            'joint_states': self._states, 'labels_published': self._labels,
            'states_skipped': self._skipped, 'duplicate_states': self._duplicates,
            'states_outside_episode': self._outside,
            'labelled_after_start_event': self._late_labels,
            'bad_messages': self._bad_messages, 'last_bad_message': self._last_bad,
            'errors': self._errors, 'last_error': self._last_error,
            'stale_inputs': self._stale_text,
            'joint_states_age_s': _fmt_age(state_age),
            'task_age_s': _fmt_age(_age(self._task_at, now_ns)),
            'compute_ms_mean': float(np.mean(times)) if times else 'n/a',
            'compute_ms_max': float(np.max(times)) if times else 'n/a'}
        return diagnostic_status(f'{self.get_name()}: labelling', level, message, values,
                                 hardware_id=self.get_fully_qualified_name())


def main(args: list[str] | None = None) -> int:
    """Run ``expert_labeler`` until shut down; returns 1 (after logging why) on a bad parameter."""
    return spin_node(ExpertLabelerNode, NODE_NAME, args)


if __name__ == '__main__':
    sys.exit(main())
