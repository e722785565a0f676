"""The ingest pipeline: every source (MQTT, HJ 212, HTTP, replay) ends here.

Sources ``submit`` (or ``offer``) rows and rejections into a bounded queue (a
full queue blocks the source: backpressure, never a silent drop). A batcher
task cuts the queue into batches of up to ``batch_size`` rows or ``flush_ms``
of waiting (sooner when a source calls :meth:`IngestPipeline.flush`) and hands
each to a writer; up to ``writers`` batches are in flight at once.

Order. Batches insert and commit in the order they were cut: batch *n+1* may
open its transaction and start transferring while batch *n* is being written,
but inserts its rows only once *n* has inserted its own, and commits only once
*n* is committed or spooled (:class:`store.readings.WriteHooks`). Completion
callbacks (``on_done``, ``wait=True``) therefore run in submission order:
the MQTT collector acknowledges messages from them in the order it received
them, and each acknowledgement means "committed or durably spooled".

Database outages. With a :class:`~ingest.spool.Spool`, a batch that cannot be
written because the database is unreachable is appended to the spool (fsynced)
and completed; so is every later batch while the spool holds anything, and a
replay task writes the spool back in order, retrying with jittered backoff
until the database answers. When the spool has drained, batches go straight to
the database again. When the spool is full, appends wait and the queue fills:
the sources are blocked. Without a spool, a batch is retried in place (the
queue fills and the sources slow down).

A batch the database refuses for another reason is split until the offending
rows are found; those are dead-lettered, the rest stored.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from psycopg_pool import AsyncConnectionPool

from ecowarn.config.registry import Registry
from ecowarn.core.aio import Backoff
from ecowarn.ingest._timing import ArrivalWatch
from ecowarn.ingest.spool import Spool, SpoolBatch, SpoolError
from ecowarn.store import StoreError, StoreUnavailable
from ecowarn.store.gate import DatabaseGate
from ecowarn.store.identity import DatabaseIdentity, pool_identity
from ecowarn.store.model import Rejection, Row
from ecowarn.store.readings import WriteHooks, WriteResult, write_batch

__all__ = ["GC_GEN0_THRESHOLD", "IngestMetrics", "IngestPipeline", "item_cost", "tune_gc"]

log = logging.getLogger(__name__)

# Retry delays when the database is unavailable; tests shrink them.
RETRY_INITIAL_S = 0.5
RETRY_MAX_S = 15.0

OnDone = Callable[[], object]

GC_GEN0_THRESHOLD = 50_000
_gc_tuned = False


def tune_gc(gen0_threshold: int = GC_GEN0_THRESHOLD) -> None:
    """Fit the cyclic garbage collector to ingest; call once at start, from the composition root.

    Ingest allocates millions of short-lived tuples (rows, messages), each a GC
    "container", while up to ``INGEST_QUEUE_SIZE`` rows stay alive in the queue:
    with the default threshold (700 allocations) collections took about a quarter
    of the ingest CPU (docs/performance.md). Objects alive at the first call
    (modules, registry) are frozen out of collection, and young collections run
    every ``gen0_threshold`` allocations. Reference counting still frees non-cyclic
    garbage at once; only cycle detection runs less often.
    """
    global _gc_tuned
    if _gc_tuned:  # a process-wide setting: once is enough
        return
    _gc_tuned = True
    gc.freeze()
    _, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(gen0_threshold, gen1, gen2)

_LAG_BUCKETS_S = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600)


class IngestMetrics:
    """Prometheus metrics of ingestion, registered on the given registry."""

    def __init__(self, registry: CollectorRegistry, *, late_after_s: float = 3900.0) -> None:
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
            "ecowarn_write_latency_seconds",
            "Time to write one batch (transaction open to commit, waits for earlier batches included)",
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
        self.ingest_lag = Histogram(
            "ecowarn_ingest_lag_seconds",
            "Arrival to commit of the oldest input of each committed batch (spool time included)",
            buckets=_LAG_BUCKETS_S, registry=registry)
        self.spooled = Counter("ecowarn_ingest_spooled_rows_total",
                               "Rows written to the spool because the database was unreachable",
                               registry=registry)
        # Delay, lateness, order and clock skew of arrivals (device kinds bound by the pipeline).
        self.arrivals = ArrivalWatch(registry, {}, late_after_s=late_after_s)


# What one rejection weighs in the budget besides its own unit: one unit per KiB of payload
# (a dead-letter keeps the raw input, which may be far larger than a row).
_REJECTION_UNIT_BYTES = 1024


def item_cost(rows: Sequence[Row], rejections: Sequence[Rejection]) -> int:
    """Budget units an input holds while it waits: one per row, one per rejection plus one
    per KiB of its payload, and at least one (an input without rows still holds memory)."""
    cost = len(rows)
    for rej in rejections:
        cost += 1 + len(rej.payload) // _REJECTION_UNIT_BYTES
    return max(1, cost)


class _RowBudget:
    """Bounds what waits in the queue or is being written, in :func:`item_cost` units (one per
    row); every input costs at least one unit. An item larger than the bound waits for an
    empty queue."""

    def __init__(self, capacity: int) -> None:
        self._capacity = capacity
        self._used = 0
        self._waiting = 0
        self._cond = asyncio.Condition()

    @property
    def used(self) -> int:
        return self._used

    def try_acquire(self, n: int) -> bool:
        if self._waiting == 0 and self._fits(n):
            self._used += n
            return True
        return False

    def _fits(self, n: int) -> bool:
        return self._used == 0 or self._used + n <= self._capacity

    async def acquire(self, n: int) -> None:
        if self.try_acquire(n):
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
    arrived: float  # epoch seconds
    queued: float  # monotonic seconds (flush_ms counts from here)
    cost: int  # budget units held until the item's batch is resolved (item_cost)
    done: asyncio.Future[None] | None = None
    on_done: OnDone | None = None


class _Divert(Exception):
    """An earlier batch went to the spool: this one must follow it there."""


@dataclass(eq=False)
class _Batch:
    seq: int
    items: list[_Item]
    prev: _Batch | None
    rows: list[Row] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)
    inserted: asyncio.Event = field(default_factory=asyncio.Event)
    resolved: asyncio.Event = field(default_factory=asyncio.Event)


@dataclass(slots=True)
class _Stats:
    committed_rows: int = 0
    committed_batches: int = 0
    last_commit_wall: float | None = None
    spooled_batches: int = 0
    replayed_batches: int = 0


class IngestPipeline:
    """Bounded queue + ordered batch writers (+ optional spool). An async context manager."""

    def __init__(self, pool: AsyncConnectionPool[Any], registry: Registry,
                 metrics: IngestMetrics, *, batch_size: int = 5000, flush_ms: int = 100,
                 queue_rows: int = 200_000,
                 on_commit: Callable[[WriteResult], Awaitable[None] | None] | None = None,
                 spool: Spool | None = None, writers: int = 2,
                 close_timeout_s: float = 10.0, gate: DatabaseGate | None = None) -> None:
        if writers < 1:
            raise ValueError("writers must be at least 1")
        self._pool = pool
        self._registry = registry
        self._metrics = metrics
        self._batch_size = batch_size
        self._flush_s = flush_ms / 1000.0
        self._queue: deque[_Item] = deque()
        self._queued_rows = 0  # rows in the queue, not yet cut into a batch
        self._held_rows = 0  # rows queued or being written
        self._budget = _RowBudget(queue_rows)
        self._nonempty = asyncio.Event()
        self._batch_ready = asyncio.Event()
        self._on_commit = on_commit
        self._spool = spool
        self._spool_broken = False
        # Closed until the database answered and was migrated: batches are spooled (or kept).
        self._gate = gate
        # Each in-flight batch holds a pool connection; leave one for everything else.
        self._writers = max(1, min(writers, pool.max_size - 1)) if pool.max_size > 1 else 1
        self._slots = asyncio.Semaphore(self._writers)
        self._arrivals = metrics.arrivals
        self._arrivals.devices = registry.devices
        self._unresolved = 0
        self._in_flight = 0  # batches being written
        self._progress = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._seq = 0
        self._close_timeout_s = close_timeout_s
        self.stats = _Stats()
        self.db_state = "unknown"

    async def __aenter__(self) -> IngestPipeline:
        self._task = asyncio.create_task(self._run(), name="ingest-writer")
        return self

    async def __aexit__(self, *exc: object) -> None:
        try:
            await self.drain(timeout_s=self._close_timeout_s)
        except TimeoutError:
            log.warning("ingest pipeline stopped with %d inputs not yet committed%s",
                        self._unresolved,
                        f" and {self._spool.pending_records} spooled batches not yet replayed"
                        if self._spool is not None and self._spool.pending_records else "")
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(self._task, timeout=5.0)
            self._task = None

    # -- sources -----------------------------------------------------------------------

    def _enqueue(self, item: _Item) -> None:
        self._queue.append(item)
        self._queued_rows += len(item.rows)
        self._held_rows += len(item.rows)
        self._unresolved += 1
        self._arrivals.observe(item.rows, item.arrived)
        self._nonempty.set()
        if self._queued_rows >= self._batch_size:
            self._batch_ready.set()

    def offer(self, rows: Sequence[Row], rejections: Sequence[Rejection] = (),
              on_done: OnDone | None = None) -> bool:
        """Queue without waiting if there is room; False (nothing queued) when the queue is full.

        ``on_done`` is called, in submission order, once the input is committed
        or durably spooled; it is not called if the input could not be stored
        (the source then must not acknowledge it).
        """
        if not rows and not rejections and on_done is None:
            return True
        cost = item_cost(rows, rejections)
        if not self._budget.try_acquire(cost):
            return False
        self._enqueue(_Item(rows, rejections, time.time(), time.monotonic(), cost, None, on_done))
        return True

    async def submit(self, rows: Sequence[Row], rejections: Sequence[Rejection] = (),
                     *, wait: bool = False, on_done: OnDone | None = None) -> None:
        """Queue rows and rejections; with ``wait``, return only after they are stored.

        Blocks while the queue is full (backpressure). "Stored" means committed,
        or durably spooled while the database is unreachable.
        """
        if not rows and not rejections and on_done is None:
            return
        cost = item_cost(rows, rejections)
        await self._budget.acquire(cost)
        fut: asyncio.Future[None] | None = None
        if wait:
            fut = asyncio.get_running_loop().create_future()
        self._enqueue(_Item(rows, rejections, time.time(), time.monotonic(), cost, fut, on_done))
        if fut is not None:
            await fut

    def flush(self, *, if_idle: bool = False) -> None:
        """Cut a batch from what is queued now, without waiting for ``flush_ms``.

        With ``if_idle``, only when no batch is being written (its completion will
        make room for more input anyway).
        """
        if self._queue and not (if_idle and self._in_flight):
            self._batch_ready.set()

    async def drain(self, timeout_s: float | None = None) -> None:
        """Wait until everything submitted so far is committed, spool included ("burst" processing)."""
        async with asyncio.timeout(timeout_s):
            while self._unresolved or (self._spool is not None and self._spool.pending_records):
                self._progress.clear()
                await self._progress.wait()

    @property
    def queued_rows(self) -> int:
        """Rows queued or being written."""
        return self._held_rows

    # -- batching ----------------------------------------------------------------------

    async def _next_batch(self) -> list[_Item]:
        while not self._queue:
            self._nonempty.clear()
            await self._nonempty.wait()
        # flush_ms counts from the oldest item's arrival: items that queued while every
        # writer was busy do not wait a second time.
        deadline = self._queue[0].queued + self._flush_s
        while self._queued_rows < self._batch_size and not self._batch_ready.is_set():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(remaining):  # not wait_for: see detectors.runner
                    await self._batch_ready.wait()
        self._batch_ready.clear()
        items: list[_Item] = []
        n_rows = 0
        queue = self._queue
        while queue and (n_rows < self._batch_size or not items):
            item = queue.popleft()
            items.append(item)
            n_rows += len(item.rows)
        self._queued_rows -= n_rows
        if self._queued_rows >= self._batch_size:
            self._batch_ready.set()
        return items

    async def _run(self) -> None:
        async with asyncio.TaskGroup() as tg:
            if self._spool is not None:
                tg.create_task(self._replay_loop(), name="ingest-spool-replay")
            prev: _Batch | None = None
            while True:
                await self._slots.acquire()
                try:
                    items = await self._next_batch()
                except BaseException:
                    self._slots.release()
                    raise
                self._seq += 1
                batch = _Batch(self._seq, items, prev)
                for it in items:
                    batch.rows.extend(it.rows)
                    batch.rejections.extend(it.rejections)
                self._metrics.queue_depth.set(self._held_rows)
                self._in_flight += 1
                tg.create_task(self._write(batch), name=f"ingest-batch-{batch.seq}")
                prev = batch

    # -- writing -----------------------------------------------------------------------

    def _spooling(self) -> bool:
        spool = self._spool
        return spool is not None and spool.pending_records > 0 and not self._spool_broken

    async def _after_prev(self, b: _Batch) -> None:
        """Wait until the previous batch is committed or spooled."""
        prev = b.prev
        if prev is not None:
            await prev.resolved.wait()
            b.prev = None

    async def _after_prev_inserted(self, b: _Batch) -> None:
        prev = b.prev
        if prev is not None:
            await prev.inserted.wait()

    async def _commit_gate(self, b: _Batch) -> None:
        await self._after_prev(b)
        if self._spooling():
            raise _Divert

    async def _write(self, b: _Batch) -> None:
        try:
            await self._write_inner(b)
        except asyncio.CancelledError:
            raise
        except Exception:
            # A bug, not a data problem: leave the inputs unacknowledged (MQTT redelivers them).
            log.exception("batch %d of %d rows could not be stored", b.seq, len(b.rows))
            await self._after_prev(b)
            self._complete(b, RuntimeError("batch could not be stored"))
        finally:
            for it in b.items:  # cancelled (shutdown): release anyone waiting
                if it.done is not None and not it.done.done():
                    it.done.cancel()
            b.inserted.set()
            b.resolved.set()
            b.prev = None
            self._in_flight -= 1
            self._slots.release()
            self._held_rows -= len(b.rows)
            await self._budget.release(sum(it.cost for it in b.items))
            self._metrics.queue_depth.set(self._held_rows)
            self._progress.set()

    async def _write_inner(self, b: _Batch) -> None:
        if not b.rows and not b.rejections:  # acknowledgements only
            await self._after_prev(b)
            self._complete(b, None)
            return
        if self._spooling():
            await self._after_prev(b)
            if await self._to_spool(b):
                return
        hooks = WriteHooks(before_insert=lambda: self._after_prev_inserted(b),
                           after_insert=b.inserted.set,
                           before_commit=lambda: self._commit_gate(b))
        backoff = Backoff(RETRY_INITIAL_S, RETRY_MAX_S)
        while True:
            t0 = time.perf_counter()
            try:
                result = await self._store(b.rows, b.rejections, hooks)
            except _Divert:
                if await self._to_spool(b):
                    return
                continue
            except StoreUnavailable as exc:
                self._unavailable(exc)
                await self._after_prev(b)
                if self._spool is not None and await self._to_spool(b):
                    return
                delay = backoff.next_s()
                log.warning("database unavailable, keeping %d rows and retrying in %.1f s",
                            len(b.rows), delay)
                await asyncio.sleep(delay)
                continue
            except StoreError as exc:
                self._metrics.db_errors.labels("refused").inc()
                log.warning("batch %d refused (%s); splitting it to find the bad rows", b.seq, exc)
                # The next batch inserts only once this one resolves: the halves written
                # here must not wait on its uncommitted rows while it waits on us.
                await self._after_prev(b)
                try:
                    result = await self._bisect(b.rows, b.rejections, exc)
                except StoreUnavailable as exc2:
                    self._unavailable(exc2)
                    if self._spool is not None and await self._to_spool(b):
                        return
                    await backoff.sleep()
                    continue
            break
        self._metrics.write_latency.observe(time.perf_counter() - t0)
        await self._committed(b.rows, b.rejections, result, b.items[0].arrived)
        self._complete(b, None)

    def _unavailable(self, exc: Exception) -> None:
        if self.db_state != "unavailable":
            log.warning("database unavailable (%s); %s", exc,
                        "spooling to disk" if self._spool is not None else "retrying")
        self.db_state = "unavailable"
        self._metrics.db_errors.labels("unavailable").inc()

    async def _to_spool(self, b: _Batch) -> bool:
        """Append the batch to the spool and complete it; False if the spool cannot take it."""
        assert self._spool is not None
        try:
            await self._spool.append(SpoolBatch(b.items[0].arrived, b.rows, b.rejections))
        except (SpoolError, OSError) as exc:
            if not self._spool_broken:
                log.error("cannot spool to %s (%s); keeping batches in memory and retrying the"
                          " database instead", self._spool.directory, exc)
            self._spool_broken = True
            self._metrics.db_errors.labels("spool").inc()
            return False
        self._spool_broken = False
        self._metrics.spooled.inc(len(b.rows))
        self.stats.spooled_batches += 1
        self._complete(b, None)
        return True

    def _complete(self, b: _Batch, error: BaseException | None) -> None:
        for it in b.items:
            if error is None and it.on_done is not None:
                try:
                    it.on_done()
                except Exception:
                    log.exception("ingest completion callback failed")
            if it.done is not None and not it.done.done():
                if error is None:
                    it.done.set_result(None)
                else:
                    it.done.set_exception(error)
        self._unresolved -= len(b.items)

    async def _committed(self, rows: Sequence[Row], rejections: Sequence[Rejection],
                         result: WriteResult, arrived: float) -> None:
        self.db_state = "ok"
        self._metrics.batch_rows.observe(len(rows))
        self._metrics.ingest_lag.observe(max(0.0, time.time() - arrived))
        self.stats.committed_rows += result.inserted
        self.stats.committed_batches += 1
        self.stats.last_commit_wall = time.time()
        self._count(rows, rejections, result)
        if self._on_commit is not None:
            ret = self._on_commit(result)
            if ret is not None:
                await ret

    async def _replay_loop(self) -> None:
        """Write spooled batches back in order, waiting out the outage."""
        spool = self._spool
        assert spool is not None
        confirmed = spool.database is None  # an unbound spool is not checked
        while True:
            chunk = await spool.read(max_rows=self._batch_size)
            if not confirmed:
                # Before the first replay, make sure the batches are for the database that
                # answers now (a spool of another one is moved aside, never written here).
                confirmed = True
                if not await spool.confirm(await self._live_identity()):
                    self._progress.set()
                    continue
            rows = [r for bt in chunk.batches for r in bt.rows]
            rejections = [r for bt in chunk.batches for r in bt.rejections]
            backoff = Backoff(RETRY_INITIAL_S, RETRY_MAX_S)
            while True:
                t0 = time.perf_counter()
                try:
                    result = await self._write_splitting(rows, rejections)
                    break
                except StoreUnavailable as exc:
                    self._unavailable(exc)
                    await backoff.sleep()
            self._metrics.write_latency.observe(time.perf_counter() - t0)
            await spool.consume(chunk)
            self.stats.replayed_batches += chunk.records
            if spool.pending_records == 0:
                log.info("spool replayed; writing to the database directly again")
            await self._committed(rows, rejections, result, chunk.batches[0].arrived)
            self._progress.set()

    async def _live_identity(self) -> DatabaseIdentity:
        backoff = Backoff(RETRY_INITIAL_S, RETRY_MAX_S)
        while True:
            try:
                return await pool_identity(self._pool)
            except StoreUnavailable as exc:
                self._unavailable(exc)
                await backoff.sleep()

    async def _store(self, rows: Sequence[Row], rejections: Sequence[Rejection],
                     hooks: WriteHooks | None = None) -> WriteResult:
        """One batch into the database; unavailable while the gate is closed (not yet migrated)."""
        if self._gate is not None and not self._gate.ready:
            raise StoreUnavailable("the database has not answered since the service started")
        if hooks is None:
            return await write_batch(self._pool, rows, rejections)
        return await write_batch(self._pool, rows, rejections, hooks)

    async def _write_splitting(self, rows: Sequence[Row],
                               rejections: Sequence[Rejection]) -> WriteResult:
        """Write; on a non-transient refusal, bisect to isolate and dead-letter bad rows."""
        try:
            return await self._store(rows, rejections)
        except StoreUnavailable:
            raise
        except StoreError as exc:
            self._metrics.db_errors.labels("refused").inc()
            return await self._bisect(rows, rejections, exc)

    async def _bisect(self, rows: Sequence[Row], rejections: Sequence[Rejection],
                      exc: StoreError) -> WriteResult:
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

    def _count(self, rows: Sequence[Row], rejections: Sequence[Rejection],
               result: WriteResult) -> None:
        by_kind: dict[str, int] = {}
        devices = self._registry.devices
        last_dev, last_kind = "", "unknown"
        for r in rows:
            if r.device_id != last_dev:
                dev = devices.get(r.device_id)
                last_dev, last_kind = r.device_id, (dev.kind if dev is not None else "unknown")
            by_kind[last_kind] = by_kind.get(last_kind, 0) + 1
        total = len(rows) or 1
        for kind, n in by_kind.items():
            # Duplicates are apportioned by kind; exact per kind in the common single-kind batch.
            dup = round(result.duplicates * n / total)
            self._metrics.ingested.labels(kind).inc(n - dup)
            if dup:
                self._metrics.duplicates.labels(kind).inc(dup)
        for rej in rejections:
            self._metrics.rejected.labels(rej.source, rej.reason).inc()
