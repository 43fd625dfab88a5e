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
Pick MuJoCo's OpenGL backend for a headless machine, before anything imports MuJoCo.

Imports nothing of MuJoCo (every other module of this package does, through
``gl.py``), so a node can call :func:`prefer_egl` first.
"""

from __future__ import annotations

import os
import sys


def prefer_egl() -> None:
    """
    Choose MuJoCo's EGL backend on a headless Linux machine when nothing else is chosen.

    MuJoCo reads ``MUJOCO_GL`` once, when it is imported; without a display its
    default (GLFW) cannot render. Call this before anything imports MuJoCo; a
    set ``MUJOCO_GL`` or a display is left alone, and a missing libEGL only costs
    the camera (``gl.py`` imports MuJoCo again without OpenGL).
    """
    headless = not (os.environ.get('DISPLAY') or os.environ.get('WAYLAND_DISPLAY'))
    if sys.platform.startswith('linux') and headless and not os.environ.get('MUJOCO_GL'):
        os.environ['MUJOCO_GL'] = 'egl'
