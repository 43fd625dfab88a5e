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
Roll a scripted demonstrator in the planar sim and write one episode bag per episode.

The sim runs directly (no DDS), so collecting is fast; the bags hold exactly
the topics, message types and CDR bytes that the live recorder writes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
import time

import numpy as np

from ..data import EpisodeRecord, write_episode
from ..errors import DataError
from ..sim.arm import ArmConfig, ArmSim
from ..sim.experts import make_expert
from ..sim.rollout import passing_side, rollout, Trajectory

#: Stamp of the first collected episode (2026-01-01T00:00:00Z), so bags are reproducible.
EPOCH_NS = 1_767_225_600_000_000_000


@dataclass(frozen=True)
class CollectSummary:
    """What a collection run wrote."""

    session_dir: Path
    """Folder holding one bag per episode."""
    episodes: int
    """Episodes written."""
    successes: int
    """Episodes that reached the goal."""
    above: int
    """Episodes whose end effector passed the obstacle above (+y)."""
    samples: int
    """Control steps written (one training sample each)."""
    bytes: int
    """Size of the session folder on disk."""
    seconds: float
    """Wall time."""


def to_record(trajectory: Trajectory, *, config: ArmConfig, episode: int, t0_ns: int,
              source: str = 'demo', extra: dict | None = None) -> EpisodeRecord:
    """Turn a sim trajectory into an :class:`EpisodeRecord` (all steps labelled by the demo)."""
    return EpisodeRecord(
        joint_names=tuple(config.joint_names), t0_ns=t0_ns, dt=config.dt,
        positions=trajectory.positions, velocities=trajectory.velocities,
        task=trajectory.task.vector(), actions=trajectory.actions,
        intervention=np.zeros(trajectory.steps, dtype=bool), episode=episode,
        success=trajectory.success, reason=trajectory.reason, source=source,
        images=trajectory.images, image_steps=trajectory.image_steps,
        extra={k: str(v) for k, v in (extra or {}).items()})


def collect(expert: str, episodes: int, out: Path, *, seed: int = 0, session: str = '',
            config: ArmConfig | None = None, camera_every: int = 2,
            progress: bool = True) -> CollectSummary:
    """
    Collect ``episodes`` demonstrations of ``expert`` into ``out/<session>/ep_NNNNN``.

    :param camera_every: render a camera frame every this many control steps (0: none).
    """
    cfg = config or ArmConfig()
    name = session or f'{expert}_seed{seed}'
    session_dir = Path(out) / name
    if session_dir.exists() and any(session_dir.iterdir()):
        raise DataError(f'{session_dir} already holds episodes; choose another --out or '
                        '--session, or delete it first (nothing was overwritten)')
    try:
        session_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(f'cannot create {session_dir}: {exc.strerror}; pick a writable --out')
    sim = ArmSim(cfg, seed=seed)
    rng = np.random.default_rng(seed + 1_000_003)
    start = time.perf_counter()
    successes = above = samples = 0
    bar = None
    if progress:
        from tqdm import tqdm  # lazy: tqdm only when showing progress
        bar = tqdm(total=episodes, desc=f'collect {expert}', unit='ep', leave=False)
    t0_ns = EPOCH_NS + seed * 10**12
    for ep in range(episodes):
        demonstrator = make_expert(expert, cfg, rng)
        trajectory = rollout(sim, demonstrator.action, image_every=camera_every)
        style = demonstrator.style
        record = to_record(trajectory, config=cfg, episode=ep, t0_ns=t0_ns, extra={
            'expert': expert, 'side': 'above' if style.side > 0 else 'below',
            'speed': f'{style.speed:.3f}', 'clearance': f'{style.clearance:.3f}',
            'lookahead': f'{style.lookahead:.3f}', 'seed': seed,
            'actuation_noise': cfg.actuation_noise, 'action_delay': cfg.action_delay})
        write_episode(record, session_dir / f'ep_{ep:05d}')
        successes += int(trajectory.success)
        above += int(passing_side(cfg, trajectory) > 0)
        samples += trajectory.steps
        # Leave a gap between episodes, as a live session would.
        t0_ns += int((trajectory.steps + 20) * cfg.dt * 1e9)
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    size = sum(f.stat().st_size for f in session_dir.rglob('*') if f.is_file())
    return CollectSummary(session_dir, episodes, successes, above, samples, size,
                          time.perf_counter() - start)
