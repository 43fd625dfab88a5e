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

"""Message <-> numpy conversions: round trips and every rejection path."""

from __future__ import annotations

import math

from builtin_interfaces.msg import Time
from hypothesis import given, settings, strategies as st
from imitation_ros.errors import ImitationError
from imitation_ros.nodes.conversions import (array_from_msg, array_msg, DIAG_WARN,
                                             diagnostic_array, diagnostic_level,
                                             diagnostic_status, image_from_msg, image_msg,
                                             joint_positions, joint_state_arrays,
                                             joint_state_msg, MessageError, stamp_to_sec)
import numpy as np
import pytest
from sensor_msgs.msg import JointState
from std_msgs.msg import Float64MultiArray

NAMES = ('joint1', 'joint2', 'joint3')
#: Derandomized, so CI runs the same examples every time.
PROPERTIES = settings(max_examples=1000, deadline=None, derandomize=True, database=None)
ANY_FLOAT = st.floats(allow_nan=True, allow_infinity=True)
JOINT_NAMES = st.sampled_from(['joint1', 'joint2', 'joint3', 'gripper', ''])


def test_joint_state_round_trip_reorders_and_ignores_extra_joints() -> None:
    """A JointState in another order, with extra joints, reads back in joint_names order."""
    stamp = Time(sec=12, nanosec=500_000_000)
    msg = joint_state_msg(['gripper', 'joint3', 'joint1', 'joint2'], [9.0, 3.0, 1.0, 2.0],
                          [0.9, 0.3, 0.1, 0.2], stamp=stamp)
    assert stamp_to_sec(msg.header.stamp) == 12.5
    q, qd = joint_state_arrays(msg, NAMES)
    np.testing.assert_array_equal(q, [1.0, 2.0, 3.0])
    np.testing.assert_array_equal(qd, [0.1, 0.2, 0.3])
    bare = joint_state_msg(NAMES, [1.0, 2.0, 3.0])
    assert len(bare.velocity) == 0 and joint_state_arrays(bare, NAMES)[1] is None


def test_joint_state_rejections_say_what_to_fix() -> None:
    """Missing joints, inconsistent lengths and NaN raise MessageError."""
    msg = joint_state_msg(['joint1', 'joint2'], [1.0, 2.0])
    with pytest.raises(MessageError, match=r"lacks joints \['joint3'\].*joint_names"):
        joint_positions(msg, NAMES)
    msg.position = [1.0]
    with pytest.raises(MessageError, match='2 names but 1 positions'):
        joint_positions(msg, ('joint1',))
    with pytest.raises(MessageError, match='not finite'):
        joint_positions(joint_state_msg(NAMES, [1.0, float('nan'), 3.0]), NAMES)
    with pytest.raises(MessageError, match='not finite'):
        joint_state_arrays(joint_state_msg(NAMES, [1.0, 2.0, 3.0], [0.0, float('inf'), 0.0]),
                           NAMES)
    with pytest.raises(MessageError):
        joint_state_msg(NAMES, [1.0, 2.0])
    assert issubclass(MessageError, ImitationError)


def test_joint_positions_reads_only_the_positions() -> None:
    """A NaN velocity (no velocity sensor) keeps the positions; joint_state_arrays refuses it."""
    msg = joint_state_msg(NAMES, [1.0, 2.0, 3.0], [float('nan')] * 3)
    np.testing.assert_array_equal(joint_positions(msg, NAMES), [1.0, 2.0, 3.0])
    with pytest.raises(MessageError, match='velocities are not finite'):
        joint_state_arrays(msg, NAMES)


def test_a_joint_named_twice_is_refused() -> None:
    """Two positions for one of our joints: which one is meant is unknown, so MessageError."""
    msg = joint_state_msg(['joint1', 'joint2', 'joint3', 'joint2'], [1.0, 2.0, 3.0, 9.0])
    with pytest.raises(MessageError, match=r"\['joint2'\] more than once"):
        joint_positions(msg, NAMES)
    extra = joint_state_msg(['joint1', 'joint2', 'joint3', 'w', 'w'], [1.0, 2.0, 3.0, 0.0, 0.0])
    np.testing.assert_array_equal(joint_positions(extra, NAMES), [1.0, 2.0, 3.0])


@PROPERTIES
@given(names=st.lists(JOINT_NAMES, max_size=6), positions=st.lists(ANY_FLOAT, max_size=7),
       velocities=st.lists(ANY_FLOAT, max_size=7), wanted=st.lists(JOINT_NAMES, max_size=4))
