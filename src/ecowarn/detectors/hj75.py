"""HJ 75-2017 data handling: O2-converted concentration, flags, valid hourly means.

Conventions (used by the rules and reusable by the API):

- Flags are numpy arrays of single-character strings (dtype ``<U1``), one per grid
  point, with the HJ 212 letters (``N`` normal, ``M``, ``C``, ``D``, ...); ``""``
  stands for "no reading". :func:`valid_minutes` turns them into the boolean
  validity mask that the computations take.
- A minute counts for an hourly mean when it is valid for the pollutant and for O2
  (the caller ANDs both masks), both values are finite, and O2 is below
  ``o2_max_pct``: the conversion factor ``(21 - O2_ref) / (21 - O2)`` blows up as O2
  nears ambient 20.9%, so such minutes are invalid rather than converted.
- The hourly converted mean is the mean of the minute converted values, each
  minute converted with its own O2 (not the hourly mean converted with the hourly
  mean O2). Raw and O2 means are over the same minutes.
- Hours are epoch-hour buckets ``[h, h + 3600)``; China's UTC+8 offset is whole
  hours, so they are also local clock hours. An hour is valid with at least
  ``min_valid_minutes`` (45) valid minutes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from ecowarn.detectors._core import BoolArray, FloatArray, IntArray, runs
from ecowarn.detectors._series import Episode, as_float, check_1d, grid_step_s

__all__ = [
    "AMBIENT_O2_PCT",
    "HJ75Params",
    "HourlyMeans",
    "converted",
    "flag_in",
    "hour_episode",
    "hour_episodes",
    "hourly_means",
    "valid_minutes",
]

AMBIENT_O2_PCT = 21.0
HOUR_S = 3600
_U1 = np.dtype("<U1")
_U1_CODE = np.dtype("<u4")  # a <U1 element is one little-endian UCS-4 code point


@dataclass(frozen=True, slots=True)
class HJ75Params:
    # An hour needs at least this many valid minute values (HJ 75-2017: 45).
    min_valid_minutes: int = 45
    # Minutes with O2 at or above this are invalid for conversion (factor blows up near 21%).
    o2_max_pct: float = 20.0

    def __post_init__(self) -> None:
        if not 1 <= self.min_valid_minutes <= 60:
            raise ValueError("min_valid_minutes must be in [1, 60]")
        if not 0 < self.o2_max_pct < AMBIENT_O2_PCT:
            raise ValueError("o2_max_pct must be in (0, 21)")


def flag_in(flags: npt.NDArray[np.str_], letters: str) -> BoolArray:
    """True where the flag is one of the single-character ``letters``.

    ``<U1`` flags (any shape) are compared as their integer code points, a zero-copy
    view (``""`` is code 0 and matches no letter); other dtypes as strings.
    """
    f = np.asarray(flags)
    if f.dtype == _U1:
        codes = f.view(_U1_CODE)
        if len(letters) == 1:
            return np.asarray(codes == ord(letters))
        mask = np.zeros(f.shape, dtype=bool)
        for letter in letters:
            mask |= codes == ord(letter)
        return mask
    mask = np.zeros(f.shape, dtype=bool)
    for letter in letters:
        mask |= f == letter
    return mask


def valid_minutes(flags: npt.NDArray[np.str_], valid_flags: str = "N") -> BoolArray:
    """True where the flag is one of ``valid_flags`` (``""``, no reading, is never valid)."""
    return flag_in(flags, valid_flags)


def converted(conc: FloatArray, o2_pct: FloatArray, ref_o2_pct: float,
              o2_max_pct: float = 20.0) -> FloatArray:
    """``C * (21 - O2_ref) / (21 - O2)``; NaN where O2 is NaN or at/above ``o2_max_pct``."""
    if not 0 <= ref_o2_pct < AMBIENT_O2_PCT:
        raise ValueError("ref_o2_pct must be in [0, 21)")
    c = as_float(conc)
    o2 = as_float(o2_pct)
    ok = np.isfinite(o2) & (o2 < o2_max_pct)
    denom = np.where(ok, AMBIENT_O2_PCT - o2, 1.0)
    out = c * (AMBIENT_O2_PCT - ref_o2_pct) / denom
    return np.asarray(np.where(ok, out, np.nan), dtype=np.float64)


@dataclass(frozen=True, slots=True)
class HourlyMeans:
    """Per hour bucket (all arrays of length ``n_hours``, contiguous hours).

    ``complete`` is False for a last hour that the data does not reach the end of
    (its value may still change); ``std_conv`` is the population standard deviation
    of the minute converted values (NaN without valid minutes).
    """

    hour_s: IntArray
    mean_raw: FloatArray
    mean_o2: FloatArray
    mean_conv: FloatArray
    std_conv: FloatArray
    n_valid: IntArray
    valid: BoolArray
    complete: BoolArray

    def __len__(self) -> int:
        return int(self.hour_s.size)


def hourly_means(times_s: IntArray, conc: FloatArray, o2_pct: FloatArray, valid: BoolArray,
                 ref_o2_pct: float, params: HJ75Params) -> HourlyMeans:
    """Hourly means of minute values on a grid (``times_s`` sorted, one value per minute).

    ``valid`` is the minute validity mask (pollutant and O2 flags, see module doc).
    Every hour from the first to the last one touched is returned, hours without
    data included (``n_valid`` 0, not valid).
    """
    t = np.asarray(times_s, dtype=np.int64)
    c = as_float(conc)
    o2 = as_float(o2_pct)
    v = np.asarray(valid, dtype=bool)
    check_1d(t, conc=c, o2_pct=o2, valid=v)
    if t.size == 0:
        e_i, e_f = np.empty(0, np.int64), np.empty(0, np.float64)
        return HourlyMeans(e_i, e_f, e_f, e_f, e_f, e_i, np.empty(0, bool), np.empty(0, bool))
    step = grid_step_s(t)
    conv = converted(c, o2, ref_o2_pct, params.o2_max_pct)
    use = v & np.isfinite(c) & np.isfinite(conv)
    first_h = (int(t[0]) // HOUR_S) * HOUR_S
    idx = (t - first_h) // HOUR_S
    n_hours = int(idx[-1]) + 1
    hour_s = first_h + HOUR_S * np.arange(n_hours, dtype=np.int64)
    idx_use = idx[use]
    n_valid = np.bincount(idx_use, minlength=n_hours).astype(np.int64)

    def mean_of(x: FloatArray) -> FloatArray:
        total = np.bincount(idx_use, weights=x[use], minlength=n_hours)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.asarray(np.where(n_valid > 0, total / n_valid, np.nan), dtype=np.float64)

    mean_conv = mean_of(conv)
    dev = conv - mean_conv[idx]  # two-pass variance: exact for constant values
    std_conv = np.sqrt(mean_of(dev * dev))
    complete = hour_s + HOUR_S <= int(t[-1]) + step
    return HourlyMeans(
        hour_s=hour_s,
        mean_raw=mean_of(c),
        mean_o2=mean_of(o2),
        mean_conv=mean_conv,
        std_conv=np.asarray(std_conv, dtype=np.float64),
        n_valid=n_valid,
        valid=np.asarray(n_valid >= params.min_valid_minutes),
        complete=np.asarray(complete),
    )


def hour_episodes(hourly: HourlyMeans, cond: BoolArray) -> list[Episode]:
    """Runs of consecutive complete hours where ``cond`` holds.

    A run is open (``end_s`` None) when no complete hour follows it: the only hour
    after it, if any, is the last one and still in progress.
    """
    c = np.asarray(cond, dtype=bool) & hourly.complete
    starts, ends = runs(c)
    return [hour_episode(hourly.hour_s, hourly.complete, s, e)
            for s, e in zip(starts.tolist(), ends.tolist(), strict=True)]


def hour_episode(hour_s: IntArray, complete: BoolArray, s: int, e: int) -> Episode:
    """The episode of hours ``[s, e)``; open when no complete hour follows it."""
    ongoing = not bool(np.any(complete[e:]))
    return Episode(
        start_idx=s, end_idx=e, start_s=int(hour_s[s]),
        end_s=None if ongoing else int(hour_s[e - 1]) + HOUR_S,
        duration_s=(e - s) * HOUR_S,
    )
