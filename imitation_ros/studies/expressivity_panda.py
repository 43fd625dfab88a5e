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
The lecture's expressivity claim on the physics-simulated Panda, with and without the camera.

Every policy kind is trained on multi-demonstrator data of each Panda task
(reach around a pole: left or right; pick and place: the straight or the
turned grasp), once on the joint state and task vector alone (``state``) and
once with the camera frame too (``image``, through an image encoder), over
several training seeds; each model is rolled out in the MuJoCo sim through the
ONNX Runtime policy on the same evaluation tasks (the camera renders only for
image models). The study reports success (mean and spread over seeds) and mode
coverage (which side of the pole, which grasp) as ``table.md``, a plot of the
reach paths and the pick grasps (``rollouts.png``) and ``cells.json``.
"""

from __future__ import annotations

from collections import Counter
from concurrent.futures import as_completed
from dataclasses import dataclass, field, replace
import json
import os
from pathlib import Path
import time
from typing import Optional, Sequence

import numpy as np

from ..data import find_episode_bags
from ..errors import ConfigError
from ..gate.limits import safe_command
from ..policies.registry import KINDS
from ..runtime.onnx_policy import OnnxPolicy
from ..sim.panda.errors import CameraUnavailableError
from .parallel import spawn_pool

TASKS: tuple[str, ...] = ('reach', 'pick')
OBSERVATIONS: tuple[str, ...] = ('state', 'image')
#: The two modes of each task, as the demonstrators' trajectories show them.
MODES: dict[str, tuple[str, str]] = {'reach': ('left', 'right'), 'pick': ('straight', 'turned')}
#: Gradient steps per kind of the state models (an MLP step costs milliseconds).
DEFAULT_STEPS = {'mse': 5000, 'gmm': 5000, 'ar': 5000, 'diffusion': 20000}
#: Gradient steps per kind of the image models (the encoder makes a step about 10 times
#: dearer on the CPU; see docs/panda.md for the budget).
DEFAULT_IMAGE_STEPS = {'mse': 1500, 'gmm': 1500, 'ar': 1500, 'diffusion': 3000}
#: Batch sizes: image batches cost the encoder's forward and backward per frame.
STATE_BATCH = 256
IMAGE_BATCH = 64
#: Seeds of the demonstration data per task (its own, so tasks never repeat those evaluated).
DATA_SEEDS = {'reach': 100, 'pick': 101}
#: First seed of the evaluation tasks; episode i uses EVAL_SEED + i for every model.
EVAL_SEED = 50_000
#: Finished cells of a run, one JSON line each, under ``models/``: a rerun with the same
#: setup reuses them (delete the file to start over).
PARTIAL = 'cells.partial.jsonl'


@dataclass(frozen=True)
class PandaEval:
    """Outcome of rolling one policy on one Panda task."""

    task: str
    """'reach' or 'pick'."""
    episodes: int
    """Episodes run."""
    successes: int
    """Episodes that achieved the task."""
    reasons: dict
    """Episodes per end reason (success, collision, joint_limit, cube_lost, timeout)."""
    modes: dict
    """Episodes per measured mode (reach: left, right; pick: straight, turned; none)."""
    success_modes: dict
    """Successful episodes per measured mode."""
    steps: int
    """Control steps run in all."""
    seconds: float
    """Wall time of the evaluation."""
    paths: list = field(default_factory=list)
    """Reach: tool paths (x, y) relative to the pole, each (T + 1, 2) m, with success."""
    grasps: list = field(default_factory=list)
    """Pick: wrist yaw minus cube yaw when the fingers first closed (deg, wrapped to
    [-90, 90)), with success, one per episode that closed."""

    @property
    def success_rate(self) -> float:
        """Return the fraction of successful episodes."""
        return self.successes / max(1, self.episodes)


def evaluate_panda(policy: OnnxPolicy, task: str, *, episodes: int = 100,
                   seed: int = EVAL_SEED, keep_paths: int = 40, progress: bool = False,
                   desc: str = 'evaluate', config=None,
                   binary_gripper: bool = True) -> PandaEval:
    """
    Roll ``policy`` on ``episodes`` tasks of ``task`` (task i from seed ``seed + i``).

    The policy runs through ONNX Runtime; its arm commands pass the gate's
    safety layer (finite, inside the joint limits). The finger gap command goes
    to the nearer of the demonstrators' two commands, open (0.08 m) or closed
    (0 m), as a gripper driver with open and grasp actions takes it: a gap a
    little under open would otherwise read, on the next step, as the start of a
    grasp, which the policy then continues (with ``binary_gripper=False`` the
    gap is only clipped to 0..0.08 m; a model of the seven arm joints alone keeps the
    gripper open). An image policy gets the camera frame of the state it acts on,
    every step. No torch is loaded on this path, as on the
    robot.

    :param config: the sim's :class:`~imitation_ros.sim.panda.model.PandaConfig`
        (default: the package's); the camera opens only for an image policy.
    """
    from ..collect.panda import trajectory_mode  # lazy: MuJoCo only when evaluating
    # lazy: MuJoCo only when evaluating
    from ..sim.panda.kinematics import tool_yaw, wrap_half_turn
    # lazy: MuJoCo only when evaluating
    from ..sim.panda.model import GRIPPER_MAX_WIDTH, JOINT_LOWER, JOINT_UPPER, PandaConfig
    from ..sim.panda.rollout import rollout  # lazy: MuJoCo only when evaluating
    from ..sim.panda.sim import PandaSim  # lazy: MuJoCo only when evaluating

    sim = PandaSim(replace(config or PandaConfig(), camera=policy.needs_image), task_kind=task)
    if policy.needs_image and not sim.has_camera:
        raise CameraUnavailableError(sim.camera_error)
    if policy.needs_image and policy.image_shape != (sim.config.image_height,
                                                     sim.config.image_width, 3):
        raise ConfigError(f'the policy sees {policy.image_shape} frames, the camera renders '
                          f'{sim.config.image_height}x{sim.config.image_width}')

    # A model of the seven arm joints (what the demo's recorder writes) sees no finger
    # gap and commands none: the gripper stays open.
    arm_only = len(policy.joint_names) == 7

    def controller(obs, current) -> np.ndarray:
        joints = obs.joints()
        image = sim.render() if policy.needs_image else None
        action = policy.act(joints[:7] if arm_only else joints, current.vector(), image)
        arm, _ = safe_command(action[:7], joints[:7], JOINT_LOWER, JOINT_UPPER)
        if arm_only:
            return np.concatenate([arm, [GRIPPER_MAX_WIDTH]])
        gap = float(action[7]) if np.isfinite(action[7]) else float(joints[7])
        if binary_gripper:
            gap = GRIPPER_MAX_WIDTH if gap > GRIPPER_MAX_WIDTH / 2 else 0.0
        return np.concatenate([arm, [np.clip(gap, 0.0, GRIPPER_MAX_WIDTH)]])

    reasons: Counter = Counter()
    modes: Counter = Counter()
    success_modes: Counter = Counter()
    paths, grasps = [], []
    steps = 0
    bar = None
    if progress:
        from tqdm import tqdm  # lazy: tqdm only when showing progress
        bar = tqdm(total=episodes, desc=desc, unit='ep', leave=False)
    start = time.perf_counter()
    try:
        for i in range(episodes):
            policy.reset()
            trajectory = rollout(sim, controller, seed=seed + i)
            steps += trajectory.steps
            reasons[trajectory.reason] += 1
            mode = trajectory_mode(sim, trajectory)
            modes[mode] += 1
            if trajectory.success:
                success_modes[mode] += 1
            if task == 'reach' and i < keep_paths:
                pole = trajectory.task.pole[:2]
                paths.append((trajectory.tcp[:, :2] - pole, trajectory.success))
            if task == 'pick':
                closing = np.flatnonzero(trajectory.actions[:, 7] < 0.01)
                if closing.size:
                    k = int(closing[0])
                    _, rotation = sim.kinematics.tcp(trajectory.joints[k, :7])
                    w, x, y, z = trajectory.cube[k, 3:7]
                    cube_yaw = float(np.arctan2(2 * (w * z + x * y), 1 - 2 * (y * y + z * z)))
                    offset = wrap_half_turn(tool_yaw(rotation) - cube_yaw)
                    grasps.append((float(np.degrees(offset)), trajectory.success))
            if bar is not None:
                bar.update(1)
    finally:
        if bar is not None:
            bar.close()
        sim.close()
    return PandaEval(task=task, episodes=episodes, successes=reasons['success'],
                     reasons=dict(reasons), modes=dict(modes),
                     success_modes=dict(success_modes), steps=steps,
                     seconds=time.perf_counter() - start, paths=paths, grasps=grasps)


@dataclass(frozen=True)
class PandaCell:
    """One trained and evaluated model."""

    task: str
    observation: str
    kind: str
    seed: int
    result: PandaEval
    train_seconds: float
    parameters: int
    samples: int


def ensure_panda_data(root: Path, task: str, episodes: int, *, progress: bool = False) -> Path:
    """Collect ``episodes`` multi-demonstrator episodes of ``task`` with frames every step."""
    from ..collect.panda import collect_panda  # lazy: MuJoCo only when collecting
    session = root / f'{task}_multi'
    if session.exists() and len(find_episode_bags(session)) == episodes:
        return session
    if session.exists():
        raise FileExistsError(f'{session} holds a different number of episodes; delete it')
    collect_panda(task, 'multi', episodes, root, seed=DATA_SEEDS[task], session=session.name,
                  camera_every=1, progress=progress)
    return session


def run_expressivity_panda(out: Path, *, train_episodes: int = 200, eval_episodes: int = 100,
                           seeds: Sequence[int] = (0, 1, 2),
                           kinds: Sequence[str] = tuple(KINDS),
                           tasks: Sequence[str] = TASKS,
                           observations: Sequence[str] = OBSERVATIONS,
                           steps: Optional[dict] = None, image_steps: Optional[dict] = None,
                           encoder: str = 'spatial-softmax',
                           options: Optional[dict] = None, progress: bool = True,
                           device: str = 'cpu', workers: int = 1,
                           finished_only: bool = False) -> list[PandaCell]:
    """
    Run the study and write ``table.md``, ``rollouts.png`` and ``cells.json`` into ``out``.

    :param steps: gradient steps per kind of the state models (defaults
        :data:`DEFAULT_STEPS`); ``image_steps`` of the image models
        (:data:`DEFAULT_IMAGE_STEPS`).
    :param encoder: the image models' encoder (one of ``IMAGE_ENCODERS``).
    :param workers: cells trained and evaluated at once, one process (one thread) each.
    :param finished_only: train nothing; write the outputs from the cells an interrupted
        run of the same setup finished (the table's per-seed values show which).
    """
    from ..policies.vision import IMAGE_ENCODERS  # lazy: torch only when running the study
    if encoder not in IMAGE_ENCODERS:
        raise ValueError(f'encoder must be one of {IMAGE_ENCODERS}, got {encoder!r}')
    steps_for = {'state': {**DEFAULT_STEPS, **(steps or {})},
                 'image': {**DEFAULT_IMAGE_STEPS, **(image_steps or {})}}
    out.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault('MUJOCO_GL', 'egl')  # spawned workers inherit it
    start = time.perf_counter()
    sessions = {task: ensure_panda_data(out / 'data', task, train_episodes, progress=progress)
                for task in tasks}
    collect_seconds = time.perf_counter() - start
    plan = [(task, obs, kind, seed) for task in tasks for obs in observations for kind in kinds
            for seed in seeds]
    jobs = [dict(task=task, observation=obs, kind=kind, seed=seed, session=sessions[task],
                 out=out / 'models' / f'{task}_{obs}_{kind}_s{seed}.onnx',
                 steps=steps_for[obs][kind], encoder=encoder,
                 options=(options or {}).get(kind, {}),
                 eval_episodes=eval_episodes, device=device,
                 progress=progress and workers == 1) for task, obs, kind, seed in plan]
    cells: list[PandaCell] = []
    done = {c['key']: c for c in _read_partial(out) if c.get('setup') == _setup(jobs[0])}

    def report(cell: PandaCell) -> None:
        cells.append(cell)
        _append_partial(out, cell, _setup(jobs[0]), steps_for[cell.observation][cell.kind])
        r = cell.result
        print(f'[{len(cells)}/{len(plan)}] {cell.task:5s} {cell.observation:5s} {cell.kind:9s} '
              f'seed {cell.seed}: success {r.success_rate:.2f} modes {r.modes} {r.reasons} '
              f'trained in {cell.train_seconds:.0f} s, evaluated in {r.seconds:.0f} s',
              flush=True)

    todo = []
    for job in jobs:
        key = _key(job['task'], job['observation'], job['kind'], job['seed'])
        # A rerun picks up where an interrupted one stopped.
        if key in done and done[key].get('steps') == job['steps']:
            cells.append(_cell_from_json(done[key]))
        else:
            todo.append(job)
    if finished_only:
        todo = []
    if not cells and not todo:
        raise FileNotFoundError(f'no finished cells of this setup under {out / "models"}')
    if workers == 1:
        for job in todo:
            report(run_panda_cell(job))
    else:
        with spawn_pool(workers) as pool:
            # The longest first (image models, diffusion), so they do not start last.
            cost = {'state': 1, 'image': 10}  # an image step costs about 10 state steps
            ordered = sorted(todo, key=lambda j: -j['steps'] * cost[j['observation']])
            for future in as_completed([pool.submit(run_panda_cell, job) for job in ordered]):
                report(future.result())
    order = {key: i for i, key in enumerate(plan)}
    cells.sort(key=lambda c: order[(c.task, c.observation, c.kind, c.seed)])
    total = time.perf_counter() - start
    write_panda_table(cells, out / 'table.md', train_episodes=train_episodes,
                      eval_episodes=eval_episodes, steps=steps_for, encoder=encoder,
                      seconds=total, collect_seconds=collect_seconds, workers=workers)
    plot_panda_rollouts(cells, out / 'rollouts.png')
    (out / 'cells.json').write_text(json.dumps([_cell_json(c) for c in cells], indent=1))
    return cells


def run_panda_cell(job: dict) -> PandaCell:
    """Train one (task, observation, kind, seed) model, export it, and roll it in the sim."""
    import torch  # lazy: torch only when training
    torch.set_num_threads(1)
    from ..policies.base import TrainConfig  # lazy: torch only when training
    from ..training.pipeline import train_from_bags, TrainRequest  # lazy: torch only when training
    image = job['observation'] == 'image'
    start = time.perf_counter()
    res = train_from_bags(TrainRequest(
        data=(job['session'],), kind=job['kind'], out=job['out'],
        # Image models hold out no validation episodes: their validation passes would cost
        # about a sixth of their training time.
        config=TrainConfig(steps=job['steps'], batch_size=IMAGE_BATCH if image else STATE_BATCH,
                           val_fraction=0.0 if image else 0.1, doubt_ensemble=0),
        options=job['options'], seed=job['seed'], device=job['device'],
        progress=job['progress'], image=image, image_encoder=job['encoder'], features='raw',
        checkpoint=False,
        version=f"{job['task']}-{job['observation']}-{job['kind']}-s{job['seed']}"))
    seconds = time.perf_counter() - start
    policy = OnnxPolicy(res.model, seed=job['seed'], threads=1)
    policy.warmup()
    result = evaluate_panda(policy, job['task'], episodes=job['eval_episodes'],
                            progress=job['progress'],
                            desc=f"eval {job['task']} {job['observation']} {job['kind']}")
    return PandaCell(job['task'], job['observation'], job['kind'], job['seed'], result, seconds,
                     res.parameters, res.samples)


def _key(task: str, observation: str, kind: str, seed: int) -> str:
    return f'{task}/{observation}/{kind}/{seed}'


def _setup(job: dict) -> str:
    """Return what a finished cell must share with this run to be reused (besides its key)."""
    return f"encoder {job['encoder']}, {job['eval_episodes']} evaluation episodes"


def _cell_json(c: PandaCell, with_plot_data: bool = False) -> dict:
    r = c.result
    d = {'key': _key(c.task, c.observation, c.kind, c.seed), 'task': c.task,
         'observation': c.observation, 'kind': c.kind, 'seed': c.seed,
         'success_rate': r.success_rate, 'episodes': r.episodes, 'successes': r.successes,
         'reasons': r.reasons, 'modes': r.modes, 'success_modes': r.success_modes,
         'eval_steps': r.steps, 'eval_seconds': r.seconds, 'train_seconds': c.train_seconds,
         'parameters': c.parameters, 'samples': c.samples,
         'grasps': [[round(a, 2), s] for a, s in r.grasps]}
    if with_plot_data:
        d['paths'] = [[np.round(p, 4).tolist(), s] for p, s in r.paths]
    return d


def _cell_from_json(d: dict) -> PandaCell:
    r = PandaEval(task=d['task'], episodes=d['episodes'], successes=d['successes'],
                  reasons=d['reasons'], modes=d['modes'], success_modes=d['success_modes'],
                  steps=d['eval_steps'], seconds=d['eval_seconds'],
                  paths=[(np.asarray(p), s) for p, s in d.get('paths', [])],
                  grasps=[(a, s) for a, s in d.get('grasps', [])])
    return PandaCell(d['task'], d['observation'], d['kind'], d['seed'], r, d['train_seconds'],
                     d['parameters'], d['samples'])


def _append_partial(out: Path, cell: PandaCell, setup: str, steps: int) -> None:
    """Keep each finished cell (with its plot data) so an interrupted run can resume."""
    (out / 'models').mkdir(parents=True, exist_ok=True)
    with (out / 'models' / PARTIAL).open('a') as fh:
        fh.write(json.dumps({**_cell_json(cell, with_plot_data=True), 'setup': setup,
                             'steps': steps}) + '\n')


def _read_partial(out: Path) -> list[dict]:
    path = out / 'models' / PARTIAL
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def summarize_panda(cells: Sequence[PandaCell], task: str, observation: str,
                    kind: str) -> dict:
    """Return mean, std, per-seed success and the share of each mode over all rollouts."""
    sel = [c for c in cells if (c.task, c.observation, c.kind) == (task, observation, kind)]
    rates = np.array([c.result.success_rate for c in sel])
    eps = max(1, sum(c.result.episodes for c in sel))
    a, b = MODES[task]
    count = Counter()
    won = Counter()
    for c in sel:
        count.update(c.result.modes)
        won.update(c.result.success_modes)
    return {'mean': float(rates.mean()) if len(rates) else float('nan'),
            'std': float(rates.std()) if len(rates) else float('nan'),
            'seeds': [round(float(r), 2) for r in rates],
            a: count[a] / eps, b: count[b] / eps, 'none': count['none'] / eps,
            f'{a}_success': won[a] / eps, f'{b}_success': won[b] / eps}


def _fmt(s: dict) -> str:
    return f"{s['mean']:.2f} ± {s['std']:.2f} ({', '.join(map(str, s['seeds']))})"


def write_panda_table(cells: Sequence[PandaCell], path: Path, *, train_episodes: int,
                      eval_episodes: int, steps: dict, encoder: str, seconds: float,
                      collect_seconds: float, workers: int) -> Path:
    """Write the markdown tables: per task, every kind with state and with image observations."""
    kinds = list(dict.fromkeys(c.kind for c in cells))
    tasks = list(dict.fromkeys(c.task for c in cells))
    observations = list(dict.fromkeys(c.observation for c in cells))
    seeds = sorted({c.seed for c in cells})
    per_model = Counter((c.task, c.observation, c.kind) for c in cells)
    seed_text = (f'{len(seeds)} training seeds' if set(per_model.values()) == {len(seeds)}
                 else f'training seeds {", ".join(map(str, seeds))}, not all of them for every '
                 'model (per-seed values in brackets)')
    per_kind = '; '.join(
        f"{obs} (batch {STATE_BATCH if obs == 'state' else IMAGE_BATCH}) "
        + ', '.join(f'{k} {steps[obs][k]}' for k in kinds) for obs in observations)
    train_s = sum(c.train_seconds for c in cells)
    eval_s = sum(c.result.seconds for c in cells)
    lines = [f'Training data: {train_episodes} multi-demonstrator episodes per task (camera '
             f'frame every control step, 96x96); gradient steps: {per_kind} (no doubt '
             f'ensemble; image models without a validation split); image encoder {encoder}; '
             f'{seed_text}; {eval_episodes} evaluation episodes per model in the '
             'MuJoCo sim through ONNX Runtime (the same tasks for every model; finger gap '
             'commands snapped to open or closed).', '']
    for task in tasks:
        a, b = MODES[task]
        lines += [f'**{task}**', '',
                  f'| policy | observation | success | {a} / {b} / neither (all rollouts) | '
                  f'successful {a} / {b} |', '|---|---|---|---|---|']
        for kind in kinds:
            for obs in observations:
                s = summarize_panda(cells, task, obs, kind)
                lines.append(f"| {kind} | {obs} | {_fmt(s)} | {s[a]:.2f} / {s[b]:.2f} / "
                             f"{s['none']:.2f} | {s[a + '_success']:.2f} / "
                             f"{s[b + '_success']:.2f} |")
        lines.append('')
    lines += ['mean ± standard deviation over training seeds (per-seed values in brackets); '
              'modes as fractions of all rollouts of the kind, measured on the trajectory '
              '(reach: the side the tool passed the pole; pick: the pair of faces the fingers '
              'closed on; neither: never beside the pole / never closed).', '',
              f'Time: {seconds / 60:.1f} min in all with {workers} worker process(es) '
              f'(data collection {collect_seconds / 60:.1f} min; summed over cells: training '
              f'{train_s / 60:.1f} min, evaluation {eval_s / 60:.1f} min).']
    path.write_text('\n'.join(lines) + '\n')
    return path


def plot_panda_rollouts(cells: Sequence[PandaCell], path: Path) -> Path:
    """
    Draw the modes per model (seed 0 of each).

    Reach: tool paths seen from above relative to the pole. Pick: the wrist's
    yaw relative to the cube's when the fingers closed (0 deg straight, +-90
    turned; the mean of the two modes is 45 deg).
    """
    import matplotlib  # lazy: matplotlib only when plotting
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt  # lazy: matplotlib only when plotting
    kinds = list(dict.fromkeys(c.kind for c in cells))
    rows = [(t, o) for t in dict.fromkeys(c.task for c in cells)
            for o in dict.fromkeys(c.observation for c in cells)]
    fig, axes = plt.subplots(len(rows), len(kinds), figsize=(3.0 * len(kinds), 2.6 * len(rows)),
                             dpi=100, squeeze=False)
    for r, (task, obs) in enumerate(rows):
        for k, kind in enumerate(kinds):
            ax = axes[r][k]
            sel = [c for c in cells if (c.task, c.observation, c.kind) == (task, obs, kind)]
            s = summarize_panda(cells, task, obs, kind)
            ax.set_title(f'{task} {obs} {kind}: {s["mean"]:.2f}', fontsize=9)
            ax.tick_params(labelsize=7)
            if not sel:
                continue
            cell = min(sel, key=lambda c: c.seed)
            if task == 'reach':
                for p, success in cell.result.paths:
                    ax.plot(p[:, 1], p[:, 0], color='tab:green' if success else 'tab:red',
                            alpha=0.45, lw=1)
                ax.add_patch(plt.Circle((0, 0), 0.04, color='0.3', alpha=0.6))
                ax.set_xlim(0.3, -0.3)  # +y (left) drawn on the left, as seen from behind
                ax.set_ylim(-0.25, 0.25)
                ax.set_aspect('equal')
                ax.set_xlabel('y rel. pole (m)', fontsize=7)
                ax.set_ylabel('x rel. pole (m)', fontsize=7)
            else:
                bins = np.linspace(-90, 90, 37)
                ok = [a for a, s_ in cell.result.grasps if s_]
                bad = [a for a, s_ in cell.result.grasps if not s_]
                ax.hist([ok, bad], bins=bins, stacked=True, color=['tab:green', 'tab:red'])
                ax.set_xlim(-90, 90)
                ax.set_xlabel('wrist yaw - cube yaw at grasp (deg)', fontsize=7)
    fig.suptitle('seed 0 of each model; green: success, red: failure (reach: tool paths from '
                 'above around the pole; pick: grasp angle, 0 straight, ±90 turned)', fontsize=9)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
