"""I/O side of ``pinned_below_limit``: hourly converted means held just under the limit.

Subject: ``<cems id>/<pollutant>`` for every pollutant with a limit, on the same HJ 75
hourly means as ``emission_exceedance``. The look-back covers ``min_hours`` + 2 hours
so a qualifying run ending at the new data is seen whole.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import psycopg

from ecowarn.alerts.store import AlertDraft
from ecowarn.config.registry import Device, Registry
from ecowarn.detectors._core import Finding
from ecowarn.detectors.pinned import RULE_ID, PinnedParams, pinned_from_hourly
from ecowarn.detectors.runtime._cache import SeriesCache
from ecowarn.detectors.runtime._evalbase import fmt, local_hm, outlet_phrase, state
from ecowarn.detectors.runtime._outlet import POLLUTANTS, HourlyOutletEvaluator, hourly_of, split_subject
from ecowarn.detectors.runtime.eval_exceedance import concentration
from ecowarn.i18n import summary

__all__ = ["PinnedEvaluator"]


class PinnedEvaluator(HourlyOutletEvaluator):
    rule = RULE_ID

    def __init__(self, registry: Registry, params: PinnedParams) -> None:
        super().__init__(registry, POLLUTANTS, per_metric=True, only_limited=True)
        self._params = params
        self.suppressed_by_maintenance = params.suppressed_by_maintenance
        self.lookback = timedelta(hours=params.min_hours + 2)

    async def _run(self, conn: psycopg.AsyncConnection[Any], cache: SeriesCache | None, subject: str, since: datetime,
                   until: datetime) -> list[AlertDraft]:
        cems = self.outlet(subject)
        metric = split_subject(subject)[1] or ""
        hourly, _, _, conv = await hourly_of(self, conn, cache, subject, since, until, self._params.hj75())
        findings = pinned_from_hourly(hourly, float(cems.limits[metric]), self._params)
        return [self._draft(cems, metric, subject, f, conv) for f in findings]

    def _draft(self, cems: Device, metric: str, subject: str, f: Finding,
               converted: bool) -> AlertDraft:
        facts = {**f.facts, "converted": converted}
        en, zh = summary(
            "pinned_below_limit", outlet=outlet_phrase(cems), what=concentration(cems, metric, converted),
            band_low=fmt(facts["band_low"], 2), band_high=fmt(facts["band_high"], 2), unit="mg/m3",
            low_pct=fmt(100 * self._params.low_ratio), high_pct=fmt(100 * self._params.high_ratio),
            limit=fmt(facts["limit"]), hours=int(facts["hours"]), start=local_hm(f.start_s),
            cv_pct=fmt(100 * facts["cv"], 2), max_cv_pct=fmt(100 * self._params.max_cv, 2), state=state(f.end_s))
        return self._hourly_draft(subject, metric, f, facts, en, zh, {
            "min_hours": self._params.min_hours, "low_ratio": self._params.low_ratio,
            "high_ratio": self._params.high_ratio, "max_cv": self._params.max_cv,
            "min_valid_minutes": self._params.min_valid_minutes,
            "o2_max_pct": self._params.o2_max_pct,
        })
