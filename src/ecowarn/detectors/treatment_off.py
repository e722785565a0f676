"""``treatment_off`` (治污设施未运行): production running while a treatment stage is off."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ecowarn.detectors._core import Finding, FloatArray, IntArray, runs
from ecowarn.detectors.running import OFF, ON, running_state

__all__ = ["RULE_ID", "TreatmentOffParams", "treatment_off"]

RULE_ID = "treatment_off"


@dataclass(frozen=True, slots=True)
class TreatmentOffParams:
    min_duration_min: float = 10.0
    # Equipment switches off below this fraction of its running threshold (hysteresis).
    off_ratio: float = 0.8
    # A reading stands for the grid points after it for at most this long.
    max_hold_s: int = 300
    # An episode this long or longer is high severity.
    high_severity_min: float = 60.0
    # Declared maintenance of the subject's devices suppresses this rule (runner;
    # see docs/architecture.md, "Suppression").
    suppressed_by_maintenance: bool = False

    def __post_init__(self) -> None:
        if self.min_duration_min <= 0:
            raise ValueError("min_duration_min must be positive")
        if not 0 < self.off_ratio <= 1:
            raise ValueError("off_ratio must be in (0, 1]")


def treatment_off(times_s: IntArray, production_kw: FloatArray, treatment_kw: FloatArray,
                  production_on_kw: float, treatment_on_kw: FloatArray,
                  params: TreatmentOffParams, stage_of: IntArray | None = None) -> list[Finding]:
    """Episodes where production is ON and at least one treatment stage is known OFF
    (CONTRACT section 8, 1.1).

    ``times_s``: grid times (n,); ``production_kw``: (n,); ``treatment_kw``: (k, n) with
    NaN for no data; ``treatment_on_kw``: (k,); ``stage_of``: (k,) the stage of each
    treatment row, 0-based (default: each row its own stage). A stage is off when every
    one of its meters (alternatives) is known OFF: a meter without data is not taken as
    off (that is a data gap, not this rule), and a standby alternative off while its
    partner runs is no finding.
    """
    n = times_s.size
    treat = np.atleast_2d(np.asarray(treatment_kw, dtype=np.float64))
    on_kw = np.atleast_1d(np.asarray(treatment_on_kw, dtype=np.float64))
    if treat.shape != (on_kw.size, n) or production_kw.shape != (n,):
        raise ValueError("array shapes do not match")
    stages = np.arange(on_kw.size) if stage_of is None else np.asarray(stage_of, dtype=np.int64)
    if stages.shape != on_kw.shape or (stages.size and (stages.min() < 0)):
        raise ValueError("stage_of needs one stage index >= 0 per treatment row")
    n_stages = int(stages.max()) + 1 if stages.size else 0
    prod_state = running_state(production_kw, production_on_kw, params.off_ratio * production_on_kw)
    stage_off = np.ones((n_stages, n), dtype=bool)
    for row, thr, stage in zip(treat, on_kw, stages.tolist(), strict=True):
        st = running_state(row, float(thr), params.off_ratio * float(thr))
        stage_off[stage] &= st == OFF
    cond = (prod_state == ON) & stage_off.any(axis=0) if n_stages else np.zeros(n, dtype=bool)
    starts, ends = runs(cond)
    step = int(times_s[1] - times_s[0]) if n > 1 else 60
    out = []
    for s, e in zip(starts.tolist(), ends.tolist(), strict=True):
        if not (e - s) * step / 60.0 < params.min_duration_min:
            f = _finding(times_s, production_kw, treat, production_on_kw, on_kw, s, e, step, params)
            f.facts["stages_off"] = [int(i) for i in np.flatnonzero(stage_off[:, s:e].any(axis=1))]
            out.append(f)
    return out


def _finding(times_s: IntArray, production_kw: FloatArray, treat: FloatArray, production_on_kw: float,
             on_kw: FloatArray, s: int, e: int, step: int, params: TreatmentOffParams) -> Finding:
    duration_min = float((e - s) * step / 60.0)
    seg = slice(s, e)
    return Finding(
        start_s=int(times_s[s]),
        end_s=None if e >= times_s.size else int(times_s[e]),
        facts={
            "duration_min": duration_min,
            "production_mean_kw": round(float(np.nanmean(production_kw[seg])), 2),
            "production_on_kw": production_on_kw,
            # None for a meter without data in the episode (an alternative not reporting)
            "treatment_max_kw": [None if np.isnan(r[seg]).all() else round(float(np.nanmax(r[seg])), 2)
                                 for r in treat],
            "treatment_off_below_kw": [round(params.off_ratio * float(t), 2) for t in on_kw],
            "severity": "high" if duration_min >= params.high_severity_min else "medium",
        },
    )
