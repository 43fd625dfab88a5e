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
ROS parameters as frozen dataclasses: declared once, read once, validated once.

A node's parameters are one frozen dataclass whose fields are made with
:func:`param` (default, description, unit, range, choices)::

    @dataclass(frozen=True)
    class MyParams:
        rate_hz: float = param(20.0, 'Control rate', unit='Hz', minimum=1.0, maximum=500.0)
        joint_names: tuple[str, ...] = param(('joint1', 'joint2'), 'Joints, base to tip')

        def __post_init__(self) -> None:
            check_params(self)          # ranges and choices of every field
            ...                         # cross-field checks, raise ConfigError

    params = declare_and_read(node, MyParams)   # in the node's __init__

:func:`declare_and_read` declares every field as a ROS parameter with a
``ParameterDescriptor`` (description with unit, type, range, read-only),
reads the values once and builds the dataclass; every problem (wrong type,
out of range, failed cross-check) becomes a :class:`~imitation_ros.errors.ConfigError`
naming the parameter and the fix. Sequences are tuples in the dataclass and
lists in ROS. :func:`defaults` needs no ROS (YAML-vs-code tests).

The parameters are read-only once declared: they are read once, so a
``ros2 param set`` after start-up would otherwise silently do nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, is_dataclass, MISSING
import math
from typing import Any, Sequence, TypeVar

from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor, ParameterType
from rclpy.exceptions import InvalidParameterTypeException, InvalidParameterValueException

from ..errors import ConfigError

T = TypeVar('T')

_META_KEY = 'imitation_ros.param'
_INT64_MIN = -(2 ** 63)
_INT64_MAX = 2 ** 63 - 1

#: Scalar and array kinds a parameter can have, by Python type.
_SCALARS = (bool, int, float, str)


@dataclass(frozen=True)
class ParamSpec:
    """What :func:`param` attaches to a dataclass field."""

    description: str
    """One sentence a user reads in ``ros2 param describe``."""
    unit: str = ''
    """Unit of the value ('' for none), shown with the description."""
    minimum: float | None = None
    """Smallest allowed value (scalar numbers; every element of a number array)."""
    maximum: float | None = None
    """Largest allowed value (scalar numbers; every element of a number array)."""
    choices: tuple[Any, ...] = ()
    """Allowed values (empty: any)."""
    read_only: bool = True
    """Refuse changes after start-up (the node reads the value once)."""

    def full_description(self) -> str:
        """Return the description with the unit, as put into the ParameterDescriptor."""
        return f'{self.description} [{self.unit}]' if self.unit else self.description

    def constraints(self) -> str:
        """Human-readable constraints for ``ParameterDescriptor.additional_constraints``."""
        parts = []
        if self.minimum is not None and self.maximum is not None:
            parts.append(f'{self.minimum} <= value <= {self.maximum}')
        elif self.minimum is not None:
            parts.append(f'value >= {self.minimum}')
        elif self.maximum is not None:
            parts.append(f'value <= {self.maximum}')
        if self.choices:
            parts.append('one of: ' + ', '.join(str(c) for c in self.choices))
        return '; '.join(parts)


def param(default: Any, description: str, *, unit: str = '', minimum: float | None = None,
          maximum: float | None = None, choices: Sequence[Any] = (),
          read_only: bool = True) -> Any:
    """
    Make a dataclass field that is a ROS parameter.

    :param default: the default value: bool, int, float, str, or a non-empty
        tuple of one of them (a list is turned into a tuple).
    :param description: one sentence saying what it does.
    :param unit: unit of the value ('rad', 'Hz', 's', 'px', ...).
    :param minimum: smallest allowed value (numbers; each element of a number tuple).
    :param maximum: largest allowed value (numbers; each element of a number tuple).
    :param choices: allowed values (strings or numbers).
    :param read_only: refuse ``ros2 param set`` after start-up.
    """
    if isinstance(default, list):
        default = tuple(default)
    _kind_of(default, description)
    spec = ParamSpec(description=description, unit=unit, minimum=minimum, maximum=maximum,
                     choices=tuple(choices), read_only=read_only)
    return field(default=default, metadata={_META_KEY: spec})


def _kind_of(value: Any, where: str) -> tuple[type, bool]:
    """(element type, is_array) of a parameter value; TypeError for unsupported values."""
    if isinstance(value, tuple):
        if not value:
            raise TypeError(f'parameter default for {where!r} is an empty tuple; ROS cannot '
                            'infer its type, give a non-empty default')
        for kind in _SCALARS:
            if all(type(v) is kind for v in value):
                return kind, True
        raise TypeError(f'parameter default for {where!r} mixes element types: {value!r}')
    for kind in _SCALARS:
        if type(value) is kind:
            return kind, False
    raise TypeError(f'parameter default for {where!r} has unsupported type {type(value)}')


def param_fields(cls: type) -> list[tuple[str, Any, ParamSpec]]:
    """(name, default, spec) of every parameter field of a params dataclass."""
    if not (isinstance(cls, type) and is_dataclass(cls)):
        raise TypeError(f'{cls!r} is not a dataclass type')
    out = []
    for f in fields(cls):
        if not f.init:
            continue
        spec = f.metadata.get(_META_KEY)
        if spec is None or f.default is MISSING:
            raise TypeError(f'{cls.__name__}.{f.name} is not made with param(default, ...)')
        out.append((f.name, f.default, spec))
    return out


def _to_plain(value: Any) -> Any:
    """Tuples to lists (ROS and YAML form); scalars unchanged."""
    return list(value) if isinstance(value, tuple) else value


