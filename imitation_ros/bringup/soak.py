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
The soak: the hg_dagger graph in separate processes for minutes, with faults on a schedule.

Every node runs as its own process from its executable and params file (as the
launch file starts it). Faults come in turn, a few seconds apart: the joystick
unplugged during a takeover (sim_human stopped for 1.5 s), a short gap in the
joystick's messages (sim_human stopped until the gate holds for it, then
resumed: the operator must let go of the deadman and press it again), the
policy stalled (SIGSTOP),
NaN actions from a hostile publisher, the recorder SIGKILLed and restarted, the
trainer SIGKILLed and restarted, the disk nearly full (data on a small tmpfs,
filled to a few KB; skipped where no tmpfs can be mounted), and hostile model
paths on ``imitation/model``. A probe node watches. The report gives, per
fault, the time from the injection to the gate's safe hold (or what happened),
per topic the messages published against those recorded in episodes outside the
faults' windows, commands expected against sent and the largest gap between
two, and each node's memory at the start and the end. ``imitation-ros soak``.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
import json
import math
import os
from pathlib import Path
import shutil
import signal
import subprocess
import sys
import threading
import time
from typing import Any, Callable, Optional

from .composed import params_file
from .graph import graph
from ..data import read_bag_messages, scan_episode_bags
from ..interface import topics

#: The faults, in the order they are injected each cycle.
FAULTS = ('joy_unplug', 'joy_gap', 'policy_stall', 'nan_actions', 'recorder_kill', 'trainer_crash',
          'disk_full', 'hostile_model')
#: Modes of the gate that hold the arm.
HOLD_SOURCE = 'hold'
#: Longest wait for a fault's condition (a takeover, the policy driving) before it is skipped.
PRECONDITION_S = 30.0
#: Longest wait for the gate's reaction to a fault (s).
REACTION_S = 5.0
#: Longest wait for the arm to be driven again after a fault ends (s).
RECOVERY_S = 20.0
#: Largest growth of a node's resident memory from the warm-up to the end that passes (MB):
#: over 30 minutes a steady leak of 11 KB/s.
MEMORY_GROWTH_BOUND_MB = 20.0


@dataclass
class FaultResult:
    """What one injection did."""

    fault: str
    at: float
    """Monotonic time of the injection (s)."""
    window: tuple[float, float]
    """Monotonic span during which the fault's effects are its own (s)."""
    outcome: str
    """What happened, in words."""
    hold_s: Optional[float] = None
    """Time from the injection to the gate's first hold (s); None when not applicable."""
    back_s: Optional[float] = None
    """Time from the fault's end to the arm driven again (s); None when not applicable."""


@dataclass
class SoakReport:
    """Everything the soak measured."""

    minutes: float
    faults: list[FaultResult] = field(default_factory=list)
    topics: dict[str, tuple[int, int]] = field(default_factory=dict)
    """Topic -> (published inside clean episodes, recorded in their bags)."""
    episodes: tuple[int, int, int] = (0, 0, 0)
    """(episodes ended, bags of them outside fault windows compared, bags missing)."""
    commands: tuple[int, int] = (0, 0)
    """(expected at the gate's rate, sent)."""
    largest_gap_s: float = 0.0
    largest_gap_during: str = ''
    """The fault whose window the largest gap fell in ('no fault' for none)."""
    non_finite_commands: int = 0
    largest_decision_gap_s: float = 0.0
    """Largest gap between two of the gate's decisions, by the stamps it gives them (s)."""
    memory_mb: dict[str, tuple[float, float]] = field(default_factory=dict)
    """Node -> (resident MB after the warm-up, at the end)."""
    restarts: Counter = field(default_factory=Counter)
    losses: list[tuple[int, int, list[int]]] = field(default_factory=list)
    """(episode, its joint states, indices of those missing from its bag) per lossy episode."""
    skipped_bags: Counter = field(default_factory=Counter)
    """Reason -> bags the loader leaves out (a recorder killed mid-episode leaves a .partial)."""


