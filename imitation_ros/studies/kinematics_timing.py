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


"""
The teleop tick's kinematics: forward kinematics plus Jacobian per call, per URDF.

The gate runs both once per control period in cartesian teleop (Pinocchio, through
:class:`~imitation_ros.interface.robot.RobotModel`); at 100 Hz the budget is 10 ms.
``imitation-ros benchmark kinematics``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from ..interface.robot import RobotModel
from .timing import measure

#: The package's URDFs and their chains: name -> (file under urdf/, base link, tip link).
ROBOTS: dict[str, tuple[str, str, str]] = {
    'planar3': ('planar3.urdf', '', ''),
    'panda': ('panda.urdf', 'panda_link0', 'panda_hand_tcp'),
}


def time_kinematics(urdf_dir: Path, robots: Sequence[str] = tuple(ROBOTS), calls: int = 2000,
                    seed: int = 0) -> list[dict]:
    """Return, per robot, joints and the p50/p99/max of one pose + Jacobian call (ms)."""
    rows = []
    for name in robots:
        file, base, tip = ROBOTS[name]
        model = RobotModel.from_file(Path(urdf_dir) / file, base_link=base, tip_link=tip)
        qs = np.random.default_rng(seed).uniform(-0.5, 0.5, (calls + 50, model.n_joints))
        it = iter(qs)

        def call() -> None:
            q = next(it)
            model.pose(q)
            model.jacobian(q)

        rows.append({'robot': name, 'joints': model.n_joints, **measure(call, calls=calls)})
    return rows


def format_kinematics(rows: list[dict]) -> str:
    """Return the rows as a Markdown table in microseconds."""
    lines = ['| robot | joints | pose + Jacobian p50 (us) | p99 (us) | max (us) | share of a '
             '100 Hz tick at p99 |', '|---|---|---|---|---|---|']
    for r in rows:
        lines.append(f"| {r['robot']} | {r['joints']} | {r['p50_ms'] * 1e3:.1f} | "
                     f"{r['p99_ms'] * 1e3:.1f} | {r['max_ms'] * 1e3:.1f} | "
                     f"{r['p99_ms'] / 10.0:.4f} |")
    return '\n'.join(lines)
