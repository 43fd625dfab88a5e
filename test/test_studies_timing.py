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


"""Latency helpers: percentiles of a callable, and a policy timed in a fresh torch-free process."""

import os
from pathlib import Path

import numpy as np
import pytest
import torch

from imitation_ros.errors import ConfigError, ModelError
from imitation_ros.policies.base import Normalizer, PolicySpec
from imitation_ros.policies.registry import make_policy
from imitation_ros.studies.timing import measure, measure_policy_process
from imitation_ros.training.export import export_policy

JOINTS = ('joint1', 'joint2', 'joint3')
TASK = ('goal_x', 'goal_y', 'obstacle_x', 'obstacle_y', 'obstacle_r')


@pytest.fixture(scope='module')
def models(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Export a small untrained mse and diffusion (sampler) model."""
    out = tmp_path_factory.mktemp('timing')
    spec = PolicySpec(JOINTS, TASK, Normalizer((0.0,) * 8, (1.0,) * 8),
                      Normalizer((0.0,) * 3, (0.1,) * 3))
    result = {}
    for name, kind in (('mse', 'mse'), ('sampler', 'diffusion')):
        torch.manual_seed(0)
        policy = make_policy(kind, spec, {'hidden': (32, 32)}).eval()
        result[name] = export_policy(policy, out / f'{name}.onnx',
                                     metadata_extra={'version': f'{name}-1'})
    return result


def test_latency_measure() -> None:
    """The latency helper calls warmup + calls times and reports ordered percentiles."""
    count = []
    stats = measure(lambda: count.append(1), calls=40, warmup=5)
    assert len(count) == 45 and stats['calls'] == 40
    assert 0 <= stats['p50_ms'] <= stats['p99_ms'] <= stats['max_ms']
    with pytest.raises(ConfigError):
        measure(lambda: None, calls=0)


@pytest.mark.parametrize('name', ['mse', 'sampler'])
def test_latency_in_a_fresh_process(models: dict, name: str, tmp_path: Path) -> None:
    """A policy is timed in a process without torch; a bad file is a ModelError."""
    path = models[name]
    state, task = np.zeros((1, 3)), np.array([[0.5, 0.0, 0.3, 0.0, 0.1]])
    cpu = min(os.sched_getaffinity(0))
    stats = measure_policy_process(str(path), state[0], task[0], calls=30, warmup=3, cpu=cpu)
    assert stats['calls'] == 30 and stats['torch_imported'] is False
    assert 0 < stats['p50_ms'] <= stats['p99_ms'] <= stats['max_ms']
    bad = tmp_path / 'bad.onnx'
    bad.write_bytes(b'not onnx')
    with pytest.raises(ModelError, match='fresh process failed'):
        measure_policy_process(str(bad), state[0], task[0], calls=3, warmup=0)
    with pytest.raises(ConfigError, match='cannot pin'):
        measure_policy_process(str(path), state[0], task[0], cpu=10_000)
