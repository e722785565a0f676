"""Shared pieces of the pure detectors: findings, run-length tables, minute grids.

Detectors are pure functions ``(times, values..., params) -> list[Finding]`` over
numpy arrays: no I/O, no clock, no globals. Times are int64 epoch seconds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = [
    "BoolArray",
    "Finding",
    "FloatArray",
    "IntArray",
    "align_to_grid",
    "minute_grid",
    "runs",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True, slots=True)
class Finding:
    """One episode of a condition.

    ``start_s`` is the first instant the condition held; ``end_s`` the first
    instant it no longer held (exclusive), or ``None`` when it still holds at the
    end of the data. ``facts`` are the numbers that made it fire, for evidence and
    summaries (JSON-serialisable).
    """

    start_s: int
    end_s: int | None
    facts: dict[str, Any] = field(default_factory=dict)


def runs(mask: BoolArray) -> tuple[IntArray, IntArray]:
    """Start and end (exclusive) indices of the runs of True in ``mask``."""
    m = np.asarray(mask)
    if m.size == 0:
        empty = np.empty(0, dtype=np.int64)
        return empty, empty
    if m.dtype != np.bool_ or m.ndim != 1:  # as before: 0/1 differences (raises unless 1-D)
        d = np.diff(np.concatenate(([0], m.astype(np.int8), [0])))
        return np.flatnonzero(d == 1).astype(np.int64), np.flatnonzero(d == -1).astype(np.int64)
    # Changes of value alternate start, end, start ... once the mask is closed by False at
    # both ends: index i + 1 where m[i] != m[i + 1], plus 0 and n for runs at the edges.
    change = np.flatnonzero(m[1:] != m[:-1]).astype(np.int64) + 1
    if m[0]:
        change = np.concatenate(([0], change))
    if m[-1]:
        change = np.concatenate((change, [m.size]))
    return change[0::2], change[1::2]


def minute_grid(t0_s: int, t1_s: int, step_s: int = 60) -> IntArray:
    """Grid points from ``t0_s`` floored to the step through ``t1_s`` inclusive."""
    start = (t0_s // step_s) * step_s
    return np.arange(start, t1_s + 1, step_s, dtype=np.int64)


def align_to_grid(times: IntArray, values: FloatArray, grid: IntArray,
                  max_hold_s: int) -> FloatArray:
    """Last observation at or before each grid point, NaN when older than ``max_hold_s``.

    ``times`` must be sorted. NaN values in ``values`` stay NaN (a gap).
    """
    out = np.full(grid.shape, np.nan, dtype=np.float64)
    if times.size == 0:
        return out
    idx = np.searchsorted(times, grid, side="right") - 1
    ok = idx >= 0
    idx_ok = idx[ok]
    fresh = (grid[ok] - times[idx_ok]) <= max_hold_s
    vals = values[idx_ok]
    sub = np.full(idx_ok.shape, np.nan)
    sub[fresh] = vals[fresh]
    out[ok] = sub
    return out
