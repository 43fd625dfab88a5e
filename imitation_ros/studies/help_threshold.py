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
Calibrate the help threshold: when the policy's doubt says "ask the human".

From recorded HG-DAgger episodes (the policy drove, the human took over when
needed) the model's doubt is computed offline at every recorded state
(:meth:`~imitation_ros.runtime.onnx_policy.OnnxPolicy.doubt_batch` on the
recorded joint positions and task), and the states under policy control are
split in two:

* **takeover moments**: within ``window_s`` before a takeover starts (the human
  saw trouble there and grabbed the pad) or before an episode that ended in a
  failure without one;
* **autonomous**: every other policy-controlled state farther than
  ``margin_s`` (>= ``window_s``) before any takeover or failed end. States
  between the two distances are left out, so neither set holds the ambiguous
  lead-up to trouble.

The threshold is the ``1 - false_alarm_rate`` quantile of the autonomous
doubts (numpy's 'higher' method: at most that fraction of autonomous states
lies above it), so a help request fires on about that fraction of the states
where the human saw no need to act; the detection rate is the fraction of
takeover moments above it. :func:`write_help_threshold` puts it into a ROS 2
params file (``intervention_gate.ros__parameters.help_threshold``), editing the
line in place so comments survive.

numpy, the data loader and the ONNX runtime only (no torch, no ROS).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
import re
from typing import Optional, Sequence

import numpy as np
import yaml

from ..data.dataset import load_dataset, SOURCE_CODES
from ..errors import ConfigError, DataError
from ..runtime.onnx_policy import OnnxPolicy

#: Default seconds before a takeover whose states count as takeover moments.
DEFAULT_WINDOW_S = 1.0
#: Default seconds before a takeover within which a state is not counted as autonomous.
DEFAULT_MARGIN_S = 2.0
#: Control period assumed when a bag does not record its ``dt`` (s).
DEFAULT_DT = 0.05
#: Node and key the threshold goes under.
GATE_NODE, THRESHOLD_KEY = 'intervention_gate', 'help_threshold'


@dataclass(frozen=True)
class HelpCalibration:
    """A calibrated help threshold and how it separates the recorded states."""

    threshold: float
    """Doubt above which the policy asks for help (the model's doubt units)."""
    target_false_alarm_rate: float
    """The rate asked for: fraction of autonomous states allowed above the threshold."""
    false_alarm_rate: float
    """Measured fraction of autonomous states above the threshold."""
    detection_rate: float
    """Fraction of takeover moments above the threshold (NaN when there are none)."""
    autonomous_states: int
    """Policy-controlled states far from any takeover or failure."""
    takeover_states: int
    """Policy-controlled states within ``window_s`` before a takeover or a failed end."""
    takeovers: int
    """Takeovers (and failed ends without one) in the data."""
    episodes: int
    """Episodes used (hg_dagger episodes with at least one policy-controlled state)."""
    window_s: float
    """Seconds before a takeover that count as takeover moments."""
    margin_s: float
    """Seconds before a takeover excluded from the autonomous states."""
    autonomous_doubt: tuple[float, float, float]
    """Median, 95th percentile and max of the autonomous doubts."""
    takeover_doubt: tuple[float, float, float]
    """Median, 95th percentile and max of the takeover-moment doubts (NaN when none)."""
    model_version: str = ''
    """Version of the model whose doubt was calibrated."""

    def as_dict(self) -> dict:
        """Return the fields as a JSON-friendly dict."""
        return asdict(self)


@dataclass(frozen=True)
class LabelledDoubt:
    """Doubt at recorded states, labelled takeover moment / autonomous / neither."""

    doubt: np.ndarray
    """Doubt per sample, (N,)."""
    takeover: np.ndarray
    """True for takeover moments, (N,) bool."""
    autonomous: np.ndarray
    """True for autonomous states, (N,) bool."""
    events: int
    """Takeovers plus failed ends without a takeover."""
    episodes: int
    """Episodes that contributed samples."""
    risk: Optional[np.ndarray] = None
    """Risk per sample, (N,) probability, when the model has a risk output."""
    episode: Optional[np.ndarray] = None
    """Episode id per sample, (N,)."""
    policy: Optional[np.ndarray] = None
    """True where the policy was in control, (N,) bool."""


