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
Run an exported policy with ONNX Runtime (numpy and onnxruntime only, no torch).

:class:`OnnxPolicy` loads one ``.onnx`` file written by
:func:`imitation_ros.training.export.export_policy`, checks that the graph
agrees with the metadata inside the file (and, if asked, with the robot's
joint names), and turns observations into absolute joint targets. What
differs between the policy kinds (the graph's inputs and outputs, the sampling
noise, how outputs become actions) is each kind's run-time half
(:class:`~imitation_ros.policies.kind.KindRuntime`, found by the kind's name in
:data:`~imitation_ros.policies.registry.KINDS`): ``gmm`` picks a mixture
component in numpy, ``ar`` feeds temperature-scaled Gumbel noise, ``diffusion``
feeds the initial noise (or runs the DDIM loop of its 'denoiser' export). Noise
comes from the policy's own seeded generator. For chunked kinds (diffusion)
this class executes ``execute`` actions of each predicted chunk before
re-planning (receding horizon).

Doubt: a model trained with a doubt ensemble (the default) has a ``doubt``
output (B,) and a ``doubt`` metadata key saying what
it is: the disagreement of K small networks trained on the same data, large
far from the training data. :meth:`OnnxPolicy.act` never computes it (the graph
skips the ensemble unless its optional ``want_doubt`` input is true, so a
caller that does not want doubt pays a few microseconds for the skipped
branch); :meth:`OnnxPolicy.act_with_doubt` returns the action and the doubt
from the same graph call (about 30 us more on a 2-core laptop-class CPU), and
:meth:`OnnxPolicy.doubt_batch` the doubt alone for many observations. Models
without it load too: ``has_doubt`` is False and the doubt is None.
Risk, the same way: a model with a ``risk`` output (B,) and metadata key
(:mod:`~imitation_ros.training.risk`, a learned probability of a takeover or
failure ahead) computes it only when its ``want_risk`` input is true;
:meth:`OnnxPolicy.risk_batch` returns it; ``has_risk`` is False without it.

