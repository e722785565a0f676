"""I/O side of ``undeclared_marking``: M/C/D flags that no declared maintenance covers.

Subject: a CEMS outlet; every CEMS metric's flags take part. Declared maintenance of
the outlet's CEMS covers its window (when ``suppressed_by_maintenance``; otherwise a
declaration excuses nothing). The alert also says what the marked minutes hid: the
mean concentration of each limited pollutant under the marks (converted to
``ref_o2`` when O2 is there) against its limit, since marks laid over an exceedance
are the classic way to hide one.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import numpy as np
import psycopg

from ecowarn.alerts.store import AlertDraft
from ecowarn.config.registry import Device, Registry
from ecowarn.detectors._core import Finding, minute_grid
from ecowarn.detectors.hj75 import converted, flag_in
from ecowarn.detectors.marking import RULE_ID, MarkingParams, undeclared_marking
from ecowarn.detectors.runtime._cache import SeriesCache
from ecowarn.detectors.runtime._evalbase import fmt, local_hm, metric_phrase, outlet_en, outlet_phrase, state
from ecowarn.detectors.runtime._load import binned_on_grid, covered_mask, epoch, load_series
from ecowarn.detectors.runtime._outlet import CEMS_METRICS, POLLUTANTS, OutletEvaluator, seg_bounds
from ecowarn.detectors.runtime.contract import utc
from ecowarn.i18n import Join, Minutes, Phrase, summary

__all__ = ["MarkingEvaluator"]

# Flags with a name in the catalogs (PHRASES flag_<flag>); others are shown as themselves.
_FLAGS_NAMED = frozenset("MCD")


class MarkingEvaluator(OutletEvaluator):
    rule = RULE_ID
    needs_production = False

    def __init__(self, registry: Registry, params: MarkingParams) -> None:
        super().__init__(registry, per_metric=False)
        self._params = params
        self.suppressed_by_maintenance = params.suppressed_by_maintenance
        self.lookback = timedelta(minutes=params.min_duration_min + 60)

    def primary_keys(self, subject: str) -> list[tuple[str, str]]:
        return [(subject, m) for m in CEMS_METRICS]

    async def _run(self, conn: psycopg.AsyncConnection[Any], cache: SeriesCache | None, subject: str, since: datetime,
                   until: datetime) -> list[AlertDraft]:
        cems = self.outlet(subject)
        grid = minute_grid(epoch(since), epoch(until))
        series = await load_series(conn, cache, [cems.id], CEMS_METRICS, since, until)
        binned = {m: binned_on_grid(series[(cems.id, m)], grid) for m in CEMS_METRICS}
        present = [m for m in CEMS_METRICS if len(series[(cems.id, m)])]
        if not present:
            return []
        flags = np.vstack([binned[m][1] for m in present])
        maint = await self._maintenance(conn, subject, since, until)
        covered = covered_mask(grid, maint)
        findings = undeclared_marking(grid, flags, covered, self._params)
        drafts = []
        for f in findings:
            lo, hi = seg_bounds(grid, f.start_s, f.end_s)
            marked = flag_in(flags[:, lo:hi], self._params.marking_flags)
            metrics_marked = [m for m, row in zip(present, marked, strict=True) if row.any()]
            hidden = {}
            o2 = binned["o2"][0][lo:hi]
            for m in POLLUTANTS:
                if m not in cems.limits or m not in present:
                    continue
                v = binned[m][0][lo:hi]
                conv = converted(v, o2, cems.ref_o2) if cems.ref_o2 is not None else v
                if not np.isfinite(conv).any():
                    continue
                mean = float(np.nanmean(conv))
                hidden[m] = {"mean": round(mean, 3), "limit": float(cems.limits[m]),
                             "ratio_to_limit": round(mean / float(cems.limits[m]), 3),
                             "converted": cems.ref_o2 is not None}
            drafts.append(self._draft(cems, f, metrics_marked, hidden))
        return drafts

    def _draft(self, cems: Device, f: Finding, metrics_marked: list[str],
               hidden: dict[str, dict[str, Any]]) -> AlertDraft:
        facts = {**f.facts, "metrics_marked": metrics_marked, "under_the_marks": hidden}
        counts: dict[str, int] = facts["flag_counts"]
        flags = Join(Phrase("flag", flag=k, name=Phrase(f"flag_{k}") if k in _FLAGS_NAMED else k) for k in counts)
        over = {m: h for m, h in hidden.items() if h["ratio_to_limit"] > 1}
        under_the_marks = "" if not over else Phrase("under_the_marks", items=Join(
            Phrase("hidden_pollutant", pollutant=metric_phrase(m), mean=fmt(h["mean"], 2),
                   ratio=fmt(h["ratio_to_limit"], 2), limit=fmt(h["limit"])) for m, h in over.items()))
        en, zh = summary(
            "undeclared_marking", outlet=outlet_phrase(cems), flags=flags, metrics=Join(metrics_marked),
            duration=Minutes(float(facts["duration_min"])), start=local_hm(f.start_s), hidden=under_the_marks,
            state=state(f.end_s))
        return AlertDraft(
            rule=RULE_ID, subject=cems.id, enterprise_id=cems.enterprise_id,
            device_ids=(cems.id,),
            start=utc(f.start_s), end=None if f.end_s is None else utc(f.end_s),
            severity="high" if over else str(facts["severity"]),
            summary=en, summary_zh=zh,
            params={
                "min_duration_min": self._params.min_duration_min,
                "marking_flags": self._params.marking_flags,
                "high_severity_min": self._params.high_severity_min,
                "suppressed_by_maintenance": self._params.suppressed_by_maintenance,
            },
            evidence={"facts": facts, "metrics": metrics_marked,
                      "devices": {cems.id: outlet_en(cems)}},
        )
