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

"""Episode bags: write/read round trip, outside readers, life cycle and damage handling."""

from __future__ import annotations

import json
import os
from pathlib import Path
import shutil

import numpy as np
from hostile_bags import abandon
import pytest

from imitation_ros.data import messages as m
from imitation_ros.data import (DataWarning, episode_info, EpisodeBagWriter, EpisodeRecord,
                                find_episode_bags, format_bag_info, partial_path, read_episode,
                                scan_episode_bags, write_episode)
from imitation_ros.errors import DataError
from imitation_ros.sim.arm import ArmSim
from imitation_ros.sim.experts import make_expert
from imitation_ros.sim.render import render

T0 = 1_700_000_000 * 1_000_000_000


def _rollout(seed: int = 0, *, images: bool = True, source: str = 'hg_dagger') -> EpisodeRecord:
    """Roll the sim with a scripted expert; humans 'take over' for a stretch of steps."""
    sim = ArmSim(seed=seed)
    task = sim.reset()
    expert = make_expert('above', sim.config, np.random.default_rng(seed))
    positions, velocities, actions, frames = [sim.q.copy()], [sim.qd.copy()], [], []
    if images:
        frames.append(render(sim.config, task, sim.q))
    while not sim.done:
        action = expert.action(sim.q, task)
        actions.append(action)
        sim.step(action)
        positions.append(sim.q.copy())
        velocities.append(sim.qd.copy())
        if images:
            frames.append(render(sim.config, task, sim.q))
    n_steps = len(actions)
    human = np.zeros(n_steps, dtype=bool)
    human[5:12] = True
    human[20:24] = True
    labels = np.array(actions)
    labels[:3] = np.nan  # the expert came online late: no label for the first steps
    return EpisodeRecord(
        joint_names=sim.config.joint_names, t0_ns=T0 + seed * 10**10, dt=sim.config.dt,
        positions=np.array(positions), velocities=np.array(velocities), task=task.vector(),
        actions=np.array(actions), intervention=human, episode=seed, success=sim.success,
        reason=sim.reason, source=source, policy_actions=np.array(actions) + 0.01,
        expert_actions=labels, images=np.stack(frames) if images else None,
        image_steps=np.arange(n_steps + 1) if images else None, policy_version='v3',
        extra={'operator': 'alice'})


@pytest.fixture(scope='module')
def record() -> EpisodeRecord:
    """One realistic episode with images, takeovers and partial expert labels."""
    return _rollout(0)


def _facts(**over: str) -> dict[str, str]:
    facts = {'episode': '0', 'success': 'true', 'reason': 'success', 'source': 'demo',
             'policy_version': '', 'interventions': '0', 'steps': '1',
             'joint_names': 'joint1,joint2,joint3', 'dt': '0.05'}
    facts.update(over)
    return facts


def test_write_read_round_trip(record: EpisodeRecord, tmp_path: Path) -> None:
    """read_episode(write_episode(r)) gives back every array and fact of r."""
    bag = write_episode(record, tmp_path / 'session' / '000000')
    assert bag == tmp_path / 'session' / '000000'
    back = read_episode(bag)
    for name in ('positions', 'velocities', 'task', 'actions', 'intervention', 'policy_actions',
                 'images', 'image_steps'):
        np.testing.assert_array_equal(getattr(back, name), getattr(record, name), err_msg=name)
    np.testing.assert_array_equal(back.expert_actions, record.expert_actions)  # NaN == NaN
    assert back.joint_names == record.joint_names
    assert (back.t0_ns, back.dt, back.episode) == (record.t0_ns, record.dt, record.episode)
    assert (back.success, back.reason, back.source) == (record.success, record.reason,
                                                        record.source)
    assert back.policy_version == 'v3' and back.extra == {'operator': 'alice'}
    no_images = read_episode(bag, with_images=False)
    assert no_images.images is None and no_images.image_steps is None


