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
The ground floor every layer may import: robot model, task layouts, topics, model format.

Nothing here imports another part of imitation_ros (but its one exception hierarchy)
nor ROS: the nodes, the core and the tools agree on these facts by importing them.
"""

from . import model_format, topics
from .robot import GripperModel, MAX_URDF_BYTES, parse_urdf_joints, RobotModel, UrdfJoint
from .task import PLANAR_TASK_LAYOUT
from .topics import Topic

__all__ = ['GripperModel', 'MAX_URDF_BYTES', 'parse_urdf_joints', 'PLANAR_TASK_LAYOUT',
           'RobotModel', 'model_format', 'Topic', 'topics', 'UrdfJoint']
