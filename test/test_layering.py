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
import subprocess
import sys

import pytest

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT / 'imitation_ros'
ROS_MODULES = ('rclpy', 'std_msgs', 'sensor_msgs', 'std_srvs', 'diagnostic_msgs',
               'trajectory_msgs', 'geometry_msgs', 'builtin_interfaces', 'rosidl_runtime_py',
               'launch', 'launch_ros', 'ament_index_python')
CORE = ('interface', 'sim', 'policies', 'training', 'runtime', 'data', 'gate', 'dagger', 'collect')


def _imports(path: Path) -> set:
    tree = ast.parse(path.read_text(encoding='utf-8'))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split('.')[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split('.')[0])
    return names


#: Torch-free modules of the torch packages: the policy kinds' run-time halves, their
#: options and registry (the robot loads them), and the trainer node's job control.
TORCH_FREE = ('policies/__init__.py', 'policies/kind.py', 'policies/registry.py',
              'policies/*/__init__.py', 'policies/*/config.py', 'policies/*/runtime.py',
              'policies/diffusion/schedule.py', 'training/__init__.py', 'training/jobs.py')


def _robot_side_files() -> list:
    files = []
    for sub in ('runtime', 'sim', 'gate', 'dagger'):
        files += sorted((PKG / sub).glob('**/*.py'))
    for pattern in TORCH_FREE:
        files += sorted(PKG.glob(pattern))
    return files


def _module_file(root: Path, dotted: str):
    """Return the file of module ``dotted`` (a.b.c) under ``root``'s parent, or None."""
    path = root.parent.joinpath(*dotted.split('.'))
    for candidate in (path / '__init__.py', path.with_suffix('.py')):
        if candidate.is_file():
            return candidate
    return None


def _package_imports(path: Path, root: Path) -> set:
    """Return the files of ``root``'s package that ``path`` imports (anywhere in it)."""
    rel = path.relative_to(root.parent).with_suffix('')
    package = list(rel.parts[:-1])  # the package a relative import starts from
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding='utf-8'))):
        names = []
        if isinstance(node, ast.ImportFrom):
            base = package[:len(package) - node.level + 1] if node.level else []
            module = base + (node.module.split('.') if node.module else [])
            names = ['.'.join(module)] + ['.'.join(module + [a.name]) for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        for name in names:
            if name.split('.')[0] != root.name:
                continue
            dotted = name.split('.')
            # Importing a.b.c runs a/__init__, a/b/__init__ and a/b/c.
            for i in range(1, len(dotted) + 1):
                file = _module_file(root, '.'.join(dotted[:i]))
                if file is not None:
                    found.add(file)
    return found


def _closure(files: list, root: Path) -> set:
    """Return every file of the package that importing ``files`` can load (any import)."""
    seen, todo = set(), list(files)
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        rel = path.relative_to(root.parent).parts
        for i in range(1, len(rel)):  # the packages above it run their __init__ first
            init = root.parent.joinpath(*rel[:i], '__init__.py')
            if init.is_file():
                todo.append(init)
        todo += _package_imports(path, root)
    return seen


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


@pytest.mark.parametrize('path', _robot_side_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_robot_side_imports_no_torch(path: Path) -> None:
    """The robot-side code (runtime, sim, gate, the kinds' runtimes) needs no torch."""
    assert 'torch' not in _imports(path), f'{path.relative_to(ROOT)} imports torch'


def test_robot_side_loads_no_torch_through_any_import() -> None:
    """Nothing the robot-side code imports, package __init__ files included, imports torch."""
    loaded = _closure(_robot_side_files(), PKG)
    bad = sorted(str(p.relative_to(ROOT)) for p in loaded if 'torch' in _imports(p))
    assert not bad, f'the robot side reaches torch through {bad}'


def test_robot_side_imports_leave_torch_unloaded() -> None:
    """Importing the runtime, every kind's runtime and the trainer's job control loads no torch."""
    modules = ['imitation_ros.training.jobs', 'imitation_ros.runtime.model_slot',
               'imitation_ros.policies.registry']
    modules += ['imitation_ros.' + '.'.join(p.relative_to(PKG).with_suffix('').parts)
                for p in sorted(PKG.glob('policies/*/runtime.py'))]
    code = (f'import sys, importlib; [importlib.import_module(m) for m in {modules!r}]; '
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, '-c', code], cwd=ROOT, capture_output=True,
                         text=True, check=True)
    assert out.stdout.strip() == 'False', out.stderr


def test_closure_follows_package_inits(tmp_path: Path) -> None:
    """The import walker reaches torch through a package __init__ (so the check can fail)."""
    root = tmp_path / 'pkg'
    (root / 'heavy').mkdir(parents=True)
    (root / '__init__.py').write_text('')
    (root / 'heavy' / '__init__.py').write_text('import torch\n')
    (root / 'heavy' / 'light.py').write_text('import numpy\n')
    (root / 'robot.py').write_text('def f():\n    from .heavy.light import x\n')
    loaded = _closure([root / 'robot.py'], root)
    assert root / 'heavy' / '__init__.py' in loaded


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


#: Packages from the ground floor up: a package imports only packages on lower floors.
LAYERS = {
    'errors': 0, 'interface': 1,
    'sim': 2, 'policies': 2, 'gate': 2, 'data': 2,
    'runtime': 3, 'collect': 3,
    'dagger': 4,
    'training': 5,
    'nodes': 6,
    'studies': 7,
    'bringup': 8,
    'cli': 9,
}


def _package_of(path: Path) -> str:
    rel = path.relative_to(PKG)
    return rel.parts[0] if len(rel.parts) > 1 else rel.stem


def _upward_imports(root: Path) -> list:
    """Return (importing file, imported package) pairs that break the order of LAYERS."""
    found = set()
    for path in sorted(root.glob('**/*.py')):
        rel = path.relative_to(root)
        if len(rel.parts) == 1 and rel.stem in ('__init__', '__main__'):
            continue
        source = rel.parts[0] if len(rel.parts) > 1 else rel.stem
        for target in _package_imports(path, root):
            parts = target.relative_to(root).parts
            if len(parts) == 1 and parts[0] == '__init__.py':
                continue
            dest = parts[0] if len(parts) > 1 else Path(parts[0]).stem
            if dest != source and LAYERS.get(dest, 99) >= LAYERS.get(source, -1):
                found.add((rel.as_posix(), dest))
    return sorted(found)


def test_every_package_has_a_floor() -> None:
    """A new package is placed in LAYERS, so the order below covers it."""
    packages = {p.name for p in PKG.iterdir() if (p / '__init__.py').exists()}
    modules = {p.stem for p in PKG.glob('*.py') if p.stem not in ('__init__', '__main__')}
    assert packages | modules <= set(LAYERS), sorted((packages | modules) - set(LAYERS))


def test_no_package_imports_its_own_floor_or_above() -> None:
    """Imports point down only: no upward arrow, so no package cycle."""
    assert _upward_imports(PKG) == []


def test_upward_import_check_can_fail(tmp_path: Path) -> None:
    """A sim module importing the gate is reported (so the check above can fail)."""
    root = tmp_path / 'imitation_ros'
    for sub in ('sim', 'gate'):
        (root / sub).mkdir(parents=True)
        (root / sub / '__init__.py').write_text('')
    (root / '__init__.py').write_text('')
    (root / 'gate' / 'teleop.py').write_text('X = 1\n')
    (root / 'sim' / 'experts.py').write_text('from ..gate.teleop import X\n')
    assert _upward_imports(root) == [('sim/experts.py', 'gate')]
