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
``imitation-ros export --format lerobot``: episode bags as a LeRobotDataset (v3.0).

Loads the bags as training does (skipping, with a warning each, those that
cannot be read) and writes the folder LeRobot's ``LeRobotDataset(repo_id,
root=OUT)`` reads: parquet episodes, the camera as mp4, meta/info.json,
meta/stats.json, meta/tasks.parquet, meta/episodes. Intervention flags, expert
labels and sources go along as extra features (:mod:`imitation_ros.data.lerobot`).
``imitation-ros train --data OUT`` reads such a folder back.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..data import load_dataset
from ..data.lerobot import CODECS, export_lerobot


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``export``."""
    p = sub.add_parser('export', help='write episode bags as a LeRobotDataset',
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--format', choices=('lerobot',), default='lerobot')
    p.add_argument('--data', type=Path, nargs='+', required=True,
                   help='data folders (or single bags)')
    p.add_argument('--out', type=Path, required=True, help='new dataset folder')
    p.add_argument('--task', default='reach the goal around the obstacle',
                   help='task description of every episode')
    p.add_argument('--no-images', action='store_true', help='leave the camera out')
    p.add_argument('--no-video', action='store_true',
                   help='store frames as PNG images in the data files instead of mp4')
    p.add_argument('--codec', choices=tuple(CODECS), default='av1',
                   help='video codec: av1 (as LeRobot records), h264, lossless (H.264 RGB)')
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Load the bags and write the dataset."""
    data = load_dataset(args.data, with_images=not args.no_images)
    out = export_lerobot(data, args.out, task=args.task, video=not args.no_video,
                         codec=args.codec)
    print(f'wrote {len(data.episodes)} episodes ({len(data)} frames) to {out} '
          f'(LeRobotDataset v3.0)')
    return 0
