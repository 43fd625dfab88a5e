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


"""Topic names live in interface/topics.py only; nodes and tools take them from there."""

import ast
from pathlib import Path

from imitation_ros.interface import topics

PKG = Path(__file__).resolve().parents[1] / 'imitation_ros'
ALL = [v for v in vars(topics).values() if isinstance(v, topics.Topic)]
#: Names distinctive enough that any string equal to one is a topic name.
DISTINCT = {n for t in ALL for n in (t.name, t.bag_name) if '/' in t.name.strip('/')}
DISTINCT |= {'/diagnostics'}
CREATE = ('create_publisher', 'create_subscription')


def _literals(path: Path) -> list:
    """Return (line, text) of topic literals in ``path``."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding='utf-8'))):
        if isinstance(node, ast.Constant) and node.value in DISTINCT:
            found.append((node.lineno, node.value))
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
              and node.func.attr in CREATE and len(node.args) > 1
              and isinstance(node.args[1], ast.Constant)):
            found.append((node.lineno, node.args[1].value))
    return found


def test_topic_names_are_relative_except_diagnostics() -> None:
    """Every topic but /diagnostics follows the node's namespace."""
    assert [t.name for t in ALL if t.name.startswith('/')] == ['/diagnostics']
    assert len({t.name for t in ALL}) == len(ALL)


def test_no_topic_literal_outside_the_table() -> None:
    """No module but interface/topics.py spells a topic name or creates a literal topic."""
    found = {str(p.relative_to(PKG)): _literals(p) for p in sorted(PKG.glob('**/*.py'))
             if p != PKG / 'interface' / 'topics.py'}
    assert {k: v for k, v in found.items() if v} == {}


def test_the_literal_check_sees_both_forms(tmp_path: Path) -> None:
    """A spelled name and a literal subscription are both found (so the check can fail)."""
    probe = tmp_path / 'probe.py'
    probe.write_text("A = 'imitation/episode'\n"
                     "node.create_subscription(Joy, 'joy', cb, 10)\n")
    assert _literals(probe) == [(1, 'imitation/episode'), (2, 'joy')]