def test_bag_reads_with_the_mcap_library(record: EpisodeRecord, tmp_path: Path) -> None:
    """An independent reader (mcap + mcap_ros2) sees the contract's topics, counts and values."""
    from mcap.reader import make_reader
    from mcap_ros2.decoder import DecoderFactory

    bag = write_episode(record, tmp_path / 'ep')
    files = sorted(bag.glob('*.mcap'))
    assert len(files) == 1
    msgs: dict[str, list] = {}
    with files[0].open('rb') as f:
        reader = make_reader(f, decoder_factories=[DecoderFactory()])
        assert reader.get_header().profile == 'ros2'
        for schema, channel, message, decoded in reader.iter_decoded_messages():
            assert m.TOPICS[channel.topic] == schema.name
            assert channel.message_encoding == 'cdr'
            msgs.setdefault(channel.topic, []).append((message.log_time, decoded))
    n_steps = record.steps
    counts = {topic: len(v) for topic, v in msgs.items()}
    assert counts == {m.JOINT_STATES: n_steps + 1, m.TASK: n_steps + 1,
                      m.CAMERA_IMAGE: n_steps + 1, m.COMMANDS: n_steps,
                      m.POLICY_ACTION: n_steps, m.EXPERT_ACTION: n_steps - 3,
                      m.INTERVENTION: 5, m.EPISODE: 2}
    dt_ns = round(record.dt * 1e9)
    for t, (log_time, js) in enumerate(msgs[m.JOINT_STATES]):
        assert log_time == record.t0_ns + t * dt_ns
        assert js.header.stamp.sec * 10**9 + js.header.stamp.nanosec == log_time
        assert list(js.name) == list(record.joint_names)
        np.testing.assert_array_equal(js.position, record.positions[t])
    for t, (log_time, cmd) in enumerate(msgs[m.COMMANDS]):
        assert log_time == record.t0_ns + t * dt_ns + 1_000_000
        np.testing.assert_array_equal(cmd.data, record.actions[t])
    log_time, img = msgs[m.CAMERA_IMAGE][7]
    assert (img.encoding, img.height, img.width) == ('rgb8', 96, 96)
    pixels = np.frombuffer(bytes(img.data), dtype=np.uint8).reshape(img.height, img.width, 3)
    np.testing.assert_array_equal(pixels, record.images[7])
    assert [iv.data for _, iv in msgs[m.INTERVENTION]] == [False, True, False, True, False]
    events = [json.loads(e.data) for _, e in msgs[m.EPISODE]]
    assert events[0] == {'event': 'start', 'episode': 0}
    assert events[1] == {'event': 'end', 'episode': 0, 'success': record.success,
                         'reason': record.reason}
    all_times = [t for v in msgs.values() for t, _ in v]
    assert msgs[m.EPISODE][0][0] == min(all_times) and msgs[m.EPISODE][1][0] == max(all_times)


def test_custom_data_and_episode_info(record: EpisodeRecord, tmp_path: Path) -> None:
    """The episode facts are in metadata custom_data and episode_info reads them cheaply."""
    bag = write_episode(record, tmp_path / 'ep')
    info = episode_info(bag)
    assert info.path == bag and info.episode == 0 and info.success == record.success
    assert info.source == 'hg_dagger' and info.policy_version == 'v3'
    assert info.interventions == 2 and info.human_steps == 11
    assert info.steps == record.steps and info.expert_labels == record.steps - 3
    assert info.joint_names == ('joint1', 'joint2', 'joint3') and info.dt == record.dt
    assert info.message_counts[m.COMMANDS] == record.steps
    assert info.duration_s == pytest.approx(record.steps * record.dt + 0.002)
    assert info.custom_data['operator'] == 'alice'
    text = (bag / 'metadata.yaml').read_text()
    assert 'custom_data' in text and 'interventions' in text and 'version: 8' in text


def test_uncertainty_and_help_topics_do_not_change_loading(
        record: EpisodeRecord, tmp_path: Path) -> None:
    """A recorder bag that also holds /imitation/uncertainty and help_request loads the same."""
    from rosbags.rosbag2 import Reader

    from imitation_ros.data.dataset import load_dataset

    src = write_episode(record, tmp_path / 'plain' / 'ep_00000')
    with Reader(src) as reader:
        messages = [(conn.topic, t, bytes(raw)) for conn, t, raw in reader.messages()]
    writer = EpisodeBagWriter(tmp_path / 'help' / 'ep_00000')
    for k, (topic, t_ns, raw) in enumerate(messages):
        writer.write(topic, raw, t_ns)
        if topic == m.POLICY_ACTION:
            writer.write(m.UNCERTAINTY, m.encode_float64(0.01 * k), t_ns)
            writer.write(m.HELP_REQUEST, m.encode_bool(k % 9 == 0), t_ns)
    bag = writer.close(episode_info(src).custom_data)
    info = episode_info(bag)
    assert info.message_counts[m.UNCERTAINTY] == record.steps
    assert info.message_counts[m.HELP_REQUEST] == record.steps
    a, b = read_episode(src, with_images=False), read_episode(bag, with_images=False)
    for name in ('positions', 'actions', 'intervention', 'policy_actions', 'task'):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    plain, helped = load_dataset(tmp_path / 'plain'), load_dataset(tmp_path / 'help')
    assert len(plain) == len(helped) == record.steps
    np.testing.assert_array_equal(plain.actions, helped.actions)


