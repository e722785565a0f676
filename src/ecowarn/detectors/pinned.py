"""``pinned_below_limit`` (数据设限): hourly means held steady just under the limit.

An hour is *in band* when it is valid and complete (see :mod:`detectors.hj75`) and
its converted mean lies in ``[low_ratio, high_ratio] x limit`` (90%..100%). Every
window of ``min_hours`` (6) consecutive in-band hours whose hourly means have a
coefficient of variation (population std / mean) below ``max_cv`` (2%) marks its
hours; consecutive marked hours make one finding. The CV is that of the hourly
means, as the rule reads; the mean within-hour CV of the minute values is reported
alongside as evidence (real processes under control still vary minute to minute).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ecowarn.detectors._core import BoolArray, Finding, FloatArray, IntArray
from ecowarn.detectors._series import Episode, positive
from ecowarn.detectors.hj75 import (
    HJ75Params,
    HourlyMeans,
    hour_episodes,
    hourly_means,
)

__all__ = [
    "RULE_ID",
    "PinnedParams",
    "pinned_below_limit",
    "pinned_from_hourly",
]

RULE_ID = "pinned_below_limit"


@dataclass(frozen=True, slots=True)
class PinnedParams:
    min_hours: int = 6
    low_ratio: float = 0.9
    high_ratio: float = 1.0
    max_cv: float = 0.02
    # An hour is judged with at least this many valid minutes (HJ 75-2017: 45).
    min_valid_minutes: int = 45
    # Minutes with O2 at or above this are invalid for conversion.
    o2_max_pct: float = 20.0
    # A finding this many hours long or longer is high severity.
    high_hours: int = 24
    # Declared maintenance of the subject's devices suppresses this rule (runner;
    # see docs/architecture.md, "Suppression").
    suppressed_by_maintenance: bool = False

    def __post_init__(self) -> None:
        if self.min_hours < 2:
            raise ValueError("min_hours must be at least 2")
        if not 0 < self.low_ratio < self.high_ratio:
            raise ValueError("need 0 < low_ratio < high_ratio")
        positive("max_cv", self.max_cv)
        self.hj75()
        positive("high_hours", self.high_hours)

    def hj75(self) -> HJ75Params:
        return HJ75Params(min_valid_minutes=self.min_valid_minutes, o2_max_pct=self.o2_max_pct)


def pinned_below_limit(times_s: IntArray, conc: FloatArray, o2_pct: FloatArray,
                       valid: BoolArray, ref_o2_pct: float, limit: float,
                       params: PinnedParams) -> list[Finding]:
    """Pinned stretches of one pollutant of one outlet, from minute values on a grid."""
    hourly = hourly_means(times_s, conc, o2_pct, valid, ref_o2_pct, params.hj75())
    return pinned_from_hourly(hourly, limit, params)


def _rolling_cv(x: FloatArray, m: int) -> FloatArray:
    """CV of each window ``x[..., i:i + m]`` along the last axis (cumulative-sum form).

    The last axis of the result is ``x.shape[-1] - m + 1`` long.
    """
    zero = np.zeros((*x.shape[:-1], 1))
    c1 = np.concatenate((zero, np.cumsum(x, axis=-1)), axis=-1)
    c2 = np.concatenate((zero, np.cumsum(x * x, axis=-1)), axis=-1)
    mean = (c1[..., m:] - c1[..., :-m]) / m
    var = np.clip((c2[..., m:] - c2[..., :-m]) / m - mean * mean, 0.0, None)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.asarray(np.sqrt(var) / mean, dtype=np.float64)


def pinned_from_hourly(hourly: HourlyMeans, limit: float, params: PinnedParams) -> list[Finding]:
    """The same rule over hourly means already computed (with ``params.hj75()``)."""
    positive("limit", limit)
    n, m = len(hourly), params.min_hours
    if n < m:
        return []
    conv = hourly.mean_conv
    ok = hourly.valid & hourly.complete
    in_band = ok & (conv >= params.low_ratio * limit) & (conv <= params.high_ratio * limit)
    x = np.where(in_band, conv, 0.0)
    band_count = np.convolve(in_band.astype(np.int64), np.ones(m, dtype=np.int64), "valid")
    window_cv = _rolling_cv(x, m)
    qualifies = (band_count == m) & (window_cv < params.max_cv)
    # Mark every hour of every qualifying window (difference array).
    diff = np.zeros(n + 1, dtype=np.int64)
    idx = np.flatnonzero(qualifies)
    np.add.at(diff, idx, 1)
    np.add.at(diff, idx + m, -1)
    marked = np.cumsum(diff[:-1]) > 0
    return [_finding(hourly, ep, limit, params, qualifies, window_cv) for ep in hour_episodes(hourly, marked)]


def _finding(hourly: HourlyMeans, ep: Episode, limit: float, params: PinnedParams,
             qualifies: BoolArray, window_cv: FloatArray) -> Finding:
    m = params.min_hours
    conv = hourly.mean_conv
    seg = slice(ep.start_idx, ep.end_idx)
    means = conv[seg]
    hours = ep.end_idx - ep.start_idx
    cv = float(np.std(means) / np.mean(means))
    minute_cv = float(np.mean(hourly.std_conv[seg] / means))
    windows = qualifies[ep.start_idx:ep.end_idx - m + 1]
    max_window_cv = float(np.max(window_cv[ep.start_idx:ep.end_idx - m + 1][windows]))
    return Finding(ep.start_s, ep.end_s, {
        "hours": hours,
        "limit": limit,
        "band_low": round(params.low_ratio * limit, 3),
        "band_high": round(params.high_ratio * limit, 3),
        "mean_hourly_converted": round(float(np.mean(means)), 3),
        "min_hourly_converted": round(float(np.min(means)), 3),
        "max_hourly_converted": round(float(np.max(means)), 3),
        "cv": round(cv, 5),
        "max_window_cv": round(max_window_cv, 5),
        "max_cv": params.max_cv,
        "mean_within_hour_cv": round(minute_cv, 5),
        "hourly_converted": [[int(h), round(float(c), 3)]
                             for h, c in zip(hourly.hour_s[seg], means, strict=True)],
        "severity": "high" if hours >= params.high_hours else "medium",
    })
