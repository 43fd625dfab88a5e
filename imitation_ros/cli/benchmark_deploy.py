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
``imitation-ros benchmark sizes``: inference latency at the sizes users deploy.

Diffusion at about 4.5 M and 20 M parameters and mse with an image encoder on
96x96 and 224x224 frames: ONNX Runtime (CPU, and CUDA / TensorRT where present)
against PyTorch eager (imitation_ros/studies/deployed_sizes.py); writes
results/sizes/{table.md, sizes.json}.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def add_sizes_parser(which: argparse._SubParsersAction) -> None:
    """Register ``benchmark sizes``."""
    from ..studies.deployed_sizes import SIZES
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


def run_sizes_cmd(args: argparse.Namespace) -> int:
    """Time every size and print the table."""
    from ..studies.deployed_sizes import format_sizes, run_sizes
    result = run_sizes(args.out, sizes=[s for s in args.sizes.split(',') if s],
                       calls=args.calls, cpu=None if args.cpu < 0 else args.cpu,
                       providers=args.providers)
    table = format_sizes(result)
    (args.out / 'table.md').write_text(table + '\n')
    print(table)
    print(f'wrote {args.out / "table.md"} and {args.out / "sizes.json"}')
    return 0
