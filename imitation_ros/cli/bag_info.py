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
``imitation-ros bag-info``: list episode bags with durations, outcomes, sources, takeovers.

Every bag is read as the dataset loader reads it (bounded, see
:mod:`imitation_ros.data.storage`); the ones the loader would skip are marked
``UNREADABLE`` or listed as skipped, with why, and left out of the totals.
``--metadata-only`` reads just each bag's metadata.yaml (fast on big data
directories; damaged messages then go unnoticed).
"""

from __future__ import annotations

import argparse
from pathlib import Path
import sys

from ..data import format_bag_info


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``bag-info``."""
    p = sub.add_parser('bag-info', help='list episode bags: duration, outcome, source, takeovers',
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('paths', nargs='+', type=Path, help='data directories or single bags')
    p.add_argument('--metadata-only', action='store_true',
                   help='read only metadata.yaml (fast; does not find damaged messages)')
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Print the table for every path."""
    for path in args.paths:
        if not path.exists():
            print(f'error: {path} does not exist', file=sys.stderr)
            return 2
        print(format_bag_info(path, check=not args.metadata_only))
    return 0
