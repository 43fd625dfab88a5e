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

"""The simulated operator: when it takes over, how it steers, when it lets go."""

from __future__ import annotations

from dataclasses import dataclass, field

from imitation_ros.errors import ConfigError
from imitation_ros.gate.arbiter import Arbiter, GateConfig, GateMode
from imitation_ros.gate.joy import parse_joy
from imitation_ros.gate.limits import safe_command
from imitation_ros.sim.arm import ArmConfig, ArmSim, end_effector, Task
from imitation_ros.sim.experts import DemonstratorStyle, make_expert
from imitation_ros.sim.operator import (expert_path, N_AXES, N_BUTTONS, OperatorOutput,
                                        OperatorParams, path_distance, REACTING_PREFIX,
                                        REASON_REGRIP, SimulatedOperator)
import numpy as np
import pytest
from gate_fixtures import PLANAR, PLANAR_JOY, planar_target, planar_velocity

CONFIG = ArmConfig()
DEADZONE = 0.05


def straight_policy(q: np.ndarray, task: Task, speed: float = 0.8) -> np.ndarray:
    """Move the end effector on the straight line to the goal: right through the obstacle."""
    ee = end_effector(CONFIG, q)
    to_goal = task.goal - ee
    dist = float(np.linalg.norm(to_goal))
    v = to_goal / max(dist, 1e-9) * min(speed, 2.5 * dist)
    qdot = planar_velocity(CONFIG, q, v)
    peak = float(np.max(np.abs(qdot)))
    if peak > CONFIG.max_joint_speed:
        qdot *= CONFIG.max_joint_speed / peak
    return q + qdot * CONFIG.dt


def gate_target(q: np.ndarray, out: OperatorOutput) -> np.ndarray:
    """Map the pad as the intervention gate does: deadzone, axis_map (1, 0, 3), scale."""
    axes = np.where(np.abs(out.axes) < DEADZONE, 0.0, out.axes)
    return planar_target(CONFIG, q, (axes[1], axes[0], axes[3]))


@dataclass
class Episode:
    """One HG-DAgger episode: what the operator output at every step and how it ended."""

    task: Task
    times: list[float] = field(default_factory=list)
    positions: list[np.ndarray] = field(default_factory=list)
    outputs: list[OperatorOutput] = field(default_factory=list)
    success: bool = False
    reason: str = ''
    takeovers: int = 0


def run_episodes(policy, n: int, *, seed: int = 0, params: OperatorParams | None = None,
                 operator_seed: int = 0) -> list[Episode]:
    """Roll ``policy`` with the operator watching; its pad goes through the gate mapping."""
    sim = ArmSim(CONFIG, seed=seed)
    operator = SimulatedOperator(CONFIG, params, seed=operator_seed)
    episodes = []
    for _ in range(n):
        task = sim.reset()
        operator.start_episode(task)
        ep = Episode(task=task)
        t = 0.0
        while not sim.done:
            out = operator.step(sim.q, t)
            target = gate_target(sim.q, out) if out.engaged else policy(sim.q, task)
            command, _ = safe_command(target, sim.q, CONFIG.lower, CONFIG.upper,
                                      max_step=CONFIG.max_joint_speed * CONFIG.dt)
            ep.times.append(t)
            ep.positions.append(sim.q.copy())
            ep.outputs.append(out)
            sim.step(command)
            t += CONFIG.dt
        ep.success, ep.reason, ep.takeovers = sim.success, sim.reason, operator.takeovers
        operator.end_episode()
        episodes.append(ep)
    return episodes


@pytest.fixture(scope='module')
def straight_runs() -> list[Episode]:
    """Twenty episodes of the straight-line policy with the operator watching."""
    return run_episodes(straight_policy, 20, seed=0)


def test_operator_rescues_a_policy_that_drives_into_the_obstacle(
        straight_runs: list[Episode]) -> None:
    """With the operator's takeovers the straight-line policy reaches the goal >= 90%."""
    alone = run_episodes(straight_policy, 20, seed=0,
                         params=OperatorParams(corridor_m=50.0, release_m=0.04,
                                               collision_margin_m=1e-6,
                                               collision_lookahead_s=0.0, stall_s=1e6,
                                               limit_margin_rad=0.0))
    assert sum(ep.takeovers for ep in alone) == 0
    assert sum(ep.success for ep in alone) <= 2, 'the test policy must need help'
    successes = sum(ep.success for ep in straight_runs)
    assert successes >= 18, [ep.reason for ep in straight_runs]
    assert sum(ep.takeovers > 0 for ep in straight_runs) >= 18


