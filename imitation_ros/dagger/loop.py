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
The closed loop of the running system, in plain Python (no ROS, no DDS): one episode at a time.

Per control period (``ArmConfig.dt``, 0.05 s by default), in this order, at time
``now = step * dt``:

1. The measured joint positions ``q`` reach the gate
   (:meth:`~imitation_ros.gate.arbiter.Arbiter.on_joint_state`).
2. Doubt (optional): while the human is not in control, ``doubt(q, task)`` above
   ``help_threshold`` means the policy asks for help this period. Or ``signals(q,
   task)``, the policy's doubt and risk as the policy node publishes them, reach the
   gate every period and the gate's own rule (its ``help_threshold``,
   ``risk_threshold``, ``help_release_s``, ``help_until_calm``) raises and clears the
   request (robot-gated HG-DAgger).
3. The simulated operator (optional; :class:`~imitation_ros.sim.operator.SimulatedOperator`,
   the core of the ``sim_human`` node) watches ``q`` and answers with a gamepad state,
   which reaches the gate through :func:`~imitation_ros.gate.joy.parse_joy` exactly as
   ``intervention_gate`` receives a Joy message. A help request is passed as
   ``operator.step(q, now, help_requested=True)``.
4. Unless the deadman is held, the non-human command is chosen: a hold at ``q`` when
   the policy asked for help; else the expert's action with probability ``beta`` (a
   fresh draw every period: DAgger's mixture policy); else the policy's action. It
   reaches the gate as the policy action.
5. The gate (:class:`~imitation_ros.gate.arbiter.Arbiter`, configured by
   :func:`gate_config` as ``intervention_gate`` configures it from its parameters)
   decides the command: the policy action, or in a takeover the sticks through the
   cartesian teleop (deadzone, scale, damped least squares,
   :func:`~imitation_ros.gate.teleop.axes_to_target`), and clamps it with
   :func:`~imitation_ros.gate.limits.safe_command` (finite, ``max_joint_step`` from
   ``q``, inside the limits).
6. The sim executes the command for one period (with its actuation noise).

With an expert given, every visited state also gets the expert's label
``expert.action(q, task)`` (what it would command there, whoever is in control):
the scripted expert is a feedback law of ``(q, task)``, so it labels states off
its own path. Everything is deterministic given the episode seed (the noise, the
beta draws) and the operator's seed.

Used by the DAgger study (:mod:`imitation_ros.studies.dagger`) and meant to be
reused by other studies: :func:`run_episode` is the whole API; :func:`sample_tasks`
gives a fixed task set, :func:`run_episodes` many episodes with a progress bar.
"""

from __future__ import annotations

from dataclasses import dataclass
import inspect
from typing import Callable, Optional, Sequence, Union
import warnings

import numpy as np

from ..errors import ConfigError
from ..gate.arbiter import Arbiter, GateConfig
from ..gate.joy import JoyConfig, parse_joy
from ..gate.limits import LIMIT_MARGIN
from ..runtime.onnx_policy import OnnxPolicy
from ..sim.arm import ArmConfig, ArmSim, sample_task, Task, TaskRanges
from ..sim.experts import ScriptedExpert
from ..sim.kinematics import PlanarArmModel
from ..sim.operator import gate_teleop, SimulatedOperator
from ..sim.render import render, View

#: A controller maps (measured joint positions (n,) rad, task) to an absolute joint target (n,).
Controller = Callable[[np.ndarray, Task], np.ndarray]
#: A doubt hook maps (measured joint positions (n,) rad, task) to a score; above the
#: threshold the policy asks for help.
Doubt = Callable[[np.ndarray, Task], float]
#: A signals hook maps (measured joint positions (n,) rad, task) to the policy's doubt and
#: risk (None: the model has no risk), as ``policy_node`` publishes them to the gate.
Signals = Callable[[np.ndarray, Task], tuple[float, Optional[float]]]
#: What may drive the arm: an exported policy (ONNX Runtime) or any controller.
PolicyLike = Union[OnnxPolicy, Controller]

#: Codes of :attr:`Episode.source`, one per control period.
SOURCE_POLICY = 0
"""The policy's action was executed."""
SOURCE_EXPERT = 1
"""The expert's action was executed (beta mixing)."""
SOURCE_HUMAN = 2
"""The operator held the deadman: the gate executed the teleop command."""
SOURCE_HOLD = 3
"""The policy asked for help and the arm held at the measured position."""
SOURCE_NAMES: tuple[str, ...] = ('policy', 'expert', 'human', 'hold')


