"""Complaints (信访投诉) about an enterprise, kept append-only (table ``complaints``).

An officer records a complaint received about an enterprise: when it was received, its source
(the 12369 hotline, a letter, a visit...) and a summary. A firm on a positive list is left out
of the routine on-site plan and the random on-site draws, except in a period in which a
complaint about it was received (its day in China Standard Time inside the period): then it
is back on both, with the basis ``complaint`` (:mod:`credit.supervision.plan`).

Scope: reading and recording take the enterprise ids the actor may see (None for all); a
complaint about another enterprise is reported absent, exactly like one that does not exist.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Final

import psycopg
from psycopg.rows import dict_row

from ecowarn.alerts.model import Actor
from ecowarn.credit.supervision.errors import SupervisionInputError, SupervisionNotFound

__all__ = ["MAX_SOURCE", "MAX_SUMMARY", "ComplaintFilter", "add_complaint", "complaints_in", "fetch_complaint",
           "list_complaints"]

log = logging.getLogger(__name__)

MAX_SOURCE: Final = 200
MAX_SUMMARY: Final = 5000
_COLUMNS: Final = ("id, enterprise_id, received_at, source, summary, created_at, created_by_token, created_by_role,"
                   " created_by_label")
# A complaint's day in China Standard Time.
_DAY: Final = "((received_at AT TIME ZONE 'UTC') + interval '8 hours')::date"


def _ids(scope: Collection[str] | None) -> list[str] | None:
    return None if scope is None else sorted(scope)


async def add_complaint(conn: psycopg.AsyncConnection[Any], *, enterprise_id: str, received_at: datetime,
                        source: str, summary: str, actor: Actor, known: Collection[str],
                        now: datetime) -> dict[str, Any]:
    """Record a complaint; its row. ``known``: the enterprises the actor may name (the
    registry's, within its jurisdiction); any other is refused like one that does not exist.
    A complaint received after ``now`` is refused."""
    if enterprise_id not in known:
        raise SupervisionInputError("body.enterprise_id", "unknown_enterprise", id=enterprise_id)
    if received_at > now:
        raise SupervisionInputError("body.received_at", "received_in_future", at=received_at.isoformat())
    src, text = source.strip(), summary.strip()
    if not 1 <= len(src) <= MAX_SOURCE:
        raise SupervisionInputError("body.source", "complaint_text", max=MAX_SOURCE)
    if not 1 <= len(text) <= MAX_SUMMARY:
        raise SupervisionInputError("body.summary", "complaint_text", max=MAX_SUMMARY)
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "INSERT INTO complaints (enterprise_id, received_at, source, summary, created_by_token, created_by_role,"
            f" created_by_label) VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING {_COLUMNS}",
            (enterprise_id, received_at, src, text, actor.token_id, actor.role, actor.label))
        row = await cur.fetchone()
    assert row is not None
    log.info("complaint %d about %s received %s recorded (token %s)", row["id"], enterprise_id,
             received_at.isoformat(), actor.token_id)
    return row


async def fetch_complaint(conn: psycopg.AsyncConnection[Any], complaint_id: int, *,
                          scope: Collection[str] | None) -> dict[str, Any]:
    """One complaint; absent outside ``scope``."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(f"SELECT {_COLUMNS} FROM complaints WHERE id = %s"
                          " AND (%s::text[] IS NULL OR enterprise_id = ANY(%s))",
                          (complaint_id, _ids(scope), _ids(scope)))
        row = await cur.fetchone()
    if row is None:
        raise SupervisionNotFound("complaint_not_found", id=complaint_id)
    return row


@dataclass(frozen=True, slots=True)
class ComplaintFilter:
    """Complaints about ``enterprise_ids`` (None: every enterprise) received on days
    ``since`` .. ``until`` (China time, both included; None: open)."""

    enterprise_ids: Sequence[str] | None = None
    since: date | None = None
    until: date | None = None


async def list_complaints(conn: psycopg.AsyncConnection[Any], f: ComplaintFilter, *, limit: int,
                          before_id: int | None = None) -> tuple[list[dict[str, Any]], int | None]:
    """Complaints matching ``f``, newest recorded first, at most ``limit``; and the id to
    continue before when more follow (else None)."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            f"SELECT {_COLUMNS} FROM complaints WHERE (%(ents)s::text[] IS NULL OR enterprise_id = ANY(%(ents)s))"
            f" AND (%(since)s::date IS NULL OR {_DAY} >= %(since)s)"
            f" AND (%(until)s::date IS NULL OR {_DAY} <= %(until)s)"
            " AND (%(before)s::bigint IS NULL OR id < %(before)s) ORDER BY id DESC LIMIT %(limit)s",
            {"ents": None if f.enterprise_ids is None else list(f.enterprise_ids), "since": f.since,
             "until": f.until, "before": before_id, "limit": limit + 1})
        rows = await cur.fetchall()
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (int(rows[-1]["id"]) if more and rows else None)


async def complaints_in(conn: psycopg.AsyncConnection[Any], enterprise_ids: Sequence[str], start: date,
                        end: date) -> dict[str, int]:
    """Enterprise id -> complaints about it received from ``start`` through ``end`` (days in
    China time); enterprises without any are left out."""
    cur = await conn.execute(
        f"SELECT enterprise_id, count(*) FROM complaints WHERE enterprise_id = ANY(%s)"
        f" AND {_DAY} BETWEEN %s AND %s GROUP BY enterprise_id", (list(enterprise_ids), start, end))
    return {str(r[0]): int(r[1]) for r in await cur.fetchall()}
