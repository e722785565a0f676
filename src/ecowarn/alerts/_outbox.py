"""Claiming and settling rows of a delivery outbox, shared by the warning and notification
dispatchers.

An outbox table has the columns of ``warning_deliveries`` that delivery needs (``id``,
``delivery_id``, ``body``, ``status`` pending | delivered | failed, ``attempts``,
``next_attempt_at``, ``last_status_code``, ``last_error``, ``delivered_at``), and an attempts
table those of ``warning_attempts`` (``delivery``, ``attempt``, ``started_at``,
``duration_ms``, ``status_code``, ``error``).

Claiming sets a row's ``next_attempt_at`` a lease ahead and commits before any network I/O,
with ``FOR UPDATE SKIP LOCKED``: a second instance skips the row, no connection is held while
a receiver is slow, and a row whose claimant died is retried when its lease ends. Only the
holder of an attempt's claim settles it (``attempts`` must still match).
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, Protocol, TypeVar

from psycopg import sql
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from ecowarn.alerts.webhook import AttemptResult
from ecowarn.core.aio import backoff_s

__all__ = ["Outbox", "Outcome", "attempt_all", "outcome_of"]


class _Item(Protocol):
    @property
    def delivery_id(self) -> str: ...


_I = TypeVar("_I", bound=_Item)


async def attempt_all(items: Sequence[_I], *, now: datetime, parallel: int, name: str,
                      attempt: Callable[[_I], Awaitable[AttemptResult]],
                      record: Callable[[_I, AttemptResult, datetime, datetime], Awaitable[None]],
                      ) -> int:
    """Attempt each claimed item once, at most ``parallel`` at a time, and record each
    outcome as ``record(item, result, started, at)``; ``at`` is ``now`` plus the time
    spent, so a test's future ``now`` stays consistent. Returns the number attempted."""
    gate = asyncio.Semaphore(parallel)
    wall = datetime.now(UTC)

    async def one(item: _I) -> None:
        async with gate:
            result = await attempt(item)
        await record(item, result, wall, now + (datetime.now(UTC) - wall))

    async with asyncio.TaskGroup() as tg:
        for item in items:
            tg.create_task(one(item), name=f"{name}-{item.delivery_id}")
    return len(items)


@dataclass(frozen=True, slots=True)
class Outcome:
    """What an attempt leaves the row in: ``pending`` again (with its next time), or final."""

    status: Literal["pending", "delivered", "failed"]
    next_attempt_at: datetime
    delivered_at: datetime | None
    delay_s: float = 0.0


def outcome_of(result: AttemptResult, attempt: int, now: datetime, *, max_attempts: int,
               backoff: tuple[float, float], rng: random.Random) -> Outcome:
    """Delivered; failed for good after ``max_attempts``; else pending after the backoff of
    ``attempt`` (longer when the receiver's Retry-After asks, never past the maximum)."""
    if result.ok:
        return Outcome("delivered", now, now)
    if attempt >= max_attempts:
        return Outcome("failed", now, None)
    delay = backoff_s(attempt, *backoff, rng=rng)
    if result.retry_after_s is not None:
        delay = min(max(delay, result.retry_after_s), backoff[1])
    return Outcome("pending", now + timedelta(seconds=delay), None, delay)


class Outbox:
    """One outbox table and its attempts table."""

    def __init__(self, deliveries: str, attempts: str, columns: Sequence[str]) -> None:
        table = sql.Identifier(deliveries)
        cols = sql.SQL(", ").join(sql.SQL("w.{}").format(sql.Identifier(c))
                                  for c in ("id", "delivery_id", "body", "attempts", *columns))
        self._claim = sql.SQL(
            "WITH due AS (SELECT id FROM {table}"
            "  WHERE status = 'pending' AND next_attempt_at <= %(now)s"
            "  ORDER BY next_attempt_at, id LIMIT %(limit)s FOR UPDATE SKIP LOCKED)"
            " UPDATE {table} w SET attempts = w.attempts + 1, next_attempt_at = %(lease_end)s"
            " FROM due WHERE w.id = due.id RETURNING {cols}").format(table=table, cols=cols)
        self._log = sql.SQL(
            "INSERT INTO {} (delivery, attempt, started_at, duration_ms, status_code, error)"
            " VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (delivery, attempt) DO NOTHING"
        ).format(sql.Identifier(attempts))
        self._settle = sql.SQL(
            "UPDATE {} SET status = %s, next_attempt_at = %s, delivered_at = %s,"
            " last_status_code = %s, last_error = %s"
            " WHERE id = %s AND attempts = %s AND status = 'pending'").format(table)

    async def claim(self, pool: AsyncConnectionPool[Any], now: datetime, *, limit: int,
                    lease: timedelta) -> list[dict[str, Any]]:
        """Rows due at ``now``, each with its attempt counted and leased; committed."""
        async with pool.connection() as conn, conn.transaction():
            async with conn.cursor(row_factory=dict_row) as cur:
                await cur.execute(self._claim, {"now": now, "limit": limit, "lease_end": now + lease})
                rows: list[dict[str, Any]] = await cur.fetchall()
        return rows

    async def settle(self, pool: AsyncConnectionPool[Any], row_id: int, attempt: int,
                     result: AttemptResult, outcome: Outcome, started: datetime) -> None:
        """Log the attempt and move the row to ``outcome`` (if this attempt still holds it)."""
        async with pool.connection() as conn, conn.transaction():
            await conn.execute(self._log, (row_id, attempt, started, int(result.duration_s * 1000),
                                           result.status_code, result.error))
            await conn.execute(self._settle, (outcome.status, outcome.next_attempt_at,
                                              outcome.delivered_at, result.status_code, result.error,
                                              row_id, attempt))
