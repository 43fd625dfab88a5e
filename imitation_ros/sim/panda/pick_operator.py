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
The simulated operator of the Panda's pick-and-place task: watches, takes over, hands back.

The decision rule of the reach operator (:mod:`.operator`), with the pick task's
troubles, first that holds is the reason: ``joint_limit`` (a joint within
``limit_margin_rad`` of Franka's limits); ``collision_risk`` (the tool frame lower
than ``table_margin_m`` above the table anywhere but at the cube, or about to be
within ``collision_lookahead_s`` at its descent speed); ``dropped`` (the
cube moved more than ``moved_m`` from its start and is neither held nor on the
target); ``stalled`` (the task's remaining distance, tool to cube plus cube to
target, not shorter by ``stall_progress_m`` for ``stall_s``). The takeover starts
``reaction_delay_s`` after trouble was first seen, if it held throughout; in control,
the operator acts as the pick demonstrator whose grasp is nearer to the wrist's
yaw (kept for the takeover): its seven joint targets and finger gap (8,), as
HG-DAgger's expert gives them. It hands control back after ``release_hold_s``
without trouble once the takeover made progress: the cube grasped and lifted above
``release_lift_m``, or on the target and released (``hold_until_end`` keeps it).

A takeover here commands joint targets directly: the gate's Panda teleop
(:func:`.operator.gate_teleop`) holds the tool's rotation and has no gripper
axis, and a pick takeover turns the wrist and closes the fingers. Deterministic.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
import math
from typing import Optional

import numpy as np

from ...errors import ConfigError
from .experts import PickExpert, PickStyle
from .kinematics import Kinematics, tool_yaw, wrap_half_turn
from .model import JOINT_LOWER, JOINT_UPPER, PandaConfig, PandaModel
from .observe import PandaObservation
from .tasks import PandaTask

#: Reasons a pick takeover starts with (the first that holds).
PICK_REASONS: tuple[str, ...] = ('joint_limit', 'collision_risk', 'dropped', 'stalled')


@dataclass(frozen=True)
class PickOperatorParams:
    """Thresholds of the pick operator; lengths in m, angles in rad, times in s."""

    limit_margin_rad: float = 0.05
    """Take over when a joint is this close to one of Franka's limits."""
    table_margin_m: float = 0.012
    """Take over when the tool frame is this low above the table away from the cube..."""
    collision_lookahead_s: float = 0.4
    """... or will be at its current descent speed within this time (0 disables)."""
    moved_m: float = 0.02
    """A cube this far from its start, neither held nor on the target, was dropped."""
    stall_s: float = 2.0
    """Take over when the remaining distance did not shrink for this long."""
    stall_progress_m: float = 0.01
    """Shrinking of the remaining distance that counts as progress."""
    reaction_delay_s: float = 0.25
    """From seeing trouble to taking over."""
    release_hold_s: float = 0.3
    """Hand back after this long without trouble once the takeover made progress."""
    release_lift_m: float = 0.06
    """Progress: the held cube's centre this high above the table."""
    hold_until_end: bool = False
    """Keep control until the episode ends once taken over."""
    style: PickStyle = PickStyle()
    """Speed and heights of the operator's motion (its ``grasp`` is chosen per takeover)."""

    def __post_init__(self) -> None:
        for name in ('limit_margin_rad', 'table_margin_m', 'collision_lookahead_s', 'moved_m',
                     'stall_s', 'stall_progress_m', 'reaction_delay_s', 'release_hold_s',
                     'release_lift_m'):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) \
                    or not math.isfinite(value) or value < 0:
                raise ConfigError(f'pick operator {name} must be a finite number >= 0, got '
                                  f'{value!r}')
        if self.stall_s <= 0 or self.stall_progress_m <= 0:
            raise ConfigError('pick operator stall_s and stall_progress_m must be > 0')


