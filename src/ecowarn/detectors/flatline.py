"""``flatline`` (数据恒值): a CEMS value flagged N frozen while production runs.

A point takes part when its flag is one of ``flags_checked`` (``N``), its value is
finite and the outlet's production is running (mask from the runner). A constant
run is a stretch of such points whose values all stay within ``tolerance`` of the
run's first value (``tolerance`` 0 = exact equality; zero counts as a value like any
other). Runs of at least ``min_duration_min`` fire. A value that is constant while
production is stopped (zero flow, ambient O2) is not considered.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from ecowarn.detectors._core import BoolArray, Finding, FloatArray, IntArray, runs
from ecowarn.detectors._series import Episode, as_float, check_1d, grid_step_s, positive
from ecowarn.detectors.hj75 import flag_in

__all__ = ["RULE_ID", "FlatlineParams", "flatline", "flatline_and_tail", "flatline_tail", "minimum_points"]

RULE_ID = "flatline"


@dataclass(frozen=True, slots=True)
class FlatlineParams:
    min_duration_min: float = 120.0
    # Values within this absolute distance of the run's first value count as equal.
    tolerance: float = 0.0
    # Flags whose values are checked.
    flags_checked: str = "N"
    # An episode this long or longer is high severity.
    high_severity_min: float = 360.0
    # Declared maintenance of the subject's devices suppresses this rule (runner;
    # see docs/architecture.md, "Suppression").
    suppressed_by_maintenance: bool = True
    # Water outlets: COD, NH3-N, TP and TN analysers measure every 1-2 h and loggers hold the
    # last value, so a water value counts as frozen only over this much longer stretch.
    water_min_duration_min: float = 720.0

    def __post_init__(self) -> None:
        positive("min_duration_min", self.min_duration_min)
        if not self.tolerance >= 0:
            raise ValueError("tolerance must not be negative")
        if not self.flags_checked:
            raise ValueError("flags_checked must name at least one flag")
        positive("high_severity_min", self.high_severity_min)
        positive("water_min_duration_min", self.water_min_duration_min)


class _Runs(NamedTuple):
    """The constant-run candidates of a grid: values, step, the fewest points of a run that
    fires, and the linked runs [start, end) (a linked run [a, b) is the constant run
    [a - 1, b): its first point is unlinked)."""

    v: FloatArray
    step: int
    min_points: int
    starts: IntArray
    ends: IntArray


def _candidate_runs(times_s: IntArray, values: FloatArray, flags: npt.NDArray[np.str_],
                    production_running: BoolArray, params: FlatlineParams) -> _Runs:
    v = as_float(values)
    f = np.asarray(flags)
    running = np.asarray(production_running, dtype=bool)
    check_1d(times_s, values=v, flags=f, production_running=running)
    step = grid_step_s(times_s)
    eligible = flag_in(f, params.flags_checked) & np.isfinite(v) & running
    # Candidate runs: eligible points each within tolerance of the previous one.
    close = np.zeros(v.shape, dtype=bool)
    with np.errstate(invalid="ignore"):
        close[1:] = np.abs(np.diff(v)) <= params.tolerance
    link = eligible & np.concatenate(([False], eligible[:-1])) & close
    starts, ends = runs(link)
    return _Runs(v, step, minimum_points(params, step), starts, ends)


def _findings(times_s: IntArray, r: _Runs, params: FlatlineParams) -> list[Finding]:
    c_starts = r.starts - 1
    keep = (r.ends - c_starts) >= r.min_points
    out = []
    for s, e in zip(c_starts[keep].tolist(), r.ends[keep].tolist(), strict=True):
        for seg_s, seg_e in _anchored(r.v, s, e, params.tolerance, r.min_points):
            out.append(_finding(times_s, r.v, seg_s, seg_e, r.step, params))
    return out


def _tail(r: _Runs) -> int | None:
    if ((r.ends - r.starts + 1) >= r.min_points).any():
        return None
    n = r.v.size
    if n < 2:
        return 0
    # the linked run through n - 2 (link[n - 2] true), if any: its constant run starts one
    # point before it; n - start of its points lie at or before n - 2
    hit = np.flatnonzero((r.starts <= n - 2) & (r.ends > n - 2))
    if hit.size:
        return int(n - r.starts[hit[0]])
    return 1  # the point alone, if it takes part at all


def flatline(times_s: IntArray, values: FloatArray, flags: npt.NDArray[np.str_],
             production_running: BoolArray, params: FlatlineParams) -> list[Finding]:
    """Frozen stretches of one metric of one outlet, on the grid ``times_s``."""
    return _findings(times_s, _candidate_runs(times_s, values, flags, production_running, params),
                     params)


def flatline_tail(times_s: IntArray, values: FloatArray, flags: npt.NDArray[np.str_],
                  production_running: BoolArray, params: FlatlineParams) -> int | None:
    """How many points of a constant run end at the last point but one (0: none), or None
    when a run of ``min_duration_min`` lies anywhere on the grid (found or not: with a
    tolerance, a long run may split into short segments).

    With the last point's minute still filling and more minutes to come, a run that fires on a
    later grid is either such a run or one through the last point: it holds at most this many
    points before the last one, so it needs at least ``min_points`` minus this many more
    (:meth:`FlatlineEvaluator.tail_quiet`)."""
    return _tail(_candidate_runs(times_s, values, flags, production_running, params))


def flatline_and_tail(times_s: IntArray, values: FloatArray, flags: npt.NDArray[np.str_],
                      production_running: BoolArray,
                      params: FlatlineParams) -> tuple[list[Finding], int | None]:
    """:func:`flatline` and :func:`flatline_tail` of one grid, its runs found once."""
    r = _candidate_runs(times_s, values, flags, production_running, params)
    return _findings(times_s, r, params), _tail(r)


def minimum_points(params: FlatlineParams, step_s: int = 60) -> int:
    """The fewest grid points of a run that fires."""
    return max(2, int(np.ceil(params.min_duration_min * 60.0 / step_s)))


def _anchored(v: FloatArray, s: int, e: int, tol: float,
              min_points: int) -> list[tuple[int, int]]:
    """Split ``[s, e)`` where a value leaves ``tol`` of its segment's first value."""
    if tol == 0.0:
        return [(s, e)] if e - s >= min_points else []
    out = []
    while e - s >= min_points:
        far = np.flatnonzero(np.abs(v[s:e] - v[s]) > tol)
        cut = e if far.size == 0 else s + int(far[0])
        if cut - s >= min_points:
            out.append((s, cut))
        s = cut
    return out


def _finding(times_s: IntArray, v: FloatArray, s: int, e: int, step: int,
             params: FlatlineParams) -> Finding:
    n = times_s.size
    ep = Episode(s, e, int(times_s[s]), None if e >= n else int(times_s[e]), (e - s) * step)
    seg = v[s:e]
    return Finding(ep.start_s, ep.end_s, {
        "duration_min": ep.duration_min,
        "value": round(float(seg[0]), 6),
        "min_value": round(float(np.min(seg)), 6),
        "max_value": round(float(np.max(seg)), 6),
        "points": e - s,
        "tolerance": params.tolerance,
        "severity": "high" if ep.duration_min >= params.high_severity_min else "medium",
    })
