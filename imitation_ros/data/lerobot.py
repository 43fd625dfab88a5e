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
LeRobotDataset (format v3.0) both ways: export a :class:`Dataset`, load one back.

Layout written by :func:`export_lerobot` (what LeRobot's ``LeRobotDataset``
reads; ``CODEBASE_VERSION = "v3.0"`` in lerobot's ``dataset_metadata.py``):

* ``meta/info.json``: codebase_version, fps (1 / the bags' ``dt``), robot_type,
  totals, chunks_size, file size limits, data_path / video_path templates,
  splits, and ``features`` (dtype, shape, names per key; the camera's video
  info: codec, pixel format, size, fps);
* ``meta/tasks.parquet``: the task strings (pandas index ``task``) and ``task_index``;
* ``meta/episodes/chunk-000/file-000.parquet``: one row per episode:
  ``episode_index``, ``tasks``, ``length``, ``data/chunk_index``,
  ``data/file_index``, ``dataset_from_index``, ``dataset_to_index``,
  ``videos/<key>/{chunk_index,file_index,from_timestamp,to_timestamp}``,
  ``meta/episodes/{chunk_index,file_index}``, ``stats/<feature>/<stat>``, and
  the bag's facts (``imitation_ros/bag``, ``imitation_ros/custom_data`` JSON);
* ``meta/stats.json``: min, max, mean, std and count per feature (frames per
  channel, in [0, 1], as LeRobot normalizes them);
* ``data/chunk-CCC/file-FFF.parquet``: one row per sample: ``observation.state``
  (joint positions, rad), ``observation.velocity`` (rad/s),
  ``observation.environment_state`` (the task vector), ``action`` (the executed
  command, rad), and the extra features ``expert_action`` (rad, NaN without a
  label), ``intervention`` (the human drove this step) and ``source`` (0 demo,
  1 hg_dagger, 2 dagger), plus LeRobot's ``timestamp``, ``frame_index``,
  ``episode_index``, ``index`` and ``task_index``;
* ``videos/observation.images.camera/chunk-CCC/file-FFF.mp4``: the camera, one
  frame per sample, episodes back to back (PyAV: SVT-AV1 yuv420p like LeRobot,
  or H.264 RGB lossless with ``codec='lossless'``); without PyAV, or with
  ``video=False``, frames go into the data files as PNG images (dtype ``image``).

Numbers are stored as float64 so that :func:`load_lerobot` gives back the
exact arrays that were exported; LeRobot reads any dtype a feature declares.
pyarrow (and PyAV for videos) are imported only here.
"""

from __future__ import annotations

import json
from pathlib import Path
import shutil
import tempfile
from typing import Any, Sequence
import warnings

import numpy as np

from .dataset import Dataset, SOURCE_CODES
from .episode import EpisodeInfo, SOURCES
from .index import ImageBlock
from ..errors import DataError
from ..interface.task import PLANAR_TASK_LAYOUT

#: The LeRobotDataset format version written and read.
CODEBASE_VERSION = 'v3.0'
CAMERA_KEY = 'observation.images.camera'
CHUNKS_SIZE = 1000
#: Episodes per data (and video) file.
EPISODES_PER_FILE = 200
DATA_PATH = 'data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet'
VIDEO_PATH = 'videos/{video_key}/chunk-{chunk_index:03d}/file-{file_index:03d}.mp4'
EPISODES_PATH = 'meta/episodes/chunk-000/file-000.parquet'
#: Video codecs: name -> (PyAV encoder, pixel format, encoder options, codec name in info).
CODECS: dict[str, tuple[str, str, dict[str, str], str]] = {
    'av1': ('libsvtav1', 'yuv420p', {'g': '2', 'crf': '30', 'preset': '12'}, 'av1'),
    'h264': ('libx264', 'yuv420p', {'g': '2', 'crf': '23'}, 'h264'),
    'lossless': ('libx264rgb', 'rgb24', {'qp': '0', 'g': '2'}, 'h264'),
}
_VECTORS = (('observation.state', 'positions'), ('observation.velocity', 'velocities'),
            ('observation.environment_state', 'task'), ('action', 'actions'),
            ('expert_action', 'expert_actions'))


def _file_of(episode: int) -> tuple[int, int]:
    f = episode // EPISODES_PER_FILE
    return f // CHUNKS_SIZE, f % CHUNKS_SIZE


def _stats(values: np.ndarray) -> dict[str, Any]:
    v = values.astype(np.float64)
    finite = np.where(np.isfinite(v), v, np.nan)
    with warnings.catch_warnings():  # a column without any value (no expert label) gives 0
        warnings.simplefilter('ignore', RuntimeWarning)
        out = {'min': np.nanmin(finite, axis=0), 'max': np.nanmax(finite, axis=0),
               'mean': np.nanmean(finite, axis=0), 'std': np.nanstd(finite, axis=0)}
    out = {k: np.nan_to_num(x, nan=0.0).tolist() for k, x in out.items()}
    out['count'] = [int(len(values))]
    return out


def _image_stats(images: np.ndarray) -> dict[str, Any]:
    """Per-channel stats of frames in [0, 1], shape (3, 1, 1) as LeRobot keeps them."""
    step = max(1, len(images) // 500)  # a bounded sample of the frames
    px = np.asarray(images[::step], dtype=np.float64).reshape(-1, 3) / 255.0
    shape = lambda x: np.asarray(x).reshape(3, 1, 1).tolist()  # noqa: E731
    return {'min': shape(px.min(0)), 'max': shape(px.max(0)), 'mean': shape(px.mean(0)),
            'std': shape(px.std(0)), 'count': [int(len(images))]}


def _fixed(pa: Any, values: np.ndarray) -> Any:
    """Return an (N, k) float64 array as a pyarrow fixed_size_list column."""
    flat = pa.array(np.ascontiguousarray(values, dtype=np.float64).reshape(-1))
    return pa.FixedSizeListArray.from_arrays(flat, values.shape[1])


def _tasks_table(pa: Any, tasks: Sequence[str]) -> Any:
    """Build the tasks table with pandas metadata (``pd.read_parquet`` indexes it by task)."""
    table = pa.table({'task_index': pa.array(range(len(tasks)), pa.int64()),
                      'task': pa.array(list(tasks), pa.string())})
    meta = {'index_columns': ['task'], 'column_indexes': [], 'columns': [
        {'name': 'task_index', 'field_name': 'task_index', 'pandas_type': 'int64',
         'numpy_type': 'int64', 'metadata': None},
        {'name': 'task', 'field_name': 'task', 'pandas_type': 'unicode', 'numpy_type': 'object',
         'metadata': None}], 'creator': {'library': 'pyarrow', 'version': pa.__version__},
        'pandas_version': '2.2.0'}
    return table.replace_schema_metadata({b'pandas': json.dumps(meta).encode()})


def export_lerobot(data: Dataset, out: Path | str, *, task: str = 'reach the goal around the '
                   'obstacle', robot_type: str = 'imitation_ros', video: bool = True,
                   codec: str = 'av1') -> Path:
    """
    Write ``data`` as a LeRobotDataset v3.0 under ``out`` (which must not exist).

    :param data: loaded episodes (with images to export the camera).
    :param task: the task string every episode gets.
    :param video: store the camera as mp4 (PyAV); False stores PNG images.
    :param codec: 'av1' (LeRobot's default), 'h264' or 'lossless' (H.264 RGB, exact).
    :raises DataError: ``out`` exists, the episodes have different control periods,
        or the codec is unknown.
    """
    import pyarrow as pa  # lazy: pyarrow only for the LeRobot format
    import pyarrow.parquet as pq  # lazy: pyarrow only for the LeRobot format

    out = Path(out)
    if out.exists():
        raise DataError(f'{out} exists; export into a new folder')
    if codec not in CODECS:
        raise DataError(f'unknown codec {codec!r}; choose one of {", ".join(CODECS)}')
    dts = {round(e.dt, 9) for e in data.episodes if e.dt is not None}
    if len(dts) > 1:
        raise DataError(f'the episodes have control periods {sorted(dts)} s; LeRobot needs one '
                        'fps per dataset: export them separately')
    fps = round(1.0 / dts.pop()) if dts else 20
    images = data.images
    if images is not None and video:
        try:
            import av  # noqa: F401
        except ImportError:
            video = False  # the format allows frames as PNG images in the data files
    n = len(data.joint_names)
    features: dict[str, Any] = {
        'observation.state': {'dtype': 'float64', 'shape': [n], 'names': list(data.joint_names)},
        'observation.velocity': {'dtype': 'float64', 'shape': [n],
                                 'names': list(data.joint_names)},
        'observation.environment_state': {'dtype': 'float64', 'shape': [data.task.shape[1]],
                                          'names': _task_names(data.task.shape[1])},
        'action': {'dtype': 'float64', 'shape': [n], 'names': list(data.joint_names)},
        'expert_action': {'dtype': 'float64', 'shape': [n], 'names': list(data.joint_names)},
        'intervention': {'dtype': 'bool', 'shape': [1], 'names': None},
        'source': {'dtype': 'int64', 'shape': [1], 'names': list(SOURCES)},
    }
    if images is not None:
        h, w = int(images.shape[1]), int(images.shape[2])
        features[CAMERA_KEY] = {'dtype': 'video' if video else 'image', 'shape': [h, w, 3],
                                'names': ['height', 'width', 'channels']}
        if video:
            enc, pix, _, name = CODECS[codec]
            features[CAMERA_KEY]['info'] = {
                'video.height': h, 'video.width': w, 'video.codec': name,
                'video.pix_fmt': 'yuv420p' if pix == 'yuv420p' else 'gbrp',
                'video.is_depth_map': False, 'video.fps': fps, 'video.channels': 3,
                'has_audio': False}
    for key in ('timestamp', 'frame_index', 'episode_index', 'index', 'task_index'):
        features[key] = {'dtype': 'float32' if key == 'timestamp' else 'int64', 'shape': [1],
                         'names': None}
    tmp = out.with_name(out.name + '.partial')
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    episodes = len(data.episodes)
    starts = np.searchsorted(data.episode_id, np.arange(episodes + 1), side='left')
    ep_rows: list[dict[str, Any]] = []
    for first in range(0, episodes, EPISODES_PER_FILE):
        eps = range(first, min(first + EPISODES_PER_FILE, episodes))
        lo, hi = int(starts[eps[0]]), int(starts[eps[-1] + 1])
        chunk, file = _file_of(first)
        cols: dict[str, Any] = {key: _fixed(pa, getattr(data, attr)[lo:hi])
                                for key, attr in _VECTORS}
        cols['intervention'] = pa.array(data.human[lo:hi], pa.bool_())
        cols['source'] = pa.array(data.source[lo:hi].astype(np.int64), pa.int64())
        cols['timestamp'] = pa.array((data.step[lo:hi] / fps).astype(np.float32), pa.float32())
        cols['frame_index'] = pa.array(data.step[lo:hi], pa.int64())
        cols['episode_index'] = pa.array(data.episode_id[lo:hi], pa.int64())
        cols['index'] = pa.array(np.arange(lo, hi, dtype=np.int64), pa.int64())
        cols['task_index'] = pa.array(np.zeros(hi - lo, dtype=np.int64), pa.int64())
        if images is not None and not video:
            cols[CAMERA_KEY] = _png_column(pa, images, lo, hi)
        path = tmp / DATA_PATH.format(chunk_index=chunk, file_index=file)
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.table(cols), path, compression='snappy')
        if images is not None and video:
            vpath = tmp / VIDEO_PATH.format(video_key=CAMERA_KEY, chunk_index=chunk,
                                            file_index=file)
            _encode(vpath, images, lo, hi, fps, codec)
        for e in eps:
            a, b = int(starts[e]), int(starts[e + 1])
            row = {'episode_index': e, 'tasks': [task], 'length': b - a,
                   'data/chunk_index': chunk, 'data/file_index': file,
                   'dataset_from_index': a, 'dataset_to_index': b,
                   'meta/episodes/chunk_index': 0, 'meta/episodes/file_index': 0}
            if images is not None and video:
                row.update({f'videos/{CAMERA_KEY}/chunk_index': chunk,
                            f'videos/{CAMERA_KEY}/file_index': file,
                            f'videos/{CAMERA_KEY}/from_timestamp': (a - lo) / fps,
                            f'videos/{CAMERA_KEY}/to_timestamp': (b - lo) / fps})
            for key, attr in _VECTORS:
                for stat, value in _stats(getattr(data, attr)[a:b]).items():
                    row[f'stats/{key}/{stat}'] = value
            info = data.episodes[e]
            row['imitation_ros/bag'] = f'{info.path.parent.name}/{info.path.name}'
            row['imitation_ros/custom_data'] = json.dumps(dict(info.custom_data))
            row['imitation_ros/message_counts'] = json.dumps(dict(info.message_counts))
            ep_rows.append(row)
    path = tmp / EPISODES_PATH
    path.parent.mkdir(parents=True, exist_ok=True)
    if ep_rows:
        pq.write_table(pa.Table.from_pylist(ep_rows), path, compression='snappy')
    pq.write_table(_tasks_table(pa, [task]), tmp / 'meta' / 'tasks.parquet')
    stats: dict[str, Any] = {key: _stats(getattr(data, attr)) for key, attr in _VECTORS}
    stats['intervention'] = _stats(data.human[:, None].astype(np.float64))
    stats['source'] = _stats(data.source[:, None].astype(np.float64))
    if images is not None:
        stats[CAMERA_KEY] = _image_stats(images)
    info_json = {
        'codebase_version': CODEBASE_VERSION, 'robot_type': robot_type,
        'total_episodes': episodes, 'total_frames': len(data), 'total_tasks': 1,
        'chunks_size': CHUNKS_SIZE, 'data_files_size_in_mb': 100,
        'video_files_size_in_mb': 200, 'fps': fps,
        'splits': {'train': f'0:{episodes}'}, 'data_path': DATA_PATH,
        'video_path': VIDEO_PATH if images is not None and video else None,
        'features': features}
    (tmp / 'meta' / 'info.json').write_text(json.dumps(info_json, indent=2))
    (tmp / 'meta' / 'stats.json').write_text(json.dumps(stats, indent=2))
    tmp.rename(out)
    return out


def _task_names(k: int) -> list[str]:
    if k == len(PLANAR_TASK_LAYOUT):
        return list(PLANAR_TASK_LAYOUT)
    return [f'task_{i}' for i in range(k)]


def _png_column(pa: Any, images: np.ndarray, lo: int, hi: int) -> Any:
    import cv2  # lazy: OpenCV only for PNG image columns
    blobs = []
    for i in range(lo, hi):
        ok, buf = cv2.imencode('.png', np.ascontiguousarray(images[i][:, :, ::-1]))
        if not ok:
            raise DataError('cannot encode a frame as PNG')
        blobs.append({'bytes': buf.tobytes(), 'path': None})
    return pa.array(blobs, pa.struct([('bytes', pa.binary()), ('path', pa.string())]))


def _encode(path: Path, images: np.ndarray, lo: int, hi: int, fps: int, codec: str) -> None:
    import av  # lazy: PyAV only for video

    enc, pix, options, _ = CODECS[codec]
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), 'w') as container:
        stream = container.add_stream(enc, fps, options=dict(options))
        stream.pix_fmt = pix
        stream.height, stream.width = int(images.shape[1]), int(images.shape[2])
        for i in range(lo, hi):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(images[i]), format='rgb24')
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


# ---------------------------------------------------------------------------------------------
# Reading


def _read_json(path: Path, limit: int = 64 << 20) -> Any:
    try:
        with path.open('rb') as fh:
            raw = fh.read(limit + 1)
        if len(raw) > limit:
            raise DataError(f'{path} is larger than {limit} bytes')
        return json.loads(raw)
    except (OSError, ValueError) as exc:
        raise DataError(f'cannot read {path}: {exc}') from exc


def load_lerobot(root: Path | str, *, with_images: bool = False
                 ) -> tuple[Dataset, ImageBlock | None]:
    """
    Read a LeRobotDataset v3.0 folder back into :class:`Dataset` arrays.

    ``observation.state`` gives the joint positions (its ``names`` the joints),
    ``action`` the actions; ``observation.velocity`` (NaN when absent),
    ``observation.environment_state`` (the task; width 0 when absent),
    ``expert_action`` (NaN), ``intervention`` (False) and ``source`` (demo)
    are read when present. Returns the dataset (frames aside) and its frames.

    :raises DataError: not v3.0, a required feature or file is missing, or the
        files disagree with ``meta/info.json``.
    """
    import pyarrow.parquet as pq  # lazy: pyarrow only for the LeRobot format

    root = Path(root)
    info = _read_json(root / 'meta' / 'info.json')
    if not isinstance(info, dict) or info.get('codebase_version') != CODEBASE_VERSION:
        raise DataError(f'{root} is a LeRobotDataset of version '
                        f'{info.get("codebase_version") if isinstance(info, dict) else "?"}; '
                        f'this loader reads {CODEBASE_VERSION} (convert it with LeRobot first)')
    features = info.get('features') or {}
    for key in ('observation.state', 'action'):
        if key not in features:
            raise DataError(f'{root}: meta/info.json has no {key!r} feature; imitation_ros '
                            'needs the joint state and the action')
    names = features['observation.state'].get('names') or []
    if isinstance(names, dict):  # older exports name axes in a mapping
        names = next(iter(names.values()), [])
    n = int(features['observation.state']['shape'][0])
    names = tuple(str(x) for x in names) if len(names) == n else tuple(
        f'joint{i + 1}' for i in range(n))
    try:
        ep_table = pq.read_table(root / EPISODES_PATH.rsplit('/', 2)[0]).to_pylist() if \
            (root / 'meta' / 'episodes').is_dir() else []
        files = sorted((root / 'data').glob('chunk-*/file-*.parquet'))
        if not files:
            raise DataError(f'{root}/data holds no parquet file')
        always = ('episode_index', 'frame_index', 'index')
        optional = ('observation.state', 'observation.velocity', 'observation.environment_state',
                    'action', 'expert_action', 'intervention', 'source')
        wanted = [k for k in optional if k in features] + list(always)
        table = pq.read_table(files, columns=wanted) if len(files) > 1 else \
            pq.read_table(files[0], columns=wanted)
    except DataError:
        raise
    except Exception as exc:  # noqa: B902 - pyarrow raises many kinds on bad files
        raise DataError(f'cannot read the LeRobotDataset {root}: {exc}') from exc
    order = np.argsort(np.asarray(table['index']), kind='stable')
    count = len(order)

    def vec(key: str, width: int, fill: float) -> np.ndarray:
        if key not in table.column_names:
            return np.full((count, width), fill)
        col = table[key].combine_chunks()
        flat = np.asarray(col.flatten() if hasattr(col, 'flatten') else col, dtype=np.float64)
        return flat.reshape(count, -1)[order] if count else np.zeros((0, width))

    k = int(features.get('observation.environment_state', {'shape': [0]})['shape'][0])
    episode_index = np.asarray(table['episode_index'], dtype=np.int64)[order]
    uniq, episode_id = np.unique(episode_index, return_inverse=True)
    source = (np.asarray(table['source'], dtype=np.int64)[order].astype(np.int8)
              if 'source' in table.column_names else np.zeros(count, dtype=np.int8))
    human = (np.asarray(table['intervention'], dtype=bool)[order]
             if 'intervention' in table.column_names else np.zeros(count, dtype=bool))
    by_index = {int(r['episode_index']): r for r in ep_table}
    fps = float(info.get('fps') or 20)
    episodes = tuple(_episode_info(root, int(e), by_index.get(int(e), {}), fps,
                                   int((episode_index == e).sum()), names) for e in uniq)
    data = Dataset(
        joint_names=names, positions=vec('observation.state', n, np.nan),
        velocities=vec('observation.velocity', n, np.nan),
        task=vec('observation.environment_state', k, 0.0), actions=vec('action', n, np.nan),
        expert_actions=vec('expert_action', n, np.nan), human=human, source=source,
        episode_id=episode_id.astype(np.int64),
        step=np.asarray(table['frame_index'], dtype=np.int64)[order], images=None,
        episodes=episodes)
    frames = None
    if with_images:
        frames = _read_frames(root, info, features, ep_table, count, data)
    return data, frames


def _episode_info(root: Path, e: int, row: dict, fps: float, length: int,
                  names: tuple[str, ...]) -> EpisodeInfo:
    custom: dict[str, str] = {}
    counts: dict[str, int] = {}
    try:
        custom = {str(k): str(v) for k, v in json.loads(
            row.get('imitation_ros/custom_data') or '{}').items()}
        counts = {str(k): int(v) for k, v in json.loads(
            row.get('imitation_ros/message_counts') or '{}').items()}
    except (ValueError, TypeError, AttributeError):
        custom, counts = {}, {}
    bag = str(row.get('imitation_ros/bag') or f'lerobot/episode_{e:06d}')
    source = custom.get('source', 'demo')
    return EpisodeInfo(
        path=root / bag, episode=int(custom.get('episode', e)) if custom.get(
            'episode', '').lstrip('-').isdigit() else e,
        start_ns=0, duration_s=length / fps, message_counts=counts,
        success=custom.get('success') == 'true', reason=custom.get('reason', ''),
        source=source if source in SOURCE_CODES else 'demo',
        policy_version=custom.get('policy_version', ''), interventions=None, steps=length,
        joint_names=names, dt=1.0 / fps, human_steps=None, expert_labels=None,
        custom_data=custom or {'source': 'demo'})


def _read_frames(root: Path, info: dict, features: dict, ep_table: list[dict], count: int,
                 data: Dataset) -> ImageBlock:
    """Decode the camera into an unlinked scratch file, mapped (bounded memory)."""
    ft = features.get(CAMERA_KEY)
    if ft is None:
        raise DataError(f'{root} has no {CAMERA_KEY} feature; load it without images')
    h, w = int(ft['shape'][0]), int(ft['shape'][1])
    scratch = tempfile.TemporaryFile()
    out = np.memmap(scratch, dtype=np.uint8, mode='w+', shape=(max(count, 1), h, w, 3))
    if ft['dtype'] == 'video':
        import av  # lazy: PyAV only for video

        fps = float(info['fps'])
        row = 0
        for r in sorted(ep_table, key=lambda x: int(x['episode_index'])):
            path = root / info['video_path'].format(
                video_key=CAMERA_KEY, chunk_index=r[f'videos/{CAMERA_KEY}/chunk_index'],
                file_index=r[f'videos/{CAMERA_KEY}/file_index'])
            first = round(r[f'videos/{CAMERA_KEY}/from_timestamp'] * fps)
            length = int(r['length'])
            got = 0
            with av.open(str(path)) as container:
                for frame in container.decode(video=0):
                    i = round(float(frame.time) * fps)
                    if first <= i < first + length:
                        out[row + i - first] = frame.to_ndarray(format='rgb24')
                        got += 1
                    elif i >= first + length:
                        break
            if got != length:
                raise DataError(f'{path} holds {got} frames of episode {r["episode_index"]}, '
                                f'its metadata says {length}')
            row += length
    else:
        import cv2  # lazy: OpenCV only for PNG image columns
        import pyarrow.parquet as pq  # lazy: pyarrow only for the LeRobot format

        row = 0
        for f in sorted((root / 'data').glob('chunk-*/file-*.parquet')):
            for blob in pq.read_table(f, columns=[CAMERA_KEY])[CAMERA_KEY].to_pylist():
                img = cv2.imdecode(np.frombuffer(blob['bytes'], np.uint8), cv2.IMREAD_COLOR)
                out[row] = img[:, :, ::-1]
                row += 1
    out.flush()
    frames = np.memmap(scratch, dtype=np.uint8, mode='r', shape=(max(count, 1), h, w, 3))
    return ImageBlock(rows=count, frame=(h, w, 3), array=frames[:count])