def test_joint_positions_gives_the_positions_or_a_message_error(
        names: list[str], positions: list[float], velocities: list[float],
        wanted: list[str]) -> None:
    """Any JointState: the finite positions of the wanted joints, or MessageError with a reason."""
    msg = JointState(name=names, position=positions, velocity=velocities)
    readable = (len(positions) == len(names)
                and all(names.count(w) == 1 for w in wanted)
                and all(math.isfinite(positions[names.index(w)]) for w in wanted))
    if not readable:
        with pytest.raises(MessageError):
            joint_positions(msg, wanted)
        return
    q = joint_positions(msg, wanted)
    assert q.shape == (len(wanted),) and q.dtype == np.float64
    assert q.tolist() == [positions[names.index(w)] for w in wanted]


@PROPERTIES
@given(data=st.lists(ANY_FLOAT, max_size=10), offset=st.integers(0, 2 ** 32 - 1),
       size=st.one_of(st.none(), st.integers(0, 10)))
def test_array_from_msg_gives_the_data_or_a_message_error(data: list[float], offset: int,
                                                          size: int | None) -> None:
    """Any Float64MultiArray: its finite data past data_offset, or MessageError."""
    msg = Float64MultiArray()
    msg.data = data
    msg.layout.data_offset = offset
    tail = data[offset:]
    if (size is not None and len(tail) != size) or not all(math.isfinite(v) for v in tail):
        with pytest.raises(MessageError):
            array_from_msg(msg, size)
        return
    assert array_from_msg(msg, size).tolist() == tail


def test_float64_array_round_trip_and_checks() -> None:
    """array_msg labels the layout; array_from_msg checks length and finiteness."""
    msg = array_msg(np.array([1.0, 2.0, 3.0]), 'a,b,c')
    assert msg.layout.dim[0].label == 'a,b,c' and msg.layout.dim[0].size == 3
    np.testing.assert_array_equal(array_from_msg(msg, 3), [1.0, 2.0, 3.0])
    np.testing.assert_array_equal(array_from_msg(msg), [1.0, 2.0, 3.0])
    with pytest.raises(MessageError, match='command has 3 values, expected 2'):
        array_from_msg(msg, 2, what='command')
    for bad in (float('nan'), float('inf'), -float('inf')):
        raw = Float64MultiArray()
        raw.data = [0.0, bad, 0.0]
        with pytest.raises(MessageError, match='non-finite'):
            array_from_msg(raw, 3)
    with pytest.raises(MessageError):
        array_msg(np.zeros((2, 2)))


def test_image_round_trip_and_checks() -> None:
    """rgb8 round trips; bgr8 and padded rows are read; bad encodings and sizes are rejected."""
    rgb = np.random.default_rng(0).integers(0, 256, size=(6, 5, 3), dtype=np.uint8)
    msg = image_msg(rgb, Time(sec=1), 'camera')
    assert (msg.height, msg.width, msg.step, msg.encoding) == (6, 5, 15, 'rgb8')
    assert msg.header.frame_id == 'camera'
    np.testing.assert_array_equal(image_from_msg(msg, (6, 5)), rgb)
    padded = image_msg(rgb)
    padded.step = 16
    rows = np.zeros((6, 16), dtype=np.uint8)
    rows[:, :15] = rgb.reshape(6, 15)
    padded.data = rows.tobytes()
    np.testing.assert_array_equal(image_from_msg(padded), rgb)
    bgr = image_msg(np.ascontiguousarray(rgb[:, :, ::-1]))
    bgr.encoding = 'bgr8'
    np.testing.assert_array_equal(image_from_msg(bgr), rgb)
    mono = image_msg(rgb)
    mono.encoding = 'mono8'
    with pytest.raises(MessageError, match="'mono8' is not supported"):
        image_from_msg(mono)
    with pytest.raises(MessageError, match='expected 96x96'):
        image_from_msg(msg, 96)
    short = image_msg(rgb)
    short.data = short.data[:20]
    with pytest.raises(MessageError, match='does not hold'):
        image_from_msg(short)
    with pytest.raises(MessageError):
        image_msg(rgb.astype(np.float32))


def test_diagnostics_helpers() -> None:
    """diagnostic_status sets the byte level and string values; bad levels are refused."""
    status = diagnostic_status('sim_arm: simulation', DIAG_WARN, 'careful',
                               {'steps': 3, 'age_s': 0.123456, 'ok': True, 'q': [1, 2]},
                               hardware_id='sim')
    assert diagnostic_level(status) == DIAG_WARN and status.level == b'\x01'
    assert {kv.key: kv.value for kv in status.values} == {
        'steps': '3', 'age_s': '0.1235', 'ok': 'True', 'q': '[1, 2]'}
    array = diagnostic_array([status], Time(sec=5))
    assert array.header.stamp.sec == 5 and array.status[0].name == 'sim_arm: simulation'
    with pytest.raises(MessageError):
        diagnostic_status('x', 7, 'bad level')
