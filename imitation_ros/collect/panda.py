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
Roll the Panda demonstrators and write episode bags, with camera frames at the camera rate.

The bags are the package's episode bags (``imitation_ros.data``), as
``imitation-ros collect`` writes them for the planar arm: ``/joint_states``
with the joints of :data:`~imitation_ros.sim.panda.observe.JOINT_LAYOUT`
(``panda_joint1..7`` and ``gripper_width``, the finger gap in m), the task
vector of ``TASK_LAYOUTS[task]`` on ``/imitation/task``, the executed action
(8,) on ``/forward_position_controller/commands`` and, every
``camera_every`` control steps, the camera frame (rgb8) of the state the next
command is computed from, stamped like that state. The loader pairs each
command with the latest frame at or before it (the alignment rule), so with
``camera_every=1`` every command gets the frame of its own state, and with
``camera_every=k`` the frame of the state up to k - 1 steps earlier.

Episode facts add ``robot`` (``panda``), ``task_kind``, ``task_layout``
(comma separated), ``expert``, ``mode`` (measured on the trajectory: reach
``left`` / ``right``, pick ``straight`` / ``turned``, or ``none``), the
demonstrator's style, ``seed`` (of the episode's task) and ``camera_every``.
With ``arm_only`` the bags hold the seven arm joints and their targets only, as the
recorder writes a reach episode from ``/joint_states`` and the gate's commands (the
layout ``imitation-ros demo --robot panda`` trains on).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
import time

import numpy as np

from ..data import EpisodeRecord, write_episode
from ..errors import DataError
from ..sim.panda.errors import CameraUnavailableError
from ..sim.panda.experts import make_expert, ReachExpert, sample_style
from ..sim.panda.model import ARM_JOINTS, PandaConfig
from ..sim.panda.observe import JOINT_LAYOUT
from ..sim.panda.rollout import grasp_mode, passing_side, PandaTrajectory, rollout
from ..sim.panda.sim import PandaSim

#: Stamp of the first episode of seed 0 (2026-01-01T00:00:00Z), ns since the epoch.
EPOCH_NS = 1_767_225_600_000_000_000
#: Idle control periods left between two episodes' stamps, as in a live session.
GAP_STEPS = 20


@dataclass(frozen=True)
class PandaCollectSummary:
    """What a Panda collection run wrote."""

    session_dir: Path
    """Folder holding one bag per episode."""
    task: str
    """'reach' or 'pick'."""
    episodes: int
    """Episodes written."""
    successes: int
    """Episodes that achieved the task."""
    modes: dict = field(default_factory=dict)
    """Episodes per measured mode (reach: left, right; pick: straight, turned; none)."""
    samples: int = 0
    """Control steps written (one training sample each)."""
    frames: int = 0
    """Camera frames written."""
    bytes: int = 0
    """Size of the session folder on disk."""
    seconds: float = 0.0
    """Wall time."""

    @property
    def episodes_per_second(self) -> float:
        """Return episodes written per second of wall time."""
        return self.episodes / max(self.seconds, 1e-9)


def trajectory_mode(sim: PandaSim, trajectory: PandaTrajectory) -> str:
    """Return the mode a trajectory shows: left / right, straight / turned, or none."""
    if trajectory.task.kind == 'reach':
        return {1: 'left', -1: 'right', 0: 'none'}[passing_side(trajectory)]
    return {0: 'straight', 1: 'turned', -1: 'none'}[grasp_mode(sim.kinematics, trajectory)]


def panda_record(trajectory: PandaTrajectory, *, config: PandaConfig, episode: int, t0_ns: int,
                 source: str = 'demo', extra: dict | None = None,
                 arm_only: bool = False) -> EpisodeRecord:
    """
    Turn a Panda trajectory into an :class:`EpisodeRecord` (all steps the demonstrator's).

    :param arm_only: keep the seven arm joints and their targets (no finger gap).
    """
    velocities = trajectory.velocities
    if velocities is None:  # not measured: NaN, as for a robot that sends none
        velocities = np.full(trajectory.joints.shape, np.nan)
    task = trajectory.task
    facts = {'robot': 'panda', 'task_kind': task.kind, 'task_layout': ','.join(task.layout),
             **(extra or {})}
    width = len(ARM_JOINTS) if arm_only else len(JOINT_LAYOUT)
    return EpisodeRecord(
        joint_names=ARM_JOINTS if arm_only else JOINT_LAYOUT, t0_ns=t0_ns, dt=config.dt,
        positions=trajectory.joints[:, :width], velocities=velocities[:, :width],
        task=task.vector(), actions=trajectory.actions[:, :width],
        intervention=np.zeros(trajectory.steps, dtype=bool), episode=episode,
        success=trajectory.success, reason=trajectory.reason, source=source,
        images=trajectory.images, image_steps=trajectory.image_steps,
        extra={k: str(v) for k, v in facts.items()})


