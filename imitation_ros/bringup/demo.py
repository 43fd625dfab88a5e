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

1. Collect a few multi-demonstrator episodes (directly in the sim, fast).
2. Train a first behavioral cloning policy (child process) -> ``v001``.
3. Start the hg_dagger graph composed in one process over real DDS: sim_arm,
   sim_human on the gamepad, policy_node, intervention_gate, recorder, trainer.
4. Round 0 runs ``episodes`` episodes with v001; after each round the trainer
   retrains on demonstrations + every takeover so far, the policy node
   hot-reloads the new version, and the next round runs with it.

Per round: success without help (the goal reached with no takeover), success
with help, takeovers per episode, fraction of commands from the human, model
version. At the end: a summary table and a PNG of those over rounds.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
import time
from typing import Callable, Optional

from ..cli.collect import collect
from ..training.jobs import JobSpec, next_model_path, TrainingJob
from .composed import ComposedGraph
from .monitor import EpisodeStats, SessionMonitor


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


def _wait(predicate: Callable[[], object], timeout: float, what: str) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise TimeoutError(f'timed out after {timeout:.0f} s waiting for {what}')


def run_demo(*, data_dir: Path, models_dir: Path, rounds: int = 5, episodes: int = 10,
             demos: int = 20, policy: str = 'gmm', train_steps: int = 1500, seed: int = 0,
             out_dir: Optional[Path] = None, log: Callable[[str], None] = print,
             domain_id: Optional[int] = None) -> list[RoundStats]:
    """Run the HG-DAgger demo (see the module docstring) and return the rounds."""
    stamp = datetime.now(timezone.utc).strftime('%Y%m%d_%H%M%S')
    data_dir = Path(data_dir) / f'demo_{stamp}'
    models_dir = Path(models_dir) / f'demo_{stamp}'
    out_dir = Path(out_dir) if out_dir else models_dir
    start = time.monotonic()
    summary = collect('multi', demos, data_dir, seed=seed, session='demos', camera_every=0,
                      progress=False)
    log(f'collected {summary.episodes} demonstrations ({summary.samples} samples) '
        f'in {summary.seconds:.1f} s -> {summary.session_dir}')
    first, version = next_model_path(models_dir, 'policy')
    job = TrainingJob(JobSpec(data=(data_dir,), out=first, version=version, policy=policy,
                              steps=train_steps, seed=seed))
    result = _wait(job.poll, 600, 'the first training')
    if not result.ok:
        raise RuntimeError(f'first training failed: {result.message}')
    log(f'trained {version} ({policy}) in {result.seconds:.1f} s: {result.message}')
    composed = ComposedGraph('hg_dagger', use_sim=True, overrides={
        'sim_arm': {'seed': seed, 'camera_hz': 0.0, 'reset_delay_s': 0.5},
        'sim_human': {'seed': seed},
        # Policy and gate tick faster than the arm reports (50 vs 20 Hz) so that a command
        # computed from a joint state reaches the arm before its next control period.
        'policy': {'model_path': str(first.resolve()), 'rate_hz': 50.0},
        'intervention_gate': {'rate_hz': 50.0, 'teleop_horizon_s': 0.05},
        'recorder': {'data_dir': str(data_dir), 'session': 'hg_dagger',
                     'record_images': False},
        'trainer': {'data_dir': str(data_dir), 'models_dir': str(models_dir),
                    'policy': policy, 'train_steps': train_steps, 'seed': seed + 1,
                    'min_new_samples': 10_000_000},
    })
    composed.start(domain_id=domain_id)
    monitor = composed.add(SessionMonitor(context=composed.context))
    rounds_out: list[RoundStats] = []
    try:
        _wait(lambda: monitor.version() == version, 60, f'the policy node to run {version}')
        for index in range(rounds + 1):
            begin = len(monitor.finished())
            _wait(lambda: len([s for s in monitor.finished()[begin:]
                               if s.version == version]) >= episodes,
                  episodes * 30, f'{episodes} episodes of round {index}')
            stats = [s for s in monitor.finished()[begin:] if s.version == version][:episodes]
            r = RoundStats.of(index, version, stats)
            rounds_out.append(r)
            log(f'round {index}: model {version}  success {r.success:.2f}  '
                f'(with help {r.success_with_help:.2f})  takeovers/episode '
                f'{r.takeovers_per_episode:.2f}  human time {r.human_fraction:.2f}  '
                f'new corrections {r.corrections}')
            if index == rounds:
                break
            done_before = len([s for s in monitor.statuses() if s.get('state') == 'done'])
            accepted, message = monitor.request_training()
            if not accepted:
                raise RuntimeError(f'the trainer did not accept ~/train: {message}')
            status = _wait(lambda: ([s for s in monitor.statuses()
                                     if s.get('state') in ('done', 'failed')][done_before:]
                                    or None), 600, 'the trainer')
            if status[-1]['state'] == 'failed':
                raise RuntimeError(f"retraining failed: {status[-1].get('message')}")
            version = status[-1]['version']
            _wait(lambda: monitor.version() == version, 60, f'the policy node to load {version}')
            log(f'  retrained -> {version} ({status[-1].get("seconds", "?")} s), hot-reloaded')
    finally:
        composed.stop()
    elapsed = time.monotonic() - start
    log('')
    log(format_rounds(rounds_out))
    png = plot_rounds(rounds_out, out_dir / 'hg_dagger_rounds.png')
    log(f'\nwhole demo {elapsed / 60:.1f} min; plot {png}; data {data_dir}; models {models_dir}')
    return rounds_out


def format_rounds(rounds: list[RoundStats]) -> str:
    """Return the rounds as a markdown table."""
    lines = ['| round | model | episodes | success (no help) | success with help | '
             'takeovers / episode | human time |', '|---|---|---|---|---|---|---|']
    for r in rounds:
        lines.append(f'| {r.round} | {r.version} | {r.episodes} | {r.success:.2f} | '
                     f'{r.success_with_help:.2f} | {r.takeovers_per_episode:.2f} | '
                     f'{r.human_fraction:.2f} |')
    return '\n'.join(lines)


def plot_rounds(rounds: list[RoundStats], path: Path) -> Path:
    """Plot success, takeovers per episode and human time over rounds to a PNG."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    path.parent.mkdir(parents=True, exist_ok=True)
    x = [r.round for r in rounds]
    fig, (a, b) = plt.subplots(1, 2, figsize=(9, 3.4), dpi=100)
    a.plot(x, [r.success for r in rounds], 'o-', label='success (no help)')
    a.plot(x, [r.success_with_help for r in rounds], 's--', label='success with help')
    a.plot(x, [r.human_fraction for r in rounds], '^-', label='human time fraction')
    a.set_ylim(-0.02, 1.02)
    a.set_xlabel('HG-DAgger round')
    a.legend(fontsize=8)
    a.grid(alpha=0.3)
    b.bar(x, [r.takeovers_per_episode for r in rounds], color='tab:orange')
    b.set_xlabel('HG-DAgger round')
    b.set_ylabel('takeovers per episode')
    b.grid(alpha=0.3)
    for ax in (a, b):
        ax.set_xticks(x)
        ax.set_xticklabels([f'{r.round}\n{r.version}' for r in rounds], fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
