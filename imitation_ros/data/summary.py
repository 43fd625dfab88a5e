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
What a dataset was made of: folders, sessions, episode counts and digests.

Bags of several robots and sessions train together (one folder each, or one
data folder holding them); a model must say what it learned from. The loader
fills :class:`DataSummary` (``Dataset.summary``); :meth:`DataSummary.as_dict`
is what goes into a model's metadata. A session is the folder that holds a
bag, relative to the data folder it was found under (``robot1/2026-05-01``);
``.`` when the data folder is the session itself.
"""

from __future__ import annotations

from dataclasses import dataclass
import hashlib
import json
from pathlib import Path
from typing import Any, Sequence, TYPE_CHECKING

from .episode import EpisodeInfo, SkippedBag

if TYPE_CHECKING:
    from .dataset import Dataset

#: Sessions listed in :meth:`DataSummary.as_dict` (all are counted).
MAX_SESSIONS_LISTED = 200


def data_digest(episodes: Sequence[EpisodeInfo]) -> str:
    """Return a SHA-256 over the episodes' facts (names, counts, custom data): the data's id."""
    h = hashlib.sha256()
    for info in sorted(episodes, key=lambda e: (str(e.path.parent.name), str(e.path.name))):
        h.update(json.dumps({'bag': f'{info.path.parent.name}/{info.path.name}',
                             'counts': dict(sorted(info.message_counts.items())),
                             'custom': dict(sorted(info.custom_data.items()))},
                            sort_keys=True).encode())
    return h.hexdigest()


@dataclass(frozen=True)
class SessionSummary:
    """The episodes of one session (the folder holding their bags)."""

    name: str
    """Path of the session relative to its data folder ('.' for the folder itself)."""
    episodes: int
    """Episodes loaded."""
    samples: int
    """Samples loaded (one per command)."""
    sources: dict[str, int]
    """Episodes per source (demo, hg_dagger, dagger)."""
    digest: str
    """:func:`data_digest` of its episodes."""


@dataclass(frozen=True)
class FolderSummary:
    """What one data folder given to the loader contributed."""

    path: str
    """The folder as given."""
    format: str
    """'rosbag2' (episode bags) or 'lerobot' (a LeRobotDataset)."""
    episodes: int
    """Episodes loaded."""
    samples: int
    """Samples loaded."""
    skipped: int
    """Bags found under it but left out."""
    digest: str
    """:func:`data_digest` of its episodes."""
    sessions: tuple[SessionSummary, ...]
    """Its sessions, in load order."""


@dataclass(frozen=True)
class DataSummary:
    """What a :class:`~imitation_ros.data.dataset.Dataset` was loaded from."""

    folders: tuple[FolderSummary, ...]
    """One per path given to the loader."""
    episodes: int
    """Episodes loaded, all folders."""
    samples: int
    """Samples loaded, all folders."""
    digest: str
    """:func:`data_digest` of every episode loaded."""
    bags_read: int
    """Bags read this load."""
    bags_indexed: int
    """Bags taken from the episode index without reading them."""

    def as_dict(self) -> dict[str, Any]:
        """Return the summary as JSON-ready data (at most ``MAX_SESSIONS_LISTED`` sessions)."""
        listed = 0
        folders = []
        for f in self.folders:
            sessions = []
            for s in f.sessions:
                if listed < MAX_SESSIONS_LISTED:
                    sessions.append({'session': s.name, 'episodes': s.episodes,
                                     'samples': s.samples, 'sources': dict(s.sources),
                                     'digest': s.digest})
                listed += 1
            folders.append({'path': f.path, 'format': f.format, 'episodes': f.episodes,
                            'samples': f.samples, 'skipped_bags': f.skipped, 'digest': f.digest,
                            'sessions': sessions, 'session_count': len(f.sessions)})
        return {'episodes': self.episodes, 'samples': self.samples, 'digest': self.digest,
                'folders': folders}


def _session(root: Path, bag: Path) -> str:
    try:
        rel = bag.parent.relative_to(root)
    except ValueError:
        return '.'
    return rel.as_posix() if bag != root else '.'


def summarize(roots: Sequence[Path], loaded: Sequence[tuple[Path, int, Dataset]],
              skipped: Sequence[SkippedBag], *, read: int, indexed: int) -> DataSummary:
    """
    Summarize a load: ``loaded`` holds (bag or folder, index of its root, its samples).

    A LeRobot folder contributes one entry whose episodes form one session.
    """
    folders = []
    for r, root in enumerate(roots):
        mine = [(path, part) for path, i, part in loaded if i == r]
        sessions: dict[str, list[tuple[EpisodeInfo, int]]] = {}
        is_lerobot = (root / 'meta' / 'info.json').is_file()
        for path, part in mine:
            for e, info in enumerate(part.episodes):
                name = '.' if is_lerobot else _session(root, path)
                samples = int((part.episode_id == e).sum())
                sessions.setdefault(name, []).append((info, samples))
        sums = tuple(
            SessionSummary(name=name, episodes=len(eps), samples=sum(n for _, n in eps),
                           sources=_sources([i for i, _ in eps]),
                           digest=data_digest([i for i, _ in eps]))
            for name, eps in sessions.items())
        infos = [i for eps in sessions.values() for i, _ in eps]
        n_skipped = sum(1 for s in skipped if _under(s.path, root))
        folders.append(FolderSummary(
            path=str(root), format='lerobot' if is_lerobot else 'rosbag2', episodes=len(infos),
            samples=sum(s.samples for s in sums), skipped=n_skipped,
            digest=data_digest(infos), sessions=sums))
    every = [info for _, _, part in loaded for info in part.episodes]
    return DataSummary(folders=tuple(folders), episodes=len(every),
                       samples=sum(f.samples for f in folders), digest=data_digest(every),
                       bags_read=read, bags_indexed=indexed)


def _sources(infos: Sequence[EpisodeInfo]) -> dict[str, int]:
    out: dict[str, int] = {}
    for i in infos:
        out[i.source or '?'] = out.get(i.source or '?', 0) + 1
    return dict(sorted(out.items()))


def _under(path: Path, root: Path) -> bool:
    try:
        path.relative_to(root)
        return True
    except ValueError:
        return False
