"""Private: the silences of a group of devices and the outages they make (``data_gap``).

A *group* is an enterprise's devices (``site:<enterprise id>``) or the air stations
(``stations``); with ``group_window_min`` 0 every device is a group of its own. A
:class:`Silence` is one device's: closed (``end_s`` at the first reading after it) when
readings show it, open (``end_s`` None) while the wall clock says the device is still silent.
Silences whose starts chain within ``group_window_min`` are one *outage*
(:func:`ecowarn.detectors.data_gap.group_starts`), raised as one alert.

Which subject carries an outage's alert: the runner reconciles per subject, and two outages of
one group may overlap in time (silences starting 20 min apart), so the group cannot be the
subject. An outage goes to the subject of the oldest live alert of the group that overlaps it
and names one of its devices (the others such, still ``open``, are merged into it), so an alert
keeps its identity while devices join; failing that, to the device whose silence starts first
(the smallest id on a tie).

Every alert keeps its devices' silences under ``evidence.silences`` (:meth:`Silence.record`):
nothing in ``readings`` shows a silence still going on, nor one that a replayed backlog filled,
so each view reads the wall-clock ones back from the alerts; silences in event time are found
again from the readings.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import numpy as np
import psycopg

from ecowarn.config.registry import Device
from ecowarn.detectors.data_gap import DataGapParams, data_gaps, group_starts
from ecowarn.detectors.runtime._load import Maintenance, as_dt, epoch

__all__ = [
    "EVENT_TIME",
    "WALL_CLOCK",
    "LiveAlert",
    "Outage",
    "Silence",
    "WindowsOf",
    "assign_outages",
    "closed_silences",
    "event_silences",
    "expand",
    "group_key",
    "live_alerts",
    "minus_windows",
]

EVENT_TIME, WALL_CLOCK = "event_time", "wall_clock"

# Declared maintenance of some devices overlapping [lo_s, hi_s] (empty when it does not count).
WindowsOf = Callable[[Sequence[str], int, int], Awaitable[list[Maintenance]]]

# Rounds of looking for silences chained to the ones known (each round one look per interval).
_MAX_ROUNDS = 20


def group_key(dev: Device, window_min: float) -> str:
    """The group of a device: its enterprise, the air stations, or itself (window 0)."""
    if window_min <= 0:
        return dev.id
    return "stations" if dev.enterprise_id is None else f"site:{dev.enterprise_id}"


@dataclass(frozen=True, slots=True)
class Silence:
    """One device silent from ``start_s`` to ``end_s`` (None: still silent)."""

    device_id: str
    start_s: int
    end_s: int | None
    source: str
    # Event time of the last reading before it (None: none stored) and of the first after it.
    last_reading_s: int | None = None
    next_reading_s: int | None = None
    # Wall clock: when its last message arrived (silence counted from) and minutes silent.
    arrival_s: int | None = None
    silent_min: float | None = None
    # Declared maintenance taken out of it (event time; not kept in the record).
    cut: tuple[Maintenance, ...] = field(default=(), compare=False)

    def overlaps(self, start_s: int, end_s: int | None) -> bool:
        return (self.end_s is None or self.end_s > start_s) and (end_s is None or end_s > self.start_s)

    def record(self) -> dict[str, Any]:
        """As kept in an alert's ``evidence.silences``."""
        return {"device_id": self.device_id, "start_s": self.start_s, "end_s": self.end_s,
                "source": self.source, "last_reading_s": self.last_reading_s,
                "next_reading_s": self.next_reading_s, "arrival_s": self.arrival_s,
                "silent_min": self.silent_min, "maintenance_ids": [m.id for m in self.cut]}

    @staticmethod
    def from_record(r: Mapping[str, Any]) -> Silence:
        def opt_int(key: str) -> int | None:
            v = r.get(key)
            return None if v is None else int(v)

        silent = r.get("silent_min")
        return Silence(str(r["device_id"]), int(r["start_s"]), opt_int("end_s"), str(r.get("source", EVENT_TIME)),
                       opt_int("last_reading_s"), opt_int("next_reading_s"), opt_int("arrival_s"),
                       None if silent is None else float(silent))


