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

"""One bad bag among good ones: bounded cost, skipped with a warning, marked by bag-info."""

from __future__ import annotations

from pathlib import Path
import shutil
from typing import Callable

import hostile_bags as h
from imitation_ros.data import DataWarning, find_episode_bags, format_bag_info
from imitation_ros.data.dataset import load_dataset
import pytest

#: Damage done to one bag of three, by name: what the loader must survive.
DAMAGE: dict[str, Callable[[Path], None]] = {
    'record_length_2_40': lambda bag: h.set_record_length(bag, 0x06, 2**40),
    'broken_footer': h.break_footer,
    'non_integer_message_count': h.non_integer_message_count,
}


def _three_bags(root: Path, damage: Callable[[Path], None] | None = None) -> Path:
    """Write good bags a and c and bag b, damaged by ``damage``; return b."""
    h.good_bag(root / 'a', 1)
    h.good_bag(root / 'c', 2)
    bad = h.good_bag(root / 'b', 3)
    if damage is not None:
        damage(bad)
    return bad


def test_alias_bomb_costs_neither_bag_info_nor_the_loader_memory(tmp_path: Path) -> None:
    """A 4 KB alias bomb in custom_data: bag-info and load_dataset in 1 GiB skip that bag."""
    h.alias_bomb(_three_bags(tmp_path))
    assert (tmp_path / 'b' / 'metadata.yaml').stat().st_size < 8000
    loaded = h.read_in_child(h.LOAD_CODE, str(tmp_path))
    assert loaded['rc'] == 0, loaded['output'][-3000:]
    assert loaded['episodes'] == 2 and [Path(p).name for p, _ in loaded['skipped']] == ['b']
    assert loaded['peak_rss_kb'] < 400_000
    info = h.read_in_child(h.BAG_INFO_CODE, str(tmp_path))
    assert info['rc'] == 0, info['output'][-3000:]
    assert 'episodes: 2' in info['text'] and 'aliases' in info['text']


def test_zstd_bomb_costs_the_loader_neither_time_nor_memory(tmp_path: Path) -> None:
    """A 33 KB zstd chunk of 1 GiB of zeros: load_dataset in 1 GiB skips that bag only."""
    bomb = _three_bags(tmp_path)
    h.zstd_bomb(bomb, 1 << 30)
    assert h.mcap_of(bomb).stat().st_size < 64_000
    loaded = h.read_in_child(h.LOAD_CODE, str(tmp_path))
    assert loaded['rc'] == 0, loaded['output'][-3000:]
    assert loaded['episodes'] == 2 and [Path(p).name for p, _ in loaded['skipped']] == ['b']
    assert 'decompresses to more than' in loaded['skipped'][0][1]
    assert loaded['peak_rss_kb'] < 400_000


@pytest.mark.parametrize('name', sorted(DAMAGE))
def test_one_damaged_bag_is_skipped_and_the_others_load(tmp_path: Path, name: str) -> None:
    """A damaged bag is skipped with a warning naming it; the two good bags load."""
    _three_bags(tmp_path, DAMAGE[name])
    with pytest.warns(DataWarning) as caught:
        data = load_dataset(tmp_path)
    assert [e.path.name for e in data.episodes] == ['a', 'c']
    messages = [str(w.message) for w in caught if issubclass(w.category, DataWarning)]
    assert len(messages) == 1 and str(tmp_path / 'b') in messages[0]
    assert [s.path for s in data.skipped] == [tmp_path / 'b']


def test_undecodable_message_names_its_bag_and_is_skipped(tmp_path: Path) -> None:
    """A joint state with a sequence length of 2^32 - 16: the warning names bag and message."""
    h.good_bag(tmp_path / 'a', 1)
    h.bad_sequence_length(tmp_path / 'b')
    with pytest.warns(DataWarning, match=r'/b: .*message 2 on /joint_states.*sequence length'):
        data = load_dataset(tmp_path)
    assert [e.path.name for e in data.episodes] == ['a'] and len(data.skipped) == 1


@pytest.mark.parametrize('name', sorted(DAMAGE) + ['bad_sequence_length'])
def test_bag_info_marks_damaged_bags_unreadable(tmp_path: Path, name: str) -> None:
    """bag-info lists the damaged bag as unreadable or skipped, with why, and counts it."""
    if name == 'bad_sequence_length':
        h.good_bag(tmp_path / 'a', 1)
        h.good_bag(tmp_path / 'c', 2)
        h.bad_sequence_length(tmp_path / 'b')
    else:
        _three_bags(tmp_path, DAMAGE[name])
    text = format_bag_info(tmp_path)
    assert 'episodes: 2' in text
    assert 'skipped by the loader: 1 bag(s)' in text
    marked = [line for line in text.splitlines()
              if str(tmp_path / 'b') in line or line.startswith('b ')]
    assert marked and any('UNREADABLE' in line or 'skipping bag' in line or
                          'unreadable:' in line for line in marked), text


def test_killed_recorders_partial_bag_is_warned_about_and_counted(tmp_path: Path) -> None:
    """<episode>.partial (a recorder killed mid-episode) is skipped with a warning naming it."""
    h.good_bag(tmp_path / 's' / 'ep_00000', 1)
    done = h.good_bag(tmp_path / 'tmp' / 'ep_00001', 2)
    # What a killed recorder leaves: the staged bag, without metadata.yaml.
    staged = tmp_path / 's' / 'ep_00001.partial' / 'ep_00001'
    shutil.copytree(done, staged)
    (staged / 'metadata.yaml').unlink()
    shutil.rmtree(tmp_path / 'tmp')
    h.abandon(staged.parent)
    with pytest.warns(DataWarning, match=r'ep_00001\.partial.*unfinished'):
        assert find_episode_bags(tmp_path) == [tmp_path / 's' / 'ep_00000']
    with pytest.warns(DataWarning, match=r'ep_00001\.partial'):
        data = load_dataset(tmp_path)
    assert len(data.episodes) == 1
    assert [s.path.name for s in data.skipped] == ['ep_00001.partial']
    assert 'ep_00001.partial' in format_bag_info(tmp_path)
