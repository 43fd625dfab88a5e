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

"""Short end-to-end HG-DAgger and DAgger rounds of the composed graphs over real DDS."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
import threading
import time
from typing import Any, Callable

from imitation_ros.bringup.composed import ComposedGraph
from imitation_ros.bringup.dagger_rounds import set_gate_beta, state_runs_last
from imitation_ros.bringup.demo import corrector_settings, run_demo
from imitation_ros.data import (align_commands, episode_info, find_episode_bags,
                                read_bag_messages)
from imitation_ros.data.dataset import load_dataset
from imitation_ros.runtime.onnx_policy import OnnxPolicy
from imitation_ros.sim.arm import ArmConfig, Task
from imitation_ros.sim.experts import DemonstratorStyle, ScriptedExpert
import numpy as np
import pytest
from ros_harness import poll_until, private_domain_id

DOMAIN_ID = private_domain_id(77)


@pytest.fixture()
def private_domain():
    """Run on a private ROS domain."""
    old = os.environ.get('ROS_DOMAIN_ID')
    os.environ['ROS_DOMAIN_ID'] = str(DOMAIN_ID)
    yield
    if old is None:
        os.environ.pop('ROS_DOMAIN_ID', None)
    else:
        os.environ['ROS_DOMAIN_ID'] = old


def test_one_round_trains_publishes_and_hot_reloads(tmp_path: Path, private_domain) -> None:
    """Round 0 runs v001; the trainer's v002 is hot-reloaded by the policy node for round 1."""
    lines: list[str] = []
    rounds = run_demo(data_dir=tmp_path / 'data', models_dir=tmp_path / 'models', rounds=1,
                      episodes=2, demos=3, policy='mse', train_steps=30, seed=1,
                      log=lines.append, domain_id=DOMAIN_ID)
    assert [r.version for r in rounds] == ['v001', 'v002']
    assert all(r.episodes == 2 for r in rounds)
    assert any('hot-reloaded' in line for line in lines)
    session = next((tmp_path / 'data').iterdir())
    recorded = [episode_info(b) for b in find_episode_bags(session / 'hg_dagger')]
    assert len(recorded) >= 4 and {i.source for i in recorded} == {'hg_dagger'}
    assert {i.policy_version for i in recorded} >= {'v001', 'v002'}
    v002 = OnnxPolicy(next((tmp_path / 'models').rglob('policy_v002.onnx')))
    # v002 was trained on the demonstrations plus the bags recorded in round 0 (with or
    # without takeovers: a 30-step model may reach the goal alone on an easy task).
    sources = v002.training_data['sources']
    assert sources.get('hg_dagger', 0) >= rounds[0].episodes, sources
    assert v002.training_data['episodes'] == sum(sources.values()) >= 5
    assert next((tmp_path / 'models').rglob('hg_dagger_rounds.png')).stat().st_size > 1000


def _wait_for(predicate: Callable[[], Any], timeout: float, what: str) -> Any:
    return poll_until(predicate, timeout, what, period=0.05)


