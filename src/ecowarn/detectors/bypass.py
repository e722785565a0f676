"""``bypass_suspected`` (工况与排放不符): heavy production, almost no flue gas at the outlet.

Production power at or above ``production_ratio`` (50%) of its ``rated_kw`` while
the outlet's flue gas flow is below ``flow_ratio`` (10%) of its typical running flow,
for at least ``min_duration_min``. The typical flow is a
:class:`~detectors.baseline.Baseline` learned by the runner from the outlet's flow
while production ran (``baseline_window_s``, ``baseline_min_samples``). The
registry has no rated flow, so without a baseline the rule cannot judge and
returns nothing. Missing flow (NaN) or flow not flagged valid never counts.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ecowarn.detectors._core import BoolArray, Finding, FloatArray, IntArray
from ecowarn.detectors._series import as_float, check_1d, episodes, positive
from ecowarn.detectors.baseline import Baseline, BaselineParams

__all__ = ["RULE_ID", "BypassParams", "bypass_suspected"]

RULE_ID = "bypass_suspected"


@dataclass(frozen=True, slots=True)
class BypassParams:
    min_duration_min: float = 60.0
    # Production at or above this fraction of rated_kw.
    production_ratio: float = 0.5
    # Flow below this fraction of the typical running flow.
    flow_ratio: float = 0.1
    # An episode this long or longer is high severity.
    high_severity_min: float = 240.0
    # History used by the runner to learn the typical flow (see detectors.baseline).
    baseline_window_s: int = 30 * 86_400
    baseline_min_samples: int = 1440
    # Declared maintenance of the subject's devices suppresses this rule (runner;
    # see docs/architecture.md, "Suppression").
    suppressed_by_maintenance: bool = True

    def __post_init__(self) -> None:
        positive("min_duration_min", self.min_duration_min)
        if not 0 < self.production_ratio <= 1:
            raise ValueError("production_ratio must be in (0, 1]")
        if not 0 < self.flow_ratio < 1:
            raise ValueError("flow_ratio must be in (0, 1)")
        positive("high_severity_min", self.high_severity_min)
        BaselineParams(self.baseline_window_s, self.baseline_min_samples)

    def baseline_params(self) -> BaselineParams:
        return BaselineParams(window_s=self.baseline_window_s,
                              min_samples=self.baseline_min_samples)


def bypass_suspected(times_s: IntArray, production_kw: FloatArray, rated_kw: float,
                     flow: FloatArray, flow_baseline: Baseline | None, params: BypassParams,
                     flow_valid: BoolArray | None = None) -> list[Finding]:
    """Episodes of production >= ratio x rated with flow < ratio x typical flow."""
    prod = as_float(production_kw)
    q = as_float(flow)
    check_1d(times_s, production_kw=prod, flow=q)
    positive("rated_kw", rated_kw)
    if flow_baseline is None or flow_baseline.value <= 0:
        return []
    prod_threshold = params.production_ratio * rated_kw
    flow_threshold = params.flow_ratio * flow_baseline.value
    cond = (np.nan_to_num(prod, nan=-np.inf) >= prod_threshold) & \
        (np.nan_to_num(q, nan=np.inf) < flow_threshold)
    if flow_valid is not None:
        ok = np.asarray(flow_valid, dtype=bool)
        check_1d(times_s, flow_valid=ok)
        cond &= ok
    out = []
    for ep in episodes(times_s, cond, params.min_duration_min * 60.0):
        seg = slice(ep.start_idx, ep.end_idx)
        out.append(Finding(ep.start_s, ep.end_s, {
            "duration_min": ep.duration_min,
            "production_mean_kw": round(float(np.mean(prod[seg])), 2),
            "production_threshold_kw": round(prod_threshold, 2),
            "rated_kw": rated_kw,
            "flow_mean": round(float(np.mean(q[seg])), 3),
            "flow_max": round(float(np.max(q[seg])), 3),
            "flow_threshold": round(flow_threshold, 3),
            **flow_baseline.facts("flow_baseline"),
            "severity": "high" if ep.duration_min >= params.high_severity_min else "medium",
        }))
    return out
