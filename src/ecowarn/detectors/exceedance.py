"""``emission_exceedance`` (排放超标): valid hourly converted means above the limit.

Hourly means follow :mod:`detectors.hj75` (O2-converted to the outlet's ``ref_o2``,
valid with at least ``min_valid_minutes`` valid minutes). Consecutive exceeding
valid hours merge into one finding; an invalid hour breaks the run. The finding is
open (``end_s`` None) when the last complete hour still exceeds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ecowarn.detectors._core import BoolArray, Finding, FloatArray, IntArray
from ecowarn.detectors._series import Episode, positive
from ecowarn.detectors.hj75 import (
    HJ75Params,
    HourlyMeans,
    hour_episodes,
    hourly_means,
)
from ecowarn.detectors.water import WaterParams

__all__ = [
    "RULE_ID",
    "ExceedanceParams",
    "emission_exceedance",
    "exceedance_from_hourly",
]

RULE_ID = "emission_exceedance"


@dataclass(frozen=True, slots=True)
class ExceedanceParams:
    # An hour is judged with at least this many valid minutes (HJ 75-2017: 45).
    min_valid_minutes: int = 45
    # Minutes with O2 at or above this are invalid for conversion.
    o2_max_pct: float = 20.0
    # High severity when an hour reaches this multiple of the limit...
    high_ratio: float = 1.5
    # ...or the exceedance lasts this many hours.
    high_hours: int = 4
    # Declared maintenance of the subject's devices suppresses this rule (runner;
    # see docs/architecture.md, "Suppression").
    suppressed_by_maintenance: bool = False
    # Water outlets (detectors.water): a day is judged with this many valid hours; pH
    # outside its range this long is an exceedance.
    water_min_valid_hours: int = 20
    water_ph_min_duration_min: float = 60.0

    def __post_init__(self) -> None:
        self.hj75()
        self.water()
        if not self.high_ratio > 1:
            raise ValueError("high_ratio must be above 1")
        positive("high_hours", self.high_hours)

    def water(self) -> WaterParams:
        return WaterParams(min_valid_hours=self.water_min_valid_hours,
                           ph_min_duration_min=self.water_ph_min_duration_min,
                           high_ratio=self.high_ratio, high_hours=self.high_hours)

    def hj75(self) -> HJ75Params:
        return HJ75Params(min_valid_minutes=self.min_valid_minutes, o2_max_pct=self.o2_max_pct)


def emission_exceedance(times_s: IntArray, conc: FloatArray, o2_pct: FloatArray,
                        valid: BoolArray, ref_o2_pct: float, limit: float,
                        params: ExceedanceParams) -> list[Finding]:
    """Exceedances of one pollutant of one outlet, from minute values on a grid.

    ``valid``: minute validity (pollutant and O2 flagged ``N``, see ``hj75.valid_minutes``).
    """
    hourly = hourly_means(times_s, conc, o2_pct, valid, ref_o2_pct, params.hj75())
    return exceedance_from_hourly(hourly, ref_o2_pct, limit, params)


def exceedance_from_hourly(hourly: HourlyMeans, ref_o2_pct: float, limit: float,
                           params: ExceedanceParams) -> list[Finding]:
    """The same rule over hourly means already computed (with ``params.hj75()``)."""
    positive("limit", limit)
    cond = hourly.valid & (hourly.mean_conv > limit)
    return [_finding(hourly, ep, ref_o2_pct, limit, params) for ep in hour_episodes(hourly, cond)]


def _finding(hourly: HourlyMeans, ep: Episode, ref_o2_pct: float, limit: float,
             params: ExceedanceParams) -> Finding:
    seg = slice(ep.start_idx, ep.end_idx)
    conv = hourly.mean_conv[seg]
    max_ratio = float(np.max(conv)) / limit
    hours = ep.end_idx - ep.start_idx
    high = max_ratio >= params.high_ratio or hours >= params.high_hours
    return Finding(ep.start_s, ep.end_s, {
        "hours": hours,
        "limit": limit,
        "ref_o2_pct": ref_o2_pct,
        "max_hourly_converted": round(float(np.max(conv)), 3),
        "mean_hourly_converted": round(float(np.mean(conv)), 3),
        "max_ratio_to_limit": round(max_ratio, 3),
        "hourly": [
            {"hour_s": int(h), "converted": round(float(c), 3),
             "raw": round(float(r), 3), "o2_pct": round(float(o), 2), "n_valid": int(n)}
            for h, c, r, o, n in zip(hourly.hour_s[seg], conv, hourly.mean_raw[seg],
                                     hourly.mean_o2[seg], hourly.n_valid[seg], strict=True)
        ],
        "min_valid_minutes": params.min_valid_minutes,
        "severity": "high" if high else "medium",
    })
