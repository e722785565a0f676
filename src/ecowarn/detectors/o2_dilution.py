"""``o2_dilution`` (稀释排放): stack O2 near ambient while production runs.

O2 at or above ``o2_threshold_pct`` (19%) at points where the outlet's production is
running (mask from the runner) and, when ``valid`` is given, the O2 value is valid,
for at least ``min_duration_min``. Ambient O2 while production is stopped is normal
and never fires.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ecowarn.detectors._core import BoolArray, Finding, FloatArray, IntArray
from ecowarn.detectors._series import Episode, as_float, check_1d, episodes, positive

__all__ = ["RULE_ID", "O2DilutionParams", "o2_dilution"]

RULE_ID = "o2_dilution"


@dataclass(frozen=True, slots=True)
class O2DilutionParams:
    min_duration_min: float = 60.0
    o2_threshold_pct: float = 19.0
    # An episode this long or longer is high severity.
    high_severity_min: float = 240.0
    # Declared maintenance of the subject's devices suppresses this rule (runner;
    # see docs/architecture.md, "Suppression").
    suppressed_by_maintenance: bool = True

    def __post_init__(self) -> None:
        positive("min_duration_min", self.min_duration_min)
        if not 0 < self.o2_threshold_pct <= 21:
            raise ValueError("o2_threshold_pct must be in (0, 21]")
        positive("high_severity_min", self.high_severity_min)


def o2_dilution(times_s: IntArray, o2_pct: FloatArray, production_running: BoolArray,
                params: O2DilutionParams, valid: BoolArray | None = None) -> list[Finding]:
    """Episodes of O2 >= threshold while production runs (NaN O2 never counts)."""
    o2 = as_float(o2_pct)
    running = np.asarray(production_running, dtype=bool)
    check_1d(times_s, o2_pct=o2, production_running=running)
    cond = running & (np.nan_to_num(o2, nan=-1.0) >= params.o2_threshold_pct)
    if valid is not None:
        ok = np.asarray(valid, dtype=bool)
        check_1d(times_s, valid=ok)
        cond &= ok
    return [_finding(o2, ep, params) for ep in episodes(times_s, cond, params.min_duration_min * 60.0)]


def _finding(o2: FloatArray, ep: Episode, params: O2DilutionParams) -> Finding:
    seg = o2[ep.start_idx:ep.end_idx]
    return Finding(ep.start_s, ep.end_s, {
        "duration_min": ep.duration_min,
        "o2_mean_pct": round(float(np.mean(seg)), 2),
        "o2_min_pct": round(float(np.min(seg)), 2),
        "o2_threshold_pct": params.o2_threshold_pct,
        "severity": "high" if ep.duration_min >= params.high_severity_min else "medium",
    })
