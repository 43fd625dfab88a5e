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
``fleet_operator``: one simulated operator serving the help requests of several robots.

The ROS wiring of :class:`~imitation_ros.sim.fleet.FleetOperator` (its module docstring
has the rule: the queue, one robot at a time, when a service ends). For each robot
``ROBOT`` of ``namespace_prefix`` 1..``robots`` (``robot1``, ``robot2``...), relative to
this node's namespace, it hears ``ROBOT/imitation/episode`` (start and end events, as
sim_human reads them), ``ROBOT/joint_states``, ``ROBOT/imitation/task``,
``ROBOT/imitation/help_request`` (the gate's request; one not repeated for
``joint_state_timeout_s`` is forgotten) and ``ROBOT/imitation/uncertainty`` (the doubt
``highest_doubt`` orders by), and publishes ``ROBOT/joy`` at ``rate_hz`` like joy_node:
the operator's pad for the robot it serves (decided on each of that robot's joint
states), an idle pad for every other. ``imitation/fleet_status`` (String JSON) says
whom it serves, who waits and, per robot, requests, services, waits and human time, at
every change and once a second; ``/diagnostics`` likewise. The planar arm only.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
import json
import math
import sys
from typing import Any, Optional

from diagnostic_msgs.msg import DiagnosticArray
import numpy as np
from rclpy.node import Node
from sensor_msgs.msg import Joy, JointState
from std_msgs.msg import Bool, Float64, Float64MultiArray, String

from .conversions import (array_from_msg, DIAG_OK, DIAG_WARN, diagnostic_array,
                          diagnostic_status, joint_positions)
from .params import check_params, declare_and_read, param
from .qos import DIAGNOSTICS_QOS, EPISODE_QOS, STATE_PUB_QOS, STATE_QOS
from .sim_human import joy_msg, SimHumanParams
from ..errors import ConfigError, ImitationError
from ..interface import topics
from ..sim.arm import ArmConfig, Task, TASK_LAYOUT
from ..sim.fleet import FleetOperator, FleetParams, QUEUE_ORDERS
from ..sim.operator import OperatorParams
from .spin import spin_node

NODE_NAME = 'fleet_operator'
#: Period of ``/diagnostics`` and of the steady ``imitation/fleet_status`` (s).
STATUS_PERIOD_S = 1.0
#: Seconds between two repeats of the same throttled warning.
WARN_THROTTLE_S = 2.0

_SIM_HUMAN = {f.name: f for f in fields(SimHumanParams)}


def _as_sim_human(name: str) -> Any:
    """Return a parameter field with sim_human's default, description and range."""
    source = _SIM_HUMAN[name]
    return field(default=source.default, metadata=source.metadata)


