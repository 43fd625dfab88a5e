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
``sim_human``: a simulated operator holding the gamepad, publishing ``joy`` like joy_node.

A thin adapter around :class:`~imitation_ros.sim.operator.SimulatedOperator` (or,
with ``robot: panda``, :class:`~imitation_ros.sim.panda.operator.PandaOperator`): it
watches each episode of ``imitation/episode`` through ``joint_states`` and
``imitation/task``, takes over (deadman held, the scripted expert's motion on the
sticks) when the arm goes wrong or (``answer_help``) the gate asks for help,
re-grips when the gate lost the pad, and publishes ``joy`` steadily at ``rate_hz``
and at once on each new joint state. Every topic, parameter and rule, with the
operator's decision rule (:mod:`imitation_ros.sim.operator`): docs/nodes.md.
"""

from __future__ import annotations

from dataclasses import dataclass
import json
import sys
from typing import Any

from diagnostic_msgs.msg import DiagnosticArray
import numpy as np
from rclpy.node import Node
from sensor_msgs.msg import Joy, JointState
from std_msgs.msg import Bool, Float64MultiArray, String

from .conversions import (array_from_msg, DIAG_OK, DIAG_WARN, diagnostic_array,
                          diagnostic_status, joint_positions)
from .params import check_params, declare_and_read, param
from .qos import DIAGNOSTICS_QOS, EPISODE_QOS, STATE_PUB_QOS, STATE_QOS
from ..errors import ConfigError, ImitationError
from ..gate.arbiter import GateMode
from ..interface import topics
from ..sim.arm import ArmConfig, Task, TASK_LAYOUT
from ..sim.operator import (N_AXES, N_BUTTONS, OperatorOutput, OperatorParams, REASON_REGRIP,
                            SimulatedOperator)
from .spin import spin_node

NODE_NAME = 'sim_human'
#: Period of ``/diagnostics`` (s).
DIAGNOSTICS_PERIOD_S = 1.0
#: Seconds between two repeats of the same throttled warning.
WARN_THROTTLE_S = 2.0
#: Reason shown while an episode runs but no recent joint state came.
REASON_NO_STATE = 'no_joint_states'

_DEFAULTS = OperatorParams()


@dataclass(frozen=True)
class SimHumanParams:
    """Parameters of ``sim_human`` (see config/sim_human.yaml)."""

    robot: str = param('planar3', 'The arm watched: planar3 (the planar arm of link_lengths) '
                       'or panda (the MuJoCo Panda of sim_arm robot panda, its reach task)',
                       choices=('planar3', 'panda'))
    rate_hz: float = param(20.0, 'Rate of joy messages, like joy_node with autorepeat_rate; '
                           'the operator decides once per message', unit='Hz', minimum=1.0,
                           maximum=1000.0)
    joint_names: tuple[str, ...] = param(('joint1', 'joint2', 'joint3'),
                                         'Joint names, base to tip, read from joint_states')
    link_lengths: tuple[float, ...] = param((1.0, 0.8, 0.6), 'Link lengths, base to tip, of '
                                            'the arm being watched', unit='m', minimum=1e-3)
    joint_lower: tuple[float, ...] = param((-2.2, -2.8, -2.8), 'Lower joint limits (as the '
                                           'intervention gate)', unit='rad')
    joint_upper: tuple[float, ...] = param((2.2, 2.8, 2.8), 'Upper joint limits (as the '
                                           'intervention gate)', unit='rad')
    max_joint_speed: float = param(1.5, 'Largest joint speed of the arm; the operator moves '
                                   'at a fraction of it', unit='rad/s', minimum=0.01,
                                   maximum=20.0)
    enable_button: int = param(_DEFAULTS.enable_button, 'Deadman button held while the '
                               'operator is in control (as the gate; 4 = LB)', minimum=0,
                               maximum=N_BUTTONS - 1)
    axis_map: tuple[int, ...] = param(_DEFAULTS.axis_map, 'Axes carrying end effector x, '
                                      'end effector y and elbow (as the gate\'s axis_map)',
                                      minimum=0, maximum=N_AXES - 1)
    linear_speed: float = param(_DEFAULTS.linear_speed, 'End effector speed of a full stick '
                                'deflection (as the gate\'s scale[0..1])', unit='m/s',
                                minimum=1e-3, maximum=100.0)
    elbow_speed: float = param(_DEFAULTS.elbow_speed, 'Elbow (null space) speed of a full '
                               'stick deflection (as the gate\'s scale[2])', unit='rad/s',
                               minimum=1e-3, maximum=100.0)
    corridor_m: float = param(_DEFAULTS.corridor_m, 'Take over when the end effector is '
                              'farther than this from both expert paths', unit='m',
                              minimum=1e-3, maximum=100.0)
    collision_margin_m: float = param(_DEFAULTS.collision_margin_m, 'Take over when a link is '
                                      'closer than this to the obstacle', unit='m',
                                      minimum=1e-6, maximum=100.0)
    collision_lookahead_s: float = param(_DEFAULTS.collision_lookahead_s, 'Also take over '
                                         'when a link will be that close within this time at '
                                         'its approach speed; 0 disables', unit='s',
                                         minimum=0.0, maximum=10.0)
    stall_s: float = param(_DEFAULTS.stall_s, 'Take over when the end effector made no '
                           'progress toward the goal for this long', unit='s', minimum=1e-3,
                           maximum=3600.0)
    stall_progress_m: float = param(_DEFAULTS.stall_progress_m, 'Improvement of the distance '
                                    'to the goal that counts as progress', unit='m',
                                    minimum=1e-6, maximum=10.0)
    limit_margin_rad: float = param(_DEFAULTS.limit_margin_rad, 'Take over when a joint is '
                                    'this close to its limit', unit='rad', minimum=0.0,
                                    maximum=1.0)
    reaction_delay_s: float = param(_DEFAULTS.reaction_delay_s, 'Human reaction time from '
                                    'seeing trouble to grabbing the pad', unit='s',
                                    minimum=0.0, maximum=10.0)
    reaction_jitter_s: float = param(_DEFAULTS.reaction_jitter_s, 'Extra reaction time drawn '
                                     'uniformly from [0, this] per takeover', unit='s',
                                     minimum=0.0, maximum=10.0)
    release_m: float = param(_DEFAULTS.release_m, 'Let go once the end effector is this close '
                             'to the chosen path...', unit='m', minimum=1e-4, maximum=100.0)
    release_hold_s: float = param(_DEFAULTS.release_hold_s, '... for this long, beyond the '
                                  'obstacle', unit='s', minimum=0.0, maximum=60.0)
    hold_until_end: bool = param(_DEFAULTS.hold_until_end, 'Keep control until the episode '
                                 'ends once taken over')
    side: int = param(_DEFAULTS.side, 'Side to steer on when taking over: 0 the expert path '
                      'closer to the end effector, 1 above, -1 below (the side the '
                      'demonstrations took)', minimum=-1, maximum=1)
    side_margin_m: float = param(_DEFAULTS.side_margin_m, 'With side set: steer on the other '
                                 'side only when its path is closer by more than this',
                                 unit='m', minimum=0.0, maximum=100.0)
    stick_noise: float = param(_DEFAULTS.stick_noise, 'Std of Gaussian noise on each stick '
                               'value while in control', unit='stick units (-1..1)',
                               minimum=0.0, maximum=1.0)
    joint_state_timeout_s: float = param(0.5, 'Let go of the pad when no joint state came for '
                                         'this long', unit='s', minimum=0.01, maximum=60.0)
    seed: int = param(0, 'Seed of the reaction jitter and stick noise', minimum=0,
                      maximum=2 ** 31 - 1)
    answer_help: bool = param(True, 'Answer the gate\'s imitation/help_request by taking over '
                              '(after the reaction delay), as a person asked for help would')
    watch: bool = param(True, 'Watch the arm and take over on trouble (human-gated); false: '
                        'act only on imitation/help_request and hand back when it clears '
                        "(robot-gated; run the gate with help_until_calm)")
    frame_id: str = param('joy', 'header.frame_id of the joy messages')
    react_to_joint_states: bool = param(True, 'Decide and publish at once on each new joint '
                                        'state (the timer then only repeats when no state '
                                        'came for a period), so the stick the gate applies '
                                        'to a state was chosen at that state')

    def __post_init__(self) -> None:
        check_params(self)
        n = len(self.link_lengths)
        for name in ('joint_names', 'joint_lower', 'joint_upper'):
            if len(getattr(self, name)) != n:
                raise ConfigError(f'parameter {name} has {len(getattr(self, name))} entries but '
                                  f'link_lengths has {n}; give one per joint, base to tip')
        if len(set(self.joint_names)) != n or not all(self.joint_names):
            raise ConfigError(f'parameter joint_names must be {n} distinct non-empty names, '
                              f'got {list(self.joint_names)}')
        if any(lo >= hi for lo, hi in zip(self.joint_lower, self.joint_upper)):
            raise ConfigError('every joint_lower must be below its joint_upper (rad)')
        if len(self.axis_map) != 3 or len(set(self.axis_map)) != 3:
            raise ConfigError(f'parameter axis_map must be 3 distinct axis indices (x, y, '
                              f'elbow), got {list(self.axis_map)}')
        if not self.watch and not self.answer_help:
            raise ConfigError('watch false with answer_help false: the operator would never '
                              'act; set answer_help true for a robot-gated operator')
        if not self.watch and self.robot != 'planar3':
            raise ConfigError(f'watch false (robot-gated) is for the planar3 operator; got '
                              f'robot {self.robot!r}')
        self.arm_config()  # its own checks (limits, lengths)
        self.operator_params()  # its own checks (e.g. release_m < corridor_m)

    def arm_config(self) -> ArmConfig:
        """Return the watched arm's geometry and limits (dt = 1 / rate_hz)."""
        return ArmConfig(link_lengths=self.link_lengths, joint_lower=self.joint_lower,
                         joint_upper=self.joint_upper, max_joint_speed=self.max_joint_speed,
                         dt=1.0 / self.rate_hz, joint_names=self.joint_names)

    def operator_params(self) -> OperatorParams:
        """Return the operator's thresholds and gamepad mapping."""
        return OperatorParams(
            corridor_m=self.corridor_m, collision_margin_m=self.collision_margin_m,
            collision_lookahead_s=self.collision_lookahead_s, stall_s=self.stall_s,
            stall_progress_m=self.stall_progress_m, limit_margin_rad=self.limit_margin_rad,
            reaction_delay_s=self.reaction_delay_s, reaction_jitter_s=self.reaction_jitter_s,
            release_m=self.release_m, release_hold_s=self.release_hold_s,
            hold_until_end=self.hold_until_end, linear_speed=self.linear_speed,
            elbow_speed=self.elbow_speed, enable_button=self.enable_button,
            axis_map=tuple(self.axis_map),
            stick_noise=self.stick_noise, side=self.side, side_margin_m=self.side_margin_m,
            watch=self.watch)


