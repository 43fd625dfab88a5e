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
Asking for help, measured: the same policy and seeds with and without help requests.

Offline (no ROS): every rollout is the closed loop of :mod:`imitation_ros.dagger.loop`
(sim, gate arbitration and clamp, the simulated operator behind ``sim_human``).

1. **Policy.** ``train_episodes`` multi-demonstrator demonstrations, one policy
   (``mse`` by default: on multi-demonstrator data it averages the two ways
   around the obstacle and drives at it, so there are failures to catch),
   trained with its doubt ensemble (the ``doubt`` output).
2. **Calibration** on separate tasks: ``calib_episodes`` HG-DAgger episodes
   (policy drives, operator takes over on trouble, no help requests) written as
   hg_dagger bags, then :func:`~imitation_ros.studies.help_threshold.calibrate_help` on
   them for ``false_alarm_rate`` (what ``imitation-ros calibrate-help`` does).
3. **Evaluation** on ``eval_episodes`` other tasks, the same tasks and per-episode
   noise seeds and the same operator seed for every condition:

   * ``policy alone``: no operator (how often the policy fails on its own);
   * ``without help requests``: the operator reacts only to what it sees;
   * ``with help requests``: doubt above the threshold holds the arm and asks
     the operator, who takes over after its reaction delay.

Measures per condition: failures (collision, joint limit, timeout) and
collisions per 100 episodes, takeovers per episode, fraction of time under
human control; with help requests also help requests and false alarms per
episode.

**False alarm** (counterfactual, per help request): at the state where a help
request starts, the policy alone is rolled out from there (same task, no
actuation noise, a fresh operator watching with the original episode's expert
paths, no help requests) for ``false_alarm_window_s``; the request was needed
when within that window the operator would have taken over or the episode would
have failed; otherwise it is a false alarm: the policy alone would not have
needed help there.

Writes ``table.md``, ``help.png``, ``results.json`` and the calibration's
``intervention_gate.yaml`` (a copy of ``config/intervention_gate.yaml`` with
``help_threshold`` set) into the output folder.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
import json
from pathlib import Path
import shutil
import time
from typing import Optional, Sequence

import numpy as np
import torch

from ..collect import collect
from ..dagger.loop import Episode, gate_config, run_episodes, sample_tasks
from ..data import EpisodeRecord, write_episode
from ..gate.limits import safe_command
from ..policies.base import TrainConfig
from ..runtime.onnx_policy import OnnxPolicy
from ..sim.arm import ArmConfig, ArmSim, Task
from ..sim.operator import SimulatedOperator
from ..training.pipeline import train_from_bags, TrainRequest
from .help_threshold import calibrate_help, HelpCalibration, write_help_threshold

ROOT = Path(__file__).resolve().parents[2]
CONDITIONS = ('policy alone', 'without help requests', 'with help requests')


@dataclass(frozen=True)
class HelpStudyConfig:
    """Settings of the help study."""

    kind: str = 'mse'
    """Policy kind."""
    expert: str = 'multi'
    """Demonstrator of the training data."""
    train_episodes: int = 50
    """Demonstrations the policy is trained on."""
    steps: int = 2000
    """Gradient steps."""
    calib_episodes: int = 100
    """HG-DAgger episodes (separate tasks) the threshold is calibrated on."""
    eval_episodes: int = 200
    """Episodes per condition."""
    false_alarm_rate: float = 0.05
    """Target fraction of autonomous states above the threshold."""
    false_alarm_window_s: float = 2.0
    """Counterfactual look-ahead that decides whether a help request was needed (s)."""
    actuation_noise: float = 0.01
    """Std of joint motion noise per step (rad), so the policy drifts as on a robot."""
    seed: int = 0
    """Seed of the demonstrations, training, tasks, noise and operator."""


@dataclass(frozen=True)
class ConditionResult:
    """What one condition measured."""

    condition: str
    episodes: int
    successes: int
    failures: int
    collisions: int
    takeovers: int
    human_fraction: float
    help_requests: int = 0
    false_alarms: int = 0
    reasons: Optional[dict] = None

    def per_100(self, count: int) -> float:
        """Return ``count`` per 100 episodes."""
        return 100.0 * count / max(1, self.episodes)

    def per_episode(self, count: int) -> float:
        """Return ``count`` per episode."""
        return count / max(1, self.episodes)


def _summarize(condition: str, episodes: Sequence[Episode], false_alarms: int = 0
               ) -> ConditionResult:
    reasons: dict = {}
    for ep in episodes:
        reasons[ep.reason] = reasons.get(ep.reason, 0) + 1
    return ConditionResult(
        condition=condition, episodes=len(episodes),
        successes=sum(ep.success for ep in episodes),
        failures=sum(not ep.success for ep in episodes),
        collisions=sum(ep.reason == 'collision' for ep in episodes),
        takeovers=sum(ep.takeovers for ep in episodes),
        human_fraction=float(np.mean([ep.human_fraction for ep in episodes])),
        help_requests=sum(ep.help_requests for ep in episodes), false_alarms=false_alarms,
        reasons=reasons)


