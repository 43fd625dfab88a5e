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
What every policy kind's torch model shares.

The observation/action layout, normalization, the training batch, the small
networks and :class:`Policy`, the base class of every kind's model.

Observations are the measured joint positions (n,) rad, the task vector (k,)
and optionally a camera frame (H, W, 3) uint8 through an image encoder
(:mod:`~imitation_ros.policies.vision`). Actions are predicted relative to
the measured joint positions (a - q, rad) in normalized units; the exported
graph adds ``q`` back, so what a policy outputs at run time is always an
absolute joint target.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
import math
from typing import Any, Optional, TYPE_CHECKING

import numpy as np
import torch
from torch import nn

from ..errors import ConfigError
from .vision import IMAGE_ENCODERS, make_image_encoder

if TYPE_CHECKING:  # ensemble.py builds on this module
    from .ensemble import DoubtEnsemble

#: Smallest standard deviation used for normalization; a dimension that is
#: constant in the data gets std 1 instead, so nothing divides by zero at run time.
MIN_STD = 1e-6


@dataclass(frozen=True)
class Normalizer:
    """Per-dimension affine normalization computed from data: ``(x - mean) / std``."""

    mean: tuple[float, ...]
    """Mean per dimension, in the data's units."""
    std: tuple[float, ...]
    """Standard deviation per dimension (1.0 where the data is constant)."""

    @staticmethod
    def fit(x: np.ndarray) -> 'Normalizer':
        """Compute the statistics of ``x`` (N, D) over its first axis."""
        x = np.asarray(x, dtype=np.float64).reshape(-1, np.shape(x)[-1])
        if x.shape[0] == 0:
            raise ConfigError('cannot compute normalization from zero samples')
        if not np.all(np.isfinite(x)):
            raise ConfigError('training data contains NaN or Inf; clean it before training')
        mean = x.mean(axis=0)
        std = x.std(axis=0)
        std = np.where(std < MIN_STD, 1.0, std)
        return Normalizer(tuple(float(v) for v in mean), tuple(float(v) for v in std))

    def tensors(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Return mean and std as float32 tensors, shape (D,)."""
        return (torch.tensor(self.mean, dtype=torch.float32),
                torch.tensor(self.std, dtype=torch.float32))

    def to_dict(self) -> dict:
        """Serialize for model metadata."""
        return {'mean': list(self.mean), 'std': list(self.std)}

    @staticmethod
    def from_dict(d: dict) -> 'Normalizer':
        """Inverse of :meth:`to_dict`."""
        return Normalizer(tuple(float(v) for v in d['mean']), tuple(float(v) for v in d['std']))


@dataclass(frozen=True)
class PolicySpec:
    """Observation and action layout plus normalization; travels inside the ONNX file."""

    joint_names: tuple[str, ...]
    """Joint order of states and actions."""
    task_layout: tuple[str, ...]
    """Meaning of each task vector entry."""
    state_norm: Normalizer
    """Normalization of the observation features (see :func:`observation_features`)."""
    action_norm: Normalizer
    """Normalization of relative actions a - q (rad)."""
    image_shape: Optional[tuple[int, int, int]] = None
    """(H, W, 3) of the camera frames the policy sees, or None for state-only policies."""
    link_lengths: Optional[tuple[float, ...]] = None
    """
    Planar chain link lengths (m) for forward-kinematics features, or None.

    With link lengths the observation features include every joint's position
    relative to the obstacle and the end effector relative to the goal,
    computed inside the graph; without, the features are the raw [q, task].
    """
    image_encoder: str = IMAGE_ENCODERS[0]
    """The image encoder (:mod:`~imitation_ros.policies.vision`); used with ``image_shape``."""

    def __post_init__(self) -> None:
        if self.image_encoder not in IMAGE_ENCODERS:
            raise ConfigError(f'unknown image encoder {self.image_encoder!r}; choose one of '
                              f'{", ".join(IMAGE_ENCODERS)}')

    @property
    def n_joints(self) -> int:
        """Return the number of joints n."""
        return len(self.joint_names)

    @property
    def obs_dim(self) -> int:
        """Return the length of the observation feature vector."""
        n, t = len(self.joint_names), len(self.task_layout)
        if self.link_lengths is None:
            return n + t
        return n + t + 2 * n + 2 * n + 2

    def to_dict(self) -> dict:
        """Serialize (plain lists and numbers) for checkpoints."""
        return {'joint_names': list(self.joint_names), 'task_layout': list(self.task_layout),
                'state_norm': self.state_norm.to_dict(),
                'action_norm': self.action_norm.to_dict(),
                'image_shape': list(self.image_shape) if self.image_shape else None,
                'link_lengths': list(self.link_lengths) if self.link_lengths else None,
                'image_encoder': self.image_encoder}

    @staticmethod
    def from_dict(d: dict) -> 'PolicySpec':
        """Inverse of :meth:`to_dict`."""
        return PolicySpec(
            joint_names=tuple(str(n) for n in d['joint_names']),
            task_layout=tuple(str(n) for n in d['task_layout']),
            state_norm=Normalizer.from_dict(d['state_norm']),
            action_norm=Normalizer.from_dict(d['action_norm']),
            image_shape=tuple(int(v) for v in d['image_shape']) if d.get('image_shape') else None,
            link_lengths=(tuple(float(v) for v in d['link_lengths'])
                          if d.get('link_lengths') else None),
            image_encoder=str(d.get('image_encoder') or IMAGE_ENCODERS[0]))


def observation_features(state: torch.Tensor, task: torch.Tensor,
                         link_lengths: Optional[tuple[float, ...]]) -> torch.Tensor:
    """
    Build the (unnormalized) observation features, (B, D).

    Raw features are [q, task]. With ``link_lengths`` (planar chain, task laid
    out as goal x, y, obstacle x, y, radius) they also hold cos and sin of each
    link's absolute angle, each joint's position (after the base) relative to
    the obstacle centre, and the end effector relative to the goal.
    """
    feats = [state, task]
    if link_lengths is not None:
        lengths = torch.tensor(link_lengths, dtype=state.dtype)
        angles = torch.cumsum(state, dim=-1)
        c, s = torch.cos(angles), torch.sin(angles)
        px = torch.cumsum(c * lengths, dim=-1)
        py = torch.cumsum(s * lengths, dim=-1)
        feats += [c, s, px - task[:, 2:3], py - task[:, 3:4],
                  torch.stack([px[:, -1] - task[:, 0], py[:, -1] - task[:, 1]], dim=-1)]
    return torch.cat(feats, dim=-1)


@dataclass(frozen=True)
class Batch:
    """A training batch (torch tensors)."""

    state: torch.Tensor
    """Joint positions, (B, n), rad."""
    task: torch.Tensor
    """Task vectors, (B, k)."""
    action: torch.Tensor
    """Absolute action chunks, (B, H, n), rad; H = 1 for single-step kinds."""
    image: Optional[torch.Tensor] = None
    """Camera frames, (B, H, W, 3) uint8, or None."""


def mlp(sizes: list[int], *, activation: type[nn.Module] = nn.Mish,
        out_activation: bool = False) -> nn.Sequential:
    """Build a multilayer perceptron with the given layer sizes."""
    layers: list[nn.Module] = []
    for i in range(len(sizes) - 1):
        layers.append(nn.Linear(sizes[i], sizes[i + 1]))
        if i < len(sizes) - 2 or out_activation:
            layers.append(activation())
    return nn.Sequential(*layers)


class ObservationEncoder(nn.Module):
    """Normalize [q, task], optionally append image features; output (B, D_feat)."""

    def __init__(self, spec: PolicySpec, image_features: int = 64) -> None:
        """Create the encoder for ``spec``."""
        super().__init__()
        mean, std = spec.state_norm.tensors()
        self.register_buffer('mean', mean)
        self.register_buffer('std', std)
        self.link_lengths = spec.link_lengths
        self.image = (make_image_encoder(spec.image_encoder, spec.image_shape, image_features)
                      if spec.image_shape else None)
        self.out_dim = spec.obs_dim + (image_features if self.image is not None else 0)

    def forward(self, state: torch.Tensor, task: torch.Tensor,
                image: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Return the features, (B, out_dim)."""
        x = (observation_features(state, task, self.link_lengths) - self.mean) / self.std
        if self.image is not None:
            if image is None:
                raise ConfigError('this policy needs camera images but none were given')
            x = torch.cat([x, self.image(image)], dim=-1)
        return x


class ActionScaler(nn.Module):
    """Convert between absolute targets and normalized relative actions."""

    def __init__(self, spec: PolicySpec) -> None:
        """Create the scaler for ``spec``."""
        super().__init__()
        mean, std = spec.action_norm.tensors()
        self.register_buffer('mean', mean)
        self.register_buffer('std', std)

    def normalize(self, action: torch.Tensor, state: torch.Tensor) -> torch.Tensor:
        """Map absolute targets (B, ..., n) to normalized relative actions (B, ..., n)."""
        rel = action - (state.unsqueeze(1) if action.dim() == 3 else state)
        return (rel - self.mean) / self.std

    def denormalize(self, z: torch.Tensor, state: torch.Tensor) -> torch.Tensor:
        """Map normalized relative actions (B, ..., n) to absolute targets (B, ..., n)."""
        rel = z * self.std + self.mean
        return rel + (state.unsqueeze(1) if z.dim() == 3 else state)


@dataclass(frozen=True)
class TrainConfig:
    """Optimization settings shared by all kinds."""

    steps: int = 3000
    """Gradient steps."""
    batch_size: int = 256
    """Samples per step."""
    lr: float = 1e-3
    """Peak learning rate (AdamW, cosine decay)."""
    weight_decay: float = 1e-4
    """AdamW weight decay."""
    val_fraction: float = 0.1
    """Fraction of episodes held out for validation."""
    hidden: tuple[int, ...] = (256, 256, 256)
    """Hidden layer widths of the policy MLP."""
    extra: dict = field(default_factory=dict)
    """Kind-specific options (see each kind's Config)."""
    doubt_ensemble: int = 5
    """
    Members of the doubt ensemble trained alongside the policy and exported in
    the same file as the ``doubt`` output (:mod:`imitation_ros.policies.ensemble`);
    0 trains none (the model then has no doubt output).
    """
    doubt_hidden: tuple[int, ...] = (64, 64)
    """Hidden layer widths of each doubt ensemble member."""

    def __post_init__(self) -> None:
        if self.steps < 1 or self.batch_size < 1 or self.lr <= 0:
            raise ConfigError('steps, batch_size and lr must be positive')
        if not 0.0 <= self.val_fraction < 0.9:
            raise ConfigError(f'val_fraction must be in [0, 0.9), got {self.val_fraction}')
        if self.doubt_ensemble == 1 or self.doubt_ensemble < 0:
            raise ConfigError(f'doubt_ensemble must be 0 (off) or >= 2 members, got '
                              f'{self.doubt_ensemble}')


def sinusoidal_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    """Embed diffusion timesteps (B,) as (B, dim) sines and cosines."""
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float32) / half)
    args = t.to(torch.float32).unsqueeze(-1) * freqs
    return torch.cat([torch.sin(args), torch.cos(args)], dim=-1)


