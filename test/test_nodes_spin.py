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

"""The shared spin loop's executor choice."""

from __future__ import annotations

import subprocess
import sys

from imitation_ros import nodes
from imitation_ros.errors import ConfigError
from imitation_ros.nodes.spin import (events_executor_available, EXECUTOR_ENV, executor_name,
                                      make_executor, spin_node)
import pytest
from rclpy.executors import MultiThreadedExecutor, SingleThreadedExecutor
from rclpy.node import Node
from ros_harness import private_domain_id


def test_executor_defaults_to_events_where_rclpy_has_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """No environment: the events executor, or the single-threaded one without it."""
    monkeypatch.delenv(EXECUTOR_ENV, raising=False)
    assert executor_name() == ('events' if events_executor_available() else 'single')


def test_environment_and_argument_pick_the_executor(monkeypatch: pytest.MonkeyPatch) -> None:
    """$IMITATION_ROS_EXECUTOR picks it; an argument wins over the environment."""
    monkeypatch.setenv(EXECUTOR_ENV, 'multi')
    assert executor_name() == 'multi'
    assert executor_name('single') == 'single'
    monkeypatch.setenv(EXECUTOR_ENV, ' single ')
    assert executor_name() == 'single'


def test_unknown_executor_is_a_config_error_naming_the_choices(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A typo in the environment is refused with the names that work."""
    monkeypatch.setenv(EXECUTOR_ENV, 'event')
    with pytest.raises(ConfigError, match='events, single, multi'):
        executor_name()


def test_make_executor_builds_each_kind() -> None:
    """Each name gives its rclpy executor."""
    import rclpy
    from rclpy.context import Context
    context = Context()
    rclpy.init(context=context, domain_id=private_domain_id(90))
    try:
        for name, kind in (('single', SingleThreadedExecutor), ('multi', MultiThreadedExecutor)):
            executor = make_executor(name, context)
            assert isinstance(executor, kind)
            executor.shutdown()
        if events_executor_available():
            executor = make_executor('events', context)
            assert type(executor).__name__ == 'EventsExecutor'
            executor.shutdown()
    finally:
        rclpy.shutdown(context=context)


def test_unknown_executor_makes_a_node_exit_with_code_1(monkeypatch: pytest.MonkeyPatch) -> None:
    """spin_node refuses to start on an unknown executor, before building the node."""
    monkeypatch.setenv(EXECUTOR_ENV, 'fastest')
    built = []
    assert spin_node(lambda: built.append(1), 'spin_test', []) == 1
    assert not built


def test_a_stop_signal_during_an_executables_imports_is_remembered() -> None:
    """Started as a node executable, a SIGINT while importing is kept, not a KeyboardInterrupt."""
    code = ('import os, signal, sys, time\n'
            "sys.argv[0] = '/opt/ros/lib/imitation_ros/intervention_gate'\n"
            'import imitation_ros.nodes as nodes\n'
            'os.kill(os.getpid(), signal.SIGINT)\n'
            'time.sleep(0.1)\n'
            'print(nodes.early_stop.is_set())\n')
    done = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == 'True', done.stderr
    # Any other program (pytest, a composed graph) keeps its own signal handling.
    other = subprocess.run([sys.executable, '-c', code.replace('intervention_gate', 'pytest')],
                           capture_output=True, text=True, timeout=120)
    assert other.returncode != 0 and 'KeyboardInterrupt' in other.stderr


def test_a_remembered_stop_ends_spin_node_cleanly(monkeypatch: pytest.MonkeyPatch) -> None:
    """spin_node after an early stop builds the node, spins no callback, exits 0."""
    monkeypatch.setattr(nodes.early_stop, 'is_set', lambda: True)
    built = []

    def factory() -> Node:
        built.append(Node('early_stop_test'))
        built[-1].create_timer(0.001, lambda: built.append('tick'))
        return built[-1]

    assert spin_node(factory, 'spin_test', []) == 0
    assert len(built) == 1
