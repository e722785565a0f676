"""The feed of credit events for the credit evaluation system.

Events are the ledger's entries, oldest first, paged by entry id. Ids are taken
under the chain lock, so they grow in commit order: a consumer that resumes after
the last id it saw never misses an entry committed later. Each event carries its
chain hash (and the SHA-256 of the evidence it rests on), so the consumer can keep
them and later prove the ledger unchanged.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Collection, Iterable
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row

from ecowarn.credit._canonical import CST

__all__ = ["CSV_COLUMNS", "event", "events_csv", "list_events"]

CSV_COLUMNS = (
    "id", "recorded_at", "type", "enterprise_id", "points", "score_after", "level_after",
    "alert_id", "rule", "severity", "repeat_count", "evidence_id", "evidence_sha256", "ref_id",
    "repair_after", "occurred_at", "reason", "actor_role", "actor_token_id", "hash",
)


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(CST).isoformat()


async def list_events(conn: psycopg.AsyncConnection[Any], *, since: datetime | None,
                      after_id: int | None, limit: int,
                      enterprise_id: str | None = None,
                      enterprise_ids: Collection[str] | None = None) -> list[dict[str, Any]]:
    """Ledger rows recorded at or after ``since`` with id above ``after_id``, oldest first,
    at most ``limit`` + 1 (one more tells the caller another page follows); of
    ``enterprise_id`` and within ``enterprise_ids`` (a jurisdiction) when given."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "SELECT l.id, l.enterprise_id, l.entry_type, l.points, l.score_after, l.level_after,"
            " l.alert_id, l.rule, l.severity, l.repeat_count, l.evidence_id, l.ref_id,"
            " l.repair_after, l.occurred_at, l.reason, l.actor, l.created_at, l.hash,"
            " e.sha256 AS evidence_sha256"
            " FROM credit_ledger l LEFT JOIN evidence_packages e ON e.id = l.evidence_id"
            " WHERE (%(since)s::timestamptz IS NULL OR l.created_at >= %(since)s)"
            " AND (%(after)s::bigint IS NULL OR l.id > %(after)s)"
            " AND (%(ent)s::text IS NULL OR l.enterprise_id = %(ent)s)"
            " AND (%(ents)s::text[] IS NULL OR l.enterprise_id = ANY(%(ents)s))"
            " ORDER BY l.id LIMIT %(limit)s",
            {"since": since, "after": after_id, "ent": enterprise_id,
             "ents": None if enterprise_ids is None else sorted(enterprise_ids),
             "limit": limit + 1})
        return await cur.fetchall()


def event(row: dict[str, Any]) -> dict[str, Any]:
    """One ledger row as a feed event (JSON)."""
    actor = row["actor"] or {}
    return {
        "id": row["id"],
        "recorded_at": _iso(row["created_at"]),
        "type": row["entry_type"],
        "enterprise_id": row["enterprise_id"],
        "points": row["points"],
        "score_after": row["score_after"],
        "level_after": row["level_after"],
        "alert_id": row["alert_id"],
        "rule": row["rule"],
        "severity": row["severity"],
        "repeat_count": row["repeat_count"],
        "evidence_id": row["evidence_id"],
        "evidence_sha256": row.get("evidence_sha256"),
        "ref_id": row["ref_id"],
        "repair_after": _iso(row["repair_after"]),
        "occurred_at": _iso(row["occurred_at"]),
        "reason": row["reason"],
        "actor": {"role": actor.get("role"), "token_id": actor.get("token_id"),
                  "label": actor.get("label")},
        "hash": row["hash"],
    }


def events_csv(events: Iterable[dict[str, Any]]) -> str:
    """Events as CSV (header row, :data:`CSV_COLUMNS`, RFC 4180 quoting)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for ev in events:
        flat = {**ev, "actor_role": ev["actor"]["role"], "actor_token_id": ev["actor"]["token_id"]}
        writer.writerow(["" if flat[c] is None else flat[c] for c in CSV_COLUMNS])
    return buf.getvalue()
