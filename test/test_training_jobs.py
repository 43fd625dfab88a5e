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

"""Training children: killed exports leave nothing, a child dies with its killed trainer."""

from __future__ import annotations

import os
from pathlib import Path
import signal
import subprocess
import sys
import textwrap
import time
from typing import Optional

from imitation_ros.collect import collect
from imitation_ros.errors import TrainingError
from imitation_ros.training.jobs import (
    child_command, GUARD_ENV, JobSpec, ORPHAN_EXIT, TrainingJob)
import pytest
from ros_harness import poll_until, private_domain_id

ROOT = Path(__file__).resolve().parents[1]
#: The trainer processes of these tests publish on this domain (nobody listens).
DOMAIN_ID = private_domain_id(76)
TIMEOUT_S = 120.0

#: A real export (or checkpoint) in a process of its own, stopped inside the fsync of the
#: file's bytes (written, not yet in place); the test kills it there with SIGKILL.
_STALLED_EXPORT = textwrap.dedent('''
    import os, sys, time
    import numpy as np
    import torch
    from imitation_ros.policies.base import Normalizer, PolicySpec
    from imitation_ros.policies.registry import make_policy
    from imitation_ros.training.checkpoint import save_checkpoint
    from imitation_ros.training.export import export_policy

    rng = np.random.default_rng(0)
    spec = PolicySpec(('joint1', 'joint2', 'joint3'), ('a', 'b', 'c', 'd', 'e'),
                      Normalizer.fit(rng.normal(size=(50, 8))),
                      Normalizer.fit(rng.normal(size=(50, 3))))
    policy = make_policy('mse', spec, {'hidden': (512, 512)}).eval()

    def stalled_fsync(fd):
        print('in fsync', flush=True)
        time.sleep(600)

    os.fsync = stalled_fsync
    out = sys.argv[1]
    if out.endswith('.pt'):
        save_checkpoint(policy, out)
    else:
        export_policy(policy, out, metadata_extra={'version': 'v001'})
''')


def _run_until_killed(code: str, *args: str, marker: str) -> None:
    """Run ``code`` in a child; SIGKILL it once it prints ``marker``."""
    proc = subprocess.Popen([sys.executable, '-c', code, *args], stdout=subprocess.PIPE,
                            text=True, cwd=ROOT)
    try:
        line = proc.stdout.readline()  # blocks until the marker (or the child's death)
        assert line.strip() == marker, f'the child did not reach {marker!r}: {line!r}'
        proc.send_signal(signal.SIGKILL)
        assert proc.wait(timeout=TIMEOUT_S) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()


@pytest.mark.parametrize('name', ['policy_v001.onnx', 'policy_v001.pt'])
def test_export_killed_mid_write_leaves_no_file(tmp_path: Path, name: str) -> None:
    """SIGKILL while the model (1 MB) or checkpoint is being written leaves the folder empty."""
    models = tmp_path / 'models'
    _run_until_killed(_STALLED_EXPORT, str(models / name), marker='in fsync')
    assert list(models.iterdir()) == []


# ----------------------------------------------------------------------------- processes
def _stat(pid: int) -> Optional[tuple[str, int]]:
    """Return (state, parent pid) of process ``pid``, or None when it is gone."""
    try:
        text = Path(f'/proc/{pid}/stat').read_text()
    except OSError:
        return None
    fields = text.rsplit(')', 1)[1].split()
    return fields[0], int(fields[1])


def _alive(pid: int) -> bool:
    stat = _stat(pid)
    return stat is not None and stat[0] not in ('Z', 'X')


def _children(pid: int) -> list[int]:
    out = []
    for entry in Path('/proc').iterdir():
        if entry.name.isdigit():
            stat = _stat(int(entry.name))
            if stat is not None and stat[1] == pid:
                out.append(int(entry.name))
    return out


def _training_child(parent: int) -> Optional[int]:
    """Return the pid of ``parent``'s training child once it has loaded torch, else None."""
    for pid in _children(parent):
        try:
            cmdline = Path(f'/proc/{pid}/cmdline').read_bytes()
            maps = Path(f'/proc/{pid}/maps').read_text()
        except OSError:
            continue
        if b'guard_child' in cmdline and 'libtorch' in maps:
            return pid
    return None


