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
Fine-tune a behavior-cloned policy with reinforcement learning in the MuJoCo Panda.

The Panda counterpart of :func:`~imitation_ros.training.rl.finetune_in_sim`, the
same algorithm and schedule (:func:`~imitation_ros.training.rl.finetune.learn_from_episode`)
on the reach task: every episode runs through the gate's state machine
(:func:`~imitation_ros.dagger.panda_loop.run_panda_episode`), with the simulated
operator watching when one is given (its takeovers replace the actor's commands
and join the prior data); the reward is the tool frame's progress to the goal and
the sim's outcome (:func:`~imitation_ros.training.rl.reward.distance_rewards`).
The policy is an ``mse`` model of the seven arm joints (what the demo records),
fine-tuned whole; it exports to the same ONNX file as any trained model. Not
imported by the package's ``__init__``: MuJoCo loads only when it is used.
"""

from __future__ import annotations

import time
from typing import Any, Callable, Optional

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from ...dagger.panda_loop import PandaEpisode, run_panda_episode
from ...errors import ConfigError, TrainingError
from ...gate.arbiter import GateConfig
from ...sim.panda.model import ARM_JOINTS, PandaConfig
from ...sim.panda.observe import observe
from ...sim.panda.sim import PandaSim
from .finetune import check_gated, EpisodeLog, FinetuneConfig, FinetuneResult, learn_from_episode
from .replay import ReplayBuffer, Transitions
from .reward import distance_rewards, RewardConfig
from .td3 import Td3Agent


def panda_transitions(episode: PandaEpisode, reward: RewardConfig, *,
                      all_human: bool = False) -> Transitions:
    """
    Return the transitions of one Panda episode (a ``dagger.panda_loop.PandaEpisode``).

    :param all_human: mark every step as human-driven (a demonstration); otherwise the
        episode's own mask (takeovers) says which were.
    """
    states = np.asarray(episode.states, dtype=np.float64)
    t = states.shape[0]
    next_states = np.concatenate([states[1:], np.asarray(episode.final_state).reshape(1, -1)])
    goal = np.asarray(episode.task.goal, dtype=np.float64)
    distance = np.linalg.norm(np.asarray(episode.tool) - goal, axis=1)
    rewards, done = distance_rewards(reward, distance[:-1], distance[1:], episode.reason)
    task = np.asarray(episode.task.vector(), dtype=np.float64)
    human = np.ones(t, dtype=bool) if all_human else np.asarray(episode.human, dtype=bool)
    return Transitions(state=states, task=np.tile(task, (t, 1)),
                       action=np.asarray(episode.actions, dtype=np.float64), reward=rewards,
                       next_state=next_states, done=done, human=human.copy())


def expert_controller(sim: PandaSim, expert: Any) -> Callable[[np.ndarray, np.ndarray],
                                                              np.ndarray]:
    """Return a controller that drives ``sim`` with a reach demonstrator's arm targets."""
    def controller(q: np.ndarray, task: np.ndarray) -> np.ndarray:
        return expert.action(observe(sim), sim.task)[:len(ARM_JOINTS)]
    return controller


def finetune_in_panda(policy: nn.Module, prior: Optional[Transitions], *, gate: GateConfig,
                      config: FinetuneConfig = FinetuneConfig(), seed: int = 0,
                      operator: Any = None, episode_seed: int = 30_000,
                      sim_config: Optional[PandaConfig] = None,
                      on_episode: Optional[Callable[[EpisodeLog, nn.Module], None]] = None,
                      progress: bool = False) -> FinetuneResult:
    """
    Fine-tune ``policy`` (an ``mse`` policy of the Panda's arm joints) in the Panda's reach task.

    :param prior: demonstrations (and earlier takeovers): the prior buffer's start.
    :param gate: the gate's configuration
        (:func:`~imitation_ros.dagger.panda_loop.panda_gate_config`); no episode runs
        without it.
    :param operator: a :class:`~imitation_ros.sim.panda.operator.PandaOperator` watching
        every episode, or None.
    :param episode_seed: episode i's task comes from seed ``episode_seed + i``.
    :param on_episode: called after every episode with its log and the current policy.
    """
    if not isinstance(gate, GateConfig):
        raise TrainingError('RL episodes run only through the gate: pass the gate\'s '
                            f'GateConfig (got {type(gate).__name__})')
    if tuple(policy.spec.joint_names) != tuple(ARM_JOINTS):
        raise ConfigError(f'the policy drives {list(policy.spec.joint_names)}; Panda RL '
                          f'fine-tunes a model of the seven arm joints {list(ARM_JOINTS)}')
    cfg = config
    torch_threads = torch.get_num_threads()
    started = time.perf_counter()
    n, k = policy.spec.n_joints, len(policy.spec.task_layout)
    prior_buf = ReplayBuffer(max(1, (len(prior) if prior is not None else 0)
                                 + cfg.replay_capacity), n, k)
    if prior is not None:
        prior_buf.add(prior)
    online = ReplayBuffer(cfg.replay_capacity, n, k)
    agent = Td3Agent(policy, cfg.td3, seed=seed)
    rng = np.random.default_rng([seed, 37])
    sim = PandaSim(sim_config or PandaConfig(camera=False), task_kind='reach')
    noise = cfg.explore_noise * cfg.td3.max_step

    def controller(q: np.ndarray, task: np.ndarray) -> np.ndarray:
        target = agent.act(q, task)
        return target + rng.normal(0.0, noise, target.shape) if noise > 0 else target

    result = FinetuneResult(policy=policy)
    owed = 0.0
    bar = tqdm(total=cfg.episodes, desc='rl episodes', unit='ep', leave=False) \
        if progress else None
    try:
        for i in range(cfg.episodes):
            ep = run_panda_episode(sim, controller, gate, seed=episode_seed + i,
                                   operator=operator)
            check_gated(ep.states, ep.actions, gate)
            tr = panda_transitions(ep, cfg.reward)
            owed = learn_from_episode(agent, rng, prior_buf, online, tr, i, cfg, owed, result)
            log = EpisodeLog(index=i, steps=ep.steps, success=ep.success, reason=ep.reason,
                             human_steps=int(ep.human.sum()), takeovers=ep.takeovers,
                             ret=float(tr.reward.sum()), updates=result.updates)
            result.episodes.append(log)
            if bar is not None:
                bar.update(1)
            if on_episode is not None:
                policy.eval()
                on_episode(log, policy)
                policy.train()
    finally:
        if bar is not None:
            bar.close()
        sim.close()
        torch.set_num_threads(torch_threads)
    result.prior_transitions = len(prior_buf)
    result.online_transitions = online.added
    result.seconds = time.perf_counter() - started
    result.policy = policy.eval()
    return result
