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
Several arms and one operator in lockstep, in plain Python: the fleet graph without ROS.

Every robot has its own sim, policy and gate (:class:`~imitation_ros.gate.arbiter.Arbiter`
with ``help_threshold``: the gate's own rule raises and clears the request); one
:class:`~imitation_ros.sim.fleet.FleetOperator` serves their help requests one robot at
a time. Per control period ``now = k * dt``, for each robot in turn: the joint state and
the policy's doubt reach the gate, the gate's help flag reaches the fleet operator, the
operator's pad for that robot reaches the gate, the policy's action reaches the gate, the
gate's command moves the arm. A robot whose episode ended starts its next task the next
period. Deterministic given the seeds. Used by the fleet study and the fleet tests.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Mapping, Optional, Sequence

import numpy as np

from .loop import (_as_controller, Doubt, episode_seed, gate_config, PolicyLike, run_episodes,
                   sample_tasks)
from ..errors import ConfigError
from ..gate.arbiter import Arbiter, GateConfig, GateMode
from ..gate.joy import parse_joy
from ..runtime.onnx_policy import OnnxPolicy
from ..sim.arm import ArmConfig, ArmSim, Task
from ..sim.fleet import FleetOperator, FleetParams, RobotStats, Service


@dataclass(frozen=True)
class FleetEpisode:
    """One episode of one robot of the fleet, at the control rate (T periods)."""

    robot: str
    index: int
    """The robot's episode number (0-based)."""
    task: Task
    states: np.ndarray
    """Measured joint positions before each command, (T, n), rad."""
    actions: np.ndarray
    """Executed commands, (T, n), rad."""
    human: np.ndarray
    """True where the operator drove the arm, (T,) bool."""
    held: np.ndarray
    """True where the gate held for a help request, (T,) bool."""
    help_requests: int
    """Times the gate started asking for help."""
    success: bool
    reason: str

    @property
    def steps(self) -> int:
        """Return the number of control periods T."""
        return int(self.actions.shape[0])


@dataclass(frozen=True)
class FleetRun:
    """What a fleet run did."""

    episodes: list[FleetEpisode]
    """Every episode, in the order they ended."""
    stats: dict[str, RobotStats]
    """The fleet operator's counts per robot."""
    services: list[Service]
    """The operator's turns to the robots, in order."""
    seconds: float
    """Simulated time until the last robot finished (s)."""
    most_engaged: int
    """Most robots whose gate executed the operator's command in one period (the
    operator has one pair of hands: at most 1)."""

    def of(self, robot: str) -> list[FleetEpisode]:
        """Return ``robot``'s episodes in order."""
        return sorted((e for e in self.episodes if e.robot == robot), key=lambda e: e.index)


class _Robot:
    """One arm of the fleet: its sim, controller, gate and the episode being recorded."""

    def __init__(self, name: str, config: ArmConfig, tasks: Sequence[Task], policy: PolicyLike,
                 gate: GateConfig, seed: int) -> None:
        self.name = name
        self.sim = ArmSim(config, seed=seed)
        self.act, self.reset = _as_controller(policy, config)
        self.gate = gate
        self.tasks = list(tasks)
        self.seed = seed
        self.index = -1
        self.arbiter: Optional[Arbiter] = None

    def next_episode(self, fleet: FleetOperator) -> bool:
        """Start the next task; False when none is left."""
        self.index += 1
        if self.index >= len(self.tasks):
            return False
        task = self.tasks[self.index]
        self.sim.reset(task=task, seed=episode_seed(self.seed, self.index))
        self.reset()
        self.arbiter = Arbiter(self.gate)
        self.rows: list[tuple[np.ndarray, np.ndarray, bool, bool, bool]] = []
        fleet.start_episode(self.name, task)
        return True

    def step(self, fleet: FleetOperator, doubt: Optional[Doubt], now: float) -> bool:
        """Run one control period of this robot; return whether the operator drove it."""
        arbiter = self.arbiter
        assert arbiter is not None
        task = self.tasks[self.index]
        q = self.sim.q.copy()
        arbiter.on_joint_state(q, now)
        score = float('nan')
        if doubt is not None and not arbiter.human_in_control(now):
            score = float(doubt(q, task))
            arbiter.on_uncertainty(score, now)
        asked = arbiter.help_requested(now)
        fleet.set_help(self.name, asked, now, score)
        out = fleet.step(self.name, q, now)
        arbiter.on_joy(parse_joy(out.axes, out.buttons, self.gate.joy, now), now)
        if not arbiter.human_in_control(now):
            arbiter.on_policy_action(self.act(q, task), now)
        decided = arbiter.tick(now)
        assert decided is not None  # the gate knows q from this period
        self.sim.step(decided.command)
        self.rows.append((q, decided.command.copy(), decided.intervention,
                          decided.mode is GateMode.HOLD_HELP, decided.help_request))
        return decided.intervention

    def finish(self) -> FleetEpisode:
        """Return the episode that just ended."""
        n = self.sim.config.n_joints
        states = np.asarray([r[0] for r in self.rows]).reshape(-1, n)
        actions = np.asarray([r[1] for r in self.rows]).reshape(-1, n)
        human = np.asarray([r[2] for r in self.rows], dtype=bool)
        held = np.asarray([r[3] for r in self.rows], dtype=bool)
        asked = np.asarray([r[4] for r in self.rows], dtype=bool)
        starts = int(np.count_nonzero(asked[1:] & ~asked[:-1]) + (1 if asked[:1].any() else 0))
        return FleetEpisode(self.name, self.index, self.tasks[self.index], states, actions,
                            human, held, starts, bool(self.sim.success), self.sim.reason)


def run_fleet(config: ArmConfig, tasks: Mapping[str, Sequence[Task]], *,
              policies: Mapping[str, PolicyLike], doubt: Optional[Doubt] = None,
              help_threshold: float = 0.0, help_release_s: float = 0.5,
              params: Optional[FleetParams] = None, seed: int = 0,
              gate: Optional[GateConfig] = None, operator_seed: int = 0) -> FleetRun:
    """
    Run every robot through its tasks with one fleet operator (see the module docstring).

    :param tasks: robot name -> its tasks, run in order.
    :param policies: robot name -> its policy (an OnnxPolicy of its own, or a controller).
    :param doubt: the policy's doubt at ``(q, task)``; None: no help request is ever made.
    :param help_threshold: the gates' threshold on the doubt (0 disables requests).
    :param help_release_s: doubt at or below the threshold this long clears a request (s).
    :param seed: robot i's episodes are seeded from ``seed + i`` (noise).
    :param gate: the gates' configuration (default :func:`gate_config` of ``config``).
    :param operator_seed: seed of the fleet operator.
    """
    robots = list(tasks)
    if set(policies) != set(robots):
        raise ConfigError(f'policies must name the same robots as tasks: {sorted(robots)} vs '
                          f'{sorted(policies)}')
    base = gate if gate is not None else gate_config(config)
    gate_cfg = replace(base, help_threshold=float(help_threshold),
                       help_release_s=float(help_release_s),
                       uncertainty_timeout_s=max(base.uncertainty_timeout_s, 2.0 * config.dt))
    fleet = FleetOperator(config, robots, params, seed=operator_seed)
    arms = {r: _Robot(r, config, tasks[r], policies[r], gate_cfg, seed + i)
            for i, r in enumerate(robots)}
    running = {r for r, arm in arms.items() if arm.next_episode(fleet)}
    episodes: list[FleetEpisode] = []
    most = 0
    k = 0
    while running:
        now = k * config.dt
        driven = 0
        for name in robots:
            if name not in running:
                continue
            arm = arms[name]
            driven += arm.step(fleet, doubt, now)
            if arm.sim.done:
                episodes.append(arm.finish())
                fleet.end_episode(name, now)
                if not arm.next_episode(fleet):
                    running.discard(name)
        most = max(most, driven)
        fleet.tick(now)
        k += 1
    return FleetRun(episodes, dict(fleet.stats), list(fleet.services), k * config.dt, most)


def doubt_quantile(policy: OnnxPolicy, config: ArmConfig, quantile: float, *,
                   episodes: int = 20, seed: int = 0) -> float:
    """
    Return the ``quantile`` of ``policy``'s doubt on the states it visits alone.

    ``episodes`` tasks of their own (seed ``seed + 7``), no operator: a help threshold
    at which about ``1 - quantile`` of the policy's own states ask for help.

    :raises ConfigError: the model has no doubt output, or ``quantile`` is not in (0, 1).
    """
    if not 0.0 < quantile < 1.0:
        raise ConfigError(f'the doubt quantile must be in (0, 1), got {quantile}')
    if not policy.has_doubt:
        raise ConfigError(f'{policy.path} has no doubt output: train it with a doubt ensemble')
    runs = run_episodes(config, sample_tasks(config, episodes, seed=seed + 7), seed=seed,
                        policy=policy)
    doubt = np.concatenate([
        policy.doubt_batch(e.states, np.repeat(e.task.vector()[None], e.steps, axis=0))
        for e in runs])
    return float(np.quantile(doubt, quantile))
