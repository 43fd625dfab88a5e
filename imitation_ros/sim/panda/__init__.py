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
A physics-simulated Franka Emika Panda arm with its gripper and a camera, in MuJoCo.

The ROS-free core behind a MuJoCo ``sim_arm`` backend and the studies: the
model (``model``), the two tasks and their sampling (``tasks``), the simulator
with the same shape of API as the planar arm (``sim``), the off-screen camera
(``camera``), observation helpers (``observe``), differential-IK demonstrators
(``experts``), rollouts (``rollout``) and the measurements (``bench``).
docs/panda.md describes the model, the tasks and the measured numbers.
"""

__all__ = ['bench', 'camera', 'errors', 'experts', 'gl', 'headless', 'interface', 'kinematics',
           'model', 'observe', 'operator', 'picture', 'rollout', 'sim', 'tasks']
