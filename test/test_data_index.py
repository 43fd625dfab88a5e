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

"""The episode index: only new bags are read, images come memory-mapped, damage is rebuilt."""

from __future__ import annotations

import fcntl
import json
import os
from pathlib import Path
import shutil
import warnings

import numpy as np
import pytest

from imitation_ros.collect import collect
from imitation_ros.data import (Dataset, DataWarning, INDEX_DIR, IndexWarning, load_dataset,
                                scan_episode_bags)

COLUMNS = ('positions', 'velocities', 'task', 'actions', 'expert_actions', 'human', 'source',
           'episode_id', 'step')


@pytest.fixture(scope='module')
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two sessions of collected episodes with camera frames (never indexed: copied per test)."""
    root = tmp_path_factory.mktemp('source')
    collect('multi', 4, root, seed=1, session='b_session', camera_every=2, progress=False)
    collect('multi', 2, root, seed=2, session='c_session', camera_every=2, progress=False)
    collect('multi', 2, root, seed=4, session='a_session', camera_every=2, progress=False)
    return root


def _copy(source: Path, dest: Path, *sessions: str) -> Path:
    for s in sessions:
        shutil.copytree(source / s, dest / s)
    return dest


def _same(a: Dataset, b: Dataset) -> None:
    for name in COLUMNS:
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    assert (a.images is None) == (b.images is None)
    if a.images is not None:
        np.testing.assert_array_equal(a.images, b.images)
    assert [e.path for e in a.episodes] == [e.path for e in b.episodes]


def _load(root: Path, **kw: object) -> Dataset:
    with warnings.catch_warnings():
        warnings.simplefilter('error', IndexWarning)
        return load_dataset(root, **kw)


@pytest.mark.parametrize('with_images', [False, True])
def test_a_second_load_reads_only_new_bags(source: Path, tmp_path: Path,
                                           with_images: bool) -> None:
    """The next load takes indexed bags from the index and reads only the new ones."""
    root = _copy(source, tmp_path / 'data', 'b_session')
    first = _load(root, with_images=with_images)
    assert (first.summary.bags_read, first.summary.bags_indexed) == (4, 0)
    _same(first, load_dataset(root, with_images=with_images, index=False))
    again = _load(root, with_images=with_images)
    assert (again.summary.bags_read, again.summary.bags_indexed) == (0, 4)
    _same(again, first)
    _copy(source, root, 'c_session')
    grown = _load(root, with_images=with_images)
    assert (grown.summary.bags_read, grown.summary.bags_indexed) == (2, 4)
    _same(grown, load_dataset(root, with_images=with_images, index=False))


def test_images_are_one_memory_map_even_after_a_bag_sorts_between_old_ones(
        source: Path, tmp_path: Path) -> None:
    """Frames come memory-mapped from one store; a bag sorting first makes it rewrite in order."""
    root = _copy(source, tmp_path / 'data', 'b_session', 'c_session')
    first = _load(root, with_images=True)
    assert isinstance(first.images, np.memmap) and not first.images.flags.writeable
    _copy(source, root, 'a_session')
    grown = _load(root, with_images=True)
    assert grown.summary.bags_read == 2
    _same(grown, load_dataset(root, with_images=True, index=False))
    stores = list((root / INDEX_DIR / 'images').glob('images-*.u8'))
    assert len(stores) == 1 and stores[0].stat().st_size == grown.images.nbytes
    again = _load(root, with_images=True)
    assert isinstance(again.images, np.memmap) and again.summary.bags_read == 0
    _same(again, grown)


def test_a_changed_bag_is_read_again(source: Path, tmp_path: Path) -> None:
    """A bag whose files changed (size or modification time) does not match its entry."""
    root = _copy(source, tmp_path / 'data', 'c_session')
    _load(root)
    bag = scan_episode_bags(root)[0][0]
    mcap = next(bag.glob('*.mcap'))
    st = mcap.stat()
    os.utime(mcap, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    again = _load(root)
    assert (again.summary.bags_read, again.summary.bags_indexed) == (1, 1)


@pytest.mark.parametrize('damage', ['garbage', 'checksum', 'offset', 'columns', 'store'])
def test_a_damaged_index_is_rebuilt_with_a_warning(source: Path, tmp_path: Path,
                                                   damage: str) -> None:
    """A corrupt, tampered or half-missing index is never trusted: warned about and rebuilt."""
    root = _copy(source, tmp_path / 'data', 'c_session')
    good = _load(root, with_images=True)
    folder = root / INDEX_DIR / 'images'
    index = folder / 'index.json'
    doc = json.loads(index.read_text())
    if damage == 'garbage':
        index.write_bytes(b'{"body": [1, 2')
    elif damage == 'checksum':
        doc['body']['store']['rows'] += 1
        index.write_text(json.dumps(doc))
    elif damage == 'offset':
        from imitation_ros.data.index import _checksum
        next(iter(doc['body']['entries'].values()))['image_offset'] = 10**9
        doc['sha256'] = _checksum(doc['body'])
        index.write_text(json.dumps(doc))
    elif damage == 'columns':
        for f in folder.glob('cols-*.npz'):
            f.write_bytes(b'not a zip file')
    else:
        next(folder.glob('images-*.u8')).unlink()
    with pytest.warns(IndexWarning):
        rebuilt = load_dataset(root, with_images=True)
    assert rebuilt.summary.bags_read >= 1
    _same(rebuilt, good)
    assert _load(root, with_images=True).summary.bags_read == 0


def test_a_second_writer_loads_without_writing(source: Path, tmp_path: Path) -> None:
    """While another process holds the index's lock, a load still works and writes nothing."""
    root = _copy(source, tmp_path / 'data', 'c_session')
    _load(root)
    _copy(source, root, 'a_session')
    lock = os.open(root / INDEX_DIR / 'plain' / 'lock', os.O_RDWR)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        before = (root / INDEX_DIR / 'plain' / 'index.json').read_bytes()
        with pytest.warns(IndexWarning, match='another process'):
            data = load_dataset(root)
        assert (data.summary.bags_read, data.summary.bags_indexed) == (2, 2)
        assert (root / INDEX_DIR / 'plain' / 'index.json').read_bytes() == before
    finally:
        os.close(lock)
    assert _load(root).summary.bags_read == 2


