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
ROS 2 nodes: one module per executable, message conversion, QoS and parameter helpers.

A process started as one of the node executables remembers a SIGINT or SIGTERM that
arrives while it is still importing (seconds on a loaded machine) in :data:`early_stop`,
instead of dying with a KeyboardInterrupt; :func:`.spin.spin_node` then stops at once.
"""

import os
import signal
import sys
import threading

#: The node executables (setup.py's console_scripts).
EXECUTABLES = frozenset({'sim_arm', 'policy_node', 'trainer', 'intervention_gate', 'recorder',
                         'sim_human', 'expert_labeler'})
#: Set by a stop signal that arrived before :func:`.spin.spin_node` took the signals over.
early_stop = threading.Event()


def _remember_early_stop() -> None:
    if os.path.basename(sys.argv[0] if sys.argv else '') not in EXECUTABLES:
        return
    if threading.current_thread() is not threading.main_thread():
        return
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda signum, frame: early_stop.set())


_remember_early_stop()

__all__ = ['EXECUTABLES', 'early_stop', 'conversions', 'expert_labeler', 'intervention_gate',
           'monitor', 'params', 'policy_node', 'qos', 'recorder', 'robot_source', 'share',
           'sim_arm', 'sim_human', 'sim_panda', 'spin', 'trainer']
