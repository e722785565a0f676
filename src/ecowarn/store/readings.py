"""Batched writes of readings and dead letters.

One batch is one transaction: the rows go into ``readings``, the event-time
span of the new rows is queued per device in ``pending_eval`` for the detector
runner (with a ``NOTIFY`` on :data:`PENDING_CHANNEL`, delivered at commit), and
rejections go to ``dead_letters``. Either all of it is committed or none.

Rows are first binary-COPYed straight into ``readings`` under a savepoint (the
fast path: most batches hold no reading stored before). If that meets a
reading already stored (a redelivery: same device, metric and ts), the savepoint
is rolled back and the batch takes the staged path: COPY into a temporary
staging table, then ``INSERT ... ON CONFLICT (device_id, metric, ts) DO
NOTHING``, so a reading delivered twice is stored once either way.

Concurrent writers coordinate through three optional hooks (see
:class:`WriteHooks`): the ingest pipeline uses them so that batches insert and
commit in the order they were formed while their transfers overlap.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg import errors as pg_errors
from psycopg_pool import AsyncConnectionPool

from ecowarn.store._errors import StoreError, StoreUnavailable
from ecowarn.store.model import Rejection, Row

__all__ = ["WriteHooks", "WriteResult", "write_batch"]

_COLUMNS = "(device_id, metric, ts, value, flag)"
_TYPES = ["text", "text", "timestamptz", "float8", "text"]

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

_PENDING = (
    "INSERT INTO pending_eval (device_id, t_min, t_max)"
    " SELECT * FROM unnest(%s::text[], %s::timestamptz[], %s::timestamptz[])"
)

# Channel of the NOTIFY each committing batch sends, so a detector runner in another
# process (or on another host) starts evaluating at once instead of at its next poll.
PENDING_CHANNEL = "ecowarn_pending"
_NOTIFY = "NOTIFY " + PENDING_CHANNEL

_DEAD = (
    "INSERT INTO dead_letters (source, topic, device_id, reason, detail, payload)"
    " VALUES (%s, %s, %s, %s, %s, %s)"
)


@dataclass(frozen=True, slots=True)
class WriteResult:
    inserted: int      # new rows in readings
    duplicates: int    # rows already stored (redelivery)
    dead_letters: int


async def _no_wait() -> None:
    return None


def _nothing() -> None:
    return None


@dataclass(frozen=True, slots=True)
class WriteHooks:
    """Points in a batch's transaction where a caller may wait or be told.

    ``before_insert`` is awaited before a connection is taken and
    ``after_insert`` called once every row is in (it is not called when the
    insert fails); ``before_commit`` is awaited just before COMMIT and may raise
    to abandon the batch (the transaction is rolled back and the exception
    propagates unchanged).
    """

    before_insert: Callable[[], Awaitable[None]] = _no_wait
    after_insert: Callable[[], None] = _nothing
    before_commit: Callable[[], Awaitable[None]] = _no_wait


_NO_HOOKS = WriteHooks()


def _spans(rows: Sequence[Row]) -> tuple[list[str], list[datetime], list[datetime]]:
    lo: dict[str, datetime] = {}
    hi: dict[str, datetime] = {}
    for r in rows:
        d, ts = r.device_id, r.ts
        cur = lo.get(d)
        if cur is None:
            lo[d] = hi[d] = ts
        elif ts < cur:
            lo[d] = ts
        elif ts > hi[d]:
            hi[d] = ts
    devices = list(lo)
    return devices, [lo[d] for d in devices], [hi[d] for d in devices]


async def _copy_rows(cur: psycopg.AsyncCursor[Any], table: str, rows: Sequence[Row]) -> None:
    async with cur.copy(f"COPY {table} {_COLUMNS} FROM STDIN (FORMAT BINARY)") as copy:
        copy.set_types(_TYPES)
        for row in rows:
            await copy.write_row(row)


async def write_batch(pool: AsyncConnectionPool[Any], rows: Sequence[Row],
                      rejections: Sequence[Rejection] = (),
                      hooks: WriteHooks = _NO_HOOKS) -> WriteResult:
    """Commit ``rows`` and ``rejections`` in one transaction.

    Raises :class:`StoreUnavailable` when the database cannot be reached (the
    caller keeps the batch and retries) and :class:`StoreError` otherwise.
    """
    await hooks.before_insert()
    try:
        async with pool.connection() as conn, conn.transaction():
            inserted = 0
            fast = False
            async with conn.cursor() as cur:
                if rows:
                    try:
                        async with conn.transaction():  # savepoint for the fast path
                            await _copy_rows(cur, "readings", rows)
                        inserted = len(rows)
                        fast = True
                    except pg_errors.UniqueViolation:
                        fast = False
                    if not fast:
                        await cur.execute(_STAGE_DDL)
                        await _copy_rows(cur, "readings_stage", rows)
                        await cur.execute(_MOVE)
                        res = await cur.fetchone()
                        assert res is not None
                        inserted = int(res[0])
                hooks.after_insert()
                if fast:  # the staged path queued the spans of what it inserted
                    await cur.execute(_PENDING, _spans(rows))
                if inserted:
                    await cur.execute(_NOTIFY)  # delivered at commit
                if rejections:
                    await cur.executemany(_DEAD, [
                        (r.source, r.topic, r.device_id, r.reason, r.detail, r.payload)
                        for r in rejections
                    ])
            await hooks.before_commit()
    except psycopg.OperationalError as exc:
        raise StoreUnavailable(f"database unavailable: {exc}") from exc
    except psycopg.Error as exc:
        raise StoreError(f"batch write failed: {exc}") from exc
    return WriteResult(inserted=inserted, duplicates=len(rows) - inserted,
                       dead_letters=len(rejections))
