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
Run a fleet: several robots, one trainer, one operator who comes only when asked.

Robot i runs sim_arm, policy_node, intervention_gate and recorder in the namespace
/roboti (its bags under data_dir/roboti). One trainer in the root namespace reads every
robot's bags and publishes each new model on /imitation/model, which every robot's
policy node hears (remapped). One fleet_operator serves the robots' help requests
(the gate holds when the policy's doubt passes help_threshold), one robot at a time,
first come or highest doubt first. docs/fleet.md has the details.

    ros2 launch imitation_ros fleet.launch.py robots:=3 queue:=highest_doubt
"""

from imitation_ros.bringup.launch_description import build


def generate_launch_description():
    """Return the fleet graph with its launch arguments."""
    return build('fleet')