class Policy(nn.Module):
    """
    Base of every kind's torch model: observation encoder, action scaler, options.

    A kind's model sets ``kind`` (its registry name), builds its networks after
    ``super().__init__(spec, config)`` and implements :meth:`loss` and
    :meth:`export_module`; chunked kinds set ``horizon``.
    """

    kind = ''
    horizon = 1

    def __init__(self, spec: PolicySpec, config: Any) -> None:
        """Create the shared parts for ``spec``; ``config`` is the kind's options dataclass."""
        super().__init__()
        self.spec = spec
        self.config = config
        self.encoder = ObservationEncoder(spec)
        self.scaler = ActionScaler(spec)
        #: The doubt ensemble trained alongside (exported as the ``doubt`` output), or None.
        self.doubt: Optional[DoubtEnsemble] = None

    def loss(self, batch: Batch) -> torch.Tensor:
        """Return the per-sample training loss, (B,)."""
        raise NotImplementedError

    def export_module(self, variant: str = 'default') -> nn.Module:
        """
        Return the graph exported to ONNX for ``variant``.

        Its forward takes the inputs the kind's runtime lists
        (:meth:`~imitation_ros.policies.kind.KindRuntime.graph_io`) in order:
        ``state``, ``task``, the kind's own, then ``image`` when the spec has one.
        """
        raise NotImplementedError

    def settings(self) -> dict:
        """Return the settings stored in the model metadata (the options as ``config``)."""
        return {'config': asdict(self.config)}

    def parameter_count(self) -> int:
        """Return the number of trainable parameters of the policy (the doubt ensemble not)."""
        return sum(p.numel() for name, p in self.named_parameters()
                   if p.requires_grad and not name.startswith('doubt.'))

    def attach_doubt(self, doubt: Optional[DoubtEnsemble]) -> None:
        """Attach (or with None remove) the doubt ensemble exported with this policy."""
        if doubt is not None and doubt.spec != self.spec:
            raise ConfigError('the doubt ensemble was built for another spec; build it from '
                              'this policy\'s spec')
        self.doubt = doubt