class NodeProcess:
    """One node of the graph as a process: its executable, params file and overrides."""

    def __init__(self, executable: str, name: str, params: list[Path], log: Path,
                 env: dict[str, str]) -> None:
        """Prepare the command; :meth:`start` runs it."""
        exe = shutil.which(executable) or str(Path(sys.prefix) / 'bin' / executable)
        self.name = name
        self.cmd = [exe, '--ros-args', '-r', f'__node:={name}']
        for path in params:
            self.cmd += ['--params-file', str(path)]
        self.log = log
        self.env = env
        self.proc: Optional[subprocess.Popen] = None

    def start(self) -> None:
        """Start (or restart) the process."""
        with self.log.open('ab') as out:
            self.proc = subprocess.Popen(self.cmd, stdout=out, stderr=subprocess.STDOUT,
                                         env=self.env)

    def signal(self, sig: int) -> None:
        """Send ``sig`` to the process."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)

    def stop(self, timeout: float = 20.0) -> Optional[int]:
        """Stop with SIGINT (SIGKILL after ``timeout``); return the exit code."""
        if self.proc is None:
            return None
        self.signal(signal.SIGCONT)
        self.signal(signal.SIGINT)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()

    def rss_mb(self) -> float:
        """Return the process's resident memory (MB; not its children's); nan if gone."""
        if self.proc is None or self.proc.poll() is not None:
            return math.nan
        return _rss_kb(self.proc.pid) / 1024.0


def _rss_kb(pid: int) -> float:
    try:
        for line in Path(f'/proc/{pid}/status').read_text().splitlines():
            if line.startswith('VmRSS:'):
                return float(line.split()[1])
    except OSError:
        pass
    return math.nan


class Probe:
    """A node that watches the gate, the commands, the joint states and the episodes."""

    def __init__(self, domain_id: int) -> None:
        """Create the node on ``domain_id`` and spin it in a thread."""
        import rclpy  # lazy: rclpy only when a soak runs; the CLI imports this module
        from rclpy.context import Context  # lazy: rclpy only when a soak runs
        from rclpy.executors import SingleThreadedExecutor  # lazy: rclpy only when a soak runs
        from sensor_msgs.msg import JointState  # lazy: rclpy only when a soak runs
        from std_msgs.msg import Float64MultiArray, String  # lazy: rclpy only when a soak runs
        # lazy: rclpy only when a soak runs
        from ..nodes.qos import EPISODE_QOS, MODEL_QOS, STATE_QOS
        self.context = Context()
        rclpy.init(context=self.context, domain_id=domain_id)
        self.node = rclpy.create_node('soak_probe', context=self.context)
        self.lock = threading.Lock()
        self.gate: list[tuple[float, dict]] = []
        self.commands: list[float] = []
        self.non_finite = 0
        self.states: list[tuple[float, int]] = []
        self.events: list[tuple[float, dict]] = []
        self.policy_status: list[dict] = []
        self.versions: list[str] = []
        sub = self.node.create_subscription
        sub(String, topics.GATE_STATE.name, self._on_gate, 100)
        sub(Float64MultiArray, topics.COMMANDS.name, self._on_command, STATE_QOS)
        sub(JointState, topics.JOINT_STATES.name, self._on_state, STATE_QOS)
        sub(String, topics.EPISODE.name, self._on_event, EPISODE_QOS)
        sub(String, topics.POLICY_STATUS.name, self._on_status, 50)
        sub(String, topics.MODEL_VERSION.name, self._on_version, MODEL_QOS)
        self.action_pub = self.node.create_publisher(Float64MultiArray,
                                                     topics.POLICY_ACTION.name, STATE_QOS)
        self.model_pub = self.node.create_publisher(String, topics.MODEL.name, MODEL_QOS)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._spin, daemon=True)
        self._thread.start()

    def _spin(self) -> None:
        while not self._stop.is_set():
            self.executor.spin_once(timeout_sec=0.05)

    def _on_gate(self, msg: Any) -> None:
        with self.lock:
            self.gate.append((time.monotonic(), json.loads(msg.data)))

    def _on_command(self, msg: Any) -> None:
        finite = all(math.isfinite(v) for v in msg.data)
        with self.lock:
            self.commands.append(time.monotonic())
            self.non_finite += int(not finite)

    def _on_state(self, msg: Any) -> None:
        stamp = msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec
        with self.lock:
            self.states.append((time.monotonic(), stamp))

    def _on_event(self, msg: Any) -> None:
        with self.lock:
            self.events.append((time.monotonic(), json.loads(msg.data)))

    def _on_status(self, msg: Any) -> None:
        with self.lock:
            self.policy_status.append(json.loads(msg.data))

    def _on_version(self, msg: Any) -> None:
        with self.lock:
            self.versions.append(msg.data)

    def last_source(self) -> str:
        """Return the source of the gate's newest decision ('' before the first)."""
        with self.lock:
            return self.gate[-1][1].get('source', '') if self.gate else ''

    def first_gate_after(self, at: float, predicate: Callable[[dict], bool],
                         timeout: float) -> Optional[float]:
        """Return the delay from ``at`` to the first decision matching ``predicate``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                hit = next((t for t, s in self.gate if t >= at and predicate(s)), None)
            if hit is not None:
                return hit - at
            time.sleep(0.02)
        return None

    def publish_nan(self, n_joints: int) -> None:
        """Publish one action of NaN on the policy's action topic."""
        from std_msgs.msg import Float64MultiArray  # lazy: rclpy only when a soak runs
        self.action_pub.publish(Float64MultiArray(data=[math.nan] * n_joints))

    def publish_model(self, path: str) -> None:
        """Publish a model path, as any peer on the domain can."""
        from std_msgs.msg import String  # lazy: rclpy only when a soak runs
        self.model_pub.publish(String(data=path))

    def close(self) -> None:
        """Stop spinning and shut the probe down."""
        import rclpy  # lazy: rclpy only when a soak runs
        self._stop.set()
        self._thread.join(timeout=5.0)
        self.executor.shutdown()
        self.node.destroy_node()
        rclpy.shutdown(context=self.context)


