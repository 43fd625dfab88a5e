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
``imitation-ros demo``: the main job, HG-DAgger in simulation.

Collects a few demonstrations, trains a first policy, then runs the hg_dagger
node graph composed in one process over real DDS (sim_arm, sim_human on the
gamepad, policy_node, intervention_gate, recorder, trainer) for R rounds:
after each round the trainer retrains on the demonstrations plus every human
takeover so far and the policy node hot-reloads the new model. Prints each
round and writes a PNG of the rounds.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``demo``."""
    p = sub.add_parser('demo', help='run HG-DAgger in simulation (the main job)',
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--data-dir', type=Path, default=Path('data'), help='where bags go')
    p.add_argument('--models-dir', type=Path, default=Path('models'), help='where models go')
    p.add_argument('--rounds', type=int, default=5, help='HG-DAgger rounds after round 0')
    p.add_argument('--episodes', type=int, default=10, help='episodes per round')
    p.add_argument('--demos', type=int, default=20, help='demonstrations for the first policy')
    p.add_argument('--policy', default='gmm', choices=('mse', 'gmm', 'ar', 'diffusion'))
    p.add_argument('--train-steps', type=int, default=1500, help='gradient steps per training')
    p.add_argument('--seed', type=int, default=0)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run the demo."""
    from ..bringup.demo import run_demo
    run_demo(data_dir=args.data_dir, models_dir=args.models_dir, rounds=args.rounds,
             episodes=args.episodes, demos=args.demos, policy=args.policy,
             train_steps=args.train_steps, seed=args.seed)
    return 0
