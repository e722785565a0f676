"""``flatline`` for wastewater outlets: a COD, NH3-N, TP, TN or pH value flagged N frozen
for ``water_min_duration_min`` (12 h) while the outlet's production runs.

Subject ``<water id>/<metric>``. Readings are held on the minute grid for two hours (a
logger uploads hourly means, an analyser measures every 1-2 h), and the pure ``flatline``
rule runs with the water duration. Production runs when any of the outlet's ``serves``
meters runs; an outlet serving none is judged whenever it reports (it discharges whether
or not a meter is registered for its plant).
"""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import psycopg

from ecowarn.alerts.store import AlertDraft
from ecowarn.config.registry import Device, Registry
from ecowarn.detectors._core import Finding, minute_grid
from ecowarn.detectors.flatline import RULE_ID, FlatlineParams, flatline
from ecowarn.detectors.runtime._cache import SeriesCache
from ecowarn.detectors.runtime._evalbase import Evaluator, local_hm, state
from ecowarn.detectors.runtime._load import Series, epoch, held_on_grid, load_series, production_running
from ecowarn.detectors.runtime.contract import utc
from ecowarn.i18n import Minutes, Phrase, summary

__all__ = ["WaterFlatlineEvaluator"]

WATER_FLAT_METRICS = ("cod", "nh3n", "tp", "tn", "ph")
HOLD_S = 7200


class WaterFlatlineEvaluator(Evaluator):
    rule = RULE_ID

    def __init__(self, registry: Registry, params: FlatlineParams) -> None:
        super().__init__()
        self._registry = registry
        self._params = dataclasses.replace(params, min_duration_min=params.water_min_duration_min,
                                           high_severity_min=max(params.high_severity_min,
                                                                 2 * params.water_min_duration_min))
        self.lookback = timedelta(minutes=params.water_min_duration_min + 120)
        self.suppressed_by_maintenance = params.suppressed_by_maintenance
        for dev in registry.devices.values():
            if dev.kind == "water":
                for metric in WATER_FLAT_METRICS:
                    self._add_subject(f"{dev.id}/{metric}", [dev.id, *dev.serves])

    def _device(self, subject: str) -> tuple[Device, str]:
        dev_id, _, metric = subject.partition("/")
        return self._registry.devices[dev_id], metric

    def primary_keys(self, subject: str) -> list[tuple[str, str]]:
        dev, metric = self._device(subject)
        return [(dev.id, metric)]

    def _maintenance_devices(self, subject: str) -> list[str]:
        return [self._device(subject)[0].id]

    async def _run(self, conn: psycopg.AsyncConnection[Any], cache: SeriesCache | None, subject: str,
                   since: datetime, until: datetime) -> list[AlertDraft]:
        dev, metric = self._device(subject)
        served = [self._registry.devices[p] for p in dev.serves]
        lo = since - timedelta(seconds=HOLD_S)
        data = await load_series(conn, cache, [dev.id], [metric], lo, until)
        s = data[(dev.id, metric)]
        grid = minute_grid(epoch(since), epoch(until))
        if s.t.size == 0:
            return []
        idx = np.searchsorted(s.t, grid, side="right") - 1
        ok = (idx >= 0) & (grid - s.t[np.maximum(idx, 0)] <= HOLD_S)
        values = np.where(ok, held_on_grid(s, grid, HOLD_S), np.nan)
        flags = np.where(ok, s.f[np.maximum(idx, 0)], "")
        maint = await self._maintenance(conn, subject, since, until)
        for m in maint:
            values = np.where((grid >= m.start_s) & (grid < m.end_s), np.nan, values)
        if served:
            power = await load_series(conn, cache, [p.id for p in served], ["p"], lo, until)
            running = production_running({p.id: power.get((p.id, "p"), Series.empty()) for p in served},
                                         served, grid)
        else:
            running = np.ones(grid.size, dtype=bool)
        findings = flatline(grid, values, flags, running, self._params)
        return [self._draft(dev, metric, subject, f) for f in findings]

    def _draft(self, dev: Device, metric: str, subject: str, f: Finding) -> AlertDraft:
        facts = f.facts
        en, zh = summary("water_flatline", outlet=Phrase("water_outlet", outlet=dev.outlet or dev.id, id=dev.id),
                         metric=Phrase(f"water_metric_{metric}"), value=format(facts.get("value", 0.0), "g"),
                         start=local_hm(f.start_s), duration=Minutes(float(facts["duration_min"])),
                         state=state(f.end_s))
        return AlertDraft(
            rule=RULE_ID, subject=subject, enterprise_id=dev.enterprise_id, device_ids=(dev.id, *dev.serves),
            start=utc(f.start_s), end=None if f.end_s is None else utc(f.end_s),
            severity=str(facts["severity"]), summary=en, summary_zh=zh,
            params={"min_duration_min": self._params.min_duration_min, "tolerance": self._params.tolerance,
                    "kind": "water", "suppressed_by_maintenance": self.suppressed_by_maintenance},
            evidence={"facts": facts, "metric": metric, "metrics": [metric],
                      "devices": {dev.id: f"water outlet {dev.outlet or dev.id}"}},
        )
