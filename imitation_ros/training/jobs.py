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
Retraining as a background job: what the trainer node runs, without ROS and without torch.

This module imports no torch (test_layering checks it, with everything it
imports): the trainer node controls training from here, and torch loads only
in the child process that trains.

- :func:`count_training_samples` reads only bag metadata (cheap) to count the
  samples a new training would add: human-controlled steps of HG-DAgger
  episodes and expert-labelled steps of DAgger episodes.
- :func:`next_model_path` numbers model versions (``<prefix>_v007.onnx``).
- :class:`TrainingJob` runs ``imitation-ros train`` (or, for a job of mode
  ``rl``, ``imitation-ros finetune --rl`` on the recorded bags, from the
  deployed model's checkpoint) in a child process: torch
  and ONNX Runtime in one process slow each other down badly, and the node's
  executor must never block. The export puts the file in place in one step
  (:mod:`~imitation_ros.runtime.atomic`), so no reader ever sees half a file and
  a killed export leaves no temporary file; stale temporary files of dead
  writers are swept before each job. The job validates the new file with ONNX
  Runtime and then lists it, with the SHA-256 of the validated bytes, in the
  manifest of its directory (:func:`~imitation_ros.runtime.model_trust.record_model`),
  which is what the policy node checks before it loads a model.
- The child dies with its parent (:func:`guard_parent`): on Linux the kernel
  sends it SIGKILL when the parent dies (``PR_SET_PDEATHSIG``); everywhere a
  watcher thread ends it within :data:`PARENT_POLL_S` of the parent's death,
  and no file is put in place once the parent is gone. A model it wrote anyway
  is never listed (only the parent lists), so never loaded.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
import ctypes
from dataclasses import dataclass, field
import os
from pathlib import Path
import re
import signal
import subprocess
import sys
import threading
import time
from typing import Any, Optional, Sequence

import numpy as np

from ..data import episode_info
from ..errors import ImitationError, TrainingError
from ..runtime.atomic import set_commit_check, sweep_stale_temps
from ..runtime.model_trust import MAX_MODEL_BYTES, record_model, sha256_hex

#: Seconds between two checks of the child's watcher thread that its parent lives.
PARENT_POLL_S = 0.2
#: Exit status of a training child that ended because its parent was gone.
ORPHAN_EXIT = 70
#: Environment variable: 'poll' makes the child rely on its watcher thread alone
#: (what happens where prctl is missing); anything else: PR_SET_PDEATHSIG first.
GUARD_ENV = 'IMITATION_ROS_CHILD_GUARD'
#: The child's program: guard against outliving the parent, then run the ``imitation-ros``
#: command line (a program of its own: torch loads there, after the guard is in place).
_CHILD_CODE = ('import sys; from imitation_ros.training.jobs import guard_child; '
               'guard_child(sys.argv[1], sys.argv[2]); from imitation_ros.cli.main import main; '
               'sys.exit(main(sys.argv[3:]))')
_PR_SET_PDEATHSIG = 1

_spawner: Optional[ThreadPoolExecutor] = None
_spawner_lock = threading.Lock()


@dataclass(frozen=True)
class LabelCounts:
    """Samples available for training, from bag metadata."""

    episodes: int
    """Finished episode bags."""
    demo_steps: int
    """Steps of demonstration episodes."""
    correction_steps: int
    """Human-controlled (hg_dagger) plus expert-labelled (dagger) steps."""


class LabelCounter:
    """
    Count episodes and labelled steps under some roots from bag metadata only.

    Finished bags never change, so each bag's metadata is read once and cached.
    """

    def __init__(self, roots: Sequence[Path]) -> None:
        """Watch ``roots`` (folders that may not exist yet)."""
        self.roots = tuple(Path(r) for r in roots)
        self._cache: dict[Path, tuple[str, int]] = {}

    def count(self) -> LabelCounts:
        """Return the current counts."""
        episodes = demo = corrections = 0
        for root in self.roots:
            if not root.exists():
                continue
            try:
                # Only listing here: a full check of every bag (find_episode_bags) on each
                # call would grow with the data and starve the trainer node's callbacks.
                bags = sorted(meta.parent for meta in root.rglob('metadata.yaml')
                              if not any(part.endswith('.partial') for part in meta.parts))
            except OSError:
                # A folder renamed while walking (the recorder closing a bag): count what was
                # seen before under this root, not zero (zero would fail a requested training).
                bags = sorted(b for b in self._cache if root in b.parents and b.exists())
            for bag in bags:
                if bag not in self._cache:
                    try:
                        info = episode_info(bag)
                    except (ImitationError, OSError):
                        continue  # unreadable, or renamed while we looked: next time
                    labelled = {'demo': info.steps,
                                'hg_dagger': info.human_steps or 0,
                                'dagger': info.expert_labels or 0}.get(info.source, 0)
                    self._cache[bag] = (info.source, labelled)
                source, labelled = self._cache[bag]
                episodes += 1
                if source == 'demo':
                    demo += labelled
                else:
                    corrections += labelled
        return LabelCounts(episodes, demo, corrections)


def count_training_samples(roots: Sequence[Path]) -> LabelCounts:
    """Count episodes and labelled steps under ``roots`` from metadata only (uncached)."""
    return LabelCounter(roots).count()


def checkpoint_path(model: Path | str) -> Path:
    """Return the checkpoint path that belongs to a model file (``NAME.onnx`` -> ``NAME.pt``)."""
    return Path(model).with_suffix('.pt')


def next_model_path(models_dir: Path, prefix: str) -> tuple[Path, str]:
    """Return the path and version (``v001``, ``v002``, ...) of the next model."""
    pattern = re.compile(rf'^{re.escape(prefix)}_v(\d+)\.onnx$')
    numbers = [int(m.group(1)) for p in Path(models_dir).glob(f'{prefix}_v*.onnx')
               if (m := pattern.match(p.name))]
    version = f'v{max(numbers, default=0) + 1:03d}'
    return Path(models_dir) / f'{prefix}_{version}.onnx', version


@dataclass(frozen=True)
class JobSpec:
    """What one retraining run does."""

    data: tuple[Path, ...]
    """Data directories with the base demonstrations and the corrections."""
    out: Path
    """Model file to write."""
    version: str
    """Version string written into the model."""
    policy: str = 'gmm'
    """Policy kind."""
    steps: int = 2000
    """Gradient steps."""
    seed: int = 0
    """Training seed."""
    correction_weight: float = 2.0
    """Sampling weight of correction samples."""
    features: str = 'planar-fk'
    """Observation features."""
    device: str = 'cpu'
    """Training device."""
    options: tuple[str, ...] = field(default_factory=tuple)
    """Kind-specific KEY=VALUE options."""
    val_fraction: float = 0.0
    """Fraction of episodes held out for the validation loss. 0 by default: in the loop
    every labelled sample counts (a held-out episode may be one of three demonstrations
    or the only takeover of a kind), and which episodes are held out would change from
    version to version."""
    max_command_step: float = 0.1
    """Drop samples whose command is farther than this from their joint state (rad); 0 keeps
    all."""
    init_from: Optional[Path] = None
    """Warm start from this checkpoint (the previous version's ``NAME.pt``); None: from
    scratch."""
    nproc: int = 1
    """Training processes (DistributedDataParallel under torchrun when > 1); the files
    appear only when all of them succeeded."""
    niceness: int = 10
    """Niceness the child adds to its own (0-19): on a robot computer the control loop
    (the gate, the policy node) runs at niceness 0 and gets the CPU first; training
    takes what is left. 0 trains at the parent's priority."""
    threads: int = 1
    """Torch threads per training process (``OMP_NUM_THREADS``); 0: torch's default, one
    per core. One by default: on a shared computer more threads spin against each other
    and the control loop (``imitation-ros benchmark scale``: 1 thread trained 8.5x faster
    than 2 on two loaded cores)."""
    mode: str = 'train'
    """'train': behavior cloning (``imitation-ros train``); 'rl': RL fine-tuning from bags
    (``imitation-ros finetune --rl``) of the checkpoint ``init_from`` for ``steps`` updates,
    the demonstrations and takeovers as prior data, the policy's gate-decided steps as the
    rest; ``policy``, ``correction_weight``, ``features``, ``options``, ``val_fraction`` and
    ``device`` are the checkpoint's or unused."""

    def __post_init__(self) -> None:
        if not 0 <= self.niceness <= 19:
            raise TrainingError(f'niceness {self.niceness} is outside 0..19; give 10 to let '
                                'the control loop go first, 0 for the same priority')
        if self.threads < 0:
            raise TrainingError(f'threads {self.threads} is negative; give 1 (one torch '
                                "thread per process) or 0 (torch's default)")
        if self.mode not in ('train', 'rl'):
            raise TrainingError(f"mode {self.mode!r} is neither 'train' nor 'rl'")
        if self.mode == 'rl' and (self.init_from is None or self.nproc != 1):
            raise TrainingError('an rl job fine-tunes a checkpoint in one process: give '
                                "init_from (the deployed model's NAME.pt) and nproc 1")

    def environment(self) -> dict[str, str]:
        """Return the child's environment: this process's, with the thread count set."""
        env = dict(os.environ)
        if self.threads > 0:
            env['OMP_NUM_THREADS'] = str(self.threads)
        return env

    def command(self) -> list[str]:
        """Return the child process command line."""
        if self.mode == 'rl':
            return [sys.executable, '-m', 'imitation_ros.cli.main', 'finetune', '--rl',
                    '--init-from', str(self.init_from),
                    '--data', *[str(p) for p in self.data], '--out', str(self.out),
                    '--updates', str(self.steps), '--seed', str(self.seed),
                    '--version', self.version,
                    '--max-command-step', str(self.max_command_step), '--no-progress']
        cmd = [sys.executable, '-m', 'imitation_ros.cli.main', 'train',
               '--data', *[str(p) for p in self.data], '--policy', self.policy,
               '--out', str(self.out), '--steps', str(self.steps), '--seed', str(self.seed),
               '--version', self.version, '--correction-weight', str(self.correction_weight),
               '--features', self.features, '--device', self.device,
               '--val-fraction', str(self.val_fraction),
               '--max-command-step', str(self.max_command_step), '--no-progress']
        for option in self.options:
            cmd += ['--option', option]
        if self.init_from is not None:
            cmd += ['--init-from', str(self.init_from)]
        if self.nproc > 1:
            cmd += ['--nproc', str(self.nproc)]
        return cmd


@dataclass(frozen=True)
class JobResult:
    """How a finished job ended."""

    ok: bool
    """True when a validated model file was written."""
    spec: JobSpec
    """What ran."""
    seconds: float
    """Wall time."""
    message: str
    """The child's summary (success) or the reason it failed."""


def _set_parent_death_signal() -> bool:
    """Ask the kernel to SIGKILL this process when its parent dies (Linux); True if set."""
    if not sys.platform.startswith('linux'):
        return False
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return False
    return prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0) == 0


