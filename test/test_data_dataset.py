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

"""The dataset loader: alignment of live (off-grid) bags, labels, sources and errors."""

from __future__ import annotations

import json
from pathlib import Path
import shutil

import numpy as np
from hostile_bags import abandon
import pytest

from imitation_ros.data import messages as m
from imitation_ros.data import DataWarning, EpisodeBagWriter, EpisodeRecord, write_episode
from imitation_ros.data.dataset import Dataset, load_dataset, SOURCE_CODES
from imitation_ros.errors import DataError
from imitation_ros.sim.arm import ArmSim
from imitation_ros.sim.experts import make_expert
from imitation_ros.sim.render import render

MS = 1_000_000
BASE = 1_700_000_000 * 1_000_000_000
NAMES = ('joint1', 'joint2', 'joint3')
DT = 0.05


def _rollout(seed: int, source: str, *, images: bool = False) -> EpisodeRecord:
    """Roll the sim with a scripted expert; a human holds steps 4..9."""
    sim = ArmSim(seed=seed)
    task = sim.reset()
    expert = make_expert('below', sim.config, np.random.default_rng(seed))
    positions, velocities, actions = [sim.q.copy()], [sim.qd.copy()], []
    frames = [render(sim.config, task, sim.q)] if images else []
    while not sim.done:
        actions.append(expert.action(sim.q, task))
        sim.step(actions[-1])
        positions.append(sim.q.copy())
        velocities.append(sim.qd.copy())
        if images:
            frames.append(render(sim.config, task, sim.q))
    human = np.zeros(len(actions), dtype=bool)
    human[4:10] = True
    labels = np.array(actions) - 0.05
    labels[::2] = np.nan  # only every other step labelled
    return EpisodeRecord(
        joint_names=NAMES, t0_ns=BASE + seed * 100 * 10**9, dt=DT,
        positions=np.array(positions), velocities=np.array(velocities), task=task.vector(),
        actions=np.array(actions), intervention=human, episode=seed, success=sim.success,
        reason=sim.reason, source=source, expert_actions=labels,
        images=np.stack(frames) if images else None,
        image_steps=np.arange(len(frames)) if images else None)


def _facts(source: str = 'dagger') -> dict[str, str]:
    return {'episode': '7', 'success': 'false', 'reason': 'timeout', 'source': source,
            'policy_version': 'v1', 'interventions': '1', 'steps': '0',
            'joint_names': ','.join(NAMES), 'dt': str(DT)}


def test_dataset_from_recorded_episodes(tmp_path: Path) -> None:
    """Bags from write_episode give one sample per step: state before the action, labels, codes."""
    r0 = _rollout(0, 'demo')
    r1 = _rollout(1, 'hg_dagger')
    write_episode(r0, tmp_path / 'sess' / '0')
    write_episode(r1, tmp_path / 'sess' / '1')
    ds = load_dataset([tmp_path])
    assert len(ds) == r0.steps + r1.steps and ds.images is None
    assert ds.joint_names == NAMES and ds.task.shape == (len(ds), 5)
    first = ds.subset(ds.episode_id == 0)
    np.testing.assert_array_equal(first.positions, r0.positions[:-1])
    np.testing.assert_array_equal(first.velocities, r0.velocities[:-1])
    np.testing.assert_array_equal(first.actions, r0.actions)
    np.testing.assert_array_equal(first.human, r0.intervention)
    np.testing.assert_array_equal(first.expert_actions, r0.expert_actions)
    np.testing.assert_array_equal(first.step, np.arange(r0.steps))
    assert np.all(first.task == r0.task)
    assert SOURCE_CODES == {'demo': 0, 'hg_dagger': 1, 'dagger': 2}
    assert set(first.source) == {0} and set(ds.subset(ds.episode_id == 1).source) == {1}
    assert ds.source.dtype == np.int8
    assert [e.episode for e in ds.episodes] == [0, 1]
    assert ds.expert_labelled.sum() == r0.steps // 2 + r1.steps // 2


