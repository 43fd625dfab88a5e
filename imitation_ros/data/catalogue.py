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
The catalogue of episode bags: which bags a data directory holds, and the bag-info listing.

:func:`scan_episode_bags` walks a data directory (or takes one bag) and
returns the finished bags, naturally sorted, and the ones left out with why
(``*.partial`` directories, missing or damaged storage files, invalid
metadata); only metadata and the ends of the storage files are read.
:func:`format_bag_info` is ``imitation-ros bag-info``: one line per bag and
totals, reading each bag as the dataset loader does when asked to.
"""

from __future__ import annotations

import os
from pathlib import Path
import re
import time
from typing import Any, Sequence
import warnings

from .episode import (bag_problem, DataWarning, episode_info, PARTIAL_REASON, PARTIAL_SUFFIX,
                      SkippedBag)
from .index import INDEX_DIR
from .reader import check_bag
from .storage import ReadLimits
from ..errors import DataError


def _natural_key(path: Path) -> list[Any]:
    """Sort key that orders 'ep2' before 'ep10'."""
    parts = re.split(r'(\d+)', str(path))
    return [int(p) if i % 2 else p for i, p in enumerate(parts)]


#: A ``*.partial`` bag changed within this many seconds is being written (a recorder
#: writes every message of an episode as it comes): left out without a warning.
ACTIVE_PARTIAL_S = 30.0


def being_written(partial: Path) -> bool:
    """Return whether a ``*.partial`` bag changed within :data:`ACTIVE_PARTIAL_S`."""
    newest = 0.0
    try:
        for path in (partial, *partial.rglob('*')):
            newest = max(newest, path.stat().st_mtime)
    except OSError:
        return False
    return time.time() - newest < ACTIVE_PARTIAL_S


def scan_episode_bags(root: Path | str) -> tuple[list[Path], list[SkippedBag]]:
    """
    Find the finished episode bags under ``root`` (or ``root`` itself) and the ones left out.

    A bag is a directory with ``metadata.yaml``. Left out, with the reason:
    ``*.partial`` directories (with everything in them; silently while one is being
    written, see :func:`being_written`), bags whose metadata
    is unreadable, over the limits of :mod:`~imitation_ros.data.storage` or
    inconsistent (message counts, times, custom_data values), bags whose
    storage file is missing or truncated, and directories holding storage
    files without ``metadata.yaml``. Only metadata and the ends of the storage
    files are read; :func:`check_bag` reads the messages too.

    :returns: the bags, sorted naturally ('ep2' before 'ep10'), and the skipped ones.
    :raises DataError: ``root`` does not exist.
    """
    root = Path(root)
    if not root.exists():
        msg = (f'{root} does not exist; pass the data directory the recorder writes to '
               '(its data_dir parameter) or a session or episode directory inside it')
        raise DataError(msg)
    if root.name.endswith(PARTIAL_SUFFIX):
        return [], [] if being_written(root) else [SkippedBag(root, PARTIAL_REASON)]
    found: list[Path] = []
    skipped: list[SkippedBag] = []
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        for d in sorted(dirnames):
            if d.endswith(PARTIAL_SUFFIX) and not being_written(here / d):
                skipped.append(SkippedBag(here / d, PARTIAL_REASON))
        # The loader's episode index lives beside the bags; it holds none.
        dirnames[:] = [d for d in dirnames if not d.endswith(PARTIAL_SUFFIX) and d != INDEX_DIR]
        storage = [f for f in filenames if re.search(r'\.(mcap|db3)(\.zstd)?$', f)]
        if 'metadata.yaml' not in filenames and not storage:
            continue
        if 'metadata.yaml' in filenames:
            # A bag directory never nests further bags.
            dirnames[:] = []
        problem = bag_problem(here)
        if problem is not None:
            skipped.append(SkippedBag(here, problem))
            continue
        found.append(here)
    return (sorted(found, key=_natural_key),
            sorted(skipped, key=lambda s: _natural_key(s.path)))


def warn_skipped(skipped: Sequence[SkippedBag], stacklevel: int = 3) -> None:
    """Issue one :class:`DataWarning` per skipped bag, naming it and why."""
    for s in skipped:
        warnings.warn(s.message(), DataWarning, stacklevel=stacklevel)


def find_episode_bags(root: Path | str) -> list[Path]:
    """
    Find the finished episode bags under ``root`` (or ``root`` itself), sorted.

    The bags :func:`scan_episode_bags` leaves out are skipped with one
    :class:`DataWarning` each, naming the bag and why.
    """
    bags, skipped = scan_episode_bags(root)
    warn_skipped(skipped)
    return bags


def _table(rows: list[list[str]]) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return ['  '.join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]


def format_bag_info(root: Path | str, *, check: bool = True,
                    limits: ReadLimits | None = None) -> str:
    """
    Describe every episode bag under ``root`` as a table plus totals (``bag-info``).

    :param check: also read every bag's messages as the loader does
        (:func:`check_bag`) and mark the ones it would skip ``UNREADABLE``;
        False reads metadata only.
    :param limits: read limits of the check (default :class:`ReadLimits`).
    """
    root = Path(root)
    bags, skipped = scan_episode_bags(root)
    infos = [episode_info(b) for b in bags]
    unreadable: dict[Path, str] = {}
    if check:
        for b in bags:
            try:
                check_bag(b, limits=limits)
            except DataError as exc:
                unreadable[b] = str(exc)
    lines: list[str] = []
    readable = [i for i in infos if i.path not in unreadable]
    if not infos:
        lines.append(f'no finished episode bags under {root}')
    else:
        rows = [['path', 'episode', 'duration', 'steps', 'outcome', 'source', 'interventions',
                 'policy']]
        for info in infos:
            rel = info.path.relative_to(root) if info.path != root else Path(info.path.name)
            outcome = 'success' if info.success else f'fail ({info.reason or "?"})'
            if info.path in unreadable:
                outcome = 'UNREADABLE'
            rows.append([str(rel), str(info.episode), f'{info.duration_s:.2f}s', str(info.steps),
                         outcome, info.source or '?',
                         '?' if info.interventions is None else str(info.interventions),
                         info.policy_version or '-'])
        lines += _table(rows)
        lines.append('')
    if readable:
        n = len(readable)
        wins = sum(i.success for i in readable)
        by_source: dict[str, int] = {}
        for i in readable:
            by_source[i.source or '?'] = by_source.get(i.source or '?', 0) + 1
        lines.append(f'episodes: {n}   success: {wins}/{n} ({100.0 * wins / n:.0f}%)   '
                     f'steps: {sum(i.steps for i in readable)}')
        lines.append('by source: ' + ', '.join(f'{k} {v}' for k, v in sorted(by_source.items())))
        human = [i.human_steps for i in readable]
        if all(h is not None for h in human):
            lines.append(f'human-labelled samples: {sum(h or 0 for h in human)}')
        expert = [i.expert_labels for i in readable if i.expert_labels is not None]
        if expert:
            lines.append(f'expert-labelled samples: {sum(expert)}')
    if unreadable or skipped:
        lines.append(f'skipped by the loader: {len(unreadable) + len(skipped)} bag(s) '
                     f'({len(unreadable)} unreadable, {len(skipped)} unfinished or damaged); '
                     'not counted above')
    for path, why in unreadable.items():
        lines.append(f'unreadable: {path}: {why}')
    for s in skipped:
        lines.append(f'warning: {s.message()}')
    return '\n'.join(lines).rstrip('\n')
