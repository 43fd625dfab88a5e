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
Reinforcement-learning fine-tuning of behavior-cloned policies (torch side).

Behavior cloning for the start, RL for the rest: TD3 with the demonstrations and
every human takeover in a prior buffer sampled half and half with the agent's
own experience, a behavior-cloning term on the prior data, critic warm-up on
the cloned policy's rollouts (:mod:`.td3`); the planar arm's task reward
(:mod:`.reward`); replay buffers (:mod:`.replay`); a residual on a frozen
``gmm`` base (:mod:`.residual`); the entry points, online in simulation through
the gate or offline from recorded bags (:mod:`.finetune`). docs/rl.md says how
it is used and why.
"""

from .finetune import (check_gated, EpisodeLog, finetune_from_bags, finetune_in_sim,
                       FinetuneConfig, FinetuneResult, load_policy, prepare_actor,
                       save_finetuned)
from .replay import from_dataset, from_episode, ReplayBuffer, Transitions
from .residual import ResidualConfig, ResidualGmm
from .reward import RewardConfig
from .td3 import Td3Agent, Td3Config

__all__ = ['check_gated', 'EpisodeLog', 'finetune_from_bags', 'finetune_in_sim',
           'FinetuneConfig', 'FinetuneResult', 'from_dataset', 'from_episode', 'load_policy',
           'prepare_actor', 'ReplayBuffer', 'ResidualConfig', 'ResidualGmm', 'RewardConfig',
           'save_finetuned', 'Td3Agent', 'Td3Config', 'Transitions']
