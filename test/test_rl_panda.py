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

"""RL fine-tuning on the MuJoCo Panda: rewards, the gate in every episode, export, the study."""

from dataclasses import replace
from pathlib import Path

from imitation_ros.dagger.panda_loop import panda_gate_config, run_panda_episode
from imitation_ros.errors import ConfigError, TrainingError
from imitation_ros.runtime.onnx_policy import OnnxPolicy
from imitation_ros.sim.panda.experts import ReachExpert, ReachStyle
from imitation_ros.sim.panda.model import PandaConfig
from imitation_ros.sim.panda.operator import PandaOperator, PandaOperatorParams
from imitation_ros.sim.panda.sim import PandaSim
from imitation_ros.studies.rl_panda import (_Bank, PandaRlConfig, QUICK_PANDA, QUICK_PANDA_RL,
                                            run_rl_panda_study)
from imitation_ros.training.rl import FinetuneConfig, prepare_actor, RewardConfig, save_finetuned
from imitation_ros.training.rl.panda import expert_controller, finetune_in_panda, \
    panda_transitions
from imitation_ros.training.rl.reward import distance_rewards
import numpy as np
import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
URDF = (ROOT / 'urdf' / 'panda.urdf').read_text(encoding='utf-8')
GATE = panda_gate_config(URDF)


@pytest.fixture(scope='module')
def demos() -> list:
    sim = PandaSim(PandaConfig(camera=False), task_kind='reach')
    expert = ReachExpert(sim.kinematics, sim.config, ReachStyle(side=1))
    out = [run_panda_episode(sim, expert_controller(sim, expert), GATE, seed=100 + i)
           for i in range(3)]
    sim.close()
    return out


@pytest.fixture(scope='module')
def bc(demos, tmp_path_factory) -> tuple:
    """Clone a small mse policy of the seven arm joints from the demonstrations."""
    bank = _Bank()
    for d in demos:
        bank.add(d, np.ones(d.steps, dtype=bool))
    path = tmp_path_factory.mktemp('bc') / 'bc.onnx'
    return bank.train(path, 200, seed=0), path


def test_distance_rewards_pay_progress_and_the_outcome() -> None:
    """Progress per metre closer, the terminal reward on the last step, NaN earns nothing."""
    cfg = RewardConfig(success=10.0, failure=-10.0, progress=5.0)
    r, done = distance_rewards(cfg, np.array([0.3, 0.2, np.nan]), np.array([0.2, 0.25, 0.1]),
                               'success')
    np.testing.assert_allclose(r, [0.5, -0.25, 10.0])
    assert done.tolist() == [False, False, True]
    r, done = distance_rewards(cfg, np.array([0.3]), np.array([0.3]), 'collision')
    np.testing.assert_allclose(r, [-10.0])
    r, done = distance_rewards(cfg, np.array([0.3]), np.array([0.2]), 'timeout')
    np.testing.assert_allclose(r, [0.5])
    assert not done.any()
    with pytest.raises(ConfigError):
        distance_rewards(cfg, np.zeros(2), np.zeros(3), 'success')


def test_panda_transitions_follow_the_tool_to_the_goal(demos) -> None:
    """A demonstration's transitions: chained states, tool progress, success at the end."""
    d = demos[0]
    tr = panda_transitions(d, RewardConfig(), all_human=True)
    assert len(tr) == d.steps and tr.human.all()
    np.testing.assert_allclose(tr.next_state[:-1], tr.state[1:])
    np.testing.assert_allclose(tr.next_state[-1], d.final_state)
    assert tr.done[-1] and not tr.done[:-1].any()
    start = np.linalg.norm(d.tool[0] - d.task.goal)
    end = np.linalg.norm(d.tool[-1] - d.task.goal)
    assert tr.reward.sum() == pytest.approx(5.0 * (start - end) + 10.0)
    assert not panda_transitions(d, RewardConfig()).human.any()


def test_panda_rl_refuses_to_run_without_the_gate_or_on_other_joints(bc) -> None:
    """No gate, no episode; a policy of other joints is refused before any episode."""
    policy = prepare_actor(bc[0])
    with pytest.raises(TrainingError, match='gate'):
        finetune_in_panda(policy, None, gate=None,
                          config=FinetuneConfig(episodes=1, warmup_episodes=1))
    other = replace(policy.spec, joint_names=tuple(f'j{i}' for i in range(7)))
    policy.spec = other
    with pytest.raises(ConfigError, match='seven arm joints'):
        finetune_in_panda(policy, None, gate=GATE, config=FinetuneConfig(episodes=1,
                                                                         warmup_episodes=1))


def test_operator_steps_in_panda_rl_episodes_join_the_prior_data(bc) -> None:
    """A watched RL episode's takeover steps are counted and kept as prior data."""
    operator = PandaOperator(PandaOperatorParams(side=1), seed=0)
    cfg = FinetuneConfig(episodes=3, warmup_episodes=3, critic_warmup_updates=0)
    result = finetune_in_panda(prepare_actor(bc[0]), None, gate=GATE, config=cfg, seed=0,
                               operator=operator, episode_seed=500)
    assert len(result.episodes) == 3
    assert result.online_transitions == sum(e.steps for e in result.episodes)
    assert result.prior_transitions == result.human_labels
    assert (result.human_labels > 0) == any(e.takeovers for e in result.episodes)


def test_the_finetuned_panda_policy_exports_and_matches_torch(bc, demos, tmp_path: Path) -> None:
    """After TD3 updates the policy exports to one ONNX file that ONNX Runtime runs alike."""
    policy = prepare_actor(bc[0])
    before = {k: v.clone() for k, v in policy.state_dict().items()}
    prior = panda_transitions(demos[0], RewardConfig(), all_human=True)
    cfg = FinetuneConfig(episodes=2, warmup_episodes=1, critic_warmup_updates=20,
                         updates_per_step=1.0)
    result = finetune_in_panda(policy, prior, gate=GATE, config=cfg, seed=1, episode_seed=700)
    assert result.updates > 20
    assert any(not torch.equal(before[k], v) for k, v in result.policy.state_dict().items())
    path, _ = save_finetuned(result.policy, tmp_path / 'rl.onnx', checkpoint=False)
    runtime = OnnxPolicy(path)
    state = demos[1].states.astype(np.float32)
    task = np.tile(demos[1].task.vector(), (len(state), 1)).astype(np.float32)
    with torch.no_grad():
        ref = result.policy(torch.from_numpy(state), torch.from_numpy(task)).numpy()
    np.testing.assert_allclose(runtime.act_batch(state, task), ref, atol=1e-4)


def test_a_short_panda_study_writes_its_table_and_curves(tmp_path: Path) -> None:
    """The smoke-size study runs every method on one seed and writes table, plot and cells."""
    base = PandaRlConfig()
    cfg = replace(base, **QUICK_PANDA, rl=replace(base.rl, **QUICK_PANDA_RL))
    points = run_rl_panda_study(tmp_path, URDF, cfg, seeds=(0,), progress=False)
    methods = {p.method for p in points}
    assert methods == {'bc', 'rl', 'rl_hil', 'hg_dagger'}
    bc = next(p for p in points if p.method == 'bc')
    hg = [p for p in points if p.method == 'hg_dagger']
    assert hg[-1].episodes == cfg.rounds * cfg.episodes_per_round
    assert hg[-1].labels >= bc.labels
    for name in ('table.md', 'curve.png', 'cells.json'):
        assert (tmp_path / name).is_file()
    assert 'MuJoCo Panda' in (tmp_path / 'table.md').read_text()
