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
The DAgger side of ``imitation-ros demo --mode dagger``: beta per round, labels, the table.

Round i runs the mixture policy: the gate executes the expert's action instead
of the policy's with probability beta_i (:class:`~imitation_ros.dagger.beta.BetaSchedule`)
per control decision, the expert labels every visited state, and the trainer
retrains on the demonstrations plus every expert-labelled state so far.
"""

from __future__ import annotations

from dataclasses import dataclass
import math
from pathlib import Path
import time
from typing import Any, Iterable, Optional, Sequence

import numpy as np
from rclpy.parameter import Parameter

from ..data import episode_info, find_episode_bags
from ..data.aggregate import aggregate
from ..data.dataset import load_dataset
from ..errors import DataError
from ..nodes.monitor import EpisodeStats
from .plots import alone_columns, alone_line, plot_round_panels

#: Graph node names the demo's DAgger overrides address.
GATE, EXPERT = 'intervention_gate', 'expert'


@dataclass(frozen=True)
class DaggerRoundStats:
    """One round of DAgger."""

    round: int
    version: str
    episodes: int
    beta: float
    """The gate's beta this round (probability of executing the expert per decision)."""
    success: float
    """Fraction of episodes reaching the goal (the mixture policy, beta included)."""
    expert_fraction: float
    """Fraction of the gate's commands that executed the expert's action."""
    labelled: int
    """New expert-labelled samples recorded this round (what the next training adds)."""
    coverage: float
    """Fraction of the round's recorded arm states that carry an expert label (the terminal
    state of each episode, from which no action is taken, left out)."""
    autonomous: Optional[float] = None
    """Success of this round's model on its own, beta 0 (``evaluate_versions`` of the
    demo); None if not run."""

    @staticmethod
    def of(index: int, version: str, beta: float, stats: Sequence[EpisodeStats],
           labelled: int, coverage: float) -> 'DaggerRoundStats':
        """Summarize the episodes of one round."""
        n = max(1, len(stats))
        commands = sum(s.commands for s in stats)
        expert = sum(s.expert_commands for s in stats)
        return DaggerRoundStats(index, version, len(stats), beta,
                                sum(s.success for s in stats) / n, expert / max(1, commands),
                                labelled, coverage)

    def line(self) -> str:
        """Return the round as one log line."""
        return (f'round {self.round}: model {self.version}  beta {self.beta:.3f}  success '
                f'{self.success:.2f}  expert commands {self.expert_fraction:.2f}  new labelled '
                f'samples {self.labelled} (labelled states {self.coverage:.3f})')


def dagger_overrides(overrides: dict[str, dict[str, Any]], *, beta: float,
                     seed: int) -> dict[str, dict[str, Any]]:
    """Return the demo's node overrides for the dagger graph, starting at ``beta``."""
    out = {name: dict(values) for name, values in overrides.items()}
    out.setdefault(GATE, {})['beta'] = float(beta)
    out[GATE].setdefault('beta_seed', int(seed))
    out.setdefault(EXPERT, {})['seed'] = int(seed)
    out.setdefault('recorder', {})['session'] = 'dagger'
    return out


def set_gate_beta(gate: Any, beta: float) -> None:
    """
    Set the running gate's ``beta`` (an rclpy parameter set, as ``ros2 param set`` does).

    :raises RuntimeError: the gate refused it (no such parameter, or out of range).
    """
    result = gate.set_parameters([Parameter('beta', value=float(beta))])[0]
    if not result.successful:
        raise RuntimeError(f'the intervention gate refused beta = {beta}: {result.reason}')


def round_bags(session_dir: Path, episodes: Iterable[int],
               timeout_s: float = 10.0) -> list[Path]:
    """Return the finished bags of ``episodes`` under ``session_dir``; wait for them to close."""
    wanted = set(int(e) for e in episodes)
    deadline = time.monotonic() + timeout_s
    while True:
        bags = [b for b in (find_episode_bags(session_dir) if session_dir.exists() else [])
                if episode_info(b).episode in wanted]
        found = {episode_info(b).episode for b in bags}
        if found >= wanted or time.monotonic() > deadline:
            return bags
        time.sleep(0.1)


def count_labels(bags: Sequence[Path]) -> tuple[int, float]:
    """
    Return the expert-labelled training samples in ``bags`` and the labelled fraction of states.

    A state is one joint state of the arm (several gate commands can observe it: the
    last one before the next state is what the arm executed, and carries the label). The
    labelled fraction leaves out each episode's terminal state: it is published with the
    end event, so a command may observe it before the bag closes, but its label comes after.
    """
    if not bags:
        return 0, math.nan
    try:
        data = load_dataset(list(bags))
    except DataError:
        return 0, math.nan
    last = state_runs_last(data.positions, data.episode_id)
    ends = np.r_[data.episode_id[1:] != data.episode_id[:-1], True]
    last &= ~ends
    coverage = float(data.expert_labelled[last].mean()) if last.any() else math.nan
    try:
        labelled = len(aggregate(data))
    except DataError:
        labelled = 0
    return labelled, coverage


def state_runs_last(positions: Any, episode: Any) -> Any:
    """Return a mask of the last sample of each run of one joint state within an episode."""
    n = len(positions)
    last = np.ones(n, dtype=bool)
    if n > 1:
        same = (np.all(positions[1:] == positions[:-1], axis=1) & (episode[1:] == episode[:-1]))
        last[:-1] = ~same
    return last


def format_dagger_rounds(rounds: Sequence[DaggerRoundStats], schedule: str) -> str:
    """Return the rounds as a markdown table (``schedule``: the beta schedule in words)."""
    head, rule, cells = alone_columns([r.autonomous for r in rounds])
    lines = [f'beta schedule: {schedule}', '',
             '| round | model | episodes | beta | success | expert commands | '
             'new labelled samples | labelled states |' + head,
             '|---|---|---|---|---|---|---|---|' + rule]
    for r, cell in zip(rounds, cells):
        lines.append(f'| {r.round} | {r.version} | {r.episodes} | {r.beta:.3f} | '
                     f'{r.success:.2f} | {r.expert_fraction:.2f} | {r.labelled} | '
                     f'{r.coverage:.3f} |' + cell)
    return '\n'.join(lines)


def plot_dagger_rounds(rounds: Sequence[DaggerRoundStats], path: Path) -> Path:
    """Plot success, beta and the expert's share of commands over rounds to a PNG."""
    return plot_round_panels(
        path, [r.round for r in rounds], [r.version for r in rounds],
        lines=[([r.success for r in rounds], 'o-', 'success'),
               ([r.beta for r in rounds], 's--', 'beta'),
               ([r.expert_fraction for r in rounds], '^-', 'expert command fraction')]
        + alone_line([r.autonomous for r in rounds], 'model alone (beta 0)'),
        bars=[r.labelled for r in rounds], bar_color='tab:green',
        bar_label='new expert-labelled samples', loop='DAgger', legend_loc='center right')
