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
From episode bags to a validated ONNX model in one call.

Load the bags (skipping, with a warning each, those that cannot be read; the
result and the model metadata count them), select and label samples
(``data/aggregate.py``), build action chunks, fit the normalization, train, plot
the loss curves next to the model, export one self-contained ONNX file, and
check that ONNX Runtime loads it and produces finite actions. When the data
holds hg_dagger episodes with enough takeovers or failures, the risk model
(:mod:`~imitation_ros.training.risk`) is trained on them and merged into the
same file. The torch weights
go next to the model as a checkpoint (``NAME.pt``,
:mod:`~imitation_ros.training.checkpoint`), from which the next version can warm
start (``init_from``): it then keeps that checkpoint's spec (normalization) and
settings and fine-tunes its weights. Used by
``imitation-ros train``, the trainer node and the benchmarks.
:func:`train_distributed` is the same in one worker of a distributed run
(:mod:`~imitation_ros.training.distributed`): rank 0 prepares the data and
writes every file, all ranks train.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timezone
import json
from pathlib import Path
import time
from typing import Optional, Sequence, TYPE_CHECKING

import numpy as np

from ..data import (aggregate, data_digest, Dataset, DEFAULT_CORRECTION_WEIGHT,
                    DEFAULT_MAX_COMMAND_STEP, LabelledSamples, load_dataset, SkippedBag)
from ..errors import TrainingError
from ..policies.base import Policy, PolicySpec, TrainConfig
from ..policies.registry import get_kind, KINDS
from ..policies.vision import IMAGE_ENCODERS
from ..sim.arm import ArmConfig, TASK_LAYOUT
from .checkpoint import checkpoint_path, load_checkpoint, save_checkpoint
from .export import export_policy
from .risk import add_risk, RiskConfig
from .trainer import (build_training_set, fit_spec, History, plot_history, train_policy,
                      TrainingSet)

if TYPE_CHECKING:
    from .distributed import DistributedRun

#: Observation feature sets: 'planar-fk' adds forward kinematics of the simulated arm.
FEATURES = ('planar-fk', 'raw')
#: Skipped bags named (with why) in a model's metadata; all of them are counted.
MAX_SKIPPED_LISTED = 20


@dataclass(frozen=True)
class TrainRequest:
    """What to train, on what, and where the model goes."""

    data: tuple[Path, ...]
    """Data directories (or single bags)."""
    kind: str
    """Policy kind: mse, gmm, ar or diffusion."""
    out: Path
    """Path of the .onnx file to write."""
    config: TrainConfig = field(default_factory=TrainConfig)
    """Optimization settings."""
    options: dict = field(default_factory=dict)
    """Kind-specific settings (fields of the kind's Config)."""
    seed: int = 0
    """Seed of the split, batches and initialization."""
    device: str = 'cpu'
    """'cpu' or 'cuda'."""
    image: bool = False
    """Condition on camera images through the image encoder."""
    image_encoder: str = IMAGE_ENCODERS[0]
    """The image encoder (:data:`~imitation_ros.policies.vision.IMAGE_ENCODERS`)."""
    features: str = 'planar-fk'
    """Observation features: 'planar-fk' (sim arm kinematics) or 'raw' ([q, task])."""
    link_lengths: tuple[float, ...] = ArmConfig().link_lengths
    """Link lengths (m) for 'planar-fk'."""
    correction_weight: float = DEFAULT_CORRECTION_WEIGHT
    """Sampling weight of correction samples relative to demonstrations."""
    version: str = ''
    """Model version string (default: UTC timestamp)."""
    variant: Optional[str] = None
    """Diffusion export variant: 'sampler' (default) or 'denoiser'."""
    progress: bool = True
    """Show progress bars."""
    init_from: Optional[Path] = None
    """Warm start from this checkpoint (``NAME.pt``): same kind, joints and task layout;
    its normalization and kind settings are kept. None trains from scratch."""
    checkpoint: bool = True
    """Write the checkpoint ``NAME.pt`` next to the model."""
    max_command_step: Optional[float] = DEFAULT_MAX_COMMAND_STEP
    """Drop executed-command samples farther than this from their joint state (rad; the
    gate's ``max_joint_step``); None keeps all (:func:`~imitation_ros.data.aggregate.
    aggregate`)."""
    risk: Optional[RiskConfig] = field(default_factory=RiskConfig)
    """Train the risk model on the data's hg_dagger episodes and add it to the model file
    (skipped, with the reason in :attr:`TrainResult.risk`, when they hold too few
    takeovers or failures); None: no risk."""

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise TrainingError(f'unknown policy kind {self.kind!r}; choose one of '
                                f'{", ".join(KINDS)}')
        if self.features not in FEATURES:
            raise TrainingError(f'features must be one of {FEATURES}, got {self.features!r}')
        if self.out.suffix != '.onnx':
            raise TrainingError(f'--out must end in .onnx, got {self.out}')