@dataclass(frozen=True)
class FleetOperatorParams:
    """Parameters of ``fleet_operator`` (see config/fleet_operator.yaml)."""

    robots: int = param(3, 'Number of robots served: namespaces namespace_prefix1 .. '
                        'namespace_prefixN, relative to this node', minimum=1, maximum=32)
    namespace_prefix: str = param('robot', "Robot i's namespace is this followed by i")
    order: str = param('first_come', 'Order of the waiting help requests: first_come, or '
                       'highest_doubt (largest doubt on ROBOT/imitation/uncertainty first)',
                       choices=QUEUE_ORDERS)
    max_wait_s: float = param(30.0, 'A request waiting longer than this is served before '
                              'every other (no robot starves with highest_doubt)', unit='s',
                              minimum=0.01, maximum=1e6)
    lost_after_s: float = param(1.0, 'The robot being served sends no joint state for this '
                                'long: its service ends and the next request is served',
                                unit='s', minimum=0.01, maximum=3600.0)
    rate_hz: float = _as_sim_human('rate_hz')
    joint_names: tuple[str, ...] = _as_sim_human('joint_names')
    link_lengths: tuple[float, ...] = _as_sim_human('link_lengths')
    joint_lower: tuple[float, ...] = _as_sim_human('joint_lower')
    joint_upper: tuple[float, ...] = _as_sim_human('joint_upper')
    max_joint_speed: float = _as_sim_human('max_joint_speed')
    enable_button: int = _as_sim_human('enable_button')
    axis_map: tuple[int, ...] = _as_sim_human('axis_map')
    linear_speed: float = _as_sim_human('linear_speed')
    elbow_speed: float = _as_sim_human('elbow_speed')
    corridor_m: float = _as_sim_human('corridor_m')
    collision_margin_m: float = _as_sim_human('collision_margin_m')
    stall_s: float = _as_sim_human('stall_s')
    reaction_delay_s: float = _as_sim_human('reaction_delay_s')
    reaction_jitter_s: float = _as_sim_human('reaction_jitter_s')
    release_m: float = _as_sim_human('release_m')
    release_hold_s: float = _as_sim_human('release_hold_s')
    side: int = _as_sim_human('side')
    stick_noise: float = _as_sim_human('stick_noise')
    joint_state_timeout_s: float = _as_sim_human('joint_state_timeout_s')
    seed: int = _as_sim_human('seed')
    frame_id: str = _as_sim_human('frame_id')

    def __post_init__(self) -> None:
        check_params(self)
        if not self.namespace_prefix or not all(c.isalnum() or c == '_'
                                                for c in self.namespace_prefix) \
                or self.namespace_prefix[0].isdigit():
            raise ConfigError(f'parameter namespace_prefix must be a name of letters, digits '
                              f'and _ not starting with a digit, got {self.namespace_prefix!r}')
        self.fleet_params()  # the operator's own checks (release_m < corridor_m, ...)

    @property
    def namespaces(self) -> list[str]:
        """Return the robots' namespaces, relative."""
        return [f'{self.namespace_prefix}{i}' for i in range(1, self.robots + 1)]

    def arm_config(self) -> ArmConfig:
        """Return the arm every robot has (dt = 1 / rate_hz)."""
        return ArmConfig(link_lengths=self.link_lengths, joint_lower=self.joint_lower,
                         joint_upper=self.joint_upper, max_joint_speed=self.max_joint_speed,
                         dt=1.0 / self.rate_hz, joint_names=self.joint_names)

    def fleet_params(self) -> FleetParams:
        """Return the queue settings and the operator's rule."""
        operator = OperatorParams(
            corridor_m=self.corridor_m, collision_margin_m=self.collision_margin_m,
            stall_s=self.stall_s, reaction_delay_s=self.reaction_delay_s,
            reaction_jitter_s=self.reaction_jitter_s, release_m=self.release_m,
            release_hold_s=self.release_hold_s, linear_speed=self.linear_speed,
            elbow_speed=self.elbow_speed, enable_button=self.enable_button,
            axis_map=tuple(self.axis_map), stick_noise=self.stick_noise, side=self.side)
        return FleetParams(order=self.order, max_wait_s=self.max_wait_s,
                           lost_after_s=self.lost_after_s, operator=operator)


