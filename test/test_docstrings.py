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

"""Module docstrings stay a paragraph or two; long explanations live in docs/."""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / 'imitation_ros'

#: The most lines a module docstring may have.
MAX_LINES = 40


def test_module_docstrings_are_short():
    """No module docstring is longer than MAX_LINES lines."""
    too_long = []
    for path in sorted(PACKAGE.rglob('*.py')):
        relative = path.relative_to(PACKAGE)
        doc = ast.get_docstring(ast.parse(path.read_text()), clean=True)
        if doc and len(doc.splitlines()) > MAX_LINES:
            too_long.append(f'{relative}: {len(doc.splitlines())} lines')
    assert not too_long, (f'module docstrings over {MAX_LINES} lines (move the explanation '
                          f'to docs/): {too_long}')
