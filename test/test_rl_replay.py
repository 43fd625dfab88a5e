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

"""The task reward, the transitions of episodes and bags, and the two replay buffers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from imitation_ros.data import EpisodeRecord, load_dataset, write_episode
from imitation_ros.errors import ConfigError, DataError
from imitation_ros.sim.arm import ArmConfig, end_effector
from imitation_ros.training.rl.replay import (from_dataset, ReplayBuffer, symmetric_sample,
                                              Transitions)
from imitation_ros.training.rl.reward import (end_effector_xy, episode_rewards, goal_distance,
                                              RewardConfig)

ARM = ArmConfig()
LINKS = ARM.link_lengths
TASK = np.array([2.05, 0.0, 1.55, 0.0, 0.16])


def _transitions(n: int, offset: float = 0.0, human: bool = False) -> Transitions:
    """Return n distinguishable transitions (state[:, 0] counts from ``offset``)."""
    state = np.zeros((n, 3))
    state[:, 0] = offset + np.arange(n)
    return Transitions(state=state, task=np.tile(TASK, (n, 1)), action=state + 0.01,
                       reward=np.zeros(n), next_state=state + 0.01, done=np.zeros(n, bool),
                       human=np.full(n, human))


def test_end_effector_matches_the_sim_kinematics() -> None:
    """The reward's forward kinematics is the sim's."""
    q = np.random.default_rng(0).uniform(-2, 2, (10, 3))
    np.testing.assert_allclose(end_effector_xy(LINKS, q), end_effector(ARM, q), atol=1e-12)


def test_progress_is_rewarded_and_the_outcome_ends_the_episode() -> None:
    """Moving toward the goal earns reward; success and collisions are terminal, timeouts not."""
    cfg = RewardConfig()
    q0 = np.array([[0.3, -0.4, 0.2]])
    toward = q0 * 0.5  # unfolding the arm brings the tip closer to a goal straight ahead
    assert goal_distance(LINKS, toward, TASK) < goal_distance(LINKS, q0, TASK)
    r, done = episode_rewards(cfg, LINKS, TASK, q0, toward, '')
    assert r[0] > 0 and not done[0]
    r_back, _ = episode_rewards(cfg, LINKS, TASK, toward, q0, '')
    assert r_back[0] == pytest.approx(-r[0])
    states = np.vstack([q0, q0])
    r_ok, done_ok = episode_rewards(cfg, LINKS, TASK, states, states, 'success')
    assert r_ok.tolist() == [0.0, cfg.success] and done_ok.tolist() == [False, True]
    for reason in ('collision', 'joint_limit'):
        r_bad, done_bad = episode_rewards(cfg, LINKS, TASK, states, states, reason)
        assert r_bad[-1] == cfg.failure and done_bad[-1]
    r_t, done_t = episode_rewards(cfg, LINKS, TASK, states, states, 'timeout')
    assert not done_t.any() and not r_t.any()


def test_reward_weights_are_checked() -> None:
    """A reward that pays for failing or punishes progress is refused."""
    with pytest.raises(ConfigError):
        RewardConfig(failure=1.0)
    with pytest.raises(ConfigError):
        RewardConfig(progress=-1.0)


def test_transitions_refuse_non_finite_values() -> None:
    """A transition holding NaN never enters a replay buffer."""
    t = _transitions(3)
    bad = t.reward.copy()
    bad[1] = np.nan
    with pytest.raises(DataError):
        Transitions(t.state, t.task, t.action, bad, t.next_state, t.done, t.human)


def test_the_replay_buffer_is_bounded_and_first_in_first_out() -> None:
    """A full buffer drops its oldest transitions and never grows past its capacity."""
    buf = ReplayBuffer(5, 3, 5)
    buf.add(_transitions(3, 0))
    buf.add(_transitions(4, 100))
    assert len(buf) == 5 and buf.added == 7
    assert sorted(buf.all().state[:, 0].tolist()) == [2.0, 100.0, 101.0, 102.0, 103.0]
    buf.add(_transitions(12, 1000))
    assert sorted(buf.all().state[:, 0].tolist()) == [1007.0, 1008.0, 1009.0, 1010.0, 1011.0]


def test_symmetric_sampling_draws_half_from_the_prior_buffer() -> None:
    """A batch draws the prior fraction from the prior buffer, the rest from the online one."""
    prior, online = ReplayBuffer(10, 3, 5), ReplayBuffer(100, 3, 5)
    prior.add(_transitions(10, 0, human=True))
    online.add(_transitions(100, 1000))
    batch, mask = symmetric_sample(np.random.default_rng(0), prior, online, 64, 0.5)
    assert mask.sum() == 32
    assert np.all(batch.state[mask, 0] < 10) and np.all(batch.state[~mask, 0] >= 1000)
    empty = ReplayBuffer(10, 3, 5)
    batch, mask = symmetric_sample(np.random.default_rng(0), prior, empty, 16, 0.5)
    assert mask.all()


def _record(episode: int, steps: int, reason: str, source: str,
            human_from: int | None = None) -> EpisodeRecord:
    """Return a straight-line episode of ``steps`` commands ending with ``reason``."""
    q = np.linspace([1.8, -2.5, 0.0], [0.2, -0.3, 0.0], steps + 1)
    human = np.zeros(steps, dtype=bool)
    if human_from is not None:
        human[human_from:] = True
    return EpisodeRecord(joint_names=ARM.joint_names, t0_ns=10**9 + episode * 10**10, dt=0.05,
                         positions=q, velocities=np.zeros_like(q), task=TASK, actions=q[1:],
                         intervention=human, episode=episode, success=reason == 'success',
                         reason=reason, source=source)


def test_bag_transitions_chain_states_and_end_with_the_outcome(tmp_path: Path) -> None:
    """Recorded episodes become transitions: next state, the outcome, the human's steps."""
    write_episode(_record(0, 12, 'success', 'demo'), tmp_path / 's' / 'ep_00000')
    write_episode(_record(1, 10, 'collision', 'hg_dagger', human_from=6),
                  tmp_path / 's' / 'ep_00001')
    data = load_dataset(tmp_path, index=False)
    tr = from_dataset(data, RewardConfig(), LINKS)
    assert len(tr) == 22
    np.testing.assert_allclose(tr.next_state[:11], tr.state[1:12])
    assert tr.done.sum() == 2
    for rec, rows in ((_record(0, 12, 'success', 'demo'), slice(0, 12)),
                      (_record(1, 10, 'collision', 'hg_dagger'), slice(12, 22))):
        nxt = rec.positions[1:].copy()
        nxt[-1] = np.nan  # the loaded samples end at the last command: its outcome only
        expected, _ = episode_rewards(RewardConfig(), LINKS, TASK, rec.positions[:-1], nxt,
                                      rec.reason)
        np.testing.assert_allclose(tr.reward[rows], expected, atol=1e-9)
    assert tr.human[:12].all() and tr.human[12:].sum() == 4
