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
The robot from its URDF: the arm's joints, their limits, and the kinematics of its chain.

:class:`RobotModel` reads a URDF (the ``robot_description`` robot_state_publisher
publishes, or a file), finds the chain of joints from ``base_link`` to ``tip_link``,
and gives their names in order, position and velocity limits, and the tip's pose and
Jacobian in the base frame, through Pinocchio (every other joint, a gripper's
fingers for instance, is held at its neutral position). Joints a gripper moves are
described by :class:`GripperModel`. Nothing here knows which robot it is.
"""

from __future__ import annotations

from dataclasses import dataclass, field
import math
from pathlib import Path
from typing import Any, Optional, Sequence
import xml.etree.ElementTree as ET

import numpy as np

from ..errors import ConfigError

#: Largest URDF accepted (bytes): a robot description is kilobytes; the cap bounds the
#: memory and time a crafted one can cost.
MAX_URDF_BYTES = 10_000_000
#: Joint types that move (fixed and floating joints do not belong to an arm's chain).
MOVING_TYPES = ('revolute', 'continuous', 'prismatic')


@dataclass(frozen=True)
class UrdfJoint:
    """One joint as the URDF declares it."""

    name: str
    type: str
    parent: str
    child: str
    lower: float
    """Position limit (rad or m); -inf for a continuous joint."""
    upper: float
    """Position limit (rad or m); +inf for a continuous joint."""
    velocity: float
    """Velocity limit (rad/s or m/s); inf when the URDF gives none."""
    mimic: str = ''
    """The joint this one mimics ('' for none)."""


def _float(element: Optional[ET.Element], name: str, default: float) -> float:
    if element is None or element.get(name) is None:
        return default
    try:
        value = float(element.get(name))
    except ValueError:
        raise ConfigError(f'URDF attribute {name}={element.get(name)!r} is not a number; '
                          'fix the robot description') from None
    if math.isnan(value):
        raise ConfigError(f'URDF attribute {name} is NaN; fix the robot description')
    return value


def parse_urdf_joints(urdf: str) -> tuple[str, list[UrdfJoint]]:
    """
    Return the robot's name and its joints, checked for what the chain search needs.

    :raises ConfigError: not a URDF (size, XML, no <robot>, a joint without parent or
        child, a moving joint without limits where the URDF requires them).
    """
    if not isinstance(urdf, str) or not urdf.strip():
        raise ConfigError('the robot description is empty: set the robot_description '
                          'parameter, give urdf_file, or run robot_state_publisher')
    if len(urdf.encode('utf-8', errors='replace')) > MAX_URDF_BYTES:
        raise ConfigError(f'the robot description is larger than {MAX_URDF_BYTES} bytes; a '
                          'URDF for kinematics needs no embedded meshes')
    try:
        root = ET.fromstring(urdf)
    except ET.ParseError as exc:
        raise ConfigError(f'the robot description is not valid XML ({exc}); give the URDF '
                          '(xacro output), not the xacro source') from None
    if root.tag != 'robot':
        raise ConfigError(f'the robot description has root <{root.tag}>, expected <robot>')
    joints = []
    for element in root.findall('joint'):
        name, kind = element.get('name', ''), element.get('type', '')
        parent, child = element.find('parent'), element.find('child')
        if not name or parent is None or child is None or not parent.get('link') \
                or not child.get('link'):
            raise ConfigError(f'URDF joint {name!r} lacks a name, <parent link> or <child '
                              'link>; fix the robot description')
        limit = element.find('limit')
        if kind in ('revolute', 'prismatic') and limit is None:
            raise ConfigError(f'URDF joint {name} ({kind}) has no <limit>; a revolute or '
                              'prismatic joint needs lower, upper and velocity')
        lower, upper = -math.inf, math.inf
        if kind in ('revolute', 'prismatic'):
            lower, upper = _float(limit, 'lower', 0.0), _float(limit, 'upper', 0.0)
            if not lower < upper:
                raise ConfigError(f'URDF joint {name}: lower limit {lower} is not below '
                                  f'upper {upper}')
        velocity = _float(limit, 'velocity', math.inf)
        if not velocity > 0:
            velocity = math.inf
        mimic = element.find('mimic')
        joints.append(UrdfJoint(name, kind, parent.get('link'), child.get('link'), lower, upper,
                                velocity, '' if mimic is None else mimic.get('joint', '')))
    if len({j.name for j in joints}) != len(joints):
        raise ConfigError('the URDF names a joint twice; fix the robot description')
    return root.get('name', ''), joints


def _chain(joints: list[UrdfJoint], base_link: str,
           tip_link: str) -> tuple[str, str, list[UrdfJoint]]:
    """Return base, tip and the moving, non-mimic joints from base to tip, in order."""
    by_child = {j.child: j for j in joints}
    links = {j.parent for j in joints} | {j.child for j in joints}
    roots = sorted({j.parent for j in joints} - set(by_child))
    if not base_link:
        if len(roots) != 1:
            raise ConfigError(f'the URDF has roots {roots}: set base_link')
        base_link = roots[0]
    if not tip_link:
        leaves = sorted(set(by_child) - {j.parent for j in joints})
        if len(leaves) != 1:
            raise ConfigError(f'the URDF has several end links {leaves}: set tip_link to the '
                              'one the arm carries (the tool or flange frame)')
        tip_link = leaves[0]
    for what, link in (('base_link', base_link), ('tip_link', tip_link)):
        if link not in links:
            raise ConfigError(f'{what} {link!r} is not a link of the URDF; links: '
                              f'{sorted(links)}')
    path = []
    link = tip_link
    while link != base_link:
        joint = by_child.get(link)
        if joint is None:
            raise ConfigError(f'tip_link {tip_link!r} does not hang below base_link '
                              f'{base_link!r} in the URDF; pick links on one chain')
        path.append(joint)
        link = joint.parent
    chain = [j for j in reversed(path) if j.type in MOVING_TYPES and not j.mimic]
    if not chain:
        raise ConfigError(f'no moving joint between {base_link} and {tip_link}')
    return base_link, tip_link, chain


@dataclass(frozen=True, eq=False)
class RobotModel:
    """
    An arm: the moving joints from ``base_link`` to ``tip_link`` of a URDF.

    Build it with :meth:`from_urdf` or :meth:`from_file`. Joint order is the chain's,
    base to tip: commands, joint states and models use it.
    """

    name: str
    """The URDF's robot name."""
    joint_names: tuple[str, ...]
    """The chain's moving joints, base to tip."""
    lower: np.ndarray
    """Lower position limits, shape (n,), rad (m for prismatic); -inf for continuous."""
    upper: np.ndarray
    """Upper position limits, shape (n,); +inf for continuous."""
    velocity: np.ndarray
    """Velocity limits, shape (n,), rad/s (m/s); inf where the URDF gives none."""
    base_link: str
    tip_link: str
    urdf: str = field(repr=False)
    """The URDF text the model was read from."""
    _pin: Any = field(repr=False, default=None)

    @classmethod
    def from_urdf(cls, urdf: str, *, base_link: str = '', tip_link: str = '') -> 'RobotModel':
        """
        Read the arm from URDF text.

        :param base_link: the chain's base ('' for the URDF's root link).
        :param tip_link: the chain's tip ('' when the URDF has a single end link).
        :raises ConfigError: the URDF or the links are unusable; the message says why.
        """
        name, joints = parse_urdf_joints(urdf)
        base_link, tip_link, chain = _chain(joints, base_link, tip_link)
        model = cls(name=name, joint_names=tuple(j.name for j in chain),
                    lower=np.array([j.lower for j in chain]),
                    upper=np.array([j.upper for j in chain]),
                    velocity=np.array([j.velocity for j in chain]),
                    base_link=base_link, tip_link=tip_link, urdf=urdf)
        for arr in (model.lower, model.upper, model.velocity):
            arr.setflags(write=False)
        object.__setattr__(model, '_pin', _PinocchioChain(urdf, model))
        return model

    @classmethod
    def from_file(cls, path: str | Path, **links: str) -> 'RobotModel':
        """Read the arm from a URDF file (see :meth:`from_urdf`)."""
        path = Path(path)
        try:
            size = path.stat().st_size
            if size > MAX_URDF_BYTES:
                raise ConfigError(f'URDF file {path} is {size} bytes, larger than '
                                  f'{MAX_URDF_BYTES}')
            text = path.read_text(encoding='utf-8')
        except OSError as exc:
            raise ConfigError(f'cannot read the URDF file {path}: {exc.strerror}') from None
        except UnicodeDecodeError:
            raise ConfigError(f'URDF file {path} is not UTF-8 text') from None
        return cls.from_urdf(text, **links)

    @property
    def n_joints(self) -> int:
        """Return the number of joints of the chain."""
        return len(self.joint_names)

    def pose(self, q: Sequence[float]) -> np.ndarray:
        """Return the tip's pose in the base frame, a (4, 4) homogeneous transform (m)."""
        return self._pin.pose(self._q(q))

    def position(self, q: Sequence[float]) -> np.ndarray:
        """Return the tip's position in the base frame, shape (3,), m."""
        return self.pose(q)[:3, 3]

    def jacobian(self, q: Sequence[float]) -> np.ndarray:
        """
        Return the tip's Jacobian in the base frame, shape (6, n).

        Rows: linear velocity of the tip's origin (m/s per joint unit), then angular
        velocity (rad/s per joint unit), both expressed in the base frame.
        """
        return self._pin.jacobian(self._q(q))

    def check_joint_names(self, names: Sequence[str], what: str) -> None:
        """
        Check that ``names`` are this arm's joints in its order.

        :param what: what named them, for the message (a model, a parameter).
        :raises ConfigError: they differ; the message lists both.
        """
        if tuple(names) != self.joint_names:
            raise ConfigError(f'{what} has joints {list(names)} but the robot '
                              f'{self.name or "(unnamed)"} has {list(self.joint_names)} from '
                              f'{self.base_link} to {self.tip_link}; they must match in order')

    def _q(self, q: Sequence[float]) -> np.ndarray:
        arr = np.asarray(q, dtype=np.float64)
        if arr.shape != (self.n_joints,) or not np.all(np.isfinite(arr)):
            raise ConfigError(f'joint positions must be {self.n_joints} finite values, got '
                              f'{np.asarray(q).tolist()}')
        return arr


