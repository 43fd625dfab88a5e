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
Episode data: rosbag2 bags written and read without rclpy, aligned into training datasets.

One module per job: :mod:`.messages` (CDR codecs; topic names from
:mod:`imitation_ros.interface.topics`), :mod:`.storage` (bounded reading of a
bag's files), :mod:`.episode` (what an episode bag is: its facts and record),
:mod:`.writer` (writing bags), :mod:`.reader` (reading them back),
:mod:`.catalogue` (finding bags, the bag-info listing), :mod:`.alignment`
(commands paired with observations, and the rule), :mod:`.dataset` (the
loader), :mod:`.index` (what the loader keeps of each bag for the next load),
:mod:`.summary` (what a dataset was made of), :mod:`.lerobot` (LeRobotDataset
export and import), :mod:`.aggregate` (training samples per the lecture).
"""

from . import messages
from .aggregate import (aggregate, DEFAULT_CORRECTION_WEIGHT, DEFAULT_MAX_COMMAND_STEP,
                        LabelledSamples)
from .alignment import align_commands, Aligned, BagMessages
from .catalogue import find_episode_bags, format_bag_info, scan_episode_bags, warn_skipped
from .dataset import Dataset, is_lerobot_dataset, load_dataset, SOURCE_CODES
from .episode import (count_takeovers, DataWarning, episode_info, EpisodeInfo, EpisodeRecord,
                      partial_path, PARTIAL_SUFFIX, SkippedBag, SOURCES)
from .reader import check_bag, episode_facts, read_bag_messages, read_episode
from .index import INDEX_DIR, IndexWarning
from .lerobot import export_lerobot, load_lerobot
from .storage import ReadLimits
from .summary import data_digest, DataSummary, FolderSummary, SessionSummary
from .writer import EpisodeBagWriter, QueuedBagWriter, QueueStats, write_episode

__all__ = [
    'aggregate',
    'align_commands',
    'Aligned',
    'BagMessages',
    'check_bag',
    'count_takeovers',
    'data_digest',
    'DataSummary',
    'DataWarning',
    'Dataset',
    'DEFAULT_CORRECTION_WEIGHT',
    'DEFAULT_MAX_COMMAND_STEP',
    'episode_facts',
    'episode_info',
    'EpisodeBagWriter',
    'EpisodeInfo',
    'EpisodeRecord',
    'export_lerobot',
    'find_episode_bags',
    'FolderSummary',
    'format_bag_info',
    'INDEX_DIR',
    'IndexWarning',
    'is_lerobot_dataset',
    'LabelledSamples',
    'load_dataset',
    'load_lerobot',
    'messages',
    'partial_path',
    'PARTIAL_SUFFIX',
    'QueuedBagWriter',
    'QueueStats',
    'read_bag_messages',
    'read_episode',
    'ReadLimits',
    'scan_episode_bags',
    'SessionSummary',
    'SkippedBag',
    'SOURCE_CODES',
    'SOURCES',
    'warn_skipped',
    'write_episode',
]
