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
Run the DAgger loop.

The policy runs, the expert labels every state the arm visits, and the gate
executes the expert's action instead of the policy's with probability beta per
control decision (the mixture policy; beta:=0.0 is pure DAgger). Every
episode is recorded with its expert labels and retrained on, and the policy
hot-reloads. Set beta per round on the running gate, e.g. on DAgger's schedule
beta_i = 0.5^(i+1): ros2 param set /intervention_gate beta 0.25

With use_sim:=true (default) the simulated arm stands in for the robot and the
scripted demonstrator is the expert; with use_sim:=false a robot driver
(ros2_control forward_position_controller) is expected to be running, and a
planner-backed expert node can replace the scripted one.

    ros2 launch imitation_ros dagger.launch.py policy:=gmm model:=models/policy_v001.onnx beta:=0.5
"""

from imitation_ros.bringup.launch_description import build


def generate_launch_description():
    """Return the dagger graph with its launch arguments."""
    return build('dagger')