def gate_config(arm: ArmConfig, *, max_joint_step: float = 0.1,
                limit_margin: float = LIMIT_MARGIN, joy: Optional[JoyConfig] = None,
                teleop_horizon_s: float = 0.0) -> GateConfig:
    """
    Return the gate's configuration for ``arm``, built as ``intervention_gate`` builds it.

    The gate ticks once per sim period (``rate_hz = 1 / arm.dt``); its robot is
    the simulated arm itself (:class:`~imitation_ros.sim.kinematics.PlanarArmModel`:
    the sim's geometry and limits; the node reads the same arm from
    ``urdf/planar3.urdf``) and its teleop joint speed cap ``max_joint_step *
    rate_hz``. Other defaults are those of ``config/intervention_gate.yaml``.

    :param max_joint_step: largest command distance from the measured position per tick (rad).
    :param limit_margin: distance every command keeps from the joint limits (rad).
    :param joy: gamepad mapping (default: the planar mapping the simulated operator
        drives, :func:`~imitation_ros.sim.operator.gate_teleop`).
    :param teleop_horizon_s: stick integration horizon (s); 0 is one period.
    """
    return GateConfig(robot=PlanarArmModel(arm), rate_hz=1.0 / arm.dt,
                      max_joint_step=max_joint_step, limit_margin=limit_margin,
                      teleop_horizon_s=teleop_horizon_s,
                      joy=joy if joy is not None else JoyConfig(**gate_teleop()))


@dataclass(frozen=True)
class Episode:
    """
    One episode of the closed loop, at the control rate (T periods).

    Arrays are indexed by control period t: ``states[t]`` is what was measured
    before command ``actions[t]``.
    """

    task: Task
    """The episode's task."""
    states: np.ndarray
    """Measured joint positions before each command, (T, n), rad."""
    final_state: np.ndarray
    """Joint positions after the last command, (n,), rad."""
    actions: np.ndarray
    """Executed commands (the gate's output after clamping), (T, n), absolute, rad."""
    labels: Optional[np.ndarray]
    """The expert's action at every visited state, (T, n), rad; None without an expert."""
    source: np.ndarray
    """Who decided each command, (T,) int: a ``SOURCE_*`` code."""
    help: np.ndarray
    """True where the policy asked for help (doubt above the threshold; with ``signals``
    the gate's request, which with ``help_until_calm`` stands through the takeover), (T,)
    bool."""
    takeovers: int
    """Times the operator took control (False -> True edges of the human mask)."""
    help_requests: int
    """Times the policy started asking for help (False -> True edges of ``help``)."""
    success: bool
    """True when the goal was reached."""
    reason: str
    """How the episode ended: success, collision, joint_limit or timeout."""

    @property
    def steps(self) -> int:
        """Return the number of control periods T."""
        return int(self.actions.shape[0])

    @property
    def human(self) -> np.ndarray:
        """Return True where the human was in control, (T,) bool."""
        return self.source == SOURCE_HUMAN

    @property
    def expert_executed(self) -> np.ndarray:
        """Return True where the expert's action was executed (beta mixing), (T,) bool."""
        return self.source == SOURCE_EXPERT

    @property
    def collision(self) -> bool:
        """Return True when the episode ended touching the obstacle."""
        return self.reason == 'collision'

    @property
    def human_fraction(self) -> float:
        """Return the fraction of periods under human control."""
        return float(self.human.mean()) if self.steps else 0.0


def _edges(mask: np.ndarray) -> int:
    """Count False -> True edges of a boolean series (a True first element counts)."""
    m = np.asarray(mask, dtype=bool)
    return int(np.count_nonzero(m[1:] & ~m[:-1]) + (1 if m.size and m[0] else 0))


def accepts_help_request(operator: SimulatedOperator) -> bool:
    """Return whether ``operator.step`` takes the ``help_requested`` keyword."""
    try:
        params = inspect.signature(operator.step).parameters
    except (TypeError, ValueError):
        return False
    return 'help_requested' in params or any(
        p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())


