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

"""package.xml is well formed and format 3 (ament_xmllint validates the schema where present)."""

from pathlib import Path
import xml.etree.ElementTree as ET

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.linter
@pytest.mark.xmllint
def test_package_xml() -> None:
    """package.xml parses, is format 3 and declares the runtime dependencies."""
    root = ET.parse(ROOT / 'package.xml').getroot()
    assert root.tag == 'package' and root.get('format') == '3'
    assert root.findtext('name') == 'imitation_ros'
    depends = {e.text for e in root.iter('depend')}
    assert {'rclpy', 'std_msgs', 'sensor_msgs', 'std_srvs', 'diagnostic_msgs',
            'trajectory_msgs'} <= depends
    assert {'launch', 'launch_ros', 'joy'} <= {e.text for e in root.iter('exec_depend')}
    assert root.find('export/build_type').text == 'ament_python'


@pytest.mark.linter
@pytest.mark.xmllint
def test_ament_xmllint() -> None:
    """ament_xmllint validates package.xml against its schema."""
    ament_xmllint = pytest.importorskip(
        'ament_xmllint.main', reason='ament_xmllint comes with a ROS 2 install, not PyPI')
    assert ament_xmllint.main(argv=[str(ROOT / 'package.xml')]) == 0
