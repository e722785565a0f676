"""Running state of equipment from its power, with hysteresis.

Equipment switches on when power reaches ``on_kw`` and off only when it falls
below ``off_kw`` (lower), so noise around one threshold does not flap. Between the
thresholds it keeps its previous state. Short runs of a state (under
``min_state_points`` grid points) are merged into their surroundings.
"""

from __future__ import annotations

import numpy as np

from ecowarn.detectors._core import BoolArray, FloatArray, runs

__all__ = ["OFF", "ON", "UNKNOWN", "running_state"]

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