@dataclass(frozen=True, slots=True)
class LiveAlert:
    """A data_gap alert of the group that is not superseded."""

    id: int
    subject: str
    status: str
    start_s: int
    end_s: int | None
    device_ids: tuple[str, ...]
    silences: tuple[Silence, ...]
    summary: str
    summary_zh: str

    def overlaps(self, start_s: int, end_s: int | None) -> bool:
        """Closed-interval overlap, as reconciliation matches."""
        return (self.end_s is None or self.end_s >= start_s) and (end_s is None or end_s >= self.start_s)


def _records(start_s: int, end_s: int | None, device_ids: Sequence[str],
             evidence: Mapping[str, Any]) -> tuple[Silence, ...]:
    kept = evidence.get("silences")
    if isinstance(kept, list):
        return tuple(Silence.from_record(r) for r in kept)
    # Alerts raised before outages were grouped: one silence per device over the alert.
    return tuple(Silence(d, start_s, end_s, str(evidence.get("source", EVENT_TIME))) for d in device_ids)


async def live_alerts(conn: psycopg.AsyncConnection[Any], rule: str, subjects: Sequence[str],
                      since: datetime | None = None) -> list[LiveAlert]:
    """Live alerts of ``rule`` of these subjects, ongoing or ending at or after ``since``
    (only the ongoing ones when None), oldest first."""
    cur = await conn.execute(
        "SELECT id, subject, status, start_ts, end_ts, device_ids, evidence, summary, summary_zh FROM alerts"
        " WHERE rule = %s AND subject = ANY(%s) AND status <> 'superseded'"
        " AND (end_ts IS NULL OR end_ts >= %s) ORDER BY id",
        (rule, list(subjects), since))
    out = []
    for alert_id, subject, status, start, end, devices, evidence, text_en, text_zh in await cur.fetchall():
        ev = evidence if isinstance(evidence, dict) else {}
        s, e = epoch(start), None if end is None else epoch(end)
        out.append(LiveAlert(int(alert_id), str(subject), str(status), s, e, tuple(devices or ()),
                             _records(s, e, tuple(devices or ()), ev), str(text_en), str(text_zh)))
    return out


def minus_windows(a: int, b: int, windows: Iterable[Maintenance]) -> list[tuple[int, int]]:
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


def event_silences(device_id: str, times_s: np.ndarray, params: DataGapParams,
                   windows: Sequence[Maintenance]) -> list[Silence]:
    """Closed silences between a device's reading times, declared maintenance taken out (what
    is left of a gap must still last ``min_gap_min``)."""
    out = []
    mine = [m for m in windows if m.device_id == device_id]
    for f in data_gaps(times_s, params):
        assert f.end_s is not None
        for a, b in minus_windows(f.start_s, f.end_s, mine):
            if (b - a) / 60.0 < params.min_gap_min:
                continue
            trimmed = (a, b) != (f.start_s, f.end_s)
            cut = tuple(m for m in mine if m.start_s < f.end_s and m.end_s > f.start_s) if trimmed else ()
            out.append(Silence(device_id, a, b, EVENT_TIME, last_reading_s=f.start_s,
                               next_reading_s=f.end_s, cut=cut))
    return out


def _keys(metrics: Mapping[str, Sequence[str]]) -> tuple[list[str], list[str]]:
    pairs = [(d, m) for d, ms in metrics.items() for m in ms]
    return [p[0] for p in pairs], [p[1] for p in pairs]


