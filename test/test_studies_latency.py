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


"""The latency study's parts: torch eager does what the runtime does; both diffusion exports."""

from pathlib import Path

import numpy as np
import pytest
import torch

from imitation_ros.errors import ConfigError
from imitation_ros.policies.base import Normalizer, PolicySpec
from imitation_ros.policies.registry import make_policy
from imitation_ros.runtime.onnx_policy import OnnxPolicy
from imitation_ros.studies.latency import _torch_call, measure_diffusion_exports
from imitation_ros.training.export import export_policy

JOINTS = ('joint1', 'joint2', 'joint3')
TASK = ('goal_x', 'goal_y', 'obstacle_x', 'obstacle_y', 'obstacle_r')
SPEC = PolicySpec(JOINTS, TASK, Normalizer((0.0,) * 8, (1.0,) * 8),
                  Normalizer((0.0,) * 3, (0.1,) * 3))
STATE, TASK_VECTOR = np.array([0.3, -0.2, 0.1]), np.array([0.5, 0.0, 0.3, 0.0, 0.1])


def _policy(kind: str) -> object:
    torch.manual_seed(0)
    options = {'hidden': (32, 32)}
    if kind == 'diffusion':
        options.update(train_steps=20, sample_steps=4)
    return make_policy(kind, SPEC, options).eval()


@pytest.mark.parametrize('kind', ['mse', 'gmm', 'ar', 'diffusion'])
def test_torch_call_matches_the_runtime(kind: str, tmp_path: Path) -> None:
    """The timed torch closure returns what ONNX Runtime returns (act, or a zero-noise chunk)."""
    policy = _policy(kind)
    runtime = OnnxPolicy(export_policy(policy, tmp_path / 'm.onnx'))
    with torch.no_grad():
        got = _torch_call(policy, STATE, TASK_VECTOR)()
    if runtime.chunked:
        zero = np.zeros((policy.horizon, len(JOINTS)))
        ref = runtime.predict_chunk(STATE, TASK_VECTOR, noise=zero)
        got = got.numpy()[0]
    else:
        ref = runtime.act(STATE, TASK_VECTOR)
    np.testing.assert_allclose(got, ref, atol=1e-4, rtol=0)


def test_measure_diffusion_exports(tmp_path: Path) -> None:
    """Both variants are exported and timed; the faster one is named."""
    result = measure_diffusion_exports(_policy('diffusion'), tmp_path, calls=5)
    for variant in ('sampler', 'denoiser'):
        assert Path(result[variant]['path']).is_file()
        assert 0 < result[variant]['p50_ms'] <= result[variant]['p99_ms']
    assert result['best_variant'] in ('sampler', 'denoiser')
    assert result['sample_steps'] == 4
    with pytest.raises(ConfigError):
        measure_diffusion_exports(_policy('mse'), tmp_path, calls=5)
