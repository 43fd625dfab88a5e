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

"""Hot reload without ROS: validation, trust and action checks, ModelSlot swaps and threads."""

from __future__ import annotations

import json
from pathlib import Path
import threading
import time
from typing import Any, Callable, Optional

import numpy as np
import pytest
import torch

from imitation_ros.errors import ConfigError, ModelError
from imitation_ros.policies.base import Normalizer, PolicySpec
from imitation_ros.policies.registry import make_policy
from imitation_ros.runtime.model_slot import (ActionBounds, check_candidate,
                                              check_observations, load_candidate, ModelSlot,
                                              SwapResult)
from imitation_ros.runtime.model_trust import ModelTrust, OUTSIDE, record_model
from imitation_ros.runtime.onnx_policy import OnnxPolicy
from imitation_ros.training.export import export_policy

JOINTS = ('joint1', 'joint2', 'joint3')
TASK = ('goal_x', 'goal_y', 'obstacle_x', 'obstacle_y', 'obstacle_radius')
TIMEOUT_S = 20.0
STATE = np.array([0.3, -0.5, 0.2])
TASK_VECTOR = np.array([2.0, 0.0, 1.5, 0.0, 0.15])


LIMITS = ActionBounds((-2.2, -2.8, -2.8), (2.2, 2.8, 2.8), 0.1)


def _spec(joints: tuple[str, ...] = JOINTS, seed: int = 0,
          state_std: Optional[float] = None, action_scale: float = 1.0,
          image: bool = False) -> PolicySpec:
    """Return a spec whose normalization comes from random data (no training)."""
    rng = np.random.default_rng(seed)
    obs = rng.normal(size=(200, len(joints) + len(TASK)))
    rel = rng.normal(0.0, 0.05, (200, len(joints))) * action_scale
    state_norm = Normalizer.fit(obs)
    if state_std is not None:
        state_norm = Normalizer(state_norm.mean, (state_std,) * len(state_norm.mean))
    return PolicySpec(joints, TASK, state_norm, Normalizer.fit(rel),
                      image_shape=(16, 16, 3) if image else None)


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
        # Actions 1e6 times too large: finite, and far past every joint limit.
        'scaled': _export(out / 'scaled.onnx', 'scaled', action_scale=1e6),
        # Finite exactly at its training mean (a std below float32's normal range),
        # NaN at any other observation.
        'fragile': _export(out / 'fragile.onnx', 'fragile', state_std=1e-40),
        'image': _export(out / 'image.onnx', 'img-1', image=True),
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


def _fragile_mean(path: Path) -> list[float]:
    """Return the training mean of the model's observations (state and task)."""
    return json.loads(OnnxPolicy(path).metadata['observation'])['normalization']['mean']


def test_trusted_slot_loads_listed_models_and_refuses_others(
        models: dict[str, Path], tmp_path: Path) -> None:
    """With a trust, a listed model swaps in; outside or unlisted paths are refused, v1 stays."""
    for name in ('v1', 'v2'):
        record_model(models[name], version=name)
    slot = _slot(trust=ModelTrust([models['v1'].parent]), bounds=LIMITS)
    try:
        slot.request(str(models['v1']))
        assert _wait_swap(slot).loaded
        outside = tmp_path / 'v2.onnx'
        outside.write_bytes(models['v2'].read_bytes())
        record_model(outside, version='v2')
        reasons = []
        for path in (outside, tmp_path / 'missing.onnx'):
            slot.request(str(path))
            result = _wait_swap(slot)
            assert result.event == 'rejected' and slot.version == 'v1'
            reasons.append(result.reason.replace(str(path), 'PATH'))
        assert reasons[0] == reasons[1] == f'PATH: {OUTSIDE}'
        slot.request(str(models['four']))  # in the folder, never listed
        assert 'not listed in' in _wait_swap(slot).reason
        slot.request(str(models['v2']))
        assert _wait_swap(slot).version == 'v2'
    finally:
        slot.close()


def test_actions_past_the_joint_limits_are_refused(models: dict[str, Path]) -> None:
    """A model whose outputs are 1e6 times too large loads without bounds, not with them."""
    assert load_candidate(str(models['scaled']), joint_names=JOINTS).kind == 'mse'
    with pytest.raises(ModelError, match='leave the joint limits on a representative'):
        load_candidate(str(models['scaled']), joint_names=JOINTS, bounds=LIMITS)
    fine = load_candidate(str(models['v1']), joint_names=JOINTS, bounds=LIMITS,
                          observations=lambda: [(STATE, TASK_VECTOR, None)] * 5)
    assert fine.version == 'v1'


def test_recorded_observations_catch_what_the_mean_misses(models: dict[str, Path]) -> None:
    """A model finite only at its training mean is refused on the robot's recent observations."""
    mean = np.asarray(_fragile_mean(models['fragile']))
    at_mean = (mean[:3], mean[3:], None)
    assert load_candidate(str(models['fragile']), joint_names=JOINTS, bounds=LIMITS,
                          observations=lambda: [at_mean]).version == 'fragile'
    with pytest.raises(ModelError, match='NaN or Inf.*on 2 recorded observations'):
        load_candidate(str(models['fragile']), joint_names=JOINTS, bounds=LIMITS,
                       observations=lambda: [at_mean, (STATE, TASK_VECTOR, None)])


def test_observation_checks_cover_chunks_images_and_layouts(models: dict[str, Path]) -> None:
    """Every chunk action is checked; image models get grey frames; a task mismatch refuses."""
    observations = [(STATE + 0.1 * i, TASK_VECTOR, None) for i in range(7)]
    diffusion = OnnxPolicy(models['diffusion'])
    assert check_observations(diffusion, observations, bounds=LIMITS) == 7
    image = OnnxPolicy(models['image'])
    frame = np.zeros((16, 16, 3), np.uint8)
    assert check_observations(image, [*observations, (STATE, TASK_VECTOR, frame)]) == 8
    with pytest.raises(ModelError, match='camera images of shape'):
        check_observations(image, [(STATE, TASK_VECTOR, np.zeros((8, 8, 3), np.uint8))])
    with pytest.raises(ModelError, match='expects 5 task values'):
        check_observations(diffusion, [(STATE, TASK_VECTOR[:3], None)])
    assert check_observations(diffusion, []) == 0


def test_bounds_allow_the_margin_and_states_already_past_a_limit() -> None:
    """Within the margin passes; past it fails naming the joint; a state past a limit counts."""
    states = np.array([[0.0, 0.0, 0.0], [2.5, 0.0, 0.0]])
    assert LIMITS.violation(states, np.array([[2.25, -2.85, 2.89], [2.55, 0.0, 0.0]]),
                            JOINTS) == ''
    problem = LIMITS.violation(states, np.array([[0.0, -2.95, 0.0], [2.7, 0.0, 0.0]]), JOINTS)
    assert problem.startswith('joint1 target 2.7 rad') and 'on 2 of 2 observations' in problem
    chunk = np.zeros((2, 4, 3))
    chunk[0, 3, 2] = 3.0
    assert LIMITS.violation(states, chunk, JOINTS).startswith('joint3 target 3 rad')
    with pytest.raises(ConfigError, match='lower < upper'):
        ActionBounds((1.0,), (0.0,))
    with pytest.raises(ConfigError, match='margin'):
        ActionBounds((0.0,), (1.0,), -0.1)