def defaults(cls: type) -> dict[str, Any]:
    """Return every parameter's default as ROS / YAML holds it (tuples as lists)."""
    return {name: _to_plain(default) for name, default, _ in param_fields(cls)}


def _type_name(kind: type, array: bool) -> str:
    name = {bool: 'bool', int: 'integer', float: 'double', str: 'string'}[kind]
    return f'{name} array' if array else name


def _example(value: Any) -> str:
    if isinstance(value, tuple):
        return '[' + ', '.join(_example(v) for v in value) + ']'
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, bool):
        return 'true' if value else 'false'
    return repr(value)


def check_params(obj: Any) -> None:
    """
    Check every field of a params dataclass against its type, range and choices.

    Call it first in the dataclass's ``__post_init__``.

    :raises ConfigError: naming the field, the bad value and what is allowed.
    """
    for name, default, spec in param_fields(type(obj)):
        value = getattr(obj, name)
        kind, array = _kind_of(default, name)
        items = value if isinstance(value, tuple) else (value,)
        if isinstance(value, tuple) != array or not all(_fits(v, kind) for v in items):
            raise ConfigError(f'parameter {name!r} must be a {_type_name(kind, array)} '
                              f'(e.g. {_example(default)}), got {value!r}')
        if kind in (int, float):
            for v in items:
                if isinstance(v, float) and not math.isfinite(v):
                    raise ConfigError(f'parameter {name!r} must be finite, got {value!r}')
                low_bad = spec.minimum is not None and v < spec.minimum
                high_bad = spec.maximum is not None and v > spec.maximum
                if low_bad or high_bad:
                    unit = f' {spec.unit}' if spec.unit else ''
                    raise ConfigError(f'parameter {name!r} = {value!r} is out of range; '
                                      f'set it to {spec.constraints()}{unit} '
                                      f'(default {_example(default)})')
        if spec.choices and any(v not in spec.choices for v in items):
            raise ConfigError(f'parameter {name!r} = {value!r} is not allowed; use '
                              + ' or '.join(_example(c) for c in spec.choices))


def _fits(value: Any, kind: type) -> bool:
    """Whether ``value`` has type ``kind`` (an int is fine where a float is expected)."""
    if kind is float:
        return type(value) in (float, int)
    return type(value) is kind


def _coerce(value: Any, kind: type, array: bool) -> Any:
    """Convert a value read from ROS to the dataclass form (arrays to tuples)."""
    if array:
        return tuple(kind(v) for v in value)
    return value


def descriptor_for(name: str, default: Any, spec: ParamSpec) -> Any:
    """Build the ``rcl_interfaces/ParameterDescriptor`` of one parameter field."""
    kind, array = _kind_of(default, name)
    types = {
        (bool, False): ParameterType.PARAMETER_BOOL,
        (int, False): ParameterType.PARAMETER_INTEGER,
        (float, False): ParameterType.PARAMETER_DOUBLE,
        (str, False): ParameterType.PARAMETER_STRING,
        (bool, True): ParameterType.PARAMETER_BOOL_ARRAY,
        (int, True): ParameterType.PARAMETER_INTEGER_ARRAY,
        (float, True): ParameterType.PARAMETER_DOUBLE_ARRAY,
        (str, True): ParameterType.PARAMETER_STRING_ARRAY,
    }
    desc = ParameterDescriptor(name=name, type=types[(kind, array)],
                               description=spec.full_description(),
                               additional_constraints=spec.constraints(),
                               read_only=spec.read_only)
    has_range = spec.minimum is not None or spec.maximum is not None
    if has_range and not array and kind is float:
        low = -math.inf if spec.minimum is None else float(spec.minimum)
        high = math.inf if spec.maximum is None else float(spec.maximum)
        desc.floating_point_range = [FloatingPointRange(from_value=low, to_value=high, step=0.0)]
    elif has_range and not array and kind is int:
        low = _INT64_MIN if spec.minimum is None else int(math.ceil(spec.minimum))
        high = _INT64_MAX if spec.maximum is None else int(math.floor(spec.maximum))
        desc.integer_range = [IntegerRange(from_value=low, to_value=high, step=1)]
    return desc


def declare_and_read(node: Any, cls: type[T]) -> T:
    """
    Declare every field of ``cls`` on ``node`` as a parameter, read all once, build ``cls``.

    :param node: an ``rclpy.node.Node``.
    :param cls: a frozen dataclass whose fields are made with :func:`param`.
    :returns: the validated parameters.
    :raises ConfigError: a value has the wrong type, is out of range or fails the
        dataclass's own checks; the message names the parameter and the fix.
    """
    values: dict[str, Any] = {}
    for name, default, spec in param_fields(cls):
        kind, array = _kind_of(default, name)
        try:
            declared = node.declare_parameter(name, _to_plain(default),
                                              descriptor_for(name, default, spec))
        except InvalidParameterTypeException as exc:
            hint = ''
            if kind is float:
                hint = ' (write floating point numbers with a decimal point: 20.0, not 20)'
            raise ConfigError(f'parameter {name!r} must be a {_type_name(kind, array)}, '
                              f'e.g. {_example(default)}{hint}: {exc}') from exc
        except InvalidParameterValueException as exc:
            unit = f' {spec.unit}' if spec.unit else ''
            raise ConfigError(f'parameter {name!r} is out of range; set it to '
                              f'{spec.constraints()}{unit} (default {_example(default)}): '
                              f'{exc}') from exc
        values[name] = _coerce(declared.value, kind, array)
    return cls(**values)