_TIMES_SQL = (
    "SELECT k.d, array_agg(DISTINCT date_part('epoch', r.ts)) FROM unnest(%s::text[], %s::text[]) AS k(d, m)"
    " JOIN readings r ON r.device_id = k.d AND r.metric = k.m AND r.ts >= %s AND r.ts <= %s GROUP BY k.d"
)
_BEFORE_SQL = (
    "SELECT k.d, max(x.ts) FROM unnest(%s::text[], %s::text[]) AS k(d, m) CROSS JOIN LATERAL"
    " (SELECT ts FROM readings r WHERE r.device_id = k.d AND r.metric = k.m AND r.ts < %s"
    " ORDER BY ts DESC LIMIT 1) x GROUP BY k.d"
)
_AFTER_SQL = (
    "SELECT k.d, min(x.ts) FROM unnest(%s::text[], %s::text[]) AS k(d, m) CROSS JOIN LATERAL"
    " (SELECT ts FROM readings r WHERE r.device_id = k.d AND r.metric = k.m AND r.ts > %s"
    " ORDER BY ts LIMIT 1) x GROUP BY k.d"
)


async def closed_silences(conn: psycopg.AsyncConnection[Any], metrics: Mapping[str, Sequence[str]],
                          lo_s: int, hi_s: int, params: DataGapParams, windows_of: WindowsOf) -> list[Silence]:
    """Closed silences of the devices of ``metrics`` (device -> its metrics) starting in
    ``[lo_s, hi_s]``, from the readings (three queries for all the devices)."""
    devices, mets = _keys(metrics)
    if not devices:
        return []
    top = hi_s + int(params.min_gap_min * 60) + 1
    times: dict[str, list[float]] = {d: [] for d in metrics}
    cur = await conn.execute(_TIMES_SQL, (devices, mets, as_dt(lo_s), as_dt(top)))
    for d, ts in await cur.fetchall():
        times[d].extend(ts or ())
    for sql, at in ((_BEFORE_SQL, lo_s), (_AFTER_SQL, top)):
        cur = await conn.execute(sql, (devices, mets, as_dt(at)))
        for d, ts in await cur.fetchall():
            if ts is not None:
                times[d].append(ts.timestamp())
    gaps: dict[str, np.ndarray] = {}
    for d, ts in times.items():
        t = np.unique(np.floor(np.asarray(ts, dtype=np.float64)).astype(np.int64))
        if data_gaps(t, params):
            gaps[d] = t
    if not gaps:
        return []
    windows = await windows_of(sorted(gaps), min(int(t[0]) for t in gaps.values()),
                               max(int(t[-1]) for t in gaps.values()))
    return [s for d, t in gaps.items() for s in event_silences(d, t, params, windows)
            if lo_s <= s.start_s <= hi_s]


