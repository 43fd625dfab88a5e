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
What a policy kind is, and the run-time half every kind implements (numpy only, no torch).

The exported graph of every kind takes ``state`` (B, n) rad, ``task`` (B, k),
the kind's own inputs (its sampling noise: given from outside, so torch and
the runtime produce the same samples from the same noise), ``image``
(B, H, W, 3) uint8 when the policy sees a camera, and the optional bool
``want_doubt``; it returns the kind's outputs, then ``doubt`` (B,) when the
policy was trained with a doubt ensemble.

A kind's :class:`KindRuntime` says which inputs and outputs those are
(:meth:`KindRuntime.graph_io`, read by the export and by the loader alike),
what its sampling noise looks like, and how the graph's outputs become
actions; :class:`~imitation_ros.runtime.onnx_policy.OnnxPolicy` does the rest
(loading, checks, batching, the action queue of chunked kinds, doubt).
:class:`Kind` ties a kind's name to its options, its run-time half and its
torch model (imported only when a model is built, so the robot never loads torch).
"""

from __future__ import annotations

from dataclasses import dataclass, fields, is_dataclass
import importlib
from typing import Any, Callable, ClassVar, Mapping, Optional, Union

import numpy as np

from ..errors import ConfigError

#: Output of the doubt ensemble's disagreement, (B,) float32, listed last.
DOUBT_OUTPUT = 'doubt'
#: Optional bool input (default false) that switches the doubt computation on.
DOUBT_GATE = 'want_doubt'

#: Dimensions of a graph tensor; 'B' marks the (dynamic) batch axis.
Shape = list
#: Runs the graph on a feed dict and returns the kind's outputs in order.
Run = Callable[[dict], list]

_DTYPES = {'tensor(float)': np.float32, 'tensor(int64)': np.int64, 'tensor(uint8)': np.uint8}


def positive_int(config: Mapping[str, Any], key: str) -> int:
    """Return ``config[key]`` if it is a positive integer; else raise ConfigError."""
    value = config.get(key)
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ConfigError(f'settings.config.{key} must be a positive integer, got {value!r}')
    return value


def metadata_int(metadata: Mapping[str, str], key: str) -> int:
    """Return the integer metadata value ``key``; else raise ConfigError."""
    try:
        return int(metadata[key])
    except (TypeError, ValueError) as exc:
        raise ConfigError(f'metadata {key!r} must be an integer, got '
                          f'{metadata[key]!r}') from exc


def noise_array(noise: Any, shape: tuple[int, ...], what: str) -> np.ndarray:
    """Return ``noise`` as contiguous float32 of ``shape``; else raise ConfigError."""
    arr = np.ascontiguousarray(noise, dtype=np.float32)
    if arr.shape != shape:
        raise ConfigError(f'{what} noise must have shape {shape}, got {arr.shape}')
    return arr


@dataclass(frozen=True)
class ModelInfo:
    """What a kind's run-time half reads from a model file (the loader has checked it)."""

    n_joints: int
    """Joints n: the state and action dimension."""
    horizon: int
    """Actions per predicted chunk H (1 for kinds that are not chunked)."""
    variant: str
    """The export variant, one of the kind's ``variants``."""
    config: Mapping[str, Any]
    """The kind's options as exported (``settings.config``)."""
    metadata: Mapping[str, str]
    """The file's raw metadata, for the kind's own keys (``metadata_keys``)."""
    action_mean: np.ndarray
    """Mean of the normalized relative action, (n,) float32, rad."""
    action_std: np.ndarray
    """Standard deviation of the relative action, (n,) float32, rad."""


