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
Image encoders: camera frames (B, H, W, 3) uint8 to features (B, D), trained from scratch.

Three encoders, chosen by name (:data:`IMAGE_ENCODERS`, ``PolicySpec.image_encoder``):

``cnn``
    four strided convolutions and a spatial mean (the smallest; the planar arm's default).
``spatial-softmax``
    a small convolution stack ending in a spatial softmax (Levine et al. 2016, as
    robomimic's visual core uses it): each of K keypoint maps becomes the expected
    image coordinate of its activation, so the features say *where* things are.
``resnet18``
    ResNet-18 (He et al. 2016) written out in plain torch, GroupNorm in place of
    BatchNorm (as Diffusion Policy does: no running statistics, so training and
    export compute the same function), with the spatial softmax in place of the
    global average pool (robomimic's ``ResNet18Conv`` + ``SpatialSoftmax``).

All three run inside the exported ONNX graph; nothing is downloaded (no
pretrained weights). The two spatial-softmax encoders shift each training frame
by up to ``shift`` pixels at random (edge padding, as DrQ and robomimic's crop
do) while the module is in training mode; in eval mode, and so in the exported
graph, the frame passes unchanged.
"""

from __future__ import annotations

import torch
from torch import nn
import torch.nn.functional as F

from ..errors import ConfigError

#: Encoder names, the first the default.
IMAGE_ENCODERS: tuple[str, ...] = ('cnn', 'spatial-softmax', 'resnet18')


def to_float(image: torch.Tensor) -> torch.Tensor:
    """Turn (B, H, W, 3) uint8 frames into (B, 3, H, W) float32 in [0, 1]."""
    return image.permute(0, 3, 1, 2).to(torch.float32) * (1.0 / 255.0)


def random_shift(x: torch.Tensor, pad: int) -> torch.Tensor:
    """Shift each frame of ``x`` (B, C, H, W) by up to ``pad`` pixels, edges repeated."""
    if pad <= 0:
        return x
    _, _, h, w = x.shape
    padded = F.pad(x, (pad, pad, pad, pad), mode='replicate')
    offsets = torch.randint(0, 2 * pad + 1, (x.shape[0], 2)).tolist()
    # One slice per frame: cheaper on the CPU than a gather over the whole batch.
    return torch.stack([padded[i, :, dy:dy + h, dx:dx + w]
                        for i, (dy, dx) in enumerate(offsets)])


class SpatialSoftmax(nn.Module):
    """
    Keypoints from a feature map: (B, C, H, W) to (B, 2 K) expected (x, y) in [-1, 1].

    A 1x1 convolution makes K keypoint maps; a softmax over each map's pixels
    (with a learned temperature) weights the pixel coordinates.
    """

    def __init__(self, channels: int, height: int, width: int, keypoints: int = 32) -> None:
        """Create the layer for feature maps of ``channels`` x ``height`` x ``width``."""
        super().__init__()
        self.keypoints = keypoints
        self.project = nn.Conv2d(channels, keypoints, kernel_size=1)
        self.log_temperature = nn.Parameter(torch.zeros(()))
        ys, xs = torch.meshgrid(torch.linspace(-1.0, 1.0, height),
                                torch.linspace(-1.0, 1.0, width), indexing='ij')
        self.register_buffer('grid', torch.stack([xs.reshape(-1), ys.reshape(-1)], dim=-1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return the keypoints' expected coordinates, (B, 2 K): x1, y1, x2, y2, ..."""
        b = x.shape[0]
        maps = self.project(x).flatten(2)  # (B, K, H*W)
        weights = torch.softmax(maps / torch.exp(self.log_temperature), dim=-1)
        return torch.matmul(weights, self.grid).reshape(b, 2 * self.keypoints)


class CnnEncoder(nn.Module):
    """A small CNN: four strided convs, spatial mean, linear."""

    def __init__(self, out_dim: int = 64) -> None:
        """Create the encoder with ``out_dim`` output features."""
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(3, 16, 5, stride=2, padding=2), nn.Mish(),
            nn.Conv2d(16, 32, 3, stride=2, padding=1), nn.Mish(),
            nn.Conv2d(32, 32, 3, stride=2, padding=1), nn.Mish(),
            nn.Conv2d(32, 64, 3, stride=2, padding=1), nn.Mish(),
        )
        self.head = nn.Linear(64, out_dim)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        """Encode (B, H, W, 3) uint8 frames to (B, out_dim) features."""
        x = self.net(to_float(image))
        return self.head(x.mean(dim=(2, 3)))


class SpatialSoftmaxEncoder(nn.Module):
    """
    A small conv net with a spatial softmax: 3 convolutions (stride 4 in all), K keypoints.

    For 96x96 frames the keypoints come from a 24x24 map (4 px per cell, and
    sub-cell positions through the softmax's weighting). ReLU, not Mish: on the
    CPU the activation costs as much as the convolutions at this size.
    """

    def __init__(self, image_shape: tuple[int, int, int], out_dim: int = 64,
                 keypoints: int = 32, shift: int = 4) -> None:
        """Create the encoder for frames of ``image_shape`` (H, W, 3)."""
        super().__init__()
        self.shift = shift
        self.net = nn.Sequential(
            nn.Conv2d(3, 16, 5, stride=2, padding=2), nn.ReLU(),
            nn.Conv2d(16, 32, 3, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(32, 32, 3, stride=1, padding=1), nn.ReLU(),
        )
        self.pool = SpatialSoftmax(32, *_map_size(self.net, image_shape), keypoints)
        self.head = nn.Linear(2 * keypoints, out_dim)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        """Encode (B, H, W, 3) uint8 frames to (B, out_dim) features."""
        x = to_float(image)
        if self.training:
            x = random_shift(x, self.shift)
        return self.head(self.pool(self.net(x)))


def _group_norm(channels: int) -> nn.GroupNorm:
    """Return a GroupNorm of 16 channels per group (Diffusion Policy's BatchNorm replacement)."""
    return nn.GroupNorm(max(1, channels // 16), channels)


class BasicBlock(nn.Module):
    """ResNet's basic block: two 3x3 convolutions and a shortcut."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        """Create a block from ``cin`` to ``cout`` channels with ``stride``."""
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
        self.norm1 = _group_norm(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, stride=1, padding=1, bias=False)
        self.norm2 = _group_norm(cout)
        self.down = None
        if stride != 1 or cin != cout:
            self.down = nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride, bias=False),
                                      _group_norm(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return relu(F(x) + shortcut(x))."""
        out = F.relu(self.norm1(self.conv1(x)))
        out = self.norm2(self.conv2(out))
        return F.relu(out + (x if self.down is None else self.down(x)))


class ResNet18Encoder(nn.Module):
    """
    ResNet-18 (layers 2-2-2-2, 64..512 channels, stride 32) with GroupNorm and a spatial softmax.

    For 96x96 frames the last feature map is 3x3 with 512 channels.
    """

    def __init__(self, image_shape: tuple[int, int, int], out_dim: int = 64,
                 keypoints: int = 32, shift: int = 4) -> None:
        """Create the encoder for frames of ``image_shape`` (H, W, 3)."""
        super().__init__()
        self.shift = shift
        self.stem = nn.Sequential(
            nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False), _group_norm(64), nn.ReLU(),
            nn.MaxPool2d(3, stride=2, padding=1))
        blocks: list[nn.Module] = []
        cin = 64
        for cout, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
            blocks += [BasicBlock(cin, cout, stride), BasicBlock(cout, cout, 1)]
            cin = cout
        self.layers = nn.Sequential(*blocks)
        trunk = nn.Sequential(self.stem, self.layers)
        self.pool = SpatialSoftmax(512, *_map_size(trunk, image_shape), keypoints)
        self.head = nn.Linear(2 * keypoints, out_dim)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        """Encode (B, H, W, 3) uint8 frames to (B, out_dim) features."""
        x = to_float(image)
        if self.training:
            x = random_shift(x, self.shift)
        return self.head(self.pool(self.layers(self.stem(x))))


def _map_size(trunk: nn.Module, image_shape: tuple[int, int, int]) -> tuple[int, int]:
    """Return (height, width) of ``trunk``'s feature map for frames of ``image_shape``."""
    with torch.no_grad():
        out = trunk(torch.zeros(1, 3, int(image_shape[0]), int(image_shape[1])))
    return int(out.shape[2]), int(out.shape[3])


def make_image_encoder(name: str, image_shape: tuple[int, int, int],
                       out_dim: int = 64) -> nn.Module:
    """Build the encoder ``name`` (one of :data:`IMAGE_ENCODERS`) for ``image_shape`` frames."""
    if name == 'cnn':
        return CnnEncoder(out_dim)
    if name == 'spatial-softmax':
        return SpatialSoftmaxEncoder(image_shape, out_dim)
    if name == 'resnet18':
        if min(image_shape[:2]) < 32:
            raise ConfigError(f'resnet18 needs frames of at least 32x32 px, got {image_shape}')
        return ResNet18Encoder(image_shape, out_dim)
    raise ConfigError(f'unknown image encoder {name!r}; choose one of '
                      f'{", ".join(IMAGE_ENCODERS)}')
