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

"""Training in 2 processes (DDP, gloo, under torchrun): same model, rank 0 writes, restarts."""

import os
from pathlib import Path
import signal
import subprocess
import sys
import time
from typing import Callable, Sequence

import numpy as np
import pytest
import torch

from imitation_ros.cli.collect import collect
from imitation_ros.cli.main import build_parser
from imitation_ros.cli.train import LAUNCH_OPTIONS, worker_argv
from imitation_ros.errors import ConfigError
from imitation_ros.runtime.model_trust import read_manifest
from imitation_ros.runtime.onnx_policy import OnnxPolicy
from imitation_ros.training.distributed import (FAULT_ENV, LaunchOptions, STATE_ENV,
                                                sweep_stale_states)
from imitation_ros.training.jobs import JobSpec, TrainingJob
from imitation_ros.training.trainer import draw, sampling_cdf

ROOT = Path(__file__).resolve().parents[1]
AUDIT_PATH = Path(__file__).resolve().parent / 'ddp_audit'
DEADLINE_S = 300.0
#: A small, quick training: 6 episodes, a small network, 2 doubt members.
TRAIN = ['--policy', 'mse', '--steps', '120', '--batch-size', '64', '--option',
         'hidden=[32,32]', '--doubt-ensemble', '2', '--seed', '3', '--no-progress',
         '--version', 'v-ddp']
#: The same, long enough to be killed or cancelled mid-run, with a training state every 20 steps.
LONG = ['--checkpoint-every', '20', *[a if a != '120' else '1000000' for a in TRAIN]]


def _env(**extra: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k != FAULT_ENV}
    env['OMP_NUM_THREADS'] = '1'  # as torchrun gives each worker, for the 1-process baseline
    env.update(extra)
    return env


def _train(args: list[str], env: dict, timeout: float = DEADLINE_S) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, '-m', 'imitation_ros.cli.main', 'train', *args],
                          env=env, capture_output=True, text=True, timeout=timeout, cwd=ROOT)


def _fail(proc: subprocess.CompletedProcess) -> str:
    return f'exit {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr[-6000:]}'


