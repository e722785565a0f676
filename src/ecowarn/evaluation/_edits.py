"""Edits of simulated series for events the simulator has no injection for.

The simulator's injections change a plant's behaviour (production forced on, a unit held
off); some events of a scenario are a single analyser misbehaving, which is an edit of one
series after the simulation. Each edit names one device and metric and a half-open window
``[start, end)`` of event time; :func:`apply_edits` returns the simulation with the edited
series (copies: the simulation given is not changed). Edits are deterministic: what they
draw comes from the scenario's seed and the edit itself.

- :class:`WaterFreeze`: a water analyser (COD, NH3-N, TP, TN) repeats one value over the
  window, flagged N: the ``flatline`` rule's water case. The value is a new measurement at
  the window's start (a few percent off the one before), so the frozen run is exactly the
  window.
- :class:`WaterJitter`: a stable day: each measurement cycle in the window reads the level
  of the window's first value within +-``jitter`` (+-0.5%), consecutive cycles differing by
  at least one reported digit, as a well-run plant's analyser does; never a flatline.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime

import numpy as np

from ecowarn.simulator import DeviceSeries, Simulation

__all__ = ["WATER_DIGITS", "SeriesEdit", "WaterFreeze", "WaterJitter", "apply_edits"]

# Decimals the water loggers report per metric (mg/L), as the simulator rounds them.
WATER_DIGITS = {"cod": 1, "nh3n": 3, "tp": 3, "tn": 2}


@dataclass(frozen=True, slots=True)
class SeriesEdit:
    """One metric of one device over ``[start, end)``."""

    device_id: str
    metric: str
    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        if self.end <= self.start:
            raise ValueError(f"{type(self).__name__} on {self.device_id}: end must follow start")
        if self.metric not in WATER_DIGITS:
            raise ValueError(f"{type(self).__name__} on {self.device_id}: {self.metric!r} is not one "
                             f"of {', '.join(WATER_DIGITS)}")


@dataclass(frozen=True, slots=True)
class WaterFreeze(SeriesEdit):
    """The analyser repeats one value, flagged N, over the window."""


@dataclass(frozen=True, slots=True)
class WaterJitter(SeriesEdit):
    """Each measurement cycle within ``jitter`` of the window's first value, never repeating."""

    jitter: float = 0.005


def apply_edits(sim: Simulation, edits: Sequence[SeriesEdit]) -> Simulation:
    """``sim`` with ``edits`` applied in order (edited series are copies)."""
    if not edits:
        return sim
    series = dict(sim.series)
    for edit in edits:
        s = series[edit.device_id]
        values = dict(s.values)
        flags = dict(s.flags)
        v = np.array(values[edit.metric], dtype=np.float64)
        f = np.array(flags[edit.metric])
        lo = max(0, sim.index(edit.start))
        hi = min(sim.minutes, sim.index(edit.end))
        if hi > lo:
            rng = np.random.default_rng([sim.seed, zlib.crc32(repr(edit).encode())])
            if isinstance(edit, WaterFreeze):
                _freeze(v, lo, hi, WATER_DIGITS[edit.metric])
            elif isinstance(edit, WaterJitter):
                _jitter(v, lo, hi, WATER_DIGITS[edit.metric], edit.jitter, rng)
            f[lo:hi] = "N"
        values[edit.metric] = v
        flags[edit.metric] = f
        series[edit.device_id] = DeviceSeries(s.device_id, s.kind, values, flags, s.present)
    return replace(sim, series=series)


def _freeze(v: np.ndarray, lo: int, hi: int, digits: int) -> None:
    """One value over ``[lo, hi)``: 4% above the value before, unlike the one after."""
    step = 10.0 ** -digits
    before = v[lo - 1] if lo > 0 else v[lo]
    value = round(float(before) * 1.04 + step, digits)
    if hi < v.size and value == v[hi]:
        value = round(value + step, digits)
    v[lo:hi] = value


def _jitter(v: np.ndarray, lo: int, hi: int, digits: int, jitter: float,
            rng: np.random.Generator) -> None:
    """Each run of equal values (a measurement cycle) in ``[lo, hi)`` a new value within
    ``jitter`` of ``v[lo]``, differing by at least one digit from the run before (and the
    last from the value after the window)."""
    step = 10.0 ** -digits
    level = float(v[lo])
    after = float(v[hi]) if hi < v.size else np.nan
    prev = float(v[lo - 1]) if lo > 0 else np.nan
    k = lo
    while k < hi:
        same = v[k:hi] == v[k]
        end = hi if same.all() else k + int(np.argmin(same))
        value = round(level * (1.0 + rng.uniform(-jitter, jitter)), digits)
        while value == prev or (end == hi and value == after):
            value = round(value + step, digits)
        v[k:end] = value
        prev = value
        k = end
