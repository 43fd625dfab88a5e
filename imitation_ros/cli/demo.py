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
``imitation-ros demo``: the main job in simulation.

Collects a first dataset of multi-demonstrator episodes and prints what it
wrote (the HG-DAgger rounds build on this dataset).
"""

from __future__ import annotations

import argparse
from datetime import datetime, timezone
from pathlib import Path

from ..data.bags import format_bag_info
from .collect import collect


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``demo``."""
    p = sub.add_parser('demo', help='run the main job in simulation', description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--data-dir', type=Path, default=Path('data'), help='where bags go')
    p.add_argument('--demos', type=int, default=20, help='demonstrations to collect first')
    p.add_argument('--seed', type=int, default=0, help='seed')
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Collect the first dataset and print a summary."""
    session = datetime.now(timezone.utc).strftime('demo_%Y%m%d_%H%M%S')
    summary = collect('multi', args.demos, args.data_dir, seed=args.seed, session=session)
    print(format_bag_info(summary.session_dir))
    print(f'\nwrote {summary.episodes} demonstrations ({summary.samples} samples, '
          f'{summary.bytes / 1e6:.1f} MB) to {summary.session_dir} in {summary.seconds:.1f} s')
    return 0
