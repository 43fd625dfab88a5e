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
The ``imitation-ros`` command line.

Subcommands: collect, bag-info, train, export, benchmark, render-task, demo,
calibrate-help, soak, report. Errors of the project's own kind print one line
that says what to fix and exit with status 1.
"""

from __future__ import annotations

import argparse
import sys
from typing import Optional, Sequence

from ..errors import ImitationError
from . import (bag_info, benchmark, calibrate_help, collect, demo, export, finetune, render_task,
               report, soak, train)


def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser with every subcommand."""
    parser = argparse.ArgumentParser(
        prog='imitation-ros', description='Imitation learning for ROS 2 robot arms.')
    sub = parser.add_subparsers(dest='command', metavar='COMMAND')
    sub.required = True
    for module in (collect, bag_info, train, export, benchmark, render_task, demo,
                   calibrate_help, soak, finetune, report):
        module.add_parser(sub)
    return parser


def main(args: Optional[Sequence[str]] = None) -> int:
    """Run the command line; returns the exit status."""
    parsed = build_parser().parse_args(args)
    try:
        return int(parsed.func(parsed) or 0)
    except ImitationError as exc:
        print(f'error: {exc}', file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print('interrupted', file=sys.stderr)
        return 130


if __name__ == '__main__':
    sys.exit(main())