def _uncovered(lo: int, hi: int, done: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    pieces = [(lo, hi)]
    for a, b in done:
        nxt = []
        for x, y in pieces:
            if b < x or a > y:
                nxt.append((x, y))
                continue
            if x < a:
                nxt.append((x, a - 1))
            if y > b:
                nxt.append((b + 1, y))
        pieces = nxt
    return pieces


async def expand(conn: psycopg.AsyncConnection[Any], metrics: Mapping[str, Sequence[str]],
                 starts: Iterable[int], params: DataGapParams, windows_of: WindowsOf) -> list[Silence]:
    """Closed silences of the group's devices chained to ``starts``: starting within
    ``group_window_min`` of one of them, or of a silence so found, and so on."""
    w = int(params.group_window_min * 60)
    if w <= 0 or len(metrics) < 2:
        return []
    found: dict[tuple[str, int], Silence] = {}
    done: list[tuple[int, int]] = []
    frontier = sorted(set(starts))
    for _ in range(_MAX_ROUNDS):
        todo = [p for s in frontier for p in _uncovered(s - w, s + w, done)]
        if not todo:
            break
        frontier = []
        for lo, hi in todo:
            for s in await closed_silences(conn, metrics, lo, hi, params, windows_of):
                if (s.device_id, s.start_s) not in found:
                    found[(s.device_id, s.start_s)] = s
                    frontier.append(s.start_s)
            done.append((lo, hi))
    return sorted(found.values(), key=lambda s: (s.start_s, s.device_id))


@dataclass(frozen=True, slots=True)
class Outage:
    """Silences of one group that started together, the subject that carries their alert,
    the live alert it updates (None: a new one) and the open alerts merged into that one."""

    subject: str
    silences: tuple[Silence, ...]
    alert_id: int | None
    merged: tuple[int, ...]

    @property
    def start_s(self) -> int:
        return min(s.start_s for s in self.silences)

    @property
    def end_s(self) -> int | None:
        ends = [s.end_s for s in self.silences]
        return None if any(e is None for e in ends) else max(e for e in ends if e is not None)

    @property
    def device_ids(self) -> tuple[str, ...]:
        """Devices in the order their silences started (then by id)."""
        out: list[str] = []
        for s in sorted(self.silences, key=lambda s: (s.start_s, s.device_id)):
            if s.device_id not in out:
                out.append(s.device_id)
        return tuple(out)


def _one_per_device(silences: Sequence[Silence]) -> list[Silence]:
    """The silences with no two of one device overlapping: an event-time one wins over a
    wall-clock one (readings know better); otherwise the first given."""
    ranked = sorted(silences, key=lambda s: s.source != EVENT_TIME)
    kept: list[Silence] = []
    for s in ranked:
        if not any(k.device_id == s.device_id and k.overlaps(s.start_s, s.end_s) for k in kept):
            kept.append(s)
    return kept


def _shares_silence(alert: LiveAlert, members: Sequence[Silence]) -> bool:
    """Whether the alert kept a silence of one of the members' devices overlapping (or
    touching) the member's: the same silence, perhaps seen differently then."""
    return any(r.device_id == s.device_id and (r.end_s is None or r.end_s >= s.start_s)
               and (s.end_s is None or s.end_s >= r.start_s) for r in alert.silences for s in members)


def assign_outages(silences: Sequence[Silence], alerts: Sequence[LiveAlert], params: DataGapParams,
                   keep: Callable[[Sequence[Silence]], bool]) -> list[Outage]:
    """Group the silences into outages (those ``keep`` accepts) and give each its subject."""
    pool = _one_per_device(silences)
    if not pool:
        return []
    labels = group_starts(np.array([s.start_s for s in pool], dtype=np.int64), params)
    groups: dict[int, list[Silence]] = {}
    for s, label in zip(pool, labels.tolist(), strict=True):
        groups.setdefault(label, []).append(s)
    out: list[Outage] = []
    taken: list[tuple[str, int, int | None]] = []  # subject, span of the outages it carries
    for label in sorted(groups):
        members = tuple(sorted(groups[label], key=lambda s: (s.start_s, s.device_id)))
        if not keep(members):
            continue
        draft = Outage(members[0].device_id, members, None, ())
        start, end = draft.start_s, draft.end_s
        matching = [a for a in alerts if a.overlaps(start, end) and _shares_silence(a, members)]
        mine = {a.id for a in matching}

        def free(subject: str, start: int = start, end: int | None = end, mine: set[int] = mine) -> bool:
            """Whether ``subject`` may carry this outage: it carries no other outage, and has
            no other alert, overlapping it (reconciliation would merge them)."""
            if any(t == subject and (e is None or e >= start) and (end is None or end >= s) for t, s, e in taken):
                return False
            return not any(a.subject == subject and a.id not in mine and a.overlaps(start, end) for a in alerts)

        carrier = next((a for a in matching if free(a.subject)), None)
        if carrier is not None:
            merged = tuple(a.id for a in matching if a is not carrier and a.status == "open")
            outage = replace(draft, subject=carrier.subject, alert_id=carrier.id, merged=merged)
        else:
            subject = next((d for d in draft.device_ids if free(d)), draft.subject)
            outage = replace(draft, subject=subject)
        taken.append((outage.subject, start, end))
        out.append(outage)
    return out
