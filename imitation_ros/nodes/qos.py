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
The QoS profiles of every imitation_ros topic, and why.

ROS 2 only connects a publisher and a subscription whose QoS are compatible:
a RELIABLE subscription never hears a BEST_EFFORT publisher, and a
TRANSIENT_LOCAL subscription never hears a VOLATILE publisher. So each profile
here is chosen to match the other side it meets in practice (ros2_control,
``joy_node``, camera drivers, ``ros2 bag record``, ``ros2 topic echo``):

========================================  =========================  ==========================
topic                                     publisher                  subscription
========================================  =========================  ==========================
``/joint_states``, ``/imitation/task``,   :data:`STATE_PUB_QOS`      :data:`STATE_QOS`
``/joy``, commands, actions,
``/imitation/intervention``
``/camera/image_raw``                     :data:`IMAGE_PUB_QOS`      :data:`IMAGE_SUB_QOS`
``/imitation/episode``                    :data:`EPISODE_QOS`        :data:`EPISODE_QOS` (or
                                                                     :data:`EPISODE_LIVE_QOS`)
``/imitation/model``                      :data:`MODEL_QOS`          :data:`MODEL_QOS`
``/diagnostics``                          :data:`DIAGNOSTICS_QOS`    --
========================================  =========================  ==========================

``/robot_description`` uses :data:`ROBOT_DESCRIPTION_QOS` on both sides.
"""

from __future__ import annotations

from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy

#: Joint states, task, joystick, commands and actions: reliable, volatile, keep last 10.
#: The ROS 2 default profile, which ros2_control's joint_state_broadcaster and
#: forward_command_controller, joy_node, ``ros2 topic echo`` and ``ros2 bag record``
#: all match; on one machine reliable costs nothing and no command is silently
#: dropped. Depth 10 absorbs a short executor stall; a control loop only ever
#: uses the newest message.
STATE_QOS = QoSProfile(depth=10, history=HistoryPolicy.KEEP_LAST,
                       reliability=ReliabilityPolicy.RELIABLE,
                       durability=DurabilityPolicy.VOLATILE)

#: Commands to the arm: the same profile as :data:`STATE_QOS` (a ros2_control
#: forward_command_controller subscribes reliable, depth 10).
COMMAND_QOS = STATE_QOS

#: The nodes' publishers of joint states, task, joystick, commands, actions and gate
#: state: :data:`STATE_QOS` with a writer history of 2000. The depth is what a reliable
#: subscriber that fell behind (a recorder writing a camera frame on a loaded machine)
#: can still fetch when it asks for a repair, which Fast DDS's writer offers once per
#: heartbeat (3 s by default): 4 s at 500 Hz. Measured at 500 Hz joint states, task,
#: commands and gate state with a 30 Hz 640x480 camera (results/recorder): depth 10
#: lost 120 of 20,300, depth 500 1-4, depth 2000 none. It only costs memory and never
#: makes a reader old: the control nodes subscribe with depth 10 and use the newest
#: message. QoS matching ignores depth.
STATE_PUB_QOS = QoSProfile(depth=2000, history=HistoryPolicy.KEEP_LAST,
                           reliability=ReliabilityPolicy.RELIABLE,
                           durability=DurabilityPolicy.VOLATILE)

#: Commands as the gate publishes them (:data:`STATE_PUB_QOS`).
COMMAND_PUB_QOS = STATE_PUB_QOS

#: Camera images as sim_arm publishes them: reliable, keep last 10. Reliable so
#: ``ros2 bag record`` and rqt_image_view (reliable by default) receive them; 10
#: frames (a third of a second at 30 Hz) so a recorder that fell behind still gets
#: them (depth 2 lost 8 of 300 640x480 frames at 30 Hz under load), while a policy
#: subscribes best effort, depth 1, and only ever sees the newest.
IMAGE_PUB_QOS = QoSProfile(depth=10, history=HistoryPolicy.KEEP_LAST,
                           reliability=ReliabilityPolicy.RELIABLE,
                           durability=DurabilityPolicy.VOLATILE)

#: Camera images as a policy subscribes to them: best effort, keep last 1. Best
#: effort matches both reliable publishers and real camera drivers that publish
#: with the sensor-data profile (best effort); only the newest frame matters.
IMAGE_SUB_QOS = QoSProfile(depth=1, history=HistoryPolicy.KEEP_LAST,
                           reliability=ReliabilityPolicy.BEST_EFFORT,
                           durability=DurabilityPolicy.VOLATILE)

#: Episode events (JSON start / end): reliable, transient_local, keep last 50.
#: Every event matters (a lost "end" leaves a bag open), so reliable with a deep
#: queue. Transient local because sim_arm publishes the first "start" right at
#: start-up, before the recorder and trainer launched beside it have matched:
#: they still get it when they join. A late joiner with this profile also gets
#: up to 50 older events, so consumers must key on the ``episode`` number (and
#: ignore events of episodes they already handled); a consumer that wants only
#: live events uses :data:`EPISODE_LIVE_QOS`, which is compatible.
EPISODE_QOS = QoSProfile(depth=50, history=HistoryPolicy.KEEP_LAST,
                         reliability=ReliabilityPolicy.RELIABLE,
                         durability=DurabilityPolicy.TRANSIENT_LOCAL)

#: Episode events, live only: a volatile subscription to the same topic.
EPISODE_LIVE_QOS = QoSProfile(depth=50, history=HistoryPolicy.KEEP_LAST,
                              reliability=ReliabilityPolicy.RELIABLE,
                              durability=DurabilityPolicy.VOLATILE)

#: The newest model path (trainer to policy): reliable, transient_local, keep last 1.
#: A latched topic: a policy started (or restarted) after the trainer published
#: still gets the newest model at once, and never an older one.
MODEL_QOS = QoSProfile(depth=1, history=HistoryPolicy.KEEP_LAST,
                       reliability=ReliabilityPolicy.RELIABLE,
                       durability=DurabilityPolicy.TRANSIENT_LOCAL)

#: The robot's URDF (std_msgs/String): reliable, transient_local, keep last 1, as
#: robot_state_publisher publishes it (rclcpp::QoS(1).transient_local()), so a node
#: started after the publisher still gets the description at once.
ROBOT_DESCRIPTION_QOS = QoSProfile(depth=1, history=HistoryPolicy.KEEP_LAST,
                                   reliability=ReliabilityPolicy.RELIABLE,
                                   durability=DurabilityPolicy.TRANSIENT_LOCAL)

#: ``/diagnostics``: reliable, volatile, keep last 10 (the ROS 2 default), which
#: diagnostic_aggregator, rqt_robot_monitor and ``ros2 topic echo`` all match.
DIAGNOSTICS_QOS = QoSProfile(depth=10, history=HistoryPolicy.KEEP_LAST,
                             reliability=ReliabilityPolicy.RELIABLE,
                             durability=DurabilityPolicy.VOLATILE)
