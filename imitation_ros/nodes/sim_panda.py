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
``sim_arm`` with ``robot: panda``: the MuJoCo Franka Panda behind a ros2_control interface.

A thin adapter around :class:`~imitation_ros.sim.panda.sim.PandaSim` (the
physics, the tasks, contacts and success) and
:mod:`imitation_ros.sim.panda.interface`; the node ``sim_arm`` builds it when
its parameter ``robot`` is ``panda`` (:func:`imitation_ros.nodes.sim_arm.create_sim_arm`).
The same topics as the planar arm:

* a timer at ``rate_hz`` steps the sim one control period (whole physics steps
  of about 2 ms) toward the current targets and publishes ``joint_states``
  (sensor_msgs/JointState: ``panda_joint1..7`` in rad, ``panda_finger_joint1/2``
  in m, as the URDF names them) and ``imitation/task`` (std_msgs/Float64MultiArray,
  the layout of ``panda_task`` in ``layout.dim[0].label``, see docs/panda.md);
* ``forward_position_controller/commands`` (std_msgs/Float64MultiArray): the
  seven arm joints' absolute position targets (rad), base to tip; the position
  controller moves each joint's setpoint toward its target at most at
  ``panda_speed_scale`` times Franka's speed limit. A command of the wrong
  length or with NaN / Inf is rejected and the previous target held; the last
  target is held when commands stop;
* ``gripper_controller/commands`` (std_msgs/Float64MultiArray): finger positions
  (m, 0 closed .. 0.04 open): one value (``panda_finger_joint1``, the other
  finger mimics it; what the intervention gate sends with ``gripper_joints:
  [panda_finger_joint1]``) or two; the finger gap's setpoint moves there at
  0.1 m/s and a grasp squeezes with a bounded force. A bad one is rejected;
* ``imitation/episode`` (std_msgs/String, JSON, transient local): start events
  (``"robot": "panda"``, ``"task_kind"``, ``"start"``: the seven arm joints,
  ``"start_width"``, ``"task"``, ``"task_layout"``, ...) and end events with
  ``reason`` success, collision (the arm touched the pole or the table),
  joint_limit, cube_lost, timeout, or reset; ``~/reset`` and ``~/pause`` and
  ``auto_reset`` as for the planar arm;
* ``camera/image_raw`` (sensor_msgs/Image, rgb8, ``image_size`` square) at
  ``camera_hz``, rendered off screen from ``panda_camera``. Rendering needs an
  OpenGL context (headless: ``MUJOCO_GL=egl``, which ``sim_arm`` sets when
  ``MUJOCO_GL`` is unset and there is no display); without one the node runs
  without camera, says so at start-up and in its diagnostics;