def _as_controller(policy: PolicyLike, config: ArmConfig) -> tuple[Controller, Callable[[], None]]:
    """Wrap an OnnxPolicy (task vector, optional camera frame) as a controller; plus its reset."""
    if isinstance(policy, OnnxPolicy):
        view = View(size=policy.image_shape[0]) if policy.needs_image else None

        def act(q: np.ndarray, task: Task) -> np.ndarray:
            image = render(config, task, q, view) if view is not None else None
            return policy.act(q, task.vector(), image)
        return act, policy.reset
    if not callable(policy):
        raise ConfigError(f'policy must be an OnnxPolicy or a callable (q, task) -> target, '
                          f'got {type(policy).__name__}')
    return policy, lambda: None


def run_episode(sim: ArmSim, task: Task, *, policy: Optional[PolicyLike] = None,
                expert: Optional[ScriptedExpert] = None, beta: float = 0.0,
                operator: Optional[SimulatedOperator] = None,
                doubt: Optional[Doubt] = None, help_threshold: float = float('inf'),
                gate: Optional[GateConfig] = None, seed: Optional[int] = None,
                label: bool = True, signals: Optional[Signals] = None) -> Episode:
    """
    Run one episode of the closed loop (see the module docstring) and return what happened.

    :param sim: the arm; its config (``dt``, ``actuation_noise``, limits) is used as is.
    :param task: the episode's task (start posture, goal, obstacle).
    :param policy: the learned policy, an :class:`OnnxPolicy` (reset at the episode start)
        or a controller ``(q, task) -> target``; may be None only when ``beta`` is 1.
    :param expert: the scripted expert: labels every visited state (``label``) and is
        executed with probability ``beta``.
    :param beta: probability, drawn per control period, of executing the expert instead
        of the policy (DAgger's mixture; 0 = the policy alone, 1 = the expert alone).
    :param operator: the simulated human; it may take over at any time.
    :param doubt: the policy's doubt score at ``(q, task)``; above ``help_threshold``
        (while the human is not in control) the arm holds and the operator is asked for
        help. Needs ``operator`` to have anyone to ask (without one the arm just holds).
    :param gate: the gate's configuration (default :func:`gate_config` of the sim's arm).
    :param seed: seeds the sim's actuation noise and the beta draws of this episode.
    :param label: compute the expert's label at every state (needs ``expert``).
    :param signals: the policy's (doubt, risk) at ``(q, task)``, given to the gate every
        period (a takeover included, as the policy node keeps publishing); the gate's
        help request (``gate.help_threshold`` / ``risk_threshold`` > 0) holds the arm and
        is passed to the operator. Not with ``doubt``.
    """
    cfg = sim.config
    if not 0.0 <= beta <= 1.0:
        raise ConfigError(f'beta is a probability in [0, 1], got {beta}')
    if beta > 0.0 and expert is None:
        raise ConfigError(f'beta {beta} executes the expert, but no expert was given')
    if policy is None and beta < 1.0:
        raise ConfigError('no policy given: pass one, or beta = 1 to run the expert alone')
    act, reset = _as_controller(policy, cfg) if policy is not None else (None, lambda: None)
    gate_cfg = gate if gate is not None else gate_config(cfg)
    if signals is not None and doubt is not None:
        raise ConfigError('give doubt (the loop asks) or signals (the gate asks), not both')
    if signals is not None and not (gate_cfg.help_threshold > 0 or gate_cfg.risk_threshold > 0):
        raise ConfigError('signals reach the gate, but its help_threshold and risk_threshold '
                          'are 0 (off): set one in the gate config to let it ask for help')
    asking = doubt is not None or signals is not None
    arbiter = Arbiter(gate_cfg)
    rng = np.random.default_rng(None if seed is None else [int(seed), 7])
    sim.reset(task=task, seed=seed)
    reset()
    ask_keyword = False
    if operator is not None:
        operator.start_episode(task)
        ask_keyword = asking and accepts_help_request(operator)
        if asking and not ask_keyword:
            warnings.warn('SimulatedOperator.step takes no help_requested keyword: the policy '
                          'still holds when in doubt, but the operator only reacts to what it '
                          'sees', RuntimeWarning, stacklevel=2)
    states, actions, labels, source, helps = [], [], [], [], []
    step = 0
    try:
        while not sim.done:
            now = step * cfg.dt
            q = sim.q.copy()
            arbiter.on_joint_state(q, now)
            engaged = operator is not None and operator.engaged
            if signals is not None:
                doubt_now, risk_now = signals(q, task)
                arbiter.on_uncertainty(doubt_now, now)
                if risk_now is not None:
                    arbiter.on_risk(risk_now, now)
                ask = arbiter.help_requested(now)
            else:
                ask = bool(doubt is not None and not engaged
                           and float(doubt(q, task)) > help_threshold)
            if operator is not None:
                out = (operator.step(q, now, help_requested=ask) if ask_keyword
                       else operator.step(q, now))
                arbiter.on_joy(parse_joy(out.axes, out.buttons, gate_cfg.joy, now), now)
            draw = rng.random()
            label_q = expert.action(q, task) if (expert is not None and label) else None
            human = arbiter.human_in_control(now)
            if human:
                who = SOURCE_HUMAN
            elif ask:
                who = SOURCE_HOLD
                arbiter.on_policy_action(q, now)
            elif expert is not None and draw < beta:
                who = SOURCE_EXPERT
                arbiter.on_policy_action(label_q if label_q is not None
                                         else expert.action(q, task), now)
            else:
                who = SOURCE_POLICY
                assert act is not None
                arbiter.on_policy_action(act(q, task), now)
            gate_out = arbiter.tick(now)
            assert gate_out is not None  # the gate knows q from this period
            if human != gate_out.intervention:
                # Cannot happen with a fresh Joy every period; kept so the mask is the gate's.
                who = SOURCE_HUMAN if gate_out.intervention else SOURCE_HOLD
            sim.step(gate_out.command)
            states.append(q)
            actions.append(gate_out.command.copy())
            if label_q is not None:
                labels.append(label_q)
            source.append(who)
            helps.append(ask)
            step += 1
    finally:
        if operator is not None:
            operator.end_episode()
    src = np.asarray(source, dtype=np.int64)
    help_mask = np.asarray(helps, dtype=bool)
    n = cfg.n_joints
    return Episode(task=task, states=np.asarray(states).reshape(-1, n),
                   final_state=sim.q.copy(), actions=np.asarray(actions).reshape(-1, n),
                   labels=(np.asarray(labels).reshape(-1, n) if expert is not None and label
                           else None),
                   source=src, help=help_mask, takeovers=_edges(src == SOURCE_HUMAN),
                   help_requests=_edges(help_mask), success=bool(sim.success),
                   reason=sim.reason)


