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
Transitions and the two replay buffers of RL fine-tuning (numpy only).

HIL-SERL and RLPD keep prior data apart from the agent's own experience:

* the **prior buffer** holds the demonstrations and every step a human drove
  (takeovers during RL episodes, and the human-labelled steps of recorded
  bags); it feeds the critic and the actor's behavior-cloning term and is never
  overwritten;
* the **online buffer** holds every transition of the RL episodes (the human's
  steps too), first in, first out once full.

Each gradient step draws a fixed fraction of its batch from each (RLPD's
symmetric sampling: half and half by default).

A transition stores absolute joint targets as the gate executed them (after its
clamp), so what the critic learns about is what the arm was told, whoever
decided it.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Optional, Sequence

import numpy as np

from ...errors import ConfigError, DataError
from .reward import episode_rewards, RewardConfig


@dataclass(frozen=True)
class Transitions:
    """N transitions (s, a, r, s', done) with the task they belong to."""

    state: np.ndarray
    """Measured joint positions before the command, (N, n), rad."""
    task: np.ndarray
    """Task vector of the episode, (N, k)."""
    action: np.ndarray
    """Executed absolute joint target (the gate's output), (N, n), rad."""
    reward: np.ndarray
    """Task reward of the period, (N,) (:mod:`~imitation_ros.training.rl.reward`)."""
    next_state: np.ndarray
    """Measured joint positions after the command, (N, n), rad."""
    done: np.ndarray
    """True where the episode ended in success or failure (no bootstrap), (N,) bool."""
    human: np.ndarray
    """True where the human drove the command (a takeover or a demonstration), (N,) bool."""

    def __post_init__(self) -> None:
        n = len(self.reward)
        for f in fields(self):
            value = getattr(self, f.name)
            if len(value) != n:
                raise ConfigError(f'Transitions.{f.name} has {len(value)} rows, reward has {n}')
        if n and not (np.all(np.isfinite(self.state)) and np.all(np.isfinite(self.action))
                      and np.all(np.isfinite(self.next_state))
                      and np.all(np.isfinite(self.reward)) and np.all(np.isfinite(self.task))):
            raise DataError('a transition holds NaN or Inf; drop such samples before RL')

    def __len__(self) -> int:
        """Return the number of transitions N."""
        return int(len(self.reward))

    def take(self, index: Any) -> 'Transitions':
        """Return the transitions at ``index`` (a mask or an index array)."""
        return Transitions(**{f.name: getattr(self, f.name)[index] for f in fields(self)})

    @staticmethod
    def concat(parts: Sequence['Transitions']) -> 'Transitions':
        """Join transitions (at least one part)."""
        if not parts:
            raise ConfigError('Transitions.concat needs at least one part')
        return Transitions(**{f.name: np.concatenate([getattr(p, f.name) for p in parts])
                              for f in fields(Transitions)})


def from_episode(episode: Any, reward: RewardConfig,
                 link_lengths: Sequence[float], *, all_human: bool = False) -> Transitions:
    """
    Return the transitions of one closed-loop episode (a ``dagger.loop.Episode``).

    :param all_human: mark every step as human-driven (a demonstration); otherwise
        the episode's own mask (takeovers) says which were.
    """
    states = np.asarray(episode.states, dtype=np.float64)
    t, n = states.shape
    next_states = np.concatenate([states[1:], np.asarray(episode.final_state).reshape(1, n)])
    task = np.asarray(episode.task.vector(), dtype=np.float64)
    rewards, done = episode_rewards(reward, link_lengths, task, states, next_states,
                                    episode.reason)
    human = np.ones(t, dtype=bool) if all_human else np.asarray(episode.human, dtype=bool)
    return Transitions(state=states, task=np.tile(task, (t, 1)),
                       action=np.asarray(episode.actions, dtype=np.float64), reward=rewards,
                       next_state=next_states, done=done, human=human.copy())


