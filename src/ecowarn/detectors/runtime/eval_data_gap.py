"""I/O side of ``data_gap``: registered devices silent for too long, in two views, grouped.

- **Event time** (:meth:`DataGapEvaluator.evaluate`): between consecutive readings (any
  metric of a device) ``min_gap_min`` or more apart, a closed silence from the last reading
  before it to the first one after it. The reading before the window is looked up, so a
  silence across the window start is seen; a silence is found when the later data arrives.
  Data delivered late and out of order can show a gap that its own earlier part, arriving
  later, fills: the re-evaluation then no longer finds it and the alert is retired
  (``superseded``, ``evidence.filled_by_late_data``); a partly filled gap shrinks to what
  is left.
- **Wall clock** (:meth:`DataGapEvaluator.sweep`, run by the runner's loop): a device whose
  last message *arrived* ``min_gap_min`` or more ago is silent from its last reading's event
  time on (``end`` null). Arrival is the later of the collector's in-memory time
  (``last_arrival``) and ``readings.received_at`` of its latest reading (every ingest path,
  and it survives a restart). A device replaying a backlog keeps arriving, so it is not
  silent. A device never heard of is not live and is not judged. When messages arrive again
  the event-time evaluation of the new data usually sets the end with the exact gap; when a
  backlog filled the silence (no gap in event time), the sweep ends the alert at the first
  reading after it and keeps it as the record of the transmission outage.

**Outages** (CONTRACT 1.1 section 8): silences of one enterprise's devices (or of the air
stations) starting within ``group_window_min`` of each other are one alert naming every
device, from the first silence's start until the last device reports again (``end`` null
while any is silent); see ``_gap_groups`` for the groups, the chaining and which subject
carries the alert (subjects stay device ids). Every device's new data re-evaluates its whole
group (``subjects_for``), once per runner batch: the group is worked out at its first subject
and the others take their part of it. One device's reading can end another's silence, so the
runner's same-minute and quiet-tail shortcuts do not apply (``held_grid`` false).

Its own shortcut (:meth:`DataGapEvaluator.spans_quiet`, asked by the runner with a batch's
claimed spans): when every claimed device's new readings all lie after the newest reading
this runner saw of it, less than ``min_gap_min`` after it, no silence can be among them or
end with them, and none is late; so a group whose subjects have no alert has nothing to
find, and the runner neither reads the group's series nor evaluates it. A device seen for
the first time since the runner's memories were last dropped, a span queued by a
declaration or an order, or data out of order is evaluated in full.

Declared maintenance of a device (when ``suppressed_by_maintenance``) removes its window from
its event-time silences (what is left must still last ``min_gap_min``), drops a wall-clock
silence it overlaps, and stops the sweep from opening one while it is in force.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import numpy as np
import psycopg

from ecowarn.alerts.store import AlertDraft, ReconcileResult
from ecowarn.config.metrics import KIND_METRICS
from ecowarn.config.registry import Registry
from ecowarn.detectors.data_gap import RULE_ID, DataGapParams, wall_clock_silence
from ecowarn.detectors.runtime._cache import SeriesCache
from ecowarn.detectors.runtime._evalbase import Evaluator, local_hm, state
from ecowarn.detectors.runtime._gap_drafts import OutageDrafter
from ecowarn.detectors.runtime._gap_groups import (
    EVENT_TIME,
    WALL_CLOCK,
    LiveAlert,
    Outage,
    Silence,
    assign_outages,
    event_silences,
    expand,
    group_key,
    live_alerts,
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
from ecowarn.detectors.runtime.contract import Correction, Resumed, Span, SweepPlan, Window
from ecowarn.i18n import Minutes, Phrase, render, summary

__all__ = ["DataGapEvaluator"]

# How a one-device wall-clock alert's summary ends while silent; dropped when it resumes.
_ONGOING_EN, _ONGOING_ZH = (render(Phrase("state_tail", state=state(None)), lang) for lang in ("en", "zh"))

_LAST_SQL = (
    "SELECT k.d, max(x.received_at), max(x.ts) FROM unnest(%s::text[], %s::text[]) AS k(d, m)"
    " CROSS JOIN LATERAL (SELECT ts, received_at FROM readings r WHERE r.device_id = k.d"
    " AND r.metric = k.m ORDER BY ts DESC LIMIT 1) x GROUP BY k.d"
)

_YEAR_S = 86_400 * 366


@dataclass(slots=True)
class _GroupResult:
    """One event-time evaluation of a group: where it starts, from where it read new data,
    the drafts per subject, and alerts to merge into another (id -> id), per subject."""

    window_start: datetime
    since: datetime
    drafts: dict[str, list[AlertDraft]] = field(default_factory=dict)
    merged: dict[str, dict[int, int]] = field(default_factory=dict)


def _max_step(times: np.ndarray, first: int | None) -> int:
    """The longest step between consecutive ``times`` (sorted) after ``first`` when given;
    0 when fewer than two."""
    steps = np.diff(times)
    top = int(steps.max()) if steps.size else 0
    if first is not None and times.size:
        top = max(top, int(times[0]) - first)
    return top


class DataGapEvaluator(Evaluator):
    rule = RULE_ID
    # A reading of one device can end another device's silence: see the module docstring.
    held_grid = False

    def __init__(self, registry: Registry, params: DataGapParams,
                 last_arrival: Callable[[str], float | None] | None = None) -> None:
        super().__init__()
        self._registry = registry
        self._params = params
        self._last_arrival = last_arrival
        self.suppressed_by_maintenance = params.suppressed_by_maintenance
        self._metrics: dict[str, list[str]] = {d.id: sorted(KIND_METRICS[d.kind])
                                               for d in registry.devices.values()}
        self._group_of = {d.id: group_key(d, params.group_window_min) for d in registry.devices.values()}
        groups: dict[str, list[str]] = {}
        for d, key in self._group_of.items():
            groups.setdefault(key, []).append(d)
        # One tuple per group, shared by its members as their subjects (``subjects_for``):
        # an enterprise of thousands of devices costs one list, not one per device.
        self._groups: dict[str, tuple[str, ...]] = {k: tuple(v) for k, v in groups.items()}
        self._drafter = OutageDrafter(registry, params, self._metrics)
        self._batch: int | None = None
        self._memo: dict[tuple[str, datetime, datetime], _GroupResult] = {}
        self._results: dict[str, _GroupResult] = {}
        # group -> event time of the newest reading its last evaluation read.
        self._seen: dict[str, float] = {}
        # device -> event time (epoch s) of its newest reading in the spans claimed so far.
        self._newest: dict[str, float] = {}

    def subjects_for(self, device_id: str) -> tuple[str, ...]:
        key = self._group_of.get(device_id)
        return () if key is None else self._groups[key]

    def all_subjects(self) -> list[str]:
        return sorted(self._group_of)

    def primary_keys(self, subject: str) -> list[tuple[str, str]]:
        return [(subject, m) for m in self._metrics[subject]]

    def _maintenance_devices(self, subject: str) -> list[str]:
        return [subject]

    def forget(self) -> None:
        super().forget()
        self._memo.clear()
        self._results.clear()
        self._seen.clear()
        self._newest.clear()

    def spans_quiet(self, spans: Sequence[Span]) -> bool:
        """Whether these claimed spans of one group's devices show no new silence and nothing
        late (see the module docstring): every device known, its readings after the newest
        seen of it and, in whole seconds as the evaluation counts, less than ``min_gap_min``
        after it; the group evaluated before. Records each device's newest reading either way."""
        min_gap_s = self._params.min_gap_min * 60.0
        newest = self._newest
        quiet = True
        top = -math.inf
        for s in spans:
            if s.declared:  # a declaration's bounds are not readings
                quiet = False
                continue
            last = newest.get(s.device_id)
            if last is None or s.t_max > last:
                newest[s.device_id] = s.t_max
            if last is None or s.t_min <= last or math.floor(s.t_max) - math.floor(last) >= min_gap_s:
                quiet = False
            top = max(top, s.t_max)
        if not quiet or not spans:
            return False
        key = self._group_of.get(spans[0].device_id)
        seen = None if key is None else self._seen.get(key)
        if key is None or seen is None:
            return False
        # What an evaluation would have recorded as read (``late`` compares with it).
        self._seen[key] = max(seen, math.floor(top))
        return True

    async def begin_batch(self, conn: psycopg.AsyncConnection[Any], batch: int) -> None:
        if batch != self._batch:
            self._memo.clear()
            self._batch = batch
        await super().begin_batch(conn, batch)

    async def _windows_of(self, conn: psycopg.AsyncConnection[Any], devices: Sequence[str],
                          lo_s: int, hi_s: int) -> list[Maintenance]:
        if not self.suppressed_by_maintenance or not self.maintenance_index.may_cover(devices):
            return []
        return await load_maintenance(conn, devices, as_dt(lo_s), as_dt(hi_s))

    def _group_metrics(self, key: str) -> dict[str, list[str]]:
        return {d: self._metrics[d] for d in self._groups[key]}

    # --- event time -------------------------------------------------------------------

    async def evaluate(self, conn: psycopg.AsyncConnection[Any], subject: str,
                       window: Window, cache: SeriesCache | None = None) -> tuple[datetime, list[AlertDraft]]:
        key = self._group_of[subject]
        memo_key = (key, window.t_min, window.t_max)
        res = self._memo.get(memo_key) if self._batch is not None else None
        if res is None:
            res = await self._evaluate_group(conn, key, window, cache)
            if self._batch is not None:
                self._memo[memo_key] = res
        self._results[subject] = res
        return res.window_start, res.drafts.get(subject, [])

    async def _evaluate_group(self, conn: psycopg.AsyncConnection[Any], key: str, window: Window,
                              cache: SeriesCache | None) -> _GroupResult:
        since = window.t_min
        lo = since
        until_s: int | None = None
        seeds: list[Silence] = []
        min_gap_s = self._params.min_gap_min * 60.0
        since_s = since.timestamp()
        if cache is not None:
            # Every member's series at once: the cache holds what the runner prefetched.
            await cache.fill_prior(conn, [k for d in self._groups[key] for k in self.primary_keys(d)])
        for d in self._groups[key]:
            keys = self.primary_keys(d)
            held = None if cache is None else cache.since(keys, since_s)
            if held is None:  # not all in the cache: the loaders read what is missing
                newest = await latest_ts(conn, cache, keys)
                if newest is None or newest < since:
                    continue  # no new data: no new silence of this device ends in the window
                until = newest
                prev = await previous_ts(conn, cache, keys, since)
                times = await load_times(conn, cache, d, self._metrics[d], since, until)
            else:
                # The same from the cache in one walk (``times`` sorted, not yet distinct).
                latest, prev_s, parts = held
                if latest is None or (until := as_dt(latest)) < since:
                    continue
                prev = None if prev_s is None else as_dt(prev_s)
                times = np.floor(parts[0] if len(parts) == 1 else np.sort(np.concatenate(parts)))
                times = times.astype(np.int64)
            until_s = max(until_s or 0, epoch(until))
            if prev is not None:
                lo = min(lo, prev)
            if (times.size + (prev is not None) >= 2
                    and _max_step(times, None if prev is None else epoch(prev)) >= min_gap_s):
                times = np.unique(times)
                if prev is not None:
                    times = np.concatenate(([epoch(prev)], times))
                windows = await self._windows_of(conn, [d], int(times.min()), int(times.max()))
                seeds.extend(event_silences(d, times, self._params, windows))
        # Data before what the group's last evaluation read (late, re-delivered, a declaration
        # made after the fact), or no memory of it: the outages reaching into the new data are
        # worked out again, since a device's silence may be gone that no new gap shows.
        seen = self._seen.get(key)
        late = seen is None or since.timestamp() <= seen
        if until_s is not None:
            self._seen[key] = max(until_s, seen or until_s)
        if not seeds and not late:
            return _GroupResult(window_start=lo, since=since)
        w = int(self._params.group_window_min * 60)
        alerts = await live_alerts(conn, self.rule, self._groups[key],
                                   as_dt(min([epoch(since), *(s.start_s for s in seeds)]) - w))
        reaching = [a for a in alerts if late and (a.end_s is None or a.end_s >= epoch(since))]
        if not seeds and not reaching:
            return _GroupResult(window_start=lo, since=since)
        # Wall-clock silences kept in the alerts (readings cannot show them); event-time ones
        # are found again from the readings.
        records = [s for a in alerts for s in a.silences if s.source == WALL_CLOCK]
        starts = [s.start_s for s in (*seeds, *records)] + [r.start_s for a in reaching for r in a.silences]
        found = await expand(conn, self._group_metrics(key), starts, self._params,
                             lambda ds, a, b: self._windows_of(conn, ds, a, b))
        event = [*seeds, *found]
        records = await self._usable_records(conn, records, event)
        outages = assign_outages([*event, *records], alerts, self._params,
                                 keep=lambda members: any(s.source == EVENT_TIME for s in members))
        res = _GroupResult(window_start=min([lo, *(as_dt(o.start_s) for o in outages),
                                             *(as_dt(a.start_s) for a in reaching)]), since=since)
        for o in outages:
            res.drafts.setdefault(o.subject, []).append(self._drafter.draft(key, o, until_s=until_s))
            self._note_merged(res.merged, alerts, o)
        return res

    async def _usable_records(self, conn: psycopg.AsyncConnection[Any], records: Sequence[Silence],
                              event: Sequence[Silence]) -> list[Silence]:
        """Wall-clock silences still standing: not contradicted by a silence of the device in
        event time, and not overlapped by declared maintenance of the device."""
        out = []
        for r in records:
            if any(s.device_id == r.device_id and s.overlaps(r.start_s, r.end_s) for s in event):
                continue
            hi = r.end_s if r.end_s is not None else r.start_s + _YEAR_S
            if any(m.start_s < hi and m.end_s > r.start_s
                   for m in await self._windows_of(conn, [r.device_id], r.start_s, hi)):
                continue
            out.append(r)
        return out

    @staticmethod
    def _note_merged(merged: dict[str, dict[int, int]], alerts: Sequence[LiveAlert], o: Outage) -> None:
        by_id = {a.id: a for a in alerts}
        for alert_id in o.merged:
            if o.alert_id is not None:
                merged.setdefault(by_id[alert_id].subject, {})[alert_id] = o.alert_id

    async def unconfirmed(self, conn: psycopg.AsyncConnection[Any], subject: str,
                          window_start: datetime, result: ReconcileResult,
                          drafts: Sequence[AlertDraft]) -> list[Correction]:
        """Make event-time alerts of ``subject`` from ``window_start`` on agree with this
        evaluation.

        Gaps are exact, so one the evaluation no longer finds was filled by data delivered
        late and out of order: it is retired. One only partly filled starts where the
        remaining gap starts (reconciliation alone only moves a start earlier). Only alerts
        reaching into the new data are judged (silences that ended before it were not read
        again). An open alert whose outage another alert of the group now carries is merged
        into that one (retired, ``superseded_by``).
        """
        res = self._results.get(subject)
        since = window_start if res is None else res.since
        touched = {*result.opened, *result.superseded}
        out: list[Correction] = []
        merged = {} if res is None else res.merged.get(subject, {})
        for alert_id, into in sorted(merged.items()):
            if alert_id not in touched and alert_id not in result.updated:
                touched.add(alert_id)
                out.append(Correction(alert_id, retire_reason=f"merged into alert {into} of the same outage",
                                      evidence={"superseded_by": into, "merged_outage": True}))
        cur = await conn.execute(
            "SELECT id, start_ts, end_ts FROM alerts WHERE rule = %s AND subject = %s"
            " AND status = 'open' AND start_ts >= %s AND end_ts IS NOT NULL AND end_ts >= %s"
            " AND evidence->>'source' = 'event_time' ORDER BY id", (RULE_ID, subject, window_start, since))
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

    async def maintenance_windows(self, conn: psycopg.AsyncConnection[Any], subject: str,
                                  since: datetime) -> list[Maintenance]:
        """Declared maintenance of the devices of ``subject``'s alerts from ``since`` on (an
        alert names every device of its outage)."""
        cur = await conn.execute(
            "SELECT DISTINCT unnest(device_ids) FROM alerts WHERE rule = %s AND subject = %s"
            " AND status = 'open' AND start_ts >= %s", (RULE_ID, subject, since))
        devices = sorted({subject, *(r[0] for r in await cur.fetchall())})
        return await self._windows_of(conn, devices, epoch(since), 253_402_300_799)

    # --- wall clock -------------------------------------------------------------------

    async def _silent_now(self, conn: psycopg.AsyncConnection[Any],
                          now_s: float) -> dict[str, tuple[float, int | None]]:
        """Devices whose last message arrived ``min_gap_min`` or more ago: when, and the event
        time of their latest reading (None: none stored)."""
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
        return silent

    async def sweep(self, conn: psycopg.AsyncConnection[Any], now_s: float) -> SweepPlan:
        """Drafts for the outages of live devices silent ``min_gap_min`` (grouped with the
        other silences of their group that started with them); ongoing alerts none of whose
        devices is silent any more, to end; alerts merged into another."""
        silent = await self._silent_now(conn, now_s)
        maint: list[Maintenance] = []
        if silent and self.suppressed_by_maintenance:
            maint = await load_maintenance(conn, silent, as_dt(now_s - _YEAR_S), as_dt(now_s))
        seeds: dict[str, list[Silence]] = {}
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
            seeds.setdefault(self._group_of[d], []).append(Silence(
                d, f.start_s, None, WALL_CLOCK, last_reading_s=last_ts, arrival_s=int(from_s),
                silent_min=float(f.facts["silent_min"])))
        opens: list[AlertDraft] = []
        merges: list[Correction] = []
        carried: set[int] = set()
        for key, group_seeds in sorted(seeds.items()):
            outages, alerts = await self._sweep_group(conn, key, group_seeds, silent)
            merged: dict[str, dict[int, int]] = {}
            for o in outages:
                opens.append(self._drafter.draft(key, o, now_s=now_s))
                if o.alert_id is not None:
                    carried.add(o.alert_id)
                self._note_merged(merged, alerts, o)
            for by_subject in merged.values():
                for alert_id, into in sorted(by_subject.items()):
                    carried.add(alert_id)
                    merges.append(Correction(alert_id, retire_reason=f"merged into alert {into} of the same outage",
                                             evidence={"superseded_by": into, "merged_outage": True}))
        resumed = await self._resumed(conn, silent, carried)
        return SweepPlan(opens=opens, resumed=resumed, corrections=merges)

    async def _sweep_group(self, conn: psycopg.AsyncConnection[Any], key: str, seeds: list[Silence],
                           silent: Mapping[str, tuple[float, int | None]]) -> tuple[list[Outage], list[LiveAlert]]:
        w = int(self._params.group_window_min * 60)
        alerts = await live_alerts(conn, self.rule, self._groups[key],
                                   as_dt(min(s.start_s for s in seeds) - w))
        records = []
        for s in (s for a in alerts for s in a.silences if s.source == WALL_CLOCK):
            if s.device_id in silent:
                continue  # judged afresh (a seed), or under maintenance now
            if s.end_s is None:
                first = await next_ts(conn, None, self.primary_keys(s.device_id), as_dt(s.start_s))
                s = s if first is None else replace(s, end_s=epoch(first), next_reading_s=epoch(first))
            records.append(s)
        found = await expand(conn, self._group_metrics(key), [s.start_s for s in (*seeds, *records)],
                             self._params, lambda ds, a, b: self._windows_of(conn, ds, a, b))
        records = await self._usable_records(conn, records, found)
        fresh = {s.device_id for s in seeds}
        outages = assign_outages([*seeds, *found, *records], alerts, self._params,
                                 keep=lambda members: any(s.device_id in fresh and s.end_s is None for s in members))
        return outages, alerts

    async def _resumed(self, conn: psycopg.AsyncConnection[Any], silent: Mapping[str, tuple[float, int | None]],
                       carried: set[int]) -> list[Resumed]:
        """Ongoing alerts none of whose devices is silent: each ends when the last of its
        devices reported again (its first reading after its silence began)."""
        alerts = [a for a in await live_alerts(conn, self.rule, sorted(self._metrics), None)
                  if a.id not in carried]
        out: list[Resumed] = []
        for a in alerts:
            if any(d in silent for d in a.device_ids) or not a.silences:
                continue
            members: list[Silence] = []
            for s in a.silences:
                if s.end_s is None:
                    first = await next_ts(conn, None, self.primary_keys(s.device_id), as_dt(s.start_s)) \
                        if s.device_id in self._metrics else None
                    if first is None:
                        break  # heard again, but nothing stored yet: a later sweep ends it
                    s = replace(s, end_s=epoch(first), next_reading_s=epoch(first))
                members.append(s)
            else:
                out.append(self._resume(a, members))
        return out

    def _resume(self, a: LiveAlert, members: list[Silence]) -> Resumed:
        end_s = max(s.end_s for s in members if s.end_s is not None)
        gap = (end_s - a.start_s) / 60.0
        evidence: dict[str, Any] = {"resumed": {"next_reading_s": end_s, "gap_min": gap},
                                    "silences": [s.record() for s in members]}
        if len({s.device_id for s in members}) == 1:
            # One device: its wall-clock wording, no longer ongoing, and when it resumed.
            note_en, note_zh = summary("data_gap_resumed", next_reading=local_hm(end_s), gap=Minutes(gap))
            return Resumed(alert_id=a.id, subject=a.subject, end=as_dt(end_s),
                           summary=a.summary.replace(_ONGOING_EN, "") + note_en,
                           summary_zh=a.summary_zh.replace(_ONGOING_ZH, "") + note_zh, evidence=evidence)
        key = self._group_of.get(a.subject, a.subject)
        outage = Outage(a.subject, tuple(members), a.id, ())
        en, zh = self._drafter.group_texts(key, outage)
        return Resumed(alert_id=a.id, subject=a.subject, end=as_dt(end_s), summary=en, summary_zh=zh,
                       evidence=evidence)

