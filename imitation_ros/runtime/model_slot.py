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
Hot reload of policies: load and validate a new model off the control thread, swap between ticks.

:func:`load_candidate` does everything that can fail or take time before a
model may drive a robot: it opens the ONNX Runtime session (0.3-0.9 s for the
exported policies, more on a busy machine), validates the metadata and the graph
(:class:`~imitation_ros.runtime.onnx_policy.OnnxPolicy`), checks the joint
names against the robot's, runs the warm-up inferences (the first inference of
a session is several times slower than the rest and must not land inside the
control loop) and checks that the model gives a finite action of the right
shape on a representative observation (the training data's mean).

:class:`ModelSlot` holds the active policy of a control loop. ``request(path)``
hands the path to a background worker thread and returns at once; a newer
request supersedes an older one that is still pending (even one being loaded:
its result is dropped). The control loop calls ``swap_if_ready()`` between two
ticks: it installs a validated candidate with a pointer swap under a lock, or
reports why the candidate was rejected while the old policy keeps running.

numpy and onnxruntime only: no ROS, no torch.
"""

from __future__ import annotations

from dataclasses import dataclass
import json
import threading
import time
from typing import Any, Callable, Optional, Sequence

import numpy as np

from .onnx_policy import OnnxPolicy
from ..errors import ModelError

#: Signature of a model loader: path -> validated policy (raises on a bad model).
Loader = Callable[[str], OnnxPolicy]


def _representative_observation(
        policy: OnnxPolicy) -> tuple[np.ndarray, np.ndarray, Optional[np.ndarray]]:
    """Return (state, task, image) at the mean of the model's training observations."""
    n, k = len(policy.joint_names), len(policy.task_layout)
    mean: list[float] = []
    try:
        observation = json.loads(policy.metadata['observation'])
        mean = list((observation.get('normalization') or {}).get('mean') or [])
    except (KeyError, TypeError, ValueError, AttributeError):
        mean = []
    values = np.asarray(mean, dtype=np.float64) if mean else np.zeros(0)
    if values.shape[0] < n + k or not np.all(np.isfinite(values[:n + k])):
        # A model without (usable) statistics: zeros are the best guess, and OnnxPolicy
        # has already checked that the graph accepts them.
        values = np.zeros(n + k)
    image = None
    if policy.image_shape is not None:
        # Mid-grey: the frame a camera sees least surprisingly (all-black is an edge case).
        image = np.full(policy.image_shape, 128, dtype=np.uint8)
    return values[:n].copy(), values[n:n + k].copy(), image


def _explicit_noise(policy: OnnxPolicy, rng: np.random.Generator) -> Any:
    """Draw sampling noise for one observation from ``rng`` (not the policy's generator)."""
    n = len(policy.joint_names)
    if policy.kind == 'gmm':
        return rng.random(1), rng.standard_normal((1, n))
    if policy.kind == 'ar':
        bins = int((policy.settings.get('config') or {}).get('bins', 0))
        if bins < 1:
            raise ModelError(f'{policy.path}: settings.config.bins is missing')
        return (max(policy.temperature, 0.0)
                * rng.gumbel(size=(1, n, bins))).astype(np.float32)
    if policy.kind == 'diffusion':
        return rng.standard_normal((1, policy.horizon, n)).astype(np.float32)
    return None


def check_candidate(policy: OnnxPolicy, *, seed: int = 0) -> np.ndarray:
    """
    Run ``policy`` once on a representative observation; return the action (n,) or chunk.

    The observation is the mean of the model's training observations (from its
    normalization metadata), with mid-grey frames for image policies; sampling
    noise comes from a generator seeded with ``seed``, so the policy's own
    generator and action queue are untouched.

    :raises ModelError: the output is not finite or has the wrong shape.
    """
    state, task, image = _representative_observation(policy)
    noise = _explicit_noise(policy, np.random.default_rng(seed))
    try:
        out = policy.act_batch(state[None], task[None], None if image is None else image[None],
                               noise=noise)
    except ModelError:
        raise
    except Exception as exc:  # anything the graph or the sampler raises means "unusable"
        raise ModelError(f'{policy.path}: inference on a representative observation failed '
                         f'({type(exc).__name__}: {exc})') from exc
    n = len(policy.joint_names)
    want = (1, n) if policy.kind != 'diffusion' else (1, policy.horizon, n)
    out = np.asarray(out)
    if out.shape != want:
        raise ModelError(f'{policy.path}: the model returned shape {out.shape} on a '
                         f'representative observation, expected {want}')
    if not np.all(np.isfinite(out)):
        raise ModelError(f'{policy.path}: the model outputs NaN or Inf on a representative '
                         'observation (the mean of its training data); it is broken, '
                         're-export or retrain it')
    return out[0]


def load_candidate(path: str, *, joint_names: Sequence[str],
                   providers: Sequence[str] = ('cpu',), threads: int = 1,
                   warmup_iterations: int = 3, seed: int = 0, mode: Optional[str] = None,
                   temperature: Optional[float] = None,
                   execute: Optional[int] = None) -> OnnxPolicy:
    """
    Load ``path`` and validate it completely; return a policy ready for the control loop.

    Takes the time of an ONNX Runtime session creation plus the warm-up, so call
    it off the control thread (:class:`ModelSlot` does).

    :param joint_names: the robot's joints, in command order; a model trained for
        other joints (or another order) is rejected.
    :param providers: ONNX Runtime providers ('cpu', 'cuda', 'tensorrt').
    :param threads: ONNX Runtime intra-op threads.
    :param warmup_iterations: warm-up inferences (at least one runs).
    :param seed: seed of the policy's sampling generator.
    :param mode: gmm selection override ('argmax' or 'sample'); None: model default.
    :param temperature: ar temperature override (>= 0); None: model default.
    :param execute: diffusion actions per chunk override; None: model default.
        Ignored by single-step kinds.
    :raises ModelError: the reason the model cannot run on this robot.
    """
    def build(chunk: Optional[int]) -> OnnxPolicy:
        return OnnxPolicy(path, providers=list(providers), mode=mode, temperature=temperature,
                          execute=chunk, seed=seed, threads=threads,
                          expect_joint_names=tuple(joint_names))

    try:
        policy = build(None)
        if policy.kind == 'diffusion' and execute is not None and execute != policy.execute:
            if not 1 <= execute <= policy.horizon:
                raise ModelError(f'{path}: the execute override {execute} is outside 1..'
                                 f'{policy.horizon} (the chunk length of this model); set '
                                 'execute to 0 (model default) or a smaller value')
            # OnnxPolicy takes execute only at construction and refuses it for
            # single-step kinds, so the kind has to be known first: build again.
            policy = build(execute)
        policy.warmup(max(1, int(warmup_iterations)))
        check_candidate(policy, seed=seed)
    except ModelError:
        raise
    except Exception as exc:  # ConfigError from overrides, onnxruntime errors, OSError
        raise ModelError(f'{path}: cannot use this model ({type(exc).__name__}: {exc})') from exc
    policy.reset()
    return policy


@dataclass(frozen=True)
class SwapResult:
    """What :meth:`ModelSlot.swap_if_ready` did with a finished load."""

    event: str
    """'loaded' (the candidate is now active) or 'rejected' (the old policy stays)."""
    path: str
    """The requested model file."""
    version: str
    """Version of the candidate (from its metadata); '' when it could not be read."""
    reason: str
    """Why the candidate was rejected; '' when loaded."""
    previous_version: str
    """Version active before this result ('' when none was)."""
    load_s: float
    """Seconds spent loading and validating, on the worker thread."""
    policy: Optional[OnnxPolicy] = None
    """The installed policy when loaded, else None."""

    @property
    def loaded(self) -> bool:
        """Return whether the candidate was installed."""
        return self.event == 'loaded'

    def as_dict(self) -> dict[str, Any]:
        """Return the JSON-ready status: event, version, path, reason, previous_version, load_s."""
        return {'event': self.event, 'version': self.version, 'path': self.path,
                'reason': self.reason, 'previous_version': self.previous_version,
                'load_s': round(self.load_s, 4)}


@dataclass
class _Finished:
    """A load result waiting for the control loop."""

    generation: int
    path: str
    policy: Optional[OnnxPolicy]
    reason: str
    load_s: float


class ModelSlot:
    """
    The active policy of a control loop, with hot reload off the control thread.

    :param joint_names: the robot's joints, in command order.
    :param providers: ONNX Runtime providers ('cpu', 'cuda', 'tensorrt').
    :param threads: ONNX Runtime intra-op threads.
    :param warmup_iterations: warm-up inferences per candidate.
    :param seed: sampling seed of every loaded policy.
    :param mode: gmm override, or None for the model default.
    :param temperature: ar override, or None for the model default.
    :param execute: diffusion override, or None for the model default.
    :param loader: replaces :func:`load_candidate` (path -> policy); for tests.
    :param name: name of the worker thread.
    """

    def __init__(self, *, joint_names: Sequence[str], providers: Sequence[str] = ('cpu',),
                 threads: int = 1, warmup_iterations: int = 3, seed: int = 0,
                 mode: Optional[str] = None, temperature: Optional[float] = None,
                 execute: Optional[int] = None, loader: Optional[Loader] = None,
                 name: str = 'model-slot') -> None:
        """Create an empty slot; the worker thread starts with the first request."""
        joints, provs = tuple(joint_names), tuple(providers)
        if loader is None:
            def loader(path: str) -> OnnxPolicy:
                return load_candidate(path, joint_names=joints, providers=provs,
                                      threads=threads, warmup_iterations=warmup_iterations,
                                      seed=seed, mode=mode, temperature=temperature,
                                      execute=execute)
        self._loader: Loader = loader
        self._name = name
        self._cond = threading.Condition()
        self._active: Optional[OnnxPolicy] = None
        self._active_path = ''
        self._generation = 0          # id of the newest request
        self._pending: Optional[tuple[int, str]] = None   # requested, not yet started
        self._loading: Optional[tuple[int, str]] = None   # being loaded now
        self._finished: Optional[_Finished] = None
        self._superseded = 0
        self._closed = False
        self._thread: Optional[threading.Thread] = None

    # ------------------------------------------------------------------ control thread
    @property
    def active(self) -> Optional[OnnxPolicy]:
        """Return the active policy, or None before the first successful load."""
        with self._cond:
            return self._active

    @property
    def version(self) -> str:
        """Return the active policy's version, or '' when none is active."""
        active = self.active
        return '' if active is None else active.version

    @property
    def path(self) -> str:
        """Return the file of the active policy, or ''."""
        with self._cond:
            return self._active_path

    @property
    def busy(self) -> bool:
        """Return whether a request is pending, loading, or finished but not yet swapped in."""
        with self._cond:
            return (self._pending is not None or self._loading is not None
                    or self._finished is not None)

    @property
    def loading_path(self) -> str:
        """Return the newest requested path not yet swapped in or rejected, or ''."""
        with self._cond:
            for job in (self._pending, self._loading):
                if job is not None and job[0] == self._generation:
                    return job[1]
            return '' if self._finished is None else self._finished.path

    @property
    def superseded(self) -> int:
        """Return how many requests were dropped because a newer one came."""
        with self._cond:
            return self._superseded

    def request(self, path: str) -> int:
        """
        Load ``path`` in the background; return the request's number.

        Returns at once. A request still pending or loading is superseded: its
        result will never be installed nor reported.
        """
        with self._cond:
            if self._closed:
                raise ModelError('the model slot is closed')
            self._generation += 1
            if self._pending is not None:
                self._superseded += 1
            self._pending = (self._generation, str(path))
            if self._finished is not None:
                # Done but not yet swapped in: the newer request wins all the same.
                self._finished = None
                self._superseded += 1
            if self._thread is None:
                self._thread = threading.Thread(target=self._work, name=self._name,
                                                daemon=True)
                self._thread.start()
            self._cond.notify_all()
            return self._generation

    def swap_if_ready(self) -> Optional[SwapResult]:
        """
        Install a finished candidate or report its rejection; None when nothing finished.

        Call it between two control ticks: when it returns, ``active`` is the
        policy for the next tick. Cheap (a pointer swap under a lock).
        """
        with self._cond:
            done = self._finished
            if done is None:
                return None
            self._finished = None
            previous = '' if self._active is None else self._active.version
            if done.policy is None:
                return SwapResult('rejected', done.path, '', done.reason, previous, done.load_s)
            self._active = done.policy
            self._active_path = done.path
            self._cond.notify_all()
        return SwapResult('loaded', done.path, done.policy.version, '', previous, done.load_s,
                          done.policy)

    def clear(self) -> None:
        """Drop the active policy and supersede any pending request (e.g. stop shadowing)."""
        with self._cond:
            self._generation += 1
            # A load in progress is counted when it finishes (its generation is old).
            self._superseded += int(self._pending is not None) + int(self._finished is not None)
            self._pending = None
            self._finished = None
            self._active = None
            self._active_path = ''

    def wait_idle(self, timeout: float) -> bool:
        """Wait until no request is pending or loading; return False on timeout."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._pending is not None or self._loading is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
            return True

    def close(self, timeout: float = 5.0) -> None:
        """Stop the worker (a load in progress finishes first, up to ``timeout`` s)."""
        with self._cond:
            self._closed = True
            self._pending = None
            self._cond.notify_all()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    # ------------------------------------------------------------------ worker thread
    def _work(self) -> None:
        while True:
            with self._cond:
                while self._pending is None and not self._closed:
                    self._cond.wait()
                if self._closed:
                    return
                job = self._pending
                self._pending = None
                self._loading = job
            generation, path = job
            start = time.perf_counter()
            policy: Optional[OnnxPolicy] = None
            reason = ''
            try:
                policy = self._loader(path)
            except Exception as exc:  # the worker must survive any bad model
                reason = str(exc) or type(exc).__name__
                if not isinstance(exc, ModelError):
                    reason = f'{type(exc).__name__}: {reason}'
            elapsed = time.perf_counter() - start
            with self._cond:
                self._loading = None
                if generation == self._generation and not self._closed:
                    self._finished = _Finished(generation, path, policy, reason, elapsed)
                else:
                    self._superseded += 1
                self._cond.notify_all()
