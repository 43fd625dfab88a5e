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

"""The ``main`` shared by the node executables: init, build, spin, shut down."""

from __future__ import annotations

from typing import Callable, Optional

import rclpy
from rclpy.executors import ExternalShutdownException
from rclpy.logging import get_logger
from rclpy.node import Node

from ..errors import ConfigError


def spin_node(factory: Callable[[], Node], name: str, args: Optional[list[str]]) -> int:
    """
    Run the node ``factory`` builds until shut down; return the exit status.

    A bad parameter (:class:`ConfigError` while building) is logged with the
    reason and returns 1, as a user can act on it; Ctrl-C returns 0.
    """
    rclpy.init(args=args)
    try:
        try:
            node = factory()
        except ConfigError as exc:
            get_logger(name).error(f'cannot start: {exc}')
            return 1
        try:
            rclpy.spin(node)
        except (KeyboardInterrupt, ExternalShutdownException):
            pass
        finally:
            node.destroy_node()
    finally:
        if rclpy.ok():
            rclpy.shutdown()
    return 0
