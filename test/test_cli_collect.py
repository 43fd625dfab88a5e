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

"""The command line: collect writes loadable bags, bag-info lists them, errors exit 1."""

import os
from pathlib import Path
import subprocess
import sys

import pytest

from imitation_ros.cli.main import main
from imitation_ros.data import find_episode_bags
from imitation_ros.data.dataset import load_dataset


def test_collect_then_bag_info(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """Collect writes one bag per episode; bag-info lists each with its outcome and source."""
    rc = main(['collect', '--expert', 'multi', '--episodes', '4', '--out', str(tmp_path),
               '--no-progress', '--seed', '5'])
    out = capsys.readouterr().out
    assert rc == 0 and 'wrote 4 episodes' in out
    bags = find_episode_bags(tmp_path)
    assert [b.name for b in bags] == ['ep_00000', 'ep_00001', 'ep_00002', 'ep_00003']
    data = load_dataset([tmp_path], with_images=True)
    assert len(data) > 4 * 20 and data.images.shape[1:] == (96, 96, 3)
    assert main(['bag-info', str(tmp_path)]) == 0
    table = capsys.readouterr().out
    assert table.count('demo') >= 4 and 'success' in table and 'ep_00003' in table


def test_collect_refuses_to_overwrite(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """A second collect into the same session exits 1 and says how to fix it."""
    args = ['collect', '--expert', 'above', '--episodes', '1', '--out', str(tmp_path),
            '--no-progress', '--camera-every', '0']
    assert main(args) == 0
    assert main(args) == 1
    assert 'already holds episodes' in capsys.readouterr().err


@pytest.mark.skipif(os.geteuid() == 0, reason='root can write anywhere')
def test_collect_into_unwritable_directory(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """An unwritable data directory is a clear error, not a traceback."""
    locked = tmp_path / 'locked'
    locked.mkdir(mode=0o500)
    assert main(['collect', '--episodes', '1', '--out', str(locked / 'x'), '--no-progress']) == 1
    assert 'writable' in capsys.readouterr().err


def test_collect_into_a_file_path_is_a_clear_error(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture) -> None:
    """A data directory that cannot be created (a file is in the way) exits 1 with the path."""
    blocker = tmp_path / 'file'
    blocker.write_text('not a directory')
    assert main(['collect', '--episodes', '1', '--out', str(blocker), '--no-progress']) == 1
    assert str(blocker) in capsys.readouterr().err


def test_console_script_runs() -> None:
    """The module entry point answers --help (what the console script calls)."""
    proc = subprocess.run([sys.executable, '-m', 'imitation_ros.cli.main', '--help'],
                          capture_output=True, text=True, cwd=Path(__file__).parents[1])
    assert proc.returncode == 0 and 'collect' in proc.stdout and 'bag-info' in proc.stdout


def test_render_task_writes_a_png(tmp_path: Path) -> None:
    """render-task writes a PNG image."""
    out = tmp_path / 'task.png'
    assert main(['render-task', '--out', str(out), '--size', '128']) == 0
    assert out.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
