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
``sim_arm``: the simulated arm behind the interface of a ros2_control arm in Gazebo.

A thin adapter around :class:`~imitation_ros.sim.arm.ArmSim`:

* a timer at ``rate_hz`` steps the sim (dt = 1 / rate_hz) toward the current
  target and publishes ``joint_states`` (sensor_msgs/JointState) and
  ``imitation/task`` (std_msgs/Float64MultiArray, layout
  ``goal_x,goal_y,obstacle_x,obstacle_y,obstacle_radius`` in ``layout.dim[0].label``);
* ``camera/image_raw`` (sensor_msgs/Image, rgb8) at ``camera_hz``;
* ``forward_position_controller/commands`` (std_msgs/Float64MultiArray) sets the
  target: absolute joint positions (rad) in ``joint_names`` order. A command of
  the wrong length or with NaN / Inf is rejected and the previous target held;
  the last target is held when commands stop (what a forward_command_controller does);
* ``imitation/episode`` (std_msgs/String, JSON): ``{"event": "start", "episode": N,
  "start": [q0...], "task": [...], ...}`` when an episode starts and
  ``{"event": "end", "episode": N, "success": bool, "reason": str, "steps": int}``
  when it ends (reason: success, collision, joint_limit, timeout, or reset when
  ``~/reset`` cut it short). After an end the arm stays where it is (joint
  states keep coming); ``~/reset`` (std_srvs/Trigger) starts a new episode at
  once, and with ``auto_reset`` one starts ``reset_delay_s`` after the end;
* ``~/pause`` (std_srvs/SetBool): ``true`` lets the running episode finish and
  starts no new one (joint states keep coming) until ``false``; for a
  supervisor that wants the arm idle, e.g. while a new policy trains;
* ``robot_description`` (std_msgs/String, transient local, as
  robot_state_publisher publishes it): the arm's URDF, once at start-up, from
  ``urdf_file`` (default: the package's ``urdf/planar3.urdf``, found through the
  ament index when installed, else in the source tree). It must describe the
  simulated arm (its joints ``joint_names``, base to tip, and the sim's
  kinematics within 1e-6 m), or the node does not start;
* ``/diagnostics`` at 1 Hz: episode, steps, last command age, rejected commands.

The parameter ``robot`` picks the simulated arm: ``planar3`` (this module) or
``panda``, the MuJoCo Franka Panda behind the same topics
(:mod:`imitation_ros.nodes.sim_panda`, parameters ``panda_*``);
:func:`create_sim_arm` builds the one it names.

Topic names are relative (:mod:`imitation_ros.interface.topics`), so they follow
the node's namespace and remap freely.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
import json
from pathlib import Path
import sys
from typing import Any

from ament_index_python.packages import get_package_share_directory
from diagnostic_msgs.msg import DiagnosticArray
import numpy as np
from rcl_interfaces.msg import ParameterDescriptor
from rclpy.exceptions import InvalidParameterTypeException
from rclpy.node import Node
from rclpy.time import Time
from sensor_msgs.msg import Image, JointState
from std_msgs.msg import Float64MultiArray, String
from std_srvs.srv import SetBool, Trigger

from .conversions import (array_from_msg, array_msg, DIAG_OK, DIAG_WARN, diagnostic_array,
                          diagnostic_status, image_msg, joint_state_msg)
from .params import check_params, declare_and_read, param
from .qos import (COMMAND_QOS, DIAGNOSTICS_QOS, EPISODE_QOS, IMAGE_PUB_QOS, ROBOT_DESCRIPTION_QOS,
                  STATE_PUB_QOS)
from ..errors import ConfigError, ImitationError
from ..interface import topics
from ..interface.robot import RobotModel
from ..sim.arm import ArmConfig, ArmSim, end_effector, TASK_LAYOUT
from ..sim.panda.headless import prefer_egl
from ..sim.render import render, View
from .spin import spin_node

