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
The node graphs, as data: shared by the launch files and the composed runner.

A launch file turns each :class:`NodeSpec` into a ``launch_ros`` Node (the
params file found with FindPackageShare); ``imitation-ros demo`` builds the same
nodes in one process from the same params files. No launch or rclpy import
here, so the graph is testable anywhere.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from ..interface import topics
from ..sim.operator import gate_teleop

#: The graphs that exist, by launch file.
GRAPHS = ('hg_dagger', 'dagger', 'deploy', 'record_demos', 'fleet')
#: Robots of the fleet graph by default, and at most.
FLEET_ROBOTS = 3
MAX_FLEET_ROBOTS = 32
#: Namespace of robot i (from 1) of the fleet graph: ``robot1``, ``robot2``...
FLEET_PREFIX = 'robot'


@dataclass(frozen=True)
class NodeSpec:
    """One node of a graph."""

    executable: str
    """Console script (``ros2 run PACKAGE EXECUTABLE``)."""
    name: str
    """Node name; also the key of its params file."""
    package: str = 'imitation_ros'
    """Package of the executable."""
    params_file: str = ''
    """Params file under the package's config/ ('' for none)."""
    when: str = ''
    """'sim' (only with use_sim), 'real' (only without), '' (always)."""
    arguments: dict = field(default_factory=dict)
    """Parameter name -> launch argument whose value overrides it."""
    fixed: dict = field(default_factory=dict)
    """Parameter values this graph sets regardless of the params file."""
    namespace: str = ''
    """Namespace of the node, relative ('' for the root: ``robot1`` gives ``/robot1/...``)."""
    remappings: tuple[tuple[str, str], ...] = ()
    """(from, to) topic remappings of this node."""

    @property
    def key(self) -> str:
        """Return ``namespace/name`` (``name`` in the root): unique in a graph."""
        return f'{self.namespace}/{self.name}' if self.namespace else self.name


def _sim() -> list[NodeSpec]:
    return [NodeSpec('sim_arm', 'sim_arm', params_file='sim_arm.yaml', when='sim')]


def _joy(operator: str = 'sim_human') -> list[NodeSpec]:
    return [
        NodeSpec(operator, operator, params_file=f'{operator}.yaml', when='sim'),
        NodeSpec('joy_node', 'joy_node', package='joy', when='real',
                 arguments={'device_name': 'joy_dev'},
                 fixed={'autorepeat_rate': 20.0, 'deadzone': 0.0}),
    ]


def _policy() -> list[NodeSpec]:
    # The policy loads models only from the folder the trainer writes to.
    return [NodeSpec('policy_node', 'policy', params_file='policy.yaml',
                     arguments={'model_path': 'model', 'model_dirs': 'models_dir'})]


def _gate(**arguments: str) -> list[NodeSpec]:
    # On the simulated arm the gate reads the sticks as sim_human moves them (the planar
    # mapping); on a robot, the params file's (teleop_twist_joy's Xbox layout).
    return [NodeSpec('intervention_gate', 'intervention_gate',
                     params_file='intervention_gate.yaml', arguments=dict(arguments),
                     when=when, fixed=fixed)
            for when, fixed in (('sim', gate_teleop()), ('real', {}))]


def _trainer() -> NodeSpec:
    return NodeSpec('trainer', 'trainer', params_file='trainer.yaml',
                    arguments={'data_dir': 'data_dir', 'models_dir': 'models_dir',
                               'policy': 'policy'})


def fleet_namespaces(robots: int) -> list[str]:
    """
    Return the namespaces of a fleet of ``robots`` robots: robot1 ... robotN.

    :raises ValueError: ``robots`` is not an integer in 1..MAX_FLEET_ROBOTS.
    """
    if isinstance(robots, bool) or not isinstance(robots, int) \
            or not 1 <= robots <= MAX_FLEET_ROBOTS:
        raise ValueError(f'robots must be an integer from 1 to {MAX_FLEET_ROBOTS}, got '
                         f'{robots!r}')
    return [f'{FLEET_PREFIX}{i}' for i in range(1, robots + 1)]


#: In the fleet, every robot's policy (and recorder) hears the one trainer's models, which
#: it publishes in the root namespace.
SHARED_MODEL = ((topics.MODEL.name, topics.MODEL.bag_name),)