def label_states(human: np.ndarray, episode: np.ndarray, step: np.ndarray,
                 failed: np.ndarray, dt: np.ndarray, *, window_s: float = DEFAULT_WINDOW_S,
                 margin_s: float = DEFAULT_MARGIN_S,
                 ) -> tuple[np.ndarray, np.ndarray, int]:
    """
    Label per-step samples as takeover moments or autonomous (see the module docstring).

    :param human: (N,) bool, the human in control at the sample.
    :param episode: (N,) episode id; ``step`` (N,) step within the episode.
    :param failed: (N,) bool, the sample's episode ended in a failure.
    :param dt: (N,) control period of the sample's episode (s).
    :returns: (takeover (N,) bool, autonomous (N,) bool, number of events).
    """
    if not 0 < window_s <= margin_s:
        raise ConfigError(f'need 0 < window_s <= margin_s, got window_s {window_s}, margin_s '
                          f'{margin_s}')
    n = len(human)
    takeover = np.zeros(n, dtype=bool)
    autonomous = np.zeros(n, dtype=bool)
    events = 0
    for ep in np.unique(episode):
        idx = np.flatnonzero(episode == ep)
        idx = idx[np.argsort(step[idx], kind='stable')]
        h = np.asarray(human[idx], dtype=bool)
        t = step[idx].astype(np.float64) * float(dt[idx[0]])
        onsets = [t[i] for i in range(len(h)) if h[i] and (i == 0 or not h[i - 1])]
        if bool(failed[idx[0]]) and len(h) and not h[-1]:
            onsets.append(t[-1] + float(dt[idx[0]]))  # a failure under policy control
        events += len(onsets)
        # Time from each sample to the next event at or after it (inf when none).
        ahead = np.full(len(h), np.inf)
        for onset in onsets:
            lead = onset - t
            ahead = np.where((lead > 0) & (lead < ahead), lead, ahead)
        policy = ~h
        takeover[idx] = policy & (ahead <= window_s + 1e-9)
        autonomous[idx] = policy & (ahead > margin_s + 1e-9)
    return takeover, autonomous, events


def doubt_at_recorded_states(model: OnnxPolicy, data: Sequence[Path | str], *,
                             window_s: float = DEFAULT_WINDOW_S,
                             margin_s: float = DEFAULT_MARGIN_S,
                             batch: int = 4096) -> LabelledDoubt:
    """
    Load the hg_dagger episodes under ``data``, compute ``model``'s doubt, label the states.

    :raises DataError: no hg_dagger episode with policy-controlled states.
    :raises ModelError: the model has no doubt output.
    """
    if not model.has_doubt:
        model.doubt_batch(np.zeros((1, len(model.joint_names))),
                          np.zeros((1, len(model.task_layout))))  # raises, saying how to fix
    if model.needs_image:
        raise ConfigError(f'{model.path} needs camera images; calibrating image policies '
                          'from bags is not supported yet')
    dataset = load_dataset(list(data))
    keep = dataset.source == SOURCE_CODES['hg_dagger']
    if not keep.any():
        raise DataError(f'no hg_dagger episodes under {", ".join(str(d) for d in data)}; '
                        'calibrate on episodes where the policy drove and a human (or '
                        'sim_human) could take over')
    ds = dataset.subset(keep)
    infos = ds.episodes
    failed = np.array([not infos[e].success for e in ds.episode_id])
    dts = np.array([_episode_dt(infos[e].custom_data) for e in range(len(infos))])
    takeover, autonomous, events = label_states(
        ds.human, ds.episode_id, ds.step, failed, dts[ds.episode_id],
        window_s=window_s, margin_s=margin_s)
    if ds.task.shape[1] != len(model.task_layout):
        raise DataError(f'the bags hold task vectors of length {ds.task.shape[1]} but model '
                        f'{model.version} expects {len(model.task_layout)}')
    doubt = np.empty(len(ds))
    risk = np.empty(len(ds)) if model.has_risk else None
    for start in range(0, len(ds), batch):
        sl = slice(start, start + batch)
        doubt[sl] = model.doubt_batch(ds.positions[sl], ds.task[sl])
        if risk is not None:
            risk[sl] = model.risk_batch(ds.positions[sl], ds.task[sl])
    used = np.unique(ds.episode_id[~ds.human]).size
    return LabelledDoubt(doubt=doubt, takeover=takeover, autonomous=autonomous, events=events,
                         episodes=int(used), risk=risk, episode=np.asarray(ds.episode_id),
                         policy=~np.asarray(ds.human, dtype=bool))