NODE_NAME = 'sim_arm'
#: Label of ``/imitation/task``'s ``layout.dim[0]``: the task vector's layout.
TASK_LABEL = ','.join(TASK_LAYOUT)
#: Period of ``/diagnostics`` (s).
DIAGNOSTICS_PERIOD_S = 1.0
#: Seconds between two repeats of the same throttled warning.
WARN_THROTTLE_S = 2.0
#: The simulated arm's URDF, under the package's urdf/ folder.
DEFAULT_URDF = 'planar3.urdf'
#: Largest distance between the URDF's tip and the sim's end effector (m).
URDF_TOLERANCE_M = 1e-6
#: Values of the ``robot`` parameter: the simulated arms.
ROBOTS: tuple[str, ...] = ('planar3', 'panda')


def package_urdf(name: str = DEFAULT_URDF) -> Path:
    """Return a URDF of the package: under its share/ when installed, else the source tree's."""
    try:
        path = Path(get_package_share_directory('imitation_ros')) / 'urdf' / name
        if path.is_file():
            return path
    except (ImportError, LookupError, ValueError, OSError):
        pass
    return Path(__file__).resolve().parents[2] / 'urdf' / name


def check_urdf_is_the_sim(robot: RobotModel, config: ArmConfig) -> None:
    """
    Check that ``robot`` describes the simulated arm: its joints and its kinematics.

    :raises ConfigError: other joints, or a tip more than URDF_TOLERANCE_M from the sim's.
    """
    robot.check_joint_names(config.joint_names, 'parameter joint_names of sim_arm')
    rng = np.random.default_rng(0)
    for q in rng.uniform(config.lower, config.upper, size=(8, config.n_joints)):
        gap = float(np.linalg.norm(robot.position(q)[:2] - end_effector(config, q)))
        if gap > URDF_TOLERANCE_M or abs(robot.position(q)[2]) > URDF_TOLERANCE_M:
            raise ConfigError(f'the URDF {robot.name} does not describe the simulated arm: at '
                              f'q = {q.round(3).tolist()} its tip is {gap:.3g} m from the '
                              'sim\'s end effector; give urdf_file of the simulated arm (the '
                              f'package\'s urdf/{DEFAULT_URDF})')


@dataclass(frozen=True)
class SimArmParams:
    """Parameters of ``sim_arm`` (see config/sim_arm.yaml)."""

    robot: str = param('planar3', 'The simulated arm: planar3 (the planar 3-joint arm) or panda '
                       '(the MuJoCo Franka Panda, parameters panda_*)', choices=ROBOTS)
    rate_hz: float = param(20.0, 'Control rate: the sim steps and publishes joint_states and '
                           'the task this often; the sim step is 1 / rate_hz',
                           unit='Hz', minimum=1.0, maximum=1000.0)
    camera_hz: float = param(10.0, 'Camera image rate on camera/image_raw; 0 disables the '
                             'camera', unit='Hz', minimum=0.0, maximum=100.0)
    image_size: int = param(96, 'Width and height of the camera image', unit='px',
                            minimum=16, maximum=1024)
    joint_names: tuple[str, ...] = param(('joint1', 'joint2', 'joint3'),
                                         'Joint names, base to tip, as published on '
                                         'joint_states; commands are in this order')
    seed: int = param(0, 'Seed of the task generator and the actuation noise',
                      minimum=0, maximum=2 ** 31 - 1)
    auto_reset: bool = param(True, 'Start a new episode reset_delay_s after one ends')
    reset_delay_s: float = param(1.0, 'Pause between an episode end and the next start '
                                 'when auto_reset is true', unit='s', minimum=0.0,
                                 maximum=3600.0)
    actuation_noise: float = param(0.0, 'Standard deviation of Gaussian noise added to each '
                                   'joint motion every step', unit='rad', minimum=0.0,
                                   maximum=0.5)
    action_delay: int = param(0, 'Control periods between a command and the arm acting on it',
                              unit='steps', minimum=0, maximum=100)
    max_steps: int = param(200, 'Step budget per episode; running out of it ends the episode '
                           'as a failure (timeout); 200 steps at 20 Hz are 10 s',
                           unit='steps', minimum=1, maximum=1_000_000)
    max_joint_speed: float = param(1.5, 'Largest joint speed the position controller produces',
                                   unit='rad/s', minimum=0.01, maximum=20.0)
    frame_id: str = param('camera', 'header.frame_id of the camera images')
    urdf_file: str = param('', 'URDF of the simulated arm, published on robot_description; '
                           "empty: the package's urdf/planar3.urdf")

    def __post_init__(self) -> None:
        check_params(self)
        if self.robot != 'planar3':
            raise ConfigError(f'SimArmParams is the planar arm, got robot {self.robot!r}; '
                              'create_sim_arm builds the node of the robot parameter')
        n = ArmConfig().n_joints
        if len(self.joint_names) != n:
            raise ConfigError(f'parameter joint_names has {len(self.joint_names)} names but the '
                              f'simulated arm has {n} joints; give {n} names, base to tip')
        if len(set(self.joint_names)) != n or not all(self.joint_names):
            raise ConfigError(f'parameter joint_names must be {n} distinct non-empty names, '
                              f'got {list(self.joint_names)}')

    def urdf_path(self) -> Path:
        """Return the URDF file to publish."""
        return Path(self.urdf_file) if self.urdf_file.strip() else package_urdf()

    def arm_config(self) -> ArmConfig:
        """Return the sim's configuration: default geometry, these dynamics, dt = 1 / rate_hz."""
        return replace(ArmConfig(), dt=1.0 / self.rate_hz, max_steps=self.max_steps,
                       max_joint_speed=self.max_joint_speed,
                       actuation_noise=self.actuation_noise, action_delay=self.action_delay,
                       joint_names=tuple(self.joint_names))


