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
Measurements of the Panda simulator: demonstrator success, camera cost, episodes per second.

``python -m imitation_ros.sim.panda.bench`` (``--help`` for options) prints,
per task and demonstrator, the success rate over N seeded episodes and the
share of each mode, then milliseconds per camera frame and episodes per
second with and without the camera. Set ``MUJOCO_GL=egl`` for the camera.
"""

from __future__ import annotations

import argparse
from collections import Counter
from dataclasses import replace
import time

import numpy as np

from .experts import EXPERT_NAMES, make_expert, PickExpert, ReachExpert
from .model import PandaConfig
from .rollout import grasp_mode, passing_side, rollout
from .sim import PandaSim
from .tasks import TASK_KINDS


def demonstrator_success(kind: str, name: str, episodes: int, seed: int = 0,
                         config: PandaConfig | None = None) -> dict:
    """
    Roll ``episodes`` seeded episodes of one demonstrator.

    :returns: success rate, end reasons, mode counts, mean steps, episodes per second.
    """
    cfg = replace(config or PandaConfig(), camera=False)
    sim = PandaSim(cfg, task_kind=kind)
    rng = np.random.default_rng(seed)
    reasons: Counter = Counter()
    modes: Counter = Counter()
    steps = []
    start = time.perf_counter()
    for episode in range(episodes):
        expert = make_expert(kind, name, sim.kinematics, cfg, rng)
        trajectory = rollout(sim, expert.action, seed=seed * 100_003 + episode)
        reasons[trajectory.reason] += 1
        steps.append(trajectory.steps)
        modes[_mode(expert, sim, trajectory)] += 1
    elapsed = time.perf_counter() - start
    return {'task': kind, 'expert': name, 'episodes': episodes,
            'success': reasons['success'] / episodes, 'reasons': dict(reasons),
            'modes': dict(modes), 'mean_steps': float(np.mean(steps)),
            'episodes_per_s': episodes / elapsed}


def _mode(expert: ReachExpert | PickExpert, sim: PandaSim, trajectory) -> str:
    """Return the mode the trajectory shows (measured, not the style's)."""
    if isinstance(expert, ReachExpert):
        return {1: 'left', -1: 'right', 0: 'none'}[passing_side(trajectory)]
    return {0: 'straight', 1: 'turned', -1: 'none'}[grasp_mode(sim.kinematics, trajectory)]


def camera_timing(width: int, height: int, frames: int = 50) -> float | str:
    """Milliseconds per rendered frame at width x height, or why there is no camera."""
    sim = PandaSim(PandaConfig(image_width=width, image_height=height), task_kind='pick')
    if not sim.has_camera:
        return sim.camera_error
    sim.reset(seed=0)
    sim.render()  # the first frame compiles shaders
    start = time.perf_counter()
    for _ in range(frames):
        sim.render()
    ms = (time.perf_counter() - start) / frames * 1000
    sim.close()
    return ms


def episodes_per_second(kind: str, episodes: int, image_every: int) -> float | str:
    """Episodes per second of the 'multi' demonstrator, rendering every ``image_every`` steps."""
    sim = PandaSim(PandaConfig(camera=image_every > 0), task_kind=kind)
    if image_every and not sim.has_camera:
        return sim.camera_error
    rng = np.random.default_rng(0)
    start = time.perf_counter()
    for episode in range(episodes):
        expert = make_expert(kind, 'multi', sim.kinematics, sim.config, rng)
        rollout(sim, expert.action, seed=episode, image_every=image_every)
    sim.close()
    return episodes / (time.perf_counter() - start)


def main(argv: list[str] | None = None) -> int:
    """Print the measurements; return the exit status."""
    parser = argparse.ArgumentParser(
        prog='python -m imitation_ros.sim.panda.bench',
        description='Success of the Panda demonstrators, camera cost, episodes per second.')
    parser.add_argument('--episodes', type=int, default=200,
                        help='episodes per demonstrator (default 200)')
    parser.add_argument('--task', choices=(*TASK_KINDS, 'all'), default='all')
    parser.add_argument('--seed', type=int, default=0, help='seed of the episode series')
    parser.add_argument('--speed-episodes', type=int, default=10,
                        help='episodes per episodes-per-second measurement (default 10)')
    parser.add_argument('--skip-success', action='store_true',
                        help='only measure the camera and the speed')
    args = parser.parse_args(argv)
    kinds = TASK_KINDS if args.task == 'all' else (args.task,)
    if not args.skip_success:
        print(f'demonstrator success over {args.episodes} episodes (seed {args.seed}):')
        for kind in kinds:
            for name in EXPERT_NAMES[kind]:
                r = demonstrator_success(kind, name, args.episodes, args.seed)
                print(f'  {kind:5s} {name:8s} success {r["success"]:.3f}  reasons {r["reasons"]}'
                      f'  modes {r["modes"]}  mean steps {r["mean_steps"]:.1f}'
                      f'  {r["episodes_per_s"]:.2f} episodes/s', flush=True)
    print('camera (ms per frame, pick scene):')
    for size in (96, 224):
        ms = camera_timing(size, size)
        text = f'{ms:.2f} ms' if isinstance(ms, float) else f'unavailable: {ms}'
        print(f'  {size}x{size}: {text}', flush=True)
    print(f'episodes per second, multi demonstrator, {args.speed_episodes} episodes:')
    for kind in kinds:
        for label, every in (('no camera', 0), ('96x96 frame every step', 1)):
            eps = episodes_per_second(kind, args.speed_episodes, every)
            text = f'{eps:.2f}' if isinstance(eps, float) else f'unavailable: {eps}'
            print(f'  {kind:5s} {label}: {text}', flush=True)
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
