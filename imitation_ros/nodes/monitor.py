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
A node that watches an HG-DAgger (or DAgger) session and keeps per-episode statistics.

It listens to the episode events, the gate's per-command provenance
(``imitation/gate_state``), the active model version and the trainer's status,
and can ask the trainer to retrain (``trainer/train``). ``imitation-ros demo``
uses it to print and plot the rounds.
"""

from __future__ import annotations

from dataclasses import dataclass
import json
import math
import threading
from typing import Any, Optional

from rclpy.node import Node
from std_msgs.msg import String
from std_srvs.srv import SetBool, Trigger

from ..interface import topics
from .qos import EPISODE_LIVE_QOS, MODEL_QOS


@dataclass(frozen=True)
class EpisodeStats:
    """What happened in one episode."""

    episode: int
    """Episode number (from sim_arm)."""
    version: str
    """Model version active when the episode started."""
    success: bool
    """The goal was reached (with or without help)."""
    reason: str
    """How it ended."""
    commands: int
    """Commands the gate sent during the episode."""
    human_commands: int
    """Of which the human's."""
    takeovers: int
    """Times the human took over."""
    expert_commands: int = 0
    """Commands that executed the DAgger expert's action (the gate's beta-mixing)."""
    beta: float = math.nan
    """The gate's beta during the episode (NaN: not reported, or it changed)."""

    @property
    def autonomous_success(self) -> bool:
        """Return True when the goal was reached without any takeover."""
        return self.success and self.takeovers == 0


class SessionMonitor(Node):
    """Collects :class:`EpisodeStats`; thread-safe accessors for the caller."""

    def __init__(self, **kwargs: Any) -> None:
        """Subscribe to the session topics."""
        super().__init__('session_monitor', **kwargs)
        self._lock = threading.Lock()
        self.episodes: list[EpisodeStats] = []
        self.model_version = ''
        self.trainer_status: list[dict] = []
        self._current: Optional[dict] = None
        self.create_subscription(String, topics.EPISODE.name, self._on_episode,
                                 EPISODE_LIVE_QOS)
        self.create_subscription(String, topics.GATE_STATE.name, self._on_gate, 50)
        self.create_subscription(String, topics.MODEL_VERSION.name, self._on_version, MODEL_QOS)
        self.create_subscription(String, topics.TRAINER_STATUS.name, self._on_trainer, 10)
        self._train = self.create_client(Trigger, 'trainer/train')
        self._pause = self.create_client(SetBool, 'sim_arm/pause')

    def _on_episode(self, msg: String) -> None:
        try:
            event = json.loads(msg.data)
        except json.JSONDecodeError:
            return
        with self._lock:
            if event.get('event') == 'start':
                self._current = {'episode': int(event['episode']), 'version': self.model_version,
                                 'commands': 0, 'human': 0, 'takeovers': 0, 'was_human': False,
                                 'expert': 0, 'betas': set()}
            elif event.get('event') == 'end' and self._current is not None \
                    and int(event['episode']) == self._current['episode']:
                c = self._current
                self.episodes.append(EpisodeStats(
                    episode=c['episode'], version=c['version'], success=bool(event['success']),
                    reason=str(event.get('reason', '')), commands=c['commands'],
                    human_commands=c['human'], takeovers=c['takeovers'],
                    expert_commands=c['expert'],
                    beta=next(iter(c['betas'])) if len(c['betas']) == 1 else math.nan))
                self._current = None

    def _on_gate(self, msg: String) -> None:
        try:
            state = json.loads(msg.data)
        except json.JSONDecodeError:
            return
        with self._lock:
            c = self._current
            if c is None:
                return
            human = state.get('source') == 'human'
            c['commands'] += 1
            c['human'] += int(human)
            if human and not c['was_human']:
                c['takeovers'] += 1
            c['was_human'] = human
            c['expert'] += int(state.get('source') == 'expert')
            beta = state.get('beta')
            if isinstance(beta, (int, float)) and not isinstance(beta, bool):
                c['betas'].add(float(beta))

    def _on_version(self, msg: String) -> None:
        with self._lock:
            self.model_version = msg.data

    def _on_trainer(self, msg: String) -> None:
        try:
            status = json.loads(msg.data)
        except json.JSONDecodeError:
            return
        with self._lock:
            self.trainer_status.append(status)

    def finished(self) -> list[EpisodeStats]:
        """Return a copy of the finished episodes."""
        with self._lock:
            return list(self.episodes)

    def running(self) -> Optional[str]:
        """Return the model version of the episode running now (None between episodes)."""
        with self._lock:
            return None if self._current is None else str(self._current['version'])

    def version(self) -> str:
        """Return the active model version."""
        with self._lock:
            return self.model_version

    def statuses(self) -> list[dict]:
        """Return a copy of the trainer statuses received."""
        with self._lock:
            return list(self.trainer_status)

    def request_training(self, timeout_s: float = 10.0, attempts: int = 3) -> tuple[bool, str]:
        """
        Ask the trainer to retrain now; return whether it accepted, and its message.

        The trainer answers a repeated request (see :meth:`_call`) with 'already
        training', which counts as accepted.
        """
        ok, message = self._call(self._train, Trigger.Request(), 'trainer/train',
                                 timeout_s, attempts)
        return ok or message.startswith('already training'), message

    def pause_episodes(self, paused: bool, timeout_s: float = 10.0,
                       attempts: int = 3) -> tuple[bool, str]:
        """Ask sim_arm to start no new episode (``paused``) or to resume; return the answer."""
        request = SetBool.Request()
        request.data = bool(paused)
        return self._call(self._pause, request, 'sim_arm/pause', timeout_s, attempts)

    def _call(self, client: Any, request: Any, name: str, timeout_s: float,
              attempts: int) -> tuple[bool, str]:
        """
        Call a service from another thread than the executor's; return (success, message).

        A request can be lost while the service's discovery settles, so an
        unanswered request is sent again.
        """
        if not client.wait_for_service(timeout_sec=timeout_s):
            return False, f'{name} is not available'
        for _ in range(attempts):
            future = client.call_async(request)
            event = threading.Event()
            future.add_done_callback(lambda _: event.set())
            if event.wait(timeout_s) and future.result() is not None:
                result = future.result()
                return bool(result.success), str(result.message)
            client.remove_pending_request(future)
        return False, f'no answer from {name} after {attempts} requests'
