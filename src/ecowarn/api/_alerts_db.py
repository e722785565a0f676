"""Alert queries shared by the JSON API and the console."""

from __future__ import annotations

import math
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from ecowarn.alerts.lifecycle import in_scope
from ecowarn.api._time import iso, iso_or_none

__all__ = [
    "OVERDUE_ANSWER_SQL",
    "READINGS_CAP",
    "READINGS_MARGIN",
    "AlertFilter",
    "alert_detail",
    "alert_item",
    "binned_series",
    "fetch_alert",
    "list_alerts",
    "window_readings",
]

# Raw readings returned with one alert: its window widened by this margin on each
# side, at most this many rows (earliest first).
READINGS_MARGIN = timedelta(minutes=30)
READINGS_CAP = 5000

_COLUMNS = sql.SQL(
    "id, rule, subject, enterprise_id, device_ids, start_ts, end_ts, severity, status,"
    " summary, summary_zh"
)
_DETAIL_COLUMNS = sql.SQL(", params, evidence, created_at, updated_at")
# An alert the enterprise was told of (dispatched) whose answer deadline (the parameter) has
# passed and that it has not answered: the console's "overdue answers".
OVERDUE_ANSWER_SQL = (
    "status = 'dispatched' AND due_at IS NOT NULL AND due_at < %s"
    " AND NOT EXISTS (SELECT 1 FROM alert_answers x WHERE x.alert_id = alerts.id)")


@dataclass(frozen=True, slots=True)
class AlertFilter:
    """List filters. ``since``/``until`` select alerts whose active span
    ``[start, end or now]`` overlaps ``[since, until)``."""

    rule: str | None = None
    enterprise_id: str | None = None
    device_id: str | None = None
    status: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    # Console filters: a severity, any of several statuses, answers overdue at this time.
    severity: str | None = None
    statuses: tuple[str, ...] | None = None
    answer_overdue_at: datetime | None = None


def _conditions(f: AlertFilter, scope: str | Collection[str] | None,
                ) -> tuple[list[sql.Composable], list[Any]]:
    where: list[sql.Composable] = []
    params: list[Any] = []
    for column, value in (("rule", f.rule), ("enterprise_id", f.enterprise_id),
                          ("status", f.status), ("severity", f.severity)):
        if value is not None:
            where.append(sql.SQL("{} = %s").format(sql.Identifier(column)))
            params.append(value)
    if scope is not None:
        # An enterprise-less alert (an air hotspot) has a NULL enterprise: never in a set.
        where.append(sql.SQL("enterprise_id = ANY(%s)"))
        params.append([scope] if isinstance(scope, str) else sorted(scope))
    if f.device_id is not None:
        where.append(sql.SQL("device_ids @> ARRAY[%s]::text[]"))
        params.append(f.device_id)
    if f.statuses is not None:
        where.append(sql.SQL("status = ANY(%s)"))
        params.append(list(f.statuses))
    if f.answer_overdue_at is not None:
        where.append(sql.SQL(OVERDUE_ANSWER_SQL))
        params.append(f.answer_overdue_at)
    if f.since is not None:
        where.append(sql.SQL("(end_ts IS NULL OR end_ts >= %s)"))
        params.append(f.since)
    if f.until is not None:
        where.append(sql.SQL("start_ts < %s"))
        params.append(f.until)
    return where, params


async def list_alerts(
    conn: psycopg.AsyncConnection[Any], f: AlertFilter, *, scope: str | Collection[str] | None,
    limit: int,
    after: tuple[datetime, int] | None = None,
) -> tuple[list[dict[str, Any]], tuple[datetime, int] | None]:
    """Alerts newest start first, keyset-paged over ``(start_ts, id)``.

    ``scope`` confines the list to one enterprise or a set of them (what the token may
    see, :func:`api.auth.visibility`); None lists every alert. Returns the page and the key of
    its last row when another page follows.
    """
    where, params = _conditions(f, scope)
    if after is not None:
        where.append(sql.SQL("(start_ts, id) < (%s, %s)"))
        params.extend(after)
    query = sql.SQL("SELECT {} FROM alerts {} ORDER BY start_ts DESC, id DESC LIMIT %s").format(
        _COLUMNS,
        sql.SQL("WHERE ") + sql.SQL(" AND ").join(where) if where else sql.SQL(""),
    )
    params.append(limit + 1)
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(query, params)
        rows = await cur.fetchall()
    if len(rows) > limit:
        rows = rows[:limit]
        last = rows[-1]
        return rows, (last["start_ts"], int(last["id"]))
    return rows, None