def _takeover_sides(params: OperatorParams, n: int = 20) -> tuple[list[int], int]:
    """Sides of every takeover of the straight-line policy over ``n`` episodes; successes."""
    sim = ArmSim(CONFIG, seed=0)
    operator = SimulatedOperator(CONFIG, params, seed=0)
    sides, successes = [], 0
    for _ in range(n):
        task = sim.reset()
        operator.start_episode(task)
        t, engaged = 0.0, False
        while not sim.done:
            out = operator.step(sim.q, t)
            if out.engaged and not engaged:
                sides.append(operator.side)
            engaged = out.engaged
            target = gate_target(sim.q, out) if out.engaged else straight_policy(sim.q, task)
            command, _ = safe_command(target, sim.q, CONFIG.lower, CONFIG.upper,
                                      max_step=CONFIG.max_joint_speed * CONFIG.dt)
            sim.step(command)
            t += CONFIG.dt
        successes += bool(sim.success)
        operator.end_episode()
    return sides, successes


def test_side_steers_every_takeover_one_way() -> None:
    """Side 0 takes the closer path (both occur); side +1 / -1 corrects on that side only."""
    nearest, _ = _takeover_sides(OperatorParams())
    assert set(nearest) == {1, -1}, nearest
    for side in (1, -1):
        sides, successes = _takeover_sides(OperatorParams(side=side))
        assert sides and set(sides) == {side}, (side, sides)
        assert successes >= 18, (side, successes)
    # A path closer by more than the margin wins over the preferred side.
    far = SimulatedOperator(CONFIG, OperatorParams(side=1, side_margin_m=0.05))
    assert far._choose_side({1: 0.3, -1: 0.1}) == -1
    assert far._choose_side({1: 0.12, -1: 0.1}) == 1


def test_takeover_starts_after_the_reaction_delay(straight_runs: list[Episode]) -> None:
    """The deadman goes down reaction_delay_s after trouble is first seen, not earlier."""
    delay = OperatorParams().reaction_delay_s
    checked = 0
    for ep in straight_runs:
        for i, out in enumerate(ep.outputs):
            if not out.engaged or (i > 0 and ep.outputs[i - 1].engaged):
                continue
            first = i
            while first > 0 and ep.outputs[first - 1].reason.startswith(REACTING_PREFIX):
                first -= 1
            waited = ep.times[i] - ep.times[first]
            assert delay - 1e-9 <= waited < delay + CONFIG.dt, waited
            assert ep.outputs[first].reason == REACTING_PREFIX + out.reason
            checked += 1
    assert checked >= 20


def test_stick_values_are_a_gamepad(straight_runs: list[Episode]) -> None:
    """Outputs are 8 axes in [-1, 1] and 11 int buttons; LB held exactly while engaged."""
    mapped = {1, 0, 3}
    for ep in straight_runs[:5]:
        for out in ep.outputs:
            assert out.axes.shape == (N_AXES,) and out.buttons.shape == (N_BUTTONS,)
            assert np.all(np.abs(out.axes) <= 1.0)
            assert out.buttons.dtype.kind == 'i' and set(out.buttons.tolist()) <= {0, 1}
            assert out.buttons[4] == int(out.engaged) and out.buttons.sum() == int(out.engaged)
            unmapped = [a for i, a in enumerate(out.axes) if i not in mapped]
            assert not any(unmapped)
            if not out.engaged:
                assert not out.axes.any()
    engaged = [out for ep in straight_runs for out in ep.outputs if out.engaged]
    assert engaged and max(np.abs(out.axes).max() for out in engaged) > 0.3


