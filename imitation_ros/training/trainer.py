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
The training loop shared by every policy kind.

Episodes are split into training and validation sets (whole episodes, so the
validation loss measures generalization to new episodes); batches are drawn
with per-sample weights, which is how correction data (human takeovers) mixes
with the base demonstrations without replacing them. With a
:class:`~imitation_ros.training.distributed.DistributedRun` the same loop runs
in every worker of a DistributedDataParallel training: each takes its stride
of the same global batch, and the step equals the single-process step.
"""

from __future__ import annotations

from dataclasses import dataclass, field
import math
from pathlib import Path
import time
from typing import Any, Callable, Optional, Sequence, TYPE_CHECKING

import numpy as np
import torch
from tqdm import tqdm

from ..errors import ConfigError, TrainingError
from ..policies.base import (Batch, Normalizer, observation_features, Policy, PolicySpec,
                             TrainConfig)
from ..policies.ensemble import DoubtConfig, DoubtEnsemble
from ..policies.registry import make_policy

if TYPE_CHECKING:
    from .distributed import DistributedRun


@dataclass(frozen=True)
class TrainingSet:
    """Aligned samples ready for training (numpy)."""

    state: np.ndarray
    """Joint positions, (N, n), rad."""
    task: np.ndarray
    """Task vectors, (N, 5)."""
    actions: np.ndarray
    """Absolute action chunks starting at each sample, (N, H, n), rad."""
    weight: np.ndarray
    """Sampling weight per sample, (N,); base demonstrations 1."""
    episode: np.ndarray
    """Episode id per sample, (N,), int."""
    image: Optional[np.ndarray] = None
    """Camera frames, (N, H, W, 3) uint8, or None."""

    def __len__(self) -> int:
        """Return the number of samples N."""
        return int(self.state.shape[0])

    def subset(self, mask: np.ndarray) -> 'TrainingSet':
        """Return the samples where ``mask`` is true."""
        return TrainingSet(self.state[mask], self.task[mask], self.actions[mask],
                           self.weight[mask], self.episode[mask],
                           None if self.image is None else self.image[mask])


def build_training_set(state: np.ndarray, task: np.ndarray, action: np.ndarray,
                       episode: np.ndarray, step: np.ndarray, *, horizon: int = 1,
                       weight: Optional[np.ndarray] = None,
                       image: Optional[np.ndarray] = None,
                       chunk_mask: Optional[np.ndarray] = None) -> TrainingSet:
    """
    Build action chunks of length ``horizon`` from per-step samples.

    The chunk of sample i holds the actions of steps i .. i + H - 1 of the same
    episode; past the episode's end (or past a sample that ``chunk_mask``
    excludes, e.g. the end of a human takeover) the last action repeats, as in
    Diffusion Policy.

    :param state: (N, n) rad; ``task`` (N, 5); ``action`` (N, n) absolute, rad.
    :param episode: (N,) int; ``step`` (N,) int, the control step within the episode.
    """
    n = len(state)
    if not (len(task) == len(action) == len(episode) == len(step) == n):
        raise TrainingError('state, task, action, episode and step must have the same length')
    if n == 0:
        raise TrainingError('no samples to train on; collect or aggregate data first')
    order = np.lexsort((step, episode))
    state, task, action = state[order], task[order], action[order]
    episode, step = episode[order], step[order]
    w = np.ones(n) if weight is None else np.asarray(weight, dtype=np.float64)[order]
    img = None if image is None else image[order]
    keep = np.ones(n, dtype=bool) if chunk_mask is None else np.asarray(chunk_mask)[order]
    chunks = np.empty((n, horizon, action.shape[1]), dtype=np.float64)
    chunks[:, 0] = action
    valid = np.ones(n, dtype=bool)
    for k in range(1, horizon):
        idx = np.minimum(np.arange(n) + k, n - 1)
        # Step i + k continues the chunk only if every step before it did.
        valid = valid & (episode[idx] == episode) & (step[idx] - step == k) & keep[idx]
        chunks[:, k] = np.where(valid[:, None], action[idx], chunks[:, k - 1])
    return TrainingSet(state.astype(np.float64), task.astype(np.float64), chunks, w,
                       episode.astype(np.int64), img)


def fit_spec(data: TrainingSet, joint_names: Sequence[str], task_layout: Sequence[str],
             *, with_image: bool = False,
             link_lengths: Optional[Sequence[float]] = None) -> PolicySpec:
    """Compute the observation feature and (relative) action normalization from ``data``."""
    lengths = None if link_lengths is None else tuple(float(v) for v in link_lengths)
    with torch.no_grad():
        obs = observation_features(torch.as_tensor(data.state), torch.as_tensor(data.task),
                                   lengths).numpy()
    rel = data.actions - data.state[:, None, :]
    image_shape = None
    if with_image:
        if data.image is None:
            raise TrainingError('an image policy needs images; load the data with images')
        image_shape = tuple(int(v) for v in data.image.shape[1:])
    return PolicySpec(joint_names=tuple(joint_names), task_layout=tuple(task_layout),
                      state_norm=Normalizer.fit(obs), action_norm=Normalizer.fit(rel),
                      image_shape=image_shape, link_lengths=lengths)


@dataclass
class History:
    """Loss curves recorded during training."""

    steps: list[int] = field(default_factory=list)
    """Step at which each train loss was recorded."""
    train_loss: list[float] = field(default_factory=list)
    """Mean training loss over the preceding interval."""
    val_steps: list[int] = field(default_factory=list)
    """Steps at which the validation loss was computed."""
    val_loss: list[float] = field(default_factory=list)
    """Validation loss (weighted mean over the held-out episodes)."""
    seconds: float = 0.0
    """Wall time of training (s)."""
    samples_per_s: float = 0.0
    """Training samples drawn per second of wall time, all processes together."""


def split_episodes(episode: np.ndarray, val_fraction: float,
                   rng: np.random.Generator) -> np.ndarray:
    """Return a boolean mask of validation samples: whole episodes, about ``val_fraction``."""
    ids = np.unique(episode)
    n_val = int(round(len(ids) * val_fraction))
    if val_fraction > 0 and len(ids) >= 2:
        n_val = max(1, min(n_val, len(ids) - 1))
    else:
        n_val = 0
    val_ids = rng.choice(ids, size=n_val, replace=False) if n_val else np.array([], dtype=int)
    return np.isin(episode, val_ids)


def _batch(data: TrainingSet, idx: np.ndarray, device: torch.device) -> Batch:
    return Batch(
        state=torch.as_tensor(data.state[idx], dtype=torch.float32, device=device),
        task=torch.as_tensor(data.task[idx], dtype=torch.float32, device=device),
        action=torch.as_tensor(data.actions[idx], dtype=torch.float32, device=device),
        image=None if data.image is None else torch.as_tensor(data.image[idx], device=device))


def resolve_device(device: str) -> torch.device:
    """Return the torch device for 'cpu' or 'cuda', with a clear error if CUDA is missing."""
    if device == 'cuda' and not torch.cuda.is_available():
        raise TrainingError('--device cuda asked for, but torch sees no CUDA device; use cpu')
    if device not in ('cpu', 'cuda'):
        raise TrainingError(f"device must be 'cpu' or 'cuda', got {device!r}")
    return torch.device(device)


def train_policy(kind: str, data: TrainingSet, spec: PolicySpec, config: TrainConfig, *,
                 options: Optional[dict] = None, seed: int = 0, device: str = 'cpu',
                 progress: bool = True, desc: str = '',
                 init: Optional[Policy] = None,
                 dist: Optional['DistributedRun'] = None) -> tuple[Policy, History]:
    """
    Train a policy of ``kind`` on ``data``.

    :param options: kind-specific settings (fields of that kind's Config).
    :param progress: show a progress bar (tqdm) on stderr.
    :param init: warm start: a policy of the same kind, spec and options whose weights
        (and doubt ensemble, when both have one) training starts from, instead of a
        fresh initialization.
    :param dist: train as one worker of a distributed run (every rank calls this with
        the same data, spec and settings; ``device`` is then the run's): the gradients
        are averaged with DistributedDataParallel, rank 0's weights are everyone's
        start, and rank 0 writes the training state every ``checkpoint_every`` steps
        and resumes from it after a restart.
    :returns: the trained policy in eval mode (on the CPU) and its loss history. With
        ``config.doubt_ensemble`` members, the doubt ensemble trained alongside is
        attached as ``policy.doubt`` (exported as the ``doubt`` output).
    """
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    rank, world = (dist.rank, dist.world_size) if dist is not None else (0, 1)
    dev = dist.device if dist is not None else resolve_device(device)
    policy = make_policy(kind, spec, options)
    if init is not None:
        _load_init(policy, init)
    policy = policy.to(dev)
    val_mask = split_episodes(data.episode, config.val_fraction, rng)
    train, val = data.subset(~val_mask), data.subset(val_mask)
    if len(train) == 0:
        raise TrainingError('the training split is empty; give more episodes')
    batch = min(config.batch_size, len(train))
    if batch < world:
        raise TrainingError(f'a batch of {batch} samples cannot be split over {world} '
                            'processes; raise --batch-size or use fewer processes')
    cdf = sampling_cdf(train.weight)
    # The fused implementation is several times faster on the CPU for small networks.
    opt = torch.optim.AdamW(policy.parameters(), lr=config.lr,
                            weight_decay=config.weight_decay, fused=True)
    warmup = min(200, config.steps // 10)

    def lr_at(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        t = (step - warmup) / max(1, config.steps - warmup)
        return 0.5 * (1 + math.cos(math.pi * t))

    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_at)
    # The doubt ensemble trains in the same loop with its own optimizer and its own
    # random streams, so the policy trains exactly as it would without it.
    doubt = doubt_opt = doubt_sched = None
    doubt_rng = np.random.default_rng([seed, 7919])
    if config.doubt_ensemble:
        doubt = DoubtEnsemble(spec, DoubtConfig(members=config.doubt_ensemble,
                                                hidden=tuple(config.doubt_hidden)),
                              seed=seed).to(dev)
        doubt_opt = torch.optim.AdamW(doubt.parameters(), lr=config.lr,
                                      weight_decay=config.weight_decay, fused=True)
        doubt_sched = torch.optim.lr_scheduler.LambdaLR(doubt_opt, lr_at)
        init_doubt = getattr(init, 'doubt', None) if init is not None else None
        if init_doubt is not None and init_doubt.members == doubt.members:
            try:
                doubt.load_state_dict(init_doubt.state_dict())
            except RuntimeError:
                pass  # another member shape: the ensemble starts fresh, the policy does not
    history = History()
    first, running, count = 0, 0.0, 0
    fingerprint = {'kind': kind, 'samples': len(data), 'steps': config.steps, 'seed': seed,
                   'batch_size': config.batch_size, 'doubt_ensemble': config.doubt_ensemble}
    loss_of: Callable[..., torch.Tensor] = policy.loss
    doubt_loss_of: Optional[Callable[..., torch.Tensor]] = None
    if doubt is not None:
        doubt_loss_of = doubt.loss
    if dist is not None:
        saved = dist.load_resume(fingerprint)
        if saved is not None:
            first, running, count = _restore(saved, policy, opt, sched, doubt, doubt_opt,
                                             doubt_sched, rng, doubt_rng, history)
        # Wrapping broadcasts rank 0's weights: every rank starts from the same ones.
        loss_of = dist.wrap(policy)
        if doubt is not None:
            doubt_loss_of = dist.wrap(doubt)
        if rank or first:
            # Each rank its own stream for what the kinds draw in their loss (noise,
            # timesteps); rank 0 of a fresh run keeps the single-process stream.
            stream = np.random.SeedSequence([seed, rank, first]).generate_state(1)[0]
            torch.manual_seed(int(stream))
    eval_every = max(1, config.steps // 20)
    bar = None
    if progress and rank == 0:
        bar = tqdm(total=config.steps, initial=first, desc=desc or f'train {kind}', unit='step',
                   leave=False)
    start = time.perf_counter()
    policy.train()
    for step in range(first, config.steps):
        idx = draw(rng, cdf, batch)
        own = idx[rank::world]
        loss = loss_of(_batch(train, own, dev)).mean()
        if world > 1:
            # DDP averages over ranks: scaled so the step is the mean over the whole batch.
            loss = loss * (len(own) * world / len(idx))
        _optimizer_step(loss, policy, opt, f'{kind} loss', f' at step {step}',
                        collective=world > 1)
        sched.step()
        if doubt is not None:
            _doubt_step(doubt_loss_of, doubt, doubt_opt, train, cdf, config.batch_size,
                        doubt_rng, dev, rank, world)
            doubt_sched.step()
        running += float(loss.item())
        count += 1
        if (step + 1) % eval_every == 0 or step + 1 == config.steps:
            total = running if dist is None else float(dist.all_sum([running])[0]) / world
            history.steps.append(step + 1)
            history.train_loss.append(total / count)
            running, count = 0.0, 0
            if len(val):
                history.val_steps.append(step + 1)
                history.val_loss.append(evaluate_loss(policy, val, dev, dist=dist))
            if bar is not None:
                bar.set_postfix(loss=f'{history.train_loss[-1]:.4f}')
        if bar is not None:
            bar.update(1)
        if dist is not None:
            if dist.due(step + 1, config.steps):
                dist.save_resume(lambda: _training_state(
                    step + 1, running, count, history, policy, opt, sched, doubt, doubt_opt,
                    doubt_sched, rng, doubt_rng, time.perf_counter() - start), fingerprint)
            dist.after_step(step + 1)
    if bar is not None:
        bar.close()
    elapsed = time.perf_counter() - start
    history.seconds += elapsed
    history.samples_per_s = (config.steps - first) * batch / max(elapsed, 1e-9)
    policy.attach_doubt(doubt)
    return policy.cpu().eval(), history


def sampling_cdf(weight: np.ndarray) -> np.ndarray:
    """Return the cumulative distribution of drawing each sample with probability ~ weight."""
    cdf = np.cumsum(np.asarray(weight, dtype=np.float64) / np.sum(weight))
    cdf /= cdf[-1]
    return cdf


def draw(rng: np.random.Generator, cdf: np.ndarray, size: Any) -> np.ndarray:
    """
    Draw sample indices from ``cdf`` (:func:`sampling_cdf`); ``size`` an int or shape.

    The same indices ``rng.choice(len(cdf), size, p=weight / weight.sum())``
    draws, from the same random numbers, without rebuilding the distribution
    (O(N)) every call.
    """
    return cdf.searchsorted(rng.random(size), side='right')


def _training_state(step: int, running: float, count: int, history: History, policy: Policy,
                    opt: torch.optim.Optimizer, sched: Any, doubt: Optional[DoubtEnsemble],
                    doubt_opt: Optional[torch.optim.Optimizer], doubt_sched: Any,
                    rng: np.random.Generator, doubt_rng: np.random.Generator,
                    seconds: float) -> dict:
    """Return what resuming after ``step`` steps needs, as plain containers and tensors."""
    def cpu(state: dict) -> dict:
        return {k: v.detach().cpu().clone() if torch.is_tensor(v) else v
                for k, v in state.items()}

    return {'step': step, 'running': running, 'count': count,
            'history': {'steps': list(history.steps), 'train_loss': list(history.train_loss),
                        'val_steps': list(history.val_steps),
                        'val_loss': list(history.val_loss),
                        'seconds': history.seconds + seconds},
            'policy': cpu(policy.state_dict()), 'opt': opt.state_dict(),
            'sched': sched.state_dict(),
            'doubt': None if doubt is None else {
                'model': cpu(doubt.state_dict()), 'opt': doubt_opt.state_dict(),
                'sched': doubt_sched.state_dict()},
            'rng': rng.bit_generator.state, 'doubt_rng': doubt_rng.bit_generator.state}


def _restore(state: dict, policy: Policy, opt: torch.optim.Optimizer, sched: Any,
             doubt: Optional[DoubtEnsemble], doubt_opt: Optional[torch.optim.Optimizer],
             doubt_sched: Any, rng: np.random.Generator, doubt_rng: np.random.Generator,
             history: History) -> tuple[int, float, int]:
    """Load a :func:`_training_state` into the training's objects; return step, running, count."""
    policy.load_state_dict(state['policy'])
    opt.load_state_dict(state['opt'])
    sched.load_state_dict(state['sched'])
    if doubt is not None:
        doubt.load_state_dict(state['doubt']['model'])
        doubt_opt.load_state_dict(state['doubt']['opt'])
        doubt_sched.load_state_dict(state['doubt']['sched'])
    rng.bit_generator.state = state['rng']
    doubt_rng.bit_generator.state = state['doubt_rng']
    saved = state['history']
    history.steps[:] = saved['steps']
    history.train_loss[:] = saved['train_loss']
    history.val_steps[:] = saved['val_steps']
    history.val_loss[:] = saved['val_loss']
    history.seconds = float(saved['seconds'])
    return int(state['step']), float(state['running']), int(state['count'])


def _load_init(policy: Policy, init: Policy) -> None:
    """Copy ``init``'s weights into ``policy`` (same kind, spec and options) or raise."""
    if type(init) is not type(policy):
        raise ConfigError(f'cannot warm start a {type(policy).__name__} from a '
                          f'{type(init).__name__}; train from scratch or pick the same kind')
    if init.spec != policy.spec:
        raise ConfigError('cannot warm start from a policy with another observation/action '
                          'spec (joints, task layout, features or normalization); reuse its '
                          'spec or train from scratch')
    own = {k: v for k, v in init.state_dict().items() if not k.startswith('doubt.')}
    try:
        policy.load_state_dict(own, strict=False)
    except RuntimeError as exc:
        raise ConfigError(f'cannot warm start: the previous policy has other layer shapes '
                          f'(options or hidden sizes changed): {exc}') from exc
    missing = [k for k in policy.state_dict() if k not in own and not k.startswith('doubt.')]
    if missing:
        raise ConfigError(f'cannot warm start: the previous policy lacks {missing[:3]}; train '
                          'from scratch')


def _doubt_step(loss_of: Callable[..., torch.Tensor], doubt: DoubtEnsemble,
                opt: torch.optim.Optimizer, train: TrainingSet, cdf: np.ndarray,
                batch_size: int, rng: np.random.Generator, device: torch.device,
                rank: int = 0, world: int = 1) -> None:
    """One gradient step of the doubt ensemble: each member on its own (bootstrap) batch."""
    k, b = doubt.members, min(batch_size, len(train))
    if doubt.config.bootstrap:
        idx = draw(rng, cdf, (k, b))
    else:
        idx = np.broadcast_to(draw(rng, cdf, b), (k, b))
    own = idx[:, rank::world]

    def tensor(x: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(x, dtype=torch.float32, device=device)

    loss = loss_of(tensor(train.state[own]), tensor(train.task[own]),
                   tensor(train.actions[own, 0])).mean()
    if world > 1:
        loss = loss * (own.shape[1] * world / b)
    _optimizer_step(loss, doubt, opt, 'the doubt ensemble loss', collective=world > 1)


def _optimizer_step(loss: torch.Tensor, module: torch.nn.Module, opt: torch.optim.Optimizer,
                    what: str, where: str = '', *, collective: bool = False) -> None:
    """
    Check the step is finite (TrainingError if not), backpropagate, clip, step.

    A single process checks its loss before the backward pass. In a distributed
    run every rank checks the averaged gradient norm, the same on every rank,
    so all of them stop together.
    """
    if not collective and not torch.isfinite(loss):
        raise TrainingError(f'{what} became {loss.item()}{where}; lower the learning rate or '
                            'check the data for outliers')
    opt.zero_grad(set_to_none=True)
    loss.backward()
    norm = torch.nn.utils.clip_grad_norm_(module.parameters(), 10.0)
    if collective and not torch.isfinite(norm):
        raise TrainingError(f'the gradient of {what} became {norm.item()}{where} (on some '
                            'process); lower the learning rate or check the data for outliers')
    opt.step()


@torch.no_grad()
def evaluate_loss(policy: Policy, data: TrainingSet, device: torch.device,
                  batch_size: int = 2048, *, dist: Optional['DistributedRun'] = None) -> float:
    """
    Return the weighted mean loss of ``policy`` on ``data`` (eval mode, no gradients).

    With ``dist`` every rank evaluates its stride of ``data`` and the sums are
    added over the ranks (every rank returns the same value).
    """
    was_training = policy.training
    policy.eval()
    total, weight = 0.0, 0.0
    gen = torch.random.get_rng_state()
    torch.manual_seed(12345)  # diffusion's loss draws timesteps: keep validation comparable
    rows = np.arange(len(data)) if dist is None else np.arange(dist.rank, len(data),
                                                               dist.world_size)
    for start in range(0, len(rows), batch_size):
        idx = rows[start:start + batch_size]
        losses = policy.loss(_batch(data, idx, device)).cpu().numpy()
        total += float((losses * data.weight[idx]).sum())
        weight += float(data.weight[idx].sum())
    torch.random.set_rng_state(gen)
    policy.train(was_training)
    if dist is not None:
        total, weight = dist.all_sum([total, weight])
    return float(total / max(weight, 1e-12))


def plot_history(history: History, path: Path | str, title: str = '') -> Path:
    """Write the loss curves as a PNG and return its path."""
    import matplotlib  # heavy, and needed only for the plot
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt  # lazy: matplotlib only when plotting
    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=100)
    ax.plot(history.steps, history.train_loss, label='train')
    if history.val_loss:
        ax.plot(history.val_steps, history.val_loss, label='validation')
    ax.set_xlabel('step')
    ax.set_ylabel('loss')
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    out = Path(path)
    fig.savefig(out)
    plt.close(fig)
    return out
