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

"""Evaluation in the sim and the studies behind docs/results.md (commands, not tests)."""

__all__ = ['bench_nodes', 'control_loop', 'dagger', 'data_loading', 'evaluate', 'expressivity',
           'expressivity_panda', 'help_requests', 'help_threshold', 'kinematics_timing', 'latency',
           'parallel', 'recorder_throughput', 'report', 'rl', 'scale', 'timing', 'vision_latency']
