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
Import MuJoCo so that a broken OpenGL setting costs the camera, never the simulator.

MuJoCo picks its OpenGL backend from ``MUJOCO_GL`` when it is imported, and the
import itself fails when that backend's library is missing (``MUJOCO_GL=egl``
without libEGL, ``osmesa`` without libOSMesa). Physics needs no OpenGL, so on
such a failure MuJoCo is imported again with OpenGL disabled and the reason is
kept in :data:`GL_IMPORT_ERROR` for the camera to report.
"""

from __future__ import annotations

import os
import sys

from ...errors import ConfigError


def _import_mujoco():  # noqa: ANN202 (returns the module)
    try:
        import mujoco  # lazy: a broken GL backend is retried below, not raised at import
        return mujoco, ''
    except ModuleNotFoundError as exc:
        if exc.name == 'mujoco':
            msg = 'the Panda simulator needs MuJoCo: pip install -r requirements.txt'
            raise ConfigError(msg) from exc
        failure = exc
    except Exception as exc:  # noqa: B902 (any failure of the GL backend's import)
        failure = exc
    backend = os.environ.get('MUJOCO_GL', '')
    for name in [n for n in sys.modules if n.split('.')[0] in ('mujoco', 'OpenGL')]:
        del sys.modules[name]
    os.environ['MUJOCO_GL'] = 'disable'
    try:
        import mujoco  # lazy: retried with MUJOCO_GL=disable
    finally:
        os.environ['MUJOCO_GL'] = backend
    reason = (f'MuJoCo could not load the OpenGL backend MUJOCO_GL={backend!r} '
              f'({type(failure).__name__}: {failure}); install its library or set '
              'MUJOCO_GL=egl before Python starts')
    return mujoco, reason


mujoco, GL_IMPORT_ERROR = _import_mujoco()
