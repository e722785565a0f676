"""Batched writes of readings and dead letters.

One batch is one transaction: rows are binary-COPYed into a temporary staging
table, moved into ``readings`` with ``ON CONFLICT DO NOTHING`` (a reading
delivered twice is stored once), the event-time span of the new rows is queued
per device in ``pending_eval`` for the detector runner, and rejections go to
``dead_letters``. Either all of it is committed or none.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool

from ingest.model import Rejection, Row
from store._errors import StoreError, StoreUnavailable

__all__ = ["WriteResult", "write_batch"]

_STAGE_DDL = (
    "CREATE TEMP TABLE IF NOT EXISTS readings_stage ("
    " device_id text NOT NULL, metric text NOT NULL, ts timestamptz NOT NULL,"
    " value double precision, flag text NOT NULL) ON COMMIT DELETE ROWS"
)

_MOVE = """
WITH ins AS (
    INSERT INTO readings (device_id, metric, ts, value, flag)
    SELECT device_id, metric, ts, value, flag FROM readings_stage
    ON CONFLICT (device_id, metric, ts) DO NOTHING
    RETURNING device_id, ts
), pending AS (
    INSERT INTO pending_eval (device_id, t_min, t_max)
    SELECT device_id, min(ts), max(ts) FROM ins GROUP BY device_id
    RETURNING 1
)
SELECT (SELECT count(*) FROM ins), (SELECT count(*) FROM pending)
"""

_DEAD = (
    "INSERT INTO dead_letters (source, topic, device_id, reason, detail, payload)"
    " VALUES (%s, %s, %s, %s, %s, %s)"
)


@dataclass(frozen=True, slots=True)
class WriteResult:
    inserted: int      # new rows in readings
    duplicates: int    # rows already stored (redelivery)
    dead_letters: int


async def write_batch(pool: AsyncConnectionPool[Any], rows: Sequence[Row],
                      rejections: Sequence[Rejection] = ()) -> WriteResult:
    """Commit ``rows`` and ``rejections`` in one transaction.

    Raises :class:`StoreUnavailable` when the database cannot be reached (the
    caller keeps the batch and retries) and :class:`StoreError` otherwise.
    """
    try:
        async with pool.connection() as conn, conn.transaction():
            inserted = 0
            if rows:
                await conn.execute(_STAGE_DDL)
                async with conn.cursor() as cur:
                    async with cur.copy(
                        "COPY readings_stage (device_id, metric, ts, value, flag)"
                        " FROM STDIN (FORMAT BINARY)"
                    ) as copy:
                        copy.set_types(["text", "text", "timestamptz", "float8", "text"])
                        for row in rows:
                            await copy.write_row(row)
                    await cur.execute(_MOVE)
                    res = await cur.fetchone()
                    assert res is not None
                    inserted = int(res[0])
            if rejections:
                async with conn.cursor() as cur:
                    await cur.executemany(_DEAD, [
                        (r.source, r.topic, r.device_id, r.reason, r.detail, r.payload)
                        for r in rejections
                    ])
    except psycopg.OperationalError as exc:
        raise StoreUnavailable(f"database unavailable: {exc}") from exc
    except psycopg.Error as exc:
        raise StoreError(f"batch write failed: {exc}") from exc
    return WriteResult(inserted=inserted, duplicates=len(rows) - inserted,
                       dead_letters=len(rejections))
