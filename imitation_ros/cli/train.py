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
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..data.aggregate import DEFAULT_CORRECTION_WEIGHT, DEFAULT_MAX_COMMAND_STEP
from ..policies.base import TrainConfig
from ..policies.registry import KINDS
from ..policies.vision import IMAGE_ENCODERS
from ..training.pipeline import FEATURES, parse_options, train_from_bags, TrainRequest


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
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Train, export, validate and print a summary."""
    config = TrainConfig(steps=args.steps, batch_size=args.batch_size, lr=args.lr,
                         val_fraction=args.val_fraction, doubt_ensemble=args.doubt_ensemble)
    result = train_from_bags(TrainRequest(
        data=tuple(args.data), kind=args.policy, out=args.out, config=config,
        options=parse_options(args.option), seed=args.seed, device=args.device,
        image=args.image is not None, image_encoder=args.image or IMAGE_ENCODERS[0],
        features=args.features, correction_weight=args.correction_weight,
        version=args.version, variant=args.variant, progress=not args.no_progress,
        init_from=args.init_from, checkpoint=not args.no_checkpoint,
        max_command_step=args.max_command_step or None))
    h = result.history
    val = f', validation {h.val_loss[-1]:.4f}' if h.val_loss else ''
    # The first line is the summary the trainer node logs: it names the skipped bags' count.
    skipped = f', skipped {result.skipped_bags} unreadable bag(s)' if result.skipped else ''
    print(f'trained {args.policy} ({result.parameters} parameters) on {result.samples} samples '
          f'({result.corrections} corrections) from {result.episodes} episodes in '
          f'{result.seconds:.1f} s{skipped}')
    for bag in result.skipped:
        print(f'  {bag.message()}')
    if result.misaligned:
        print(f'  dropped {result.misaligned} samples whose command was more than '
              f'{args.max_command_step} rad from their joint state (misaligned in the bag)')
    start = f' (warm start from {args.init_from})' if args.init_from else ''
    print(f'  final loss: train {h.train_loss[-1]:.4f}{val}{start}')
    print(f'  model {result.model} (version {result.version}, data {result.digest[:12]})')
    print(f'  loss curves {result.loss_plot}')
    return 0
