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
``imitation-ros soak``: the hg_dagger graph for minutes with faults injected on a schedule.

Each node runs as its own process; the faults come in turn (joystick unplugged during a
takeover, policy stalled, NaN actions, recorder killed and restarted, trainer killed and
restarted, disk nearly full, hostile model paths). Prints per fault the time to a safe
hold, per topic the messages published against recorded, commands expected against sent
with the largest gap, and each node's memory at the start and the end; writes the tables
to OUT/table.md. The disk fault needs a tmpfs (run as root); elsewhere it is skipped.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..nodes.share import share_dir


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``soak``."""
    from ..bringup.soak import FAULTS  # lazy: keeps imitation-ros --help fast
    p = sub.add_parser('soak', help='run the graph with faults injected and report losses',
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--minutes', type=float, default=30.0, help='how long (default 30)')
    p.add_argument('--out', type=Path, default=Path('results/soak'),
                   help='folder for logs, bags and table.md (default results/soak)')
    p.add_argument('--domain-id', type=int, default=42, help='ROS domain (default 42)')
    p.add_argument('--model', type=Path, default=None,
                   help='start model (default: the shipped planar_gmm_multi.onnx)')
    p.add_argument('--faults', nargs='+', default=list(FAULTS), choices=FAULTS,
                   help='faults, injected in this order, over and over')
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run the soak and print its tables."""
    from ..bringup.soak import format_report, Soak  # lazy: keeps imitation-ros --help fast
    model = args.model or share_dir() / 'models' / 'planar_gmm_multi.onnx'
    report = Soak(args.out, minutes=args.minutes, domain_id=args.domain_id, model=model,
                  faults=tuple(args.faults)).run()
    table = format_report(report)
    print(table)
    (args.out / 'table.md').write_text(table + '\n')
    return 0
