"""``emission_exceedance`` for wastewater outlets (CONTRACT section 8, 1.1).

Water analysers for COD, NH3-N, TP and TN measure every 1-2 h, and loggers often upload
hourly values, so the judgement is on means, not minutes:

- an **hour** is valid when it holds at least one valid value (flag ``N``, or ``T`` above
  range: still a measurement, and a high one); its mean is the mean of those values;
- a **day** (local, UTC+8) is valid with at least ``min_valid_hours`` (20) valid hours; its
  mean is the mean of its valid hourly means. A valid day above the daily limit is an
  exceedance; consecutive exceeding days are one finding;
- where an hourly limit is set, valid hours above it are exceedances too, consecutive
  hours one finding;
- **pH** outside its range for at least ``ph_min_duration_min`` (60): each valid value
  stands for the time until the next one (at most ``ph_max_hold_s``).

No O2 correction for water. Times are epoch seconds; every function is pure.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from ecowarn.detectors._core import Finding, FloatArray, IntArray, runs
from ecowarn.detectors.hj75 import flag_in

__all__ = ["DayMeans", "HourMeans", "WaterParams", "day_means", "hour_means", "ph_out_of_range",
           "water_exceedance"]

HOUR_S = 3600
DAY_S = 86400
LOCAL_OFFSET_S = 8 * HOUR_S
VALID_FLAGS = "NT"


@dataclass(frozen=True, slots=True)
class WaterParams:
    min_valid_hours: int = 20
    ph_min_duration_min: float = 60.0
    # A pH value stands for the time until the next one, at most this long.
    ph_max_hold_s: int = 3600
    # High severity at this multiple of the limit, or after this many days / hours.
    high_ratio: float = 1.5
    high_days: int = 2
    high_hours: int = 4

    def __post_init__(self) -> None:
        if not 1 <= self.min_valid_hours <= 24:
            raise ValueError("min_valid_hours must be between 1 and 24")
        if self.ph_min_duration_min <= 0 or self.ph_max_hold_s <= 0:
            raise ValueError("ph_min_duration_min and ph_max_hold_s must be positive")


@dataclass(frozen=True, slots=True)
class HourMeans:
    hour_s: IntArray  # start of each hour that has any value (sorted)
    mean: FloatArray  # mean of the valid values (NaN: no valid value)
    n_valid: IntArray


@dataclass(frozen=True, slots=True)
class DayMeans:
    day_s: IntArray  # local midnight (epoch s) of each day with any hour
    mean: FloatArray  # mean of valid hourly means (NaN when the day is not valid)
    valid_hours: IntArray


def _valid(values: FloatArray, flags: npt.NDArray[np.str_]) -> npt.NDArray[np.bool_]:
    return ~np.isnan(values) & flag_in(flags, VALID_FLAGS)


def hour_means(times_s: IntArray, values: FloatArray, flags: npt.NDArray[np.str_]) -> HourMeans:
    """Mean of the valid values of each clock hour (hours with no value at all are left out)."""
    t = np.asarray(times_s, dtype=np.int64)
    v = np.asarray(values, dtype=np.float64)
    ok = _valid(v, np.asarray(flags))
    hours = t - t % HOUR_S
    uniq, inverse = np.unique(hours, return_inverse=True)
    n = np.bincount(inverse, weights=ok.astype(np.float64), minlength=uniq.size)
    total = np.bincount(inverse, weights=np.where(ok, v, 0.0), minlength=uniq.size)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(n > 0, total / np.maximum(n, 1), np.nan)
    return HourMeans(uniq.astype(np.int64), mean, n.astype(np.int64))


def day_means(hours: HourMeans, min_valid_hours: int) -> DayMeans:
    """Mean of each local day's valid hourly means; NaN when fewer than ``min_valid_hours``."""
    valid = hours.n_valid > 0
    local = hours.hour_s + LOCAL_OFFSET_S
    days = local - local % DAY_S - LOCAL_OFFSET_S
    uniq, inverse = np.unique(days, return_inverse=True)
    count = np.bincount(inverse, weights=valid.astype(np.float64), minlength=uniq.size)
    total = np.bincount(inverse, weights=np.where(valid, hours.mean, 0.0), minlength=uniq.size)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(count >= min_valid_hours, total / np.maximum(count, 1), np.nan)
    return DayMeans(uniq.astype(np.int64), mean, count.astype(np.int64))


