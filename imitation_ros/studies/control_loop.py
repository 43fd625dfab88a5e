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
Observation-to-command latency of the robot-side graph over real DDS, against bare rclpy.

One *cell* starts, each as its own process, ``policy_node`` and
``intervention_gate`` from their executables with params files (``config/`` plus
the cell's overrides), a fake arm that replays recorded joint states and tasks at
``rate_hz`` (:mod:`~imitation_ros.studies.bench_nodes`), two bare-rclpy relays and a
probe. The arm's joint state takes three DDS hops to the probe both ways: arm ->
policy -> gate -> probe, and arm -> relay -> relay -> probe (the floor), in the
same run.

Pairing: the policy's action carries the observed joint state's header stamp as
leading padding (``layout.data_offset`` = 2); the probe reads it, and pairs each
command with the action it was made of by content. The gate runs with
``max_joint_step`` at its maximum so that it never clamps a command: a command
then equals its action bit for bit (the clamp costs no time either way). A
command equal to no action is a hold or a clamped action (the gate's decision on
``imitation/gate_state`` says which). Per joint state in the window: latency =
receive time of its first command at the probe - its header stamp (one clock:
every process is on this machine). Commands per state counts every command made
of the state's action (the gate's timer repeats the newest action).

Chunked policies (diffusion) re-plan every ``execute`` actions, the first
action after start-up being a re-plan: the arm starts only once every
subscriber has matched and the model is loaded, and the analysis splits the
latencies by that phase only when every state from the first action on got
exactly one action (otherwise the split is reported as unknown).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
import json
import os
from pathlib import Path
import shutil
import signal
import subprocess
import sys
import time
from typing import Any, Callable, Optional, Sequence

import numpy as np

from ..data import find_episode_bags, load_dataset, messages as m
from ..data.reader import labelled_state_stamp
from ..interface import topics
from ..nodes.share import share_dir
from ..runtime.model_trust import record_model

#: Joint state rates of the main table (Hz).
RATES = (20.0, 50.0, 100.0)
#: Policy kinds of the main table.
KINDS = ('mse', 'gmm', 'diffusion')
#: Seconds after the first action before the window opens (imports, caches, discovery).
WARMUP_S = 2.0
#: Longest wait for a cell's probe to finish beyond its window (s).
CELL_TIMEOUT_S = 120.0
#: Bins of the latency histograms (ms, log-spaced).
HIST_EDGES_MS = np.geomspace(0.1, 200.0, 67)
_NS = 1_000_000_000


@dataclass(frozen=True)
class Variant:
    """One configuration of the graph."""

    key: str
    """Short name (``--variants``)."""
    label: str
    """What it changes, in words."""
    trigger: str
    """The policy node's ``trigger``: joint_states or timer."""
    forward_on_action: bool
    """The gate's ``forward_on_action``."""
    executor: str
    """``$IMITATION_ROS_EXECUTOR`` of every process (nodes, relays, arm, probe)."""


#: The ablation, each row adding one change to the one before; the last is the default.
VARIANTS = (
    Variant('timer', 'policy and gate on their timers (SingleThreadedExecutor)', 'timer',
            False, 'single'),
    Variant('forward', '+ gate forward_on_action', 'timer', True, 'single'),
    Variant('on_state', '+ policy acts on each joint state (trigger joint_states)',
            'joint_states', True, 'single'),
    Variant('events', '+ EventsExecutor (the defaults)', 'joint_states', True, 'events'),
)
VARIANT_KEYS = tuple(v.key for v in VARIANTS)


def variant(key: str) -> Variant:
    """Return the variant called ``key`` (ValueError if none)."""
    for v in VARIANTS:
        if v.key == key:
            return v
    raise ValueError(f'unknown variant {key!r}; choose from {", ".join(VARIANT_KEYS)}')


# --- analysis (no ROS) ----------------------------------------------------------------


def _split(dump: dict, name: str) -> list[tuple[int, bytes]]:
    """Return the (receive ns, raw bytes) records of one probe topic."""
    times = np.asarray(dump[f'{name}_t'], dtype=np.int64)
    lengths = np.asarray(dump[f'{name}_len'], dtype=np.int64)
    raw = np.asarray(dump[f'{name}_raw'], dtype=np.uint8).tobytes()
    out, at = [], 0
    for t, n in zip(times.tolist(), lengths.tolist()):
        out.append((t, raw[at:at + n]))
        at += n
    return out


