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

"""The Panda expressivity study's bookkeeping: summaries over seeds, the table, resuming."""

from pathlib import Path

import numpy as np
import pytest

from imitation_ros.studies.expressivity_panda import (
    _append_partial, _cell_from_json, _read_partial, PandaCell, PandaEval, summarize_panda,
    write_panda_table)


def _cell(task: str, obs: str, kind: str, seed: int, successes: int, modes: dict,
          success_modes: dict, episodes: int = 10) -> PandaCell:
    paths = [(np.array([[0.1, 0.2], [0.0, 0.15]]), True)] if task == 'reach' else []
    grasps = [(2.5, True), (88.0, False)] if task == 'pick' else []
    result = PandaEval(task=task, episodes=episodes, successes=successes,
                       reasons={'success': successes, 'collision': episodes - successes},
                       modes=modes, success_modes=success_modes, steps=480, seconds=1.5,
                       paths=paths, grasps=grasps)
    return PandaCell(task, obs, kind, seed, result, train_seconds=2.0, parameters=1000,
                     samples=500)


def test_summary_averages_success_over_seeds_and_pools_modes() -> None:
    """Success is the mean and spread over seeds; modes are shares of all rollouts."""
    cells = [_cell('reach', 'state', 'gmm', 0, 8, {'left': 6, 'right': 4},
                   {'left': 5, 'right': 3}),
             _cell('reach', 'state', 'gmm', 1, 6, {'left': 2, 'right': 6, 'none': 2},
                   {'left': 2, 'right': 4}),
             _cell('reach', 'state', 'mse', 0, 1, {'none': 10}, {})]
    s = summarize_panda(cells, 'reach', 'state', 'gmm')
    assert s['mean'] == pytest.approx(0.7) and s['std'] == pytest.approx(0.1)
    assert s['seeds'] == [0.8, 0.6]
    assert s['left'] == pytest.approx(8 / 20) and s['right'] == pytest.approx(10 / 20)
    assert s['none'] == pytest.approx(2 / 20)
    assert s['left_success'] == pytest.approx(7 / 20)
    assert s['right_success'] == pytest.approx(7 / 20)


def test_table_has_a_row_per_kind_and_observation_of_each_task(tmp_path: Path) -> None:
    """The table names every (kind, observation) of each task with its per-seed values."""
    cells = [_cell(task, obs, kind, seed, 5, {'none': 10}, {})
             for task in ('reach', 'pick') for obs in ('state', 'image')
             for kind in ('mse', 'diffusion') for seed in (0, 1)]
    steps = {'state': {'mse': 10, 'diffusion': 20}, 'image': {'mse': 5, 'diffusion': 7}}
    text = write_panda_table(cells, tmp_path / 'table.md', train_episodes=4, eval_episodes=10,
                             steps=steps, encoder='spatial-softmax', seconds=60.0,
                             collect_seconds=0.0, workers=1).read_text()
    assert '**reach**' in text and '**pick**' in text and '2 training seeds' in text
    assert 'state (batch 256) mse 10, diffusion 20' in text
    rows = [line for line in text.splitlines() if line.startswith('| mse') or
            line.startswith('| diffusion')]
    assert len(rows) == 8
    assert all('0.50 ± 0.00 (0.5, 0.5)' in row for row in rows)


def test_finished_cells_are_read_back_for_a_resumed_run(tmp_path: Path) -> None:
    """A finished cell written to the partial file reads back with its plot data."""
    reach = _cell('reach', 'image', 'ar', 2, 7, {'left': 4, 'right': 6},
                  {'left': 3, 'right': 4})
    pick = _cell('pick', 'state', 'gmm', 0, 9, {'straight': 5, 'turned': 5},
                 {'straight': 5, 'turned': 4})
    _append_partial(tmp_path, reach, 'setup A', 100)
    _append_partial(tmp_path, pick, 'setup A', 200)
    rows = _read_partial(tmp_path)
    assert [(r['key'], r['steps'], r['setup']) for r in rows] == [
        ('reach/image/ar/2', 100, 'setup A'), ('pick/state/gmm/0', 200, 'setup A')]
    back = [_cell_from_json(r) for r in rows]
    assert back[0].result.successes == 7 and back[0].result.modes == {'left': 4, 'right': 6}
    np.testing.assert_allclose(back[0].result.paths[0][0], reach.result.paths[0][0])
    assert back[1].result.grasps == [(2.5, True), (88.0, False)]


def test_table_says_when_models_have_different_seeds(tmp_path: Path) -> None:
    """A table of an interrupted run names its seeds instead of claiming a count for all."""
    cells = [_cell('reach', 'state', 'mse', seed, 5, {'none': 10}, {}) for seed in (0, 1, 2)]
    cells.append(_cell('pick', 'state', 'mse', 0, 5, {'none': 10}, {}))
    steps = {'state': {'mse': 10}}
    text = write_panda_table(cells, tmp_path / 'table.md', train_episodes=4, eval_episodes=10,
                             steps=steps, encoder='spatial-softmax', seconds=60.0,
                             collect_seconds=0.0, workers=1).read_text()
    assert 'training seeds 0, 1, 2, not all of them for every model' in text
    assert '3 training seeds' not in text
