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

"""The two layers: the core imports no ROS; the robot-side runtime imports no torch."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT / 'imitation_ros'
ROS_MODULES = ('rclpy', 'std_msgs', 'sensor_msgs', 'std_srvs', 'diagnostic_msgs',
               'trajectory_msgs', 'geometry_msgs', 'builtin_interfaces', 'rosidl_runtime_py',
               'launch', 'launch_ros', 'ament_index_python')
CORE = ('interface', 'sim', 'policies', 'training', 'runtime', 'data', 'gate', 'dagger')


def _imports(path: Path) -> set:
    tree = ast.parse(path.read_text(encoding='utf-8'))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split('.')[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split('.')[0])
    return names


def _core_files() -> list:
    files = [PKG / 'errors.py', PKG / '__init__.py']
    for sub in CORE:
        files += sorted((PKG / sub).glob('**/*.py'))
    return files


@pytest.mark.parametrize('path', _core_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_core_imports_no_ros(path: Path) -> None:
    """Core modules (sim, policies, training, runtime, data, gate) import no ROS package."""
    bad = _imports(path) & set(ROS_MODULES)
    assert not bad, f'{path.relative_to(ROOT)} imports {sorted(bad)}; move it to nodes/'


@pytest.mark.parametrize('path', sorted((PKG / 'runtime').glob('**/*.py'))
                         + sorted((PKG / 'sim').glob('**/*.py'))
                         + sorted((PKG / 'gate').glob('**/*.py'))
                         + sorted((PKG / 'dagger').glob('**/*.py')),
                         ids=lambda p: str(p.relative_to(ROOT)))
def test_robot_side_imports_no_torch(path: Path) -> None:
    """The robot-side code (runtime, sim, gate) needs only numpy and onnxruntime."""
    assert 'torch' not in _imports(path), f'{path.relative_to(ROOT)} imports torch'


@pytest.mark.parametrize('path', sorted((PKG / 'interface').glob('**/*.py')),
                         ids=lambda p: str(p.relative_to(ROOT)))
def test_the_ground_floor_imports_nothing_of_the_package_but_its_errors(path: Path) -> None:
    """interface/ is a leaf: any layer may import it, it imports no other part of the package."""
    tree = ast.parse(path.read_text(encoding='utf-8'))
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level > 1:
            assert node.module == 'errors', \
                f'{path.relative_to(ROOT)} imports {"." * node.level}{node.module}'
        elif isinstance(node, ast.ImportFrom) and (node.module or '').startswith('imitation_ros'):
            assert node.module in ('imitation_ros.errors', 'imitation_ros.interface'), node.module
    heavy = _imports(path) & ({'torch', 'onnxruntime'} | set(ROS_MODULES))
    assert not heavy, f'{path.relative_to(ROOT)} imports {sorted(heavy)}'


def test_layering_detects_a_ros_import(tmp_path: Path) -> None:
    """The import walker sees both import forms (so the checks above can fail)."""
    probe = tmp_path / 'probe.py'
    probe.write_text('import rclpy.node\nfrom std_msgs.msg import String\n')
    assert {'rclpy', 'std_msgs'} <= _imports(probe)