def collect_panda(task: str, expert: str, episodes: int, out: Path, *, seed: int = 0,
                  session: str = '', camera_every: int = 1, config: PandaConfig | None = None,
                  progress: bool = True, arm_only: bool = False) -> PandaCollectSummary:
    """
    Collect ``episodes`` demonstrations of ``expert`` on ``task`` into ``out/<session>/ep_NNNNN``.

    :param task: 'reach' or 'pick'.
    :param expert: a demonstrator of that task (``experts.EXPERT_NAMES``), e.g. 'multi'.
    :param camera_every: a camera frame every this many control steps (0: none; 1: at the
        control rate, 20 Hz).
    :param arm_only: write the seven arm joints and their targets only (:func:`panda_record`).
    :raises CameraUnavailableError: frames were asked for and no OpenGL context can be made
        (the message says how to get one).
    :raises DataError: the session folder holds episodes already or cannot be created.
    """
    if camera_every < 0:
        raise DataError(f'camera_every must be >= 0 control steps, got {camera_every}')
    cfg = replace(config or PandaConfig(), camera=camera_every > 0)
    sample_style(task, expert, np.random.default_rng(0))  # an unknown name fails before I/O
    name = session or f'panda_{task}_{expert}_seed{seed}'
    session_dir = Path(out) / name
    if session_dir.exists() and any(session_dir.iterdir()):
        raise DataError(f'{session_dir} already holds episodes; choose another --out or '
                        '--session, or delete it first (nothing was overwritten)')
    sim = PandaSim(cfg, task_kind=task)
    if camera_every and not sim.has_camera:
        raise CameraUnavailableError(f'{sim.camera_error}; or collect without frames '
                                     '(--camera-every 0)')
    try:
        session_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(f'cannot create {session_dir}: {exc.strerror}; pick a writable --out')
    rng = np.random.default_rng(seed + 1_000_003)
    start = time.perf_counter()
    successes = samples = frames = 0
    modes: Counter = Counter()
    bar = None
    if progress:
        from tqdm import tqdm  # lazy: tqdm only when showing progress
        bar = tqdm(total=episodes, desc=f'collect panda {task} {expert}', unit='ep', leave=False)
    t0_ns = EPOCH_NS + seed * 10**12
    try:
        for ep in range(episodes):
            demonstrator = make_expert(task, expert, sim.kinematics, cfg, rng)
            episode_seed = seed * 100_003 + ep
            trajectory = rollout(sim, demonstrator.action, seed=episode_seed,
                                 image_every=camera_every)
            mode = trajectory_mode(sim, trajectory)
            style = {k: (f'{v:.3f}' if isinstance(v, float) else v)
                     for k, v in asdict(demonstrator.style).items()}
            record = panda_record(trajectory, config=cfg, episode=ep, t0_ns=t0_ns, extra={
                'expert': expert, 'mode': mode, 'seed': episode_seed,
                'camera_every': camera_every,
                'demonstrator': 'reach' if isinstance(demonstrator, ReachExpert) else 'pick',
                **{f'style_{k}': v for k, v in style.items()}}, arm_only=arm_only)
            write_episode(record, session_dir / f'ep_{ep:05d}')
            successes += int(trajectory.success)
            modes[mode] += 1
            samples += trajectory.steps
            frames += 0 if trajectory.images is None else len(trajectory.images)
            t0_ns += int((trajectory.steps + GAP_STEPS) * cfg.dt * 1e9)
            if bar is not None:
                bar.update(1)
    finally:
        if bar is not None:
            bar.close()
        sim.close()
    size = sum(f.stat().st_size for f in session_dir.rglob('*') if f.is_file())
    return PandaCollectSummary(session_dir, task, episodes, successes, dict(modes), samples,
                               frames, size, time.perf_counter() - start)
