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

"""The demo's per-round plot: rates on the left, one count per round as bars on the right."""

from __future__ import annotations

from pathlib import Path
from typing import Optional, Sequence


def alone_columns(alone: Sequence[Optional[float]]) -> tuple[str, str, list[str]]:
    """
    Return the markdown pieces of the "model alone" column: header, rule and one cell per round.

    All three are empty when no round was evaluated alone; a round without a value gets '-'.
    """
    if all(a is None for a in alone):
        return '', '', ['' for _ in alone]
    return (' model alone |', '---|',
            [' - |' if a is None else f' {a:.2f} |' for a in alone])


def alone_line(alone: Sequence[Optional[float]],
               label: str) -> list[tuple[list[float], str, str]]:
    """Return the left-panel line of the models alone (NaN where missing), or no line."""
    if all(a is None for a in alone):
        return []
    return [([float('nan') if a is None else a for a in alone], 'D:', label)]


def plot_round_panels(path: Path, rounds: Sequence[int], versions: Sequence[str], *,
                      lines: Sequence[tuple[Sequence[float], str, str]],
                      bars: Sequence[float], bar_color: str, bar_label: str,
                      loop: str, legend_loc: str = 'best') -> Path:
    """
    Write a two-panel PNG over rounds and return its path.

    :param lines: (values in [0, 1], matplotlib format, label) per line of the left panel.
    :param bars: one value per round for the right panel, labelled ``bar_label``.
    :param loop: the loop's name for the x axis ('HG-DAgger', 'DAgger').
    """
    import matplotlib  # lazy: matplotlib only when plotting
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt  # lazy: matplotlib only when plotting
    path.parent.mkdir(parents=True, exist_ok=True)
    x = list(rounds)
    fig, (a, b) = plt.subplots(1, 2, figsize=(9, 3.4), dpi=100)
    for values, fmt, label in lines:
        a.plot(x, list(values), fmt, label=label)
    a.set_ylim(-0.02, 1.02)
    a.set_xlabel(f'{loop} round')
    a.legend(fontsize=8, loc=legend_loc)
    a.grid(alpha=0.3)
    b.bar(x, list(bars), color=bar_color)
    b.set_xlabel(f'{loop} round')
    b.set_ylabel(bar_label)
    b.grid(alpha=0.3)
    for ax in (a, b):
        ax.set_xticks(x)
        ax.set_xticklabels([f'{r}\n{v}' for r, v in zip(x, versions)], fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
