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
nodes in one process from the same params files. A graph runs on one of
:data:`ROBOTS`: the planar arm of the params files, or the MuJoCo Panda, whose
parameters (:func:`robot_parameters`, :func:`sim_teleop`) the Panda demo uses
too. No launch or rclpy import here, and MuJoCo only for the Panda, so the
graph is testable anywhere.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from ..interface import topics
from ..sim.operator import gate_teleop

#: The graphs that exist, by launch file.
GRAPHS = ('hg_dagger', 'dagger', 'deploy', 'record_demos', 'fleet')
#: Robots of the fleet graph by default, and at most.
FLEET_ROBOTS = 3
MAX_FLEET_ROBOTS = 32
#: Namespace of robot i (from 1) of the fleet graph: ``robot1``, ``robot2``...
FLEET_PREFIX = 'robot'
#: Arms a graph runs on; the first is the params files' (and the default).
ROBOTS = ('planar3', 'panda')
#: Graphs that run on any of :data:`ROBOTS`; the fleet runs the planar arm only (its
#: fleet_operator drives the planar operator, its help threshold is the planar model's).
ROBOT_GRAPHS = ('hg_dagger', 'dagger', 'deploy', 'record_demos')


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
    robot_params: dict = field(default_factory=dict)
    """Parameter values that put the node on the graph's robot: over its params file, under
    the user's params_file (which may change them, e.g. another tip link of a real arm)."""

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


def _gate(robot: str = ROBOTS[0], **arguments: str) -> list[NodeSpec]:
    # On the simulated arm the gate reads the sticks as sim_human moves them (that arm's
    # mapping); on a robot, the params file's (teleop_twist_joy's Xbox layout).
    return [NodeSpec('intervention_gate', 'intervention_gate',
                     params_file='intervention_gate.yaml', arguments=dict(arguments),
                     when=when, fixed=fixed)
            for when, fixed in (('sim', sim_teleop(robot)), ('real', {}))]


def _check_robot(robot: str) -> None:
    if robot not in ROBOTS:
        raise ValueError(f'unknown robot {robot!r}; one of {", ".join(ROBOTS)}')


def sim_teleop(robot: str) -> dict[str, Any]:
    """
    Return the gate's parameters that read the simulated operator's sticks on ``robot``.

    planar3: :func:`imitation_ros.sim.operator.gate_teleop` (the planar mapping);
    panda: :func:`imitation_ros.sim.panda.operator.gate_teleop` (its chain, gripper and
    cartesian mapping).

    :raises ValueError: ``robot`` is not one of :data:`ROBOTS`.
    """
    _check_robot(robot)
    if robot == 'planar3':
        return gate_teleop()
    from ..sim.panda.operator import gate_teleop as panda_teleop  # lazy: MuJoCo, Panda only
    return panda_teleop()


def robot_parameters(robot: str) -> dict[str, dict[str, Any]]:
    """
    Return node name -> the parameter values that put a graph's nodes on ``robot``.

    planar3: none (the params files are the planar arm's). panda: ``sim_arm`` and
    ``sim_human`` with ``robot: panda`` on the reach task; ``policy``, ``recorder`` and
    the gate on the chain ``panda_link0 -> panda_hand_tcp`` (the seven arm joints of the
    URDF, which has several end links), the gate's gripper ``panda_finger_joint1``; the
    trainer's ``raw`` features (``planar-fk`` is the planar arm's); ``expert`` labelling
    the Panda. Not the gate's simulated-operator mapping: :func:`sim_teleop`.

    :raises ValueError: ``robot`` is not one of :data:`ROBOTS`.
    """
    _check_robot(robot)
    if robot == 'planar3':
        return {}
    from ..sim.panda.interface import BASE_LINK, TIP_LINK  # lazy: MuJoCo, Panda only
    from ..sim.panda.model import FINGER_JOINTS  # lazy: MuJoCo, Panda only
    chain = {'base_link': BASE_LINK, 'tip_link': TIP_LINK}
    return {'sim_arm': {'robot': 'panda', 'panda_task': 'reach'},
            'sim_human': {'robot': 'panda'},
            'policy': dict(chain),
            'intervention_gate': {**chain, 'gripper_joints': [FINGER_JOINTS[0]]},
            'recorder': dict(chain),
            'trainer': {'features': 'raw'},
            'expert': {'robot': 'panda', **chain}}


def robot_model(robot: str, model: str, default: str) -> tuple[str, str]:
    """
    Return the model the policy starts with on ``robot``, and a note when it is not ``model``.

    The models shipped with the package are the planar arm's: on another robot the
    ``model`` argument left at its ``default`` (a shipped model) becomes '' (the policy
    waits for imitation/model; the gate holds until then). A model the user names is
    kept: the policy node refuses one whose joints are not the robot's.
    """
    _check_robot(robot)
    if robot == ROBOTS[0] or not model or model != default:
        return model, ''
    return '', (f'robot:={robot}: the default model {model} is the planar arm\'s and is not '
                f'loaded; the policy waits for a model on imitation/model (the trainer\'s, or '
                f'give model:=PATH of a {robot} model) and the gate holds until then')


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