def test_release_after_recovery(straight_runs: list[Episode]) -> None:
    """It lets go only back on its path (release_m, release_hold_s) beyond the obstacle."""
    params = OperatorParams()
    releases = 0
    for ep in straight_runs:
        for i in range(1, len(ep.outputs)):
            if not (ep.outputs[i - 1].engaged and not ep.outputs[i].engaged):
                continue
            releases += 1
            # The side is the one of the takeover: the closer of the two paths to its last
            # engaged steps, all within release_m for release_hold_s.
            hold = int(round(params.release_hold_s / CONFIG.dt))
            paths = [expert_path(CONFIG, ep.task, DemonstratorStyle(side=s)) for s in (1, -1)]
            q = ep.positions[i]
            ee = end_effector(CONFIG, q)
            assert ee[0] > ep.task.obstacle[0]
            assert min(path_distance(p, ee) for p in paths) <= params.release_m
            for k in range(i - hold, i + 1):
                near = min(path_distance(p, end_effector(CONFIG, ep.positions[k]))
                           for p in paths)
                assert near <= params.release_m
    assert releases >= 15


def test_hold_until_end_keeps_control() -> None:
    """With hold_until_end the deadman stays down from the takeover to the episode end."""
    runs = run_episodes(straight_policy, 4, seed=0, params=OperatorParams(hold_until_end=True))
    for ep in runs:
        engaged = [out.engaged for out in ep.outputs]
        assert True in engaged
        first = engaged.index(True)
        assert all(engaged[first:])
        assert ep.takeovers == 1


def test_expert_never_triggers_a_takeover() -> None:
    """Twenty episodes of the multi-demonstrator expert: zero takeovers, all succeed."""
    rng = np.random.default_rng(5)
    sim = ArmSim(CONFIG, seed=0)
    operator = SimulatedOperator(CONFIG, seed=0)
    for _ in range(20):
        task = sim.reset()
        expert = make_expert('multi', CONFIG, rng)
        operator.start_episode(task)
        t = 0.0
        while not sim.done:
            out = operator.step(sim.q, t)
            assert not out.engaged and not out.reason.startswith(REACTING_PREFIX), out.reason
            sim.step(expert.action(sim.q, task))
            t += CONFIG.dt
        assert sim.success and operator.takeovers == 0


def _task() -> Task:
    return ArmSim(CONFIG, seed=1).reset()


def test_trouble_that_clears_during_the_delay_causes_no_takeover() -> None:
    """Leaving the corridor for less than the reaction delay is ignored."""
    task = _task()
    expert = make_expert('above', CONFIG, np.random.default_rng(0))
    sim = ArmSim(CONFIG)
    sim.reset(task=task)
    path = [sim.q.copy()]
    while not sim.done:
        path.append(sim.step(expert.action(sim.q, task)).q)
    operator = SimulatedOperator(CONFIG)
    operator.start_episode(task)
    q_off = task.start * np.array([0.8, 1.0, 1.0])  # first joint 20 % toward straight
    assert min(operator.distances(q_off).values()) > OperatorParams().corridor_m
    for k, q_expert in enumerate(path):
        off = 3 <= k < 6  # off the corridor for 0.15 s < 0.25 s
        out = operator.step(q_off if off else q_expert, k * CONFIG.dt)
        assert not out.engaged
        assert out.reason == (REACTING_PREFIX + 'off_corridor' if off else 'ok')
    assert operator.takeovers == 0


def _expert_run(help_steps: range) -> tuple[list[OperatorOutput], bool]:
    """
    Let the 'above' expert drive while the gate asks for help during ``help_steps``.

    Like the gate, the request is withdrawn once the operator holds the deadman.
    """
    task = _task()
    expert = make_expert('above', CONFIG, np.random.default_rng(0))
    sim = ArmSim(CONFIG)
    sim.reset(task=task)
    operator = SimulatedOperator(CONFIG)
    operator.start_episode(task)
    outputs: list[OperatorOutput] = []
    k = 0
    while not sim.done:
        asked = k in help_steps and not operator.engaged
        out = operator.step(sim.q, k * CONFIG.dt, help_requested=asked)
        outputs.append(out)
        target = gate_target(sim.q, out) if out.engaged else expert.action(sim.q, task)
        command, _ = safe_command(target, sim.q, CONFIG.lower, CONFIG.upper,
                                  max_step=CONFIG.max_joint_speed * CONFIG.dt)
        sim.step(command)
        k += 1
    return outputs, bool(sim.success)


