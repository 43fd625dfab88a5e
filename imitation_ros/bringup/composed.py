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
Run a node graph in one process (manual composition), from the same params files.

The launch files start one process per node; here every node of the graph is
created in one rclpy context whose arguments load the same ``config/*.yaml``
params files, and each node spins in its own thread with its own executor, as
it would in its own process: the gate's timer never waits behind the recorder's
writes or a policy's inference in a shared executor queue. The nodes still talk
over real DDS. Used by ``imitation-ros demo`` and by the end-to-end tests;
training still happens in a child process (the trainer node starts it).
"""

from __future__ import annotations

import importlib
from pathlib import Path
import sys
import tempfile
import threading
from typing import Any, Optional

import yaml

from ..nodes.share import share_dir
from .graph import graph, namespaced_params, NodeSpec

#: Node class per executable of this package.
NODE_CLASSES: dict[str, tuple[str, str]] = {
    'sim_arm': ('imitation_ros.nodes.sim_arm', 'create_sim_arm'),
    'sim_human': ('imitation_ros.nodes.sim_human', 'SimHumanNode'),
    'policy_node': ('imitation_ros.nodes.policy_node', 'PolicyNode'),
    'intervention_gate': ('imitation_ros.nodes.intervention_gate', 'InterventionGateNode'),
    'recorder': ('imitation_ros.nodes.recorder', 'RecorderNode'),
    'trainer': ('imitation_ros.nodes.trainer', 'TrainerNode'),
    'expert_labeler': ('imitation_ros.nodes.expert_labeler', 'ExpertLabelerNode'),
    'fleet_operator': ('imitation_ros.nodes.fleet_operator', 'FleetOperatorNode'),
}


def params_file(spec: NodeSpec) -> Optional[Path]:
    """Return the params file of ``spec`` (None if it has none)."""
    if not spec.params_file:
        return None
    path = share_dir() / 'config' / spec.params_file
    if not path.exists():
        raise FileNotFoundError(f'{path} (params file of {spec.name}) is missing')
    return path


class ComposedGraph:
    """All nodes of a graph in one process; start, add extra nodes, stop."""

    def __init__(self, name: str, *, use_sim: bool = True,
                 overrides: Optional[dict[str, dict[str, Any]]] = None,
                 robots: Optional[int] = None) -> None:
        """
        Prepare graph ``name``.

        :param overrides: node key (``name``, or ``namespace/name`` for a namespaced node)
            -> parameter values that replace the params file's.
        :param robots: the fleet graph's number of robots (default: the graph's).
        """
        nodes = graph(name) if robots is None else graph(name, robots=robots)
        self.specs = [s for s in nodes if s.when != ('real' if use_sim else 'sim')]
        missing = [s.executable for s in self.specs if s.executable not in NODE_CLASSES]
        if missing:
            raise ValueError(f'cannot compose {missing} in-process; run the launch file')
        self.overrides = overrides or {}
        self.nodes: dict[str, Any] = {}
        self._extra: list[Any] = []
        self.errors: list[str] = []
        """Exceptions raised by callbacks (printed, and the graph kept spinning)."""
        self._spinners: list[tuple[threading.Thread, Any]] = []
        self._stop = threading.Event()
        self._tmp: Optional[tempfile.TemporaryDirectory] = None

    def start(self, domain_id: Optional[int] = None) -> None:
        """Create the context and every node, and spin each in its own thread."""
        import rclpy  # lazy: rclpy only when a graph starts; the CLI imports this module
        from rclpy.context import Context  # lazy: rclpy only when a graph starts
        from rclpy.parameter import Parameter  # lazy: rclpy only when a graph starts
        args = ['--ros-args']
        for spec in self.specs:
            path = params_file(spec)
            if path is not None:
                args += ['--params-file', str(self._keyed(path, spec))]
        self.context = Context()
        rclpy.init(args=args, context=self.context,
                   **({'domain_id': domain_id} if domain_id is not None else {}))
        try:
            for spec in self.specs:
                module, cls = NODE_CLASSES[spec.executable]
                node_cls = getattr(importlib.import_module(module), cls)
                values = {**spec.robot_params, **spec.fixed,
                          **self.overrides.get(spec.key, {})}
                params = [Parameter(k, value=v) for k, v in values.items()]
                extra: dict[str, Any] = {}
                if spec.namespace:
                    extra['namespace'] = spec.namespace
                if spec.remappings:
                    extra['cli_args'] = ['--ros-args', *(a for old, new in spec.remappings
                                                         for a in ('-r', f'{old}:={new}'))]
                self.nodes[spec.key] = node_cls(context=self.context,
                                                parameter_overrides=params, **extra)
        except BaseException:
            self.stop()
            raise
        for name, node in self.nodes.items():
            self._spin(name, node)

    def _keyed(self, path: Path, spec: NodeSpec) -> Path:
        """Return ``path``, or for a namespaced node a copy keyed by its full name."""
        if not spec.namespace:
            return path
        content = namespaced_params(yaml.safe_load(path.read_text(encoding='utf-8')), spec)
        if self._tmp is None:
            self._tmp = tempfile.TemporaryDirectory(prefix='imitation_ros_graph_')
        out = Path(self._tmp.name) / f'{spec.namespace}_{spec.params_file}'
        out.write_text(yaml.safe_dump(content), encoding='utf-8')
        return out

    def _spin(self, name: str, node: Any) -> None:
        """Spin ``node`` with its own executor in its own thread until :meth:`stop`."""
        from rclpy.executors import SingleThreadedExecutor  # lazy: rclpy only when a graph starts
        executor = SingleThreadedExecutor(context=self.context)
        executor.add_node(node)

        def spin() -> None:
            while not self._stop.is_set() and self.context.ok():
                try:
                    executor.spin_once(timeout_sec=0.05)
                except Exception as exc:  # noqa: BLE001 - one bad callback must not stop all
                    if self._stop.is_set() or not self.context.ok():
                        break
                    self.errors.append(f'{name}: {type(exc).__name__}: {exc}')
                    print(f'composed graph: a callback of {name} raised '
                          f'{type(exc).__name__}: {exc}', file=sys.stderr)

        thread = threading.Thread(target=spin, name=f'composed-{name}', daemon=True)
        self._spinners.append((thread, executor))
        thread.start()

    def add(self, node: Any) -> Any:
        """Spin one more node (created in :attr:`context`) beside the graph."""
        self._extra.append(node)
        self._spin(node.get_name(), node)
        return node

    def stop(self) -> None:
        """Stop spinning, destroy every node and shut the context down."""
        import rclpy  # lazy: rclpy only when a graph starts
        self._stop.set()
        for thread, _ in self._spinners:
            thread.join(timeout=10.0)
        # Callbacks still running finish before their nodes are destroyed (else they
        # fail on destroyed handles at exit).
        for _, executor in self._spinners:
            executor.shutdown(timeout_sec=5.0)
        for node in [*self._extra, *self.nodes.values()]:
            try:
                node.destroy_node()
            except Exception:  # noqa: BLE001 - tearing down: keep destroying the rest
                pass
        if self.context.ok():
            rclpy.shutdown(context=self.context)
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None