def _fleet(robots: int) -> list[NodeSpec]:
    """Each robot's graph in its namespace; one trainer and one operator in the root."""
    specs: list[NodeSpec] = []
    for index, ns in enumerate(fleet_namespaces(robots), start=1):
        sim, policy, gates = _sim()[0], _policy()[0], _gate(help_threshold='help_threshold')
        specs += [
            replace(sim, namespace=ns, fixed={'seed': index}),
            replace(policy, namespace=ns, remappings=SHARED_MODEL),
            *(replace(g, namespace=ns) for g in gates),
            NodeSpec('recorder', 'recorder', params_file='recorder.yaml', namespace=ns,
                     arguments={'data_dir': 'data_dir'}, remappings=SHARED_MODEL,
                     fixed={'source': 'hg_dagger', 'session': ns}),
        ]
    return [*specs, _trainer(),
            NodeSpec('fleet_operator', 'fleet_operator', params_file='fleet_operator.yaml',
                     when='sim', arguments={'order': 'queue', 'robots': 'robots'},
                     fixed={'robots': robots})]


def namespaced_params(content: dict, spec: NodeSpec) -> dict:
    """
    Return a params file's ``content`` (keyed by node name) for ``spec``'s node.

    A key ``name`` matches only the node of that name in the root namespace, so for a
    namespaced node the node's entry is keyed by its full name ``/namespace/name``.

    :raises ValueError: the content has no entry for the node.
    """
    if not isinstance(content, dict) or spec.name not in content:
        raise ValueError(f'params file {spec.params_file} has no entry {spec.name!r}')
    if not spec.namespace:
        return {spec.name: content[spec.name]}
    return {f'/{spec.namespace}/{spec.name}': content[spec.name]}


def graph(name: str, *, robots: int = FLEET_ROBOTS) -> list[NodeSpec]:
    """
    Return the nodes of graph ``name`` (one of :data:`GRAPHS`).

    :param robots: the fleet graph's number of robots (other graphs have one).
    """
    if name == 'hg_dagger':
        return [*_sim(), *_joy(), *_policy(), *_gate(),
                NodeSpec('recorder', 'recorder', params_file='recorder.yaml',
                         arguments={'data_dir': 'data_dir'}, fixed={'source': 'hg_dagger'}),
                _trainer()]
    if name == 'dagger':
        # No operator: the expert labels every state; the gate executes its action
        # instead of the policy's with probability beta (DAgger's mixture policy).
        return [*_sim(), *_policy(), *_gate(beta='beta'),
                NodeSpec('expert_labeler', 'expert', params_file='expert.yaml',
                         arguments={'expert': 'expert'}),
                NodeSpec('recorder', 'recorder', params_file='recorder.yaml',
                         arguments={'data_dir': 'data_dir'}, fixed={'source': 'dagger'}),
                _trainer()]
    if name == 'deploy':
        return [*_sim(), *_policy(), *_gate()]
    if name == 'record_demos':
        return [*_sim(), *_joy(), *_gate(),
                NodeSpec('recorder', 'recorder', params_file='recorder.yaml',
                         arguments={'data_dir': 'data_dir'}, fixed={'source': 'demo'})]
    if name == 'fleet':
        return _fleet(robots)
    raise ValueError(f'unknown graph {name!r}; one of {", ".join(GRAPHS)}')


#: A launch argument's default of the form ``$(find-pkg-share PACKAGE)/PATH``: the file under
#: PACKAGE's installed share directory (what launch files write with FindPackageShare).
FIND_PKG_SHARE = '$(find-pkg-share '

#: Types a launch argument's value may have.
ARGUMENT_TYPES = (str, bool, int, float)


@dataclass(frozen=True)
class LaunchArgument:
    """One launch argument: its default, what it means, the type of its value."""

    default: str
    """Default value, as typed on the command line (``$(find-pkg-share ...)/...`` allowed)."""
    description: str
    """What the argument does, for ``ros2 launch ... --show-args``."""
    type: type = str
    """Type the value is converted to before it reaches a parameter (str, bool, int, float)."""
    choices: tuple[str, ...] = ()
    """Allowed values; empty for any."""

    def __post_init__(self) -> None:
        if self.type not in ARGUMENT_TYPES:
            raise ValueError(f'launch argument type must be one of {ARGUMENT_TYPES}, got '
                             f'{self.type!r}')

    def convert(self, name: str, text: str) -> object:
        """
        Return ``text`` as this argument's type.

        :raises ValueError: a message naming the argument, the value and what it expects.
        """
        if self.choices and text not in self.choices:
            raise ValueError(f'launch argument {name}:={text!r} must be one of '
                             f'{", ".join(self.choices)}')
        if self.type is bool:
            value = text.strip().lower()
            if value not in ('true', 'false'):
                raise ValueError(f'launch argument {name}:={text!r} must be true or false')
            return value == 'true'
        if self.type in (int, float):
            try:
                return self.type(text)
            except ValueError:
                kind = 'an integer' if self.type is int else 'a number'
                raise ValueError(f'launch argument {name}:={text!r} must be {kind}') from None
        return text