def _bag_count(data: Path) -> int:
    """Return how many finished episode bags ``data`` holds (skipped ones quietly left out)."""
    return len(scan_episode_bags(data)[0]) if data.exists() else 0


def _wait(predicate: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


class Soak:
    """Start the graph, inject the faults, measure, stop."""

    def __init__(self, out: Path, *, minutes: float, domain_id: int, model: Path,
                 faults: tuple[str, ...] = FAULTS, gap_s: float = 6.0,
                 log: Callable[[str], None] = print) -> None:
        """Prepare folders and processes under ``out``; ``faults`` come in that order."""
        unknown = set(faults) - set(FAULTS)
        if unknown or not faults:
            raise ValueError(f'unknown faults {sorted(unknown)}; choose from {", ".join(FAULTS)}')
        self.faults = tuple(faults)
        self.out = out.resolve()
        self.minutes = minutes
        self.domain_id = domain_id
        self.gap_s = gap_s
        self.log = log
        self.data = self.out / 'data'
        self.models = self.out / 'models'
        self.tmpfs = False
        self.report = SoakReport(minutes=minutes)
        self.out.mkdir(parents=True, exist_ok=True)
        self.models.mkdir(exist_ok=True)
        self._mount_data()
        overrides = {
            'sim_arm': {'seed': 3, 'camera_hz': 0.0, 'reset_delay_s': 0.5,
                        'actuation_noise': 0.01},
            'policy': {'model_path': str(model.resolve()),
                       'model_dirs': f'{self.models}:{model.resolve().parent}'},
            'recorder': {'data_dir': str(self.data), 'record_images': False},
            'trainer': {'data_dir': str(self.data), 'models_dir': str(self.models),
                        'policy': 'mse', 'train_steps': 500, 'min_new_samples': 400},
        }
        extra = self.out / 'overrides.yaml'
        extra.write_text(json.dumps({node: {'ros__parameters': values}
                                     for node, values in overrides.items()}))
        env = dict(os.environ, ROS_DOMAIN_ID=str(domain_id), PYTHONUNBUFFERED='1')
        self.processes: dict[str, NodeProcess] = {}
        for spec in graph('hg_dagger'):
            if spec.when == 'real':
                continue
            params = [p for p in (params_file(spec), extra) if p is not None]
            self.processes[spec.name] = NodeProcess(
                spec.executable, spec.name, params, self.out / f'{spec.name}.log', env)

    def _mount_data(self) -> None:
        """Put the data folder on a small tmpfs, so that it can be filled, where allowed."""
        self.data.mkdir(exist_ok=True)
        if os.geteuid() != 0:
            return
        done = subprocess.run(['mount', '-t', 'tmpfs', '-o', 'size=256m', 'tmpfs',
                               str(self.data)], capture_output=True)
        self.tmpfs = done.returncode == 0

    def run(self) -> SoakReport:
        """Run the soak and return what it measured."""
        probe = Probe(self.domain_id)
        try:
            for proc in self.processes.values():
                proc.start()
            if not _wait(lambda: len(probe.gate) > 50 or self._exited(), 120.0):
                raise RuntimeError(f'the gate published nothing within 120 s; logs in {self.out}')
            exited = self._exited()
            if exited:
                raise RuntimeError(f'{", ".join(exited)} exited at start-up; see '
                                   + ', '.join(str(self.processes[n].log) for n in exited))
            time.sleep(10.0)  # warm-up: imports done, first episodes running
            start_rss = {n: p.rss_mb() for n, p in self.processes.items()}
            t_start = time.monotonic()
            end = t_start + self.minutes * 60.0
            index = 0
            while time.monotonic() < end or index < len(self.faults):
                fault = self.faults[index % len(self.faults)]
                index += 1
                result = getattr(self, f'_{fault}')(probe)
                self.report.faults.append(result)
                self.log(f'[{(time.monotonic() - t_start) / 60:5.1f} min] {fault}: '
                         f'{result.outcome}')
                time.sleep(self.gap_s)
            t_end = time.monotonic()
            end_rss = {n: p.rss_mb() for n, p in self.processes.items()}
            self.report.memory_mb = {n: (start_rss[n], end_rss[n]) for n in self.processes}
            self._account(probe, t_start, t_end)
        finally:
            for proc in reversed(list(self.processes.values())):
                proc.stop()
            probe.close()
            if self.tmpfs:
                self._keep_bags()
        return self.report

    def _exited(self) -> list[str]:
        """Return the names of the nodes whose process has exited."""
        return [n for n, p in self.processes.items()
                if p.proc is not None and p.proc.poll() is not None]

    # --- faults ---------------------------------------------------------------------

    def _joy_unplug(self, probe: Probe) -> FaultResult:
        return self._joy_stop(probe, 'joy_unplug', 1.5)

    def _joy_gap(self, probe: Probe) -> FaultResult:
        return self._joy_stop(probe, 'joy_gap', 0.0)

    def _joy_stop(self, probe: Probe, fault: str, stopped_s: float) -> FaultResult:
        """Stop sim_human during a takeover until the gate holds and ``stopped_s`` more."""
        if not _wait(lambda: probe.last_source() == 'human', PRECONDITION_S):
            now = time.monotonic()
            return FaultResult(fault, now, (now, now), 'skipped: no takeover came')
        at = time.monotonic()
        self.processes['sim_human'].signal(signal.SIGSTOP)
        hold = probe.first_gate_after(at, lambda s: s.get('mode') == 'hold_joy_lost',
                                      REACTION_S)
        time.sleep(stopped_s)
        self.processes['sim_human'].signal(signal.SIGCONT)
        resumed = time.monotonic()
        back = probe.first_gate_after(resumed, lambda s: s.get('source') in ('human', 'policy'),
                                      RECOVERY_S)
        done = time.monotonic()
        return FaultResult(fault, at, (at, done + 1.0),
                           'held, then driven again' if back is not None
                           else f'held; nothing drove within {RECOVERY_S:g} s', hold, back)

    def _policy_stall(self, probe: Probe) -> FaultResult:
        if not _wait(lambda: probe.last_source() == 'policy', PRECONDITION_S):
            now = time.monotonic()
            return FaultResult('policy_stall', now, (now, now), 'skipped: the policy never drove')
        at = time.monotonic()
        self.processes['policy'].signal(signal.SIGSTOP)
        hold = probe.first_gate_after(at, lambda s: s.get('source') != 'policy', REACTION_S)
        time.sleep(2.0)
        self.processes['policy'].signal(signal.SIGCONT)
        resumed = time.monotonic()
        back = probe.first_gate_after(resumed, lambda s: s.get('source') == 'policy', RECOVERY_S)
        return FaultResult('policy_stall', at, (at, time.monotonic()),
                           'held, then the policy drove again' if back is not None
                           else f'held; the policy did not drive within {RECOVERY_S:g} s',
                           hold, back)

    def _nan_actions(self, probe: Probe) -> FaultResult:
        if not _wait(lambda: probe.last_source() == 'policy', PRECONDITION_S):
            now = time.monotonic()
            return FaultResult('nan_actions', now, (now, now), 'skipped: the policy never drove')
        at = time.monotonic()
        while time.monotonic() < at + 2.0:
            probe.publish_nan(3)
            time.sleep(0.01)
        hold = probe.first_gate_after(at, lambda s: s.get('mode') == 'hold_invalid_policy', 0.5)
        return FaultResult('nan_actions', at, (at, time.monotonic() + 0.5),
                           f'{probe.non_finite} non-finite commands sent so far', hold)

    def _recorder_kill(self, probe: Probe) -> FaultResult:
        at = time.monotonic()
        recorder = self.processes['recorder']
        recorder.signal(signal.SIGKILL)
        recorder.proc.wait()
        time.sleep(2.0)
        recorder.start()
        self.report.restarts['recorder'] += 1
        before = _bag_count(self.data)
        wrote = _wait(lambda: _bag_count(self.data) > before, 90.0)
        return FaultResult('recorder_kill', at, (at, time.monotonic()),
                           'restarted; it recorded the next episode' if wrote
                           else 'restarted; no episode recorded within 90 s')

    def _trainer_crash(self, probe: Probe) -> FaultResult:
        at = time.monotonic()
        trainer = self.processes['trainer']
        trainer.signal(signal.SIGKILL)
        trainer.proc.wait()
        orphans = _wait(lambda: not _training_children(self.models), 10.0)
        trainer.start()
        self.report.restarts['trainer'] += 1
        return FaultResult('trainer_crash', at, (at, time.monotonic()),
                           'restarted; no training child left behind' if orphans
                           else 'restarted; a training child outlived it')

    def _disk_full(self, probe: Probe) -> FaultResult:
        now = time.monotonic()
        if not self.tmpfs:
            return FaultResult('disk_full', now, (now, now),
                               'skipped: no tmpfs could be mounted (not root)')
        filler = self.data / 'filler.bin'
        free = shutil.disk_usage(self.data).free
        try:
            with filler.open('wb') as f:
                f.truncate(0)
                chunk = b'\0' * (1 << 20)
                left = free - 32 * 1024
                while left > 0:
                    f.write(chunk[:min(len(chunk), left)])
                    left -= len(chunk)
        except OSError:
            pass  # full already
        at = time.monotonic()
        time.sleep(10.0)
        filler.unlink(missing_ok=True)
        alive = all(p.proc.poll() is None for p in self.processes.values())
        decided = probe.first_gate_after(at, lambda s: True, 1.0) is not None
        return FaultResult('disk_full', at, (at, time.monotonic() + 1.0),
                           f'10 s with 32 KB free; every node {"up" if alive else "DOWN"}, the '
                           f'gate {"deciding" if decided else "SILENT"}')

    def _hostile_model(self, probe: Probe) -> FaultResult:
        at = time.monotonic()
        with probe.lock:
            version = probe.versions[-1] if probe.versions else ''
            seen = len(probe.policy_status)
        stray = self.out / 'stray.onnx'
        shutil.copyfile(self.processes['policy'].cmd[0], stray)  # not a model, not listed
        for path in ('/etc/passwd', f'{self.models}/../stray.onnx', str(stray),
                     str(self.models / 'missing.onnx')):
            probe.publish_model(path)
            time.sleep(0.3)
        time.sleep(2.0)  # a load the node started would report within this
        with probe.lock:
            loaded = [s for s in probe.policy_status[seen:] if s.get('event') == 'loaded'
                      and s.get('role') == 'active']
            now_version = probe.versions[-1] if probe.versions else ''
        unchanged = now_version == version and not any(
            str(self.out) in s.get('path', '') and 'stray' in s.get('path', '') for s in loaded)
        return FaultResult('hostile_model', at, (at, time.monotonic()),
                           '4 hostile paths; model ' + ('unchanged' if unchanged else 'CHANGED'))

    # --- accounting -----------------------------------------------------------------

    def _account(self, probe: Probe, t_start: float, t_end: float) -> None:
        windows = [f.window for f in self.report.faults
                   if f.fault in ('recorder_kill', 'disk_full')]
        with probe.lock:
            events = list(probe.events)
            states = list(probe.states)
            commands = [t for t in probe.commands if t_start <= t <= t_end]
            decided = [s['stamp'] for t, s in probe.gate
                       if t_start <= t <= t_end and isinstance(s.get('stamp'), (int, float))]
            self.report.non_finite_commands = probe.non_finite
        rate = 20.0
        self.report.commands = (int((t_end - t_start) * rate), len(commands))
        gaps = [(b - a, a) for a, b in zip(commands, commands[1:])]
        self.report.largest_decision_gap_s = max(
            (b - a for a, b in zip(decided, decided[1:])), default=math.inf)
        self.report.largest_gap_s, at = max(gaps) if gaps else (math.inf, t_start)
        self.report.largest_gap_during = next(
            (f.fault for f in self.report.faults if f.window[0] - 1.0 <= at <= f.window[1]),
            'no fault')
        starts = {e['episode']: (t, e) for t, e in events if e.get('event') == 'start'}
        ends = {e['episode']: (t, e) for t, e in events if e.get('event') == 'end'}
        bags = {}
        found, skipped = scan_episode_bags(self.data)
        self.report.skipped_bags = Counter(s.reason.split(':')[0] for s in skipped)
        for bag in found:
            try:
                messages = read_bag_messages(bag, with_images=False)
            except Exception:  # noqa: BLE001 - counted as missing below
                continue
            episode = next((e['episode'] for e in messages.events if e['event'] == 'start'),
                           None)
            bags[episode] = messages
        published = recorded = compared = missing = 0
        for episode, (t0, start) in starts.items():
            if episode not in ends or not t_start <= t0 <= t_end:
                continue
            t1, end = ends[episode]
            if any(a - 1.0 <= t1 and t0 <= b + 1.0 for a, b in windows):
                continue  # the recorder was down or the disk full: the fault's own loss
            lo, hi = int(start['stamp'] * 1e9) - 1000, int(end['stamp'] * 1e9) + 1000
            sent = {s for _, s in states if lo <= s <= hi}
            bag = bags.get(episode)
            if bag is None:
                missing += 1
                published += len(sent)
                continue
            compared += 1
            published += len(sent)
            got = sent & {int(s) for s in bag.joint_stamps}
            recorded += len(got)
            if got != sent:
                order = sorted(sent)
                lost = [order.index(s) for s in sent - got]
                self.report.losses.append((episode, len(order), sorted(lost)))
        self.report.topics[topics.JOINT_STATES.bag_name] = (published, recorded)
        ended = sum(1 for e, (t, _) in ends.items() if t_start <= t <= t_end)
        self.report.episodes = (ended, compared, missing)

    def _keep_bags(self) -> None:
        """Copy the bags off the tmpfs, then unmount it."""
        keep = self.out / 'bags'
        shutil.copytree(self.data, keep, dirs_exist_ok=True,
                        ignore=shutil.ignore_patterns('filler.bin'))
        subprocess.run(['umount', str(self.data)], capture_output=True)


def _training_children(models: Path) -> list[int]:
    """Return the pids of training processes writing into ``models``."""
    found = []
    for entry in Path('/proc').iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / 'cmdline').read_bytes().replace(b'\0', b' ').decode()
        except OSError:
            continue
        if ' train ' in cmdline and str(models) in cmdline:
            found.append(int(entry.name))
    return found


