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

"""Shared fixtures of the node tests: a private rclpy context on the module's ROS domain."""

from __future__ import annotations

import os
from typing import Iterator

import pytest


@pytest.fixture(scope='module')
def ros(request: pytest.FixtureRequest) -> Iterator:
    """
    Provide a private rclpy context on the test module's private ROS domain (DOMAIN_ID).

    The domain is set inside the fixture, not at import: pytest imports every
    test module before running any, so a module-level setting would leak.
    """
    import rclpy
    from rclpy.context import Context
    old = os.environ.get('ROS_DOMAIN_ID')
    os.environ['ROS_DOMAIN_ID'] = str(request.module.DOMAIN_ID)
    context = Context()
    rclpy.init(args=None, context=context)
    yield context
    rclpy.shutdown(context=context)
    if old is None:
        os.environ.pop('ROS_DOMAIN_ID', None)
    else:
        os.environ['ROS_DOMAIN_ID'] = old
