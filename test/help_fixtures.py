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

"""A recorded set with takeovers: hg_dagger bags of the closed loop with the simulated operator."""

from __future__ import annotations

from pathlib import Path

from imitation_ros.dagger.loop import run_episodes, sample_tasks
from imitation_ros.sim.arm import ArmConfig, end_effector, jacobian, Task
from imitation_ros.sim.experts import make_expert
from imitation_ros.sim.operator import SimulatedOperator
from imitation_ros.studies.help_requests import write_calibration_bags
import numpy as np

ARM = ArmConfig()


def straight(q: np.ndarray, task: Task) -> np.ndarray:
    """Drive the end effector straight at the goal, blind to the obstacle."""
    d = task.goal - end_effector(ARM, q)
    dist = float(np.linalg.norm(d))
    v = d / max(dist, 1e-9) * min(0.6, dist / ARM.dt)
    return q + np.linalg.pinv(jacobian(ARM, q)) @ v * ARM.dt


def record_mixed(out: Path, pairs: int = 30, seed: int = 11) -> Path:
    """
    Record ``2 * pairs`` hg_dagger episodes through the closed loop; return their folder.

    Alternately driven by the scripted expert (it passes the obstacle) and by
    :func:`straight` (the operator takes over before the obstacle); the bags the
    recorder writes.
    """
    expert = make_expert('multi', ARM, np.random.default_rng(seed))
    safe = run_episodes(ARM, sample_tasks(ARM, pairs, seed=seed), seed=seed,
                        policy=lambda q, task: expert.action(q, task),
                        operator=SimulatedOperator(ARM, seed=seed))
    risky = run_episodes(ARM, sample_tasks(ARM, pairs, seed=seed + 1), seed=seed + 1,
                         policy=straight, operator=SimulatedOperator(ARM, seed=seed + 1))
    episodes = [ep for pair in zip(safe, risky) for ep in pair]
    return write_calibration_bags(episodes, ARM, out, policy_version='scripted')
