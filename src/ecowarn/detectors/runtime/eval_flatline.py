"""I/O side of ``flatline``: a CEMS pollutant or O2 value frozen while production runs.

Subject: ``<cems id>/<metric>`` for so2, nox, pm, co and o2 of every outlet. Only
minutes with their own value flagged ``flags_checked`` (``N``) and the outlet's
production running take part (a stopped plant's zeros are normal); a minute without
a reading breaks the run.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import psycopg

from ecowarn.alerts.store import AlertDraft
from ecowarn.config.registry import Registry
from ecowarn.detectors._core import Finding
from ecowarn.detectors.flatline import RULE_ID, FlatlineParams, flatline_and_tail, minimum_points
from ecowarn.detectors.runtime._cache import SeriesCache
from ecowarn.detectors.runtime._evalbase import fmt, local_hm, metric_phrase, outlet_phrase, state
from ecowarn.detectors.runtime._outlet import POLLUTANTS, OutletData, OutletEvaluator, seg_bounds, split_subject
from ecowarn.i18n import Minutes, summary

__all__ = ["FlatlineEvaluator"]

_UNITS = {"so2": "mg/m3", "nox": "mg/m3", "pm": "mg/m3", "co": "mg/m3", "o2": "%"}


class FlatlineEvaluator(OutletEvaluator):
    rule = RULE_ID

    def __init__(self, registry: Registry, params: FlatlineParams) -> None:
        super().__init__(registry, (*POLLUTANTS, "o2"), per_metric=True)
        self._params = params
        self.suppressed_by_maintenance = params.suppressed_by_maintenance
        self.lookback = timedelta(minutes=params.min_duration_min + 60)
        self._min_points = minimum_points(params)

    def tail_quiet(self, subject: str, cache: SeriesCache | None) -> bool:
        """No run of ``min_duration_min`` on the last full evaluation's grid, and the run
        through its last minute but one plus every minute from its last one to the newest
        reading's stays shorter than that: values, flags, maintenance and production can only
        break runs, and the minutes before the last one are as that evaluation saw them (the
        runner asks only when every new reading came after what it read)."""
        since = self._tail_since(subject, cache)
        if since is None:
            return False
        (until_s, run), latest = since
        if run is None:
            return False
        new_minutes = int(latest) // 60 - int(until_s) // 60 + 1
        return bool(int(run) + new_minutes < self._min_points)

    async def _run(self, conn: psycopg.AsyncConnection[Any], cache: SeriesCache | None, subject: str, since: datetime,
                   until: datetime) -> list[AlertDraft]:
        metric = split_subject(subject)[1] or ""
        data = await self._outlet_data(conn, cache, subject, (metric,), since, until)
        findings, tail = flatline_and_tail(data.grid, data.values[metric], data.flags[metric],
                                           data.running, self._params)
        self._evaluated[subject] = (until.timestamp(), tail)
        return [self._draft(subject, metric, data, f) for f in findings]

    def _draft(self, subject: str, metric: str, data: OutletData, f: Finding) -> AlertDraft:
        cems = self.outlet(subject)
        lo, hi = seg_bounds(data.grid, f.start_s, f.end_s)
        production, prod_means = self.production_phrase(subject, data, lo, hi)
        facts = {**f.facts, "production_mean_kw": prod_means}
        tolerance = self._params.tolerance
        en, zh = summary(
            "flatline" if tolerance == 0 else "flatline_tolerance", outlet=outlet_phrase(cems),
            pollutant=metric_phrase(metric), value=fmt(facts["value"], 3), unit=_UNITS[metric],
            tolerance=fmt(tolerance, 3), flags=self._params.flags_checked,
            duration=Minutes(float(facts["duration_min"])), start=local_hm(f.start_s),
            points=int(facts["points"]), production=production, state=state(f.end_s))
        return self._production_draft(subject, metric, f, facts, en, zh, {
            "min_duration_min": self._params.min_duration_min,
            "tolerance": self._params.tolerance,
            "flags_checked": self._params.flags_checked,
            "high_severity_min": self._params.high_severity_min,
        })
