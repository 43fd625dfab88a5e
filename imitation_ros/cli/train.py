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
``imitation-ros train``: train a policy on episode bags and export one ONNX file.

Writes NAME.onnx, NAME.loss.png (train and validation loss) and NAME.pt (the torch
checkpoint) side by side. ``--init-from OLD.pt`` warm starts from an earlier
version's checkpoint: same kind, joints and task; its normalization and settings
are kept and its weights fine-tuned (HG-DAgger and DAgger rounds).
Correction samples (human takeovers, expert labels) are drawn
``--correction-weight`` times as often as demonstration samples. Bags that cannot
be read (unfinished, damaged, over the read limits) are skipped with a warning
each; the summary and the model metadata (``skipped_bags``) count them.

``--nproc N`` trains in N processes with DistributedDataParallel under torchrun
(gloo on the CPU, nccl with ``--device cuda``, one GPU per process);
``--nnodes``, ``--node-rank``, ``--rdzv-endpoint`` ... span several machines
(run the same command on each). Rank 0 reads the data, shares the normalization
and writes every file; the files appear only when the whole run succeeded. A
worker that dies is restarted with the others (``--max-restarts``), and
training resumes from the state rank 0 writes every ``--checkpoint-every``
steps.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Optional

from ..data.aggregate import DEFAULT_CORRECTION_WEIGHT, DEFAULT_MAX_COMMAND_STEP
from ..errors import ImitationError
from ..policies.base import TrainConfig
from ..policies.registry import KINDS
from ..policies.vision import IMAGE_ENCODERS
from ..training.distributed import (DistributedRun, launch, LaunchOptions,
                                    worker_state_dir)
from ..training.pipeline import (FEATURES, parse_options, train_distributed, train_from_bags,
                                 TrainRequest, TrainResult)

#: Options of the launcher (torchrun's); the workers run the command without them.
LAUNCH_OPTIONS = ('nproc', 'nnodes', 'node_rank', 'rdzv_backend', 'rdzv_endpoint', 'rdzv_id',
                  'master_addr', 'master_port', 'max_restarts')
