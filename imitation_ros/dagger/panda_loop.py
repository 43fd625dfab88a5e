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
One episode of the Panda's closed loop without ROS: a policy, the operator and the gate.

The Panda counterpart of :func:`imitation_ros.dagger.loop.run_episode` for the
reach task: every control period the measured arm joints, the simulated
operator's gamepad (:class:`~imitation_ros.sim.panda.operator.PandaOperator`,
when one watches) and the policy's target go to the gate's state machine
(:class:`~imitation_ros.gate.arbiter.Arbiter`, configured from the Panda's URDF
as ``intervention_gate`` is with :func:`~imitation_ros.sim.panda.operator.gate_teleop`),
and the arm executes what the gate decides (its measured position when the gate
holds). The fingers stay open: the models drive the seven arm joints, as the
demo's recorder writes them. Reinforcement learning and the HG-DAgger study on
the Panda run their episodes through it.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Callable, Optional

import numpy as np

from ..errors import ConfigError
from ..gate.arbiter import Arbiter, GateConfig
from ..gate.joy import JoyConfig, parse_joy
from ..interface.robot import GripperModel, RobotModel
from ..sim.panda.model import ARM_JOINTS, GRIPPER_MAX_WIDTH
from ..sim.panda.operator import gate_teleop, PandaOperator
from ..sim.panda.sim import PandaSim
from ..sim.panda.tasks import PandaTask

#: A controller: measured arm joints (7,) rad and the task vector -> arm joint targets (7,).
Controller = Callable[[np.ndarray, np.ndarray], np.ndarray]


def panda_gate_config(urdf: str, *, rate_hz: float = 20.0, **overrides: Any) -> GateConfig:
    """
    Return the gate's configuration for the Panda, as ``intervention_gate`` builds it.

    :param urdf: the Panda's URDF text (``urdf/panda.urdf``, what ``sim_arm`` latches).
    :param rate_hz: the control rate (the sim's ``1 / dt``).
    :param overrides: further :class:`~imitation_ros.gate.arbiter.GateConfig` fields.
    """
    teleop = gate_teleop()
    names = {f.name for f in fields(JoyConfig)}
    joy = JoyConfig(**{k: tuple(v) if isinstance(v, list) else v
                       for k, v in teleop.items() if k in names})
    robot = RobotModel.from_urdf(urdf, base_link=teleop['base_link'],
                                 tip_link=teleop['tip_link'])
    gripper = GripperModel.from_urdf(urdf, teleop['gripper_joints'])
    return GateConfig(robot=robot, joy=joy, gripper=gripper, rate_hz=rate_hz, **overrides)


@dataclass(frozen=True)
class PandaEpisode:
    """One Panda reach episode through the gate, at the control rate."""

    task: PandaTask
    """The episode's task."""
    states: np.ndarray
    """Measured arm joints before each command, (T, 7), rad."""
    actions: np.ndarray
    """The gate's commands, executed, (T, 7), rad."""
    human: np.ndarray
    """True where the operator drove the command, (T,) bool."""
    held: np.ndarray
    """True where the gate held (no policy or human command), (T,) bool."""
    final_state: np.ndarray
    """Measured arm joints after the last command, (7,), rad."""
    tool: np.ndarray
    """Tool frame positions before each command and after the last, (T + 1, 3), m."""
    reason: str
    """How the episode ended (success, collision, joint_limit, timeout)."""
    success: bool
    """True when the goal was reached (with or without the operator's help)."""
    takeovers: int
    """Times the operator took control."""

    @property
    def steps(self) -> int:
        """Return the number of control periods T."""
        return int(self.actions.shape[0])


def run_panda_episode(sim: PandaSim, policy: Controller, gate: GateConfig, *,
                      seed: int, operator: Optional[PandaOperator] = None) -> PandaEpisode:
    """
    Run one reach episode (task from ``seed``) of ``policy`` through the gate.

    :param policy: the controller; a non-finite target is the gate's to refuse (it holds).
    :param gate: :func:`panda_gate_config`'s configuration (its joints must be the arm's).
    :param operator: the simulated person watching; None: nobody takes over.
    """
    if tuple(gate.robot.joint_names) != tuple(ARM_JOINTS):
        raise ConfigError(f'the gate drives {list(gate.robot.joint_names)}, the Panda arm is '
                          f'{list(ARM_JOINTS)}: build it with panda_gate_config')
    if sim.task_kind != 'reach':
        raise ConfigError(f'the Panda loop runs the reach task, the sim runs {sim.task_kind!r}')
    arbiter = Arbiter(gate)
    task = sim.reset(seed=seed)
    vector = task.vector()
    if operator is not None:
        operator.start_episode(task)
    states, actions, human, held, tool = [], [], [], [], [sim.tcp.copy()]
    takeovers_before = operator.takeovers if operator is not None else 0
    now = 0.0
    try:
        while not sim.done:
            q = sim.q.copy()
            arbiter.on_joint_state(q, now)
            if operator is not None:
                out = operator.step(q, now)
                arbiter.on_joy(parse_joy(out.axes.tolist(), out.buttons.tolist(), gate.joy,
                                         now), now)
            arbiter.on_policy_action(np.asarray(policy(q, vector), dtype=np.float64), now)
            decision = arbiter.tick(now)
            command = q if decision is None else np.asarray(decision.command, dtype=np.float64)
            sim.step(np.concatenate([command, [GRIPPER_MAX_WIDTH]]))
            states.append(q)
            actions.append(command)
            human.append(decision is not None and decision.source == 'human')
            held.append(decision is None or decision.source == 'hold')
            tool.append(sim.tcp.copy())
            now += sim.config.dt
    finally:
        if operator is not None:
            operator.end_episode()
    takeovers = (operator.takeovers - takeovers_before) if operator is not None else 0
    return PandaEpisode(task=task, states=np.array(states).reshape(-1, 7),
                        actions=np.array(actions).reshape(-1, 7),
                        human=np.array(human, dtype=bool), held=np.array(held, dtype=bool),
                        final_state=sim.q.copy(), tool=np.array(tool), reason=sim.reason,
                        success=bool(sim.success), takeovers=int(takeovers))


def onnx_controller(policy: Any) -> tuple[Controller, Callable[[], None]]:
    """
    Return ``(controller, reset)`` of an OnnxPolicy of the seven arm joints.

    Call ``reset`` at every episode's start (a chunked or sampled policy keeps state).
    """
    if tuple(policy.joint_names) != tuple(ARM_JOINTS):
        raise ConfigError(f'the model drives {list(policy.joint_names)}; the Panda loop needs a '
                          f'model of the seven arm joints {list(ARM_JOINTS)}')

    def controller(q: np.ndarray, task: np.ndarray) -> np.ndarray:
        return policy.act(q, task, None)
    return controller, policy.reset
