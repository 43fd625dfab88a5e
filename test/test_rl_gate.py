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

"""The gate holds with an RL policy in the loop; a takeover stops RL actions; no RL without it."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from imitation_ros.dagger.loop import gate_config, run_episode, sample_tasks
from imitation_ros.errors import TrainingError
from imitation_ros.gate.limits import safe_command
from imitation_ros.policies import make_policy
from imitation_ros.runtime.onnx_policy import OnnxPolicy
from imitation_ros.sim.arm import ArmConfig, ArmSim, TASK_LAYOUT
from imitation_ros.sim.operator import OperatorParams, SimulatedOperator
from imitation_ros.training.rl import (check_gated, finetune_in_sim, FinetuneConfig,
                                       prepare_actor, save_finetuned)
from imitation_ros.training.trainer import build_training_set, fit_spec

ARM = ArmConfig(actuation_noise=0.01)
GATE = gate_config(ARM)


def _wild_policy(push: float = 1.0):
    """Return an mse policy whose every action is ``push * (1, -1, 1)`` rad from the position."""
    rng = np.random.default_rng(0)
    state = rng.uniform(-2.0, 2.0, (200, 3))
    task = np.tile([2.05, 0.0, 1.55, 0.0, 0.16], (200, 1))
    data = build_training_set(state, task, state + rng.normal(0, 0.05, (200, 3)),
                              np.repeat(np.arange(10), 20), np.tile(np.arange(20), 10))
    spec = fit_spec(data, ARM.joint_names, TASK_LAYOUT, link_lengths=ARM.link_lengths)
    torch.manual_seed(0)
    policy = prepare_actor(make_policy('mse', spec, {'hidden': (16, 16)}))
    last = policy.net[-1]
    std = torch.tensor(spec.action_norm.std, dtype=torch.float32)
    mean = torch.tensor(spec.action_norm.mean, dtype=torch.float32)
    with torch.no_grad():  # as if RL had pushed the actor far off: a jump of ``push`` rad
        last.weight.zero_()
        last.bias.copy_((torch.tensor([push, -push, push]) - mean) / std)
    return policy


@pytest.fixture(scope='module')
def wild_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Export the wild RL policy as the policy node would load it."""
    path, _ = save_finetuned(_wild_policy(), tmp_path_factory.mktemp('rl') / 'wild.onnx')
    return path


class _Recorder:
    """A controller around the exported policy that keeps every proposal."""

    def __init__(self, model: Path) -> None:
        self.policy = OnnxPolicy(model)
        self.proposals: list[tuple[np.ndarray, np.ndarray]] = []

    def __call__(self, q: np.ndarray, task) -> np.ndarray:
        action = self.policy.act(q, task.vector())
        self.proposals.append((q.copy(), action.copy()))
        return action


def test_every_command_of_an_rl_policy_stays_inside_the_gates_limits(wild_model: Path) -> None:
    """The exported RL policy asks for 1 rad jumps; the gate sends only safe steps."""
    sim = ArmSim(ARM, seed=0)
    for i, task in enumerate(sample_tasks(ARM, 3, seed=5)):
        ctl = _Recorder(wild_model)
        ep = run_episode(sim, task, policy=ctl, gate=GATE, seed=i, label=False)
        proposals = np.array([a for _, a in ctl.proposals])
        assert np.max(np.abs(proposals - ep.states)) > 0.5, 'the policy should ask for jumps'
        step = np.max(np.abs(ep.actions - ep.states), axis=1)
        assert np.all(step <= GATE.max_joint_step + 1e-9)
        inside = np.all((ep.states >= ARM.lower) & (ep.states <= ARM.upper), axis=1)
        lo, hi = ARM.lower + GATE.limit_margin, ARM.upper - GATE.limit_margin
        assert np.all((ep.actions[inside] >= lo - 1e-9) & (ep.actions[inside] <= hi + 1e-9))
        check_gated(ep.states, ep.actions, GATE)


def test_a_takeover_stops_the_rl_actions(tmp_path: Path) -> None:
    """Once the operator holds the deadman, the gate executes the sticks, not the RL policy."""
    operator = SimulatedOperator(ARM, OperatorParams(side=1, hold_until_end=True), seed=0)
    # A policy that only holds: the operator sees the arm stall and takes over.
    ctl = _Recorder(save_finetuned(_wild_policy(push=0.0), tmp_path / 'hold.onnx')[0])
    ep = run_episode(ArmSim(ARM, seed=0), sample_tasks(ARM, 1, seed=5)[0], policy=ctl,
                     operator=operator, gate=GATE, seed=0, label=False)
    human = ep.human
    assert human.any() and not human[0], 'the operator should take over during the episode'
    proposals = {i: a for i, (_, a) in enumerate(ctl.proposals)}
    gated = np.array([safe_command(proposals[t], ep.states[t], ARM.lower, ARM.upper,
                                   max_step=GATE.max_joint_step)[0]
                      if t in proposals else np.full(3, np.nan) for t in range(ep.steps)])
    policy_steps = ~human
    np.testing.assert_allclose(ep.actions[policy_steps], gated[policy_steps], atol=1e-9)
    first = int(np.argmax(human))
    assert np.all(human[first:]), 'hold_until_end keeps control to the end'
    # The policy is not asked during a takeover, and nothing it proposed is executed.
    assert len(ctl.proposals) == first
    moved = np.max(np.abs(ep.actions[first:] - ep.states[first:]), axis=1)
    assert np.all(moved <= GATE.max_joint_step + 1e-9) and moved.max() > 0.02
    assert ep.success, 'the operator drives the arm to the goal'


def test_interventions_during_rl_episodes_join_the_prior_data() -> None:
    """The operator's steps in RL episodes are recorded, counted and kept as prior data."""
    operator = SimulatedOperator(ARM, OperatorParams(side=1), seed=0)
    cfg = FinetuneConfig(episodes=2, warmup_episodes=2, critic_warmup_updates=0)
    result = finetune_in_sim(_wild_policy(push=0.0), None, arm=ARM, gate=GATE, config=cfg,
                             seed=0, operator=operator)
    assert result.human_labels > 0
    assert sum(e.takeovers for e in result.episodes) >= 1
    assert result.prior_transitions == result.human_labels
    assert result.online_transitions == sum(e.steps for e in result.episodes)


def test_rl_episodes_refuse_to_run_without_the_gate() -> None:
    """No gate configuration, no RL episode; a command the gate cannot produce is refused."""
    with pytest.raises(TrainingError, match='gate'):
        finetune_in_sim(_wild_policy(), None, arm=ARM, gate=None,
                        config=FinetuneConfig(episodes=1, warmup_episodes=1))
    q = np.zeros((2, 3))
    check_gated(q, q + 0.05, GATE)
    with pytest.raises(TrainingError, match='gate'):
        check_gated(q, q + np.array([0.0, 0.3, 0.0]), GATE)
    at_limit = np.tile(ARM.upper, (1, 1))
    with pytest.raises(TrainingError):
        check_gated(at_limit - 0.01, at_limit, replace(GATE, max_joint_step=0.1))
