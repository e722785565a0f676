"""I/O side of ``emission_exceedance`` for wastewater outlets (CONTRACT 1.1 section 8).

Subjects, per water outlet: ``<id>/<metric>`` for a daily-mean limit, ``<id>/<metric>/hourly``
for an hourly limit (``limits_hourly``), and ``<id>/ph`` for its pH range. Days are local
(UTC+8) and the look-back is aligned to local midnight, so a day is always judged whole.
A day (or hour) is judged once a reading at or after its last hour has arrived: water
loggers often upload hourly means stamped with the start of their hour (CN 2061).
No O2 correction for water; production is not needed (a plant's outlet discharges
whether or not a meter says it runs).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import numpy as np
import psycopg

from ecowarn.alerts.store import AlertDraft
from ecowarn.config.registry import Device, Registry
from ecowarn.detectors._core import Finding
from ecowarn.detectors.exceedance import RULE_ID, ExceedanceParams
from ecowarn.detectors.runtime._cache import SeriesCache
from ecowarn.detectors.runtime._evalbase import Evaluator, local_hm, state
from ecowarn.detectors.runtime._load import epoch, load_series, local_day_start
from ecowarn.detectors.runtime.contract import utc
from ecowarn.detectors.water import ph_out_of_range, water_exceedance
from ecowarn.i18n import Phrase, summary

__all__ = ["WaterExceedanceEvaluator"]

HOUR_S = 3600


def split(subject: str) -> tuple[str, str, bool]:
    """``<id>/<metric>[/hourly]`` -> (id, metric, hourly)."""
    parts = subject.split("/")
    return parts[0], parts[1], len(parts) > 2 and parts[2] == "hourly"


class WaterExceedanceEvaluator(Evaluator):
    rule = RULE_ID

    def __init__(self, registry: Registry, params: ExceedanceParams,
                 lookback: timedelta = timedelta(days=1)) -> None:
        super().__init__()
        self._registry = registry
        self._params = params
        self._water = params.water()
        self.lookback = lookback
        self.suppressed_by_maintenance = params.suppressed_by_maintenance
        for dev in registry.devices.values():
            if dev.kind != "water":
                continue
            for metric in dev.limits:
                if metric != "ph":
                    self._add_subject(f"{dev.id}/{metric}", [dev.id])
            for metric in dev.limits_hourly:
                if metric != "ph":
                    self._add_subject(f"{dev.id}/{metric}/hourly", [dev.id])
            self._add_subject(f"{dev.id}/ph", [dev.id])

    def primary_keys(self, subject: str) -> list[tuple[str, str]]:
        dev, metric, _ = split(subject)
        return [(dev, metric)]

    def _maintenance_devices(self, subject: str) -> list[str]:
        return [split(subject)[0]]

    def _aligned(self, since_s: int) -> int:
        """Look-backs start at local midnight: a day is judged whole."""
        return local_day_start(since_s)

    async def _run(self, conn: psycopg.AsyncConnection[Any], cache: SeriesCache | None, subject: str,
                   since: datetime, until: datetime) -> list[AlertDraft]:
        dev_id, metric, hourly = split(subject)
        dev = self._registry.devices[dev_id]
        s = (await load_series(conn, cache, [dev_id], [metric], since, until))[(dev_id, metric)]
        values = s.v
        maint = await self._maintenance(conn, subject, since, until)
        if maint:
            covered = np.zeros(s.t.size, dtype=bool)
            for m in maint:
                covered |= (s.t >= m.start_s) & (s.t < m.end_s)
            values = np.where(covered, np.nan, values)
        until_s = epoch(until)
        if metric == "ph":
            low, high = dev.ph_range
            found = ph_out_of_range(s.t, values, s.f, low, high, self._water, end_s=until_s)
        else:
            complete = (until_s // HOUR_S + 1) * HOUR_S
            daily = None if hourly else dev.limits.get(metric)
            hourly_limit = dev.limits_hourly.get(metric) if hourly else None
            found = water_exceedance(s.t, values, s.f, daily, hourly_limit, self._water, complete)
        return [self._draft(dev, subject, metric, f) for f in found]

    def _draft(self, dev: Device, subject: str, metric: str, f: Finding) -> AlertDraft:
        facts = f.facts
        outlet = Phrase("water_outlet", outlet=dev.outlet or dev.id, id=dev.id)
        name = Phrase(f"water_metric_{metric}")
        if facts["basis"] == "ph":
            key, fields = "water_ph", {"low": format(facts["low"], "g"), "high": format(facts["high"], "g"),
                                       "min": format(facts["min"], "g"), "max": format(facts["max"], "g"),
                                       "duration": format(facts["duration_min"], "g")}
            params = {"ph_range": list(dev.ph_range),
                      "ph_min_duration_min": self._water.ph_min_duration_min}
        else:
            key = "water_daily" if facts["basis"] == "daily" else "water_hourly"
            fields = {"limit": format(facts["limit"], "g"), "max_mean": format(facts["max_mean"], "g"),
                      "periods": str(facts["periods"])}
            params = {"limit": facts["limit"], "basis": facts["basis"],
                      "min_valid_hours": self._water.min_valid_hours}
        en, zh = summary(key, outlet=outlet, metric=name, start=local_hm(f.start_s), state=state(f.end_s),
                         **fields)
        return AlertDraft(
            rule=RULE_ID, subject=subject, enterprise_id=dev.enterprise_id, device_ids=(dev.id,),
            start=utc(f.start_s), end=None if f.end_s is None else utc(f.end_s),
            severity=str(facts["severity"]), summary=en, summary_zh=zh,
            params={**params, "kind": "water",
                    "suppressed_by_maintenance": self.suppressed_by_maintenance},
            evidence={"facts": facts, "metric": metric, "metrics": [metric],
                      "devices": {dev.id: f"water outlet {dev.outlet or dev.id}"}},
        )
