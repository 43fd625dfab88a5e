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
Assemble docs/results.md from the studies' prose and their results/ tables.

Each study is one :class:`Study` entry in :data:`STUDIES`. Its prose lives in
``docs/results/<name>.md.in`` (a default heading, command and table when there is
none); a line ``{{table NAME}}`` is replaced by ``results/NAME/table.md``, and every
relative image link must name a file that exists. Standard library
only, so it runs without torch.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
import re
from typing import Optional, Sequence, Tuple

from ..errors import DataError

#: Where the generated file goes and where its templates live, relative to the checkout.
OUTPUT = Path('docs/results.md')
TEMPLATES = Path('docs/results')
RESULTS = Path('results')

_TABLE = re.compile(r'^\{\{table ([A-Za-z0-9_.-]+)\}\}$')
_IMAGE = re.compile(r'!\[[^\]]*\]\(([^)\s:]+)\)')


@dataclass(frozen=True)
class Study:
    """
    One section of docs/results.md.

    ``name`` is the folder under results/ (and the template's name); ``title`` and
    ``command`` make the default section when ``docs/results/<name>.md.in`` is absent.
    """

    name: str
    title: str = ''
    command: str = ''


#: The sections in order. Adding a study: one entry here (and, for prose, a template).
STUDIES: Tuple[Study, ...] = (
    Study('expressivity'),
    Study('demo'),
    Study('dagger'),
    Study('dagger_noisy_demos'),
    Study('help'),
    Study('help_risk'),
    Study('help_risk_steps400', 'Risk beside novelty, a less confident risk model (400 steps)',
          'imitation-ros benchmark help-risk --risk-steps 400 --out results/help_risk_steps400'),
    Study('robot_gated'),
    Study('fleet'),
    Study('latency'),
    Study('data'),
    Study('kinematics', 'The teleop tick\'s kinematics (Pinocchio)',
          'imitation-ros benchmark kinematics'),
    Study('loop', 'Observation to command over DDS', 'imitation-ros benchmark loop'),
    Study('loop_quiet', 'Observation to command over DDS, a quiet machine',
          'imitation-ros benchmark loop --out results/loop_quiet'),
    Study('recorder', 'Recorder throughput', 'imitation-ros benchmark recorder'),
    Study('recorder_depth10', 'Recorder throughput, publishers keeping 10 messages (the ROS '
          'default) for comparison',
          'imitation-ros benchmark recorder --publisher-depth 10 --loads full,big_30,big_100 '
          '--out results/recorder_depth10'),
    Study('recorder_depth1000', 'Recorder throughput, publishers keeping 1000 messages',
          'imitation-ros benchmark recorder --publisher-depth 1000 '
          '--out results/recorder_depth1000'),
    Study('recorder_variants_depth1000', 'Recorder variants, the end wait closing after '
          '0.3 s quiet',
          'imitation-ros benchmark recorder --publisher-depth 1000 --loads full \\\n'
          '    --variants inline,thread,end_wait,default \\\n'
          '    --out results/recorder_variants_depth1000'),
    Study('recorder_end_wait', 'Recorder at the full load, end wait past the heartbeat',
          'imitation-ros benchmark recorder --publisher-depth 1000 --loads full \\\n'
          '    --variants thread,default --out results/recorder_end_wait'),
    Study('turnaround', 'Retrain turnaround: a new bag to the new model live',
          'imitation-ros benchmark turnaround --rounds 2 --out results/turnaround'),
    Study('turnaround_quiet', 'Retrain turnaround on a quiet machine',
          'imitation-ros benchmark turnaround --rounds 2 --out results/turnaround_quiet'),
    Study('sizes', 'Latency at deployed sizes', 'imitation-ros benchmark sizes --calls 50'),
    Study('soak', 'Thirty minutes with faults', 'imitation-ros soak --minutes 30 '
          '--out results/soak'),
    Study('scale', 'Training in several processes',
          'imitation-ros benchmark scale --work /tmp/scale --out results/scale \\\n'
          '    --episodes 60 --steps 500 --repeats 3 --eval-episodes 100'),
    Study('scale_rerun', 'Training in several processes, a second run',
          'imitation-ros benchmark scale --work /tmp/scale --out results/scale_rerun \\\n'
          '    --episodes 60 --steps 500 --repeats 2 --eval-episodes 100 --no-faults'),
    Study('rl', 'BC then RL fine-tuning', 'imitation-ros benchmark rl'),
    Study('expressivity_panda', 'Expressivity on the Panda, state models',
          'imitation-ros benchmark expressivity --robot panda --observations state --seeds 3 '
          '\\\n    --eval-episodes 50 --steps mse=3000 --steps gmm=3000 --steps ar=3000 '
          '--steps diffusion=10000'),
    Study('expressivity_panda_image', 'Expressivity on the Panda, image models, reach',
          'imitation-ros benchmark expressivity --robot panda --observations image --tasks '
          'reach \\\n    --seeds 1 --eval-episodes 50 --image-steps mse=1000 --image-steps '
          'gmm=1000 \\\n    --image-steps ar=1000 --image-steps diffusion=2000 '
          '--out results/expressivity_panda_image'),
    Study('expressivity_panda_image_pick', 'Expressivity on the Panda, image models, pick',
          'imitation-ros benchmark expressivity --robot panda --observations image --tasks '
          'pick \\\n    --seeds 1 --eval-episodes 50 --image-steps mse=1000 --image-steps '
          'gmm=1000 \\\n    --image-steps ar=1000 --image-steps diffusion=2000 '
          '--out results/expressivity_panda_image_pick'),
    Study('vision', 'Image encoders', 'imitation-ros benchmark vision'),
)

