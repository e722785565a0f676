"""Stack outlets (CEMS): concentrations, O2, flow and flue-gas state from production load.

Converted (O2-corrected) concentrations follow the load of the production the
outlet serves, at 22-75% of their limit; reported (raw) concentrations are the
converted ones brought back to the measured O2 per HJ 75-2017:
``C_conv = C * (21 - ref_o2) / (21 - O2)``. When production stops, an exhaust
fraction decays slowly (the flue fills with air): O2 drifts to ~20.5%, flow and
concentrations fall; on restart it recovers within minutes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ecowarn.config.registry import Device
from ecowarn.simulator._common import FloatArray, Grid, ar1, follow_asymmetric, rng_for

__all__ = ["CEMS_METRICS", "DEFAULT_SCALE", "POLLUTANTS", "CemsWork", "plan_cems"]

POLLUTANTS = ("so2", "nox", "pm", "co")
CEMS_METRICS = (*POLLUTANTS, "o2", "flow", "temp", "pressure", "humidity")
# Scale (mg/m3, converted) of pollutants without a registry limit.
DEFAULT_SCALE = {"so2": 100.0, "nox": 200.0, "pm": 20.0, "co": 100.0}
AMBIENT_O2 = 20.6
_ROUND = {"so2": 3, "nox": 3, "pm": 3, "co": 3, "o2": 2, "flow": 2, "temp": 1,
          "pressure": 3, "humidity": 2}


@dataclass(slots=True)
class CemsWork:
    """Working arrays of one CEMS on the padded grid.

    Injections edit ``conv`` (converted concentrations), ``o2`` and ``flow`` before
    :meth:`finish` computes the reported values; then ``values`` and ``flags``.
    """

    device: Device
    scale: dict[str, float]
    conv: dict[str, FloatArray]
    o2: FloatArray
    flow: FloatArray
    temp: FloatArray
    pressure: FloatArray
    humidity: FloatArray
    typical_flow: float
    values: dict[str, FloatArray] = field(default_factory=dict)
    flags: dict[str, np.ndarray] = field(default_factory=dict)

    def finish(self) -> None:
        """Reported values from the converted ones and O2; all flags N."""
        ref = self.device.ref_o2
        factor = np.ones_like(self.o2) if ref is None else (21.0 - self.o2) / (21.0 - ref)
        out: dict[str, FloatArray] = {}
        for m in POLLUTANTS:
            out[m] = self.conv[m] * factor
        out.update(o2=self.o2, flow=self.flow, temp=self.temp, pressure=self.pressure,
                   humidity=self.humidity)
        self.values = {m: np.round(out[m], _ROUND[m]) for m in CEMS_METRICS}
        n = self.o2.size
        self.flags = {m: np.full(n, "N", dtype="<U1") for m in CEMS_METRICS}


def plan_cems(device: Device, served_kw: FloatArray, served_rated_kw: float, grid: Grid,
              seed: int) -> CemsWork:
    """Clean outlet data for ``served_kw`` (summed power of the production it serves)."""
    n = grid.size
    rng = rng_for(seed, device.id, "cems")
    load = np.clip(served_kw / served_rated_kw, 0.0, 1.0) if served_rated_kw > 0 else np.zeros(n)
    # Exhaust fraction: 1 while the served production burns at >= 50% of rated.
    burn = np.clip(load / 0.5, 0.0, 1.0)
    x = follow_asymmetric(burn, up=0.35, down=0.05, x0=float(burn[0]) if n else 0.0)
    lf = follow_asymmetric(load, up=0.35, down=0.05, x0=float(load[0]) if n else 0.0)
    rel = np.clip((load - 0.6) / 0.35, 0.0, 1.0)  # 0 at 60% load, 1 at 95%

    o2_run = np.clip(11.5 - 3.0 * rel + ar1(rng, n, 0.98, 0.3), 8.2, 11.8)
    o2 = AMBIENT_O2 - x * (AMBIENT_O2 - o2_run) + rng.normal(0.0, 0.04, n)
    o2 = np.clip(o2, 8.0, 20.9)

    scale = {m: float(device.limits.get(m, DEFAULT_SCALE[m])) for m in POLLUTANTS}
    conv: dict[str, FloatArray] = {}
    for m in POLLUTANTS:
        frac = 0.3 + 0.35 * rel + ar1(rng, n, 0.97, 0.05) + rng.normal(0.0, 0.012, n)
        frac = np.clip(frac, 0.22, 0.75)
        conv[m] = scale[m] * (x * frac + (1.0 - x) * 0.04)

    full_flow = rng.uniform(30.0, 80.0)
    residual = rng.uniform(0.5, 1.5)
    flow = full_flow * lf + residual * x.clip(0.2, 1.0)
    flow = np.maximum(flow * (1.0 + rng.normal(0.0, 0.015, n)), 0.05)

    hour = grid.local_hour()
    ambient_c = 14.0 + 6.0 * np.cos(2.0 * np.pi * (hour - 15.0) / 24.0)
    t_run = rng.uniform(95.0, 140.0)
    temp = ambient_c + x * (t_run - ambient_c) + rng.normal(0.0, 0.6, n)
    draft = rng.uniform(0.25, 0.45)
    pressure = -draft * x + rng.normal(0.0, 0.008, n)  # static (gauge) pressure, kPa
    h_run = rng.uniform(7.0, 12.0)
    humidity = np.clip(2.0 + x * (h_run - 2.0) + rng.normal(0.0, 0.15, n), 0.5, 40.0)

    return CemsWork(device=device, scale=scale, conv=conv, o2=o2, flow=flow, temp=temp,
                    pressure=pressure, humidity=humidity,
                    typical_flow=float(full_flow * 0.8))
