"""``GET /api/v1/readings`` and ``GET /api/v1/readings/hourly`` (officer, enterprise, admin).

Raw readings as stored (units of CONTRACT section 1). An enterprise token may read
its own devices only; another device answers 404.
"""

# No "from __future__ import annotations": FastAPI resolves the Depends() in the
# route signatures at definition time, and they name closure variables.

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from psycopg import sql
from psycopg.rows import dict_row

from ecowarn.api._db import connect
from ecowarn.api._paths import API_PREFIX
from ecowarn.api._time import AwareDatetime, iso
from ecowarn.api.auth import Auth, can_see_device
from ecowarn.api.context import ApiContext
from ecowarn.api.errors import NotFound
from ecowarn.api.pagination import DEFAULT_LIMIT, CursorCodec, Limit
from ecowarn.store.tokens import Principal

__all__ = ["HOURLY_CAP", "build_readings_router"]

_CURSOR = CursorCodec("readings", datetime, str)
# Most hourly rows one request returns (a year of one metric is 8,760).
HOURLY_CAP = 10_000

DeviceId = Annotated[str, Query(min_length=1, description="device id from the registry")]
Since = Annotated[AwareDatetime | None, Query(description="inclusive lower bound on ts")]
Until = Annotated[AwareDatetime | None, Query(description="exclusive upper bound on ts")]


def _window(column: str, since: datetime | None, until: datetime | None,
            where: list[sql.Composable], params: list[Any]) -> None:
    if since is not None:
        where.append(sql.SQL("{} >= %s").format(sql.Identifier(column)))
        params.append(since)
    if until is not None:
        where.append(sql.SQL("{} < %s").format(sql.Identifier(column)))
        params.append(until)


# Hourly values aggregated from the raw rows of a window (the readings_hourly columns); the
# window bounds the rows read, before grouping. Hours are UTC hours like time_bucket's.
_HOURLY_RAW = (
    "SELECT date_bin('1 hour', ts, TIMESTAMPTZ '2000-01-01 00:00+00') AS bucket, metric,"
    " count(*) AS n, count(value) FILTER (WHERE flag = 'N') AS n_valid,"
    " avg(value) FILTER (WHERE flag = 'N') AS avg_valid,"
    " min(value) AS min_value, max(value) AS max_value"
    " FROM readings WHERE {} GROUP BY 1, 2 ORDER BY 1, 2 LIMIT %s")
_HOURLY_VIEW = (
    "SELECT bucket, metric, n, n_valid, avg_valid, min_value, max_value"
    " FROM readings_hourly WHERE {} ORDER BY bucket, metric LIMIT %s")


def hour_ceil(t: datetime) -> datetime:
    """The first UTC hour boundary at or after ``t``: bucket >= t exactly when ts >= hour_ceil(t)."""
    u = t.astimezone(UTC)
    floor = u.replace(minute=0, second=0, microsecond=0)
    return floor if floor == u else floor + timedelta(hours=1)


def build_readings_router(ctx: ApiContext, auth: Auth) -> APIRouter:
    router = APIRouter(prefix=API_PREFIX, tags=["readings"])
    readers = auth.require("officer", "enterprise")

    def visible(principal: Principal, device_id: str) -> None:
        if not can_see_device(ctx, principal, device_id):
            raise NotFound(f"no device {device_id}")

    @router.get("/readings")
    async def get_readings(
        principal: Annotated[Principal, Depends(readers)],
        device_id: DeviceId,
        metric: str | None = None,
        since: Since = None,
        until: Until = None,
        limit: Limit = DEFAULT_LIMIT,
        cursor: str | None = None,
    ) -> dict[str, Any]:
        """Raw readings of one device, ascending by (ts, metric), keyset-paged;
        ``since`` inclusive, ``until`` exclusive."""
        visible(principal, device_id)
        where: list[sql.Composable] = [sql.SQL("device_id = %s")]
        params: list[Any] = [device_id]
        if metric is not None:
            where.append(sql.SQL("metric = %s"))
            params.append(metric)
        _window("ts", since, until, where, params)
        after = _CURSOR.decode(cursor)
        if after is not None:
            where.append(sql.SQL("(ts, metric) > (%s, %s)"))
            params.extend(after)
        params.append(limit + 1)
        query = sql.SQL(
            "SELECT ts, metric, value, flag FROM readings WHERE {}"
            " ORDER BY ts, metric LIMIT %s").format(sql.SQL(" AND ").join(where))
        async with connect(ctx) as conn, conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(query, params)
            rows = await cur.fetchall()
        next_cursor = None
        if len(rows) > limit:
            rows = rows[:limit]
            next_cursor = _CURSOR.encode(rows[-1]["ts"], rows[-1]["metric"])
        items = [{"ts": iso(r["ts"]), "metric": r["metric"], "value": r["value"],
                  "flag": r["flag"]} for r in rows]
        return {"items": items, "next_cursor": next_cursor}

    @router.get("/readings/hourly")
    async def get_hourly(
        principal: Annotated[Principal, Depends(readers)],
        device_id: DeviceId,
        metric: str | None = None,
        since: Annotated[AwareDatetime | None, Query(
            description="inclusive lower bound on the hour bucket")] = None,
        until: Annotated[AwareDatetime | None, Query(
            description="exclusive upper bound on the hour bucket")] = None,
    ) -> dict[str, Any]:
        """Hourly aggregates of one device, ascending by (bucket, metric), at most 10,000
        rows. ``n_valid``/``avg_valid`` count only values flagged N. With a window
        (``since`` and/or ``until``) they are aggregated from the raw rows of the window,
        exact whatever the refresh state of the continuous aggregate; without one, the
        ``readings_hourly`` view answers (its whole history, materialised under TimescaleDB)."""
        visible(principal, device_id)
        where: list[sql.Composable] = [sql.SQL("device_id = %s")]
        params: list[Any] = [device_id]
        if metric is not None:
            where.append(sql.SQL("metric = %s"))
            params.append(metric)
        if since is not None or until is not None:
            # bucket >= since  <=>  ts >= hour_ceil(since); the same for until (exclusive).
            _window("ts", None if since is None else hour_ceil(since),
                    None if until is None else hour_ceil(until), where, params)
            template = _HOURLY_RAW
        else:
            template = _HOURLY_VIEW
        params.append(HOURLY_CAP + 1)
        query = sql.SQL(template).format(sql.SQL(" AND ").join(where))
        async with connect(ctx) as conn, conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(query, params)
            rows = await cur.fetchall()
        items = [
            {"bucket": iso(r["bucket"]), "metric": r["metric"], "n": r["n"],
             "n_valid": r["n_valid"], "avg_valid": r["avg_valid"], "min": r["min_value"],
             "max": r["max_value"]}
            for r in rows[:HOURLY_CAP]
        ]
        return {"items": items, "truncated": len(rows) > HOURLY_CAP}

    return router
