"""The streaming runner: evaluates detectors over event time as readings are committed.

Writers queue the event-time span of every committed batch per device in
``pending_eval``. The runner claims those rows (``FOR UPDATE SKIP LOCKED``, so
several runners can share the work), maps devices to the subjects of each rule
(e.g. a treatment meter to the production units it treats), re-evaluates each
subject over the affected window up to its latest data, and reconciles the
findings into alerts, all in one transaction: if anything fails, the claim rolls
back and the work is retried. Re-evaluation is idempotent, so a restart or late
data never duplicates an alert.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import psycopg
from prometheus_client import CollectorRegistry, Counter, Histogram
from psycopg_pool import AsyncConnectionPool

from alerts.store import AlertDraft, reconcile
from config.registry import Registry

__all__ = ["DetectorRunner", "RuleEvaluator", "RunnerMetrics", "Window"]

log = logging.getLogger(__name__)


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
                 poll_ms: int = 1000, claim_limit: int = 5000,
                 on_alerts: Callable[[list[int]], None] | None = None) -> None:
        self._pool = pool
        self._registry = registry
        self._evaluators = evaluators
        self._metrics = metrics
        self._poll_s = poll_ms / 1000.0
        self._claim_limit = claim_limit
        self._wake = asyncio.Event()
        self._on_alerts = on_alerts
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
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=self._poll_s)
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
            for (i, subject), window in sorted(work.items(), key=lambda kv: (kv[0][0], kv[0][1])):
                ev = self._evaluators[i]
                window_start, drafts = await ev.evaluate(conn, subject, window)
                res = await reconcile(conn, ev.rule, subject, drafts, window_start)
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


def utc(ts_s: int) -> datetime:
    return datetime.fromtimestamp(ts_s, UTC)


def minutes(n: float) -> timedelta:
    return timedelta(minutes=n)