def guard_parent(parent: int, *, death_signal: bool = True) -> str:
    """
    Make this process end when process ``parent`` does; return how ('pdeathsig' or 'poll').

    With ``death_signal`` (Linux) the kernel kills this process the moment the
    parent dies. In every case a daemon thread checks every
    :data:`PARENT_POLL_S` whether the parent is still there and ends this
    process (exit status :data:`ORPHAN_EXIT`) when not, and no file is put in
    place (:func:`~imitation_ros.runtime.atomic.set_commit_check`) once it is
    gone. A parent that died before the guard was set ends this process at once.
    """
    how = 'pdeathsig' if death_signal and _set_parent_death_signal() else 'poll'

    def check() -> None:
        if os.getppid() != parent:  # re-parented: the trainer is gone
            os._exit(ORPHAN_EXIT)

    check()

    def watch() -> None:
        while True:
            time.sleep(PARENT_POLL_S)
            check()

    threading.Thread(target=watch, name='parent-watch', daemon=True).start()
    set_commit_check(check)
    return how


def guard_child(parent: str, niceness: str = '0') -> str:
    """Guard the training child against outliving ``parent`` (a pid), lower its priority."""
    how = guard_parent(int(parent), death_signal=os.environ.get(GUARD_ENV, '') != 'poll')
    if int(niceness) > 0:
        os.nice(int(niceness))
    return how