@dataclass(frozen=True)
class TrainResult:
    """What training produced."""

    model: Path
    """The exported .onnx file."""
    loss_plot: Path
    """PNG of the loss curves next to the model."""
    history: History
    """Loss curves."""
    samples: int
    """Training samples (after selection)."""
    corrections: int
    """Of which human or expert corrections."""
    episodes: int
    """Episodes they came from."""
    digest: str
    """SHA-256 of the training data's episode facts."""
    version: str
    """Model version written into the metadata."""
    parameters: int
    """Trainable parameters."""
    seconds: float
    """Wall time, load to validated file."""
    policy: Policy
    """The trained torch policy (eval mode, CPU)."""
    misaligned: int = 0
    """Samples dropped as misaligned (command too far from its joint state)."""
    skipped: tuple[SkippedBag, ...] = ()
    """Bags found under the data paths but left out (unfinished, damaged, unreadable or not
    fitting the others), with why; each was also warned about (DataWarning)."""
    processes: int = 1
    """Processes that trained (all machines together)."""
    risk: Optional[dict] = None
    """The risk model's training report, ``{'skipped': why}``, or None when not asked."""

    @property
    def skipped_bags(self) -> int:
        """Return how many bags were skipped."""
        return len(self.skipped)


def train_from_bags(req: TrainRequest) -> TrainResult:
    """Run the whole pipeline for ``req`` (see the module docstring) in this process."""
    result = _train(req, None)
    assert result is not None
    return result


def train_distributed(req: TrainRequest, dist: 'DistributedRun') -> Optional[TrainResult]:
    """
    Run the pipeline as one worker of a distributed training; every rank calls it.

    Rank 0 loads the data, fits the normalization and shares both; every rank
    trains its share of each batch; rank 0 exports, validates and writes the
    files to ``req.out`` and returns the result, the other ranks None.
    """
    return _train(req, dist)


@dataclass(frozen=True)
class _Prepared:
    """What rank 0 (or the single process) made of the data before training."""

    tset: TrainingSet
    """Samples with their action chunks."""
    spec: PolicySpec
    """Layout and normalization."""
    options: dict
    """The kind's settings (the warm start's when there is one)."""
    init: Optional[Policy]
    """The warm start, or None."""
    data: Dataset
    """The loaded episodes."""
    samples: LabelledSamples
    """The selected samples."""


def _prepare(req: TrainRequest) -> _Prepared:
    """Load, select, chunk and normalize the data (or take the warm start's spec)."""
    data = load_dataset(list(req.data), with_images=req.image)
    samples = aggregate(data, correction_weight=req.correction_weight,
                        max_command_step=req.max_command_step)
    horizon = get_kind(req.kind).horizon(req.options)
    tset = build_training_set(samples.state, samples.task, samples.action, samples.episode,
                              samples.step, horizon=horizon, weight=samples.weight,
                              image=samples.image)
    link_lengths = req.link_lengths if req.features == 'planar-fk' else None
    if link_lengths is not None and len(link_lengths) != len(data.joint_names):
        raise TrainingError(f'planar-fk needs one link length per joint ({len(data.joint_names)}),'
                            f' got {len(link_lengths)}; use --features raw for another robot')
    task_layout = bag_task_layout(data.episodes, samples.task.shape[1])
    init = None
    options = req.options
    if req.init_from is not None:
        init = _load_init(req, data.joint_names, task_layout, link_lengths)
        spec = init.spec
        options = asdict(init.config)
    else:
        spec = replace(fit_spec(tset, data.joint_names, task_layout, with_image=req.image,
                                link_lengths=link_lengths), image_encoder=req.image_encoder)
    return _Prepared(tset, spec, dict(options), init, data, samples)


