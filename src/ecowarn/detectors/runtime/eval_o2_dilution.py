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
from ecowarn.detectors.runtime._evalbase import dur_en, dur_zh, fmt, local_hm, outlet_en, outlet_zh, state_en, state_zh
from ecowarn.detectors.runtime._outlet import OutletData, OutletEvaluator, seg_bounds

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
        prod_en, prod_zh, prod_means = self.production_words(subject, data, lo, hi)
        facts = {**f.facts, "production_mean_kw": prod_means}
        dur = float(facts["duration_min"])
        thr = fmt(self._params.o2_threshold_pct)
        summary = (
            f"{outlet_en(cems)}: flue gas O2 at {fmt(facts['o2_mean_pct'], 2)}% on average "
            f"(never below {fmt(facts['o2_min_pct'], 2)}%; at or above {thr}% is near ambient air) "
            f"for {dur_en(dur)} from {local_hm(f.start_s)} while {prod_en} runs: suspected "
            f"dilution, {state_en(f.end_s)}")
        summary_zh = (
            f"{outlet_zh(cems)}：自 {local_hm(f.start_s)} 起烟气氧含量平均 "
            f"{fmt(facts['o2_mean_pct'], 2)}%（最低 {fmt(facts['o2_min_pct'], 2)}%，"
            f"不低于 {thr}% 即接近空气），持续 {dur_zh(dur)}，期间生产设施 {prod_zh} 运行，"
            f"疑似稀释排放，{state_zh(f.end_s)}")
        return self._production_draft(subject, "o2", f, facts, summary, summary_zh, {
            "min_duration_min": self._params.min_duration_min,
            "o2_threshold_pct": self._params.o2_threshold_pct,
            "high_severity_min": self._params.high_severity_min,
        })
