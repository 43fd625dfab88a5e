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
The off-screen camera: RGB frames (rgb8, what ``/camera/image_raw`` carries) of a scene camera.

Rendering needs an OpenGL context; headless machines get one from EGL with
``MUJOCO_GL=egl`` set before Python starts (software Mesa EGL works, slowly).
Without one, :func:`open_camera` raises :class:`CameraUnavailableError` saying
why and how to get one, and the simulator runs on without images. A renderer
belongs to the thread that made it: render from that thread only.
"""

from __future__ import annotations

import os
import sys
import weakref

import numpy as np

from .errors import CameraUnavailableError
from .gl import GL_IMPORT_ERROR, mujoco

_FIX = 'set MUJOCO_GL=egl (headless; needs libEGL) before Python starts'


def gl_problem() -> str:
    """Return why no OpenGL context can be made here, or '' when one may be."""
    if GL_IMPORT_ERROR:
        return GL_IMPORT_ERROR
    backend = os.environ.get('MUJOCO_GL', '').lower().strip()
    if getattr(mujoco.gl_context, 'GLContext', None) is None:
        return f'MUJOCO_GL={backend!r} disables OpenGL; {_FIX}'
    on_glfw = backend in ('', 'glfw', 'enable', 'enabled', 'on', 'true', '1')
    no_display = not (os.environ.get('DISPLAY') or os.environ.get('WAYLAND_DISPLAY'))
    if sys.platform.startswith('linux') and on_glfw and no_display:
        return f'MUJOCO_GL is unset (GLFW) and there is no display; {_FIX}'
    return ''


class Camera:
    """
    One scene camera rendered off screen.

    :param model: the MuJoCo model (the renderer keeps a reference).
    :param camera: the MJCF camera's name.
    :raises CameraUnavailableError: when no OpenGL context can be made.
    """

    def __init__(self, model, camera: str, width: int, height: int) -> None:
        problem = gl_problem()
        if problem:
            raise CameraUnavailableError(f'no camera: {problem}')
        if mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_CAMERA, camera) < 0:
            raise CameraUnavailableError(f'no camera named {camera!r} in the model')
        try:
            self._renderer = mujoco.Renderer(model, height=height, width=width)
        except Exception as exc:  # noqa: B902 (GL failures come as many types)
            msg = f'no camera: OpenGL context failed ({type(exc).__name__}: {exc}); {_FIX}'
            raise CameraUnavailableError(msg) from exc
        # Free the context at exit while EGL is still loaded (MuJoCo's own __del__ runs
        # too late then and prints EGL errors).
        self._finalizer = weakref.finalize(self, self._renderer.close)
        self.camera = camera
        self.width = width
        self.height = height

    def render(self, data) -> np.ndarray:
        """Render the current state of ``data``: RGB image, shape (height, width, 3), uint8."""
        self._renderer.update_scene(data, camera=self.camera)
        return self._renderer.render().copy()

    def close(self) -> None:
        """Free the OpenGL context (also done when the camera is garbage collected)."""
        self._finalizer()


def open_camera(model, camera: str, width: int,
                height: int) -> tuple[Camera | None, str]:
    """Return (camera, '') or (None, why there is none); never raises for a missing GL."""
    try:
        return Camera(model, camera, width, height), ''
    except CameraUnavailableError as exc:
        return None, str(exc)
