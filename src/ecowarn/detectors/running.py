"""Running state of equipment from its power, with hysteresis.

Equipment switches on when power reaches ``on_kw`` and off only when it falls
below ``off_kw`` (lower), so noise around one threshold does not flap. Between the
thresholds it keeps its previous state. Short runs of a state (under
``min_state_points`` grid points) are merged into their surroundings.

:func:`running_state_rows` does the same for many meters at once, one per row of a
``(meters, n)`` array, with per-row thresholds.
"""

from __future__ import annotations

import numpy as np

from ecowarn.detectors._core import BoolArray, FloatArray, runs
from ecowarn.detectors._rows import as_rows, per_row

__all__ = ["OFF", "ON", "UNKNOWN", "running_state", "running_state_rows"]

ON = np.int8(1)
OFF = np.int8(0)
UNKNOWN = np.int8(-1)


def running_state(power_kw: FloatArray, on_kw: float, off_kw: float | None = None,
                  min_state_points: int = 1) -> np.ndarray:
    """Per point: ``ON`` (1), ``OFF`` (0) or ``UNKNOWN`` (-1, no data).

    ``off_kw`` defaults to 80% of ``on_kw``. At the start, and after a gap, a value
    between the thresholds counts as on when it is nearer ``on_kw``.
    """
    p = np.asarray(power_kw, dtype=np.float64)
    if off_kw is None:
        off_kw = 0.8 * on_kw
    if off_kw > on_kw:
        raise ValueError("off_kw must not exceed on_kw")
    known = ~np.isnan(p)
    mid = (on_kw + off_kw) / 2.0
    # Events: 1 = switch on, 0 = switch off, -1 = hold the previous state.
    ev = np.where(p >= on_kw, 1, np.where(p < off_kw, 0, -1)).astype(np.int8)
    # Positions that start a segment (first point, or first after a gap) decide by midpoint.
    seg_start = known & ~np.concatenate(([False], known[:-1]))
    ev = np.where(seg_start & (ev == -1), np.where(p >= mid, 1, 0), ev).astype(np.int8)
    ev[~known] = -1
    # Forward-fill decided events inside each known segment.
    decided = (ev >= 0) | ~known
    idx = np.where(decided, np.arange(p.size), 0)
    np.maximum.accumulate(idx, out=idx)
    state = ev[idx]
    state = np.where(known, state, UNKNOWN).astype(np.int8)
    if min_state_points > 1:
        state = _merge_short(state, min_state_points)
    return state


def running_state_rows(power_kw: FloatArray, on_kw: FloatArray | float,
                       off_kw: FloatArray | float | None = None,
                       min_state_points: int = 1) -> np.ndarray:
    """:func:`running_state` of every row of ``power_kw`` (meters, n), in one pass.

    ``on_kw`` and ``off_kw`` are per row (meters,) or one number for all; ``off_kw``
    defaults to 80% of ``on_kw``. Row ``i`` of the result equals
    ``running_state(power_kw[i], on_kw[i], off_kw[i], min_state_points)``.
    """
    p = np.asarray(power_kw, dtype=np.float64)
    if p.ndim != 2:
        raise ValueError("power_kw must be two-dimensional (meters, n)")
    p = as_rows("power_kw", p, p.shape[1])
    on = per_row("on_kw", on_kw, p.shape[0])
    off = 0.8 * on if off_kw is None else per_row("off_kw", off_kw, p.shape[0])
    if np.any(off > on):
        raise ValueError("off_kw must not exceed on_kw")
    is_on, no_data = hysteresis_rows(p, on, off)
    state = is_on.astype(np.int8)
    state[no_data] = UNKNOWN
    if min_state_points > 1:
        for i in range(state.shape[0]):
            state[i] = _merge_short(state[i], min_state_points)
    return state


def hysteresis_rows(p: FloatArray, on: FloatArray, off: FloatArray) -> tuple[BoolArray, BoolArray]:
    """(ON, no data) per point of ``p`` (rows, n) with per-row thresholds ``on``, ``off`` (rows,).

    Reaching ``on`` decides ON; falling below ``off`` or a missing value decides OFF (the
    state is unknown there and restarts after it); the first point of a row and the first
    after a gap decide by the midpoint. A point between the thresholds holds the state of
    the last decided point before it: each run of such points takes the value of the
    point just before the run, which is decided.
    """
    rows, n = p.shape
    is_on = p >= on[:, np.newaxis]
    hold = p >= off[:, np.newaxis]  # NaN compares False: decided (OFF)
    np.greater(hold, is_on, out=hold)  # off <= p < on
    no_data = np.isnan(p)
    # The first point of a row and the first after a gap decide by the midpoint.
    if no_data.any():
        starts = np.empty(p.shape, dtype=bool)
        starts[:, 0] = ~no_data[:, 0]
        np.greater(no_data[:, :-1], no_data[:, 1:], out=starts[:, 1:])
        r, c = np.divmod(np.flatnonzero(starts), n)
    else:
        r, c = np.arange(rows), np.zeros(rows, dtype=np.intp)
    mid = (on + off) / 2.0
    is_on[r, c] = p[r, c] >= mid[r]
    hold[r, c] = False
    held = np.flatnonzero(hold)
    if held.size:
        flat = is_on.reshape(-1)
        brk = np.flatnonzero(np.diff(held) != 1) + 1
        first = held[np.concatenate(([0], brk))]
        length = np.diff(np.concatenate(([0], brk, [held.size])))
        flat[held] = np.repeat(flat[first - 1], length)
    return is_on, no_data


def _merge_short(state: np.ndarray, min_points: int) -> np.ndarray:
    """Give runs of ON or OFF shorter than ``min_points`` the state before them."""
    out = state.copy()
    for value in (ON, OFF):
        starts, ends = runs(out == value)
        for s, e in zip(starts, ends, strict=True):
            if e - s < min_points and s > 0 and out[s - 1] != UNKNOWN:
                out[s:e] = out[s - 1]
    return out


def is_on(state: np.ndarray) -> BoolArray:
    return np.asarray(state == ON)