def panda_operator(params: SimHumanParams) -> Any:
    """Return the Panda's simulated operator with the shared parameters of ``params``."""
    # lazy: MuJoCo only for the Panda
    from ..sim.panda.operator import PandaOperator, PandaOperatorParams
    return PandaOperator(PandaOperatorParams(
        enable_button=params.enable_button, reaction_delay_s=params.reaction_delay_s,
        reaction_jitter_s=params.reaction_jitter_s, hold_until_end=params.hold_until_end,
        stick_noise=params.stick_noise, side=params.side), seed=params.seed)


def joy_msg(out: OperatorOutput, stamp: Any, frame_id: str) -> Joy:
    """Build the sensor_msgs/Joy of one operator output (float axes, int buttons)."""
    msg = Joy()
    msg.header.stamp = stamp
    msg.header.frame_id = frame_id
    msg.axes = [float(a) for a in out.axes]
    msg.buttons = [int(b) for b in out.buttons]
    return msg


class SimHumanNode(Node):
    """
    The simulated operator as a ROS 2 node (node name ``sim_human``).

    :param kwargs: passed to ``rclpy.node.Node`` (``parameter_overrides``,
        ``context``, ``namespace``...).
    :raises ConfigError: a parameter is invalid (the node is destroyed first).
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(NODE_NAME, **kwargs)
        try:
            self.params = declare_and_read(self, SimHumanParams)
            self.config = self.params.arm_config()
            self.operator = (panda_operator(self.params) if self.params.robot == 'panda' else
                             SimulatedOperator(self.config, self.params.operator_params(),
                                               seed=self.params.seed))
        except ConfigError:
            self.destroy_node()
            raise
        p = self.params
        self.episode: int | None = None
        self._start_stamp: float | None = None
        self._episode_running = False
        self._task_vector: np.ndarray | None = None
        self._q: np.ndarray | None = None
        self._q_at_ns: int | None = None
        self._help = False
        self._help_at_ns: int | None = None
        self._gate_mode = ''
        self._gate_mode_at_ns: int | None = None
        self._last: OperatorOutput = self.operator.idle_output()
        self._joy_count = 0
        self._last_publish_ns: int | None = None
        self._takeovers_total = 0
        self._bad_messages = 0

        self._joy_pub = self.create_publisher(Joy, topics.JOY.name, STATE_PUB_QOS)
        self._diag_pub = self.create_publisher(DiagnosticArray, topics.DIAGNOSTICS.name,
                                               DIAGNOSTICS_QOS)
        self.create_subscription(JointState, topics.JOINT_STATES.name, self._on_joint_state,
                                 STATE_QOS)
        self.create_subscription(Float64MultiArray, topics.TASK.name, self._on_task, STATE_QOS)
        self.create_subscription(String, topics.EPISODE.name, self._on_episode, EPISODE_QOS)
        if p.answer_help:
            self.create_subscription(Bool, topics.HELP_REQUEST.name, self._on_help_request,
                                     STATE_QOS)
        self.create_subscription(String, topics.GATE_STATE.name, self._on_gate_state, STATE_QOS)
        self.create_timer(1.0 / p.rate_hz, self._on_tick)
        self.create_timer(DIAGNOSTICS_PERIOD_S, self._on_diagnostics)
        o = self.operator.params  # the thresholds in use (the Panda operator has its own)
        self.get_logger().info(
            f'sim_human ({p.robot}) publishing joy at {p.rate_hz:g} Hz; takes over (deadman '
            f'button {o.enable_button}) {o.reaction_delay_s:g} s after the arm leaves the expert '
            f'corridor ({o.corridor_m:g} m), nears the obstacle ({o.collision_margin_m:g} m), '
            f'stalls ({o.stall_s:g} s), nears a joint limit ({o.limit_margin_rad:g} rad)'
            f'{" or the gate asks for help" if p.answer_help else ""}')

    # --- callbacks --------------------------------------------------------------------

    def _on_joint_state(self, msg: JointState) -> None:
        """Keep the newest joint positions."""
        try:
            self._q = joint_positions(msg, self._joint_names())
        except ImitationError as exc:
            self._bad_messages += 1
            self.get_logger().warning(f'ignoring joint_states: {exc}',
                                      throttle_duration_sec=WARN_THROTTLE_S)
            return
        self._q_at_ns = self.get_clock().now().nanoseconds
        if self.params.react_to_joint_states and self._episode_running:
            # Deciding on the timer, out of phase with the arm, hands the gate a stick chosen
            # at the previous state: in recorded takeovers the stick matched the expert's at
            # the state before the one it was applied to, a label one step stale.
            self._decide_and_publish()

    def _on_help_request(self, msg: Bool) -> None:
        """Keep the gate's newest help request."""
        self._help = bool(msg.data)
        self._help_at_ns = self.get_clock().now().nanoseconds

    def _help_requested(self, now_ns: int) -> bool:
        """Return whether a help request is standing (recent and true)."""
        if not self._help or self._help_at_ns is None:
            return False
        return (now_ns - self._help_at_ns) * 1e-9 <= self.params.joint_state_timeout_s

    def _on_gate_state(self, msg: String) -> None:
        """Keep the mode of the gate's newest decision (only the joy-lost hold matters)."""
        try:
            mode = json.loads(msg.data)['mode']
            if not isinstance(mode, str):
                raise TypeError(f'mode is {type(mode).__name__}, not a string')
        except (ValueError, TypeError, KeyError) as exc:
            self._bad_messages += 1
            self.get_logger().warning(
                f'ignoring imitation/gate_state message {msg.data[:80]!r}: {exc!r}; expected '
                'JSON with "mode"', throttle_duration_sec=WARN_THROTTLE_S)
            return
        self._gate_mode = mode
        self._gate_mode_at_ns = self.get_clock().now().nanoseconds

    def _joy_lost(self, now_ns: int) -> bool:
        """Return whether the gate's newest decision (recent) is the joy-lost hold."""
        if self._gate_mode != GateMode.HOLD_JOY_LOST.value or self._gate_mode_at_ns is None:
            return False
        return (now_ns - self._gate_mode_at_ns) * 1e-9 <= self.params.joint_state_timeout_s

    def _on_task(self, msg: Float64MultiArray) -> None:
        """Follow a task that changes during the running episode."""
        try:
            vector = array_from_msg(msg, self._task_size(), what='task')
        except ImitationError as exc:
            self._bad_messages += 1
            self.get_logger().warning(f'ignoring imitation/task: {exc}',
                                      throttle_duration_sec=WARN_THROTTLE_S)
            return
        task = self.operator.task
        if not self._episode_running or task is None:
            return
        if np.allclose(vector, task.vector(), atol=1e-9):
            return
        self.operator.update_task(self._task(vector, task.start))
        self.get_logger().info(f'episode {self.episode}: task changed to {vector.tolist()}')

    def _on_episode(self, msg: String) -> None:
        """Start watching on a start event, go idle on the end event of that episode."""
        try:
            event = json.loads(msg.data)
            kind = event['event']
            episode = int(event['episode'])
        except (ValueError, TypeError, KeyError) as exc:
            self._bad_messages += 1
            self.get_logger().warning(
                f'ignoring imitation/episode message {msg.data[:80]!r}: {exc!r}; expected '
                'JSON with "event" and "episode"', throttle_duration_sec=WARN_THROTTLE_S)
            return
        stamp = event.get('stamp')
        if isinstance(stamp, bool) or not isinstance(stamp, (int, float)):
            stamp = None  # without stamps, episode numbers alone order the events
        newer = (stamp is not None and self._start_stamp is not None
                 and stamp > self._start_stamp)
        if kind == 'start':
            if self.episode is not None and episode <= self.episode and not newer:
                return  # a repeat, or history of an episode that is over (transient local)
            try:
                task = self._task(event['task'], event['start'])
                self.operator.start_episode(task)
            except (KeyError, TypeError, ValueError, ImitationError) as exc:
                self._bad_messages += 1
                self.operator.end_episode()
                self._episode_running = False
                self.episode = episode
                self._start_stamp = stamp
                self.get_logger().warning(
                    f'episode {episode}: start event without a usable "task" and "start" '
                    f'({exc!r}); staying idle for this episode',
                    throttle_duration_sec=WARN_THROTTLE_S)
                return
            self.episode = episode
            self._start_stamp = stamp
            self._episode_running = True
            self._help = False  # a request of the previous episode is not this one's
            self.get_logger().info(f'watching episode {episode}')
        elif kind == 'end':
            if self.episode is not None and episode == self.episode and self._episode_running:
                self._end_episode(str(event.get('reason', '')))
            elif self.episode is None or episode > self.episode:
                # An end without its start (we came up after it): nothing to watch.
                self.episode = episode
                self._end_episode('')

    def _joint_names(self) -> tuple[str, ...]:
        """Return the joints the operator watches, base to tip."""
        if self.params.robot == 'panda':
            return self.operator.joint_names
        return self.params.joint_names

    def _task_size(self) -> int:
        """Return the length of the task vector of the watched arm."""
        return self.operator.task_size if self.params.robot == 'panda' else len(TASK_LAYOUT)

    def _task(self, vector: Any, start: Any) -> Any:
        """Return the watched arm's task from a task vector and a start posture."""
        if self.params.robot == 'panda':
            return self.operator.task_from_vector(vector, start)
        return Task.from_vector(np.asarray(vector, dtype=np.float64),
                                np.asarray(start, dtype=np.float64))

    def _end_episode(self, reason: str) -> None:
        if self._episode_running and self.operator.takeovers:
            self.get_logger().info(f'episode {self.episode} ended ({reason or "?"}) after '
                                   f'{self.operator.takeovers} takeovers')
        self.operator.end_episode()
        self._episode_running = False
        self._help = False

    def _on_tick(self) -> None:
        """Publish one joy message unless a joint state just made one: the pad never pauses."""
        if (self.params.react_to_joint_states and self._last_publish_ns is not None
                and self.get_clock().now().nanoseconds - self._last_publish_ns
                < 1e9 / self.params.rate_hz):
            return
        self._decide_and_publish()

    def _decide_and_publish(self) -> None:
        """Decide (the operator's step at the newest joint state) and publish one joy."""
        now = self.get_clock().now()
        out = self.operator.idle_output()
        if self._episode_running:
            age = None if self._q_at_ns is None else (now.nanoseconds - self._q_at_ns) * 1e-9
            if self._q is None or age is None or age > self.params.joint_state_timeout_s:
                out = OperatorOutput(out.axes, out.buttons, False, REASON_NO_STATE)
            else:
                was_engaged = self.operator.engaged
                try:
                    out = self.operator.step(self._q, now.nanoseconds * 1e-9,
                                             help_requested=self._help_requested(
                                                 now.nanoseconds),
                                             joy_lost=self._joy_lost(now.nanoseconds))
                except ImitationError as exc:
                    self.get_logger().warning(f'operator step failed, pad idle: {exc}',
                                              throttle_duration_sec=WARN_THROTTLE_S)
                    out = self.operator.idle_output()
                if out.engaged and not was_engaged:
                    self._takeovers_total += 1
                    self.get_logger().info(f'episode {self.episode}: taking over '
                                           f'({out.reason}), side {self.operator.side:+d}')
                elif out.reason == REASON_REGRIP and self._last.reason != REASON_REGRIP:
                    self.get_logger().info(f'episode {self.episode}: the gate holds (joy '
                                           'lost); letting go of the deadman to press it '
                                           'again')
                elif was_engaged and not self.operator.engaged:
                    self.get_logger().info(f'episode {self.episode}: letting go')
        self._last = out
        self._joy_pub.publish(joy_msg(out, now.to_msg(), self.params.frame_id))
        self._joy_count += 1
        self._last_publish_ns = now.nanoseconds

    def _on_diagnostics(self) -> None:
        """Publish the operator's state on /diagnostics."""
        now = self.get_clock().now()
        out = self._last
        if self._q_at_ns is None:
            age: Any = 'never'
        else:
            age = (now.nanoseconds - self._q_at_ns) * 1e-9
        level = DIAG_OK
        if self._episode_running and out.reason == REASON_NO_STATE:
            level = DIAG_WARN
            message = (f'episode {self.episode}: no joint_states for '
                       f'{self.params.joint_state_timeout_s:g} s, pad idle')
        elif self._episode_running:
            state = 'in control' if out.engaged else 'watching'
            message = f'episode {self.episode}: {state} ({out.reason})'
        else:
            message = 'idle between episodes'
        values = {'episode': -1 if self.episode is None else self.episode,
                  'running': self._episode_running, 'engaged': out.engaged,
                  'reason': out.reason, 'takeovers': self.operator.takeovers,
                  'regrips': self.operator.regrips,
                  'takeovers_total': self._takeovers_total, 'joy_messages': self._joy_count,
                  'help_request': self._help_requested(now.nanoseconds),
                  'joint_state_age_s': age, 'bad_messages': self._bad_messages,
                  'rate_hz': self.params.rate_hz}
        status = diagnostic_status(f'{self.get_name()}: operator', level, message, values,
                                   hardware_id='sim_human')
        self._diag_pub.publish(diagnostic_array([status], now.to_msg()))


def main(args: list[str] | None = None) -> int:
    """Run ``sim_human`` until shut down; returns 1 (after logging why) on a bad parameter."""
    return spin_node(SimHumanNode, NODE_NAME, args)


if __name__ == '__main__':
    sys.exit(main())