@pytest.fixture(scope='module')
def demos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Return a data folder with three demonstrations."""
    data = tmp_path_factory.mktemp('jobs_data')
    collect('above', 3, data, seed=0, session='demos', camera_every=0, progress=False)
    return data


def _trainer_command() -> list[str]:
    script = Path(sys.executable).with_name('trainer')  # the installed executable
    if script.exists():
        return [str(script)]
    return [sys.executable, '-m', 'imitation_ros.nodes.trainer']


@pytest.mark.skipif(not Path('/proc/self/stat').exists(), reason='needs /proc')
@pytest.mark.parametrize('guard', ['pdeathsig', 'poll'])
def test_sigkill_of_the_trainer_ends_its_training_child(tmp_path: Path, demos: Path,
                                                        guard: str) -> None:
    """A trainer killed with SIGKILL mid-training takes its child along; no model appears."""
    models = tmp_path / 'models'
    env = dict(os.environ, ROS_DOMAIN_ID=str(DOMAIN_ID))
    if guard == 'poll':
        env[GUARD_ENV] = 'poll'  # as where prctl is missing: the watcher thread alone
    params = {'data_dir': demos, 'models_dir': models, 'train_on_start': 'true',
              'train_steps': 10_000_000, 'policy': 'mse', 'check_period_s': 0.2}
    args = [a for k, v in params.items() for a in ('-p', f'{k}:={v}')]
    trainer = subprocess.Popen([*_trainer_command(), '--ros-args', *args], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    child: Optional[int] = None
    try:
        child = poll_until(lambda: _training_child(trainer.pid), TIMEOUT_S,
                           'the training child to load torch', period=0.1)
        assert trainer.poll() is None
        trainer.send_signal(signal.SIGKILL)
        assert trainer.wait(timeout=TIMEOUT_S) == -signal.SIGKILL
        poll_until(lambda: not _alive(child), TIMEOUT_S, 'the orphaned child to end',
                   period=0.05)
        # The child is gone: nothing can write into the models folder any more.
        assert sorted(p.name for p in models.iterdir()) == []
    finally:
        if trainer.poll() is None:
            trainer.kill()
            trainer.wait()
        if child is not None and _alive(child):
            os.kill(child, signal.SIGKILL)


def test_guarded_child_of_a_dead_parent_ends_at_once() -> None:
    """A child whose parent is not there when the guard is set exits with ORPHAN_EXIT."""
    code = ('import sys; from imitation_ros.training.jobs import guard_parent; '
            'guard_parent(int(sys.argv[1])); print("still running")')
    gone = subprocess.run([sys.executable, '-c', code, '1'], capture_output=True, text=True,
                          cwd=ROOT, timeout=TIMEOUT_S)
    assert gone.returncode == ORPHAN_EXIT and 'still running' not in gone.stdout
    ok = subprocess.run([sys.executable, '-c', code, str(os.getpid())], capture_output=True,
                        text=True, cwd=ROOT, timeout=TIMEOUT_S)
    assert ok.returncode == 0 and 'still running' in ok.stdout


def test_orphan_puts_no_file_in_place(tmp_path: Path) -> None:
    """Once the parent is gone (re-parented), a guarded child ends instead of writing a file."""
    code = textwrap.dedent('''
        import os, sys
        from imitation_ros.runtime.atomic import write_atomic
        from imitation_ros.training.jobs import guard_parent
        guard_parent(os.getppid(), death_signal=False)
        os.getppid = lambda: 1  # what a re-parented process sees
        write_atomic(sys.argv[1], b'model')
        print('written')
    ''')
    target = tmp_path / 'policy_v001.onnx'
    run = subprocess.run([sys.executable, '-c', code, str(target)], capture_output=True,
                         text=True, cwd=ROOT, timeout=TIMEOUT_S)
    assert run.returncode == ORPHAN_EXIT and 'written' not in run.stdout
    assert list(tmp_path.iterdir()) == []


def test_child_command_runs_the_train_command_behind_the_guard(tmp_path: Path) -> None:
    """The child gets the parent's pid and its niceness, then exactly the train command line."""
    spec = JobSpec(data=(tmp_path,), out=tmp_path / 'm.onnx', version='v001')
    command = child_command(spec, parent=4242)
    assert command[:2] == [sys.executable, '-c'] and 'guard_child' in command[2]
    assert command[3] == '4242' and command[4] == '10'
    assert command[5:] == spec.command()[3:] and command[5] == 'train'


def test_niceness_outside_0_to_19_and_negative_threads_are_refused(tmp_path: Path) -> None:
    """A niceness the kernel cannot add, or a negative thread count, is refused."""
    for bad in (-1, 20):
        with pytest.raises(TrainingError, match='0..19'):
            JobSpec(data=(tmp_path,), out=tmp_path / 'm.onnx', version='v001', niceness=bad)
    with pytest.raises(TrainingError, match='negative'):
        JobSpec(data=(tmp_path,), out=tmp_path / 'm.onnx', version='v001', threads=-1)


def test_the_training_child_runs_at_lower_priority_with_its_thread_count(
        demos: Path, tmp_path: Path) -> None:
    """The child adds the spec's niceness before torch loads and gets its thread count."""
    base = os.getpriority(os.PRIO_PROCESS, 0)
    want = min(19, base + 7)
    job = TrainingJob(JobSpec(data=(demos,), out=tmp_path / 'policy_v001.onnx',
                              version='v001', policy='mse', steps=100_000, niceness=7,
                              threads=3))
    try:
        deadline = time.monotonic() + TIMEOUT_S
        seen = None
        while time.monotonic() < deadline and job.poll() is None:
            try:
                seen = os.getpriority(os.PRIO_PROCESS, job.pid)
            except OSError:
                break
            if seen == want and _training_child(os.getpid()) == job.pid:
                break
            time.sleep(0.1)
        assert seen == want, f'child niceness {seen}, expected {want} (parent {base} + 7)'
        assert _training_child(os.getpid()) == job.pid  # torch loaded at that priority
        environ = Path(f'/proc/{job.pid}/environ').read_bytes().split(b'\0')
        assert b'OMP_NUM_THREADS=3' in environ
    finally:
        job.cancel()
