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
Training in several processes (and on several machines): DistributedDataParallel under torchrun.

``imitation-ros train --nproc N`` is the launcher (:func:`launch`): it makes a
private state folder, runs torchrun's elastic agent in its own process
(``torch.distributed.run``, with the multi-node options passed through) and
starts ``N`` workers, each the same ``imitation-ros train`` command in worker
mode (:func:`worker_state_dir`). In a worker, :class:`DistributedRun` is the
process group (gloo on the CPU, nccl on GPUs) and everything the ranks share:

- Rank 0 alone reads the data (and writes the episode index), selects the
  samples, fits the normalization (or loads the warm-start checkpoint) and
  broadcasts the training set, the spec and the kind's settings
  (:meth:`DistributedRun.share_training_set`): every rank trains on the same
  samples with the same normalization, and the other ranks need no data folder.
- Each step every rank draws the same global batch from the same weighted
  sampling as a single process and takes every ``world_size``-th sample of it
  (rank-strided); DDP averages the gradients, scaled so that the step equals the
  single-process step on the whole batch.
- Rank 0 alone writes files: periodic training state (for a resume after a
  restart), the model, its checkpoint and loss plot, all into the state folder.
  The launcher puts the outputs in place only after torchrun reports success;
  a failed run publishes nothing and leaves nothing behind.

A worker that dies (killed, out of memory) makes torchrun stop the others and,
while restarts are left (``--max-restarts``), start them all again; they resume
from the last training state. A deterministic error (bad data, a non-finite
loss) is recorded by rank 0, and restarted workers end at once with it instead
of repeating the run.
"""

from __future__ import annotations

from dataclasses import dataclass
import datetime
import io
import json
import os
from pathlib import Path
import shutil
import signal
import sys
import tempfile
from typing import Any, Callable, Optional, Sequence

import numpy as np
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from ..errors import ConfigError, TrainingError
from ..policies.base import PolicySpec
from ..runtime.atomic import write_atomic
from .jobs import guard_parent
from .trainer import TrainingSet

__all__ = ['DistributedRun', 'FAULT_ENV', 'launch', 'LaunchOptions', 'Published',
           'STATE_ENV', 'sweep_stale_states', 'worker_state_dir']

#: Environment variable the launcher sets for its workers: the state folder.
STATE_ENV = 'IMITATION_ROS_DDP_STATE'
#: Environment variable the launcher sets for its workers: its pid (their parent).
LAUNCHER_ENV = 'IMITATION_ROS_DDP_LAUNCHER'
#: Name of a state folder (in the temporary directory): prefix, the launcher's pid, random.
STATE_PREFIX = 'imitation-ros-ddp-'
#: Fault drill: ``RANK:STEP`` makes that rank kill itself (SIGKILL) after that training
#: step in the first attempt, to check that a run survives a lost worker.
FAULT_ENV = 'IMITATION_ROS_DDP_FAULT'
#: Training state written every ``checkpoint_every`` steps by rank 0 (in the state folder).
RESUME_FILE = 'resume.pt'
#: Format tag of the training state.
RESUME_FORMAT = 'imitation_ros.train-state/1'
#: What rank 0 records when it failed for a reason a restart cannot cure.
FATAL_FILE = 'fatal.json'
#: What rank 0 records when it succeeded: the staged files and the summary.
RESULT_FILE = 'result.json'
#: Folder (in the state folder) rank 0 writes the outputs to.
STAGE_DIR = 'stage'
#: Rows per broadcast chunk are chosen so one chunk stays under this size.
CHUNK_BYTES = 64 << 20
#: How long a collective may wait (rank 0 reading a large data folder is the longest).
COLLECTIVE_TIMEOUT = datetime.timedelta(minutes=30)


def worker_state_dir() -> Optional[Path]:
    """Return the state folder when this process is a worker the launcher started, else None."""
    value = os.environ.get(STATE_ENV)
    if value:
        return Path(value)
    if 'TORCHELASTIC_RUN_ID' in os.environ and int(os.environ.get('WORLD_SIZE', '1')) > 1:
        raise ConfigError('imitation-ros train runs torchrun itself: use imitation-ros train '
                          '--nproc N (and --nnodes, --node-rank, --rdzv-endpoint for several '
                          'machines) instead of starting it under torchrun')
    return None


# ---------------------------------------------------------------------------------- launcher
@dataclass(frozen=True)
class LaunchOptions:
    """How torchrun starts the workers (its options of the same names)."""

    nproc: int = 1
    """Worker processes on this machine (``--nproc-per-node``)."""
    nnodes: str = '1'
    """Machines, or MIN:MAX for an elastic range (``--nnodes``)."""
    node_rank: Optional[int] = None
    """This machine's rank with the static rendezvous (``--node-rank``)."""
    rdzv_backend: Optional[str] = None
    """Rendezvous backend: static (with master_addr/port) or c10d (``--rdzv-backend``)."""
    rdzv_endpoint: Optional[str] = None
    """HOST:PORT every machine reaches for the c10d rendezvous (``--rdzv-endpoint``)."""
    rdzv_id: Optional[str] = None
    """Job id, the same on every machine (``--rdzv-id``)."""
    master_addr: Optional[str] = None
    """Address of the rank-0 machine with the static rendezvous (``--master-addr``)."""
    master_port: Optional[int] = None
    """Its port (``--master-port``)."""
    max_restarts: int = 1
    """Times torchrun restarts all workers after one failed (``--max-restarts``)."""

    def __post_init__(self) -> None:
        if self.nproc < 1:
            raise ConfigError(f'--nproc must be >= 1, got {self.nproc}')
        if self.max_restarts < 0:
            raise ConfigError(f'--max-restarts must be >= 0, got {self.max_restarts}')
        nodes = self.nnodes.split(':')
        if not (1 <= len(nodes) <= 2 and all(n.isdigit() and int(n) >= 1 for n in nodes)):
            raise ConfigError(f'--nnodes must be N or MIN:MAX (positive), got {self.nnodes!r}')

    @property
    def distributed(self) -> bool:
        """Return True when more than one process trains."""
        return self.nproc > 1 or self.nnodes not in ('1', '1:1')

    def torchrun_args(self) -> list[str]:
        """Return torchrun's options (those not given are left to torchrun's defaults)."""
        args = ['--nproc-per-node', str(self.nproc), '--nnodes', self.nnodes,
                '--max-restarts', str(self.max_restarts)]
        for flag, value in (('--node-rank', self.node_rank),
                            ('--rdzv-backend', self.rdzv_backend),
                            ('--rdzv-endpoint', self.rdzv_endpoint),
                            ('--rdzv-id', self.rdzv_id), ('--master-addr', self.master_addr),
                            ('--master-port', self.master_port)):
            if value is not None:
                args += [flag, str(value)]
        return args


