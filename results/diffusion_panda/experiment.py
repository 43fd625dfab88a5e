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
Diffusion on the Panda reach task: which setting makes it fail (docs/panda.md).

Run from the repository root after collecting the study's reach data:
  imitation-ros collect --robot panda --task reach --expert multi --episodes 200 \
      --camera-every 0 --seed 100 --out /tmp/h17/data --session reach_multi
  python results/diffusion_panda/experiment.py base|perpos|h1|h4 10000 50
Each line of results.jsonl is one (model, run-time setting): success over the study's 50
evaluation tasks (seeds 50000 + i), the torch model behind OnnxPolicy's act/reset.
"""
import json, sys, time
from dataclasses import replace
import numpy as np
import torch
torch.set_num_threads(1)
from imitation_ros.data import aggregate
from imitation_ros.data.dataset import load_dataset
from imitation_ros.policies.base import TrainConfig
from imitation_ros.training import trainer as T
from imitation_ros.training.pipeline import bag_task_layout
from imitation_ros.studies.expressivity_panda import evaluate_panda

OUT = '/tmp/h17/diff/results.jsonl'
data = load_dataset(['/tmp/h17/data/reach_multi'])
s = aggregate(data)
layout = bag_task_layout(data.episodes, s.task.shape[1])


class TorchChunkPolicy:
    """The trained torch policy behind OnnxPolicy's act/reset (receding horizon)."""

    def __init__(self, policy, execute, seed=0):
        self.p = policy.eval()
        self.execute = execute
        self.rng = np.random.default_rng(seed)
        self.queue = []
        self.joint_names = policy.spec.joint_names
        self.needs_image = False
        self.image_shape = None

    def reset(self):
        self.queue = []

    def act(self, state, task, image=None):
        if not self.queue:
            st = torch.as_tensor(state, dtype=torch.float32)[None]
            tk = torch.as_tensor(task, dtype=torch.float32)[None]
            H, n = self.p.horizon, self.p.spec.n_joints
            noise = torch.as_tensor(self.rng.standard_normal((1, H, n)), dtype=torch.float32)
            with torch.no_grad():
                z = self.p.sample(st, tk, noise)
                chunk = self.p.scaler.denormalize(z, st)[0].numpy().astype(np.float64)
            self.queue = list(chunk[:self.execute])
        return self.queue.pop(0)


def train(name, horizon, steps, per_position=False):
    tset = T.build_training_set(s.state, s.task, s.action, s.episode, s.step, horizon=horizon)
    spec = T.fit_spec(tset, data.joint_names, layout)
    orig = T.make_policy

    def make(kind, spec_, options):
        p = orig(kind, spec_, options)
        if per_position:
            rel = tset.actions - tset.state[:, None, :]
            std = rel.std(0)
            std = np.where(std < 1e-6, 1.0, std)
            p.scaler.mean = torch.tensor(rel.mean(0), dtype=torch.float32)
            p.scaler.std = torch.tensor(std, dtype=torch.float32)
        return p

    T.make_policy = make
    t0 = time.time()
    try:
        policy, hist = T.train_policy('diffusion', tset, spec,
                                      TrainConfig(steps=steps, batch_size=256, val_fraction=0.1,
                                                  doubt_ensemble=0),
                                      options={'horizon': horizon, 'execute': min(4, horizon)},
                                      seed=0, progress=False)
    finally:
        T.make_policy = orig
    secs = time.time() - t0
    return policy, hist, secs


def evaluate(name, policy, execute, train_s, hist, episodes, sample_steps=None):
    if sample_steps is not None:
        policy.config = replace(policy.config, sample_steps=sample_steps)
    t0 = time.time()
    res = evaluate_panda(TorchChunkPolicy(policy, execute), 'reach', episodes=episodes)
    row = {'variant': name, 'horizon': policy.horizon, 'execute': execute,
           'sample_steps': policy.config.sample_steps, 'success': res.success_rate,
           'reasons': res.reasons, 'modes': res.modes, 'train_s': round(train_s, 1),
           'eval_s': round(time.time() - t0, 1),
           'final_train_loss': hist.train_loss[-1] if hist.train_loss else None,
           'final_val_loss': hist.val_loss[-1] if hist.val_loss else None}
    print(json.dumps(row), flush=True)
    with open(OUT, 'a') as f:
        f.write(json.dumps(row) + '\n')


which = sys.argv[1]
steps = int(sys.argv[2])
episodes = int(sys.argv[3])
if which == 'base':
    p, h, t = train('base', 8, steps)
    torch.save(p, f'/tmp/h17/diff/base_{steps}.pt')
    evaluate(f'H8 pooled norm {steps} steps', p, 4, t, h, episodes)
    evaluate(f'H8 pooled norm {steps} steps', p, 1, t, h, episodes)
    evaluate(f'H8 pooled norm {steps} steps', p, 4, t, h, episodes, sample_steps=50)
elif which == 'perpos':
    p, h, t = train('perpos', 8, steps, per_position=True)
    evaluate(f'H8 per-position norm {steps} steps', p, 4, t, h, episodes)
    evaluate(f'H8 per-position norm {steps} steps', p, 1, t, h, episodes)
elif which == 'h1':
    p, h, t = train('h1', 1, steps)
    evaluate(f'H1 {steps} steps', p, 1, t, h, episodes)
elif which == 'h4':
    p, h, t = train('h4', 4, steps)
    evaluate(f'H4 {steps} steps', p, 2, t, h, episodes)
    evaluate(f'H4 {steps} steps', p, 4, t, h, episodes)
