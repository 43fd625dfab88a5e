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

"""Code style: flake8 over the package, launch files and tests (ament_flake8 when present)."""

from pathlib import Path
import subprocess
import sys

import pytest

ROOT = Path(__file__).resolve().parents[1]
PATHS = [p for p in ('imitation_ros', 'launch', 'test', 'setup.py') if (ROOT / p).exists()]


@pytest.mark.flake8
@pytest.mark.linter
def test_flake8() -> None:
    """The code passes flake8 with the ament configuration (max line 99)."""
    try:
        from ament_flake8.main import main_with_errors
    except ImportError:
        cmd = [sys.executable, '-m', 'flake8', '--max-line-length', '99', *PATHS]
        proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        return
    rc, errors = main_with_errors(argv=[str(ROOT / p) for p in PATHS])
    assert rc == 0, 'Found %d code style errors / warnings:\n' % len(errors) + '\n'.join(errors)
