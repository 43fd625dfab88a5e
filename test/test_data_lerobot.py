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

"""LeRobotDataset v3.0 both ways: export from bags, every field LeRobot reads, read back."""

from __future__ import annotations

import json
from pathlib import Path
import shutil

import av
import numpy as np
import pyarrow.parquet as pq
import pytest

from imitation_ros.collect import collect
from imitation_ros.cli.main import main
from imitation_ros.data import Dataset, EpisodeRecord, load_dataset, write_episode
from imitation_ros.data.lerobot import CAMERA_KEY, export_lerobot
from imitation_ros.errors import DataError

ARRAYS = ('positions', 'velocities', 'task', 'actions', 'expert_actions', 'human', 'source',
          'episode_id', 'step')
#: LeRobot's default timestamp tolerance when it picks video frames (tolerance_s), s.
TOLERANCE_S = 1e-4


@pytest.fixture(scope='module')
def bags(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Collect demonstrations with camera frames and write one HG-DAgger episode with labels."""
    root = tmp_path_factory.mktemp('bags')
    collect('multi', 5, root, seed=2, session='demos', camera_every=2, progress=False)
    rng = np.random.default_rng(0)
    steps = 12
    positions = np.cumsum(rng.normal(0, 0.02, (steps + 1, 3)), axis=0)
    labels = positions[:steps] + 0.01
    labels[::4] = np.nan
    write_episode(EpisodeRecord(
        joint_names=('joint1', 'joint2', 'joint3'), t0_ns=1_900_000_000_000_000_000, dt=0.05,
        positions=positions, velocities=np.zeros((steps + 1, 3)),
        task=np.array([2.0, 0.0, 1.5, 0.0, 0.15]), actions=positions[:steps] + 0.02,
        intervention=np.arange(steps) >= 5, episode=0, success=True, reason='success',
        source='hg_dagger', expert_actions=labels, policy_version='v2',
        images=rng.integers(0, 255, (steps + 1, 96, 96, 3), dtype=np.uint8),
        image_steps=np.arange(steps + 1)), root / 'live' / 'ep_00000')
    return root


@pytest.fixture(scope='module')
def data(bags: Path) -> Dataset:
    """Load the bags with images, without the index."""
    return load_dataset(bags, with_images=True, index=False)


def _same(a: Dataset, b: Dataset) -> None:
    for name in ARRAYS:
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    assert a.joint_names == b.joint_names


@pytest.mark.parametrize('how', ['lossless', 'png'])
def test_bags_to_lerobot_to_dataset_gives_the_same_arrays(data: Dataset, tmp_path: Path,
                                                          how: str) -> None:
    """An export read back (lossless video or PNG frames) gives exactly the loaded arrays."""
    out = export_lerobot(data, tmp_path / 'lr', codec='lossless', video=how != 'png')
    back = load_dataset(out, with_images=True)
    _same(back, data)
    np.testing.assert_array_equal(np.asarray(back.images), np.asarray(data.images))
    assert [e.source for e in back.episodes] == [e.source for e in data.episodes]
    assert back.summary.folders[0].format == 'lerobot'


def test_the_default_av1_video_is_close(data: Dataset, tmp_path: Path) -> None:
    """With LeRobot's own codec (SVT-AV1) the numbers are exact and the frames close."""
    back = load_dataset(export_lerobot(data, tmp_path / 'lr'), with_images=True)
    _same(back, data)
    err = np.abs(np.asarray(back.images, dtype=np.int16) - np.asarray(data.images, np.int16))
    assert err.mean() < 4.0


def test_the_export_holds_every_field_lerobot_reads(data: Dataset, tmp_path: Path) -> None:
    """info.json, tasks, episodes, stats, data and video carry what LeRobotDataset v3.0 reads."""
    out = export_lerobot(data, tmp_path / 'lr')
    info = json.loads((out / 'meta' / 'info.json').read_text())
    assert info['codebase_version'] == 'v3.0' and info['fps'] == 20
    for key in ('robot_type', 'total_episodes', 'total_frames', 'total_tasks', 'chunks_size',
                'data_files_size_in_mb', 'video_files_size_in_mb', 'data_path', 'video_path',
                'splits', 'features'):
        assert key in info, key
    assert (info['total_episodes'], info['total_frames']) == (len(data.episodes), len(data))
    assert info['splits'] == {'train': f'0:{len(data.episodes)}'}
    features = info['features']
    for key in ('timestamp', 'frame_index', 'episode_index', 'index', 'task_index'):
        assert features[key]['shape'] == [1]
    assert features['timestamp']['dtype'] == 'float32'
    assert features['observation.state']['names'] == list(data.joint_names)
    for key in ('intervention', 'source', 'expert_action'):
        assert key in features
    video = features[CAMERA_KEY]
    assert video['dtype'] == 'video' and video['shape'] == [96, 96, 3]
    tasks = pq.read_table(out / 'meta' / 'tasks.parquet')
    pandas_meta = json.loads(tasks.schema.metadata[b'pandas'])
    assert pandas_meta['index_columns'] == ['task'] and tasks['task_index'].to_pylist() == [0]
    episodes = pq.read_table(out / 'meta' / 'episodes').to_pylist()
    assert [e['episode_index'] for e in episodes] == list(range(len(data.episodes)))
    stats = json.loads((out / 'meta' / 'stats.json').read_text())
    for key, ft in features.items():
        if key in ('timestamp', 'frame_index', 'episode_index', 'index', 'task_index'):
            continue
        assert set(stats[key]) >= {'min', 'max', 'mean', 'std', 'count'}, key
    assert np.asarray(stats[CAMERA_KEY]['mean']).shape == (3, 1, 1)
    rows = {}
    for e in episodes:
        path = out / info['data_path'].format(chunk_index=e['data/chunk_index'],
                                              file_index=e['data/file_index'])
        table = pq.read_table(path)
        non_video = {k for k, ft in features.items() if ft['dtype'] != 'video'}
        assert set(table.column_names) == non_video
        index = np.asarray(table['index'])
        sel = (index >= e['dataset_from_index']) & (index < e['dataset_to_index'])
        assert sel.sum() == e['length'] and set(table['episode_index'].filter(sel).to_pylist()) \
            == {e['episode_index']}
        assert e['tasks'] == ['reach the goal around the obstacle']
        rows[e['episode_index']] = (e, table.filter(sel))
    # LeRobot picks frame ``from_timestamp + timestamp`` of the episode's video file.
    for e, table in list(rows.values())[::2]:
        vpath = out / info['video_path'].format(
            video_key=CAMERA_KEY, chunk_index=e[f'videos/{CAMERA_KEY}/chunk_index'],
            file_index=e[f'videos/{CAMERA_KEY}/file_index'])
        with av.open(str(vpath)) as container:
            stream = container.streams.video[0]
            assert (stream.codec_context.name, stream.width, stream.height) == ('libdav1d', 96, 96)
            times = np.array([float(f.time) for f in container.decode(video=0)])
        for ts in table['timestamp'].to_pylist():
            want = e[f'videos/{CAMERA_KEY}/from_timestamp'] + ts
            assert np.min(np.abs(times - want)) < TOLERANCE_S
        assert e[f'videos/{CAMERA_KEY}/to_timestamp'] - e[f'videos/{CAMERA_KEY}/from_timestamp'] \
            == pytest.approx(e['length'] / info['fps'])


def test_train_accepts_a_lerobot_folder(data: Dataset, tmp_path: Path,
                                        capsys: pytest.CaptureFixture) -> None:
    """imitation-ros export writes the folder; imitation-ros train --data learns from it."""
    out = tmp_path / 'lr'
    assert main(['export', '--format', 'lerobot', '--data', str(next(iter({
        e.path.parent.parent for e in data.episodes}))), '--out', str(out)]) == 0
    assert 'LeRobotDataset v3.0' in capsys.readouterr().out
    model = tmp_path / 'm.onnx'
    assert main(['train', '--data', str(out), '--policy', 'mse', '--out', str(model),
                 '--steps', '20', '--no-progress']) == 0
    from imitation_ros.runtime.onnx_policy import OnnxPolicy
    folders = OnnxPolicy(model).training_data['data']['folders']
    assert folders[0]['format'] == 'lerobot' and folders[0]['episodes'] == len(data.episodes)


def test_a_lerobot_folder_of_another_version_is_refused(data: Dataset, tmp_path: Path) -> None:
    """A v2.1 dataset is a DataError that says to convert it."""
    out = export_lerobot(data, tmp_path / 'lr', video=False)
    info = json.loads((out / 'meta' / 'info.json').read_text())
    info['codebase_version'] = 'v2.1'
    (out / 'meta' / 'info.json').write_text(json.dumps(info))
    with pytest.raises(DataError, match='v2.1'):
        load_dataset(out)


def test_an_existing_folder_is_not_overwritten(data: Dataset, tmp_path: Path) -> None:
    """Export refuses a folder that exists."""
    (tmp_path / 'lr').mkdir()
    with pytest.raises(DataError, match='exists'):
        export_lerobot(data, tmp_path / 'lr')


def _lerobot_dataset_class() -> type | None:
    for module in ('lerobot.datasets.lerobot_dataset', 'ledataset.datasets.lerobot_dataset'):
        try:
            return __import__(module, fromlist=['LeRobotDataset']).LeRobotDataset
        except Exception:  # noqa: B902 - absent, or present but not importable here
            continue
    return None


@pytest.mark.skipif(_lerobot_dataset_class() is None, reason=(
    "LeRobot's dataset class is not importable beside the pinned torch 2.13.0+cpu: "
    'lerobot-dataset 0.4.4 needs torchvision, whose only PyPI build (0.28.0) is linked '
    'against the CUDA torch and fails to load (operator torchvision::nms does not exist), and '
    'pins opencv-python-headless<4.13 (we pin 5.0.0.93)'))
def test_lerobots_own_dataset_class_reads_the_export(data: Dataset, tmp_path: Path) -> None:
    """Where LeRobot installs, its LeRobotDataset reads the export with the same numbers."""
    out = export_lerobot(data, tmp_path / 'lr', codec='lossless')
    ds = _lerobot_dataset_class()('local/imitation_ros', root=out)
    assert len(ds) == len(data) and ds.meta.total_episodes == len(data.episodes)
    for i in (0, len(data) // 2, len(data) - 1):
        item = ds[i]
        np.testing.assert_allclose(np.asarray(item['observation.state']), data.positions[i])
        np.testing.assert_allclose(np.asarray(item['action']), data.actions[i])
        assert bool(item['intervention']) == bool(data.human[i])
        frame = np.asarray(item[CAMERA_KEY]).transpose(1, 2, 0) * 255.0
        np.testing.assert_allclose(frame, np.asarray(data.images[i]), atol=1.0)


def test_a_dataset_without_a_camera_exports_without_video(bags: Path, tmp_path: Path) -> None:
    """Loaded without images, the export has no camera feature and reads back the same."""
    data = load_dataset(bags, index=False)
    out = export_lerobot(data, tmp_path / 'lr')
    info = json.loads((out / 'meta' / 'info.json').read_text())
    assert CAMERA_KEY not in info['features'] and info['video_path'] is None
    _same(load_dataset(out), data)
    shutil.rmtree(out)
