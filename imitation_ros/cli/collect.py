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
``imitation-ros collect``: roll a scripted demonstrator in the sim and write episode bags.

The sim runs directly (no DDS), so collecting is fast; the bags hold exactly
the topics, message types and CDR bytes that the live recorder writes.
``--robot panda`` rolls the MuJoCo Panda's demonstrators instead
(``--task reach|pick``, ``--expert left|right|straight|turned|multi``;
:mod:`imitation_ros.collect.panda`); its camera needs ``MUJOCO_GL=egl`` on a
machine without a display, which this command sets when it is unset.
"""

from __future__ import annotations

import argparse
from dataclasses import replace
import os
from pathlib import Path
import sys

from ..collect import collect
from ..sim.arm import ArmConfig
from ..sim.experts import EXPERT_NAMES

ROBOTS = ('planar', 'panda')
# The Panda's names, here without importing MuJoCo (sim/panda/experts.py has them per task).
PANDA_TASKS = ('reach', 'pick')
PANDA_EXPERTS = {'left', 'right', 'straight', 'turned', 'multi'}


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``collect``."""
    p = sub.add_parser('collect', help='roll a scripted demonstrator and write episode bags',
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--robot', choices=ROBOTS, default='planar',
                   help='planar: the 3-joint arm (default); panda: the MuJoCo Franka Panda')
    p.add_argument('--task', choices=PANDA_TASKS, default='reach',
                   help='Panda task: reach (around a pole) or pick (and place); default reach')
    p.add_argument('--expert', choices=sorted(set(EXPERT_NAMES) | PANDA_EXPERTS),
                   default='multi', help='demonstrator: planar above, below; Panda reach left, '
                   'right, pick straight, turned; or multi (a new one each episode)')
    p.add_argument('--episodes', type=int, default=100, help='number of episodes (default 100)')
    p.add_argument('--out', type=Path, default=Path('data'), help='data directory (default data)')
    p.add_argument('--session', default='', help='session folder name (default EXPERT_seedS)')
    p.add_argument('--seed', type=int, default=0, help='seed of tasks and demonstrators')
    p.add_argument('--camera-every', type=int, default=None,
                   help='a camera frame every N control steps, 0 for none (default: planar 2, '
                   '10 Hz; panda 1, 20 Hz)')
    p.add_argument('--actuation-noise', type=float, default=0.0,
                   help='std of joint motion noise per step (rad)')
    p.add_argument('--action-delay', type=int, default=0, help='command delay (control steps)')
    p.add_argument('--no-progress', action='store_true', help='no progress bar')
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run ``collect`` and print what it wrote."""
    if args.episodes < 1:
        print('error: --episodes must be >= 1', file=sys.stderr)
        return 2
    if args.robot == 'panda':
        return run_panda(args)
    if args.expert not in EXPERT_NAMES:
        print(f'error: the planar arm\'s demonstrators are {", ".join(EXPERT_NAMES)}; '
              f'{args.expert!r} is a Panda one (add --robot panda)', file=sys.stderr)
        return 2
    camera_every = 2 if args.camera_every is None else args.camera_every
    cfg = replace(ArmConfig(), actuation_noise=args.actuation_noise,
                  action_delay=args.action_delay)
    s = collect(args.expert, args.episodes, args.out, seed=args.seed, session=args.session,
                config=cfg, camera_every=camera_every, progress=not args.no_progress)
    print(f'wrote {s.episodes} episodes ({s.samples} samples) to {s.session_dir}')
    print(f'  success {s.successes}/{s.episodes} = {s.successes / s.episodes:.3f}; '
          f'passed above {s.above}, below {s.episodes - s.above}')
    print(f'  {s.bytes / 1e6:.1f} MB on disk, {s.seconds:.1f} s '
          f'({s.episodes / max(s.seconds, 1e-9):.1f} episodes/s)')
    print(f'  inspect with: imitation-ros bag-info {s.session_dir}')
    return 0


def run_panda(args: argparse.Namespace) -> int:
    """Run ``collect --robot panda`` and print what it wrote."""
    # MuJoCo picks its OpenGL backend on import; EGL renders without a display.
    os.environ.setdefault('MUJOCO_GL', 'egl')
    from ..collect.panda import collect_panda  # lazy: MuJoCo only for the Panda
    from ..sim.panda.experts import EXPERT_NAMES as PANDA_NAMES  # lazy: MuJoCo only for the Panda
    if args.expert not in PANDA_NAMES[args.task]:
        print(f'error: the Panda {args.task} demonstrators are '
              f'{", ".join(PANDA_NAMES[args.task])}, got {args.expert!r}', file=sys.stderr)
        return 2
    if args.actuation_noise or args.action_delay:
        print('error: --actuation-noise and --action-delay are options of the planar arm',
              file=sys.stderr)
        return 2
    camera_every = 1 if args.camera_every is None else args.camera_every
    s = collect_panda(args.task, args.expert, args.episodes, args.out, seed=args.seed,
                      session=args.session, camera_every=camera_every,
                      progress=not args.no_progress)
    modes = ', '.join(f'{k} {v}' for k, v in sorted(s.modes.items()))
    print(f'wrote {s.episodes} Panda {s.task} episodes ({s.samples} samples, {s.frames} camera '
          f'frames) to {s.session_dir}')
    print(f'  success {s.successes}/{s.episodes} = {s.successes / s.episodes:.3f}; modes: {modes}')
    print(f'  {s.bytes / 1e6:.1f} MB on disk, {s.seconds:.1f} s '
          f'({s.episodes_per_second:.2f} episodes/s)')
    print(f'  inspect with: imitation-ros bag-info {s.session_dir}')
    return 0
