"""``emergency_noncompliance`` (应急管控措施未落实): production against an emergency order.

Orders are windows ``[order_start_s[i], order_end_s[i])`` of one measure:

- ``shutdown``: production running (with hysteresis) for at least
  ``shutdown_min_duration_min`` inside an order window. Runs are clipped to the
  window.
- ``limit`` of X% (``limit_pct``): production may use at most ``(1 - X/100)`` of its
  baseline (``allowed_kw``). Each order window is cut into hours counted from the
  order's start; an hour with at least ``min_points_per_hour`` minutes of data is
  judged, and violates when its mean load exceeds ``allowed_kw * (1 + tolerance)``.
  Consecutive violating hours of one window make one finding, which stays open
  (``end_s`` None) while the order continues past the end of the data and no judged
  hour has cleared it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from ecowarn.detectors._core import Finding, FloatArray, IntArray, runs
from ecowarn.detectors._series import as_float, check_1d, episodes, grid_step_s, in_windows, positive
from ecowarn.detectors.baseline import Baseline, BaselineParams
from ecowarn.detectors.running import ON, running_state

__all__ = ["RULE_ID", "EmergencyParams", "Measure", "emergency_noncompliance"]

RULE_ID = "emergency_noncompliance"
HOUR_S = 3600

Measure = Literal["shutdown", "limit"]


@dataclass(frozen=True, slots=True)
class EmergencyParams:
    # Shutdown orders: production running this long inside the order fires.
    shutdown_min_duration_min: float = 15.0
    # Limit orders: an hour violates above allowed_kw * (1 + tolerance).
    limit_tolerance: float = 0.10
    # Limit orders: an order hour is judged with at least this many minutes of data.
    min_points_per_hour: int = 45
    # Equipment switches off below this fraction of its running threshold (hysteresis).
    off_ratio: float = 0.8
    # Limit orders: hours this many percent above allowed_kw make the finding high severity.
    high_excess_pct: float = 30.0
    # History used by the runner to learn the production baseline (see detectors.baseline).
    baseline_window_s: int = 30 * 86_400
    baseline_min_samples: int = 1440
    # Declared maintenance of the subject's devices suppresses this rule (runner;
    # see docs/architecture.md, "Suppression").
    suppressed_by_maintenance: bool = False

    def __post_init__(self) -> None:
        positive("shutdown_min_duration_min", self.shutdown_min_duration_min)
        if self.limit_tolerance < 0:
            raise ValueError("limit_tolerance must not be negative")
        if not 1 <= self.min_points_per_hour <= 60:
            raise ValueError("min_points_per_hour must be in [1, 60]")
        if not 0 < self.off_ratio <= 1:
            raise ValueError("off_ratio must be in (0, 1]")
        positive("high_excess_pct", self.high_excess_pct)
        BaselineParams(self.baseline_window_s, self.baseline_min_samples)

    def baseline_params(self) -> BaselineParams:
        return BaselineParams(window_s=self.baseline_window_s,
                              min_samples=self.baseline_min_samples)


def emergency_noncompliance(times_s: IntArray, production_kw: FloatArray,
                            production_on_kw: float, order_start_s: IntArray,
                            order_end_s: IntArray, measure: Measure, limit_pct: float | None,
                            baseline: Baseline | None, params: EmergencyParams) -> list[Finding]:
    """Findings for one production meter against orders of one measure.

    ``limit_pct`` and ``baseline`` are needed for ``limit`` orders only. Windows of
    one call must not overlap.
    """
    prod = as_float(production_kw)
    check_1d(times_s, production_kw=prod)
    starts = np.asarray(order_start_s, dtype=np.int64).ravel()
    ends = np.asarray(order_end_s, dtype=np.int64).ravel()
    order = np.argsort(starts, kind="stable")
    starts, ends = starts[order], ends[order]
    if starts.shape != ends.shape or np.any(ends <= starts):
        raise ValueError("every order window needs start < end")
    if np.any(starts[1:] < ends[:-1]):
        raise ValueError("order windows overlap")
    if measure == "shutdown":
        return _shutdown(times_s, prod, production_on_kw, starts, ends, params)
    if measure == "limit":
        if limit_pct is None or not 0 < limit_pct < 100:
            raise ValueError("a limit order needs limit_pct in (0, 100)")
        if baseline is None or baseline.value <= 0:
            raise ValueError("a limit order needs a positive production baseline")
        return _limit(times_s, prod, starts, ends, limit_pct, baseline, params)
    raise ValueError(f"unknown measure {measure!r}")


def _window_of(t: int, starts: IntArray, ends: IntArray) -> tuple[int, int]:
    i = int(np.searchsorted(starts, t, side="right")) - 1
    return int(starts[i]), int(ends[i])


def _shutdown(times_s: IntArray, prod: FloatArray, on_kw: float, starts: IntArray,
              ends: IntArray, params: EmergencyParams) -> list[Finding]:
    data_end = int(times_s[-1]) + grid_step_s(times_s) if times_s.size else 0
    running = running_state(prod, on_kw, params.off_ratio * on_kw) == ON
    cond = running & in_windows(times_s, starts, ends)
    out = []
    for ep in episodes(times_s, cond, params.shutdown_min_duration_min * 60.0):
        w_start, w_end = _window_of(ep.start_s, starts, ends)
        seg = slice(ep.start_idx, ep.end_idx)
        # A run reaching the end of the data is over anyway when the order ended there.
        end_s = ep.end_s if ep.end_s is not None or w_end > data_end else w_end
        out.append(Finding(ep.start_s, end_s, {
            "measure": "shutdown",
            "duration_min": ep.duration_min,
            "production_mean_kw": round(float(np.mean(prod[seg])), 2),
            "production_on_kw": on_kw,
            "order_start_s": w_start,
            "order_end_s": w_end,
            "severity": "high",
        }))
    return out


def _limit(times_s: IntArray, prod: FloatArray, starts: IntArray, ends: IntArray,
           limit_pct: float, baseline: Baseline, params: EmergencyParams) -> list[Finding]:
    if times_s.size == 0:
        return []
    data_end = int(times_s[-1]) + grid_step_s(times_s)
    allowed_kw = (1.0 - limit_pct / 100.0) * baseline.value
    threshold_kw = allowed_kw * (1.0 + params.limit_tolerance)
    out = []
    for w_start, w_end in zip(starts.tolist(), ends.tolist(), strict=True):
        lo, hi = np.searchsorted(times_s, [w_start, w_end], side="left")
        if lo >= hi:
            continue
        t, p = times_s[lo:hi], prod[lo:hi]
        bucket = (t - w_start) // HOUR_S
        n_b = int(bucket[-1]) + 1
        ok = np.isfinite(p)
        count = np.bincount(bucket[ok], minlength=n_b)
        total = np.bincount(bucket[ok], weights=p[ok], minlength=n_b)
        judged = count >= params.min_points_per_hour
        mean = np.where(judged, total / np.maximum(count, 1), np.nan)
        b_start = w_start + HOUR_S * np.arange(n_b, dtype=np.int64)
        b_end = np.minimum(b_start + HOUR_S, w_end)
        pending = b_end > data_end
        violating = judged & (mean > threshold_kw) & ~pending
        r_starts, r_ends = runs(violating)
        for s, e in zip(r_starts.tolist(), r_ends.tolist(), strict=True):
            rest_judged = bool(np.any(judged[e:] & ~pending[e:]))
            ongoing = w_end > data_end and not rest_judged
            hours = mean[s:e]
            excess_pct = 100.0 * (float(np.max(hours)) / allowed_kw - 1.0)
            facts: dict[str, Any] = {
                "measure": "limit",
                "limit_pct": limit_pct,
                "hours": e - s,
                "allowed_kw": round(allowed_kw, 2),
                "threshold_kw": round(threshold_kw, 2),
                "tolerance": params.limit_tolerance,
                "max_hourly_mean_kw": round(float(np.max(hours)), 2),
                "mean_hourly_mean_kw": round(float(np.mean(hours)), 2),
                "excess_pct": round(excess_pct, 1),
                "hourly_mean_kw": [[int(b_start[i]), round(float(mean[i]), 2)]
                                   for i in range(s, e)],
                "order_start_s": w_start,
                "order_end_s": w_end,
                **baseline.facts(),
                "severity": "high" if excess_pct >= params.high_excess_pct else "medium",
            }
            out.append(Finding(int(b_start[s]), None if ongoing else int(b_end[e - 1]), facts))
    return out