def from_dataset(dataset: Any, reward: RewardConfig,
                 link_lengths: Sequence[float]) -> Transitions:
    """
    Return the transitions of recorded episodes (a :class:`~imitation_ros.data.Dataset`).

    Per episode, samples are ordered by step; a sample's next state is the next
    step's measured position. The last sample of a bag that holds its whole
    episode (its steps end at the episode's ``steps``) ends with the episode's
    outcome (success, collision, joint limit: terminal; the loaded samples hold no
    state after the last command, so that step earns its outcome without a
    progress term); a sample whose next step
    is missing (a gap, a cut bag, a timeout's last step) has no next state and is
    left out. ``human`` is the bag's own mask, or every step of a demonstration.
    """
    parts = []
    ids = np.asarray(dataset.episode_id)
    for eid in np.unique(ids):
        idx = np.flatnonzero(ids == eid)
        idx = idx[np.argsort(dataset.step[idx], kind='stable')]
        step = np.asarray(dataset.step[idx])
        info = dataset.episodes[int(eid)]
        states = np.asarray(dataset.positions[idx], dtype=np.float64)
        nxt = np.full_like(states, np.nan)
        follows = step[1:] == step[:-1] + 1
        nxt[:-1][follows] = states[1:][follows]
        whole = info.steps > 0 and step[-1] == info.steps - 1
        reason = info.reason if whole else ''
        terminal = whole and reason in ('success', 'collision', 'joint_limit')
        # A terminal step needs no next state (no bootstrap): use its own as a placeholder.
        if terminal:
            nxt[-1] = states[-1]
        rewards, done = episode_rewards(reward, link_lengths, dataset.task[idx], states,
                                        nxt, reason if terminal else '')
        keep = np.all(np.isfinite(nxt), axis=1)
        demo = str(info.source) == 'demo'
        human = np.ones(len(idx), dtype=bool) if demo else np.asarray(dataset.human[idx], bool)
        part = Transitions(state=states[keep], task=np.asarray(dataset.task[idx][keep], float),
                           action=np.asarray(dataset.actions[idx][keep], dtype=np.float64),
                           reward=rewards[keep], next_state=nxt[keep], done=done[keep],
                           human=human[keep])
        if len(part):
            parts.append(part)
    if not parts:
        raise DataError('the recorded episodes hold no complete transition (every sample '
                        'lacks its next state); record whole episodes')
    return Transitions.concat(parts)


class ReplayBuffer:
    """
    A bounded store of transitions: first in, first out once ``capacity`` is reached.

    Memory is fixed at construction: ``capacity`` rows per field.
    """

    def __init__(self, capacity: int, n_joints: int, task_dim: int) -> None:
        """Allocate ``capacity`` transitions of ``n_joints`` joints and a ``task_dim`` task."""
        if capacity < 1:
            raise ConfigError(f'replay capacity must be >= 1, got {capacity}')
        self.capacity = int(capacity)
        self._data = Transitions(
            state=np.zeros((capacity, n_joints)), task=np.zeros((capacity, task_dim)),
            action=np.zeros((capacity, n_joints)), reward=np.zeros(capacity),
            next_state=np.zeros((capacity, n_joints)), done=np.zeros(capacity, dtype=bool),
            human=np.zeros(capacity, dtype=bool))
        self._next = 0
        self._size = 0
        self.added = 0

    def __len__(self) -> int:
        """Return the number of transitions held."""
        return self._size

    def add(self, batch: Transitions) -> None:
        """Append ``batch``; the oldest transitions go when the buffer is full."""
        m = len(batch)
        if m == 0:
            return
        if batch.state.shape[1] != self._data.state.shape[1] \
                or batch.task.shape[1] != self._data.task.shape[1]:
            raise ConfigError(f'transitions of {batch.state.shape[1]} joints and task dim '
                              f'{batch.task.shape[1]} do not fit this buffer')
        if m > self.capacity:
            batch = batch.take(slice(m - self.capacity, m))
            m = self.capacity
        pos = (self._next + np.arange(m)) % self.capacity
        for f in fields(Transitions):
            getattr(self._data, f.name)[pos] = getattr(batch, f.name)
        self._next = int((self._next + m) % self.capacity)
        self._size = min(self.capacity, self._size + m)
        self.added += m

    def sample(self, rng: np.random.Generator, size: int) -> Transitions:
        """Return ``size`` transitions drawn uniformly with replacement."""
        if self._size == 0:
            raise ConfigError('cannot sample from an empty replay buffer')
        return self._data.take(rng.integers(0, self._size, size))

    def all(self) -> Transitions:
        """Return a copy of every transition held."""
        return self._data.take(np.arange(self._size))


def symmetric_sample(rng: np.random.Generator, prior: ReplayBuffer,
                     online: Optional[ReplayBuffer], size: int,
                     prior_fraction: float) -> tuple[Transitions, np.ndarray]:
    """
    Draw a batch, ``prior_fraction`` of it from ``prior`` and the rest from ``online``.

    With an empty (or no) online buffer the whole batch comes from the prior one.
    :returns: the batch and a (size,) bool mask of the rows that came from ``prior``.
    """
    if online is None or len(online) == 0:
        batch = prior.sample(rng, size)
        return batch, np.ones(size, dtype=bool)
    n_prior = int(round(size * prior_fraction)) if len(prior) else 0
    parts = [online.sample(rng, size - n_prior)]
    if n_prior:
        parts.insert(0, prior.sample(rng, n_prior))
    mask = np.zeros(size, dtype=bool)
    mask[:n_prior] = True
    return Transitions.concat(parts), mask
