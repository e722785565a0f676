"""The ingest pipeline: every source (MQTT, HJ 212, HTTP, replay) ends here.

Sources ``submit`` rows and rejections into a bounded queue (a full queue blocks
the source: backpressure, never a silent drop). One writer task drains the queue
into batches of up to ``batch_size`` rows or ``flush_ms`` of waiting and commits
each batch with :func:`store.readings.write_batch`. When the database is down
the batch is kept and retried with jittered backoff, so the queue fills and the
sources slow down. A batch the database refuses for another reason is split
until the offending rows are found; those are dead-lettered, the rest stored.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from psycopg_pool import AsyncConnectionPool

from config.registry import Registry
from ingest.model import Rejection, Row
from store import StoreError, StoreUnavailable
from store.readings import WriteResult, write_batch

__all__ = ["IngestMetrics", "IngestPipeline"]

log = logging.getLogger(__name__)

# Retry delays when the database is unavailable; tests shrink them.
RETRY_INITIAL_S = 0.5
RETRY_MAX_S = 15.0


class IngestMetrics:
    """Prometheus metrics of ingestion, registered on the given registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.ingested = Counter("ecowarn_readings_ingested_total",
                                "Values stored (new rows), by device kind", ["kind"],
                                registry=registry)
        self.duplicates = Counter("ecowarn_readings_duplicate_total",
                                  "Values already stored (redelivered), by device kind", ["kind"],
                                  registry=registry)
        self.rejected = Counter("ecowarn_readings_rejected_total",
                                "Inputs dead-lettered, by source and reason", ["source", "reason"],
                                registry=registry)
        self.write_latency = Histogram(
            "ecowarn_write_latency_seconds", "Time to commit one batch",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=registry)
        self.batch_rows = Histogram(
            "ecowarn_write_batch_rows", "Rows per committed batch",
            buckets=(1, 10, 100, 500, 1000, 2500, 5000, 10000, 25000), registry=registry)
        self.queue_depth = Gauge("ecowarn_ingest_queue_rows", "Rows waiting to be written",
                                 registry=registry)
        self.db_errors = Counter("ecowarn_write_errors_total",
                                 "Failed batch writes, by kind of failure", ["kind"],
                                 registry=registry)


class _RowBudget:
    """Bounds the rows waiting in the queue; an item larger than the bound waits for an empty queue."""

    def __init__(self, capacity: int) -> None:
        self._capacity = capacity
        self._used = 0
        self._waiting = 0
        self._cond = asyncio.Condition()

    @property
    def used(self) -> int:
        return self._used

    def _fits(self, n: int) -> bool:
        return self._used == 0 or self._used + n <= self._capacity

    async def acquire(self, n: int) -> None:
        if self._fits(n):  # fast path: no await between the check and the update
            self._used += n
            return
        self._waiting += 1
        try:
            async with self._cond:
                await self._cond.wait_for(lambda: self._fits(n))
                self._used += n
        finally:
            self._waiting -= 1

    async def release(self, n: int) -> None:
        self._used -= n
        if self._waiting:  # skip the lock when nobody waits
            async with self._cond:
                self._cond.notify_all()


@dataclass(slots=True)
class _Item:
    rows: Sequence[Row]
    rejections: Sequence[Rejection]
    done: asyncio.Future[None] | None = None


@dataclass(slots=True)
class _Stats:
    committed_rows: int = 0
    committed_batches: int = 0
    last_commit_wall: float | None = None
    seen_rows: int = field(default=0)