def _train(req: TrainRequest, dist: Optional['DistributedRun']) -> Optional[TrainResult]:
    start = time.perf_counter()
    if dist is None:
        prep = _prepare(req)
        tset, spec, options = prep.tset, prep.spec, prep.options
    else:
        made: list[_Prepared] = []

        def make() -> tuple:
            made.append(_prepare(req))
            return made[0].tset, made[0].spec, made[0].options

        # Rank 0 alone reads the data and fits the normalization; all ranks get both.
        tset, spec, options = dist.share_training_set(make)
        prep = made[0] if made else None
    policy, history = train_policy(req.kind, tset, spec, req.config, options=options,
                                   seed=req.seed, device=req.device, progress=req.progress,
                                   desc=f'train {req.kind}',
                                   init=prep.init if prep is not None else None, dist=dist)
    if prep is None:
        return None
    data, samples = prep.data, prep.samples
    version = req.version or datetime.now(timezone.utc).strftime('%Y%m%dT%H%M%SZ')
    digest = data_digest(data.episodes)
    req.out.parent.mkdir(parents=True, exist_ok=True)
    sources = {}
    for info in data.episodes:
        sources[info.source] = sources.get(info.source, 0) + 1
    extra = {'version': version, 'training_data': {
        'digest': digest, 'episodes': len(data.episodes), 'samples': len(samples),
        'corrections': int(samples.correction.sum()), 'sources': sources,
        'misaligned_dropped': samples.misaligned, 'max_command_step': req.max_command_step,
        'skipped_bags': len(data.skipped),
        'skipped': [{'bag': str(s.path), 'reason': s.reason[:300]}
                    for s in data.skipped[:MAX_SKIPPED_LISTED]],
        'correction_weight': req.correction_weight, 'seed': req.seed,
        'paths': [str(p) for p in req.data], 'steps': req.config.steps,
        'data': data.summary.as_dict() if data.summary is not None else None,
        'init_from': str(req.init_from) if req.init_from is not None else None,
        'final_train_loss': history.train_loss[-1] if history.train_loss else None,
        'final_val_loss': history.val_loss[-1] if history.val_loss else None,
        'processes': 1 if dist is None else dist.world_size,
        'distributed': None if dist is None else dist.describe(),
        'samples_per_s': round(history.samples_per_s, 1)}}
    model = export_policy(policy, req.out, metadata_extra=extra, variant=req.variant)
    plot = plot_history(history, req.out.with_suffix('.loss.png'),
                        title=f'{req.kind} on {len(samples)} samples ({version})')
    risk = None
    if req.risk is not None:
        risk = add_risk(model, data, req.risk, link_lengths=link_lengths_of(req),
                        seed=req.seed)
    validate_model(model, len(data.joint_names), samples.task.shape[1])
    if req.checkpoint:
        save_checkpoint(policy, checkpoint_path(model))
    return TrainResult(model=model, loss_plot=plot, history=history, samples=len(samples),
                       corrections=int(samples.correction.sum()),
                       episodes=len(np.unique(samples.episode)), digest=digest,
                       version=version, parameters=policy.parameter_count(),
                       seconds=time.perf_counter() - start, policy=policy,
                       misaligned=samples.misaligned, skipped=data.skipped,
                       processes=1 if dist is None else dist.world_size, risk=risk)


def link_lengths_of(req: TrainRequest) -> Optional[tuple[float, ...]]:
    """Return the link lengths of the observation features (None for 'raw')."""
    return tuple(req.link_lengths) if req.features == 'planar-fk' else None