async def fetch_alert(conn: psycopg.AsyncConnection[Any], alert_id: int, *,
                      scope: str | Collection[str] | None) -> dict[str, Any] | None:
    """One alert with params and evidence; None when absent or outside ``scope`` (one
    enterprise, a set of them, or None for every alert)."""
    query = sql.SQL("SELECT {}{} FROM alerts WHERE id = %s").format(_COLUMNS, _DETAIL_COLUMNS)
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(query, (alert_id,))
        row = await cur.fetchone()
    if row is None or not in_scope(row["enterprise_id"], scope):
        return None
    return row


async def window_readings(
    conn: psycopg.AsyncConnection[Any], device_ids: list[str], t0: datetime, t1: datetime,
    *, cap: int = READINGS_CAP,
) -> tuple[list[dict[str, Any]], bool]:
    """Raw readings of ``device_ids`` with ``t0 <= ts <= t1``, earliest first, at most
    ``cap`` rows; the flag says whether rows were left out."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "SELECT device_id, metric, ts, value, flag FROM readings"
            " WHERE device_id = ANY(%s) AND ts >= %s AND ts <= %s"
            " ORDER BY ts, device_id, metric LIMIT %s",
            (device_ids, t0, t1, cap + 1),
        )
        rows = await cur.fetchall()
    return rows[:cap], len(rows) > cap


async def binned_series(
    conn: psycopg.AsyncConnection[Any], device_ids: list[str], metrics: list[str],
    t0: datetime, t1: datetime, *, max_points: int = 720,
) -> dict[tuple[str, str], list[tuple[datetime, float | None]]]:
    """Per (device, metric): the mean value in bins of at least one minute, at most
    ``max_points`` bins over ``[t0, t1]`` (for charts)."""
    step_s = max(60, math.ceil((t1 - t0).total_seconds() / max_points / 60) * 60)
    async with conn.cursor() as cur:
        await cur.execute(
            "SELECT device_id, metric, date_bin(make_interval(secs => %s), ts, %s) AS t,"
            " avg(value) FROM readings"
            " WHERE device_id = ANY(%s) AND metric = ANY(%s) AND ts >= %s AND ts <= %s"
            " GROUP BY 1, 2, 3 ORDER BY 1, 2, 3",
            (step_s, t0, device_ids, metrics, t0, t1),
        )
        out: dict[tuple[str, str], list[tuple[datetime, float | None]]] = {}
        for device_id, metric, t, value in await cur.fetchall():
            out.setdefault((device_id, metric), []).append(
                (t, None if value is None else float(value)))
    return out


def alert_item(row: dict[str, Any]) -> dict[str, Any]:
    """An alert as listed by ``GET /alerts``."""
    return {
        "id": row["id"],
        "rule": row["rule"],
        "enterprise_id": row["enterprise_id"],
        "device_ids": list(row["device_ids"]),
        "start": iso(row["start_ts"]),
        "end": iso_or_none(row["end_ts"]),
        "severity": row["severity"],
        "status": row["status"],
        "summary": row["summary"],
        "summary_zh": row["summary_zh"],
    }


def alert_detail(row: dict[str, Any]) -> dict[str, Any]:
    """An alert with what made it fire, as returned by ``GET /alerts/{id}``."""
    return {
        **alert_item(row),
        "subject": row["subject"],
        "params": row["params"],
        "evidence": row["evidence"],
        "created_at": iso(row["created_at"]),
        "updated_at": iso(row["updated_at"]),
    }