def _stats(ms: Sequence[float]) -> dict:
    if not len(ms):
        return {'n': 0, 'p50_ms': float('nan'), 'p99_ms': float('nan'),
                'max_ms': float('nan'), 'mean_ms': float('nan')}
    a = np.asarray(ms, dtype=np.float64)
    return {'n': int(len(a)), 'p50_ms': float(np.percentile(a, 50)),
            'p99_ms': float(np.percentile(a, 99)), 'max_ms': float(a.max()),
            'mean_ms': float(a.mean())}


def analyse(dump: dict, *, rate_hz: float, execute: Optional[int] = None) -> dict:
    """
    Turn a probe's records into the cell's numbers (see the module docstring).

    :param dump: the probe's npz contents: ``window`` (start, end ns) and per topic
        ``<name>_t`` (receive ns), ``<name>_len`` and ``<name>_raw`` (CDR bytes).
    :param execute: actions per chunk of a chunked policy (None: not chunked).
    :returns: latency stats of the policy path and of the floor (ms), their ratios,
        commands per state, states without a command, repeats, holds, unmatched
        commands, the largest gap between commands (ms and control periods) and,
        for chunked policies, the stats of re-planning and executed steps.
    """
    w0, w1 = (int(v) for v in dump['window'])
    states = sorted({m.decode_joint_state(raw).stamp_ns for _, raw in _split(dump, 'states')})
    window = [s for s in states if w0 <= s <= w1]
    actions: dict[int, tuple[float, ...]] = {}
    by_values: dict[tuple[float, ...], list[int]] = {}
    duplicate_actions = 0
    for _, raw in _split(dump, 'actions'):
        stamp = labelled_state_stamp(raw)
        values = tuple(m.decode_float64_array(raw).tolist())
        if stamp in actions:
            duplicate_actions += 1   # timer trigger: a tick without a new state repeats
            continue
        actions[stamp] = values
        by_values.setdefault(values, []).append(stamp)
    sources: dict[tuple[float, ...], str] = {}
    for _, raw in _split(dump, 'gate'):
        decision = json.loads(m.decode_string(raw))
        sources[tuple(float(v) for v in decision.get('command', ()))] = decision.get('source',
                                                                                     '')
    per_state: dict[int, list[int]] = {}
    holds = unmatched = 0
    command_times = []
    for t, raw in _split(dump, 'commands'):
        command_times.append(t)
        values = tuple(m.decode_float64_array(raw).tolist())
        stamps = [s for s in by_values.get(values, ()) if s <= t]
        if stamps:
            per_state.setdefault(max(stamps), []).append(t)
        elif sources.get(values) == 'hold':
            holds += int(w0 <= t <= w1)
        else:
            unmatched += int(w0 <= t <= w1)
    latency = {s: (min(per_state[s]) - s) / 1e6 for s in window if s in per_state}
    counts = [len(per_state.get(s, ())) for s in window]
    relayed = [(t, labelled_state_stamp(raw)) for t, raw in _split(dump, 'floor')]
    floor = [(t - s) / 1e6 for t, s in relayed if w0 <= s <= w1]
    inside = sorted(t for t in command_times if w0 <= t <= w1)
    gaps = np.diff(inside) / 1e6 if len(inside) > 1 else np.asarray([np.inf])
    period_ms = 1e3 / rate_hz
    policy = _stats(list(latency.values()))
    base = _stats(floor)
    result = {
        'states': len(window), 'policy': policy, 'floor': base,
        'ratio_p50': policy['p50_ms'] / base['p50_ms'] if base['n'] else float('nan'),
        'ratio_p99': policy['p99_ms'] / base['p99_ms'] if base['n'] else float('nan'),
        'commands_per_state': float(np.mean(counts)) if counts else float('nan'),
        'states_without_command': int(sum(c == 0 for c in counts)),
        'repeats': int(sum(max(c - 1, 0) for c in counts)),
        'holds': holds, 'unmatched': unmatched, 'duplicate_actions': duplicate_actions,
        'max_gap_ms': float(gaps.max()), 'max_gap_periods': float(gaps.max() / period_ms),
        'hist': {'edges': HIST_EDGES_MS.tolist(),
                 'policy': np.histogram(list(latency.values()), HIST_EDGES_MS)[0].tolist(),
                 'floor': np.histogram(floor, HIST_EDGES_MS)[0].tolist()},
    }
    if execute:
        result.update(_chunk_phases(states, actions, latency, execute))
    return result


