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
``imitation-ros demo --robots N``: robot-gated HG-DAgger on a fleet, composed in one process.

1. Demonstrations and a first policy (with its doubt ensemble), as the one-robot demo.
2. The help threshold: the ``help_quantile`` quantile of that policy's doubt on the
   states it visits alone (plain-Python sim, 20 tasks), unless one is given.
3. The fleet graph composed over real DDS: robot i's sim_arm, policy_node,
   intervention_gate and recorder in ``/roboti`` (bags under ``data/roboti``), one
   trainer and one fleet_operator in the root namespace. The operator watches no
   robot: it serves the gates' help requests one robot at a time.
4. Each round every robot runs ``episodes`` episodes; then the trainer retrains on the
   demonstrations plus every robot's takeovers, and every policy node hot-reloads the
   new version. After the rounds each version runs ``eval_episodes`` episodes alone.

Per round and robot: success (no takeover), success with help, help requests, time
waiting for the operator, human time; the fleet's totals; each version's success alone.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timezone
import json
from pathlib import Path
import threading
import time
from typing import Any, Callable, Optional

from rclpy.node import Node
from std_msgs.msg import String

from ..collect import collect
from ..dagger.fleet import doubt_quantile
from ..errors import ConfigError
from ..interface import topics
from ..nodes.monitor import EpisodeStats, SessionMonitor
from ..runtime.onnx_policy import OnnxPolicy
from ..sim.arm import ArmConfig
from ..training.jobs import checkpoint_path, JobSpec, next_model_path, TrainingJob
from .composed import ComposedGraph
from .demo import _wait, evaluate_versions, RoundStats, train_once
from .graph import fleet_namespaces

#: What the trainer and the fleet status are called in the root namespace.
ROOT_REMAPS = ('trainer/train:=/trainer/train',
               f'{topics.TRAINER_STATUS.name}:={topics.TRAINER_STATUS.bag_name}')


@dataclass(frozen=True)
class RobotRound:
    """One robot's share of a round."""

    robot: str
    round: int
    version: str
    episodes: int
    success: float
    """Fraction reaching the goal with no takeover."""
    success_with_help: float
    requests: int
    """Help requests the operator received from this robot."""
    wait_s: float
    """Time its requests waited for the operator (s)."""
    human_s: float
    """Time the operator drove it (s)."""


class _FleetWatch:
    """The fleet operator's newest status (cumulative counts per robot)."""

    def __init__(self, node: Any) -> None:
        self._lock = threading.Lock()
        self.status: dict = {}
        node.create_subscription(String, topics.FLEET_STATUS.name, self._on_status, 10)

    def _on_status(self, msg: Any) -> None:
        with self._lock:
            self.status = json.loads(msg.data)

    def robot(self, name: str) -> dict:
        with self._lock:
            return dict(self.status.get('robots', {}).get(name, {}))


def run_fleet_demo(*, data_dir: Path, models_dir: Path, robots: int = 3, rounds: int = 2,
                   episodes: int = 5, demos: int = 3, policy: str = 'mse',
                   train_steps: int = 2000, seed: int = 0, queue: str = 'first_come',
                   help_threshold: Optional[float] = None, help_quantile: float = 0.9,
                   expert: str = 'above', actuation_noise: float = 0.01,
                   eval_episodes: int = 100, log: Callable[[str], None] = print,
                   domain_id: Optional[int] = None) -> list[RobotRound]:
    """Run the fleet demo (see the module docstring); return every robot's rounds."""
    names = fleet_namespaces(robots)
    if not 0.0 < help_quantile < 1.0:
        raise ConfigError(f'help_quantile must be in (0, 1), got {help_quantile}')
    stamp = datetime.now(timezone.utc).strftime('%Y%m%d_%H%M%S')
    data_dir = Path(data_dir) / f'fleet_{stamp}'
    models_dir = Path(models_dir) / f'fleet_{stamp}'
    arm = replace(ArmConfig(), actuation_noise=actuation_noise)
    summary = collect(expert, demos, data_dir, seed=seed, session='demos', camera_every=0,
                      config=arm, progress=False)
    log(f'collected {summary.episodes} demonstrations ({summary.samples} samples)')
    first, version = next_model_path(models_dir, 'policy')
    job = TrainingJob(JobSpec(data=(data_dir,), out=first, version=version, policy=policy,
                              steps=train_steps, seed=seed))
    try:
        result = _wait(job.poll, 900, 'the first training')
    except TimeoutError:
        job.cancel()
        raise
    if not result.ok:
        raise RuntimeError(f'first training failed: {result.message}')
    if help_threshold is None:
        help_threshold = doubt_quantile(OnnxPolicy(first, seed=seed, threads=1), arm,
                                        help_quantile, seed=seed)
        log(f'trained {version}; help threshold {help_threshold:.4g} (the {help_quantile:g} '
            'quantile of its doubt on the states it visits alone)')
    overrides: dict[str, dict[str, Any]] = {
        'trainer': {'data_dir': str(data_dir), 'models_dir': str(models_dir),
                    'policy': policy, 'train_steps': train_steps, 'seed': seed + 1,
                    'min_new_samples': 10_000_000,
                    'init_checkpoint': str(checkpoint_path(first).resolve())},
        'fleet_operator': {'order': queue, 'seed': seed},
    }
    for i, ns in enumerate(names):
        overrides[f'{ns}/sim_arm'] = {'seed': seed + 100 * (i + 1), 'camera_hz': 0.0,
                                      'reset_delay_s': 0.5, 'actuation_noise': actuation_noise}
        overrides[f'{ns}/policy'] = {'model_path': str(first.resolve()), 'rate_hz': 50.0,
                                     'model_dirs': str(models_dir)}
        overrides[f'{ns}/intervention_gate'] = {'rate_hz': 50.0, 'teleop_horizon_s': 0.05,
                                                'help_threshold': float(help_threshold)}
        overrides[f'{ns}/recorder'] = {'data_dir': str(data_dir), 'record_images': False}
    composed = ComposedGraph('fleet', use_sim=True, overrides=overrides, robots=robots)
    composed.start(domain_id=domain_id)
    monitors = {ns: composed.add(SessionMonitor(context=composed.context, namespace=ns,
                                                cli_args=['--ros-args', '-r', ROOT_REMAPS[0],
                                                          '-r', ROOT_REMAPS[1]]))
                for ns in names}
    watch = _FleetWatch(composed.add(Node('fleet_watch', context=composed.context)))
    out: list[RobotRound] = []
    try:
        for ns in names:
            _wait(lambda: monitors[ns].version() == version, 120, f'{ns} to run {version}')
        for index in range(rounds + 1):
            begin = {ns: len(monitors[ns].finished()) for ns in names}
            before = {ns: watch.robot(ns) for ns in names}
            _run_round(monitors, begin, version, episodes)
            stats = {ns: [s for s in monitors[ns].finished()[begin[ns]:]
                          if s.version == version][:episodes] for ns in names}
            after = {ns: watch.robot(ns) for ns in names}
            rows = [_robot_round(ns, index, version, stats[ns], before[ns], after[ns])
                    for ns in names]
            out += rows
            log(format_round(rows))
            if index == rounds:
                break
            if sum(s.human_commands for ns in names for s in stats[ns]) == 0:
                log(f'  no takeover in round {index}: keeping {version}')
            else:
                version = _retrain(monitors[names[0]], log)
                for ns in names:
                    _wait(lambda: monitors[ns].version() == version, 120,
                          f'{ns} to load {version}')
            for ns in names:
                ok, message = monitors[ns].pause_episodes(False)
                if not ok:
                    raise RuntimeError(f'{ns}/sim_arm did not resume: {message}')
    finally:
        composed.stop()
    if eval_episodes and out:
        log(f'\neach version alone, no operator, {eval_episodes} episodes:')
        versions = sorted({r.version for r in out})
        evaluate_versions([RoundStats(i, v, 0, 0, 0, 0, 0, 0) for i, v in enumerate(versions)],
                          models_dir, arm, eval_episodes, log)
    log(f'\ndata {data_dir}; models {models_dir}')
    return out