@dataclass(frozen=True)
class Published:
    """What a successful distributed run put in place (on the machine of rank 0)."""

    files: tuple[Path, ...]
    """The files written, the model last."""
    lines: tuple[str, ...]
    """Rank 0's summary (what ``imitation-ros train`` prints)."""


def launch(worker_argv: Sequence[str], out: Path, options: LaunchOptions, *,
           device: str = 'cpu') -> Optional[Published]:
    """
    Run ``imitation-ros <worker_argv>`` in ``options.nproc`` workers under torchrun.

    :param worker_argv: the ``train`` command line without the launcher's options.
    :param out: the model path; the outputs of rank 0 are put next to it.
    :returns: what was put in place, or None when rank 0 ran on another machine
        (its launcher puts the outputs in place there).
    :raises TrainingError: the run failed (after its restarts); nothing was written.
    """
    if device == 'cuda':
        if not torch.cuda.is_available():
            raise TrainingError('--device cuda asked for, but torch sees no CUDA device; use cpu')
        if options.nproc > torch.cuda.device_count():
            raise TrainingError(f'--nproc {options.nproc} with --device cuda needs one GPU per '
                                f'process; torch sees {torch.cuda.device_count()} here')
    # lazy: torchrun only for multi-process runs
    from torch.distributed.elastic.multiprocessing.api import SignalException
    # lazy: torchrun only for multi-process runs
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import parse_args, run  # lazy: torchrun only for multi-process runs

    sweep_stale_states()
    state = Path(tempfile.mkdtemp(prefix=f'{STATE_PREFIX}{os.getpid()}-'))
    before = {key: os.environ.get(key) for key in (STATE_ENV, LAUNCHER_ENV)}
    os.environ[STATE_ENV] = str(state)
    os.environ[LAUNCHER_ENV] = str(os.getpid())
    try:
        # torchrun's own log folders go with the state folder.
        argv = [*options.torchrun_args(), '--log-dir', str(state / 'logs'), '--module',
                'imitation_ros.cli.main', *worker_argv]
        try:
            run(parse_args(argv))
        except ChildFailedError as exc:
            raise TrainingError(_failure_message(exc, state, options)) from None
        except SignalException as exc:
            # torchrun has stopped the workers; nothing is published.
            raise TrainingError(f'distributed training stopped by {exc.sigval.name}; no model '
                                'was written') from None
        return _publish(state, Path(out))
    finally:
        for key, value in before.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        shutil.rmtree(state, ignore_errors=True)


