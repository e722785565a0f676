"""``air_hotspot`` (空气站高值): a station far above its neighbours, and who is upwind.

Neighbours are the other stations within ``radius_km`` (5 km), found with a
``scipy.spatial.cKDTree`` on an equirectangular projection (x = R * dlon * cos(lat0),
y = R * dlat, lat0 the stations' mean latitude): at city scale (tens of km) its
distance error is well under 1%, far below the radius's own arbitrariness.

At each grid point a station is *high* when at least ``min_neighbours`` neighbours
have a value and the station exceeds their median by more than ``robust_sd_k``
robust standard deviations (1.4826 x MAD across those neighbours, floored at
``robust_sd_floor_ugm3`` so that near-identical neighbours do not make every small
bump an outlier) and by more than ``min_excess_ugm3`` (35 ug/m3). High runs of at
least ``min_duration_min`` fire. One call judges one metric (pm25 or pm10).

:func:`upwind_enterprises` names the enterprises upwind of a station, from the
wind's from-direction and speed and a mapping of enterprise id -> (lat, lon).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree

from ecowarn.detectors._core import Finding, FloatArray, IntArray
from ecowarn.detectors._series import as_float, episodes, nan_median_mad_cols, positive
from ecowarn.detectors.baseline import MAD_TO_SD

__all__ = [
    "RULE_ID",
    "AirHotspotParams",
    "UpwindSource",
    "air_hotspot",
    "mean_wind",
    "neighbours_within",
    "project_km",
    "upwind_enterprises",
]

RULE_ID = "air_hotspot"
EARTH_RADIUS_KM = 6371.0088


@dataclass(frozen=True, slots=True)
class AirHotspotParams:
    radius_km: float = 5.0
    min_neighbours: int = 2
    robust_sd_k: float = 3.0
    min_excess_ugm3: float = 35.0
    robust_sd_floor_ugm3: float = 5.0
    min_duration_min: float = 30.0
    # A finding whose largest excess reaches this is high severity.
    high_excess_ugm3: float = 150.0
    # Upwind attribution: enterprises within this angle either side of the wind's origin...
    upwind_half_sector_deg: float = 30.0
    # ...and this distance from the station...
    upwind_max_km: float = 10.0
    # ...when the mean wind is at least this fast (calm wind has no direction).
    calm_wind_ms: float = 0.5
    # Declared maintenance of the subject's devices suppresses this rule (runner;
    # see docs/architecture.md, "Suppression").
    suppressed_by_maintenance: bool = True

    def __post_init__(self) -> None:
        positive("radius_km", self.radius_km)
        if self.min_neighbours < 1:
            raise ValueError("min_neighbours must be at least 1")
        positive("robust_sd_k", self.robust_sd_k)
        if self.min_excess_ugm3 < 0 or self.robust_sd_floor_ugm3 < 0:
            raise ValueError("min_excess_ugm3 and robust_sd_floor_ugm3 must not be negative")
        positive("min_duration_min", self.min_duration_min)
        positive("high_excess_ugm3", self.high_excess_ugm3)
        if not 0 < self.upwind_half_sector_deg <= 180:
            raise ValueError("upwind_half_sector_deg must be in (0, 180]")
        positive("upwind_max_km", self.upwind_max_km)
        if self.calm_wind_ms < 0:
            raise ValueError("calm_wind_ms must not be negative")


def project_km(lat: FloatArray, lon: FloatArray, lat0: float | None = None,
               lon0: float | None = None) -> tuple[FloatArray, FloatArray]:
    """Equirectangular x (east) and y (north) in km around (lat0, lon0) (default: the means)."""
    la, lo = as_float(lat), as_float(lon)
    ref_lat = float(np.mean(la)) if lat0 is None else lat0
    ref_lon = float(np.mean(lo)) if lon0 is None else lon0
    x = EARTH_RADIUS_KM * np.radians(lo - ref_lon) * math.cos(math.radians(ref_lat))
    y = EARTH_RADIUS_KM * np.radians(la - ref_lat)
    return np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)


def neighbours_within(lat: FloatArray, lon: FloatArray, radius_km: float) -> list[IntArray]:
    """For each station, the indices of the other stations within ``radius_km``, sorted."""
    if np.size(lat) == 0:
        return []
    x, y = project_km(lat, lon)
    tree = cKDTree(np.column_stack((x, y)))
    found = tree.query_ball_point(np.column_stack((x, y)), r=radius_km)
    return [np.asarray(sorted(j for j in hits if j != i), dtype=np.int64)
            for i, hits in enumerate(found)]


def air_hotspot(times_s: IntArray, station_ids: Sequence[str], lat: FloatArray, lon: FloatArray,
                values: FloatArray, params: AirHotspotParams,
                metric: str = "pm25") -> list[Finding]:
    """Hotspot episodes of every station; ``values`` is (stations, grid points), NaN = none."""
    vals = np.atleast_2d(as_float(values))
    k = len(station_ids)
    if vals.shape != (k, times_s.size) or np.shape(lat) != (k,) or np.shape(lon) != (k,):
        raise ValueError("station arrays and values do not match times_s")
    out = []
    for i, nbrs in enumerate(neighbours_within(lat, lon, params.radius_km)):
        if nbrs.size < params.min_neighbours:
            continue
        med, mad, count = nan_median_mad_cols(vals[nbrs])
        robust_sd = np.maximum(mad * MAD_TO_SD, params.robust_sd_floor_ugm3)
        v = vals[i]
        with np.errstate(invalid="ignore"):
            excess = v - med
            cond = ((count >= params.min_neighbours) & (excess > params.robust_sd_k * robust_sd)
                    & (excess > params.min_excess_ugm3))
        for ep in episodes(times_s, cond, params.min_duration_min * 60.0):
            seg = slice(ep.start_idx, ep.end_idx)
            max_excess = float(np.max(excess[seg]))
            out.append(Finding(ep.start_s, ep.end_s, {
                "station_id": station_ids[i],
                "metric": metric,
                "duration_min": ep.duration_min,
                "mean_value": round(float(np.mean(v[seg])), 1),
                "max_value": round(float(np.max(v[seg])), 1),
                "neighbour_median_mean": round(float(np.mean(med[seg])), 1),
                "robust_sd_mean": round(float(np.mean(robust_sd[seg])), 2),
                "mean_excess": round(float(np.mean(excess[seg])), 1),
                "max_excess": round(max_excess, 1),
                "neighbours": [station_ids[j] for j in nbrs.tolist()],
                "min_neighbours_with_data": int(np.min(count[seg])),
                "robust_sd_k": params.robust_sd_k,
                "min_excess_ugm3": params.min_excess_ugm3,
                "severity": "high" if max_excess >= params.high_excess_ugm3 else "medium",
            }))
    return out


def mean_wind(wind_from_deg: FloatArray, wind_speed_ms: FloatArray) -> tuple[float, float] | None:
    """Vector-mean wind: (from-direction in degrees, speed of the mean vector); None if no data."""
    d, s = as_float(wind_from_deg), as_float(wind_speed_ms)
    ok = np.isfinite(d) & np.isfinite(s)
    if not np.any(ok):
        return None
    rad = np.radians(d[ok])
    # Components of the direction the wind blows toward (east, north).
    u = float(np.mean(-s[ok] * np.sin(rad)))
    v = float(np.mean(-s[ok] * np.cos(rad)))
    return math.degrees(math.atan2(-u, -v)) % 360.0, math.hypot(u, v)


@dataclass(frozen=True, slots=True)
class UpwindSource:
    """An enterprise upwind of a station; angles in degrees clockwise from north."""

    enterprise_id: str
    distance_km: float
    bearing_deg: float
    offset_deg: float


def upwind_enterprises(station_lat: float, station_lon: float, wind_from_deg: float,
                       wind_speed_ms: float, enterprises: Mapping[str, tuple[float, float]],
                       params: AirHotspotParams) -> list[UpwindSource]:
    """Enterprises whose bearing from the station is within the sector the wind comes from.

    Nearest first. Empty when the wind is calm (below ``calm_wind_ms``).
    """
    if not wind_speed_ms >= params.calm_wind_ms or not enterprises:
        return []
    ids = list(enterprises)
    lat = np.array([enterprises[e][0] for e in ids], dtype=np.float64)
    lon = np.array([enterprises[e][1] for e in ids], dtype=np.float64)
    x, y = project_km(lat, lon, station_lat, station_lon)
    dist = np.hypot(x, y)
    bearing = np.degrees(np.arctan2(x, y)) % 360.0
    offset = np.abs((bearing - wind_from_deg + 180.0) % 360.0 - 180.0)
    hit = (dist <= params.upwind_max_km) & (offset <= params.upwind_half_sector_deg)
    order = np.argsort(dist, kind="stable")
    return [UpwindSource(ids[i], round(float(dist[i]), 3), round(float(bearing[i]), 1),
                         round(float(offset[i]), 1))
            for i in order.tolist() if hit[i]]