def child_command(spec: JobSpec, parent: Optional[int] = None) -> list[str]:
    """Return the command line of the guarded child that runs ``spec`` for ``parent``."""
    parent = os.getpid() if parent is None else parent
    return [sys.executable, '-c', _CHILD_CODE, str(parent), str(spec.niceness),
            *spec.command()[3:]]


def _spawn(command: list[str], **kwargs: Any) -> subprocess.Popen:
    """Start ``command`` from one thread that lives as long as this process."""
    global _spawner
    # PR_SET_PDEATHSIG fires when the *thread* that forked the child ends, not the
    # process: a child forked from a short-lived thread (an executor's) would be
    # killed while its parent still runs.
    with _spawner_lock:
        if _spawner is None:
            _spawner = ThreadPoolExecutor(max_workers=1, thread_name_prefix='training-spawner')
        spawner = _spawner
    return spawner.submit(subprocess.Popen, command, **kwargs).result()


class TrainingJob:
    """One retraining run in a child process; poll it, never wait on it."""

    def __init__(self, spec: JobSpec) -> None:
        """Sweep stale temporary files, then start the guarded child process for ``spec``."""
        self.spec = spec
        spec.out.parent.mkdir(parents=True, exist_ok=True)
        sweep_stale_temps(spec.out.parent)
        self._start = time.monotonic()
        self._proc = _spawn(child_command(spec), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=spec.environment())

    @property
    def pid(self) -> int:
        """Return the child's process id."""
        return self._proc.pid

    @property
    def elapsed(self) -> float:
        """Return the seconds since the job started."""
        return time.monotonic() - self._start

    def poll(self) -> Optional[JobResult]:
        """Return the result once the child has exited, else None."""
        if self._proc.poll() is None:
            return None
        out, err = self._proc.communicate()
        seconds = self.elapsed
        if self._proc.returncode != 0:
            lines = [line for line in err.strip().splitlines() if line.strip()]
            reason = lines[-1] if lines else f'exit status {self._proc.returncode}'
            return JobResult(False, self.spec, seconds, reason)
        try:
            data = validate(self.spec.out)
        except (ImitationError, OSError) as exc:
            return JobResult(False, self.spec, seconds, f'validation failed: {exc}')
        try:
            # Listed with the digest of the bytes just validated: the policy node loads
            # only what this lists.
            record_model(self.spec.out, version=self.spec.version, digest=sha256_hex(data),
                         size=len(data))
        except (ImitationError, OSError) as exc:
            return JobResult(False, self.spec, seconds,
                             f'could not list the model in the manifest: {exc}')
        summary = out.strip().splitlines()[0] if out.strip() else 'trained'
        return JobResult(True, self.spec, seconds, summary)

    def cancel(self) -> None:
        """Stop the child process (the partial export never replaces a file)."""
        if self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(timeout=5)


def validate(path: Path) -> bytes:
    """
    Load ``path`` with ONNX Runtime, check one action is finite; return the bytes checked.

    :raises TrainingError: the file is missing, too large or gives non-finite actions.
    :raises ModelError: ONNX Runtime cannot load it.
    """
    from ..runtime.onnx_policy import OnnxPolicy  # ONNX Runtime loads only when validating
    if not path.exists():
        raise TrainingError(f'{path} was not written')
    size = path.stat().st_size
    if size > MAX_MODEL_BYTES:
        raise TrainingError(f'{path} has {size} bytes, more than the {MAX_MODEL_BYTES} a '
                            'policy node loads')
    data = path.read_bytes()
    policy = OnnxPolicy(path, model_bytes=data)
    policy.warmup()
    n, k = len(policy.joint_names), len(policy.task_layout)
    image = np.zeros(policy.image_shape, np.uint8) if policy.needs_image else None
    action = policy.act(np.zeros(n), np.zeros(k), image)
    if not np.all(np.isfinite(action)):
        raise TrainingError(f'{path} produces non-finite actions')
    return data
