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
The policy kinds by name, and the one factory that builds their torch models.

:data:`KINDS` is a read-only live view, name -> :class:`~imitation_ros.policies.kind.Kind`,
in registration order: the four kinds of this package, then any registered with
:func:`register_kind`. Looking a kind up imports no torch; :func:`make_policy`
imports the kind's model module (torch) when it builds one.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Any, Mapping, Optional

from ..errors import ConfigError
from . import ar, diffusion, gmm, mse
from .kind import Kind

__all__ = ['get_kind', 'KINDS', 'make_policy', 'register_kind', 'unregister_kind']

_KINDS: dict[str, Kind] = {}
#: Every registered kind, name -> Kind (read-only; follows register_kind).
KINDS: Mapping[str, Kind] = MappingProxyType(_KINDS)


def register_kind(kind: Kind, *, replace: bool = False) -> Kind:
    """Add ``kind`` (``replace``: over a kind of the same name); return it."""
    if kind.name in _KINDS and not replace:
        raise ConfigError(f'policy kind {kind.name!r} is registered already; pick another '
                          'name or pass replace=True')
    _KINDS[kind.name] = kind
    return kind


def unregister_kind(name: str) -> None:
    """Remove the kind ``name`` (models of it then no longer load or build)."""
    _KINDS.pop(name, None)


def get_kind(name: str) -> Kind:
    """Return the kind ``name``; ConfigError naming the known kinds when there is none."""
    try:
        return _KINDS[name]
    except KeyError:
        raise ConfigError(f'unknown policy kind {name!r}; choose one of '
                          f'{", ".join(_KINDS)}') from None


def make_policy(kind: str, spec: Any, options: Optional[Mapping[str, Any]] = None) -> Any:
    """
    Build a torch policy of ``kind`` for ``spec`` with kind-specific ``options``.

    :param spec: the :class:`~imitation_ros.policies.base.PolicySpec`.
    :param options: fields of the kind's config (lists become tuples).
    :returns: the :class:`~imitation_ros.policies.base.Policy`.
    """
    entry = get_kind(kind)
    config = entry.make_config(options)
    return entry.model_class()(spec, config)


for _kind in (
        Kind('mse', mse.MseConfig, mse.MseRuntime, 'imitation_ros.policies.mse.model:MsePolicy'),
        Kind('gmm', gmm.GmmConfig, gmm.GmmRuntime, 'imitation_ros.policies.gmm.model:GmmPolicy'),
        Kind('ar', ar.ArConfig, ar.ArRuntime, 'imitation_ros.policies.ar.model:ArPolicy'),
        Kind('diffusion', diffusion.DiffusionConfig, diffusion.DiffusionRuntime,
             'imitation_ros.policies.diffusion.model:DiffusionPolicy')):
    register_kind(_kind)