def graph(name: str, *, robots: int = FLEET_ROBOTS, robot: str = ROBOTS[0]) -> list[NodeSpec]:
    """
    Return the nodes of graph ``name`` (one of :data:`GRAPHS`) on ``robot``.

    :param robots: the fleet graph's number of robots (other graphs have one).
    :param robot: one of :data:`ROBOTS` (a graph of :data:`ROBOT_GRAPHS` for all but the
        first): the nodes get its :func:`robot_parameters`, the simulated gate its
        :func:`sim_teleop`.
    :raises ValueError: an unknown graph or robot, or a robot the graph does not run.
    """
    _check_robot(robot)
    if robot != ROBOTS[0] and name in GRAPHS and name not in ROBOT_GRAPHS:
        raise ValueError(f'the {name} graph runs the {ROBOTS[0]} arm only; robot {robot!r} '
                         f'runs in {", ".join(ROBOT_GRAPHS)}')
    if name == 'hg_dagger':
        specs = [*_sim(), *_joy(), *_policy(), *_gate(robot),
                 NodeSpec('recorder', 'recorder', params_file='recorder.yaml',
                          arguments={'data_dir': 'data_dir'}, fixed={'source': 'hg_dagger'}),
                 _trainer()]
    elif name == 'dagger':
        # No operator: the expert labels every state; the gate executes its action
        # instead of the policy's with probability beta (DAgger's mixture policy).
        specs = [*_sim(), *_policy(), *_gate(robot, beta='beta'),
                 NodeSpec('expert_labeler', 'expert', params_file='expert.yaml',
                          arguments={'expert': 'expert'}),
                 NodeSpec('recorder', 'recorder', params_file='recorder.yaml',
                          arguments={'data_dir': 'data_dir'}, fixed={'source': 'dagger'}),
                 _trainer()]
    elif name == 'deploy':
        specs = [*_sim(), *_policy(), *_gate(robot)]
    elif name == 'record_demos':
        specs = [*_sim(), *_joy(), *_gate(robot),
                 NodeSpec('recorder', 'recorder', params_file='recorder.yaml',
                          arguments={'data_dir': 'data_dir'}, fixed={'source': 'demo'})]
    elif name == 'fleet':
        return _fleet(robots)
    else:
        raise ValueError(f'unknown graph {name!r}; one of {", ".join(GRAPHS)}')
    params = robot_parameters(robot)
    return [replace(s, robot_params=dict(params.get(s.name, {}))) for s in specs]


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
                            "imitation/model, the trainer's first model; until then the gate "
                            "holds, and in hg_dagger's simulation the simulated operator "
                            "takes over); a model of other joints than the robot's is "
                            'refused'),
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

#: The arm of a graph of :data:`ROBOT_GRAPHS` (docs/panda_ros.md, "With ros2 launch").
ROBOT_ARGUMENT = LaunchArgument(
    ROBOTS[0], 'the arm: planar3 (the simulated planar 3-joint arm of the params files) or '
    'panda (the MuJoCo Franka Panda on its reach task: sim_arm and sim_human with robot '
    "panda, the gate reading the simulated operator's sticks with the Panda's cartesian "
    'mapping, policy, recorder, trainer (raw features) and expert on panda_joint1..7, the '
    'chain panda_link0 -> panda_hand_tcp; a shipped planar model is not loaded on it). With '
    'use_sim:=false, panda gives the gate, policy, recorder and expert that chain and the '
    'gripper panda_finger_joint1 for a real Panda driver publishing robot_description with '
    "franka_description's names, the gamepad mapped as in config/intervention_gate.yaml; "
    'params_file can change them', str, ROBOTS)
#: The fleet's arm: the planar one only, declared so that ``robot:=panda`` is refused.
FLEET_ROBOT_ARGUMENT = LaunchArgument(
    ROBOTS[0], "the arm: planar3 only (fleet_operator drives the planar arm's simulated "
    "operator and help_threshold is the planar model's; robot:=panda runs in "
    f'{", ".join(ROBOT_GRAPHS)})', str, ROBOTS[:1])

#: Launch arguments of one graph only (or a graph's own default): graph -> name -> argument.
GRAPH_LAUNCH_ARGUMENTS: dict[str, dict[str, LaunchArgument]] = {
    'hg_dagger': {'robot': ROBOT_ARGUMENT},
    'record_demos': {'robot': ROBOT_ARGUMENT},
    'dagger': {
        'robot': ROBOT_ARGUMENT,
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
        'robot': FLEET_ROBOT_ARGUMENT,
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
        'robot': ROBOT_ARGUMENT,
        'model': LaunchArgument(SHIPPED_MODEL, 'path of the .onnx model to run (default: the '
                                'multi-demonstrator gmm policy of the simulated planar arm '
                                'shipped with the package; with robot:=panda, whose model is '
                                'not shipped, the default loads nothing: the policy waits for '
                                'imitation/model and the gate holds until a Panda model comes; '
                                'a model of other joints is refused)'),
    },
}


def launch_arguments(name: str) -> dict[str, LaunchArgument]:
    """Return the launch arguments of graph ``name``: the common ones plus its own."""
    if name not in GRAPHS:
        raise ValueError(f'unknown graph {name!r}; one of {", ".join(GRAPHS)}')
    return {**LAUNCH_ARGUMENTS, **GRAPH_LAUNCH_ARGUMENTS.get(name, {})}
