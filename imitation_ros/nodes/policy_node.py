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
``policy_node``: run the ONNX policy at a fixed rate, hot-reload new models, shadow a candidate.

It takes the robot from its URDF (``robot_description``, ``urdf_file`` or the
``robot_description`` topic; :mod:`.robot_source`), builds each observation from the
newest ``joint_states`` (the robot's joints), ``imitation/task`` and, for image
policies, ``camera/image_raw``, and publishes absolute joint targets on
``imitation/policy_action``, each naming the joint state it was computed at; a stale
input publishes nothing (the gate then holds). Models from ``imitation/model`` load
and are checked (trusted folders and manifest, joint names, limits, recent
observations) on a worker thread and swap in between two ticks; a bad one is refused
and the old one keeps running. A shadow candidate runs beside it without actuating,
and the model's doubt goes to ``imitation/uncertainty``. Every topic, parameter and
failure: docs/nodes.md.
"""

from __future__ import annotations

import array
from collections import deque
from dataclasses import dataclass
import json
import os
from pathlib import Path
import sys
import threading
import time
from typing import Any, Callable, Optional

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
import numpy as np
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from rclpy.time import Time
from sensor_msgs.msg import Image, JointState
from std_msgs.msg import Bool, Float64, Float64MultiArray, MultiArrayDimension, String

from .conversions import (array_from_msg, DIAG_ERROR, DIAG_OK, DIAG_WARN,
                          diagnostic_array, diagnostic_status, image_from_msg,
                          joint_state_arrays)
from .params import declare_and_read, param
from .qos import (COMMAND_QOS, DIAGNOSTICS_QOS, EPISODE_QOS, IMAGE_SUB_QOS, MODEL_QOS,
                  STATE_PUB_QOS, STATE_QOS)
from .robot_source import RobotParams, RobotSource
from ..errors import ConfigError, ImitationError, ModelError
from ..interface import topics
from ..interface.robot import RobotModel
from ..runtime.model_slot import (ActionBounds, load_candidate, ModelSlot, Observation,
                                  SwapResult)
from ..runtime.model_trust import MAX_PATH_CHARS, ModelTrust
from ..runtime.onnx_policy import OnnxPolicy
from .share import share_dir
from .spin import spin_node

NODE_NAME = 'policy'
#: Period of ``/diagnostics`` (s).
DIAGNOSTICS_PERIOD_S = 1.0
#: Seconds between two repeats of the same throttled warning or error.
WARN_THROTTLE_S = 2.0
#: Shortest interval between two extra /diagnostics reports on input status changes (s).
IMMEDIATE_DIAG_MIN_S = 0.5
#: Seconds between two shadow summary log lines.
SHADOW_LOG_PERIOD_S = 5.0
#: Shadow errors kept for the mean and p95 (the newest; 10 s at 20 Hz).
SHADOW_WINDOW = 200
#: ``imitation/policy_status``: reliable, transient_local, keep last 10, so a
#: monitor started late still sees the recent loads and rejections.
STATUS_QOS = QoSProfile(depth=10, history=HistoryPolicy.KEEP_LAST,
                        reliability=ReliabilityPolicy.RELIABLE,
                        durability=DurabilityPolicy.TRANSIENT_LOCAL)
#: Values of the ``trigger`` parameter: what starts a control step.
TRIGGERS: tuple[str, ...] = ('joint_states', 'timer')
#: Leading values of an action that hold its joint state's header stamp (sec, nanosec).
STAMP_PADDING = 2
#: Topics of the inputs, as named in diagnostics.
JOINT_STATES, TASK, IMAGE = topics.JOINT_STATES.name, topics.TASK.name, topics.CAMERA_IMAGE.name
#: Bound (rad) a new model's actions are checked against on a joint without limits
#: (continuous): no limit to respect, but an action this far off is still a broken model.
CONTINUOUS_BOUND_RAD = 100.0


@dataclass(frozen=True)
class PolicyParams(RobotParams):
    """Parameters of ``policy_node`` (see config/policy.yaml)."""

    model_path: str = param('', 'ONNX model loaded at start-up (off the control thread); '
                            'empty: wait for a path on imitation/model', unit='path')
    rate_hz: float = param(20.0, 'trigger timer: control rate, one observation, inference '
                           'and action per period. Both triggers: how often model swaps and '
                           'quiet inputs are checked', unit='Hz', minimum=1.0, maximum=1000.0)
    trigger: str = param('joint_states', 'When to act: joint_states (at once on each new joint '
                         'state, one action per state) or timer (every 1 / rate_hz)',
                         choices=TRIGGERS)
    obs_timeout_s: float = param(0.25, 'Largest age of joint_states, the task and (image '
                                 'policies) the camera image; older or missing: no action',
                                 unit='s', minimum=0.001, maximum=60.0)
    providers: tuple[str, ...] = param(('cpu',), 'ONNX Runtime providers in order of '
                                       'preference; unavailable ones fall back to the CPU',
                                       choices=('cpu', 'cuda', 'tensorrt'))
    threads: int = param(1, 'ONNX Runtime intra-op threads (0: ONNX Runtime chooses)',
                         unit='threads', minimum=0, maximum=256)
    mode: str = param('', "gmm override: 'argmax' or 'sample'; '' keeps the model's default",
                      choices=('', 'argmax', 'sample'))
    temperature: float = param(-1.0, 'ar override: sampling temperature, 0 = most probable '
                               'bin; negative keeps the model default', unit='1',
                               maximum=100.0)
    execute: int = param(0, 'diffusion override: actions executed per predicted chunk '
                         'before re-planning; 0 keeps the model default', unit='actions',
                         minimum=0, maximum=10000)
    seed: int = param(0, 'Seed of the sampling noise (gmm sample, ar, diffusion)',
                      minimum=0, maximum=2 ** 31 - 1)
    warmup_iterations: int = param(3, 'Warm-up inferences of each new model before it is '
                                   'swapped in (at least one runs)', unit='inferences',
                                   minimum=0, maximum=1000)
    shadow_model_path: str = param('', 'Candidate model run alongside every tick without '
                                   'actuating, compared with the executed command; empty: '
                                   'none (or send a path on imitation/shadow_model)',
                                   unit='path')
    publish_uncertainty: bool = param(True, "Publish the model's doubt with every action on "
                                      'imitation/uncertainty (models with a doubt output)')
    publish_risk: bool = param(True, "Publish the model's risk with every action on "
                               'imitation/risk (models with a risk output)')
    model_dirs: str = param('models', "Folders models may be loaded from, separated by ':' "
                            '(relative ones from the working directory); a model must also be '
                            "listed in its folder's manifest.json. Include the trainer's "
                            'models_dir', unit='paths')
    trust_package_models: bool = param(True, "Also load models from this package's own models "
                                       'folder (the shipped model, listed in its manifest.json)')
    candidate_limit_margin: float = param(0.1, "How far a new model's actions may pass a joint "
                                          'limit on the checked observations; farther: the '
                                          'model is refused', unit='rad', minimum=0.0,
                                          maximum=10.0)
    candidate_observations: int = param(100, 'Recent observations (one per joint state) kept '
                                        'to check each new model on before it is swapped in',
                                        unit='observations', minimum=0, maximum=1000)

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.model_directories() and not self.trust_package_models:
            raise ConfigError("parameter model_dirs names no folder and trust_package_models is "
                              "false: no model could ever load; set model_dirs to e.g. 'models'")

    def model_directories(self) -> tuple[str, ...]:
        """Return the folders of ``model_dirs``, in order."""
        return tuple(d for d in self.model_dirs.split(os.pathsep) if d.strip())

    def overrides(self) -> dict[str, Any]:
        """Return the sampler overrides for the runtime (None where the model decides)."""
        return {'mode': self.mode or None,
                'temperature': None if self.temperature < 0 else self.temperature,
                'execute': self.execute or None}


def action_msg(action: np.ndarray, label: str, stamp: tuple[int, int]) -> Float64MultiArray:
    """
    Build an action message: the targets after the observed joint state's stamp as padding.

    :param action: absolute joint targets, shape (n,), rad.
    :param label: the joint names, comma-separated (``layout.dim[0].label``).
    :param stamp: header stamp (sec, nanosec) of the joint state the action was computed
        at; (0, 0): none, and the message has no padding.
    """
    values = np.asarray(action, dtype=np.float64).tolist()
    n = len(values)
    msg = Float64MultiArray()
    msg.layout.dim = [MultiArrayDimension(label=label, size=n, stride=n)]
    if stamp != (0, 0):
        msg.layout.data_offset = STAMP_PADDING
        values = [float(stamp[0]), float(stamp[1]), *values]
    msg.data = array.array('d', values)
    return msg


def package_models_dir() -> Path:
    """Return the package's models folder: the source tree's when run from it, else the share's."""
    return share_dir() / 'models'


class _Latest:
    """The newest value of one input and the node-clock time it arrived."""

    def __init__(self) -> None:
        self.value: Any = None
        self.at: Optional[Time] = None

    def set(self, value: Any, at: Time) -> None:
        """Store ``value``, received at ``at``."""
        self.value, self.at = value, at

    def age(self, now: Time) -> Optional[float]:
        """Return seconds since it arrived, or None when nothing came yet."""
        return None if self.at is None else (now - self.at).nanoseconds * 1e-9


def _fmt_age(age: Optional[float]) -> Any:
    return 'never' if age is None else round(age, 3)


class PolicyNode(Node):
    """
    The policy runtime as a ROS 2 node (node name ``policy``).

    :param kwargs: passed to ``rclpy.node.Node`` (``parameter_overrides``,
        ``context``, ``namespace``...).
    :raises ConfigError: a parameter is invalid, or the robot description given by
        parameter is unusable (the node is destroyed first). One from the topic
        raises from the callback that finds out (``main`` then exits 1).
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(NODE_NAME, **kwargs)
        self.robot: Optional[RobotModel] = None
        try:
            self.params = declare_and_read(self, PolicyParams)
            robot = self.params.robot_from_parameters()
        except ConfigError:
            self.destroy_node()
            raise
        p = self.params
        directories = list(p.model_directories())
        if p.trust_package_models:
            directories.append(str(package_models_dir()))
        self.trust = ModelTrust(directories)
        self._observations: deque[Observation] = deque(maxlen=p.candidate_observations)
        self._observations_lock = threading.Lock()
        self._observed_at: Optional[Time] = None
        self._bounds: Optional[ActionBounds] = None
        # Paths asked for before the robot is known (role -> path, '' stops the shadow):
        # a model is checked against the robot's joints, so it loads once they are known.
        self._waiting_models: dict[str, str] = {}
        self.slot = ModelSlot(name='policy-model-loader', loader=self._loader(checked=True))
        # The shadow never actuates: where its actions go is what shadowing measures.
        self.shadow_slot = ModelSlot(name='policy-shadow-loader',
                                     loader=self._loader(checked=False))
        self._label = ''
        self._on_states = p.trigger == 'joint_states'
        # Header stamp (sec, nanosec) of the newest joint state: the action names it.
        self._joint_stamp = (0, 0)
        self._acted_on: Any = None
        self._last_msg: Optional[Float64MultiArray] = None
        self._joints, self._task, self._image, self._command = (_Latest(), _Latest(),
                                                                _Latest(), _Latest())
        self._intervention = False
        self._episode: Optional[int] = None
        self._stale_key: tuple[str, ...] = ()
        self._stale_text = ''
        self._immediate_diag_at: Optional[Time] = None
        self._ticks = self._steps = self._actions = self._skipped = self._errors = 0
        self._errors_reported = 0
        self._last_error = ''
        self._queue_resets = 0
        self._latency_ms: list[float] = []
        self._loads = self._rejections = 0
        self._rejections_reported = 0
        self._last_rejection = ''
        self._shadow_requested = bool(p.shadow_model_path)
        self._shadow_errors: deque[float] = deque(maxlen=SHADOW_WINDOW)
        self._shadow_samples = 0
        self._shadow_failures = 0
        self._shadow_last_failure = ''
        self._image_sub = None

        self._action_pub = self.create_publisher(Float64MultiArray, topics.POLICY_ACTION.name,
                                                 STATE_PUB_QOS)
        self._version_pub = self.create_publisher(String, topics.MODEL_VERSION.name, MODEL_QOS)
        self._status_pub = self.create_publisher(String, topics.POLICY_STATUS.name, STATUS_QOS)
        self._shadow_pub = self.create_publisher(Float64, topics.SHADOW_ERROR.name, STATE_PUB_QOS)
        self._uncertainty_pub = self.create_publisher(Float64, topics.UNCERTAINTY.name,
                                                      STATE_PUB_QOS)
        self._last_doubt: Optional[float] = None
        self._doubt_msg: Optional[Float64] = None
        self._doubts_published = 0
        self._risk_pub = self.create_publisher(Float64, topics.RISK.name, STATE_PUB_QOS)
        self._risk_msg: Optional[Float64] = None
        self._last_risk: Optional[float] = None
        self._risks_published = 0
        self._risk_noted: Optional[int] = None
        self._diag_pub = self.create_publisher(DiagnosticArray, topics.DIAGNOSTICS.name,
                                               DIAGNOSTICS_QOS)
        self.create_subscription(JointState, topics.JOINT_STATES.name, self._on_joint_state,
                                 STATE_QOS)
        self.create_subscription(Float64MultiArray, topics.TASK.name, self._on_task, STATE_QOS)
        self.create_subscription(String, topics.MODEL.name, self._on_model, MODEL_QOS)
        self.create_subscription(String, topics.SHADOW_MODEL.name, self._on_shadow_model,
                                 MODEL_QOS)
        self.create_subscription(Bool, topics.INTERVENTION.name, self._on_intervention,
                                 STATE_QOS)
        self.create_subscription(String, topics.EPISODE.name, self._on_episode, EPISODE_QOS)
        self.create_subscription(Float64MultiArray, topics.COMMANDS.name,
                                 self._on_command, COMMAND_QOS)

        self.create_timer(1.0 / p.rate_hz, self._on_tick)
        self.create_timer(DIAGNOSTICS_PERIOD_S, self._on_diagnostics)

        if p.model_path:
            self._waiting_models['active'] = p.model_path
        if p.shadow_model_path:
            self._waiting_models['shadow'] = p.shadow_model_path
        pace = (f'acting on each joint state (inputs checked at {p.rate_hz:g} Hz)'
                if self._on_states else f'acting at {p.rate_hz:g} Hz')
        self.get_logger().info(
            f'policy {pace}, providers {list(p.providers)}; models only from {directories}; '
            + (f'loading {p.model_path}' if p.model_path else 'waiting for imitation/model')
            + (f'; shadowing {p.shadow_model_path}' if p.shadow_model_path else ''))
        self._robot_source: Optional[RobotSource] = None
        if robot is None:
            self._robot_source = RobotSource(self, p, self._set_robot)
        else:
            try:
                self._set_robot(robot)
            except ConfigError:
                self.destroy_node()
                raise

    # --- the robot ----------------------------------------------------------------------

    def _set_robot(self, robot: RobotModel) -> None:
        """Take the robot's joints and limits, then load the models asked for so far."""
        bound = CONTINUOUS_BOUND_RAD
        self._bounds = ActionBounds(tuple(np.maximum(robot.lower, -bound)),
                                    tuple(np.minimum(robot.upper, bound)),
                                    self.params.candidate_limit_margin)
        self._label = ','.join(robot.joint_names)
        self.robot = robot
        self.get_logger().info(
            f'robot {robot.name or "(unnamed)"}: joints {list(robot.joint_names)} (chain '
            f'{robot.base_link} -> {robot.tip_link}); a model for other joints is refused')
        waiting, self._waiting_models = self._waiting_models, {}
        for role, path in waiting.items():
            self._request(role, path)

    def _loader(self, checked: bool) -> Callable[[str], OnnxPolicy]:
        """Return a slot's loader: a model for the robot's joints (and limits, if checked)."""
        p = self.params

        def load(path: str) -> OnnxPolicy:
            robot = self.robot  # known: nothing is requested before it
            return load_candidate(
                path, joint_names=robot.joint_names, providers=p.providers, threads=p.threads,
                warmup_iterations=p.warmup_iterations, seed=p.seed, trust=self.trust,
                bounds=self._bounds if checked else None,
                observations=self.recorded_observations if checked else None, **p.overrides())
        return load

    def _request(self, role: str, path: str) -> None:
        """Ask a slot to load ``path`` ('' stops the shadow); held until the robot is known."""
        if self.robot is None:
            self._waiting_models[role] = path
            self.get_logger().info(f'{path or "no shadow"}: waits for the robot description')
            return
        slot = self.slot if role == 'active' else self.shadow_slot
        if role == 'shadow' and not path:
            slot.clear()
            return
        slot.request(path)

    def destroy_node(self) -> None:
        """Stop the model loader threads, then destroy the node."""
        for slot in (getattr(self, 'slot', None), getattr(self, 'shadow_slot', None)):
            if slot is not None:
                slot.close(timeout=2.0)
        super().destroy_node()

    def recorded_observations(self) -> list[Observation]:
        """Return the recent observations new models are checked on, oldest first."""
        with self._observations_lock:
            return list(self._observations)

    # --- inputs -----------------------------------------------------------------------

    def _on_joint_state(self, msg: JointState) -> None:
        if self.robot is None:
            return  # no robot yet: its joints are unknown
        try:
            q, _ = joint_state_arrays(msg, self.robot.joint_names)
        except ImitationError as exc:
            self.get_logger().warning(f'ignoring joint_states: {exc}',
                                      throttle_duration_sec=WARN_THROTTLE_S)
            return
        now = self.get_clock().now()
        self._joints.set(q, now)
        stamp = msg.header.stamp
        self._joint_stamp = (int(stamp.sec), int(stamp.nanosec))
        if self._on_states:
            self._step(now)

    def _on_task(self, msg: Float64MultiArray) -> None:
        try:
            task = array_from_msg(msg, None, what='task')
        except ImitationError as exc:
            self.get_logger().warning(f'ignoring imitation/task: {exc}',
                                      throttle_duration_sec=WARN_THROTTLE_S)
            return
        self._task.set(task, self.get_clock().now())

    def _on_image(self, msg: Image) -> None:
        try:
            rgb = image_from_msg(msg)
        except ImitationError as exc:
            self.get_logger().warning(f'ignoring camera/image_raw: {exc}',
                                      throttle_duration_sec=WARN_THROTTLE_S)
            return
        self._image.set(rgb, self.get_clock().now())

    def _on_command(self, msg: Float64MultiArray) -> None:
        if self.robot is None:
            return
        try:
            command = array_from_msg(msg, self.robot.n_joints, what='command')
        except ImitationError as exc:
            self.get_logger().warning(
                f'ignoring forward_position_controller/commands for the shadow comparison: '
                f'{exc}', throttle_duration_sec=WARN_THROTTLE_S)
            return
        self._command.set(command, self.get_clock().now())

    def _on_intervention(self, msg: Bool) -> None:
        human = bool(msg.data)
        if self._intervention and not human:
            # Control comes back to the policy: what it planned before the takeover is stale.
            self._reset_queues('control back from the operator')
        self._intervention = human

    def _on_episode(self, msg: String) -> None:
        try:
            event = json.loads(msg.data)
            kind, episode = event['event'], int(event['episode'])
        except (ValueError, TypeError, KeyError) as exc:
            self.get_logger().warning(f'ignoring imitation/episode event {msg.data[:200]!r}: '
                                      f'{type(exc).__name__}: {exc}',
                                      throttle_duration_sec=WARN_THROTTLE_S)
            return
        # Transient local: a late joiner gets older events too; key on the episode number.
        if kind == 'start' and episode != self._episode:
            self._episode = episode
            self._reset_queues(f'episode {episode} started')

    def _usable_path(self, text: str, topic: str) -> bool:
        """Say whether a requested path is short enough to request, report and log at all."""
        if len(text) <= MAX_PATH_CHARS:
            return True
        self.get_logger().error(f'ignoring a path of {len(text)} characters on {topic} '
                                f'(at most {MAX_PATH_CHARS}): {text[:100]!r}...',
                                throttle_duration_sec=WARN_THROTTLE_S)
        return False

    def _on_model(self, msg: String) -> None:
        path = msg.data.strip()
        if not path:
            self.get_logger().warning('ignoring an empty path on imitation/model')
            return
        if not self._usable_path(path, topics.MODEL.name):
            return
        try:
            self._request('active', path)
        except ImitationError as exc:
            self.get_logger().error(f'cannot load {path}: {exc}')
            return
        current = self.slot.version
        self.get_logger().info(f'loading {path}' + (f' ({current} keeps running meanwhile)'
                                                    if current else ''))

    def _on_shadow_model(self, msg: String) -> None:
        path = msg.data.strip()
        if not self._usable_path(path, topics.SHADOW_MODEL.name):
            return
        self._shadow_errors.clear()
        if not path:
            self._request('shadow', '')
            self._shadow_requested = False
            self.get_logger().info('shadow mode off')
            return
        try:
            self._request('shadow', path)
        except ImitationError as exc:
            self.get_logger().error(f'cannot load shadow model {path}: {exc}')
            return
        self._shadow_requested = True
        self.get_logger().info(f'loading shadow candidate {path}')

    # --- control ----------------------------------------------------------------------

    def _on_tick(self) -> None:
        """Act (trigger timer), or swap in a new model and notice quiet inputs (joint_states)."""
        now = self.get_clock().now()
        self._ticks += 1
        if not self._on_states:
            self._step(now)
            return
        self._swap(now)
        policy = self.slot.active
        self._note_stale(self._stale_inputs(now, policy is not None and policy.needs_image), now)

    def _swap(self, now: Time) -> None:
        try:
            self._apply_swaps(now)
        except Exception as exc:  # never let a status report kill the control loop
            self.get_logger().error(f'model swap bookkeeping failed: {exc}',
                                    throttle_duration_sec=WARN_THROTTLE_S)

    def _step(self, now: Time) -> None:
        """One control step: swap in a new model, check inputs, act, shadow."""
        self._steps += 1
        self._swap(now)
        policy = self.slot.active
        shadow = self.shadow_slot.active
        stale = self._stale_inputs(now, policy is not None and policy.needs_image)
        self._note_stale(stale, now)
        if policy is None or stale:
            self._skipped += 1
        else:
            self._act(policy)
        # After the action: keeping the observation for model checks need not delay it.
        self._record_observation(now, stale)
        if shadow is not None and not self._stale_inputs(now, shadow.needs_image):
            self._run_shadow(shadow, now)

    def _record_observation(self, now: Time, stale: list) -> None:
        """Keep each new fresh observation (one per joint state) for checking new models."""
        if stale or self._joints.at is None or self._joints.at == self._observed_at:
            return
        if self._observations.maxlen == 0:
            return
        self._observed_at = self._joints.at
        age = self._image.age(now)
        image = (self._image.value if age is not None and age <= self.params.obs_timeout_s
                 else None)
        with self._observations_lock:
            self._observations.append((self._joints.value, self._task.value, image))

    def _stale_inputs(self, now: Time, needs_image: bool) -> list[tuple[str, Optional[float]]]:
        """Return (input, age or None) for every needed input missing or too old."""
        inputs = [(JOINT_STATES, self._joints), (TASK, self._task)]
        if needs_image:
            inputs.append((IMAGE, self._image))
        limit = self.params.obs_timeout_s
        out = []
        for name, latest in inputs:
            age = latest.age(now)
            if age is None or age > limit:
                out.append((name, age))
        return out

    def _note_stale(self, stale: list[tuple[str, Optional[float]]], now: Time) -> None:
        limit = self.params.obs_timeout_s
        self._stale_text = '; '.join(
            f'{name} never received' if age is None
            else f'{name} {age:.3f} s old (> {limit:g} s)' for name, age in stale)
        if stale and self.slot.active is not None:
            self.get_logger().warning(f'not publishing actions: {self._stale_text}',
                                      throttle_duration_sec=WARN_THROTTLE_S)
        key = tuple(name for name, _ in stale)
        if key != self._stale_key:
            self._stale_key = key
            # Say so at once, not only at the next 1 Hz report; but an input hovering
            # at the timeout must not turn /diagnostics into a 20 Hz topic.
            last = self._immediate_diag_at
            if last is None or (now - last).nanoseconds * 1e-9 >= IMMEDIATE_DIAG_MIN_S:
                self._immediate_diag_at = now
                self._publish_diagnostics(now, periodic=False)

    def _observation(self, policy: OnnxPolicy,
                     ) -> tuple[np.ndarray, np.ndarray, Optional[np.ndarray]]:
        task = self._task.value
        if len(task) != len(policy.task_layout):
            raise ConfigError(f'imitation/task has {len(task)} values but model '
                              f'{policy.version} expects {len(policy.task_layout)} '
                              f'({", ".join(policy.task_layout)})')
        image = self._image.value if policy.needs_image else None
        return self._joints.value, task, image

    def _act(self, policy: OnnxPolicy) -> None:
        # One action per new joint state: when this node ticks faster than the robot
        # reports (to keep latency below one control period), a tick without a new
        # state repeats the last absolute target instead of stepping the policy (and
        # its action chunk) again on the same observation.
        key = (self._joints.at, policy.version, id(policy))
        if key == self._acted_on and self._last_msg is not None:
            # The doubt goes out before its action, so a gate that holds on doubt
            # knows it before the action arrives.
            if self._doubt_msg is not None:
                self._uncertainty_pub.publish(self._doubt_msg)
            if self._risk_msg is not None:
                self._risk_pub.publish(self._risk_msg)
            self._action_pub.publish(self._last_msg)
            return
        start = time.perf_counter()  # wall time: the node clock may be simulated
        want_doubt = self.params.publish_uncertainty and policy.has_doubt
        doubt = risk = None
        try:
            q, task, image = self._observation(policy)
            if self.params.publish_risk and policy.has_risk:
                risk = float(policy.risk_batch(q[None], task[None], None if image is None
                                               else np.asarray(image)[None])[0])
            elif self.params.publish_risk and self._risk_noted != id(policy):
                self._risk_noted = id(policy)
                self.get_logger().info(f'model {policy.version} has no risk output: nothing '
                                       f'is published on {topics.RISK.name}')
            if want_doubt:
                action, doubt = policy.act_with_doubt(q, task, image)
                action = np.asarray(action, dtype=np.float64)
            else:
                action = np.asarray(policy.act(q, task, image), dtype=np.float64)
            if action.shape != q.shape or not np.all(np.isfinite(action)):
                raise ModelError(f'model {policy.version} returned {action.tolist()}; '
                                 f'expected {len(q)} finite joint targets')
            msg = action_msg(action, self._label, self._joint_stamp)
        except Exception as exc:  # a callback never raises: skip the tick, fail safe
            self._errors += 1
            self._last_error = f'{type(exc).__name__}: {exc}'
            self.get_logger().error(f'no action this tick: {self._last_error}',
                                    throttle_duration_sec=WARN_THROTTLE_S)
            return
        self._doubt_msg = None
        if doubt is not None:
            self._doubt_msg = Float64(data=float(doubt))
            self._uncertainty_pub.publish(self._doubt_msg)
            self._last_doubt = float(doubt)
            self._doubts_published += 1
        self._risk_msg = None
        if risk is not None:
            self._risk_msg = Float64(data=risk)
            self._risk_pub.publish(self._risk_msg)
            self._last_risk = risk
            self._risks_published += 1
        self._action_pub.publish(msg)
        self._acted_on, self._last_msg = key, msg
        self._actions += 1
        self._latency_ms.append((time.perf_counter() - start) * 1e3)

    def _run_shadow(self, shadow: OnnxPolicy, now: Time) -> None:
        try:
            q, task, image = self._observation(shadow)
            action = np.asarray(shadow.act(q, task, image), dtype=np.float64)
        except Exception as exc:  # the shadow must never disturb the control loop
            self._shadow_failures += 1
            self._shadow_last_failure = f'{type(exc).__name__}: {exc}'
            self.get_logger().warning(f'shadow model failed this tick: '
                                      f'{self._shadow_last_failure}',
                                      throttle_duration_sec=WARN_THROTTLE_S)
            return
        age = self._command.age(now)
        if age is None or age > self.params.obs_timeout_s:
            return  # nothing executed lately to compare with (gate silent or not running)
        command = self._command.value
        if command.shape != action.shape or not np.all(np.isfinite(action)):
            self._shadow_failures += 1
            self._shadow_last_failure = f'shadow action {action.tolist()} is unusable'
            return
        error = float(np.max(np.abs(action - command)))
        self._shadow_pub.publish(Float64(data=error))
        self._shadow_errors.append(error)
        self._shadow_samples += 1
        mean, p95 = self._shadow_summary()
        self.get_logger().info(
            f'shadow {shadow.version} vs executed commands: mean {mean:.4f} rad, p95 '
            f'{p95:.4f} rad over the last {len(self._shadow_errors)} ticks',
            throttle_duration_sec=SHADOW_LOG_PERIOD_S)

    def _shadow_summary(self) -> tuple[float, float]:
        if not self._shadow_errors:
            return float('nan'), float('nan')
        errors = np.asarray(self._shadow_errors)
        return float(errors.mean()), float(np.percentile(errors, 95))

    def _reset_queues(self, why: str) -> None:
        """Drop queued chunk actions of the active and shadow policies."""
        self._queue_resets += 1
        for slot in (self.slot, self.shadow_slot):
            policy = slot.active
            if policy is not None:
                pending = policy.pending
                policy.reset()
                if pending:
                    self.get_logger().info(f'{why}: dropped {pending} queued actions of '
                                           f'{policy.version}')

    # --- hot reload -------------------------------------------------------------------

    def _apply_swaps(self, now: Time) -> None:
        """Between two ticks: install finished loads, report rejections."""
        for role, slot in (('active', self.slot), ('shadow', self.shadow_slot)):
            result = slot.swap_if_ready()
            if result is not None:
                self._report_swap(role, result, now)

    def _report_swap(self, role: str, result: SwapResult, now: Time) -> None:
        status = dict(result.as_dict(), role=role, active_version=self.slot.version)
        self._status_pub.publish(String(data=json.dumps(status)))
        what = 'model' if role == 'active' else 'shadow candidate'
        if result.loaded:
            policy = result.policy
            if policy is not None and policy.needs_image:
                self._ensure_image_subscription()
            if role == 'active':
                self._loads += 1
                self._version_pub.publish(String(data=result.version))
            else:
                self._shadow_errors.clear()
            kind = '' if policy is None else f'{policy.kind} '
            self.get_logger().info(
                f'{what} {result.version} ({kind}{result.path}) active after '
                f'{result.load_s:.2f} s of loading and warm-up'
                + (f', replacing {result.previous_version}' if result.previous_version
                   else ''))
            return
        self._rejections += 1
        self._last_rejection = f'{role} {result.path}: {result.reason}'
        if role == 'active':
            keeps = (f'{result.previous_version} keeps running' if result.previous_version
                     else 'no model is running')
        else:
            keeps = (f'shadow {result.previous_version} keeps running'
                     if result.previous_version else 'no shadow candidate is running')
        self.get_logger().error(f'rejected {what} {result.path} ({keeps}): {result.reason}')
        self._publish_diagnostics(now, periodic=False)

    def _ensure_image_subscription(self) -> None:
        if self._image_sub is None:
            self._image_sub = self.create_subscription(Image, topics.CAMERA_IMAGE.name,
                                                       self._on_image, IMAGE_SUB_QOS)
            self.get_logger().info('the model needs camera images: subscribed to '
                                   'camera/image_raw')

    # --- diagnostics ------------------------------------------------------------------

    def _on_diagnostics(self) -> None:
        self._publish_diagnostics(self.get_clock().now(), periodic=True)

    def _publish_diagnostics(self, now: Time, periodic: bool) -> None:
        try:
            statuses = [self._control_status(now), self._model_status()]
            if self._shadow_requested or self.shadow_slot.active is not None:
                statuses.append(self._shadow_status())
            self._diag_pub.publish(diagnostic_array(statuses, now.to_msg()))
        except Exception as exc:  # diagnostics must not take the node down
            self.get_logger().error(f'diagnostics failed: {exc}',
                                    throttle_duration_sec=WARN_THROTTLE_S)
        if periodic:
            self._errors_reported = self._errors
            self._rejections_reported = self._rejections
            self._latency_ms.clear()

    def _control_status(self, now: Time) -> DiagnosticStatus:
        policy = self.slot.active
        new_errors = self._errors - self._errors_reported
        if self._robot_source is not None and self.robot is None:
            level, message = DIAG_ERROR, f'{self._robot_source.waiting()}: no actions'
        elif new_errors:
            level, message = DIAG_ERROR, (f'{new_errors} ticks failed, no action published: '
                                          f'{self._last_error}')
        elif policy is None:
            level, message = DIAG_WARN, 'no model loaded: waiting for imitation/model'
        elif self._stale_key:
            level, message = DIAG_WARN, f'inputs stale, not publishing: {self._stale_text}'
        else:
            level, message = DIAG_OK, f'publishing actions of {policy.version}'
        latency = self._latency_ms
        values: dict[str, Any] = {
            'trigger': self.params.trigger, 'rate_hz': self.params.rate_hz,
            'ticks': self._ticks, 'steps': self._steps,
            'actions_published': self._actions, 'ticks_skipped': self._skipped,
            'tick_errors': self._errors, 'last_error': self._last_error,
            'stale_inputs': self._stale_text,
            'joint_states_age_s': _fmt_age(self._joints.age(now)),
            'task_age_s': _fmt_age(self._task.age(now)),
            'intervention': self._intervention, 'episode': self._episode,
            'queue_resets': self._queue_resets,
            'joints': self._label,
            'inference_ms_mean': float(np.mean(latency)) if latency else 'n/a',
            'inference_ms_max': float(np.max(latency)) if latency else 'n/a'}
        if self._image_sub is not None:
            values['image_age_s'] = _fmt_age(self._image.age(now))
        return diagnostic_status(f'{self.get_name()}: control', level, message, values,
                                 hardware_id=NODE_NAME)

    def _model_status(self) -> DiagnosticStatus:
        policy = self.slot.active
        new_rejections = self._rejections - self._rejections_reported
        if new_rejections:
            level = DIAG_ERROR
            keeps = f'{policy.version} keeps running' if policy else 'no model is running'
            message = f'rejected a model ({keeps}): {self._last_rejection}'
        elif policy is None:
            loading = self.slot.loading_path
            level, message = DIAG_WARN, (f'loading {loading}' if loading
                                         else 'no model loaded: waiting for imitation/model')
        else:
            level, message = DIAG_OK, f'model {policy.version} ({policy.kind})'
        values: dict[str, Any] = {'version': self.slot.version, 'path': self.slot.path,
                                  'loading': self.slot.loading_path, 'loads': self._loads,
                                  'rejections': self._rejections,
                                  'last_rejection': self._last_rejection}
        if policy is not None:
            values.update(kind=policy.kind, needs_image=policy.needs_image,
                          horizon=policy.horizon, execute=policy.execute,
                          providers=policy.providers)
            if not self.params.publish_uncertainty:
                values['uncertainty'] = 'off (publish_uncertainty false)'
            elif policy.has_doubt:
                values['uncertainty'] = 'published on imitation/uncertainty'
                values['last_uncertainty'] = ('n/a' if self._last_doubt is None
                                              else self._last_doubt)
                values['uncertainty_published'] = self._doubts_published
            else:
                values['uncertainty'] = ('unavailable: the model has no doubt output '
                                         '(retrain it to get one); nothing published')
            if not self.params.publish_risk:
                values['risk'] = 'off (publish_risk false)'
            elif policy.has_risk:
                values['risk'] = f'published on {topics.RISK.name}'
                values['last_risk'] = 'n/a' if self._last_risk is None else self._last_risk
                values['risk_published'] = self._risks_published
            else:
                values['risk'] = ('unavailable: the model has no risk output (train on '
                                  'hg_dagger episodes to get one); nothing published')
        return diagnostic_status(f'{self.get_name()}: model', level, message, values,
                                 hardware_id=NODE_NAME)

    def _shadow_status(self) -> DiagnosticStatus:
        shadow = self.shadow_slot.active
        mean, p95 = self._shadow_summary()
        if shadow is None:
            level, message = DIAG_WARN, ('loading the shadow candidate' if self.shadow_slot.busy
                                         else 'no shadow candidate loaded')
        elif not self._shadow_errors:
            level, message = DIAG_OK, (f'shadow {shadow.version}: no executed commands to '
                                       'compare with yet')
        else:
            level, message = DIAG_OK, (f'shadow {shadow.version}: mean {mean:.4f} rad, p95 '
                                       f'{p95:.4f} rad from the executed commands')
        values = {'version': self.shadow_slot.version, 'path': self.shadow_slot.path,
                  'window': len(self._shadow_errors), 'samples': self._shadow_samples,
                  'mean_rad': mean, 'p95_rad': p95,
                  'max_rad': max(self._shadow_errors) if self._shadow_errors else float('nan'),
                  'failures': self._shadow_failures,
                  'last_failure': self._shadow_last_failure}
        return diagnostic_status(f'{self.get_name()}: shadow', level, message, values,
                                 hardware_id=NODE_NAME)


def main(args: list[str] | None = None) -> int:
    """Run ``policy_node`` until shut down; returns 1 (after logging why) on a bad parameter."""
    return spin_node(PolicyNode, NODE_NAME, args)


if __name__ == '__main__':
    sys.exit(main())
