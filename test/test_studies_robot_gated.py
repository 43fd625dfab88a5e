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

"""Human-gated against robot-gated HG-DAgger: the operator comes only when the gate asks."""

from __future__ import annotations

from dataclasses import replace
import json
from pathlib import Path

from imitation_ros.dagger.loop import gate_config, run_episode, sample_tasks
from imitation_ros.errors import ConfigError
from imitation_ros.sim.arm import ArmConfig, ArmSim
from imitation_ros.sim.operator import OperatorParams, SimulatedOperator
from imitation_ros.studies.robot_gated import (ARM_LABELS, RobotGatedConfig,
                                               run_robot_gated_study, takeovers_without_request)
import numpy as np
import pytest

ARM = ArmConfig()
#: Periods during which the synthetic doubt is high (the gate asks from the first).
ASK = range(10, 30)


def _hold(q: np.ndarray, task: object) -> np.ndarray:
    """Stay where the arm is: a stalled policy a watching operator takes over."""
    return q


def _counting_doubt():
    """Return a signals hook whose doubt is 1 in the periods of ASK and 0 otherwise."""
    period = [0]

    def signals(q: np.ndarray, task: object) -> tuple[float, None]:
        value = 1.0 if period[0] in ASK else 0.0
        period[0] += 1
        return value, None
    return signals


def _episode(watch: bool, signals=None):
    gate = replace(gate_config(ARM), help_threshold=0.5, help_until_calm=True,
                   help_release_s=0.5)
    task = sample_tasks(ARM, 1, seed=3)[0]
    operator = SimulatedOperator(ARM, OperatorParams(watch=watch), seed=0)
    return run_episode(ArmSim(ARM, seed=3), task, policy=_hold, operator=operator, gate=gate,
                       seed=3, signals=signals)


def test_robot_gated_operator_acts_only_while_the_gate_asks() -> None:
    """Not watching, the operator takes over only on a request and hands back when it clears."""
    ep = _episode(watch=False, signals=_counting_doubt())
    assert ep.takeovers == 1 and takeovers_without_request(ep) == 0
    assert not np.any(ep.human & ~ep.help)  # help_until_calm: the request stands while driven
    first = int(np.flatnonzero(ep.human)[0])
    assert first > ASK[0]  # after the reaction delay
    assert not ep.human[ASK[-1] + 20:].any()  # handed back once the doubt calmed


def test_watching_operator_takes_over_without_a_request() -> None:
    """The same stalled policy without signals: the watching operator takes over unasked."""
    ep = _episode(watch=True)
    assert ep.takeovers >= 1 and takeovers_without_request(ep) == ep.takeovers
    assert not ep.help.any()


def test_signals_need_a_gate_threshold() -> None:
    """Signals with both gate thresholds off are refused with a clear error."""
    task = sample_tasks(ARM, 1, seed=3)[0]
    with pytest.raises(ConfigError, match='help_threshold and risk_threshold'):
        run_episode(ArmSim(ARM, seed=3), task, policy=_hold, signals=_counting_doubt())


def test_tiny_study_reports_both_arms_every_round_and_no_unasked_takeover(
        tmp_path: Path) -> None:
    """A tiny run: both arms, every round in the table; robot-gated never takes over unasked."""
    cfg = RobotGatedConfig(rounds=2, episodes=3, seeds=(0,), initial_demos=1, train_steps=100,
                           warm_start_steps=30, risk_steps=30, eval_episodes=5,
                           calib_episodes=4)
    results = run_robot_gated_study(tmp_path / 'out', cfg, progress=False)
    rows = results['rows']
    robot = [r for r in rows if r['arm'] == 'robot']
    assert sum(r['takeovers'] for r in robot) > 0  # the check below is not vacuous
    assert all(r['takeover_without_request'] == 0 for r in robot)
    for arm in ('human', 'robot'):
        assert sorted(r['round'] for r in rows if r['arm'] == arm) == [0, 1, 2]
    table = (tmp_path / 'out' / 'table.md').read_text()
    for label in ARM_LABELS.values():
        assert f'| {label} | start |' in table
        for r in (1, 2):
            assert f'| {label} | {r} |' in table
    assert 'Target' in table
    assert (tmp_path / 'out' / 'rounds.png').stat().st_size > 0
    assert json.loads((tmp_path / 'out' / 'results.json').read_text())['summary']['arms']