class PandaPickOperator:
    """
    A simulated person beside the Panda's pick task; the rule is in the module docstring.

    Per control period call :meth:`step` with the observation and a monotonic time:
    it returns the operator's action (8,) while in control, else None.

    :param params: thresholds.
    :param config: the sim's settings the demonstrator plans with.
    :param cube_half: half the cube's edge (m).
    """

    def __init__(self, params: PickOperatorParams | None = None,
                 config: PandaConfig | None = None, cube_half: float = 0.025) -> None:
        self.params = params if params is not None else PickOperatorParams()
        self.config = config if config is not None else PandaConfig(camera=False)
        self.kinematics = Kinematics(PandaModel(self.config))
        self.cube_half = float(cube_half)
        self.task: Optional[PandaTask] = None
        self.takeovers = 0
        self.reasons: list[str] = []
        self._reset_state()

    def _reset_state(self) -> None:
        self.engaged = False
        self.reason = ''
        self._expert: Optional[PickExpert] = None
        self._trouble_since: Optional[float] = None
        self._trouble_reason = ''
        self._best: Optional[float] = None
        self._progress_at: Optional[float] = None
        self._calm_since: Optional[float] = None
        self._start_phase = ''
        self._last_height: Optional[tuple[float, float]] = None

    def start_episode(self, task: PandaTask) -> None:
        """
        Begin watching a pick episode.

        :raises ConfigError: not a pick task.
        """
        if task.kind != 'pick':
            raise ConfigError(f'the pick operator watches the pick task, got {task.kind!r}; '
                              'the reach task has sim/panda/operator.py')
        self.task = task
        self.takeovers = 0
        self.reasons = []
        self._reset_state()

    def end_episode(self) -> None:
        """Stop watching."""
        self.task = None
        self._reset_state()

    def _held(self, obs: PandaObservation) -> bool:
        h = self.cube_half
        tool = self.kinematics.tcp(obs.q)[0]
        return (2 * h - 0.012 < obs.width < 2 * h + 0.002
                and float(np.linalg.norm(tool - obs.cube[:3])) < 0.02)

    def _on_target(self, obs: PandaObservation) -> bool:
        assert self.task is not None
        return (float(np.linalg.norm(obs.cube[:2] - self.task.target[:2])) < self.task.target[2]
                and obs.cube[2] < self.cube_half + 0.006)

    def phase(self, obs: PandaObservation) -> str:
        """Return 'placed', 'lifted', 'held' or 'free' (how far the task has come)."""
        if self._on_target(obs):
            return 'placed'
        if self._held(obs):
            return 'lifted' if obs.cube[2] > self.params.release_lift_m else 'held'
        return 'free'

    def remaining(self, obs: PandaObservation) -> float:
        """Return the task's remaining distance (m): tool to cube (unless held), cube to target."""
        assert self.task is not None
        tool = self.kinematics.tcp(obs.q)[0]
        to_target = float(np.linalg.norm(obs.cube[:2] - self.task.target[:2]))
        if self._held(obs):
            return to_target
        return float(np.linalg.norm(tool - obs.cube[:3])) + to_target

    def _trouble(self, obs: PandaObservation, now: float) -> str:
        assert self.task is not None
        p = self.params
        left = self.remaining(obs)
        if self._best is None or self._progress_at is None or self.engaged \
                or left < self._best - p.stall_progress_m:
            self._best, self._progress_at = left, now
        q = np.asarray(obs.q)
        if np.any(q - JOINT_LOWER < p.limit_margin_rad) or np.any(JOINT_UPPER - q
                                                                  < p.limit_margin_rad):
            return 'joint_limit'
        tool = self.kinematics.tcp(q)[0]
        height = float(tool[2])
        if self._last_height is not None and now > self._last_height[1]:
            rate = (height - self._last_height[0]) / (now - self._last_height[1])
            height += min(rate, 0.0) * p.collision_lookahead_s
        self._last_height = (float(tool[2]), now)
        at_cube = float(np.linalg.norm(tool[:2] - obs.cube[:2])) < 0.02
        if height < p.table_margin_m and not at_cube:
            return 'collision_risk'
        start = np.array([self.task.cube[0], self.task.cube[1]])
        moved = float(np.linalg.norm(obs.cube[:2] - start)) > p.moved_m
        if moved and not self._held(obs) and not self._on_target(obs):
            return 'dropped'
        if not self.engaged and now - self._progress_at >= p.stall_s:
            return 'stalled'
        return ''

    def _take_over(self, obs: PandaObservation) -> None:
        yaw = tool_yaw(self.kinematics.tcp(obs.q)[1])
        grasp = 0 if abs(wrap_half_turn(yaw - obs.cube_yaw)) < np.pi / 4 else 1
        self._expert = PickExpert(self.kinematics, self.config,
                                  replace(self.params.style, grasp=grasp),
                                  cube_half=self.cube_half)
        self.engaged = True
        self.takeovers += 1
        self.reason = self._trouble_reason
        self.reasons.append(self._trouble_reason)
        self._trouble_since = None
        self._calm_since = None
        self._start_phase = self.phase(obs)

    def step(self, obs: PandaObservation, now: float) -> Optional[np.ndarray]:
        """Watch one period; return the operator's action (8,) while in control, else None."""
        if self.task is None:
            return None
        p = self.params
        trouble = self._trouble(obs, float(now))
        if not self.engaged:
            if not trouble:
                self._trouble_since = None
                self.reason = ''
                return None
            if self._trouble_since is None:
                self._trouble_since, self._trouble_reason = float(now), trouble
            if now - self._trouble_since < p.reaction_delay_s - 1e-9:
                self.reason = 'reacting:' + self._trouble_reason
                return None
            self._take_over(obs)
        elif not p.hold_until_end and self._recovered(obs, float(now), trouble):
            self.engaged = False
            self.reason = ''
            self._best = None
            return None
        assert self._expert is not None and self.task is not None
        return self._expert.action(obs, self.task)

    def _recovered(self, obs: PandaObservation, now: float, trouble: str) -> bool:
        order = ('free', 'held', 'lifted', 'placed')
        phase = self.phase(obs)
        advanced = order.index(phase) > order.index(self._start_phase) and phase != 'held'
        placed_open = phase == 'placed' and obs.width > 0.07
        if trouble or not (advanced and (phase != 'placed' or placed_open)):
            self._calm_since = None
            return False
        if self._calm_since is None:
            self._calm_since = now
        return now - self._calm_since >= self.params.release_hold_s - 1e-9
