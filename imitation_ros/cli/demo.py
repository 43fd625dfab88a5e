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
takeover so far (each version fine-tunes the previous one) and the policy
node hot-reloads the new model. Prints each round and writes a PNG of the
rounds. At the end each version also runs --eval-episodes episodes on its own
(no operator, plain-Python sim, same tasks for every version): live, the
simulated operator takes over early, so "success (no help)" undercounts what
a model would have done alone.

--mode dagger runs DAgger instead: the dagger graph (sim_arm, policy_node,
intervention_gate, the expert node labelling every visited state, recorder,
trainer; no operator). Round i sets the gate's beta to beta_i of
--beta-schedule: each control decision executes the expert's action with
probability beta_i (dagger: 0.5^(i+1), the original paper's beta_i = p^i with
its pure-expert round being the demonstrations; hg_dagger: 0.85^(i+1), the
HG-DAgger paper's decay per epoch; constant: --beta-p every round, 0 = pure
DAgger). The trainer retrains on the demonstrations plus every expert-labelled
state so far.

--robots N runs a fleet instead (robot-gated HG-DAgger, docs/fleet.md): N robots
in /robot1../robotN, one trainer for all, one simulated operator who serves the
gates' help requests one robot at a time (--queue), --rounds rounds of
--episodes episodes per robot.

--robot panda runs either loop on the MuJoCo Franka Panda's reach task (around
a pole to a goal; docs/panda_ros.md) instead of the planar arm: --expert above
passes the pole on its left (+y), below on its right; --noise is not used.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``demo``."""
    p = sub.add_parser('demo', help='run HG-DAgger (or DAgger) in simulation (the main job)',
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--data-dir', type=Path, default=Path('data'), help='where bags go')
    p.add_argument('--models-dir', type=Path, default=Path('models'), help='where models go')
    p.add_argument('--mode', default='hg_dagger', choices=('hg_dagger', 'dagger'),
                   help='hg_dagger: a (simulated) human takes over; dagger: an expert labels '
                   'every state and beta-mixing executes it (default: hg_dagger)')
    p.add_argument('--beta-schedule', default='dagger',
                   choices=('dagger', 'hg_dagger', 'constant'),
                   help='dagger mode: beta per round: dagger p^(i+1) with p = 0.5, hg_dagger '
                   '0.85^(i+1), constant p (default: dagger)')
    p.add_argument('--beta-p', type=float, default=None,
                   help="dagger mode: the schedule's p in [0, 1] (default: the preset's: 0.5, "
                   '0.85, 0.0)')
    p.add_argument('--rounds', type=int, default=5, help='rounds after round 0')
    p.add_argument('--episodes', type=int, default=10, help='episodes per round')
    p.add_argument('--demos', type=int, default=3,
                   help='demonstrations for the first policy (default: 3)')
    p.add_argument('--policy', default='mse', choices=('mse', 'gmm', 'ar', 'diffusion'),
                   help='policy kind (default: mse)')
    p.add_argument('--train-steps', type=int, default=2000,
                   help='gradient steps of the first training (default: 2000); every later '
                   "version fine-tunes the previous one (trainer's warm_start_steps)")
    p.add_argument('--expert', default='above', choices=('above', 'below', 'multi'),
                   help='demonstrator of the first demonstrations (default: above)')
    p.add_argument('--noise', type=float, default=0.01,
                   help='actuation noise of the arm, rad per joint and control period '
                   '(default: 0.01)')
    p.add_argument('--eval-episodes', type=int, default=100,
                   help='after the rounds, each version runs this many episodes on its own, '
                   'no operator, in the plain-Python sim (default: 100; 0 skips it)')
    p.add_argument('--robots', type=int, default=0,
                   help='run a fleet of this many robots instead (robot-gated: one simulated '
                   'operator serves their help requests; docs/fleet.md); 0: one robot')
    p.add_argument('--queue', default='first_come', choices=('first_come', 'highest_doubt'),
                   help='fleet: order in which the operator serves help requests')
    p.add_argument('--help-threshold', type=float, default=None,
                   help="fleet: the gates' doubt threshold (default: the 0.9 quantile of the "
                   "first policy's doubt on the states it visits alone)")
    p.add_argument('--robot', default='planar3', choices=('planar3', 'panda'),
                   help='simulated arm: planar3 (the planar 3-joint arm) or panda (the MuJoCo '
                   "Panda's reach task) (default: planar3)")
    p.add_argument('--seed', type=int, default=0)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run the demo."""
    if args.robots and args.robot != 'planar3':
        print('error: --robots runs a fleet of planar arms; leave out --robot panda',
              file=sys.stderr)
        return 2
    if args.robots:
        from ..bringup.fleet_demo import run_fleet_demo  # lazy: keeps imitation-ros --help fast
        run_fleet_demo(data_dir=args.data_dir, models_dir=args.models_dir, robots=args.robots,
                       rounds=args.rounds, episodes=args.episodes, demos=args.demos,
                       policy=args.policy, train_steps=args.train_steps, seed=args.seed,
                       queue=args.queue, help_threshold=args.help_threshold,
                       expert=args.expert, actuation_noise=args.noise,
                       eval_episodes=args.eval_episodes)
        return 0
    from ..bringup.demo import run_demo  # lazy: keeps imitation-ros --help fast
    run_demo(data_dir=args.data_dir, models_dir=args.models_dir, rounds=args.rounds,
             episodes=args.episodes, demos=args.demos, policy=args.policy,
             train_steps=args.train_steps, seed=args.seed, mode=args.mode,
             beta_schedule=args.beta_schedule, beta_p=args.beta_p, expert=args.expert,
             actuation_noise=args.noise, eval_episodes=args.eval_episodes, robot=args.robot)
    return 0
