"""Private 2-D helpers of the row-batched detectors: one subject per row, grid points along it.

The ``*_rows`` variants of the rules take arrays shaped ``(subjects, n)`` over one shared
grid ``times_s`` (n,) and return one list of findings per row, identical to what the
per-subject function returns for that row alone. They do the per-point work in a few
passes over the whole array instead of a few dozen small calls per subject; the per-finding
work (facts) goes through the same private helpers as the per-subject functions.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ecowarn.detectors._core import BoolArray, FloatArray, IntArray
from ecowarn.detectors._series import Episode

__all__ = ["as_rows", "episodes_rows", "per_row", "runs_rows"]


def as_rows(name: str, a: object, n: int, dtype: Any = np.float64) -> np.ndarray:
    """``a`` as a 2-D ``(subjects, n)`` array of ``dtype``; ``ValueError`` naming it otherwise."""
    arr = np.asarray(a, dtype=dtype)
    if arr.ndim != 2 or arr.shape[1] != n:
        raise ValueError(f"{name} has shape {arr.shape}, expected (subjects, {n})")
    return arr


def per_row(name: str, a: object, rows: int) -> FloatArray:
    """A per-subject number (scalar or ``(rows,)``) as a float ``(rows,)`` array."""
    arr = np.asarray(a, dtype=np.float64)
    if arr.ndim == 0:
        return np.full(rows, float(arr))
    if arr.shape != (rows,):
        raise ValueError(f"{name} has shape {arr.shape}, expected ({rows},)")
    return arr


def runs_rows(mask: BoolArray) -> tuple[IntArray, IntArray, IntArray]:
    """Row, start and end (exclusive) column of every run of True in a 2-D ``mask``.

    Runs are listed row by row, left to right: the same runs :func:`detectors._core.runs`
    gives for each row alone.
    """
    m = np.asarray(mask, dtype=bool)
    if m.ndim != 2:
        raise ValueError("expected a two-dimensional mask")
    rows, n = m.shape
    if m.size == 0:
        empty = np.empty(0, dtype=np.int64)
        return empty, empty, empty
    # Rows end to end, each followed by one False: every run closes inside its own row, and
    # the changes of value alternate start, end, start, end ...
    flat = np.zeros((rows, n + 1), dtype=bool)
    flat[:, :n] = m
    line = flat.ravel()
    change = np.flatnonzero(line[1:] != line[:-1]) + 1
    if line[0]:
        change = np.concatenate(([0], change))
    width = n + 1
    starts, ends = change[0::2], change[1::2]
    return (starts // width).astype(np.int64), (starts % width).astype(np.int64), \
        (ends - (starts // width) * width).astype(np.int64)


def episodes_rows(times_s: IntArray, cond: BoolArray, min_duration_s: float,
                  step_s: int) -> list[list[Episode]]:
    """Per row, the runs of ``cond`` lasting at least ``min_duration_s``, as
    :func:`detectors._series.episodes` gives them for that row alone."""
    c = np.asarray(cond, dtype=bool)
    n = times_s.size
    out: list[list[Episode]] = [[] for _ in range(c.shape[0])]
    rows, starts, ends = runs_rows(c)
    lengths = (ends - starts) * step_s
    keep = lengths >= min_duration_s
    for r, s, e, d in zip(rows[keep].tolist(), starts[keep].tolist(), ends[keep].tolist(),
                          lengths[keep].tolist(), strict=True):
        out[r].append(Episode(
            start_idx=s, end_idx=e, start_s=int(times_s[s]),
            end_s=None if e >= n else int(times_s[e]), duration_s=d,
        ))
    return out
