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
The Panda's reach demonstrators as a DAgger expert that labels any state (expert_labeler).

The interface of :class:`imitation_ros.dagger.expert.Expert` (``reset(task)``,
``action(q, task)``) over :class:`~imitation_ros.sim.panda.experts.ReachExpert`,
with the names of the planar expert: ``above`` passes the pole on the +y side
(left), ``below`` on the -y side (right), ``multi`` draws a new demonstrator per
episode, ``nearest`` follows the side whose path is nearer to the tool until one
is nearer by ``commit_m``, then keeps it for the episode. Labels are the seven
arm joints' targets (rad). :class:`PandaPickExpert` labels the pick-and-place
task the same way, from the joints, the finger gap and the cube's pose (which a
pick state needs: the demonstrator's phase follows from where the cube is): the
seven arm joint targets and the finger gap target (8,), grasping ``straight``
(the wrist at the cube's yaw), ``turned`` (a quarter turn further), ``multi``
(a new demonstrator per episode) or ``nearest`` (the grasp whose wrist yaw is
nearer to the wrist's, latched once the fingers close).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from .expert import DEFAULT_COMMIT_M, Expert, SCRIPTED_EXPERTS
from ..errors import ConfigError
from ..sim.operator import path_distance
from ..sim.panda.experts import PickExpert, PickStyle, ReachExpert, ReachStyle, sample_style
from ..sim.panda.kinematics import Kinematics, tool_yaw, wrap_half_turn
from ..sim.panda.model import ARM_JOINTS, GRIPPER_MAX_WIDTH, PandaConfig, PandaModel
from ..sim.panda.observe import JOINT_LAYOUT, observation_from_joints, PandaObservation
from ..sim.panda.tasks import PandaTask, TASK_LAYOUTS

#: Side of the pole of each fixed expert name: +1 left (+y), -1 right.
SIDES = {'above': 1, 'below': -1}


class PandaReachExpert(Expert):
    """
    A reach demonstrator of the Panda labelling any state (see the module docstring).

    :param name: one of :data:`~imitation_ros.dagger.expert.SCRIPTED_EXPERTS`.
    :param seed: seed of the ``multi`` draws.
    :param commit_m: ``nearest``: margin (m) that latches the side.
    :param config: the sim's settings (control period, speed limits).
    """

    #: Joints the labels are for, base to tip.
    joint_names: tuple[str, ...] = ARM_JOINTS
    #: Length of the task vector.
    task_size: int = len(TASK_LAYOUTS['reach'])

    def __init__(self, name: str = 'nearest', seed: int = 0,
                 commit_m: float = DEFAULT_COMMIT_M, config: PandaConfig | None = None) -> None:
        if name not in SCRIPTED_EXPERTS:
            raise ConfigError(f'unknown expert {name!r}; choose one of '
                              f'{", ".join(SCRIPTED_EXPERTS)}')
        if not commit_m > 0:
            raise ConfigError(f'commit_m must be > 0 m, got {commit_m}')
        self.name = name
        self.commit_m = float(commit_m)
        self.config = config if config is not None else PandaConfig(camera=False)
        self.kinematics = Kinematics(PandaModel(self.config))
        self._rng = np.random.default_rng(seed)
        self.style = ReachStyle(side=SIDES.get(name, 1))
        self._committed: int | None = None
        self.episodes = 0

    @staticmethod
    def task_from_vector(vector: Any, start: Any) -> PandaTask:
        """Return the reach task of a task vector and a start posture (7,)."""
        return PandaTask.from_vector('reach', np.asarray(vector, dtype=np.float64),
                                     np.asarray(start, dtype=np.float64))

    def reset(self, task: PandaTask) -> None:
        """Begin an episode: ``multi`` draws a new demonstrator, ``nearest`` unlatches."""
        self.episodes += 1
        self._committed = None
        if self.name == 'multi':
            style = sample_style('reach', 'multi', self._rng)
            assert isinstance(style, ReachStyle)
            self.style = style
        elif self.name == 'nearest':
            self.style = replace(self.style, side=1)

    def _expert(self, side: int) -> ReachExpert:
        return ReachExpert(self.kinematics, self.config, replace(self.style, side=side))

    def _choose_side(self, q: np.ndarray, task: PandaTask) -> None:
        if self._committed is not None:
            return
        tool = self.kinematics.tcp(q)[0]
        dist = {side: path_distance(self._expert(side).path(task), tool) for side in (1, -1)}
        side = 1 if dist[1] <= dist[-1] else -1
        if abs(dist[1] - dist[-1]) >= self.commit_m:
            self._committed = side
        self.style = replace(self.style, side=side)

    def action(self, q: np.ndarray, task: PandaTask) -> np.ndarray:
        """
        Return the demonstrator's absolute arm joint targets (7,) rad at ``q`` (7,) rad.

        :raises ConfigError: ``q`` is not 7 finite values, or the task is not a reach task.
        """
        q = np.asarray(q, dtype=np.float64)
        if q.shape != (len(ARM_JOINTS),) or not np.all(np.isfinite(q)):
            raise ConfigError(f'joint positions must be {len(ARM_JOINTS)} finite values (rad), '
                              f'got {q.tolist()}')
        if task.kind != 'reach':
            raise ConfigError(f'the Panda labelling expert knows the reach task only, got '
                              f'{task.kind!r}')
        if self.name == 'nearest':
            self._choose_side(q, task)
        obs = observation_from_joints(np.concatenate([q, [GRIPPER_MAX_WIDTH]]))
        return self._expert(self.style.side).action(obs, task)[:len(ARM_JOINTS)]

    def describe(self) -> str:
        """Return e.g. ``Panda reach nearest (side +1, committed)``."""
        state = '' if self.name != 'nearest' else (
            ', committed' if self._committed is not None else ', not committed yet')
        return f'Panda reach {self.name} (side {self.style.side:+d}{state})'


#: The pick experts :class:`PandaPickExpert` offers.
PICK_EXPERTS: tuple[str, ...] = ('straight', 'turned', 'multi', 'nearest')


class PandaPickExpert:
    """
    A pick-and-place demonstrator of the Panda labelling any state (module docstring).

    ``action(observation, task)`` takes a
    :class:`~imitation_ros.sim.panda.observe.PandaObservation` (joints, finger gap,
    cube pose): a pick label depends on the cube, which the joints alone do not say.

    :param name: one of :data:`PICK_EXPERTS`.
    :param seed: seed of the ``multi`` draws.
    :param config: the sim's settings (control period, speed limits).
    """

    #: Joints (and the finger gap) the labels are for.
    joint_names: tuple[str, ...] = JOINT_LAYOUT
    #: Length of the task vector.
    task_size: int = len(TASK_LAYOUTS['pick'])

    def __init__(self, name: str = 'nearest', seed: int = 0,
                 config: PandaConfig | None = None) -> None:
        if name not in PICK_EXPERTS:
            raise ConfigError(f'unknown pick expert {name!r}; choose one of '
                              f'{", ".join(PICK_EXPERTS)}')
        self.name = name
        self.config = config if config is not None else PandaConfig(camera=False)
        self.kinematics = Kinematics(PandaModel(self.config))
        self._rng = np.random.default_rng(seed)
        self.style = PickStyle(grasp=1 if name == 'turned' else 0)
        self._committed = False
        self.episodes = 0

    def reset(self, task: PandaTask) -> None:
        """Begin an episode: ``multi`` draws a new demonstrator, ``nearest`` unlatches."""
        self.episodes += 1
        self._committed = False
        if self.name == 'multi':
            style = sample_style('pick', 'multi', self._rng)
            assert isinstance(style, PickStyle)
            self.style = style

    def _choose_grasp(self, obs: PandaObservation) -> None:
        if self._committed:
            return
        yaw = tool_yaw(self.kinematics.tcp(obs.q)[1])
        offset = abs(wrap_half_turn(yaw - obs.cube_yaw))
        self.style = replace(self.style, grasp=0 if offset < np.pi / 4 else 1)
        # Once the fingers close on the cube the grasp is made: keep it.
        self._committed = obs.width < GRIPPER_MAX_WIDTH - 0.01

    def action(self, obs: PandaObservation, task: PandaTask) -> np.ndarray:
        """
        Return the demonstrator's arm joint targets and finger gap target (8,) at ``obs``.

        :raises ConfigError: joints that are not 7 finite values, or not a pick task.
        """
        q = np.asarray(obs.q, dtype=np.float64)
        if q.shape != (len(ARM_JOINTS),) or not np.all(np.isfinite(q)):
            raise ConfigError(f'joint positions must be {len(ARM_JOINTS)} finite values (rad), '
                              f'got {q.tolist()}')
        if task.kind != 'pick':
            raise ConfigError(f'the Panda pick expert labels the pick task, got {task.kind!r}')
        if self.name == 'nearest':
            self._choose_grasp(obs)
        return PickExpert(self.kinematics, self.config, self.style).action(obs, task)

    def describe(self) -> str:
        """Return e.g. ``Panda pick nearest (grasp 1, committed)``."""
        state = '' if self.name != 'nearest' else (
            ', committed' if self._committed else ', not committed yet')
        return f'Panda pick {self.name} (grasp {self.style.grasp}{state})'
