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
The ``diffusion`` kind: DDPM over action chunks, DDIM at run time (version 1).

``config`` (options), ``schedule`` (the noise schedule and the DDIM step) and
``runtime`` (numpy: initial noise, the DDIM loop of the denoiser export) are
imported here; the torch model is
:class:`imitation_ros.policies.diffusion.model.DiffusionPolicy`.
"""

from .config import DiffusionConfig
from .runtime import DiffusionRuntime
from .schedule import cosine_alphas_cumprod, ddim_schedule, ddim_step, ddim_timesteps

__all__ = ['cosine_alphas_cumprod', 'ddim_schedule', 'ddim_step', 'ddim_timesteps',
           'DiffusionConfig', 'DiffusionRuntime']
