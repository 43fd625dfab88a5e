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

"""Launch files: well-formed, and every executable and params file they name exists."""

import ast
import importlib
import importlib.util
from pathlib import Path

from imitation_ros.bringup.graph import (graph, GRAPH_LAUNCH_ARGUMENTS, GRAPHS, launch_arguments,
                                         LAUNCH_ARGUMENTS, ROBOT_GRAPHS, robot_model, ROBOTS)
from imitation_ros.interface.robot import RobotModel
from imitation_ros.sim.operator import gate_teleop as planar_teleop
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
LAUNCH_FILES = sorted((ROOT / 'launch').glob('*.launch.py'))


def _console_scripts() -> dict:
    tree = ast.parse((ROOT / 'setup.py').read_text(encoding='utf-8'))
    scripts = {}
    for node in ast.walk(tree):
        if (isinstance(node, ast.Constant) and isinstance(node.value, str)
                and ' = ' in node.value):
            name, target = (s.strip() for s in node.value.split('=', 1))
            if ':' in target:
                scripts[name] = target
    return scripts


@pytest.mark.parametrize('path', LAUNCH_FILES, ids=lambda p: p.name)
def test_launch_file_is_well_formed(path: Path) -> None:
    """Each launch file compiles, has a docstring and generate_launch_description."""
    source = path.read_text(encoding='utf-8')
    tree = ast.parse(source)
    compile(source, str(path), 'exec')
    assert ast.get_docstring(tree), f'{path.name} has no module docstring'
    funcs = [n for n in tree.body if isinstance(n, ast.FunctionDef)]
    assert [f.name for f in funcs] == ['generate_launch_description']
    calls = [n for n in ast.walk(funcs[0]) if isinstance(n, ast.Call)
             and getattr(n.func, 'id', '') == 'build']
    assert calls and calls[0].args[0].value == path.name.replace('.launch.py', '')
    # It imports as Python here too (launch itself is imported only when it is called).
    spec = importlib.util.spec_from_file_location(path.stem.replace('.', '_'), path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert callable(module.generate_launch_description)


def test_every_graph_has_a_launch_file() -> None:
    """hg_dagger, dagger, deploy and record_demos each have their launch file."""
    assert {p.name.replace('.launch.py', '') for p in LAUNCH_FILES} == set(GRAPHS)


GRAPHS_ON_ROBOTS = [(name, robot) for name in GRAPHS
                    for robot in (ROBOTS if name in ROBOT_GRAPHS else ROBOTS[:1])]


@pytest.mark.parametrize('name,robot', GRAPHS_ON_ROBOTS)
def test_graph_names_existing_executables_and_params_files(name: str, robot: str) -> None:
    """Every node of the graph is a console script with main() and its params file exists."""
    scripts = _console_scripts()
    for spec in graph(name, robot=robot):
        if spec.package != 'imitation_ros':
            assert spec.when == 'real', f'{spec.executable} from {spec.package} only on robots'
            continue
        assert spec.executable in scripts, f'{spec.executable} missing from setup.py'
        module, func = scripts[spec.executable].split(':')
        assert callable(getattr(importlib.import_module(module), func))
        params = ROOT / 'config' / spec.params_file
        assert params.exists(), f'{params} missing'
        content = yaml.safe_load(params.read_text(encoding='utf-8'))
        assert list(content) == [spec.name], f'{params.name} must be keyed by {spec.name}'
        declared = content[spec.name]['ros__parameters']
        for param in [*spec.arguments, *spec.fixed, *spec.robot_params]:
            assert param in declared, f'{spec.name} has no parameter {param}'
        for arg in spec.arguments.values():
            assert arg in launch_arguments(name)


def test_launch_arguments_are_described_and_typed() -> None:
    """Every launch argument has a default of its type, a description; graph-only ones are used."""
    for name in GRAPHS:
        used = {arg for spec in graph(name) for arg in spec.arguments.values()}
        for arg, spec in launch_arguments(name).items():
            assert isinstance(spec.default, str) and len(spec.description) > 20, arg
            assert spec.type in (str, bool, int, float), arg
            if not spec.default.startswith('$('):
                spec.convert(arg, spec.default)
            if arg == 'robot':
                # It builds the graph: each choice gives its nodes, another robot others.
                on = {c: graph(name, robot=c) for c in spec.choices}
                assert spec.default == ROBOTS[0] and len(set(map(repr, on.values()))) == \
                    len(spec.choices), f'{name}: robot choices {spec.choices}'
            elif arg in GRAPH_LAUNCH_ARGUMENTS.get(name, {}):
                assert arg in used, f'{name} declares {arg} but no node of it uses it'


def test_launch_arguments_convert_to_their_type_or_say_why() -> None:
    """beta:=1 is the double 1.0; a word for a number, or an unknown choice, is refused."""
    beta = launch_arguments('dagger')['beta']
    assert beta.convert('beta', '1') == 1.0 and isinstance(beta.convert('beta', '0'), float)
    with pytest.raises(ValueError, match='beta.*must be a number'):
        beta.convert('beta', 'half')
    use_sim = LAUNCH_ARGUMENTS['use_sim']
    assert use_sim.convert('use_sim', 'true') is True
    assert use_sim.convert('use_sim', 'false') is False
    with pytest.raises(ValueError, match='use_sim'):
        use_sim.convert('use_sim', 'yes')
    with pytest.raises(ValueError, match='one of mse, gmm, ar, diffusion'):
        LAUNCH_ARGUMENTS['policy'].convert('policy', 'transformer')
    assert LAUNCH_ARGUMENTS['model'].convert('model', '123') == '123'


def test_deploy_runs_the_shipped_model_by_default() -> None:
    """The deploy graph's model argument defaults to the policy under the package's models/."""
    default = launch_arguments('deploy')['model'].default
    assert default.startswith('$(find-pkg-share imitation_ros)/models/')
    assert (ROOT / 'models' / default.rsplit('/', 1)[1]).is_file()
    assert launch_arguments('hg_dagger')['model'].default == ''


def test_dagger_graph() -> None:
    """dagger: sim, policy, gate (beta), expert, recorder (source dagger), trainer; no operator."""
    specs = {s.name: s for s in graph('dagger')}
    assert set(specs) == {'sim_arm', 'policy', 'intervention_gate', 'expert', 'recorder',
                          'trainer'}
    assert specs['expert'].executable == 'expert_labeler'
    assert specs['recorder'].fixed == {'source': 'dagger'}
    assert specs['intervention_gate'].arguments == {'beta': 'beta'}
    assert launch_arguments('dagger')['beta'].default == '0.0'
    assert 'beta' not in launch_arguments('hg_dagger')


def test_the_shipped_model_is_listed_in_its_manifest_and_runs() -> None:
    """models/planar_gmm_multi.onnx passes the policy node's trust check and acts in limits."""
    from imitation_ros.runtime.model_trust import ModelTrust
    from imitation_ros.runtime.onnx_policy import OnnxPolicy
    from imitation_ros.sim.arm import ArmConfig, ArmSim
    import numpy as np
    path = ROOT / 'models' / 'planar_gmm_multi.onnx'
    trusted = ModelTrust([ROOT / 'models']).verify(path)
    assert trusted.version == 'planar-gmm-multi-s2'
    policy = OnnxPolicy(path)
    assert policy.kind == 'gmm' and policy.joint_names == ('joint1', 'joint2', 'joint3')
    assert policy.training_data['episodes'] == 200 and policy.training_data['steps'] == 3000
    sim = ArmSim(ArmConfig(), seed=0)
    task = sim.reset()
    action = policy.act(sim.q, task.vector())
    assert np.all(np.isfinite(action)) and np.all(np.abs(action - sim.q) < 0.5)


PANDA_URDF = ROOT / 'urdf' / 'panda.urdf'
PANDA_ARM = tuple(f'panda_joint{i}' for i in range(1, 8))


def test_robot_argument_is_declared_with_its_choices_and_an_unknown_robot_is_refused() -> None:
    """robot: planar3 (default) or panda where the graph runs both, planar3 only in the fleet."""
    for name in ROBOT_GRAPHS:
        robot = launch_arguments(name)['robot']
        assert robot.default == 'planar3' and robot.choices == ('planar3', 'panda')
        assert 'panda_joint1..7' in robot.description and 'use_sim:=false' in robot.description
        with pytest.raises(ValueError, match='robot.*must be one of planar3, panda'):
            robot.convert('robot', 'ur5')
    fleet = launch_arguments('fleet')['robot']
    assert fleet.choices == ('planar3',) and 'fleet_operator' in fleet.description
    with pytest.raises(ValueError, match='one of planar3, panda'):
        graph('hg_dagger', robot='ur5')
    with pytest.raises(ValueError, match='fleet graph runs the planar3 arm only'):
        graph('fleet', robot='panda')


def test_robot_argument_reaches_the_launch_description() -> None:
    """Each launch file declares robot with its description and choices (ros2 launch -s)."""
    pytest.importorskip('launch', reason='the launch stack is not on PyPI: make setup '
                        'installs it from LAUNCH_WHEELS, a ROS 2 install has it')
    from launch.actions import DeclareLaunchArgument
    from imitation_ros.bringup.launch_description import build
    for name in GRAPHS:
        declared = {a.name: a for a in build(name).entities
                    if isinstance(a, DeclareLaunchArgument)}
        want = launch_arguments(name)['robot']
        assert declared['robot'].choices == list(want.choices), name
        assert declared['robot'].description.startswith(want.description), name


@pytest.mark.parametrize('name', ROBOT_GRAPHS)
def test_panda_graph_puts_every_node_on_the_panda_arm(name: str) -> None:
    """On the Panda: sim and operator on it, its teleop in the gate, nodes on its 7 joints."""
    from imitation_ros.sim.panda.operator import gate_teleop
    specs = {s.key + (f'@{s.when}' if s.name == 'intervention_gate' else ''): s
             for s in graph(name, robot='panda')}
    urdf = PANDA_URDF.read_text(encoding='utf-8')
    chain = {'base_link': 'panda_link0', 'tip_link': 'panda_hand_tcp'}
    assert RobotModel.from_urdf(urdf, **chain).joint_names == PANDA_ARM
    assert specs['sim_arm'].robot_params == {'robot': 'panda', 'panda_task': 'reach'}
    if 'sim_human' in specs:
        assert specs['sim_human'].robot_params == {'robot': 'panda'}
    for node in ('policy', 'recorder'):
        if node in specs:
            assert specs[node].robot_params == chain, node
    if 'trainer' in specs:
        assert specs['trainer'].robot_params == {'features': 'raw'}
    if 'expert' in specs:
        assert specs['expert'].robot_params == {'robot': 'panda', **chain}
    # Simulated: the mapping sim_human drives; a real Panda: its chain and gripper, the
    # gamepad as the params file maps it.
    assert specs['intervention_gate@sim'].fixed == gate_teleop()
    assert specs['intervention_gate@real'].fixed == {}
    assert specs['intervention_gate@real'].robot_params == {
        **chain, 'gripper_joints': ['panda_finger_joint1']}
    # The planar graph is the params files' robot: nothing added, the planar teleop.
    planar = graph(name)
    assert all(s.robot_params == {} for s in planar)
    assert [s.fixed for s in planar if s.name == 'intervention_gate' and s.when == 'sim'] == \
        [planar_teleop()]


def test_panda_demo_overrides_are_the_panda_graphs_parameters() -> None:
    """imitation-ros demo --robot panda gives every node what robot:=panda gives it."""
    from imitation_ros.bringup.panda_demo import panda_overrides
    specs = [s for s in graph('dagger', robot='panda') + graph('hg_dagger', robot='panda')
             if s.when != 'real']
    out = panda_overrides({'expert': {}}, side=1)
    for spec in specs:
        assert {k: out[spec.name][k] for k in spec.robot_params} == spec.robot_params
    gate = next(s for s in specs if s.name == 'intervention_gate')
    assert {k: out['intervention_gate'][k] for k in gate.fixed} == gate.fixed


def test_default_model_is_not_loaded_on_the_panda() -> None:
    """The shipped planar default becomes '' on the Panda with a note; a user's model is kept."""
    shipped = '/share/imitation_ros/models/planar_gmm_multi.onnx'
    assert robot_model('planar3', shipped, shipped) == (shipped, '')
    model, note = robot_model('panda', shipped, shipped)
    assert model == '' and 'not loaded' in note and 'model:=' in note
    assert robot_model('panda', '/data/panda_v003.onnx', shipped) == ('/data/panda_v003.onnx', '')
    assert robot_model('panda', '', '') == ('', '')
