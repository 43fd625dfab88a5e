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
Record the first demonstrations by teleoperation.

The gate passes the gamepad through (there is no policy, so releasing the
deadman holds the arm) and the recorder writes one bag per episode with
source 'demo'.

    ros2 launch imitation_ros record_demos.launch.py use_sim:=false data_dir:=data
"""

from imitation_ros.bringup.launch_description import build


def generate_launch_description():
    """Return the record_demos graph with its launch arguments."""
    return build('record_demos')
