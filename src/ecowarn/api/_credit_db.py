"""Queries behind the credit, evidence and warning endpoints and console pages."""

from __future__ import annotations

import logging
from collections.abc import Collection
from typing import Any

import psycopg
from psycopg.rows import dict_row

__all__ = ["delivery_attempts", "fetch_answers", "fetch_scores", "list_deliveries"]

log = logging.getLogger(__name__)

# Enough for a page; older rows are in the API (paged).
ANSWERS_CAP = 200


async def fetch_scores(conn: psycopg.AsyncConnection[Any]) -> dict[str, tuple[int, str]]:
    """enterprise id -> (score, level) for every enterprise with ledger entries."""
    cur = await conn.execute("SELECT enterprise_id, score, level FROM credit_scores")
    return {r[0]: (int(r[1]), str(r[2])) for r in await cur.fetchall()}


async def list_deliveries(
    conn: psycopg.AsyncConnection[Any], *, enterprise_id: str | None, alert_id: int | None,
    status: str | None, limit: int, before_id: int | None,
    enterprise_ids: Collection[str] | None = None,
) -> list[dict[str, Any]]:
    """Warning deliveries with their alert's headline, newest first, ``limit`` + 1 rows;
    within ``enterprise_ids`` (what the token may see) when given."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "SELECT w.id, w.delivery_id, w.alert_id, w.enterprise_id, w.channel, w.target, w.status,"
            " w.attempts, w.next_attempt_at, w.last_status_code, w.last_error, w.delivered_at,"
            " w.created_at, a.rule, a.severity, a.start_ts, a.end_ts, a.status AS alert_status,"
            " a.summary, a.summary_zh"
            " FROM warning_deliveries w JOIN alerts a ON a.id = w.alert_id"
            " WHERE (%(ent)s::text IS NULL OR w.enterprise_id = %(ent)s)"
            " AND (%(ents)s::text[] IS NULL OR w.enterprise_id = ANY(%(ents)s))"
            " AND (%(alert)s::bigint IS NULL OR w.alert_id = %(alert)s)"
            " AND (%(status)s::text IS NULL OR w.status = %(status)s)"
            " AND (%(before)s::bigint IS NULL OR w.id < %(before)s)"
            " ORDER BY w.id DESC LIMIT %(limit)s",
            {"ent": enterprise_id, "alert": alert_id, "status": status, "before": before_id,
             "ents": None if enterprise_ids is None else sorted(enterprise_ids),
             "limit": limit + 1})
        return await cur.fetchall()


async def delivery_attempts(conn: psycopg.AsyncConnection[Any], delivery_ids: list[int]
                            ) -> dict[int, list[dict[str, Any]]]:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "SELECT delivery, attempt, started_at, duration_ms, status_code, error"
            " FROM warning_attempts WHERE delivery = ANY(%s) ORDER BY delivery, attempt",
            (delivery_ids,))
        out: dict[int, list[dict[str, Any]]] = {}
        for row in await cur.fetchall():
            out.setdefault(int(row["delivery"]), []).append(row)
        return out


async def fetch_answers(conn: psycopg.AsyncConnection[Any], enterprise_id: str
                        ) -> list[dict[str, Any]] | None:
    """The enterprise's answers to alerts, as JSON objects, newest alert first; None when
    the answers table (``alert_answers``, migration 0003) is not there or has no
    ``alert_id`` column to join on."""
    cur = await conn.execute("SELECT to_regclass('alert_answers') IS NOT NULL")
    row = await cur.fetchone()
    if not row or not row[0]:
        return None
    try:
        async with conn.transaction():  # a savepoint: the table belongs to another component
            cur = await conn.execute(
                "SELECT to_jsonb(x) FROM alert_answers x JOIN alerts a ON a.id = x.alert_id"
                " WHERE a.enterprise_id = %s ORDER BY x.alert_id DESC LIMIT %s",
                (enterprise_id, ANSWERS_CAP))
            return [r[0] for r in await cur.fetchall()]
    except psycopg.errors.UndefinedColumn as exc:
        log.warning("alert_answers cannot be joined to alerts: %s", exc)
        return None
