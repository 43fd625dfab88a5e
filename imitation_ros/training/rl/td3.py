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
TD3 with prior data: the off-policy actor-critic that fine-tunes a cloned policy.

The actor is the behavior-cloned policy itself (an ``mse`` policy, fine-tuned
whole) or a residual on a frozen base (:mod:`~imitation_ros.training.rl.residual`);
it maps (joint positions, task) to an absolute joint target, exactly the graph
that is exported. The critic sees the same observation features as the policy
(normalized with the policy's statistics) and the command relative to the
measured position, in units of the gate's ``max_joint_step`` (so in [-1, 1]:
the gate never executes more).

What makes it fine-tuning rather than RL from scratch:

* every batch is half prior data (demonstrations and human takeovers) and half
  online experience (RLPD's symmetric sampling, HIL-SERL's demo buffer);
* the actor's loss adds a behavior-cloning term on the prior rows of the batch
  (TD3+BC: ``-alpha * Q / mean|Q| + bc * ||pi(s) - a||^2``), so it moves from the
  demonstrations only where the critic says it pays;
* the critic learns on the cloned policy's own rollouts for a while before the
  actor changes at all (a critic warm-up), so the first actor steps follow a
  critic that has seen the policy fail;
* critics with layer normalization (RLPD), two of them, the smaller taken (TD3).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any, Optional

import numpy as np
import torch
from torch import nn

from ...errors import ConfigError, TrainingError
from ...policies.base import ObservationEncoder
from .replay import Transitions


@dataclass(frozen=True)
class Td3Config:
    """Settings of the TD3 update (rates per gradient step; actions in ``max_step`` units)."""

    gamma: float = 0.99
    """Discount per control period."""
    tau: float = 0.005
    """Polyak rate of the target networks."""
    actor_lr: float = 3e-5
    """Adam learning rate of the actor (small: it starts from a good policy)."""
    critic_lr: float = 3e-4
    """Adam learning rate of the critics."""
    batch_size: int = 256
    """Transitions per gradient step."""
    prior_fraction: float = 0.5
    """Share of each batch drawn from the prior buffer (demonstrations, takeovers)."""
    policy_delay: int = 2
    """Critic steps per actor step (TD3's delayed policy update)."""
    target_noise: float = 0.2
    """Std of the target policy smoothing noise (fraction of ``max_step``)."""
    target_noise_clip: float = 0.5
    """Clip of that noise (fraction of ``max_step``)."""
    alpha: float = 2.5
    """Weight of the critic's value in the actor loss, after dividing by mean |Q| (TD3+BC)."""
    bc_weight: float = 1.0
    """Weight of the behavior-cloning term on the prior rows of a batch."""
    anchor_weight: float = 0.0
    """Weight of a term that keeps the actor near the policy it started from on the online
    rows of a batch (``||pi(s) - pi_0(s)||^2`` in max_step units), which the BC term does not
    cover; 0 leaves it out."""
    critic_hidden: tuple[int, ...] = (256, 256)
    """Hidden widths of each critic."""
    max_step: float = 0.1
    """The gate's ``max_joint_step`` (rad): the unit of the critic's action input."""

    def __post_init__(self) -> None:
        if not 0.0 < self.gamma < 1.0 or not 0.0 < self.tau <= 1.0:
            raise ConfigError(f'gamma must be in (0, 1) and tau in (0, 1], got {self.gamma}, '
                              f'{self.tau}')
        if self.actor_lr <= 0 or self.critic_lr <= 0 or self.batch_size < 2:
            raise ConfigError('learning rates must be positive and batch_size >= 2')
        if not 0.0 <= self.prior_fraction < 1.0:
            raise ConfigError(f'prior_fraction must be in [0, 1), got {self.prior_fraction}')
        if self.policy_delay < 1 or self.max_step <= 0 or not self.critic_hidden:
            raise ConfigError('policy_delay >= 1, max_step > 0 and a critic hidden layer are '
                              'required')
        if self.anchor_weight < 0:
            raise ConfigError(f'anchor_weight must be >= 0, got {self.anchor_weight}')
        if self.alpha < 0 or self.bc_weight < 0 or self.alpha + self.bc_weight == 0:
            raise ConfigError('alpha and bc_weight must be >= 0 and not both 0')


