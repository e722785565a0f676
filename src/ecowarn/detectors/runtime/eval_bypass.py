"""I/O side of ``bypass_suspected``: heavy production, almost no flue gas at its outlet.

Subject: a CEMS outlet with ``serves``. Production is the served meters' summed power
against their summed ``rated_kw``. The typical running flow is learned per local day
(``detectors._baselines``, series ``flow:<cems id>``: valid flow on the minutes the
production runs) over ``baseline_window_s`` before the day of the new data. There is
no rated flow to fall back on, except the outlet's ``design_flow`` (m3/s, from its
permit; CONTRACT 1.1 section 7) when the registry gives it: before ``baseline_min_samples``
running minutes of history the rule judges against it, saying so, or without it cannot
judge and stays silent.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import numpy as np
import psycopg

from ecowarn.alerts.store import AlertDraft
from ecowarn.config.registry import Registry
from ecowarn.detectors._core import BoolArray, Finding, FloatArray, IntArray
from ecowarn.detectors.baseline import Baseline
from ecowarn.detectors.bypass import RULE_ID, BypassParams, bypass_suspected
from ecowarn.detectors.hj75 import flag_in
from ecowarn.detectors.runtime._cache import SeriesCache
from ecowarn.detectors.runtime._evalbase import (
    baseline_evidence,
    baseline_phrase,
    fmt,
    local_hm,
    outlet_en,
    outlet_phrase,
    state,
)
from ecowarn.detectors.runtime._load import latest_ts
from ecowarn.detectors.runtime._outlet import OutletData, OutletEvaluator, seg_bounds
from ecowarn.detectors.runtime.contract import Window, utc
from ecowarn.i18n import Minutes, summary

__all__ = ["BypassEvaluator"]


class BypassEvaluator(OutletEvaluator):
    rule = RULE_ID

    def __init__(self, registry: Registry, params: BypassParams) -> None:
        super().__init__(registry, per_metric=False)
        self._params = params
        self.suppressed_by_maintenance = params.suppressed_by_maintenance
        self.lookback = timedelta(minutes=params.min_duration_min + 60)
        # Only outlets with production to compare with.
        self._subjects = {d: [s for s in subs if self.served(s)]
                          for d, subs in self._subjects.items()}

    def primary_keys(self, subject: str) -> list[tuple[str, str]]:
        return [(subject, "flow")]

    async def _sample(self, conn: psycopg.AsyncConnection[Any], subject: str, lo: datetime,
                      hi: datetime) -> tuple[IntArray, FloatArray, BoolArray]:
        """Valid flow on the minutes of ``[lo, hi)`` while production runs (weeks of history for
        the baseline: read from the database, not the runner's cache of recent data)."""
        data = await self._outlet_data(conn, None, subject, ("flow",), lo, hi - timedelta(seconds=60),
                                       honour_maintenance=False)
        valid = flag_in(data.flags["flow"], "N")
        return data.grid, data.values["flow"], np.asarray(data.running & valid)

    async def evaluate(self, conn: psycopg.AsyncConnection[Any], subject: str,
                       window: Window, cache: SeriesCache | None = None) -> tuple[datetime, list[AlertDraft]]:
        until = await latest_ts(conn, cache, self.primary_keys(subject))
        if until is None:
            return window.t_min, []

        async def sample(c: psycopg.AsyncConnection[Any], lo: datetime,
                         hi: datetime) -> tuple[IntArray, FloatArray, BoolArray]:
            return await self._sample(c, subject, lo, hi)

        as_of, baseline = await self._new_data_baseline(
            conn, window, until, f"flow:{subject}", self._params.baseline_params(),
            self._registry.devices[subject].design_flow, sample)
        if baseline is None:
            return window.t_min, []

        async def run(since: datetime) -> list[AlertDraft]:
            data = await self._outlet_data(conn, cache, subject, ("flow",), since, until)
            served = self.served(subject)
            kw = np.vstack([data.production_kw[d.id] for d in served])
            known = np.isfinite(kw).any(axis=0)
            total = np.where(known, np.nansum(np.where(np.isfinite(kw), kw, 0.0), axis=0), np.nan)
            rated = float(sum(d.rated_kw or 0.0 for d in served))
            findings = bypass_suspected(data.grid, total, rated, data.values["flow"], baseline,
                                        self._params, flow_valid=flag_in(data.flags["flow"], "N"))
            return [self._draft(subject, data, f, baseline, as_of) for f in findings]

        return await self._widening(window, until, run)

    def _draft(self, subject: str, data: OutletData, f: Finding, baseline: Baseline,
               as_of: int) -> AlertDraft:
        cems = self.outlet(subject)
        lo, hi = seg_bounds(data.grid, f.start_s, f.end_s)
        production, prod_means = self.production_phrase(subject, data, lo, hi)
        facts = {**f.facts, "production_by_device_kw": prod_means}
        bp = self._params.baseline_params()
        served = self.served(subject)
        en, zh = summary(
            "bypass_suspected_one" if len(served) == 1 else "bypass_suspected", production=production,
            total_kw=fmt(facts["production_mean_kw"]), production_pct=fmt(100 * self._params.production_ratio),
            rated_kw=fmt(facts["rated_kw"]), outlet=outlet_phrase(cems), flow_mean=fmt(facts["flow_mean"], 2),
            flow_pct=fmt(100 * self._params.flow_ratio), baseline=baseline_phrase(baseline, "m3/s", bp),
            flow_threshold=fmt(facts["flow_threshold"], 2), duration=Minutes(float(facts["duration_min"])),
            start=local_hm(f.start_s), state=state(f.end_s))
        return AlertDraft(
            rule=RULE_ID, subject=subject, enterprise_id=cems.enterprise_id,
            device_ids=(cems.id, *(d.id for d in served)),
            start=utc(f.start_s), end=None if f.end_s is None else utc(f.end_s),
            severity=str(facts["severity"]), summary=en, summary_zh=zh,
            params={
                "min_duration_min": self._params.min_duration_min,
                "production_ratio": self._params.production_ratio,
                "flow_ratio": self._params.flow_ratio,
                "baseline_window_s": self._params.baseline_window_s,
                "baseline_min_samples": self._params.baseline_min_samples,
                "suppressed_by_maintenance": self._params.suppressed_by_maintenance,
            },
            evidence={"facts": facts, "metric": "flow", "metrics": ["flow"],
                      "baseline": baseline_evidence(baseline, bp, as_of),
                      "devices": {cems.id: outlet_en(cems), **{d.id: d.label for d in served}}},
        )
