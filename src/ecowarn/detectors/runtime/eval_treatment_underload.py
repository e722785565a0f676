"""I/O side of ``treatment_underload``: a treatment unit running far below its typical load.

Subject: a treatment meter that some production meter lists in ``treated_by``; its
production is those producers (running when any of them runs). The typical running
load is learned per local day (``detectors._baselines``, series ``load:<id>``: the
unit's power on the minutes it runs) over ``baseline_window_s`` before the day of the
new data; with fewer than ``baseline_min_samples`` running minutes the unit's
``rated_kw`` stands in, and the alert says so.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import numpy as np
import psycopg

from ecowarn.alerts.store import AlertDraft
from ecowarn.config.registry import Device, Registry
from ecowarn.detectors._core import Finding, FloatArray, IntArray, minute_grid
from ecowarn.detectors.baseline import Baseline
from ecowarn.detectors.runtime._baselines import power_sampler
from ecowarn.detectors.runtime._cache import SeriesCache
from ecowarn.detectors.runtime._evalbase import (
    Evaluator,
    baseline_evidence,
    baseline_phrase,
    fmt,
    state,
)
from ecowarn.detectors.runtime._load import (
    DEFAULT_HOLD_S,
    Series,
    covered_mask,
    epoch,
    held_on_grid,
    latest_ts,
    load_series,
    local_day_start,
)
from ecowarn.detectors.runtime.contract import Window, utc
from ecowarn.detectors.treatment_underload import RULE_ID, TreatmentUnderloadParams, treatment_underload
from ecowarn.i18n import Join, Minutes, Phrase, summary

__all__ = ["TreatmentUnderloadEvaluator"]


def combined_production(kws: list[FloatArray], thresholds: list[float]) -> tuple[FloatArray, float]:
    """One production series for several producers: raw kW for one producer, else each
    producer's power in multiples of its own running threshold, the largest per point
    (running at 1.0, so "any producer running")."""
    if len(kws) == 1:
        return kws[0], thresholds[0]
    with np.errstate(invalid="ignore"):
        stacked = np.vstack([kw / thr for kw, thr in zip(kws, thresholds, strict=True)])
    known = np.isfinite(stacked)
    best = np.where(known, stacked, -np.inf).max(axis=0)
    return np.where(known.any(axis=0), best, np.nan), 1.0


class TreatmentUnderloadEvaluator(Evaluator):
    rule = RULE_ID
    held_grid = True

    def __init__(self, registry: Registry, params: TreatmentUnderloadParams) -> None:
        super().__init__()
        self._registry = registry
        self._params = params
        self.suppressed_by_maintenance = params.suppressed_by_maintenance
        self.lookback = timedelta(minutes=params.min_duration_min + 60)
        self._producers: dict[str, list[Device]] = {}
        for dev in registry.devices.values():
            if dev.kind == "power" and dev.role == "treatment":
                producers = registry.producers_treated_by(dev.id)
                if producers:
                    self._producers[dev.id] = producers
                    self._add_subject(dev.id, [dev.id, *(p.id for p in producers)])

    def primary_keys(self, subject: str) -> list[tuple[str, str]]:
        return [(subject, "p")]

    def _maintenance_devices(self, subject: str) -> list[str]:
        return [subject, *(p.id for p in self._producers[subject])]

    async def evaluate(self, conn: psycopg.AsyncConnection[Any], subject: str,
                       window: Window, cache: SeriesCache | None = None) -> tuple[datetime, list[AlertDraft]]:
        until = await latest_ts(conn, cache, self.primary_keys(subject))
        if until is None:
            self._evaluated.pop(subject, None)
            return window.t_min, []
        dev = self._registry.devices[subject]
        as_of, baseline = await self._new_data_baseline(
            conn, window, until, f"load:{subject}", self._params.baseline_params(), dev.rated_kw,
            power_sampler(dev, self._params.off_ratio))
        if baseline is None:
            self._evaluated[subject] = (until.timestamp(), (as_of, None))
            return window.t_min, []
        self._evaluated[subject] = (until.timestamp(),
                                    (as_of, self._params.load_ratio * baseline.value))

        async def run(since: datetime) -> list[AlertDraft]:
            return await self._judge(conn, cache, subject, since, until, baseline, as_of)

        return await self._widening(window, until, run)

    def tail_quiet(self, subject: str, cache: SeriesCache | None) -> bool:
        """On the same local day as the last full evaluation (same baseline), at every new
        grid point: production decidedly off, or the unit decidedly off (no value, below its
        off threshold), or at or above the underload threshold."""
        done = self._evaluated.get(subject)
        if done is None:
            return False
        keys = [(subject, "p"), *((p.id, "p") for p in self._producers[subject])]
        tail = self._tail_held(subject, keys, DEFAULT_HOLD_S, cache)
        if tail is None:
            return False
        grid, held, latest = tail
        as_of, threshold_kw = done[1]
        if local_day_start(int(latest)) != as_of:
            return False
        if grid.size == 0 or threshold_kw is None:
            return True
        treat = self._registry.devices[subject]
        producers = self._producers[subject]
        prod, prod_on = combined_production([held[(p.id, "p")] for p in producers],
                                            [p.running_threshold_kw for p in producers])
        r = self._params.off_ratio
        with np.errstate(invalid="ignore"):
            t = held[(subject, "p")]
            ok = ~(prod >= r * prod_on) | ~(t >= r * treat.running_threshold_kw) \
                | (t >= threshold_kw)
        return bool(ok.all())

    async def _judge(self, conn: psycopg.AsyncConnection[Any], cache: SeriesCache | None, subject: str, since: datetime,
                     until: datetime, baseline: Baseline, as_of: int) -> list[AlertDraft]:
        treat = self._registry.devices[subject]
        producers = self._producers[subject]
        ids = [subject, *(p.id for p in producers)]
        series = await load_series(conn, cache, ids, ["p"], since - timedelta(seconds=DEFAULT_HOLD_S), until)
        grid = minute_grid(epoch(since), epoch(until))
        maint = await self._maintenance(conn, subject, since, until)
        blank = covered_mask(grid, maint) if maint else None

        def kw(dev_id: str) -> FloatArray:
            v = held_on_grid(series.get((dev_id, "p"), Series.empty()), grid)
            return v if blank is None else np.where(blank, np.nan, v)

        prod_kws = [kw(p.id) for p in producers]
        prod, prod_on = combined_production(prod_kws, [p.running_threshold_kw for p in producers])
        findings = treatment_underload(grid, prod, prod_on, kw(subject), treat.running_threshold_kw,
                                       baseline, self._params)
        return [self._draft(treat, producers, prod_kws, grid, f, baseline, as_of)
                for f in findings]

    def _draft(self, treat: Device, producers: list[Device], prod_kws: list[FloatArray],
               grid: IntArray, f: Finding, baseline: Baseline, as_of: int) -> AlertDraft:
        facts = dict(f.facts)
        lo = int(np.searchsorted(grid, f.start_s))
        hi = grid.size if f.end_s is None else int(np.searchsorted(grid, f.end_s))
        prod_mean = {p.id: round(float(np.nanmean(kw[lo:hi])), 2) if np.isfinite(kw[lo:hi]).any()
                     else None for p, kw in zip(producers, prod_kws, strict=True)}
        facts["production_mean_kw"] = prod_mean
        bp = self._params.baseline_params()
        dur = float(facts["duration_min"])
        summary_en, summary_zh = summary(
            "treatment_underload", treatment=treat.label, treatment_kw=fmt(facts["treatment_mean_kw"]),
            load_pct=fmt(facts["load_pct_of_baseline"]), ratio_pct=fmt(100 * self._params.load_ratio),
            threshold_kw=fmt(facts["threshold_kw"]), baseline=baseline_phrase(baseline, "kW", bp),
            production=Join(Phrase("at_power", name=p.label, kw=fmt(prod_mean[p.id] or 0)) for p in producers),
            duration=Minutes(dur), state=state(f.end_s))
        return AlertDraft(
            rule=RULE_ID, subject=treat.id, enterprise_id=treat.enterprise_id,
            device_ids=(treat.id, *(p.id for p in producers)),
            start=utc(f.start_s), end=None if f.end_s is None else utc(f.end_s),
            severity=str(facts["severity"]), summary=summary_en, summary_zh=summary_zh,
            params={
                "min_duration_min": self._params.min_duration_min,
                "load_ratio": self._params.load_ratio,
                "off_ratio": self._params.off_ratio,
                "baseline_window_s": self._params.baseline_window_s,
                "baseline_min_samples": self._params.baseline_min_samples,
                "treatment_on_kw": treat.running_threshold_kw,
                "production_on_kw": {p.id: p.running_threshold_kw for p in producers},
                "suppressed_by_maintenance": self._params.suppressed_by_maintenance,
            },
            evidence={"facts": facts, "metric": "p",
                      "baseline": baseline_evidence(baseline, bp, as_of),
                      "devices": {d.id: d.label for d in (treat, *producers)}},
        )

