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

"""The Panda's simulated operator, closed through the gate's arbiter without ROS."""

from pathlib import Path
from typing import Callable

from imitation_ros.dagger.panda_loop import panda_gate_config
from imitation_ros.errors import ConfigError, SimError
from imitation_ros.gate.arbiter import Arbiter
from imitation_ros.gate.joy import JoyConfig, parse_joy
from imitation_ros.interface.robot import RobotModel
from imitation_ros.sim.operator import REASON_REGRIP
from imitation_ros.sim.panda.experts import ReachExpert, ReachStyle
from imitation_ros.sim.panda.interface import (BASE_LINK, check_urdf_is_the_sim,
                                               gripper_width, TIP_LINK)
from imitation_ros.sim.panda.model import PandaConfig
from imitation_ros.sim.panda.observe import observe
from imitation_ros.sim.panda.operator import PandaOperator, PandaOperatorParams
from imitation_ros.sim.panda.sim import PandaSim
from imitation_ros.sim.panda.tasks import PandaTask, READY
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
URDF = (ROOT / 'urdf' / 'panda.urdf').read_text(encoding='utf-8')
SEEDS = (0, 1, 2, 3)


@pytest.fixture(scope='module')
def sim() -> PandaSim:
    return PandaSim(PandaConfig(camera=False), task_kind='reach')


def gate_arbiter() -> tuple[Arbiter, JoyConfig]:
    """Return the gate's arbiter configured as gate_teleop says, and its joy mapping."""
    config = panda_gate_config(URDF)
    return Arbiter(config), config.joy


def run(sim: PandaSim, operator: PandaOperator, policy: Callable, seed: int) -> list[str]:
    """Run one episode: the policy's action and the operator's pad through the arbiter."""
    arbiter, joy = gate_arbiter()
    task = sim.reset(seed=seed)
    operator.start_episode(task)
    now, reasons = 0.0, []
    while not sim.done:
        q = sim.q
        arbiter.on_joint_state(q, now)
        out = operator.step(q, now)
        reasons.append(out.reason)
        arbiter.on_joy(parse_joy(out.axes.tolist(), out.buttons.tolist(), joy, now), now)
        arbiter.on_policy_action(policy(sim, task), now)
        decision = arbiter.tick(now)
        sim.step(np.concatenate([q if decision is None else decision.command, [0.08]]))
        now += sim.config.dt
    return reasons


def straight_at_goal(sim: PandaSim, task: PandaTask) -> np.ndarray:
    """Steer the tool straight at the goal, through the pole (a bad policy)."""
    q = sim.q
    step = task.goal - sim.tcp
    step *= min(0.012, float(np.linalg.norm(step))) / max(float(np.linalg.norm(step)), 1e-9)
    return q + np.linalg.pinv(sim.kinematics.jacobian(q)[:3]) @ step


@pytest.mark.parametrize('side', [1, -1])
def test_operator_watching_a_demonstrator_never_takes_over(sim: PandaSim, side: int) -> None:
    """A demonstrator driving the arm stays in the corridor: no takeover, success."""
    expert = ReachExpert(sim.kinematics, sim.config, ReachStyle(side=side))
    for seed in SEEDS:
        operator = PandaOperator(seed=seed)
        run(sim, operator, lambda s, t: expert.action(observe(s), t)[:7], seed)
        assert sim.reason == 'success' and operator.takeovers == 0, (seed, sim.reason)


def test_operator_takes_over_a_stalled_arm_and_steers_it_to_the_goal(sim: PandaSim) -> None:
    """An arm held at its start stalls; the operator's sticks through the gate reach the goal."""
    for seed in SEEDS:
        operator = PandaOperator(PandaOperatorParams(hold_until_end=True), seed=seed)
        reasons = run(sim, operator, lambda s, t: t.start, seed)
        assert sim.reason == 'success', (seed, sim.reason)
        assert operator.takeovers == 1 and 'stalled' in reasons
        stall_steps = PandaOperatorParams().stall_s / sim.config.dt
        assert reasons.index('stalled') >= stall_steps  # it watched first