class _PinocchioChain:
    """Pinocchio's model of the chain; every joint off the chain held at neutral."""

    def __init__(self, urdf: str, robot: RobotModel) -> None:
        import pinocchio as pin  # lazy: pinocchio is optional (only this backend uses it)
        self._pin = pin
        try:
            full = pin.buildModelFromXML(urdf)
        except (RuntimeError, ValueError) as exc:
            raise ConfigError(f'Pinocchio cannot read the URDF: {exc}') from None
        keep = set(robot.joint_names)
        lock = [i for i in range(1, full.njoints) if full.names[i] not in keep]
        model = pin.buildReducedModel(full, lock, pin.neutral(full)) if lock else full
        self.model = model
        self.data = model.createData()
        self._idx_q = []
        self._continuous = []
        for name in robot.joint_names:
            joint = model.joints[model.getJointId(name)]
            self._idx_q.append(joint.idx_q)
            self._continuous.append(joint.nq == 2)
        self._tip = model.getFrameId(robot.tip_link)
        self._base = model.getFrameId(robot.base_link)
        if self._tip >= len(model.frames) or self._base >= len(model.frames):
            raise ConfigError(f'Pinocchio has no frame {robot.tip_link} or {robot.base_link}')

    def _config(self, q: np.ndarray) -> np.ndarray:
        x = self._pin.neutral(self.model)
        for value, i, continuous in zip(q, self._idx_q, self._continuous):
            if continuous:
                x[i], x[i + 1] = math.cos(value), math.sin(value)
            else:
                x[i] = value
        return x

    def _update(self, q: np.ndarray) -> tuple[Any, Any]:
        pin = self._pin
        pin.computeJointJacobians(self.model, self.data, self._config(q))
        pin.updateFramePlacements(self.model, self.data)
        return self.data.oMf[self._base], self.data.oMf[self._tip]

    def pose(self, q: np.ndarray) -> np.ndarray:
        base, tip = self._update(q)
        return (base.inverse() * tip).homogeneous

    def jacobian(self, q: np.ndarray) -> np.ndarray:
        pin = self._pin
        base, _ = self._update(q)
        jac = pin.getFrameJacobian(self.model, self.data, self._tip, pin.LOCAL_WORLD_ALIGNED)
        rot = base.rotation.T
        out = np.empty((6, jac.shape[1]))
        out[:3] = rot @ jac[:3]
        out[3:] = rot @ jac[3:]
        return out