def _load_init(req: TrainRequest, joint_names: Sequence[str], task_layout: Sequence[str],
               link_lengths: Optional[Sequence[float]]) -> Policy:
    """Load ``req.init_from`` and check it fits the request and the data (TrainingError)."""
    assert req.init_from is not None
    init = load_checkpoint(req.init_from)
    problems = []
    if init.kind != req.kind:
        problems.append(f'it is a {init.kind} policy, not {req.kind}')
    if tuple(init.spec.joint_names) != tuple(joint_names):
        problems.append(f'it was trained for joints {list(init.spec.joint_names)}, the data '
                        f'has {list(joint_names)}')
    if len(init.spec.task_layout) != len(task_layout):
        problems.append(f'its task has {len(init.spec.task_layout)} entries, the data\'s '
                        f'{len(task_layout)}')
    if (init.spec.image_shape is not None) != bool(req.image):
        problems.append('it ' + ('uses' if init.spec.image_shape else 'does not use')
                        + ' camera images and this training ' + ('does' if req.image else
                                                                 'does not'))
    if req.image and init.spec.image_encoder != req.image_encoder:
        problems.append(f'its image encoder is {init.spec.image_encoder}, not '
                        f'{req.image_encoder}')
    if (init.spec.link_lengths is None) != (link_lengths is None):
        theirs = 'raw' if init.spec.link_lengths is None else 'planar-fk'
        problems.append(f"its features are {theirs}, this training's {req.features}")
    if req.options:
        own = asdict(init.config)
        differ = {k: v for k, v in req.options.items()
                  if k in own and _as_tuple(own[k]) != _as_tuple(v)}
        unknown = sorted(set(req.options) - set(own))
        if differ or unknown:
            problems.append(f'its {init.kind} settings differ from the options given '
                            f'({", ".join(sorted(differ) + unknown)}); a warm start keeps the '
                            'checkpoint\'s settings')
    if problems:
        raise TrainingError(f'cannot warm start from {req.init_from}: ' + '; '.join(problems)
                            + '. Train from scratch (without init_from) or warm start from a '
                            'matching checkpoint.')
    return init


def bag_task_layout(episodes: Sequence, dim: int) -> tuple[str, ...]:
    """
    Return the names of the ``dim`` task entries.

    The names the bags give (``task_layout`` in their facts, as the Panda
    collector writes it) when they all agree; else the planar arm's
    ``TASK_LAYOUT`` for 5 entries; else ``task_0``, ``task_1``, ...
    """
    named = {info.custom_data.get('task_layout', '') for info in episodes}
    if len(named) == 1:
        names = tuple(n for n in named.pop().split(',') if n)
        if len(names) == dim:
            return names
    if dim == len(TASK_LAYOUT):
        return tuple(TASK_LAYOUT)
    return tuple(f'task_{i}' for i in range(dim))


def _as_tuple(value: object) -> object:
    """Compare list and tuple settings alike."""
    return tuple(value) if isinstance(value, (list, tuple)) else value


def validate_model(path: Path, n_joints: int, task_dim: int) -> None:
    """Load ``path`` with ONNX Runtime and check that a sample action is finite."""
    # ONNX Runtime loads after training, never beside torch while it trains.
    from ..runtime.onnx_policy import OnnxPolicy
    policy = OnnxPolicy(path)
    state = np.zeros(n_joints)
    task = np.zeros(task_dim)
    image = None
    if policy.needs_image:
        image = np.zeros(policy.image_shape, dtype=np.uint8)
    action = policy.act(state, task, image)
    if action.shape != (n_joints,) or not np.all(np.isfinite(action)):
        raise TrainingError(f'{path}: the exported model produced {action}; not saving it')


def parse_options(pairs: Sequence[str]) -> dict:
    """Parse ``key=value`` pairs (values as JSON where possible, else strings)."""
    out: dict = {}
    for pair in pairs:
        if '=' not in pair:
            raise TrainingError(f'option {pair!r} must look like key=value (e.g. components=8)')
        key, value = pair.split('=', 1)
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out