def _run_round(monitors: dict[str, SessionMonitor], begin: dict[str, int], version: str,
               episodes: int) -> None:
    """Let every robot finish ``episodes`` episodes of ``version``, pausing each at its last."""
    def done(ns: str, count: int) -> bool:
        return len([s for s in monitors[ns].finished()[begin[ns]:]
                    if s.version == version]) >= count

    paused: set[str] = set()
    deadline = time.monotonic() + episodes * 60 + 120
    while not all(done(ns, episodes) for ns in monitors):
        if time.monotonic() > deadline:
            raise TimeoutError(f'robots did not finish {episodes} episodes of {version}')
        for ns, monitor in monitors.items():
            # Pause during the robot's last episode (not between two: see demo.run_demo).
            if ns not in paused and done(ns, episodes - 1) and monitor.running() == version:
                ok, message = monitor.pause_episodes(True)
                if not ok:
                    raise RuntimeError(f'{ns}/sim_arm did not accept ~/pause: {message}')
                paused.add(ns)
        time.sleep(0.1)


def _retrain(monitor: SessionMonitor, log: Callable[[str], None]) -> str:
    """Ask the one trainer for a new version and wait for it; return it."""
    version = str(train_once(monitor, 900)['version'])
    log(f'  retrained on the fleet\'s data -> {version}')
    return version


def _robot_round(ns: str, index: int, version: str, stats: list[EpisodeStats],
                 before: dict, after: dict) -> RobotRound:
    n = max(1, len(stats))

    def diff(key: str) -> float:
        return float(after.get(key, 0)) - float(before.get(key, 0))

    return RobotRound(ns, index, version, len(stats),
                      sum(s.autonomous_success for s in stats) / n,
                      sum(s.success for s in stats) / n, int(diff('requests')),
                      diff('wait_s'), diff('human_s'))


def format_round(rows: list[RobotRound]) -> str:
    """Return one round as a markdown table: each robot, then the fleet."""
    lines = ['| round | robot | model | episodes | success (no help) | success with help | '
             'requests | waiting for the operator (s) | human time (s) |',
             '|---|---|---|---|---|---|---|---|---|']
    for r in rows:
        lines.append(f'| {r.round} | {r.robot} | {r.version} | {r.episodes} | {r.success:.2f} '
                     f'| {r.success_with_help:.2f} | {r.requests} | {r.wait_s:.1f} | '
                     f'{r.human_s:.1f} |')
    n = max(1, sum(r.episodes for r in rows))
    lines.append(f'| {rows[0].round} | fleet | {rows[0].version} | {n} | '
                 f'{sum(r.success * r.episodes for r in rows) / n:.2f} | '
                 f'{sum(r.success_with_help * r.episodes for r in rows) / n:.2f} | '
                 f'{sum(r.requests for r in rows)} | {sum(r.wait_s for r in rows):.1f} | '
                 f'{sum(r.human_s for r in rows):.1f} |')
    return '\n'.join(lines)
