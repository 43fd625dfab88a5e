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
Throughput of the recorder: messages and MB per second into episode bags, counted per topic.

Each *load* runs the ``recorder`` executable (its params file plus a data folder of
the load's own) and a load generator (:class:`~imitation_ros.studies.bench_nodes.
LoadGenerator`) as separate processes over real DDS: one episode, its start
event, every stream at its rate for ``seconds``, a second to drain, the end
event. Then the finished bag is read back and compared with what was
published, per topic, by the index every message names: lost = indices
published but not in the bag. The recorder's CPU %
(100 = one core) is taken over the streaming window.

The largest episode a bag can hold is the loader's bound
(:class:`~imitation_ros.data.storage.ReadLimits`: ``max_bag_bytes`` and
``max_records`` per bag): a longer episode records but is refused on reading,
so at a load's rate it is ``min(max_bag_bytes / bytes per s, max_records /
messages per s)`` seconds. *Variants* run the same loads with recorder parameters
changed (:data:`VARIANTS`), to show what the writer thread and the end wait buy.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
import re
import shutil
import struct
import sys
import time
from typing import Callable, Optional, Sequence

import numpy as np

from ..data import find_episode_bags, messages as m
from ..data.episode import storage_files
from ..data.storage import Budget, load_metadata, read_mcap, ReadLimits
from ..data.writer import EpisodeBagWriter, QueuedBagWriter
from ..interface import topics
from ..nodes.share import share_dir
from .control_loop import _executable, _Process

#: rosbag2's own recorder (C++, MCAP storage), as published: messages per second for
#: 100 B messages and MB per second for 1 MiB messages.
ROSBAG2_SMALL_MSG_S = 400_000.0
ROSBAG2_BIG_MB_S = 2200.0
_NS = 1_000_000_000
_MIB = 1 << 20
#: Lost indices named per topic in the JSON (where a loss happened: start, middle, end).
LOST_NAMED = 20


def _streams(state_hz: float, image_hz: float, width: int, height: int,
             encoding: str = 'rgb8', extra: bool = True) -> list[dict]:
    """Joint states (and task, commands, gate decisions at the same rate) and a camera."""
    streams = [{'topic': topics.JOINT_STATES.bag_name, 'kind': 'joint_state', 'rate_hz': state_hz}]
    if extra:
        streams += [{'topic': topics.TASK.bag_name, 'kind': 'task', 'rate_hz': state_hz},
                    {'topic': topics.COMMANDS.bag_name, 'kind': 'command',
                     'rate_hz': state_hz},
                    {'topic': topics.GATE_STATE.bag_name, 'kind': 'gate_state',
                     'rate_hz': state_hz}]
    if image_hz > 0:
        streams.append({'topic': topics.CAMERA_IMAGE.bag_name, 'kind': 'image',
                        'rate_hz': image_hz, 'width': width, 'height': height,
                        'encoding': encoding})
    return streams


#: The loads, lightest first: name -> (what it is, streams).
LOADS: dict[str, tuple[str, list[dict]]] = {
    'sim': ('the simulated arm: 20 Hz states, task, commands, gate; 96x96 camera at 10 Hz',
            _streams(20.0, 10.0, 96, 96)),
    'full': ('500 Hz states, task, commands, gate; 640x480 rgb8 camera at 30 Hz',
             _streams(500.0, 30.0, 640, 480)),
    'small_2k': ('joint states alone at 2000 Hz', _streams(2000.0, 0.0, 0, 0, extra=False)),
    'small_5k': ('joint states alone at 5000 Hz', _streams(5000.0, 0.0, 0, 0, extra=False)),
    'small_10k': ('joint states alone at 10000 Hz', _streams(10000.0, 0.0, 0, 0, extra=False)),
    'big_30': ('1 MiB images (mono8 1024x1024) alone at 30 Hz',
               _streams(0.0, 30.0, 1024, 1024, 'mono8', extra=False)[1:]),
    'big_100': ('1 MiB images alone at 100 Hz',
                _streams(0.0, 100.0, 1024, 1024, 'mono8', extra=False)[1:]),
}


#: Recorder parameters per variant: name -> (what it is, parameters).
VARIANTS: dict[str, tuple[str, dict]] = {
    'default': ("the recorder's defaults: writer thread, end wait", {}),
    'inline': ('bag written in the callback, episode closed at its end event',
               {'write_thread': False, 'end_wait_s': 0.0}),
    'thread': ('writer thread, episode closed at its end event', {'end_wait_s': 0.0}),
    'end_wait': ('bag written in the callback, end wait', {'write_thread': False}),
}


def message_index(kind: str, raw: bytes) -> int:
    """Return the index a load generator's message names (see ``bench_nodes``'s ``load``)."""
    if kind == 'joint_state':
        return int(m.decode_joint_state(raw).positions[0])
    if kind in ('task', 'command'):
        return int(m.decode_float64_array(raw)[0])
    if kind == 'gate_state':
        return int(json.loads(m.decode_string(raw))['stamp'])
    # sensor_msgs/Image, CDR little endian: encapsulation (4), stamp (8), frame_id length
    # (4) and text with its NUL; read without copying the pixels.
    length = struct.unpack_from('<I', raw, 12)[0]
    return int(bytes(raw[16:16 + length - 1]).decode())


def recorded_indices(bag: Path, streams: Sequence[dict]) -> dict[str, list[int]]:
    """Return the indices of every message of ``streams`` in a finished MCAP bag, per topic."""
    kinds = {s['topic']: s['kind'] for s in streams}
    types = {'joint_state': m.JOINT_STATE_TYPE, 'image': m.IMAGE_TYPE,
             'gate_state': m.STRING_TYPE}
    wanted = {t: types.get(k, m.FLOAT64_ARRAY_TYPE) for t, k in kinds.items()}
    # Counting reads every byte once: bags of the big loads exceed the loader's bound.
    budget = Budget(ReadLimits(max_bag_bytes=1 << 40, max_records=1 << 31))
    found: dict[str, list[int]] = {t: [] for t in kinds}
    for f in storage_files(bag, load_metadata(bag)):
        for topic, items in read_mcap(f, wanted, budget).messages.items():
            found[topic] += [message_index(kinds[topic], raw) for _, raw in items]
    return found


def topic_counts(published: dict[str, int], found: dict[str, list[int]],
                 failed: Optional[dict[str, list[int]]] = None) -> dict[str, dict]:
    """
    Compare what was published with what a bag holds, per topic.

    ``recorded`` counts distinct indices 0 .. published-1 in the bag; ``lost`` the
    indices missing (``lost_first``: the first :data:`LOST_NAMED` of them); ``extra``
    the bag's other messages (the one sent before the episode, or a duplicate);
    ``refused`` the indices whose ``publish`` raised (a reliable writer whose reader
    lags too far refuses): never sent, so not lost, and not counted as published.
    """
    out = {}
    for topic, n in published.items():
        indices = found.get(topic, [])
        refused = set((failed or {}).get(topic, ())) - set(indices)
        inside = {k for k in indices if 0 <= k < n}
        out[topic] = {'published': n - len(refused), 'recorded': len(inside),
                      'lost': n - len(refused) - len(inside),
                      'extra': len(indices) - len(inside), 'refused': len(refused),
                      'lost_first': sorted(set(range(n)) - inside - refused)[:LOST_NAMED]}
    return out


def bag_counts(bag: Path) -> tuple[dict[str, int], dict]:
    """Return the messages per topic of a finished bag, and its custom_data."""
    info = load_metadata(bag)
    counts: dict[str, int] = {}
    for entry in info.get('topics_with_message_count') or []:
        topic = entry['topic_metadata']['name']
        counts[topic] = counts.get(topic, 0) + int(entry['message_count'])
    return counts, dict(info.get('custom_data') or {})


def run_load(work: Path, name: str, streams: list[dict], *, seconds: float, domain_id: int,
             executor: str = '', publisher_depth: int = 0, transports: str = '',
             publisher_transports: Optional[str] = None, variant: str = 'default',
             log: Callable[[str], None] = print) -> dict:
    """
    Record one load (see the module docstring) and return its numbers.

    :param executor: ``$IMITATION_ROS_EXECUTOR`` of the recorder ('' keeps the default).
    :param transports: ``$FASTDDS_BUILTIN_TRANSPORTS`` of the recorder ('' keeps the
        environment's); ``publisher_transports`` that of the load generator (None: the same).
    :param publisher_depth: history depth of the load's publishers (0: the nodes' own
        profiles, :data:`~imitation_ros.nodes.qos.STATE_QOS` and ``IMAGE_PUB_QOS``).
    :param variant: recorder parameters of :data:`VARIANTS`.
    :raises RuntimeError: the load generator or the recorder did not finish (logs in
        ``work/name``).
    """
    folder = work / (name if variant == 'default' else f'{name}_{variant}')
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    env = dict(os.environ, ROS_DOMAIN_ID=str(domain_id), PYTHONUNBUFFERED='1')
    if executor:
        env['IMITATION_ROS_EXECUTOR'] = executor
    load_env = dict(env)
    for target, value in ((env, transports), (load_env, publisher_transports)):
        if value is None:
            value = transports
        if value:
            target['FASTDDS_BUILTIN_TRANSPORTS'] = value
    data = folder / 'data'
    params = folder / 'params.yaml'
    params.write_text(json.dumps({'recorder': {'ros__parameters': {
        'data_dir': str(data), 'session': 'load', 'max_episode_s': seconds + 60.0,
        'urdf_file': str(share_dir() / 'urdf' / 'planar3.urdf'),
        **VARIANTS[variant][1]}}}))
    report = folder / 'published.json'
    config = folder / 'load.json'
    config.write_text(json.dumps({'streams': streams, 'seconds': seconds, 'out': str(report),
                                  'episode': 1, 'publisher_depth': publisher_depth}))
    recorder = _Process('recorder', [_executable('recorder'), '--ros-args', '--params-file',
                                     str(share_dir() / 'config' / 'recorder.yaml'),
                                     '--params-file', str(params)],
                        folder / 'recorder.log', env)
    load = _Process('load', [sys.executable, '-m', 'imitation_ros.studies.bench_nodes', 'load',
                             str(config)], folder / 'load.log', load_env)
    samples: list[tuple[int, float]] = []
    try:
        recorder.start()
        load.start()
        deadline = time.monotonic() + seconds + 120.0
        while load.proc.poll() is None and time.monotonic() < deadline:
            samples.append((time.time_ns(), recorder.cpu_s()))
            time.sleep(0.25)
        bags: list[Path] = []
        end = time.monotonic() + 60.0
        while not bags and time.monotonic() < end and report.exists():
            bags = find_episode_bags(data)
            time.sleep(0.2)
    finally:
        load.stop()
        recorder.stop(timeout=60.0)
    if not report.exists() or not bags:
        raise RuntimeError(f'load {name}: no finished episode bag; logs in {folder}')
    sent = json.loads(report.read_text())
    _, custom = bag_counts(bags[0])
    window = [s for s in samples if sent['start_ns'] <= s[0] <= sent['end_ns']]
    cpu = float('nan')
    if len(window) >= 2:
        cpu = 100.0 * (window[-1][1] - window[0][1]) / ((window[-1][0] - window[0][0]) / _NS)
    found = recorded_indices(bags[0], streams)
    topics = topic_counts(sent['published'], found, sent.get('publish_failed'))
    rates = {st['topic']: float(st['rate_hz']) for st in streams}
    for topic, t in topics.items():
        t['bytes'] = sent['bytes'][topic]
        # Where the losses are: in the stream's last second (the episode closed before
        # they were taken) or before it (never received).
        n, last = sent['published'][topic], int(rates[topic])
        missing = set(range(max(0, n - last), n)) - set(found.get(topic, ()))
        missing -= set(sent.get('publish_failed', {}).get(topic, ()))
        t['lost_last_s'] = len(missing)
    secs = float(sent['seconds'])
    messages = sum(t['recorded'] for t in topics.values())
    payload = sum(t['bytes'] * t['recorded'] / max(t['published'], 1) for t in topics.values())
    bag_bytes = sum(f.stat().st_size for f in bags[0].rglob('*') if f.is_file())
    result = {'load': name, 'seconds': secs, 'topics': topics,
              'lost': sum(t['lost'] for t in topics.values()),
              'refused': sum(t['refused'] for t in topics.values()),
              'msg_per_s': messages / secs, 'mb_per_s': payload / secs / 1e6,
              'cpu_percent': round(cpu, 1), 'bag_bytes': bag_bytes,
              'bag_mb_per_s': bag_bytes / secs / 1e6,
              'recorder_dropped': int(custom.get('dropped', -1)),
              'executor': executor or 'default', 'publisher_depth': publisher_depth,
              'variant': variant, **writer_queue((folder / 'recorder.log').read_text())}
    result['largest_episode_s'] = largest_episode_s(result)
    log(f"{name} ({variant}): {result['msg_per_s']:.0f} msg/s, {result['mb_per_s']:.1f} MB/s, "
        f"lost {result['lost']} of {sum(t['published'] for t in topics.values())}, recorder CPU "
        f"{result['cpu_percent']:.0f} %")
    return result


def writer_queue(recorder_log: str) -> dict:
    """Return the writer queue's peak (messages) and stalls the recorder logged at close."""
    found = re.search(r'writer queue peak (\d+), (\d+) stalls', recorder_log)
    if found is None:
        return {'queue_peak': -1, 'queue_stalls': -1}
    return {'queue_peak': int(found.group(1)), 'queue_stalls': int(found.group(2))}


def callback_costs(work: Path, *, messages: int = 3000, images: int = 60) -> dict:
    """
    Time what one message costs the subscription callback, in this process, per path.

    Per message kind (a joint state, a 640x480 rgb8 frame): ``typed`` deserializes
    and serializes again (a typed subscription feeding a bag writer), ``inline``
    writes the raw CDR bytes into the bag in the callback, ``queued`` hands them to
    :class:`~imitation_ros.data.writer.QueuedBagWriter` (the writer thread pays the
    disk). Microseconds per message, mean over the run; ``queued_drain`` is the
    time the thread then needed to write what was queued.
    """
    # lazy: rclpy only when measuring; the CLI imports this module
    from rclpy.serialization import deserialize_message, serialize_message
    from sensor_msgs.msg import Image, JointState  # lazy: rclpy only when measuring
    from ..nodes.conversions import joint_state_msg  # lazy: rclpy only when measuring
    frame = Image(height=480, width=640, encoding='rgb8', step=1920)
    frame.data = np.random.default_rng(0).integers(0, 255, 640 * 480 * 3,
                                                   dtype=np.uint8).tobytes()
    kinds = {'joint_state': (m.JOINT_STATES, JointState, serialize_message(joint_state_msg(
                 ('joint1', 'joint2', 'joint3'), np.ones(3), np.zeros(3))), messages),
             'image_640x480': (m.CAMERA_IMAGE, Image, serialize_message(frame), images)}
    out: dict = {}
    shutil.rmtree(work, ignore_errors=True)
    for name, (topic, cls, raw, n) in kinds.items():
        row = {}
        begin = time.perf_counter()
        for _ in range(n):
            serialize_message(deserialize_message(raw, cls))
        row['typed_us'] = 1e6 * (time.perf_counter() - begin) / n
        for how in ('inline', 'queued'):
            writer = (EpisodeBagWriter(work / f'{name}_{how}') if how == 'inline'
                      else QueuedBagWriter(work / f'{name}_{how}'))
            begin = time.perf_counter()
            for k in range(n):
                writer.write(topic, raw, k + 1)
            row[f'{how}_us'] = 1e6 * (time.perf_counter() - begin) / n
            if how == 'queued':
                begin = time.perf_counter()
                writer.flush()
                row['queued_drain_us'] = 1e6 * (time.perf_counter() - begin) / n
            writer.abort()
        out[name] = row
    shutil.rmtree(work, ignore_errors=True)
    return out


def format_callback_costs(costs: dict) -> str:
    """Format :func:`callback_costs` as a markdown table."""
    lines = ['| message | typed: deserialize + serialize (us) | raw, written in the callback '
             '(us) | raw, queued to the writer thread (us) | writer thread, per queued '
             'message after the queueing (us) |', '|---|---|---|---|---|']
    for name, r in costs.items():
        lines.append(f"| {name} | {r['typed_us']:,.1f} | {r['inline_us']:,.1f} | "
                     f"{r['queued_us']:,.1f} | {r['queued_drain_us']:,.1f} |")
    return '\n'.join(lines)


def largest_episode_s(result: dict) -> float:
    """Seconds of this load one bag can hold and the loader still read (ReadLimits)."""
    limits = ReadLimits()
    by_bytes = limits.max_bag_bytes / max(result['bag_mb_per_s'] * 1e6, 1e-9)
    by_records = limits.max_records / max(result['msg_per_s'], 1e-9)
    return float(min(by_bytes, by_records))


def run_recorder_benchmark(out: Path, *, loads: Sequence[str] = tuple(LOADS),
                           seconds: float = 10.0, domain_id: int = 160,
                           executor: str = '', publisher_depth: int = 0,
                           variants: Sequence[str] = ('default',),
                           log: Callable[[str], None] = print) -> list[dict]:
    """Record every load with every variant; write ``out/recorder.json`` and ``out/table.md``."""
    unknown = [n for n in loads if n not in LOADS]
    if unknown:
        raise ValueError(f'unknown load {unknown[0]!r}; choose from {", ".join(LOADS)}')
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        raise ValueError(f'unknown variant {unknown[0]!r}; choose from {", ".join(VARIANTS)}')
    out.mkdir(parents=True, exist_ok=True)
    work = out / 'work'
    costs = callback_costs(work / 'callback')
    rows = []
    for name in loads:
        for variant in variants:
            load_avg = os.getloadavg()
            try:
                row = run_load(work, name, LOADS[name][1], seconds=seconds,
                               domain_id=domain_id, executor=executor,
                               publisher_depth=publisher_depth, variant=variant, log=log)
            except RuntimeError as exc:   # one failed run does not end the others
                log(str(exc))
                continue
            row['load_avg'] = [round(a, 2) for a in (*load_avg, os.getloadavg()[0])]
            rows.append(row)
            for data in (work.glob(f'{name}*/data')):   # big bags: keep the numbers
                shutil.rmtree(data, ignore_errors=True)
    (out / 'recorder.json').write_text(json.dumps({'rows': rows, 'callback': costs},
                                                  indent=1))
    (out / 'table.md').write_text(format_recorder(rows) + '\n\nWhat one message costs the '
                                  'callback (in one process, no DDS):\n\n'
                                  + format_callback_costs(costs) + '\n')
    return rows


def format_recorder(rows: list[dict]) -> str:
    """Return the per-load table and the per-topic counts as markdown."""
    lines = []
    if rows:
        r0 = rows[0]
        depth = r0.get('publisher_depth', 0)
        # lazy: rclpy only when formatting, not when the CLI builds its parser
        from ..nodes.qos import IMAGE_PUB_QOS, STATE_PUB_QOS
        publishers = (f'a history depth of {depth}' if depth else
                      "the nodes' QoS profiles (joint states etc. keep last "
                      f'{STATE_PUB_QOS.depth}, images {IMAGE_PUB_QOS.depth})')
        lines += [f"Recorder throughput over real DDS, {r0['seconds']:.0f} s of streaming per "
                  'load, one episode each, messages counted per topic by the index each '
                  f'names; publishers with {publishers}; recorder executor '
                  f"{r0.get('executor', 'default')}. CPU: % of one core.", '']
    lines += ['| load | what | recorder | msg/s recorded | MB/s recorded | lost (published) | '
              'recorder CPU % | bag MB/s | writer queue peak (stalls) | largest readable '
              'episode (s) | load average (before, after) |',
              '|---|---|---|---|---|---|---|---|---|---|---|']
    for r in rows:
        published = sum(t['published'] for t in r['topics'].values())
        avg = r.get('load_avg')
        avg_text = f'{avg[0]:.1f}, {avg[3]:.1f}' if avg else '-'
        peak = r.get('queue_peak', -1)
        queue = '-' if peak < 0 else f"{peak:,} ({r.get('queue_stalls', 0)})"
        refused = f", {r['refused']:,} refused" if r.get('refused') else ''
        lines.append(f"| {r['load']} | {LOADS.get(r['load'], ('',))[0]} | "
                     f"{r.get('variant', 'default')} | {r['msg_per_s']:,.0f} "
                     f"| {r['mb_per_s']:.1f} | {r['lost']} ({published:,}{refused}) | "
                     f"{r['cpu_percent']:.0f} | {r['bag_mb_per_s']:.1f} | {queue} | "
                     f"{r['largest_episode_s']:,.0f} | {avg_text} |")
    used = dict.fromkeys(r.get('variant', 'default') for r in rows)
    if any(v != 'default' for v in used):
        named = [f'{v}: {VARIANTS[v][0]}' for v in used if v in VARIANTS]
        lines += ['', 'Recorders: ' + '; '.join(named) + '.']
    lines += ['', '| load | recorder | topic | published | recorded | lost (of which in the '
              'last second) | extra (before the episode, repeats) |',
              '|---|---|---|---|---|---|---|']
    for r in rows:
        for topic, t in r['topics'].items():
            tail = f" ({t['lost_last_s']})" if 'lost_last_s' in t else ''
            lines.append(f"| {r['load']} | {r.get('variant', 'default')} | {topic} | "
                         f"{t['published']:,} | {t['recorded']:,} | {t['lost']}{tail} | "
                         f"{t.get('extra', 0)} |")
    for prefix, what, ref, unit, key in (
            ('small', 'Small messages', ROSBAG2_SMALL_MSG_S, 'msg/s for 100 B messages',
             'msg_per_s'),
            ('big', '1 MiB messages', ROSBAG2_BIG_MB_S, 'MB/s for 1 MiB messages', 'mb_per_s')):
        group = [r for r in rows if r['load'].startswith(prefix)
                 and r.get('variant', 'default') == 'default']
        if not group:
            continue
        clean = [r for r in group if r['lost'] == 0]
        best = max(clean or group, key=lambda r: r[key])
        how = 'most without loss' if clean else f"none without loss; most, losing {best['lost']}"
        lines += ['', f"{what}, {how}: {best[key]:,.1f} {unit.split(' ')[0]} ({best['load']}) = "
                  f"{best[key] / ref:.4f} of rosbag2's C++ recorder (about {ref:,.0f} {unit})."]
    return '\n'.join(lines)