def _episode_dt(custom: dict) -> float:
    try:
        dt = float(custom.get('dt', DEFAULT_DT))
    except (TypeError, ValueError):
        return DEFAULT_DT
    return dt if np.isfinite(dt) and dt > 0 else DEFAULT_DT


def _summary(x: np.ndarray) -> tuple[float, float, float]:
    if len(x) == 0:
        return (float('nan'),) * 3
    return (float(np.median(x)), float(np.percentile(x, 95)), float(np.max(x)))


def choose_threshold(labelled: LabelledDoubt, false_alarm_rate: float, *,
                     window_s: float = DEFAULT_WINDOW_S, margin_s: float = DEFAULT_MARGIN_S,
                     model_version: str = '') -> HelpCalibration:
    """Pick the threshold for ``false_alarm_rate`` on the autonomous states (module docstring)."""
    if not 0.0 < false_alarm_rate < 1.0:
        raise ConfigError(f'--false-alarm-rate must be in (0, 1), e.g. 0.05; got '
                          f'{false_alarm_rate}')
    auto = labelled.doubt[labelled.autonomous]
    moments = labelled.doubt[labelled.takeover]
    if len(auto) == 0:
        raise DataError('no autonomous states (policy in control, far from any takeover) in '
                        'the data; record more hg_dagger episodes')
    threshold = float(np.quantile(auto, 1.0 - false_alarm_rate, method='higher'))
    return HelpCalibration(
        threshold=threshold, target_false_alarm_rate=float(false_alarm_rate),
        false_alarm_rate=float(np.mean(auto > threshold)),
        detection_rate=float(np.mean(moments > threshold)) if len(moments) else float('nan'),
        autonomous_states=int(len(auto)), takeover_states=int(len(moments)),
        takeovers=int(labelled.events), episodes=int(labelled.episodes),
        window_s=float(window_s), margin_s=float(margin_s),
        autonomous_doubt=_summary(auto), takeover_doubt=_summary(moments),
        model_version=model_version)


def calibrate_help(model: Path | str | OnnxPolicy, data: Sequence[Path | str], *,
                   false_alarm_rate: float = 0.05, window_s: float = DEFAULT_WINDOW_S,
                   margin_s: float = DEFAULT_MARGIN_S) -> HelpCalibration:
    """Calibrate the help threshold of ``model`` on the hg_dagger bags under ``data``."""
    policy = model if isinstance(model, OnnxPolicy) else OnnxPolicy(model)
    labelled = doubt_at_recorded_states(policy, data, window_s=window_s, margin_s=margin_s)
    return choose_threshold(labelled, false_alarm_rate, window_s=window_s, margin_s=margin_s,
                            model_version=policy.version)


def format_yaml_float(value: float) -> str:
    """Write ``value`` as a YAML float ROS reads as a double (always with a decimal point)."""
    if not np.isfinite(value):
        raise ConfigError(f'the help threshold must be finite, got {value}')
    text = f'{value:.6g}'
    if 'e' in text or '.' not in text:
        text = f'{value:.12f}'.rstrip('0')
        if text.endswith('.'):
            text += '0'
    return text


