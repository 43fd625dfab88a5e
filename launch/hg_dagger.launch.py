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
Run the HG-DAgger loop.

The policy runs, an operator takes over with the gamepad, every takeover is
recorded and retrained on, and the policy hot-reloads.

With use_sim:=true (default) the simulated arm and the simulated operator stand in
for the robot and the human; with use_sim:=false, joy_node reads the gamepad and a
robot driver (ros2_control forward_position_controller) is expected to be running.

    ros2 launch imitation_ros hg_dagger.launch.py policy:=gmm model:=models/policy_v001.onnx
    ros2 launch imitation_ros hg_dagger.launch.py robot:=panda   # the MuJoCo Panda
"""

from imitation_ros.bringup.launch_description import build


def generate_launch_description():
    """Return the hg_dagger graph with its launch arguments."""
    return build('hg_dagger')
