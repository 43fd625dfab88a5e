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

"""``ros2 launch`` as a user runs it: Ctrl-C stops cleanly; a graph that cannot run stops."""

from __future__ import annotations

import json
import os
from pathlib import Path
import signal
import subprocess
import sys
import time

import pytest
from ros_harness import private_domain_id

pytest.importorskip('ros2launch', reason='the launch stack is not on PyPI: make setup installs '
                    'it from LAUNCH_WHEELS (../shared/wheels/ros2-launch), a ROS 2 install has it')

DOMAIN_ID = private_domain_id(81)
ROS2 = Path(sys.prefix) / 'bin' / 'ros2'
#: Longest wait for the graph to record, train, or stop (s).
WAIT_S = 300.0


def _processes_mentioning(marker: str) -> list[str]:
    """Return the command lines of running processes whose command line contains ``marker``."""
    found = []
    for entry in Path('/proc').iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / 'cmdline').read_bytes().replace(b'\0', b' ').decode()
        except OSError:
            continue
        if marker in cmdline:
            found.append(f'{entry.name}: {cmdline}')
    return found


def _launch(tmp_path: Path, graph: str, *arguments: str) -> tuple[subprocess.Popen, Path]:
    """Start ``ros2 launch imitation_ros GRAPH.launch.py`` in its own process group."""
    if not ROS2.exists():
        pytest.fail(f'{ROS2} is missing: run make setup', pytrace=False)
    env = dict(os.environ, ROS_DOMAIN_ID=str(DOMAIN_ID), PYTHONUNBUFFERED='1')
    env.setdefault('AMENT_PREFIX_PATH', sys.prefix)
    log = tmp_path / 'launch.log'
    proc = subprocess.Popen([str(ROS2), 'launch', 'imitation_ros', f'{graph}.launch.py',
                             *arguments], stdout=log.open('wb'), stderr=subprocess.STDOUT,
                            env=env, start_new_session=True, cwd=tmp_path)
    return proc, log


