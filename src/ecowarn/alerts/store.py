"""Alerts in the database: one alert per episode of a condition.

Detectors are re-run over windows of event time, so the same episode is found
again and again while it lasts, and may be found again after a restart or when
late data arrives. :func:`reconcile` makes that idempotent: a finding that
overlaps (or touches) an existing alert of the same rule and subject updates it;
only a finding that matches none opens a new alert; when late data joins two
episodes, the later alert is marked ``superseded`` and points at the one that
absorbed it. An alert's ``end_ts`` is
null while its condition holds at the end of the data and is set when it clears.

Repeats: a finding that matches no alert, while an earlier alert of the same rule
and subject is being worked (``acknowledged`` or ``dispatched``), does not open a
new alert. It is recorded in ``alert_episodes`` against the most recent such alert,
whose ``repeat_count`` and ``last_repeat_at`` are updated and whose trail gets a
``repeat`` event. Re-evaluations update the episode like an alert; when late data
joins a repeat episode to its alert's own episode (or to another repeat), the
absorbed episode is marked ``merged`` and the count is recomputed. Every alert
opened or superseded here also gets its event in the audit trail.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import psycopg

from ecowarn.alerts._rectification_trail import withdraw_with_alert
from ecowarn.alerts.audit import record_event
from ecowarn.alerts.model import SYSTEM_DETECTOR

__all__ = ["REPEAT_STATUSES", "AlertDraft", "ReconcileResult", "end_ongoing", "lock_subject", "move_start",
           "reconcile"]

# Statuses of an alert that absorbs new episodes of its rule and subject as repeats.
REPEAT_STATUSES = ("acknowledged", "dispatched", "rectifying")


@dataclass(frozen=True, slots=True)
class AlertDraft:
    rule: str
    subject: str
    enterprise_id: str | None
    device_ids: tuple[str, ...]
    start: datetime
    end: datetime | None
    severity: str
    summary: str
    summary_zh: str
    params: dict[str, Any]
    evidence: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ReconcileResult:
    opened: list[int]
    updated: list[int]
    closed: list[int]
    superseded: list[int]
    # Alerts being worked that received a new repeat episode.
    repeated: list[int] = field(default_factory=list)
    # Alerts of the subject overlapping the window before reconciling (0: none).
    existing: int = 0


@dataclass(slots=True)
class _Episode:
    id: int
    alert_id: int
    start: datetime
    end: datetime | None


def _overlaps(a_start: datetime, a_end: datetime | None, b_start: datetime,
              b_end: datetime | None) -> bool:
    """Closed-interval overlap, ``None`` meaning open-ended: touching episodes merge."""
    return (a_end is None or a_end >= b_start) and (b_end is None or b_end >= a_start)


async def _load_episodes(conn: psycopg.AsyncConnection[Any], rule: str, subject: str,
                         window_start: datetime) -> list[_Episode]:
    cur = await conn.execute(
        "SELECT id, alert_id, start_ts, end_ts FROM alert_episodes"
        " WHERE rule = %s AND subject = %s AND NOT merged AND (end_ts IS NULL OR end_ts >= %s)"
        " ORDER BY start_ts",
        (rule, subject, window_start),
    )
    return [_Episode(int(r[0]), int(r[1]), r[2], r[3]) for r in await cur.fetchall()]


async def _worked_alert(conn: psycopg.AsyncConnection[Any], rule: str, subject: str) -> int | None:
    cur = await conn.execute(
        "SELECT id FROM alerts WHERE rule = %s AND subject = %s AND status = ANY(%s)"
        " ORDER BY start_ts DESC, id DESC LIMIT 1",
        (rule, subject, list(REPEAT_STATUSES)),
    )
    row = await cur.fetchone()
    return None if row is None else int(row[0])


async def _merge_episodes(conn: psycopg.AsyncConnection[Any], eps: Sequence[_Episode],
                          recount: set[int]) -> None:
    for ep in eps:
        await conn.execute("UPDATE alert_episodes SET merged = true, updated_at = now()"
                           " WHERE id = %s", (ep.id,))
        recount.add(ep.alert_id)


async def _add_repeat(conn: psycopg.AsyncConnection[Any], alert_id: int,
                      d: AlertDraft) -> _Episode:
    cur = await conn.execute(
        "INSERT INTO alert_episodes (alert_id, rule, subject, device_ids, start_ts, end_ts,"
        " severity, summary, summary_zh, evidence)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id",
        (alert_id, d.rule, d.subject, list(d.device_ids), d.start, d.end, d.severity,
         d.summary, d.summary_zh, json.dumps(d.evidence)),
    )
    row = await cur.fetchone()
    assert row is not None
    episode = _Episode(int(row[0]), alert_id, d.start, d.end)
    await conn.execute(
        "UPDATE alerts SET repeat_count = repeat_count + 1, last_repeat_at = now(),"
        " updated_at = now() WHERE id = %s", (alert_id,))
    await record_event(conn, alert_id, "repeat", SYSTEM_DETECTOR, public=True,
                       data={"episode_id": episode.id, "start": d.start.isoformat(),
                             "end": None if d.end is None else d.end.isoformat(),
                             "severity": d.severity, "summary": d.summary})
    return episode


# Subject locks are spread over this many keys per rule: one transaction evaluating
# thousands of subjects then holds at most ``rules x _LOCK_BUCKETS`` advisory locks
# instead of one per subject, which overflowed PostgreSQL's shared lock table.
_LOCK_BUCKETS = 64


async def lock_subject(conn: psycopg.AsyncConnection[Any], rule: str, subject: str) -> None:
    """Transaction-scoped lock serialising changes to one (rule, subject)'s alerts."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s), hashtext(%s) & %s)",
                       (rule, subject, _LOCK_BUCKETS - 1))


