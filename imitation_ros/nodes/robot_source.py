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
Where a node gets its robot: the ``robot_description`` parameter, a URDF file, or the topic.

:class:`RobotParams` holds the parameters every node on the robot side shares (the
URDF text or file, the chain's links, how long to wait for the topic) and reads the
robot from the first two; :class:`RobotSource` takes the first description
robot_state_publisher (or sim_arm) publishes on the transient-local
``robot_description`` topic, and stops the node with what to set when none comes
in time or the one that comes is unusable.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

from rclpy.node import Node
from std_msgs.msg import String

from .params import check_params, param
from .qos import ROBOT_DESCRIPTION_QOS
from ..errors import ConfigError
from ..interface import topics
from ..interface.robot import MAX_URDF_BYTES, RobotModel

#: Seconds between two repeats of the same throttled warning.
WARN_THROTTLE_S = 2.0


def read_urdf(path: str) -> str:
    """Return the text of a URDF file; ConfigError when it cannot be read."""
    try:
        with open(path, encoding='utf-8') as handle:
            return handle.read(MAX_URDF_BYTES + 1)
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f'cannot read urdf_file {path!r}: {exc}; give the path of a URDF '
                          '(xacro output)') from None


@dataclass(frozen=True)
class RobotParams:
    """The robot parameters of a node; a node's parameter class derives from this one."""

    robot_description: str = param('', 'The URDF text of the robot (as robot_state_publisher '
                                   'takes it); empty: urdf_file, else the robot_description '
                                   'topic')
    urdf_file: str = param('', 'Path of the URDF file, when robot_description is empty; empty '
                           'too: wait for the robot_description topic')
    base_link: str = param('', "The arm chain's base link (the frame of the cartesian teleop); "
                           "empty: the URDF's root link")
    tip_link: str = param('', "The arm chain's tip link (tool or flange frame); empty: the "
                          "URDF's only end link")
    robot_description_timeout_s: float = param(10.0, 'With neither robot_description nor '
                                               'urdf_file set: exit with an error when no '
                                               'description arrives on the topic within this',
                                               unit='s', minimum=0.1, maximum=3600.0)

    def __post_init__(self) -> None:
        check_params(self)
        if self.robot_description.strip() and self.urdf_file.strip():
            raise ConfigError('parameters robot_description and urdf_file are both set; set '
                              'one (or neither, to take the robot_description topic)')

    def load_robot(self, urdf: str, source: str) -> RobotModel:
        """
        Read the arm chain from URDF text.

        :param source: where the text came from, for the message.
        :raises ConfigError: what is wrong, and what to set.
        """
        try:
            return RobotModel.from_urdf(urdf, base_link=self.base_link, tip_link=self.tip_link)
        except ConfigError as exc:
            raise ConfigError(f'the robot description from {source} is unusable: {exc}. Fix '
                              'it, or set robot_description / urdf_file, base_link and '
                              'tip_link') from None

    def robot_from_parameters(self) -> Optional[RobotModel]:
        """
        Return the robot of ``robot_description`` or ``urdf_file``; None when both are empty.

        :raises ConfigError: the description is unusable or the file unreadable.
        """
        if self.robot_description.strip():
            return self.load_robot(self.robot_description, 'parameter robot_description')
        if self.urdf_file.strip():
            return self.load_robot(read_urdf(self.urdf_file), f'urdf_file {self.urdf_file}')
        return None


class RobotSource:
    """
    The robot from the ``robot_description`` topic, for a node whose parameters give none.

    The first usable description is handed to ``on_robot`` (in the subscription's
    callback); a later, different one is ignored with a warning (the node keeps the
    robot it started with). An unusable description, or none within
    ``robot_description_timeout_s``, raises :class:`ConfigError` from the callback
    that finds out, which stops the node (``spin_node`` exits 1).
    """

    def __init__(self, node: Node, params: RobotParams,
                 on_robot: Callable[[RobotModel], None]) -> None:
        self._node = node
        self._params = params
        self._on_robot = on_robot
        self.robot: Optional[RobotModel] = None
        self._started_ns = node.get_clock().now().nanoseconds
        node.create_subscription(String, topics.ROBOT_DESCRIPTION.name, self._on_description,
                                 ROBOT_DESCRIPTION_QOS)
        self._timer = node.create_timer(params.robot_description_timeout_s, self._on_timeout)
        node.get_logger().info(f'waiting up to {params.robot_description_timeout_s:g} s for the '
                               f'robot description on {self.topic}')

    @property
    def topic(self) -> str:
        """Return the description topic's resolved name."""
        return self._node.resolve_topic_name(topics.ROBOT_DESCRIPTION.name)

    def waited_s(self) -> float:
        """Return the seconds since the node began to wait (node clock)."""
        return (self._node.get_clock().now().nanoseconds - self._started_ns) * 1e-9

    def waiting(self) -> str:
        """Say what the node waits for, for ``/diagnostics``."""
        return (f'waiting for the robot description on {self.topic} ({self.waited_s():.1f} s '
                f'of robot_description_timeout_s {self._params.robot_description_timeout_s:g}'
                '; robot_state_publisher or sim_arm publishes it)')

    def _on_description(self, msg: String) -> None:
        """Take the first robot description; raises ConfigError when it is unusable."""
        if self.robot is not None:
            if msg.data != self.robot.urdf:
                self._node.get_logger().warning(
                    f'a different robot description arrived and is ignored: '
                    f'{self._node.get_name()} keeps the robot it started with; restart it to '
                    'take the new one', throttle_duration_sec=WARN_THROTTLE_S)
            return
        robot = self._params.load_robot(msg.data, f'topic {self.topic}')
        self._on_robot(robot)
        self.robot = robot
        self._timer.cancel()

    def _on_timeout(self) -> None:
        """No robot description in time: stop with what to set."""
        self._timer.cancel()
        if self.robot is not None:
            return
        raise ConfigError(
            f'no robot description on {self.topic} within robot_description_timeout_s '
            f'{self._params.robot_description_timeout_s:g} s: run robot_state_publisher (or '
            'sim_arm), or set the parameter robot_description (URDF text) or urdf_file, with '
            'base_link and tip_link')
