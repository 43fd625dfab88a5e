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

"""CDR codecs of the contract's messages: round trips and byte compatibility."""

from __future__ import annotations

import numpy as np
import pytest

from imitation_ros.data import messages as m
from imitation_ros.errors import DataError

CDR_LE_HEADER = b'\x00\x01\x00\x00'


def test_topic_table_matches_contract() -> None:
    """TOPICS lists the twelve episode topics with their ROS 2 message types."""
    assert m.TOPICS == {
        '/joint_states': 'sensor_msgs/msg/JointState',
        '/camera/image_raw': 'sensor_msgs/msg/Image',
        '/imitation/task': 'std_msgs/msg/Float64MultiArray',
        '/joy': 'sensor_msgs/msg/Joy',
        '/imitation/policy_action': 'std_msgs/msg/Float64MultiArray',
        '/forward_position_controller/commands': 'std_msgs/msg/Float64MultiArray',
        '/imitation/intervention': 'std_msgs/msg/Bool',
        '/imitation/expert_action': 'std_msgs/msg/Float64MultiArray',
        '/imitation/episode': 'std_msgs/msg/String',
        '/imitation/uncertainty': 'std_msgs/msg/Float64',
        '/imitation/help_request': 'std_msgs/msg/Bool',
        '/imitation/gate_state': 'std_msgs/msg/String',
    }


def test_joint_state_round_trip() -> None:
    """A JointState keeps its stamp, names, positions and velocities."""
    raw = m.encode_joint_state(1_700_000_000_123_456_789, ['j1', 'j2', 'j3'],
                               [0.1, -0.2, 0.3], [1.0, 2.0, -3.0], frame_id='base')
    assert raw[:4] == CDR_LE_HEADER
    js = m.decode_joint_state(raw)
    assert js.stamp_ns == 1_700_000_000_123_456_789
    assert js.names == ('j1', 'j2', 'j3')
    assert js.frame_id == 'base'
    np.testing.assert_array_equal(js.positions, [0.1, -0.2, 0.3])
    np.testing.assert_array_equal(js.velocities, [1.0, 2.0, -3.0])
    no_vel = m.decode_joint_state(m.encode_joint_state(5, ['a'], [1.5]))
    assert no_vel.velocities.shape == (0,)
    with pytest.raises(DataError, match='positions'):
        m.encode_joint_state(0, ['a', 'b'], [1.0])


def test_float64_array_round_trip() -> None:
    """A Float64MultiArray round-trips a 1-D float array exactly."""
    values = np.array([0.0, -1.25, np.pi, 1e-300])
    out = m.decode_float64_array(m.encode_float64_array(values))
    assert out.dtype == np.float64
    np.testing.assert_array_equal(out, values)
    assert m.decode_float64_array(m.encode_float64_array([])).shape == (0,)
    with pytest.raises(DataError, match='1-D'):
        m.encode_float64_array(np.zeros((2, 2)))


def test_image_round_trip_and_checks() -> None:
    """An rgb8 Image decodes back to the same (H, W, 3) uint8 array; bad input is refused."""
    img = np.random.default_rng(0).integers(0, 256, size=(4, 5, 3), dtype=np.uint8)
    out = m.decode_image(m.encode_image(42, img, frame_id='cam'))
    assert out.image.shape == (4, 5, 3) and out.image.dtype == np.uint8
    np.testing.assert_array_equal(out.image, img)
    assert (out.stamp_ns, out.frame_id) == (42, 'cam')
    with pytest.raises(DataError, match='uint8'):
        m.encode_image(0, img.astype(np.float32))
    with pytest.raises(DataError, match='H, W, 3'):
        m.encode_image(0, img[:, :, 0])


def test_image_bgr8_and_row_padding() -> None:
    """A bgr8 image with padded rows (as some drivers send) decodes to RGB without padding."""
    ts = m.typestore()
    img = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
    padded = np.zeros((2, 12), dtype=np.uint8)
    padded[:, :9] = img[:, :, ::-1].reshape(2, 9)
    msg = ts.types['sensor_msgs/msg/Image'](
        header=ts.types['std_msgs/msg/Header'](
            stamp=ts.types['builtin_interfaces/msg/Time'](sec=1, nanosec=0), frame_id='c'),
        height=2, width=3, encoding='bgr8', is_bigendian=0, step=12, data=padded.reshape(-1))
    out = m.decode_image(bytes(ts.serialize_cdr(msg, 'sensor_msgs/msg/Image')))
    np.testing.assert_array_equal(out.image, img)
    mono = msg.__class__(header=msg.header, height=2, width=3, encoding='mono8',
                         is_bigendian=0, step=3, data=np.zeros(6, dtype=np.uint8))
    with pytest.raises(DataError, match='mono8'):
        m.decode_image(bytes(ts.serialize_cdr(mono, 'sensor_msgs/msg/Image')))


