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
Set the doubt and risk thresholds together from a budget of the operator's time.

The gate asks for help when the doubt exceeds ``help_threshold`` or the risk
exceeds ``risk_threshold``. Given a **budget** (the fraction of the time the
policy drives during which the operator is willing to be asked) the two
thresholds are picked on recorded hg_dagger episodes
(:func:`~imitation_ros.studies.help_threshold.doubt_at_recorded_states` labels
their states): the episodes are split, by a seeded choice, into a calibration
part and a held-out part; on the calibration part, for each share ``w`` of the
budget given to the doubt (a grid from 0 to 1), the doubt's threshold is the
quantile leaving ``w * x`` of the policy-controlled states above it and the
risk's the one leaving ``(1 - w) * x``, with ``x`` found by bisection so that
the states where either fires are the budget; the share that catches the most
takeover moments (within ``window_s`` before a takeover or a failed end) wins.
The same search serves a **false-alarm rate** instead of a budget: the
reference states are then the autonomous ones (far from any takeover), as in
``calibrate-help --false-alarm-rate``. The held-out part reports what the
thresholds do on episodes they were not chosen on: the fraction of time asked,
the false-alarm rate and the detection rate. A model without a risk output
gets the doubt alone (share 1). numpy and the ONNX runtime only.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from ..errors import ConfigError, DataError
from ..runtime.onnx_policy import OnnxPolicy
from .help_threshold import (DEFAULT_MARGIN_S, DEFAULT_WINDOW_S, doubt_at_recorded_states,
                             LabelledDoubt)

#: Shares of the budget given to the doubt that the search tries (the rest goes to the risk).
SHARES = tuple(np.round(np.linspace(0.0, 1.0, 11), 2))
#: Threshold of a signal that must never fire (the gate reads 0 as "off").
OFF = 0.0


@dataclass(frozen=True)
class PairRule:
    """Two thresholds and what they do on one set of states."""

    help_threshold: float
    """Doubt threshold (doubt units); 0: the doubt never asks."""
    risk_threshold: float
    """Risk threshold (probability); 0: the risk never asks."""
    share: float
    """Share of the target given to the doubt."""
    reference_rate: float
    """Fraction of the reference states where either signal fires."""
    detection_rate: float
    """Fraction of the takeover moments where either signal fires."""


def fires(doubt: np.ndarray, risk: Optional[np.ndarray], help_threshold: float,
          risk_threshold: float) -> np.ndarray:
    """Return where the gate's rule asks for help: doubt or risk above its (non-zero) threshold."""
    out = np.zeros(len(doubt), dtype=bool)
    if help_threshold > 0:
        out |= doubt > help_threshold
    if risk is not None and risk_threshold > 0:
        out |= risk > risk_threshold
    return out


def _upper(values: np.ndarray, fraction: float) -> float:
    """Return the threshold leaving about ``fraction`` of ``values`` strictly above it (0: off)."""
    if fraction <= 0 or len(values) == 0:
        return OFF
    t = float(np.quantile(values, 1.0 - min(fraction, 1.0), method='higher'))
    return max(t, 1e-12)  # 0 would switch the signal off in the gate


def choose_pair(doubt: np.ndarray, risk: Optional[np.ndarray], reference: np.ndarray,
                moments: np.ndarray, target: float,
                shares: Sequence[float] = SHARES) -> PairRule:
    """
    Pick the thresholds so either fires on ``target`` of the ``reference`` states.

    Among the shares, the one with the most ``moments`` caught wins (ties: the
    larger doubt share).

    :param doubt: (N,) doubt; ``risk`` (N,) or None (doubt alone).
    :param reference: (N,) bool, the states the target fraction is measured on.
    :param moments: (N,) bool, the takeover moments to catch.
    """
    if not 0.0 < target < 1.0:
        raise ConfigError(f'the budget or false-alarm rate must be in (0, 1), got {target}')
    if not reference.any():
        raise DataError('no reference states (policy in control) to calibrate on; record '
                        'more hg_dagger episodes')
    d_ref = doubt[reference]
    r_ref = None if risk is None else risk[reference]
    best: Optional[PairRule] = None
    for share in (shares if risk is not None else (1.0,)):
        lo, hi = 0.0, 1.0 / max(share, 1.0 - share)

        def pair(x: float) -> tuple[float, float]:
            return (_upper(d_ref, share * x),
                    _upper(r_ref, (1.0 - share) * x) if r_ref is not None else OFF)

        for _ in range(40):
            mid = 0.5 * (lo + hi)
            if np.mean(fires(d_ref, r_ref, *pair(mid))) > target:
                hi = mid
            else:
                lo = mid
        tn, tr = pair(lo)
        rate = float(np.mean(fires(d_ref, r_ref, tn, tr)))
        caught = fires(doubt[moments], None if risk is None else risk[moments], tn, tr)
        detection = float(np.mean(caught)) if moments.any() else float('nan')
        rule = PairRule(tn, tr, float(share), rate, detection)
        if best is None or detection >= best.detection_rate or np.isnan(best.detection_rate):
            best = rule
    assert best is not None
    return best