def _chunk_phases(states: list[int], actions: dict[int, Any], latency: dict[int, float],
                  execute: int) -> dict:
    """Split the latencies into re-planning and executed steps (see the module docstring)."""
    acted = sorted(actions)
    if not acted:
        return {'phases_known': False}
    expected = [s for s in states if acted[0] <= s <= acted[-1]]
    if expected != acted:
        return {'phases_known': False}
    index = {s: i for i, s in enumerate(acted)}
    replan = [ms for s, ms in latency.items() if index[s] % execute == 0]
    executed = [ms for s, ms in latency.items() if index[s] % execute != 0]
    return {'phases_known': True, 'replan': _stats(replan), 'executed': _stats(executed)}


# --- running a cell -------------------------------------------------------------------


class _Process:
    """One process of a cell: started with its log, stopped with SIGINT."""

    def __init__(self, name: str, cmd: list[str], log: Path, env: dict[str, str]) -> None:
        self.name, self.cmd, self.log, self.env = name, cmd, log, env
        self.proc: Optional[subprocess.Popen] = None

    def start(self) -> None:
        with self.log.open('ab') as out:
            self.proc = subprocess.Popen(self.cmd, stdout=out, stderr=subprocess.STDOUT,
                                         env=self.env)

    def cpu_s(self) -> float:
        """Return the CPU seconds (user + system) used so far; nan once it has exited."""
        if self.proc is None:
            return float('nan')
        try:
            fields = Path(f'/proc/{self.proc.pid}/stat').read_text().rsplit(')', 1)[1].split()
        except OSError:
            return float('nan')
        return (int(fields[11]) + int(fields[12])) / os.sysconf('SC_CLK_TCK')

    def stop(self, timeout: float = 15.0) -> Optional[int]:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()


def _executable(name: str) -> str:
    return shutil.which(name) or str(Path(sys.prefix) / 'bin' / name)