class SimArmNode(Node):
    """
    The simulated arm as a ROS 2 node (node name ``sim_arm``).

    :param kwargs: passed to ``rclpy.node.Node`` (``parameter_overrides``,
        ``context``, ``namespace``...).
    :raises ConfigError: a parameter is invalid (the node is destroyed first).
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(NODE_NAME, **kwargs)
        try:
            self.params = declare_and_read(self, SimArmParams)
            self.sim = ArmSim(self.params.arm_config(), seed=self.params.seed)
            self.robot = RobotModel.from_file(self.params.urdf_path())
            check_urdf_is_the_sim(self.robot, self.sim.config)
        except ConfigError:
            self.destroy_node()
            raise
        p = self.params
        self._target = np.zeros(self.sim.config.n_joints)
        self._ended_at: Time | None = None
        self._last_command_at: Time | None = None
        self._commands_accepted = 0
        self._commands_rejected = 0
        self._rejected_at_last_report = 0
        self._episodes_ended = 0
        self._successes = 0
        self._last_reason = ''
        self._paused = False
        self._view = View(size=p.image_size)

        self._joint_pub = self.create_publisher(JointState, topics.JOINT_STATES.name,
                                                STATE_PUB_QOS)
        self._task_pub = self.create_publisher(Float64MultiArray, topics.TASK.name, STATE_PUB_QOS)
        self._episode_pub = self.create_publisher(String, topics.EPISODE.name, EPISODE_QOS)
        self._diag_pub = self.create_publisher(DiagnosticArray, topics.DIAGNOSTICS.name,
                                               DIAGNOSTICS_QOS)
        self._description_pub = self.create_publisher(String, topics.ROBOT_DESCRIPTION.name,
                                                      ROBOT_DESCRIPTION_QOS)
        # Latched (transient local): a gate started later still gets it.
        self._description_pub.publish(String(data=self.robot.urdf))
        self._image_pub = None
        if p.camera_hz > 0:
            self._image_pub = self.create_publisher(Image, topics.CAMERA_IMAGE.name,
                                                    IMAGE_PUB_QOS)
        self.create_subscription(Float64MultiArray, topics.COMMANDS.name,
                                 self._on_command, COMMAND_QOS)
        self.create_service(Trigger, '~/reset', self._on_reset)
        self.create_service(SetBool, '~/pause', self._on_pause)

        self.create_timer(1.0 / p.rate_hz, self._on_tick)
        if p.camera_hz > 0:
            self.create_timer(1.0 / p.camera_hz, self._on_camera)
        self.create_timer(DIAGNOSTICS_PERIOD_S, self._on_diagnostics)

        self._start_episode()
        self.get_logger().info(
            f'sim_arm running at {p.rate_hz:g} Hz (camera '
            f'{"off" if p.camera_hz <= 0 else f"{p.camera_hz:g} Hz"}), joints '
            f'{list(p.joint_names)}, auto_reset {p.auto_reset}, robot_description from '
            f'{p.urdf_path()}')

    # --- episodes ---------------------------------------------------------------------

    def _start_episode(self) -> None:
        """Reset the sim, hold the start posture, announce the episode."""
        task = self.sim.reset()
        self._target = self.sim.q.copy()
        self._ended_at = None
        now = self.get_clock().now()
        event = {'event': 'start', 'episode': int(self.sim.episode),
                 'start': self.sim.q.tolist(), 'task': task.vector().tolist(),
                 'task_layout': list(TASK_LAYOUT), 'joint_names': list(self.params.joint_names),
                 'max_steps': self.params.max_steps, 'rate_hz': self.params.rate_hz,
                 'stamp': now.nanoseconds * 1e-9}
        self._episode_pub.publish(String(data=json.dumps(event)))
        self._publish_state(now)

    def _end_episode(self, now: Time, success: bool, reason: str) -> None:
        """Announce the end of the current episode."""
        sim = self.sim
        self._ended_at = now
        self._episodes_ended += 1
        self._successes += int(success)
        self._last_reason = reason
        event = {'event': 'end', 'episode': int(sim.episode), 'success': bool(success),
                 'reason': reason, 'steps': int(sim.steps), 'stamp': now.nanoseconds * 1e-9}
        self._episode_pub.publish(String(data=json.dumps(event)))
        self.get_logger().info(f'episode {sim.episode} ended: {reason} after {sim.steps} steps')

    # --- callbacks --------------------------------------------------------------------

    def _on_tick(self) -> None:
        """One control period: step the running episode, publish the state."""
        now = self.get_clock().now()
        if self.sim.done:
            delay_ns = int(self.params.reset_delay_s * 1e9)
            if (self.params.auto_reset and not self._paused and self._ended_at is not None
                    and (now - self._ended_at).nanoseconds >= delay_ns):
                self._start_episode()
            else:
                self._publish_state(now)
            return
        try:
            result = self.sim.step(self._target)
        except ImitationError as exc:
            self.get_logger().error(f'sim step failed, holding: {exc}',
                                    throttle_duration_sec=WARN_THROTTLE_S)
            self._publish_state(now)
            return
        self._publish_state(now)
        if result.done:
            self._end_episode(now, result.success, result.reason)

    def _on_command(self, msg: Float64MultiArray) -> None:
        """Take a new absolute joint target; reject a bad one and hold the old target."""
        try:
            target = array_from_msg(msg, self.sim.config.n_joints, what='command')
        except ImitationError as exc:
            self._commands_rejected += 1
            self.get_logger().warning(
                f'rejected command on forward_position_controller/commands, holding the '
                f'previous target: {exc} (send {self.sim.config.n_joints} finite joint '
                f'positions in rad, order {list(self.params.joint_names)})',
                throttle_duration_sec=WARN_THROTTLE_S)
            return
        self._target = target
        self._commands_accepted += 1
        self._last_command_at = self.get_clock().now()

    def _on_reset(self, request: Trigger.Request, response: Trigger.Response) -> Any:
        """``~/reset``: start a new episode now (a running one ends with reason 'reset')."""
        try:
            if not self.sim.done:
                self._end_episode(self.get_clock().now(), False, 'reset')
            self._start_episode()
        except ImitationError as exc:
            response.success = False
            response.message = f'reset failed: {exc}'
            return response
        response.success = True
        response.message = f'episode {self.sim.episode} started'
        return response

    def _on_pause(self, request: SetBool.Request, response: SetBool.Response) -> Any:
        """``~/pause``: true = start no new episode after the running one; false = resume."""
        was = self._paused
        self._paused = bool(request.data)
        if was and not self._paused and self.sim.done and self._ended_at is not None:
            # Resume counts the pause as the reset delay: restart the clock of the delay.
            self._ended_at = self.get_clock().now()
        response.success = True
        response.message = ('paused: no new episode starts' if self._paused else
                            'resumed: episodes start again')
        self.get_logger().info(response.message)
        return response

    def _on_camera(self) -> None:
        """Render the current state and publish it as an rgb8 image."""
        if self._image_pub is None or self.sim.task is None:
            return
        rgb = render(self.sim.config, self.sim.task, self.sim.q, self._view)
        self._image_pub.publish(image_msg(rgb, self.get_clock().now().to_msg(),
                                          self.params.frame_id))

    def _on_diagnostics(self) -> None:
        """Publish the node's health on /diagnostics."""
        now = self.get_clock().now()
        sim = self.sim
        new_rejects = self._commands_rejected - self._rejected_at_last_report
        self._rejected_at_last_report = self._commands_rejected
        if self._last_command_at is None:
            age: Any = 'never'
        else:
            age = (now - self._last_command_at).nanoseconds * 1e-9
        if sim.done:
            state = f'episode {sim.episode} ended: {self._last_reason}'
        else:
            state = f'episode {sim.episode} running, step {sim.steps}'
        level = DIAG_OK
        message = state
        if new_rejects:
            level = DIAG_WARN
            message = f'{state}; {new_rejects} commands rejected (wrong length or NaN)'
        values = {'episode': sim.episode, 'running': not sim.done, 'steps': sim.steps,
                  'last_reason': self._last_reason, 'episodes_ended': self._episodes_ended,
                  'successes': self._successes, 'last_command_age_s': age,
                  'commands_accepted': self._commands_accepted,
                  'commands_rejected': self._commands_rejected,
                  'rate_hz': self.params.rate_hz, 'urdf_file': str(self.params.urdf_path())}
        status = diagnostic_status(f'{self.get_name()}: simulation', level, message, values,
                                   hardware_id='sim_arm')
        self._diag_pub.publish(diagnostic_array([status], now.to_msg()))

    # --- helpers ----------------------------------------------------------------------

    def _publish_state(self, now: Time) -> None:
        """Joint states and the task; velocities are zero while no episode runs."""
        sim = self.sim
        qd = np.zeros_like(sim.q) if sim.done else sim.qd
        stamp = now.to_msg()
        self._joint_pub.publish(joint_state_msg(self.params.joint_names, sim.q, qd, stamp))
        if sim.task is not None:
            self._task_pub.publish(array_msg(sim.task.vector(), TASK_LABEL))


