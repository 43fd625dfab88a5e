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
The task reward of reinforcement-learning fine-tuning (numpy only).

Per control period ``t`` (state ``s_t`` measured before the command, ``s_{t+1}``
after it), in reward units:

* **progress**: ``progress * (d(s_t) - d(s_{t+1}))``, where ``d`` is the end
  effector's distance to the goal (m): on the planar arm by forward kinematics from
  the link lengths stored with the model, on the Panda its tool frame's
  (:func:`distance_rewards` takes any arm's distances);
* **success**: ``success`` on the period that reaches the goal (the episode ends);
* **failure**: ``failure`` (negative) on the period that touches the obstacle or
  crosses a joint limit (the episode ends).

A timeout ends the episode without a terminal reward and is not a terminal
state for the critic (the time limit is not part of the observation, so its
value is bootstrapped). Everything else (the end reason, the task vector) is
what the sim, the bags' episode facts and ``/imitation/task`` already carry.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ...errors import ConfigError

#: End reasons that make the last transition terminal, and whether they count as success.
TERMINAL_REASONS = {'success': True, 'collision': False, 'joint_limit': False}


@dataclass(frozen=True)
class RewardConfig:
    """Weights of the task reward (reward units; distances in m)."""

    success: float = 10.0
    """Reward of the period that reaches the goal."""
    failure: float = -10.0
    """Reward of the period that touches the obstacle or crosses a joint limit."""
    progress: float = 5.0
    """Reward per metre the end effector comes closer to the goal (negative when it recedes)."""

    def __post_init__(self) -> None:
        if not (np.isfinite(self.success) and np.isfinite(self.failure)
                and np.isfinite(self.progress)):
            raise ConfigError('reward weights must be finite numbers')
        if self.success <= 0 or self.failure >= 0 or self.progress < 0:
            raise ConfigError(f'the reward needs success > 0, failure < 0 and progress >= 0; '
                              f'got success {self.success}, failure {self.failure}, progress '
                              f'{self.progress}')


def end_effector_xy(link_lengths: Sequence[float], q: np.ndarray) -> np.ndarray:
    """Return the planar chain's end effector position (..., 2), m, for joint angles (..., n)."""
    q = np.asarray(q, dtype=np.float64)
    lengths = np.asarray(link_lengths, dtype=np.float64)
    if q.shape[-1] != lengths.shape[0]:
        raise ConfigError(f'{q.shape[-1]} joint angles for {lengths.shape[0]} links')
    angles = np.cumsum(q, axis=-1)
    return np.stack([np.sum(lengths * np.cos(angles), axis=-1),
                     np.sum(lengths * np.sin(angles), axis=-1)], axis=-1)


def goal_distance(link_lengths: Sequence[float], q: np.ndarray, task: np.ndarray) -> np.ndarray:
    """Return the end effector's distance to the goal (task[..., 0:2]), m, shape (...)."""
    task = np.asarray(task, dtype=np.float64)
    return np.linalg.norm(end_effector_xy(link_lengths, q) - task[..., 0:2], axis=-1)


def episode_rewards(config: RewardConfig, link_lengths: Sequence[float], task: np.ndarray,
                    states: np.ndarray, next_states: np.ndarray,
                    reason: str) -> tuple[np.ndarray, np.ndarray]:
    """
    Return the rewards (T,) and terminal flags (T,) of one episode's T transitions.

    :param task: the task vector (k,) (goal x, y first), or one per transition (T, k).
    :param states: joint positions before each command, (T, n), rad.
    :param next_states: joint positions after each command, (T, n), rad; a row of NaN
        (an unknown next state, e.g. the end of a bag) contributes no progress.
    :param reason: how the episode ended: success, collision, joint_limit, timeout, or
        '' when it did not end (a cut episode: no terminal reward).
    """
    states = np.asarray(states, dtype=np.float64)
    next_states = np.asarray(next_states, dtype=np.float64)
    if states.shape != next_states.shape or states.ndim != 2:
        raise ConfigError(f'states and next_states must both be (T, n), got {states.shape} and '
                          f'{next_states.shape}')
    t = states.shape[0]
    task = np.broadcast_to(np.asarray(task, dtype=np.float64), (t, np.shape(task)[-1]))
    if t == 0:
        return np.zeros(0), np.zeros(0, dtype=bool)
    known = np.all(np.isfinite(next_states), axis=1)
    before = goal_distance(link_lengths, states, task)
    after = goal_distance(link_lengths, np.where(known[:, None], next_states, states), task)
    return distance_rewards(config, np.where(known, before, np.nan), after, reason)


def distance_rewards(config: RewardConfig, before: np.ndarray, after: np.ndarray,
                     reason: str) -> tuple[np.ndarray, np.ndarray]:
    """
    Return the rewards (T,) and terminal flags (T,) from the goal distances of T transitions.

    The arm-independent part of :func:`episode_rewards`, which any arm's sim can use
    with its own tool distances (the Panda's tool frame, for example).

    :param before: the tool's distance to the goal before each command, (T,), m; NaN
        where the next state is unknown (that transition earns no progress).
    :param after: the distance after each command, (T,), m.
    :param reason: how the episode ended, as for :func:`episode_rewards`.
    """
    before = np.asarray(before, dtype=np.float64)
    after = np.asarray(after, dtype=np.float64)
    if before.shape != after.shape or before.ndim != 1:
        raise ConfigError(f'before and after must both be (T,), got {before.shape} and '
                          f'{after.shape}')
    progress = before - after
    rewards = config.progress * np.where(np.isfinite(progress), progress, 0.0)
    done = np.zeros(before.shape[0], dtype=bool)
    if before.shape[0] and reason in TERMINAL_REASONS:
        rewards[-1] += config.success if TERMINAL_REASONS[reason] else config.failure
        done[-1] = True
    return rewards, done
