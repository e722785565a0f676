"""Ambient air micro-stations: a shared regional level with diurnal cycles, plus station noise."""

from __future__ import annotations

import numpy as np

from ecowarn.config.registry import Device
from ecowarn.simulator._common import FloatArray, Grid, ar1, rng_for

__all__ = ["AIR_METRICS", "Regional", "plan_air", "regional"]

AIR_METRICS = ("pm25", "pm10", "so2", "no2", "co", "o3", "wind_dir", "wind_speed")
_ROUND = {"pm25": 1, "pm10": 1, "so2": 1, "no2": 1, "co": 2, "o3": 1, "wind_dir": 0,
          "wind_speed": 1}

Regional = dict[str, FloatArray]


def regional(grid: Grid, seed: int) -> Regional:
    """The regional background shared by all stations of a run."""
    n = grid.size
    rng = rng_for(seed, "__region__", "air")
    h = grid.local_hour()
    # Particulates peak at night and in the morning, bottom out in the afternoon.
    pm_cycle = 1.0 + 0.25 * np.cos(2 * np.pi * (h - 2.0) / 24.0) + 0.1 * np.cos(4 * np.pi * (h - 8.0) / 24.0)
    pm25 = rng.uniform(35.0, 65.0) * pm_cycle * np.exp(ar1(rng, n, 0.997, 0.18))
    # Traffic NO2: morning and evening peaks.
    no2 = rng.uniform(25.0, 45.0) * (1.0 + 0.3 * np.cos(4 * np.pi * (h - 8.5) / 24.0)) \
        * np.exp(ar1(rng, n, 0.995, 0.12))
    so2 = rng.uniform(6.0, 15.0) * (1.0 + 0.15 * np.cos(2 * np.pi * (h - 10.0) / 24.0)) \
        * np.exp(ar1(rng, n, 0.995, 0.1))
    co = 0.4 + 0.012 * pm25 * np.exp(ar1(rng, n, 0.99, 0.05))
    # Photochemical ozone: peaks mid-afternoon, low at night.
    sun = np.clip(np.sin(np.pi * (h - 7.0) / 14.0), 0.0, None)
    o3 = (15.0 + rng.uniform(70.0, 130.0) * sun) * np.exp(ar1(rng, n, 0.995, 0.1))
    wind_speed = np.clip(1.2 + 1.5 * np.clip(np.sin(np.pi * (h - 9.0) / 12.0), 0.0, None)
                         + ar1(rng, n, 0.99, 0.5), 0.2, None)
    wind_dir = (rng.uniform(0.0, 360.0) + np.cumsum(rng.normal(0.0, 1.5, n))) % 360.0
    return {"pm25": pm25, "pm10": pm25, "so2": so2, "no2": no2, "co": co, "o3": o3,
            "wind_dir": wind_dir, "wind_speed": wind_speed}


def plan_air(device: Device, reg: Regional, grid: Grid, seed: int) -> dict[str, FloatArray]:
    """One station: the regional level times a station factor, with small noise."""
    n = grid.size
    rng = rng_for(seed, device.id, "air")

    def local(name: str, spread: float, noise: float) -> FloatArray:
        base = reg[name] * rng.uniform(1.0 - spread, 1.0 + spread)
        return base * (1.0 + ar1(rng, n, 0.95, noise) + rng.normal(0.0, noise / 2, n))

    pm25 = local("pm25", 0.08, 0.04)
    out = {
        "pm25": pm25,
        "pm10": pm25 * rng.uniform(1.5, 1.9) * (1.0 + rng.normal(0.0, 0.03, n)),
        "so2": local("so2", 0.1, 0.05),
        "no2": local("no2", 0.1, 0.05),
        "co": local("co", 0.05, 0.03),
        "o3": local("o3", 0.05, 0.04),
        "wind_dir": (reg["wind_dir"] + rng.normal(0.0, 8.0, n)) % 360.0,
        "wind_speed": reg["wind_speed"] * rng.uniform(0.8, 1.2) * (1.0 + rng.normal(0.0, 0.08, n)),
    }
    return {k: np.maximum(v, 0.0) for k, v in out.items()}


def round_air(values: dict[str, FloatArray]) -> dict[str, FloatArray]:
    out = {k: np.round(v, _ROUND[k]) for k, v in values.items()}
    out["wind_dir"] = out["wind_dir"] % 360.0
    return out