async def reconcile(conn: psycopg.AsyncConnection[Any], rule: str, subject: str,
                    drafts: Sequence[AlertDraft], window_start: datetime) -> ReconcileResult:
    """Merge ``drafts`` (findings over a window starting at ``window_start``) into alerts.

    Must run inside a transaction; takes the (rule, subject) lock (:func:`lock_subject`)
    so concurrent runners cannot open the same alert twice.
    """
    await lock_subject(conn, rule, subject)
    cur = await conn.execute(
        "SELECT id, start_ts, end_ts, status FROM alerts"
        " WHERE rule = %s AND subject = %s AND (end_ts IS NULL OR end_ts >= %s)"
        " AND status <> 'superseded'"
        " ORDER BY start_ts",
        (rule, subject, window_start),
    )
    rows = await cur.fetchall()
    existing = [(int(r[0]), r[1], r[2]) for r in rows]
    statuses = {int(r[0]): str(r[3]) for r in rows}
    opened: list[int] = []
    updated: list[int] = []
    closed: list[int] = []
    superseded: list[int] = []
    repeated: list[int] = []
    episodes: list[_Episode] | None = None  # loaded when the first draft needs them
    recount: set[int] = set()
    for d in drafts:
        matches = [e for e in existing if _overlaps(e[1], e[2], d.start, d.end)]
        match = matches[0] if matches else None
        for other_id, _, _ in matches[1:]:
            # Late data joined two episodes into one: the later alert is superseded.
            await conn.execute(
                "UPDATE alerts SET status = 'superseded', updated_at = now(), rectifying_from = NULL,"
                " evidence = evidence || jsonb_build_object('superseded_by', %s::bigint)"
                " WHERE id = %s", (match[0] if match else None, other_id))
            await withdraw_with_alert(conn, other_id, SYSTEM_DETECTOR, alert_status="superseded",
                                      reason=f"merged into alert {match[0] if match else '-'}")
            superseded.append(other_id)
            if match is not None:
                await record_event(conn, other_id, "superseded", SYSTEM_DETECTOR, public=True,
                                   from_status=statuses.get(other_id), to_status="superseded",
                                   data={"superseded_by": match[0]})
                # Its repeat episodes follow it into the alert that absorbed it.
                await conn.execute("UPDATE alert_episodes SET alert_id = %s WHERE alert_id = %s",
                                   (match[0], other_id))
                recount.update((match[0], other_id))
        existing = [e for e in existing if e[0] not in superseded]
        if episodes is None:
            episodes = await _load_episodes(conn, rule, subject, window_start)
        ep_matches = [ep for ep in episodes if _overlaps(ep.start, ep.end, d.start, d.end)]
        if match is None and ep_matches:
            # A repeat episode found again: update it like an alert.
            ep = ep_matches[0]
            await _merge_episodes(conn, ep_matches[1:], recount)
            ep.start = min(ep.start, d.start)
            ep.end = d.end
            await conn.execute(
                "UPDATE alert_episodes SET start_ts = %s, end_ts = %s, severity = %s,"
                " summary = %s, summary_zh = %s, evidence = %s, device_ids = %s,"
                " updated_at = now() WHERE id = %s",
                (ep.start, ep.end, d.severity, d.summary, d.summary_zh, json.dumps(d.evidence),
                 list(d.device_ids), ep.id))
            episodes = [e for e in episodes if e not in ep_matches[1:]]
            continue
        if match is not None and ep_matches:
            # Late data joined repeat episodes to this alert's own episode.
            await _merge_episodes(conn, ep_matches, recount)
            episodes = [e for e in episodes if e not in ep_matches]
        if match is None:
            target = await _worked_alert(conn, rule, subject)
            if target is not None:
                episodes.append(await _add_repeat(conn, target, d))
                repeated.append(target)
                continue
            cur = await conn.execute(
                "INSERT INTO alerts (rule, subject, enterprise_id, device_ids, start_ts, end_ts,"
                " severity, summary, summary_zh, params, evidence)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id",
                (d.rule, d.subject, d.enterprise_id, list(d.device_ids), d.start, d.end,
                 d.severity, d.summary, d.summary_zh, json.dumps(d.params),
                 json.dumps(d.evidence)),
            )
            row = await cur.fetchone()
            assert row is not None
            new_id = int(row[0])
            await record_event(conn, new_id, "opened", SYSTEM_DETECTOR, public=True,
                               to_status="open",
                               data={"start": d.start.isoformat(), "severity": d.severity})
            opened.append(new_id)
            statuses[new_id] = "open"
            existing.append((new_id, d.start, d.end))
            continue
        alert_id, start, end = match
        new_start = min(start, d.start)
        if end is None and d.end is not None:
            closed.append(alert_id)
        await conn.execute(
            "UPDATE alerts SET start_ts = %s, end_ts = %s, severity = %s, summary = %s,"
            " summary_zh = %s, params = %s, evidence = %s, device_ids = %s, updated_at = now()"
            " WHERE id = %s",
            (new_start, d.end, d.severity, d.summary, d.summary_zh, json.dumps(d.params),
             json.dumps(d.evidence), list(d.device_ids), alert_id),
        )
        updated.append(alert_id)
        existing = [(i, new_start, d.end) if i == alert_id else (i, s, e) for i, s, e in existing]
    for alert_id in sorted(recount):
        await conn.execute(
            "UPDATE alerts SET repeat_count = (SELECT count(*) FROM alert_episodes"
            " WHERE alert_id = %s AND NOT merged), updated_at = now() WHERE id = %s",
            (alert_id, alert_id))
    return ReconcileResult(opened=opened, updated=updated, closed=closed, superseded=superseded,
                           repeated=repeated, existing=len(rows))


async def end_ongoing(conn: psycopg.AsyncConnection[Any], alert_id: int, end: datetime, summary: str,
                      summary_zh: str, evidence: dict[str, Any]) -> bool:
    """End an ongoing alert at ``end`` with new summaries and ``evidence`` merged into its own;
    False when it had ended already."""
    cur = await conn.execute(
        "UPDATE alerts SET end_ts = %s, updated_at = now(), summary = %s, summary_zh = %s,"
        " evidence = evidence || %s::jsonb WHERE id = %s AND end_ts IS NULL",
        (end, summary, summary_zh, json.dumps(evidence), alert_id))
    return cur.rowcount > 0


async def move_start(conn: psycopg.AsyncConnection[Any], alert_id: int, start: datetime) -> None:
    """Move an alert's start (a re-evaluation found its beginning later than recorded)."""
    await conn.execute("UPDATE alerts SET start_ts = %s WHERE id = %s", (start, alert_id))
