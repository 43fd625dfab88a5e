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
``imitation-ros benchmark rl``: BC for the start, RL for the rest (imitation_ros/studies/rl.py).

BC alone, BC + RL without a human, BC + RL with the simulated operator's
interventions and HG-DAgger from the same start, on the planar arm with
actuation noise (``--robot planar``) or on the MuJoCo Panda's reach task
(``--robot panda``, imitation_ros/studies/rl_panda.py); success against
environment episodes and against human labels. Writes results/rl/ (the Panda:
results/rl_panda/) {table.md, curve.png, cells.json}.
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path
import sys


def add_rl_parser(which: argparse._SubParsersAction) -> None:
    """Register ``benchmark rl``."""
    r = which.add_parser('rl', help='BC vs BC + RL (with and without interventions) vs '
                         'HG-DAgger', description=__doc__,
                         formatter_class=argparse.RawDescriptionHelpFormatter)
    r.add_argument('--robot', choices=('planar', 'panda'), default='planar',
                   help='planar: the planar arm with actuation noise; panda: the MuJoCo '
                   'Panda\'s reach task (default out results/rl_panda)')
    r.add_argument('--out', type=Path, default=Path('results/rl'))
    r.add_argument('--seeds', type=int, default=3, help='training seeds (default 3)')
    r.add_argument('--demos', type=int, default=None,
                   help='demonstrations every method starts from (default 8; panda 4)')
    r.add_argument('--episodes', type=int, default=None,
                   help='RL episodes per run (default 150; panda 100)')
    r.add_argument('--eval-every', type=int, default=None,
                   help='RL episodes between evaluations (default 25)')
    r.add_argument('--eval-episodes', type=int, default=None,
                   help='evaluation episodes per model (default 100)')
    r.add_argument('--rounds', type=int, default=None,
                   help='HG-DAgger rounds (default 10; panda 8)')
    r.add_argument('--methods', default='bc,rl,rl_hil,hg_dagger',
                   help='among bc, rl, rl_hil, hg_dagger, bc_gmm, rl_gmm')
    r.add_argument('--workers', type=int, default=1,
                   help='seeds run at once, one process each (default 1)')
    r.add_argument('--quick', action='store_true', help='a smoke run of a few minutes')
    r.add_argument('--no-progress', action='store_true')
    r.set_defaults(func=run_rl_cmd)


def run_rl_cmd(args: argparse.Namespace) -> int:
    """Run the RL fine-tuning study and print the table."""
    # lazy: keeps imitation-ros --help fast
    from ..studies.rl import QUICK, QUICK_BASE, QUICK_RL, RlStudyConfig, run_rl_study
    from ..training.rl import FinetuneConfig  # lazy: keeps imitation-ros --help fast
    if args.seeds < 1 or args.workers < 1:
        print('error: --seeds and --workers must be >= 1', file=sys.stderr)
        return 2
    if args.robot == 'panda':
        return run_rl_panda_cmd(args)
    study = RlStudyConfig(**(QUICK if args.quick else {}))
    base = replace(study.base, **(QUICK_BASE if args.quick else {}))
    if args.demos is not None:
        base = replace(base, bc_demos=(args.demos,), initial_demos=args.demos)
    if args.eval_episodes is not None:
        base = replace(base, eval_episodes=args.eval_episodes)
    if args.rounds is not None:
        base = replace(base, rounds=args.rounds)
    rl = replace(FinetuneConfig(), **(QUICK_RL if args.quick else {}))
    if args.episodes is not None:
        rl = replace(rl, episodes=args.episodes,
                     warmup_episodes=min(rl.warmup_episodes, args.episodes))
    study = replace(study, base=base, rl=rl)
    if args.eval_every is not None:
        study = replace(study, eval_every=args.eval_every)
    run_rl_study(args.out, study, seeds=tuple(range(args.seeds)),
                 progress=not args.no_progress, methods=tuple(args.methods.split(',')),
                 workers=args.workers)
    print((args.out / 'table.md').read_text())
    print(f'wrote {args.out / "table.md"}, {args.out / "curve.png"} and '
          f'{args.out / "cells.json"}')
    return 0


def run_rl_panda_cmd(args: argparse.Namespace) -> int:
    """Run the Panda's RL fine-tuning study and print the table."""
    from ..nodes.share import share_dir  # lazy: keeps imitation-ros --help fast
    # lazy: keeps imitation-ros --help fast
    from ..studies.rl_panda import (PandaRlConfig, QUICK_PANDA, QUICK_PANDA_RL,
                                    run_rl_panda_study)
    out = Path('results/rl_panda') if args.out == Path('results/rl') else args.out
    study = PandaRlConfig(**(QUICK_PANDA if args.quick else {}))
    rl = replace(study.rl, **(QUICK_PANDA_RL if args.quick else {}))
    if args.episodes is not None:
        rl = replace(rl, episodes=args.episodes,
                     warmup_episodes=min(rl.warmup_episodes, args.episodes))
    fields = {name: value for name, value in (
        ('demos', args.demos), ('eval_episodes', args.eval_episodes),
        ('rounds', args.rounds), ('eval_every', args.eval_every)) if value is not None}
    study = replace(study, rl=rl, **fields)
    urdf = (share_dir() / 'urdf' / 'panda.urdf').read_text(encoding='utf-8')
    run_rl_panda_study(out, urdf, study, seeds=tuple(range(args.seeds)),
                       progress=not args.no_progress, methods=tuple(args.methods.split(',')),
                       workers=args.workers)
    print((out / 'table.md').read_text())
    print(f'wrote {out / "table.md"}, {out / "curve.png"} and {out / "cells.json"}')
    return 0
