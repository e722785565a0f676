"""Wastewater outlets (CONTRACT section 7, kind ``water``): COD, NH3-N, TP, TN, pH and flow.

The analysers of COD, ammonia nitrogen, total phosphorus and total nitrogen measure once per
cycle (60 or 120 min per outlet, ending at a fixed minute of the hour); the logger reports
the last measurement every minute, so each value is held until the next one. Clean values
sit at 25-65% of the outlet's daily limit. pH wanders around 7 (+-0.3) minute by minute;
flow (L/s) follows the load of the production the outlet serves, over a base flow of the
site (sanitary water, cooling blowdown) that runs whether production does or not.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ecowarn.config.registry import Device
from ecowarn.simulator._common import FloatArray, Grid, IntArray, ar1, follow_asymmetric, rng_for

__all__ = ["WATER_METRICS", "WATER_POLLUTANTS", "WaterWork", "plan_water"]

WATER_POLLUTANTS = ("cod", "nh3n", "tp", "tn")
WATER_METRICS = (*WATER_POLLUTANTS, "ph", "flow")
# Scale (mg/L) of pollutants without a registry limit (GB 8978 class 1, roughly).
DEFAULT_SCALE = {"cod": 60.0, "nh3n": 8.0, "tp": 1.0, "tn": 20.0}
_ROUND = {"cod": 1, "nh3n": 3, "tp": 3, "tn": 2, "ph": 2, "flow": 2}


@dataclass(slots=True)
class WaterWork:
    """Working arrays of one water outlet on the padded grid.

    Injections edit ``conc`` (mg/L, held per measurement cycle), ``ph`` and ``flow`` before
    :meth:`finish` rounds them into ``values`` with ``flags`` (all ``N``).
    """

    device: Device
    scale: dict[str, float]
    conc: dict[str, FloatArray]
    ph: FloatArray
    flow: FloatArray
    cycle: IntArray  # measurement cycle of each minute (minutes of one cycle share a value)
    values: dict[str, FloatArray] = field(default_factory=dict)
    flags: dict[str, np.ndarray] = field(default_factory=dict)

    def held(self, sl: slice, level: FloatArray | float, rng: np.random.Generator,
             noise: float) -> FloatArray:
        """``level`` times one noise factor per measurement cycle over ``sl``, held within it."""
        cycles = self.cycle[sl]
        uniq, inverse = np.unique(cycles, return_inverse=True)
        factor = np.clip(1.0 + rng.normal(0.0, noise, uniq.size), 1.0 - 3 * noise, 1.0 + 3 * noise)
        return np.asarray(level * factor[inverse], dtype=np.float64)

    def finish(self) -> None:
        out = {**self.conc, "ph": self.ph, "flow": self.flow}
        self.values = {m: np.asarray(np.round(np.maximum(out[m], 0.0), _ROUND[m]), dtype=np.float64)
                       for m in WATER_METRICS}
        n = self.ph.size
        self.flags = {m: np.full(n, "N", dtype="<U1") for m in WATER_METRICS}


def plan_water(device: Device, served_kw: FloatArray, served_rated_kw: float, grid: Grid,
               seed: int) -> WaterWork:
    """Clean outlet data; ``served_kw`` is the summed power of the production it serves."""
    n = grid.size
    rng = rng_for(seed, device.id, "water")
    cycle_min = int(rng.choice([60, 120]))
    phase = int(rng.integers(0, cycle_min))
    cycle = np.asarray((grid.t_s // 60 - phase) // cycle_min, dtype=np.int64)
    uniq, inverse = np.unique(cycle, return_inverse=True)

    scale = {m: float(device.limits.get(m, DEFAULT_SCALE[m])) for m in WATER_POLLUTANTS}
    conc: dict[str, FloatArray] = {}
    for m in WATER_POLLUTANTS:
        level = rng.uniform(0.35, 0.5)
        frac = np.clip(level + ar1(rng, uniq.size, 0.85, 0.07) + rng.normal(0.0, 0.02, uniq.size),
                       0.25, 0.65)
        conc[m] = scale[m] * frac[inverse]

    # Around 7, softly bounded to 6.7-7.3 (no flat runs at a clip).
    dev = rng.uniform(-0.1, 0.1) + ar1(rng, n, 0.995, 0.1) + rng.normal(0.0, 0.03, n)
    ph = 7.0 + 0.3 * np.tanh(dev / 0.3)

    if served_rated_kw > 0:
        load = np.clip(served_kw / served_rated_kw, 0.0, 1.0)
        lf = follow_asymmetric(load, up=0.05, down=0.03, x0=float(load[0]) if n else 0.0)
    else:
        lf = np.ones(n)
    design = rng.uniform(4.0, 15.0)  # L/s at full load
    flow = design * (0.3 + 0.7 * lf) * (1.0 + ar1(rng, n, 0.98, 0.04)) + rng.normal(0.0, 0.05, n)
    flow = np.maximum(flow, 0.1)
    return WaterWork(device=device, scale=scale, conc=conc, ph=ph, flow=flow, cycle=cycle)
