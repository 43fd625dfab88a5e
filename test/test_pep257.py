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

"""Docstring style: pep257 over the package (ament_pep257)."""

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.linter
@pytest.mark.pep257
def test_pep257() -> None:
    """Every module, class and function docstring passes ament_pep257."""
    ament_pep257 = pytest.importorskip(
        'ament_pep257.main', reason='ament_pep257 is not installed (make setup installs it)')
    paths = [ROOT / p for p in ('imitation_ros', 'launch', 'test') if (ROOT / p).exists()]
    rc = ament_pep257.main(argv=[str(p) for p in paths])
    assert rc == 0, 'Found code style errors / warnings'
