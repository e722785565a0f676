"""The streaming runner: evaluates detectors over event time as readings are committed.

Writers queue the event-time span of every committed batch per device in
``pending_eval``. The runner claims those rows (``FOR UPDATE SKIP LOCKED``, so
several runners can share the work), maps devices to the subjects of each rule
(e.g. a treatment meter to the production units it treats), re-evaluates each
subject over the affected window up to its latest data, and reconciles the
findings into alerts, all in one transaction: if anything fails, the claim rolls
back and the work is retried. Re-evaluation is idempotent, so a restart or late
data never duplicates an alert. After reconciling, alerts that declared maintenance
now covers are retired (see ``detectors._suppress``).

Besides event-time work, the loop runs a periodic sweep (:meth:`DetectorRunner.sweep_silence`)
for evaluators that watch the wall clock (``data_gap``: devices silent since their last
message arrived).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, runtime_checkable

import psycopg
from prometheus_client import CollectorRegistry, Counter, Histogram
from psycopg_pool import AsyncConnectionPool

from alerts.store import AlertDraft, reconcile
from config.registry import Registry
from detectors._suppress import MaintenanceAware, SelfCorrecting, apply_suppression

__all__ = ["BatchAware", "DetectorRunner", "RuleEvaluator", "RunnerMetrics", "SilenceSweeper",
           "SweepResult", "Window"]

log = logging.getLogger(__name__)

# Claimed batches get process-wide numbers (evaluators may serve more than one runner).
_BATCH_IDS = itertools.count(1)


@dataclass(frozen=True, slots=True)
class Window:
    """Event-time span of new data for one subject."""

    t_min: datetime
    t_max: datetime


class RuleEvaluator(Protocol):
    """The I/O side of one rule: which subjects a device touches, and how to evaluate one."""

    rule: str

    def subjects_for(self, device_id: str) -> Iterable[str]: ...

    async def evaluate(self, conn: psycopg.AsyncConnection[Any], subject: str,
                       window: Window) -> tuple[datetime, list[AlertDraft]]:
        """Return the window start actually evaluated and the findings as drafts."""
        ...


@runtime_checkable
class BatchAware(Protocol):
    """An evaluator that wants to look at the database once per claimed batch."""

    async def begin_batch(self, conn: psycopg.AsyncConnection[Any], batch: int) -> None: ...


@dataclass(frozen=True, slots=True)
class SweepResult:
    opened: list[int]
    closed: list[int]


@runtime_checkable
class SilenceSweeper(Protocol):
    """An evaluator that also judges the wall clock (device silence), from the runner's loop."""

    rule: str

    async def sweep(self, conn: psycopg.AsyncConnection[Any], now_s: float) -> SweepResult: ...


class RunnerMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.opened = Counter("ecowarn_alerts_opened_total", "Alerts opened, by rule", ["rule"],
                              registry=registry)
        self.closed = Counter("ecowarn_alerts_closed_total",
                              "Alerts whose condition cleared, by rule", ["rule"],
                              registry=registry)
        self.evaluations = Counter("ecowarn_detector_evaluations_total",
                                   "Subject evaluations, by rule", ["rule"], registry=registry)
        self.batch_seconds = Histogram("ecowarn_detector_batch_seconds",
                                       "Time to evaluate one claimed batch of pending work",
                                       registry=registry)
        self.failures = Counter("ecowarn_detector_failures_total",
                                "Batches that failed and were rolled back", registry=registry)