_parser: Optional[argparse.ArgumentParser] = None


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``train``."""
    p = sub.add_parser('train', help='train a policy on episode bags and export ONNX',
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--data', type=Path, nargs='+', required=True, help='data directories')
    p.add_argument('--policy', choices=list(KINDS), required=True, help='policy kind')
    p.add_argument('--out', type=Path, required=True, help='models/NAME.onnx')
    p.add_argument('--steps', type=int, default=TrainConfig().steps, help='gradient steps')
    p.add_argument('--batch-size', type=int, default=TrainConfig().batch_size)
    p.add_argument('--lr', type=float, default=TrainConfig().lr, help='peak learning rate')
    p.add_argument('--val-fraction', type=float, default=TrainConfig().val_fraction,
                   help='fraction of episodes held out for validation')
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--device', choices=('cpu', 'cuda'), default='cpu')
    p.add_argument('--image', nargs='?', const=IMAGE_ENCODERS[0], choices=IMAGE_ENCODERS,
                   default=None, metavar='ENCODER', help='condition on camera images through '
                   f'an image encoder: {", ".join(IMAGE_ENCODERS)} (default %(const)s)')
    p.add_argument('--features', choices=FEATURES, default='planar-fk',
                   help="observation features: planar-fk (sim arm kinematics) or raw [q, task]")
    p.add_argument('--correction-weight', type=float, default=DEFAULT_CORRECTION_WEIGHT,
                   help='sampling weight of a correction sample vs a demonstration sample')
    p.add_argument('--max-command-step', type=float, default=DEFAULT_MAX_COMMAND_STEP,
                   metavar='RAD', help="drop samples whose executed command is farther than this "
                   "from their joint state: misaligned in the bag (the gate's max_joint_step; "
                   'default %(default)s; 0 keeps all)')
    p.add_argument('--option', action='append', default=[], metavar='KEY=VALUE',
                   help='kind-specific setting, e.g. components=8, horizon=8, sample_steps=10')
    p.add_argument('--variant', choices=('sampler', 'denoiser'), default=None,
                   help='diffusion export: whole DDIM sampler in one graph, or the denoiser')
    p.add_argument('--doubt-ensemble', type=int, default=TrainConfig().doubt_ensemble,
                   metavar='K', help='members of the doubt ensemble exported with the policy '
                   '(the "doubt" output, published on /imitation/uncertainty); 0: none')
    p.add_argument('--init-from', type=Path, default=None, metavar='CHECKPOINT',
                   help='warm start from NAME.pt of an earlier model (default: from scratch)')
    p.add_argument('--no-checkpoint', action='store_true',
                   help='do not write NAME.pt next to the model')
    p.add_argument('--version', default='', help='model version (default: UTC timestamp)')
    p.add_argument('--no-progress', action='store_true', help='no progress bar')
    d = p.add_argument_group('distributed training (DistributedDataParallel under torchrun)')
    d.add_argument('--nproc', type=int, default=1,
                   help='training processes on this machine (default 1: no torchrun)')
    d.add_argument('--nnodes', default='1', help='machines, or MIN:MAX (torchrun --nnodes)')
    d.add_argument('--node-rank', type=int, default=None,
                   help="this machine's rank, static rendezvous (torchrun --node-rank)")
    d.add_argument('--rdzv-backend', default=None, help='static or c10d (torchrun)')
    d.add_argument('--rdzv-endpoint', default=None, metavar='HOST:PORT',
                   help='c10d rendezvous every machine reaches (torchrun)')
    d.add_argument('--rdzv-id', default=None, help='job id, the same on every machine')
    d.add_argument('--master-addr', default=None,
                   help='rank-0 machine, static rendezvous (torchrun)')
    d.add_argument('--master-port', type=int, default=None, help='its port (torchrun)')
    d.add_argument('--max-restarts', type=int, default=1,
                   help='restarts of all workers after one died; they resume from the last '
                   'training state (default %(default)s)')
    d.add_argument('--checkpoint-every', type=int, default=None, metavar='STEPS',
                   help='with --nproc: write the training state every STEPS steps (default: '
                   'a tenth of --steps; 0: never, a restart starts over)')
    p.set_defaults(func=run)
    global _parser
    _parser = p


def run(args: argparse.Namespace) -> int:
    """Train, export, validate and print a summary (or launch / be a distributed worker)."""
    state = worker_state_dir()
    if state is not None:
        return _run_worker(args, state)
    options = _launch_options(args)
    if options.distributed:
        return _launch(args, options)
    result = train_from_bags(_request(args))
    for line in summary_lines(args, result):
        print(line)
    return 0


def _request(args: argparse.Namespace, out: Optional[Path] = None) -> TrainRequest:
    config = TrainConfig(steps=args.steps, batch_size=args.batch_size, lr=args.lr,
                         val_fraction=args.val_fraction, doubt_ensemble=args.doubt_ensemble)
    return TrainRequest(
        data=tuple(args.data), kind=args.policy, out=out or args.out, config=config,
        options=parse_options(args.option), seed=args.seed, device=args.device,
        image=args.image is not None, image_encoder=args.image or IMAGE_ENCODERS[0],
        features=args.features, correction_weight=args.correction_weight,
        version=args.version, variant=args.variant, progress=not args.no_progress,
        init_from=args.init_from, checkpoint=not args.no_checkpoint,
        max_command_step=args.max_command_step or None)


def summary_lines(args: argparse.Namespace, result: TrainResult) -> list[str]:
    """Return the summary ``imitation-ros train`` prints (its first line is what the node logs)."""
    h = result.history
    val = f', validation {h.val_loss[-1]:.4f}' if h.val_loss else ''
    # The first line is the summary the trainer node logs: it names the skipped bags' count.
    skipped = f', skipped {result.skipped_bags} unreadable bag(s)' if result.skipped else ''
    procs = f' in {result.processes} processes' if result.processes > 1 else ''
    lines = [f'trained {args.policy} ({result.parameters} parameters) on {result.samples} '
             f'samples ({result.corrections} corrections) from {result.episodes} episodes in '
             f'{result.seconds:.1f} s{procs}{skipped}']
    lines += [f'  {bag.message()}' for bag in result.skipped]
    if result.misaligned:
        lines.append(f'  dropped {result.misaligned} samples whose command was more than '
                     f'{args.max_command_step} rad from their joint state (misaligned in the '
                     'bag)')
    start = f' (warm start from {args.init_from})' if args.init_from else ''
    lines.append(f'  final loss: train {h.train_loss[-1]:.4f}{val}{start}')
    lines.append(f'  {h.samples_per_s:.0f} samples/s ({args.steps} steps of {args.batch_size}, '
                 f'{h.seconds:.1f} s training)')
    lines.append(f'  model {args.out} (version {result.version}, data {result.digest[:12]})')
    lines.append(f'  loss curves {args.out.with_suffix(".loss.png")}')
    return lines


def _launch_options(args: argparse.Namespace) -> LaunchOptions:
    return LaunchOptions(nproc=args.nproc, nnodes=args.nnodes, node_rank=args.node_rank,
                         rdzv_backend=args.rdzv_backend, rdzv_endpoint=args.rdzv_endpoint,
                         rdzv_id=args.rdzv_id, master_addr=args.master_addr,
                         master_port=args.master_port, max_restarts=args.max_restarts)


def _launch(args: argparse.Namespace, options: LaunchOptions) -> int:
    """Run the workers under torchrun; print rank 0's summary once its files are in place."""
    if args.out.suffix != '.onnx':
        TrainRequest(data=tuple(args.data), kind=args.policy, out=args.out)  # names the error
    published = launch(worker_argv(args), args.out, options, device=args.device)
    if published is None:
        print('trained; rank 0 ran on another machine, whose launcher wrote the model')
        return 0
    for line in published.lines:
        print(line)
    return 0


def worker_argv(args: argparse.Namespace) -> list[str]:
    """Return the ``train`` command line of ``args`` without the launcher's options."""
    assert _parser is not None
    argv = ['train']
    for action in _parser._actions:
        if not action.option_strings or action.dest in LAUNCH_OPTIONS + ('help',):
            continue
        value = getattr(args, action.dest)
        flag = action.option_strings[0]
        if isinstance(action, argparse._StoreTrueAction):
            argv += [flag] if value else []
        elif isinstance(action, argparse._AppendAction):
            for item in value or ():
                argv += [flag, str(item)]
        elif value is None:
            continue
        elif action.nargs in ('+', '*'):
            argv += [flag, *[str(v) for v in value]]
        else:
            argv += [flag, str(value)]
    return argv


def _run_worker(args: argparse.Namespace, state: Path) -> int:
    """One worker of a distributed training: rank 0 stages the outputs for the launcher."""
    every = args.checkpoint_every
    if every is None:
        every = max(1, args.steps // 10)
    run = DistributedRun(state, device=args.device, checkpoint_every=every)
    try:
        out = run.stage_path(args.out)
        result = train_distributed(_request(args, out), run)
        if result is not None:
            staged = [out.with_suffix('.pt'), out.with_suffix('.loss.png'), out]
            run.record_result(staged, summary_lines(args, result))
    except Exception as exc:
        if isinstance(exc, ImitationError):
            run.record_fatal(exc)
        raise
    finally:
        run.close()
    return 0
