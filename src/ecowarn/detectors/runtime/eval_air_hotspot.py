"""I/O side of ``air_hotspot``: a station far above its neighbours, and who is upwind.

Subject: an air station (public station, or an enterprise's own air device with
``lat``/``lon``) with at least ``min_neighbours`` other stations within ``radius_km``
(``scipy`` KD-tree, :func:`detectors.air_hotspot.neighbours_within`). A station's new
data re-evaluates itself and every station it is a neighbour of. pm25 and pm10 are
judged separately; their episodes are merged into one alert per hotspot.

Upwind attribution: the station's own ``wind_dir``/``wind_speed`` over the episode
(vector mean) names the enterprises within ``upwind_max_km`` in the sector the wind
comes from. An enterprise's position is its registry ``lat``/``lon`` (optional), else
the mean position of its devices that have one; enterprises with neither cannot be
named. Without wind data, or in calm wind, the alert says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import psycopg

from ecowarn.alerts.store import AlertDraft
from ecowarn.config.registry import Device, Registry
from ecowarn.detectors._core import FloatArray, IntArray, minute_grid
from ecowarn.detectors.air_hotspot import (
    RULE_ID,
    AirHotspotParams,
    air_hotspot,
    mean_wind,
    neighbours_within,
    upwind_enterprises,
)
from ecowarn.detectors.runtime._cache import SeriesCache
from ecowarn.detectors.runtime._evalbase import Evaluator, device_en, device_phrase, fmt, local_hm, metric_phrase, state
from ecowarn.detectors.runtime._load import DEFAULT_HOLD_S, covered_mask, epoch, held_on_grid, load_series
from ecowarn.detectors.runtime.contract import utc
from ecowarn.i18n import Join, Minutes, Phrase, summary

__all__ = ["AirHotspotEvaluator", "enterprise_positions"]

_METRICS = ("pm25", "pm10")


def enterprise_positions(registry: Registry) -> dict[str, tuple[float, float]]:
    """Enterprise id -> (lat, lon): declared, else the mean of its devices' positions."""
    out: dict[str, tuple[float, float]] = {}
    for e in registry.enterprises.values():
        if e.lat is not None and e.lon is not None:
            out[e.id] = (e.lat, e.lon)
            continue
        pts = [(d.lat, d.lon) for d in registry.devices.values()
               if d.enterprise_id == e.id and d.lat is not None and d.lon is not None]
        if pts:
            out[e.id] = (float(np.mean([p[0] for p in pts])), float(np.mean([p[1] for p in pts])))
    return out


@dataclass(frozen=True, slots=True)
class _Episode:
    start_s: int
    end_s: int | None
    by_metric: dict[str, dict[str, Any]]


def _merge(found: list[tuple[str, int, int | None, dict[str, Any]]]) -> list[_Episode]:
    """Merge overlapping or touching (metric, start, end, facts) findings into episodes."""
    out: list[_Episode] = []
    for metric, s, e, facts in sorted(found, key=lambda x: x[1]):
        if out and (out[-1].end_s is None or s <= out[-1].end_s):
            last = out[-1]
            end = None if last.end_s is None or e is None else max(last.end_s, e)
            merged = dict(last.by_metric)
            prev = merged.get(metric)
            if prev is None or facts["max_excess"] > prev["max_excess"]:
                merged[metric] = facts
            out[-1] = _Episode(last.start_s, end, merged)
        else:
            out.append(_Episode(s, e, {metric: facts}))
    return out