def run_cell(work: Path, *, kind: str, model: Path, path_file: Path, rate_hz: float,
             graph: Variant, seconds: float, domain_id: int, execute: Optional[int] = None,
             warmup_s: float = WARMUP_S, log: Callable[[str], None] = print) -> dict:
    """
    Run one cell (see the module docstring) and return :func:`analyse`'s numbers.

    Adds ``cpu_percent`` per process over the window (100 = one core) and the arm's
    count of late publications.

    :raises RuntimeError: the probe did not finish (its and the nodes' logs are in
        ``work``).
    """
    # lazy: rclpy only in a run; the CLI's parser imports this module
    from .bench_nodes import RELAY_TOPICS
    name = f'{kind}_{rate_hz:g}hz_{graph.key}'
    cell = work / name
    cell.mkdir(parents=True, exist_ok=True)
    for old in cell.glob('*.log'):
        old.unlink()
    env = dict(os.environ, ROS_DOMAIN_ID=str(domain_id), PYTHONUNBUFFERED='1',
               IMITATION_ROS_EXECUTOR=graph.executor)
    urdf = str(share_dir() / 'urdf' / 'planar3.urdf')
    overrides = {
        'policy': {'model_path': str(model.resolve()), 'model_dirs': str(model.resolve().parent),
                   'trigger': graph.trigger, 'rate_hz': float(rate_hz), 'urdf_file': urdf},
        # Never clamping keeps every command equal to its action (the pairing).
        'intervention_gate': {'rate_hz': float(rate_hz),
                              'forward_on_action': graph.forward_on_action,
                              'max_joint_step': 3.2, 'urdf_file': urdf},
    }
    params = cell / 'params.yaml'
    params.write_text(json.dumps({n: {'ros__parameters': v} for n, v in overrides.items()}))
    config = share_dir() / 'config'
    dump = cell / 'probe.npz'
    dump.unlink(missing_ok=True)

    def helper(role: str, settings: dict) -> _Process:
        path = cell / f'{role}{settings.get("index", "")}.json'
        path.write_text(json.dumps(settings))
        return _Process(f'{role}{settings.get("index", "")}',
                        [sys.executable, '-m', 'imitation_ros.studies.bench_nodes', role,
                         str(path)], cell / f'{path.stem}.log', env)

    def node(executable: str, node_name: str, yaml: str) -> _Process:
        return _Process(node_name, [_executable(executable), '--ros-args', '-r',
                                    f'__node:={node_name}', '--params-file',
                                    str(config / yaml), '--params-file', str(params)],
                        cell / f'{node_name}.log', env)

    probe = helper('probe', {'out': str(dump), 'warmup_s': warmup_s, 'seconds': seconds})
    processes = [
        probe,
        helper('relay', {'index': 0}), helper('relay', {'index': 1}),
        node('intervention_gate', 'intervention_gate', 'intervention_gate.yaml'),
        node('policy_node', 'policy', 'policy.yaml'),
        helper('arm', {'path': str(path_file), 'rate_hz': rate_hz,
                       'joint_names': ['joint1', 'joint2', 'joint3'],
                       # policy, gate, relay, probe; gate and probe; the probe.
                       'wait_subscribers': {topics.JOINT_STATES.name: 4,
                                            topics.POLICY_ACTION.name: 2,
                                            topics.COMMANDS.name: 1,
                                            RELAY_TOPICS[0]: 1, RELAY_TOPICS[1]: 1},
                       'wait_model': True}),
    ]
    samples: list[tuple[int, list[float]]] = []
    try:
        for proc in processes:
            proc.start()
        deadline = time.monotonic() + seconds + warmup_s + CELL_TIMEOUT_S
        while probe.proc.poll() is None and time.monotonic() < deadline:
            samples.append((time.time_ns(), [p.cpu_s() for p in processes]))
            time.sleep(0.25)
    finally:
        for proc in reversed(processes):
            proc.stop()
    if not dump.exists():
        raise RuntimeError(f'cell {name}: the probe wrote no results (timed out or failed); '
                           f'logs in {cell}')
    with np.load(dump) as data:
        result = analyse(dict(data), rate_hz=rate_hz, execute=execute)
        w0, w1 = (int(v) for v in data['window'])
    result['cpu_percent'] = _cpu_percent(samples, [p.name for p in processes], w0, w1)
    result.update(kind=kind, rate_hz=rate_hz, variant=graph.key, seconds=seconds)
    arm_log = (cell / 'arm.log').read_text(errors='replace').strip().splitlines()
    stats = [json.loads(line) for line in arm_log if line.startswith('{')]
    result['arm_late'] = stats[-1]['late'] if stats else -1
    log(f'{name}: latency p50 {result["policy"]["p50_ms"]:.2f} / p99 '
        f'{result["policy"]["p99_ms"]:.2f} ms, floor {result["floor"]["p50_ms"]:.2f} / '
        f'{result["floor"]["p99_ms"]:.2f} ms, {result["commands_per_state"]:.2f} commands per '
        f'state, max gap {result["max_gap_periods"]:.2f} periods')
    return result


def _cpu_percent(samples: list[tuple[int, list[float]]], names: list[str], w0: int,
                 w1: int) -> dict[str, float]:
    """CPU % (100 = one core) of each process between the samples nearest the window."""
    inside = [s for s in samples if w0 <= s[0] <= w1]
    if len(inside) < 2:
        return {n: float('nan') for n in names}
    (t0, c0), (t1, c1) = inside[0], inside[-1]
    wall = (t1 - t0) / _NS
    return {n: round(100.0 * (b - a) / wall, 1) for n, a, b in zip(names, c0, c1)}


# --- the benchmark --------------------------------------------------------------------


