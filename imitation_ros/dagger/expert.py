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
The DAgger expert: anything that maps a state and a task to an action.

DAgger asks the expert pi* for its action at every state the learner visits
(D <- D u {(s, pi*(s))}), so the expert must answer for states it would never
have reached itself. :class:`Expert` is that interface, and all the
``expert_labeler`` node needs:

* ``reset(task)``: a new episode (or a new task) begins; ``task.start`` holds the
  joint positions it starts from. An expert that plans (a motion planner on a
  real arm) plans here; a stateless one may ignore it.
* ``action(q, task)``: the absolute joint target (n,) rad the expert would
  command for one control period at joint positions ``q`` (n,) rad.

:class:`ScriptedSimExpert` adapts the simulation's scripted demonstrators
(:mod:`imitation_ros.sim.experts`). Their path runs from the end effector at
``task.start`` around the obstacle to the goal, so the task must carry the
episode's start posture (the task vector on ``/imitation/task`` does not: the
node takes it from the episode's start event). Choices of ``name``:

* ``above`` / ``below``: the demonstrator that passes the obstacle on that side;
* ``multi``: a new demonstrator per :meth:`~ScriptedSimExpert.reset`, drawn like the
  multi-demonstrator data (side, speed, clearance, smoothness; the style given
  to the constructor is ignored);
* ``nearest``: the side whose demonstrator path is nearer to the end effector,
  latched for the episode once one path is nearer by ``commit_m``. The learner
  picks the mode and the expert follows it: with demonstrations from both sides
  a fixed-side expert would label a learner that went below with "go above",
  straight through the obstacle.

A planner stands in by implementing the two methods (subclassing
:class:`Expert` or not: the node only calls them).
"""

from __future__ import annotations

import abc
from dataclasses import replace
from typing import Optional

import numpy as np

from ..errors import ConfigError
from ..sim.arm import ArmConfig, end_effector, Task
from ..sim.experts import DemonstratorStyle, sample_style, ScriptedExpert
from ..sim.operator import expert_path, path_distance

#: The scripted experts :class:`ScriptedSimExpert` offers.
SCRIPTED_EXPERTS: tuple[str, ...] = ('above', 'below', 'multi', 'nearest')
#: Default margin (m) by which one side's path must be nearer before ``nearest`` commits.
DEFAULT_COMMIT_M = 0.03


class Expert(abc.ABC):
    """An expert that labels any state with its action (see the module docstring)."""

    def reset(self, task: Task) -> None:  # noqa: B027 - optional hook, stateless by default
        """Begin an episode (or a changed task) starting at ``task.start``."""

    @abc.abstractmethod
    def action(self, q: np.ndarray, task: Task) -> np.ndarray:
        """Return the absolute joint target (n,) rad for joint positions ``q`` (n,) rad."""

    def describe(self) -> str:
        """Return a short description for logs and diagnostics."""
        return type(self).__name__


class ScriptedSimExpert(Expert):
    """
    The simulation's scripted demonstrator as a DAgger expert.

    :param config: the arm (geometry, limits, speed; ``dt`` is the control period the
        target is for).
    :param name: one of :data:`SCRIPTED_EXPERTS`.
    :param style: speed, clearance, smoothness (its side is set by ``name``).
    :param seed: seed of the ``multi`` draws.
    :param commit_m: ``nearest``: margin (m) that latches the side.
    """

    def __init__(self, config: ArmConfig, name: str = 'nearest',
                 style: Optional[DemonstratorStyle] = None, seed: int = 0,
                 commit_m: float = DEFAULT_COMMIT_M) -> None:
        if name not in SCRIPTED_EXPERTS:
            raise ConfigError(f'unknown expert {name!r}; choose one of '
                              f'{", ".join(SCRIPTED_EXPERTS)}')
        if not commit_m > 0:
            raise ConfigError(f'commit_m must be > 0 m, got {commit_m}')
        self.config = config
        self.name = name
        self.base_style = style if style is not None else DemonstratorStyle()
        self.commit_m = float(commit_m)
        self._rng = np.random.default_rng(seed)
        self.style = self._initial_style()
        self._committed: Optional[int] = None
        self.episodes = 0

    def _initial_style(self) -> DemonstratorStyle:
        if self.name == 'below':
            return replace(self.base_style, side=-1)
        if self.name == 'multi':
            return sample_style('multi', self._rng)
        return replace(self.base_style, side=1)

    @property
    def side(self) -> int:
        """Return the side the expert passes on now (+1 above, -1 below)."""
        return self.style.side

    @property
    def committed(self) -> bool:
        """Return whether the side is settled for this episode (always, but for ``nearest``)."""
        return self.name != 'nearest' or self._committed is not None

    def reset(self, task: Task) -> None:
        """Begin an episode: ``multi`` draws a new demonstrator, ``nearest`` unlatches."""
        self.episodes += 1
        self._committed = None
        if self.name == 'multi' and self.episodes > 1:
            self.style = sample_style('multi', self._rng)
        elif self.name == 'nearest':
            self.style = replace(self.base_style, side=1)

    def _choose_side(self, q: np.ndarray, task: Task) -> None:
        """``nearest``: follow the nearer side's path until one is nearer by commit_m."""
        if self._committed is not None:
            return
        ee = end_effector(self.config, q)
        dist = {side: path_distance(expert_path(self.config, task,
                                                replace(self.base_style, side=side)), ee)
                for side in (1, -1)}
        side = 1 if dist[1] <= dist[-1] else -1
        if abs(dist[1] - dist[-1]) >= self.commit_m:
            self._committed = side
        if side != self.style.side:
            self.style = replace(self.base_style, side=side)

    def action(self, q: np.ndarray, task: Task) -> np.ndarray:
        """
        Return the demonstrator's absolute joint target (n,) rad at ``q``.

        :raises ConfigError: ``q`` or ``task.start`` is not n finite joint positions.
        """
        q = np.asarray(q, dtype=np.float64)
        n = self.config.n_joints
        if q.shape != (n,) or not np.all(np.isfinite(q)):
            raise ConfigError(f'joint positions must be {n} finite values (rad), got '
                              f'{q.tolist()}')
        start = np.asarray(task.start, dtype=np.float64)
        if start.shape != (n,) or not np.all(np.isfinite(start)):
            raise ConfigError(f'task.start must be {n} finite joint positions (rad), got '
                              f'{start.tolist()}; the expert path starts there')
        if self.name == 'nearest':
            self._choose_side(q, task)
        return ScriptedExpert(config=self.config, style=self.style).action(q, task)

    def describe(self) -> str:
        """Return e.g. ``scripted nearest (side +1, committed)``."""
        state = '' if self.name != 'nearest' else (', committed' if self.committed
                                                   else ', not committed yet')
        return f'scripted {self.name} (side {self.side:+d}{state})'
