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


"""The kinematics timing: every package URDF timed, a table in microseconds."""

from pathlib import Path

from imitation_ros.studies.kinematics_timing import format_kinematics, ROBOTS, time_kinematics

URDF = Path(__file__).resolve().parents[1] / 'urdf'


def test_every_package_robot_is_timed_with_its_joint_count() -> None:
    """The planar arm has 3 joints and the Panda's chain 7; each gets finite timings."""
    rows = time_kinematics(URDF, calls=5)
    assert [(r['robot'], r['joints']) for r in rows] == [('planar3', 3), ('panda', 7)]
    assert all(0 < r['p50_ms'] <= r['p99_ms'] <= r['max_ms'] for r in rows)
    table = format_kinematics(rows).splitlines()
    assert len(table) == 2 + len(ROBOTS) and table[2].startswith('| planar3 | 3 |')