def format_report(report: SoakReport) -> str:
    """Return the soak's tables as markdown."""
    lines = [f'Soak of {report.minutes:g} min: the hg_dagger graph in separate processes, '
             'faults in turn.', '',
             '| fault | injections | time to safe hold (s): median / max | driven again after '
             'the fault (s): median / max | outcomes |',
             '|---|---|---|---|---|']
    for fault in FAULTS:
        rows = [f for f in report.faults if f.fault == fault]
        holds = _median_max([f.hold_s for f in rows])
        backs = _median_max([f.back_s for f in rows])
        outcomes = Counter(f.outcome for f in rows)
        text = '; '.join(f'{n}x {o}' for o, n in outcomes.most_common(3))
        lines.append(f'| {fault} | {len(rows)} | {holds} | {backs} | {text} |')
    ended, compared, missing = report.episodes
    lines += ['', '| topic | published in clean episodes | recorded | lost |', '|---|---|---|---|']
    for topic, (pub, rec) in report.topics.items():
        lines.append(f'| {topic} | {pub} | {rec} | {pub - rec} |')
    expected, sent = report.commands
    lines += ['', f'Episodes ended: {ended}; compared with their bags: {compared}; bag missing '
              f'outside fault windows: {missing}.',
              f'Commands: expected {expected} at 20 Hz, sent {sent}; largest gap '
              f'{report.largest_gap_s * 1e3:.0f} ms (during {report.largest_gap_during}; '
              'between two received by the probe); largest gap between two of the gate\'s '
              f'decisions by its own stamps {report.largest_decision_gap_s * 1e3:.0f} ms; '
              f'non-finite commands: {report.non_finite_commands}.', '',
              f'| node | resident MB after warm-up | at the end | growth | within '
              f'{MEMORY_GROWTH_BOUND_MB:g} MB |', '|---|---|---|---|---|']
    for node, (a, b) in report.memory_mb.items():
        if report.restarts.get(node):
            verdict = 'restarted (another process at the end)'
        else:
            verdict = 'yes' if b - a <= MEMORY_GROWTH_BOUND_MB else '**NO**'
        lines.append(f'| {node} | {a:.0f} | {b:.0f} | {b - a:+.0f} | {verdict} |')
    for episode, n, lost in report.losses:
        lines.append(f'Episode {episode}: {len(lost)} of its {n} joint states missing from its '
                     f'bag (indices {lost[:10]})')
    if report.restarts:
        lines += ['', 'Restarts: ' + ', '.join(f'{n} {c}' for n, c in report.restarts.items())]
    if report.skipped_bags:
        lines += ['', 'Bags the loader leaves out: ' + ', '.join(
            f'{n} ({reason})' for reason, n in report.skipped_bags.most_common())]
    return '\n'.join(lines)


def _median_max(values: list[Optional[float]]) -> str:
    """Return 'median / max' of the values that are not None (s, 3 decimals), or '-'."""
    known = sorted(v for v in values if v is not None)
    return f'{known[len(known) // 2]:.3f} / {known[-1]:.3f}' if known else '-'
