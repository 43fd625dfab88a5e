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
Load episode bags into one training dataset of aligned samples.

Each bag is read (:mod:`imitation_ros.data.reader`) and its commands aligned
with their observations by the rule written in :mod:`imitation_ros.data.alignment`;
the bags' samples are joined into one :class:`Dataset`.

One bad bag never costs the others: :func:`load_dataset` skips a bag it cannot
read (damaged, over the read limits of :class:`~imitation_ros.data.storage.ReadLimits`,
undecodable, inconsistent) or that does not fit the rest (other joints or task
width than most bags) with a :class:`~imitation_ros.data.episode.DataWarning`
naming it and why, and lists it in :attr:`Dataset.skipped`, as it does the
unfinished (``*.partial``) and damaged bags the scan leaves out.

``source`` codes (:data:`SOURCE_CODES`): 0 demo, 1 hg_dagger, 2 dagger.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from . import messages as m
from .alignment import align_commands
from .catalogue import scan_episode_bags, warn_skipped
from .episode import episode_info, EpisodeInfo, SkippedBag, SOURCES
from .index import assemble_images, Cached, ImageBlock, RootIndex
from .reader import episode_facts, read_bag_messages
from .storage import ReadLimits
from .summary import DataSummary, summarize
from ..errors import DataError

#: Source name -> code stored in :attr:`Dataset.source`: demo 0, hg_dagger 1, dagger 2.
SOURCE_CODES: dict[str, int] = {name: code for code, name in enumerate(SOURCES)}


