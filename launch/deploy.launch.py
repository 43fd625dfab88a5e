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
Deploy a trained policy.

The policy node and the intervention gate (plus the simulated arm with
use_sim:=true). No recording, no retraining.

    ros2 launch imitation_ros deploy.launch.py model:=models/policy_v003.onnx use_sim:=false
"""

from imitation_ros.bringup.launch_description import build


def generate_launch_description():
    """Return the deploy graph with its launch arguments."""
    return build('deploy')