def sweep_stale_states(directory: Optional[Path] = None) -> list[Path]:
    """
    Remove state folders of launchers that are gone (killed before they cleaned up).

    :param directory: where they are (default: the temporary directory).
    :returns: the folders removed.
    """
    removed = []
    for folder in Path(directory or tempfile.gettempdir()).glob(f'{STATE_PREFIX}*'):
        owner = folder.name[len(STATE_PREFIX):].split('-', 1)[0]
        if owner.isdigit() and not _alive(int(owner)):
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    return True


def _failure_message(exc: Any, state: Path, options: LaunchOptions) -> str:
    """Say why the run failed: rank 0's recorded error, else the first worker that died."""
    restarts = f'after {options.max_restarts} restart(s)' if options.max_restarts else \
        'with no restarts allowed (--max-restarts 0)'
    try:
        reason = json.loads((state / FATAL_FILE).read_text())['error']
    except (OSError, ValueError, KeyError, TypeError):
        rank, failure = exc.get_first_failure()
        if failure.exitcode is not None and failure.exitcode < 0:
            how = f'was killed by {failure.signal_name()}'
        else:
            how = f'exited with status {failure.exitcode}'
        reason = f'worker rank {rank} (pid {failure.pid}) {how}'
    return (f'distributed training failed {restarts}: {reason}; no model was written (the '
            "workers' own messages are above)")


def _publish(state: Path, out: Path) -> Optional[Published]:
    """Put rank 0's staged outputs next to ``out`` (the model last); None if none here."""
    try:
        result = json.loads((state / RESULT_FILE).read_text())
    except FileNotFoundError:
        return None
    stage = state / STAGE_DIR
    written = []
    # The model goes last: whoever sees it finds its checkpoint and plot beside it.
    names = sorted(result['files'], key=lambda name: name.endswith('.onnx'))
    for name in names:
        target = out.parent / name
        write_atomic(target, (stage / name).read_bytes())
        written.append(target)
    return Published(tuple(written), tuple(result['lines']))


