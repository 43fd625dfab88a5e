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
HG-DAgger and DAgger rounds on the Panda's pick-and-place task, in plain Python (no ROS).

Collect ``demos`` multi-demonstrator pick episodes, train ``v001``; then each round
runs ``episodes`` episodes in the MuJoCo sim with the current model through ONNX
Runtime (its arm command through the gate's clamp, its finger gap snapped open or
closed, as :func:`~imitation_ros.studies.expressivity_panda.evaluate_panda` runs it)
and writes them as episode bags: ``hg_dagger``, the simulated pick operator
(:class:`~imitation_ros.sim.panda.pick_operator.PandaPickOperator`) takes over when
it sees trouble and its actions are the corrections; ``dagger``, each step executes
the pick expert's action (:class:`~imitation_ros.dagger.panda_expert.PandaPickExpert`,
``nearest``) with probability beta_i = p^(i+1) and the expert labels every visited
state. After each round the next version fine-tunes the previous one on the
demonstrations plus every round's bags (the trainer's selection,
:func:`~imitation_ros.data.aggregate.aggregate`); at the end each version runs
``eval_episodes`` tasks alone. Over ROS the pick task has no loop yet: the policy
node's action has no gripper command and no topic carries the cube's pose.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
import time
from typing import Callable, Optional

import numpy as np

from ..collect.panda import collect_panda, EPOCH_NS, GAP_STEPS, panda_record
from ..dagger.panda_expert import PandaPickExpert
from ..data import write_episode
from ..errors import ConfigError
from ..gate.limits import safe_command
from ..runtime.onnx_policy import OnnxPolicy
from ..sim.panda.model import GRIPPER_MAX_WIDTH, JOINT_LOWER, JOINT_UPPER, PandaConfig
from ..sim.panda.observe import PandaObservation
from ..sim.panda.pick_operator import PandaPickOperator
from ..sim.panda.rollout import rollout
from ..sim.panda.sim import PandaSim
from ..sim.panda.tasks import PandaTask
from .expressivity_panda import evaluate_panda

#: The loops this study runs.
MODES = ('hg_dagger', 'dagger')
#: Seeds: demonstrations, round episodes (round r, episode i: ROUND_SEED + 1000 r + i), and
#: the tasks each version runs alone (the same for every version).
DEMO_SEED, ROUND_SEED, EVAL_SEED = 7, 20_000, 30_000


@dataclass(frozen=True)
class PickRound:
    """One round on the pick task."""

    round: int
    version: str
    episodes: int
    success: float
    """Fraction of the round's episodes that put the cube on the target (help included)."""
    autonomous_success: float
    """Fraction that did with nobody else's action executed (no takeover, no expert step)."""
    takeovers_per_episode: float
    helped_fraction: float
    """Fraction of executed actions that came from the operator (hg_dagger) or expert."""
    labelled: int
    """New labelled samples: the operator's actions, or expert labels of every state."""
    beta: float = 0.0
    alone: Optional[float] = None
    """Success of this round's model alone over the evaluation tasks; None if not run."""


def policy_command(policy: OnnxPolicy, obs: PandaObservation, task: PandaTask) -> np.ndarray:
    """Return the policy's action (8,): arm through the gate's clamp, the gap open or closed."""
    joints = obs.joints()
    action = policy.act(joints, task.vector())
    arm, _ = safe_command(action[:7], joints[:7], JOINT_LOWER, JOINT_UPPER)
    gap = GRIPPER_MAX_WIDTH if (np.isfinite(action[7])
                                and action[7] > GRIPPER_MAX_WIDTH / 2) else 0.0
    return np.concatenate([arm, [gap]])