def test_help_request_is_answered_after_the_reaction_delay() -> None:
    """A help request on a fine-looking arm: takeover (reason help) after the delay, release."""
    delay_steps = round(OperatorParams().reaction_delay_s / CONFIG.dt)
    outputs, success = _expert_run(range(10, 20))
    reasons = [o.reason for o in outputs]
    assert reasons[:10] == ['ok'] * 10
    assert reasons[10:10 + delay_steps] == [REACTING_PREFIX + 'help'] * delay_steps
    first = next(i for i, o in enumerate(outputs) if o.engaged)
    assert first == 10 + delay_steps and outputs[first].reason == 'help'
    held = [o for o in outputs if o.engaged]
    assert any(np.any(np.abs(o.axes) > 0.05) for o in held), 'it must steer'
    last = max(i for i, o in enumerate(outputs) if o.engaged)
    assert last < len(outputs) - 1 and not outputs[last + 1].engaged, 'it must let go'
    assert all(o.engaged for o in outputs[first:last + 1]), 'one takeover, one release'
    assert success


def test_help_withdrawn_during_the_delay_causes_no_takeover() -> None:
    """A help request shorter than the reaction delay is not answered; default is no help."""
    outputs, success = _expert_run(range(10, 13))
    assert [o.reason for o in outputs[10:13]] == [REACTING_PREFIX + 'help'] * 3
    assert not any(o.engaged for o in outputs) and outputs[13].reason == 'ok'
    quiet, _ = _expert_run(range(0))
    assert all(o.reason == 'ok' and not o.engaged for o in quiet)
    assert success


def test_gate_and_operator_close_the_help_loop() -> None:
    """
    Gate + operator: doubt near the obstacle -> hold, help, takeover, release; goal reached.

    The gate asks again after each release while the doubt stays high, and every
    request is answered by one takeover; no policy command passes in doubt.
    """
    gate_cfg = GateConfig(robot=PLANAR, joy=PLANAR_JOY,
                          max_joint_step=CONFIG.max_joint_speed * CONFIG.dt,
                          help_threshold=0.5, help_release_s=0.5)
    for seed in range(3):
        sim = ArmSim(CONFIG, seed=seed)
        task = sim.reset()
        expert = make_expert('above', CONFIG, np.random.default_rng(seed))
        gate = Arbiter(gate_cfg)
        operator = SimulatedOperator(CONFIG)
        operator.start_episode(task)
        now, modes = 0.0, []
        while not sim.done:
            q = sim.q.copy()
            gate.on_joint_state(q, now)
            unfamiliar = abs(end_effector(CONFIG, q)[0] - task.obstacle[0]) < 0.3
            gate.on_uncertainty(1.0 if unfamiliar else 0.1, now)
            gate.on_policy_action(expert.action(q, task), now)
            pad = operator.step(q, now, help_requested=gate.help_requested(now))
            gate.on_joy(parse_joy(pad.axes, pad.buttons, PLANAR_JOY, now), now)
            out = gate.tick(now)
            assert out is not None
            assert not (unfamiliar and out.mode is GateMode.POLICY), 'policy passed in doubt'
            modes.append(out.mode)
            sim.step(out.command)
            now += CONFIG.dt
        assert sim.success, sim.reason
        assert gate.counts['help_requests'] >= 1
        assert operator.takeovers == gate.counts['help_requests']
        assert GateMode.HOLD_HELP in modes and GateMode.HUMAN in modes


