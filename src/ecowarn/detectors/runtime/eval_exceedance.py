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
from ecowarn.detectors.runtime._evalbase import POLLUTANT_NAMES, fmt, local_hm, outlet_en, outlet_zh, state_en, state_zh
from ecowarn.detectors.runtime._outlet import POLLUTANTS, HourlyOutletEvaluator, hourly_of, split_subject

__all__ = ["ExceedanceEvaluator", "concentration_words"]


def concentration_words(cems: Device, metric: str, converted: bool) -> tuple[str, str]:
    """How the concentration is expressed, in English and Chinese."""
    en, zh = POLLUTANT_NAMES[metric]
    if converted:
        return (f"{en} hourly mean converted to {fmt(cems.ref_o2 or 0)}% O2",
                f"{zh}小时折算浓度（基准氧含量 {fmt(cems.ref_o2 or 0)}%）")
    return (f"{en} hourly mean (measured: no ref_o2 registered)",
            f"{zh}小时实测浓度（未登记基准氧含量）")


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
        what_en, what_zh = concentration_words(cems, metric, converted)
        hours = int(facts["hours"])
        unit = "mg/m3"
        summary = (
            f"{outlet_en(cems)}: {what_en} above its limit of {fmt(facts['limit'])} {unit} for "
            f"{hours} valid hour{'s' if hours != 1 else ''} from {local_hm(f.start_s)} "
            f"(max {fmt(facts['max_hourly_converted'], 2)} {unit}, "
            f"{fmt(facts['max_ratio_to_limit'], 2)}x the limit; mean "
            f"{fmt(facts['mean_hourly_converted'], 2)}), {state_en(f.end_s)}")
        summary_zh = (
            f"{outlet_zh(cems)}：{what_zh}自 {local_hm(f.start_s)} 起连续 {hours} 个有效小时超过"
            f"排放限值 {fmt(facts['limit'])} {unit}（最高 {fmt(facts['max_hourly_converted'], 2)} {unit}，"
            f"为限值的 {fmt(facts['max_ratio_to_limit'], 2)} 倍），{state_zh(f.end_s)}")
        return self._hourly_draft(subject, metric, f, facts, summary, summary_zh, {
            "min_valid_minutes": self._params.min_valid_minutes,
            "o2_max_pct": self._params.o2_max_pct, "high_ratio": self._params.high_ratio,
            "high_hours": self._params.high_hours, "valid_flags": "N",
        })
