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

"""The TD3 update's terms: the anchor keeps the actor near its start on the online rows."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from imitation_ros.errors import ConfigError
from imitation_ros.training.rl import Td3Agent, Td3Config, Transitions
from test_rl_export import _policy, _samples


def _moved_on_online_rows(anchor_weight: float) -> float:
    """Return how far 60 actor steps move the actor's command on the online rows (max_step)."""
    policy = _policy('mse', seed=3)
    state, task, action = _samples(2, 128)
    prior = np.arange(128) < 64
    # A reward that pays for moving joint 1 up: the critic pulls the actor away from its start.
    reward = (action[:, 0] - state[:, 0]) * 20.0
    batch = Transitions(state=state, task=task, action=action, reward=reward,
                        next_state=action, done=np.ones(128, bool), human=prior)
    agent = Td3Agent(policy, Td3Config(critic_hidden=(32,), batch_size=128, actor_lr=3e-3,
                                       policy_delay=1, anchor_weight=anchor_weight), seed=0)
    s, t = (torch.as_tensor(x[~prior], dtype=torch.float32) for x in (state, task))
    with torch.no_grad():
        before = policy(s, t).clone()
    for _ in range(60):
        out = agent.update(batch, prior)
    assert ('anchor' in out) == (anchor_weight > 0)
    with torch.no_grad():
        return float(((policy(s, t) - before) / agent.config.max_step).abs().mean())


def test_the_anchor_keeps_the_actor_near_its_start_on_online_rows() -> None:
    """With the anchor term the actor moves less on the rows the BC term does not cover."""
    free, anchored = _moved_on_online_rows(0.0), _moved_on_online_rows(10.0)
    assert free > 0.05
    assert anchored < 0.5 * free


def test_a_negative_anchor_weight_is_refused() -> None:
    """anchor_weight below 0 is a configuration error."""
    with pytest.raises(ConfigError, match='anchor_weight'):
        Td3Config(anchor_weight=-1.0)
