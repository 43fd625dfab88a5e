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

from dataclasses import dataclass, field

#: The graphs that exist, by launch file.
GRAPHS = ('hg_dagger', 'dagger', 'deploy', 'record_demos')


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
    return [NodeSpec('intervention_gate', 'intervention_gate',
                     params_file='intervention_gate.yaml', arguments=dict(arguments))]


def _trainer() -> NodeSpec:
    return NodeSpec('trainer', 'trainer', params_file='trainer.yaml',
                    arguments={'data_dir': 'data_dir', 'models_dir': 'models_dir',
                               'policy': 'policy'})


def graph(name: str) -> list[NodeSpec]:
    """Return the nodes of graph ``name`` (one of :data:`GRAPHS`)."""
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
    raise ValueError(f'unknown graph {name!r}; one of {", ".join(GRAPHS)}')


#: Launch arguments every graph understands: name -> (default, description).
LAUNCH_ARGUMENTS: dict[str, tuple[str, str]] = {
    'use_sim': ('true', 'true: simulated arm and simulated operator; false: a real robot '
                'driver and joy_node'),
    'policy': ('gmm', 'policy kind the trainer retrains: mse, gmm, ar or diffusion'),
    'model': ('', 'path of the .onnx model to start with (empty: wait for imitation/model)'),
    'data_dir': ('data', 'folder where episode bags are written and read'),
    'models_dir': ('models', 'folder where the trainer writes versioned models (listed in its '
                   'manifest.json) and the only one, besides the package\'s own, the policy '
                   'loads models from'),
    'joy_dev': ('', 'gamepad device name for joy_node (empty: the first one found)'),
}

#: Launch arguments of one graph only: graph -> name -> (default, description).
GRAPH_LAUNCH_ARGUMENTS: dict[str, dict[str, tuple[str, str]]] = {
    'dagger': {
        'beta': ('0.0', "probability that the gate executes the expert's action instead of "
                 "the policy's, per control decision (DAgger's beta; change it per round with "
                 'ros2 param set /intervention_gate beta 0.25)'),
        'expert': ('nearest', 'scripted expert labelling every state: above, below, multi or '
                   'nearest (the side the arm is nearer to, latched per episode)'),
    },
}


def launch_arguments(name: str) -> dict[str, tuple[str, str]]:
    """Return the launch arguments of graph ``name``: the common ones plus its own."""
    if name not in GRAPHS:
        raise ValueError(f'unknown graph {name!r}; one of {", ".join(GRAPHS)}')
    return {**LAUNCH_ARGUMENTS, **GRAPH_LAUNCH_ARGUMENTS.get(name, {})}
