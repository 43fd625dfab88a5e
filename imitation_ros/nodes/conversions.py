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
Message <-> numpy conversions shared by the nodes; pure functions, no node needed.

Builders take numpy arrays and return messages. Readers take messages and
return numpy arrays, and raise :class:`MessageError` (an
:class:`~imitation_ros.errors.ImitationError`) with a message saying what is
wrong and how to fix it, so a callback can ``except ImitationError``, log it
throttled and hold its last good value.
"""

from __future__ import annotations

import array
import json
import math
from typing import Any, Iterable, Mapping, Sequence

from builtin_interfaces.msg import Time
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
import numpy as np
from sensor_msgs.msg import Image, JointState
from std_msgs.msg import Float64MultiArray, MultiArrayDimension

from ..errors import ImitationError

#: DiagnosticStatus levels as ints (the message's constants are bytes).
DIAG_OK = 0
DIAG_WARN = 1
DIAG_ERROR = 2
DIAG_STALE = 3


class MessageError(ImitationError, ValueError):
    """A received message is malformed: wrong size, wrong encoding, missing joints, NaN."""


def stamp_to_sec(stamp: Time) -> float:
    """Convert a ``builtin_interfaces/Time`` to seconds."""
    return float(stamp.sec) + 1e-9 * float(stamp.nanosec)


def _vector(values: Any, what: str) -> np.ndarray:
    v = np.asarray(values, dtype=np.float64)
    if v.ndim != 1:
        raise MessageError(f'{what} must be one-dimensional, got shape {v.shape}')
    return v


# --- JointState -----------------------------------------------------------------------


def joint_state_msg(names: Sequence[str], positions: Any, velocities: Any = None,
                    stamp: Time | None = None, frame_id: str = '') -> JointState:
    """
    Build a JointState.

    :param names: joint names, base to tip.
    :param positions: joint positions, shape (n,), rad.
    :param velocities: joint velocities, shape (n,), rad/s; None leaves the field empty.
    :param stamp: header stamp (usually ``node.get_clock().now().to_msg()``).
    """
    q = _vector(positions, 'positions')
    if len(q) != len(names):
        raise MessageError(f'{len(q)} positions for {len(names)} joint names')
    msg = JointState()
    if stamp is not None:
        msg.header.stamp = stamp
    msg.header.frame_id = frame_id
    msg.name = [str(n) for n in names]
    msg.position = array.array('d', q.tolist())
    if velocities is not None:
        qd = _vector(velocities, 'velocities')
        if len(qd) != len(names):
            raise MessageError(f'{len(qd)} velocities for {len(names)} joint names')
        msg.velocity = array.array('d', qd.tolist())
    return msg


def _joint_order(msg: JointState, joint_names: Sequence[str]) -> list[int]:
    """Return the indices of ``joint_names`` in the message (errors: see joint_state_arrays)."""
    names = list(msg.name)
    if len(msg.position) != len(names):
        raise MessageError(f'JointState has {len(names)} names but {len(msg.position)} '
                           'positions; its publisher is broken')
    index: dict[str, int] = {}
    twice = set()
    for i, name in enumerate(names):
        if name in index:
            twice.add(name)
        index[name] = i
    missing = [n for n in joint_names if n not in index]
    if missing:
        raise MessageError(f'JointState lacks joints {missing} (it has {names[:32]}); set the '
                           'joint_names parameter to the names the robot publishes')
    ambiguous = sorted(twice.intersection(joint_names))
    if ambiguous:
        raise MessageError(f'JointState names joints {ambiguous} more than once; its '
                           'publisher is broken')
    return [index[n] for n in joint_names]


def joint_state_arrays(msg: JointState,
                       joint_names: Sequence[str]) -> tuple[np.ndarray, np.ndarray | None]:
    """
    Positions and velocities of ``joint_names``, in that order, from a JointState.

    Extra joints in the message are ignored (a real robot may publish grippers,
    wheels...). Velocities are None when the message carries none.

    :returns: positions, shape (n,), rad; velocities, shape (n,), rad/s, or None.
    :raises MessageError: joints missing or named twice, field lengths
        inconsistent, or a position or velocity not finite.
    """
    order = _joint_order(msg, joint_names)
    q = np.asarray(msg.position, dtype=np.float64)[order]
    if not np.all(np.isfinite(q)):
        raise MessageError(f'JointState positions are not finite: {q.tolist()}')
    qd = None
    if len(msg.velocity) == len(msg.name):
        qd = np.asarray(msg.velocity, dtype=np.float64)[order]
        if not np.all(np.isfinite(qd)):
            raise MessageError(f'JointState velocities are not finite: {qd.tolist()}')
    return q, qd


def joint_positions(msg: JointState, joint_names: Sequence[str]) -> np.ndarray:
    """
    Positions of ``joint_names`` in that order, shape (n,), rad.

    Only the positions are read: a NaN velocity (drivers publish one for joints
    without a velocity sensor) does not cost the position.

    :raises MessageError: joints missing or named twice, names and positions of
        different lengths, or a position not finite.
    """
    order = _joint_order(msg, joint_names)
    q = np.asarray(msg.position, dtype=np.float64)[order]
    if not np.all(np.isfinite(q)):
        raise MessageError(f'JointState positions are not finite: {q.tolist()}')
    return q


# --- Float64MultiArray ----------------------------------------------------------------


def array_msg(values: Any, label: str = '') -> Float64MultiArray:
    """
    Build a one-dimensional Float64MultiArray; ``label`` documents the layout.

    :param values: shape (n,).
    :param label: e.g. 'goal_x,goal_y,obstacle_x,obstacle_y,obstacle_radius' or
        'joint1,joint2,joint3', stored in ``layout.dim[0].label``.
    """
    v = _vector(values, 'values')
    msg = Float64MultiArray()
    msg.layout.dim = [MultiArrayDimension(label=label, size=len(v), stride=len(v))]
    msg.layout.data_offset = 0
    msg.data = array.array('d', v.tolist())
    return msg


def array_from_msg(msg: Float64MultiArray, size: int | None = None,
                   what: str = 'array') -> np.ndarray:
    """
    Return the data of a Float64MultiArray as shape (n,) float64.

    :param size: required length (None: any).
    :param what: what the array is, for the error message ('command', 'task').
    :raises MessageError: wrong length, or a value is NaN or infinite.
    """
    offset = int(msg.layout.data_offset)
    v = np.asarray(msg.data, dtype=np.float64)[offset:]
    if size is not None and v.shape != (size,):
        raise MessageError(f'{what} has {len(v)} values, expected {size}')
    if not np.all(np.isfinite(v)):
        raise MessageError(f'{what} has non-finite values: {v.tolist()}')
    return v


# --- Image ----------------------------------------------------------------------------


def image_msg(rgb: np.ndarray, stamp: Time | None = None, frame_id: str = '') -> Image:
    """Build an rgb8 Image from an (H, W, 3) uint8 array."""
    img = np.asarray(rgb)
    if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
        raise MessageError(f'image must be (H, W, 3) uint8, got {img.shape} {img.dtype}')
    msg = Image()
    if stamp is not None:
        msg.header.stamp = stamp
    msg.header.frame_id = frame_id
    msg.height, msg.width = int(img.shape[0]), int(img.shape[1])
    msg.encoding = 'rgb8'
    msg.is_bigendian = 0
    msg.step = int(img.shape[1]) * 3
    msg.data = array.array('B', np.ascontiguousarray(img).tobytes())
    return msg


def image_from_msg(msg: Image, size: tuple[int, int] | int | None = None) -> np.ndarray:
    """
    Convert an rgb8 or bgr8 Image to an (H, W, 3) uint8 RGB array (row padding removed).

    :param size: required (height, width), or one int for a square image (None: any).
    :raises MessageError: other encoding, data shorter than height * step, wrong size.
    """
    if msg.encoding not in ('rgb8', 'bgr8'):
        raise MessageError(f'image encoding {msg.encoding!r} is not supported; publish rgb8 '
                           '(or bgr8)')
    h, w, step = int(msg.height), int(msg.width), int(msg.step)
    if size is not None:
        want = (size, size) if isinstance(size, int) else tuple(size)
        if (h, w) != want:
            raise MessageError(f'image is {h}x{w} (HxW), expected {want[0]}x{want[1]}; '
                               'set the camera (or the image_size parameter) to match')
    if h == 0 or w == 0:
        raise MessageError('image is empty')
    if step < 3 * w or len(msg.data) < h * step:
        raise MessageError(f'image data ({len(msg.data)} bytes, step {step}) does not hold '
                           f'{h}x{w} rgb8 pixels')
    buf = np.frombuffer(msg.data, dtype=np.uint8, count=h * step).reshape(h, step)
    img = buf[:, :3 * w].reshape(h, w, 3)
    if msg.encoding == 'bgr8':
        img = img[:, :, ::-1]
    return np.ascontiguousarray(img)


# --- Diagnostics ----------------------------------------------------------------------


def _diag_value(value: Any) -> str:
    if isinstance(value, float):
        return f'{value:.4g}' if math.isfinite(value) else str(value)
    if isinstance(value, (list, tuple, dict)):
        return json.dumps(value)
    return str(value)


def diagnostic_status(name: str, level: int, message: str,
                      values: Mapping[str, Any] | None = None,
                      hardware_id: str = '') -> DiagnosticStatus:
    """Build a DiagnosticStatus; ``level`` is DIAG_OK, DIAG_WARN, DIAG_ERROR or DIAG_STALE."""
    if level not in (DIAG_OK, DIAG_WARN, DIAG_ERROR, DIAG_STALE):
        raise MessageError(f'diagnostic level must be 0..3, got {level}')
    status = DiagnosticStatus()
    status.level = bytes([level])
    status.name = name
    status.message = message
    status.hardware_id = hardware_id
    status.values = [KeyValue(key=str(k), value=_diag_value(v))
                     for k, v in (values or {}).items()]
    return status


def diagnostic_array(statuses: Iterable[DiagnosticStatus],
                     stamp: Time | None = None) -> DiagnosticArray:
    """Build a DiagnosticArray holding ``statuses``."""
    msg = DiagnosticArray()
    if stamp is not None:
        msg.header.stamp = stamp
    msg.status = list(statuses)
    return msg


def diagnostic_level(status: DiagnosticStatus) -> int:
    """Return the level of a DiagnosticStatus as an int (the field is a byte)."""
    level = status.level
    return level[0] if isinstance(level, (bytes, bytearray)) else int(level)