def test_a_skipped_bag_stays_skipped_without_being_read(source: Path, tmp_path: Path) -> None:
    """The index remembers why a bag was skipped; the next load skips it with the same reason."""
    root = _copy(source, tmp_path / 'data', 'c_session')
    bag = scan_episode_bags(root)[0][0]
    mcap = next(bag.glob('*.mcap'))
    data = bytearray(mcap.read_bytes())
    data[200:260] = b'\xff' * 60  # inside the first records: the bag cannot be decoded
    mcap.write_bytes(bytes(data))
    with pytest.warns(DataWarning):
        first = load_dataset(root)
    assert len(first.skipped) == 1 and first.skipped[0].path == bag
    with pytest.warns(DataWarning):
        again = load_dataset(root)
    assert (again.summary.bags_read, again.summary.bags_indexed) == (0, 2)
    assert again.skipped == first.skipped


def test_the_summary_lists_folders_sessions_and_digests(source: Path, tmp_path: Path) -> None:
    """Two robots (one folder each) load together; the summary says what came from where."""
    robot1 = _copy(source, tmp_path / 'robot1', 'b_session', 'c_session')
    robot2 = _copy(source, tmp_path / 'robot2', 'a_session')
    data = _load([robot1, robot2])
    summary = data.summary.as_dict()
    assert summary['episodes'] == 8 == len(data.episodes)
    assert [f['path'] for f in summary['folders']] == [str(robot1), str(robot2)]
    assert [(s['session'], s['episodes']) for s in summary['folders'][0]['sessions']] == [
        ('b_session', 4), ('c_session', 2)]
    assert summary['folders'][1]['sessions'][0]['sources'] == {'demo': 2}
    assert sum(f['samples'] for f in summary['folders']) == len(data)
    digests = {s['digest'] for f in summary['folders'] for s in f['sessions']}
    assert len(digests) == 3 and summary['digest'] not in digests
    json.dumps(summary)  # ready for the model metadata