def _stop(proc: subprocess.Popen) -> None:
    """Kill what is left of a launch's process group."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait(timeout=30)


def _wait(predicate, what: str, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + WAIT_S
    while not predicate():
        if proc.poll() is not None:
            pytest.fail(f'the launch exited ({proc.returncode}) before {what}:\n'
                        f'{log.read_text(errors="replace")[-3000:]}', pytrace=False)
        if time.monotonic() > deadline:
            pytest.fail(f'timed out waiting for {what}:\n'
                        f'{log.read_text(errors="replace")[-3000:]}', pytrace=False)
        time.sleep(0.5)


def test_ctrl_c_stops_every_node_closes_every_bag_and_leaves_no_trainer_child(
        tmp_path: Path) -> None:
    """SIGINT to the whole group (Ctrl-C): exit 0, no traceback, bags renamed, nothing left."""
    data, models = tmp_path / 'data', tmp_path / 'models'
    params = tmp_path / 'params.yaml'
    params.write_text(json.dumps({'trainer': {'ros__parameters': {
        'train_steps': 3000, 'min_new_samples': 30, 'check_period_s': 0.5}}}))
    proc, log = _launch(tmp_path, 'hg_dagger', 'policy:=mse', f'data_dir:={data}',
                        f'models_dir:={models}', f'params_file:={params}')
    try:
        # A finished bag, and a training child running (3000 steps take a while).
        _wait(lambda: any(data.rglob('metadata.yaml')), 'a finished bag', proc, log)
        _wait(lambda: any(' train ' in p for p in _processes_mentioning(str(models))),
              'a training child', proc, log)
        os.killpg(proc.pid, signal.SIGINT)
        proc.wait(timeout=WAIT_S)
    finally:
        _stop(proc)
    output = log.read_text(errors='replace')
    assert proc.returncode == 0, output[-3000:]
    assert 'Traceback' not in output, output[-3000:]
    assert 'process has died' not in output, output[-3000:]
    assert not list(data.rglob('*.partial')), 'an episode bag was left unfinished'
    assert not _processes_mentioning(str(tmp_path)), 'a process of the graph is still running'


def test_a_node_that_cannot_start_stops_the_whole_graph(tmp_path: Path) -> None:
    """A gate refusing its parameters ends the launch with the reason, not a gate-less graph."""
    params = tmp_path / 'params.yaml'
    params.write_text(json.dumps({'intervention_gate': {'ros__parameters': {
        'enable_button': 1, 'estop_button': 1}}}))
    proc, log = _launch(tmp_path, 'deploy', f'params_file:={params}')
    try:
        proc.wait(timeout=WAIT_S)
    finally:
        _stop(proc)
    output = log.read_text(errors='replace')
    assert 'intervention_gate exited with code 1; stopping the whole graph' in output, output
    assert not _processes_mentioning(str(params)), 'a node kept running without its gate'


def test_an_argument_of_the_wrong_type_is_refused_before_anything_starts(
        tmp_path: Path) -> None:
    """beta:=half is not a number: the launch says so and starts no node."""
    proc, log = _launch(tmp_path, 'dagger', 'beta:=half')
    try:
        proc.wait(timeout=WAIT_S)
    finally:
        _stop(proc)
    output = log.read_text(errors='replace')
    assert proc.returncode != 0 and 'beta' in output and 'must be a number' in output, output
    assert 'process started' not in output, output


def test_a_real_arm_without_the_joy_package_is_refused_with_what_to_install(
        tmp_path: Path) -> None:
    """use_sim:=false needs joy_node: without the joy package nothing starts and it says so."""
    from ament_index_python.packages import get_package_share_directory, PackageNotFoundError
    os.environ.setdefault('AMENT_PREFIX_PATH', sys.prefix)
    try:
        get_package_share_directory('joy')
        pytest.skip('the joy package is installed here')
    except PackageNotFoundError:
        pass
    proc, log = _launch(tmp_path, 'hg_dagger', 'use_sim:=false')
    try:
        proc.wait(timeout=WAIT_S)
    finally:
        _stop(proc)
    output = log.read_text(errors='replace')
    assert 'needs the package(s) joy' in output and 'apt install' in output, output
    assert 'process started' not in output, output


def test_an_unknown_robot_is_refused_naming_the_choices(tmp_path: Path) -> None:
    """An unknown robot (ur5) is refused: the launch names planar3 and panda, starts nothing."""
    proc, log = _launch(tmp_path, 'hg_dagger', 'robot:=ur5')
    try:
        proc.wait(timeout=WAIT_S)
    finally:
        _stop(proc)
    output = log.read_text(errors='replace')
    assert proc.returncode != 0 and '"robot"' in output and 'ur5' in output, output
    assert "['planar3', 'panda']" in output, output
    assert 'process started' not in output, output


def test_deploy_on_the_panda_does_not_load_the_shipped_planar_model(tmp_path: Path) -> None:
    """On the Panda, deploy leaves the planar default model unloaded; the policy waits."""
    params = tmp_path / 'params.yaml'
    params.write_text(json.dumps({'sim_arm': {'ros__parameters': {'camera_hz': 0.0}}}))
    proc, log = _launch(tmp_path, 'deploy', 'robot:=panda', f'params_file:={params}')
    try:
        _wait(lambda: 'waiting for imitation/model' in log.read_text(errors='replace'),
              'the policy waiting for a model', proc, log)
        _wait(lambda: 'chain panda_link0 -> panda_hand_tcp' in log.read_text(errors='replace'),
              "the gate on the Panda's chain", proc, log)
    finally:
        _stop(proc)
    output = log.read_text(errors='replace')
    assert "planar_gmm_multi.onnx is the planar arm's and is not loaded" in output, output
    named = [line for line in output.splitlines() if 'planar_gmm_multi' in line]
    assert all('is not loaded' in line for line in named), named