Every problem with the model file raises :class:`~imitation_ros.errors.ModelError`;
bad call arguments raise :class:`~imitation_ros.errors.ConfigError`. A graph that
outputs NaN or Inf raises ``ModelError`` as well, so a control loop that catches
:class:`~imitation_ros.errors.ImitationError` fails safe.
"""

from __future__ import annotations

from collections import deque
import json
import math
from pathlib import Path
import threading
import time
from typing import Any, Optional, Sequence
import warnings

import numpy as np
import onnxruntime as ort

from ..errors import ConfigError, ModelError
from ..interface.model_format import (FORMAT_KEY, REQUIRED_KEYS, RISK_GATE, RISK_KEY,
                                      RISK_OUTPUT, SUPPORTED_FORMATS)
from ..policies.kind import DOUBT_GATE, DOUBT_OUTPUT, KindRuntime, ModelInfo
from ..policies.registry import KINDS

__all__ = ['OnnxPolicy', 'PROVIDER_ALIASES', 'REQUIRED_KEYS', 'resolve_providers',
           'SUPPORTED_FORMATS']

#: Short provider names accepted in ``providers``.
PROVIDER_ALIASES = {'cpu': 'CPUExecutionProvider', 'cuda': 'CUDAExecutionProvider',
                    'tensorrt': 'TensorrtExecutionProvider', 'trt': 'TensorrtExecutionProvider'}
_WANT_DOUBT = np.array(True)
_FIX = 're-export it with imitation_ros.training.export.export_policy (imitation-ros train)'


def resolve_providers(providers: Optional[Sequence[str]]) -> list[str]:
    """
    Map provider names or shorthands ('cpu', 'cuda', 'tensorrt') to available providers.

    Providers this onnxruntime build lacks are dropped with a warning; the CPU
    provider is always last, so the session falls back to it.
    """
    if isinstance(providers, str):
        providers = [providers]
    known = set(ort.get_all_providers())
    available = set(ort.get_available_providers())
    out: list[str] = []
    for item in providers or ():
        name = PROVIDER_ALIASES.get(str(item).lower(), str(item))
        if name not in known:
            raise ConfigError(f'unknown ONNX Runtime provider {item!r}; use one of '
                              f'{sorted(PROVIDER_ALIASES)} or a full name such as '
                              'CUDAExecutionProvider')
        if name not in available:
            warnings.warn(f'{name} is not available in this onnxruntime build (available: '
                          f'{", ".join(sorted(available))}); falling back to the CPU. Install '
                          'onnxruntime-gpu for CUDA/TensorRT.', RuntimeWarning, stacklevel=3)
            continue
        if name not in out:
            out.append(name)
    if 'CPUExecutionProvider' in out:
        out.remove('CPUExecutionProvider')
    out.append('CPUExecutionProvider')
    return out


def _shape_str(shape: Sequence[Any]) -> str:
    return '(' + ', '.join(str(d) for d in shape) + ')'


class OnnxPolicy:
    """
    An exported policy loaded with ONNX Runtime.

    :param path: the ``.onnx`` file.
    :param providers: ONNX Runtime providers or shorthands ('cpu', 'cuda',
        'tensorrt'); default CPU. Unavailable ones fall back to the CPU with a warning.
    :param mode: gmm only: 'argmax' (mean of the most probable component) or
        'sample'; default from the model's settings. Ignored by other kinds.
    :param temperature: ar only: 0 takes the most probable bin, > 0 samples
        at that temperature; default from the model's settings. Ignored by other kinds.
    :param execute: chunked kinds (diffusion) only: actions executed per predicted
        chunk before re-planning, 1 <= execute <= horizon; default from the model.
    :param seed: seed of the runtime's random generator (all sampling noise).
    :param threads: ONNX Runtime intra-op threads (small models are fastest with 1;
        0 lets ONNX Runtime choose).
    :param expect_joint_names: the robot's joint order; a model trained for other
        joints (or another order) is refused.
    :param check_finite: raise ModelError when the graph outputs NaN or Inf.
    :param model_bytes: the file's content, already read (and checked, see
        :mod:`~imitation_ros.runtime.model_trust`): the session is built from
        these bytes and ``path`` only names the model in messages.
    """

    def __init__(self, path: Path | str, *, providers: Optional[Sequence[str]] = None,
                 mode: Optional[str] = None, temperature: Optional[float] = None,
                 execute: Optional[int] = None, seed: int = 0, threads: int = 1,
                 expect_joint_names: Optional[Sequence[str]] = None,
                 check_finite: bool = True, model_bytes: Optional[bytes] = None) -> None:
        """Load and validate ``path``; see the class docstring for the options."""
        self._path = Path(path)
        self._model_bytes = model_bytes
        if threads < 0:
            raise ConfigError(f'threads must be >= 0 (0: ONNX Runtime chooses), got {threads}')
        self._check_finite = bool(check_finite)
        self._rng = np.random.default_rng(seed)
        self._queue: deque[np.ndarray] = deque()
        self._fetch_doubt = False
        self._doubt_out: Optional[np.ndarray] = None
        wanted = resolve_providers(providers)
        self._session = self._open(wanted, threads)
        self._model_bytes = None  # the session holds the model now
        active = self._session.get_providers()
        lost = [p for p in wanted if p not in active]
        if lost:
            warnings.warn(f'{self._path}: ONNX Runtime could not start {", ".join(lost)} '
                          f'(check the CUDA/TensorRT libraries); running on {", ".join(active)}',
                          RuntimeWarning, stacklevel=2)
        self._meta = dict(self._session.get_modelmeta().custom_metadata_map)
        self._parse_metadata()
        self._check_graph()
        if expect_joint_names is not None:
            self._check_joints(tuple(str(j) for j in expect_joint_names))
        self._configure(mode, temperature, execute)
        self._bind_single()

    # ------------------------------------------------------------------ loading
    def _open(self, providers: list[str], threads: int) -> ort.InferenceSession:
        path, data = self._path, self._model_bytes
        if data is None and not path.is_file():
            raise ModelError(f'model file {path} does not exist; train one with '
                             f'"imitation-ros train ... --out {path}" or fix the path')
        if (len(data) if data is not None else path.stat().st_size) == 0:
            raise ModelError(f'model file {path} is empty (0 bytes), probably an interrupted '
                             f'copy; copy it again or {_FIX}')
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.log_severity_level = 3
        try:
            return ort.InferenceSession(str(path) if data is None else data, sess_options=opts,
                                        providers=providers)
        except Exception as exc:  # onnxruntime raises its own (unexported) exception types
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ModelError(f'{path} is not a loadable ONNX model ({reason[:300]}); the file '
                             f'is corrupt, truncated or not ONNX: copy it again or '
                             f'{_FIX}') from exc

    def _json(self, key: str) -> Any:
        try:
            return json.loads(self._meta[key])
        except (TypeError, ValueError) as exc:
            raise ModelError(f'{self._path}: metadata {key!r} is not valid JSON ({exc}); '
                             f'{_FIX}') from exc

    def _int(self, key: str) -> int:
        try:
            return int(self._meta[key])
        except (TypeError, ValueError) as exc:
            raise ModelError(f'{self._path}: metadata {key!r} must be an integer, got '
                             f'{self._meta[key]!r}; {_FIX}') from exc

    def _bad(self, what: str) -> ModelError:
        return ModelError(f'{self._path}: {what}; the file was edited or damaged, {_FIX}')

    def _parse_metadata(self) -> None:
        meta, path = self._meta, self._path
        if FORMAT_KEY not in meta:
            raise ModelError(f'{path} is an ONNX model but not an imitation_ros policy: it has '
                             'no imitation_ros metadata (missing keys: '
                             f'{", ".join(k for k in REQUIRED_KEYS if k not in meta)}); {_FIX}')
        fmt = meta[FORMAT_KEY]
        if fmt not in SUPPORTED_FORMATS:
            raise ModelError(f'{path} has metadata format {fmt!r}; this runtime reads format '
                             f'{", ".join(SUPPORTED_FORMATS)}: update imitation_ros on the robot '
                             'or re-export the model with this version')
        kind = meta.get('kind', '')
        entry = KINDS.get(kind)
        missing = [k for k in REQUIRED_KEYS if k not in meta]
        if entry is not None:
            missing += [k for k in entry.runtime.metadata_keys if k not in meta]
        if missing:
            raise ModelError(f'{path} lacks required metadata {", ".join(missing)}; {_FIX}')
        if entry is None:
            raise ModelError(f'{path} has unknown policy kind {kind!r} (this runtime runs '
                             f'{", ".join(KINDS)}); update imitation_ros or {_FIX}')
        self._kind = kind
        self._variant = meta['variant']
        variants = entry.runtime.variants
        if self._variant not in variants:
            raise self._bad(f'unknown {kind} variant {self._variant!r} (expected one of '
                            f'{", ".join(variants)})')
        joints = self._json('joint_names')
        layout = self._json('task_layout')
        if not isinstance(joints, list) or not joints or not isinstance(layout, list):
            raise self._bad('joint_names and task_layout must be non-empty JSON lists')
        self._joint_names = tuple(str(j) for j in joints)
        self._task_layout = tuple(str(t) for t in layout)
        n, k = len(self._joint_names), len(self._task_layout)
        obs, act = self._json('observation'), self._json('action')
        self._settings = self._json('settings')
        if not isinstance(obs, dict) or not isinstance(act, dict) \
                or not isinstance(self._settings, dict):
            raise self._bad('observation, action and settings must be JSON objects')
        if act.get('dim') != n or obs.get('state_dim') != n:
            raise self._bad(f'the metadata is inconsistent: {n} joint names but action dim '
                            f'{act.get("dim")} and state dim {obs.get("state_dim")}')
        if obs.get('task_dim') != k:
            raise self._bad(f'the metadata is inconsistent: task layout has {k} entries but '
                            f'task dim is {obs.get("task_dim")}')
        image = obs.get('image_shape')
        if image is not None and (not isinstance(image, list) or len(image) != 3
                                  or image[2] != 3 or min(image) < 1):
            raise self._bad(f'image_shape must be [H, W, 3] or null, got {image!r}')
        self._image_shape = None if image is None else tuple(int(v) for v in image)
        norm = act.get('normalization') or {}
        try:
            self._act_mean = np.asarray(norm['mean'], dtype=np.float32)
            self._act_std = np.asarray(norm['std'], dtype=np.float32)
        except (KeyError, TypeError, ValueError) as exc:
            raise self._bad('action normalization (mean, std) is missing or not numeric') from exc
        if self._act_mean.shape != (n,) or self._act_std.shape != (n,):
            raise self._bad(f'action normalization must have {n} entries per field')
        obs_norm = obs.get('normalization') or {}
        self._obs_mean = np.asarray(obs_norm.get('mean') or [0.0] * (n + k), dtype=np.float64)
        self._horizon = self._int('horizon')
        self._default_execute = self._int('execute')
        if not entry.runtime.chunked and self._horizon != 1:
            raise self._bad(f'a {self._kind} policy has horizon 1, metadata says {self._horizon}')
        if not 1 <= self._default_execute <= self._horizon:
            raise self._bad(f'execute {self._default_execute} must be in 1..horizon '
                            f'({self._horizon})')
        config = self._settings.get('config') or {}
        try:
            self._runtime: KindRuntime = entry.runtime(ModelInfo(
                n_joints=n, horizon=self._horizon, variant=self._variant,
                config=config if isinstance(config, dict) else {}, metadata=meta,
                action_mean=self._act_mean, action_std=self._act_std))
        except ConfigError as exc:  # the kind's settings in the file do not fit the kind
            raise self._bad(str(exc)) from exc
        self._doubt_info: Optional[dict] = None
        if 'doubt' in meta:
            info = self._json('doubt')
            if not isinstance(info, dict) or info.get('output', DOUBT_OUTPUT) != DOUBT_OUTPUT:
                raise self._bad(f'metadata doubt must be a JSON object describing the '
                                f'{DOUBT_OUTPUT!r} output, got {meta["doubt"][:200]!r}')
            self._doubt_info = info
        self._risk_info: Optional[dict] = None
        if RISK_KEY in meta:
            info = self._json(RISK_KEY)
            if not isinstance(info, dict) or info.get('output', RISK_OUTPUT) != RISK_OUTPUT \
                    or info.get('scale', 'probability') not in ('probability', 'logit'):
                raise self._bad(f'metadata {RISK_KEY} must be a JSON object describing the '
                                f'{RISK_OUTPUT!r} output (scale probability or logit), got '
                                f'{meta[RISK_KEY][:200]!r}')
            self._risk_info = info

    def _expected_io(self) -> tuple[dict, dict]:
        n, k = len(self._joint_names), len(self._task_layout)
        inputs: dict[str, list] = {'state': ['B', n], 'task': ['B', k], **self._runtime.inputs}
        outputs: dict[str, list] = dict(self._runtime.outputs)
        if self._image_shape is not None:
            inputs['image'] = ['B', *self._image_shape]
        if self._doubt_info is not None:
            outputs[DOUBT_OUTPUT] = ['B']
        if self._risk_info is not None:
            outputs[RISK_OUTPUT] = ['B']
        return inputs, outputs

    def _check_graph(self) -> None:
        expected = self._expected_io()
        claimed = (self._json('inputs'), self._json('outputs'))
        graph = ({a.name: a for a in self._session.get_inputs()},
                 {a.name: a for a in self._session.get_outputs()})
        self._input_names = [a.name for a in self._session.get_inputs()]
        self._output_names = [name for name in expected[1]
                              if name not in (DOUBT_OUTPUT, RISK_OUTPUT)]
        gates = {a.name for a in self._session.get_overridable_initializers()}
        self._doubt_gated = DOUBT_GATE in gates
        self._risk_gated = RISK_GATE in gates
        # Graph element types; inputs not listed are float32.
        types = {'image': 'tensor(uint8)', **self._runtime.input_types}
        desc = (f'a {self._kind} policy with {len(self._joint_names)} joints, task dim '
                f'{len(self._task_layout)}, horizon {self._horizon}')
        for side, want, meta, got in zip(('input', 'output'), expected, claimed, graph):
            if meta != want:
                raise self._bad(f'metadata {side}s {meta} do not match {desc} '
                                f'(expected {want})')
            if set(got) != set(want):
                raise self._bad(f'graph {side}s are {sorted(got)} but {desc} has '
                                f'{sorted(want)}')
            for name, shape in want.items():
                arg = got[name]
                dims = list(arg.shape)
                ok = len(dims) == len(shape) and all(
                    w == 'B' or not isinstance(g, int) or g == w for g, w in zip(dims, shape))
                if not ok:
                    raise self._bad(f'graph {side} {name!r} has shape {_shape_str(dims)} but the '
                                    f'metadata says {_shape_str(shape)} ({desc})')
                dtype = types.get(name, 'tensor(float)')
                if arg.type != dtype:
                    raise self._bad(f'graph {side} {name!r} has type {arg.type}, expected {dtype}')

    def _check_joints(self, expect: tuple[str, ...]) -> None:
        if expect == self._joint_names:
            return
        hint = ('the same joints in another order' if sorted(expect) == sorted(self._joint_names)
                else 'another robot')
        raise ModelError(f'{self._path} was trained for joints {list(self._joint_names)} but '
                         f'this robot has {list(expect)} ({hint}); load the model trained for '
                         'this robot or retrain on its data')

    def _configure(self, mode: Optional[str], temperature: Optional[float],
                   execute: Optional[int]) -> None:
        self._runtime.configure(mode, temperature)
        self._execute = int(execute if execute is not None else self._default_execute)
        if not 1 <= self._execute <= self._horizon:
            raise ConfigError(f'execute must be in 1..{self._horizon} (the chunk length), got '
                              f'{self._execute}')

    def _bind_single(self) -> None:
        """
        Prepare :meth:`act`'s fast path: fixed batch-1 buffers bound to the session once.

        At batch 1 the Python around ``session.run`` (feed dict, dtype conversions,
        one OrtValue per input and output, a finiteness check per array) costs about
        as much as a small graph. Here the observation (state then task) and all
        outputs each live in one preallocated float32 block bound through an
        IOBinding, so a call copies the observation in, runs, and checks each block
        once; the kind's noise inputs are bound as well (zero until the kind writes
        them). Image policies and chunked kinds keep the general path (their cost is
        the graph, not the Python).
        """
        self._binding: Optional[Any] = None
        # The buffers are shared state: a call finding them busy (another thread inside
        # act) takes the general path instead of waiting or racing.
        self._single_lock = threading.Lock()
        if self._runtime.chunked or self._image_shape is not None:
            return
        n, k = len(self._joint_names), len(self._task_layout)
        obs = np.zeros(n + k, np.float32)
        self._obs_block, self._state1, self._task1 = obs, obs[:n], obs[n:]
        shapes = self._expected_io()[1]
        sizes = {name: [1, *shapes[name][1:]] for name in self._output_names}
        total = sum(int(np.prod(shape)) for shape in sizes.values())
        out = np.zeros(total, np.float32)
        self._out_block, self._outs1 = out, []
        binding = self._session.io_binding()
        # The OrtValues wrap the numpy buffers without copying; keep them alive with them.
        self._bound = [ort.OrtValue.ortvalue_from_numpy(obs[:n].reshape(1, n)),
                       ort.OrtValue.ortvalue_from_numpy(obs[n:].reshape(1, k))]
        binding.bind_ortvalue_input('state', self._bound[0])
        binding.bind_ortvalue_input('task', self._bound[1])
        self._noise1 = self._runtime.zero_feeds(1)
        for name, buffer in self._noise1.items():
            self._bound.append(ort.OrtValue.ortvalue_from_numpy(buffer))
            binding.bind_ortvalue_input(name, self._bound[-1])
        start = 0
        for name, shape in sizes.items():
            view = out[start:start + int(np.prod(shape))].reshape(shape)
            start += view.size
            self._outs1.append(view)
            self._bound.append(ort.OrtValue.ortvalue_from_numpy(view))
            binding.bind_ortvalue_output(name, self._bound[-1])
        self._binding = binding

    # ------------------------------------------------------------------ properties
    @property
    def path(self) -> Path:
        """Return the model file."""
        return self._path

    @property
    def kind(self) -> str:
        """Return the policy kind: mse, gmm, ar, diffusion or another registered one."""
        return self._kind

    @property
    def chunked(self) -> bool:
        """Return whether the kind predicts chunks (act_batch: (B, horizon, n))."""
        return self._runtime.chunked

    @property
    def variant(self) -> str:
        """Return the export variant: 'sampler' or 'denoiser' for diffusion, else 'default'."""
        return self._variant

    @property
    def version(self) -> str:
        """Return the model version string written at export."""
        return self._meta['version']

    @property
    def joint_names(self) -> tuple[str, ...]:
        """Return the joint order of states and actions."""
        return self._joint_names

    @property
    def task_layout(self) -> tuple[str, ...]:
        """Return the meaning of each task vector entry."""
        return self._task_layout

    @property
    def needs_image(self) -> bool:
        """Return whether the policy needs a camera frame."""
        return self._image_shape is not None

    @property
    def image_shape(self) -> Optional[tuple[int, int, int]]:
        """Return the (H, W, 3) frame shape the policy sees, or None."""
        return self._image_shape

    @property
    def horizon(self) -> int:
        """Return the actions per predicted chunk (1 for single-step kinds)."""
        return self._horizon

    @property
    def execute(self) -> int:
        """Return the actions executed per chunk before re-planning."""
        return self._execute

    @property
    def mode(self) -> str:
        """Return the gmm selection mode: 'argmax' or 'sample'."""
        return self._runtime.mode

    @property
    def temperature(self) -> float:
        """Return the ar sampling temperature."""
        return self._runtime.temperature

    @property
    def pending(self) -> int:
        """Return the actions still queued from the last chunk (chunked kinds)."""
        return len(self._queue)

    @property
    def has_doubt(self) -> bool:
        """Return whether the model computes its own doubt (a ``doubt`` output)."""
        return self._doubt_info is not None

    @property
    def has_risk(self) -> bool:
        """Return whether the model computes a risk (a ``risk`` output)."""
        return self._risk_info is not None

    @property
    def risk_info(self) -> Optional[dict]:
        """Return what the risk is (label, horizon, data, held-out AUC), or None."""
        return None if self._risk_info is None else dict(self._risk_info)

    @property
    def doubt_info(self) -> Optional[dict]:
        """Return what the doubt is (method, statistic, units, members...), or None."""
        return None if self._doubt_info is None else dict(self._doubt_info)

    @property
    def metadata(self) -> dict[str, str]:
        """Return a copy of the raw metadata; values are strings, structured ones JSON."""
        return dict(self._meta)

    @property
    def settings(self) -> dict:
        """Return the kind-specific settings recorded at export."""
        return json.loads(self._meta['settings'])

    @property
    def training_data(self) -> dict:
        """Return what the model was trained on (digest, episodes, ...), or {}."""
        try:
            value = json.loads(self._meta.get('training_data', '{}'))
        except ValueError:
            return {}
        return value if isinstance(value, dict) else {}

    @property
    def providers(self) -> list[str]:
        """Return the ONNX Runtime providers in use."""
        return list(self._session.get_providers())

    def __repr__(self) -> str:
        """Return a one-line description."""
        return (f'OnnxPolicy({str(self._path)!r}, kind={self._kind}, variant={self._variant}, '
                f'version={self.version}, joints={len(self._joint_names)})')

    # ------------------------------------------------------------------ inference
    def reset(self) -> None:
        """Forget queued actions (call at the start of each episode)."""
        self._queue.clear()

    def act(self, state: np.ndarray, task: np.ndarray,
            image: Optional[np.ndarray] = None) -> np.ndarray:
        """
        Return the absolute joint targets (n,) float64 for one observation.

        Chunked kinds (diffusion) predict a chunk and return its first
        ``execute`` actions on successive calls before predicting again; call
        :meth:`reset` at the start of each episode.
        """
        if self._binding is not None and not self._fetch_doubt \
                and self._single_lock.acquire(blocking=False):
            try:
                return self._act_single(state, task)
            finally:
                self._single_lock.release()
        s, t, img = self._observation(state, task, image)
        if not self._runtime.chunked:
            return self._forward(s, t, img, None)[0]
        if not self._queue:
            chunk = self._forward(s, t, img, None)[0]
            self._queue.extend(chunk[:self._execute])
        return self._queue.popleft()

    def act_with_doubt(self, state: np.ndarray, task: np.ndarray,
                       image: Optional[np.ndarray] = None,
                       ) -> tuple[np.ndarray, Optional[float]]:
        """
        Return :meth:`act`'s action and the model's doubt at this observation.

        The doubt comes from the same graph call as the action (one more small
        network in the graph). Chunked kinds: on calls served from the queued
        chunk, the doubt of the current observation costs one extra graph
        call. Returns None for the doubt when the model has none
        (:attr:`has_doubt`).
        """
        if self._doubt_info is None:
            return self.act(state, task, image), None
        if self._queue:
            action = self.act(state, task, image)
            s, t, img = self._observation(state, task, image)
            return action, float(self._doubt_only(s, t, img)[0])
        self._fetch_doubt = True
        try:
            action = self.act(state, task, image)
            doubt = self._doubt_out
        finally:
            self._fetch_doubt = False
            self._doubt_out = None
        assert doubt is not None
        return action, float(doubt[0])

    def doubt_batch(self, states: np.ndarray, tasks: np.ndarray,
                    images: Optional[np.ndarray] = None) -> np.ndarray:
        """
        Return the model's doubt for a batch of observations, (B,) float64.

        Leaves the sampling generator and the action queue untouched.

        :raises ModelError: the model has no doubt output (:attr:`has_doubt`).
        """
        if self._doubt_info is None:
            raise ModelError(f'{self._path} has no doubt output (trained without a doubt '
                             'ensemble); retrain it (imitation-ros train, --doubt-ensemble 5)')
        s, t, img = self._batch(states, tasks, images)
        return self._doubt_only(s, t, img)

    def risk_batch(self, states: np.ndarray, tasks: np.ndarray,
                   images: Optional[np.ndarray] = None) -> np.ndarray:
        """
        Return the model's risk for a batch of observations, (B,) float64 in [0, 1].

        Leaves the sampling generator and the action queue untouched.

        :raises ModelError: the model has no risk output (:attr:`has_risk`).
        """
        if self._risk_info is None:
            raise ModelError(f'{self._path} has no risk output; retrain it on data with '
                             'hg_dagger episodes (imitation-ros train), which adds one')
        s, t, img = self._batch(states, tasks, images)
        feeds: dict[str, Any] = {'state': s, 'task': t, **self._runtime.zero_feeds(len(s))}
        if img is not None:
            feeds['image'] = img
        if self._risk_gated:
            feeds[RISK_GATE] = _WANT_DOUBT
        risk = self._session.run([RISK_OUTPUT], feeds)[0]
        if not np.all(np.isfinite(risk)):
            raise ModelError(f'{self._path}: output {RISK_OUTPUT!r} contains NaN or Inf; '
                             'the model is broken: retrain it')
        risk = risk.astype(np.float64)
        if self._risk_info.get('scale') == 'logit':
            # In float64, so confident states stay apart up to a logit of about 36.
            e = np.exp(-np.abs(risk))
            risk = np.where(risk >= 0, 1.0 / (1.0 + e), e / (1.0 + e))
        return risk

    def predict_chunk(self, state: np.ndarray, task: np.ndarray,
                      image: Optional[np.ndarray] = None,
                      noise: Optional[Any] = None) -> np.ndarray:
        """
        Predict (horizon, n) absolute joint targets for one observation (no queue).

        :param noise: as in :meth:`act_batch`, without the batch axis or with batch 1.
        """
        s, t, img = self._observation(state, task, image)
        out = self._forward(s, t, img, self._runtime.one_noise(noise))
        return out.reshape(self._horizon, len(self._joint_names))

    def act_batch(self, states: np.ndarray, tasks: np.ndarray,
                  images: Optional[np.ndarray] = None,
                  noise: Optional[Any] = None) -> np.ndarray:
        """
        Run a batch: (B, n) targets, or (B, horizon, n) chunks when chunked (float64).

        :param states: (B, n) rad; ``tasks`` (B, k); ``images`` (B, H, W, 3) uint8.
        :param noise: exactly the sampling noise, instead of the runtime's generator
            (:meth:`draw_noise` makes some): ar: the graph's ``gumbel`` input
            (B, n, bins), already temperature-scaled; diffusion: the initial noise
            (B, H, n); gmm: a tuple (uniform (B,), standard normal (B, n)), used in
            'sample' mode; mse: must be None.
        """
        s, t, img = self._batch(states, tasks, images)
        return self._forward(s, t, img, noise)

    def draw_noise(self, rng: np.random.Generator, batch: int = 1) -> Any:
        """Draw noise for ``batch`` observations from ``rng``, in the form act_batch takes."""
        return self._runtime.draw_noise(rng, batch)

    def warmup(self, iterations: int = 3) -> float:
        """
        Run a few inferences untouched by the queue and generator; return the last in ms.

        The first inference of a session is slower (allocation, kernel selection):
        call this before the control loop starts.
        """
        n, k = len(self._joint_names), len(self._task_layout)
        mean = self._obs_mean
        s = (mean[:n] if len(mean) >= n else np.zeros(n)).astype(np.float32)[None]
        t = (mean[n:n + k] if len(mean) >= n + k else np.zeros(k)).astype(np.float32)[None]
        img = None if self._image_shape is None else np.zeros((1, *self._image_shape), np.uint8)
        noise = self._runtime.zero_noise(1)
        elapsed = 0.0
        for _ in range(max(1, int(iterations))):
            start = time.perf_counter()
            self._forward(s, t, img, noise)
            elapsed = time.perf_counter() - start
        if self._doubt_info is not None:
            self._doubt_only(s, t, img)  # the ensemble branch's first run is slow too
        if self._binding is not None:  # act's bound buffers: first runs allocate too
            with self._single_lock:
                self._state1[...], self._task1[...] = s[0], t[0]
                for _ in range(max(1, int(iterations))):
                    self._session.run_with_iobinding(self._binding)
        return elapsed * 1e3

    # ------------------------------------------------------------------ internals
    def _act_single(self, state: Any, task: Any) -> np.ndarray:
        """Run :meth:`act` through the bound batch-1 buffers (kinds that are not chunked)."""
        state, task = np.asarray(state), np.asarray(task)
        if state.shape != self._state1.shape or task.shape != self._task1.shape:
            self._observation(state, task, None)  # raises the same errors as the batch path
        # Same float32 rounding as np.ascontiguousarray(..., dtype=np.float32).
        self._state1[...] = state
        self._task1[...] = task
        # math.isfinite over a short list beats np.isfinite(...).all() (a ufunc and a
        # reduction) several times over; checked after the float32 cast.
        if not all(map(math.isfinite, self._obs_block.tolist())):
            raise ConfigError('state or task contains NaN or Inf; check the joint state and '
                              'task sources before calling the policy')
        self._runtime.fill_bound(self._noise1, self._rng)
        self._session.run_with_iobinding(self._binding)
        if self._check_finite and not all(map(math.isfinite, self._out_block.tolist())):
            self._check_outputs(self._output_names, self._outs1)
        return self._runtime.single_action(self._outs1, self._rng)

    def _observation(self, state: np.ndarray, task: np.ndarray,
                     image: Optional[np.ndarray]) -> tuple[np.ndarray, ...]:
        n, k = len(self._joint_names), len(self._task_layout)
        state, task = np.asarray(state), np.asarray(task)
        if state.shape != (n,):
            raise ConfigError(f'state must have shape ({n},) for joints '
                              f'{list(self._joint_names)}, got {state.shape}')
        if task.shape != (k,):
            raise ConfigError(f'task must have shape ({k},) ({", ".join(self._task_layout)}), '
                              f'got {task.shape}')
        return self._batch(state[None], task[None],
                           None if image is None else np.asarray(image)[None])

    def _batch(self, states: np.ndarray, tasks: np.ndarray,
               images: Optional[np.ndarray]) -> tuple[Any, ...]:
        n, k = len(self._joint_names), len(self._task_layout)
        s = np.ascontiguousarray(states, dtype=np.float32)
        t = np.ascontiguousarray(tasks, dtype=np.float32)
        if s.ndim != 2 or s.shape[1] != n or len(s) == 0:
            raise ConfigError(f'states must have shape (B, {n}) with B >= 1, got {s.shape}')
        if t.shape != (len(s), k):
            raise ConfigError(f'tasks must have shape ({len(s)}, {k}), got {t.shape}')
        if not (np.all(np.isfinite(s)) and np.all(np.isfinite(t))):
            raise ConfigError('state or task contains NaN or Inf; check the joint state and '
                              'task sources before calling the policy')
        img = None
        if self._image_shape is not None:
            if images is None:
                raise ConfigError(f'this policy needs camera images {self._image_shape} uint8 '
                                  'but none were given')
            img = np.asarray(images)
            if img.shape != (len(s), *self._image_shape) or img.dtype != np.uint8:
                raise ConfigError(f'images must be uint8 with shape '
                                  f'{(len(s), *self._image_shape)}, got {img.dtype} {img.shape}')
            img = np.ascontiguousarray(img)
        return s, t, img

    def _doubt_only(self, s: np.ndarray, t: np.ndarray,
                    img: Optional[np.ndarray]) -> np.ndarray:
        """Run the graph for the doubt alone (zero noise inputs), (B,) float64."""
        feeds: dict[str, Any] = {'state': s, 'task': t, **self._runtime.zero_feeds(len(s))}
        if img is not None:
            feeds['image'] = img
        if self._doubt_gated:
            feeds[DOUBT_GATE] = _WANT_DOUBT
        doubt = self._session.run([DOUBT_OUTPUT], feeds)[0]
        if not np.all(np.isfinite(doubt)):
            raise ModelError(f'{self._path}: output {DOUBT_OUTPUT!r} contains NaN or Inf; '
                             'the model is broken: retrain it')
        return doubt.astype(np.float64)

    def _run(self, feeds: dict) -> list[np.ndarray]:
        if self._fetch_doubt:
            return self._run_with_doubt(feeds)
        outs = self._session.run(self._output_names, feeds)
        if self._check_finite:
            self._check_outputs(self._output_names, outs)
        return outs

    def _check_outputs(self, names: Sequence[str], outs: Sequence[np.ndarray]) -> None:
        """Raise ModelError naming the first output that holds NaN or Inf."""
        for name, out in zip(names, outs):
            if not np.all(np.isfinite(out)):
                raise ModelError(f'{self._path}: output {name!r} contains NaN or Inf; the '
                                 'model is broken or the observation is far outside its '
                                 'training data: stop the robot and check the model')

    def _run_with_doubt(self, feeds: dict) -> list[np.ndarray]:
        if self._doubt_gated:
            feeds = {**feeds, DOUBT_GATE: _WANT_DOUBT}
        names = [*self._output_names, DOUBT_OUTPUT]
        outs = self._session.run(names, feeds)
        if self._check_finite:
            self._check_outputs(names, outs)
        self._doubt_out = outs[-1]
        return outs[:-1]

    def _forward(self, s: np.ndarray, t: np.ndarray, img: Optional[np.ndarray],
                 noise: Any) -> np.ndarray:
        feeds: dict[str, np.ndarray] = {'state': s, 'task': t}
        if img is not None:
            feeds['image'] = img
        return self._runtime.forward(self._run, feeds, s, noise, self._rng)
