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
``intervention_gate``: joystick takeover (HG-DAgger), deadman, e-stop and command arbitration.

The ROS wiring of :class:`imitation_ros.gate.arbiter.Arbiter`: every decision is
the arbiter's; this node takes the robot from its URDF (the ``robot_description``
parameter, else ``urdf_file``, else the ``robot_description`` topic), converts
joint states, policy and expert actions, doubts, risks and Joy messages, keeps time with
the node clock, and publishes the command, the gripper command,
``imitation/gate_state``, ``imitation/intervention``, ``imitation/help_request``
and ``/diagnostics``. Topics, message fields and the rules: docs/gate.md.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, fields
import json
import sys
from typing import Any, Optional

from diagnostic_msgs.msg import DiagnosticArray
import numpy as np
from rcl_interfaces.msg import SetParametersResult
from rclpy.duration import Duration
from rclpy.node import Node
from rclpy.parameter import Parameter
from sensor_msgs.msg import JointState, Joy
from std_msgs.msg import Bool, Float64, Float64MultiArray, String
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

from .conversions import (array_msg, DIAG_ERROR, DIAG_OK, DIAG_WARN, diagnostic_array,
                          diagnostic_status, joint_positions, stamp_to_sec)
from .params import declare_and_read, param
from .qos import COMMAND_PUB_QOS, DIAGNOSTICS_QOS, MODEL_QOS, STATE_PUB_QOS, STATE_QOS
from .robot_source import RobotParams, RobotSource
from ..data.messages import stamp_to_ns
from ..errors import ConfigError, ImitationError
from ..gate.arbiter import (Arbiter, check_beta, GateConfig, GateMode, GateOutput,
                            INVALID_MODES, STALE_MODES)
from ..gate.joy import JoyConfig, NULL_SPACE_MODES, parse_joy, TELEOP_MODES
from ..gate.limits import safe_command
from ..interface import topics
from ..interface.kinematics import TASK_COMPONENTS
from ..interface.robot import GripperModel, RobotModel
from .spin import spin_node

NODE_NAME = 'intervention_gate'
#: Values of the ``output`` parameter.
OUTPUTS: tuple[str, ...] = ('forward', 'trajectory', 'both')
#: Period of ``/diagnostics`` (s).
DIAGNOSTICS_PERIOD_S = 1.0
#: Seconds between two repeats of the same throttled warning.
WARN_THROTTLE_S = 2.0


_JOY = JoyConfig()


