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
Evaluate an ONNX policy in the simulated arm, directly (no DDS).

The policy runs through the same runtime the robot uses (ONNX Runtime) and
the same safety layer as the intervention gate (commands clamped to the joint
limits, non-finite commands replaced by a hold); episodes come from a fixed
seed, so every policy sees the same tasks.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Optional

import numpy as np
from tqdm import tqdm

from ..gate.limits import safe_command
from ..runtime.onnx_policy import OnnxPolicy
from ..sim.arm import ArmConfig, ArmSim, end_effector, Task
from ..sim.render import render, View
from ..sim.rollout import passing_side, rollout


@dataclass(frozen=True)
class EvalResult:
    """Outcome of an evaluation run."""

    episodes: int
    """Episodes run."""
    successes: int
    """Episodes that reached the goal."""
    reasons: dict
    """Count per end reason (success, collision, joint_limit, timeout)."""
    above: int
    """Episodes whose end effector passed the obstacle above."""
    below: int
    """Episodes that passed below."""
    paths: list = field(default_factory=list)
    """End effector paths relative to the obstacle centre, each (T + 1, 2) m, with success."""

    @property
    def success_rate(self) -> float:
        """Return the fraction of successful episodes."""
        return self.successes / max(1, self.episodes)


def evaluate_policy(policy: OnnxPolicy, *, episodes: int = 100, seed: int = 10_000,
                    config: Optional[ArmConfig] = None, keep_paths: int = 0,
                    progress: bool = False, desc: str = 'evaluate') -> EvalResult:
    """
    Run ``episodes`` episodes of ``policy`` and count outcomes and passing sides.

    :param seed: seed of the evaluation tasks (the same for every policy).
    :param keep_paths: keep this many end effector paths for plots.
    """
    cfg = config or ArmConfig()
    sim = ArmSim(cfg, seed=seed)
    view = View(size=policy.image_shape[0]) if policy.needs_image else None

    def controller(q: np.ndarray, task: Task) -> np.ndarray:
        image = render(cfg, task, q, view) if view is not None else None
        # The same safety layer as the intervention gate: finite and inside the limits.
        command, _ = safe_command(policy.act(q, task.vector(), image), q, cfg.lower, cfg.upper)
        return command

    reasons: Counter = Counter()
    above = below = 0
    paths = []
    bar = None
    if progress:
        bar = tqdm(total=episodes, desc=desc, unit='ep', leave=False)
    for i in range(episodes):
        policy.reset()
        trajectory = rollout(sim, controller)
        reasons[trajectory.reason] += 1
        side = passing_side(cfg, trajectory)
        above += side > 0
        below += side < 0
        if i < keep_paths:
            ee = end_effector(cfg, trajectory.positions) - trajectory.task.obstacle
            paths.append((ee, trajectory.success))
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    return EvalResult(episodes=episodes, successes=reasons['success'], reasons=dict(reasons),
                      above=above, below=below, paths=paths)