def help_needed(policy: OnnxPolicy, config: ArmConfig, task: Task, q: np.ndarray, *,
                window_s: float, operator_seed: int = 0) -> bool:
    """
    Return whether the policy alone, from ``q``, would have needed help within ``window_s``.

    Needed: the operator (watching the original task's expert paths, no help
    requests) takes over, or the episode fails, within the window. No actuation
    noise, so the answer is about the policy, not about luck.
    """
    cfg = replace(config, actuation_noise=0.0, action_delay=0)
    sim = ArmSim(cfg, seed=0)
    sim.reset(task=replace(task, start=np.asarray(q, dtype=np.float64).copy()))
    operator = SimulatedOperator(cfg, seed=operator_seed)
    operator.start_episode(task)
    policy.reset()
    steps = int(round(window_s / cfg.dt))
    max_step = gate_config(cfg).max_joint_step
    try:
        for step in range(steps):
            now = step * cfg.dt
            qs = sim.q.copy()
            operator.step(qs, now)
            if operator.engaged:
                return True
            command, _ = safe_command(policy.act(qs, task.vector()), qs, cfg.lower, cfg.upper,
                                      max_step=max_step)
            sim.step(command)
            if sim.done:
                return not sim.success
    finally:
        operator.end_episode()
        policy.reset()
    return False


def count_false_alarms(policy: OnnxPolicy, config: ArmConfig, episodes: Sequence[Episode], *,
                       window_s: float, operator_seed: int = 0) -> tuple[int, list[bool]]:
    """Return the false alarms among the help requests of ``episodes`` and each verdict."""
    verdicts: list[bool] = []
    for ep in episodes:
        h = ep.help
        starts = [t for t in range(len(h)) if h[t] and (t == 0 or not h[t - 1])]
        for t in starts:
            verdicts.append(not help_needed(policy, config, ep.task, ep.states[t],
                                            window_s=window_s, operator_seed=operator_seed))
    return int(sum(verdicts)), verdicts


def write_calibration_bags(episodes: Sequence[Episode], config: ArmConfig, out: Path, *,
                           policy_version: str) -> Path:
    """Write closed-loop episodes as hg_dagger bags (what the recorder would have written)."""
    out.mkdir(parents=True, exist_ok=True)
    t0 = 1_767_225_600_000_000_000
    for i, ep in enumerate(episodes):
        positions = np.vstack([ep.states, ep.final_state[None]])
        record = EpisodeRecord(
            joint_names=tuple(config.joint_names), t0_ns=t0, dt=config.dt,
            positions=positions, velocities=np.full_like(positions, np.nan),
            task=ep.task.vector(), actions=ep.actions, intervention=ep.human, episode=i,
            success=ep.success, reason=ep.reason, source='hg_dagger',
            policy_version=policy_version)
        write_episode(record, out / f'ep_{i:05d}')
        t0 += int((ep.steps + 20) * config.dt * 1e9)
    return out


def run_help_study(out: Path, config: HelpStudyConfig = HelpStudyConfig(), *,
                   progress: bool = True) -> dict:
    """Run the study (module docstring); write the table, plot and JSON; return the results."""
    torch.set_num_threads(1)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    arm = replace(ArmConfig(), actuation_noise=config.actuation_noise)
    session = out / 'data' / f'{config.expert}_seed{config.seed}'
    if not (session.exists() and any(session.iterdir())):
        collect(config.expert, config.train_episodes, out / 'data', seed=config.seed,
                camera_every=0, progress=progress)
    model_path = out / 'models' / f'{config.kind}.onnx'
    train_from_bags(TrainRequest(
        data=(session,), kind=config.kind, out=model_path,
        config=TrainConfig(steps=config.steps, val_fraction=0.0), seed=config.seed,
        version=f'help-{config.kind}-s{config.seed}', progress=progress))
    policy = OnnxPolicy(model_path, seed=config.seed)

    def doubt(q: np.ndarray, task: Task) -> float:
        return float(policy.doubt_batch(q[None], task.vector()[None])[0])

    # Calibration on separate tasks: HG-DAgger episodes written as bags, then calibrate-help.
    calib_tasks = sample_tasks(arm, config.calib_episodes, seed=config.seed + 1000)
    calib_eps = run_episodes(arm, calib_tasks, seed=config.seed + 1000, policy=policy,
                             operator=SimulatedOperator(arm, seed=config.seed + 1000),
                             progress=progress, desc='calibration episodes')
    calib_dir = out / 'data' / 'calibration_hg_dagger'  # ignored by git, like the demos
    if calib_dir.exists():
        shutil.rmtree(calib_dir)
    write_calibration_bags(calib_eps, arm, calib_dir, policy_version=policy.version)
    calibration = calibrate_help(policy, [calib_dir],
                                 false_alarm_rate=config.false_alarm_rate)
    gate_yaml = out / 'intervention_gate.yaml'
    shutil.copyfile(ROOT / 'config' / 'intervention_gate.yaml', gate_yaml)
    write_help_threshold(gate_yaml, calibration.threshold)

    tasks = sample_tasks(arm, config.eval_episodes, seed=config.seed + 2000)
    seed = config.seed + 2000
    alone = run_episodes(arm, tasks, seed=seed, policy=policy, progress=progress,
                         desc='policy alone')
    without = run_episodes(arm, tasks, seed=seed, policy=policy,
                           operator=SimulatedOperator(arm, seed=seed), progress=progress,
                           desc='without help requests')
    with_help = run_episodes(arm, tasks, seed=seed, policy=policy,
                             operator=SimulatedOperator(arm, seed=seed), doubt=doubt,
                             help_threshold=calibration.threshold, progress=progress,
                             desc='with help requests')
    false_alarms, _ = count_false_alarms(policy, arm, with_help,
                                         window_s=config.false_alarm_window_s, operator_seed=seed)
    rows = [_summarize(CONDITIONS[0], alone), _summarize(CONDITIONS[1], without),
            _summarize(CONDITIONS[2], with_help, false_alarms)]
    results = {'config': asdict(config), 'calibration': calibration.as_dict(),
               'conditions': [asdict(r) for r in rows], 'model': str(model_path),
               'calibration_episodes': _summarize('calibration', calib_eps).__dict__,
               'seconds': time.perf_counter() - start}
    (out / 'results.json').write_text(json.dumps(results, indent=1, default=str))
    write_table(rows, calibration, config, out / 'table.md')
    plot_help(rows, out / 'help.png')
    return results


