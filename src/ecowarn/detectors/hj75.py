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
from ecowarn.detectors._rows import as_rows, per_row, runs_rows
from ecowarn.detectors._series import Episode, as_float, check_1d, grid_step_s

__all__ = [
    "AMBIENT_O2_PCT",
    "HJ75Params",
    "HourlyMeans",
    "HourlyMeansRows",
    "converted",
    "flag_in",
    "hour_episode",
    "hour_episodes",
    "hour_episodes_rows",
    "hourly_means",
    "hourly_means_rows",
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


def hour_episodes_rows(hourly: HourlyMeansRows, cond: BoolArray) -> list[tuple[int, Episode]]:
    """(row, episode) of :func:`hour_episodes` for every row of ``cond`` (subjects, hours)."""
    c = np.asarray(cond, dtype=bool) & hourly.complete
    rows, starts, ends = runs_rows(c)
    return [(r, hour_episode(hourly.hour_s, hourly.complete, s, e))
            for r, s, e in zip(rows.tolist(), starts.tolist(), ends.tolist(), strict=True)]


# Minute concentration, O2, converted concentration and use mask, (subjects, hours, per hour).
_Minutes = tuple[FloatArray, FloatArray, FloatArray, BoolArray]


class HourlyMeansRows:
    """:class:`HourlyMeans` of many subjects over one grid: arrays (subjects, hours).

    ``hour_s`` and ``complete`` are shared (hours,); ``mean_conv``, ``n_valid`` and
    ``valid`` are (subjects, hours). The evidence columns (raw and O2 means, std of
    the converted minutes) are computed only for the rows asked for, by :meth:`rows`.
    """

    __slots__ = ("_minutes", "_per_subject", "complete", "hour_s", "mean_conv", "n_valid", "valid")

    def __init__(self, hour_s: IntArray, complete: BoolArray, mean_conv: FloatArray, n_valid: IntArray,
                 valid: BoolArray, minutes: _Minutes | None,
                 per_subject: list[HourlyMeans] | None = None) -> None:
        self.hour_s = hour_s
        self.complete = complete
        self.mean_conv = mean_conv
        self.n_valid = n_valid
        self.valid = valid
        # Minute values (subjects, hours, points per hour); None when per_subject is given.
        self._minutes = minutes
        self._per_subject = per_subject

    def __len__(self) -> int:
        return int(self.mean_conv.shape[0])

    def rows(self, idx: list[int]) -> list[HourlyMeans]:
        """The full :class:`HourlyMeans` of rows ``idx``, equal to :func:`hourly_means` of each."""
        if self._per_subject is not None:
            return [self._per_subject[i] for i in idx]
        assert self._minutes is not None
        conc, o2, conv, use_all = self._minutes
        sel = np.asarray(idx, dtype=np.intp)
        use, n_valid, mean_conv = use_all[sel], self.n_valid[sel], self.mean_conv[sel]
        mean_raw = _mean_of(_ordered_sum(conc[sel], use), n_valid)
        mean_o2 = _mean_of(_ordered_sum(o2[sel], use), n_valid)
        dev = conv[sel] - mean_conv[:, :, np.newaxis]
        std_conv = np.sqrt(_mean_of(_ordered_sum(dev * dev, use), n_valid))
        return [HourlyMeans(self.hour_s, mean_raw[j], mean_o2[j], mean_conv[j],
                            np.asarray(std_conv[j], dtype=np.float64), n_valid[j], self.valid[i],
                            self.complete)
                for j, i in enumerate(idx)]


def hourly_means_rows(times_s: IntArray, conc: FloatArray, o2_pct: FloatArray, valid: BoolArray,
                      ref_o2_pct: FloatArray | float, params: HJ75Params) -> HourlyMeansRows:
    """:func:`hourly_means` of many subjects on one grid, one per row of (subjects, n) arrays.

    ``ref_o2_pct`` is per row (subjects,) or one number. On a regular grid whose step
    divides the hour the minutes are laid out as (subjects, hours, points per hour) and
    summed in grid order, so every number equals the per-subject function's bit for bit;
    any other grid is evaluated subject by subject.
    """
    t = np.asarray(times_s, dtype=np.int64)
    if t.ndim != 1:
        raise ValueError("times_s must be one-dimensional")
    n = t.size
    c = as_rows("conc", conc, n)
    o2 = as_rows("o2_pct", o2_pct, n)
    v = as_rows("valid", valid, n, dtype=bool)
    if o2.shape != c.shape or v.shape != c.shape:
        raise ValueError("conc, o2_pct and valid differ in shape")
    subjects = c.shape[0]
    ref = per_row("ref_o2_pct", ref_o2_pct, subjects)
    if not np.all((ref >= 0) & (ref < AMBIENT_O2_PCT)):
        raise ValueError("ref_o2_pct must be in [0, 21)")
    step = grid_step_s(t)
    regular = n >= 1 and HOUR_S % step == 0 and bool(np.all(np.diff(t) == step))
    if not regular or subjects == 0:
        hm = [hourly_means(t, c[i], o2[i], v[i], float(ref[i]), params) for i in range(subjects)]
        hours = len(hm[0]) if hm else 0
        hour_s = hm[0].hour_s if hm else np.empty(0, np.int64)
        complete = hm[0].complete if hm else np.empty(0, bool)

        def stack(a: list[np.ndarray], dtype: type) -> np.ndarray:
            return np.stack(a) if a else np.empty((0, hours), dtype=dtype)

        return HourlyMeansRows(hour_s, complete, stack([h.mean_conv for h in hm], np.float64),
                               stack([h.n_valid for h in hm], np.int64), stack([h.valid for h in hm], bool),
                               None, hm)
    ok = np.isfinite(o2)
    ok &= o2 < params.o2_max_pct  # o2_max_pct < 21: 21 - o2 is finite and positive
    denom = np.where(ok, AMBIENT_O2_PCT - o2, 1.0)
    conv = c * (AMBIENT_O2_PCT - ref)[:, np.newaxis]  # as converted(): (c * k) / denom
    conv /= denom
    np.copyto(conv, np.nan, where=~ok)
    # With 21 - ref > 0 and 0 < denom < inf, a finite converted value implies a finite conc.
    use = np.isfinite(conv)
    use &= v
    first_h = (int(t[0]) // HOUR_S) * HOUR_S
    per_hour = HOUR_S // step
    offset = (int(t[0]) - first_h) // step
    hours = (offset + n - 1) // per_hour + 1
    shape = (subjects, hours, per_hour)
    if offset == 0 and n == hours * per_hour:
        c3, o2_3, conv3, use3 = c.reshape(shape), o2.reshape(shape), conv.reshape(shape), use.reshape(shape)
    else:
        width = hours * per_hour
        c3 = _padded(c, offset, width, np.nan).reshape(shape)
        o2_3 = _padded(o2, offset, width, np.nan).reshape(shape)
        conv3 = _padded(conv, offset, width, np.nan).reshape(shape)
        use3 = _padded(use, offset, width, False).reshape(shape)
    hour_s = first_h + HOUR_S * np.arange(hours, dtype=np.int64)
    n_valid = np.count_nonzero(use3, axis=2).astype(np.int64)
    mean_conv = _mean_of(_ordered_sum(conv3, use3), n_valid)
    return HourlyMeansRows(
        hour_s=hour_s,
        complete=np.asarray(hour_s + HOUR_S <= int(t[-1]) + step),
        mean_conv=mean_conv,
        n_valid=n_valid,
        valid=np.asarray(n_valid >= params.min_valid_minutes),
        minutes=(c3, o2_3, conv3, use3),
    )


def _padded(a: np.ndarray, offset: int, width: int, fill: float | bool) -> np.ndarray:
    out = np.full((a.shape[0], width), fill, dtype=a.dtype)
    out[:, offset:offset + a.shape[1]] = a
    return out


def _ordered_sum(x3: FloatArray, use3: BoolArray) -> FloatArray:
    """Sum over the last axis of the values where ``use3``, added in grid order from 0.0.

    That is the order in which ``np.bincount`` adds weights, so the sums equal
    :func:`hourly_means`' bit for bit (``ndarray.sum`` adds pairwise and does not).
    """
    masked = np.where(use3, x3, 0.0)
    total = np.zeros(x3.shape[:-1], dtype=np.float64)
    for k in range(x3.shape[-1]):
        total += masked[..., k]
    return total


def _mean_of(total: FloatArray, n_valid: IntArray) -> FloatArray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.asarray(np.where(n_valid > 0, total / n_valid, np.nan), dtype=np.float64)
