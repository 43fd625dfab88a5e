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

"""``imitation-ros render-task``: draw the task with demonstrations passing above and below."""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

from ..sim.arm import ArmConfig, ArmSim, end_effector
from ..sim.experts import make_expert
from ..sim.render import draw_path, render, View
from ..sim.rollout import rollout


def render_task(out: Path, *, seed: int = 3, size: int = 384, demos: int = 6) -> Path:
    """
    Write a PNG: the start posture, the final postures of both modes, and demo paths.

    Left panel: the task as the camera sees it at the start. Right panel: the
    end effector paths of ``demos`` multi-demonstrator episodes on the same task
    (blue passing above, orange below) and the final posture of the last one.
    """
    cfg = ArmConfig()
    sim = ArmSim(cfg, seed=seed)
    task = sim.reset()
    view = View(size=size)
    left = render(cfg, task, task.start, view)
    rng = np.random.default_rng(seed)
    right = None
    for i in range(demos):
        expert = make_expert('multi', cfg, rng)
        trajectory = rollout(sim, expert.action, task=task)
        if right is None:
            right = render(cfg, task, trajectory.positions[-1], view)
        ee = end_effector(cfg, trajectory.positions)
        color = (40, 90, 220) if expert.style.side > 0 else (240, 140, 20)
        draw_path(right, ee, color, view, thickness=2)
    assert right is not None
    image = np.hstack([left, np.full((size, 4, 3), 200, np.uint8), right])
    out.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(out), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    return out


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``render-task``."""
    p = sub.add_parser('render-task', help='draw the task and demonstrations to a PNG',
                       description=__doc__)
    p.add_argument('--out', type=Path, default=Path('docs/task.png'), help='PNG path')
    p.add_argument('--seed', type=int, default=3, help='task seed')
    p.add_argument('--size', type=int, default=384, help='panel size (px)')
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Render and print the path."""
    print(f'wrote {render_task(args.out, seed=args.seed, size=args.size)}')
    return 0
