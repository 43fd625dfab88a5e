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

"""Hot reload without ROS: load_candidate validation and ModelSlot swaps, rejections, threads."""

from __future__ import annotations

from pathlib import Path
import threading
import time
from typing import Any, Callable, Optional

import numpy as np
import pytest
import torch

from imitation_ros.errors import ModelError
from imitation_ros.policies.base import Normalizer, PolicySpec
from imitation_ros.policies.kinds import make_policy
from imitation_ros.runtime.model_slot import (check_candidate, load_candidate, ModelSlot,
                                              SwapResult)
from imitation_ros.runtime.onnx_policy import OnnxPolicy
from imitation_ros.training.export import export_policy

JOINTS = ('joint1', 'joint2', 'joint3')
TASK = ('goal_x', 'goal_y', 'obstacle_x', 'obstacle_y', 'obstacle_radius')
TIMEOUT_S = 20.0
STATE = np.array([0.3, -0.5, 0.2])
TASK_VECTOR = np.array([2.0, 0.0, 1.5, 0.0, 0.15])


def _spec(joints: tuple[str, ...] = JOINTS, seed: int = 0,
          state_std: Optional[float] = None) -> PolicySpec:
    """Return a spec whose normalization comes from random data (no training)."""
    rng = np.random.default_rng(seed)
    obs = rng.normal(size=(200, len(joints) + len(TASK)))
    rel = rng.normal(0.0, 0.05, (200, len(joints)))
    state_norm = Normalizer.fit(obs)
    if state_std is not None:
        state_norm = Normalizer(state_norm.mean, (state_std,) * len(state_norm.mean))
    return PolicySpec(joints, TASK, state_norm, Normalizer.fit(rel))


def _export(path: Path, version: str, kind: str = 'mse', seed: int = 0,
            options: Optional[dict] = None, **spec_args: Any) -> Path:
    """Export a small untrained policy."""
    torch.manual_seed(seed)
    policy = make_policy(kind, _spec(seed=seed, **spec_args),
                         {'hidden': (16, 16), **(options or {})}).eval()
    return export_policy(policy, path, metadata_extra={'version': version})


@pytest.fixture(scope='module')
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Good, corrupt, foreign and broken model files."""
    out = tmp_path_factory.mktemp('slot_models')
    garbage = out / 'garbage.onnx'
    garbage.write_bytes(np.random.default_rng(0).bytes(4096))
    return {
        'v1': _export(out / 'v1.onnx', 'v1', seed=1),
        'v2': _export(out / 'v2.onnx', 'v2', seed=2),
        'four': _export(out / 'four.onnx', 'four', joints=('a', 'b', 'c', 'd')),
        # std 0: (x - mean) / 0 is NaN even at the training mean.
        'nan': _export(out / 'nan.onnx', 'nan', state_std=0.0),
        'gmm': _export(out / 'gmm.onnx', 'gmm-1', kind='gmm', options={'mode': 'sample'}),
        'diffusion': _export(out / 'diffusion.onnx', 'diff-1', kind='diffusion',
                             options={'horizon': 4, 'execute': 2, 'train_steps': 10,
                                      'sample_steps': 2}),
        'garbage': garbage,
    }


def _slot(**kwargs: Any) -> ModelSlot:
    return ModelSlot(joint_names=JOINTS, warmup_iterations=1, **kwargs)


def _wait_swap(slot: ModelSlot, timeout: float = TIMEOUT_S) -> SwapResult:
    """Poll swap_if_ready as a control loop would, until a result comes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = slot.swap_if_ready()
        if result is not None:
            return result
        time.sleep(0.005)
    pytest.fail(f'no swap result within {timeout} s')


def _gated(release: threading.Event, slow: str) -> Callable[[str], OnnxPolicy]:
    """Return a loader that blocks on ``release`` for the path ``slow``."""
    def loader(path: str) -> OnnxPolicy:
        if path == slow:
            assert release.wait(TIMEOUT_S)
        return load_candidate(path, joint_names=JOINTS, warmup_iterations=1)
    return loader


def test_good_model_is_swapped_in(models: dict[str, Path]) -> None:
    """A valid model is loaded off-thread and installed by swap_if_ready with its version."""
    slot = _slot()
    try:
        assert slot.active is None and slot.version == '' and slot.swap_if_ready() is None
        slot.request(str(models['v1']))
        result = _wait_swap(slot)
        assert result.loaded and result.event == 'loaded' and result.version == 'v1'
        assert result.previous_version == '' and result.reason == '' and result.load_s > 0
        assert slot.active is result.policy and slot.version == 'v1'
        assert slot.path == str(models['v1']) and not slot.busy and slot.loading_path == ''
        action = slot.active.act(STATE, TASK_VECTOR)
        assert action.shape == (3,) and np.all(np.isfinite(action))
        slot.request(str(models['v2']))
        second = _wait_swap(slot)
        assert second.loaded and second.version == 'v2' and second.previous_version == 'v1'
        assert not np.allclose(slot.active.act(STATE, TASK_VECTOR), action)
        assert second.as_dict()['event'] == 'loaded'
    finally:
        slot.close()


@pytest.mark.parametrize('name, words', [('garbage', 'not a loadable ONNX model'),
                                         ('four', 'trained for joints'),
                                         ('nan', 'NaN'),
                                         ('missing', 'does not exist')])