def sample_tasks(config: ArmConfig, count: int, seed: int,
                 ranges: Optional[TaskRanges] = None) -> list[Task]:
    """
    Draw ``count`` tasks from their own generator (independent of any rollout's noise).

    ``ArmSim`` draws tasks and actuation noise from one generator, so with noise on,
    the tasks it draws depend on how long earlier episodes ran; a fixed list from
    here gives every policy exactly the same tasks.
    """
    rng = np.random.default_rng(seed)
    return [sample_task(config, rng, ranges) for _ in range(count)]


def episode_seed(base: int, index: int) -> int:
    """Return the seed of episode ``index`` of a run seeded ``base`` (noise, beta draws)."""
    return int(np.random.SeedSequence([int(base), int(index)]).generate_state(1)[0])


def run_episodes(config: ArmConfig, tasks: Sequence[Task], *, seed: int,
                 progress: bool = False, desc: str = 'episodes',
                 **kwargs) -> list[Episode]:
    """
    Run :func:`run_episode` on every task, episode i seeded ``episode_seed(seed, i)``.

    :param kwargs: passed to :func:`run_episode` (policy, expert, beta, operator, doubt...).
    """
    sim = ArmSim(config, seed=seed)
    bar = None
    if progress:
        from tqdm import tqdm  # lazy: tqdm only when showing progress
        bar = tqdm(total=len(tasks), desc=desc, unit='ep', leave=False)
    out = []
    for i, task in enumerate(tasks):
        out.append(run_episode(sim, task, seed=episode_seed(seed, i), **kwargs))
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    return out