def _jittered_bag(path: Path, rng: np.random.Generator) -> dict[str, list]:
    """
    Write a live-like bag: ~100 Hz joint states, ~20 Hz commands, all on jittered clocks.

    Every value encodes its index so the test can tell which message was picked.
    """
    msgs: list[tuple[int, str, bytes]] = []
    js_t = list(BASE + np.cumsum(rng.integers(7, 14, size=80)) * MS + rng.integers(0, MS, 80))
    for k, t in enumerate(js_t):
        # Publisher order differs from joint_names and carries an extra joint.
        pos = {'joint1': k, 'joint2': 10.0 * k, 'joint3': 100.0 * k, 'gripper': -1.0}
        order = ('joint3', 'gripper', 'joint1', 'joint2')
        msgs.append((int(t), m.JOINT_STATES, m.encode_joint_state(
            int(t), order, [pos[n] for n in order], [pos[n] + 0.5 for n in order])))
    task_t = [js_t[3] + 2 * MS, js_t[40] + 3 * MS]
    for j, t in enumerate(task_t):
        msgs.append((int(t), m.TASK, m.encode_float64_array([j, 0, 0, 0, 0.1])))
    cmd_t = [BASE - 5 * MS, js_t[1] + 1 * MS, int(js_t[10]), int(js_t[11]) + 1]
    t = js_t[12]
    while t < js_t[-1]:
        t += int(rng.integers(40, 60)) * MS + int(rng.integers(0, MS))
        cmd_t.append(int(t))
    for i, t in enumerate(cmd_t):
        msgs.append((int(t), m.COMMANDS, m.encode_float64_array([i, -i, 0.5 * i])))
    iv_t = [cmd_t[5] - 3 * MS, cmd_t[9], cmd_t[14] + 1]
    for t, v in zip(iv_t, (True, False, True)):
        msgs.append((int(t), m.INTERVENTION, m.encode_bool(v)))
    ex_t = [cmd_t[4] - 10 * MS, cmd_t[6] - 60 * MS, cmd_t[7] - 1, cmd_t[8] + 2 * MS]
    for e, t in enumerate(ex_t):
        msgs.append((int(t), m.EXPERT_ACTION, m.encode_float64_array([e, e, e])))
    img_t = [js_t[20] + 4 * MS, js_t[50]]
    for q, t in enumerate(img_t):
        msgs.append((int(t), m.CAMERA_IMAGE,
                     m.encode_image(int(t), np.full((6, 8, 3), q, dtype=np.uint8))))
    msgs.sort(key=lambda x: x[0])
    with EpisodeBagWriter(path) as writer:
        for t, topic, raw in msgs:
            writer.write(topic, raw, t)
        writer.close(_facts())
    return {'js': js_t, 'task': task_t, 'cmd': cmd_t, 'iv': iv_t, 'ex': ex_t, 'img': img_t}


def _latest(times: list, t: int) -> int | None:
    """Return the index of the last time <= t (the rule by brute force), None if none."""
    hits = [i for i, x in enumerate(times) if x <= t]
    return hits[-1] if hits else None


def test_alignment_on_jittered_timestamps(tmp_path: Path) -> None:
    """Each command gets the latest state/task/intervention at or before it, by log time."""
    times = _jittered_bag(tmp_path / 'live', np.random.default_rng(3))
    ds = load_dataset([tmp_path / 'live'])
    dt_ns = round(DT * 1e9)
    kept = [i for i, t in enumerate(times['cmd'])
            if _latest(times['js'], t) is not None and _latest(times['task'], t) is not None]
    assert kept[0] == 2  # before any joint state, then before any task: dropped
    assert len(ds) == len(kept)
    for row, i in enumerate(kept):
        t = times['cmd'][i]
        k = _latest(times['js'], t)
        np.testing.assert_array_equal(ds.positions[row], [k, 10.0 * k, 100.0 * k])
        np.testing.assert_array_equal(ds.velocities[row], [k + 0.5, 10.0 * k + 0.5,
                                                           100.0 * k + 0.5])
        assert ds.task[row, 0] == _latest(times['task'], t)
        np.testing.assert_array_equal(ds.actions[row], [i, -i, 0.5 * i])
        iv = _latest(times['iv'], t)
        assert ds.human[row] == (iv is not None and iv != 1)
        e = _latest(times['ex'], t)
        if e is not None and times['ex'][e] > t - dt_ns:
            np.testing.assert_array_equal(ds.expert_actions[row], [e, e, e])
        else:
            assert np.all(np.isnan(ds.expert_actions[row]))
        assert ds.step[row] == row
    # Spot checks of the edge cases built in: equal log times count as "before".
    row10 = kept.index(2)
    np.testing.assert_array_equal(ds.positions[row10], [10, 100, 1000])
    # Label 0 lies 10 ms before command 4, label 1 60 ms (> one period) before command 6,
    # label 2 1 ns before command 7.
    labelled = {i: bool(ds.expert_labelled[kept.index(i)]) for i in (4, 6, 7)}
    assert labelled == {4: True, 6: False, 7: True}
    with_images = load_dataset([tmp_path / 'live'], with_images=True)
    first_img = times['img'][0]
    assert len(with_images) == sum(1 for i in kept if times['cmd'][i] >= first_img)
    for row, t in enumerate(times['cmd'][i] for i in kept if times['cmd'][i] >= first_img):
        assert with_images.images.shape[1:] == (6, 8, 3)
        assert with_images.images[row, 0, 0, 0] == _latest(times['img'], t)


