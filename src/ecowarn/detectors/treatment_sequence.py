"""``treatment_sequence`` (治污设施晚开早关): treatment started late or stopped early.

CONTRACT section 8 (1.1): at a start of a production unit, a treatment stage starts
``min_lag_min`` (3) minutes or more after it; or at a stop, a stage stops ``min_lag_min``
or more before it; and the gap is shorter than ``max_lag_min`` (``treatment_off``'s
duration: a longer gap while production runs is ``treatment_off``). One finding per start
or stop event, naming every stage that was late or early there.

A start is production going from known OFF to ON (after a data gap the state before is
unknown: no event); a stop, from ON to known OFF. A stage runs when any of its meters
(alternatives) runs and is off when all of them are known off; a stage without data around
the event is not judged. A late start whose stage has not started by the end of the data
is not a finding yet: later data decides it (late start, or ``treatment_off``).

Finding times: for a late start, ``start_s`` is the production start and ``end_s`` the
last stage's start; for an early stop, ``start_s`` is the first stage's stop and
``end_s`` the production stop.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ecowarn.detectors._core import Finding, FloatArray, IntArray
from ecowarn.detectors.running import OFF, ON, UNKNOWN, running_state

__all__ = ["RULE_ID", "TreatmentSequenceParams", "stage_states", "treatment_sequence"]

RULE_ID = "treatment_sequence"


@dataclass(frozen=True, slots=True)
class TreatmentSequenceParams:
    # A stage starting this much after production (or stopping this much before it) fires.
    min_lag_min: float = 3.0
    # Gaps this long or longer are left to treatment_off; None: treatment_off's
    # min_duration_min (the rule catalog fills it in).
    max_lag_min: float | None = None
    off_ratio: float = 0.8
    # A reading stands for the grid points after it for at most this long.
    max_hold_s: int = 300
    suppressed_by_maintenance: bool = False

    def __post_init__(self) -> None:
        if self.min_lag_min <= 0:
            raise ValueError("min_lag_min must be positive")
        if self.max_lag_min is not None and self.max_lag_min <= self.min_lag_min:
            raise ValueError("max_lag_min must be above min_lag_min")
        if not 0 < self.off_ratio <= 1:
            raise ValueError("off_ratio must be in (0, 1]")


def stage_states(treatment_kw: FloatArray, treatment_on_kw: FloatArray, stage_of: IntArray,
                 off_ratio: float) -> np.ndarray:
    """Per stage and grid point: ``ON`` when any meter of the stage runs, ``OFF`` when all
    are known off, else ``UNKNOWN``. Shape (stages, n)."""
    treat = np.atleast_2d(np.asarray(treatment_kw, dtype=np.float64))
    on_kw = np.atleast_1d(np.asarray(treatment_on_kw, dtype=np.float64))
    stages = np.asarray(stage_of, dtype=np.int64)
    n_stages = int(stages.max()) + 1 if stages.size else 0
    any_on = np.zeros((n_stages, treat.shape[1]), dtype=bool)
    all_off = np.ones((n_stages, treat.shape[1]), dtype=bool)
    for row, thr, stage in zip(treat, on_kw, stages.tolist(), strict=True):
        st = running_state(row, float(thr), off_ratio * float(thr))
        any_on[stage] |= st == ON
        all_off[stage] &= st == OFF
    return np.where(any_on, ON, np.where(all_off, OFF, UNKNOWN)).astype(np.int8)


def treatment_sequence(times_s: IntArray, production_kw: FloatArray, treatment_kw: FloatArray,
                       production_on_kw: float, treatment_on_kw: FloatArray, stage_of: IntArray,
                       params: TreatmentSequenceParams, max_lag_min: float) -> list[Finding]:
    """Late starts and early stops of treatment stages around production starts and stops.

    Arrays as for :func:`ecowarn.detectors.treatment_off.treatment_off`; ``max_lag_min``
    is the resolved upper bound (``params.max_lag_min`` or ``treatment_off``'s duration).
    """
    n = times_s.size
    if np.asarray(production_kw).shape != (n,):
        raise ValueError("array shapes do not match")
    if n < 2:
        return []
    step = int(times_s[1] - times_s[0])
    prod = running_state(production_kw, production_on_kw, params.off_ratio * production_on_kw)
    stages = stage_states(treatment_kw, treatment_on_kw, stage_of, params.off_ratio)
    lo, hi = params.min_lag_min, max_lag_min
    out: list[Finding] = []
    # production starts: index i with prod[i-1] OFF and prod[i] ON
    for i in np.flatnonzero((prod[1:] == ON) & (prod[:-1] == OFF)).tolist():
        i += 1
        late = []
        for k, st in enumerate(stages):
            if st[i] != OFF:
                continue
            after = np.flatnonzero(st[i:] != OFF)
            if after.size == 0:
                continue  # not started yet: later data decides
            j = i + int(after[0])
            if st[j] != ON or np.any(prod[i:j] != ON):
                continue  # the stage's data broke off, or production stopped again first
            lag = (j - i) * step / 60.0
            if lo <= lag < hi:
                late.append((k, lag, j))
        if late:
            out.append(_finding("start", int(times_s[i]), int(times_s[max(j for _, _, j in late)]),
                                [(k, lag) for k, lag, _ in late], production_kw, i, max(j for _, _, j in late)))
    # production stops: index i with prod[i-1] ON and prod[i] OFF
    for i in np.flatnonzero((prod[1:] == OFF) & (prod[:-1] == ON)).tolist():
        i += 1
        early = []
        for k, st in enumerate(stages):
            if st[i - 1] != OFF:
                continue
            before = np.flatnonzero(st[:i] != OFF)
            if before.size == 0:
                continue
            j = int(before[-1]) + 1  # first OFF point of the stage's last off-run before i
            if st[j - 1] != ON or np.any(prod[j:i] != ON):
                continue
            lead = (i - j) * step / 60.0
            if lo <= lead < hi:
                early.append((k, lead, j))
        if early:
            first = min(j for _, _, j in early)
            out.append(_finding("stop", int(times_s[first]), int(times_s[i]),
                                [(k, lead) for k, lead, _ in early], production_kw, first, i))
    out.sort(key=lambda f: f.start_s)
    return out


def _finding(event: str, start_s: int, end_s: int, stages: list[tuple[int, float]],
             production_kw: FloatArray, a: int, b: int) -> Finding:
    seg = np.asarray(production_kw, dtype=np.float64)[a:b]
    mean = float(np.nanmean(seg)) if seg.size and not np.all(np.isnan(seg)) else float("nan")
    worst = max(lag for _, lag in stages)
    return Finding(start_s=start_s, end_s=end_s, facts={
        "event": event,
        "stages": [{"stage": k, "lag_min": round(lag, 2)} for k, lag in stages],
        "max_lag_min": round(worst, 2),
        "duration_min": round((end_s - start_s) / 60.0, 2),
        "production_mean_kw": None if mean != mean else round(mean, 2),
        "severity": "medium",
    })
