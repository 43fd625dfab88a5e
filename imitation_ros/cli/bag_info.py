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

"""``imitation-ros bag-info``: list episode bags with durations, outcomes, sources, takeovers."""

from __future__ import annotations

import argparse
from pathlib import Path
import sys

from ..data.bags import format_bag_info


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``bag-info``."""
    p = sub.add_parser('bag-info', help='list episode bags: duration, outcome, source, takeovers',
                       description=__doc__)
    p.add_argument('paths', nargs='+', type=Path, help='data directories or single bags')
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Print the table for every path."""
    for path in args.paths:
        if not path.exists():
            print(f'error: {path} does not exist', file=sys.stderr)
            return 2
        print(format_bag_info(path))
    return 0
