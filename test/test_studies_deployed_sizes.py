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
"""The deployed sizes: the models are the sizes named, and the table says what did not run."""

from __future__ import annotations

from imitation_ros.studies.deployed_sizes import build, format_sizes, SIZES


def test_diffusion_sizes_have_the_parameters_they_are_named_for() -> None:
    """About 4.5 M and 20 M parameters; the image models take frames of their side."""
    assert 4.0e6 <= build('diffusion_4.5m').parameter_count() <= 5.0e6
    assert 18e6 <= build('diffusion_20m').parameter_count() <= 23e6
    for name, (_, encoder, side, _, _) in SIZES.items():
        if encoder:
            assert build(name).spec.image_shape == (side, side, 3)


def test_table_says_no_gpu_and_marks_providers_not_run() -> None:
    """Skipped providers read 'not run'; the line under the table says there is no GPU."""
    stats = {'p50_ms': 2.0, 'p99_ms': 3.0, 'providers': ['CPUExecutionProvider']}
    result = {'calls': 10, 'load_avg': [1.0, 1.0, 1.0],
              'gpu': {'torch_cuda': False, 'gpu': '', 'nvidia_device': False,
                      'ort_providers': ['CPUExecutionProvider']},
              'rows': [{'size': 'cnn_96', 'what': 'mse + small cnn', 'kind': 'mse',
                        'parameters': 10, 'model_bytes': 1000, 'sample_steps': 0,
                        'ort': {'cpu': stats, 'cuda': {'skipped': 'not in this build'}},
                        'torch': {'cpu': {'p50_ms': 4.0, 'p99_ms': 5.0},
                                  'cuda': {'skipped': 'no device'}}}]}
    table = format_sizes(result)
    assert '| 2.00 / 3.00 | 4.00 / 5.00 | 2.0x | not run | not run | not run |' in table
    assert 'No GPU on this machine' in table