def _gate_loop(lost_steps: int, seed: int = 0) -> dict:
    """
    Gate + operator + the straight policy; ``lost_steps`` pads go missing mid-takeover.

    The operator hears the gate's mode of the previous tick, as sim_human hears
    imitation/gate_state. Returns the modes, the pads, the counts.
    """
    gate = Arbiter(GateConfig(robot=PLANAR, joy=PLANAR_JOY,
                              max_joint_step=CONFIG.max_joint_speed * CONFIG.dt))
    sim = ArmSim(CONFIG, seed=seed)
    task = sim.reset()
    operator = SimulatedOperator(CONFIG)
    operator.start_episode(task)
    now, mode, modes, pads, lost_at = 0.0, None, [], [], None
    while not sim.done and now < 30.0:
        q = sim.q.copy()
        gate.on_joint_state(q, now)
        gate.on_policy_action(straight_policy(q, task), now)
        pad = operator.step(q, now, joy_lost=mode is GateMode.HOLD_JOY_LOST)
        if lost_at is None and pad.engaged and operator.takeovers == 1:
            lost_at = len(pads) + 5  # the cable goes loose 5 pads into the first takeover
        if lost_at is None or not lost_at <= len(pads) < lost_at + lost_steps:
            gate.on_joy(parse_joy(pad.axes, pad.buttons, PLANAR_JOY, now), now)
        out = gate.tick(now)
        assert out is not None
        mode = out.mode
        modes.append(mode)
        pads.append(pad)
        sim.step(out.command)
        now += CONFIG.dt
    return {'modes': modes, 'pads': pads, 'operator': operator, 'gate': gate,
            'success': sim.success, 'lost_at': lost_at}


def test_operator_regrips_after_the_gates_joy_lost_hold() -> None:
    """A joy-lost hold mid-takeover: the deadman let go, pressed again, the human drives on."""
    params = OperatorParams()
    lost = round(0.3 / CONFIG.dt)  # a 0.3 s gap: more than the gate's joy_timeout_s (0.2)
    run = _gate_loop(lost)
    modes, pads, operator = run['modes'], run['pads'], run['operator']
    held = modes.index(GateMode.HOLD_JOY_LOST)
    assert run['gate'].counts['joy_losses'] == 1
    back = next(i for i in range(held, len(modes)) if modes[i] is GateMode.HUMAN)
    regrip = [i for i in range(held, back) if pads[i].reason == REASON_REGRIP]
    assert regrip, 'the deadman must be let go before the human drives again'
    assert all(not pads[i].buttons[params.enable_button] for i in regrip)
    assert not np.any([pads[i].axes for i in regrip])
    # The gap is noticed once the gate reports it, after the reaction delay.
    noticed = held + 1 + round(params.reaction_delay_s / CONFIG.dt)
    assert regrip[0] == noticed
    assert len(regrip) == max(1, round(params.regrip_s / CONFIG.dt))
    assert pads[regrip[-1] + 1].engaged and pads[regrip[-1] + 1].buttons[params.enable_button]
    assert operator.regrips == 1
    assert operator.takeovers == run['gate'].counts['takeovers'] - 1, \
        'the re-grip is the same takeover for the operator, a new one for the gate'
    assert GateMode.HOLD_JOY_LOST not in modes[back:]


def test_without_a_gap_nothing_is_regripped() -> None:
    """No missing pads: no joy-lost hold and no re-grip in the whole episode."""
    run = _gate_loop(0)
    assert GateMode.HOLD_JOY_LOST not in run['modes']
    assert run['operator'].regrips == 0
    assert not any(p.reason == REASON_REGRIP for p in run['pads'])
    assert run['success']


def test_a_joy_lost_report_shorter_than_the_reaction_or_while_idle_is_ignored() -> None:
    """A report that ends within the reaction delay, or comes with no takeover: nothing."""
    params = OperatorParams()
    task = _task()
    operator = SimulatedOperator(CONFIG, params)
    operator.start_episode(task)
    for k in range(10):  # on the expert's start: watching, not engaged
        out = operator.step(task.start, k * CONFIG.dt, joy_lost=True)
        assert not out.engaged and out.reason != REASON_REGRIP
    q = task.start.copy()
    q[0] = CONFIG.joint_upper[0] - 0.05 if q[0] > 0 else CONFIG.joint_lower[0] + 0.05
    t = 1.0
    out = operator.step(q, t)
    while not out.engaged:
        t += CONFIG.dt
        out = operator.step(q, t)
    delay = round(params.reaction_delay_s / CONFIG.dt)
    short = delay - 1  # periods of report: shorter than the reaction delay
    for k in range(20):
        t += CONFIG.dt
        out = operator.step(q, t, joy_lost=k < short)
        assert out.engaged and out.buttons[params.enable_button], k
    assert operator.regrips == 0
    for k in range(delay + 1):
        t += CONFIG.dt
        out = operator.step(q, t, joy_lost=True)
        assert (out.reason == REASON_REGRIP) == (k == delay), k
    assert operator.regrips == 1