HEADER = ('<!-- Generated by `imitation-ros report` from results/*/table.md and '
          'docs/results/*.md.in: edit those and run it again. -->\n\n'
          '# Results: the lecture\'s claims, measured\n\n'
          'Each section names the command that measured it; its tables are the '
          '`table.md` that command wrote under `results/`.\n')


def default_template(study: Study) -> str:
    """Return the section of a study without a template: heading, command, table."""
    title = study.title or study.name
    command = study.command or f'imitation-ros benchmark {study.name} --out results/{study.name}'
    return f'## {title}\n\n```bash\n{command}\n```\n\n{{{{table {study.name}}}}}\n'


def render_section(root: Path, study: Study) -> str:
    """Return one study's section with its tables inserted; raise DataError if one is missing."""
    template_path = root / TEMPLATES / f'{study.name}.md.in'
    text = template_path.read_text() if template_path.is_file() else default_template(study)
    lines = []
    for line in text.splitlines():
        match = _TABLE.match(line.strip())
        if match is None:
            lines.append(line)
            continue
        table = root / RESULTS / match.group(1) / 'table.md'
        if not table.is_file():
            msg = (f'{table} is missing (study {study.name!r}): run the study that writes it, '
                   f'or remove {{{{table {match.group(1)}}}}} from its section')
            raise DataError(msg)
        lines.append(table.read_text().strip('\n'))
    section = '\n'.join(lines).strip('\n') + '\n'
    for image in _IMAGE.findall(section):
        if not (root / OUTPUT.parent / image).is_file():
            msg = (f'{OUTPUT.parent / image} is missing (an image of study {study.name!r}): '
                   'run the study '
                   'that draws it, or drop the link from its section')
            raise DataError(msg)
    return section


def render(root: Path, studies: Sequence[Study] = STUDIES) -> str:
    """Return the whole of docs/results.md for the checkout at ``root``."""
    return '\n'.join([HEADER] + [render_section(root, s) for s in studies])


def write(root: Path, out: Optional[Path] = None) -> Path:
    """Write docs/results.md (or ``out``) and return its path."""
    path = out if out is not None else root / OUTPUT
    path.write_text(render(root))
    return path
