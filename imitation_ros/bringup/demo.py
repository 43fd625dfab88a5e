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
The main job: HG-DAgger in simulation, the whole node graph in one process.

1. Collect a few demonstrations (directly in the sim, fast; by default three
   from one demonstrator, with actuation noise so that the first policy's
   errors compound, as in the HG-DAgger paper).
2. Train a first behavioral cloning policy (child process) -> ``v001``.
3. Start the hg_dagger graph composed in one process over real DDS: sim_arm,
   sim_human on the gamepad, policy_node, intervention_gate, recorder, trainer.
4. Round 0 runs ``episodes`` episodes with v001; after each round the trainer
   retrains on demonstrations + every takeover so far (fine-tuning the previous
   version's weights, trainer ``warm_start``), the policy node hot-reloads the
   new version, and the next round runs with it. A round without takeovers
   keeps its model (:func:`needs_retraining`).
5. After the rounds, each version runs ``eval_episodes`` episodes on its own
   (no operator; :func:`evaluate_versions`).

Per round: success without help (the goal reached with no takeover), success
with help, takeovers per episode, fraction of commands from the human, model
version; after step 5 also each model's success alone. At the end: a summary
table and a PNG of those over rounds.

``mode='dagger'`` runs DAgger instead (the dagger graph: no operator, the expert
node labels every visited state): round i runs with the gate's beta set to
beta_i of the ``beta_schedule`` (:class:`~imitation_ros.dagger.beta.BetaSchedule`),
so each control decision executes the expert's action with probability beta_i,
and the trainer retrains on the demonstrations plus every expert-labelled state
so far. Per round: beta, success, fraction of commands executed from the
expert, new labelled samples (:mod:`imitation_ros.bringup.dagger_rounds`).

``robot='panda'`` runs either loop on the MuJoCo Panda's reach task instead of the
planar arm (:mod:`imitation_ros.bringup.panda_demo`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
import time
from typing import Callable, Optional

from ..collect import collect
from ..dagger.beta import BetaSchedule
from ..errors import ConfigError
from ..nodes.monitor import EpisodeStats, SessionMonitor
from ..runtime.onnx_policy import OnnxPolicy
from ..sim.arm import ArmConfig
from ..studies.evaluate import evaluate_policy
from ..training.jobs import checkpoint_path, JobSpec, next_model_path, TrainingJob
from .composed import ComposedGraph
from .dagger_rounds import (count_labels, dagger_overrides, DaggerRoundStats,
                            format_dagger_rounds, plot_dagger_rounds, round_bags, set_gate_beta)
from .panda_demo import collect_panda_demos, evaluate_panda_versions, panda_overrides
from .plots import alone_columns, alone_line, plot_round_panels


@dataclass(frozen=True)
class RoundStats:
    """One round of HG-DAgger."""

    round: int
    version: str
    episodes: int
    success: float
    """Fraction reaching the goal with no takeover."""
    success_with_help: float
    """Fraction reaching the goal, takeovers allowed."""
    takeovers_per_episode: float
    human_fraction: float
    """Fraction of the gate's commands that came from the human."""
    corrections: int
    """Human-controlled commands in this round (new labelled samples)."""
    autonomous: Optional[float] = None
    """Success of this round's model on its own (:func:`evaluate_versions`); None if not run."""

    @staticmethod
    def of(index: int, version: str, stats: list[EpisodeStats]) -> 'RoundStats':
        """Summarize the episodes of one round."""
        n = max(1, len(stats))
        commands = sum(s.commands for s in stats)
        human = sum(s.human_commands for s in stats)
        return RoundStats(index, version, len(stats),
                          sum(s.autonomous_success for s in stats) / n,
                          sum(s.success for s in stats) / n,
                          sum(s.takeovers for s in stats) / n,
                          human / max(1, commands), human)


def evaluate_versions(rounds: list, models_dir: Path, arm: ArmConfig, episodes: int,
                      log: Callable[[str], None]) -> list:
    """
    Return ``rounds`` with ``autonomous`` set: each round's model alone, no operator.

    Live, the simulated operator takes over as soon as the arm leaves its corridor, so
    an episode it takes over counts as a failure of the model even where the model would
    have recovered. This measures each version without anyone watching: ``episodes``
    fixed tasks (the same for every version, seed 10000) with the demo's actuation
    noise, in the plain-Python closed loop (:func:`~imitation_ros.studies.evaluate.
    evaluate_policy`: the sim, the model through ONNX Runtime, the gate's clamp).
    """
    out = []
    seen: dict = {}
    for r in rounds:
        if r.version not in seen:  # a version kept for another round: measured once
            model = models_dir / f'policy_{r.version}.onnx'
            seen[r.version] = evaluate_policy(OnnxPolicy(model, seed=0, threads=1),
                                              episodes=episodes, config=arm)
            result = seen[r.version]
            log(f'  {r.version} alone: success {result.success_rate:.2f} over {episodes} '
                f'episodes {dict(sorted(result.reasons.items()))}')
        out.append(replace(r, autonomous=seen[r.version].success_rate))
    return out


def needs_retraining(round_stats: RoundStats | DaggerRoundStats) -> bool:
    """
    Return whether a finished round brought data to retrain on.

    HG-DAgger aggregates only the human's corrections: a round without a takeover
    leaves the data as it was, and fine-tuning again on the same data only moves the
    model at random (one run: 0.93 alone before, 0.86 after). DAgger labels every
    visited state, so each of its rounds adds data.
    """
    if isinstance(round_stats, RoundStats):
        return round_stats.corrections > 0
    return True


#: What ``run_demo`` runs.
DEMO_MODES = ('hg_dagger', 'dagger')
#: The simulated arms the demo runs on (``sim_arm``'s ``robot``).
DEMO_ROBOTS = ('planar3', 'panda')
#: sim_human's ``side`` for each demonstrator of the first demonstrations (multi: both).
EXPERT_SIDES = {'above': 1, 'below': -1}


def corrector_settings(expert: str) -> tuple[int, str]:
    """
    Return (sim_human ``side``, expert node ``expert``) for demonstrations by ``expert``.

    Whoever corrects the learner does it like the demonstrator: one that passed above
    steers and labels above. Taking whichever side is closer mixed both sides into
    the corrections, and a squared-error policy averages them into the obstacle (one
    HG-DAgger run: 15 of 32 takeovers below, v002 alone 0.22 from 0.37; DAgger with
    the ``nearest`` expert: models alone 0.46, 0.10, 0.48, with ``above`` 0.46, 0.92,
    0.94). With demonstrations from both sides (``multi``) they follow the learner.
    """
    if expert in EXPERT_SIDES:
        return EXPERT_SIDES[expert], expert
    return 0, 'nearest'


def _wait(predicate: Callable[[], object], timeout: float, what: str) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise TimeoutError(f'timed out after {timeout:.0f} s waiting for {what}')


def run_demo(*, data_dir: Path, models_dir: Path, rounds: int = 5, episodes: int = 10,
             demos: int = 3, policy: str = 'mse', train_steps: int = 2000, seed: int = 0,
             out_dir: Optional[Path] = None, log: Callable[[str], None] = print,
             domain_id: Optional[int] = None, mode: str = 'hg_dagger',
             beta_schedule: str = 'dagger', beta_p: Optional[float] = None,
             expert: str = 'above', actuation_noise: float = 0.01,
             eval_episodes: int = 100,
             robot: str = 'planar3') -> list[RoundStats] | list[DaggerRoundStats]:
    """
    Run the HG-DAgger (or DAgger) demo (see the module docstring) and return the rounds.

    :param mode: 'hg_dagger' or 'dagger'.
    :param expert: the demonstrator of the first demonstrations ('above', 'below' or
        'multi', see :func:`imitation_ros.sim.experts.sample_style`); sim_human corrects
        and the DAgger expert labels on that demonstrator's side (:func:`corrector_settings`).
    :param eval_episodes: after the rounds, each version runs this many episodes on its
        own (:func:`evaluate_versions`); 0 skips it.
    :param actuation_noise: std of the noise the arm adds to each joint's motion per
        control period (rad), in the demonstrations and in the loop.
    :param beta_schedule: dagger: the preset of :class:`BetaSchedule` ('dagger',
        'hg_dagger' or 'constant'); ``beta_p`` replaces its default p.
    :param robot: 'planar3' (the planar arm) or 'panda' (the MuJoCo Panda's reach task;
        ``actuation_noise`` is the planar arm's and not used there).
    """
    if mode not in DEMO_MODES:
        raise ConfigError(f'unknown demo mode {mode!r}; use one of {", ".join(DEMO_MODES)}')
    if robot not in DEMO_ROBOTS:
        raise ConfigError(f'unknown robot {robot!r}; use one of {", ".join(DEMO_ROBOTS)}')
    panda = robot == 'panda'
    if eval_episodes < 0:
        raise ConfigError(f'eval_episodes must be >= 0 (0 skips the evaluation), got '
                          f'{eval_episodes}')
    schedule = BetaSchedule.preset(beta_schedule, beta_p) if mode == 'dagger' else None
    stamp = datetime.now(timezone.utc).strftime('%Y%m%d_%H%M%S')
    data_dir = Path(data_dir) / f'demo_{stamp}'
    models_dir = Path(models_dir) / f'demo_{stamp}'
    out_dir = Path(out_dir) if out_dir else models_dir
    start = time.monotonic()
    arm = replace(ArmConfig(), actuation_noise=actuation_noise)
    if panda:
        summary = collect_panda_demos(expert, demos, data_dir, seed=seed)
    else:
        summary = collect(expert, demos, data_dir, seed=seed, session='demos', camera_every=0,
                          config=arm, progress=False)
    log(f'collected {summary.episodes} demonstrations ({summary.samples} samples) '
        f'in {summary.seconds:.1f} s -> {summary.session_dir}')
    first, version = next_model_path(models_dir, 'policy')
    job = TrainingJob(JobSpec(data=(data_dir,), out=first, version=version, policy=policy,
                              steps=train_steps, seed=seed,
                              features='raw' if panda else 'planar-fk'))
    try:
        result = _wait(job.poll, 600, 'the first training')
    except TimeoutError:
        job.cancel()  # do not leave the child training on after giving up
        raise
    if not result.ok:
        raise RuntimeError(f'first training failed: {result.message}')
    log(f'trained {version} ({policy}) in {result.seconds:.1f} s: {result.message}')
    overrides = {
        'sim_arm': {'seed': seed, 'camera_hz': 0.0, 'reset_delay_s': 0.5,
                    'actuation_noise': actuation_noise},
        'sim_human': {'seed': seed, 'side': corrector_settings(expert)[0]},
        # Policy and gate tick faster than the arm reports (50 vs 20 Hz) so that a command
        # computed from a joint state reaches the arm before its next control period.
        'policy': {'model_path': str(first.resolve()), 'rate_hz': 50.0,
                   'model_dirs': str(models_dir)},
        'intervention_gate': {'rate_hz': 50.0, 'teleop_horizon_s': 0.05},
        'recorder': {'data_dir': str(data_dir), 'session': 'hg_dagger',
                     'record_images': False},
        'trainer': {'data_dir': str(data_dir), 'models_dir': str(models_dir),
                    'policy': policy, 'train_steps': train_steps, 'seed': seed + 1,
                    'min_new_samples': 10_000_000,
                    # Every retraining fine-tunes the previous version, starting from v001.
                    'init_checkpoint': str(checkpoint_path(first).resolve())},
    }
    if schedule is not None:
        log(f'DAgger: {schedule.describe()}')
        overrides = dagger_overrides(overrides, beta=schedule.beta(0), seed=seed)
        overrides['expert']['expert'] = corrector_settings(expert)[1]
    if panda:
        overrides = panda_overrides(overrides, side=corrector_settings(expert)[0])
    composed = ComposedGraph(mode, use_sim=True, overrides=overrides)
    composed.start(domain_id=domain_id)
    monitor = composed.add(SessionMonitor(context=composed.context))
    rounds_out: list = []
    try:
        _wait(lambda: monitor.version() == version, 60, f'the policy node to run {version}')
        for index in range(rounds + 1):
            begin = len(monitor.finished())

            def done(count: int) -> bool:
                return len([s for s in monitor.finished()[begin:]
                            if s.version == version]) >= count

            # Pause the arm during the round's last episode: no episode runs while the
            # policy retrains (training then gets the CPU, and every recorded episode
            # belongs to exactly one round and one model version).
            # (Wait for the last one to be running: a pause sent between two episodes would
            # stop the arm before the round's last episode ever starts.)
            _wait(lambda: done(episodes - 1) and monitor.running() == version,
                  episodes * (60 if panda else 30),
                  f'episodes of round {index}')
            paused, message = monitor.pause_episodes(True)
            if not paused:
                raise RuntimeError(f'sim_arm did not accept ~/pause: {message}')
            _wait(lambda: done(episodes), 60, f'the last episode of round {index}')
            stats = [s for s in monitor.finished()[begin:] if s.version == version][:episodes]
            if schedule is not None:
                d = _dagger_round(index, version, schedule.beta(index), stats,
                                  data_dir / 'dagger', log)
                rounds_out.append(d)
                log(d.line())
            else:
                r = RoundStats.of(index, version, stats)
                rounds_out.append(r)
                log(f'round {index}: model {version}  success {r.success:.2f}  '
                    f'(with help {r.success_with_help:.2f})  takeovers/episode '
                    f'{r.takeovers_per_episode:.2f}  human time {r.human_fraction:.2f}  '
                    f'new corrections {r.corrections}')
            if index == rounds:
                break
            if needs_retraining(rounds_out[-1]):
                version = _retrain(monitor, log)
                if schedule is not None:
                    set_gate_beta(composed.nodes['intervention_gate'], schedule.beta(index + 1))
            else:
                log(f'  no new corrections in round {index}: keeping {version}')
            resumed, message = monitor.pause_episodes(False)
            if not resumed:
                raise RuntimeError(f'sim_arm did not resume: {message}')
    finally:
        composed.stop()
    if eval_episodes and rounds_out:
        log(f'\neach version alone, no operator, {eval_episodes} episodes:')
        if panda:
            rounds_out = evaluate_panda_versions(rounds_out, models_dir, eval_episodes, log)
        else:
            rounds_out = evaluate_versions(rounds_out, models_dir, arm, eval_episodes, log)
    elapsed = time.monotonic() - start
    log('')
    if schedule is not None:
        log(format_dagger_rounds(rounds_out, schedule.describe()))
        png = plot_dagger_rounds(rounds_out, out_dir / 'dagger_rounds.png')
    else:
        log(format_rounds(rounds_out))
        png = plot_rounds(rounds_out, out_dir / 'hg_dagger_rounds.png')
    log(f'\nwhole demo {elapsed / 60:.1f} min; plot {png}; data {data_dir}; models {models_dir}')
    return rounds_out


def train_once(monitor: SessionMonitor, timeout_s: float) -> dict:
    """Ask the trainer for a new version and wait for its outcome; return its done status."""
    done_before = len([s for s in monitor.statuses() if s.get('state') == 'done'])
    accepted, message = monitor.request_training()
    if not accepted:
        raise RuntimeError(f'the trainer did not accept ~/train: {message}')
    status = _wait(lambda: ([s for s in monitor.statuses()
                             if s.get('state') in ('done', 'failed')][done_before:]
                            or None), timeout_s, 'the trainer')
    if status[-1]['state'] == 'failed':
        raise RuntimeError(f"retraining failed: {status[-1].get('message')}")
    return status[-1]


def _retrain(monitor: SessionMonitor, log: Callable[[str], None]) -> str:
    """Ask the trainer for a new version, wait for it and its hot reload; return it."""
    status = train_once(monitor, 600)
    version = status['version']
    _wait(lambda: monitor.version() == version, 60, f'the policy node to load {version}')
    log(f'  retrained -> {version} ({status.get("seconds", "?")} s), hot-reloaded')
    return version


def _dagger_round(index: int, version: str, beta: float, stats: list[EpisodeStats],
                  session_dir: Path, log: Callable[[str], None]) -> DaggerRoundStats:
    """Summarize a DAgger round, with the labels its bags hold."""
    reported = {s.beta for s in stats if s.beta == s.beta}
    if reported - {beta}:
        log(f'  warning: the gate reported beta {sorted(reported)} in round {index}, '
            f'expected {beta:g}')
    labelled, coverage = count_labels(round_bags(session_dir, [s.episode for s in stats]))
    return DaggerRoundStats.of(index, version, beta, stats, labelled, coverage)


def format_rounds(rounds: list[RoundStats]) -> str:
    """Return the rounds as a markdown table."""
    head, rule, cells = alone_columns([r.autonomous for r in rounds])
    lines = ['| round | model | episodes | success (no help) | success with help | '
             'takeovers / episode | human time |' + head, '|---|---|---|---|---|---|---|' + rule]
    for r, cell in zip(rounds, cells):
        lines.append(f'| {r.round} | {r.version} | {r.episodes} | {r.success:.2f} | '
                     f'{r.success_with_help:.2f} | {r.takeovers_per_episode:.2f} | '
                     f'{r.human_fraction:.2f} |' + cell)
    return '\n'.join(lines)


def plot_rounds(rounds: list[RoundStats], path: Path) -> Path:
    """Plot success, takeovers per episode and human time over rounds to a PNG."""
    return plot_round_panels(
        path, [r.round for r in rounds], [r.version for r in rounds],
        lines=[([r.success for r in rounds], 'o-', 'success (no help)'),
               ([r.success_with_help for r in rounds], 's--', 'success with help'),
               ([r.human_fraction for r in rounds], '^-', 'human time fraction')]
        + alone_line([r.autonomous for r in rounds], 'model alone (no operator)'),
        bars=[r.takeovers_per_episode for r in rounds], bar_color='tab:orange',
        bar_label='takeovers per episode', loop='HG-DAgger')