def run_pick_episode(sim: PandaSim, policy: OnnxPolicy, *, seed: int,
                     operator: Optional[PandaPickOperator] = None,
                     expert: Optional[PandaPickExpert] = None, beta: float = 0.0,
                     rng: Optional[np.random.Generator] = None) -> tuple:
    """
    Run one pick episode of ``policy`` with the operator watching or the expert mixing in.

    :returns: (trajectory, helped (T,) bool: the operator's or expert's action executed,
        labels (T, 8) the expert's action at each state or NaN, policy actions (T, 8)).
    """
    rng = rng if rng is not None else np.random.default_rng(seed)
    helped: list[bool] = []
    labels: list[np.ndarray] = []
    proposed: list[np.ndarray] = []
    policy.reset()
    step = [0]

    def controller(obs: PandaObservation, task: PandaTask) -> np.ndarray:
        if step[0] == 0:
            if operator is not None:
                operator.start_episode(task)
            if expert is not None:
                expert.reset(task)
        own = policy_command(policy, obs, task)
        label = expert.action(obs, task) if expert is not None else np.full(8, np.nan)
        taken = operator.step(obs, step[0] * sim.config.dt) if operator is not None else None
        if taken is None and expert is not None and beta > 0 and rng.random() < beta:
            taken = label
        if operator is not None and taken is not None:
            label = taken  # HG-DAgger: the operator's action is the label of its states
        helped.append(taken is not None)
        labels.append(label)
        proposed.append(own)
        step[0] += 1
        return own if taken is None else np.asarray(taken, dtype=np.float64)

    trajectory = rollout(sim, controller, seed=seed)
    if operator is not None:
        operator.end_episode()
    return (trajectory, np.array(helped, dtype=bool), np.array(labels).reshape(-1, 8),
            np.array(proposed).reshape(-1, 8))


def _train(data: Path, out: Path, version: str, kind: str, steps: int, seed: int,
           init: Optional[Path]) -> Path:
    from ..policies.base import TrainConfig  # lazy: torch only when training
    from ..training.checkpoint import checkpoint_path  # lazy: torch only when training
    from ..training.pipeline import train_from_bags, TrainRequest  # lazy: torch only when training
    res = train_from_bags(TrainRequest(
        data=(data,), kind=kind, out=out, features='raw', seed=seed, version=version,
        config=TrainConfig(steps=steps, batch_size=256, val_fraction=0.0, doubt_ensemble=0),
        progress=False, init_from=checkpoint_path(init) if init is not None else None))
    return res.model