class _RobotLink:
    """What the node knows of one robot."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.episode: Optional[int] = None
        self.start_stamp: Optional[float] = None
        self.running = False
        self.q: Optional[np.ndarray] = None
        self.q_at: Optional[float] = None
        self.help_at: Optional[float] = None
        self.doubt = math.nan
        self.published_at: Optional[float] = None
        self.pub: Any = None


class FleetOperatorNode(Node):
    """
    The fleet operator as a ROS 2 node (node name ``fleet_operator``).

    :param kwargs: passed to ``rclpy.node.Node`` (``parameter_overrides``, ``context``...).
    :raises ConfigError: a parameter is invalid (the node is destroyed first).
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(NODE_NAME, **kwargs)
        try:
            self.params = declare_and_read(self, FleetOperatorParams)
            self.config = self.params.arm_config()
            self.fleet = FleetOperator(self.config, self.params.namespaces,
                                       self.params.fleet_params(), seed=self.params.seed)
        except ConfigError:
            self.destroy_node()
            raise
        p = self.params
        self.robots = {name: _RobotLink(name) for name in p.namespaces}
        self._bad_messages = 0
        self._status_text = ''
        for name, link in self.robots.items():
            link.pub = self.create_publisher(Joy, f'{name}/{topics.JOY.name}', STATE_PUB_QOS)
            self.create_subscription(JointState, f'{name}/{topics.JOINT_STATES.name}',
                                     self._bind(self._on_joint_state, name), STATE_QOS)
            self.create_subscription(String, f'{name}/{topics.EPISODE.name}',
                                     self._bind(self._on_episode, name), EPISODE_QOS)
            self.create_subscription(Float64MultiArray, f'{name}/{topics.TASK.name}',
                                     self._bind(self._on_task, name), STATE_QOS)
            self.create_subscription(Bool, f'{name}/{topics.HELP_REQUEST.name}',
                                     self._bind(self._on_help, name), STATE_QOS)
            self.create_subscription(Float64, f'{name}/{topics.UNCERTAINTY.name}',
                                     self._bind(self._on_doubt, name), STATE_QOS)
        self._status_pub = self.create_publisher(String, topics.FLEET_STATUS.name, 10)
        self._diag_pub = self.create_publisher(DiagnosticArray, topics.DIAGNOSTICS.name,
                                               DIAGNOSTICS_QOS)
        self.create_timer(1.0 / p.rate_hz, self._on_tick)
        self.create_timer(STATUS_PERIOD_S, self._on_status_timer)
        self.get_logger().info(
            f'fleet_operator serving {len(self.robots)} robots ({", ".join(self.robots)}) '
            f'{p.order.replace("_", " ")}, one at a time; joy at {p.rate_hz:g} Hz each')

    @staticmethod
    def _bind(callback: Any, name: str) -> Any:
        return lambda msg: callback(name, msg)

    def _now(self) -> float:
        return self.get_clock().now().nanoseconds * 1e-9

    # --- callbacks ----------------------------------------------------------------------

    def _on_joint_state(self, name: str, msg: JointState) -> None:
        link = self.robots[name]
        try:
            link.q = joint_positions(msg, self.params.joint_names)
        except ImitationError as exc:
            self._bad(f'ignoring {name}/joint_states: {exc}')
            return
        link.q_at = self._now()
        if self.fleet.serving == name and link.running:
            # Decide on the state the gate will apply the stick to (as sim_human does).
            self._decide_and_publish(link, link.q_at)

    def _on_help(self, name: str, msg: Bool) -> None:
        link = self.robots[name]
        now = self._now()
        link.help_at = now
        self.fleet.set_help(name, bool(msg.data) and link.running, now, link.doubt)
        self._publish_status()

    def _on_doubt(self, name: str, msg: Float64) -> None:
        self.robots[name].doubt = float(msg.data)
        self.fleet.queue.update_doubt(name, float(msg.data))

    def _on_task(self, name: str, msg: Float64MultiArray) -> None:
        link = self.robots[name]
        try:
            vector = array_from_msg(msg, len(TASK_LAYOUT), what='task')
        except ImitationError as exc:
            self._bad(f'ignoring {name}/imitation/task: {exc}')
            return
        task = self.fleet.task(name)
        if link.running and task is not None and not np.allclose(vector, task.vector()):
            self.fleet.update_task(name, Task.from_vector(vector, task.start))

    def _on_episode(self, name: str, msg: String) -> None:
        link = self.robots[name]
        try:
            event = json.loads(msg.data)
            kind = event['event']
            episode = int(event['episode'])
        except (ValueError, TypeError, KeyError) as exc:
            self._bad(f'ignoring {name}/imitation/episode {msg.data[:80]!r}: {exc!r}')
            return
        stamp = event.get('stamp')
        if isinstance(stamp, bool) or not isinstance(stamp, (int, float)):
            stamp = None
        newer = stamp is not None and link.start_stamp is not None and stamp > link.start_stamp
        if kind == 'start':
            if link.episode is not None and episode <= link.episode and not newer:
                return  # a repeat, or history of an episode that is over (transient local)
            link.episode, link.start_stamp = episode, stamp
            try:
                task = Task.from_vector(np.asarray(event['task'], dtype=np.float64),
                                        np.asarray(event['start'], dtype=np.float64))
                self.fleet.start_episode(name, task)
            except (KeyError, TypeError, ValueError, ImitationError) as exc:
                link.running = False
                self.fleet.end_episode(name, self._now())
                self._bad(f'{name} episode {episode}: start event without a usable "task" '
                          f'and "start" ({exc!r}); not serving it this episode')
                return
            link.running = True
        elif kind == 'end' and link.running and episode == link.episode:
            link.running = False
            self.fleet.end_episode(name, self._now())
        self._publish_status()

    def _on_tick(self) -> None:
        """Forget quiet requests, then publish every robot's pad (the served one's if due)."""
        now = self._now()
        timeout = self.params.joint_state_timeout_s
        for name, link in self.robots.items():
            if link.help_at is not None and now - link.help_at > timeout:
                link.help_at = None
                self.fleet.set_help(name, False, now)
        self.fleet.tick(now)
        period = 1.0 / self.params.rate_hz
        for link in self.robots.values():
            if link.published_at is not None and now - link.published_at < period * 0.999:
                continue  # a joint state just made one
            self._decide_and_publish(link, now)
        self._publish_status()

    def _decide_and_publish(self, link: _RobotLink, now: float) -> None:
        """Publish the robot's pad: the operator's answer when served with a fresh state."""
        fresh = (link.q is not None and link.q_at is not None
                 and now - link.q_at <= self.params.joint_state_timeout_s)
        if link.running and fresh:
            try:
                out = self.fleet.step(link.name, link.q, now)
            except ImitationError as exc:
                self._bad(f'operator step on {link.name} failed, pad idle: {exc}')
                out = self.fleet.idle_output(link.name)
        else:
            out = self.fleet.idle_output(link.name)
        link.pub.publish(joy_msg(out, self.get_clock().now().to_msg(), self.params.frame_id))
        link.published_at = now

    # --- status -------------------------------------------------------------------------

    def status(self) -> dict:
        """Return whom the operator serves, who waits, and per robot its counts."""
        return {'serving': self.fleet.serving, 'waiting': self.fleet.queue.waiting,
                'order': self.params.order,
                'robots': {name: {**vars(stats), 'state': self.fleet.reason(name)}
                           for name, stats in self.fleet.stats.items()},
                'services': len(self.fleet.services)}

    def _publish_status(self, force: bool = False) -> None:
        status = self.status()
        key = json.dumps({k: status[k] for k in ('serving', 'waiting', 'services')})
        if force or key != self._status_text:
            self._status_text = key
            self._status_pub.publish(String(data=json.dumps(status)))

    def _on_status_timer(self) -> None:
        self._publish_status(force=True)
        status = self.status()
        level = DIAG_WARN if self._bad_messages else DIAG_OK
        serving = status['serving'] or 'nobody'
        message = f'serving {serving}; waiting: {", ".join(status["waiting"]) or "none"}'
        values = {'serving': serving, 'waiting': ','.join(status['waiting']),
                  'services': status['services'], 'bad_messages': self._bad_messages}
        for name, stats in status['robots'].items():
            for key in ('requests', 'served', 'withdrawn', 'wait_s', 'human_s'):
                values[f'{name}.{key}'] = stats[key]
        self._diag_pub.publish(diagnostic_array([diagnostic_status(
            f'{self.get_name()}: fleet', level, message, values,
            hardware_id=self.get_fully_qualified_name())], self.get_clock().now().to_msg()))

    def _bad(self, text: str) -> None:
        self._bad_messages += 1
        self.get_logger().warning(text, throttle_duration_sec=WARN_THROTTLE_S)


def main(args: list[str] | None = None) -> int:
    """Run ``fleet_operator`` until shut down; returns 1 (after logging why) on a bad parameter."""
    return spin_node(FleetOperatorNode, NODE_NAME, args)


if __name__ == '__main__':
    sys.exit(main())