@pytest.fixture(scope='module')
def dagger_demo(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Run a short DAgger demo: round 0 with v001 at beta 0.5, round 1 with v002 at 0.25."""
    old = os.environ.get('ROS_DOMAIN_ID')
    os.environ['ROS_DOMAIN_ID'] = str(DOMAIN_ID)
    root = tmp_path_factory.mktemp('dagger')
    lines: list[str] = []
    try:
        rounds = run_demo(data_dir=root / 'data', models_dir=root / 'models', rounds=1,
                          episodes=2, demos=3, policy='mse', train_steps=30, seed=2,
                          log=lines.append, domain_id=DOMAIN_ID, mode='dagger',
                          beta_schedule='dagger')
    finally:
        if old is None:
            os.environ.pop('ROS_DOMAIN_ID', None)
        else:
            os.environ['ROS_DOMAIN_ID'] = old
    return {'root': root, 'rounds': rounds, 'lines': lines}


def test_dagger_rounds_follow_the_beta_schedule_and_retrain(dagger_demo) -> None:
    """Round 0 runs v001 at beta 0.5, round 1 the retrained v002 at 0.25 (p^(i+1), p = 0.5)."""
    rounds = dagger_demo['rounds']
    assert [r.version for r in rounds] == ['v001', 'v002']
    assert [r.beta for r in rounds] == [0.5, 0.25]
    assert all(r.episodes == 2 and r.labelled > 0 for r in rounds)
    assert any('hot-reloaded' in line for line in dagger_demo['lines'])
    root = dagger_demo['root']
    v002 = OnnxPolicy(next((root / 'models').rglob('policy_v002.onnx')))
    # v002 was trained on the 3 demonstrations plus the DAgger episodes of round 0.
    assert v002.training_data['episodes'] >= 5
    assert next((root / 'models').rglob('dagger_rounds.png')).stat().st_size > 1000


def _episode_task(bag: Path) -> Task:
    """Return the task of a bag's episode, with its start posture, from its start event."""
    start = next(e for e in read_bag_messages(bag, with_images=False).events
                 if e['event'] == 'start')
    return Task.from_vector(np.asarray(start['task']), np.asarray(start['start']))


def _label_error(experts: list, q: np.ndarray, task: Task, label: np.ndarray) -> float:
    """Return how far ``label`` is from the nearest scripted expert's action at ``q``."""
    return min(float(np.max(np.abs(e.action(q, task) - label))) for e in experts)


def _explain_wrong_label(experts: list, q: np.ndarray, task: Task, label: np.ndarray,
                         previous: Task | None, visited: np.ndarray) -> str:
    """Say which task or start posture the expert node labelled this state for instead."""
    guesses = {}
    if previous is not None:
        guesses["the previous episode's task and start"] = previous
        guesses["the previous episode's task vector, this episode's start"] = \
            Task.from_vector(previous.vector(), task.start)
    for k, other in enumerate(visited[:10]):
        guesses[f'this task with visited state {k} as its start'] = \
            Task.from_vector(task.vector(), other)
    best = min(guesses, key=lambda g: _label_error(experts, q, guesses[g], label))
    if _label_error(experts, q, guesses[best], label) < 1e-9:
        return f'the expert node labelled it for {best}'
    return 'the label matches no nearby task or start: the expert itself differs'


def test_every_visited_state_of_a_dagger_bag_has_the_experts_label(dagger_demo) -> None:
    """Each joint state the loader yields carries a label: the scripted expert's action there."""
    session = next((dagger_demo['root'] / 'data').iterdir()) / 'dagger'
    bags = find_episode_bags(session)
    assert len(bags) >= 4 and {episode_info(b).source for b in bags} == {'dagger'}
    config = ArmConfig()
    experts = [ScriptedExpert(config, DemonstratorStyle(side=side)) for side in (1, -1)]
    states = 0
    previous = None
    for bag in bags:
        task = _episode_task(bag)
        data = load_dataset([bag])
        messages = read_bag_messages(bag, with_images=False)
        stamps = messages.joint_stamps[align_commands(messages).state_index]
        recorded = {int(s): v for s, v in zip(messages.expert_stamps, messages.expert.values)}
        last = state_runs_last(data.positions, data.episode_id)
        # The terminal state (published with the end event, no action is taken from it)
        # may see a command before the recorder closes the bag, but not its label.
        last[np.flatnonzero(last)[-1]] = False
        visited = data.positions[last]
        for i in np.flatnonzero(last):
            q, label, stamp = data.positions[i], data.expert_actions[i], int(stamps[i])
            where = f'{bag.name}, state stamped {stamp} ns (sample {i})'
            assert stamp in recorded, (
                f'{where}: no recorded label names this state (the expert node skipped it or '
                'the recorder did not record its label in this bag)')
            assert np.array_equal(label, recorded[stamp]), (
                f'{where}: the loader paired the state with another label than the one '
                'naming it')
            error = _label_error(experts, q, task, label)
            assert error < 1e-9, (
                f'{where}: label off by {error:.3g} rad: '
                f'{_explain_wrong_label(experts, q, task, label, previous, visited)}')
        states += int(last.sum())
        previous = task
    assert states >= 40


class GateWatch:
    """Collect the gate's decisions (source, beta) and count the policy's action messages."""

    def __init__(self, node: Any) -> None:
        from std_msgs.msg import Float64MultiArray, String
        self.lock = threading.Lock()
        self.states: list[tuple[str, float]] = []
        self.reasons: list[tuple[str, float, str]] = []
        self.policy_actions: list[float] = []
        node.create_subscription(String, 'imitation/gate_state', self._on_gate, 100)
        node.create_subscription(Float64MultiArray, 'imitation/policy_action',
                                 self._on_policy, 100)

    def _on_gate(self, msg: Any) -> None:
        state = json.loads(msg.data)
        with self.lock:
            beta = float(state.get('beta', math.nan))
            self.states.append((state['source'], beta))
            self.reasons.append((state['source'], beta, state.get('reason', '')))

    def _on_policy(self, msg: Any) -> None:
        with self.lock:
            self.policy_actions.append(time.monotonic())

    def sources(self, beta: float) -> list[str]:
        """Return the sources of the decisions made at ``beta``."""
        with self.lock:
            return [source for source, b in self.states if b == beta]


def test_beta_mixing_executes_the_expert_at_the_configured_rate(dagger_demo,
                                                                private_domain) -> None:
    """At beta 1 the expert's actions are executed, at 0 the policy's, at 0.5 about half each."""
    from rclpy.node import Node
    model = next((dagger_demo['root'] / 'models').rglob('policy_v001.onnx'))
    data = dagger_demo['root'] / 'mixing'
    composed = ComposedGraph('dagger', use_sim=True, overrides={
        'sim_arm': {'seed': 5, 'camera_hz': 0.0, 'reset_delay_s': 0.2},
        'policy': {'model_path': str(model.resolve()), 'rate_hz': 50.0,
                   'model_dirs': str(model.parent)},
        'intervention_gate': {'rate_hz': 50.0, 'beta': 1.0, 'beta_seed': 3},
        'recorder': {'data_dir': str(data), 'record_images': False},
        'trainer': {'data_dir': str(data), 'models_dir': str(data / 'models'),
                    'min_new_samples': 10_000_000},
    })
    composed.start(domain_id=DOMAIN_ID)
    try:
        probe = composed.add(Node('mixing_probe', context=composed.context))
        watch = GateWatch(probe)
        gate = composed.nodes['intervention_gate']
        _wait_for(lambda: watch.sources(1.0).count('expert') >= 60, 60,
                  'decisions at beta 1')
        at_one = watch.sources(1.0)
        # Until the expert node's first label arrives the gate falls back to the policy
        # (by design): count from the first expert decision on. After that, a decision with
        # no fresh label (the loaded executor delayed it past expert_timeout_s) is rare.
        at_one = at_one[at_one.index('expert'):]
        assert at_one.count('expert') >= 60
        # Every policy decision at beta 1 is that documented fallback, named in its reason,
        # and stays rare (they come when an episode starts and no label for it is there yet,
        # or when a loaded executor delays a label past expert_timeout_s).
        with watch.lock:
            fallbacks = [r for src, b, r in watch.reasons if b == 1.0 and src == 'policy']
        assert all('no fresh expert action' in r for r in fallbacks), fallbacks[:3]
        assert at_one.count('policy') <= max(3, 0.15 * len(at_one)), at_one
        set_gate_beta(gate, 0.0)
        _wait_for(lambda: watch.sources(0.0)[5:].count('policy') >= 50, 60,
                  'policy decisions at beta 0')
        # The gate reports its current beta; a decision right after the change may still
        # come from a policy action drawn at the old one: skip a few. Holds (between
        # episodes, a late joint state on a loaded machine) may come in between.
        assert 'expert' not in watch.sources(0.0)[5:]
        set_gate_beta(gate, 0.5)
        _wait_for(lambda: len([s for s in watch.sources(0.5) if s != 'hold']) >= 300, 60,
                  'decisions at beta 0.5')
        mixed = [s for s in watch.sources(0.5)[5:] if s != 'hold']
        fraction = mixed.count('expert') / len(mixed)
        # One independent draw per policy action (about one per command here): binomial,
        # 4.5 standard deviations.
        assert abs(fraction - 0.5) <= 4.5 * math.sqrt(0.25 / len(mixed)), fraction
    finally:
        composed.stop()


def test_correctors_follow_the_demonstrator() -> None:
    """The operator steers and the DAgger expert labels on the demonstrator's side."""
    assert corrector_settings('above') == (1, 'above')
    assert corrector_settings('below') == (-1, 'below')
    assert corrector_settings('multi') == (0, 'nearest')


def test_a_round_without_takeovers_keeps_the_model() -> None:
    """HG-DAgger retrains only after a round with corrections; every DAgger round adds labels."""
    from imitation_ros.bringup.dagger_rounds import DaggerRoundStats
    from imitation_ros.bringup.demo import needs_retraining, RoundStats
    quiet = RoundStats(2, 'v003', 10, 1.0, 1.0, 0.0, 0.0, 0)
    assert not needs_retraining(quiet)
    assert needs_retraining(RoundStats(2, 'v003', 10, 0.8, 1.0, 0.2, 0.05, 37))
    assert needs_retraining(DaggerRoundStats(1, 'v002', 5, 0.5, 0.9, 0.5, 240, 1.0))