* ``robot_description`` (std_msgs/String, transient local): ``panda_urdf_file``
  (default the package's ``urdf/panda.urdf``), checked to be the simulated arm;
* ``/diagnostics`` at 1 Hz.
"""

from __future__ import annotations

from dataclasses import dataclass
import json
from pathlib import Path
from typing import Any

from diagnostic_msgs.msg import DiagnosticArray
import numpy as np
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
from .sim_arm import NODE_NAME, package_urdf, ROBOTS, SimArmParams
from ..errors import ConfigError, ImitationError
from ..interface import topics
from ..interface.robot import RobotModel
from ..sim.panda.errors import CameraUnavailableError
from ..sim.panda.interface import (BASE_LINK, check_urdf_is_the_sim, end_event, FrameSource,
                                   gripper_width, joint_state, JOINT_STATE_NAMES, panda_config,
                                   start_event, TIP_LINK)
from ..sim.panda.model import ARM_JOINTS, CAMERAS
from ..sim.panda.sim import PandaSim
from ..sim.panda.tasks import TASK_KINDS, TASK_LAYOUTS

#: The Panda's URDF, under the package's urdf/ folder.
PANDA_URDF = 'panda.urdf'
#: Period of ``/diagnostics`` (s).
DIAGNOSTICS_PERIOD_S = 1.0
#: Seconds between two repeats of the same throttled warning.
WARN_THROTTLE_S = 2.0

_SHARED = SimArmParams()


@dataclass(frozen=True)
class SimPandaParams:
    """
    Parameters of ``sim_arm`` with ``robot: panda`` (see config/sim_arm.yaml).

    The shared ones mean what they mean for the planar arm; the Panda's own start
    with ``panda_`` so that one params file serves both.
    """

    robot: str = param('panda', 'The simulated arm: planar3 (the planar 3-joint arm) or panda '
                       '(the MuJoCo Franka Panda, parameters panda_*)', choices=ROBOTS)
    rate_hz: float = param(_SHARED.rate_hz, 'Control rate: the sim steps and publishes '
                           'joint_states and the task this often; the sim step is 1 / rate_hz',
                           unit='Hz', minimum=1.0, maximum=1000.0)
    camera_hz: float = param(_SHARED.camera_hz, 'Camera image rate on camera/image_raw; 0 '
                             'disables the camera', unit='Hz', minimum=0.0, maximum=100.0)
    image_size: int = param(_SHARED.image_size, 'Width and height of the camera image',
                            unit='px', minimum=16, maximum=480)
    seed: int = param(_SHARED.seed, 'Seed of the task generator', minimum=0,
                      maximum=2 ** 31 - 1)
    auto_reset: bool = param(_SHARED.auto_reset, 'Start a new episode reset_delay_s after one '
                             'ends')
    reset_delay_s: float = param(_SHARED.reset_delay_s, 'Pause between an episode end and the '
                                 'next start when auto_reset is true', unit='s', minimum=0.0,
                                 maximum=3600.0)
    frame_id: str = param(_SHARED.frame_id, 'header.frame_id of the camera images')
    panda_task: str = param('reach', 'Task the episodes draw: reach (around a pole to a goal) '
                            'or pick (a cube onto a target)', choices=TASK_KINDS)
    panda_max_steps: int = param(300, 'Step budget per episode; running out of it ends the '
                                 'episode as a failure (timeout); 300 steps at 20 Hz are 15 s',
                                 unit='steps', minimum=1, maximum=1_000_000)
    panda_speed_scale: float = param(0.5, "Fraction of Franka's joint speed limits the "
                                     'position controller moves the setpoints at',
                                     minimum=0.01, maximum=1.0)
    panda_camera: str = param('front', 'MJCF camera of camera/image_raw: front or top',
                              choices=CAMERAS)
    panda_urdf_file: str = param('', 'URDF of the simulated Panda, published on '
                                 "robot_description; empty: the package's urdf/panda.urdf")

    def __post_init__(self) -> None:
        check_params(self)
        if self.robot != 'panda':
            raise ConfigError(f'SimPandaParams is the Panda backend of sim_arm, got robot '
                              f'{self.robot!r}; sim_arm.create_sim_arm picks the backend')

    def urdf_path(self) -> Path:
        """Return the URDF file to publish."""
        if self.panda_urdf_file.strip():
            return Path(self.panda_urdf_file)
        return package_urdf(PANDA_URDF)

    def task_label(self) -> str:
        """Return the label of ``imitation/task``'s layout: the task vector's names."""
        return ','.join(TASK_LAYOUTS[self.panda_task])


class SimPandaNode(Node):
    """
    The simulated Panda as a ROS 2 node (node name ``sim_arm``, parameter ``robot: panda``).

    :param kwargs: passed to ``rclpy.node.Node`` (``parameter_overrides``,
        ``context``, ``namespace``...).
    :raises ConfigError: a parameter is invalid (the node is destroyed first).
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(NODE_NAME, **kwargs)
        try:
            self.params = declare_and_read(self, SimPandaParams)
            p = self.params
            config = panda_config(rate_hz=p.rate_hz, max_steps=p.panda_max_steps,
                                  speed_scale=p.panda_speed_scale, image_size=p.image_size,
                                  camera_name=p.panda_camera)
            self.sim = PandaSim(config, task_kind=p.panda_task, seed=p.seed)
            self.robot = RobotModel.from_file(p.urdf_path(), base_link=BASE_LINK,
                                              tip_link=TIP_LINK)
            check_urdf_is_the_sim(self.robot, self.sim.kinematics)
        except ConfigError:
            self.destroy_node()
            raise
        p = self.params
        self._target = np.zeros(len(ARM_JOINTS))
        self._width = 0.0
        self._ended_at: Time | None = None
        self._last_command_at: Time | None = None
        self._counts = {'commands_accepted': 0, 'commands_rejected': 0,
                        'gripper_accepted': 0, 'gripper_rejected': 0, 'frames': 0}
        self._rejected_at_last_report = 0
        self._episodes_ended = 0
        self._successes = 0
        self._last_reason = ''
        self._paused = False
        self._label = p.task_label()
        self._frames = FrameSource(self.sim)
        camera_on = p.camera_hz > 0 and self._frames.available

        self._joint_pub = self.create_publisher(JointState, topics.JOINT_STATES.name,
                                                STATE_PUB_QOS)
        self._task_pub = self.create_publisher(Float64MultiArray, topics.TASK.name, STATE_PUB_QOS)
        self._episode_pub = self.create_publisher(String, topics.EPISODE.name, EPISODE_QOS)
        self._diag_pub = self.create_publisher(DiagnosticArray, topics.DIAGNOSTICS.name,
                                               DIAGNOSTICS_QOS)
        self._description_pub = self.create_publisher(String, topics.ROBOT_DESCRIPTION.name,
                                                      ROBOT_DESCRIPTION_QOS)
        self._description_pub.publish(String(data=self.robot.urdf))
        self._image_pub = None
        self._camera_timer = None
        if camera_on:
            self._image_pub = self.create_publisher(Image, topics.CAMERA_IMAGE.name,
                                                    IMAGE_PUB_QOS)
        self.create_subscription(Float64MultiArray, topics.COMMANDS.name,
                                 self._on_command, COMMAND_QOS)
        self.create_subscription(Float64MultiArray, topics.GRIPPER_COMMANDS.name,
                                 self._on_gripper, COMMAND_QOS)
        self.create_service(Trigger, '~/reset', self._on_reset)
        self.create_service(SetBool, '~/pause', self._on_pause)
        self.create_timer(1.0 / p.rate_hz, self._on_tick)
        if camera_on:
            # The camera opens in the timer's thread on its first frame: an OpenGL
            # context belongs to the thread that made it.
            self._camera_timer = self.create_timer(1.0 / p.camera_hz, self._on_camera)
        self.create_timer(DIAGNOSTICS_PERIOD_S, self._on_diagnostics)

        self._start_episode()
        if p.camera_hz <= 0:
            camera = 'camera off (camera_hz 0)'
        elif camera_on:
            camera = (f'camera {p.panda_camera} {p.image_size}x{p.image_size} at '
                      f'{p.camera_hz:g} Hz')
        else:
            camera = f'NO CAMERA: {self._frames.problem}'
        self.get_logger().info(
            f'sim_arm (MuJoCo Panda, task {p.panda_task}) running at {p.rate_hz:g} Hz '
            f'({self.sim.config.substeps} physics steps per period), {camera}; '
            f'robot_description from {p.urdf_path()}')
        if p.camera_hz > 0 and not camera_on:
            self.get_logger().warning(f'running without camera: {self._frames.problem}')

    # --- episodes ---------------------------------------------------------------------

    def _start_episode(self) -> None:
        """Reset the sim, hold the start posture, announce the episode."""
        self.sim.reset()
        self._target = self.sim.q.copy()
        self._width = self.sim.width
        self._ended_at = None
        now = self.get_clock().now()
        event = start_event(self.sim, rate_hz=self.params.rate_hz, stamp=now.nanoseconds * 1e-9)
        self._episode_pub.publish(String(data=json.dumps(event)))
        self._publish_state(now)

    def _end_episode(self, now: Time, success: bool, reason: str) -> None:
        """Announce the end of the current episode."""
        self._ended_at = now
        self._episodes_ended += 1
        self._successes += int(success)
        self._last_reason = reason
        event = end_event(self.sim, success=success, reason=reason,
                          stamp=now.nanoseconds * 1e-9)
        self._episode_pub.publish(String(data=json.dumps(event)))
        self.get_logger().info(f'episode {self.sim.episode} ended: {reason} after '
                               f'{self.sim.steps} steps')

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
            result = self.sim.step(np.concatenate([self._target, [self._width]]))
        except ImitationError as exc:
            self.get_logger().error(f'sim step failed, holding: {exc}',
                                    throttle_duration_sec=WARN_THROTTLE_S)
            self._publish_state(now)
            return
        self._publish_state(now)
        if result.done:
            self._end_episode(now, result.success, result.reason)

    def _on_command(self, msg: Float64MultiArray) -> None:
        """Take new absolute arm joint targets; reject a bad command and hold the old one."""
        try:
            target = array_from_msg(msg, len(ARM_JOINTS), what='command')
        except ImitationError as exc:
            self._counts['commands_rejected'] += 1
            self.get_logger().warning(
                f'rejected command on forward_position_controller/commands, holding the '
                f'previous target: {exc} (send {len(ARM_JOINTS)} finite joint positions in '
                f'rad, order {list(ARM_JOINTS)})', throttle_duration_sec=WARN_THROTTLE_S)
            return
        self._target = target
        self._counts['commands_accepted'] += 1
        self._last_command_at = self.get_clock().now()

    def _on_gripper(self, msg: Float64MultiArray) -> None:
        """Take a new finger gap target; reject a bad command and hold the old one."""
        try:
            values = np.asarray(msg.data, dtype=np.float64)[int(msg.layout.data_offset):]
            width = gripper_width(values)
        except (ImitationError, TypeError, ValueError) as exc:
            self._counts['gripper_rejected'] += 1
            self.get_logger().warning(
                f'rejected command on gripper_controller/commands, holding the gripper: {exc}',
                throttle_duration_sec=WARN_THROTTLE_S)
            return
        self._width = width
        self._counts['gripper_accepted'] += 1

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
        try:
            rgb = self._frames.frame()
        except CameraUnavailableError as exc:
            # The context failed only now: stop trying, keep the arm running.
            self.get_logger().error(f'camera stopped, running without it: {exc}')
            if self._camera_timer is not None:
                self._camera_timer.cancel()
            return
        self._image_pub.publish(image_msg(rgb, self.get_clock().now().to_msg(),
                                          self.params.frame_id))
        self._counts['frames'] += 1

    def _on_diagnostics(self) -> None:
        """Publish the node's health on /diagnostics."""
        now = self.get_clock().now()
        sim = self.sim
        new_rejects = self._counts['commands_rejected'] - self._rejected_at_last_report
        self._rejected_at_last_report = self._counts['commands_rejected']
        age: Any = 'never'
        if self._last_command_at is not None:
            age = (now - self._last_command_at).nanoseconds * 1e-9
        if sim.done:
            state = f'episode {sim.episode} ended: {self._last_reason}'
        else:
            state = f'episode {sim.episode} running, step {sim.steps}'
        level, message = DIAG_OK, state
        if new_rejects:
            level = DIAG_WARN
            message = f'{state}; {new_rejects} commands rejected (wrong length or NaN)'
        elif self.params.camera_hz > 0 and self._frames.problem:
            level = DIAG_WARN
            message = f'{state}; no camera: {self._frames.problem}'
        values = {'robot': 'panda', 'task': self.params.panda_task, 'episode': sim.episode,
                  'running': not sim.done, 'steps': sim.steps, 'last_reason': self._last_reason,
                  'episodes_ended': self._episodes_ended, 'successes': self._successes,
                  'last_command_age_s': age, **self._counts,
                  'camera': self._frames.problem or 'ok', 'rate_hz': self.params.rate_hz,
                  'urdf_file': str(self.params.urdf_path())}
        status = diagnostic_status(f'{self.get_name()}: simulation', level, message, values,
                                   hardware_id=self.get_fully_qualified_name())
        self._diag_pub.publish(diagnostic_array([status], now.to_msg()))

    def destroy_node(self) -> None:
        """Free the camera's OpenGL context, then the node."""
        frames = getattr(self, '_frames', None)
        if frames is not None:
            frames.close()
        super().destroy_node()

    # --- helpers ----------------------------------------------------------------------

    def _publish_state(self, now: Time) -> None:
        """Joint states (arm and fingers) and the task; velocities zero between episodes."""
        positions, velocities = joint_state(self.sim)
        if self.sim.done:
            velocities = np.zeros_like(velocities)
        self._joint_pub.publish(joint_state_msg(JOINT_STATE_NAMES, positions, velocities,
                                                now.to_msg()))
        if self.sim.task is not None:
            self._task_pub.publish(array_msg(self.sim.task.vector(), self._label))
