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
``imitation-ros finetune --rl``: improve a behavior-cloned policy with reinforcement learning.

Starts from NAME.pt (the checkpoint ``imitation-ros train`` writes beside NAME.onnx)
and writes the fine-tuned NAME.onnx (the same self-contained file the policy node
loads) and its NAME.pt. ``mse`` policies are fine-tuned whole; ``gmm`` policies get
a residual on the frozen mixture, exported as one ``gmm`` graph.

``--sim``: online RL episodes in the simulated arm, every command through the
gate's state machine (``--operator``: the simulated operator watches and takes
over; its steps are kept as prior data). Without ``--sim`` the data comes only
from recorded bags (``--data``), as on a robot: demonstrations and takeovers are
the prior data, the policy's own gate-decided steps the rest; no episode is run.
See docs/rl.md.
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

from ..errors import ConfigError


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``finetune``."""
    from ..training.rl import FinetuneConfig  # lazy: keeps imitation-ros --help fast
    defaults = FinetuneConfig()
    p = sub.add_parser('finetune', help='improve a cloned policy with RL (--rl)',
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--rl', action='store_true', required=True,
                   help='fine-tune with reinforcement learning (TD3 with prior data)')
    p.add_argument('--init-from', type=Path, required=True, metavar='CHECKPOINT',
                   help='NAME.pt of the behavior-cloned policy')
    p.add_argument('--out', type=Path, required=True, help='models/NAME.onnx to write')
    p.add_argument('--data', type=Path, nargs='+', default=[],
                   help='episode bags: demonstrations and takeovers (without --sim: all data)')
    p.add_argument('--sim', action='store_true',
                   help='run online RL episodes in the simulated arm, through the gate')
    p.add_argument('--episodes', type=int, default=defaults.episodes,
                   help='online RL episodes (--sim; default %(default)s)')
    p.add_argument('--updates', type=int, default=defaults.offline_updates,
                   help='gradient steps from bags (without --sim; default %(default)s)')
    p.add_argument('--noise', type=float, default=0.01,
                   help='actuation noise of the simulated arm (rad; default %(default)s)')
    p.add_argument('--operator', action='store_true',
                   help='--sim: the simulated operator watches and takes over')
    p.add_argument('--operator-side', type=int, choices=(-1, 0, 1), default=1)
    p.add_argument('--residual', dest='residual', action='store_true', default=None,
                   help='insist on a residual (gmm); default: mse whole, gmm residual')
    p.add_argument('--no-residual', dest='residual', action='store_false')
    p.add_argument('--max-command-step', type=float, default=0.1, metavar='RAD',
                   help="the gate's max_joint_step (default %(default)s)")
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--version', default='', help='model version (default: UTC timestamp)')
    p.add_argument('--no-progress', action='store_true')
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Fine-tune, export, check and print a summary."""
    from ..training.rl import FinetuneConfig  # lazy: keeps imitation-ros --help fast
    # lazy: keeps imitation-ros --help fast
    from ..training.rl.finetune import RlRequest, run_rl_request
    if args.episodes < 1 or args.updates < 1:
        raise ConfigError('--episodes and --updates must be >= 1')
    base = FinetuneConfig()
    config = replace(base, episodes=args.episodes, offline_updates=args.updates,
                     warmup_episodes=min(base.warmup_episodes, args.episodes),
                     critic_warmup_updates=min(base.critic_warmup_updates, args.updates))
    summary = run_rl_request(RlRequest(
        init_from=args.init_from, out=args.out, data=tuple(args.data), sim=args.sim,
        actuation_noise=args.noise, operator=args.operator, operator_side=args.operator_side,
        config=config, seed=args.seed, residual=args.residual,
        max_command_step=args.max_command_step, version=args.version,
        progress=not args.no_progress))
    r = summary.result
    what = 'residual on the gmm base' if r.policy.__class__.__name__ == 'ResidualGmm' \
        else f'{summary.kind} policy, whole'
    if r.episodes:
        wins = sum(e.success for e in r.episodes)
        tail = r.episodes[-min(20, len(r.episodes)):]
        print(f'fine-tuned the {what} in {len(r.episodes)} sim episodes through the gate '
              f'({wins} reached the goal; last {len(tail)}: '
              f'{sum(e.success for e in tail)}), {r.updates} updates, '
              f'{r.human_labels} human steps, {r.seconds:.1f} s')
    else:
        print(f'fine-tuned the {what} from bags: {r.prior_transitions} prior and '
              f'{r.online_transitions} policy transitions ({r.dropped} samples left out), '
              f'{r.updates} updates, {r.seconds:.1f} s')
    print(f'  model {summary.model}')
    if summary.checkpoint is not None:
        print(f'  checkpoint {summary.checkpoint}')
    return 0
