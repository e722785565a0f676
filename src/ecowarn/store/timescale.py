"""Refreshing the hourly continuous aggregate where late readings landed (TimescaleDB mode).

The refresh policy of ``readings_hourly`` covers the last 3 days. Readings that arrive
later for their hour are queued, as their ``pending_eval`` span, in
``hourly_refresh_queue`` (trigger of migration 0016's TimescaleDB layer, for spans older
than 2 days). :class:`HourlyRefresher` takes the oldest queued spans, merges them into
hour-aligned windows of at most a day (:func:`refresh_windows`), calls
``refresh_continuous_aggregate`` on each (outside a transaction, as the procedure
requires), then deletes the spans it covered. A run refreshes at most ``max_windows``
windows; the rest is queued again, so a large backfill is spread over several runs. A
failed run leaves the queue as it was (refreshing twice is harmless: only changed
buckets are recomputed). In ``postgresql`` mode ``readings_hourly`` is a view over the
raw rows and :meth:`HourlyRefresher.run` returns at once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool

from ecowarn.store._migrate import StorageMode

__all__ = ["HourlyRefresher", "RefreshPlan", "refresh_windows"]

log = logging.getLogger(__name__)

HOUR = timedelta(hours=1)
# The refresh policy's end_offset: hours younger than this are left to the policy.
END_OFFSET = timedelta(hours=1)
# pg_advisory_lock key shared by every instance ("ecowarn-h"): one refresher at a time.
_LOCK_KEY = 0x65636F7761726E68

Window = tuple[datetime, datetime]
Refresh = Callable[[psycopg.AsyncConnection[Any], datetime, datetime], Awaitable[None]]


def _floor_hour(t: datetime) -> datetime:
    t = t.astimezone(UTC)
    return t.replace(minute=0, second=0, microsecond=0)


@dataclass(frozen=True, slots=True)
class RefreshPlan:
    windows: list[Window]  # to refresh now, oldest first
    rest: list[Window]  # to queue again


def refresh_windows(spans: Sequence[Window], now: datetime, *, max_window: timedelta = timedelta(days=1),
                    max_windows: int = 24) -> RefreshPlan:
    """Hour-aligned windows covering ``spans`` (inclusive event-time spans), merged where they
    touch, cut into pieces of at most ``max_window``, ending no later than the last complete
    hour before ``now`` - 1 h (younger hours are the policy's); the first ``max_windows``
    pieces to refresh now, the others to queue again."""
    limit = _floor_hour(now - END_OFFSET)
    aligned = sorted((_floor_hour(a), min(_floor_hour(b) + HOUR, limit)) for a, b in spans)
    merged: list[list[datetime]] = []
    for start, end in aligned:
        if start >= end:
            continue
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    pieces: list[Window] = []
    for start, end in merged:
        while start < end:
            cut = min(end, start + max_window)
            pieces.append((start, cut))
            start = cut
    return RefreshPlan(pieces[:max_windows], pieces[max_windows:])


async def refresh_hourly(conn: psycopg.AsyncConnection[Any], start: datetime, end: datetime) -> None:
    """``CALL refresh_continuous_aggregate`` on ``readings_hourly`` (``conn`` in autocommit)."""
    await conn.execute("CALL refresh_continuous_aggregate('readings_hourly', %s::timestamptz,"
                       " %s::timestamptz)", (start, end))


class HourlyRefresher:
    """Periodic refresh of the hourly aggregate over late spans; start with :meth:`run`."""

    def __init__(self, pool: AsyncConnectionPool[Any], mode: StorageMode, *,
                 interval_s: float = 300.0, max_spans: int = 1000, max_windows: int = 24,
                 refresh: Refresh = refresh_hourly,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self._pool = pool
        self._mode = mode
        self._interval_s = interval_s
        self._max_spans = max_spans
        self._max_windows = max_windows
        self._refresh = refresh
        self._clock = clock

    async def run(self) -> None:
        """Every ``interval_s``, refresh what is queued (until cancelled); in ``postgresql``
        mode return at once. Errors are logged and the run retried at the next interval."""
        if self._mode != "timescaledb":
            return
        while True:
            try:
                while await self.run_once() == self._max_windows:
                    pass  # a backlog: go on without waiting
            except psycopg.Error as exc:
                log.warning("hourly aggregate refresh failed (%s); retrying in %.0f s",
                            exc, self._interval_s)
            await asyncio.sleep(self._interval_s)

    async def run_once(self) -> int:
        """One bounded run; the number of windows refreshed (0 when another instance runs)."""
        async with self._pool.connection() as conn:
            await conn.set_autocommit(True)
            try:
                cur = await conn.execute("SELECT pg_try_advisory_lock(%s)", (_LOCK_KEY,))
                row = await cur.fetchone()
                if not (row and row[0]):
                    return 0
                try:
                    return await self._run_locked(conn)
                finally:
                    await conn.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_KEY,))
            finally:
                await conn.set_autocommit(False)

    async def _run_locked(self, conn: psycopg.AsyncConnection[Any]) -> int:
        cur = await conn.execute(
            "SELECT id, t_min, t_max FROM hourly_refresh_queue ORDER BY id LIMIT %s",
            (self._max_spans,))
        rows = await cur.fetchall()
        if not rows:
            return 0
        plan = refresh_windows([(r[1], r[2]) for r in rows], self._clock(),
                               max_windows=self._max_windows)
        for start, end in plan.windows:
            await self._refresh(conn, start, end)
        async with conn.transaction():
            await conn.execute("DELETE FROM hourly_refresh_queue WHERE id = ANY(%s)",
                               ([r[0] for r in rows],))
            if plan.rest:
                await conn.cursor().executemany(
                    "INSERT INTO hourly_refresh_queue (t_min, t_max) VALUES (%s, %s)",
                    [(a, b - timedelta(microseconds=1)) for a, b in plan.rest])
        log.info("hourly aggregate refreshed over %d windows from %s to %s%s", len(plan.windows),
                 plan.windows[0][0].isoformat() if plan.windows else "-",
                 plan.windows[-1][1].isoformat() if plan.windows else "-",
                 f"; {len(plan.rest)} windows queued again" if plan.rest else "")
        return len(plan.windows)