def actor_target(policy: nn.Module, state: torch.Tensor, task: torch.Tensor) -> torch.Tensor:
    """
    Return the actor's absolute joint target (B, n), differentiable in its trainable weights.

    An ``mse`` policy is its own deterministic actor; a residual policy
    (:class:`~imitation_ros.training.rl.residual.ResidualGmm`) adds its residual to
    the frozen base's most probable action.
    """
    rl_action = getattr(policy, 'rl_action', None)
    if rl_action is not None:
        return rl_action(state, task)
    if getattr(policy, 'kind', '') == 'mse':
        return policy(state, task)
    raise ConfigError(f'a {getattr(policy, "kind", type(policy).__name__)} policy is not a '
                      'deterministic actor; fine-tune it with a residual (gmm) or start from an '
                      'mse policy')


def trainable(policy: nn.Module) -> list[nn.Parameter]:
    """Return the parameters RL updates: the policy's own, not frozen or the doubt ensemble's."""
    return [p for name, p in policy.named_parameters()
            if p.requires_grad and not name.startswith('doubt.')]


class Critic(nn.Module):
    """Two Q networks over (observation features, command relative to q in max_step units)."""

    def __init__(self, spec: Any, hidden: tuple[int, ...]) -> None:
        """Build both networks for the policy spec ``spec``."""
        super().__init__()
        if spec.image_shape is not None:
            raise ConfigError('RL fine-tuning runs on state policies; this one sees camera '
                              'images (the replay buffers hold no frames)')
        self.encoder = ObservationEncoder(spec)
        width = self.encoder.out_dim + spec.n_joints
        self.q = nn.ModuleList(self._net(width, hidden) for _ in range(2))

    @staticmethod
    def _net(width: int, hidden: tuple[int, ...]) -> nn.Sequential:
        layers: list[nn.Module] = []
        for h in hidden:
            layers += [nn.Linear(width, h), nn.LayerNorm(h), nn.ReLU()]
            width = h
        layers.append(nn.Linear(width, 1))
        return nn.Sequential(*layers)

    def forward(self, state: torch.Tensor, task: torch.Tensor,
                action: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return both Q values (B,) for relative commands ``action`` (B, n) in max_step units."""
        x = torch.cat([self.encoder(state, task), action], dim=-1)
        return self.q[0](x).squeeze(-1), self.q[1](x).squeeze(-1)


class Td3Agent:
    """The actor (a policy), its critic, their target copies and optimizers."""

    def __init__(self, policy: nn.Module, config: Td3Config = Td3Config(), *,
                 seed: int = 0) -> None:
        """Wrap ``policy`` (trained further in place) as the actor."""
        self.config = config
        torch.manual_seed(seed)
        self.policy = policy.train()
        actor_target(policy, torch.zeros(1, policy.spec.n_joints),
                     torch.zeros(1, len(policy.spec.task_layout)))  # refuses other kinds
        self.params = trainable(policy)
        if not self.params:
            raise ConfigError('the policy has no trainable parameters to fine-tune')
        self.target_policy = copy.deepcopy(policy).eval()
        for p in self.target_policy.parameters():
            p.requires_grad_(False)
        self.anchor = self.target_policy if config.anchor_weight == 0 else \
            copy.deepcopy(self.target_policy)
        self.critic = Critic(policy.spec, tuple(config.critic_hidden))
        self.target_critic = copy.deepcopy(self.critic).eval()
        for p in self.target_critic.parameters():
            p.requires_grad_(False)
        self.actor_opt = torch.optim.Adam(self.params, lr=config.actor_lr)
        self.critic_opt = torch.optim.Adam(self.critic.parameters(), lr=config.critic_lr)
        self._gen = torch.Generator().manual_seed(int(seed))
        self.critic_steps = 0
        self.actor_steps = 0

    # ------------------------------------------------------------------ acting
    @torch.no_grad()
    def act(self, q: np.ndarray, task: np.ndarray) -> np.ndarray:
        """Return the actor's absolute joint target for one observation, (n,) rad."""
        state = torch.as_tensor(np.asarray(q, np.float32)).unsqueeze(0)
        tvec = torch.as_tensor(np.asarray(task, np.float32)).unsqueeze(0)
        return actor_target(self.policy, state, tvec)[0].double().numpy()

    # ------------------------------------------------------------------ learning
    def _relative(self, target: torch.Tensor, state: torch.Tensor) -> torch.Tensor:
        return (target - state) / self.config.max_step

    def update(self, batch: Transitions, prior: np.ndarray, *, actor: bool = True) -> dict:
        """
        Take one critic step on ``batch`` and, every ``policy_delay`` steps, one actor step.

        :param prior: (B,) bool, the rows from the prior buffer (the BC term's rows).
        :param actor: False keeps the actor fixed (critic warm-up).
        :returns: the losses of this step (floats; 'actor' only when the actor moved).
        """
        cfg = self.config
        f32 = torch.float32
        s = torch.as_tensor(batch.state, dtype=f32)
        task = torch.as_tensor(batch.task, dtype=f32)
        a = self._relative(torch.as_tensor(batch.action, dtype=f32), s).clamp(-1.0, 1.0)
        r = torch.as_tensor(batch.reward, dtype=f32)
        s2 = torch.as_tensor(batch.next_state, dtype=f32)
        not_done = 1.0 - torch.as_tensor(batch.done, dtype=f32)
        with torch.no_grad():
            a2 = self._relative(actor_target(self.target_policy, s2, task), s2)
            noise = (torch.randn(a2.shape, generator=self._gen) * cfg.target_noise).clamp(
                -cfg.target_noise_clip, cfg.target_noise_clip)
            a2 = (a2 + noise).clamp(-1.0, 1.0)
            q1_t, q2_t = self.target_critic(s2, task, a2)
            y = r + cfg.gamma * not_done * torch.minimum(q1_t, q2_t)
        q1, q2 = self.critic(s, task, a)
        critic_loss = ((q1 - y) ** 2).mean() + ((q2 - y) ** 2).mean()
        _step(self.critic_opt, critic_loss, self.critic.parameters(), 'the critic loss')
        self.critic_steps += 1
        out = {'critic': float(critic_loss.item()), 'q': float(q1.mean().item())}
        if actor and self.critic_steps % cfg.policy_delay == 0:
            raw = self._relative(actor_target(self.policy, s, task), s)
            q = self.critic(s, task, raw.clamp(-1.0, 1.0))[0]
            loss = -cfg.alpha * q.mean() / q.abs().mean().detach().clamp_min(1e-6)
            mask = torch.as_tensor(prior)
            bc = ((raw[mask] - a[mask]) ** 2).sum(-1).mean() if bool(mask.any()) \
                else torch.zeros(())
            loss = loss + cfg.bc_weight * bc
            if cfg.anchor_weight > 0 and not bool(mask.all()):
                # The policy's own states: the critic's advice without a restoring force
                # there moves the actor far from the clone before that advice is good.
                with torch.no_grad():
                    start = self._relative(actor_target(self.anchor, s[~mask], task[~mask]),
                                           s[~mask])
                anchor = ((raw[~mask] - start) ** 2).sum(-1).mean()
                loss = loss + cfg.anchor_weight * anchor
                out['anchor'] = float(anchor.item())
            _step(self.actor_opt, loss, self.params, 'the actor loss')
            self.actor_steps += 1
            _polyak(self.target_policy, self.policy, cfg.tau)
            out.update(actor=float(loss.item()), bc=float(bc.item()))
        # The critic's targets follow every step; the actor's only when it moved.
        _polyak(self.target_critic, self.critic, cfg.tau)
        return out


def _step(opt: torch.optim.Optimizer, loss: torch.Tensor, params: Any, what: str) -> None:
    if not torch.isfinite(loss):
        raise TrainingError(f'{what} became {loss.item()}; lower the learning rates or check '
                            'the rewards for outliers')
    opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(list(params) if not isinstance(params, list) else params,
                                   10.0)
    opt.step()


@torch.no_grad()
def _polyak(target: nn.Module, source: nn.Module, tau: float) -> None:
    for t, s in zip(target.parameters(), source.parameters()):
        t.mul_(1.0 - tau).add_(s, alpha=tau)


def snapshot(policy: nn.Module) -> Optional[dict]:
    """Return a copy of the policy's weights (to restore or compare)."""
    return {k: v.detach().clone() for k, v in policy.state_dict().items()}
