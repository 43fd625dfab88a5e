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
``imitation-ros benchmark``: the studies behind the README tables.

- ``expressivity``: every policy kind on single- and multi-demonstrator data
  (success, spread over seeds, mode coverage), table and rollout plot;
  ``--robot panda``: on the MuJoCo Panda's two tasks, state and image
  observations (:mod:`imitation_ros.studies.expressivity_panda`).
- ``vision``: parameters and ONNX Runtime latency of every kind with each image encoder.
- ``latency``: ONNX Runtime against PyTorch eager per kind, p50/p99, and the two
  diffusion exports.
- ``help``: the same policy, tasks and seeds with and without help requests
  (doubt above a calibrated threshold holds the arm and asks the operator).
- ``help-risk``: risk beside novelty: moments before trouble caught per false
  alarm for each signal and both, and help requests from both in the closed loop.
- ``robot-gated``: HG-DAgger rounds with the operator watching against the operator
  coming only when the gate asks (model alone per round, human time, requests).
- ``fleet``: one operator serving the help requests of several robots (per robot and
  fleet), and a policy retrained on one robot's data against the fleet's.
- ``dagger``: the compounding-error study: BC on more and more demonstrations
  against DAgger and HG-DAgger (simulated operator), success per expert label.
- ``data``: loading 1000 episode bags with images, first and incremental (bags/s, peak RAM).
- ``loop``: observation-to-command latency of policy_node and intervention_gate as
  processes over real DDS against bare rclpy relays, per joint state rate and kind,
  and what each option of the graph buys.
- ``recorder``: the recorder's throughput per load (messages and MB per second, messages
  lost per topic, CPU %) against rosbag2's C++ recorder.
- ``kinematics``: forward kinematics + Jacobian per call on each URDF (the teleop tick).
- ``scale``: training in 1 process vs ``--nproc 2`` (same model, samples/s, a killed worker).
- ``sizes``: latency at deployed sizes (diffusion 4.5 M / 20 M, image encoders at 96 and
  224 pixels), ONNX Runtime vs PyTorch eager, GPU providers where present.
- ``turnaround``: a new bag to the retrained model live in policy_node, per data size.

These take minutes; they print numbers and write files, they are not tests.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
import sys