def robot_parameter(**kwargs: Any) -> str:
    """
    Return the ``robot`` parameter a ``sim_arm`` node built with ``kwargs`` would get.

    Parameters come from overrides, params files and the command line, which only a
    node of that name resolves: a short-lived one reads it.

    :raises ConfigError: a value that is not a string of :data:`ROBOTS`.
    """
    node = Node(NODE_NAME, **kwargs)
    try:
        value = node.declare_parameter('robot', 'planar3', ParameterDescriptor()).value
    except InvalidParameterTypeException as exc:
        raise ConfigError(f'parameter robot must be a string: one of {", ".join(ROBOTS)}: '
                          f'{exc}') from None
    finally:
        node.destroy_node()
    if value not in ROBOTS:
        raise ConfigError(f'parameter robot = {value!r} is not allowed; use one of '
                          f'{", ".join(ROBOTS)}')
    return value


def create_sim_arm(**kwargs: Any) -> Node:
    """
    Build the ``sim_arm`` node of the ``robot`` parameter: the planar arm or the MuJoCo Panda.

    :param kwargs: passed to the node (``parameter_overrides``, ``context``, ``namespace``...).
    :raises ConfigError: a parameter is invalid.
    """
    if robot_parameter(**kwargs) == 'panda':
        prefer_egl()  # before MuJoCo is imported: it picks its OpenGL backend then
        from .sim_panda import SimPandaNode  # lazy: MuJoCo only for the Panda
        return SimPandaNode(**kwargs)
    return SimArmNode(**kwargs)


def main(args: list[str] | None = None) -> int:
    """Run ``sim_arm`` until shut down; returns 1 (after logging why) on a bad parameter."""
    return spin_node(create_sim_arm, NODE_NAME, args)


if __name__ == '__main__':
    sys.exit(main())