@dataclass(frozen=True)
class GateParams(RobotParams):
    """Parameters of ``intervention_gate`` (see config/intervention_gate.yaml)."""

    rate_hz: float = param(20.0, 'Control rate: a command is published this often',
                           unit='Hz', minimum=1.0, maximum=1000.0)
    limit_margin: float = param(0.02, 'Distance every command keeps from each joint limit',
                                unit='rad', minimum=0.0, maximum=1.0)
    max_joint_step: float = param(0.1, 'Largest distance of a command from the measured '
                                  'position, per joint and tick; also caps the teleop joint '
                                  'speed at max_joint_step * rate_hz', unit='rad',
                                  minimum=0.001, maximum=3.2)
    cmd_timeout_s: float = param(0.25, 'A policy action older than this is stale: the gate '
                                 'holds', unit='s', minimum=0.001, maximum=60.0)
    joy_timeout_s: float = param(0.2, 'No Joy for this long during a takeover latches a hold '
                                 'until the deadman is released', unit='s', minimum=0.001,
                                 maximum=60.0)
    state_timeout_s: float = param(0.25, 'A joint state older than this is stale: the gate '
                                   'holds at the last measured position (hold_stale_state) '
                                   'until joint_states is fresh; a few periods of the arm',
                                   unit='s', minimum=0.001, maximum=60.0)
    enable_button: int = param(_JOY.enable_button, 'Deadman button index: held = human in '
                               'control', minimum=0, maximum=127)
    estop_button: int = param(_JOY.estop_button, 'E-stop button index: latches a hold until '
                              'reset_button', minimum=0, maximum=127)
    reset_button: int = param(_JOY.reset_button, 'Button index that clears the e-stop latch '
                              '(with the e-stop button released)', minimum=0, maximum=127)
    teleop_mode: str = param(_JOY.teleop_mode, 'cartesian: the sticks move the tip; joint: '
                             'one axis drives the selected joint', choices=TELEOP_MODES)
    deadzone: float = param(_JOY.deadzone, 'Stick values with magnitude below this are zero',
                            minimum=0.0, maximum=0.95)
    cartesian_task: tuple[str, ...] = param(_JOY.cartesian_task, 'Components of the tip '
                                            'motion the cartesian teleop controls (driven by '
                                            'a stick, else held still); the rest is free',
                                            choices=TASK_COMPONENTS)
    axis_map: tuple[int, ...] = param(_JOY.axis_map, 'Joy axis indices moving the tip along '
                                      'x, y, z of the base frame; -1: none', minimum=-1,
                                      maximum=127)
    scale: tuple[float, ...] = param(_JOY.scale, 'Full-deflection tip speed along x, y, z; '
                                     'negative inverts', unit='m/s', minimum=-20.0,
                                     maximum=20.0)
    rotation_button: int = param(_JOY.rotation_button, 'Button index: held, the sticks turn '
                                 'the tip (rotation_axis_map) instead; -1: none', minimum=-1,
                                 maximum=127)
    rotation_axis_map: tuple[int, ...] = param(_JOY.rotation_axis_map, 'Joy axis indices '
                                               'turning the tip about x, y, z while '
                                               'rotation_button is held; -1: none',
                                               minimum=-1, maximum=127)
    rotation_scale: tuple[float, ...] = param(_JOY.rotation_scale, 'Full-deflection turn rate '
                                              'about x, y, z; negative inverts', unit='rad/s',
                                              minimum=-20.0, maximum=20.0)
    elbow_axis: int = param(_JOY.elbow_axis, 'Joy axis index moving the arm in a '
                            'one-dimensional null space (the elbow); -1: none', minimum=-1,
                            maximum=127)
    elbow_scale: float = param(_JOY.elbow_scale, 'Full-deflection elbow speed; negative '
                               'inverts', unit='rad/s', minimum=-20.0, maximum=20.0)
    null_space: str = param(_JOY.null_space, 'What else moves the null space: takeover (hold '
                            'the posture of the takeover, keep joints off their limits), rest '
                            '(hold rest_posture, likewise), elbow (nothing: the planar '
                            'mapping sim_human drives)', choices=NULL_SPACE_MODES)
    rest_posture: tuple[float, ...] = param(_JOY.rest_posture, 'Posture held with null_space '
                                            'rest, one per joint', unit='rad', minimum=-100.0,
                                            maximum=100.0)
    posture_gain: float = param(_JOY.posture_gain, 'Rate of the pull toward the held posture',
                                unit='1/s', minimum=0.0, maximum=100.0)
    joint_axis: int = param(_JOY.joint_axis, 'Joint mode: the Joy axis driving the selected '
                            'joint', minimum=0, maximum=127)
    joint_speed: float = param(_JOY.joint_speed, 'Joint mode: full-deflection speed of the '
                               'selected joint; negative inverts', unit='rad/s', minimum=-20.0,
                               maximum=20.0)
    next_joint_button: int = param(_JOY.next_joint_button, 'Joint mode: button selecting the '
                                   'next joint (toward the tip, wrapping); -1: none',
                                   minimum=-1, maximum=127)
    previous_joint_button: int = param(_JOY.previous_joint_button, 'Joint mode: button '
                                       'selecting the previous joint; -1: none', minimum=-1,
                                       maximum=127)
    gripper_joints: tuple[str, ...] = param(('',), "The gripper's commanded joints (URDF "
                                            "names; mimic joints follow); [''] for no "
                                            'gripper')
    gripper_open_button: int = param(_JOY.gripper_open_button, 'Button index opening the '
                                     'gripper during a takeover; -1: none', minimum=-1,
                                     maximum=127)
    gripper_close_button: int = param(_JOY.gripper_close_button, 'Button index closing the '
                                      'gripper during a takeover; -1: none', minimum=-1,
                                      maximum=127)
    output: str = param('forward', 'Command output: forward (Float64MultiArray for a '
                        'forward_command_controller), trajectory (JointTrajectory) or both',
                        choices=OUTPUTS)
    teleop_horizon_s: float = param(0.0, 'Time the stick speed is integrated over from the '
                                    'measured position; 0 means 1 / rate_hz. Set it to the '
                                    "arm's joint_states period when rate_hz is higher",
                                    unit='s', minimum=0.0, maximum=10.0)
    intervention_rate_hz: float = param(5.0, 'Steady republish rate of imitation/intervention '
                                        'and imitation/help_request (changes are published '
                                        'at once)', unit='Hz', minimum=0.1, maximum=100.0)
    beta: float = param(0.0, 'DAgger beta-mixing: probability that the decisions made from a '
                        'policy action execute the fresh expert action (imitation/'
                        'expert_action) instead; one draw per policy action. Settable at run '
                        'time', unit='probability', minimum=0.0, maximum=1.0, read_only=False)
    beta_seed: int = param(0, 'Seed of the beta draws', minimum=0, maximum=2 ** 31 - 1)
    expert_timeout_s: float = param(0.25, 'An expert action older than this is not executed '
                                    '(the policy action is, with a warning)', unit='s',
                                    minimum=0.001, maximum=60.0)
    help_threshold: float = param(0.0, 'Policy doubt (imitation/uncertainty) above which the '
                                  'gate holds and publishes imitation/help_request; 0 '
                                  'disables. Calibrate it with imitation-ros calibrate-help',
                                  unit="the policy's doubt units", minimum=0.0, maximum=1e12)
    risk_threshold: float = param(0.0, 'Policy risk (imitation/risk) above which the gate '
                                  'holds and publishes imitation/help_request; 0 disables. '
                                  'Calibrate it with imitation-ros calibrate-help --budget',
                                  unit='probability', minimum=0.0, maximum=1.0)
    uncertainty_timeout_s: float = param(0.25, 'A doubt or risk older than this is unknown: it '
                                         'neither raises nor clears a help request', unit='s',
                                         minimum=0.001, maximum=60.0)
    help_release_s: float = param(0.5, 'A help request clears when the deadman is pressed, or '
                                  'after every fresh doubt and risk stayed at or below its '
                                  'threshold this long', unit='s', minimum=0.0, maximum=60.0)
    help_until_calm: bool = param(False, 'Keep a help request answered by the deadman raised '
                                  'while the human drives, until doubt and risk calmed for '
                                  'help_release_s (robot-gated: the operator hands back '
                                  'then); false: the deadman ends it at once')
    forward_on_action: bool = param(False, 'Also decide and publish at once when a valid policy '
                                    'action arrives (not only at the next tick), so the '
                                    'action reaches the arm up to one gate period sooner')

    def __post_init__(self) -> None:
        super().__post_init__()
        if len(set(self.gripper_names)) != len(self.gripper_names):
            raise ConfigError(f'parameter gripper_joints names a joint twice: '
                              f'{list(self.gripper_joints)}')
        self.joy_config()  # checked now: a start-up error must not wait for the robot

    @property
    def gripper_names(self) -> tuple[str, ...]:
        """Return the gripper joints (empty entries dropped: no gripper when none is left)."""
        return tuple(name for name in self.gripper_joints if name)

    def joy_config(self) -> JoyConfig:
        """
        Return the gamepad mapping.

        :raises ConfigError: clashing buttons or an inconsistent stick mapping.
        """
        names = [f.name for f in fields(JoyConfig)]
        return JoyConfig(**{name: getattr(self, name) for name in names})

    def _gate_values(self) -> dict[str, Any]:
        return dict(rate_hz=self.rate_hz, cmd_timeout_s=self.cmd_timeout_s,
                    joy_timeout_s=self.joy_timeout_s, state_timeout_s=self.state_timeout_s,
                    max_joint_step=self.max_joint_step, limit_margin=self.limit_margin,
                    teleop_horizon_s=self.teleop_horizon_s, beta=self.beta,
                    beta_seed=self.beta_seed, expert_timeout_s=self.expert_timeout_s,
                    help_threshold=self.help_threshold,
                    risk_threshold=self.risk_threshold,
                    uncertainty_timeout_s=self.uncertainty_timeout_s,
                    help_release_s=self.help_release_s,
                    help_until_calm=self.help_until_calm)

    def gate_config(self, robot: RobotModel) -> GateConfig:
        """
        Return the arbiter's configuration for ``robot``.

        :raises ConfigError: the mapping or the gripper does not fit the robot, or the
            limits leave no room for limit_margin.
        """
        gripper = None
        if self.gripper_names:
            gripper = GripperModel.from_urdf(robot.urdf, self.gripper_names)
            shared = set(gripper.joint_names) & set(robot.joint_names)
            if shared:
                raise ConfigError(f'gripper_joints {sorted(shared)} are joints of the arm chain '
                                  f'{robot.base_link} -> {robot.tip_link}; name the finger '
                                  'joints, or end the chain before the gripper')
        return GateConfig(robot=robot, joy=self.joy_config(), gripper=gripper,
                          **self._gate_values())