@dataclass(frozen=True, eq=False)
class Dataset:
    """N samples at the control rate, aligned (:mod:`~imitation_ros.data.alignment`)."""

    joint_names: tuple[str, ...]
    """Column order of every (N, n) array."""
    positions: np.ndarray
    """Measured joint positions, (N, n), rad."""
    velocities: np.ndarray
    """Measured joint velocities, (N, n), rad/s (NaN where the robot sends none)."""
    task: np.ndarray
    """Task vectors, (N, k); k = 5 in the sim (``TASK_LAYOUT``)."""
    actions: np.ndarray
    """Executed absolute joint targets, (N, n), rad."""
    expert_actions: np.ndarray
    """Expert labels, (N, n), rad; NaN rows have no label."""
    human: np.ndarray
    """True where the human was in control, (N,) bool."""
    source: np.ndarray
    """Episode source code per sample (:data:`SOURCE_CODES`), (N,) int8."""
    episode_id: np.ndarray
    """Index into :attr:`episodes` of each sample's episode, (N,) int64."""
    step: np.ndarray
    """Index of the sample within its episode, (N,) int64."""
    images: np.ndarray | None
    """Camera frames, (N, H, W, 3) uint8 RGB, or None when not loaded."""
    episodes: tuple[EpisodeInfo, ...]
    """Metadata of every loaded episode."""
    skipped: tuple[SkippedBag, ...] = ()
    """Bags found but left out (unfinished, damaged, unreadable, not fitting), with why."""
    summary: DataSummary | None = None
    """What was loaded from which folder and session (set by :func:`load_dataset`)."""

    def __post_init__(self) -> None:
        """Check that every column has N rows and the documented width."""
        n_rows = len(self.actions)
        n = len(self.joint_names)
        shapes = {'positions': (n_rows, n), 'velocities': (n_rows, n), 'actions': (n_rows, n),
                  'expert_actions': (n_rows, n), 'human': (n_rows,), 'source': (n_rows,),
                  'episode_id': (n_rows,), 'step': (n_rows,)}
        for name, shape in shapes.items():
            if getattr(self, name).shape != shape:
                msg = f'Dataset.{name} must have shape {shape}, got {getattr(self, name).shape}'
                raise DataError(msg)
        if self.task.ndim != 2 or len(self.task) != n_rows:
            raise DataError(f'Dataset.task must have shape ({n_rows}, k), got {self.task.shape}')
        if self.images is not None and (self.images.ndim != 4 or len(self.images) != n_rows):
            msg = f'Dataset.images must have shape ({n_rows}, H, W, 3), got {self.images.shape}'
            raise DataError(msg)

    def __len__(self) -> int:
        """Return the number of samples N."""
        return int(len(self.actions))

    @property
    def expert_labelled(self) -> np.ndarray:
        """Return where the sample has an expert label, (N,) bool."""
        return np.all(np.isfinite(self.expert_actions), axis=1)

    def subset(self, mask: np.ndarray) -> Dataset:
        """
        Return the samples selected by a (N,) bool mask or an index array.

        ``episodes`` is kept whole so ``episode_id`` keeps its meaning.
        """
        sel = np.asarray(mask)
        if sel.dtype == bool and sel.shape != (len(self),):
            raise DataError(f'subset mask must have shape ({len(self)},), got {sel.shape}')
        return Dataset(
            joint_names=self.joint_names, positions=self.positions[sel],
            velocities=self.velocities[sel], task=self.task[sel], actions=self.actions[sel],
            expert_actions=self.expert_actions[sel], human=self.human[sel],
            source=self.source[sel], episode_id=self.episode_id[sel], step=self.step[sel],
            images=None if self.images is None else self.images[sel], episodes=self.episodes,
            skipped=self.skipped, summary=self.summary)

    @staticmethod
    def concat(datasets: Sequence[Dataset]) -> Dataset:
        """
        Join datasets; their episodes are appended and ``episode_id`` renumbered.

        :raises DataError: no datasets, different joints or task widths, or
            images in some but not all.
        """
        if not datasets:
            raise DataError('Dataset.concat needs at least one dataset')
        first = datasets[0]
        for d in datasets[1:]:
            if d.joint_names != first.joint_names:
                msg = (f'cannot concatenate datasets over joints {first.joint_names} and '
                       f'{d.joint_names}; record every episode with the same joint_names')
                raise DataError(msg)
            if d.task.shape[1] != first.task.shape[1]:
                raise DataError('cannot concatenate datasets with different task widths')
            if (d.images is None) != (first.images is None):
                raise DataError('cannot concatenate datasets with and without images')
            if d.images is not None and first.images is not None and \
                    d.images.shape[1:] != first.images.shape[1:]:
                raise DataError('cannot concatenate datasets with different image sizes')
        offsets = np.cumsum([0] + [len(d.episodes) for d in datasets[:-1]])
        images = None
        if first.images is not None:
            images = np.concatenate([d.images for d in datasets if d.images is not None])
        return Dataset(
            joint_names=first.joint_names,
            positions=np.concatenate([d.positions for d in datasets]),
            velocities=np.concatenate([d.velocities for d in datasets]),
            task=np.concatenate([d.task for d in datasets]),
            actions=np.concatenate([d.actions for d in datasets]),
            expert_actions=np.concatenate([d.expert_actions for d in datasets]),
            human=np.concatenate([d.human for d in datasets]),
            source=np.concatenate([d.source for d in datasets]),
            episode_id=np.concatenate([d.episode_id + o for d, o in zip(datasets, offsets)]),
            step=np.concatenate([d.step for d in datasets]), images=images,
            episodes=tuple(e for d in datasets for e in d.episodes),
            skipped=tuple(s for d in datasets for s in d.skipped))


def _read_one(path: Path, with_images: bool, limits: ReadLimits) -> Cached:
    """Read and align one bag: its columns in its own joint order, or why it is skipped."""
    try:
        bag = read_bag_messages(path, with_images=with_images, limits=limits)
        try:
            facts = episode_facts(bag)
            al = align_commands(bag, need_images=with_images)
            count = len(al.command_times)
            columns = {
                'positions': al.positions, 'velocities': al.velocities, 'task': al.task,
                'actions': al.actions, 'expert_actions': al.expert_actions, 'human': al.human,
                'source': np.full(count, SOURCE_CODES[facts['source']], dtype=np.int8),
                'step': np.arange(count, dtype=np.int64)}
            images = None
            if with_images:
                assert bag.images is not None and al.image_index is not None
                frames = bag.images.values[al.image_index]
                images = ImageBlock(rows=count, frame=tuple(frames.shape[1:]), array=frames)
            return Cached(columns, bag.joint_names, None, images)
        except DataError as exc:
            if str(path) in str(exc):
                raise
            raise DataError(f'bag {path}: {exc}') from exc
        except Exception as exc:  # noqa: B902 - whatever breaks, it is this bag that is bad
            raise DataError(f'bag {path}: {type(exc).__name__}: {exc}') from exc
    except DataError as exc:
        return Cached(None, (), str(exc), None)


