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
``imitation-ros calibrate-help``: set the gate's help threshold from recorded takeovers.

Computes the model's doubt at every state of the hg_dagger episode bags under
``--data``, splits the policy-controlled states into takeover moments (within
``--window`` s before a takeover or a failed end) and autonomous ones (more
than ``--margin`` s before any), sets the threshold to the ``1 -
--false-alarm-rate`` quantile of the autonomous doubts, reports the detection
rate on the takeover moments, and writes ``help_threshold`` into the
``intervention_gate`` section of the params file ``--config`` (in place,
comments kept; the key is added when missing).

With ``--budget B`` (the fraction of the time the policy drives during which
the operator may be asked) it sets ``help_threshold`` and ``risk_threshold``
together (the risk when the model has one): the gate asks when either fires,
the thresholds are chosen on part of the episodes so that either fires on B of
the policy-controlled states there, catching the most takeover moments, and
the rest of the episodes (``--held-out``) report what they do there
(:mod:`~imitation_ros.studies.help_budget`).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..studies.help_budget import BudgetCalibration, calibrate_budget
from ..studies.help_threshold import (calibrate_help, DEFAULT_MARGIN_S, DEFAULT_WINDOW_S,
                                      write_help_threshold)


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``calibrate-help``."""
    p = sub.add_parser('calibrate-help', help="calibrate the gate's help_threshold from "
                       'recorded hg_dagger episodes', description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--data', type=Path, nargs='+', required=True,
                   help='data directories, sessions or bags (hg_dagger episodes are used)')
    p.add_argument('--model', type=Path, required=True, help='the .onnx policy (with doubt)')
    p.add_argument('--false-alarm-rate', type=float, default=0.05,
                   help='fraction of autonomous states allowed above the threshold '
                   '(default 0.05)')
    p.add_argument('--config', type=Path, default=None,
                   help='params YAML to write help_threshold into (e.g. a copy of '
                   'config/intervention_gate.yaml); omitted: only print')
    p.add_argument('--window', type=float, default=DEFAULT_WINDOW_S,
                   help=f's before a takeover that count as takeover moments (default '
                   f'{DEFAULT_WINDOW_S:g})')
    p.add_argument('--margin', type=float, default=DEFAULT_MARGIN_S,
                   help=f's before a takeover excluded from the autonomous states (default '
                   f'{DEFAULT_MARGIN_S:g})')
    p.add_argument('--budget', type=float, default=None,
                   help='fraction of the policy-driven time the operator may be asked (e.g. '
                   '0.1): sets help_threshold and risk_threshold together')
    p.add_argument('--held-out', type=float, default=0.3,
                   help='with --budget: fraction of the episodes held out to measure the '
                   'thresholds on (default 0.3)')
    p.add_argument('--seed', type=int, default=0,
                   help='with --budget: seed of the held-out choice (default 0)')
    p.add_argument('--json', action='store_true', help='print the result as JSON')
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Calibrate, write the threshold, print the summary."""
    if args.budget is not None:
        return _run_budget(args)
    cal = calibrate_help(args.model, args.data, false_alarm_rate=args.false_alarm_rate,
                         window_s=args.window, margin_s=args.margin)
    if args.config is not None:
        write_help_threshold(args.config, cal.threshold)
    if args.json:
        print(json.dumps(cal.as_dict(), indent=1))
        return 0
    print(f'help_threshold {cal.threshold:.6g} (model {cal.model_version}) from '
          f'{cal.episodes} hg_dagger episodes, {cal.takeovers} takeovers or failures')
    print(f'  autonomous states: {cal.autonomous_states}, above the threshold '
          f'{cal.false_alarm_rate:.3f} (target {cal.target_false_alarm_rate:.3f}); doubt '
          f'median {cal.autonomous_doubt[0]:.4f}, p95 {cal.autonomous_doubt[1]:.4f}')
    print(f'  takeover moments (<= {cal.window_s:g} s before): {cal.takeover_states}, '
          f'detected {cal.detection_rate:.3f}; doubt median {cal.takeover_doubt[0]:.4f}, '
          f'p95 {cal.takeover_doubt[1]:.4f}')
    if args.config is not None:
        print(f'  wrote help_threshold: {cal.threshold:.6g} into {args.config}')
    return 0


def _run_budget(args: argparse.Namespace) -> int:
    """Calibrate both thresholds for ``--budget``, write them, print the summary."""
    cal = calibrate_budget(args.model, args.data, budget=args.budget,
                           held_out_fraction=args.held_out, seed=args.seed,
                           window_s=args.window, margin_s=args.margin)
    if args.config is not None:
        write_help_threshold(args.config, cal.help_threshold)
        write_help_threshold(args.config, cal.risk_threshold, key='risk_threshold')
    if args.json:
        print(json.dumps(cal.as_dict(), indent=1))
        return 0
    print(_budget_summary(cal))
    if args.config is not None:
        print(f'  wrote help_threshold: {cal.help_threshold:.6g} and risk_threshold: '
              f'{cal.risk_threshold:.6g} into {args.config}')
    return 0


def _budget_summary(cal: BudgetCalibration) -> str:
    risk = (f'risk_threshold {cal.risk_threshold:.6g}' if cal.has_risk
            else 'no risk output in the model: doubt alone')
    lines = [f'help_threshold {cal.help_threshold:.6g}, {risk} (model {cal.model_version}) '
             f'for a budget of {cal.target:.3f} ({cal.share:.0%} of it to the doubt)']
    for name, part in (('calibration', cal.calibration), ('held out', cal.held_out)):
        if part:
            lines.append(f'  {name}: {part["episodes"]} episodes, asked {part["asked"]:.3f} of '
                         f'{part["policy_states"]} policy states, false alarms '
                         f'{part["false_alarm"]:.3f}, takeover moments (<= {cal.window_s:g} s '
                         f'before) detected {part["detection"]:.3f}')
    return '\n'.join(lines)
