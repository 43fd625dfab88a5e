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
Two benchmarks of the deployed loop: ``sizes`` and ``turnaround``.

``imitation-ros benchmark sizes``: inference latency at the sizes users deploy,
diffusion at about 4.5 M and 20 M parameters and mse with an image encoder on
96x96 and 224x224 frames: ONNX Runtime (CPU, and CUDA / TensorRT where present)
against PyTorch eager (imitation_ros/studies/deployed_sizes.py); writes
results/sizes/{table.md, sizes.json}. ``imitation-ros benchmark turnaround``:
from a new episode bag to the retrained model live in policy_node, per data size,
each phase timed (imitation_ros/studies/turnaround.py); writes
results/turnaround/{table.md, turnaround.json}.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def add_sizes_parser(which: argparse._SubParsersAction) -> None:
    """Register ``benchmark sizes``."""
    from ..studies.deployed_sizes import SIZES  # lazy: keeps imitation-ros --help fast
    sp = which.add_parser('sizes', help='latency at deployed sizes: ONNX Runtime vs torch, '
                          'CPU and GPU providers', description=__doc__,
                          formatter_class=argparse.RawDescriptionHelpFormatter)
    sp.add_argument('--out', type=Path, default=Path('results/sizes'))
    sp.add_argument('--sizes', default=','.join(SIZES),
                    help=f'sizes to time (default all: {",".join(SIZES)})')
    sp.add_argument('--calls', type=int, default=100, help='timed calls per runtime')
    sp.add_argument('--cpu', type=int, default=0,
                    help='pin the CPU timings to this CPU (default 0; -1: no pinning)')
    sp.add_argument('--providers', nargs='+', default=['cpu', 'cuda', 'tensorrt'],
                    help='ONNX Runtime providers, each timed on its own where this build has it')
    sp.set_defaults(func=run_sizes_cmd)


def add_turnaround_parser(which: argparse._SubParsersAction) -> None:
    """Register ``benchmark turnaround``."""
    tp = which.add_parser('turnaround', help='new bag to the retrained model live in '
                          'policy_node: load, train, export, validate, hot-load per data size',
                          description=__doc__,
                          formatter_class=argparse.RawDescriptionHelpFormatter)
    tp.add_argument('--out', type=Path, default=Path('results/turnaround'))
    tp.add_argument('--sizes', default='5000,50000,200000', help='samples per data folder')
    tp.add_argument('--rounds', type=int, default=3, help='timed rounds per size')
    tp.add_argument('--policy', default='gmm', help="policy kind (default gmm, the trainer's)")
    tp.add_argument('--steps', type=int, default=300,
                    help="gradient steps per round (default 300, the trainer's "
                    'warm_start_steps)')
    tp.add_argument('--size-steps', action='append', default=[], metavar='SAMPLES=STEPS',
                    help='gradient steps of one size where not --steps')
    tp.add_argument('--domain-id', type=int, default=161)
    tp.set_defaults(func=run_turnaround_cmd)


def run_turnaround_cmd(args: argparse.Namespace) -> int:
    """Time retraining rounds per data size and print the table."""
    # lazy: keeps imitation-ros --help fast
    from ..studies.turnaround import format_turnaround, run_turnaround
    by_size = {int(k): int(v) for k, v in (item.split('=', 1) for item in args.size_steps)}
    result = run_turnaround(args.out, sizes=[int(s) for s in args.sizes.split(',') if s],
                            rounds=args.rounds, kind=args.policy, steps=args.steps,
                            steps_by_size=by_size, domain_id=args.domain_id)
    table = format_turnaround(result)
    (args.out / 'table.md').write_text(table + '\n')
    print(table)
    print(f'wrote {args.out / "table.md"} and {args.out / "turnaround.json"}')
    return 0


def run_sizes_cmd(args: argparse.Namespace) -> int:
    """Time every size and print the table."""
    # lazy: keeps imitation-ros --help fast
    from ..studies.deployed_sizes import format_sizes, run_sizes
    result = run_sizes(args.out, sizes=[s for s in args.sizes.split(',') if s],
                       calls=args.calls, cpu=None if args.cpu < 0 else args.cpu,
                       providers=args.providers)
    table = format_sizes(result)
    (args.out / 'table.md').write_text(table + '\n')
    print(table)
    print(f'wrote {args.out / "table.md"} and {args.out / "sizes.json"}')
    return 0
