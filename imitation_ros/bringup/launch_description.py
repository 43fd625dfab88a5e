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

Every launch argument is declared with its description and choices; its value is
converted to the argument's type before it reaches a parameter (``beta:=1`` is the
double 1.0). A node that exits with an error shuts the whole launch down with the
reason: no graph keeps driving the arm without its gate. ``use_sim:=false`` checks
first that the ``joy`` package is installed. ``robot:=panda`` builds the graph on
the Panda (:func:`~imitation_ros.bringup.graph.robot_parameters`) and leaves a
shipped planar default model unloaded. Needs ``launch`` and ``launch_ros``;
imported only by the launch files.
"""

from __future__ import annotations

import os
import tempfile
from typing import Any

from ament_index_python.packages import get_package_share_directory, PackageNotFoundError
import yaml

from .graph import (FIND_PKG_SHARE, graph, launch_arguments, LaunchArgument,
                    namespaced_params, NodeSpec, robot_model, ROBOTS)

PACKAGE = 'imitation_ros'


def build(name: str):
    """Return the LaunchDescription of graph ``name``: its arguments, then its nodes."""
    from launch import LaunchDescription  # lazy: the launch stack is optional (see docs/ros.md)
    # lazy: the launch stack is optional
    from launch.actions import DeclareLaunchArgument, OpaqueFunction

    arguments = launch_arguments(name)
    actions: list = [DeclareLaunchArgument(arg, default_value=_default(spec.default),
                                           description=spec.description,
                                           choices=list(spec.choices) or None)
                     for arg, spec in arguments.items()]
    actions.append(OpaqueFunction(function=_nodes, args=[name, arguments]))
    return LaunchDescription(actions)


def _default(text: str) -> Any:
    """Return a default, ``$(find-pkg-share PKG)/PATH`` as the substitution that finds it."""
    if not text.startswith(FIND_PKG_SHARE):
        return text
    from launch.substitutions import PathJoinSubstitution  # lazy: the launch stack is optional
    from launch_ros.substitutions import FindPackageShare  # lazy: the launch stack is optional
    package, _, path = text[len(FIND_PKG_SHARE):].partition(')/')
    return PathJoinSubstitution([FindPackageShare(package), *path.split('/')])


def _nodes(context: Any, name: str, arguments: dict[str, LaunchArgument]) -> list:
    """Build the graph's nodes from the arguments' typed values (run at launch time)."""
    # lazy: the launch stack is optional
    from launch.actions import EmitEvent, LogInfo, RegisterEventHandler
    from launch.event_handlers import OnProcessExit  # lazy: the launch stack is optional
    from launch.events import Shutdown  # lazy: the launch stack is optional
    from launch.substitutions import LaunchConfiguration  # lazy: the launch stack is optional
    from launch_ros.actions import Node  # lazy: the launch stack is optional
    from launch_ros.substitutions import FindPackageShare  # lazy: the launch stack is optional

    values = {arg: spec.convert(arg, LaunchConfiguration(arg).perform(context))
              for arg, spec in arguments.items()}
    robot = values.get('robot', ROBOTS[0])
    try:
        nodes = graph(name, robot=robot,
                      **({'robots': values['robots']} if 'robots' in values else {}))
    except ValueError as exc:
        return [LogInfo(msg=str(exc)), EmitEvent(event=Shutdown(reason=str(exc)))]
    notes: list = []
    if 'model' in values:
        default = _default(arguments['model'].default)
        default = default if isinstance(default, str) else default.perform(context)
        values['model'], note = robot_model(robot, values['model'], default)
        notes += [LogInfo(msg=note)] if note else []
    specs = [s for s in nodes if s.when != ('real' if values['use_sim'] else 'sim')]
    missing = _missing_packages(specs)
    if missing:
        reason = (f'use_sim:=false needs the package(s) {", ".join(missing)} (joy_node reads '
                  'the gamepad): install them, e.g. sudo apt install ros-$ROS_DISTRO-joy, or '
                  'run with use_sim:=true')
        return [LogInfo(msg=reason), EmitEvent(event=Shutdown(reason=reason))]
    share = FindPackageShare(PACKAGE).perform(context)
    actions: list = notes
    for spec in specs:
        node = Node(package=spec.package, executable=spec.executable, name=spec.name,
                    namespace=spec.namespace or None, remappings=list(spec.remappings),
                    parameters=_parameters(spec, values, share), output='screen',
                    emulate_tty=True)
        actions.append(node)
        actions.append(RegisterEventHandler(OnProcessExit(
            target_action=node, on_exit=_shutdown_on_failure(spec.key))))
    return actions


def _parameters(spec: NodeSpec, values: dict[str, Any], share: str) -> list:
    """Return the params file, the robot's, the user's params_file, the launch arguments."""
    parameters: list = []
    if spec.params_file:
        path = os.path.join(share, 'config', spec.params_file)
        parameters.append(_namespaced_file(path, spec) if spec.namespace else path)
    if spec.robot_params:
        parameters.append(dict(spec.robot_params))
    if values['params_file']:
        parameters.append(values['params_file'])
    overrides = {param: values[arg] for param, arg in spec.arguments.items()}
    overrides.update(spec.fixed)
    if overrides:
        parameters.append(overrides)
    return parameters


def _namespaced_file(path: str, spec: NodeSpec) -> str:
    """Write the params file at ``path`` keyed for ``spec``'s namespaced node; return its path."""
    with open(path, encoding='utf-8') as handle:
        content = namespaced_params(yaml.safe_load(handle), spec)
    fd, out = tempfile.mkstemp(prefix=f'{spec.namespace}_{spec.name}_', suffix='.yaml')
    with os.fdopen(fd, 'w', encoding='utf-8') as handle:
        yaml.safe_dump(content, handle)
    return out


def _missing_packages(specs: list[NodeSpec]) -> list[str]:
    """Return the packages other than this one that the nodes need and are not installed."""
    missing = []
    for package in sorted({s.package for s in specs} - {PACKAGE}):
        try:
            get_package_share_directory(package)
        except PackageNotFoundError:
            missing.append(package)
    return missing


def _shutdown_on_failure(node_name: str):
    """Return an on_exit handler: a node that exits with an error stops the whole launch."""
    def on_exit(event: Any, context: Any) -> list:
        from launch.actions import EmitEvent, LogInfo  # lazy: the launch stack is optional
        from launch.events import Shutdown  # lazy: the launch stack is optional
        if event.returncode == 0:
            return []
        reason = (f'{node_name} exited with code {event.returncode}; stopping the whole graph '
                  '(see its log above for why)')
        return [LogInfo(msg=reason), EmitEvent(event=Shutdown(reason=reason))]
    return on_exit
