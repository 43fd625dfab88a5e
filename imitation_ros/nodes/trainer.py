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
The ``trainer`` node: aggregate bags, retrain in a child process, publish the new model.

It watches ``data_dir``; when at least ``min_new_samples`` new human-labelled
samples (HG-DAgger takeover steps, DAgger expert labels) have arrived since the
last training, or on ``~/train`` (std_srvs/Trigger), it runs ``imitation-ros
train`` in a child process on all the data (base demonstrations plus
corrections), writes a new versioned ``.onnx`` into ``models_dir`` (in one
step: no half file, and no temporary file left by a killed export; stale ones
of dead writers are swept at start-up and before each job), validates it with
ONNX Runtime, lists it with its SHA-256 in ``models_dir/manifest.json`` (the
policy node loads only listed models from its allowed directories), and only
then publishes its path on ``imitation/model`` (transient local, so a policy
node that starts later still gets it). The child dies with this node, even
one killed with SIGKILL (:func:`~imitation_ros.training.jobs.guard_parent`),
and never writes a model once the node is gone. With ``warm_start`` each version after the
first this node trains fine-tunes the previous one's weights (its ``NAME.pt``
checkpoint) for ``warm_start_steps`` instead of training ``train_steps`` from
scratch; a failed training drops the checkpoint, so the next starts fresh.
With ``nproc`` > 1 the child trains in that many processes
(DistributedDataParallel under torchrun, ``imitation-ros train --nproc``); the
model appears only when all of them succeeded, and the same rules hold.
With ``mode`` ``rl`` each job is an RL fine-tuning run instead (``imitation-ros
finetune --rl`` from the bags, ``rl_updates`` gradient steps): it starts from
``init_checkpoint`` (the deployed BC model's ``NAME.pt``), or with ``warm_start``
from the previous version it fine-tuned, with the demonstrations and the
takeovers as prior data and the policy's gate-decided steps as the rest
(docs/rl.md); its model is validated, listed and published exactly as a BC
retraining's.
Progress and failures go to
``imitation/trainer_status`` (String JSON) and ``/diagnostics``; a failed
training publishes nothing on ``imitation/model``. The executor never blocks:
the child is polled from a timer.
"""

from __future__ import annotations

from dataclasses import dataclass
import json
from pathlib import Path
import sys
from typing import Any, Optional

from diagnostic_msgs.msg import DiagnosticArray
from rclpy.node import Node
from std_msgs.msg import String
from std_srvs.srv import Trigger

from ..errors import ConfigError, ImitationError
from ..interface import topics
from ..runtime.atomic import sweep_stale_temps
from ..training.jobs import (checkpoint_path, JobResult, JobSpec, LabelCounter,
                             next_model_path, TrainingJob)
from .conversions import (DIAG_ERROR, DIAG_OK, DIAG_WARN, diagnostic_array,
                          diagnostic_status)
from .params import check_params, declare_and_read, param
from .qos import DIAGNOSTICS_QOS, EPISODE_LIVE_QOS, MODEL_QOS
from .spin import spin_node


@dataclass(frozen=True)
class TrainerParams:
    """Parameters of ``trainer`` (see config/trainer.yaml)."""

    data_dir: str = param('data', 'Folder of episode bags (base demonstrations and corrections)')
    models_dir: str = param('models', 'Folder the versioned models are written to and listed '
                            "in (its manifest.json); the policy node's model_dirs must hold it")
    model_prefix: str = param('policy', 'Model file names are PREFIX_vNNN.onnx')
    policy: str = param('gmm', 'Policy kind to train', choices=('mse', 'gmm', 'ar', 'diffusion'))
    train_steps: int = param(2000, 'Gradient steps per training', unit='steps', minimum=1,
                             maximum=10_000_000)
    min_new_samples: int = param(200, 'Retrain once this many new human-labelled samples exist',
                                 unit='samples', minimum=1, maximum=10_000_000)
    check_period_s: float = param(1.0, 'How often the data folder and a running job are '
                                  'checked', unit='s', minimum=0.05, maximum=3600.0)
    correction_weight: float = param(2.0, 'Sampling weight of a correction sample relative to '
                                     'a demonstration sample', minimum=0.01, maximum=1000.0)
    seed: int = param(0, 'Training seed (incremented per version)', minimum=0,
                      maximum=2 ** 31 - 1)
    device: str = param('cpu', 'Training device', choices=('cpu', 'cuda'))
    val_fraction: float = param(0.0, 'Fraction of episodes held out for the validation loss '
                                '(0: train on every labelled sample)', minimum=0.0,
                                maximum=0.5)
    features: str = param('planar-fk', 'Observation features', choices=('planar-fk', 'raw'))
    options_json: str = param('{}', 'Kind-specific options as a JSON object, e.g. '
                              '{"components": 5}')
    train_on_start: bool = param(False, 'Train once at start-up if demonstrations exist')
    warm_start: bool = param(True, 'Fine-tune each new version from the previous version this '
                             'node trained (its NAME.pt checkpoint) instead of from scratch')
    max_command_step: float = param(0.1, 'Samples whose executed command is farther than this '
                                    'from their joint state on any joint are dropped as '
                                    "misaligned (the gate's max_joint_step); 0 keeps all",
                                    unit='rad', minimum=0.0, maximum=100.0)
    init_checkpoint: str = param('', "Checkpoint (NAME.pt) the first training warm starts from, "
                                 "e.g. the deployed model's; '' starts from scratch")
    warm_start_steps: int = param(300, 'Gradient steps of a warm-started training',
                                  unit='steps', minimum=1, maximum=10_000_000)
    nproc: int = param(1, 'Training processes (DistributedDataParallel under torchrun when '
                       '> 1; with device cuda one GPU each)', unit='processes', minimum=1,
                       maximum=1024)
    training_niceness: int = param(10, 'Niceness the training child adds to its own: the '
                                   'control loop on the same computer gets the CPU first '
                                   '(0: same priority as this node)', minimum=0, maximum=19)
    training_threads: int = param(1, 'Torch threads per training process (0: one per core)',
                                  unit='threads', minimum=0, maximum=1024)
    mode: str = param('train', "What a job runs: 'train' (behavior cloning on all the data) or "
                      "'rl' (RL fine-tuning from the bags, starting from init_checkpoint)",
                      choices=('train', 'rl'))
    rl_updates: int = param(5000, 'Gradient steps of an rl job (the first 3000 train the '
                            'critic alone)', unit='steps', minimum=1, maximum=10_000_000)

    def __post_init__(self) -> None:
        check_params(self)
        if self.mode == 'rl' and (not self.init_checkpoint or self.nproc != 1
                                  or self.max_command_step <= 0):
            raise ConfigError("mode 'rl' fine-tunes the deployed model: give init_checkpoint "
                              "(its NAME.pt), nproc 1 and max_command_step > 0 (the gate's "
                              'max_joint_step)')
        try:
            options = json.loads(self.options_json)
        except json.JSONDecodeError as exc:
            raise ConfigError(f'options_json is not JSON ({exc}); write e.g. {{"components": 5}}')
        if not isinstance(options, dict):
            raise ConfigError('options_json must be a JSON object, e.g. {"components": 5}')
        if self.init_checkpoint and not Path(self.init_checkpoint).is_file():
            raise ConfigError(f'init_checkpoint {self.init_checkpoint!r} is not a file; give '
                              "the NAME.pt written next to a model, or '' to start from scratch")

    def options(self) -> tuple[str, ...]:
        """Return the options as KEY=VALUE strings for the train command."""
        return tuple(f'{k}={json.dumps(v)}' for k, v in json.loads(self.options_json).items())


class TrainerNode(Node):
    """Watches data, retrains in a child process, publishes validated models."""

    def __init__(self, **kwargs: Any) -> None:
        """Declare parameters, publishers, the ~/train service and the check timer."""
        super().__init__('trainer', **kwargs)
        self.params = declare_and_read(self, TrainerParams)
        p = self.params
        self._counter = LabelCounter([Path(p.data_dir)])
        self._trained_on = -1
        self._job: Optional[TrainingJob] = None
        self._last: Optional[JobResult] = None
        self._requested = p.train_on_start
        self._versions = 0
        # Checkpoint of the last version this node trained: the next one starts from it.
        self._checkpoint: Optional[Path] = (Path(p.init_checkpoint) if p.init_checkpoint
                                            else None)
        self._model_pub = self.create_publisher(String, topics.MODEL.name, MODEL_QOS)
        self._status_pub = self.create_publisher(String, topics.TRAINER_STATUS.name, 10)
        self._diag_pub = self.create_publisher(DiagnosticArray, topics.DIAGNOSTICS.name,
                                               DIAGNOSTICS_QOS)
        self.create_subscription(String, topics.EPISODE.name, self._on_episode, EPISODE_LIVE_QOS)
        self.create_service(Trigger, '~/train', self._on_train)
        self.create_timer(p.check_period_s, self._check)
        self.create_timer(1.0, self._diagnostics)
        # A trainer killed while exporting (on a file system without O_TMPFILE) leaves a
        # hidden temporary file; nothing else may remove it.
        for stale in sweep_stale_temps(Path(p.models_dir)):
            self.get_logger().info(f'removed the stale temporary file {stale}')
        counts = self._counter.count()
        self._trained_on = counts.correction_steps
        self._status('idle', f'{counts.episodes} episodes, {counts.correction_steps} '
                     'human-labelled samples')

    # ------------------------------------------------------------------ callbacks
    def _on_episode(self, msg: String) -> None:
        # An end event means a bag is about to be closed: check soon, not every event.
        try:
            event = json.loads(msg.data)
        except json.JSONDecodeError:
            return
        if isinstance(event, dict) and event.get('event') == 'end':
            self._check()

    def _on_train(self, request: Trigger.Request, response: Trigger.Response) -> Any:
        self.get_logger().info('~/train requested')
        if self._job is not None:
            response.success = False
            response.message = f'already training {self._job.spec.version}'
            return response
        self._requested = True
        response.success = True
        response.message = 'training requested'
        self._check()
        return response

    def _check(self) -> None:
        try:
            if self._job is not None:
                self._poll_job()
                return
            counts = self._counter.count()
            new = counts.correction_steps - self._trained_on
            if counts.episodes == 0:
                if self._requested:
                    self._status('failed', f'no episode bags under {self.params.data_dir}')
                    self._requested = False
                return
            if self._requested or new >= self.params.min_new_samples:
                self._start(counts.correction_steps, new)
        except ImitationError as exc:
            self._status('failed', str(exc))
            self.get_logger().error(f'trainer: {exc}', throttle_duration_sec=5.0)
        except Exception as exc:  # noqa: BLE001 - a callback never raises: report, go on
            # e.g. a bag renamed by the recorder while the folder is being scanned
            self.get_logger().error(f'trainer check failed: {type(exc).__name__}: {exc}',
                                    throttle_duration_sec=5.0)

    # ------------------------------------------------------------------ jobs
    def _start(self, corrections: int, new: int) -> None:
        p = self.params
        out, version = next_model_path(Path(p.models_dir), p.model_prefix)
        init = (self._checkpoint if p.warm_start and self._checkpoint is not None
                and self._checkpoint.is_file() else None)
        steps = p.warm_start_steps if init is not None else p.train_steps
        if p.mode == 'rl':
            # RL always fine-tunes: the last version's checkpoint, else the deployed model's.
            init, steps = init or Path(p.init_checkpoint), p.rl_updates
        spec = JobSpec(data=(Path(p.data_dir),), out=out, version=version, policy=p.policy,
                       steps=steps, seed=p.seed + self._versions,
                       correction_weight=p.correction_weight, features=p.features,
                       device=p.device, options=p.options(), val_fraction=p.val_fraction,
                       max_command_step=p.max_command_step, init_from=init, nproc=p.nproc,
                       niceness=p.training_niceness, threads=p.training_threads,
                       mode=p.mode)
        self._job = TrainingJob(spec)
        self._requested = False
        self._trained_on = corrections
        start = f'warm start from {init.name}' if init is not None else 'from scratch'
        if p.mode == 'rl':
            start = f'RL fine-tuning of {init.name}'
        self._status('training', f'{version}: {new} new human-labelled samples ({start})',
                     version=version, warm_start=init is not None, mode=p.mode)
        kind = 'the checkpoint\'s kind' if p.mode == 'rl' else p.policy
        self.get_logger().info(f'training {version} ({kind}, {steps} steps, {start}) '
                               f'-> {out}')

    def _poll_job(self) -> None:
        assert self._job is not None
        result = self._job.poll()
        if result is None:
            self._status('training', f'{self._job.elapsed:.0f} s', version=self._job.spec.version)
            return
        self._job = None
        self._last = result
        self._versions += 1
        if not result.ok:
            # The next training starts from scratch: the checkpoint may be what failed.
            self._checkpoint = None
            self._status('failed', result.message, version=result.spec.version)
            self.get_logger().error(f'training {result.spec.version} failed: {result.message}')
            return
        checkpoint = checkpoint_path(result.spec.out)
        self._checkpoint = checkpoint if checkpoint.is_file() else None
        path = str(result.spec.out.resolve())
        self._model_pub.publish(String(data=path))
        self._status('done', result.message, version=result.spec.version, path=path,
                     seconds=round(result.seconds, 1))
        self.get_logger().info(f'published {result.spec.version}: {path} '
                               f'({result.seconds:.0f} s)')

    def _status(self, state: str, message: str, **extra: Any) -> None:
        self._state = state
        self._message = message
        self._status_pub.publish(String(data=json.dumps(
            {'state': state, 'message': message, **extra})))

    def _diagnostics(self) -> None:
        level = {'failed': DIAG_ERROR, 'training': DIAG_OK}.get(self._state, DIAG_OK)
        if self._last is not None and not self._last.ok and self._state == 'failed':
            level = DIAG_ERROR
        elif self._state == 'failed':
            level = DIAG_WARN
        self._diag_pub.publish(diagnostic_array([diagnostic_status(
            'trainer: retraining', level, f'{self._state}: {self._message}',
            {'versions_trained': self._versions, 'policy': self.params.policy,
             'data_dir': self.params.data_dir, 'models_dir': self.params.models_dir})],
            stamp=self.get_clock().now().to_msg()))

    def destroy_node(self) -> None:
        """Stop a running child process, then destroy the node."""
        if self._job is not None:
            self._job.cancel()
        super().destroy_node()


def main(args: Optional[list[str]] = None) -> int:
    """Run the trainer node until SIGINT / SIGTERM (its training child stops with it)."""
    return spin_node(TrainerNode, 'trainer', args)


if __name__ == '__main__':
    sys.exit(main())
