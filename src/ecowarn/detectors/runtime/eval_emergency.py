"""I/O side of ``emergency_noncompliance``: production against emergency orders.

Subject: a production meter of an enterprise. Orders (table ``emergency_orders``)
naming its enterprise and overlapping the evaluated span are judged whole (from the
order's start, at most three days back), so limit-order hours always count from the
order's start. Overlapping orders of one measure are merged (limit orders per
``limit_pct``). A limit order's production baseline is learned per local day
(``detectors._baselines``, series ``prod:<id>``: the meter's power on the minutes it
runs) from the ``baseline_window_s`` before the day the order starts, so the
curtailment never lowers its own baseline; before ``baseline_min_samples`` running
minutes of history, ``rated_kw`` stands in and the alert says so.

An order inserted after the data is queued for re-evaluation under each of its
enterprise ids (trigger in migration 0005); :meth:`subjects_for` maps an enterprise
id to its production meters.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import psycopg

from ecowarn.alerts.store import AlertDraft
from ecowarn.config.registry import Device, Registry
from ecowarn.detectors._core import Finding, minute_grid
from ecowarn.detectors.baseline import Baseline
from ecowarn.detectors.emergency import RULE_ID, EmergencyParams, emergency_noncompliance
from ecowarn.detectors.runtime._baselines import power_sampler
from ecowarn.detectors.runtime._cache import SeriesCache
from ecowarn.detectors.runtime._evalbase import (
    MAX_LOOKBACK,
    Evaluator,
    baseline_evidence,
    baseline_phrase,
    fmt,
    local_hm,
    state,
)
from ecowarn.detectors.runtime._load import (
    DEFAULT_HOLD_S,
    Order,
    as_dt,
    covered_mask,
    epoch,
    held_on_grid,
    latest_ts,
    load_orders,
    load_series,
    local_day_start,
)
from ecowarn.detectors.runtime.contract import Window, utc
from ecowarn.i18n import Count, Minutes, Phrase, summary

__all__ = ["EmergencyEvaluator", "merge_windows"]


def merge_windows(orders: list[Order]) -> list[tuple[int, int, list[Order]]]:
    """Union of the orders' windows: (start, end, orders in it), sorted."""
    out: list[tuple[int, int, list[Order]]] = []
    for o in sorted(orders, key=lambda o: (o.start_s, o.end_s)):
        if out and o.start_s <= out[-1][1]:
            s, e, members = out[-1]
            out[-1] = (s, max(e, o.end_s), [*members, o])
        else:
            out.append((o.start_s, o.end_s, [o]))
    return out