def test_string_and_bool_round_trip() -> None:
    """String (including non-ASCII) and Bool round-trip."""
    assert m.decode_string(m.encode_string('héllo')) == 'héllo'
    assert m.decode_bool(m.encode_bool(True)) is True
    assert m.decode_bool(m.encode_bool(False)) is False


def test_float64_round_trip() -> None:
    """A Float64 (the policy's doubt) round-trips exactly, Inf and NaN included."""
    for value in (0.0, 0.731, -2.5e-300, 1e300, float('inf')):
        raw = m.encode_float64(value)
        assert raw[:4] == CDR_LE_HEADER and len(raw) == 4 + 8
        assert m.decode_float64(raw) == value
    assert np.isnan(m.decode_float64(m.encode_float64(float('nan'))))
    with pytest.raises(DataError, match='Float64'):
        m.decode_float64(b'\x00\x01\x00\x00\x01')


def test_joy_round_trip() -> None:
    """A Joy keeps its stamp, float32 axes and int32 buttons."""
    joy = m.decode_joy(m.encode_joy(7_000_000_001, [0.5, -1.0, 0.25], [0, 1, 0, 0, 1]))
    assert joy.stamp_ns == 7_000_000_001
    assert joy.axes.dtype == np.float32 and joy.buttons.dtype == np.int32
    np.testing.assert_array_equal(joy.axes, [0.5, -1.0, 0.25])
    np.testing.assert_array_equal(joy.buttons, [0, 1, 0, 0, 1])


def test_episode_events() -> None:
    """Episode events carry the contract's JSON fields; malformed ones are a DataError."""
    start = m.decode_episode_event(m.encode_episode_event('start', 4))
    assert start == {'event': 'start', 'episode': 4}
    end = m.decode_episode_event(m.encode_episode_event('end', 4, success=False,
                                                        reason='collision'))
    assert end == {'event': 'end', 'episode': 4, 'success': False, 'reason': 'collision'}
    with pytest.raises(DataError):
        m.encode_episode_event('end', 4)
    with pytest.raises(DataError, match='JSON'):
        m.decode_episode_event(m.encode_string('not json'))
    with pytest.raises(DataError, match='episode'):
        m.decode_episode_event(m.encode_string('{"event": "start"}'))


def test_garbage_bytes_are_a_data_error() -> None:
    """Bytes that are not the expected message raise DataError, not a raw struct error."""
    with pytest.raises(DataError, match='JointState'):
        m.decode_joint_state(b'\x00\x01\x00\x00\xff')


def test_bytes_match_an_independent_cdr_encoder() -> None:
    """Our bytes equal mcap_ros2's own CDR encoder output (the rosbag2/rclpy wire format)."""
    dynamic = pytest.importorskip('mcap_ros2._dynamic')
    ts = m.typestore()
    cases = [
        (m.JOINT_STATE_TYPE,
         {'header': {'stamp': {'sec': 3, 'nanosec': 7}, 'frame_id': ''}, 'name': ['a', 'b'],
          'position': [1.0, 2.0], 'velocity': [0.5, 0.25], 'effort': []},
         m.encode_joint_state(3_000_000_007, ['a', 'b'], [1.0, 2.0], [0.5, 0.25])),
        (m.JOY_TYPE,
         {'header': {'stamp': {'sec': 1, 'nanosec': 2}, 'frame_id': 'joy'},
          'axes': [0.5, -1.0, 0.0], 'buttons': [0, 1, 0, 0, 1]},
         m.encode_joy(1_000_000_002, [0.5, -1.0, 0.0], [0, 1, 0, 0, 1])),
        (m.FLOAT64_ARRAY_TYPE, {'layout': {'dim': [], 'data_offset': 0}, 'data': [1.0, 2.5]},
         m.encode_float64_array([1.0, 2.5])),
        (m.BOOL_TYPE, {'data': True}, m.encode_bool(True)),
        (m.FLOAT64_TYPE, {'data': 0.731}, m.encode_float64(0.731)),
        (m.STRING_TYPE, {'data': 'hi'}, m.encode_string('hi')),
    ]
    for msgtype, fields, ours in cases:
        encoder = dynamic.serialize_dynamic(msgtype, ts.generate_msgdef(msgtype,
                                                                        ros_version=2)[0])
        assert bytes(encoder[msgtype](fields)) == ours, msgtype