def water_exceedance(times_s: IntArray, values: FloatArray, flags: npt.NDArray[np.str_],
                     limit_daily: float | None, limit_hourly: float | None,
                     params: WaterParams, complete_until_s: int | None = None) -> list[Finding]:
    """Exceeding valid days (daily mean above ``limit_daily``) and hours (hourly mean above
    ``limit_hourly``), consecutive ones merged. Only days and hours that ended at or before
    ``complete_until_s`` are judged (default: everything given); a run reaching the last
    judged period is open (``end_s`` None)."""
    hours = hour_means(times_s, values, flags)
    out: list[Finding] = []
    until = np.iinfo(np.int64).max if complete_until_s is None else complete_until_s
    if limit_daily is not None:
        days = day_means(hours, params.min_valid_hours)
        done = days.day_s + DAY_S <= until
        out += _periods(days.day_s[done], days.mean[done], days.valid_hours[done], limit_daily, DAY_S,
                        "daily", params.high_ratio, params.high_days)
    if limit_hourly is not None:
        done = hours.hour_s + HOUR_S <= until
        out += _periods(hours.hour_s[done], hours.mean[done], hours.n_valid[done], limit_hourly, HOUR_S,
                        "hourly", params.high_ratio, params.high_hours)
    return sorted(out, key=lambda f: (f.start_s, f.facts["basis"]))


def _periods(start_s: IntArray, mean: FloatArray, n: IntArray, limit: float, length_s: int, basis: str,
             high_ratio: float, high_count: int) -> list[Finding]:
    if start_s.size == 0:
        return []
    # a missing period breaks a run: index periods on a regular axis
    slot = (start_s - start_s[0]) // length_s
    axis = np.full(int(slot[-1]) + 1, np.nan)
    axis[slot] = mean
    with np.errstate(invalid="ignore"):
        over = axis > limit
    out = []
    starts, ends = runs(over)
    for s, e in zip(starts.tolist(), ends.tolist(), strict=True):
        seg = axis[s:e]
        worst = float(np.max(seg))
        count = e - s
        first = int(start_s[0] + s * length_s)
        out.append(Finding(
            start_s=first, end_s=None if e == axis.size else first + count * length_s,
            facts={"basis": basis, "limit": limit, "periods": count,
                   "means": [round(float(x), 3) for x in seg], "max_mean": round(worst, 3),
                   "max_ratio": round(worst / limit, 3),
                   "duration_min": count * length_s / 60.0,
                   "severity": "high" if worst >= high_ratio * limit or count >= high_count else "medium"}))
    # a run ending at the last judged period may go on: open
    return out


def ph_out_of_range(times_s: IntArray, values: FloatArray, flags: npt.NDArray[np.str_], low: float,
                    high: float, params: WaterParams, end_s: int | None = None) -> list[Finding]:
    """Runs of valid pH readings outside ``[low, high]`` lasting ``ph_min_duration_min`` or
    more. A reading stands until the next valid one, at most ``ph_max_hold_s``; the last
    one until ``end_s`` (default: its own time plus the hold)."""
    t = np.asarray(times_s, dtype=np.int64)
    v = np.asarray(values, dtype=np.float64)
    ok = _valid(v, np.asarray(flags))
    t, v = t[ok], v[ok]
    if t.size == 0:
        return []
    nxt = np.append(t[1:], t[-1] + params.ph_max_hold_s if end_s is None else max(end_s, t[-1]))
    stop = np.minimum(nxt, t + params.ph_max_hold_s)
    outside = (v < low) | (v > high)
    out = []
    starts, ends = runs(outside)
    for s, e in zip(starts.tolist(), ends.tolist(), strict=True):
        # contiguous only while each reading reaches the next one
        pieces = [s]
        for i in range(s, e - 1):
            if stop[i] < t[i + 1]:
                pieces.append(i + 1)
        pieces.append(e)
        for a, b in itertools.pairwise(pieces):
            first, last_end = int(t[a]), int(stop[b - 1])
            minutes = (last_end - first) / 60.0
            if minutes >= params.ph_min_duration_min:
                seg = v[a:b]
                ongoing = b == t.size and end_s is not None and last_end >= end_s
                out.append(Finding(start_s=first, end_s=None if ongoing else last_end, facts={
                    "basis": "ph", "low": low, "high": high, "min": round(float(seg.min()), 3),
                    "max": round(float(seg.max()), 3), "duration_min": round(minutes, 2),
                    "severity": "high" if minutes >= 4 * params.ph_min_duration_min else "medium"}))
    return out
