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

"""docs/results.md is generated from results/ and docs/results/*.md.in."""

from pathlib import Path
import shutil

import pytest

from imitation_ros.cli.main import main
from imitation_ros.errors import DataError
from imitation_ros.studies import report

ROOT = Path(__file__).resolve().parents[1]


def _copy_checkout(tmp_path: Path) -> Path:
    """Copy what the report reads (results/, docs/) into a scratch checkout."""
    shutil.copytree(ROOT / 'results', tmp_path / 'results')
    shutil.copytree(ROOT / 'docs', tmp_path / 'docs')
    return tmp_path


def test_committed_results_md_equals_generated():
    """The committed docs/results.md is what `imitation-ros report` writes from results/."""
    committed = (ROOT / report.OUTPUT).read_text()
    assert committed == report.render(ROOT), 'docs/results.md is stale: run imitation-ros report'


def test_every_results_table_appears_in_results_md():
    """Every results/<study>/table.md is part of docs/results.md."""
    text = report.render(ROOT)
    for table in sorted((ROOT / 'results').glob('*/table.md')):
        assert table.read_text().strip('\n') in text, table


def test_changed_table_makes_check_fail(tmp_path, capsys):
    """A table changed without regenerating makes `report --check` exit 1 until regenerated."""
    root = _copy_checkout(tmp_path)
    assert main(['report', '--root', str(root), '--check']) == 0
    table = root / 'results' / 'latency' / 'table.md'
    table.write_text(table.read_text().replace('0.064', '0.065'))
    assert main(['report', '--root', str(root), '--check']) == 1
    assert 'out of date' in capsys.readouterr().err
    assert main(['report', '--root', str(root)]) == 0
    assert '0.065' in (root / report.OUTPUT).read_text()
    assert main(['report', '--root', str(root), '--check']) == 0


def test_missing_table_is_a_clear_error(tmp_path, capsys):
    """A study whose results table is missing names the file and how to make it."""
    root = _copy_checkout(tmp_path)
    (root / 'results' / 'help' / 'table.md').unlink()
    with pytest.raises(DataError, match=r'results/help/table\.md is missing .*run the study'):
        report.render(root)
    assert main(['report', '--root', str(root)]) == 1
    assert 'results/help/table.md is missing' in capsys.readouterr().err


def test_missing_plot_is_a_clear_error(tmp_path):
    """An image link to a plot that is not there names the file."""
    root = _copy_checkout(tmp_path)
    (root / 'results' / 'expressivity' / 'rollouts.png').unlink()
    with pytest.raises(DataError, match=r'rollouts\.png is missing'):
        report.render(root)


def test_study_without_template_gets_heading_command_and_table(tmp_path):
    """Adding a study is one entry: without a template it gets a heading, command and table."""
    root = _copy_checkout(tmp_path)
    (root / 'results' / 'toy').mkdir()
    (root / 'results' / 'toy' / 'table.md').write_text('| a |\n|---|\n| 1 |\n')
    text = report.render(root, report.STUDIES + (report.Study('toy', title='A toy study'),))
    assert text.endswith('## A toy study\n\n```bash\nimitation-ros benchmark toy --out '
                         'results/toy\n```\n\n| a |\n|---|\n| 1 |\n')
