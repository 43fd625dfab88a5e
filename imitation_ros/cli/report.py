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
``imitation-ros report``: write docs/results.md from results/ and its prose templates.

``--check`` writes nothing and exits 1 when the file differs from what the
results would give (a table changed without running the report).
"""

from __future__ import annotations

import argparse
from pathlib import Path
import sys

from ..studies import report


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``report``."""
    p = sub.add_parser('report', help='write docs/results.md from results/*/table.md',
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--root', type=Path, default=Path('.'),
                   help='the checkout holding results/ and docs/ (default: .)')
    p.add_argument('--check', action='store_true',
                   help='write nothing; exit 1 if docs/results.md is not up to date')
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Write or check docs/results.md."""
    text = report.render(args.root)
    path = args.root / report.OUTPUT
    if args.check:
        if not path.is_file() or path.read_text() != text:
            print(f'{path} is out of date: run `imitation-ros report`', file=sys.stderr)
            return 1
        print(f'{path} is up to date')
        return 0
    path.write_text(text)
    print(f'wrote {path}')
    return 0
