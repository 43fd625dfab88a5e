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

"""Imports sit at the top of a module; one inside a function says in a comment why it is lazy."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT / 'imitation_ros'


def _function_imports(tree: ast.AST) -> list:
    """Return the import statements inside any function of ``tree``, each once, in order."""
    found = {}
    for function in ast.walk(tree):
        if isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for node in ast.walk(function):
                if isinstance(node, (ast.Import, ast.ImportFrom)):
                    found[(node.lineno, node.col_offset)] = node
    return [found[key] for key in sorted(found)]


def _says_why(lines: list, node: ast.AST) -> bool:
    """Return whether the import's first or last line, or the line above it, has a comment."""
    first, last = lines[node.lineno - 1], lines[node.end_lineno - 1]
    above = lines[node.lineno - 2].strip() if node.lineno > 1 else ''
    return '#' in first or '#' in last or above.startswith('#')


def _unexplained(root: Path) -> list:
    """Return 'file:line: import' for each function-level import under ``root`` with no comment."""
    bad = []
    for path in sorted(root.rglob('*.py')):
        text = path.read_text(encoding='utf-8')
        lines = text.splitlines()
        for node in _function_imports(ast.parse(text)):
            if not _says_why(lines, node):
                bad.append(f'{path.relative_to(root.parent)}:{node.lineno}: '
                           f'{lines[node.lineno - 1].strip()}')
    return bad


def test_every_function_level_import_says_why_it_is_lazy() -> None:
    """Each import inside a function carries a comment on why it cannot sit at the top."""
    bad = _unexplained(PKG)
    assert not bad, ('imports inside functions without a comment (move them to the top, or '
                     'say why they stay lazy, e.g. "# lazy: torch only when training"):\n'
                     + '\n'.join(bad))


def test_lazy_import_check_reports_only_the_uncommented_imports(tmp_path: Path) -> None:
    """A bare import in a function is reported; commented and module-level ones are not."""
    root = tmp_path / 'pkg'
    root.mkdir()
    (root / 'mod.py').write_text(
        'import os\n'
        '\n'
        '\n'
        'def f():\n'
        '    import json  # lazy: a reason\n'
        '    # lazy: a reason for the next line\n'
        '    from math import (pi,\n'
        '                      tau)\n'
        '    def g():\n'
        '        import sys\n'
        '        return sys\n'
        '    return json, pi, tau, g\n')
    assert _unexplained(root) == ['pkg/mod.py:10: import sys']