def prepare(work: Path, kinds: Sequence[str], *, steps: int = 300,
            progress: bool = False) -> tuple[dict[str, Path], Path, dict[str, Optional[int]]]:
    """
    Collect a small dataset, train each kind briefly and list the models; write the arm's path.

    Latency does not depend on how well a model is trained, only on its graph.

    :returns: model per kind, the arm's path file (npz: positions, tasks) and each
        kind's ``execute`` (None when not chunked).
    """
    # lazy: torch, OpenCV only when preparing; the CLI imports this module
    from ..collect import collect
    from ..policies.base import TrainConfig  # lazy: torch only when preparing
    from ..runtime.onnx_policy import OnnxPolicy  # lazy: ONNX Runtime only when preparing
    # lazy: torch only when preparing
    from ..training.pipeline import train_from_bags, TrainRequest
    session = work / 'data' / 'multi'
    if not session.exists() or not find_episode_bags(session):
        collect('multi', 20, work / 'data', seed=7, session='multi', camera_every=0,
                progress=False)
    models: dict[str, Path] = {}
    execute: dict[str, Optional[int]] = {}
    for kind in kinds:
        model = work / 'models' / f'{kind}.onnx'
        if not model.exists():
            train_from_bags(TrainRequest(data=(session,), kind=kind, out=model,
                                         config=TrainConfig(steps=steps), progress=progress,
                                         version=f'loop-{kind}', checkpoint=False))
        record_model(model)
        policy = OnnxPolicy(model)
        models[kind] = model
        execute[kind] = policy.execute if policy.chunked else None
    data = load_dataset([session], index=False)
    order = np.lexsort((data.step, data.episode_id))
    path_file = work / 'arm_path.npz'
    np.savez(path_file, positions=data.positions[order], tasks=data.task[order])
    return models, path_file, execute


def run_loop_benchmark(out: Path, *, rates: Sequence[float] = RATES,
                       kinds: Sequence[str] = KINDS, variants: Sequence[str] = VARIANT_KEYS,
                       ablation_rate: float = 100.0, ablation_kind: str = 'mse',
                       seconds: float = 10.0, domain_id: int = 150,
                       log: Callable[[str], None] = print) -> dict:
    """
    Run the main table (the default graph at every rate and kind) and the ablation.

    The ablation runs every variant in ``variants`` for ``ablation_kind`` at
    ``ablation_rate``; the main table runs the last variant (the defaults).
    Writes ``out/loop.json``, ``out/table.md`` and ``out/latency.png``.
    """
    out.mkdir(parents=True, exist_ok=True)
    work = out / 'work'
    every = list(dict.fromkeys([*kinds, ablation_kind]))
    models, path_file, execute = prepare(work, every)
    final = variant(VARIANT_KEYS[-1])
    cells = []
    ablation = []
    for key in variants:
        v = variant(key)
        ablation.append(run_cell(work, kind=ablation_kind, model=models[ablation_kind],
                                 path_file=path_file, rate_hz=ablation_rate, graph=v,
                                 seconds=seconds, domain_id=domain_id,
                                 execute=execute[ablation_kind], log=log))
    for kind in kinds:
        for rate in rates:
            done = next((c for c in ablation if c['kind'] == kind and c['rate_hz'] == rate
                         and c['variant'] == final.key), None)
            cells.append(done or run_cell(work, kind=kind, model=models[kind],
                                          path_file=path_file, rate_hz=rate, graph=final,
                                          seconds=seconds, domain_id=domain_id,
                                          execute=execute[kind], log=log))
    results = {'cells': cells, 'ablation': ablation, 'seconds': seconds,
               'variants': [asdict(v) for v in VARIANTS], 'cpus': os.cpu_count(),
               'load_before': os.getloadavg()}
    (out / 'loop.json').write_text(json.dumps(results, indent=1))
    (out / 'table.md').write_text(format_loop(results) + '\n')
    plot_loop(results, out / 'latency.png')
    return results


def _ms(stats: dict) -> str:
    return f"{stats['p50_ms']:.2f} / {stats['p99_ms']:.2f} / {stats['max_ms']:.2f}"


def _cpu(cell: dict) -> str:
    cpu = cell['cpu_percent']
    return ', '.join(f'{n} {cpu.get(n, float("nan")):.0f}'
                     for n in ('policy', 'intervention_gate', 'relay0', 'relay1', 'arm',
                               'probe'))


