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


"""The Panda's off-screen camera, and the simulator without OpenGL."""

import json
import os
from pathlib import Path
import subprocess
import sys

import pytest

from imitation_ros.sim.panda.errors import CameraUnavailableError
from imitation_ros.sim.panda.model import PandaConfig
from imitation_ros.sim.panda.sim import PandaSim

ROOT = Path(__file__).resolve().parents[1]

# Run in a fresh interpreter: MuJoCo reads MUJOCO_GL once, when it is imported.
_PROBE = """
import json, numpy as np
from imitation_ros.sim.panda.errors import CameraUnavailableError
from imitation_ros.sim.panda.model import PandaConfig
from imitation_ros.sim.panda.sim import PandaSim
out = {}
for w, h in ((96, 96), (64, 48)):
    sim = PandaSim(PandaConfig(image_width=w, image_height=h), task_kind='pick')
    task = sim.reset(seed=0)
    sim.step(np.concatenate([task.start, [0.08]]))
    out['error'] = sim.camera_error
    try:
        img = sim.render()
        out[f'{w}x{h}'] = [list(img.shape), str(img.dtype), float(img.std())]
    except CameraUnavailableError as exc:
        out['raised'] = str(exc)
    sim.close()
print(json.dumps(out))
"""


def _probe(env_changes: dict) -> dict:
    env = dict(os.environ)
    for key, value in env_changes.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    result = subprocess.run([sys.executable, '-c', _PROBE], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_camera_returns_rgb8_frames_when_egl_works() -> None:
    """With MUJOCO_GL=egl the camera gives (H, W, 3) uint8 frames of the scene."""
    out = _probe({'MUJOCO_GL': 'egl'})
    if 'raised' in out:
        pytest.skip(f'EGL does not work on this machine: {out["raised"]}')
    assert out['96x96'][:2] == [[96, 96, 3], 'uint8']
    assert out['64x48'][:2] == [[48, 64, 3], 'uint8']
    assert out['96x96'][2] > 5.0  # a scene, not a blank frame


@pytest.mark.parametrize('env', [
    {'MUJOCO_GL': None, 'DISPLAY': None, 'WAYLAND_DISPLAY': None},
    {'MUJOCO_GL': 'disable'},
    {'MUJOCO_GL': 'no-such-backend'},
], ids=['unset-no-display', 'disabled', 'broken-backend'])
def test_without_gl_the_sim_runs_and_says_why(env: dict) -> None:
    """Without an OpenGL context the sim steps on and render() says how to get a camera."""
    out = _probe(env)
    assert 'raised' in out and 'MUJOCO_GL' in out['raised'], out
    assert out['error'] and out['error'] in out['raised']


def test_camera_can_be_switched_off() -> None:
    """PandaConfig(camera=False) gives a sim without camera that says so."""
    sim = PandaSim(PandaConfig(camera=False), task_kind='reach')
    sim.reset(seed=0)
    assert not sim.has_camera
    with pytest.raises(CameraUnavailableError, match='camera=False'):
        sim.render()