class InterventionGateNode(Node):
    """
    The intervention gate as a ROS 2 node (node name ``intervention_gate``).

    :param kwargs: passed to ``rclpy.node.Node`` (``parameter_overrides``,
        ``context``, ``namespace``...).
    :raises ConfigError: a parameter is invalid, or the robot description given by
        parameter is unusable (the node is destroyed first). One from the topic
        raises from the callback that finds out (``main`` then exits 1).
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(NODE_NAME, **kwargs)
        self.robot: Optional[RobotModel] = None
        self.arbiter: Optional[Arbiter] = None
        try:
            self.params = declare_and_read(self, GateParams)
            robot = self.params.robot_from_parameters()
            if robot is not None:
                self._set_robot(robot)
        except ConfigError:
            self.destroy_node()
            raise
        p = self.params
        self._step = Duration(seconds=1.0 / p.rate_hz).to_msg()
        self._model_version = ''
        # Header stamp (ns) of the joint state the arbiter measures from: gate_state names
        # it, so recorded commands pair with the state they were decided at.
        self._state_stamp_ns: Optional[int] = None
        self._intervention = False
        self._help = False
        self._last: Optional[GateOutput] = None
        self._rejected_states = 0
        self._internal_errors = 0
        self._modes: Counter = Counter()
        self._reported = {'malformed_joy': 0, 'rejected_joint_states': 0,
                          'invalid_policy_actions': 0, 'invalid_expert_actions': 0,
                          'invalid_uncertainties': 0, 'invalid_risks': 0,
                          'internal_errors': 0}
        self._stamps: dict[str, Optional[float]] = {'joint_state': None, 'policy_action': None,
                                                    'joy': None, 'expert_action': None,
                                                    'uncertainty': None, 'risk': None}
        self._joint_shown = -1

        self._forward_pub = None
        self._trajectory_pub = None
        self._gripper_pub = None
        if p.output in ('forward', 'both'):
            self._forward_pub = self.create_publisher(Float64MultiArray, topics.COMMANDS.name,
                                                      COMMAND_PUB_QOS)
        if p.output in ('trajectory', 'both'):
            self._trajectory_pub = self.create_publisher(JointTrajectory, topics.TRAJECTORY.name,
                                                         COMMAND_PUB_QOS)
        if p.gripper_names:
            self._gripper_pub = self.create_publisher(
                Float64MultiArray, topics.GRIPPER_COMMANDS.name, COMMAND_PUB_QOS)
        self._intervention_pub = self.create_publisher(Bool, topics.INTERVENTION.name,
                                                       STATE_PUB_QOS)
        self._help_pub = self.create_publisher(Bool, topics.HELP_REQUEST.name, STATE_PUB_QOS)
        self._state_pub = self.create_publisher(String, topics.GATE_STATE.name, STATE_PUB_QOS)
        self._diag_pub = self.create_publisher(DiagnosticArray, topics.DIAGNOSTICS.name,
                                               DIAGNOSTICS_QOS)
        self._robot_source = (RobotSource(self, p, self._set_robot) if self.robot is None
                              else None)
        self.create_subscription(JointState, topics.JOINT_STATES.name, self._on_joint_state,
                                 STATE_QOS)
        # Created before the policy action's: when both are waiting, the executor takes the
        # doubt first, so a doubtful action is held rather than forwarded once.
        self.create_subscription(Float64, topics.UNCERTAINTY.name, self._on_uncertainty,
                                 STATE_QOS)
        self.create_subscription(Float64, topics.RISK.name, self._on_risk, STATE_QOS)
        self.create_subscription(Float64MultiArray, topics.POLICY_ACTION.name,
                                 self._on_policy_action, STATE_QOS)
        self.create_subscription(Float64MultiArray, topics.EXPERT_ACTION.name,
                                 self._on_expert_action, STATE_QOS)
        self.create_subscription(Joy, topics.JOY.name, self._on_joy, STATE_QOS)
        self.create_subscription(String, topics.MODEL_VERSION.name, self._on_model_version,
                                 MODEL_QOS)

        self.create_timer(1.0 / p.rate_hz, self._on_tick)
        self.create_timer(1.0 / p.intervention_rate_hz, self._on_intervention_timer)
        self.create_timer(DIAGNOSTICS_PERIOD_S, self._on_diagnostics)
        # Registered after the parameters are declared: only run-time changes reach it.
        self.add_on_set_parameters_callback(self._on_set_parameters)
        asks = [f'doubt > {p.help_threshold:g}'] if p.help_threshold > 0 else []
        asks += [f'risk > {p.risk_threshold:g}'] if p.risk_threshold > 0 else []
        help_text = f'help requests on {" or ".join(asks)}' if asks else 'help requests off'
        self.get_logger().info(
            f'intervention_gate running at {p.rate_hz:g} Hz, output {p.output}, '
            f'{p.teleop_mode} teleop, deadman button {p.enable_button}, e-stop '
            f'{p.estop_button}, reset {p.reset_button}, beta {p.beta:g}, {help_text}')

    # --- the robot ----------------------------------------------------------------------

    def _set_robot(self, robot: RobotModel) -> None:
        """Build the arbiter for ``robot``; raises ConfigError when the settings do not fit."""
        p = self.params
        try:
            config = p.gate_config(robot)
        except ConfigError as exc:
            raise ConfigError(f'the gate settings do not fit the robot {robot.name or ""} '
                              f'({robot.n_joints} joints {list(robot.joint_names)}): {exc}'
                              ) from None
        self.robot = robot
        self.arbiter = Arbiter(config)
        if self.has_parameter('beta'):  # a run-time change before the robot came
            self.arbiter.set_beta(self.get_parameter('beta').value)
        self._label = ','.join(robot.joint_names)
        self._gripper_label = ('' if config.gripper is None
                               else ','.join(config.gripper.joint_names))
        joy = config.joy
        teleop = (f'joint teleop on axis {joy.joint_axis}' if joy.teleop_mode == 'joint' else
                  f'cartesian teleop of {list(joy.cartesian_task)}, null space '
                  f'{joy.null_space}, elbow axis '
                  f'{joy.elbow_axis if joy.elbow_used(robot.n_joints) else "unused"}')
        gripper = (f'gripper {list(config.gripper.joint_names)}' if config.gripper is not None
                   else 'no gripper')
        self.get_logger().info(
            f'robot {robot.name or "(unnamed)"}: chain {robot.base_link} -> {robot.tip_link}, '
            f'joints {list(robot.joint_names)}, {teleop}, {gripper}')

    def _now(self) -> float:
        """Return the node clock's time in seconds."""
        return self.get_clock().now().nanoseconds * 1e-9

    # --- inputs -----------------------------------------------------------------------

    def _on_joint_state(self, msg: JointState) -> None:
        """Measured positions of the chain's joints; a message lacking them counts as no state."""
        if self.arbiter is None or self.robot is None:
            return  # no robot yet: nothing to measure
        try:
            q = joint_positions(msg, self.robot.joint_names)
        except ImitationError as exc:
            self._rejected_states += 1
            self.get_logger().warning(f'ignoring joint_states: {exc}',
                                      throttle_duration_sec=WARN_THROTTLE_S)
            return
        now = self._now()
        if self.arbiter.on_joint_state(q, now):
            self._stamps['joint_state'] = now
            self._state_stamp_ns = stamp_to_ns(msg.header.stamp.sec, msg.header.stamp.nanosec)

    def _on_policy_action(self, msg: Float64MultiArray) -> None:
        """Hand the action to the arbiter as it is: it holds on an invalid one."""
        if self.arbiter is None or self.robot is None:
            return
        now = self._now()
        try:
            values: Any = np.asarray(msg.data, dtype=np.float64)[int(msg.layout.data_offset):]
        except (TypeError, ValueError) as exc:
            values = f'unreadable: {exc}'
        if self.arbiter.on_policy_action(values, now, self._model_version):
            self._stamps['policy_action'] = now
            if self.params.forward_on_action and not self.arbiter.human_in_control(now):
                # Waiting for the timer would add up to a period between the policy's
                # decision and the arm: the arm may step on the previous command.
                self._on_tick()
            return
        n = self.robot.n_joints
        self.get_logger().warning(
            f'invalid action on imitation/policy_action, holding: expected {n} finite joint '
            f'targets in rad (order {list(self.robot.joint_names)}), got '
            f'{list(msg.data)[:2 * n]}{" ..." if len(msg.data) > 2 * n else ""}',
            throttle_duration_sec=WARN_THROTTLE_S)

    def _on_expert_action(self, msg: Float64MultiArray) -> None:
        """Hand the expert's action to the arbiter; an invalid one holds when drawn."""
        if self.arbiter is None:
            return
        now = self._now()
        try:
            values: Any = np.asarray(msg.data, dtype=np.float64)[int(msg.layout.data_offset):]
        except (TypeError, ValueError) as exc:
            values = f'unreadable: {exc}'
        if self.arbiter.on_expert_action(values, now):
            self._stamps['expert_action'] = now
            return
        self.get_logger().warning(
            f'invalid action on imitation/expert_action: expected '
            f'{self.arbiter.config.n_joints} finite joint targets in rad; holding whenever '
            'beta draws the expert', throttle_duration_sec=WARN_THROTTLE_S)

    def _on_uncertainty(self, msg: Float64) -> None:
        """Hand the policy's doubt to the arbiter; a help request is announced at once."""
        if self.arbiter is None:
            return
        now = self._now()
        if not self.arbiter.on_uncertainty(msg.data, now):
            self.get_logger().warning(
                f'non-finite doubt {msg.data} on imitation/uncertainty: counted as infinite',
                throttle_duration_sec=WARN_THROTTLE_S)
        self._stamps['uncertainty'] = now
        self._set_help(self.arbiter.help_requested(now))

    def _on_risk(self, msg: Float64) -> None:
        """Hand the policy's risk to the arbiter; a help request is announced at once."""
        if self.arbiter is None:
            return
        now = self._now()
        if not self.arbiter.on_risk(msg.data, now):
            self.get_logger().warning(
                f'non-finite risk {msg.data} on {topics.RISK.name}: counted as infinite',
                throttle_duration_sec=WARN_THROTTLE_S)
        self._stamps['risk'] = now
        self._set_help(self.arbiter.help_requested(now))

    def _on_set_parameters(self, params: list[Parameter]) -> SetParametersResult:
        """
        Check and apply a run-time change of beta (a double in [0, 1]).

        Our other parameters are read-only (rclpy refuses them before this
        callback); rclpy's own (use_sim_time) are left to rclpy.
        """
        betas = [item for item in params if item.name == 'beta']
        for item in betas:
            if item.type_ != Parameter.Type.DOUBLE:
                return SetParametersResult(
                    successful=False, reason='beta must be a double in [0, 1], e.g. 0.25')
            try:
                check_beta(item.value)
            except ConfigError as exc:
                return SetParametersResult(successful=False, reason=str(exc))
        for item in betas:
            if self.arbiter is None:
                # No robot yet: the arbiter takes the parameter's value when it is built.
                self.get_logger().info(f'beta set to {item.value:g}')
                continue
            old = self.arbiter.beta
            self.arbiter.set_beta(item.value)
            self.get_logger().info(f'beta changed from {old:g} to {self.arbiter.beta:g}')
        return SetParametersResult(successful=True)

    def _on_joy(self, msg: Joy) -> None:
        """Read the gamepad field by field; every readable field acts (the arbiter counts)."""
        if self.arbiter is None:
            return  # no robot yet: no takeover of what is not there
        joy = parse_joy(msg.axes, msg.buttons, self.arbiter.config.joy,
                        stamp_to_sec(msg.header.stamp))
        if not joy.well_formed:
            self.get_logger().warning(
                f'malformed Joy: {"; ".join(joy.problems)}. A readable e-stop press still '
                'latches; unreadable axes or deadman hold the arm during a takeover',
                throttle_duration_sec=WARN_THROTTLE_S)
        now = self._now()
        self._stamps['joy'] = now
        self.arbiter.on_joy(joy, now)
        self._show_joint()
        # A takeover (or its end, or an e-stop) is announced at once, not at the next tick.
        self._set_intervention(self.arbiter.human_in_control(now))
        self._set_help(self.arbiter.help_requested(now))

    def _on_model_version(self, msg: String) -> None:
        """Remember the policy's model version for gate_state and diagnostics."""
        self._model_version = str(msg.data)

    # --- outputs ----------------------------------------------------------------------

    def _on_tick(self) -> None:
        """One control period: ask the arbiter, publish the command and its explanation."""
        if self.arbiter is None:
            return  # no robot description yet: no command is safe
        now = self._now()
        try:
            out = self.arbiter.tick(now)
        except Exception as exc:  # noqa: B902 - a crashed gate is silent; a hold is safer
            self._internal_errors += 1
            self.get_logger().error(f'arbiter failed, holding: {exc!r}',
                                    throttle_duration_sec=WARN_THROTTLE_S)
            out = self._fallback_hold(repr(exc))
        if out is None:
            self._set_intervention(self.arbiter.human_in_control(now))
            self._set_help(self.arbiter.help_requested(now))
            return
        if out.mode is GateMode.POLICY and out.reason:
            # The draw said expert but none was fresh (see the arbiter's reason).
            self.get_logger().warning(out.reason, throttle_duration_sec=WARN_THROTTLE_S)
        self._last = out
        self._modes[out.mode.value] += 1
        self._publish_command(out.command)
        if out.gripper is not None and self._gripper_pub is not None:
            self._gripper_pub.publish(array_msg(out.gripper, self._gripper_label))
        doubt, risk = self.arbiter.uncertainty, self.arbiter.risk
        state = {'source': out.source, 'mode': out.mode.value, 'reason': out.reason,
                 'model_version': out.model_version or self._model_version,
                 'estop': out.estop, 'clamped': out.clamped,
                 'intervention': out.intervention, 'help_request': out.help_request,
                 'uncertainty': doubt if doubt is not None and np.isfinite(doubt) else None,
                 'risk': risk if risk is not None and np.isfinite(risk) else None,
                 'beta': self.arbiter.beta, 'stamp': now,
                 'state_stamp': self._state_stamp_ns,
                 'command': [float(v) for v in out.command],
                 'joint': self._selected_joint_name(),
                 'gripper': None if out.gripper is None else [float(v) for v in out.gripper]}
        self._state_pub.publish(String(data=json.dumps(state)))
        self._set_intervention(out.intervention)
        self._set_help(out.help_request)

    def _fallback_hold(self, why: str) -> Optional[GateOutput]:
        """Hold at the last measured positions when the arbiter itself failed."""
        q = self.arbiter.measured
        if q is None:
            return None
        cfg = self.arbiter.config
        command, changed = safe_command(q, q, cfg.robot.lower, cfg.robot.upper,
                                        max_step=cfg.max_joint_step, margin=cfg.limit_margin)
        return GateOutput(command=command, source='hold', mode=GateMode.HOLD_INTERNAL_ERROR,
                          reason=f'internal error, holding: {why}', intervention=False,
                          model_version=self._model_version, estop=self.arbiter.estop,
                          clamped=changed)

    def _publish_command(self, command: np.ndarray) -> None:
        """Send the command on the configured outputs."""
        if self._forward_pub is not None:
            self._forward_pub.publish(array_msg(command, self._label))
        if self._trajectory_pub is not None:
            point = JointTrajectoryPoint(positions=[float(v) for v in command],
                                         time_from_start=self._step)
            # A zero header stamp means "start now" to joint_trajectory_controller.
            self._trajectory_pub.publish(JointTrajectory(joint_names=list(self._label.split(',')),
                                                         points=[point]))

    def _selected_joint_name(self) -> str:
        """Return the joint the joint mode drives ('' in cartesian mode)."""
        if self.arbiter is None or self.robot is None or self.params.teleop_mode != 'joint':
            return ''
        return self.robot.joint_names[self.arbiter.selected_joint]

    def _show_joint(self) -> None:
        """Log the joint the joint mode drives when the buttons select another."""
        name = self._selected_joint_name()
        if name and self.arbiter is not None and self.arbiter.selected_joint != self._joint_shown:
            self._joint_shown = self.arbiter.selected_joint
            self.get_logger().info(f'joint mode drives {name}')

    def _set_intervention(self, value: bool) -> None:
        """Publish imitation/intervention at once when it changes."""
        if value != self._intervention:
            self._intervention = value
            self._intervention_pub.publish(Bool(data=value))

    def _set_help(self, value: bool) -> None:
        """Publish imitation/help_request at once when it changes, and log it."""
        if value != self._help:
            self._help = value
            self._help_pub.publish(Bool(data=value))
            if value:
                self.get_logger().warning(
                    f'policy asks for help ({self.arbiter.help_cause}): holding until a human '
                    'takes over')
            else:
                self.get_logger().info('help request cleared')

    def _on_intervention_timer(self) -> None:
        """Republish the intervention and help flags so late joiners and recorders stay in sync."""
        self._intervention_pub.publish(Bool(data=self._intervention))
        self._help_pub.publish(Bool(data=self._help))

    def _on_diagnostics(self) -> None:
        """Publish the gate's health on /diagnostics."""
        now = self._now()
        if self.arbiter is None:
            source = self._robot_source
            status = diagnostic_status(
                f'{self.get_name()}: arbitration', DIAG_ERROR,
                f'{source.waiting()}: not commanding',
                {'mode': 'no_robot_description', 'robot_description_topic': source.topic,
                 'waited_s': source.waited_s()}, hardware_id=self.get_fully_qualified_name())
            self._diag_pub.publish(diagnostic_array([status], self.get_clock().now().to_msg()))
            return
        counts = dict(self.arbiter.counts)
        counts.update(
            rejected_joint_states=self._rejected_states + counts.pop('rejected_joint_states', 0),
            internal_errors=self._internal_errors)
        new = {k: counts[k] - self._reported[k] for k in self._reported}
        self._reported = {k: counts[k] for k in self._reported}
        last = self._last
        ages = {f'{k}_age_s': ('never' if t is None else now - t) for k, t in self._stamps.items()}
        doubt = self.arbiter.uncertainty
        values: dict[str, Any] = {
            'mode': last.mode.value if last else 'no_joint_state',
            'source': last.source if last else 'none',
            'reason': last.reason if last else '',
            'intervention': self._intervention, 'estop': self.arbiter.estop,
            'help_request': self._help, 'beta': self.arbiter.beta,
            'uncertainty': 'never' if doubt is None else doubt,
            'help_threshold': self.params.help_threshold,
            'risk': 'never' if self.arbiter.risk is None else self.arbiter.risk,
            'risk_threshold': self.params.risk_threshold,
            'model_version': self._model_version, 'modes_since_last_report': dict(self._modes),
            **ages, **counts, 'rate_hz': self.params.rate_hz, 'output': self.params.output,
            'robot': self.robot.name if self.robot else '', 'joints': self._label,
            'selected_joint': self._selected_joint_name()}
        self._modes = Counter()
        level, message = self._health(last, new)
        status = diagnostic_status(f'{self.get_name()}: arbitration', level, message, values,
                                   hardware_id=self.get_fully_qualified_name())
        self._diag_pub.publish(diagnostic_array([status], self.get_clock().now().to_msg()))

    def _health(self, last: Optional[GateOutput], new: dict[str, int]) -> tuple[int, str]:
        """Diagnostic level and message from the current mode and new rejections."""
        if not self.arbiter.has_state:
            return DIAG_ERROR, (f'no joint state yet on joint_states with joints '
                                f'{self._label.split(",")}: not commanding')
        if self.arbiter.estop:
            return DIAG_ERROR, 'e-stop latched: holding'
        if new['internal_errors']:
            return DIAG_ERROR, f'{new["internal_errors"]} internal errors: holding'
        if last is not None and last.mode is GateMode.HOLD_HELP:
            return DIAG_WARN, f'help requested: {last.reason}'
        if last is not None and (last.mode in STALE_MODES or last.mode in INVALID_MODES):
            return DIAG_WARN, f'holding: {last.reason}'
        rejected = {k: v for k, v in new.items() if v}
        if rejected:
            return DIAG_WARN, 'rejected input: ' + ', '.join(f'{v} {k}'
                                                             for k, v in rejected.items())
        if last is not None and last.mode is GateMode.HUMAN:
            return DIAG_OK, 'human in control'
        if last is not None and last.mode is GateMode.EXPERT:
            return DIAG_OK, f'expert in control (beta {self.arbiter.beta:g})'
        if self.params.help_threshold > 0 and not self.arbiter.doubt_fresh(self._now()):
            return DIAG_WARN, ('help_threshold is set but no fresh doubt on '
                               'imitation/uncertainty: help requests cannot be raised')
        return DIAG_OK, 'policy in control'


def main(args: list[str] | None = None) -> int:
    """Run the gate until shut down; return 1 (after logging why) on a bad parameter."""
    return spin_node(InterventionGateNode, NODE_NAME, args)


if __name__ == '__main__':
    sys.exit(main())