def write_table(rows: Sequence[ConditionResult], calibration: HelpCalibration,
                config: HelpStudyConfig, path: Path) -> Path:
    """Write the markdown table of the conditions and the calibration."""
    lines = [
        f'Policy: {config.kind} on {config.train_episodes} {config.expert}-demonstrator '
        f'episodes, {config.steps} gradient steps, doubt ensemble of 5; actuation noise '
        f'{config.actuation_noise} rad; {rows[0].episodes} evaluation episodes per condition '
        f'(same tasks, noise seeds and operator seed).',
        f'Threshold {calibration.threshold:.4f} calibrated on {config.calib_episodes} separate '
        f'HG-DAgger episodes ({calibration.takeovers} takeovers or failures) for a '
        f'false-alarm rate of {calibration.target_false_alarm_rate:.2f} on autonomous states '
        f'(measured {calibration.false_alarm_rate:.3f}); detection rate on takeover moments '
        f'(<= {calibration.window_s:g} s before a takeover): {calibration.detection_rate:.2f}.',
        '',
        '| condition | success | failures / 100 ep | collisions / 100 ep | takeovers / ep '
        '| human time | help requests / ep | false alarms / ep |',
        '|---|---|---|---|---|---|---|---|',
    ]
    for r in rows:
        helps = (f'{r.per_episode(r.help_requests):.2f}' if r.condition == CONDITIONS[2]
                 else '-')
        false = (f'{r.per_episode(r.false_alarms):.2f}' if r.condition == CONDITIONS[2]
                 else '-')
        takeovers = '-' if r.condition == CONDITIONS[0] else f'{r.per_episode(r.takeovers):.2f}'
        human = '-' if r.condition == CONDITIONS[0] else f'{r.human_fraction:.2f}'
        lines.append(f'| {r.condition} | {r.successes / max(1, r.episodes):.2f} | '
                     f'{r.per_100(r.failures):.0f} | {r.per_100(r.collisions):.0f} | '
                     f'{takeovers} | {human} | {helps} | {false} |')
    lines += ['', 'False alarm: a help request from whose state the policy alone (no noise, '
              f'operator watching) would neither have been taken over nor failed within '
              f'{config.false_alarm_window_s:g} s.']
    path.write_text('\n'.join(lines) + '\n')
    return path


def plot_help(rows: Sequence[ConditionResult], path: Path) -> Path:
    """Bar chart: failures and collisions per 100 episodes, takeovers and false alarms per ep."""
    import matplotlib  # heavy, and needed only for the plot
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt  # lazy: matplotlib only when plotting
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6), dpi=100)
    names = [r.condition for r in rows]
    x = np.arange(len(rows))
    axes[0].bar(x - 0.2, [r.per_100(r.failures) for r in rows], 0.4, label='failures')
    axes[0].bar(x + 0.2, [r.per_100(r.collisions) for r in rows], 0.4, label='collisions')
    axes[0].set_ylabel('per 100 episodes')
    axes[1].bar(x - 0.27, [r.per_episode(r.takeovers) for r in rows], 0.27, label='takeovers')
    axes[1].bar(x, [r.per_episode(r.help_requests) for r in rows], 0.27,
                label='help requests')
    axes[1].bar(x + 0.27, [r.per_episode(r.false_alarms) for r in rows], 0.27,
                label='false alarms')
    axes[1].set_ylabel('per episode')
    for ax in axes:
        ax.set_xticks(x, names, fontsize=8)
        ax.grid(alpha=0.3, axis='y')
        ax.legend(fontsize=8)
    fig.suptitle('Asking for help: the same policy, tasks and seeds')
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
