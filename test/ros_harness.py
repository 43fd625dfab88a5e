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

"""Helpers of the node tests: spin nodes in a background thread, poll for a condition."""

from __future__ import annotations

import os
import threading
import time
from typing import Any, Callable

import pytest

#: Added to every test module's private ROS domain, so that two checkouts can run their
#: node tests at the same time on one machine without hearing each other.
DOMAIN_OFFSET_ENV = 'IMITATION_ROS_TEST_DOMAIN_OFFSET'


def private_domain_id(base: int) -> int:
    """Return the test module's ROS domain: ``base`` plus $IMITATION_ROS_TEST_DOMAIN_OFFSET."""
    domain = base + int(os.environ.get(DOMAIN_OFFSET_ENV, '0'))
    if not 0 <= domain <= 232:
        raise ValueError(f'ROS domain {domain} out of range 0..232: lower ${DOMAIN_OFFSET_ENV}')
    return domain


def poll_until(predicate: Callable[[], Any], timeout: float, what: str = '',
               period: float = 0.005) -> Any:
    """Poll ``predicate`` until it returns something truthy, and return it; fail at timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(period)
    pytest.fail(f'timed out after {timeout} s waiting for {what or predicate}')


def spin_until(executor: Any, predicate: Callable[[], Any], timeout: float,
               what: str) -> None:
    """Spin ``executor`` in this thread until ``predicate`` holds; fail at timeout."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f'timed out waiting for {what}'
        executor.spin_once(timeout_sec=0.02)


class Spinner:
    """One SingleThreadedExecutor spinning ``nodes`` in a daemon thread until :meth:`close`."""

    def __init__(self, context: Any, *nodes: Any) -> None:
        """Add ``nodes`` to a new executor on ``context`` and start spinning."""
        from rclpy.executors import SingleThreadedExecutor
        self.executor = SingleThreadedExecutor(context=context)
        self._nodes = nodes
        for node in nodes:
            self.executor.add_node(node)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._spin, daemon=True)
        self._thread.start()

    def _spin(self) -> None:
        while not self._stop.is_set():
            self.executor.spin_once(timeout_sec=0.05)

    def close(self) -> None:
        """Stop the thread (joined before anything is destroyed), then destroy the nodes."""
        self._stop.set()
        self._thread.join(timeout=5.0)
        self.executor.shutdown()
        for node in reversed(self._nodes):
            node.destroy_node()
