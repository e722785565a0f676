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
from ecowarn.detectors._rows import as_rows, episodes_rows
from ecowarn.detectors._series import Episode, as_float, check_1d, episodes, grid_step_s, positive

__all__ = ["RULE_ID", "O2DilutionParams", "o2_dilution", "o2_dilution_rows"]

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


def o2_dilution_rows(times_s: IntArray, o2_pct: FloatArray, production_running: BoolArray,
                     params: O2DilutionParams, valid: BoolArray | None = None) -> list[list[Finding]]:
    """:func:`o2_dilution` of many outlets on one grid, one per row of (outlets, n) arrays."""
    n = times_s.size
    if times_s.ndim != 1:
        raise ValueError("times_s must be one-dimensional")
    o2 = as_rows("o2_pct", o2_pct, n)
    running = as_rows("production_running", production_running, n, dtype=bool)
    if running.shape != o2.shape:
        raise ValueError("o2_pct and production_running differ in shape")
    # NaN compares False, as nan_to_num(-1) does against a positive threshold.
    cond = o2 >= params.o2_threshold_pct
    cond &= running
    if valid is not None:
        ok = as_rows("valid", valid, n, dtype=bool)
        if ok.shape != o2.shape:
            raise ValueError("valid differs in shape from o2_pct")
        cond &= ok
    found = episodes_rows(times_s, cond, params.min_duration_min * 60.0, grid_step_s(times_s))
    return [[_finding(o2[r], ep, params) for ep in eps] for r, eps in enumerate(found)]


def _finding(o2: FloatArray, ep: Episode, params: O2DilutionParams) -> Finding:
    seg = o2[ep.start_idx:ep.end_idx]
    return Finding(ep.start_s, ep.end_s, {
        "duration_min": ep.duration_min,
        "o2_mean_pct": round(float(np.mean(seg)), 2),
        "o2_min_pct": round(float(np.min(seg)), 2),
        "o2_threshold_pct": params.o2_threshold_pct,
        "severity": "high" if ep.duration_min >= params.high_severity_min else "medium",
    })
