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

"""The offline closed loop (dagger/loop.py) and the compounding-error study (dagger.py)."""

from dataclasses import replace
import json
from pathlib import Path

import numpy as np
import pytest

from imitation_ros.errors import ConfigError
from imitation_ros.sim.arm import ArmConfig, ArmSim, link_clearance
from imitation_ros.sim.experts import DemonstratorStyle, ScriptedExpert
from imitation_ros.sim.operator import SimulatedOperator
from imitation_ros.dagger.loop import (gate_config, run_episode, run_episodes, sample_tasks,
                                       SOURCE_EXPERT, SOURCE_HOLD, SOURCE_HUMAN, SOURCE_POLICY)
from imitation_ros.studies.dagger import (curve, LabelBank, run_dagger_study, StudyConfig,
                                          verdict)

NOISY = replace(ArmConfig(), actuation_noise=0.01)


def _expert(cfg: ArmConfig = NOISY) -> ScriptedExpert:
    return ScriptedExpert(config=cfg, style=DemonstratorStyle(side=1))


def _drift(q: np.ndarray, task) -> np.ndarray:
    """Creep slowly the wrong way (a bad policy)."""
    return q + np.array([-0.03, 0.02, 0.0])


def test_beta_one_executes_the_expert_on_every_step() -> None:
    """With beta = 1 every command is the expert's label at that state, and the expert succeeds."""
    task = sample_tasks(NOISY, 1, seed=3)[0]
    ep = run_episode(ArmSim(NOISY), task, expert=_expert(), beta=1.0, seed=11)
    assert ep.steps > 10 and ep.success
    assert np.all(ep.source == SOURCE_EXPERT)
    assert ep.labels is not None and ep.labels.shape == ep.states.shape
    # The expert's steps are small and inside the limits, so the gate passes them unchanged.
    np.testing.assert_allclose(ep.actions, ep.labels)
    # Noise acted: the next state is not exactly the commanded target.
    assert not np.allclose(ep.states[1:], ep.actions[:-1])