def test_partial_bags_are_skipped_warned_about_once_abandoned(
        record: EpisodeRecord, tmp_path: Path) -> None:
    """A bag being written lives in <dir>.partial: skipped until close(), warned if abandoned."""
    done = write_episode(record, tmp_path / 's' / 'ep0')
    writer = EpisodeBagWriter(tmp_path / 's' / 'ep1')
    writer.write(m.COMMANDS, m.encode_float64_array([0.0, 0.0, 0.0]), T0)
    assert writer.partial_dir == partial_path(tmp_path / 's' / 'ep1')
    assert writer.partial_dir.is_dir() and not (tmp_path / 's' / 'ep1').exists()
    # A finished-looking copy inside a .partial directory nobody writes any more.
    abandon(shutil.copytree(done, tmp_path / 's' / 'ep9.partial' / 'ep9').parent)
    with pytest.warns(DataWarning) as caught:
        assert find_episode_bags(tmp_path) == [done]
    # The one being written is left out without a warning; the abandoned one is named.
    assert [str(w.message).split(':')[0] for w in caught] == [
        f'skipping bag {tmp_path / "s" / "ep9.partial"}']
    bags, skipped = scan_episode_bags(tmp_path / 's' / 'ep9.partial')
    assert bags == [] and [s.path.name for s in skipped] == ['ep9.partial']
    abandon(writer.partial_dir)
    skipped = [s.path.name for s in scan_episode_bags(tmp_path)[1]]
    assert skipped == ['ep1.partial', 'ep9.partial']
    path = writer.close(_facts())
    assert path == tmp_path / 's' / 'ep1' and not writer.partial_dir.exists()
    with pytest.warns(DataWarning, match='ep9.partial'):
        assert find_episode_bags(tmp_path) == [done, path]


