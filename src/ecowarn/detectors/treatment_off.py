"""``treatment_off`` (治污设施未运行): production running while none of its treatment runs."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ecowarn.detectors._core import Finding, FloatArray, IntArray, runs
from ecowarn.detectors._rows import as_rows, per_row, runs_rows
from ecowarn.detectors.running import OFF, ON, hysteresis_rows, running_state

__all__ = ["RULE_ID", "TreatmentOffParams", "treatment_off", "treatment_off_rows"]

RULE_ID = "treatment_off"

# Rows per pass of treatment_off_rows: the temporaries of a block stay in cache.
_CHUNK_ROWS = 256


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
                  params: TreatmentOffParams) -> list[Finding]:
    """Episodes where production is ON and every treatment unit is known OFF.

    ``times_s``: grid times (n,); ``production_kw``: (n,); ``treatment_kw``: (k, n)
    with NaN for no data; ``treatment_on_kw``: (k,). A treatment unit without data
    is not taken as off (that is a data gap, not this rule).
    """
    n = times_s.size
    treat = np.atleast_2d(np.asarray(treatment_kw, dtype=np.float64))
    on_kw = np.atleast_1d(np.asarray(treatment_on_kw, dtype=np.float64))
    if treat.shape != (on_kw.size, n) or production_kw.shape != (n,):
        raise ValueError("array shapes do not match")
    prod_state = running_state(production_kw, production_on_kw, params.off_ratio * production_on_kw)
    all_off = np.ones(n, dtype=bool)
    treat_states = []
    for row, thr in zip(treat, on_kw, strict=True):
        st = running_state(row, float(thr), params.off_ratio * float(thr))
        treat_states.append(st)
        all_off &= st == OFF
    cond = (prod_state == ON) & all_off
    starts, ends = runs(cond)
    step = int(times_s[1] - times_s[0]) if n > 1 else 60
    out = []
    for s, e in zip(starts.tolist(), ends.tolist(), strict=True):
        if not (e - s) * step / 60.0 < params.min_duration_min:
            out.append(_finding(times_s, production_kw, treat, production_on_kw, on_kw, s, e, step, params))
    return out


def treatment_off_rows(times_s: IntArray, production_kw: FloatArray, treatment_kw: FloatArray,
                       production_on_kw: FloatArray, treatment_on_kw: FloatArray,
                       params: TreatmentOffParams) -> list[list[Finding]]:
    """:func:`treatment_off` for many production units at once, one per row.

    ``production_kw``: (units, n); ``treatment_kw``: (units, k, n), or (units, n) for one
    treatment unit each; ``production_on_kw``: (units,); ``treatment_on_kw``: (units, k)
    or (units,). Returns one list of findings per unit, equal to what
    ``treatment_off(times_s, production_kw[i], treatment_kw[i], production_on_kw[i],
    treatment_on_kw[i], params)`` returns.
    """
    n = times_s.size
    prod = as_rows("production_kw", production_kw, n)
    units = prod.shape[0]
    treat = np.asarray(treatment_kw, dtype=np.float64)
    if treat.ndim == 2:
        treat = treat[:, np.newaxis, :]
    on_kw = np.asarray(treatment_on_kw, dtype=np.float64)
    if on_kw.ndim == 1:
        on_kw = on_kw[:, np.newaxis]
    if treat.ndim != 3 or treat.shape[0] != units or treat.shape[2] != n \
            or on_kw.shape != treat.shape[:2]:
        raise ValueError("array shapes do not match")
    prod_on = per_row("production_on_kw", production_on_kw, units)
    out: list[list[Finding]] = [[] for _ in range(units)]
    step = int(times_s[1] - times_s[0]) if n > 1 else 60
    for lo in range(0, units, _CHUNK_ROWS):
        hi = min(lo + _CHUNK_ROWS, units)
        cond, _ = hysteresis_rows(prod[lo:hi], prod_on[lo:hi], params.off_ratio * prod_on[lo:hi])
        for j in range(treat.shape[1]):
            t_j, thr = treat[lo:hi, j], on_kw[lo:hi, j]
            t_on, t_no_data = hysteresis_rows(t_j, thr, params.off_ratio * thr)
            cond &= ~(t_on | t_no_data)  # known OFF
        rows, starts, ends = runs_rows(cond)
        keep = ~((ends - starts) * step / 60.0 < params.min_duration_min)
        for r, s, e in zip(rows[keep].tolist(), starts[keep].tolist(), ends[keep].tolist(), strict=True):
            i = lo + r
            out[i].append(_finding(times_s, prod[i], treat[i], float(prod_on[i]), on_kw[i], s, e, step,
                                   params))
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
            "treatment_max_kw": [round(float(np.nanmax(r[seg])), 2) for r in treat],
            "treatment_off_below_kw": [round(params.off_ratio * float(t), 2) for t in on_kw],
            "severity": "high" if duration_min >= params.high_severity_min else "medium",
        },
    )