def format_loop(results: dict) -> str:
    """Return the main table and the ablation as markdown."""
    lines = [f"Observation-to-command latency over real DDS, {results['seconds']:g} s per "
             'cell after a warm-up; latency = receive time of the first command made of a '
             "joint state's action at the probe - that state's header stamp. Floor: the "
             'same three hops through two bare rclpy relays, in the same run. CPU: % of one '
             'core over the window.', '',
             '| policy | joint states (Hz) | states | latency p50 / p99 / max (ms) | floor p50 / '
             'p99 / max (ms) | p50, p99 vs floor | commands per state (none, holds) | max gap '
             '(periods) | CPU % (policy, gate, relays, arm, probe) |',
             '|---|---|---|---|---|---|---|---|---|']
    rows = list(results['cells'])
    for c in rows:
        lines.append(_row(c))
    chunked = [c for c in rows if 'phases_known' in c]
    if chunked:
        lines += ['', '| policy | joint states (Hz) | re-planning steps: n, p50 / p99 / max '
                  '(ms) | executed steps: n, p50 / p99 / max (ms) |', '|---|---|---|---|']
        for c in chunked:
            if c['phases_known']:
                lines.append(f"| {c['kind']} | {c['rate_hz']:g} | {c['replan']['n']}, "
                             f"{_ms(c['replan'])} | {c['executed']['n']}, "
                             f"{_ms(c['executed'])} |")
            else:
                lines.append(f"| {c['kind']} | {c['rate_hz']:g} | unknown (a state got no "
                             'action or two) | - |')
    if results['ablation']:
        labels = {v['key']: v['label'] for v in results['variants']}
        a0 = results['ablation'][0]
        lines += ['', f"Ablation: {a0['kind']} at {a0['rate_hz']:g} Hz, each row adding one "
                  'change.', '',
                  '| graph | latency p50 / p99 / max (ms) | floor p50 / p99 / max (ms) | p50, '
                  'p99 vs floor | commands per state (none, holds) | max gap (periods) | CPU % '
                  '(policy, gate, relays, arm, probe) |', '|---|---|---|---|---|---|---|']
        for c in results['ablation']:
            lines.append(f"| {labels[c['variant']]} | {_ms(c['policy'])} | {_ms(c['floor'])} | "
                         f"{c['ratio_p50']:.2f}x, {c['ratio_p99']:.2f}x | "
                         f"{c['commands_per_state']:.2f} ({c['states_without_command']}, "
                         f"{c['holds']}) | {c['max_gap_periods']:.2f} | {_cpu(c)} |")
    return '\n'.join(lines)


def _row(c: dict) -> str:
    return (f"| {c['kind']} | {c['rate_hz']:g} | {c['states']} | {_ms(c['policy'])} | "
            f"{_ms(c['floor'])} | {c['ratio_p50']:.2f}x, {c['ratio_p99']:.2f}x | "
            f"{c['commands_per_state']:.2f} ({c['states_without_command']}, {c['holds']}) | "
            f"{c['max_gap_periods']:.2f} | {_cpu(c)} |")


def plot_loop(results: dict, path: Path) -> Path:
    """Plot the latency histograms of the policy path and the floor, one panel per rate."""
    import matplotlib  # lazy: matplotlib only when plotting
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt  # lazy: matplotlib only when plotting
    rates = sorted({c['rate_hz'] for c in results['cells']})
    fig, axes = plt.subplots(1, len(rates), figsize=(5 * len(rates), 3.6), squeeze=False)
    for ax, rate in zip(axes[0], rates):
        for c in results['cells']:
            if c['rate_hz'] != rate or 'hist' not in c:
                continue
            ax.stairs(c['hist']['policy'], c['hist']['edges'], label=c['kind'])
        floor = next((c for c in results['cells'] if c['rate_hz'] == rate and 'hist' in c),
                     None)
        if floor is not None:
            ax.stairs(floor['hist']['floor'], floor['hist']['edges'], label='floor (relays)',
                      color='black', linestyle='--')
        ax.set_xscale('log')
        ax.set_title(f'{rate:g} Hz joint states')
        ax.set_xlabel('observation to command (ms)')
        ax.set_ylabel('states')
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
