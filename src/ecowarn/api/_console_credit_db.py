"""Queries behind the console's credit repair and notification pages.

Every query takes the enterprises the viewer may see (``None``: all, as
:meth:`api.auth.Visibility.ids` gives them) and filters in SQL, so neither a count nor a
page boundary tells what else exists.
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.rows import dict_row

__all__ = ["application_page", "applications_of", "live_deductions", "notification_page"]

_APPLICATION_COLUMNS = (
    "a.id, a.enterprise_id, a.entry_id, a.commitment, a.attachments, a.status, a.publication,"
    " a.allowed_from, a.applicant_label, a.created_at, a.decided_at, a.decided_by_label,"
    " a.decision_reason, a.application_entry_id, a.decision_entry_id, a.evidence_id,"
    " e.sha256 AS evidence_sha256, d.points AS entry_points,"
    " d.rule AS entry_rule, d.severity AS entry_severity, d.alert_id AS entry_alert_id,"
    " d.created_at AS entry_recorded_at"
    " FROM repair_applications a JOIN credit_ledger d ON d.id = a.entry_id"
    " JOIN evidence_packages e ON e.id = a.evidence_id")


async def live_deductions(conn: psycopg.AsyncConnection[Any], enterprise_id: str, *,
                          limit: int) -> list[dict[str, Any]]:
    """The enterprise's deductions that can still be repaired, newest first: they took points,
    rest on an alert, and are neither reversed nor repaired by a repair that stands (what
    :func:`credit.applications.file_application` accepts, the publication period aside)."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "SELECT d.id, d.points, d.rule, d.severity, d.alert_id, d.created_at, d.repair_after"
            " FROM credit_ledger d"
            " WHERE d.enterprise_id = %s AND d.entry_type = 'deduction' AND d.points < 0"
            " AND d.alert_id IS NOT NULL"
            " AND NOT EXISTS (SELECT 1 FROM credit_ledger r WHERE r.ref_id = d.id AND r.entry_type = 'reversal')"
            " AND NOT EXISTS (SELECT 1 FROM credit_ledger x WHERE x.ref_id = d.id AND x.entry_type = 'repair'"
            "   AND NOT EXISTS (SELECT 1 FROM credit_ledger y WHERE y.ref_id = x.id"
            "                   AND y.entry_type = 'reversal'))"
            " ORDER BY d.id DESC LIMIT %s", (enterprise_id, limit))
        return await cur.fetchall()


async def applications_of(conn: psycopg.AsyncConnection[Any], enterprise_id: str, *,
                          limit: int) -> list[dict[str, Any]]:
    """The enterprise's repair applications, newest first."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(f"SELECT {_APPLICATION_COLUMNS} WHERE a.enterprise_id = %s"
                          " ORDER BY a.id DESC LIMIT %s", (enterprise_id, limit))
        return await cur.fetchall()


async def application_page(
    conn: psycopg.AsyncConnection[Any], *, enterprises: list[str] | None, status: str | None,
    enterprise_id: str | None, after: tuple[int, int] | None, limit: int,
) -> list[dict[str, Any]]:
    """Applications pending first, then decided ones, each newest first; at most ``limit`` + 1
    rows (one more: another page follows). ``after`` is the (rank, id) of the last row of the
    previous page, rank 0 for pending and 1 for decided."""
    rank, last_id = after if after is not None else (None, None)
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            f"SELECT (a.status <> 'pending')::int AS rank, {_APPLICATION_COLUMNS}"
            " WHERE (%(ents)s::text[] IS NULL OR a.enterprise_id = ANY(%(ents)s))"
            " AND (%(status)s::text IS NULL OR a.status = %(status)s)"
            " AND (%(ent)s::text IS NULL OR a.enterprise_id = %(ent)s)"
            " AND (%(rank)s::int IS NULL OR (a.status <> 'pending')::int > %(rank)s"
            "      OR ((a.status <> 'pending')::int = %(rank)s AND a.id < %(id)s))"
            " ORDER BY (a.status <> 'pending'), a.id DESC LIMIT %(limit)s",
            {"ents": enterprises, "status": status, "ent": enterprise_id, "rank": rank, "id": last_id,
             "limit": limit + 1})
        return await cur.fetchall()


async def notification_page(
    conn: psycopg.AsyncConnection[Any], *, enterprises: list[str] | None, event: str | None,
    status: str | None, before_id: int | None, limit: int,
) -> list[dict[str, Any]]:
    """Notifications to officer channels, newest first, at most ``limit`` + 1 rows. Those of
    no enterprise only an unlimited viewer (``enterprises`` None) sees, as in the API."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "SELECT id, event, subject_id, channel, alert_id, enterprise_id, region, body, status,"
            " attempts, next_attempt_at, last_status_code, last_error, delivered_at, created_at"
            " FROM officer_notifications"
            " WHERE (%(ents)s::text[] IS NULL OR enterprise_id = ANY(%(ents)s))"
            " AND (%(event)s::text IS NULL OR event = %(event)s)"
            " AND (%(status)s::text IS NULL OR status = %(status)s)"
            " AND (%(before)s::bigint IS NULL OR id < %(before)s)"
            " ORDER BY id DESC LIMIT %(limit)s",
            {"ents": enterprises, "event": event, "status": status, "before": before_id,
             "limit": limit + 1})
        return await cur.fetchall()
