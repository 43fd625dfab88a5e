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
Turn a node graph (:mod:`imitation_ros.bringup.graph`) into a LaunchDescription.

Needs ``launch`` and ``launch_ros`` (a ROS 2 install); imported only by the
launch files.
"""

from __future__ import annotations

from .graph import graph, launch_arguments


def build(name: str, *, extra_arguments: dict | None = None):
    """Return the LaunchDescription of graph ``name``: its arguments, then one Node per spec."""
    from launch import LaunchDescription
    from launch.actions import DeclareLaunchArgument
    from launch.conditions import IfCondition, UnlessCondition
    from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
    from launch_ros.actions import Node
    from launch_ros.substitutions import FindPackageShare

    arguments = {**launch_arguments(name), **(extra_arguments or {})}
    actions: list = [DeclareLaunchArgument(arg, default_value=default, description=text)
                     for arg, (default, text) in arguments.items()]
    use_sim = LaunchConfiguration('use_sim')
    for spec in graph(name):
        parameters: list = []
        if spec.params_file:
            parameters.append(PathJoinSubstitution(
                [FindPackageShare('imitation_ros'), 'config', spec.params_file]))
        overrides = {param: LaunchConfiguration(arg) for param, arg in spec.arguments.items()}
        overrides.update(spec.fixed)
        if overrides:
            parameters.append(overrides)
        condition = None
        if spec.when == 'sim':
            condition = IfCondition(use_sim)
        elif spec.when == 'real':
            condition = UnlessCondition(use_sim)
        actions.append(Node(package=spec.package, executable=spec.executable, name=spec.name,
                            parameters=parameters, condition=condition, output='screen',
                            emulate_tty=True))
    return LaunchDescription(actions)