@dataclass(frozen=True)
class BudgetCalibration:
    """Thresholds set from a budget (or a false-alarm rate) and what they do held out."""

    help_threshold: float
    """Doubt threshold for the gate (doubt units; 0: off)."""
    risk_threshold: float
    """Risk threshold for the gate (probability; 0: off or no risk in the model)."""
    mode: str
    """'budget' (fraction of policy time asked) or 'false_alarm' (of autonomous states)."""
    target: float
    """The budget or false-alarm rate asked for."""
    share: float
    """Share of the target given to the doubt."""
    calibration: dict
    """On the calibration episodes: asked, false_alarm, detection rates, states, episodes."""
    held_out: dict
    """The same on the held-out episodes (empty without a held-out part)."""
    has_risk: bool
    """Whether the model has a risk output."""
    model_version: str = ''
    """Version of the calibrated model."""
    window_s: float = DEFAULT_WINDOW_S
    """Seconds before a takeover that count as takeover moments."""
    margin_s: float = DEFAULT_MARGIN_S
    """Seconds before a takeover excluded from the autonomous states."""

    def as_dict(self) -> dict:
        """Return the fields as a JSON-friendly dict."""
        return asdict(self)


def rates(labelled: LabelledDoubt, mask: np.ndarray, help_threshold: float,
          risk_threshold: float) -> dict:
    """Return what the rule does on the samples in ``mask``: asked, false-alarm, detection."""
    assert labelled.policy is not None and labelled.episode is not None
    risk = labelled.risk
    on = fires(labelled.doubt, risk, help_threshold, risk_threshold)
    policy = mask & labelled.policy
    auto, moments = mask & labelled.autonomous, mask & labelled.takeover

    def mean(sel: np.ndarray) -> float:
        return float(np.mean(on[sel])) if sel.any() else float('nan')

    return {'asked': mean(policy), 'false_alarm': mean(auto), 'detection': mean(moments),
            'policy_states': int(policy.sum()), 'autonomous_states': int(auto.sum()),
            'takeover_states': int(moments.sum()),
            'episodes': int(np.unique(labelled.episode[policy]).size)}


def held_out_mask(episode: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """Return a mask of the samples of a seeded choice of ``fraction`` of the episodes."""
    ids = np.unique(episode)
    count = int(round(fraction * len(ids)))
    if fraction <= 0 or count < 1:
        return np.zeros(len(episode), dtype=bool)
    if count >= len(ids):
        raise ConfigError(f'--held-out {fraction} leaves no calibration episode out of '
                          f'{len(ids)}')
    held = np.random.default_rng([int(seed), 41]).choice(ids, size=count, replace=False)
    return np.isin(episode, held)


def calibrate_labelled(labelled: LabelledDoubt, *, budget: Optional[float] = None,
                       false_alarm_rate: Optional[float] = None,
                       held_out_fraction: float = 0.3, seed: int = 0,
                       model_version: str = '', window_s: float = DEFAULT_WINDOW_S,
                       margin_s: float = DEFAULT_MARGIN_S) -> BudgetCalibration:
    """Calibrate on labelled recorded states (see the module docstring)."""
    if (budget is None) == (false_alarm_rate is None):
        raise ConfigError('give either a budget or a false-alarm rate')
    assert labelled.policy is not None and labelled.episode is not None
    held = held_out_mask(labelled.episode, held_out_fraction, seed)
    cal = ~held
    mode = 'budget' if budget is not None else 'false_alarm'
    target = float(budget if budget is not None else false_alarm_rate)  # type: ignore[arg-type]
    reference = (labelled.policy if mode == 'budget' else labelled.autonomous) & cal
    rule = choose_pair(labelled.doubt, labelled.risk, reference, labelled.takeover & cal,
                       target)
    return BudgetCalibration(
        help_threshold=rule.help_threshold, risk_threshold=rule.risk_threshold, mode=mode,
        target=target, share=rule.share,
        calibration=rates(labelled, cal, rule.help_threshold, rule.risk_threshold),
        held_out=(rates(labelled, held, rule.help_threshold, rule.risk_threshold)
                  if held.any() else {}),
        has_risk=labelled.risk is not None, model_version=model_version,
        window_s=float(window_s), margin_s=float(margin_s))


def calibrate_budget(model: Path | str | OnnxPolicy, data: Sequence[Path | str], *,
                     budget: Optional[float] = None, false_alarm_rate: Optional[float] = None,
                     held_out_fraction: float = 0.3, seed: int = 0,
                     window_s: float = DEFAULT_WINDOW_S,
                     margin_s: float = DEFAULT_MARGIN_S) -> BudgetCalibration:
    """Load the hg_dagger bags under ``data``, compute doubt and risk, calibrate both."""
    policy = model if isinstance(model, OnnxPolicy) else OnnxPolicy(model)
    labelled = doubt_at_recorded_states(policy, data, window_s=window_s, margin_s=margin_s)
    return calibrate_labelled(labelled, budget=budget, false_alarm_rate=false_alarm_rate,
                              held_out_fraction=held_out_fraction, seed=seed,
                              model_version=policy.version, window_s=window_s,
                              margin_s=margin_s)