def test_stall_and_joint_limit_trigger_takeovers() -> None:
    """An arm that stops for stall_s, or nears a joint limit, gets taken over after the delay."""
    params = OperatorParams()
    task = _task()
    operator = SimulatedOperator(CONFIG, params)
    operator.start_episode(task)
    t = 0.0
    out = operator.step(task.start, t)
    while not out.engaged:
        t = round(t + CONFIG.dt, 10)
        out = operator.step(task.start, t)
        assert t < 3.0
    assert out.reason == 'stalled'
    assert t == pytest.approx(params.stall_s + params.reaction_delay_s)

    operator.start_episode(task)
    q = task.start.copy()
    q[0] = CONFIG.joint_upper[0] - 0.05 if q[0] > 0 else CONFIG.joint_lower[0] + 0.05
    assert operator.step(q, 0.0).reason == REACTING_PREFIX + 'joint_limit'
    out = operator.step(q, params.reaction_delay_s)
    assert out.engaged and out.reason == 'joint_limit' and operator.takeovers == 1


def test_idle_between_episodes() -> None:
    """Before start_episode and after end_episode the pad is all zeros."""
    operator = SimulatedOperator(CONFIG)
    out = operator.step(np.zeros(3), 0.0)
    assert not out.engaged and out.reason == 'idle' and not out.axes.any()
    assert not out.buttons.any()
    task = _task()
    operator.start_episode(task)
    operator.end_episode()
    assert operator.step(task.start, 1.0).reason == 'idle'


def test_deterministic_given_the_seed() -> None:
    """Same seed, same pad values (with reaction jitter and stick noise); another seed differs."""
    params = OperatorParams(reaction_jitter_s=0.2, stick_noise=0.05)

    def trace(seed: int) -> np.ndarray:
        runs = run_episodes(straight_policy, 3, seed=2, params=params, operator_seed=seed)
        return np.array([np.concatenate([o.axes, o.buttons]) for ep in runs for o in ep.outputs])

    a, b, c = trace(7), trace(7), trace(8)
    np.testing.assert_array_equal(a, b)
    assert a.shape != c.shape or not np.array_equal(a, c)


@pytest.mark.parametrize('bad', [
    {'corridor_m': 0.0}, {'reaction_delay_s': -0.1}, {'release_m': 0.2},
    {'enable_button': 11}, {'axis_map': (1, 1, 3)}, {'axis_map': (1, 0)},
    {'stall_s': float('nan')}, {'stick_noise': -1.0}, {'side': 2}, {'side': True},
    {'side_margin_m': -0.1}, {'regrip_s': -0.1}])
def test_invalid_parameters_are_rejected(bad: dict) -> None:
    """Out-of-range thresholds and malformed mappings raise ConfigError."""
    with pytest.raises(ConfigError):
        OperatorParams(**bad)


def test_robot_gated_operator_acts_only_on_requests_and_hands_back() -> None:
    """Robot-gated: trouble alone never engages; a request does after the delay; its end frees."""
    task = _task()
    operator = SimulatedOperator(CONFIG, OperatorParams(watch=False))
    operator.start_episode(task)
    q_off = task.start * np.array([0.8, 1.0, 1.0])  # off both corridors: a watcher takes over
    assert min(operator.distances(q_off).values()) > OperatorParams().corridor_m
    for k in range(40):
        assert not operator.step(q_off, k * CONFIG.dt).engaged
    delay_steps = round(OperatorParams().reaction_delay_s / CONFIG.dt)
    outs = [operator.step(q_off, (40 + k) * CONFIG.dt, help_requested=True)
            for k in range(delay_steps + 10)]
    first = next(i for i, o in enumerate(outs) if o.engaged)
    assert first == delay_steps and outs[first].reason == 'help'
    assert all(o.engaged for o in outs[first:]), 'it keeps control while the request stands'
    now = (40 + len(outs)) * CONFIG.dt
    assert not operator.step(q_off, now, help_requested=False).engaged, 'hands back'
    for k in range(1, 40):
        assert not operator.step(q_off, now + k * CONFIG.dt).engaged
    assert operator.takeovers == 1