def write_help_threshold(path: Path | str, threshold: float, *, node: str = GATE_NODE,
                         key: str = THRESHOLD_KEY, comment: str = '') -> str:
    """
    Set ``node.ros__parameters.key`` to ``threshold`` in the params YAML ``path``, in place.

    An existing line keeps its indentation and comment (only the value
    changes); a missing key is added as the first parameter under
    ``node.ros__parameters`` (created when missing). Returns the new text.

    :raises ConfigError: the file cannot be read or written, or is not a params file.
    """
    path = Path(path)
    value = format_yaml_float(threshold)
    try:
        text = path.read_text(encoding='utf-8') if path.exists() else ''
    except OSError as exc:
        raise ConfigError(f'cannot read {path}: {exc.strerror}') from exc
    lines = text.splitlines(keepends=True)
    section = _find_parameters(lines, node)
    note = f'  # {comment}' if comment else ''
    if section is None:
        if lines and not lines[-1].endswith('\n'):
            lines[-1] += '\n'
        lines += [f'{node}:\n', '  ros__parameters:\n', f'    {key}: {value}{note}\n']
    else:
        start, end, indent = section
        pattern = re.compile(rf'^(\s*){re.escape(key)}:(\s*)([^#\n]*?)(\s*#.*)?(\r?\n)?$')
        for i in range(start, end):
            m = pattern.match(lines[i])
            if m and len(m.group(1)) == len(indent):
                old = m.group(3)
                pad = m.group(2) or ' '
                tail = m.group(4) or ''
                if tail and len(value) != len(old):  # keep the comment column where possible
                    spaces = len(tail) - len(tail.lstrip(' '))
                    tail = ' ' * max(1, spaces + len(old) - len(value)) + tail.lstrip(' ')
                lines[i] = f'{m.group(1)}{key}:{pad}{value}{tail}{m.group(5) or ""}'
                break
        else:
            lines.insert(start, f'{indent}{key}: {value}{note}\n')
    new = ''.join(lines)
    try:
        data = yaml.safe_load(new)
        got = data[node]['ros__parameters'][key]
    except (yaml.YAMLError, KeyError, TypeError) as exc:
        raise ConfigError(f'{path} is not a ROS 2 params file with a {node} section that '
                          f'can be edited ({type(exc).__name__}); fix it or give another '
                          '--config') from exc
    if not isinstance(got, float) or abs(got - float(value)) > 1e-12:
        raise ConfigError(f'editing {path} did not give {key} = {value} (got {got!r}); '
                          'edit the file by hand')
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f'.{path.name}.tmp')
        tmp.write_text(new, encoding='utf-8')
        tmp.replace(path)
    except OSError as exc:
        raise ConfigError(f'cannot write {path}: {exc.strerror}') from exc
    return new


def _find_parameters(lines: list[str], node: str) -> Optional[tuple[int, int, str]]:
    """
    Return (first line, end line, key indentation) of ``node.ros__parameters``, or None.

    When the node exists but has no ros__parameters, one is added (lines edited).
    """
    def indent_of(line: str) -> int:
        return len(line) - len(line.lstrip(' '))

    def content(line: str) -> bool:
        s = line.strip()
        return bool(s) and not s.startswith('#')

    node_re = re.compile(rf'^(\s*){re.escape(node)}:\s*(#.*)?$')
    for i, line in enumerate(lines):
        m = node_re.match(line.rstrip('\r\n'))
        if not m:
            continue
        base = len(m.group(1))
        end = len(lines)
        for j in range(i + 1, len(lines)):
            if content(lines[j]) and indent_of(lines[j]) <= base:
                end = j
                break
        for j in range(i + 1, end):
            if lines[j].strip().startswith('ros__parameters:') and content(lines[j]):
                p_indent = indent_of(lines[j])
                p_end = end
                for k in range(j + 1, end):
                    if content(lines[k]) and indent_of(lines[k]) <= p_indent:
                        p_end = k
                        break
                keys = [indent_of(lines[k]) for k in range(j + 1, p_end) if content(lines[k])]
                indent = ' ' * (keys[0] if keys else p_indent + 2)
                return j + 1, p_end, indent
        lines.insert(i + 1, ' ' * (base + 2) + 'ros__parameters:\n')
        return i + 2, i + 2, ' ' * (base + 4)
    return None