def test_missing_joint_is_named(tmp_path: Path) -> None:
    """A JointState lacking a joint of joint_names is a DataError naming the bag and joint."""
    bag = tmp_path / 'broken'
    with EpisodeBagWriter(bag) as writer:
        writer.write(m.JOINT_STATES, m.encode_joint_state(BASE, ['joint1', 'joint3'],
                                                          [0.0, 0.0]), BASE)
        writer.write(m.TASK, m.encode_float64_array([0, 0, 0, 0, 0.1]), BASE)
        writer.write(m.COMMANDS, m.encode_float64_array([0.0, 0.0, 0.0]), BASE + MS)
        writer.close(_facts())
    with pytest.raises(DataError, match=r"broken.*'joint2'"), \
            pytest.warns(DataWarning, match=r"broken.*'joint2'"):
        load_dataset([bag])


def test_images_requested_but_absent(tmp_path: Path) -> None:
    """Asking for images from bags without a camera topic is a DataError."""
    write_episode(_rollout(2, 'demo'), tmp_path / 'ep')
    with pytest.raises(DataError, match='image'), pytest.warns(DataWarning, match='image'):
        load_dataset([tmp_path], with_images=True)


def test_images_align_with_states(tmp_path: Path) -> None:
    """With images, each sample's frame is the render of its own observed state."""
    rec = _rollout(4, 'demo', images=True)
    write_episode(rec, tmp_path / 'ep')
    ds = load_dataset(tmp_path, with_images=True)
    assert ds.images.shape == (rec.steps, 96, 96, 3) and ds.images.dtype == np.uint8
    np.testing.assert_array_equal(ds.images, rec.images[:-1])


def test_no_samples_names_the_searched_paths(tmp_path: Path) -> None:
    """An empty search (or bags without commands) is a DataError listing the paths."""
    (tmp_path / 'empty').mkdir()
    with pytest.raises(DataError, match='empty'):
        load_dataset([tmp_path / 'empty'])
    with EpisodeBagWriter(tmp_path / 'nocmd' / 'ep') as writer:
        writer.write(m.JOINT_STATES, m.encode_joint_state(BASE, NAMES, [0, 0, 0]), BASE)
        writer.close(_facts())
    with pytest.raises(DataError, match='nocmd'):
        load_dataset([tmp_path / 'nocmd'])
    with pytest.raises(DataError, match='does not exist'):
        load_dataset([tmp_path / 'nowhere'])


