"""I/O side of ``data_gap``: a registered device silent for too long, in two views.

- **Event time** (:meth:`DataGapEvaluator.evaluate`, subject = device id): between
  consecutive readings (any metric of the device) ``min_gap_min`` or more apart, a
  closed alert from the last reading before the silence to the first one after it.
  The reading before the window is looked up, so a gap across the window start is
  seen; a gap is found when the later data arrives. Data delivered late and out of
  order can show a gap that its own earlier part, arriving later, fills: the
  re-evaluation then no longer finds it and the alert is retired (``superseded``,
  ``evidence.filled_by_late_data``); a partly filled gap shrinks to what is left.
- **Wall clock** (:meth:`DataGapEvaluator.sweep`, run by the runner's loop): a device
  whose last message *arrived* ``min_gap_min`` or more ago gets an open alert (``end``
  null) starting at its last reading's event time. Arrival is the later of the
  collector's in-memory time (``last_arrival``) and ``readings.received_at`` of its
  latest reading (every ingest path, and it survives a restart). A device replaying a
  backlog keeps arriving, so it is not silent. A device never heard of is not live
  and is not judged. When messages arrive again the sweep closes the alert at the
  first reading after the silence; the event-time evaluation of the new data, which
  usually comes first, sets the same end with the exact gap.

Declared maintenance of the device (when ``suppressed_by_maintenance``) removes its
window from event-time gaps (what is left must still last ``min_gap_min``) and stops
the sweep from opening an alert while it is in force.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import numpy as np
import psycopg

from ecowarn.alerts.store import AlertDraft, ReconcileResult
from ecowarn.config.metrics import KIND_METRICS
from ecowarn.config.registry import Device, Registry
from ecowarn.detectors._core import Finding
from ecowarn.detectors.data_gap import RULE_ID, DataGapParams, data_gaps, wall_clock_silence
from ecowarn.detectors.runtime._cache import SeriesCache
from ecowarn.detectors.runtime._evalbase import (
    Evaluator,
    device_en,
    device_phrase,
    fmt,
    local_hm,
    maintenance_evidence,
    state,
)
from ecowarn.detectors.runtime._load import (
    Maintenance,
    as_dt,
    epoch,
    latest_ts,
    load_maintenance,
    load_times,
    next_ts,
    previous_ts,
)
from ecowarn.detectors.runtime.contract import Correction, Resumed, SweepPlan, Window, utc
from ecowarn.i18n import Minutes, Phrase, render, summary

__all__ = ["DataGapEvaluator"]

# How a wall-clock alert's summary ends while its device is silent; dropped when it resumes.
_ONGOING_EN, _ONGOING_ZH = (render(Phrase("state_tail", state=state(None)), lang) for lang in ("en", "zh"))

_LAST_SQL = (
    "SELECT k.d, max(x.received_at), max(x.ts) FROM unnest(%s::text[], %s::text[]) AS k(d, m)"
    " CROSS JOIN LATERAL (SELECT ts, received_at FROM readings r WHERE r.device_id = k.d"
    " AND r.metric = k.m ORDER BY ts DESC LIMIT 1) x GROUP BY k.d"
)


def _minus_windows(a: int, b: int, windows: list[Maintenance]) -> list[tuple[int, int]]:
    """``[a, b)`` without the maintenance windows, as sorted pieces."""
    pieces = [(a, b)]
    for m in windows:
        nxt = []
        for lo, hi in pieces:
            if m.end_s <= lo or m.start_s >= hi:
                nxt.append((lo, hi))
                continue
            if m.start_s > lo:
                nxt.append((lo, m.start_s))
            if m.end_s < hi:
                nxt.append((m.end_s, hi))
        pieces = nxt
    return pieces


class DataGapEvaluator(Evaluator):
    rule = RULE_ID
    held_grid = True

    def __init__(self, registry: Registry, params: DataGapParams,
                 last_arrival: Callable[[str], float | None] | None = None) -> None:
        super().__init__()
        self._registry = registry
        self._params = params
        self._last_arrival = last_arrival
        self.suppressed_by_maintenance = params.suppressed_by_maintenance
        self._metrics: dict[str, list[str]] = {}
        for dev in registry.devices.values():
            self._metrics[dev.id] = sorted(KIND_METRICS[dev.kind])
            self._add_subject(dev.id, [dev.id])

    def primary_keys(self, subject: str) -> list[tuple[str, str]]:
        return [(subject, m) for m in self._metrics[subject]]

    def _maintenance_devices(self, subject: str) -> list[str]:
        return [subject]

    # --- event time -------------------------------------------------------------------

    async def evaluate(self, conn: psycopg.AsyncConnection[Any], subject: str,
                       window: Window, cache: SeriesCache | None = None) -> tuple[datetime, list[AlertDraft]]:
        keys = self.primary_keys(subject)
        until = await latest_ts(conn, cache, keys)
        if until is None:
            self._evaluated.pop(subject, None)
            return window.t_min, []
        self._evaluated[subject] = (until.timestamp(), None)
        since = min(window.t_min, until)
        prev = await previous_ts(conn, cache, keys, since)
        times = await load_times(conn, cache, subject, self._metrics[subject], since, until)
        if prev is not None:
            times = np.concatenate(([epoch(prev)], times))
        lo = prev if prev is not None else since
        findings = data_gaps(times, self._params)
        maint = await self._maintenance(conn, subject, lo, until)
        drafts = []
        dev = self._registry.devices[subject]
        for f in findings:
            assert f.end_s is not None
            for a, b in _minus_windows(f.start_s, f.end_s, maint):
                gap_min = (b - a) / 60.0
                if gap_min < self._params.min_gap_min:
                    continue
                trimmed = (a, b) != (f.start_s, f.end_s)
                facts = {**f.facts, "gap_min": gap_min, "severity": self._params.severity(gap_min),
                         "last_reading_s": f.start_s, "next_reading_s": f.end_s}
                cut = [m for m in maint if m.start_s < f.end_s and m.end_s > f.start_s]
                drafts.append(self._event_draft(dev, Finding(a, b, facts),
                                                cut if trimmed else []))
        return lo, drafts

    def tail_quiet(self, subject: str, cache: SeriesCache | None) -> bool:
        """Every reading since the last full evaluation lies less than ``min_gap_min`` after
        the latest one it covered: no gap of that length can be among them."""
        since = self._tail_since(subject, cache)
        # Gaps are measured between whole seconds: keep a margin for the rounding.
        return since is not None and \
            since[1] - since[0][0] < self._params.min_gap_min * 60.0 - 2.0

    def _event_draft(self, dev: Device, f: Finding, cut: list[Maintenance]) -> AlertDraft:
        assert f.end_s is not None
        en, zh = summary(
            "data_gap_trimmed" if cut else "data_gap", device=device_phrase(dev),
            gap=Minutes(float(f.facts["gap_min"])), start=local_hm(f.start_s), end=local_hm(f.end_s),
            maintenance_ids=", ".join(str(m.id) for m in cut), min_gap=fmt(self._params.min_gap_min))
        return AlertDraft(
            rule=RULE_ID, subject=dev.id, enterprise_id=dev.enterprise_id, device_ids=(dev.id,),
            start=utc(f.start_s), end=utc(f.end_s), severity=str(f.facts["severity"]),
            summary=en, summary_zh=zh, params=self._param_dict(),
            evidence={"facts": f.facts, "source": "event_time",
                      "maintenance_excluded": maintenance_evidence(cut),
                      "metrics": self._metrics[dev.id], "devices": {dev.id: device_en(dev)}},
        )

    def _param_dict(self) -> dict[str, Any]:
        return {"min_gap_min": self._params.min_gap_min,
                "medium_severity_min": self._params.medium_severity_min,
                "high_severity_min": self._params.high_severity_min,
                "suppressed_by_maintenance": self._params.suppressed_by_maintenance}

    async def unconfirmed(self, conn: psycopg.AsyncConnection[Any], subject: str,
                          window_start: datetime, result: ReconcileResult,
                          drafts: Sequence[AlertDraft]) -> list[Correction]:
        """Make event-time gap alerts from ``window_start`` on agree with this evaluation.

        Gaps are exact, so one the evaluation no longer finds was filled by data delivered
        late and out of order: it is retired. One only partly filled starts where the
        remaining gap starts (reconciliation alone only moves a start earlier).
        """
        touched = {*result.opened, *result.superseded}
        cur = await conn.execute(
            "SELECT id, start_ts, end_ts FROM alerts WHERE rule = %s AND subject = %s"
            " AND status = 'open' AND start_ts >= %s AND end_ts IS NOT NULL"
            " AND evidence->>'source' = 'event_time' ORDER BY id", (RULE_ID, subject, window_start))
        out: list[Correction] = []
        for alert_id, start, end in await cur.fetchall():
            if alert_id in touched:
                continue
            inside = [d.start for d in drafts if d.end is not None and start <= d.start <= end
                      and d.end <= end]
            if alert_id in result.updated:
                if inside and not any(d.start <= start for d in drafts if d.end is not None
                                      and d.end >= start):
                    out.append(Correction(int(alert_id), new_start=min(inside)))
                continue
            out.append(Correction(int(alert_id), retire_reason="gap filled by data delivered late",
                                  evidence={"filled_by_late_data": True}))
        return out

    # --- wall clock -------------------------------------------------------------------

    async def sweep(self, conn: psycopg.AsyncConnection[Any], now_s: float) -> SweepPlan:
        """Drafts for live devices silent ``min_gap_min``; the ongoing alerts of those heard
        again, to end."""
        min_gap_s = self._params.min_gap_min * 60.0
        hints = {d: (self._last_arrival(d) if self._last_arrival is not None else None)
                 for d in self._metrics}
        stale = [d for d, h in hints.items() if h is None or now_s - h >= min_gap_s]
        last: dict[str, tuple[float, int]] = {}
        if stale:
            keys = [(d, m) for d in stale for m in self._metrics[d]]
            cur = await conn.execute(_LAST_SQL, ([k[0] for k in keys], [k[1] for k in keys]))
            last = {r[0]: (r[1].timestamp(), epoch(r[2])) for r in await cur.fetchall()}
        silent: dict[str, tuple[float, int | None]] = {}
        for d in stale:
            seen = [x for x in (hints[d], last.get(d, (None, None))[0]) if x is not None]
            if seen and now_s - max(seen) >= min_gap_s:
                silent[d] = (max(seen), last[d][1] if d in last else None)
        maint = []
        if silent and self.suppressed_by_maintenance:
            maint = await load_maintenance(conn, silent, as_dt(now_s - 86_400 * 366), as_dt(now_s))
        opens: list[AlertDraft] = []
        for d, (arrival_s, last_ts) in sorted(silent.items()):
            mine = [m for m in maint if m.device_id == d]
            if any(m.start_s <= now_s < m.end_s for m in mine):
                continue
            # Silence under declared maintenance does not count: it restarts when that ended.
            from_s = max([arrival_s, *(m.end_s for m in mine if m.end_s > arrival_s)])
            start = last_ts
            if from_s > arrival_s:
                start = max(last_ts or 0, int(from_s))
            f = wall_clock_silence(int(from_s), int(now_s), self._params, last_reading_s=start)
            if f is None:
                continue
            opens.append(self._wall_draft(self._registry.devices[d], f, last_ts))
        return SweepPlan(opens=opens, resumed=await self._resumed(conn, silent))

    def _wall_draft(self, dev: Device, f: Finding, last_ts: int | None) -> AlertDraft:
        en, zh = summary(
            "data_gap_silent_unstored" if last_ts is None else "data_gap_silent", device=device_phrase(dev),
            silent=Minutes(float(f.facts["silent_min"])), arrived=local_hm(int(f.facts["last_arrival_s"])),
            last_reading="" if last_ts is None else local_hm(last_ts), state=state(None))
        return AlertDraft(
            rule=RULE_ID, subject=dev.id, enterprise_id=dev.enterprise_id, device_ids=(dev.id,),
            start=utc(f.start_s), end=None, severity=str(f.facts["severity"]),
            summary=en, summary_zh=zh, params=self._param_dict(),
            evidence={"facts": {**f.facts, "last_event_reading_s": last_ts},
                      "source": "wall_clock", "metrics": self._metrics[dev.id],
                      "devices": {dev.id: device_en(dev)}},
        )

    async def _resumed(self, conn: psycopg.AsyncConnection[Any],
                       silent: dict[str, tuple[float, int | None]]) -> list[Resumed]:
        cur = await conn.execute(
            "SELECT id, subject, start_ts, summary, summary_zh FROM alerts WHERE rule = %s"
            " AND end_ts IS NULL AND status <> 'superseded' ORDER BY subject, id", (RULE_ID,))
        out: list[Resumed] = []
        for alert_id, subject, start, text_en, text_zh in await cur.fetchall():
            if subject in silent or subject not in self._metrics:
                continue
            first = await next_ts(conn, None, self.primary_keys(subject), start)
            if first is None:
                continue  # heard again, but nothing stored yet: the next sweep closes it
            gap = (first - start).total_seconds() / 60.0
            note_en, note_zh = summary("data_gap_resumed", next_reading=local_hm(epoch(first)), gap=Minutes(gap))
            out.append(Resumed(
                alert_id=int(alert_id), subject=subject, end=first,
                summary=text_en.replace(_ONGOING_EN, "") + note_en,
                summary_zh=text_zh.replace(_ONGOING_ZH, "") + note_zh,
                evidence={"resumed": {"next_reading_s": epoch(first), "gap_min": gap}}))
        return out