class DetectorRunner:
    """Owns the evaluation loop; ``run()`` is a task in the service's TaskGroup."""

    def __init__(self, pool: AsyncConnectionPool[Any], registry: Registry,
                 evaluators: list[RuleEvaluator], metrics: RunnerMetrics, *,
                 poll_ms: int = 1000, claim_limit: int = 500, sweep_s: float = 60.0,
                 on_alerts: Callable[[list[int]], None] | None = None) -> None:
        self._pool = pool
        self._registry = registry
        self._evaluators = evaluators
        self._metrics = metrics
        self._poll_s = poll_ms / 1000.0
        # One claim is one transaction holding an advisory lock per (rule, subject): a claim
        # of thousands of devices overflowed PostgreSQL's shared lock table (64 locks per
        # connection by default) and rolled back whole (docs/performance.md).
        self._claim_limit = claim_limit
        self._wake = asyncio.Event()
        self._on_alerts = on_alerts
        self._sweep_s = sweep_s
        self._next_sweep = 0.0  # monotonic time of the next silence sweep
        self.last_run_wall: float | None = None

    def wake(self) -> None:
        """Tell the runner that new data was committed."""
        self._wake.set()

    async def run(self) -> None:
        failures = 0
        while True:
            try:
                while await self.run_once():
                    pass
                failures = 0
            except (psycopg.Error, OSError) as exc:
                failures += 1
                self._metrics.failures.inc()
                log.warning("detector batch failed (%s); retrying", exc)
                await asyncio.sleep(min(30.0, 0.5 * 2 ** min(failures, 6)))
                continue
            self.last_run_wall = time.time()
            if time.monotonic() >= self._next_sweep:
                self._next_sweep = time.monotonic() + self._sweep_s
                try:
                    await self.sweep_silence()
                except (psycopg.Error, OSError) as exc:
                    self._metrics.failures.inc()
                    log.warning("silence sweep failed (%s); retrying at the next sweep", exc)
            try:
                timeout = max(0.0, min(self._poll_s, self._next_sweep - time.monotonic()))
                # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation
                # that arrives as the event is set, and shutdown would then hang.
                async with asyncio.timeout(timeout):
                    await self._wake.wait()
            except TimeoutError:
                pass
            self._wake.clear()

    async def drain(self) -> int:
        """Process pending work until none is left ("burst"); return pending rows handled."""
        total = 0
        while True:
            n = await self.run_once()
            if n == 0:
                return total
            total += n

    async def run_once(self) -> int:
        """Claim one batch of pending work and evaluate it in one transaction.

        Returns the number of pending rows claimed (0 when there was nothing to do).
        """
        t0 = time.perf_counter()
        opened_all: list[int] = []
        async with self._pool.connection() as conn, conn.transaction():
            cur = await conn.execute(
                "DELETE FROM pending_eval WHERE id IN ("
                " SELECT id FROM pending_eval ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED)"
                " RETURNING device_id, t_min, t_max",
                (self._claim_limit,),
            )
            claimed = await cur.fetchall()
            if not claimed:
                return 0
            work: dict[tuple[int, str], Window] = {}
            for device_id, t_min, t_max in claimed:
                for i, ev in enumerate(self._evaluators):
                    for subject in ev.subjects_for(device_id):
                        w = work.get((i, subject))
                        work[(i, subject)] = Window(t_min, t_max) if w is None else Window(
                            min(w.t_min, t_min), max(w.t_max, t_max))
            batch = next(_BATCH_IDS)
            for ev in self._evaluators:
                if isinstance(ev, BatchAware):
                    await ev.begin_batch(conn, batch)
            for (i, subject), window in sorted(work.items(), key=lambda kv: (kv[0][0], kv[0][1])):
                ev = self._evaluators[i]
                window_start, drafts = await ev.evaluate(conn, subject, window)
                res = await reconcile(conn, ev.rule, subject, drafts, window_start)
                if isinstance(ev, MaintenanceAware):
                    covering = await ev.maintenance_windows(conn, subject, window_start)
                    await apply_suppression(conn, ev.rule, subject, window_start, res, covering,
                                            drafts)
                if isinstance(ev, SelfCorrecting):
                    await ev.retire_unconfirmed(conn, subject, window_start, res, drafts)
                self._metrics.evaluations.labels(ev.rule).inc()
                if res.opened:
                    self._metrics.opened.labels(ev.rule).inc(len(res.opened))
                    opened_all.extend(res.opened)
                if res.closed:
                    self._metrics.closed.labels(ev.rule).inc(len(res.closed))
        self._metrics.batch_seconds.observe(time.perf_counter() - t0)
        if opened_all:
            log.info("opened alerts %s", opened_all)
            if self._on_alerts is not None:
                self._on_alerts(opened_all)
        return len(claimed)

    async def sweep_silence(self, now_s: float | None = None) -> SweepResult:
        """Run every wall-clock sweeper once (``now_s``: wall-clock epoch seconds, default now)."""
        now = time.time() if now_s is None else now_s
        opened: list[int] = []
        closed: list[int] = []
        for ev in self._evaluators:
            if not isinstance(ev, SilenceSweeper):
                continue
            async with self._pool.connection() as conn, conn.transaction():
                res = await ev.sweep(conn, now)
            if res.opened:
                self._metrics.opened.labels(ev.rule).inc(len(res.opened))
            if res.closed:
                self._metrics.closed.labels(ev.rule).inc(len(res.closed))
            opened.extend(res.opened)
            closed.extend(res.closed)
        if opened:
            log.info("opened alerts %s (silence sweep)", opened)
            if self._on_alerts is not None:
                self._on_alerts(opened)
        return SweepResult(opened=opened, closed=closed)


def utc(ts_s: int) -> datetime:
    return datetime.fromtimestamp(ts_s, UTC)


def minutes(n: float) -> timedelta:
    return timedelta(minutes=n)