class EmergencyEvaluator(Evaluator):
    rule = RULE_ID
    held_grid = True

    def __init__(self, registry: Registry, params: EmergencyParams) -> None:
        super().__init__()
        self._registry = registry
        self._params = params
        self.suppressed_by_maintenance = params.suppressed_by_maintenance
        self.lookback = timedelta(minutes=params.shutdown_min_duration_min + 60)
        self._ordered: frozenset[str] | None = None  # unknown until the first batch
        for dev in registry.production_devices():
            if dev.enterprise_id is not None and dev.kind == "power":
                self._add_subject(dev.id, [dev.id, dev.enterprise_id])

    def primary_keys(self, subject: str) -> list[tuple[str, str]]:
        return [(subject, "p")]

    async def begin_batch(self, conn: psycopg.AsyncConnection[Any], batch: int) -> None:
        """Which enterprises any order names, once per batch: most have none, and their
        subjects need no order query. (An order declared later queues a re-evaluation of
        its window, migration 0005, which the next batch sees with a fresh list.)"""
        await super().begin_batch(conn, batch)
        cur = await conn.execute("SELECT DISTINCT unnest(enterprise_ids) FROM emergency_orders")
        self._ordered = frozenset(r[0] for r in await cur.fetchall())

    def _maintenance_devices(self, subject: str) -> list[str]:
        return [subject]

    def tail_quiet(self, subject: str, cache: SeriesCache | None) -> bool:
        """No order names the meter's enterprise (as of this batch): readings cannot make the
        rule find anything. Orders are never deleted, and one declared later makes its
        enterprise named from the next batch on (and queues its window again)."""
        return self._unordered(self._registry.devices[subject])

    def _unordered(self, dev: Device) -> bool:
        """No order names ``dev``'s enterprise (False before the first batch's list)."""
        return self._ordered is not None and dev.enterprise_id not in self._ordered

    async def evaluate(self, conn: psycopg.AsyncConnection[Any], subject: str,
                       window: Window, cache: SeriesCache | None = None) -> tuple[datetime, list[AlertDraft]]:
        dev = self._registry.devices[subject]
        assert dev.enterprise_id is not None
        key = f"prod:{subject}"
        await self._invalidate_baselines(conn, [key], window.t_min, window.t_max)
        until = await latest_ts(conn, cache, self.primary_keys(subject))
        lo = min(window.t_min, until or window.t_min) - self.lookback
        if until is None:
            self._evaluated.pop(subject, None)
            return lo, []
        self._evaluated[subject] = (until.timestamp(), None)
        if self._unordered(dev):
            return lo, []
        orders = await load_orders(conn, dev.enterprise_id, lo, until)
        if not orders:
            return lo, []
        since = max(min(lo, as_dt(min(o.start_s for o in orders))), lo - MAX_LOOKBACK)
        series = await load_series(conn, cache, [subject], ["p"],
                                   since - timedelta(seconds=DEFAULT_HOLD_S), until)
        grid = minute_grid(epoch(since), epoch(until))
        kw = held_on_grid(series[(subject, "p")], grid)
        maint = await self._maintenance(conn, subject, since, until)
        if maint:
            kw = np.where(covered_mask(grid, maint), np.nan, kw)
        drafts: list[AlertDraft] = []
        # A limit of 100% is a shutdown.
        shutdown = merge_windows([o for o in orders if o.measure == "shutdown"
                                  or (o.limit_pct is not None and o.limit_pct >= 100)])
        if shutdown:
            findings = emergency_noncompliance(
                grid, kw, dev.running_threshold_kw, np.array([w[0] for w in shutdown]),
                np.array([w[1] for w in shutdown]), "shutdown", None, None, self._params)
            for f in findings:
                members = next(w[2] for w in shutdown if w[0] <= f.start_s < w[1])
                drafts.append(self._shutdown_draft(dev, f, members))
        by_pct: dict[float, list[Order]] = defaultdict(list)
        for o in orders:
            if o.measure == "limit" and o.limit_pct is not None and o.limit_pct < 100:
                by_pct[o.limit_pct].append(o)
        sample = power_sampler(dev, self._params.off_ratio)
        for pct, group in sorted(by_pct.items()):
            for w_start, w_end, members in merge_windows(group):
                as_of = local_day_start(w_start)
                baseline = await self._baseline_as_of(conn, key, as_of, self._params.baseline_params(),
                                                dev.rated_kw, sample)
                if baseline is None or baseline.value <= 0:
                    continue
                findings = emergency_noncompliance(
                    grid, kw, dev.running_threshold_kw, np.array([w_start]), np.array([w_end]),
                    "limit", pct, baseline, self._params)
                drafts.extend(self._limit_draft(dev, f, members, baseline, as_of)
                              for f in findings)
        return since, sorted(drafts, key=lambda d: d.start)

    def _orders(self, members: list[Order]) -> tuple[Phrase, list[dict[str, Any]]]:
        """The orders named in a summary, and as evidence."""
        words = Phrase("orders", ids=", ".join(f"#{o.id}" for o in members),
                       start=local_hm(min(o.start_s for o in members)),
                       end=local_hm(max(o.end_s for o in members)))
        info = [{"id": o.id, "start_s": o.start_s, "end_s": o.end_s, "measure": o.measure,
                 "limit_pct": o.limit_pct} for o in members]
        return words, info

    def _shutdown_draft(self, dev: Device, f: Finding, members: list[Order]) -> AlertDraft:
        facts = dict(f.facts)
        orders, info = self._orders(members)
        en, zh = summary(
            "emergency_shutdown", production=dev.label, production_kw=fmt(facts["production_mean_kw"]),
            running_kw=fmt(dev.running_threshold_kw), duration=Minutes(float(facts["duration_min"])),
            start=local_hm(f.start_s), orders=orders, state=state(f.end_s))
        return self._draft(dev, f, facts, en, zh, info, None)

    def _limit_draft(self, dev: Device, f: Finding, members: list[Order], baseline: Baseline,
                     as_of: int) -> AlertDraft:
        facts = dict(f.facts)
        orders, info = self._orders(members)
        bp = self._params.baseline_params()
        en, zh = summary(
            "emergency_limit", production=dev.label, max_kw=fmt(facts["max_hourly_mean_kw"]),
            excess_pct=fmt(facts["excess_pct"]), allowed_kw=fmt(facts["allowed_kw"]),
            limit_pct=fmt(float(facts["limit_pct"])), threshold_kw=fmt(facts["threshold_kw"]),
            hours=Count("hours", int(facts["hours"])), start=local_hm(f.start_s), orders=orders,
            baseline=baseline_phrase(baseline, "kW", bp), state=state(f.end_s))
        return self._draft(dev, f, facts, en, zh, info, baseline_evidence(baseline, bp, as_of))

    def _draft(self, dev: Device, f: Finding, facts: dict[str, Any], summary: str,
               summary_zh: str, orders: list[dict[str, Any]],
               baseline: dict[str, Any] | None) -> AlertDraft:
        evidence: dict[str, Any] = {"facts": facts, "metric": "p", "orders": orders,
                                    "devices": {dev.id: dev.label}}
        if baseline is not None:
            evidence["baseline"] = baseline
        return AlertDraft(
            rule=RULE_ID, subject=dev.id, enterprise_id=dev.enterprise_id, device_ids=(dev.id,),
            start=utc(f.start_s), end=None if f.end_s is None else utc(f.end_s),
            severity=str(facts["severity"]), summary=summary, summary_zh=summary_zh,
            params={
                "shutdown_min_duration_min": self._params.shutdown_min_duration_min,
                "limit_tolerance": self._params.limit_tolerance,
                "min_points_per_hour": self._params.min_points_per_hour,
                "off_ratio": self._params.off_ratio,
                "production_on_kw": dev.running_threshold_kw,
                "baseline_window_s": self._params.baseline_window_s,
                "baseline_min_samples": self._params.baseline_min_samples,
                "suppressed_by_maintenance": self._params.suppressed_by_maintenance,
            },
            evidence=evidence,
        )