def test_bad_model_is_rejected_and_old_keeps_working(models: dict[str, Path], name: str,
                                                     words: str) -> None:
    """Corrupt, foreign-joint, NaN and missing models are rejected with the reason; v1 stays."""
    slot = _slot()
    try:
        slot.request(str(models['v1']))
        assert _wait_swap(slot).loaded
        before = slot.active.act(STATE, TASK_VECTOR)
        path = str(models.get(name, models['v1'].parent / 'missing.onnx'))
        slot.request(path)
        result = _wait_swap(slot)
        assert result.event == 'rejected' and not result.loaded and result.policy is None
        assert words in result.reason, result.reason
        assert result.path == path and result.previous_version == 'v1'
        assert result.as_dict()['reason'] == result.reason
        assert slot.version == 'v1' and slot.path == str(models['v1'])
        np.testing.assert_allclose(slot.active.act(STATE, TASK_VECTOR), before)
    finally:
        slot.close()


def test_wrong_joint_names_are_rejected(models: dict[str, Path]) -> None:
    """A model for joint1..3 is refused by a slot for other joints, and by load_candidate."""
    slot = ModelSlot(joint_names=('shoulder', 'elbow', 'wrist'), warmup_iterations=1)
    try:
        slot.request(str(models['v1']))
        result = _wait_swap(slot)
        assert result.event == 'rejected' and 'trained for joints' in result.reason
        assert 'shoulder' in result.reason and slot.active is None
    finally:
        slot.close()
    with pytest.raises(ModelError, match='another order'):
        load_candidate(str(models['v1']), joint_names=('joint2', 'joint1', 'joint3'))


def test_newer_request_supersedes_pending_one(models: dict[str, Path]) -> None:
    """While v1 is still loading, requests for garbage then v2 leave only v2 to install."""
    release = threading.Event()
    slot = _slot(loader=_gated(release, str(models['v1'])))
    try:
        slot.request(str(models['v1']))
        time.sleep(0.05)  # let the worker start on v1 (it then blocks on the gate)
        slot.request(str(models['garbage']))
        slot.request(str(models['v2']))
        assert slot.busy and slot.swap_if_ready() is None
        assert slot.loading_path == str(models['v2'])
        release.set()
        result = _wait_swap(slot)
        assert result.loaded and result.version == 'v2', result
        assert slot.wait_idle(TIMEOUT_S)
        time.sleep(0.05)
        assert slot.swap_if_ready() is None, 'a superseded result was reported'
        assert slot.version == 'v2' and slot.superseded == 2
        # A finished but not yet swapped result is superseded by a newer request too.
        slot.request(str(models['v1']))
        assert slot.wait_idle(TIMEOUT_S)
        slot.request(str(models['garbage']))
        result = _wait_swap(slot)
        assert result.event == 'rejected' and slot.version == 'v2'
    finally:
        slot.close()


def test_request_does_not_block_the_caller(models: dict[str, Path]) -> None:
    """request() returns in < 50 ms while a slow load runs on the worker thread."""
    release = threading.Event()
    caller = threading.get_ident()
    threads: list[int] = []

    def loader(path: str) -> OnnxPolicy:
        threads.append(threading.get_ident())
        release.wait(1.0)
        return load_candidate(path, joint_names=JOINTS, warmup_iterations=1)

    slot = _slot(loader=loader)
    try:
        for name in ('v1', 'v2'):
            start = time.perf_counter()
            slot.request(str(models[name]))
            assert time.perf_counter() - start < 0.05
        release.set()
        assert _wait_swap(slot).version == 'v2'
        assert threads and caller not in threads
    finally:
        slot.close()
    real = _slot()
    try:
        start = time.perf_counter()
        real.request(str(models['diffusion']))
        assert time.perf_counter() - start < 0.05
        assert _wait_swap(real).loaded
    finally:
        real.close()


def test_clear_drops_the_active_policy(models: dict[str, Path]) -> None:
    """clear() empties the slot and drops a pending request; close() stops the worker."""
    slot = _slot()
    slot.request(str(models['v1']))
    assert _wait_swap(slot).loaded
    slot.clear()
    assert slot.active is None and slot.version == ''
    slot.close()
    with pytest.raises(ModelError, match='closed'):
        slot.request(str(models['v1']))


def test_load_candidate_overrides_and_untouched_generator(models: dict[str, Path]) -> None:
    """Overrides apply per kind, a bad execute is rejected, the sampling stream is untouched."""
    diffusion = load_candidate(str(models['diffusion']), joint_names=JOINTS, execute=3)
    assert diffusion.execute == 3 and diffusion.pending == 0
    with pytest.raises(ModelError, match='execute override 9'):
        load_candidate(str(models['diffusion']), joint_names=JOINTS, execute=9)
    mse = load_candidate(str(models['v1']), joint_names=JOINTS, execute=5, mode='sample',
                         temperature=0.5)
    assert mse.kind == 'mse' and mse.execute == 1
    with pytest.raises(ModelError, match='ConfigError'):
        load_candidate(str(models['gmm']), joint_names=JOINTS, mode='best')
    gmm = load_candidate(str(models['gmm']), joint_names=JOINTS, seed=7, warmup_iterations=5)
    fresh = OnnxPolicy(models['gmm'], seed=7)
    for _ in range(3):
        np.testing.assert_allclose(gmm.act(STATE, TASK_VECTOR), fresh.act(STATE, TASK_VECTOR))
    chunk = check_candidate(diffusion)
    assert chunk.shape == (4, 3) and np.all(np.isfinite(chunk))