def run_pick_rounds(out: Path, *, mode: str = 'hg_dagger', rounds: int = 3,
                    episodes: int = 10, demos: int = 20, kind: str = 'ar',
                    train_steps: int = 3000, warm_steps: int = 500, beta_p: float = 0.5,
                    eval_episodes: int = 50, seed: int = 0,
                    log: Callable[[str], None] = print) -> list[PickRound]:
    """
    Run the rounds (module docstring) under ``out`` (``data/``, ``models/``); return them.

    :raises ConfigError: an unknown mode, or a count that is not positive.
    """
    if mode not in MODES:
        raise ConfigError(f'unknown mode {mode!r}; use one of {", ".join(MODES)}')
    if min(episodes, demos, train_steps, warm_steps) < 1 or rounds < 0 or eval_episodes < 0:
        raise ConfigError('episodes, demos, train_steps and warm_steps must be >= 1, rounds and '
                          'eval_episodes >= 0')
    out = Path(out)
    data, models = out / 'data', out / 'models'
    start = time.perf_counter()
    summary = collect_panda('pick', 'multi', demos, data, seed=DEMO_SEED + seed, session='demos',
                            camera_every=0, progress=False)
    log(f'{summary.episodes} pick demonstrations ({summary.successes} successful, modes '
        f'{summary.modes}, {summary.samples} samples)')
    model = _train(data, models / 'policy_v001.onnx', 'v001', kind, train_steps, seed, None)
    log(f'trained v001 ({kind}, {train_steps} steps)')
    config = PandaConfig(camera=False)
    sim = PandaSim(config, task_kind='pick')
    out_rounds: list[PickRound] = []
    version, trained = 'v001', 1
    try:
        for r in range(rounds + 1):
            policy = OnnxPolicy(model, seed=seed, threads=1)
            beta = beta_p ** (r + 1) if mode == 'dagger' else 0.0
            operator = PandaPickOperator(config=config) if mode == 'hg_dagger' else None
            expert = PandaPickExpert('nearest', seed=seed, config=config) \
                if mode == 'dagger' else None
            session = data / f'round_{r}'
            t0_ns = EPOCH_NS + (r + 1) * 10**13
            wins = alone = takeovers = helped = steps = labelled = 0
            for i in range(episodes):
                traj, help_mask, labels, proposed = run_pick_episode(
                    sim, policy, seed=ROUND_SEED + 1000 * r + i, operator=operator,
                    expert=expert, beta=beta, rng=np.random.default_rng([seed, r, i]))
                record = panda_record(traj, config=config, episode=i, t0_ns=t0_ns, source=mode,
                                      extra={'mode_loop': mode, 'round': r})
                record = replace(record, intervention=help_mask if mode == 'hg_dagger'
                                 else np.zeros(traj.steps, dtype=bool),
                                 expert_actions=labels if mode == 'dagger' else None,
                                 policy_actions=proposed, policy_version=version)
                write_episode(record, session / f'ep_{i:05d}')
                t0_ns += int((traj.steps + GAP_STEPS) * config.dt * 1e9)
                wins += int(traj.success)
                alone += int(traj.success and not help_mask.any())
                takeovers += operator.takeovers if operator is not None else 0
                helped += int(help_mask.sum())
                steps += traj.steps
                labelled += int(help_mask.sum()) if mode == 'hg_dagger' else traj.steps
            row = PickRound(r, version, episodes, wins / episodes, alone / episodes,
                            takeovers / episodes, helped / max(1, steps), labelled, beta)
            out_rounds.append(row)
            log(f'round {r}: {version} success {row.success:.2f} (without help '
                f'{row.autonomous_success:.2f}) takeovers/episode '
                f'{row.takeovers_per_episode:.2f} helped {row.helped_fraction:.2f} beta '
                f'{beta:.3f} new labels {labelled}')
            if r == rounds:
                break
            if labelled == 0:
                log(f'  no new labels in round {r}: keeping {version}')
                continue
            trained += 1
            version = f'v{trained:03d}'
            model = _train(data, models / f'policy_{version}.onnx', version, kind, warm_steps,
                           seed + trained, model)
            log(f'  trained {version} (warm start, {warm_steps} steps)')
    finally:
        sim.close()
    if eval_episodes:
        seen: dict = {}
        for i, row in enumerate(out_rounds):
            if row.version not in seen:
                path = models / f'policy_{row.version}.onnx'
                seen[row.version] = evaluate_panda(OnnxPolicy(path, seed=seed, threads=1),
                                                   'pick', episodes=eval_episodes,
                                                   seed=EVAL_SEED)
                res = seen[row.version]
                log(f'  {row.version} alone: success {res.success_rate:.2f} '
                    f'{dict(sorted(res.reasons.items()))}')
            out_rounds[i] = replace(row, alone=seen[row.version].success_rate)
    log(f'{mode} on pick: {(time.perf_counter() - start) / 60:.1f} min')
    return out_rounds


def format_pick_rounds(rounds: list[PickRound], mode: str) -> str:
    """Return the rounds as a markdown table."""
    helped = 'operator' if mode == 'hg_dagger' else 'expert'
    lines = [f'| round | model | episodes | beta | success (with help) | success without help | '
             f'takeovers / episode | {helped} actions | new labels | model alone |',
             '|---|---|---|---|---|---|---|---|---|---|']
    for r in rounds:
        alone = '' if r.alone is None else f'{r.alone:.2f}'
        lines.append(f'| {r.round} | {r.version} | {r.episodes} | {r.beta:.3f} | '
                     f'{r.success:.2f} | {r.autonomous_success:.2f} | '
                     f'{r.takeovers_per_episode:.2f} | {r.helped_fraction:.2f} | {r.labelled} | '
                     f'{alone} |')
    return '\n'.join(lines)
