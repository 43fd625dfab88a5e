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
Every topic of imitation_ros, once: its name and message type.

Names are relative (no leading slash), so a node's namespace applies to them
(``/robot1/joint_states``) and they remap freely; ``/diagnostics`` is the one
absolute name, as ROS tools expect it there. Bags store the names a recorder
in the root namespace sees (:attr:`Topic.bag_name`). Nodes, the recorder, the
loader and the tests take names from here; no topic literal stands anywhere else.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Topic:
    """A topic: its name and message type."""

    name: str
    """Name as nodes create it: relative, or absolute for ``/diagnostics``."""
    type: str
    """Message type, ``package/msg/Name``."""
    doc: str = ''
    """What it carries, with units."""

    @property
    def bag_name(self) -> str:
        """Return the name in a bag recorded in the root namespace (leading slash)."""
        return self.name if self.name.startswith('/') else '/' + self.name


JOINT_STATE = 'sensor_msgs/msg/JointState'
IMAGE = 'sensor_msgs/msg/Image'
JOY_MSG = 'sensor_msgs/msg/Joy'
FLOAT64_ARRAY = 'std_msgs/msg/Float64MultiArray'
BOOL = 'std_msgs/msg/Bool'
FLOAT64 = 'std_msgs/msg/Float64'
STRING = 'std_msgs/msg/String'
JOINT_TRAJECTORY = 'trajectory_msgs/msg/JointTrajectory'
DIAGNOSTIC_ARRAY = 'diagnostic_msgs/msg/DiagnosticArray'

JOINT_STATES = Topic('joint_states', JOINT_STATE, 'measured joint positions (rad) and '
                     'velocities (rad/s), by joint name')
ROBOT_DESCRIPTION = Topic('robot_description', STRING, 'the URDF (transient local, as '
                          'robot_state_publisher publishes it)')
CAMERA_IMAGE = Topic('camera/image_raw', IMAGE, 'camera frames, rgb8')
TASK = Topic('imitation/task', FLOAT64_ARRAY, 'the task vector the policy conditions on '
             '(layout in layout.dim[0].label and in the model metadata)')
JOY = Topic('joy', JOY_MSG, 'the gamepad, as joy_node publishes it')
COMMANDS = Topic('forward_position_controller/commands', FLOAT64_ARRAY,
                 'absolute joint position targets (rad), joint_names order')
TRAJECTORY = Topic('joint_trajectory_controller/joint_trajectory', JOINT_TRAJECTORY,
                   'the same targets as one trajectory point one control period ahead')
GRIPPER_COMMANDS = Topic('gripper_controller/commands', FLOAT64_ARRAY,
                         'gripper joint position targets (m or rad)')
POLICY_ACTION = Topic('imitation/policy_action', FLOAT64_ARRAY,
                      "the policy's proposed absolute joint targets (rad)")
EXPERT_ACTION = Topic('imitation/expert_action', FLOAT64_ARRAY,
                      "the DAgger expert's label (rad), after the labelled state's stamp")
INTERVENTION = Topic('imitation/intervention', BOOL, 'true while the human drives the arm')
HELP_REQUEST = Topic('imitation/help_request', BOOL, 'true while the gate holds because the '
                     'policy asks for help')
UNCERTAINTY = Topic('imitation/uncertainty', FLOAT64, "the policy's doubt (novelty), one per "
                    'action')
RISK = Topic('imitation/risk', FLOAT64, "the policy's estimate of failing from this state, "
             'one per action (probability)')
GATE_STATE = Topic('imitation/gate_state', STRING, "the gate's decision per command (JSON)")
EPISODE = Topic('imitation/episode', STRING, 'episode start and end events (JSON, transient '
                'local)')
MODEL = Topic('imitation/model', STRING, 'path of the newest model (transient local)')
MODEL_VERSION = Topic('imitation/model_version', STRING, "the running policy's version "
                      '(transient local)')
POLICY_STATUS = Topic('imitation/policy_status', STRING, "the policy node's model events "
                      '(JSON)')
SHADOW_MODEL = Topic('imitation/shadow_model', STRING, 'path of a model to run in shadow')
SHADOW_ERROR = Topic('imitation/shadow_error', FLOAT64, 'distance between the shadow and '
                     'the running policy (rad)')
TRAINER_STATUS = Topic('imitation/trainer_status', STRING, "the trainer's jobs (JSON)")
FLEET_STATUS = Topic('imitation/fleet_status', STRING, "the fleet operator's queue: the "
                     'robot served, the robots waiting, per robot requests, waits and human '
                     'time (JSON)')
DIAGNOSTICS = Topic('/diagnostics', DIAGNOSTIC_ARRAY, 'health of every node')

#: Every topic, by name.
ALL: dict[str, Topic] = {t.name: t for t in (
    JOINT_STATES, ROBOT_DESCRIPTION, CAMERA_IMAGE, TASK, JOY, COMMANDS, TRAJECTORY,
    GRIPPER_COMMANDS, POLICY_ACTION, EXPERT_ACTION, INTERVENTION, HELP_REQUEST, UNCERTAINTY,
    RISK, GATE_STATE, EPISODE, MODEL, MODEL_VERSION, POLICY_STATUS, SHADOW_MODEL,
    SHADOW_ERROR, TRAINER_STATUS, FLEET_STATUS, DIAGNOSTICS)}

#: Every topic, by the name bags store it under.
BY_BAG_NAME: dict[str, Topic] = {t.bag_name: t for t in ALL.values()}


def node_name(bag_name: str) -> str:
    """
    Return the name a node subscribes to for the topic stored as ``bag_name``.

    A topic of the table gets its relative name, so a recorder in ``/robot1`` hears
    ``/robot1/joint_states`` and stores it as ``/joint_states``; any other name is kept.
    """
    topic = BY_BAG_NAME.get(bag_name)
    return topic.name if topic is not None else bag_name
