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
model may drive a robot: it checks that the file may be loaded at all (inside
an allowed model directory, listed in the trainer's manifest with the SHA-256
of the bytes read: :class:`~imitation_ros.runtime.model_trust.ModelTrust`),
opens the ONNX Runtime session from those bytes (0.3-0.9 s for the exported
policies, more on a busy machine), validates the metadata and the graph
(:class:`~imitation_ros.runtime.onnx_policy.OnnxPolicy`), checks the joint
names against the robot's, runs the warm-up inferences (the first inference of
a session is several times slower than the rest and must not land inside the
control loop) and checks the model's actions: on a representative observation
(the training data's mean) and on the observations the robot recorded lately
(:func:`check_observations`), every action must be finite, of the right shape
and within the joint limits widened by a margin (:class:`ActionBounds`). A
model that outputs targets far beyond the limits would only be clamped by the
gate step by step: wrong behaviour, so it is refused before it drives.

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

from .model_trust import ModelTrust
from .onnx_policy import OnnxPolicy
from ..errors import ConfigError, ModelError

#: Signature of a model loader: path -> validated policy (raises on a bad model).
Loader = Callable[[str], OnnxPolicy]
#: One observation a candidate is checked on: joint positions (n,) rad, task (k,)
#: and the camera image (H, W, 3) uint8 or None.
Observation = tuple[np.ndarray, np.ndarray, Optional[np.ndarray]]


@dataclass(frozen=True)
class ActionBounds:
    """
    Where a candidate's actions must lie: the joint limits, widened by ``margin``.

    From a state already past a limit, the bound on that side is the state
    itself (plus the margin): a model is not refused for where the robot is.
    """

    lower: tuple[float, ...]
    """Lower joint limits (n,) rad, in command order."""
    upper: tuple[float, ...]
    """Upper joint limits (n,) rad."""
    margin: float = 0.1
    """How far (rad) an action may pass a limit; the gate clamps what is within it."""

    def __post_init__(self) -> None:
        lower, upper = np.asarray(self.lower, float), np.asarray(self.upper, float)
        if (lower.shape != upper.shape or lower.ndim != 1 or not np.all(np.isfinite(lower))
                or not np.all(np.isfinite(upper)) or not np.all(lower < upper)):
            raise ConfigError(f'joint limits must be finite with lower < upper per joint, got '
                              f'{list(self.lower)} / {list(self.upper)}')
        if not (np.isfinite(self.margin) and self.margin >= 0):
            raise ConfigError(f'the action margin must be >= 0 rad, got {self.margin}')

    def violation(self, states: np.ndarray, actions: np.ndarray,
                  joint_names: Sequence[str]) -> str:
        """
        Describe the worst action outside the bounds, or return '' when all are inside.

        :param states: (B, n) joint positions the actions were computed from (rad).
        :param actions: (B, n) targets or (B, H, n) chunks (rad).
        """
        states = np.asarray(states, float)
        acts = np.asarray(actions, float)
        if acts.ndim == 2:
            acts = acts[:, None, :]
        n = len(self.lower)
        if states.shape[1] != n or acts.shape[-1] != n:
            return (f'the model has {acts.shape[-1]} joints, the limits are for {n}')
        low = np.minimum(np.asarray(self.lower), states) - self.margin   # (B, n)
        high = np.maximum(np.asarray(self.upper), states) + self.margin
        excess = np.maximum(low[:, None, :] - acts, acts - high[:, None, :])   # (B, H, n)
        bad = excess > 0
        if not np.any(bad):
            return ''
        b, h, j = np.unravel_index(int(np.argmax(excess)), excess.shape)
        name = joint_names[j] if j < len(joint_names) else f'joint {j}'
        count = int(np.sum(np.any(bad, axis=(1, 2))))
        return (f'{name} target {acts[b, h, j]:.4g} rad is {excess[b, h, j]:.4g} rad past '
                f'its limits [{self.lower[j]:g}, {self.upper[j]:g}] + {self.margin:g} rad '
                f'(from {states[b, j]:.4g} rad), on {count} of {len(states)} observations')


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


def _run_checked(policy: OnnxPolicy, states: np.ndarray, tasks: np.ndarray,
                 images: Optional[np.ndarray], seed: int, where: str) -> np.ndarray:
    """Run a batch with explicit noise; check shape and finiteness; return the actions."""
    noise = policy.draw_noise(np.random.default_rng(seed), len(states))
    try:
        out = policy.act_batch(states, tasks, images, noise=noise)
    except ModelError as exc:
        raise ModelError(f'{exc} (on {where})') from exc
    except Exception as exc:  # anything the graph or the sampler raises means "unusable"
        raise ModelError(f'{policy.path}: inference on {where} failed '
                         f'({type(exc).__name__}: {exc})') from exc
    n = len(policy.joint_names)
    b = len(states)
    want = (b, policy.horizon, n) if policy.chunked else (b, n)
    out = np.asarray(out)
    if out.shape != want:
        raise ModelError(f'{policy.path}: the model returned shape {out.shape} on {where}, '
                         f'expected {want}')
    if not np.all(np.isfinite(out)):
        raise ModelError(f'{policy.path}: the model outputs NaN or Inf on {where}; it is '
                         'broken or unfit for this robot, re-export or retrain it')
    return out


def _check_bounds(policy: OnnxPolicy, states: np.ndarray, out: np.ndarray,
                  bounds: Optional[ActionBounds], where: str) -> None:
    if bounds is None:
        return
    problem = bounds.violation(states, out, policy.joint_names)
    if problem:
        raise ModelError(f'{policy.path}: refused: its actions leave the joint limits on '
                         f'{where}: {problem}')


def check_candidate(policy: OnnxPolicy, *, seed: int = 0,
                    bounds: Optional[ActionBounds] = None) -> np.ndarray:
    """
    Run ``policy`` once on a representative observation; return the action (n,) or chunk.

    The observation is the mean of the model's training observations (from its
    normalization metadata), with mid-grey frames for image policies; sampling
    noise comes from a generator seeded with ``seed``, so the policy's own
    generator and action queue are untouched.

    :param bounds: the action must also lie within these.
    :raises ModelError: the output is not finite, has the wrong shape or leaves the bounds.
    """
    state, task, image = _representative_observation(policy)
    where = 'a representative observation (the mean of its training data)'
    out = _run_checked(policy, state[None], task[None],
                       None if image is None else image[None], seed, where)
    _check_bounds(policy, state[None], out, bounds, where)
    return out[0]


def check_observations(policy: OnnxPolicy, observations: Sequence[Observation], *,
                       seed: int = 0, bounds: Optional[ActionBounds] = None) -> int:
    """
    Run ``policy`` on recorded observations in one batch; return how many it ran on.

    Observations without an image get a mid-grey frame when the policy needs one.

    :raises ModelError: the recorded observations do not fit the model (task
        length, image shape), or an action is not finite or leaves ``bounds``.
    """
    if not observations:
        return 0
    n, k = len(policy.joint_names), len(policy.task_layout)
    states = np.stack([np.asarray(o[0], float) for o in observations])
    tasks = [np.asarray(o[1], float) for o in observations]
    if states.shape[1] != n:
        raise ModelError(f'{policy.path}: refused: the model has {n} joints, the recorded '
                         f'joint states {states.shape[1]}')
    lengths = sorted({len(t) for t in tasks})
    if lengths != [k]:
        raise ModelError(f'{policy.path}: refused: the model expects {k} task values '
                         f'({", ".join(policy.task_layout)}) but imitation/task carried '
                         f'{", ".join(map(str, lengths))}')
    images = None
    if policy.image_shape is not None:
        grey = np.full(policy.image_shape, 128, dtype=np.uint8)
        frames = [grey if o[2] is None else np.asarray(o[2]) for o in observations]
        shapes = sorted({f.shape for f in frames})
        if shapes != [tuple(policy.image_shape)]:
            raise ModelError(f'{policy.path}: refused: the model expects camera images of '
                             f'shape {tuple(policy.image_shape)}, the camera sent {shapes}')
        images = np.stack(frames).astype(np.uint8)
    where = f'{len(states)} recorded observations'
    out = _run_checked(policy, states, np.stack(tasks), images, seed, where)
    _check_bounds(policy, states, out, bounds, where)
    return len(states)


def load_candidate(path: str, *, joint_names: Sequence[str],
                   providers: Sequence[str] = ('cpu',), threads: int = 1,
                   warmup_iterations: int = 3, seed: int = 0, mode: Optional[str] = None,
                   temperature: Optional[float] = None,
                   execute: Optional[int] = None, trust: Optional[ModelTrust] = None,
                   bounds: Optional[ActionBounds] = None,
                   observations: Optional[Callable[[], Sequence[Observation]]] = None,
                   ) -> OnnxPolicy:
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
    :param trust: where models may come from; the file is verified against its
        manifest and the verified bytes are loaded. None: any readable file (tools,
        tests; never the robot).
    :param bounds: every checked action must lie within these.
    :param observations: returns the recorded observations to check the candidate
        on (called once, on this thread).
    :raises ModelError: the reason the model cannot run on this robot.
    """
    data: Optional[bytes] = None
    source: str | Any = path
    if trust is not None:
        trusted = trust.verify(path)
        data, source = trusted.data, trusted.path

    def build(chunk: Optional[int]) -> OnnxPolicy:
        return OnnxPolicy(source, providers=list(providers), mode=mode, temperature=temperature,
                          execute=chunk, seed=seed, threads=threads,
                          expect_joint_names=tuple(joint_names), model_bytes=data)

    try:
        policy = build(None)
        if policy.chunked and execute is not None and execute != policy.execute:
            if not 1 <= execute <= policy.horizon:
                raise ModelError(f'{path}: the execute override {execute} is outside 1..'
                                 f'{policy.horizon} (the chunk length of this model); set '
                                 'execute to 0 (model default) or a smaller value')
            # OnnxPolicy takes execute only at construction and refuses it for
            # single-step kinds, so the kind has to be known first: build again.
            policy = build(execute)
        policy.warmup(max(1, int(warmup_iterations)))
        check_candidate(policy, seed=seed, bounds=bounds)
        if observations is not None:
            check_observations(policy, list(observations()), seed=seed, bounds=bounds)
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

    :param joint_names: the robot's joints, in command order (unused with ``loader``).
    :param providers: ONNX Runtime providers ('cpu', 'cuda', 'tensorrt').
    :param threads: ONNX Runtime intra-op threads.
    :param warmup_iterations: warm-up inferences per candidate.
    :param seed: sampling seed of every loaded policy.
    :param mode: gmm override, or None for the model default.
    :param temperature: ar override, or None for the model default.
    :param execute: diffusion override, or None for the model default.
    :param trust: allowed directories and manifests every path is checked against
        (see :func:`load_candidate`); None checks nothing.
    :param bounds: joint limits the candidate's actions must keep.
    :param observations: returns recent observations to check candidates on.
    :param loader: replaces :func:`load_candidate` (path -> policy): for a node that
        knows its robot only later (it then calls :func:`load_candidate` itself), or a test.
    :param name: name of the worker thread.
    """

    def __init__(self, *, joint_names: Sequence[str] = (), providers: Sequence[str] = ('cpu',),
                 threads: int = 1, warmup_iterations: int = 3, seed: int = 0,
                 mode: Optional[str] = None, temperature: Optional[float] = None,
                 execute: Optional[int] = None, trust: Optional[ModelTrust] = None,
                 bounds: Optional[ActionBounds] = None,
                 observations: Optional[Callable[[], Sequence[Observation]]] = None,
                 loader: Optional[Loader] = None, name: str = 'model-slot') -> None:
        """Create an empty slot; the worker thread starts with the first request."""
        joints, provs = tuple(joint_names), tuple(providers)
        if loader is None:
            def loader(path: str) -> OnnxPolicy:
                return load_candidate(path, joint_names=joints, providers=provs,
                                      threads=threads, warmup_iterations=warmup_iterations,
                                      seed=seed, mode=mode, temperature=temperature,
                                      execute=execute, trust=trust, bounds=bounds,
                                      observations=observations)
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
