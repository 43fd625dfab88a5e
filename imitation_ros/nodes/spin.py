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
The ``main`` shared by the node executables: init, build, spin, stop cleanly.

SIGINT and SIGTERM only set a flag that the spin loop checks between callbacks, so
a signal never interrupts a callback or the clean-up halfway (``ros2 launch``
forwards Ctrl-C to its children and the terminal sends it to them as well: a node
usually gets two). However many arrive, the node finishes what it does, runs its
``on_stop`` hook, is destroyed and exits 0.

The executor is rclpy's ``EventsExecutor`` where rclpy has it (Jazzy and later): it
waits on the middleware's events in C++ instead of rebuilding a wait set in Python
for every callback, which measured about 1.5 times faster per message hop here
(docs/performance.md). ``$IMITATION_ROS_EXECUTOR`` picks another for every node of a
process: ``events``, ``single`` (``SingleThreadedExecutor``, the one an rclpy without
the events executor gets) or ``multi`` (``MultiThreadedExecutor``; our nodes keep
their callbacks in one mutually exclusive group, so it runs them one at a time).
"""

from __future__ import annotations

import os
import signal
import threading
from typing import Any, Callable, Optional

import rclpy
from rclpy.executors import (Executor, ExternalShutdownException, MultiThreadedExecutor,
                             SingleThreadedExecutor)
from rclpy.logging import get_logger
from rclpy.node import Node

from ..errors import ConfigError
from . import early_stop

#: Longest wait in the spin loop (s): a stop signal is acted on within this time.
STOP_POLL_S = 0.1
#: Signals that stop a node.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
#: Environment variable naming the executor of every node of a process.
EXECUTOR_ENV = 'IMITATION_ROS_EXECUTOR'
#: Executors :func:`make_executor` knows, by name.
EXECUTORS = ('events', 'single', 'multi')
#: The executor used when the environment names none.
DEFAULT_EXECUTOR = 'events'


def events_executor_available() -> bool:
    """Return True when this rclpy has the ``EventsExecutor`` (Jazzy and later)."""
    try:
        from rclpy.experimental import EventsExecutor  # noqa: F401
    except ImportError:
        return False
    return True


def executor_name(name: Optional[str] = None) -> str:
    """
    Return the executor to use: ``name``, else ``$IMITATION_ROS_EXECUTOR``, else the default.

    ``events`` where rclpy lacks it becomes ``single``.

    :raises ConfigError: an unknown name.
    """
    chosen = name or os.environ.get(EXECUTOR_ENV, '').strip() or DEFAULT_EXECUTOR
    if chosen not in EXECUTORS:
        raise ConfigError(f'unknown executor {chosen!r} (from {EXECUTOR_ENV} or the caller); '
                          f'use one of {", ".join(EXECUTORS)}')
    if chosen == 'events' and not events_executor_available():
        return 'single'
    return chosen


def make_executor(name: Optional[str] = None, context: Any = None) -> Executor:
    """
    Create the executor :func:`executor_name` picks, on ``context`` (None: the default).

    :raises ConfigError: an unknown name.
    """
    chosen = executor_name(name)
    if chosen == 'events':
        from rclpy.experimental import EventsExecutor  # lazy: only rclpy Jazzy and later has it
        return EventsExecutor(context=context)
    if chosen == 'multi':
        return MultiThreadedExecutor(context=context)
    return SingleThreadedExecutor(context=context)


def init_without_signal_handlers(args: Optional[list[str]]) -> None:
    """Initialize rclpy without its own signal handlers (:func:`spin_node` installs its own)."""
    try:
        # lazy: older rclpy lacks it (see the except)
        from rclpy.signals import SignalHandlerOptions
        rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO)
    except (ImportError, TypeError):  # an rclpy without the option
        rclpy.init(args=args)


def spin_node(factory: Callable[[], Node], name: str, args: Optional[list[str]], *,
              on_stop: Optional[Callable[[Any], None]] = None,
              errors: tuple[type[BaseException], ...] = (ConfigError,)) -> int:
    """
    Run the node ``factory`` builds until SIGINT / SIGTERM or shutdown; return the exit status.

    :param on_stop: called with the node once the loop ends, before it is destroyed
        (the recorder closes its open bag there).
    :param errors: exceptions that mean the node cannot start (a bad parameter), raised
        by the factory or by a callback: logged with the reason, exit status 1.
    :param args: command-line arguments; None for a console script, whose stop handlers
        then stay installed until the process exits (a late signal must not print a
        traceback on the way out). With arguments (a caller in a test) they are restored.
    """
    stop = threading.Event()
    status = 0
    previous: dict[int, Any] = {}
    if threading.current_thread() is threading.main_thread():
        for sig in STOP_SIGNALS:
            previous[sig] = signal.signal(sig, lambda signum, frame: stop.set())
    if early_stop.is_set():  # stopped while the executable was still importing
        stop.set()
    init_without_signal_handlers(args)
    try:
        try:
            executor = make_executor()
        except ConfigError as exc:
            get_logger(name).error(f'cannot start: {exc}')
            return 1
        try:
            node = factory()
        except errors as exc:
            executor.shutdown()
            get_logger(name).error(f'cannot start: {exc}')
            return 1
        executor.add_node(node)
        try:
            while not stop.is_set() and rclpy.ok():
                executor.spin_once(timeout_sec=STOP_POLL_S)
        except (KeyboardInterrupt, ExternalShutdownException):
            pass
        except errors as exc:
            # A node that learns only once running that it cannot start (the robot
            # description it waited for never came, or came unusable) stops the same way.
            get_logger(name).error(f'cannot start: {exc}')
            status = 1
        finally:
            try:
                if on_stop is not None:
                    on_stop(node)
            finally:
                executor.shutdown()
                node.destroy_node()
    finally:
        if rclpy.ok():
            rclpy.shutdown()
        if args is not None:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
    return status