from ..nodes.share import share_dir
from .benchmark_deploy import add_sizes_parser, add_turnaround_parser
from .benchmark_panda_pick import add_panda_pick_parser
from .benchmark_rl import add_rl_parser


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``benchmark``."""
    p = sub.add_parser('benchmark', help='run a study (expressivity, latency, dagger)',
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    which = p.add_subparsers(dest='study', metavar='STUDY')
    which.required = True
    e = which.add_parser('expressivity', help='mse vs gmm vs ar vs diffusion on 1 and many '
                         'demonstrators')
    e.add_argument('--out', type=Path, default=Path('results/expressivity'))
    e.add_argument('--train-episodes', type=int, default=200)
    e.add_argument('--eval-episodes', type=int, default=100)
    e.add_argument('--seeds', type=int, default=3, help='training seeds per model')
    e.add_argument('--steps', action='append', default=[], metavar='KIND=N',
                   help='gradient steps for a kind (defaults: mse 2000, gmm 3000, ar 3000, '
                   'diffusion 24000)')
    e.add_argument('--kinds', default='mse,gmm,ar,diffusion')
    e.add_argument('--device', default='cpu', choices=('cpu', 'cuda'),
                   help='where the policies train (evaluation runs on the CPU)')
    e.add_argument('--workers', type=int, default=1,
                   help='cells trained and evaluated at once, one process each')
    e.add_argument('--no-progress', action='store_true')
    e.add_argument('--robot', choices=('planar', 'panda'), default='planar',
                   help='panda: reach and pick on the MuJoCo Panda, state and image models '
                   '(default out results/expressivity_panda)')
    e.add_argument('--encoder', default='spatial-softmax',
                   help='panda: the image models\' encoder (cnn, spatial-softmax, resnet18)')
    e.add_argument('--tasks', default='reach,pick', help='panda: tasks')
    e.add_argument('--observations', default='state,image', help='panda: observations')
    e.add_argument('--image-steps', action='append', default=[], metavar='KIND=N',
                   help='panda: gradient steps of the image models (defaults: mse, gmm, ar 1500, '
                   'diffusion 3000; --steps sets the state models\': mse, gmm, ar 5000, '
                   'diffusion 20000)')
    e.add_argument('--finished-only', action='store_true',
                   help='panda: train nothing; tables from the cells an interrupted run of the '
                   'same setup finished')
    e.set_defaults(func=run_expressivity_cmd)
    v = which.add_parser('vision', help='parameters and ONNX Runtime latency per kind and '
                         'image encoder (96x96)')
    v.add_argument('--out', type=Path, default=Path('results/vision'))
    v.add_argument('--calls', type=int, default=300)
    v.add_argument('--cpu', type=int, default=0,
                   help='pin the timing to this CPU (default 0; -1: no pinning)')
    v.set_defaults(func=run_vision_cmd)
    la = which.add_parser('latency', help='ONNX Runtime vs PyTorch eager per kind')
    la.add_argument('--out', type=Path, default=Path('results/latency'))
    la.add_argument('--calls', type=int, default=1000)
    la.add_argument('--cpu', type=int, default=0,
                    help='pin both timings to this CPU (default 0; -1: no pinning)')
    la.add_argument('--providers', nargs='+', default=['cpu'],
                    help='ONNX Runtime providers in order: cpu, cuda, tensorrt (CPU fallback; '
                    'the table names those that ran)')
    la.add_argument('--no-progress', action='store_true')
    la.set_defaults(func=run_latency_cmd)
    hp = which.add_parser('help', help='the same policy with and without help requests')
    hp.add_argument('--out', type=Path, default=Path('results/help'))
    hp.add_argument('--kind', default='mse', help='policy kind (default mse)')
    hp.add_argument('--train-episodes', type=int, default=50)
    hp.add_argument('--steps', type=int, default=2000, help='gradient steps')
    hp.add_argument('--calib-episodes', type=int, default=100)
    hp.add_argument('--eval-episodes', type=int, default=200)
    hp.add_argument('--false-alarm-rate', type=float, default=0.05)
    hp.add_argument('--seed', type=int, default=0)
    hp.add_argument('--no-progress', action='store_true')
    hp.set_defaults(func=run_help_cmd)
    hr = which.add_parser('help-risk', help='risk beside novelty: moments caught per false '
                          'alarm, and help requests from both in the closed loop')
    hr.add_argument('--out', type=Path, default=Path('results/help_risk'))
    hr.add_argument('--risk-episodes', type=int, default=200)
    hr.add_argument('--horizon-steps', type=int, default=20)
    hr.add_argument('--risk-steps', type=int, default=3000,
                    help='gradient steps of the risk model (default 3000)')
    hr.add_argument('--eval-episodes', type=int, default=200)
    hr.add_argument('--calib-episodes', type=int, default=100)
    hr.add_argument('--steps', type=int, default=2000, help='policy gradient steps')
    hr.add_argument('--seed', type=int, default=0)
    hr.add_argument('--no-progress', action='store_true')
    hr.set_defaults(func=run_help_risk_cmd)
    rg = which.add_parser('robot-gated', help='HG-DAgger rounds, human-gated against '
                          'robot-gated: model alone per round and human time')
    rg.add_argument('--out', type=Path, default=Path('results/robot_gated'))
    rg.add_argument('--rounds', type=int, default=8)
    rg.add_argument('--episodes', type=int, default=10, help='episodes per round')
    rg.add_argument('--seeds', type=int, default=6, help='training seeds 0..N-1')
    rg.add_argument('--eval-episodes', type=int, default=200)
    rg.add_argument('--budget', type=float, default=0.1,
                    help='fraction of the policy time the gate may ask (calibrate-help --budget)')
    rg.add_argument('--no-progress', action='store_true')
    rg.set_defaults(func=run_robot_gated_cmd)
    fl = which.add_parser('fleet', help='one operator, several robots: per robot and fleet, '
                          "and one robot's data against the fleet's")
    fl.add_argument('--out', type=Path, default=Path('results/fleet'))
    fl.add_argument('--robots', type=int, default=3)
    fl.add_argument('--episodes', type=int, default=10, help='episodes per robot')
    fl.add_argument('--steps', type=int, default=1000, help='gradient steps per training')
    fl.add_argument('--queue', default='first_come', choices=('first_come', 'highest_doubt'))
    fl.add_argument('--eval-episodes', type=int, default=100)
    fl.add_argument('--seed', type=int, default=0)
    fl.set_defaults(func=run_fleet_cmd)
    add_dagger_parser(which)
    add_rl_parser(which)
    add_panda_pick_parser(which)
    dl = which.add_parser('data', help='load 1000 episode bags with images: bags/s, peak RAM')
    dl.add_argument('--work', type=Path, default=Path('data/benchmark'),
                    help='where the episodes are collected (kept for the next run)')
    dl.add_argument('--out', type=Path, default=Path('results/data'))
    dl.add_argument('--episodes', type=int, default=1000)
    dl.add_argument('--new', type=int, default=10, help='bags added before the second load')
    dl.add_argument('--baseline', action='store_true', help='also load without the index')
    dl.set_defaults(func=run_data_cmd)
    add_loop_parser(which)
    add_kinematics_parser(which)
    add_recorder_parser(which)
    add_scale_parser(which)
    add_sizes_parser(which)
    add_turnaround_parser(which)


def add_scale_parser(which: argparse._SubParsersAction) -> None:
    """Register ``benchmark scale``."""
    sc = which.add_parser('scale', help='train in 1 process vs --nproc 2: same model, '
                          'samples/s, a killed worker')
    sc.add_argument('--work', type=Path, default=Path('data/benchmark_scale'),
                    help='where the episodes are collected (kept for the next run)')
    sc.add_argument('--out', type=Path, default=Path('results/scale'))
    sc.add_argument('--episodes', type=int, default=100)
    sc.add_argument('--policy', default='mse')
    sc.add_argument('--steps', type=int, default=1000)
    sc.add_argument('--batch-size', type=int, default=256)
    sc.add_argument('--repeats', type=int, default=3, help='interleaved repeats per setup')
    sc.add_argument('--eval-episodes', type=int, default=100)
    sc.add_argument('--no-faults', action='store_true', help='skip the killed-worker drills')
    sc.set_defaults(func=run_scale_cmd)


def add_recorder_parser(which: argparse._SubParsersAction) -> None:
    """Register ``benchmark recorder``."""
    # lazy: keeps imitation-ros --help fast
    from ..studies.recorder_throughput import LOADS, VARIANTS
    rp = which.add_parser('recorder', help='recorder throughput: msg/s, MB/s, lost per topic')
    rp.add_argument('--out', type=Path, default=Path('results/recorder'))
    rp.add_argument('--loads', default=','.join(LOADS),
                    help=f'loads to record, lightest first (default all: {",".join(LOADS)})')
    rp.add_argument('--seconds', type=float, default=10.0,
                    help='streaming seconds per load (default 10)')
    rp.add_argument('--publisher-depth', type=int, default=0,
                    help="history depth of the load's publishers (default 0: the nodes' own "
                    'QoS profiles)')
    rp.add_argument('--domain-id', type=int, default=160,
                    help='ROS domain of the runs (default 160)')
    rp.add_argument('--variants', default='default',
                    help='recorder parameter sets, each load runs with each (default: '
                    f'default; all: {",".join(VARIANTS)})')
    rp.set_defaults(func=run_recorder_cmd)


def run_recorder_cmd(args: argparse.Namespace) -> int:
    """Run the recorder throughput benchmark and print its table."""
    # lazy: keeps imitation-ros --help fast
    from ..studies.recorder_throughput import run_recorder_benchmark
    rows = run_recorder_benchmark(args.out, loads=[n for n in args.loads.split(',') if n],
                                  seconds=args.seconds, domain_id=args.domain_id,
                                  publisher_depth=args.publisher_depth,
                                  variants=[v for v in args.variants.split(',') if v])
    print((args.out / 'table.md').read_text())
    print(f'wrote {args.out / "table.md"} and {args.out / "recorder.json"}')
    return 0 if rows else 1


def add_kinematics_parser(which: argparse._SubParsersAction) -> None:
    """Register ``benchmark kinematics``."""
    kp = which.add_parser('kinematics', help='pose + Jacobian per call (the teleop tick), '
                          'per URDF')
    kp.add_argument('--out', type=Path, default=Path('results/kinematics'))
    kp.add_argument('--calls', type=int, default=2000, help='timed calls per robot')
    kp.set_defaults(func=run_kinematics_cmd)


def run_kinematics_cmd(args: argparse.Namespace) -> int:
    """Time the gate's kinematics on the package's URDFs and print the table."""
    # lazy: keeps imitation-ros --help fast
    from ..studies.kinematics_timing import format_kinematics, time_kinematics
    table = format_kinematics(time_kinematics(share_dir() / 'urdf', calls=args.calls))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / 'table.md').write_text(table + '\n')
    print(table)
    return 0


def add_loop_parser(which: argparse._SubParsersAction) -> None:
    """Register ``benchmark loop``."""
    # lazy: keeps imitation-ros --help fast
    from ..studies.control_loop import KINDS, RATES, VARIANT_KEYS
    lp = which.add_parser('loop', help='observation-to-command latency over DDS vs bare rclpy')
    lp.add_argument('--out', type=Path, default=Path('results/loop'))
    lp.add_argument('--rates', default=','.join(f'{r:g}' for r in RATES),
                    help='joint state rates (Hz), comma-separated (default 20,50,100)')
    lp.add_argument('--kinds', default=','.join(KINDS),
                    help='policy kinds of the main table (default mse,gmm,diffusion)')
    lp.add_argument('--variants', default=','.join(VARIANT_KEYS),
                    help='ablation rows, each adding one change (default all: '
                    f'{",".join(VARIANT_KEYS)}; the last is the graph of the main table)')
    lp.add_argument('--ablation-rate', type=float, default=100.0)
    lp.add_argument('--ablation-kind', default='mse')
    lp.add_argument('--seconds', type=float, default=10.0,
                    help='measured seconds per cell, after a 2 s warm-up (default 10)')
    lp.add_argument('--domain-id', type=int, default=150,
                    help='ROS domain of the cells (default 150)')
    lp.set_defaults(func=run_loop_cmd)


def run_loop_cmd(args: argparse.Namespace) -> int:
    """Run the control loop latency benchmark and print its tables."""
    from ..studies.control_loop import run_loop_benchmark  # lazy: keeps imitation-ros --help fast
    variants = [v for v in args.variants.split(',') if v]
    results = run_loop_benchmark(args.out, rates=[float(r) for r in args.rates.split(',')],
                                 kinds=args.kinds.split(','), variants=variants,
                                 ablation_rate=args.ablation_rate,
                                 ablation_kind=args.ablation_kind, seconds=args.seconds,
                                 domain_id=args.domain_id)
    print((args.out / 'table.md').read_text())
    print(f'wrote {args.out / "table.md"}, {args.out / "latency.png"} and '
          f'{args.out / "loop.json"}')
    return 0 if results['cells'] else 1


def run_data_cmd(args: argparse.Namespace) -> int:
    """Run the data loading benchmark and print the table."""
    # lazy: keeps imitation-ros --help fast
    from ..studies.data_loading import run_data_benchmark, write_results
    print(write_results(run_data_benchmark(args.work, episodes=args.episodes, new=args.new,
                                           baseline=args.baseline), args.out))
    return 0


def run_scale_cmd(args: argparse.Namespace) -> int:
    """Run the training scale benchmark and print the tables."""
    # lazy: keeps imitation-ros --help fast
    from ..studies.scale import run_scale_benchmark, write_results
    settings = {k: getattr(args, k) for k in ('episodes', 'policy', 'steps', 'batch_size',
                                              'repeats', 'eval_episodes')}
    runs = run_scale_benchmark(args.work, faults=not args.no_faults, **settings)
    print(write_results(runs, args.out, settings))
    return 0


def run_vision_cmd(args: argparse.Namespace) -> int:
    """Time every kind with each image encoder and print the table."""
    # lazy: keeps imitation-ros --help fast
    from ..studies.vision_latency import format_vision_latency, run_vision_latency
    table = format_vision_latency(run_vision_latency(
        args.out, calls=args.calls, cpu=None if args.cpu < 0 else args.cpu))
    (args.out / 'table.md').write_text(table + '\n')
    print(table)
    return 0


def run_expressivity_panda_cmd(args: argparse.Namespace) -> int:
    """Run the Panda expressivity study and print the table."""
    # lazy: keeps imitation-ros --help fast
    from ..studies.expressivity_panda import run_expressivity_panda
    out = Path('results/expressivity_panda') if args.out == Path('results/expressivity') \
        else args.out
    run_expressivity_panda(out, train_episodes=args.train_episodes,
                           eval_episodes=args.eval_episodes, seeds=tuple(range(args.seeds)),
                           kinds=tuple(args.kinds.split(',')), tasks=tuple(args.tasks.split(',')),
                           observations=tuple(args.observations.split(',')),
                           steps={k: int(v) for k, v in (s.split('=', 1) for s in args.steps)},
                           image_steps={k: int(v) for k, v in
                                        (s.split('=', 1) for s in args.image_steps)},
                           encoder=args.encoder, progress=not args.no_progress,
                           device=args.device, workers=max(1, args.workers),
                           finished_only=args.finished_only)
    print((out / 'table.md').read_text())
    print(f'wrote {out / "table.md"}, {out / "rollouts.png"} and {out / "cells.json"}')
    return 0


def run_expressivity_cmd(args: argparse.Namespace) -> int:
    """Run the expressivity study and print the table."""
    if args.robot == 'panda':
        return run_expressivity_panda_cmd(args)
    from ..studies.expressivity import run_expressivity  # lazy: keeps imitation-ros --help fast
    run_expressivity(args.out, train_episodes=args.train_episodes,
                     eval_episodes=args.eval_episodes, seeds=tuple(range(args.seeds)),
                     kinds=tuple(args.kinds.split(',')),
                     steps={k: int(v) for k, v in (s.split('=', 1) for s in args.steps)},
                     progress=not args.no_progress, device=args.device,
                     workers=max(1, args.workers))
    print((args.out / 'table.md').read_text())
    print(f'wrote {args.out / "table.md"} and {args.out / "rollouts.png"}')
    return 0


def run_latency_cmd(args: argparse.Namespace) -> int:
    """Run the latency study and print the table."""
    # lazy: keeps imitation-ros --help fast
    from ..studies.latency import format_latency, run_latency
    rows = run_latency(args.out, calls=args.calls, progress=not args.no_progress,
                       cpu=None if args.cpu < 0 else args.cpu, providers=args.providers)
    table = format_latency(rows)
    (args.out / 'table.md').write_text(table + '\n')
    (args.out / 'latency.json').write_text(json.dumps(rows, indent=1))
    print(table)
    return 0


def add_dagger_parser(which: argparse._SubParsersAction) -> None:
    """Register ``benchmark dagger``."""
    d = which.add_parser('dagger', help='compounding error: BC vs DAgger vs HG-DAgger per label')
    d.add_argument('--out', type=Path, default=Path('results/dagger'))
    d.add_argument('--seeds', type=int, default=3, help='training seeds (default 3)')
    d.add_argument('--episodes', type=int, default=None,
                   help='evaluation episodes per model (default 100; --quick 20)')
    d.add_argument('--rounds', type=int, default=None,
                   help='DAgger / HG-DAgger rounds (default 6; --quick 2)')
    d.add_argument('--episodes-per-round', type=int, default=None,
                   help='rollouts per round (default 4; --quick 2)')
    d.add_argument('--bc-demos', default=None, metavar='N,N,...',
                   help='BC ladder of demonstration counts (default 1,2,4,8,16,32,64)')
    d.add_argument('--initial-demos', type=int, default=None,
                   help='demonstrations DAgger and HG-DAgger start from (on the ladder; '
                   'default 1)')
    d.add_argument('--steps', type=int, default=None,
                   help='gradient steps per model (default 1000; --quick 150)')
    d.add_argument('--noise', type=float, default=None,
                   help='actuation noise, std per joint and control period (rad; default 0.01)')
    d.add_argument('--demo-noise', type=_noise_or_same, default=None, metavar='RAD|same',
                   help='actuation noise while the demonstrations are recorded (rad; default 0: '
                        'a careful demonstration, BC sees only the expert path; same: the '
                        'noise of --noise)')
    d.add_argument('--kind', default=None, help='policy kind (default mse)')
    d.add_argument('--operator-side', type=int, choices=(-1, 0, 1), default=1,
                   help="HG-DAgger operator's side: 1 above like the demonstrator (default), "
                        '0 the closer expert path, -1 below')
    d.add_argument('--from-scratch', action='store_true',
                   help='train every DAgger / HG-DAgger round from scratch instead of '
                        "fine-tuning the previous round's model (the trainer's warm start)")
    d.add_argument('--workers', type=int, default=1,
                   help='training seeds run at once, one process each (default 1)')
    d.add_argument('--methods', default='bc,dagger,hg_dagger',
                   help='methods to run (bc is always needed: the others start from it)')
    d.add_argument('--quick', action='store_true',
                   help='a smoke run of a minute or two (small ladder, 2 rounds, 20 episodes)')
    d.add_argument('--no-progress', action='store_true')
    d.set_defaults(func=run_dagger_cmd)


def _noise_or_same(text: str) -> float | str:
    """Parse ``--demo-noise``: a noise in rad (>= 0) or ``same``."""
    if text == 'same':
        return text
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value >= 0:
        raise argparse.ArgumentTypeError(f'expected a noise >= 0 rad or "same", got {text!r}')
    return value


def run_dagger_cmd(args: argparse.Namespace) -> int:
    """Run the compounding-error study and print the table."""
    # lazy: keeps imitation-ros --help fast
    from ..studies.dagger import QUICK, run_dagger_study, StudyConfig
    settings = dict(QUICK) if args.quick else {}
    given = {'eval_episodes': args.episodes, 'rounds': args.rounds,
             'episodes_per_round': args.episodes_per_round,
             'initial_demos': args.initial_demos, 'train_steps': args.steps,
             'actuation_noise': args.noise, 'kind': args.kind}
    settings.update({k: v for k, v in given.items() if v is not None})
    if args.bc_demos:
        settings['bc_demos'] = tuple(int(v) for v in args.bc_demos.split(','))
    from ..sim.operator import OperatorParams  # lazy: keeps imitation-ros --help fast
    settings['operator'] = OperatorParams(side=args.operator_side)
    if args.from_scratch:
        settings['warm_start'] = False
    if args.demo_noise is not None:
        settings['demo_noise'] = None if args.demo_noise == 'same' else args.demo_noise
    if args.seeds < 1 or args.workers < 1:
        print('error: --seeds and --workers must be >= 1', file=sys.stderr)
        return 2
    run_dagger_study(args.out, StudyConfig(**settings), seeds=tuple(range(args.seeds)),
                     progress=not args.no_progress, methods=tuple(args.methods.split(',')),
                     workers=args.workers)
    print((args.out / 'table.md').read_text())
    print(f'wrote {args.out / "table.md"}, {args.out / "curve.png"} and '
          f'{args.out / "cells.json"}')
    return 0


def run_robot_gated_cmd(args: argparse.Namespace) -> int:
    """Run the human-gated against robot-gated HG-DAgger study and print the table."""
    # lazy: keeps imitation-ros --help fast
    from ..studies.robot_gated import RobotGatedConfig, run_robot_gated_study
    config = RobotGatedConfig(rounds=args.rounds, episodes=args.episodes,
                              seeds=tuple(range(args.seeds)), eval_episodes=args.eval_episodes,
                              budget=args.budget)
    run_robot_gated_study(args.out, config, progress=not args.no_progress)
    print((args.out / 'table.md').read_text())
    print(f'wrote {args.out / "table.md"}, {args.out / "rounds.png"} and '
          f'{args.out / "results.json"}')
    return 0


def run_help_risk_cmd(args: argparse.Namespace) -> int:
    """Run the risk-beside-novelty study and print the table."""
    # lazy: keeps imitation-ros --help fast
    from ..studies.help_risk import HelpRiskConfig, run_help_risk_study
    config = HelpRiskConfig(risk_episodes=args.risk_episodes, horizon_steps=args.horizon_steps,
                            risk_steps=args.risk_steps,
                            eval_episodes=args.eval_episodes,
                            calib_episodes=args.calib_episodes, steps=args.steps,
                            seed=args.seed)
    run_help_risk_study(args.out, config, progress=not args.no_progress)
    print((args.out / 'table.md').read_text())
    print(f'wrote {args.out / "table.md"} and {args.out / "roc.png"}')
    return 0


def run_help_cmd(args: argparse.Namespace) -> int:
    """Run the help-request study and print the table."""
    # lazy: keeps imitation-ros --help fast
    from ..studies.help_requests import HelpStudyConfig, run_help_study
    config = HelpStudyConfig(kind=args.kind, train_episodes=args.train_episodes,
                             steps=args.steps, calib_episodes=args.calib_episodes,
                             eval_episodes=args.eval_episodes,
                             false_alarm_rate=args.false_alarm_rate, seed=args.seed)
    run_help_study(args.out, config, progress=not args.no_progress)
    print((args.out / 'table.md').read_text())
    print(f'wrote {args.out / "table.md"} and {args.out / "help.png"}')
    return 0


def run_fleet_cmd(args: argparse.Namespace) -> int:
    """Run the fleet study and print the table."""
    # lazy: keeps imitation-ros --help fast
    from ..studies.fleet import FleetStudyConfig, run_fleet_study
    run_fleet_study(args.out, FleetStudyConfig(
        robots=args.robots, episodes=args.episodes, steps=args.steps, order=args.queue,
        eval_episodes=args.eval_episodes, seed=args.seed))
    print((args.out / 'table.md').read_text())
    print(f'wrote {args.out / "table.md"} and {args.out / "results.json"}')
    return 0
