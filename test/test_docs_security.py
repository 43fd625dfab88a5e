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

"""docs/security.md: its SROS2 policy is well-formed and grants what the page says."""

from __future__ import annotations

from pathlib import Path
import re
import xml.etree.ElementTree as ET

from imitation_ros.bringup.graph import graph
from imitation_ros.nodes.policy_node import PolicyParams
from imitation_ros.runtime.model_trust import OUTSIDE

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / 'docs' / 'security.md'


def _policy() -> ET.Element:
    blocks = re.findall(r'```xml\n(.*?)```', DOC.read_text(encoding='utf-8'), re.S)
    assert len(blocks) == 1, 'docs/security.md should hold one SROS2 policy'
    return ET.fromstring(blocks[0].encode('utf-8'))


def _grants(policy: ET.Element, topic: str, verb: str) -> set[str]:
    """Return the enclaves whose profiles ALLOW ``verb`` (publish/subscribe) on ``topic``."""
    out = set()
    for enclave in policy.iter('enclave'):
        for topics in enclave.iter('topics'):
            if topics.get(verb) == 'ALLOW' and topic in [t.text for t in topics.iter('topic')]:
                out.add(enclave.get('path'))
    return out


def test_policy_is_well_formed_sros2() -> None:
    """Version 0.2.0, unique enclaves, one profile per node, only ALLOW/DENY qualifiers."""
    policy = _policy()
    assert policy.tag == 'policy' and policy.get('version') == '0.2.0'
    assert [child.tag for child in policy] == ['enclaves']
    paths = [e.get('path') for e in policy.iter('enclave')]
    assert len(paths) == len(set(paths)) and all(p.startswith('/imitation_ros/') for p in paths)
    for enclave in policy.iter('enclave'):
        profiles = list(enclave.iter('profile'))
        assert len(profiles) == 1 and profiles[0].get('ns') == '/'
        assert enclave.get('path') == f'/imitation_ros/{profiles[0].get("node")}'
        for topics in enclave.iter('topics'):
            qualifiers = {k: v for k, v in topics.attrib.items()}
            assert qualifiers and set(qualifiers) <= {'publish', 'subscribe'}
            assert set(qualifiers.values()) <= {'ALLOW', 'DENY'}
            assert all(t.text and not t.text.startswith('/') for t in topics.iter('topic'))


def test_only_the_trainer_publishes_models_and_only_the_pad_drives() -> None:
    """imitation/model: trainer -> policy (recorder); joy: joy_node or sim_human -> gate."""
    policy = _policy()
    assert _grants(policy, 'imitation/model', 'publish') == {'/imitation_ros/trainer'}
    assert _grants(policy, 'imitation/model', 'subscribe') == {'/imitation_ros/policy',
                                                               '/imitation_ros/recorder'}
    assert _grants(policy, 'joy', 'publish') == {'/imitation_ros/joy_node',
                                                 '/imitation_ros/sim_human'}
    assert _grants(policy, 'joy', 'subscribe') == {'/imitation_ros/intervention_gate',
                                                   '/imitation_ros/recorder'}
    names = {spec.name for spec in graph('hg_dagger')}
    nodes = {p.get('node') for p in policy.iter('profile')}
    assert nodes <= names, f'profiles for nodes the graph does not have: {nodes - names}'


def test_page_quotes_the_refusal_and_defaults() -> None:
    """The refusal text and the defaults the page names are the code's."""
    text = ' '.join(DOC.read_text(encoding='utf-8').split())
    assert OUTSIDE in text
    defaults = PolicyParams()
    assert f'`candidate_observations` ({defaults.candidate_observations})' in text
    assert f'`candidate_limit_margin` ({defaults.candidate_limit_margin:g} rad)' in text
