"""Alerts in the database: one alert per episode of a condition.

Detectors are re-run over windows of event time, so the same episode is found
again and again while it lasts, and may be found again after a restart or when
late data arrives. :func:`reconcile` makes that idempotent: a finding that
overlaps (or touches) an existing alert of the same rule and subject updates it;
only a finding that matches none opens a new alert; when late data joins two
episodes, the later alert is marked ``superseded`` and points at the one that
absorbed it. An alert's ``end_ts`` is
null while its condition holds at the end of the data and is set when it clears.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg

__all__ = ["AlertDraft", "ReconcileResult", "reconcile"]


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


def _overlaps(a_start: datetime, a_end: datetime | None, b_start: datetime,
              b_end: datetime | None) -> bool:
    """Closed-interval overlap, ``None`` meaning open-ended: touching episodes merge."""
    return (a_end is None or a_end >= b_start) and (b_end is None or b_end >= a_start)


async def reconcile(conn: psycopg.AsyncConnection[Any], rule: str, subject: str,
                    drafts: Sequence[AlertDraft], window_start: datetime) -> ReconcileResult:
    """Merge ``drafts`` (findings over a window starting at ``window_start``) into alerts.

    Must run inside a transaction; takes a transaction-scoped advisory lock on
    (rule, subject) so concurrent runners cannot open the same alert twice.
    """
    await conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"{rule}\x1f{subject}",))
    cur = await conn.execute(
        "SELECT id, start_ts, end_ts FROM alerts"
        " WHERE rule = %s AND subject = %s AND (end_ts IS NULL OR end_ts >= %s)"
        " AND status <> 'superseded'"
        " ORDER BY start_ts",
        (rule, subject, window_start),
    )
    existing = [(int(r[0]), r[1], r[2]) for r in await cur.fetchall()]
    opened: list[int] = []
    updated: list[int] = []
    closed: list[int] = []
    superseded: list[int] = []
    for d in drafts:
        matches = [e for e in existing if _overlaps(e[1], e[2], d.start, d.end)]
        match = matches[0] if matches else None
        for other_id, _, _ in matches[1:]:
            # Late data joined two episodes into one: the later alert is superseded.
            await conn.execute(
                "UPDATE alerts SET status = 'superseded', updated_at = now(),"
                " evidence = evidence || jsonb_build_object('superseded_by', %s::bigint)"
                " WHERE id = %s", (match[0] if match else None, other_id))
            superseded.append(other_id)
        existing = [e for e in existing if e[0] not in superseded]
        if match is None:
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
            opened.append(new_id)
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
    return ReconcileResult(opened=opened, updated=updated, closed=closed, superseded=superseded)
