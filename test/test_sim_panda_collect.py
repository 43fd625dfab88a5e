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

"""The Panda collector: readable episode bags, frames at the camera rate, the alignment rule."""

import os
from pathlib import Path
import subprocess
import sys

import numpy as np
import pytest

from imitation_ros.cli.main import main
from imitation_ros.data import find_episode_bags, load_dataset, read_bag_messages
from imitation_ros.data.episode import episode_info
from imitation_ros.errors import DataError

ROOT = Path(__file__).resolve().parents[1]
JOINTS = (*(f'panda_joint{i}' for i in range(1, 8)), 'gripper_width')


_COLLECT = """
import sys
from imitation_ros.cli.main import main
out = sys.argv[1]
common = ['collect', '--robot', 'panda', '--out', out, '--no-progress', '--episodes', '1']
rc = main([*common, '--task', 'reach', '--session', 'reach1'])
sys.exit(rc or main([*common, '--task', 'pick', '--session', 'pick2', '--camera-every', '2',
                     '--seed', '3']))
"""


@pytest.fixture(scope='module')
def sessions(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """One reach episode with a frame every step, one pick episode with one every 2nd."""
    out = tmp_path_factory.mktemp('panda')
    # A fresh process: MuJoCo reads MUJOCO_GL once, when it is imported.
    proc = subprocess.run([sys.executable, '-c', _COLLECT, str(out)], cwd=ROOT,
                          env={**os.environ, 'MUJOCO_GL': 'egl'}, capture_output=True,
                          text=True, timeout=300)
    if proc.returncode != 0 and 'no camera' in proc.stderr:
        pytest.skip(f'no OpenGL context for the camera here: {proc.stderr.strip()}')
    assert proc.returncode == 0, proc.stderr
    return {'reach1': out / 'reach1', 'pick2': out / 'pick2', 'stdout': proc.stdout}


def test_collector_writes_readable_bags_with_frames_every_step(sessions: dict) -> None:
    """Each bag holds T + 1 joint states, T commands and, at the control rate, T + 1 frames."""
    assert 'wrote 1 Panda reach episodes' in sessions['stdout']
    assert 'wrote 1 Panda pick episodes' in sessions['stdout']
    bags = find_episode_bags(sessions['reach1'])
    assert [b.name for b in bags] == ['ep_00000']
    for bag in bags:
        info = episode_info(bag)
        facts = info.custom_data
        assert facts['robot'] == 'panda' and facts['task_kind'] == 'reach'
        assert facts['joint_names'].split(',') == list(JOINTS)
        assert facts['task_layout'].split(',')[:3] == ['goal_x', 'goal_y', 'goal_z']
        assert facts['mode'] in ('left', 'right') and facts['success'] == 'true'
        counts = info.message_counts
        steps = info.steps
        assert counts['/joint_states'] == steps + 1
        assert counts['/forward_position_controller/commands'] == steps
        # A frame of every state the demonstrator acted on, and of the final state.
        assert counts['/camera/image_raw'] == steps


def test_frames_at_every_second_step_pair_with_the_latest_one(sessions: dict) -> None:
    """camera_every=2: commands 2k and 2k + 1 get the frame of state 2k (latest at or before)."""
    bag = find_episode_bags(sessions['pick2'])[0]
    info = episode_info(bag)
    assert info.message_counts['/camera/image_raw'] == (info.steps + 1) // 2
    data = load_dataset([bag], with_images=True, index=False)
    assert data.joint_names == JOINTS and data.task.shape[1] == 6
    assert data.images.shape == (info.steps, 96, 96, 3)
    step = data.step
    for k in range(0, info.steps - 1, 2):
        i, j = np.flatnonzero(step == k)[0], np.flatnonzero(step == k + 1)[0]
        assert np.array_equal(data.images[i], data.images[j])
    # Different states, different frames (the arm moves in view).
    assert not np.array_equal(data.images[0], data.images[-1])


def test_frames_pair_with_the_state_of_their_own_command(sessions: dict) -> None:
    """camera_every=1: each sample's frame is stamped with its own joint state."""
    bag = find_episode_bags(sessions['reach1'])[0]
    messages = read_bag_messages(bag, with_images=True)
    assert np.array_equal(messages.images.times, messages.joints.times[:-1])
    data = load_dataset([bag], with_images=True, index=False)
    assert np.array_equal(data.images, messages.images.values[data.step])


def test_loader_and_layouts_of_both_tasks(sessions: dict) -> None:
    """Both tasks load with 8 joints; the reach and pick task vectors keep their own length."""
    reach = load_dataset([sessions['reach1']], index=False)
    pick = load_dataset([sessions['pick2']], index=False)
    assert reach.positions.shape[1] == pick.positions.shape[1] == 8
    assert reach.task.shape[1] == 7 and pick.task.shape[1] == 6
    # The gripper closes in pick (finger gap command 0 m) and stays open in reach.
    assert pick.actions[:, 7].min() < 0.01 and reach.actions[:, 7].min() > 0.07


def test_collector_refuses_a_session_that_holds_episodes(sessions: dict,
                                                         capsys: pytest.CaptureFixture) -> None:
    """Collecting into a folder that holds episodes is a clear error, nothing overwritten."""
    from imitation_ros.collect.panda import collect_panda
    with pytest.raises(DataError, match='already holds episodes'):
        collect_panda('reach', 'multi', 1, sessions['reach1'].parent, session='reach1',
                      camera_every=0, progress=False)
    assert main(['collect', '--robot', 'panda', '--task', 'pick', '--expert', 'left',
                 '--episodes', '1', '--out', str(sessions['reach1'].parent)]) == 2
    assert 'straight, turned, multi' in capsys.readouterr().err
