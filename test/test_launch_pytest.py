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

"""launch_pytest: the deploy graph starts and the gate commands the simulated arm."""

import pytest

launch_pytest = pytest.importorskip(
    'launch_pytest', reason='launch_pytest comes with a ROS 2 install, not with PyPI')
launch_ros = pytest.importorskip('launch_ros', reason='launch_ros comes with a ROS 2 install')


@launch_pytest.fixture
def deploy():
    """Launch deploy.launch.py with the simulated arm, then signal ready."""
    from launch import LaunchDescription
    from launch.actions import IncludeLaunchDescription
    from launch.launch_description_sources import PythonLaunchDescriptionSource
    from launch.substitutions import PathJoinSubstitution
    from launch_ros.substitutions import FindPackageShare
    source = PythonLaunchDescriptionSource(PathJoinSubstitution(
        [FindPackageShare('imitation_ros'), 'launch', 'deploy.launch.py']))
    return LaunchDescription([IncludeLaunchDescription(source, launch_arguments={
        'use_sim': 'true'}.items()), launch_pytest.actions.ReadyToTest()])


@pytest.mark.launch(fixture=deploy)
def test_gate_commands_the_arm() -> None:
    """Within a few seconds the gate publishes commands (a hold, with no model loaded)."""
    import rclpy
    from std_msgs.msg import Float64MultiArray
    rclpy.init()
    node = rclpy.create_node('launch_probe')
    got = []
    node.create_subscription(Float64MultiArray, 'forward_position_controller/commands',
                             got.append, 10)
    try:
        for _ in range(200):
            rclpy.spin_once(node, timeout_sec=0.05)
            if got:
                break
        assert got, 'the gate published no command'
    finally:
        node.destroy_node()
        rclpy.shutdown()
