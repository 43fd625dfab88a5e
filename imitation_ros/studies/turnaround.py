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
Retrain turnaround: from a new episode bag to the new model live in ``policy_node``.

Per data size (samples), a data folder of episode bags is made from planar-sim
demonstrations (a pool of distinct episodes, copied as further bags until the size is
reached: loading and training cost the same per sample) and a first model is trained
on it (warm start source, not timed). Then ``rounds`` retraining rounds run as the
trainer node runs them: a new bag arrives (a copy of a pool episode under a new name:
reading and training on it cost what a takeover episode's bag costs), the folder is
loaded with the episode index (:mod:`imitation_ros.data.index`: only the new bag
is read; the first load, which builds the index, is reported as ``cold``), samples
are selected and chunked, the previous version is warm-started for ``steps``
gradient steps (the trainer's ``warm_start_steps``; no validation split, as the
trainer's ``val_fraction`` 0), exported to ONNX, validated with ONNX Runtime and
listed in the models' manifest, and published on ``imitation/model`` to a
``policy_node`` process over real DDS; hot-load is the time until that node
announces the version on ``imitation/model_version``. Each phase is timed on its
own; the turnaround is their sum. ``spawn`` is what the trainer's training job pays
before reading a bag: a fresh Python process importing the training pipeline (torch)
and ONNX Runtime; the round itself then runs in this process. Not counted: the
trainer's polling of its data folder (``check_period_s``, 1 s by default).
"""

from __future__ import annotations

from dataclasses import asdict
import json
import os
from pathlib import Path
import shutil
import statistics
import subprocess
import sys
import threading
import time
from typing import Callable, Optional, Sequence

import rclpy
from rclpy.executors import SingleThreadedExecutor
from std_msgs.msg import String

from ..collect import collect
from ..data import aggregate, find_episode_bags, load_dataset
from ..errors import TrainingError
from ..interface import topics
from ..nodes.qos import MODEL_QOS
from ..nodes.sim_arm import package_urdf
from ..policies.base import TrainConfig
from ..policies.registry import get_kind
from ..runtime.model_trust import record_model
from ..training.checkpoint import checkpoint_path, save_checkpoint
from ..training.export import export_policy
from ..training.pipeline import (_load_init, bag_task_layout, train_from_bags, TrainRequest,
                                 validate_model)
from ..training.trainer import build_training_set, train_policy
from .control_loop import _executable, _Process

#: The phases of one round, in order.
PHASES = ('spawn', 'load', 'prepare', 'train', 'export', 'validate', 'hot_load')
#: What the trainer's training job imports in its fresh process before it reads a bag.
_SPAWN = 'import imitation_ros.training.pipeline, imitation_ros.runtime.onnx_policy'


def make_data(work: Path, samples: int, pool: Path, *, log: Callable[[str], None]) -> Path:
    """Fill ``work/n<samples>/`` with copies of the pool's bags up to ``samples`` samples."""
    folder = work / f'n{samples}'
    if folder.exists() and find_episode_bags(folder):
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    bags = find_episode_bags(pool)
    per_bag = max(1, int(round(len(load_dataset(pool, index=False).actions) / len(bags))))
    wanted = max(1, -(-samples // per_bag))
    for k in range(wanted):
        shutil.copytree(bags[k % len(bags)], folder / f'copy{k // len(bags):03d}' /
                        bags[k % len(bags)].name)
    log(f'{folder}: {wanted} bags')
    return folder


class _ModelPort:
    """Publishes model paths to ``policy_node`` and waits for its version announcements."""

    def __init__(self, domain_id: int) -> None:
        self._context = rclpy.Context()
        rclpy.init(context=self._context, domain_id=domain_id)
        self.node = rclpy.create_node('turnaround_port', context=self._context)
        self._cond = threading.Condition()
        self.versions: list[tuple[str, int]] = []
        self._pub = self.node.create_publisher(String, topics.MODEL.name, MODEL_QOS)
        self.node.create_subscription(String, topics.MODEL_VERSION.name, self._on_version,
                                      MODEL_QOS)
        self._string = String
        self._executor = SingleThreadedExecutor(context=self._context)
        self._executor.add_node(self.node)
        self._thread = threading.Thread(target=self._executor.spin, daemon=True)
        self._thread.start()

    def _on_version(self, msg) -> None:
        with self._cond:
            self.versions.append((msg.data, time.perf_counter_ns()))
            self._cond.notify_all()

    def wait_version(self, version: str, timeout: float) -> Optional[int]:
        """Return when ``version`` was announced (perf_counter ns), or None after ``timeout``."""
        end = time.monotonic() + timeout
        with self._cond:
            while True:
                for v, t in self.versions:
                    if v == version:
                        return t
                left = end - time.monotonic()
                if left <= 0:
                    return None
                self._cond.wait(left)

    def publish(self, path: Path) -> int:
        """Publish a model path; return when (perf_counter ns)."""
        at = time.perf_counter_ns()
        self._pub.publish(self._string(data=str(path)))
        return at

    def close(self) -> None:
        self._executor.shutdown()
        self.node.destroy_node()
        self._context.try_shutdown()


def _round(folder: Path, models: Path, version: str, previous: Path, *, kind: str,
           steps: int, port: _ModelPort, timeout: float) -> dict:
    """One retraining round (see the module docstring); returns its phase times (s)."""
    times: dict = {}
    t = time.perf_counter()
    subprocess.run([sys.executable, '-c', _SPAWN], check=True)
    times['spawn'] = time.perf_counter() - t
    req = TrainRequest(data=(folder,), kind=kind, out=models / f'{version}.onnx',
                       config=TrainConfig(steps=steps, val_fraction=0.0), init_from=previous,
                       progress=False,
                       version=version, correction_weight=2.0)
    t = time.perf_counter()
    data = load_dataset([folder])
    times['load'] = time.perf_counter() - t
    times['bags_read'] = -1 if data.summary is None else int(data.summary.bags_read)
    t = time.perf_counter()
    samples = aggregate(data, correction_weight=req.correction_weight,
                        max_command_step=req.max_command_step)
    tset = build_training_set(samples.state, samples.task, samples.action, samples.episode,
                              samples.step, horizon=get_kind(kind).horizon(req.options),
                              weight=samples.weight, image=samples.image)
    task_layout = bag_task_layout(data.episodes, samples.task.shape[1])
    init = _load_init(req, data.joint_names, task_layout, req.link_lengths)
    times['prepare'] = time.perf_counter() - t
    times['samples'], times['episodes'] = len(samples), len(data.episodes)
    t = time.perf_counter()
    policy, _ = train_policy(kind, tset, init.spec, req.config, options=asdict(init.config),
                             seed=0, progress=False, init=init)
    times['train'] = time.perf_counter() - t
    t = time.perf_counter()
    model = export_policy(policy, req.out, metadata_extra={'version': version})
    save_checkpoint(policy, checkpoint_path(model))
    times['export'] = time.perf_counter() - t
    t = time.perf_counter()
    validate_model(model, len(data.joint_names), samples.task.shape[1])
    record_model(model, version=version)   # as the trainer: policy_node loads listed models
    times['validate'] = time.perf_counter() - t
    sent = port.publish(model)
    live = port.wait_version(version, timeout)
    if live is None:
        raise TrainingError(f'policy_node did not announce {version} within {timeout:g} s')
    times['hot_load'] = (live - sent) / 1e9
    times['total'] = sum(times[p] for p in PHASES)
    times['model'] = str(model)
    return times


def run_turnaround(out: Path, *, sizes: Sequence[int] = (5_000, 50_000, 200_000),
                   rounds: int = 3, kind: str = 'gmm', steps: int = 300,
                   steps_by_size: Optional[dict] = None, pool_episodes: int = 120,
                   domain_id: int = 161, log: Callable[[str], None] = print) -> dict:
    """
    Time ``rounds`` retraining rounds per data size; write ``out/turnaround.json``.

    :param steps_by_size: gradient steps of a size's rounds where not ``steps``.
    """
    out.mkdir(parents=True, exist_ok=True)
    work = out / 'work'
    pool = work / 'pool'
    if not (pool / 'multi').exists() or not find_episode_bags(pool):
        shutil.rmtree(pool, ignore_errors=True)
        t = time.perf_counter()
        collect('multi', pool_episodes, pool, seed=3, session='multi', camera_every=0,
                progress=False)
        log(f'collected {pool_episodes} episodes in {time.perf_counter() - t:.1f} s')
    models = (work / 'models').resolve()
    env = dict(os.environ, ROS_DOMAIN_ID=str(domain_id), PYTHONUNBUFFERED='1')
    node = _Process('policy_node', [_executable('policy_node'), '--ros-args',
                                    '-p', f'model_dirs:={models.parent}',
                                    '-p', f'urdf_file:={package_urdf()}'],
                    work / 'policy_node.log', env)
    result: dict = {'kind': kind, 'rounds': rounds, 'sizes': [], 'cpu_count': os.cpu_count()}
    models.mkdir(parents=True, exist_ok=True)
    port = _ModelPort(domain_id)
    node.start()
    try:
        for size in sizes:
            folder = make_data(work, size, pool, log=log)
            shutil.rmtree(folder / 'new', ignore_errors=True)   # a previous run's rounds
            for cache in folder.rglob('.imitation_ros-index'):
                shutil.rmtree(cache, ignore_errors=True)
            size_steps = int((steps_by_size or {}).get(size, steps))
            t = time.perf_counter()
            first = load_dataset([folder])   # builds the index: the cold load
            cold = time.perf_counter() - t
            base = train_from_bags(TrainRequest(
                data=(folder,), kind=kind, out=models / f'n{size}_v000.onnx',
                config=TrainConfig(steps=50, val_fraction=0.0), progress=False,
                version=f'n{size}_v000'))
            previous = checkpoint_path(base.model)
            bags = find_episode_bags(folder)
            rows = []
            for r in range(1, rounds + 1):
                new = folder / 'new' / f'ep_{r:05d}'
                shutil.rmtree(new, ignore_errors=True)
                shutil.copytree(bags[r % len(bags)], new)   # the episode that just ended
                row = _round(folder, models, f'n{size}_v{r:03d}', previous, kind=kind,
                             steps=size_steps, port=port, timeout=120.0)
                previous = checkpoint_path(Path(row['model']))
                rows.append(row)
                log(f"{size:>7} samples round {r}: " + ', '.join(
                    f'{p} {row[p]:.2f} s' for p in PHASES) + f", total {row['total']:.1f} s")
            entry = {'size': size, 'samples': rows[-1]['samples'],
                     'episodes': rows[-1]['episodes'], 'steps': size_steps,
                     'cold_load_s': cold, 'cold_ms_per_episode': 1000 * cold /
                     max(len(first.episodes), 1), 'rounds': rows,
                     'median': {p: statistics.median(r[p] for r in rows)
                                for p in (*PHASES, 'total')},
                     'load_avg': list(os.getloadavg())}
            result['sizes'].append(entry)
            (out / 'turnaround.json').write_text(json.dumps(result, indent=1))
    finally:
        port.close()
        node.stop()
    return result


def format_turnaround(result: dict) -> str:
    """Format the medians per size as a markdown table."""
    lines = ['| samples (episodes) | gradient steps | cold load, index built (ms/episode) | '
             'job start (s) | load, new bag + index (s) | prepare (s) | train (s) | export (s) '
             '| validate (s) | hot-load (s) | turnaround (s) | load average |',
             '|---|---|---|---|---|---|---|---|---|---|---|---|']
    for e in result['sizes']:
        m = e['median']
        lines.append(f"| {e['samples']:,} ({e['episodes']:,}) | {e['steps']} | "
                     f"{e['cold_ms_per_episode']:.1f} | {m['spawn']:.2f} | {m['load']:.2f} | "
                     f"{m['prepare']:.2f} | "
                     f"{m['train']:.2f} | {m['export']:.2f} | {m['validate']:.2f} | "
                     f"{m['hot_load']:.2f} | {m['total']:.1f} | {e['load_avg'][0]:.1f} |")
    lines += ['', f"Medians of {result['rounds']} rounds per size, {result['kind']} warm-started "
              "from the previous version (as the trainer's warm_start), one new bag per round."]
    return '\n'.join(lines)