def test_beta_zero_never_executes_the_expert_but_labels_every_state() -> None:
    """With beta = 0 and an expert the policy drives, every visited state has a finite label."""
    task = sample_tasks(NOISY, 1, seed=4)[0]
    expert = _expert()
    ep = run_episode(ArmSim(NOISY), task, policy=_drift, expert=expert, beta=0.0, seed=2)
    assert np.all(ep.source == SOURCE_POLICY)
    assert ep.labels is not None and np.all(np.isfinite(ep.labels))
    # Labels are what the expert commands at the visited state, not along its own path.
    for t in (0, ep.steps // 2, ep.steps - 1):
        np.testing.assert_allclose(ep.labels[t], expert.action(ep.states[t], task))
    assert not np.allclose(ep.actions, ep.labels)


def test_beta_mixing_draws_per_step_and_is_reproducible() -> None:
    """0 < beta < 1 mixes both sources within an episode; the same seed gives the same episode."""
    task = sample_tasks(NOISY, 1, seed=5)[0]
    a = run_episode(ArmSim(NOISY), task, policy=_drift, expert=_expert(), beta=0.5, seed=9)
    b = run_episode(ArmSim(NOISY), task, policy=_drift, expert=_expert(), beta=0.5, seed=9)
    assert 0 < a.expert_executed.sum() < a.steps
    np.testing.assert_array_equal(a.source, b.source)
    np.testing.assert_array_equal(a.actions, b.actions)


def test_gate_clamps_policy_commands() -> None:
    """A policy asking for a far target gets max_joint_step from the measured position."""
    task = sample_tasks(NOISY, 1, seed=6)[0]
    ep = run_episode(ArmSim(NOISY), task, policy=lambda q, t: q + 1.0, seed=1)
    step = gate_config(NOISY).max_joint_step
    assert np.all(np.abs(ep.actions - ep.states) <= step + 1e-12)


def test_operator_takes_over_and_its_commands_are_the_gates_teleop() -> None:
    """A policy heading into trouble: the operator takes over; human steps move the arm."""
    cfg = ArmConfig()  # no noise: the hold below must be exact
    task = sample_tasks(cfg, 1, seed=7)[0]
    operator = SimulatedOperator(cfg, seed=0)
    ep = run_episode(ArmSim(cfg), task, policy=lambda q, t: q, operator=operator, seed=3)
    # Holding still stalls: the operator grabs the pad after stall_s plus its reaction delay.
    assert ep.takeovers >= 1 and ep.human.any()
    first = int(np.argmax(ep.human))
    assert first * cfg.dt >= operator.params.stall_s
    np.testing.assert_allclose(ep.actions[:first], ep.states[:first])
    assert np.abs(ep.actions[ep.human] - ep.states[ep.human]).max() > 1e-3
    assert ep.success  # the simulated human brings the arm to the goal
    assert not operator.active  # the loop ended the operator's episode
    bank = LabelBank()
    added = bank.add(ep, ep.actions, ep.human, correction=True)
    assert added == bank.labels == bank.corrections == int(ep.human.sum())
    state = bank.arrays()[0]
    np.testing.assert_array_equal(state, ep.states[ep.human])


def test_doubt_holds_and_asks_for_help() -> None:
    """Doubt above the threshold: the arm holds at the measured position, help is counted."""
    cfg = ArmConfig()
    task = sample_tasks(cfg, 1, seed=8)[0]
    ep = run_episode(ArmSim(cfg), task, policy=lambda q, t: q + 0.05,
                     doubt=lambda q, t: 1.0 if q[0] > task.start[0] - 0.2 else 0.0,
                     help_threshold=0.5, seed=0)
    assert ep.help.any() and ep.help_requests == 1
    assert np.all(ep.source[ep.help] == SOURCE_HOLD)
    np.testing.assert_allclose(ep.actions[ep.help], ep.states[ep.help])
    assert ep.reason == 'timeout'  # doubt that never clears, and nobody to answer


class _RecordingOperator(SimulatedOperator):
    """An operator that accepts help requests and records them."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.requests: list[bool] = []

    def step(self, q, now, help_requested: bool = False):  # noqa: D102
        self.requests.append(bool(help_requested))
        return super().step(q, now)


def test_help_request_reaches_the_operator() -> None:
    """The loop passes help_requested=True to an operator that takes the keyword."""
    cfg = ArmConfig()
    task = sample_tasks(cfg, 1, seed=9)[0]
    operator = _RecordingOperator(cfg, seed=0)
    ep = run_episode(ArmSim(cfg), task, policy=lambda q, t: q, operator=operator,
                     doubt=lambda q, t: 1.0, help_threshold=0.5, seed=0)
    assert len(operator.requests) == ep.steps
    assert operator.requests == list(ep.help)
    assert any(operator.requests)
    # Help is asked only while the policy drives: the arm holds, unless the human
    # answers in that very period (the first period of a takeover).
    human = ep.source == SOURCE_HUMAN
    starts = human & ~np.concatenate([[False], human[:-1]])
    assert np.all(ep.source[ep.help & ~human] == SOURCE_HOLD)
    assert not np.any(ep.help & human & ~starts)


def test_loop_rejects_inconsistent_arguments() -> None:
    """No policy with beta < 1, or beta without an expert, is a clear error."""
    task = sample_tasks(NOISY, 1, seed=1)[0]
    with pytest.raises(ConfigError, match='no policy'):
        run_episode(ArmSim(NOISY), task, expert=_expert(), beta=0.5)
    with pytest.raises(ConfigError, match='no expert'):
        run_episode(ArmSim(NOISY), task, policy=_drift, beta=0.5)


def test_sample_tasks_is_fixed_and_collision_free() -> None:
    """The same seed gives the same tasks, whatever ran before."""
    a = sample_tasks(NOISY, 5, seed=42)
    run_episodes(NOISY, a[:2], seed=0, expert=_expert(), beta=1.0)
    b = sample_tasks(NOISY, 5, seed=42)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x.vector(), y.vector())
        np.testing.assert_array_equal(x.start, y.start)
        assert link_clearance(NOISY, x, x.start) > 0


def test_study_end_to_end_tiny(tmp_path: Path) -> None:
    """A tiny run: files written, label counts add up, HG-DAgger labels only human steps."""
    cfg = StudyConfig(train_steps=40, hidden=(32, 32), bc_demos=(1, 2), initial_demos=1,
                      rounds=2, episodes_per_round=2, eval_episodes=3, max_steps=70)
    points = run_dagger_study(tmp_path, cfg, seeds=(0,), progress=False)
    for name in ('table.md', 'curve.png', 'cells.json'):
        assert (tmp_path / name).stat().st_size > 0
    bc = {p.demos: p for p in points if p.method == 'bc'}
    assert bc[2].labels > bc[1].labels > 0 and bc[1].corrections == 0
    for method in ('dagger', 'hg_dagger'):
        seq = sorted((p for p in points if p.method == method), key=lambda p: p.stage)
        assert [p.stage for p in seq] == [0, 1, 2]
        assert seq[0].labels == bc[1].labels and seq[0].success_rate == bc[1].success_rate
        for prev, p in zip(seq, seq[1:]):
            assert p.labels == prev.labels + p.round_labels
            assert p.labels == bc[1].labels + p.corrections
            if method == 'dagger':
                assert p.round_labels == p.rollout_steps  # every visited state labelled
                assert p.beta == cfg.beta.beta(p.stage - 1)
            else:
                assert p.round_labels == round(p.human_fraction * p.rollout_steps)
                assert p.round_labels <= p.rollout_steps
                assert (p.round_labels > 0) == (p.takeovers_per_episode > 0)
        assert all(0.0 <= p.success_rate <= 1.0 for p in seq)
    data = json.loads((tmp_path / 'cells.json').read_text())
    assert len(data['points']) == len(points)
    assert set(data['curves']) == {'bc', 'dagger', 'hg_dagger'}
    table = (tmp_path / 'table.md').read_text()
    assert 'HG-DAgger' in table and 'takeovers per episode' in table
    assert (tmp_path / 'models' / 'bc_n1_s0.onnx').is_file()


def test_rounds_fine_tune_and_a_round_without_takeovers_keeps_its_model(
        tmp_path: Path) -> None:
    """Warm-started rounds fine-tune the previous model; no human labels: no new model."""
    from imitation_ros.runtime.onnx_policy import OnnxPolicy
    from imitation_ros.sim.operator import OperatorParams
    cfg = StudyConfig(train_steps=30, warm_start_steps=7, hidden=(16, 16), bc_demos=(1,),
                      initial_demos=1, rounds=1, episodes_per_round=1, eval_episodes=2,
                      max_steps=50)
    points = run_dagger_study(tmp_path / 'warm', cfg, seeds=(0,), progress=False,
                              methods=('bc', 'dagger'))
    meta = OnnxPolicy(tmp_path / 'warm' / 'models' / 'dagger_r1_s0.onnx').training_data
    assert meta['warm_start'] and meta['steps'] == 7
    scratch = replace(cfg, warm_start=False)
    run_dagger_study(tmp_path / 'cold', scratch, seeds=(0,), progress=False,
                     methods=('bc', 'dagger'))
    meta = OnnxPolicy(tmp_path / 'cold' / 'models' / 'dagger_r1_s0.onnx').training_data
    assert not meta['warm_start'] and meta['steps'] == 30
    # An operator who never takes over: the round adds no label and trains nothing.
    idle = OperatorParams(side=1, corridor_m=100.0, collision_margin_m=1e-6,
                          collision_lookahead_s=0.0, stall_s=1e6, limit_margin_rad=0.0)
    points = run_dagger_study(tmp_path / 'idle', replace(cfg, operator=idle), seeds=(0,),
                              progress=False, methods=('bc', 'hg_dagger'))
    start, round1 = sorted((p for p in points if p.method == 'hg_dagger'),
                           key=lambda p: p.stage)
    assert round1.round_labels == 0 and round1.takeovers_per_episode == 0
    assert round1.success_rate == start.success_rate and round1.train_seconds == 0.0
    assert not (tmp_path / 'idle' / 'models' / 'hg_dagger_r1_s0.onnx').exists()


def test_study_workers_give_the_same_points(tmp_path: Path) -> None:
    """Seeds run in parallel processes give exactly the points of the sequential run."""
    cfg = StudyConfig(train_steps=30, hidden=(16, 16), bc_demos=(1,), initial_demos=1,
                      rounds=1, episodes_per_round=1, eval_episodes=2, max_steps=50)

    def key(points: list) -> list:
        return sorted((p.seed, p.method, p.stage, p.labels, p.success_rate) for p in points)

    one = run_dagger_study(tmp_path / 'one', cfg, seeds=(0, 1), progress=False,
                           methods=('bc', 'hg_dagger'))
    two = run_dagger_study(tmp_path / 'two', cfg, seeds=(0, 1), progress=False,
                           methods=('bc', 'hg_dagger'), workers=2)
    assert key(one) == key(two) and {p.seed for p in two} == {0, 1}
    assert (tmp_path / 'two' / 'models' / 'bc_n1_s1.onnx').is_file()
    with pytest.raises(ConfigError, match='workers'):
        run_dagger_study(tmp_path / 'bad', cfg, seeds=(0,), workers=0)


def test_verdict_reads_the_curves() -> None:
    """The target check: a third of BC's labels, or BC never reaching the target."""
    from imitation_ros.studies.dagger import Point

    def pts(method, pairs):
        return [Point(method, 0, i, 1, labels, 0, rate, {}, 0.0)
                for i, (labels, rate) in enumerate(pairs)]
    bc = pts('bc', [(50, 0.2), (400, 0.8), (1500, 0.97)])
    good = pts('dagger', [(50, 0.2), (300, 0.96)])
    slow = pts('hg_dagger', [(50, 0.2), (600, 0.96)])
    v = verdict(bc + good + slow, 0.95)
    assert v['labels_needed'] == {'bc': 1500, 'dagger': 300, 'hg_dagger': 600}
    assert v['met'] == {'dagger': True, 'hg_dagger': False} and not v['all_met']
    v = verdict(bc[:2] + slow, 0.95)
    assert v['met'] == {'hg_dagger': True}  # BC never reached it within its budget
    assert curve(bc, 'bc')[2]['mean'] == 0.97


def test_cli_operator_side_reaches_the_study(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI flags reach the study; by default the operator corrects above."""
    import imitation_ros.studies.dagger as study
    from imitation_ros.cli.main import main
    seen = {}

    def capture(out: Path, config: StudyConfig, seeds: tuple, **kwargs: object) -> list:
        seen['config'], seen['seeds'], seen['workers'] = config, seeds, kwargs['workers']
        (out / 'table.md').parent.mkdir(parents=True, exist_ok=True)
        (out / 'table.md').write_text('table')
        return []

    monkeypatch.setattr(study, 'run_dagger_study', capture)
    assert main(['benchmark', 'dagger', '--out', str(tmp_path), '--seeds', '2',
                 '--operator-side', '0', '--workers', '2', '--from-scratch',
                 '--demo-noise', 'same', '--no-progress']) == 0
    assert seen['config'].operator.side == 0 and seen['seeds'] == (0, 1)
    assert seen['workers'] == 2 and not seen['config'].warm_start
    assert seen['config'].demo_noise is None  # the table's --demo-noise same below
    assert main(['benchmark', 'dagger', '--out', str(tmp_path), '--no-progress']) == 0
    assert seen['config'].operator.side == 1 and seen['workers'] == 1
    assert seen['config'].warm_start and seen['config'].demo_noise == 0.0
    assert main(['benchmark', 'dagger', '--out', str(tmp_path), '--no-progress',
                 '--demo-noise', '0.004']) == 0
    assert seen['config'].demo_noise == 0.004
    with pytest.raises(SystemExit):
        main(['benchmark', 'dagger', '--out', str(tmp_path), '--demo-noise', '-1'])


def test_demonstrations_are_recorded_with_the_demo_noise() -> None:
    """demo_noise 0: the expert's own path whatever the deployment noise; None: that noise."""
    from imitation_ros.studies.dagger import _Runner
    tasks = sample_tasks(ArmConfig(), 1, seed=0)

    def demos(cfg: StudyConfig) -> np.ndarray:
        runner = _Runner(replace(cfg, bc_demos=(2,), initial_demos=2), 0, Path('unused'),
                         tasks, False, print)
        return np.concatenate([e.states for e in runner.demonstrations()])

    clean = demos(StudyConfig(actuation_noise=0.01))
    assert np.array_equal(clean, demos(StudyConfig(actuation_noise=0.005)))
    assert np.array_equal(clean, demos(StudyConfig(actuation_noise=0.0, demo_noise=None)))
    noisy = demos(StudyConfig(actuation_noise=0.01, demo_noise=None))
    assert noisy.shape != clean.shape or not np.allclose(noisy, clean)
    assert StudyConfig(demo_noise=0.003).demo_arm.actuation_noise == 0.003
    assert StudyConfig(demo_noise=0.003).arm.actuation_noise == 0.01
    with pytest.raises(ConfigError, match='demo_noise'):
        StudyConfig(demo_noise=-0.01)
    with pytest.raises(ConfigError, match='demo_noise'):
        StudyConfig(demo_noise=float('nan'))
