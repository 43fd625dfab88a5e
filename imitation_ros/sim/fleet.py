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
One simulated operator for several robots: help requests wait in a queue, one robot at a time.

Robot-gated: the operator watches no robot on its own. A robot's gate asks for help
(``imitation/help_request``, the policy's doubt above its threshold); the request
joins a :class:`HelpQueue` (``first_come``, or ``highest_doubt`` first, with a request
older than ``max_wait_s`` served before any other so that none starves). The
:class:`FleetOperator` serves the queue's head: it turns to that robot and runs a
:class:`~imitation_ros.sim.operator.SimulatedOperator` on it (reaction delay, takeover,
steering, release by its usual rule), and only then turns to the next. A service ends
when the operator lets go, when the request is withdrawn before the takeover (the
doubt calmed, the gate cleared it), when the robot's episode ends, or when the robot
has not been heard from for ``lost_after_s``. Every other robot gets an idle pad:
its gate holds while its request stands, or the policy goes on once the doubt calms.
Times are the ``now`` passed in (s). Per robot it counts requests, services, time
waiting for the operator and time under the operator's control (:class:`RobotStats`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
import math
from typing import Optional, Sequence

from ..errors import ConfigError
from .arm import ArmConfig, Task
from .operator import OperatorOutput, OperatorParams, REACTING_PREFIX, SimulatedOperator

#: Orders in which waiting help requests are served.
QUEUE_ORDERS: tuple[str, ...] = ('first_come', 'highest_doubt')

#: How a service ended.
SERVED = 'served'
"""The operator took over and let go."""
WITHDRAWN = 'withdrawn'
"""The request cleared before the operator took over (in the queue or reacting)."""
EPISODE_END = 'episode_end'
"""The robot's episode ended during the service."""
ROBOT_LOST = 'robot_lost'
"""Nothing was heard from the robot for ``lost_after_s``."""


@dataclass
class Request:
    """One help request waiting in the queue."""

    robot: str
    """The robot asking (its namespace)."""
    since: float
    """When the request was made (s)."""
    doubt: float
    """The newest doubt known of that robot (policy units; NaN when unknown)."""
    order: int
    """Arrival number (first come first)."""


class HelpQueue:
    """
    Help requests waiting for the operator; at most one per robot.

    :param order: ``first_come`` (oldest first) or ``highest_doubt`` (largest doubt
        first, ties and unknown doubts by arrival).
    :param max_wait_s: a request waiting longer than this goes before every other
        (oldest first): with ``highest_doubt`` no robot waits for ever (s; inf: never).
    """

    def __init__(self, order: str = 'first_come', max_wait_s: float = math.inf) -> None:
        if order not in QUEUE_ORDERS:
            raise ConfigError(f'queue order must be one of {", ".join(QUEUE_ORDERS)}, got '
                              f'{order!r}')
        if isinstance(max_wait_s, bool) or not isinstance(max_wait_s, (int, float)) \
                or math.isnan(max_wait_s) or max_wait_s <= 0:
            raise ConfigError(f'max_wait_s must be a positive number of seconds (inf: no '
                              f'limit), got {max_wait_s!r}')
        self.order = order
        self.max_wait_s = float(max_wait_s)
        self._waiting: dict[str, Request] = {}
        self._arrivals = 0

    def __len__(self) -> int:
        """Return the number of waiting requests."""
        return len(self._waiting)

    def __contains__(self, robot: object) -> bool:
        """Return whether ``robot`` has a request waiting."""
        return robot in self._waiting

    @property
    def waiting(self) -> list[str]:
        """Return the robots waiting, in arrival order."""
        return [r.robot for r in sorted(self._waiting.values(), key=lambda r: r.order)]

    def add(self, robot: str, now: float, doubt: float = math.nan) -> bool:
        """Queue a request of ``robot`` made at ``now``; False when it already waits."""
        if robot in self._waiting:
            self.update_doubt(robot, doubt)
            return False
        self._waiting[robot] = Request(robot, float(now), _doubt(doubt), self._arrivals)
        self._arrivals += 1
        return True

    def update_doubt(self, robot: str, doubt: float) -> None:
        """Keep the newest doubt of a waiting robot (what ``highest_doubt`` orders by)."""
        request = self._waiting.get(robot)
        if request is not None and not math.isnan(_doubt(doubt)):
            request.doubt = _doubt(doubt)

    def withdraw(self, robot: str) -> Optional[Request]:
        """Remove the request of ``robot`` (it cleared before service); return it or None."""
        return self._waiting.pop(robot, None)

    def pop(self, now: float) -> Optional[Request]:
        """Remove and return the request to serve next (None when none waits)."""
        if not self._waiting:
            return None
        requests = sorted(self._waiting.values(), key=lambda r: r.order)
        overdue = [r for r in requests if float(now) - r.since > self.max_wait_s]
        if overdue:
            chosen = overdue[0]
        elif self.order == 'highest_doubt':
            chosen = max(requests, key=lambda r: (-math.inf if math.isnan(r.doubt) else r.doubt,
                                                  -r.order))
        else:
            chosen = requests[0]
        return self._waiting.pop(chosen.robot)


def _doubt(value: object) -> float:
    """Return ``value`` as a float doubt (NaN when unreadable; inf stays inf)."""
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return math.nan


@dataclass
class RobotStats:
    """What the operator did for one robot (times in s)."""

    requests: int = 0
    """Help requests queued."""
    served: int = 0
    """Services that ended with the operator letting go."""
    withdrawn: int = 0
    """Requests that cleared before the operator took over."""
    interrupted: int = 0
    """Services ended by the episode's end or a lost robot."""
    takeovers: int = 0
    """Times the operator took control of this robot."""
    wait_s: float = 0.0
    """Total time requests waited from being made to the operator turning to the robot."""
    max_wait_s: float = 0.0
    """Longest such wait."""
    human_s: float = 0.0
    """Time under the operator's control (deadman held)."""


@dataclass(frozen=True)
class Service:
    """One turn of the operator to a robot."""

    robot: str
    requested: float
    """When the request was made (s)."""
    started: float
    """When the operator turned to the robot (s)."""
    ended: float
    """When the service ended (s)."""
    outcome: str
    """SERVED, WITHDRAWN, EPISODE_END or ROBOT_LOST."""


@dataclass(frozen=True)
class FleetParams:
    """How the fleet operator picks and serves requests."""

    order: str = 'first_come'
    """``first_come`` or ``highest_doubt`` (:class:`HelpQueue`)."""
    max_wait_s: float = 30.0
    """A request waiting longer goes first (s)."""
    lost_after_s: float = 1.0
    """A served robot not heard from for this long ends its service (s)."""
    operator: OperatorParams = field(default_factory=OperatorParams)
    """The operator's reaction, steering and release rule (the same person on every robot)."""

    def __post_init__(self) -> None:
        HelpQueue(self.order, self.max_wait_s)  # its own checks
        lost = self.lost_after_s
        if isinstance(lost, bool) or not isinstance(lost, (int, float)) \
                or not math.isfinite(lost) or lost <= 0:
            raise ConfigError(f'lost_after_s must be a positive number of seconds, got {lost!r}')


class FleetOperator:
    """
    One simulated operator serving the help requests of several robots, one at a time.

    Feed each robot's episode events (:meth:`start_episode`, :meth:`end_episode`),
    its help request (:meth:`set_help`) and, once per control period, its joint
    positions (:meth:`step`, which returns that robot's pad). :meth:`tick` ends a
    service whose robot went quiet and turns to the next request.

    :param config: the arm every robot has (geometry, limits).
    :param robots: the robots' names (namespaces), distinct.
    :param params: queue order and the operator's rule.
    :param seed: seed of the operator's reaction jitter and stick noise (per robot
        ``seed + index``).
    """

    def __init__(self, config: ArmConfig, robots: Sequence[str],
                 params: FleetParams | None = None, seed: int = 0) -> None:
        robots = list(robots)
        if not robots or len(set(robots)) != len(robots) or not all(robots):
            raise ConfigError(f'robots must be distinct non-empty names, got {robots!r}')
        self.config = config
        self.params = params if params is not None else FleetParams()
        self.robots = tuple(robots)
        self.queue = HelpQueue(self.params.order, self.params.max_wait_s)
        self._operators = {r: SimulatedOperator(config, self.params.operator, seed=seed + i)
                           for i, r in enumerate(robots)}
        self._tasks: dict[str, Optional[Task]] = {r: None for r in robots}
        self._help = {r: False for r in robots}
        self._doubt = {r: math.nan for r in robots}
        self._seen: dict[str, Optional[float]] = {r: None for r in robots}
        self._last_step: dict[str, Optional[float]] = {r: None for r in robots}
        self.stats = {r: RobotStats() for r in robots}
        self.services: list[Service] = []
        """Finished services, in order."""
        self.serving: Optional[str] = None
        """The robot the operator attends to (None: idle)."""
        self._request: Optional[Request] = None
        self._started = 0.0

    # --- inputs -------------------------------------------------------------------------

    def _check(self, robot: str) -> None:
        if robot not in self._operators:
            raise ConfigError(f'unknown robot {robot!r}; the fleet is {list(self.robots)}')

    def start_episode(self, robot: str, task: Task) -> None:
        """Begin ``robot``'s episode of ``task`` (its start posture anchors the operator)."""
        self._check(robot)
        if self._tasks[robot] is not None:
            self.end_episode(robot)  # its end event went missing: that episode is over
        self._tasks[robot] = task
        self._help[robot] = False

    def update_task(self, robot: str, task: Task) -> None:
        """Replace the task of ``robot``'s running episode (goal or obstacle moved)."""
        self._check(robot)
        if self._tasks[robot] is None:
            self.start_episode(robot, task)
            return
        self._tasks[robot] = task
        if self.serving == robot:
            self._operators[robot].update_task(task)

    def end_episode(self, robot: str, now: Optional[float] = None) -> None:
        """End ``robot``'s episode: its request is dropped, a service of it ends."""
        self._check(robot)
        when = self._seen[robot] if now is None else float(now)
        if self.serving == robot:
            self._end_service(when if when is not None else self._started, EPISODE_END)
        elif robot in self.queue:
            request = self.queue.withdraw(robot)
            self.stats[robot].interrupted += 1
            if request is not None and when is not None:
                self._add_wait(robot, when - request.since)
        self._tasks[robot] = None
        self._help[robot] = False

    def set_help(self, robot: str, requested: bool, now: float,
                 doubt: float = math.nan) -> None:
        """Take ``robot``'s newest help request flag (and its doubt, for ``highest_doubt``)."""
        self._check(robot)
        self._help[robot] = bool(requested)
        if not math.isnan(_doubt(doubt)):
            self._doubt[robot] = _doubt(doubt)
        self._seen[robot] = float(now)
        self.tick(now)

    def tick(self, now: float) -> None:
        """Queue standing requests, drop withdrawn ones, end a lost service, serve the next."""
        now = float(now)
        for robot in self.robots:
            standing = self._help[robot] and self._tasks[robot] is not None
            if standing and robot != self.serving:
                if self.queue.add(robot, now, self._doubt[robot]):
                    self.stats[robot].requests += 1
            elif not standing and robot in self.queue:
                request = self.queue.withdraw(robot)
                self.stats[robot].withdrawn += 1
                if request is not None:
                    self._add_wait(robot, now - request.since)
        if self.serving is not None:
            seen = self._last_step[self.serving]
            last = seen if seen is not None else self._started
            if now - last > self.params.lost_after_s:
                self._end_service(now, ROBOT_LOST)
        if self.serving is None:
            request = self.queue.pop(now)
            if request is not None:
                self._begin_service(request, now)

    def step(self, robot: str, q: object, now: float) -> OperatorOutput:
        """
        Return ``robot``'s pad for this period, its joint positions ``q`` (n,) rad at ``now``.

        Idle unless the operator attends to ``robot``; then the operator's answer,
        after which the service may end (let go, request withdrawn).
        """
        self._check(robot)
        now = float(now)
        self._seen[robot] = now
        self._last_step[robot] = now
        self.tick(now)
        operator = self._operators[robot]
        if self.serving != robot:
            return operator.idle_output()
        was_engaged = operator.engaged
        out = operator.step(q, now, help_requested=self._help[robot])
        stats = self.stats[robot]
        if out.engaged and not was_engaged:
            stats.takeovers += 1
        if out.engaged:
            stats.human_s += self.config.dt
        elif was_engaged:
            self._end_service(now, SERVED)
            self.tick(now)
        elif not out.reason.startswith(REACTING_PREFIX) and not self._help[robot]:
            self._end_service(now, WITHDRAWN)
            self.tick(now)
        return out

    # --- services -----------------------------------------------------------------------

    def _begin_service(self, request: Request, now: float) -> None:
        robot = request.robot
        task = self._tasks[robot]
        if task is None:  # cannot happen: a robot between episodes is never queued
            return
        self.serving = robot
        self._request = request
        self._started = now
        self._last_step[robot] = None
        # A fresh look at the robot: the operator's clocks (stall, reaction) start now.
        self._operators[robot].start_episode(task)
        self._add_wait(robot, now - request.since)

    def _add_wait(self, robot: str, wait: float) -> None:
        stats = self.stats[robot]
        stats.wait_s += max(0.0, wait)
        stats.max_wait_s = max(stats.max_wait_s, wait)

    def _end_service(self, now: float, outcome: str) -> None:
        robot = self.serving
        assert robot is not None and self._request is not None
        stats = self.stats[robot]
        if outcome == SERVED:
            stats.served += 1
        elif outcome == WITHDRAWN:
            stats.withdrawn += 1
        else:
            stats.interrupted += 1
        self.services.append(Service(robot, self._request.since, self._started, float(now),
                                     outcome))
        self._operators[robot].end_episode()
        self.serving = None
        self._request = None

    def task(self, robot: str) -> Optional[Task]:
        """Return the task of ``robot``'s running episode (None between episodes)."""
        self._check(robot)
        return self._tasks[robot]

    def idle_output(self, robot: str) -> OperatorOutput:
        """Return an idle pad for ``robot`` (no button, sticks centred)."""
        self._check(robot)
        return self._operators[robot].idle_output()

    def engaged(self, robot: str) -> bool:
        """Return whether the operator holds ``robot``'s deadman now."""
        self._check(robot)
        return self.serving == robot and self._operators[robot].engaged

    def reason(self, robot: str) -> str:
        """Return what the operator does for ``robot`` ('waiting', 'idle' or its reason)."""
        self._check(robot)
        if self.serving == robot:
            return self._operators[robot].reason
        return 'waiting' if robot in self.queue else 'idle'
