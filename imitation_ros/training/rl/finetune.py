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
Fine-tune a behavior-cloned policy with reinforcement learning: in simulation or from bags.

Two entry points, one algorithm (:mod:`~imitation_ros.training.rl.td3`):

* :func:`finetune_in_sim`: online RL episodes in the simulated arm. Every
  command of every episode goes through the gate's state machine
  (:class:`~imitation_ros.gate.arbiter.Arbiter`, via
  :func:`~imitation_ros.dagger.loop.run_episode`, as the studies run the live
  loop), with the simulated operator watching when one is given: a takeover
  stops the RL actor's commands and the human's steps are recorded and join the
  prior data. After each episode the executed commands are checked against the
  gate's bounds; an episode whose commands the gate could not have produced is
  refused (:class:`~imitation_ros.errors.TrainingError`), never learned from.
* :func:`finetune_from_bags`: on a robot, RL data comes only from recorded
  episodes (the hg_dagger loop's bags, in which the gate decided every command).
  Policy-driven episodes recorded without the gate's decisions
  (``/imitation/gate_state``) are refused; demonstrations and the human-labelled
  steps of takeovers are the prior data; no episode is run here.

Both return the fine-tuned torch policy; :func:`save_finetuned` exports it with
the package's exporter to the same self-contained ONNX file as any trained
model (an ``mse`` policy stays ``mse``; a residual on a ``gmm`` base is one
``gmm`` graph) and writes the checkpoint beside it.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field, replace
from pathlib import Path
import time
from typing import Any, Callable, Optional, Sequence

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from ...dagger.loop import episode_seed, gate_config, run_episode, sample_tasks
from ...data import load_dataset
from ...data.aggregate import last_per_state
from ...data.dataset import SOURCE_CODES
from ...errors import ConfigError, ModelError, TrainingError
from ...gate.arbiter import GateConfig
from ...gate.limits import safe_command
from ...interface import topics
from ...runtime.onnx_policy import OnnxPolicy
from ...sim.arm import ArmConfig, ArmSim
from ...sim.operator import OperatorParams, SimulatedOperator
from ..checkpoint import FORMAT as CHECKPOINT_FORMAT, load_checkpoint, save_checkpoint
from ..export import export_policy
from .replay import from_dataset, from_episode, ReplayBuffer, symmetric_sample, Transitions
from .residual import load_residual, RESIDUAL_FORMAT, ResidualConfig, ResidualGmm, save_residual
from .reward import RewardConfig
from .td3 import Td3Agent, Td3Config

#: Bag topic of the gate's per-command decisions (what proves the gate decided them).
GATE_STATE_TOPIC = topics.GATE_STATE.bag_name


@dataclass(frozen=True)
class FinetuneConfig:
    """How long and how hard RL fine-tuning runs (episodes, updates, noise)."""

    episodes: int = 150
    """Online RL episodes (simulation), warm-up episodes included."""
    warmup_episodes: int = 30
    """Episodes of the cloned policy (with exploration noise) before the actor first moves."""
    critic_warmup_updates: int = 3000
    """Critic-only gradient steps after the warm-up episodes."""
    updates_per_step: float = 1.0
    """Gradient steps per environment step once the actor trains (update-to-data ratio)."""
    explore_noise: float = 0.3
    """Std of the Gaussian exploration noise on each joint target (fraction of max_step). At
    0.1 (0.01 rad, no more than the arm's own actuation noise) the critic sees too narrow a
    spread of commands and its advice drags the actor into a dip (docs/rl.md)."""
    offline_updates: int = 5000
    """Gradient steps of :func:`finetune_from_bags` (the first ``critic_warmup_updates``
    of them train the critic only)."""
    replay_capacity: int = 200_000
    """Transitions kept in the online buffer (the prior buffer keeps all of its own)."""
    residual: ResidualConfig = field(default_factory=ResidualConfig)
    """The residual network of a gmm policy."""
    td3: Td3Config = field(default_factory=lambda: Td3Config(actor_lr=1e-5, alpha=1.0))
    """The actor-critic update."""
    reward: RewardConfig = field(default_factory=RewardConfig)
    """The task reward."""

    def __post_init__(self) -> None:
        for name in ('episodes', 'offline_updates', 'replay_capacity'):
            if getattr(self, name) < 1:
                raise ConfigError(f'{name} must be >= 1, got {getattr(self, name)}')
        if not 0 <= self.warmup_episodes <= self.episodes or self.critic_warmup_updates < 0:
            raise ConfigError(f'warmup_episodes must be in 0..episodes ({self.episodes}) and '
                              f'critic_warmup_updates >= 0; got {self.warmup_episodes}, '
                              f'{self.critic_warmup_updates}')
        if not self.updates_per_step > 0 or not self.explore_noise >= 0:
            raise ConfigError('updates_per_step must be > 0 and explore_noise >= 0')


@dataclass(frozen=True)
class EpisodeLog:
    """One online RL episode."""

    index: int
    """Episode number, from 0."""
    steps: int
    """Control periods."""
    success: bool
    """True when the goal was reached (with or without the human's help)."""
    reason: str
    """How it ended: success, collision, joint_limit or timeout."""
    human_steps: int
    """Periods the operator drove (human labels this episode added)."""
    takeovers: int
    """Times the operator took control."""
    ret: float
    """Sum of the task rewards."""
    updates: int
    """Gradient steps taken so far (all episodes)."""


@dataclass
class FinetuneResult:
    """The fine-tuned policy and what happened on the way."""

    policy: nn.Module
    """The fine-tuned torch policy (eval mode, CPU): an mse policy or a ResidualGmm."""
    episodes: list[EpisodeLog] = field(default_factory=list)
    """Online episodes (empty for :func:`finetune_from_bags`)."""
    prior_transitions: int = 0
    """Transitions in the prior buffer at the end (demonstrations and human steps)."""
    online_transitions: int = 0
    """Transitions the online buffer received."""
    updates: int = 0
    """Gradient steps taken."""
    seconds: float = 0.0
    """Wall time (s)."""
    dropped: int = 0
    """Recorded samples left out (misaligned commands, no next state)."""

    @property
    def human_labels(self) -> int:
        """Return the steps the human drove during the online episodes."""
        return sum(e.human_steps for e in self.episodes)


# ----------------------------------------------------------------------------- the actor
def prepare_actor(init: Any, *, residual: Optional[bool] = None,
                  residual_config: ResidualConfig = ResidualConfig()) -> nn.Module:
    """
    Return the policy RL trains, a copy of ``init`` (a torch policy or a NAME.pt path).

    ``mse`` policies are fine-tuned whole (``residual`` None or False) or get a
    residual (not supported: pass False); ``gmm`` policies get a residual on the
    frozen base (``residual`` None or True); a residual checkpoint continues as
    it is. Other kinds are refused with the reason.
    """
    policy = load_policy(init) if isinstance(init, (str, Path)) else copy.deepcopy(init)
    kind = getattr(policy, 'kind', '')
    if isinstance(policy, ResidualGmm):
        if residual is False:
            raise ConfigError('this checkpoint is a residual policy; it can only be fine-tuned '
                              'with its residual (leave residual unset)')
        return policy
    if kind == 'mse':
        if residual:
            raise ConfigError('mse policies are fine-tuned whole; the residual is for gmm '
                              'policies (leave residual unset)')
        return policy
    if kind == 'gmm':
        if residual is False:
            raise ConfigError('a gmm policy has no deterministic action to fine-tune whole; '
                              'fine-tune it with a residual (leave residual unset)')
        return ResidualGmm.from_base(policy, residual_config)
    raise ConfigError(f'RL fine-tuning takes mse policies (whole) and gmm policies (residual); '
                      f'this one is {kind!r}: its action comes from sampled noise over several '
                      'steps (ar) or chunks (diffusion), which the residual TD3 does not model')


def load_policy(path: Path | str) -> nn.Module:
    """Load a NAME.pt checkpoint: a trained policy or a residual policy."""
    path = Path(path)
    if not path.is_file():
        raise ModelError(f'no checkpoint at {path}; give the NAME.pt written beside a trained '
                         'model (imitation-ros train writes it)')
    try:
        data = torch.load(path, map_location='cpu', weights_only=True)
    except Exception as exc:  # noqa: BLE001 - torch raises many types for a bad file
        raise ModelError(f'{path} is not a readable checkpoint ({exc.__class__.__name__}); '
                         'give the NAME.pt written beside a trained model') from exc
    if isinstance(data, dict) and data.get('format') == RESIDUAL_FORMAT:
        return load_residual(data, path)
    if isinstance(data, dict) and data.get('format') == CHECKPOINT_FORMAT:
        return load_checkpoint(path)
    raise ModelError(f'{path} is neither a policy checkpoint ({CHECKPOINT_FORMAT!r}) nor a '
                     f'residual one ({RESIDUAL_FORMAT!r})')


def save_finetuned(policy: nn.Module, out: Path | str, *,
                   metadata_extra: Optional[dict] = None,
                   checkpoint: bool = True) -> tuple[Path, Optional[Path]]:
    """
    Export ``policy`` to ``out`` (NAME.onnx) with the package's exporter; write NAME.pt too.

    :returns: the model file and the checkpoint (None when ``checkpoint`` is False). An
        mse policy's checkpoint is a plain one (``imitation-ros train --init-from`` takes
        it); a residual policy's is a residual checkpoint (this module loads it).
    """
    out = Path(out)
    if out.suffix != '.onnx':
        raise ConfigError(f'the model file must end in .onnx, got {out.name}')
    out.parent.mkdir(parents=True, exist_ok=True)
    policy = policy.cpu().eval()
    path = export_policy(policy, out, metadata_extra=metadata_extra)
    ckpt = None
    if checkpoint:
        ckpt = out.with_suffix('.pt')
        if isinstance(policy, ResidualGmm):
            save_residual(policy, ckpt)
        else:
            save_checkpoint(policy, ckpt)
    return path, ckpt


# ----------------------------------------------------------------------------- the gate
def check_gated(states: np.ndarray, commands: np.ndarray, gate: GateConfig) -> None:
    """
    Raise TrainingError unless every command is what the gate's clamp lets through.

    The gate's output is a fixed point of its clamp
    (:func:`~imitation_ros.gate.limits.safe_command` with its ``max_joint_step``,
    limits and margin): clamping it again changes nothing. A command that moves
    is one that did not pass the gate.
    """
    lower, upper = gate.robot.lower, gate.robot.upper
    for t, (q, a) in enumerate(zip(np.asarray(states), np.asarray(commands))):
        again, _ = safe_command(a, q, lower, upper, max_step=gate.max_joint_step,
                                margin=gate.limit_margin)
        if not np.all(np.isfinite(a)) or np.max(np.abs(again - a)) > 1e-9:
            raise TrainingError(f'command {t} of an RL episode ({np.round(a, 4).tolist()} at '
                                f'{np.round(q, 4).tolist()}) is not one the gate lets through; '
                                'RL episodes run only through the gate (run_episode with the '
                                "gate's configuration)")


# ----------------------------------------------------------------------------- simulation
def finetune_in_sim(policy: nn.Module, prior: Optional[Transitions], *, arm: Any,
                    gate: GateConfig, config: FinetuneConfig = FinetuneConfig(), seed: int = 0,
                    operator: Any = None, tasks: Optional[Sequence[Any]] = None,
                    on_episode: Optional[Callable[[EpisodeLog, nn.Module], None]] = None,
                    progress: bool = False) -> FinetuneResult:
    """
    Fine-tune ``policy`` (from :func:`prepare_actor`) with online episodes in the simulated arm.

    Each episode runs the actor (plus exploration noise) through the gate's state
    machine (:func:`~imitation_ros.dagger.loop.run_episode` with ``gate``) and,
    when given, the simulated ``operator``, whose takeovers replace the actor's
    commands; the human-driven steps are added to the prior buffer. The first
    ``warmup_episodes`` train nothing; then the critic alone trains for
    ``critic_warmup_updates`` steps, and from there actor and critic train
    ``updates_per_step`` steps per control period.

    :param prior: demonstrations (and earlier takeovers): the prior buffer's start.
    :param arm: the sim's :class:`~imitation_ros.sim.arm.ArmConfig` (its actuation noise).
    :param gate: the gate's configuration (``dagger.loop.gate_config(arm)`` builds the
        one ``intervention_gate`` uses); required: no episode runs without the gate.
    :param tasks: the episodes' tasks (default: drawn from seed ``50_000 + seed``).
    :param on_episode: called after every episode with its log and the current policy.
    """
    if not isinstance(gate, GateConfig):
        raise TrainingError('RL episodes run only through the gate: pass the gate\'s '
                            f'GateConfig (got {type(gate).__name__})')
    if tuple(gate.robot.joint_names) != tuple(policy.spec.joint_names):
        raise ConfigError(f'the gate drives joints {list(gate.robot.joint_names)} but the policy '
                          f'was trained for {list(policy.spec.joint_names)}')
    links = _link_lengths(policy)
    cfg = config
    torch_threads = torch.get_num_threads()
    started = time.perf_counter()
    tasks = list(tasks) if tasks is not None else sample_tasks(arm, cfg.episodes,
                                                               seed=50_000 + seed)
    if len(tasks) < cfg.episodes:
        raise ConfigError(f'{cfg.episodes} episodes need as many tasks, got {len(tasks)}')
    n, k = policy.spec.n_joints, len(policy.spec.task_layout)
    prior_buf = ReplayBuffer(max(1, (len(prior) if prior is not None else 0)
                                 + cfg.replay_capacity), n, k)
    if prior is not None:
        prior_buf.add(prior)
    online = ReplayBuffer(cfg.replay_capacity, n, k)
    agent = Td3Agent(policy, cfg.td3, seed=seed)
    rng = np.random.default_rng([seed, 31])
    sim = ArmSim(arm, seed=seed)
    noise = cfg.explore_noise * cfg.td3.max_step

    def controller(q: np.ndarray, task: Any) -> np.ndarray:
        target = agent.act(q, task.vector())
        return target + rng.normal(0.0, noise, target.shape) if noise > 0 else target

    result = FinetuneResult(policy=policy)
    owed = 0.0
    bar = None
    if progress:
        bar = tqdm(total=cfg.episodes, desc='rl episodes', unit='ep', leave=False)
    try:
        for i in range(cfg.episodes):
            ep = run_episode(sim, tasks[i], policy=controller, operator=operator, gate=gate,
                             seed=episode_seed(60_000 + seed, i), label=False)
            check_gated(ep.states, ep.actions, gate)
            tr = from_episode(ep, cfg.reward, links)
            owed = learn_from_episode(agent, rng, prior_buf, online, tr, i, cfg, owed, result)
            log = EpisodeLog(index=i, steps=ep.steps, success=bool(ep.success),
                             reason=ep.reason, human_steps=int(ep.human.sum()),
                             takeovers=int(ep.takeovers), ret=float(tr.reward.sum()),
                             updates=result.updates)
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
        torch.set_num_threads(torch_threads)
    result.prior_transitions = len(prior_buf)
    result.online_transitions = online.added
    result.seconds = time.perf_counter() - started
    result.policy = policy.eval()
    return result


def learn_from_episode(agent: Td3Agent, rng: np.random.Generator, prior: ReplayBuffer,
                       online: ReplayBuffer, tr: Transitions, index: int,
                       cfg: FinetuneConfig, owed: float, result: FinetuneResult) -> float:
    """
    Store episode ``index``'s transitions and take the gradient steps the schedule owes.

    Every transition joins the online buffer, the human-driven ones the prior buffer
    too (HIL-SERL's recipe). The episode that ends the warm-up trains the critic alone
    for ``critic_warmup_updates`` steps; after it, ``updates_per_step`` steps per
    transition (the fraction carried over in ``owed``, returned). ``result.updates``
    counts the steps.
    """
    online.add(tr)
    if tr.human.any():
        prior.add(tr.take(tr.human))
    if index + 1 == cfg.warmup_episodes:
        for _ in range(cfg.critic_warmup_updates):
            _update(agent, rng, prior, online, actor=False)
        result.updates += cfg.critic_warmup_updates
    elif index + 1 > cfg.warmup_episodes:
        owed += cfg.updates_per_step * len(tr)
        while owed >= 1.0:
            _update(agent, rng, prior, online, actor=True)
            owed -= 1.0
            result.updates += 1
    return owed


def _update(agent: Td3Agent, rng: np.random.Generator, prior: ReplayBuffer,
            online: ReplayBuffer, *, actor: bool) -> dict:
    cfg = agent.config
    fraction = cfg.prior_fraction if len(prior) else 0.0
    if len(prior) == 0:
        batch, mask = online.sample(rng, cfg.batch_size), np.zeros(cfg.batch_size, bool)
    else:
        batch, mask = symmetric_sample(rng, prior, online, cfg.batch_size, fraction)
    return agent.update(batch, mask, actor=actor)


def _link_lengths(policy: nn.Module) -> tuple[float, ...]:
    links = policy.spec.link_lengths
    if links is None:
        raise ConfigError('the task reward measures progress with the planar arm\'s forward '
                          'kinematics: fine-tune a policy trained with --features planar-fk')
    return tuple(links)


# ----------------------------------------------------------------------------- bags
def split_recorded(data: Any, reward: RewardConfig, link_lengths: Sequence[float], *,
                   max_command_step: float) -> tuple[Transitions, Transitions, int]:
    """
    Return the prior transitions, the policy-driven ones and how many samples were dropped.

    Refuses (TrainingError) any policy-driven episode whose bag holds no gate decisions.
    One sample per joint state is kept (the last command, as the trainer does); samples
    whose command is farther than ``max_command_step`` from their state are dropped as
    misaligned.
    """
    demo = np.asarray(data.source) == SOURCE_CODES['demo']
    for eid in np.unique(np.asarray(data.episode_id)[~demo]):
        info = data.episodes[int(eid)]
        if int(info.message_counts.get(GATE_STATE_TOPIC, 0)) == 0:
            raise TrainingError(f'{info.path}: a {info.source or "policy"} episode without the '
                                f"gate's decisions ({GATE_STATE_TOPIC}); RL learns from policy "
                                'steps only where the gate decided them: record with the '
                                'recorder of the hg_dagger graph, or leave this bag out')
    before = len(data)
    data = data.subset(last_per_state(data))
    # Steps renumbered as arm steps (one sample per joint state), before the misaligned
    # samples go: a dropped sample leaves a gap, and the sample before it no next state.
    rank = np.zeros(len(data), dtype=np.int64)
    ids = np.asarray(data.episode_id)
    for eid in np.unique(ids):
        idx = np.flatnonzero(ids == eid)
        rank[idx[np.argsort(data.step[idx], kind='stable')]] = np.arange(len(idx))
    data = replace(data, step=rank)
    far = np.max(np.abs(data.actions - data.positions), axis=1) > max_command_step + 1e-9
    data = data.subset(~far)
    transitions = from_dataset(data, reward, link_lengths)
    dropped = before - len(transitions)
    return (transitions.take(transitions.human), transitions.take(~transitions.human),
            dropped)


def finetune_from_bags(policy: nn.Module, data: Any, *,
                       config: FinetuneConfig = FinetuneConfig(), seed: int = 0,
                       max_command_step: float = 0.1,
                       progress: bool = False) -> FinetuneResult:
    """
    Fine-tune ``policy`` on recorded episodes only (a :class:`~imitation_ros.data.Dataset`).

    Demonstrations and human-driven steps form the prior buffer, the policy's own
    gate-decided steps the online one; ``offline_updates`` gradient steps, the
    first ``critic_warmup_updates`` for the critic alone. Runs no episode.
    """
    cfg = config
    started = time.perf_counter()
    links = _link_lengths(policy)
    prior, own, dropped = split_recorded(data, cfg.reward, links,
                                         max_command_step=max_command_step)
    if len(prior) == 0:
        raise TrainingError('the bags hold no demonstration and no human takeover: RL keeps '
                            'the cloned behavior with them; record demonstrations first')
    n, k = policy.spec.n_joints, len(policy.spec.task_layout)
    prior_buf = ReplayBuffer(len(prior), n, k)
    prior_buf.add(prior)
    online = ReplayBuffer(max(1, len(own)), n, k)
    online.add(own)
    agent = Td3Agent(policy, cfg.td3, seed=seed)
    rng = np.random.default_rng([seed, 37])
    bar = None
    if progress:
        bar = tqdm(total=cfg.offline_updates, desc='rl updates', unit='step', leave=False)
    for step in range(cfg.offline_updates):
        _update(agent, rng, prior_buf, online, actor=step >= cfg.critic_warmup_updates)
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    return FinetuneResult(policy=policy.eval(), prior_transitions=len(prior_buf),
                          online_transitions=len(online), updates=cfg.offline_updates,
                          seconds=time.perf_counter() - started, dropped=dropped)


# ----------------------------------------------------------------------------- one call
@dataclass(frozen=True)
class RlRequest:
    """A fine-tuning job: the start, the data, where the RL episodes come from, the output."""

    init_from: Path
    """NAME.pt of the behavior-cloned policy (or of an earlier fine-tuned one)."""
    out: Path
    """models/NAME.onnx of the fine-tuned policy (NAME.pt is written beside it)."""
    data: tuple[Path, ...] = ()
    """Episode bags: the demonstrations and takeovers (prior data); on a robot, all the data."""
    sim: bool = False
    """Run online RL episodes in the simulated arm through the gate; False: bags only."""
    actuation_noise: float = 0.01
    """Actuation noise of the simulated arm (rad per joint and control period)."""
    operator: bool = False
    """Simulation: the simulated operator watches every RL episode and takes over."""
    operator_side: int = 1
    """Side the simulated operator corrects on (1 above, -1 below, 0 the closer path)."""
    config: FinetuneConfig = field(default_factory=FinetuneConfig)
    """Episodes, updates, the TD3 and reward settings."""
    seed: int = 0
    """Seed of the tasks, the noise and the networks."""
    residual: Optional[bool] = None
    """None: mse fine-tunes whole, gmm gets a residual; True / False to insist."""
    max_command_step: float = 0.1
    """The gate's max_joint_step (rad): the critic's action unit and the misaligned filter."""
    version: str = ''
    """Model version (default: the UTC time of export)."""
    progress: bool = True
    """Progress bars on stderr."""


@dataclass(frozen=True)
class RlSummary:
    """What a fine-tuning job produced."""

    model: Path
    """The exported model."""
    checkpoint: Optional[Path]
    """Its checkpoint."""
    result: FinetuneResult
    """The run."""
    kind: str
    """Policy kind of the model (mse, or gmm for a residual)."""


def run_rl_request(request: RlRequest) -> RlSummary:
    """
    Run a fine-tuning job: load, fine-tune (sim through the gate, or bags), export, check.

    The exported file is loaded back with :class:`~imitation_ros.runtime.onnx_policy.OnnxPolicy`
    and must produce finite actions, as after ``imitation-ros train``.
    """
    req = request
    cfg = replace(req.config, td3=replace(req.config.td3, max_step=req.max_command_step))
    policy = prepare_actor(req.init_from, residual=req.residual,
                           residual_config=cfg.residual)
    links = _link_lengths(policy)
    data = load_dataset(list(req.data)) if req.data else None
    if req.sim:
        arm = replace(ArmConfig(), actuation_noise=req.actuation_noise)
        if tuple(arm.joint_names) != tuple(policy.spec.joint_names):
            raise ConfigError(f'the simulated arm has joints {list(arm.joint_names)}; this '
                              f'policy drives {list(policy.spec.joint_names)}')
        prior = None
        if data is not None:
            prior, _, _ = split_recorded(data, cfg.reward, links,
                                         max_command_step=req.max_command_step)
        operator = (SimulatedOperator(arm, OperatorParams(side=req.operator_side),
                                      seed=req.seed) if req.operator else None)
        result = finetune_in_sim(policy, prior, arm=arm, gate=gate_config(
            arm, max_joint_step=req.max_command_step), config=cfg, seed=req.seed,
            operator=operator, progress=req.progress)
        source = 'sim'
    else:
        if data is None:
            raise ConfigError('without --sim the RL data comes only from recorded bags: give '
                              '--data with the demonstrations and the hg_dagger episodes')
        result = finetune_from_bags(policy, data, config=cfg, seed=req.seed,
                                    max_command_step=req.max_command_step,
                                    progress=req.progress)
        source = 'bags'
    model, ckpt = save_finetuned(result.policy, req.out, metadata_extra={
        'version': req.version, 'training_data': {
            'method': 'rl', 'algorithm': 'TD3 + prior data (RLPD sampling, BC term)',
            'residual': isinstance(result.policy, ResidualGmm), 'rl_source': source,
            'init_from': str(req.init_from), 'rl_episodes': len(result.episodes),
            'human_steps': result.human_labels, 'updates': result.updates,
            'prior_transitions': result.prior_transitions,
            'online_transitions': result.online_transitions, 'seed': req.seed}})
    runtime = OnnxPolicy(model)
    n = policy.spec.n_joints
    mean = np.asarray(policy.spec.state_norm.mean)
    action = runtime.act(mean[:n], mean[n:n + len(policy.spec.task_layout)])
    if not np.all(np.isfinite(action)):
        raise TrainingError(f'the exported model {model} outputs non-finite actions')
    return RlSummary(model=model, checkpoint=ckpt, result=result, kind=runtime.kind)