class IngestPipeline:
    """Bounded queue + batch writer. An async context manager owning its writer task."""

    def __init__(self, pool: AsyncConnectionPool[Any], registry: Registry,
                 metrics: IngestMetrics, *, batch_size: int = 5000, flush_ms: int = 100,
                 queue_rows: int = 200_000,
                 on_commit: Callable[[WriteResult], Awaitable[None] | None] | None = None) -> None:
        self._pool = pool
        self._registry = registry
        self._metrics = metrics
        self._batch_size = batch_size
        self._flush_s = flush_ms / 1000.0
        # The queue holds items; the rows in them are bounded through _budget.
        self._queue: asyncio.Queue[_Item] = asyncio.Queue()
        self._budget = _RowBudget(queue_rows)
        self._batch_ready = asyncio.Event()
        self._on_commit = on_commit
        self._task: asyncio.Task[None] | None = None
        self.stats = _Stats()
        self.db_state = "unknown"

    async def __aenter__(self) -> IngestPipeline:
        self._task = asyncio.create_task(self._run(), name="ingest-writer")
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.drain(timeout_s=10.0)
        if self._task is not None:
            self._task.cancel()
            try:
                await asyncio.wait_for(self._task, timeout=5.0)
            except (asyncio.CancelledError, TimeoutError):
                pass
            self._task = None

    async def submit(self, rows: Sequence[Row], rejections: Sequence[Rejection] = (),
                     *, wait: bool = False) -> None:
        """Queue rows and rejections; with ``wait``, return only after they are committed.

        Blocks while the queue is full (backpressure).
        """
        if not rows and not rejections:
            return
        await self._budget.acquire(len(rows))
        if self._budget.used >= self._batch_size:
            self._batch_ready.set()
        fut: asyncio.Future[None] | None = None
        if wait:
            fut = asyncio.get_running_loop().create_future()
        await self._queue.put(_Item(rows, rejections, fut))
        if fut is not None:
            await fut

    async def drain(self, timeout_s: float | None = None) -> None:
        """Wait until everything submitted so far is committed ("burst" processing)."""
        await asyncio.wait_for(self._queue.join(), timeout=timeout_s)

    async def _run(self) -> None:
        while True:
            first = await self._queue.get()
            items = [first]
            n_rows = len(first.rows)
            deadline = time.monotonic() + self._flush_s
            while True:
                while n_rows < self._batch_size:
                    try:
                        item = self._queue.get_nowait()
                    except asyncio.QueueEmpty:
                        break
                    items.append(item)
                    n_rows += len(item.rows)
                remaining = deadline - time.monotonic()
                if n_rows >= self._batch_size or remaining <= 0:
                    break
                # One timed wait per batch (not per item): submit() sets the event once
                # enough rows are queued to fill a batch.
                self._batch_ready.clear()
                try:
                    await asyncio.wait_for(self._batch_ready.wait(), timeout=remaining)
                except TimeoutError:
                    pass
            self._metrics.queue_depth.set(self._budget.used)
            rows = [r for it in items for r in it.rows]
            rejections = [r for it in items for r in it.rejections]
            error: BaseException | None = None
            try:
                await self._commit(rows, rejections)
            except Exception as exc:
                log.exception("batch of %d rows could not be written", len(rows))
                error = exc
            finally:
                for it in items:
                    await self._budget.release(len(it.rows))
                    if it.done is not None and not it.done.done():
                        if error is None:
                            it.done.set_result(None)
                        else:
                            it.done.set_exception(error)
                    self._queue.task_done()
                self._metrics.queue_depth.set(self._budget.used)

    async def _commit(self, rows: list[Row], rejections: list[Rejection]) -> None:
        delay = RETRY_INITIAL_S
        while True:
            t0 = time.perf_counter()
            try:
                result = await self._write_splitting(rows, rejections)
            except StoreUnavailable as exc:
                self.db_state = "unavailable"
                self._metrics.db_errors.labels("unavailable").inc()
                log.warning("database unavailable, keeping %d rows and retrying in %.1f s: %s",
                            len(rows), delay, exc)
                await asyncio.sleep(delay * (0.5 + random.random()))
                delay = min(delay * 2, RETRY_MAX_S)
                continue
            self.db_state = "ok"
            self._metrics.write_latency.observe(time.perf_counter() - t0)
            break
        self._metrics.batch_rows.observe(len(rows))
        self.stats.committed_rows += result.inserted
        self.stats.committed_batches += 1
        self.stats.last_commit_wall = time.time()
        self._count(rows, rejections, result)
        if self._on_commit is not None:
            ret = self._on_commit(result)
            if ret is not None:
                await ret

    async def _write_splitting(self, rows: list[Row], rejections: list[Rejection]) -> WriteResult:
        """Write; on a non-transient refusal, bisect to isolate and dead-letter bad rows."""
        try:
            return await write_batch(self._pool, rows, rejections)
        except StoreUnavailable:
            raise
        except StoreError as exc:
            self._metrics.db_errors.labels("refused").inc()
            if len(rows) <= 1:
                bad = [Rejection(source="store", reason="store_refused", detail=str(exc),
                                 payload=repr(tuple(rows[0])).encode() if rows else b"",
                                 device_id=rows[0].device_id if rows else None)]
                log.error("row refused by the database, dead-lettered: %s", exc)
                return await write_batch(self._pool, [], [*rejections, *bad])
            mid = len(rows) // 2
            a = await self._write_splitting(rows[:mid], list(rejections))
            b = await self._write_splitting(rows[mid:], [])
            return WriteResult(inserted=a.inserted + b.inserted,
                               duplicates=a.duplicates + b.duplicates,
                               dead_letters=a.dead_letters + b.dead_letters)

    def _count(self, rows: list[Row], rejections: list[Rejection], result: WriteResult) -> None:
        by_kind: dict[str, int] = {}
        devices = self._registry.devices
        for r in rows:
            dev = devices.get(r.device_id)
            kind: str = dev.kind if dev is not None else "unknown"
            by_kind[kind] = by_kind.get(kind, 0) + 1
        total = len(rows) or 1
        for kind, n in by_kind.items():
            # Duplicates are apportioned by kind; exact per kind in the common single-kind batch.
            dup = round(result.duplicates * n / total)
            self._metrics.ingested.labels(kind).inc(n - dup)
            if dup:
                self._metrics.duplicates.labels(kind).inc(dup)
        for rej in rejections:
            self._metrics.rejected.labels(rej.source, rej.reason).inc()
