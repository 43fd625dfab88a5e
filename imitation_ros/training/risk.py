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
Learn the risk from recorded episodes and put it into the policy's ONNX file.

Labels come from what the recorder keeps of every hg_dagger episode (the
policy drove, a human could take over): each state under policy control is
**risky** when an event follows within ``horizon_steps`` control periods, an
event being a takeover (the first human-controlled step) or the end of an
episode that failed under policy control; every other policy-controlled state
is **safe**. Human-controlled states are not labelled (the risk is the
policy's). :func:`train_risk` fits a :class:`~imitation_ros.policies.risk.RiskNet`
with the binary cross entropy on a split by episode and reports its ROC AUC on
the held-out episodes; :func:`attach_risk` exports it and merges it into an
exported policy as the output ``risk`` (B,), computed only when the optional
bool input ``want_risk`` is true (like the doubt), with the metadata key
``risk`` (JSON: what it is, the horizon, the data and the held-out AUC) and
``risk`` added to ``outputs``. :func:`add_risk` does both from a loaded
dataset, skipping (with the reason) when the data has too few events; the
training pipeline calls it after every export, so the risk is trained beside
the policy on the same data.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
import io
import json
from pathlib import Path
from typing import Optional, Sequence
import warnings

import numpy as np
import onnx
import torch

from ..data.dataset import Dataset, SOURCE_CODES
from ..errors import ConfigError, ModelError
from ..interface.model_format import RISK_GATE, RISK_KEY, RISK_OUTPUT
from ..policies.risk import RiskNet
from ..runtime.atomic import write_atomic
from .export import gate_doubt, OPSET

#: What the ``risk`` output is, written into the model metadata.
LABEL = ('probability that a human takes over, or the episode fails under policy control, '
         'within horizon_steps control periods (learned from hg_dagger episodes)')


@dataclass(frozen=True)
class RiskConfig:
    """Settings of the risk model and its training."""

    horizon_steps: int = 20
    """A state is risky when a takeover or failure follows within this many periods."""
    hidden: tuple[int, ...] = (64, 64)
    """Hidden layer widths."""
    steps: int = 1500
    """Gradient steps."""
    batch_size: int = 256
    """Samples per step."""
    lr: float = 1e-3
    """Adam learning rate."""
    weight_decay: float = 1e-4
    """AdamW weight decay."""
    held_out_fraction: float = 0.2
    """Fraction of episodes held out for the reported AUC (0: none)."""
    min_events: int = 5
    """Fewest events (takeovers and failed ends) to train on; fewer: no risk."""

    def __post_init__(self) -> None:
        ints = {'horizon_steps': 1, 'steps': 1, 'batch_size': 1, 'min_events': 1}
        for name, low in ints.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ConfigError(f'risk {name} must be an integer >= {low}, got {value!r}')
        if not 0.0 <= self.held_out_fraction < 1.0:
            raise ConfigError(f'risk held_out_fraction must be in [0, 1), got '
                              f'{self.held_out_fraction!r}')
        if not (self.lr > 0 and self.weight_decay >= 0):
            raise ConfigError(f'risk lr must be > 0 and weight_decay >= 0, got {self.lr}, '
                              f'{self.weight_decay}')
        if not self.hidden or any(int(h) < 1 for h in self.hidden):
            raise ConfigError(f'risk hidden widths must be positive, got {self.hidden!r}')
        object.__setattr__(self, 'hidden', tuple(int(h) for h in self.hidden))


@dataclass(frozen=True)
class RiskSamples:
    """Policy-controlled states of hg_dagger episodes with their risk labels."""

    states: np.ndarray
    """Joint positions, (N, n) rad."""
    tasks: np.ndarray
    """Task vectors, (N, k)."""
    risky: np.ndarray
    """True when a takeover or failure follows within the horizon, (N,) bool."""
    episode: np.ndarray
    """Episode id per state, (N,) int."""
    events: int
    """Takeovers plus failed ends under policy control."""


def risk_labels(human: np.ndarray, episode: np.ndarray, step: np.ndarray, failed: np.ndarray,
                horizon_steps: int) -> tuple[np.ndarray, np.ndarray, int]:
    """
    Label per-step samples (see the module docstring).

    :param human: (N,) bool, the human in control; ``episode`` (N,) episode id;
        ``step`` (N,) step within the episode; ``failed`` (N,) bool, the sample's
        episode failed.
    :returns: (risky (N,) bool, policy-controlled (N,) bool, number of events).
    """
    n = len(human)
    risky = np.zeros(n, dtype=bool)
    events = 0
    human = np.asarray(human, dtype=bool)
    for ep in np.unique(episode):
        idx = np.flatnonzero(episode == ep)
        idx = idx[np.argsort(step[idx], kind='stable')]
        h = human[idx]
        t = np.asarray(step[idx], dtype=np.int64)
        onsets = [int(t[i]) for i in range(len(h)) if h[i] and (i == 0 or not h[i - 1])]
        if bool(failed[idx[0]]) and len(h) and not h[-1]:
            onsets.append(int(t[-1]) + 1)  # failed under policy control
        events += len(onsets)
        ahead = np.full(len(h), np.iinfo(np.int64).max)
        for onset in onsets:
            lead = onset - t
            ahead = np.where((lead > 0) & (lead < ahead), lead, ahead)
        risky[idx] = ~h & (ahead <= horizon_steps)
    return risky, ~human, events


def risk_samples(data: Dataset, horizon_steps: int) -> RiskSamples:
    """Select the policy-controlled states of the hg_dagger episodes of ``data``, labelled."""
    keep = data.source == SOURCE_CODES['hg_dagger']
    ds = data.subset(keep) if not keep.all() else data
    failed = np.array([not ds.episodes[e].success for e in ds.episode_id], dtype=bool)
    risky, policy, events = risk_labels(ds.human, ds.episode_id, ds.step, failed,
                                        horizon_steps)
    return RiskSamples(states=ds.positions[policy], tasks=ds.task[policy],
                       risky=risky[policy], episode=ds.episode_id[policy], events=events)


def roc_auc(scores: np.ndarray, positive: np.ndarray) -> float:
    """Return the area under the ROC curve of ``scores`` for ``positive`` (ties halved)."""
    scores = np.asarray(scores, dtype=np.float64)
    positive = np.asarray(positive, dtype=bool)
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    if n_pos == 0 or n_neg == 0:
        return float('nan')
    order = np.argsort(scores, kind='mergesort')
    ranks = np.empty(len(scores))
    sorted_scores = scores[order]
    i = 0
    while i < len(scores):
        j = i
        while j + 1 < len(scores) and sorted_scores[j + 1] == sorted_scores[i]:
            j += 1
        ranks[order[i:j + 1]] = 0.5 * (i + j) + 1.0  # average rank of a tie
        i = j + 1
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def split_episodes(episode: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """Return a mask of the samples whose episode is held out (a seeded choice of episodes)."""
    ids = np.unique(episode)
    count = int(round(fraction * len(ids)))
    if fraction <= 0 or count < 1 or count >= len(ids):
        return np.zeros(len(episode), dtype=bool)
    held = np.random.default_rng([int(seed), 31]).choice(ids, size=count, replace=False)
    return np.isin(episode, held)


def train_risk(samples: RiskSamples, config: RiskConfig = RiskConfig(), *,
               link_lengths: Optional[Sequence[float]] = None,
               seed: int = 0) -> tuple[RiskNet, dict]:
    """
    Fit the risk model on ``samples``; return it (eval mode) and what it learned from.

    The report: episodes, states, risky fraction, events, held-out episodes and the
    ROC AUC on them (NaN without a held-out split or without both labels there),
    the AUC on the training states.

    :raises ConfigError: fewer than ``config.min_events`` events, or no safe state.
    """
    if samples.events < config.min_events or not samples.risky.any() \
            or samples.risky.all():
        raise ConfigError(f'the risk needs hg_dagger episodes with at least '
                          f'{config.min_events} takeovers or failures and some safe states; '
                          f'got {samples.events} events in {len(samples.risky)} states')
    held = split_episodes(samples.episode, config.held_out_fraction, seed)
    train = ~held
    if not samples.risky[train].any() or samples.risky[train].all():
        held[:] = False
        train[:] = True
    states = torch.as_tensor(samples.states, dtype=torch.float32)
    tasks = torch.as_tensor(samples.tasks, dtype=torch.float32)
    target = torch.as_tensor(samples.risky, dtype=torch.float32)
    with torch.no_grad():
        feats = RiskNet.raw_features(states[train], tasks[train], link_lengths).numpy()
    net = RiskNet(link_lengths, feats.mean(axis=0), feats.std(axis=0), config.hidden,
                  seed=seed)
    opt = torch.optim.AdamW(net.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    rng = np.random.default_rng([int(seed), 17])
    rows = np.flatnonzero(train)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    net.train()
    for _ in range(config.steps):
        batch = torch.as_tensor(rng.choice(rows, size=min(config.batch_size, len(rows)),
                                           replace=len(rows) < config.batch_size))
        loss = loss_fn(net.logits(states[batch], tasks[batch]), target[batch])
        opt.zero_grad()
        loss.backward()
        opt.step()
    net.eval()
    with torch.no_grad():
        scores = net.logits(states, tasks).numpy()   # ranks without float32 ties at 1.0
    report = {
        'episodes': int(np.unique(samples.episode).size), 'states': int(len(samples.risky)),
        'horizon_steps': config.horizon_steps,
        'risky_fraction': float(samples.risky.mean()), 'events': int(samples.events),
        'held_out_episodes': int(np.unique(samples.episode[held]).size),
        'held_out_auc': roc_auc(scores[held], samples.risky[held]) if held.any()
        else float('nan'),
        'train_auc': roc_auc(scores[train], samples.risky[train]),
        'config': asdict(config), 'seed': int(seed),
        'parameter_count': net.parameter_count()}
    return net, report


class _Exported(torch.nn.Module):
    def __init__(self, net: RiskNet) -> None:
        super().__init__()
        self.net = net

    def forward(self, state: torch.Tensor, task: torch.Tensor) -> torch.Tensor:
        # The logit: a float32 probability rounds to exactly 1.0 above a logit of about 17,
        # which ties every confident state at the top of the threshold range.
        return self.net.logits(state, task)


def risk_graph(net: RiskNet, n_joints: int, task_dim: int) -> onnx.ModelProto:
    """Export ``net`` alone: inputs ``state`` (B, n), ``task`` (B, k); output its logit (B,)."""
    buf = io.BytesIO()
    args = (torch.zeros(2, n_joints), torch.zeros(2, task_dim))
    net.eval()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter('ignore', DeprecationWarning)
        warnings.simplefilter('ignore', FutureWarning)
        warnings.simplefilter('ignore', torch.jit.TracerWarning)
        torch.onnx.export(_Exported(net), args, buf, dynamo=False, opset_version=OPSET,
                          input_names=['state', 'task'], output_names=[RISK_OUTPUT],
                          dynamic_axes={'state': {0: 'B'}, 'task': {0: 'B'},
                                        RISK_OUTPUT: {0: 'B'}})
    return onnx.load_model_from_string(buf.getvalue())


def attach_risk(model_path: Path | str, net: RiskNet, info: dict,
                out: Optional[Path | str] = None) -> Path:
    """
    Merge ``net`` into the exported policy ``model_path`` as the gated ``risk`` output.

    Writes ``out`` (default: the model file itself, replaced in one step) and returns it.

    :param info: what the risk learned from (:func:`train_risk`'s report), stored
        with the label definition under the metadata key ``risk``.
    :raises ModelError: the model already has a risk, or is not an imitation_ros model.
    """
    model_path = Path(model_path)
    model = onnx.load(str(model_path))
    meta = {p.key: p.value for p in model.metadata_props}
    if RISK_KEY in meta or any(o.name == RISK_OUTPUT for o in model.graph.output):
        raise ModelError(f'{model_path} already has a risk output; attach the risk to a '
                         'freshly exported policy')
    try:
        inputs, outputs = json.loads(meta['inputs']), json.loads(meta['outputs'])
        n_joints, task_dim = int(inputs['state'][1]), int(inputs['task'][1])
    except (KeyError, ValueError, TypeError, IndexError) as exc:
        raise ModelError(f'{model_path} has no inputs/outputs metadata of an imitation_ros '
                         f'policy ({type(exc).__name__}); export it with imitation-ros '
                         'train') from exc
    risk = onnx.compose.add_prefix(risk_graph(net, n_joints, task_dim), 'risk/')
    rename = {'risk/state': 'state', 'risk/task': 'task', f'risk/{RISK_OUTPUT}': RISK_OUTPUT}
    for node in risk.graph.node:
        for k, name in enumerate(node.input):
            node.input[k] = rename.get(name, name)
        for k, name in enumerate(node.output):
            node.output[k] = rename.get(name, name)
    model.graph.node.extend(risk.graph.node)
    model.graph.initializer.extend(risk.graph.initializer)
    model.graph.output.append(onnx.helper.make_tensor_value_info(
        RISK_OUTPUT, onnx.TensorProto.FLOAT, ['B']))
    gate_doubt(model, output=RISK_OUTPUT, gate=RISK_GATE)
    outputs[RISK_OUTPUT] = ['B']
    meta['outputs'] = json.dumps(outputs, sort_keys=True)
    meta[RISK_KEY] = json.dumps({'output': RISK_OUTPUT, 'gate': RISK_GATE, 'label': LABEL,
                                 'units': 'probability (0..1)', 'shape': ['B'],
                                 'scale': 'logit',
                                 'method': 'mlp classifier', **info},
                                sort_keys=True, default=_plain)
    onnx.helper.set_model_props(model, meta)
    try:
        onnx.checker.check_model(model, full_check=True)
    except onnx.checker.ValidationError as exc:
        raise ModelError(f'the policy graph with the risk fails the ONNX checker ({exc}); '
                         'this is an export bug, not a data problem') from exc
    target = Path(out) if out is not None else model_path
    write_atomic(target, model.SerializeToString())
    return target


def add_risk(model_path: Path | str, data: Dataset, config: RiskConfig = RiskConfig(), *,
             link_lengths: Optional[Sequence[float]] = None, seed: int = 0) -> dict:
    """
    Train the risk on the hg_dagger episodes of ``data`` and attach it to ``model_path``.

    :returns: the training report, or ``{'skipped': why}`` when the data holds too
        few takeovers or failures (the model then has no risk).
    """
    samples = risk_samples(data, config.horizon_steps)
    if samples.events < config.min_events or not samples.risky.any() \
            or samples.risky.all():
        return {'skipped': f'{samples.events} takeovers or failures in '
                           f'{np.unique(samples.episode).size} hg_dagger episodes (need '
                           f'{config.min_events})'}
    net, report = train_risk(samples, config, link_lengths=link_lengths, seed=seed)
    attach_risk(model_path, net, report)
    return report


def _plain(value: object) -> object:
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    if isinstance(value, tuple):
        return list(value)
    raise TypeError(f'not JSON serializable: {type(value).__name__}')