class AirHotspotEvaluator(Evaluator):
    rule = RULE_ID
    # Every value (pm25, pm10, wind) is held on the minute grid: a neighbour's reading later
    # in the minute the station's newest reading is in changes nothing until the next minute.
    held_grid = True

    def __init__(self, registry: Registry, params: AirHotspotParams) -> None:
        super().__init__()
        self._registry = registry
        self._params = params
        self.suppressed_by_maintenance = params.suppressed_by_maintenance
        self.lookback = timedelta(minutes=params.min_duration_min + 30)
        self._stations = [d for d in registry.devices.values()
                          if d.kind == "air" and d.lat is not None and d.lon is not None]
        lat = np.array([d.lat for d in self._stations], dtype=np.float64)
        lon = np.array([d.lon for d in self._stations], dtype=np.float64)
        self._neighbours: dict[str, list[Device]] = {}
        for st, nbrs in zip(self._stations, neighbours_within(lat, lon, params.radius_km),
                            strict=True):
            if nbrs.size >= params.min_neighbours:
                self._neighbours[st.id] = [self._stations[j] for j in nbrs.tolist()]
                self._add_subject(st.id, [st.id, *(n.id for n in self._neighbours[st.id])])
        self._positions = enterprise_positions(registry)

    def primary_keys(self, subject: str) -> list[tuple[str, str]]:
        return [(subject, m) for m in _METRICS]

    def _maintenance_devices(self, subject: str) -> list[str]:
        return [subject, *(n.id for n in self._neighbours[subject])]

    async def _run(self, conn: psycopg.AsyncConnection[Any], cache: SeriesCache | None, subject: str, since: datetime,
                   until: datetime) -> list[AlertDraft]:
        station = self._registry.devices[subject]
        group = [station, *self._neighbours[subject]]
        ids = [d.id for d in group]
        series = await load_series(conn, cache, ids, (*_METRICS, "wind_dir", "wind_speed"),
                                   since - timedelta(seconds=DEFAULT_HOLD_S), until)
        grid = minute_grid(epoch(since), epoch(until))
        maint = await self._maintenance(conn, subject, since, until)
        lat = np.array([d.lat for d in group], dtype=np.float64)
        lon = np.array([d.lon for d in group], dtype=np.float64)
        found: list[tuple[str, int, int | None, dict[str, Any]]] = []
        for metric in _METRICS:
            rows = []
            for d in group:
                v = held_on_grid(series[(d.id, metric)], grid)
                if maint:
                    v = np.where(covered_mask(grid, maint, [d.id]), np.nan, v)
                rows.append(v)
            for f in air_hotspot(grid, ids, lat, lon, np.vstack(rows), self._params, metric):
                if f.facts["station_id"] == subject:
                    found.append((metric, f.start_s, f.end_s, f.facts))
        wd = held_on_grid(series[(subject, "wind_dir")], grid)
        ws = held_on_grid(series[(subject, "wind_speed")], grid)
        return [self._draft(station, ep, grid, wd, ws) for ep in _merge(found)]

    def _draft(self, station: Device, ep: _Episode, grid: IntArray, wd: FloatArray,
               ws: FloatArray) -> AlertDraft:
        lo = int(np.searchsorted(grid, ep.start_s))
        hi = grid.size if ep.end_s is None else int(np.searchsorted(grid, ep.end_s))
        wind = mean_wind(wd[lo:hi], ws[lo:hi])
        upwind = []
        if wind is not None and station.lat is not None and station.lon is not None:
            upwind = upwind_enterprises(station.lat, station.lon, wind[0], wind[1],
                                        self._positions, self._params)
        p = self._params
        dur = ((grid[-1] + 60 if ep.end_s is None else ep.end_s) - ep.start_s) / 60.0
        parts = Join((Phrase("air_hotspot_metric", pollutant=metric_phrase(metric), max=fmt(facts["max_value"]),
                             mean=fmt(facts["mean_value"]), excess=fmt(facts["mean_excess"]),
                             count=len(facts["neighbours"]), radius_km=fmt(p.radius_km),
                             median=fmt(facts["neighbour_median_mean"]), robust_sd=fmt(facts["robust_sd_mean"], 2))
                      for metric, facts in ep.by_metric.items()), sep="clauses")
        names = {e.id: e.name for e in self._registry.enterprises.values()}
        if wind is None:
            wind_words = Phrase("wind_none")
        elif wind[1] < p.calm_wind_ms:
            wind_words = Phrase("wind_calm", speed=fmt(wind[1]))
        else:
            sources = Join((Phrase("at_distance", name=names.get(u.enterprise_id, u.enterprise_id),
                                   km=fmt(u.distance_km)) for u in upwind),
                           empty=Phrase("no_registered_enterprise"))
            wind_words = Phrase("wind_from", from_deg=fmt(wind[0], 0), speed=fmt(wind[1]), upwind=sources)
        summary_en, summary_zh = summary(
            "air_hotspot", station=device_phrase(station), parts=parts, duration=Minutes(dur),
            start=local_hm(ep.start_s), robust_sd_k=fmt(p.robust_sd_k), min_excess=fmt(p.min_excess_ugm3),
            min_duration=fmt(p.min_duration_min), wind=wind_words, state=state(ep.end_s))
        max_excess = max(float(f["max_excess"]) for f in ep.by_metric.values())
        severity = "high" if any(f["severity"] == "high" for f in ep.by_metric.values()) else "medium"
        facts_all = {"by_metric": ep.by_metric, "duration_min": dur, "max_excess": max_excess,
                     "wind": None if wind is None else {"from_deg": round(wind[0], 1),
                                                         "speed_ms": round(wind[1], 2)},
                     "upwind": [{"enterprise_id": u.enterprise_id, "distance_km": u.distance_km,
                                 "bearing_deg": u.bearing_deg, "offset_deg": u.offset_deg}
                                for u in upwind],
                     "severity": severity}
        return AlertDraft(
            rule=RULE_ID, subject=station.id, enterprise_id=station.enterprise_id,
            device_ids=(station.id,),
            start=utc(ep.start_s), end=None if ep.end_s is None else utc(ep.end_s),
            severity=severity, summary=summary_en, summary_zh=summary_zh,
            params={
                "radius_km": p.radius_km, "min_neighbours": p.min_neighbours,
                "robust_sd_k": p.robust_sd_k, "min_excess_ugm3": p.min_excess_ugm3,
                "robust_sd_floor_ugm3": p.robust_sd_floor_ugm3,
                "min_duration_min": p.min_duration_min,
                "upwind_half_sector_deg": p.upwind_half_sector_deg,
                "upwind_max_km": p.upwind_max_km, "calm_wind_ms": p.calm_wind_ms,
                "suppressed_by_maintenance": p.suppressed_by_maintenance,
            },
            evidence={"facts": facts_all, "metrics": list(ep.by_metric),
                      "neighbours": [n.id for n in self._neighbours[station.id]],
                      "devices": {station.id: device_en(station)}},
        )
