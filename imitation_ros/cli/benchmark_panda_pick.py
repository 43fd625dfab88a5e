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
``imitation-ros benchmark panda-pick``: HG-DAgger and DAgger rounds on the Panda's pick task.

Demonstrations from the multi pick demonstrators, a first model, then rounds
in the MuJoCo sim without ROS (imitation_ros/studies/panda_pick_dagger.py):
hg_dagger with the simulated pick operator taking over, dagger with the pick
expert labelling every state and executed with probability 0.5^(i+1). Each
version then runs --eval-episodes tasks alone. Writes <out>/<mode>/table.md.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def add_panda_pick_parser(which: argparse._SubParsersAction) -> None:
    """Register ``benchmark panda-pick``."""
    p = which.add_parser('panda-pick', help='HG-DAgger and DAgger rounds on the Panda pick task',
                         description=__doc__,
                         formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--out', type=Path, default=Path('results/panda_pick_dagger'))
    p.add_argument('--modes', default='hg_dagger,dagger',
                   help='comma separated: hg_dagger, dagger (default: both)')
    p.add_argument('--kind', default='ar', choices=('mse', 'gmm', 'ar', 'diffusion'))
    p.add_argument('--demos', type=int, default=20)
    p.add_argument('--rounds', type=int, default=3, help='rounds after round 0')
    p.add_argument('--episodes', type=int, default=10, help='episodes per round')
    p.add_argument('--train-steps', type=int, default=3000, help='steps of v001')
    p.add_argument('--warm-steps', type=int, default=500,
                   help='steps of each later version (fine-tuning the previous one)')
    p.add_argument('--eval-episodes', type=int, default=50)
    p.add_argument('--seed', type=int, default=0)
    p.set_defaults(func=run_panda_pick_cmd)


def run_panda_pick_cmd(args: argparse.Namespace) -> int:
    """Run the rounds of each mode and write their tables."""
    import torch  # lazy: keeps imitation-ros --help fast
    torch.set_num_threads(1)
    # lazy: keeps imitation-ros --help fast
    from ..studies.panda_pick_dagger import format_pick_rounds, run_pick_rounds
    for mode in [m.strip() for m in args.modes.split(',') if m.strip()]:
        out = args.out / mode
        rounds = run_pick_rounds(out, mode=mode, rounds=args.rounds, episodes=args.episodes,
                                 demos=args.demos, kind=args.kind, train_steps=args.train_steps,
                                 warm_steps=args.warm_steps, eval_episodes=args.eval_episodes,
                                 seed=args.seed)
        table = format_pick_rounds(rounds, mode)
        (out / 'table.md').write_text(
            f'{mode} on the Panda pick task: {args.kind}, {args.demos} demonstrations, '
            f'{args.episodes} episodes per round, v001 {args.train_steps} steps, later versions '
            f'{args.warm_steps} steps, {args.eval_episodes} evaluation episodes alone, seed '
            f'{args.seed}\n\n{table}\n')
        print(table)
    return 0
