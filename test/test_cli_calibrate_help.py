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

"""imitation-ros calibrate-help on real hg_dagger bags: threshold, rates, YAML edited in place."""

from __future__ import annotations

from pathlib import Path
import shutil

from imitation_ros.cli.main import main
from imitation_ros.data import EpisodeRecord, write_episode
from imitation_ros.errors import ConfigError
from imitation_ros.policies.base import TrainConfig
from imitation_ros.studies.help_threshold import calibrate_help, label_states, write_help_threshold
from imitation_ros.training.export import export_policy
from imitation_ros.training.trainer import build_training_set, fit_spec, train_policy
import numpy as np
import pytest
import torch
import yaml

ROOT = Path(__file__).resolve().parents[1]
JOINTS = ('joint1', 'joint2', 'joint3')
TASK = ('goal_x', 'goal_y', 'obstacle_x', 'obstacle_y', 'obstacle_r')
FAR = np.array([3.0, -3.0, 3.0])
DT = 0.05


def _familiar(count: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    state = rng.uniform(-1.0, 1.0, (count, 3))
    task = np.column_stack([rng.uniform(0.3, 0.8, count), rng.uniform(-0.3, 0.3, count),
                            rng.uniform(0.2, 0.5, count), rng.uniform(-0.2, 0.2, count),
                            rng.uniform(0.05, 0.1, count)])
    return state, task


@pytest.fixture(scope='module')
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Train a small mse policy with its doubt ensemble on the familiar distribution."""
    torch.set_num_threads(1)
    state, task = _familiar(600, np.random.default_rng(0))
    action = state + 0.2 * np.sin(2.0 * state)
    data = build_training_set(state, task, action, np.repeat(np.arange(30), 20),
                              np.tile(np.arange(20), 30))
    spec = fit_spec(data, JOINTS, TASK)
    config = TrainConfig(steps=300, batch_size=128, val_fraction=0.0, doubt_hidden=(32, 32))
    policy, _ = train_policy('mse', data, spec, config, options={'hidden': (32, 32)},
                             progress=False)
    return export_policy(policy, tmp_path_factory.mktemp('model') / 'm.onnx',
                         metadata_extra={'version': 'cal-1'})


@pytest.fixture(scope='module')
def bags(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """
    Four hg_dagger episodes of 100 steps (5 s at 20 Hz) and one demo episode (4).

    Takeover episodes (0 and 2): 60 familiar states, 20 far outside the data,
    then the human from step 80 (4.0 s). Quiet episodes: 100 familiar states,
    no takeover, success.
    """
    root = tmp_path_factory.mktemp('data') / 'session'
    rng = np.random.default_rng(1)
    t0 = 1_767_225_600_000_000_000
    for ep in range(5):
        state, task = _familiar(101, rng)
        task_vec = task[0]
        takeover = ep % 2 == 0
        human = np.zeros(100, dtype=bool)
        if takeover:
            state[60:80] = FAR + rng.normal(0.0, 0.05, (20, 3))
            human[80:] = True
        record = EpisodeRecord(
            joint_names=JOINTS, t0_ns=t0, dt=DT, positions=state,
            velocities=np.full_like(state, np.nan), task=task_vec, actions=state[1:],
            intervention=human, episode=ep, success=True, reason='success',
            source='demo' if ep == 4 else 'hg_dagger', policy_version='cal-1')
        write_episode(record, root / f'ep_{ep:05d}')
        t0 += 10 * 10**9
    return root


def test_label_states_windows() -> None:
    """Takeover moments lie within the window before an onset; autonomous beyond the margin."""
    human = np.array([False] * 60 + [True] * 10 + [False] * 10)
    n = len(human)
    takeover, autonomous, events = label_states(
        human, np.zeros(n, int), np.arange(n), np.zeros(n, bool), np.full(n, 0.1),
        window_s=1.0, margin_s=2.0)
    assert events == 1
    assert np.flatnonzero(takeover).tolist() == list(range(50, 60))
    assert np.flatnonzero(autonomous).tolist() == list(range(0, 40)) + list(range(70, 80))
    # A failure under policy control counts as an event at the end.
    takeover, autonomous, events = label_states(
        np.zeros(30, bool), np.zeros(30, int), np.arange(30), np.ones(30, bool),
        np.full(30, 0.1), window_s=1.0, margin_s=2.0)
    assert events == 1 and takeover.sum() == 10 and autonomous.sum() == 10
    with pytest.raises(ConfigError):
        label_states(human, np.zeros(n, int), np.arange(n), np.zeros(n, bool),
                     np.full(n, 0.1), window_s=3.0, margin_s=2.0)


def test_calibration_separates_takeover_moments(model: Path, bags: Path) -> None:
    """Doubt before the takeovers (far states) is above the threshold; familiar ones mostly not."""
    cal = calibrate_help(model, [bags], false_alarm_rate=0.05)
    assert cal.episodes == 4 and cal.takeovers == 2
    # 2 takeovers x 20 states in the window; 2 x 40 + 2 x 100 autonomous states (demo ignored).
    assert cal.takeover_states == 40 and cal.autonomous_states == 280
    assert cal.false_alarm_rate <= 0.05
    assert cal.detection_rate >= 0.9
    assert cal.takeover_doubt[0] > 3.0 * cal.autonomous_doubt[0]
    assert cal.model_version == 'cal-1'


def test_cli_writes_the_threshold_in_place(model: Path, bags: Path, tmp_path: Path,
                                           capsys: pytest.CaptureFixture) -> None:
    """The command edits help_threshold in a params file; every other line stays as it was."""
    config = tmp_path / 'gate.yaml'
    shutil.copyfile(ROOT / 'config' / 'intervention_gate.yaml', config)
    before = config.read_text().splitlines()
    assert main(['calibrate-help', '--data', str(bags), '--model', str(model),
                 '--false-alarm-rate', '0.05', '--config', str(config)]) == 0
    printed = capsys.readouterr().out
    assert 'help_threshold' in printed and 'detected' in printed
    after = config.read_text().splitlines()
    threshold = yaml.safe_load(config.read_text())['intervention_gate']['ros__parameters'][
        'help_threshold']
    assert threshold == pytest.approx(calibrate_help(model, [bags]).threshold, rel=1e-5)
    changed = [(a, b) for a, b in zip(before, after) if a != b]
    if any(line.strip().startswith('help_threshold:') for line in before):
        assert len(after) == len(before) and len(changed) == 1
        old, new = changed[0]
        assert old.split('#', 1)[1] == new.split('#', 1)[1], 'the comment is kept'
    else:
        assert len(after) == len(before) + 1


def test_missing_key_and_section_are_added(tmp_path: Path) -> None:
    """A params file without the key gets it under ros__parameters; no gate section: one added."""
    path = tmp_path / 'p.yaml'
    path.write_text('# my gate\nintervention_gate:\n  ros__parameters:\n'
                    '    rate_hz: 50.0   # Hz\nother_node:\n  ros__parameters:\n    x: 1\n')
    write_help_threshold(path, 0.25)
    data = yaml.safe_load(path.read_text())
    assert data['intervention_gate']['ros__parameters'] == {'help_threshold': 0.25,
                                                            'rate_hz': 50.0}
    assert data['other_node']['ros__parameters'] == {'x': 1}
    assert path.read_text().startswith('# my gate\n')
    write_help_threshold(path, 1e-7)  # stays a float ROS reads as a double
    value = yaml.safe_load(path.read_text())['intervention_gate']['ros__parameters'][
        'help_threshold']
    assert isinstance(value, float) and value == pytest.approx(1e-7)
    other = tmp_path / 'o.yaml'
    other.write_text('policy:\n  ros__parameters:\n    rate_hz: 20.0\n')
    write_help_threshold(other, 0.5)
    data = yaml.safe_load(other.read_text())
    assert data['intervention_gate']['ros__parameters']['help_threshold'] == 0.5
    assert data['policy']['ros__parameters']['rate_hz'] == 20.0


def test_model_without_doubt_is_refused(bags: Path, tmp_path: Path,
                                        capsys: pytest.CaptureFixture) -> None:
    """An old model without a doubt output: exit 1 with how to fix it."""
    from imitation_ros.policies.registry import make_policy
    state, task = _familiar(100, np.random.default_rng(2))
    data = build_training_set(state, task, state, np.arange(100), np.zeros(100, int))
    policy = make_policy('mse', fit_spec(data, JOINTS, TASK), {'hidden': (8,)}).eval()
    path = export_policy(policy, tmp_path / 'old.onnx')
    assert main(['calibrate-help', '--data', str(bags), '--model', str(path)]) == 1
    assert 'no doubt output' in capsys.readouterr().err
