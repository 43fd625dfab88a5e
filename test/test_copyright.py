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

"""Every source file carries the Apache-2.0 license header (ament_copyright where present)."""

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SOURCES = sorted([*ROOT.glob('imitation_ros/**/*.py'), *ROOT.glob('launch/*.py'),
                  *ROOT.glob('test/*.py')])


@pytest.mark.copyright
@pytest.mark.linter
@pytest.mark.parametrize('path', SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_license_header(path: Path) -> None:
    """The file starts with the copyright line and the Apache-2.0 license notice."""
    head = path.read_text(encoding='utf-8').splitlines()[:13]
    assert head and head[0].startswith('# Copyright '), f'{path}: no copyright line'
    assert any('Apache License, Version 2.0' in line for line in head), f'{path}: no license'


@pytest.mark.copyright
@pytest.mark.linter
def test_ament_copyright() -> None:
    """ament_copyright agrees (it ships with ROS 2, not with the PyPI wheels)."""
    ament_copyright = pytest.importorskip(
        'ament_copyright.main', reason='ament_copyright comes with a ROS 2 install, not PyPI')
    rc = ament_copyright.main(argv=[str(ROOT / 'imitation_ros'), str(ROOT / 'launch'),
                                    str(ROOT / 'test')])
    assert rc == 0, 'Found errors'
