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
The topics an episode bag holds and CDR codecs for their messages, without rclpy.

Bags written offline (from the sim, in tests) and bags written by the live
recorder (rclpy's raw serialized bytes) must be byte-compatible, so every
encoder here produces what rclpy's ``serialize_message`` produces: standard
little-endian CDR behind the 4-byte encapsulation header ``00 01 00 00``. The
message definitions come from the ``rosbags`` type store; std_msgs,
sensor_msgs and builtin_interfaces are identical from Humble to Kilted, so one
store serves every distro.

Stamps are integer nanoseconds (``builtin_interfaces/Time`` split into sec and
nanosec); arrays are numpy, float64 unless the message says otherwise.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
import functools
import json
from typing import Any

import numpy as np

from ..errors import DataError
from ..interface import topics as _topics

# Topic names as a bag recorded in the root namespace stores them, from the one table of
# topics (imitation_ros.interface.topics).
JOINT_STATES = _topics.JOINT_STATES.bag_name
"""Measured joint positions and velocities (sensor_msgs/JointState)."""
CAMERA_IMAGE = _topics.CAMERA_IMAGE.bag_name
"""Camera frames, rgb8 (sensor_msgs/Image)."""
TASK = _topics.TASK.bag_name
"""Task context the policy conditions on (std_msgs/Float64MultiArray)."""
JOY = _topics.JOY.bag_name
"""Gamepad state (sensor_msgs/Joy)."""
POLICY_ACTION = _topics.POLICY_ACTION.bag_name
"""The policy's proposed joint targets (std_msgs/Float64MultiArray), rad."""
COMMANDS = _topics.COMMANDS.bag_name
"""Executed absolute joint targets (std_msgs/Float64MultiArray), rad."""
INTERVENTION = _topics.INTERVENTION.bag_name
"""True while the human is in control (std_msgs/Bool)."""
EXPERT_ACTION = _topics.EXPERT_ACTION.bag_name
"""DAgger expert labels (std_msgs/Float64MultiArray), rad."""
EPISODE = _topics.EPISODE.bag_name
"""Episode start/end events as JSON (std_msgs/String)."""
UNCERTAINTY = _topics.UNCERTAINTY.bag_name
"""The policy's doubt, one per action (std_msgs/Float64), in the policy's own units."""
HELP_REQUEST = _topics.HELP_REQUEST.bag_name
"""True while the gate holds because the policy asks for help (std_msgs/Bool)."""
GATE_STATE = _topics.GATE_STATE.bag_name
"""The gate's decision per command as JSON (std_msgs/String): source, the command and the
header stamp of the joint state it was decided at."""

JOINT_STATE_TYPE = _topics.JOINT_STATE
IMAGE_TYPE = _topics.IMAGE
JOY_TYPE = _topics.JOY_MSG
FLOAT64_ARRAY_TYPE = _topics.FLOAT64_ARRAY
BOOL_TYPE = _topics.BOOL
FLOAT64_TYPE = _topics.FLOAT64
STRING_TYPE = _topics.STRING

#: Every topic an episode bag may hold, with its message type.
TOPICS: dict[str, str] = {t.bag_name: t.type for t in (
    _topics.JOINT_STATES, _topics.CAMERA_IMAGE, _topics.TASK, _topics.JOY,
    _topics.POLICY_ACTION, _topics.COMMANDS, _topics.INTERVENTION, _topics.EXPERT_ACTION,
    _topics.EPISODE, _topics.UNCERTAINTY, _topics.HELP_REQUEST, _topics.GATE_STATE)}

_NS_PER_S = 1_000_000_000


@functools.lru_cache(maxsize=1)
def typestore() -> Any:
    """Return the rosbags type store shared by all codecs (built once, in ~0.2 s)."""
    # Imported here so that importing this module stays cheap for code that
    # only needs the topic table.
    from rosbags.typesys import get_typestore, Stores

    # Kilted is the newest store this rosbags has for the contract's distros;
    # the message definitions (and so the type hashes) used here are the same
    # in Humble and Jazzy.
    return get_typestore(Stores.ROS2_KILTED)


def _serialize(msg: object, msgtype: str) -> bytes:
    return bytes(typestore().serialize_cdr(msg, msgtype))


def _deserialize(raw: bytes | memoryview, msgtype: str) -> Any:
    try:
        return typestore().deserialize_cdr(raw, msgtype)
    except Exception as exc:  # rosbags raises plain struct/index errors on bad bytes
        msg = (f'cannot decode {len(raw)} bytes as {msgtype}: {exc}; the bag or publisher '
               'does not carry this message type (check the topic types with `ros2 bag info`)')
        raise DataError(msg) from exc


def stamp_to_ns(sec: int, nanosec: int) -> int:
    """Convert a builtin_interfaces/Time (sec, nanosec) to integer nanoseconds."""
    return int(sec) * _NS_PER_S + int(nanosec)


def _header(stamp_ns: int, frame_id: str) -> Any:
    ts = typestore()
    if stamp_ns < 0:
        msg = f'stamp must be >= 0 ns, got {stamp_ns}; use ROS time (ns since the epoch)'
        raise DataError(msg)
    sec, nanosec = divmod(int(stamp_ns), _NS_PER_S)
    time_cls = ts.types['builtin_interfaces/msg/Time']
    header_cls = ts.types['std_msgs/msg/Header']
    return header_cls(stamp=time_cls(sec=sec, nanosec=nanosec), frame_id=frame_id)


def _vector(values: Any, name: str, dtype: type = np.float64) -> np.ndarray:
    arr = np.asarray(values, dtype=dtype)
    if arr.ndim != 1:
        msg = f'{name} must be a 1-D array, got shape {arr.shape}; flatten it first'
        raise DataError(msg)
    return np.ascontiguousarray(arr)


@dataclass(frozen=True)
class JointStateMsg:
    """A decoded sensor_msgs/JointState."""

    stamp_ns: int
    """Header stamp (ns)."""
    names: tuple[str, ...]
    """Joint names, in the publisher's order."""
    positions: np.ndarray
    """Joint positions, shape (n,), rad."""
    velocities: np.ndarray
    """Joint velocities, shape (n,) rad/s, or (0,) when the publisher sends none."""
    frame_id: str = ''
    """Header frame id."""


def encode_joint_state(stamp_ns: int, names: Sequence[str], positions: Any,
                       velocities: Any | None = None, frame_id: str = '') -> bytes:
    """
    Serialize a sensor_msgs/JointState (no efforts).

    :param stamp_ns: header stamp (ns).
    :param names: joint names, length n.
    :param positions: shape (n,), rad.
    :param velocities: shape (n,), rad/s, or None to send none.
    """
    ts = typestore()
    pos = _vector(positions, 'positions')
    vel = np.zeros(0) if velocities is None else _vector(velocities, 'velocities')
    if len(pos) != len(names) or len(vel) not in (0, len(names)):
        msg = (f'JointState with {len(names)} names needs {len(names)} positions (got '
               f'{len(pos)}) and 0 or {len(names)} velocities (got {len(vel)})')
        raise DataError(msg)
    cls = ts.types[JOINT_STATE_TYPE]
    return _serialize(cls(header=_header(stamp_ns, frame_id), name=[str(n) for n in names],
                          position=pos, velocity=vel, effort=np.zeros(0)), JOINT_STATE_TYPE)


def decode_joint_state(raw: bytes | memoryview) -> JointStateMsg:
    """Deserialize a sensor_msgs/JointState; DataError when lengths disagree."""
    m = _deserialize(raw, JOINT_STATE_TYPE)
    names = tuple(m.name)
    pos = np.array(m.position, dtype=np.float64)
    vel = np.array(m.velocity, dtype=np.float64)
    if len(pos) != len(names) or len(vel) not in (0, len(names)):
        msg = (f'JointState has {len(names)} names but {len(pos)} positions and {len(vel)} '
               'velocities; the publisher must send one position (and velocity) per name')
        raise DataError(msg)
    return JointStateMsg(stamp_ns=stamp_to_ns(m.header.stamp.sec, m.header.stamp.nanosec),
                         names=names, positions=pos, velocities=vel,
                         frame_id=m.header.frame_id)


def encode_float64_array(values: Any) -> bytes:
    """Serialize a std_msgs/Float64MultiArray with an empty layout, as rclpy users send it."""
    ts = typestore()
    layout = ts.types['std_msgs/msg/MultiArrayLayout'](dim=[], data_offset=0)
    cls = ts.types[FLOAT64_ARRAY_TYPE]
    return _serialize(cls(layout=layout, data=_vector(values, 'values')), FLOAT64_ARRAY_TYPE)


def decode_float64_array(raw: bytes | memoryview) -> np.ndarray:
    """Deserialize a std_msgs/Float64MultiArray to its flat data, shape (k,)."""
    m = _deserialize(raw, FLOAT64_ARRAY_TYPE)
    data = np.array(m.data, dtype=np.float64)
    offset = int(m.layout.data_offset)
    # A non-zero offset means leading padding the publisher asks us to skip.
    return data[offset:] if offset else data


@dataclass(frozen=True)
class ImageMsg:
    """A decoded sensor_msgs/Image, converted to RGB."""

    stamp_ns: int
    """Header stamp (ns)."""
    frame_id: str
    """Header frame id (the camera's optical frame)."""
    image: np.ndarray
    """Pixels, shape (H, W, 3), uint8, RGB."""


def encode_image(stamp_ns: int, image: np.ndarray, frame_id: str = 'camera') -> bytes:
    """Serialize an (H, W, 3) uint8 RGB array as a sensor_msgs/Image with encoding rgb8."""
    img = np.asarray(image)
    if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
        msg = (f'image must be an (H, W, 3) uint8 RGB array, got shape {img.shape} dtype '
               f'{img.dtype}; convert with np.asarray(img, dtype=np.uint8)')
        raise DataError(msg)
    h, w = int(img.shape[0]), int(img.shape[1])
    cls = typestore().types[IMAGE_TYPE]
    data = np.ascontiguousarray(img).reshape(-1)
    return _serialize(cls(header=_header(stamp_ns, frame_id), height=h, width=w,
                          encoding='rgb8', is_bigendian=0, step=w * 3, data=data), IMAGE_TYPE)


def decode_image(raw: bytes | memoryview) -> ImageMsg:
    """
    Deserialize a sensor_msgs/Image (rgb8 or bgr8) to an (H, W, 3) RGB array.

    Row padding (``step > 3 * width``) is removed; other encodings are a DataError.
    """
    m = _deserialize(raw, IMAGE_TYPE)
    h, w, step = int(m.height), int(m.width), int(m.step)
    if m.encoding not in ('rgb8', 'bgr8'):
        msg = (f'image encoding {m.encoding!r} is not supported; publish rgb8 (or bgr8), '
               'e.g. set the camera driver\'s pixel format to RGB')
        raise DataError(msg)
    data = np.asarray(m.data, dtype=np.uint8)
    if step < 3 * w or data.size != step * h:
        msg = (f'image of {h}x{w} with step {step} has {data.size} bytes, expected '
               f'{step * h} and step >= {3 * w}; the camera driver sent a malformed image')
        raise DataError(msg)
    img = data.reshape(h, step)[:, :3 * w].reshape(h, w, 3)
    if m.encoding == 'bgr8':
        img = img[:, :, ::-1]
    return ImageMsg(stamp_ns=stamp_to_ns(m.header.stamp.sec, m.header.stamp.nanosec),
                    frame_id=m.header.frame_id, image=np.ascontiguousarray(img).copy())


def encode_string(text: str) -> bytes:
    """Serialize a std_msgs/String."""
    return _serialize(typestore().types[STRING_TYPE](data=str(text)), STRING_TYPE)


def decode_string(raw: bytes | memoryview) -> str:
    """Deserialize a std_msgs/String."""
    return str(_deserialize(raw, STRING_TYPE).data)


def encode_bool(value: bool) -> bytes:
    """Serialize a std_msgs/Bool."""
    return _serialize(typestore().types[BOOL_TYPE](data=bool(value)), BOOL_TYPE)


def decode_bool(raw: bytes | memoryview) -> bool:
    """Deserialize a std_msgs/Bool."""
    return bool(_deserialize(raw, BOOL_TYPE).data)


def encode_float64(value: float) -> bytes:
    """Serialize a std_msgs/Float64 (any float, NaN and Inf included)."""
    return _serialize(typestore().types[FLOAT64_TYPE](data=float(value)), FLOAT64_TYPE)


def decode_float64(raw: bytes | memoryview) -> float:
    """Deserialize a std_msgs/Float64."""
    return float(_deserialize(raw, FLOAT64_TYPE).data)


@dataclass(frozen=True)
class JoyMsg:
    """A decoded sensor_msgs/Joy."""

    stamp_ns: int
    """Header stamp (ns)."""
    axes: np.ndarray
    """Stick and trigger values, shape (k,), float32, each in [-1, 1]."""
    buttons: np.ndarray
    """Button states, shape (b,), int32, 1 = pressed."""
    frame_id: str = ''
    """Header frame id."""


def encode_joy(stamp_ns: int, axes: Any, buttons: Any, frame_id: str = 'joy') -> bytes:
    """Serialize a sensor_msgs/Joy as joy_node publishes it (float32 axes, int32 buttons)."""
    cls = typestore().types[JOY_TYPE]
    return _serialize(cls(header=_header(stamp_ns, frame_id),
                          axes=_vector(axes, 'axes', np.float32),
                          buttons=_vector(buttons, 'buttons', np.int32)), JOY_TYPE)


def decode_joy(raw: bytes | memoryview) -> JoyMsg:
    """Deserialize a sensor_msgs/Joy."""
    m = _deserialize(raw, JOY_TYPE)
    return JoyMsg(stamp_ns=stamp_to_ns(m.header.stamp.sec, m.header.stamp.nanosec),
                  axes=np.array(m.axes, dtype=np.float32),
                  buttons=np.array(m.buttons, dtype=np.int32), frame_id=m.header.frame_id)


def encode_episode_event(event: str, episode: int, *, success: bool | None = None,
                         reason: str | None = None,
                         extra: Mapping[str, Any] | None = None) -> bytes:
    """
    Serialize an ``/imitation/episode`` event as a std_msgs/String holding JSON.

    :param event: 'start' or 'end'.
    :param episode: episode number.
    :param success: required for 'end'.
    :param reason: why the episode ended; required for 'end'.
    :param extra: more JSON fields (JSON-serializable values).
    """
    if event not in ('start', 'end'):
        raise DataError(f"episode event must be 'start' or 'end', got {event!r}")
    payload: dict[str, Any] = {'event': event, 'episode': int(episode)}
    if event == 'end':
        if success is None or reason is None:
            raise DataError("an 'end' episode event needs success and reason")
        payload['success'] = bool(success)
        payload['reason'] = str(reason)
    payload.update(extra or {})
    return encode_string(json.dumps(payload))


def decode_episode_event(raw: bytes | memoryview) -> dict[str, Any]:
    """Deserialize an ``/imitation/episode`` event; DataError if it breaks the contract."""
    text = decode_string(raw)
    try:
        payload = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:  # too deeply nested: not an event
        msg = (f'episode event is not JSON: {text[:200]!r}; publish e.g. '
               '{"event": "start", "episode": 0}')
        raise DataError(msg) from exc
    if (not isinstance(payload, dict) or payload.get('event') not in ('start', 'end')
            or not isinstance(payload.get('episode'), int)):
        msg = (f'episode event {text[:200]!r} lacks "event" ("start"|"end") or an integer '
               '"episode"; see docs/data.md')
        raise DataError(msg)
    return payload
