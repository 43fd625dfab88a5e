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
``imitation-ros benchmark``: the studies behind the README tables.

- ``expressivity``: every policy kind on single- and multi-demonstrator data
  (success, spread over seeds, mode coverage), table and rollout plot.
- ``latency``: ONNX Runtime against PyTorch eager per kind, p50/p99, and the two
  diffusion exports.

These take minutes; they print numbers and write files, they are not tests.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``benchmark``."""
    p = sub.add_parser('benchmark', help='run a study (expressivity, latency)',
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    which = p.add_subparsers(dest='study', metavar='STUDY')
    which.required = True
    e = which.add_parser('expressivity', help='mse vs gmm vs ar vs diffusion on 1 and many '
                         'demonstrators')
    e.add_argument('--out', type=Path, default=Path('results/expressivity'))
    e.add_argument('--train-episodes', type=int, default=200)
    e.add_argument('--eval-episodes', type=int, default=100)
    e.add_argument('--seeds', type=int, default=3, help='training seeds per model')
    e.add_argument('--steps', action='append', default=[], metavar='KIND=N',
                   help='gradient steps for a kind (defaults: mse 2000, gmm 3000, ar 3000, '
                   'diffusion 8000)')
    e.add_argument('--kinds', default='mse,gmm,ar,diffusion')
    e.add_argument('--no-progress', action='store_true')
    e.set_defaults(func=run_expressivity_cmd)
    la = which.add_parser('latency', help='ONNX Runtime vs PyTorch eager per kind')
    la.add_argument('--out', type=Path, default=Path('results/latency'))
    la.add_argument('--calls', type=int, default=1000)
    la.add_argument('--no-progress', action='store_true')
    la.set_defaults(func=run_latency_cmd)


def run_expressivity_cmd(args: argparse.Namespace) -> int:
    """Run the expressivity study and print the table."""
    from ..studies.expressivity import run_expressivity
    run_expressivity(args.out, train_episodes=args.train_episodes,
                     eval_episodes=args.eval_episodes, seeds=tuple(range(args.seeds)),
                     kinds=tuple(args.kinds.split(',')),
                     steps={k: int(v) for k, v in (s.split('=', 1) for s in args.steps)},
                     progress=not args.no_progress)
    print((args.out / 'table.md').read_text())
    print(f'wrote {args.out / "table.md"} and {args.out / "rollouts.png"}')
    return 0


def run_latency_cmd(args: argparse.Namespace) -> int:
    """Run the latency study and print the table."""
    from ..studies.latency import format_latency, run_latency
    rows = run_latency(args.out, calls=args.calls, progress=not args.no_progress)
    table = format_latency(rows)
    (args.out / 'table.md').write_text(table + '\n')
    (args.out / 'latency.json').write_text(json.dumps(rows, indent=1))
    print(table)
    return 0