def test_truncated_and_metadata_less_bags_are_skipped(record: EpisodeRecord,
                                                      tmp_path: Path) -> None:
    """A bag cut in half or without metadata.yaml is skipped with a DataWarning."""
    good = write_episode(record, tmp_path / 'ep0')
    cut = tmp_path / 'ep1'
    shutil.copytree(good, cut)
    mcap = next(cut.glob('*.mcap'))
    mcap.write_bytes(mcap.read_bytes()[:mcap.stat().st_size // 2])
    bare = tmp_path / 'ep2'
    shutil.copytree(good, bare)
    (bare / 'metadata.yaml').unlink()
    with pytest.warns(DataWarning) as caught:
        assert find_episode_bags(tmp_path) == [good]
    text = ' '.join(str(w.message) for w in caught)
    assert 'ep1' in text and 'truncated' in text and 'ep2' in text and 'metadata' in text
    with pytest.raises(DataError, match='truncated'):
        read_episode(cut)


def test_refuses_to_overwrite(record: EpisodeRecord, tmp_path: Path) -> None:
    """Writing onto a finished bag (or a bag still being written) is a DataError."""
    bag = write_episode(record, tmp_path / 'ep')
    before = sorted(p.name for p in bag.iterdir())
    with pytest.raises(DataError, match='overwrite'):
        write_episode(record, bag)
    with pytest.raises(DataError, match='overwrite'):
        EpisodeBagWriter(bag)
    assert sorted(p.name for p in bag.iterdir()) == before
    writer = EpisodeBagWriter(tmp_path / 'other')
    with pytest.raises(DataError, match='partial'):
        EpisodeBagWriter(tmp_path / 'other')
    writer.abort()


def test_unwritable_directory(tmp_path: Path) -> None:
    """A data directory that cannot be created is a DataError naming the path and a fix."""
    blocker = tmp_path / 'not_a_dir'
    blocker.write_text('x')
    with pytest.raises(DataError, match='not_a_dir.*writable data directory'):
        EpisodeBagWriter(blocker / 'session' / 'ep')
    if os.geteuid() != 0:  # root ignores permission bits
        ro = tmp_path / 'ro'
        ro.mkdir(mode=0o500)
        with pytest.raises(DataError, match='writable'):
            EpisodeBagWriter(ro / 'ep')


def test_context_manager_aborts_on_error(tmp_path: Path) -> None:
    """An exception inside `with` leaves neither a bag nor a .partial directory."""
    target = tmp_path / 'ep'
    with pytest.raises(RuntimeError):
        with EpisodeBagWriter(target) as writer:
            writer.write(m.INTERVENTION, m.encode_bool(True), T0)
            raise RuntimeError('operator pressed ctrl-c')
    assert not target.exists() and not partial_path(target).exists()
    with pytest.warns(DataWarning, match='never closed'):
        with EpisodeBagWriter(target) as writer:
            writer.write(m.INTERVENTION, m.encode_bool(True), T0)
    assert list(tmp_path.iterdir()) == []


def test_close_checks_the_facts(tmp_path: Path) -> None:
    """close() refuses incomplete custom_data and stays open for a corrected retry."""
    writer = EpisodeBagWriter(tmp_path / 'ep')
    writer.write(m.COMMANDS, m.encode_float64_array([1.0, 2.0, 3.0]), T0)
    with pytest.raises(DataError, match="'steps' is missing"):
        writer.close({k: v for k, v in _facts().items() if k != 'steps'})
    with pytest.raises(DataError, match='source'):
        writer.close(_facts(source='teleop'))
    with pytest.raises(DataError, match='not in this bag writer'):
        writer.write('/chatter', m.encode_string('hi'), T0)
    with pytest.raises(DataError, match='not CDR'):
        writer.write(m.COMMANDS, b'hello', T0)
    assert writer.is_open
    bag = writer.close({**_facts(), 'success': False, 'note': 'retry'})
    info = episode_info(bag)
    assert info.success is False and info.custom_data['note'] == 'retry'


def test_record_validation_names_the_field(record: EpisodeRecord) -> None:
    """An EpisodeRecord with inconsistent shapes is a DataError naming the field."""
    good = {k: getattr(record, k) for k in record.__dataclass_fields__}
    with pytest.raises(DataError, match='positions'):
        EpisodeRecord(**{**good, 'positions': record.positions[:-1]})
    with pytest.raises(DataError, match='intervention'):
        EpisodeRecord(**{**good, 'intervention': record.intervention[:-1]})
    with pytest.raises(DataError, match='source'):
        EpisodeRecord(**{**good, 'source': 'teleop'})
    with pytest.raises(DataError, match='image_steps'):
        EpisodeRecord(**{**good, 'image_steps': record.image_steps + 1})
    with pytest.raises(DataError, match='standard keys'):
        EpisodeRecord(**{**good, 'extra': {'success': 'true'}})


def test_find_sorts_naturally_and_format_bag_info(tmp_path: Path) -> None:
    """Bags are found in natural order at any depth and bag-info tabulates them with totals."""
    a = write_episode(_rollout(1, images=False, source='demo'), tmp_path / 's1' / 'ep10')
    b = write_episode(_rollout(2, images=False, source='dagger'), tmp_path / 's1' / 'ep9')
    c = write_episode(_rollout(3, images=False, source='demo'), tmp_path / 'deep' / 'er' / 'e')
    assert find_episode_bags(tmp_path) == [c, b, a]
    assert find_episode_bags(a) == [a]
    text = format_bag_info(tmp_path)
    lines = text.splitlines()
    assert lines[0].split()[:5] == ['path', 'episode', 'duration', 'steps', 'outcome']
    assert any(line.startswith('s1/ep9 ') and 'dagger' in line for line in lines)
    assert 'episodes: 3' in text and 'by source: dagger 1, demo 2' in text
    assert 'human-labelled samples: 33' in text
    with pytest.raises(DataError, match='does not exist'):
        find_episode_bags(tmp_path / 'missing')
