"""Canonical metrics and units per device kind (CONTRACT section 1)."""

from __future__ import annotations

from typing import Literal

__all__ = ["FLAGS", "KINDS", "KIND_METRICS", "UNITS", "Kind"]

Kind = Literal["cems", "power", "air"]
KINDS: tuple[Kind, ...] = ("cems", "power", "air")

UNITS: dict[Kind, dict[str, str]] = {
    "cems": {
        "so2": "mg/m3", "nox": "mg/m3", "pm": "mg/m3", "co": "mg/m3", "o2": "%",
        "flow": "m3/s", "temp": "degC", "pressure": "kPa", "humidity": "%",
    },
    "power": {"p": "kW", "e": "kWh", "i": "A"},
    "air": {
        "pm25": "ug/m3", "pm10": "ug/m3", "so2": "ug/m3", "no2": "ug/m3", "co": "mg/m3",
        "o3": "ug/m3", "tvoc": "ug/m3", "wind_dir": "deg", "wind_speed": "m/s",
    },
}

KIND_METRICS: dict[Kind, frozenset[str]] = {k: frozenset(v) for k, v in UNITS.items()}

# HJ 212-2017 data flags: N normal, F stopped, M maintenance, S manually set, D fault,
# C calibration, T over range, B communication abnormal.
FLAGS = frozenset("NFMSDCTB")
