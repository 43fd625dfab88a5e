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

"""The image encoders: output shapes, the spatial softmax, training-only shifts, the spec."""

from dataclasses import replace

import pytest
import torch

from imitation_ros.errors import ConfigError
from imitation_ros.policies.base import Normalizer, PolicySpec
from imitation_ros.policies.registry import make_policy
from imitation_ros.policies.vision import (IMAGE_ENCODERS, make_image_encoder, random_shift,
                                           SpatialSoftmax)

SPEC = PolicySpec(joint_names=tuple(f'j{i}' for i in range(8)), task_layout=('a', 'b', 'c'),
                  state_norm=Normalizer((0.0,) * 11, (1.0,) * 11),
                  action_norm=Normalizer((0.0,) * 8, (1.0,) * 8), image_shape=(96, 96, 3))


def _frames(batch: int, seed: int = 0, size: int = 96) -> torch.Tensor:
    """Return random uint8 frames (batch, size, size, 3)."""
    gen = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (batch, size, size, 3), dtype=torch.uint8, generator=gen)


@pytest.mark.parametrize('name', IMAGE_ENCODERS)
def test_each_encoder_maps_frames_to_features(name: str) -> None:
    """Every encoder turns (B, 96, 96, 3) uint8 into (B, 64) finite features, in both modes."""
    torch.manual_seed(0)
    encoder = make_image_encoder(name, (96, 96, 3), out_dim=64)
    frames = _frames(3)
    with torch.no_grad():
        for training in (True, False):
            encoder.train(training)
            out = encoder(frames)
            assert out.shape == (3, 64) and out.dtype == torch.float32
            assert torch.isfinite(out).all()


def test_encoders_fit_other_frame_sizes() -> None:
    """The spatial softmax sizes its grid from the frame (a 64x48 camera works as well)."""
    for name in ('spatial-softmax', 'resnet18'):
        encoder = make_image_encoder(name, (48, 64, 3)).eval()
        frames = torch.randint(0, 256, (2, 48, 64, 3), dtype=torch.uint8)
        assert encoder(frames).shape == (2, 64)


def test_spatial_softmax_finds_the_bright_spot() -> None:
    """A feature map peaked at one pixel gives that pixel's coordinates, in [-1, 1]."""
    layer = SpatialSoftmax(1, 5, 9, keypoints=1)
    with torch.no_grad():
        layer.project.weight.fill_(1.0)
        layer.project.bias.zero_()
        layer.log_temperature.fill_(-3.0)  # sharp: nearly all weight on the peak
    x = torch.zeros(1, 1, 5, 9)
    x[0, 0, 4, 0] = 10.0  # bottom row, left column
    xy = layer(x)[0]
    assert xy.shape == (2,)
    assert torch.allclose(xy, torch.tensor([-1.0, 1.0]), atol=1e-3)


def test_random_shift_moves_frames_within_the_pad() -> None:
    """Shifted frames keep their size; each is the original moved by at most pad pixels."""
    torch.manual_seed(1)
    x = torch.rand(6, 3, 20, 20)
    out = random_shift(x, 2)
    assert out.shape == x.shape
    for i in range(6):
        found = any(torch.equal(out[i, :, 2:18, 2:18], x[i, :, 2 + dy:18 + dy, 2 + dx:18 + dx])
                    for dy in range(-2, 3) for dx in range(-2, 3))
        assert found
    assert not torch.equal(out, x) and torch.equal(random_shift(x, 0), x)


def test_shifts_happen_only_while_training() -> None:
    """In eval mode (and so in the exported graph) the same frame gives the same features."""
    torch.manual_seed(2)
    encoder = make_image_encoder('spatial-softmax', (96, 96, 3)).eval()
    frames = _frames(2, seed=3)
    with torch.no_grad():
        assert torch.equal(encoder(frames), encoder(frames))
        encoder.train()
        outs = [encoder(frames) for _ in range(4)]
    assert any(not torch.equal(outs[0], o) for o in outs[1:])


def test_policy_uses_the_spec_encoder_and_the_spec_round_trips() -> None:
    """make_policy builds the spec's encoder; to_dict/from_dict keep it; old dicts mean cnn."""
    for name in IMAGE_ENCODERS:
        spec = replace(SPEC, image_encoder=name)
        policy = make_policy('mse', spec, {'hidden': (16,)})
        assert type(policy.encoder.image) is type(make_image_encoder(name, (96, 96, 3)))
        assert PolicySpec.from_dict(spec.to_dict()) == spec
    old = SPEC.to_dict()
    del old['image_encoder']
    assert PolicySpec.from_dict(old).image_encoder == 'cnn'


def test_unknown_encoder_is_refused_with_the_choices() -> None:
    """An unknown encoder name is a ConfigError naming the known ones."""
    with pytest.raises(ConfigError, match='spatial-softmax'):
        replace(SPEC, image_encoder='vit')
    with pytest.raises(ConfigError, match='resnet18'):
        make_image_encoder('vit', (96, 96, 3))
