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

"""Model trust: allowed directories, the manifest, digests, and the add / verify command."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
import shutil
import threading

from imitation_ros.errors import ModelError
from imitation_ros.policies.base import Normalizer, PolicySpec
from imitation_ros.policies.registry import make_policy
from imitation_ros.runtime.model_trust import (main, MANIFEST, ModelTrust, OUTSIDE,
                                               read_manifest, record_model)
from imitation_ros.training.export import export_policy
import numpy as np
import pytest
import torch

JOINTS = ('joint1', 'joint2', 'joint3')
TASK = ('goal_x', 'goal_y', 'obstacle_x', 'obstacle_y', 'obstacle_radius')


@pytest.fixture(scope='module')
def model_bytes(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """Return the bytes of a small untrained exported policy (version v1)."""
    rng = np.random.default_rng(0)
    spec = PolicySpec(JOINTS, TASK, Normalizer.fit(rng.normal(size=(50, 8))),
                      Normalizer.fit(rng.normal(0.0, 0.05, (50, 3))))
    torch.manual_seed(0)
    policy = make_policy('mse', spec, {'hidden': (8,)}).eval()
    path = tmp_path_factory.mktemp('trust_model') / 'v1.onnx'
    return export_policy(policy, path, metadata_extra={'version': 'v1'}).read_bytes()


@pytest.fixture()
def layout(tmp_path: Path, model_bytes: bytes) -> dict[str, Path]:
    """Make an allowed folder with a listed model, and a listed model in a folder outside it."""
    models, outside = tmp_path / 'models', tmp_path / 'elsewhere'
    models.mkdir()
    outside.mkdir()
    listed, foreign = models / 'policy_v001.onnx', outside / 'evil.onnx'
    for path in (listed, foreign):
        path.write_bytes(model_bytes)
        record_model(path, version='v1')
    return {'root': tmp_path, 'models': models, 'outside': outside, 'listed': listed,
            'foreign': foreign}


def _refusal(trust: ModelTrust, path: Path | str) -> str:
    with pytest.raises(ModelError) as info:
        trust.verify(path)
    return str(info.value)


def test_listed_model_verifies_with_its_bytes(layout: dict[str, Path],
                                              model_bytes: bytes) -> None:
    """A listed model inside an allowed folder passes; the bytes and digest come back."""
    trust = ModelTrust([layout['models']])
    model = trust.verify(layout['listed'])
    assert model.data == model_bytes and model.version == 'v1'
    assert model.sha256 == hashlib.sha256(model_bytes).hexdigest()
    assert model.path == Path(os.path.realpath(layout['listed']))
    entry = read_manifest(layout['models'])['policy_v001.onnx']
    assert entry['sha256'] == model.sha256 and entry['size'] == len(model_bytes)


def test_paths_outside_get_one_answer_whether_or_not_they_exist(
        layout: dict[str, Path]) -> None:
    """Outside, missing, '..', symbolic-link escapes: the same refusal, nothing about the file."""
    trust = ModelTrust([layout['models']])
    models, outside = layout['models'], layout['outside']
    (models / 'link.onnx').symlink_to(layout['foreign'])
    (models / 'linked_dir').symlink_to(outside, target_is_directory=True)
    paths = [layout['foreign'], outside / 'missing.onnx', '/etc/passwd', '/no/such/dir/x.onnx',
             f'{models}/../elsewhere/evil.onnx', f'{models}/../models/policy_v001.onnx',
             models / 'link.onnx', models / 'linked_dir' / 'evil.onnx',
             models / 'linked_dir' / 'missing.onnx', models, 'relative/x.onnx', '',
             'bad\x00name.onnx', 'x' * 5000]
    for path in paths:
        reason = _refusal(trust, path)
        assert reason.endswith(f': {OUTSIDE}'), reason
        assert 'exist' not in reason and 'manifest' not in reason


def test_unlisted_changed_and_missing_models_are_refused(layout: dict[str, Path],
                                                         model_bytes: bytes) -> None:
    """Inside the folder: an unlisted file, a file changed after listing, a missing one."""
    trust = ModelTrust([layout['models']])
    models = layout['models']
    shutil.copy(layout['listed'], models / 'copy.onnx')
    assert 'not listed in' in _refusal(trust, models / 'copy.onnx')
    assert 'not listed in' in _refusal(trust, models / 'policy_v001.pt')
    changed = bytearray(model_bytes)
    changed[-1] ^= 0xFF
    layout['listed'].write_bytes(bytes(changed))
    assert 'differs from the one listed' in _refusal(trust, layout['listed'])
    layout['listed'].unlink()
    assert 'the file is missing' in _refusal(trust, layout['listed'])
    (models / MANIFEST).write_text('{not json', encoding='utf-8')
    assert 'not valid JSON' in _refusal(trust, models / 'copy.onnx')
    (models / MANIFEST).write_text('{"models": {}}', encoding='utf-8')
    assert 'not a model manifest' in _refusal(trust, models / 'copy.onnx')


def test_links_inside_the_folder_and_relative_folders_are_fine(
        layout: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    """A link to a listed model in the folder resolves to it; 'models' is from the cwd."""
    models = layout['models']
    (models / 'latest.onnx').symlink_to('policy_v001.onnx')
    monkeypatch.chdir(layout['root'])
    trust = ModelTrust(['models'])
    assert trust.verify('models/latest.onnx').path.name == 'policy_v001.onnx'
    assert trust.verify('./models/policy_v001.onnx').version == 'v1'


def test_a_folder_created_after_start_counts(layout: dict[str, Path], model_bytes: bytes,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """Folders are resolved at each check: one the trainer creates later is allowed."""
    monkeypatch.chdir(layout['root'])
    trust = ModelTrust(['later'])
    assert 'not listed in' in _refusal(trust, 'later/policy_v001.onnx')
    (layout['root'] / 'later').mkdir()
    (layout['root'] / 'later' / 'policy_v001.onnx').write_bytes(model_bytes)
    record_model(layout['root'] / 'later' / 'policy_v001.onnx')
    assert trust.verify('later/policy_v001.onnx').data == model_bytes


def test_concurrent_listing_keeps_every_entry(tmp_path: Path) -> None:
    """Eight writers listing at once lose no entry and leave no temporary file."""
    for i in range(8):
        (tmp_path / f'm{i}.onnx').write_bytes(bytes([i]) * 100)
    threads = [threading.Thread(target=record_model, args=(tmp_path / f'm{i}.onnx',),
                                kwargs={'version': f'v{i}'}) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    listed = read_manifest(tmp_path)
    assert sorted(listed) == [f'm{i}.onnx' for i in range(8)]
    assert listed['m3.onnx']['version'] == 'v3'
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [MANIFEST] + [f'm{i}.onnx' for i in range(8)])
    data = json.loads((tmp_path / MANIFEST).read_text(encoding='utf-8'))
    assert data['format'] == 'imitation_ros.models/1'


def test_add_lists_a_valid_model_and_refuses_garbage(tmp_path: Path, model_bytes: bytes,
                                                     capsys: pytest.CaptureFixture) -> None:
    """The command lists a hand-made model (version from its metadata) and refuses non-models."""
    model, garbage = tmp_path / 'shipped.onnx', tmp_path / 'garbage.onnx'
    model.write_bytes(model_bytes)
    garbage.write_bytes(b'not a model')
    assert main(['add', str(model)]) == 0
    assert read_manifest(tmp_path)['shipped.onnx']['version'] == 'v1'
    assert main(['add', str(garbage)]) == 1
    assert 'garbage.onnx' not in read_manifest(tmp_path)
    assert main(['verify', str(model)]) == 0
    assert main(['verify', str(garbage)]) == 1
    assert main(['verify', '--dirs', str(tmp_path / 'other'), '--', str(model)]) == 1
    err = capsys.readouterr().err
    assert 'not listed' in err and OUTSIDE in err
