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
What ``imitation-ros demo --robot panda`` changes in the demo: the MuJoCo Panda's reach task.

The demonstrations come from the Panda's reach demonstrators, written as the
recorder writes the live episodes (the seven arm joints and their targets,
:func:`~imitation_ros.collect.panda.collect_panda` with ``arm_only``), so the
first demonstrations and every takeover train one model; the nodes get the
Panda's parameters, those of the launch files' ``robot:=panda``
(:func:`panda_overrides`): ``sim_arm`` and ``sim_human`` with
``robot: panda``, the policy, recorder and trainer on the seven arm joints with
raw features, the gate reading the operator's sticks in the Panda's cartesian
mapping (its chain from the URDF that ``sim_arm`` latches), the DAgger expert
labelling the Panda. The models alone run in the MuJoCo sim without ROS
(:func:`evaluate_panda_versions`). The demo's expert names keep the planar
arm's: ``above`` passes the pole on its +y side (left), ``below`` on its -y side.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any, Callable

from ..runtime.onnx_policy import OnnxPolicy
from ..studies.expressivity_panda import evaluate_panda
from .graph import robot_parameters, sim_teleop

#: The demo's --expert -> the Panda reach demonstrator of the first demonstrations.
PANDA_DEMONSTRATORS = {'above': 'left', 'below': 'right', 'multi': 'multi'}
#: First seed of the tasks each version runs alone (the same for every version).
EVAL_SEED = 10_000


def collect_panda_demos(expert: str, demos: int, data_dir: Path, *, seed: int) -> Any:
    """
    Write ``demos`` reach demonstrations of ``expert`` under ``data_dir/demos``.

    :returns: the :class:`~imitation_ros.collect.panda.PandaCollectSummary`.
    """
    from ..collect.panda import collect_panda  # lazy: MuJoCo only for the Panda
    return collect_panda('reach', PANDA_DEMONSTRATORS[expert], demos, data_dir, seed=seed,
                         session='demos', camera_every=0, progress=False, arm_only=True)


def panda_overrides(overrides: dict[str, dict[str, Any]], *,
                    side: int) -> dict[str, dict[str, Any]]:
    """
    Return the demo's node overrides with the Panda's parameters added.

    The Panda's parameters are the graph's, as the launch files' ``robot:=panda`` gives
    them: :func:`~imitation_ros.bringup.graph.robot_parameters` and the gate's
    :func:`~imitation_ros.bringup.graph.sim_teleop`.

    :param overrides: the planar demo's overrides (rates, folders, seeds, models).
    :param side: sim_human's ``side`` (+1 left, -1 right, 0 the nearer path).
    """
    out = {name: dict(values) for name, values in overrides.items()}
    out.setdefault('sim_arm', {}).pop('actuation_noise', None)  # MuJoCo's controller has none
    params = robot_parameters('panda')
    if 'expert' not in out:
        del params['expert']  # only where the mode runs one
    for name, values in params.items():
        out.setdefault(name, {}).update(values)
    out['intervention_gate'].update(sim_teleop('panda'))
    out['sim_human']['side'] = int(side)
    return out


def evaluate_panda_versions(rounds: list, models_dir: Path, episodes: int,
                            log: Callable[[str], None]) -> list:
    """
    Return ``rounds`` with ``autonomous`` set: each round's model alone on the Panda.

    ``episodes`` reach tasks (seeds ``EVAL_SEED + i``, the same for every version) in
    the MuJoCo sim without ROS, the model through ONNX Runtime, its commands through
    the gate's clamp (:func:`~imitation_ros.studies.expressivity_panda.evaluate_panda`).
    """
    out = []
    seen: dict = {}
    for r in rounds:
        if r.version not in seen:
            model = models_dir / f'policy_{r.version}.onnx'
            seen[r.version] = evaluate_panda(OnnxPolicy(model, seed=0, threads=1), 'reach',
                                             episodes=episodes, seed=EVAL_SEED)
            result = seen[r.version]
            log(f'  {r.version} alone: success {result.success_rate:.2f} over {episodes} '
                f'episodes {dict(sorted(result.reasons.items()))} sides '
                f'{dict(sorted(result.modes.items()))}')
        out.append(replace(r, autonomous=seen[r.version].success_rate))
    return out
