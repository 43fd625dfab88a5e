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
Data at fleet size: how fast the loader reads episode bags with images, and in how much memory.

``imitation-ros benchmark data`` collects ``episodes`` demonstrations with camera
frames (as ``imitation-ros collect --camera-every 2`` does), then times, each in a
fresh process so that its peak resident memory is its own: the first load (no
episode index yet: every bag read), an incremental load after ``new`` more
episodes arrive in a new session (the trainer's next round), a load with nothing
new, and, with ``baseline``, a load without the index (every bag read, every
frame in RAM). Bags per second count the bags a load delivers over its wall time.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
import json
from pathlib import Path
import resource
import shutil
import subprocess
import sys
import time

import numpy as np

from ..collect import collect
from ..data import INDEX_DIR, load_dataset, scan_episode_bags

#: Name of the session of the initial episodes and of the newly arrived ones.
BASE_SESSION, NEW_SESSION = 'fleet_base', 'fleet_new'


@dataclass(frozen=True)
class LoadRun:
    """One load, measured in a process of its own."""

    phase: str
    """What was loaded (first, incremental, unchanged, no index)."""
    bags: int
    """Bags delivered."""
    bags_read: int
    """Bags read from their files (the rest came from the index)."""
    samples: int
    """Samples loaded."""
    seconds: float
    """Wall time of ``load_dataset``."""
    peak_rss_mb: float
    """Peak resident memory of the process (VmHWM), MB."""
    images_mb: float
    """Size of the loaded frames, MB."""
    images_in: str
    """Where the frames are: 'memory map' or 'RAM'."""

    @property
    def bags_per_s(self) -> float:
        """Return bags delivered per second."""
        return self.bags / max(self.seconds, 1e-9)


def peak_rss_mb() -> float:
    """Return this process's peak resident memory, MB (VmHWM; ru_maxrss where there is none)."""
    try:
        for line in Path('/proc/self/status').read_text().splitlines():
            if line.startswith('VmHWM:'):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    # ru_maxrss survives exec (it may be the parent's); VmHWM belongs to this process.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def measure_load(data: str, index: bool) -> dict:
    """Load ``data`` with images once and return what :class:`LoadRun` needs (child side)."""
    start = time.perf_counter()
    d = load_dataset(data, with_images=True, index=index)
    seconds = time.perf_counter() - start
    assert d.images is not None
    return {'bags': len(d.episodes), 'bags_read': d.summary.bags_read, 'samples': len(d),
            'seconds': seconds, 'peak_rss_mb': peak_rss_mb(),
            'images_mb': d.images.nbytes / 1e6,
            'images_in': 'memory map' if isinstance(d.images, np.memmap) else 'RAM'}


def _child(phase: str, data: Path, index: bool) -> LoadRun:
    code = ('import json, sys; from imitation_ros.studies.data_loading import measure_load; '
            'print(json.dumps(measure_load(sys.argv[1], sys.argv[2] == "1")))')
    proc = subprocess.run([sys.executable, '-W', 'ignore', '-c', code, str(data),
                           '1' if index else '0'], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f'the {phase} load failed:\n{proc.stderr[-3000:]}')
    return LoadRun(phase=phase, **json.loads(proc.stdout.strip().splitlines()[-1]))


def run_data_benchmark(work: Path, *, episodes: int = 1000, new: int = 10,
                       baseline: bool = False, progress: bool = True) -> list[LoadRun]:
    """Collect (or reuse) the episodes under ``work/data`` and measure the loads."""
    data = Path(work) / 'data'
    base = data / BASE_SESSION
    if not base.exists() or len(scan_episode_bags(base)[0]) != episodes:
        shutil.rmtree(base, ignore_errors=True)
        collect('multi', episodes, data, seed=0, session=BASE_SESSION, camera_every=2,
                progress=progress)
    shutil.rmtree(data / NEW_SESSION, ignore_errors=True)
    shutil.rmtree(data / INDEX_DIR, ignore_errors=True)
    runs = [_child('first load (no index)', data, True)]
    collect('multi', new, data, seed=1, session=NEW_SESSION, camera_every=2, progress=False)
    runs.append(_child(f'incremental ({new} new bags)', data, True))
    runs.append(_child('nothing new', data, True))
    if baseline:
        runs.append(_child('without the index', data, False))
    return runs


def format_data_table(runs: list[LoadRun]) -> str:
    """Return the Markdown table of the runs."""
    lines = ['| load | bags | read from bags | samples | seconds | bags/s | peak RSS (MB) | '
             'frames (MB) | frames in |', '|---|---|---|---|---|---|---|---|---|']
    for r in runs:
        lines.append(f'| {r.phase} | {r.bags} | {r.bags_read} | {r.samples} | '
                     f'{r.seconds:.2f} | {r.bags_per_s:.0f} | {r.peak_rss_mb:.0f} | '
                     f'{r.images_mb:.0f} | {r.images_in} |')
    return '\n'.join(lines)


def write_results(runs: list[LoadRun], out: Path) -> str:
    """Write ``table.md`` and ``runs.json`` under ``out``; return the table."""
    out.mkdir(parents=True, exist_ok=True)
    table = format_data_table(runs)
    (out / 'table.md').write_text(table + '\n')
    (out / 'runs.json').write_text(json.dumps(
        [dict(asdict(r), bags_per_s=r.bags_per_s) for r in runs], indent=1) + '\n')
    return table
