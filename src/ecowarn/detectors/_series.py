"""Private helpers shared by the detectors: episodes from masks, grid checks, robust columns.

An *episode* is a run of grid points where a condition holds. Each grid point stands
for one step (``step_s``), so a run of ``k`` points lasts ``k * step_s`` seconds; the
episode starts at the first point's time and ends (exclusive) at the time of the
first point after the run, or is open (``end_s is None``) when the run reaches the
last point of the data.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from ecowarn.detectors._core import BoolArray, FloatArray, IntArray, runs

__all__ = [
    "DEFAULT_STEP_S",
    "Episode",
    "Severity",
    "as_float",
    "check_1d",
    "episodes",
    "grid_step_s",
    "in_windows",
    "nan_median_mad_cols",
    "positive",
    "severity_by",
]

DEFAULT_STEP_S = 60

Severity = Literal["low", "medium", "high"]


@dataclass(frozen=True, slots=True)
class Episode:
    """A run ``[start_idx, end_idx)`` of grid points; ``end_s`` None when still open."""

    start_idx: int
    end_idx: int
    start_s: int
    end_s: int | None
    duration_s: int

    @property
    def duration_min(self) -> float:
        return self.duration_s / 60.0


def grid_step_s(times_s: IntArray) -> int:
    """The grid step: the first difference of ``times_s`` (60 s for fewer than two points)."""
    if times_s.size < 2:
        return DEFAULT_STEP_S
    step = int(times_s[1] - times_s[0])
    if step <= 0:
        raise ValueError("times_s must be strictly increasing")
    return step


def as_float(a: object) -> FloatArray:
    return np.asarray(a, dtype=np.float64)


def check_1d(times_s: IntArray, **arrays: np.ndarray) -> None:
    """Raise ``ValueError`` naming the first array whose shape is not ``times_s``'s."""
    if times_s.ndim != 1:
        raise ValueError("times_s must be one-dimensional")
    for name, arr in arrays.items():
        if np.shape(arr) != times_s.shape:
            raise ValueError(f"{name} has shape {np.shape(arr)}, expected {times_s.shape}")


def episodes(times_s: IntArray, cond: BoolArray, min_duration_s: float,
             step_s: int | None = None) -> list[Episode]:
    """Runs of ``cond`` lasting at least ``min_duration_s`` (each point = one step)."""
    step = grid_step_s(times_s) if step_s is None else step_s
    starts, ends = runs(cond)
    lengths = (ends - starts) * step
    keep = lengths >= min_duration_s
    n = times_s.size
    out: list[Episode] = []
    for s, e, d in zip(starts[keep], ends[keep], lengths[keep], strict=True):
        out.append(Episode(
            start_idx=int(s), end_idx=int(e), start_s=int(times_s[s]),
            end_s=None if e >= n else int(times_s[e]), duration_s=int(d),
        ))
    return out


def in_windows(times_s: IntArray, start_s: IntArray, end_s: IntArray) -> BoolArray:
    """True where a time falls in any window ``[start_s[i], end_s[i])``; windows may overlap."""
    starts = np.asarray(start_s, dtype=np.int64).ravel()
    ends = np.asarray(end_s, dtype=np.int64).ravel()
    if starts.shape != ends.shape:
        raise ValueError("window starts and ends differ in length")
    if np.any(ends < starts):
        raise ValueError("a window ends before it starts")
    opened = np.searchsorted(np.sort(starts), times_s, side="right")
    closed = np.searchsorted(np.sort(ends), times_s, side="right")
    return np.asarray(opened > closed)


def severity_by(value: float, medium_at: float, high_at: float) -> Severity:
    """``high`` at or above ``high_at``, ``medium`` at or above ``medium_at``, else ``low``."""
    if value >= high_at:
        return "high"
    if value >= medium_at:
        return "medium"
    return "low"


def positive(name: str, value: float) -> None:
    if not value > 0:
        raise ValueError(f"{name} must be positive")


def nan_median_mad_cols(a: FloatArray) -> tuple[FloatArray, FloatArray, IntArray]:
    """Per column of ``a`` (m, n): median and unscaled MAD of the finite values, and their count.

    Columns without finite values give NaN. Written with sort + take so that empty
    columns raise no warnings (``np.nanmedian`` warns on them).
    """
    arr = np.asarray(a, dtype=np.float64)
    if arr.ndim != 2:
        raise ValueError("expected a two-dimensional array")
    count = np.sum(np.isfinite(arr), axis=0).astype(np.int64)
    med = _sorted_median(np.sort(arr, axis=0), count)
    dev = np.abs(arr - med[np.newaxis, :])
    mad = _sorted_median(np.sort(dev, axis=0), count)
    return med, mad, count


def _sorted_median(sorted_cols: FloatArray, count: IntArray) -> FloatArray:
    """Median of columns sorted with NaN last, given each column's finite count."""
    if sorted_cols.shape[0] == 0:
        return np.full(count.shape, np.nan)
    lo = np.clip((count - 1) // 2, 0, None)
    hi = np.clip(count // 2, 0, None)
    lo_v = np.take_along_axis(sorted_cols, lo[np.newaxis, :], axis=0)[0]
    hi_v = np.take_along_axis(sorted_cols, hi[np.newaxis, :], axis=0)[0]
    out = (lo_v + hi_v) / 2.0
    out[count == 0] = np.nan
    return np.asarray(out, dtype=np.float64)