def _part(bag: Path, cached: Cached) -> Dataset:
    """Return the :class:`Dataset` of one bag's cached columns (images aside)."""
    assert cached.columns is not None
    c = cached.columns
    return Dataset(joint_names=cached.joint_names, positions=c['positions'],
                   velocities=c['velocities'], task=c['task'], actions=c['actions'],
                   expert_actions=c['expert_actions'], human=c['human'], source=c['source'],
                   episode_id=np.zeros(len(c['actions']), dtype=np.int64), step=c['step'],
                   images=None, episodes=(episode_info(bag),))


def _reorder(part: Dataset, names: tuple[str, ...]) -> Dataset:
    """Return ``part`` with its joint columns in the order ``names`` (same set of joints)."""
    if part.joint_names == names:
        return part
    perm = [part.joint_names.index(name) for name in names]
    return replace(part, joint_names=names, positions=part.positions[:, perm],
                   velocities=part.velocities[:, perm], actions=part.actions[:, perm],
                   expert_actions=part.expert_actions[:, perm])


def _fits(part: Dataset) -> tuple[frozenset[str], int]:
    """Return what bags loaded together must share: the set of joints and the task width."""
    return frozenset(part.joint_names), part.task.shape[1] if len(part) else -1


@dataclass
class _Loaded:
    """One loaded episode (a bag, or a LeRobot folder's episodes) before the vote."""

    path: Path
    root: int
    part: Dataset
    images: ImageBlock | None


def _load_root(root: Path, r: int, with_images: bool, limits: ReadLimits, use_index: bool,
               seen: set[Path], loaded: list[_Loaded], skipped: list[SkippedBag],
               stats: dict[str, int]) -> Path | None:
    """Load the bags under one data folder; return its index folder (None without one)."""
    if is_lerobot_dataset(root):
        from .lerobot import load_lerobot  # lazy: a cycle (.lerobot imports this module)
        part, frames = load_lerobot(root, with_images=with_images)
        stats['read'] += len(part.episodes)
        loaded.append(_Loaded(root, r, part, frames))
        return None
    found, left_out = scan_episode_bags(root)
    warn_skipped(left_out, stacklevel=4)
    skipped += left_out
    bags = []
    for bag in found:
        key = bag.resolve()
        if key not in seen:
            seen.add(key)
            bags.append(bag)
    index = RootIndex.open(root, with_images=with_images, limits=limits) if use_index else None
    results: list[tuple[Path, Cached]] = []
    try:
        for bag in bags:
            digest, cached = (None, None) if index is None else index.lookup(bag)
            if cached is None:
                cached = _read_one(bag, with_images, limits)
                stats['read'] += 1
                if index is not None:
                    cached = index.add(bag, digest, cached)
            else:
                stats['indexed'] += 1
            results.append((bag, cached))
        blocks = {} if index is None else index.finish([b for b, _ in results])
    finally:
        if index is not None:
            index.close()
    for bag, cached in results:
        if cached.error is not None:
            skip = SkippedBag(bag, cached.error)
            warn_skipped([skip], stacklevel=4)
            skipped.append(skip)
            continue
        try:
            part = _part(bag, cached)
        except DataError as exc:
            skip = SkippedBag(bag, f'bag {bag}: {exc}')
            warn_skipped([skip], stacklevel=4)
            skipped.append(skip)
            continue
        loaded.append(_Loaded(bag, r, part, blocks.get(bag, cached.images)))
    return None if index is None or not index.writable else index.folder


def is_lerobot_dataset(path: Path | str) -> bool:
    """Return True when ``path`` is a LeRobotDataset folder (``meta/info.json``)."""
    return (Path(path) / 'meta' / 'info.json').is_file()