_BOOL = ('true', 'false')

#: Launch arguments every graph understands.
LAUNCH_ARGUMENTS: dict[str, LaunchArgument] = {
    'use_sim': LaunchArgument(
        'true', 'true: simulated arm and simulated operator; false: a real robot driver '
        '(ros2_control forward_position_controller) and joy_node (needs the joy package: '
        'apt install ros-$ROS_DISTRO-joy)', bool, _BOOL),
    'policy': LaunchArgument('gmm', 'policy kind the trainer retrains: mse, gmm, ar or '
                             'diffusion', str, ('mse', 'gmm', 'ar', 'diffusion')),
    'model': LaunchArgument('', 'path of the .onnx model to start with (empty: wait for '
                            'imitation/model)'),
    'data_dir': LaunchArgument('data', 'folder where episode bags are written and read'),
    'models_dir': LaunchArgument('models', 'folder where the trainer writes versioned models '
                                 '(listed in its manifest.json) and the only one, besides the '
                                 "package's own, the policy loads models from"),
    'joy_dev': LaunchArgument('', 'gamepad device name for joy_node (empty: the first one '
                              'found)'),
    'params_file': LaunchArgument('', 'a ROS 2 parameters file (keyed by node name, /** for '
                                  'all) applied over the package\'s config/ files; empty for '
                                  'none'),
}

#: The policy shipped with the package (config/ and models/ are installed to share/).
SHIPPED_MODEL = f'{FIND_PKG_SHARE}imitation_ros)/models/planar_gmm_multi.onnx'

#: Launch arguments of one graph only (or a graph's own default): graph -> name -> argument.
GRAPH_LAUNCH_ARGUMENTS: dict[str, dict[str, LaunchArgument]] = {
    'dagger': {
        'beta': LaunchArgument(
            '0.0', "probability that the gate executes the expert's action instead of the "
            "policy's, per control decision (DAgger's beta; change it per round with "
            'ros2 param set /intervention_gate beta 0.25)', float),
        'expert': LaunchArgument(
            'nearest', 'scripted expert labelling every state: above, below, multi or nearest '
            '(the side the arm is nearer to, latched per episode)', str,
            ('above', 'below', 'multi', 'nearest')),
    },
    'fleet': {
        'robots': LaunchArgument(
            str(FLEET_ROBOTS), f'number of robots, 1 to {MAX_FLEET_ROBOTS}: robot i runs its '
            'sim_arm, policy, intervention_gate and recorder in the namespace /roboti; one '
            'trainer and one fleet_operator serve them all', int),
        'queue': LaunchArgument(
            'first_come', 'order in which the one operator serves the help requests: '
            'first_come, or highest_doubt (the largest policy doubt first; a request waiting '
            "longer than the fleet_operator's max_wait_s goes first)", str,
            ('first_come', 'highest_doubt')),
        'help_threshold': LaunchArgument(
            '0.2', "policy doubt above which a robot's gate holds and asks the operator for "
            'help (0.2: about the 95th percentile of the shipped model\'s doubt on its own '
            'states; calibrate yours with imitation-ros calibrate-help)', float),
        'model': LaunchArgument(SHIPPED_MODEL, 'path of the .onnx model every robot starts '
                                'with (default: the gmm policy shipped with the package); '
                                "the trainer's next versions replace it on every robot"),
    },
    'deploy': {
        'model': LaunchArgument(SHIPPED_MODEL, 'path of the .onnx model to run (default: the '
                                'multi-demonstrator gmm policy of the simulated arm shipped '
                                'with the package)'),
    },
}


def launch_arguments(name: str) -> dict[str, LaunchArgument]:
    """Return the launch arguments of graph ``name``: the common ones plus its own."""
    if name not in GRAPHS:
        raise ValueError(f'unknown graph {name!r}; one of {", ".join(GRAPHS)}')
    return {**LAUNCH_ARGUMENTS, **GRAPH_LAUNCH_ARGUMENTS.get(name, {})}
