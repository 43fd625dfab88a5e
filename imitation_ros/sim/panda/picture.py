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
A picture of both Panda tasks from the policy's camera, for the documentation.

``MUJOCO_GL=egl python -m imitation_ros.sim.panda.picture --out docs/panda_tasks.png``
draws, per task, the 96x96 frame an image policy sees at the start, then the
same camera at a larger size along one demonstration of each mode.
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

import numpy as np

from .experts import make_expert
from .model import PandaConfig
from .rollout import rollout
from .sim import PandaSim

#: (task, demonstrators of its two modes, seed of the task shown).
SCENES = (('reach', ('left', 'right'), 3), ('pick', ('straight', 'turned'), 5))


def demonstration_frames(task: str, expert: str, seed: int, size: int,
                         count: int = 3) -> list[np.ndarray]:
    """Return ``count`` frames (size x size) spread over one demonstration, the last at its end."""
    sim = PandaSim(replace(PandaConfig(), image_width=size, image_height=size), task_kind=task)
    if not sim.has_camera:
        raise RuntimeError(sim.camera_error)
    demonstrator = make_expert(task, expert, sim.kinematics, sim.config,
                               np.random.default_rng(0))
    trajectory = rollout(sim, demonstrator.action, seed=seed, image_every=1)
    frames = list(trajectory.images)
    frames.append(sim.render())  # the final state
    sim.close()
    picks = np.linspace(len(frames) // count, len(frames) - 1, count).round().astype(int)
    return [frames[i] for i in picks]


def start_frame(task: str, seed: int) -> np.ndarray:
    """Return the 96x96 frame an image policy sees at the start of the task of ``seed``."""
    sim = PandaSim(PandaConfig(), task_kind=task)
    if not sim.has_camera:
        raise RuntimeError(sim.camera_error)
    sim.reset(seed=seed)
    frame = sim.render()
    sim.close()
    return frame


def draw(out: Path, size: int = 240) -> Path:
    """Write the picture to ``out`` (PNG) and return the path."""
    import matplotlib  # lazy: matplotlib only when drawing
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt  # lazy: matplotlib only when drawing
    fig, axes = plt.subplots(len(SCENES) * 2, 4, figsize=(10.0, 5.3 * len(SCENES)), dpi=100)
    for r, (task, experts, seed) in enumerate(SCENES):
        first = start_frame(task, seed)
        for m, expert in enumerate(experts):
            row = axes[2 * r + m]
            row[0].imshow(first, interpolation='nearest')
            row[0].set_title(f'{task}: what the policy sees\n(96x96, start)', fontsize=9)
            for k, frame in enumerate(demonstration_frames(task, expert, seed, size)):
                row[k + 1].imshow(frame)
                row[k + 1].set_title(f'{task}, {expert} demonstrator, {k + 1}/3', fontsize=9)
            for ax in row:
                ax.set_xticks([])
                ax.set_yticks([])
            if m == 1:
                row[0].set_visible(False)
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)
    return out


def main(argv: list[str] | None = None) -> int:
    """Draw the picture; return the exit status."""
    parser = argparse.ArgumentParser(prog='python -m imitation_ros.sim.panda.picture',
                                     description=__doc__.strip().splitlines()[0])
    parser.add_argument('--out', type=Path, default=Path('docs/panda_tasks.png'))
    parser.add_argument('--size', type=int, default=240, help='size of the larger frames (px)')
    args = parser.parse_args(argv)
    print(draw(args.out, args.size))
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