def test_damaged_and_partial_bags_are_skipped(tmp_path: Path) -> None:
    """load_dataset skips a truncated bag with a DataWarning and ignores .partial ones."""
    rec = _rollout(5, 'dagger')
    good = write_episode(rec, tmp_path / 's' / 'a')
    shutil.copytree(good, tmp_path / 's' / 'b')
    mcap = next((tmp_path / 's' / 'b').glob('*.mcap'))
    mcap.write_bytes(mcap.read_bytes()[:mcap.stat().st_size // 2])
    abandon(shutil.copytree(good, tmp_path / 's' / 'c.partial'))
    with pytest.warns(DataWarning) as caught:
        ds = load_dataset([tmp_path])
    assert len(ds) == rec.steps and len(ds.episodes) == 1
    text = ' '.join(str(w.message) for w in caught)
    assert 'truncated' in text and 'c.partial' in text
    assert sorted(s.path.name for s in ds.skipped) == ['b', 'c.partial']


def test_a_bag_of_another_robot_is_skipped_not_fatal(tmp_path: Path) -> None:
    """Bags whose joints differ from most bags' are skipped, whichever sorts first."""
    other = _rollout(3, 'demo')
    renamed = EpisodeRecord(**{**{k: getattr(other, k) for k in other.__dataclass_fields__},
                               'joint_names': ('a', 'b', 'c')})
    write_episode(renamed, tmp_path / '0_other')
    write_episode(_rollout(4, 'demo'), tmp_path / '1')
    write_episode(_rollout(5, 'demo'), tmp_path / '2')
    with pytest.warns(DataWarning, match=r"0_other: its joints \['a', 'b', 'c'\]"):
        ds = load_dataset([tmp_path])
    assert ds.joint_names == NAMES and [e.path.name for e in ds.episodes] == ['1', '2']
    assert [s.path.name for s in ds.skipped] == ['0_other']


def test_subset_and_concat(tmp_path: Path) -> None:
    """Subsetting keeps episodes; concat renumbers episode_id and checks compatibility."""
    write_episode(_rollout(6, 'demo'), tmp_path / 'a' / 'ep')
    write_episode(_rollout(7, 'dagger'), tmp_path / 'b' / 'ep')
    a = load_dataset(tmp_path / 'a')
    b = load_dataset([tmp_path / 'b'])
    both = Dataset.concat([a, b])
    assert len(both) == len(a) + len(b) and len(both.episodes) == 2
    assert set(both.episode_id[len(a):]) == {1}
    assert both.episodes[both.episode_id[-1]].source == 'dagger'
    human = both.subset(both.human)
    assert len(human) == 12 and human.human.all() and human.episodes == both.episodes
    np.testing.assert_array_equal(both.subset(np.arange(3)).actions, a.actions[:3])
    with pytest.raises(DataError, match='mask'):
        both.subset(np.ones(3, dtype=bool))
    renamed = Dataset(**{**{k: getattr(b, k) for k in b.__dataclass_fields__},
                         'joint_names': ('a', 'b', 'c')})
    with pytest.raises(DataError, match='joints'):
        Dataset.concat([a, renamed])


def _named_label(values: list[float], stamp_ns: int) -> bytes:
    """Serialize an expert label naming its joint state, as the expert node publishes it."""
    ts = m.typestore()
    layout = ts.types['std_msgs/msg/MultiArrayLayout'](dim=[], data_offset=2)
    sec, nanosec = divmod(stamp_ns, 1_000_000_000)
    data = np.array([sec, nanosec, *values], dtype=np.float64)
    return m._serialize(ts.types[m.FLOAT64_ARRAY_TYPE](layout=layout, data=data),
                        m.FLOAT64_ARRAY_TYPE)


def test_labels_naming_their_state_match_it_whatever_the_log_times(tmp_path: Path) -> None:
    """A label carrying its joint state's stamp labels that state, even logged late or early."""
    rng = np.random.default_rng(4)
    msgs: list[tuple[int, str, bytes]] = []
    stamps = [BASE + k * 50 * MS for k in range(40)]
    log_js = [s + int(rng.integers(0, 30)) * MS for s in stamps]  # a loaded recorder
    msgs.append((log_js[0] - MS, m.TASK, m.encode_float64_array([0, 0, 0, 0, 0.1])))
    for k, (s, t) in enumerate(zip(stamps, log_js)):
        msgs.append((t, m.JOINT_STATES, m.encode_joint_state(s, NAMES, [k, 0.0, 0.0])))
        for c in (1, 25, 45):  # a gate at 3 commands per state, off the arm's clock
            msgs.append((t + c * MS, m.COMMANDS, m.encode_float64_array([k, c, 0.0])))
        if k == 7:
            continue  # the expert skipped this state
        # The label of state k reaches the recorder up to 70 ms late: after state k + 1.
        delay = int(rng.integers(1, 70)) * MS
        msgs.append((t + delay, m.EXPERT_ACTION, _named_label([k, k, k], s)))
    # A label naming a state that is not in the bag labels nothing.
    msgs.append((log_js[3] + 2 * MS, m.EXPERT_ACTION, _named_label([-1, -1, -1], BASE - 1)))
    msgs.sort(key=lambda x: x[0])
    with EpisodeBagWriter(tmp_path / 'named') as writer:
        for t, topic, raw in msgs:
            writer.write(topic, raw, t)
        writer.close(_facts())
    ds = load_dataset([tmp_path / 'named'])
    state = ds.positions[:, 0].astype(int)
    labelled = ds.expert_labelled
    assert not labelled[state == 7].any() and labelled[state != 7].all()
    np.testing.assert_array_equal(ds.expert_actions[labelled, 0], state[labelled])
    np.testing.assert_array_equal(ds.expert_actions[labelled, 2], state[labelled])


def _gate_state(command: list[float], state_stamp: int | None, source: str) -> bytes:
    """Serialize a gate_state as the intervention gate publishes it with each command."""
    state = {'source': source, 'mode': source, 'stamp': 0.0, 'command': command}
    if state_stamp is not None:
        state['state_stamp'] = state_stamp
    return m.encode_string(json.dumps(state))


def test_commands_pair_with_the_state_the_gate_named(tmp_path: Path) -> None:
    """A command pairs with the joint state its gate_state names, whatever the log times."""
    rng = np.random.default_rng(7)
    msgs: list[tuple[int, str, bytes]] = []
    stamps = [BASE + k * 50 * MS for k in range(40)]
    log_js = [s + int(rng.integers(0, 30)) * MS for s in stamps]
    msgs.append((BASE - 10 * MS, m.TASK, m.encode_float64_array([0, 0, 0, 0, 0.1])))
    msgs.append((BASE - 10 * MS, m.INTERVENTION, m.encode_bool(False)))
    # The intervention flag reaches the recorder late: by log time it is off by states.
    msgs.append((log_js[13], m.INTERVENTION, m.encode_bool(True)))
    msgs.append((log_js[24], m.INTERVENTION, m.encode_bool(False)))
    for k, (s, t) in enumerate(zip(stamps, log_js)):
        msgs.append((t, m.JOINT_STATES, m.encode_joint_state(s, NAMES, [k, 0.0, 0.0])))
        source = 'human' if 10 <= k < 20 else 'policy'
        for c in (1, 2):
            # The gate decided at state k; the recorder logs the command up to 40 ms
            # before or 60 ms after the state (it can see the command first).
            t_cmd = t + int(rng.integers(-40, 60)) * MS
            command = [float(k), float(c), 0.5]
            msgs.append((t_cmd, m.COMMANDS, m.encode_float64_array(command)))
            t_gate = t_cmd + int(rng.integers(-3, 4)) * MS
            if k == 30:  # a gate that names no state: the log-time rule applies
                msgs.append((t_gate, m.GATE_STATE, _gate_state(command, None, source)))
            else:
                msgs.append((t_gate, m.GATE_STATE, _gate_state(command, s, source)))
    msgs.sort(key=lambda x: x[0])
    with EpisodeBagWriter(tmp_path / 'gate') as writer:
        for t, topic, raw in msgs:
            writer.write(topic, raw, t)
        writer.close(_facts('hg_dagger'))
    ds = load_dataset([tmp_path / 'gate'])
    state = ds.positions[:, 0].astype(int)
    decided = ds.actions[:, 0].astype(int)
    named = decided != 30
    assert named.sum() == 78
    np.testing.assert_array_equal(state[named], decided[named])
    np.testing.assert_array_equal(ds.human[named], (decided[named] >= 10) & (decided[named] < 20))
    # Without the gate's names, log time pairs some of these commands with other states.
    shutil.rmtree(tmp_path / 'gate')
    with EpisodeBagWriter(tmp_path / 'gate') as writer:
        for t, topic, raw in msgs:
            if topic != m.GATE_STATE:
                writer.write(topic, raw, t)
        writer.close(_facts('hg_dagger'))
    plain = load_dataset([tmp_path / 'gate'])
    assert (plain.positions[:, 0].astype(int) != plain.actions[:, 0].astype(int)).sum() > 10