class KindRuntime:
    """
    The run-time half of a policy kind: its graph inputs and outputs, its noise, its actions.

    Subclasses set the class attributes, implement :meth:`graph_io` and
    :meth:`forward`, and override the noise methods when the kind samples.
    The constructor raises ConfigError on metadata that does not fit the kind
    (the loader reports it as a damaged file); :meth:`configure` raises
    ConfigError on bad caller options.

    Noise is what :meth:`~imitation_ros.runtime.onnx_policy.OnnxPolicy.act_batch`
    takes as ``noise``: an array of :meth:`noise_shape` by default, None for a
    deterministic kind.
    """

    #: Predicts chunks (B, horizon, n) that act() executes over several calls; False:
    #: one action (B, n) per call, and horizon 1.
    chunked: ClassVar[bool] = False
    #: Export variants; the first is the default.
    variants: ClassVar[tuple[str, ...]] = ('default',)
    #: Metadata keys the kind needs besides the common ones (see :meth:`export_metadata`).
    metadata_keys: ClassVar[tuple[str, ...]] = ()
    #: ONNX element types of the kind's inputs that are not float32.
    input_types: ClassVar[Mapping[str, str]] = {}

    @classmethod
    def graph_io(cls, n: int, horizon: int, config: Mapping[str, Any],
                 variant: str) -> tuple[dict[str, Shape], dict[str, Shape]]:
        """
        Return the kind's own graph inputs and outputs, name -> shape, in graph order.

        The inputs go between ``task`` and ``image``; the outputs before ``doubt``.
        Raises ConfigError when ``config`` lacks what the shapes need.
        """
        raise NotImplementedError

    @classmethod
    def export_metadata(cls, config: Mapping[str, Any]) -> dict[str, str]:
        """Return the kind's own metadata entries (strings) for a model with ``config``."""
        return {}

    def __init__(self, info: ModelInfo) -> None:
        """Read the kind's settings from ``info``; raise ConfigError when they do not fit."""
        self.info = info
        self.n = info.n_joints
        self.horizon = info.horizon
        self.inputs, self.outputs = self.graph_io(info.n_joints, info.horizon, info.config,
                                                  info.variant)
        self.mode = 'argmax'
        self.temperature = 0.0

    def configure(self, mode: Optional[str] = None, temperature: Optional[float] = None) -> None:
        """Set the sampling options; None takes the model's default (from its settings)."""
        config = self.info.config
        self.mode = str(mode if mode is not None else config.get('mode', 'argmax'))
        temp = temperature if temperature is not None else config.get('temperature', 0.0)
        self.temperature = float(temp)

    def shape(self, name: str, batch: int) -> tuple[int, ...]:
        """Return the shape of the kind's graph input ``name`` for ``batch`` observations."""
        return tuple(batch if d == 'B' else int(d) for d in self.inputs[name])

    def zero_feeds(self, batch: int) -> dict[str, np.ndarray]:
        """Return the kind's graph inputs at zero (for runs that want only the doubt)."""
        return {name: np.zeros(self.shape(name, batch),
                               _DTYPES[self.input_types.get(name, 'tensor(float)')])
                for name in self.inputs}

    def noise_shape(self, batch: int) -> Optional[tuple[int, ...]]:
        """Return the shape of the noise for ``batch`` observations; None: no array noise."""
        return None

    def draw_noise(self, rng: np.random.Generator, batch: int) -> Any:
        """Draw noise for ``batch`` observations from ``rng`` (as the kind samples it)."""
        return None

    def zero_noise(self, batch: int) -> Any:
        """Return the noise that stands for 'no sampling' (warm-up runs)."""
        shape = self.noise_shape(batch)
        return None if shape is None else np.zeros(shape, np.float32)

    def one_noise(self, noise: Any) -> Any:
        """Return noise given for one observation (with or without batch axis) as batch 1."""
        shape = self.noise_shape(1)
        if noise is None or shape is None:
            return noise
        arr = np.asarray(noise)
        return arr[None] if arr.ndim == len(shape) - 1 else arr

    def forward(self, run: Run, feeds: dict, state: np.ndarray, noise: Any,
                rng: np.random.Generator) -> np.ndarray:
        """
        Return the actions of a batch, float64: (B, n), or (B, horizon, n) when chunked.

        :param run: runs the graph on a feed dict (checks included) and returns
            the kind's outputs in order.
        :param feeds: ``state``, ``task`` (and ``image``) already in place; add the
            kind's inputs.
        :param state: (B, n) float32, the observation's joint positions.
        :param noise: the caller's noise (see :meth:`noise_shape`), or None to draw
            it from ``rng`` as the kind samples.
        """
        raise NotImplementedError

    def fill_bound(self, bound: dict[str, np.ndarray], rng: np.random.Generator) -> None:
        """Write one call's noise into the bound batch-1 inputs (zero until written)."""

    def single_action(self, outputs: list, rng: np.random.Generator) -> np.ndarray:
        """Return the action (n,) float64 from batch-1 outputs of a kind that is not chunked."""
        return outputs[0][0].astype(np.float64)


@dataclass(frozen=True)
class Kind:
    """One policy kind: its name, options, run-time half and torch model."""

    name: str
    """The kind's name, as in the model metadata and on the command line."""
    config: type
    """Frozen dataclass of the kind's options (stored in the model's settings)."""
    runtime: type[KindRuntime]
    """The run-time half (numpy only)."""
    model: Union[str, type]
    """
    The torch model class (a :class:`~imitation_ros.policies.base.Policy`), or its
    import path ``'package.module:Class'``, imported on first use (torch).
    """

    def __post_init__(self) -> None:
        if not self.name or not self.name.isidentifier():
            raise ConfigError(f'a policy kind needs a name like "gmm", got {self.name!r}')
        if not is_dataclass(self.config):
            raise ConfigError(f'the options of kind {self.name!r} must be a dataclass')
        if not (isinstance(self.runtime, type) and issubclass(self.runtime, KindRuntime)):
            raise ConfigError(f'the runtime of kind {self.name!r} must subclass KindRuntime')

    def model_class(self) -> type:
        """Return the torch model class (importing its module loads torch)."""
        if not isinstance(self.model, str):
            return self.model
        module, _, attr = self.model.partition(':')
        return getattr(importlib.import_module(module), attr)

    def make_config(self, options: Optional[Mapping[str, Any]] = None) -> Any:
        """Build the options dataclass from ``options`` (lists become tuples)."""
        opts = dict(options or {})
        valid = {f.name for f in fields(self.config)}
        unknown = set(opts) - valid
        if unknown:
            raise ConfigError(f'unknown {self.name} options {sorted(unknown)}; valid: '
                              f'{sorted(valid)}')
        for key, value in list(opts.items()):
            if isinstance(value, list):
                opts[key] = tuple(value)
        return self.config(**opts)

    def horizon(self, options: Optional[Mapping[str, Any]] = None) -> int:
        """Return the chunk length H the options give (1 for kinds that are not chunked)."""
        if not self.runtime.chunked:
            return 1
        opts = options or {}
        return int(opts.get('horizon', self.config().horizon))
