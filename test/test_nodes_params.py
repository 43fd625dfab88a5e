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

"""The parameter helper: declaration with descriptors, one read, validation, defaults."""

from __future__ import annotations

from dataclasses import dataclass, FrozenInstanceError
import math
import os

from imitation_ros.errors import ConfigError
from imitation_ros.nodes.params import (check_params, declare_and_read, defaults,
                                        descriptor_for, param, param_fields)
from imitation_ros.nodes.sim_arm import SimArmParams
import pytest
from rcl_interfaces.msg import ParameterType
import rclpy
from rclpy.context import Context
from rclpy.node import Node
from rclpy.parameter import Parameter
from ros_harness import private_domain_id


@dataclass(frozen=True)
class Demo:
    """Every supported parameter kind, with ranges, choices and a cross-field check."""

    rate: float = param(20.0, 'Loop rate', unit='Hz', minimum=1.0, maximum=100.0)
    count: int = param(3, 'How many', minimum=0)
    enabled: bool = param(True, 'Switch')
    mode: str = param('joint', 'Teleop mode', choices=('joint', 'cartesian'))
    gains: tuple[float, ...] = param((1.0, 2.0), 'Gains per axis', unit='1', minimum=0.0)
    names: tuple[str, ...] = param(('a', 'b'), 'Axis names')

    def __post_init__(self) -> None:
        check_params(self)
        if len(self.gains) != len(self.names):
            raise ConfigError('gains and names need the same length; give one gain per name')


@pytest.fixture(scope='module')
def ros() -> Context:
    """Provide a private rclpy context on a private ROS domain, for this module only."""
    old = os.environ.get('ROS_DOMAIN_ID')
    os.environ['ROS_DOMAIN_ID'] = str(private_domain_id(79))
    context = Context()
    rclpy.init(args=None, context=context)
    yield context
    rclpy.shutdown(context=context)
    if old is None:
        os.environ.pop('ROS_DOMAIN_ID', None)
    else:
        os.environ['ROS_DOMAIN_ID'] = old


def make_node(ros: Context, **overrides: object) -> Node:
    """Create a node with parameter overrides, as a params file or -p would give them."""
    params = [Parameter(k, value=v) for k, v in overrides.items()]
    return Node('params_probe', context=ros, parameter_overrides=params)


def test_defaults_need_no_ros_and_use_lists() -> None:
    """defaults() gives every field's default, sequences as lists (the YAML form)."""
    assert defaults(Demo) == {'rate': 20.0, 'count': 3, 'enabled': True, 'mode': 'joint',
                              'gains': [1.0, 2.0], 'names': ['a', 'b']}
    assert defaults(SimArmParams)['joint_names'] == ['joint1', 'joint2', 'joint3']
    assert [name for name, _, _ in param_fields(Demo)] == list(defaults(Demo))


def test_param_refuses_defaults_ros_cannot_type() -> None:
    """An empty, mixed or unsupported default is a programming error (TypeError)."""
    for bad in ((), (1, 'a'), None, {'a': 1}):
        with pytest.raises(TypeError):
            param(bad, 'x')
    with pytest.raises(TypeError):
        param_fields(int)


def test_bad_values_are_rejected_naming_the_field_and_the_fix() -> None:
    """Out-of-range, mistyped, non-finite and disallowed values raise ConfigError."""
    Demo()
    cases = [({'rate': 0.5}, "'rate'", '1.0 <= value <= 100.0'),
             ({'rate': math.nan}, "'rate'", 'finite'),
             ({'count': -1}, "'count'", 'value >= 0'),
             ({'count': 2.0}, "'count'", 'integer'),
             ({'enabled': 1}, "'enabled'", 'bool'),
             ({'mode': 'polar'}, "'mode'", "'joint' or 'cartesian'"),
             ({'gains': (1.0, -2.0)}, "'gains'", 'value >= 0.0'),
             ({'names': ('a', 3)}, "'names'", 'string array'),
             ({'names': ('a', 'b', 'c')}, 'same length', 'one gain per name')]
    for kwargs, *needles in cases:
        with pytest.raises(ConfigError) as info:
            Demo(**kwargs)
        for needle in needles:
            assert needle in str(info.value), (kwargs, str(info.value))
    with pytest.raises(ConfigError, match='rate_hz'):
        SimArmParams(rate_hz=0.0)
    with pytest.raises(ConfigError, match='joint_names'):
        SimArmParams(joint_names=('a', 'b'))
    with pytest.raises(FrozenInstanceError):
        Demo().rate = 3.0


def test_descriptors_carry_type_description_unit_and_range() -> None:
    """Each descriptor has the ROS type, the description with its unit and the range."""
    specs = {name: descriptor_for(name, d, s) for name, d, s in param_fields(Demo)}
    rate = specs['rate']
    assert rate.type == ParameterType.PARAMETER_DOUBLE and rate.read_only
    assert rate.description == 'Loop rate [Hz]'
    fpr = rate.floating_point_range[0]
    assert (fpr.from_value, fpr.to_value, fpr.step) == (1.0, 100.0, 0.0)
    count = specs['count'].integer_range[0]
    assert count.from_value == 0 and count.to_value == 2 ** 63 - 1 and count.step == 1
    assert specs['enabled'].type == ParameterType.PARAMETER_BOOL
    assert 'one of: joint, cartesian' in specs['mode'].additional_constraints
    assert specs['gains'].type == ParameterType.PARAMETER_DOUBLE_ARRAY
    assert specs['names'].type == ParameterType.PARAMETER_STRING_ARRAY
    sim_specs = {n: s for n, _, s in param_fields(SimArmParams)}
    size = descriptor_for('image_size', 96, sim_specs['image_size'])
    assert (size.integer_range[0].from_value, size.integer_range[0].to_value) == (16, 1024)


def test_declare_and_read_on_a_node(ros: Context) -> None:
    """Values come from the overrides once; the node describes them; they are read-only."""
    node = make_node(ros, rate=50.0, names=['x', 'y', 'z'], gains=[0.5, 1.5, 2.5],
                     mode='cartesian')
    try:
        p = declare_and_read(node, Demo)
        assert p == Demo(rate=50.0, count=3, enabled=True, mode='cartesian',
                         gains=(0.5, 1.5, 2.5), names=('x', 'y', 'z'))
        assert isinstance(p.gains, tuple) and isinstance(p.names, tuple)
        desc = node.describe_parameter('rate')
        assert desc.floating_point_range[0].to_value == 100.0 and '[Hz]' in desc.description
        result = node.set_parameters([Parameter('rate', value=30.0)])[0]
        assert not result.successful and 'read-only' in result.reason
    finally:
        node.destroy_node()


@pytest.mark.parametrize('overrides, needles', [
    ({'rate': 500.0}, ("'rate'", 'out of range', '1.0 <= value <= 100.0')),
    ({'rate': 20}, ("'rate'", 'double', 'decimal point')),
    ({'mode': 'polar'}, ("'mode'", 'cartesian')),
    ({'names': ['x']}, ('same length',)),
], ids=['out_of_range', 'int_for_double', 'bad_choice', 'cross_field'])
def test_declare_and_read_rejects_bad_overrides(ros: Context, overrides: dict,
                                                needles: tuple) -> None:
    """A bad override becomes a ConfigError a user can act on."""
    node = make_node(ros, **overrides)
    try:
        with pytest.raises(ConfigError) as info:
            declare_and_read(node, Demo)
        for needle in needles:
            assert needle in str(info.value)
    finally:
        node.destroy_node()
