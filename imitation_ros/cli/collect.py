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
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path
import sys

from ..collect import collect
from ..sim.arm import ArmConfig
from ..sim.experts import EXPERT_NAMES


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``collect``."""
    p = sub.add_parser('collect', help='roll a scripted demonstrator and write episode bags',
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--expert', choices=EXPERT_NAMES, default='multi',
                   help='demonstrator: above, below, or multi (a new one each episode)')
    p.add_argument('--episodes', type=int, default=100, help='number of episodes (default 100)')
    p.add_argument('--out', type=Path, default=Path('data'), help='data directory (default data)')
    p.add_argument('--session', default='', help='session folder name (default EXPERT_seedS)')
    p.add_argument('--seed', type=int, default=0, help='seed of tasks and demonstrators')
    p.add_argument('--camera-every', type=int, default=2,
                   help='a camera frame every N control steps, 0 for none (default 2: 10 Hz)')
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
    cfg = replace(ArmConfig(), actuation_noise=args.actuation_noise,
                  action_delay=args.action_delay)
    s = collect(args.expert, args.episodes, args.out, seed=args.seed, session=args.session,
                config=cfg, camera_every=args.camera_every, progress=not args.no_progress)
    print(f'wrote {s.episodes} episodes ({s.samples} samples) to {s.session_dir}')
    print(f'  success {s.successes}/{s.episodes} = {s.successes / s.episodes:.3f}; '
          f'passed above {s.above}, below {s.episodes - s.above}')
    print(f'  {s.bytes / 1e6:.1f} MB on disk, {s.seconds:.1f} s '
          f'({s.episodes / max(s.seconds, 1e-9):.1f} episodes/s)')
    print(f'  inspect with: imitation-ros bag-info {s.session_dir}')
    return 0
