"""I/O side of ``o2_dilution``: stack O2 near ambient while the outlet's production runs.

Subject: a CEMS outlet. O2 minutes count when flagged ``N``; ambient O2 while the
production is stopped is normal and never fires.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import psycopg

from ecowarn.alerts.store import AlertDraft
from ecowarn.config.registry import Registry
from ecowarn.detectors._core import Finding
from ecowarn.detectors.hj75 import flag_in
from ecowarn.detectors.o2_dilution import RULE_ID, O2DilutionParams, o2_dilution
from ecowarn.detectors.runtime._cache import SeriesCache
from ecowarn.detectors.runtime._evalbase import fmt, local_hm, outlet_phrase, state
from ecowarn.detectors.runtime._outlet import OutletData, OutletEvaluator, seg_bounds
from ecowarn.i18n import Minutes, summary

__all__ = ["O2DilutionEvaluator"]


class O2DilutionEvaluator(OutletEvaluator):
    rule = RULE_ID

    def __init__(self, registry: Registry, params: O2DilutionParams) -> None:
        super().__init__(registry, per_metric=False)
        self._params = params
        self.suppressed_by_maintenance = params.suppressed_by_maintenance
        self.lookback = timedelta(minutes=params.min_duration_min + 60)

    def primary_keys(self, subject: str) -> list[tuple[str, str]]:
        return [(subject, "o2")]

    async def _run(self, conn: psycopg.AsyncConnection[Any], cache: SeriesCache | None, subject: str, since: datetime,
                   until: datetime) -> list[AlertDraft]:
        data = await self._outlet_data(conn, cache, subject, ("o2",), since, until)
        findings = o2_dilution(data.grid, data.values["o2"], data.running, self._params,
                               valid=flag_in(data.flags["o2"], "N"))
        return [self._draft(subject, data, f) for f in findings]

    def _draft(self, subject: str, data: OutletData, f: Finding) -> AlertDraft:
        cems = self.outlet(subject)
        lo, hi = seg_bounds(data.grid, f.start_s, f.end_s)
        production, prod_means = self.production_phrase(subject, data, lo, hi)
        facts = {**f.facts, "production_mean_kw": prod_means}
        en, zh = summary(
            "o2_dilution", outlet=outlet_phrase(cems), o2_mean=fmt(facts["o2_mean_pct"], 2),
            o2_min=fmt(facts["o2_min_pct"], 2), threshold=fmt(self._params.o2_threshold_pct),
            duration=Minutes(float(facts["duration_min"])), start=local_hm(f.start_s), production=production,
            state=state(f.end_s))
        return self._production_draft(subject, "o2", f, facts, en, zh, {
            "min_duration_min": self._params.min_duration_min,
            "o2_threshold_pct": self._params.o2_threshold_pct,
            "high_severity_min": self._params.high_severity_min,
        })
