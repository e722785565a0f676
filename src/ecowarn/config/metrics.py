"""Canonical metrics and units per device kind (CONTRACT section 1)."""

from __future__ import annotations

from typing import Literal

__all__ = ["FLAGS", "KINDS", "KIND_METRICS", "RUN_STATES", "UNITS", "Kind"]

Kind = Literal["cems", "power", "air", "water"]
KINDS: tuple[Kind, ...] = ("cems", "power", "air", "water")

UNITS: dict[Kind, dict[str, str]] = {
    "cems": {
        "so2": "mg/m3", "nox": "mg/m3", "pm": "mg/m3", "co": "mg/m3", "o2": "%",
        "flow": "m3/s", "temp": "degC", "pressure": "kPa", "humidity": "%",
    },
    # "rs": a facility's run state as its terminal reports it (HJ 212 ``SBxxx-RS``: 0 stopped,
    # 1 running, 2 calibrating, 3 maintenance, 4 alarm, 5 blowback).
    "power": {"p": "kW", "e": "kWh", "i": "A", "rs": "state"},
    "air": {
        "pm25": "ug/m3", "pm10": "ug/m3", "so2": "ug/m3", "no2": "ug/m3", "co": "mg/m3",
        "o3": "ug/m3", "tvoc": "ug/m3", "wind_dir": "deg", "wind_speed": "m/s",
    },
    # Wastewater outlets (CONTRACT section 7, HJ 212 ST=32).
    "water": {"cod": "mg/L", "nh3n": "mg/L", "tp": "mg/L", "tn": "mg/L", "ph": "pH", "flow": "L/s"},
}

# Run states of HJ 212 ``SBxxx-RS`` (CN 2021/2022).
RUN_STATES: dict[int, str] = {0: "stopped", 1: "running", 2: "calibrating", 3: "maintenance",
                              4: "alarm", 5: "blowback"}

KIND_METRICS: dict[Kind, frozenset[str]] = {k: frozenset(v) for k, v in UNITS.items()}

# HJ 212-2017 data flags: N normal, F stopped, M maintenance, S manually set, D fault,
# C calibration, T over range, B communication abnormal.
FLAGS = frozenset("NFMSDCTB")