@pytest.fixture(scope='module')
def bags(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Six multi-demonstrator episodes written as bags."""
    root = tmp_path_factory.mktemp('data')
    collect('multi', 6, root, seed=3, camera_every=0, progress=False)
    return root


@pytest.fixture(scope='module')
def runs(bags: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Run the same training in 1 process and in 2 (the latter logging every worker's writes)."""
    out = tmp_path_factory.mktemp('runs')
    one = _train(['--data', str(bags), '--out', str(out / 'one' / 'mse.onnx'), *TRAIN], _env())
    assert one.returncode == 0, _fail(one)
    audit = out / 'audit'
    audit.mkdir()
    tmp = out / 'tmp'
    tmp.mkdir()
    path = os.pathsep.join([str(AUDIT_PATH), os.environ.get('PYTHONPATH', '')])
    two = _train(['--data', str(bags), '--out', str(out / 'two' / 'mse.onnx'), '--nproc', '2',
                  *TRAIN], _env(PYTHONPATH=path, IMITATION_ROS_TEST_AUDIT_DIR=str(audit),
                                TMPDIR=str(tmp)))
    assert two.returncode == 0, _fail(two)
    return {'one': one, 'two': two, 'out': out, 'audit': audit, 'tmp': tmp}


def test_two_processes_write_a_loadable_model_that_says_so(runs: dict) -> None:
    """The 2-process run writes model, checkpoint and loss plot; the metadata says 2 processes."""
    folder = runs['out'] / 'two'
    assert sorted(p.name for p in folder.iterdir()) == ['mse.loss.png', 'mse.onnx', 'mse.pt']
    policy = OnnxPolicy(folder / 'mse.onnx')
    assert policy.version == 'v-ddp' and policy.has_doubt
    meta = policy.training_data
    assert meta['processes'] == 2
    assert meta['distributed']['processes'] == 2 and meta['distributed']['backend'] == 'gloo'
    assert meta['distributed']['restarts'] == 0 and meta['samples_per_s'] > 0
    assert 'in 2 processes' in runs['two'].stdout.splitlines()[0]
    assert OnnxPolicy(runs['out'] / 'one' / 'mse.onnx').training_data['processes'] == 1
    # The launcher's state folder (and torchrun's logs in it) is gone.
    assert not list(runs['tmp'].glob('imitation-ros-ddp-*'))
    assert not list(runs['tmp'].glob('torchelastic_*'))


def test_two_processes_train_what_one_does(runs: dict) -> None:
    """Same data and seed: the 2-process losses equal the 1-process ones (float rounding aside)."""
    one = OnnxPolicy(runs['out'] / 'one' / 'mse.onnx').training_data
    two = OnnxPolicy(runs['out'] / 'two' / 'mse.onnx').training_data
    assert one['digest'] == two['digest'] and one['samples'] == two['samples']
    for key in ('final_train_loss', 'final_val_loss'):
        assert two[key] == pytest.approx(one[key], rel=1e-3), key


def test_rank_zero_alone_writes_files(runs: dict, bags: Path) -> None:
    """Every project file a worker wrote was written by rank 0 (rank 1 wrote none)."""
    logs = {p.name.split('-')[0]: p.read_text().splitlines()
            for p in runs['audit'].glob('rank*.log')}
    assert set(logs) == {'rank0', 'rank1'}
    # The data folder (its episode index), the outputs and the launcher's state folder;
    # not the caches torch keeps in TMPDIR.
    ours = (str(bags), str(runs['out'] / 'two'), str(runs['tmp'] / 'imitation-ros-ddp-'))

    def files(lines: list[str]) -> list[str]:
        return [line for line in lines if any(f' {root}' in line for root in ours)]

    assert files(logs['rank1']) == []
    written = files(logs['rank0'])
    # The model, checkpoint and plot go to the launcher's state folder (published after);
    # model and checkpoint as unnamed files (O_TMPFILE) linked into place.
    assert any(line.endswith('/stage/mse.loss.png') for line in written), written
    assert sum(line.startswith('open ') and line.endswith('/stage') for line in written) >= 2
    assert any(line.startswith('os.rename') and '.resume.pt' in line for line in written)


def test_killed_worker_is_restarted_and_training_resumes(bags: Path, runs: dict,
                                                         tmp_path: Path) -> None:
    """Rank 1 killed (SIGKILL) at step 70: torchrun restarts both, they resume from step 60."""
    out = tmp_path / 'mse.onnx'
    proc = _train(['--data', str(bags), '--out', str(out), '--nproc', '2', '--max-restarts', '1',
                   '--checkpoint-every', '30', *TRAIN], _env(**{FAULT_ENV: '1:70'}))
    assert proc.returncode == 0, _fail(proc)
    assert 'exitcode: -9' in proc.stderr  # torchrun saw the kill
    meta = OnnxPolicy(out).training_data
    assert meta['distributed']['restarts'] == 1
    assert meta['distributed']['resumed_from_step'] == 60
    # Resumed, not started over: the same losses as the run that was never interrupted.
    whole = OnnxPolicy(runs['out'] / 'two' / 'mse.onnx').training_data
    for key in ('final_train_loss', 'final_val_loss'):
        assert meta[key] == pytest.approx(whole[key], rel=1e-6), key


def _worker_pids(state_prefix: str) -> dict[int, int]:
    """Return {rank: pid} of the workers whose state folder starts with ``state_prefix``."""
    found = {}
    for entry in Path('/proc').iterdir():
        if not entry.name.isdigit():
            continue
        try:
            env = dict(item.split('=', 1) for item in
                       (entry / 'environ').read_bytes().decode(errors='replace').split('\0')
                       if '=' in item)
        except OSError:
            continue
        if env.get(STATE_ENV, '').startswith(state_prefix) and 'RANK' in env:
            found[int(env['RANK'])] = int(entry.name)
    return found


def _alive(pid: int) -> bool:
    try:
        stat = Path(f'/proc/{pid}/stat').read_text()
    except OSError:
        return False
    return stat.rsplit(')', 1)[1].split()[0] != 'Z'


def test_killed_worker_without_restarts_fails_cleanly(bags: Path, tmp_path: Path) -> None:
    """A worker killed mid-run with no restarts left: a clear error, nothing written or left."""
    tmp, out = tmp_path / 'tmp', tmp_path / 'models'
    tmp.mkdir()
    args = ['--data', str(bags), '--out', str(out / 'mse.onnx'), '--nproc', '2',
            '--max-restarts', '0', *LONG]
    proc = subprocess.Popen([sys.executable, '-m', 'imitation_ros.cli.main', 'train', *args],
                            env=_env(TMPDIR=str(tmp)), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        # Mid-run: after rank 0 wrote its first training state.
        workers = _wait_for_workers(tmp, lambda: proc.poll() is None)
        os.kill(workers[1], signal.SIGKILL)
        stdout, stderr = proc.communicate(timeout=DEADLINE_S)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 1
    last = stderr.strip().splitlines()[-1]
    assert last.startswith('error: distributed training failed with no restarts allowed')
    assert f'worker rank 1 (pid {workers[1]}) was killed by SIGKILL' in last
    assert 'no model was written' in last
    assert not out.exists() or not list(out.iterdir())
    # The state folder and torchrun's logs are removed (torch's own caches may stay).
    assert not list(tmp.glob('imitation-ros-ddp-*')) and not list(tmp.glob('torchelastic_*'))
    _wait_gone(list(workers.values()))


def _wait_for_workers(tmp: Path, proc_alive: Callable[[], bool],
                      sign: str = 'resume.pt') -> dict[int, int]:
    """Wait until rank 0 under ``tmp`` made ``sign`` (the training state: it trains)."""
    deadline = time.monotonic() + DEADLINE_S
    while not list(tmp.glob(f'imitation-ros-ddp-*/{sign}')):
        assert proc_alive(), 'the launcher ended early'
        assert time.monotonic() < deadline, 'the workers did not start training'
        time.sleep(0.05)
    workers = _worker_pids(str(tmp))
    assert sorted(workers) == [0, 1]
    return workers


def _wait_gone(pids: Sequence[int]) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while any(_alive(pid) for pid in pids):
        assert time.monotonic() < deadline, f'workers {pids} still run'
        time.sleep(0.05)


def test_workers_end_with_a_killed_launcher(bags: Path, tmp_path: Path) -> None:
    """The launcher killed with SIGKILL: its workers end; the next launch sweeps its folder."""
    tmp = tmp_path / 'tmp'
    tmp.mkdir()
    proc = subprocess.Popen([sys.executable, '-m', 'imitation_ros.cli.main', 'train', '--data',
                             str(bags), '--out', str(tmp_path / 'm' / 'mse.onnx'), '--nproc',
                             '2', *LONG], env=_env(TMPDIR=str(tmp)), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, cwd=ROOT)
    try:
        workers = _wait_for_workers(tmp, lambda: proc.poll() is None)
        proc.kill()
        proc.wait(timeout=DEADLINE_S)
        _wait_gone(list(workers.values()))
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert not (tmp_path / 'm').exists()
    (state,) = tmp.glob('imitation-ros-ddp-*')
    assert sweep_stale_states(tmp) == [state] and not state.exists()


def test_cancelled_job_stops_every_worker(bags: Path, tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """Cancelling the trainer's job stops torchrun and both workers; nothing is written."""
    tmp = tmp_path / 'tmp'
    tmp.mkdir()
    monkeypatch.setenv('TMPDIR', str(tmp))
    out = tmp_path / 'models' / 'policy_v001.onnx'
    job = TrainingJob(JobSpec(data=(bags,), out=out, version='v001', policy='mse',
                              steps=1_000_000, options=('hidden=[16,16]',), nproc=2))
    # The stage folder appears once both workers joined the process group.
    workers = _wait_for_workers(tmp, lambda: job.poll() is None, sign='stage')
    job.cancel()
    result = job.poll()
    assert result is not None and not result.ok
    _wait_gone(list(workers.values()))
    assert [p.name for p in out.parent.iterdir()] == []
    sweep_stale_states(tmp)
    assert not list(tmp.glob('imitation-ros-ddp-*'))


def test_trainer_job_in_two_processes_is_listed(bags: Path, tmp_path: Path) -> None:
    """The trainer node's job with nproc 2: validated by the parent, then listed."""
    out = tmp_path / 'models' / 'policy_v001.onnx'
    spec = JobSpec(data=(bags,), out=out, version='v001', policy='mse', steps=40, seed=1,
                   options=('hidden=[16,16]',), nproc=2)
    assert spec.command()[-2:] == ['--nproc', '2']
    job = TrainingJob(spec)
    deadline = time.monotonic() + DEADLINE_S
    while (result := job.poll()) is None:
        assert time.monotonic() < deadline, 'the job did not finish'
        time.sleep(0.1)
    assert result.ok, result.message
    assert 'in 2 processes' in result.message
    assert read_manifest(out.parent)[out.name]['version'] == 'v001'
    assert OnnxPolicy(out).training_data['processes'] == 2


def test_failed_trainer_job_in_two_processes_lists_nothing(bags: Path, tmp_path: Path) -> None:
    """A deterministic error on every rank: the job fails with it, restarts end at once."""
    out = tmp_path / 'models' / 'policy_v001.onnx'
    spec = JobSpec(data=(bags,), out=out, version='v001', policy='mse', steps=40,
                   options=('componentz=3',), nproc=2)
    job = TrainingJob(spec)
    deadline = time.monotonic() + DEADLINE_S
    while (result := job.poll()) is None:
        assert time.monotonic() < deadline, 'the job did not finish'
        time.sleep(0.1)
    assert not result.ok
    assert 'distributed training failed after 1 restart(s)' in result.message
    assert 'componentz' in result.message
    assert not read_manifest(out.parent)
    assert [p.name for p in out.parent.iterdir()] == []


def test_worker_command_line_is_the_train_command_without_launcher_options() -> None:
    """Every train option reaches the workers unchanged; torchrun's options stay with it."""
    argv = ['train', '--data', 'a', 'b', '--policy', 'gmm', '--out', 'm/x.onnx', '--steps', '7',
            '--option', 'components=3', '--option', 'hidden=[8]', '--image', '--nproc', '4',
            '--nnodes', '2', '--node-rank', '1', '--master-addr', 'h', '--master-port', '1234',
            '--max-restarts', '3', '--init-from', 'old.pt', '--checkpoint-every', '5']
    parsed = build_parser().parse_args(argv)
    worker = build_parser().parse_args(worker_argv(parsed))
    defaults = build_parser().parse_args(['train', '--data', 'a', '--policy', 'mse', '--out',
                                          'x.onnx'])
    for key, value in vars(parsed).items():
        if key in LAUNCH_OPTIONS:
            assert getattr(worker, key) == getattr(defaults, key), key
        else:
            assert getattr(worker, key) == value, key


def test_launch_options_pass_through_to_torchrun() -> None:
    """Multi-node options become torchrun's; bad values are refused with the fix."""
    opts = LaunchOptions(nproc=2, nnodes='2', node_rank=1, rdzv_backend='c10d',
                         rdzv_endpoint='head:29400', rdzv_id='job7', max_restarts=2)
    args = opts.torchrun_args()
    for pair in (['--nproc-per-node', '2'], ['--nnodes', '2'], ['--node-rank', '1'],
                 ['--rdzv-backend', 'c10d'], ['--rdzv-endpoint', 'head:29400'],
                 ['--rdzv-id', 'job7'], ['--max-restarts', '2']):
        i = args.index(pair[0])
        assert args[i:i + 2] == pair
    assert opts.distributed and LaunchOptions(nnodes='1:2').distributed
    assert not LaunchOptions().distributed
    for bad in ({'nproc': 0}, {'max_restarts': -1}, {'nnodes': 'two'}, {'nnodes': '0'}):
        with pytest.raises(ConfigError):
            LaunchOptions(**bad)


def test_draw_is_the_weighted_choice_of_one_process() -> None:
    """Indices drawn from the cumulative weights equal rng.choice with p, draw for draw."""
    weight = np.random.default_rng(0).uniform(0.5, 3.0, 500)
    a, b = np.random.default_rng(9), np.random.default_rng(9)
    cdf = sampling_cdf(weight)
    for _ in range(20):
        np.testing.assert_array_equal(draw(a, cdf, 64),
                                      b.choice(500, size=64, p=weight / weight.sum()))
    assert draw(a, cdf, (3, 8)).shape == (3, 8)


@pytest.mark.skipif(torch.cuda.device_count() < 2,
                    reason=f'needs 2 CUDA devices for nccl with one GPU per process; torch sees '
                    f'{torch.cuda.device_count()} (no GPU on this machine): the CPU path (gloo) '
                    'is what runs here')
def test_two_gpu_processes_with_nccl(bags: Path, tmp_path: Path) -> None:
    """With GPUs, --device cuda --nproc 2 trains with nccl and writes a model that says so."""
    out = tmp_path / 'mse.onnx'
    proc = _train(['--data', str(bags), '--out', str(out), '--nproc', '2', '--device', 'cuda',
                   *TRAIN], _env())
    assert proc.returncode == 0, _fail(proc)
    meta = OnnxPolicy(out).training_data
    assert meta['distributed']['backend'] == 'nccl' and meta['processes'] == 2


def test_launcher_prints_rank_zero_summary_with_final_paths(runs: dict) -> None:
    """The summary the launcher printed is rank 0's, naming where the files were put."""
    lines = runs['two'].stdout.splitlines()
    assert any(str(runs['out'] / 'two' / 'mse.onnx') in line for line in lines)
    assert any('samples/s' in line for line in lines)
