"""I/O side of ``emission_exceedance``: valid hourly converted means above the limit.

Subject: ``<cems id>/<pollutant>`` for every pollutant with a limit in the registry.
Hourly means follow HJ 75-2017 (:mod:`detectors.hj75`): minutes flagged ``N`` for the
pollutant and O2, converted to the outlet's ``ref_o2`` with each minute's own O2, an
hour valid with ``min_valid_minutes`` valid minutes; M/C/D-flagged minutes never count
(``undeclared_marking`` watches those). Hours are local clock hours; the look-back is
in whole hours.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import psycopg

from ecowarn.alerts.store import AlertDraft
from ecowarn.config.registry import Device, Registry
from ecowarn.detectors._core import Finding
from ecowarn.detectors.exceedance import RULE_ID, ExceedanceParams, exceedance_from_hourly
from ecowarn.detectors.runtime._cache import SeriesCache
from ecowarn.detectors.runtime._evalbase import fmt, local_hm, metric_phrase, outlet_phrase, state
from ecowarn.detectors.runtime._outlet import POLLUTANTS, HourlyOutletEvaluator, hourly_of, split_subject
from ecowarn.i18n import Count, Phrase, summary

__all__ = ["ExceedanceEvaluator", "concentration"]


def concentration(cems: Device, metric: str, converted: bool) -> Phrase:
    """How the concentration is expressed: converted to the outlet's reference O2, or measured."""
    if converted:
        return Phrase("concentration_converted", pollutant=metric_phrase(metric), ref_o2=fmt(cems.ref_o2 or 0))
    return Phrase("concentration_measured", pollutant=metric_phrase(metric))


class ExceedanceEvaluator(HourlyOutletEvaluator):
    rule = RULE_ID

    def __init__(self, registry: Registry, params: ExceedanceParams) -> None:
        super().__init__(registry, POLLUTANTS, per_metric=True, only_limited=True)
        self._params = params
        self.suppressed_by_maintenance = params.suppressed_by_maintenance
        self.lookback = timedelta(hours=2)

    async def _run(self, conn: psycopg.AsyncConnection[Any], cache: SeriesCache | None, subject: str, since: datetime,
                   until: datetime) -> list[AlertDraft]:
        cems = self.outlet(subject)
        metric = split_subject(subject)[1] or ""
        hourly, _, ref, conv = await hourly_of(self, conn, cache, subject, since, until,
                                               self._params.hj75())
        limit = float(cems.limits[metric])
        findings = exceedance_from_hourly(hourly, ref, limit, self._params)
        return [self._draft(cems, metric, subject, f, conv) for f in findings]

    def _draft(self, cems: Device, metric: str, subject: str, f: Finding,
               converted: bool) -> AlertDraft:
        facts = {**f.facts, "converted": converted}
        en, zh = summary(
            "emission_exceedance", outlet=outlet_phrase(cems), what=concentration(cems, metric, converted),
            limit=fmt(facts["limit"]), unit="mg/m3", hours=Count("valid_hours", int(facts["hours"])),
            start=local_hm(f.start_s), max=fmt(facts["max_hourly_converted"], 2),
            max_ratio=fmt(facts["max_ratio_to_limit"], 2), mean=fmt(facts["mean_hourly_converted"], 2),
            state=state(f.end_s))
        return self._hourly_draft(subject, metric, f, facts, en, zh, {
            "min_valid_minutes": self._params.min_valid_minutes,
            "o2_max_pct": self._params.o2_max_pct, "high_ratio": self._params.high_ratio,
            "high_hours": self._params.high_hours, "valid_flags": "N",
        })