def load_dataset(paths: Sequence[Path | str] | Path | str, *, with_images: bool = False,
                 limits: ReadLimits | None = None, index: bool = True) -> Dataset:
    """
    Load every finished episode bag under ``paths`` into one :class:`Dataset`.

    Each path may be a data directory, a session directory, a bag, or a
    LeRobotDataset folder (:mod:`imitation_ros.data.lerobot`). Unfinished,
    damaged and unreadable bags, and bags whose joints or task width differ from
    those of most bags, are skipped with a DataWarning each and listed in
    :attr:`Dataset.skipped`; the others load. :attr:`Dataset.summary` says what
    was loaded from which folder and session.

    :param with_images: also load the camera frame of every sample; a bag
        without images is then skipped. The frames come back memory-mapped
        from the episode index (read-only), not in RAM.
    :param limits: read limits per bag (default :class:`ReadLimits`).
    :param index: keep the episode index of each data folder
        (:mod:`imitation_ros.data.index`) and read only the bags it does not
        hold yet; False reads every bag and writes nothing.
    :raises DataError: a path does not exist, or no sample was found (the
        message lists the skipped bags and why).
    """
    roots = [Path(paths)] if isinstance(paths, (str, Path)) else [Path(p) for p in paths]
    limits = limits or ReadLimits()
    skipped: list[SkippedBag] = []
    loaded: list[_Loaded] = []
    seen: set[Path] = set()
    stats = {'read': 0, 'indexed': 0}
    scratch = None
    for r, root in enumerate(roots):
        folder = _load_root(root, r, with_images, limits, index, seen, loaded, skipped, stats)
        scratch = scratch or folder
    # Bags of another robot configuration or task family than most cannot join the
    # dataset; they are left out, not allowed to block the others. An episode without
    # samples may lack task messages: it fits any task width.
    votes = Counter(_fits(x.part) for x in loaded if len(x.part))
    kept: list[_Loaded] = []
    if votes:
        (joints, width), _ = votes.most_common(1)[0]
        names = next(x.part.joint_names for x in loaded if _fits(x.part) == (joints, width))
        for x in loaded:
            part = x.part
            fits = frozenset(part.joint_names) == joints and (not len(part) or
                                                              part.task.shape[1] == width)
            if not fits:
                reason = (f'its joints {list(part.joint_names)} and task width '
                          f'{part.task.shape[1]} differ from most bags\' ({sorted(joints)}, '
                          f'{width}); load bags of one robot configuration and task family '
                          'together')
                skip = SkippedBag(x.path, reason)
                warn_skipped([skip])
                skipped.append(skip)
                continue
            part = _reorder(part, names)
            if not len(part):
                part = replace(part, task=np.zeros((0, width)))
            kept.append(_Loaded(x.path, x.root, part, x.images))
    else:
        kept = loaded
    total = sum(len(x.part) for x in kept)
    if total == 0:
        searched = ', '.join(str(r) for r in roots) or '(no paths given)'
        why = ''
        if skipped:
            why = (f'; {len(skipped)} bag(s) skipped: '
                   + '; '.join(s.message() for s in skipped[:5])
                   + ('; ...' if len(skipped) > 5 else ''))
        msg = (f'no samples found in {len(kept)} episode bag(s) under {searched}; record '
               'episodes first (`imitation-ros collect`) or point at the data directory; a '
               f'sample needs a command on {m.COMMANDS} after a {m.JOINT_STATES} and an '
               f'{m.TASK} message{why}')
        raise DataError(msg)
    data = Dataset.concat([x.part for x in kept])
    if with_images:
        blocks = [x.images for x in kept if x.images is not None]
        if len({b.frame for b in blocks if b.rows}) > 1:
            raise DataError('cannot concatenate datasets with different image sizes')
        data = replace(data, images=assemble_images(blocks, scratch))
    summary = summarize(roots, [(x.path, x.root, x.part) for x in kept], skipped,
                        read=stats['read'], indexed=stats['indexed'])
    return replace(data, skipped=tuple(skipped), summary=summary)