@dataclass(frozen=True)
class GripperModel:
    """The joints a gripper command moves, with their range (from the URDF)."""

    joint_names: tuple[str, ...]
    """Gripper joints commanded (mimic joints follow and are not listed)."""
    open: np.ndarray
    """Joint positions of the open gripper, shape (k,) (the upper limits)."""
    closed: np.ndarray
    """Joint positions of the closed gripper, shape (k,) (the lower limits)."""

    @classmethod
    def from_urdf(cls, urdf: str, joint_names: Sequence[str]) -> 'GripperModel':
        """
        Read the gripper joints ``joint_names`` of a URDF.

        :raises ConfigError: a joint is missing, fixed, a mimic, or without limits.
        """
        _, joints = parse_urdf_joints(urdf)
        by_name = {j.name: j for j in joints}
        chosen = []
        for name in joint_names:
            joint = by_name.get(name)
            if joint is None or joint.type not in ('revolute', 'prismatic') or joint.mimic:
                raise ConfigError(f'gripper joint {name!r} is not a revolute or prismatic, '
                                  'non-mimic joint of the URDF; name the finger joint the '
                                  'gripper controller commands')
            chosen.append(joint)
        if not chosen:
            raise ConfigError('a gripper needs at least one joint')
        return cls(joint_names=tuple(joint_names),
                   open=np.array([j.upper for j in chosen]),
                   closed=np.array([j.lower for j in chosen]))