# ---------------------------------------------------------------------------------- workers
class DistributedRun:
    """
    One worker's view of a distributed training: its rank, the process group, shared state.

    :param state_dir: the launcher's state folder (:data:`STATE_ENV`).
    :param device: 'cpu' (gloo) or 'cuda' (nccl, one GPU per process: ``LOCAL_RANK``).
    :param checkpoint_every: training state written every this many steps (0: never).
    """

    def __init__(self, state_dir: Path, *, device: str = 'cpu', checkpoint_every: int = 0,
                 guard: bool = True) -> None:
        """Join the process group torchrun prepared (environment variables)."""
        self.state_dir = Path(state_dir)
        self.rank = int(os.environ.get('RANK', '0'))
        self.world_size = int(os.environ.get('WORLD_SIZE', '1'))
        self.local_rank = int(os.environ.get('LOCAL_RANK', '0'))
        self.restarts = int(os.environ.get('TORCHELASTIC_RESTART_COUNT', '0'))
        self.checkpoint_every = int(checkpoint_every)
        self.resumed_from: Optional[int] = None
        if guard:
            # torchrun starts workers in sessions of their own: a worker outliving its agent
            # (killed with SIGKILL) would train on; end with it instead (also when it died
            # before this worker got here).
            guard_parent(int(os.environ.get(LAUNCHER_ENV, os.getppid())))
        fatal = self.state_dir / FATAL_FILE
        if fatal.is_file():
            # A restart after an error a restart cannot cure: end at once with it.
            raise TrainingError(json.loads(fatal.read_text()).get('error', 'earlier failure'))
        self._fault = _parse_fault(os.environ.get(FAULT_ENV, ''))
        if device == 'cuda':
            if not torch.cuda.is_available():
                raise TrainingError('--device cuda asked for, but torch sees no CUDA device')
            torch.cuda.set_device(self.local_rank)
            self.device = torch.device('cuda', self.local_rank)
            self.backend = 'nccl'
        elif device == 'cpu':
            self.device = torch.device('cpu')
            self.backend = 'gloo'
        else:
            raise TrainingError(f"device must be 'cpu' or 'cuda', got {device!r}")
        dist.init_process_group(self.backend, store=self._store(), rank=self.rank,
                                world_size=self.world_size, timeout=COLLECTIVE_TIMEOUT)
        # Objects and numpy arrays travel on the CPU: nccl moves only GPU tensors.
        self._cpu_group = (dist.new_group(backend='gloo', timeout=COLLECTIVE_TIMEOUT)
                           if self.backend == 'nccl' else None)

    def _store(self) -> dist.Store:
        """
        Return the rendezvous store of this attempt.

        Workers share the agent's store across restarts: without a prefix per attempt a
        restarted rank reads the addresses its killed predecessor published and fails to
        connect (seen with torch 2.13 and the c10d rendezvous).
        """
        agent = os.environ.get('TORCHELASTIC_USE_AGENT_STORE') == str(True)
        base = dist.TCPStore(os.environ['MASTER_ADDR'], int(os.environ['MASTER_PORT']),
                             self.world_size, is_master=not agent and self.rank == 0,
                             timeout=COLLECTIVE_TIMEOUT, multi_tenant=not agent)
        return dist.PrefixStore(f'imitation_ros/attempt_{self.restarts}/', base)

    @property
    def is_main(self) -> bool:
        """Return True on rank 0, the one that reads data and writes files."""
        return self.rank == 0

    def close(self) -> None:
        """Leave the process group."""
        if dist.is_initialized():
            dist.destroy_process_group()

    def describe(self) -> dict:
        """Return the facts the model metadata records."""
        return {'processes': self.world_size, 'backend': self.backend,
                'restarts': self.restarts, 'resumed_from_step': self.resumed_from,
                'checkpoint_every': self.checkpoint_every}

    def stage_path(self, out: Path) -> Path:
        """Return where rank 0 writes the output ``out`` before the launcher publishes it."""
        stage = self.state_dir / STAGE_DIR
        if self.is_main:
            stage.mkdir(parents=True, exist_ok=True)
        return stage / Path(out).name

    def record_result(self, files: Sequence[Path], lines: Sequence[str]) -> None:
        """Rank 0: name the staged outputs and the summary for the launcher."""
        if self.is_main:
            write_atomic(self.state_dir / RESULT_FILE, json.dumps(
                {'files': [Path(f).name for f in files if Path(f).is_file()],
                 'lines': list(lines)}).encode())

    def record_fatal(self, exc: BaseException) -> None:
        """Rank 0: record an error a restart cannot cure (restarted workers end with it)."""
        if self.is_main:
            try:
                write_atomic(self.state_dir / FATAL_FILE, json.dumps({'error': str(exc)}).encode())
            except OSError:
                pass  # the error itself is reported on stderr all the same

    # ------------------------------------------------------------------ collectives
    def broadcast_object(self, value: Any = None) -> Any:
        """Return rank 0's ``value`` on every rank (pickled: small objects only)."""
        box = [value]
        dist.broadcast_object_list(box, src=0, group=self._cpu_group)
        return box[0]

    def broadcast_array(self, array: Optional[np.ndarray]) -> np.ndarray:
        """Return rank 0's ``array`` on every rank (others pass None), in bounded chunks."""
        head = self.broadcast_object(None if array is None else
                                     (tuple(array.shape), array.dtype.str))
        if head is None:
            return None
        shape, dtype = head
        out = array if self.is_main else np.empty(shape, dtype=np.dtype(dtype))
        if not out.size:
            return out
        rows = max(1, CHUNK_BYTES // max(1, out[:1].nbytes))
        for start in range(0, shape[0], rows):
            block = np.ascontiguousarray(out[start:start + rows]) if self.is_main else \
                out[start:start + rows]
            tensor = torch.from_numpy(block)
            dist.broadcast(tensor, src=0, group=self._cpu_group)
        return out

    def all_sum(self, values: Sequence[float]) -> np.ndarray:
        """Return the element-wise sum of ``values`` over all ranks (float64)."""
        tensor = torch.tensor(list(values), dtype=torch.float64)
        dist.all_reduce(tensor, group=self._cpu_group)
        return tensor.numpy()

    def share_training_set(self, make: Callable[[], tuple['TrainingSet', 'PolicySpec', dict]]
                           ) -> tuple['TrainingSet', 'PolicySpec', dict]:
        """
        Rank 0 runs ``make``; every rank returns its training set, spec and kind options.

        When ``make`` fails on rank 0, every rank raises (the others a
        TrainingError naming rank 0's error), so none waits for data that never comes.
        """
        if self.is_main:
            try:
                tset, spec, options = make()
            except Exception as exc:
                self.broadcast_object(('error', f'{type(exc).__name__}: {exc}'))
                raise
            self.broadcast_object(('ok', spec.to_dict(), dict(options)))
        else:
            head = self.broadcast_object(None)
            if head[0] == 'error':
                raise TrainingError(f'rank 0 could not prepare the training data: {head[1]}')
            spec, options, tset = PolicySpec.from_dict(head[1]), head[2], None
        arrays = {}
        for name in ('state', 'task', 'actions', 'weight', 'episode', 'image'):
            arrays[name] = self.broadcast_array(getattr(tset, name) if self.is_main else None)
        return (tset if self.is_main else TrainingSet(**arrays)), spec, options

    def wrap(self, module: torch.nn.Module) -> torch.nn.Module:
        """Return a DistributedDataParallel module whose forward is ``module.loss``."""
        # The policies' buffers are constants (normalization, schedules); only batch
        # statistics would need rank 0's copy broadcast every step.
        batch_norm = any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm)
                         for m in module.modules())
        return DistributedDataParallel(_LossOf(module), forward_sync_buffers=batch_norm)

    # ------------------------------------------------------------------ resume
    def load_resume(self, fingerprint: dict) -> Optional[dict]:
        """
        Return the last training state of this run on every rank (None when there is none).

        :raises TrainingError: the state belongs to another training (``fingerprint``).
        """
        state = None
        if self.is_main:
            path = self.state_dir / RESUME_FILE
            if path.is_file():
                state = torch.load(path, map_location='cpu', weights_only=True)
        state = self.broadcast_object(state)
        if state is None:
            return None
        if state.get('format') != RESUME_FORMAT or state.get('fingerprint') != fingerprint:
            raise TrainingError('the training state to resume from belongs to another '
                                f'training ({state.get("fingerprint")} vs {fingerprint}); '
                                'start the run again')
        self.resumed_from = int(state['step'])
        return state

    def due(self, step: int, steps: int) -> bool:
        """Return True when the training state is to be written after ``step`` steps."""
        return bool(self.checkpoint_every) and step % self.checkpoint_every == 0 and step < steps

    def save_resume(self, make: Callable[[], dict], fingerprint: dict) -> None:
        """Rank 0: write the training state ``make()`` (other ranks do nothing)."""
        if not self.is_main:
            return
        state = {'format': RESUME_FORMAT, 'fingerprint': fingerprint, **make()}
        buffer = io.BytesIO()
        torch.save(state, buffer)
        write_atomic(self.state_dir / RESUME_FILE, buffer.getvalue())

    def after_step(self, step: int) -> None:
        """Run the fault drill (:data:`FAULT_ENV`) when it names this rank and step."""
        if self._fault == (self.rank, step) and self.restarts == 0:
            sys.stderr.flush()
            os.kill(os.getpid(), signal.SIGKILL)


class _LossOf(torch.nn.Module):
    """Make ``module.loss`` the forward of a module DDP can wrap."""

    def __init__(self, module: torch.nn.Module) -> None:
        super().__init__()
        self.module = module

    def forward(self, *args: Any) -> torch.Tensor:
        return self.module.loss(*args)


def _parse_fault(value: str) -> Optional[tuple[int, int]]:
    """Parse ``RANK:STEP`` (:data:`FAULT_ENV`); '' is no drill."""
    if not value:
        return None
    try:
        rank, step = (int(v) for v in value.split(':'))
    except ValueError:
        raise ConfigError(f'{FAULT_ENV} must be RANK:STEP, got {value!r}') from None
    return rank, step