def test_operator_prevents_the_collision_of_a_policy_steering_into_the_pole(
        sim: PandaSim) -> None:
    """A policy heading through the pole is taken over (collision_risk), released past it."""
    for seed in SEEDS:
        operator = PandaOperator(seed=seed)
        reasons = run(sim, operator, straight_at_goal, seed)
        assert sim.reason == 'success', (seed, sim.reason)
        assert 'collision_risk' in reasons, 'no takeover'
        assert 'ok' in reasons[reasons.index('collision_risk'):], 'never released'


def test_without_operator_that_policy_collides(sim: PandaSim) -> None:
    """The same policy alone runs into the pole: what the operator prevents is real."""
    for seed in SEEDS:
        sim.reset(seed=seed)
        task = sim.task
        while not sim.done:
            sim.step(np.concatenate([straight_at_goal(sim, task), [0.08]]))
        assert sim.reason == 'collision', (seed, sim.reason)


def test_pad_is_idle_between_episodes_and_noise_is_deterministic(sim: PandaSim) -> None:
    """Before and after an episode the pad is all zeros; the same seed gives the same sticks."""
    params = PandaOperatorParams(stick_noise=0.1, hold_until_end=True)
    runs = []
    for _ in range(2):
        operator = PandaOperator(params, seed=5)
        out = operator.step(READY, 0.0)
        assert not out.engaged and not out.axes.any() and not out.buttons.any()
        run(sim, operator, lambda s, t: t.start, SEEDS[0])
        runs.append(sim.q)
        operator.end_episode()
        assert not operator.step(READY, 99.0).buttons.any()
    np.testing.assert_array_equal(runs[0], runs[1])


def test_pick_tasks_and_bad_settings_are_refused() -> None:
    """The operator drives reach only; inconsistent thresholds are configuration errors."""
    operator = PandaOperator()
    with pytest.raises(ConfigError, match='reach task only'):
        operator.start_episode(PandaTask('pick', READY.copy()))
    with pytest.raises(ConfigError, match='release_m'):
        PandaOperatorParams(release_m=0.1, corridor_m=0.05)
    with pytest.raises(ConfigError, match='axis_map'):
        PandaOperatorParams(axis_map=(1, 1, 4))


def test_urdf_check_and_gripper_command_of_the_interface() -> None:
    """The package's Panda URDF is the sim; finger commands give the gap, bad ones refuse."""
    sim = PandaSim(PandaConfig(camera=False))
    check_urdf_is_the_sim(RobotModel.from_urdf(URDF, base_link=BASE_LINK, tip_link=TIP_LINK),
                          sim.kinematics)
    planar = (ROOT / 'urdf' / 'planar3.urdf').read_text(encoding='utf-8')
    with pytest.raises(ConfigError):
        check_urdf_is_the_sim(RobotModel.from_urdf(planar), sim.kinematics)
    assert gripper_width([0.04]) == pytest.approx(0.08)
    assert gripper_width([0.01, 0.02]) == pytest.approx(0.03)
    for bad in ([], [0.01, 0.01, 0.01], [float('nan')], [0.05], [-0.01]):
        with pytest.raises(SimError):
            gripper_width(bad)


def test_operator_regrips_after_the_gates_joy_lost_hold(sim: PandaSim) -> None:
    """Told the gate holds for a lost pad, it lets go after its reaction delay, presses again."""
    p = PandaOperatorParams(hold_until_end=True)
    operator = PandaOperator(p, seed=0)
    task = sim.reset(seed=0)
    operator.start_episode(task)
    now, dt = 0.0, sim.config.dt
    while not operator.step(task.start, now).engaged:  # the arm held still stalls
        now += dt
        assert now < 10.0
    lost = [operator.step(task.start, now + k * dt, joy_lost=True)
            for k in range(1, int((p.reaction_delay_s + p.regrip_s) / dt) + 4)]
    released = [i for i, out in enumerate(lost) if not out.engaged]
    assert released, 'never let go'
    first = released[0]
    assert first * dt >= p.reaction_delay_s - dt  # it noticed after its reaction delay
    assert lost[first].reason == REASON_REGRIP and not lost[first].buttons.any()
    again = operator.step(task.start, now + (len(lost) + 1 + p.regrip_s / dt) * dt)
    assert again.engaged and again.buttons[p.enable_button] == 1
    assert operator.takeovers == 1 and operator.regrips >= 1
