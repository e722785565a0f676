"""The detector runner in a process of its own (``ECOWARN_RUNNER=process``, the default).

One Python process runs on one core. When the collector, the HTTP API and the runner
share an event loop, a busy collector (thousands of MQTT messages per second) leaves the
runner a fraction of a core, and a long evaluation pass delays the collector and the API
in turn. With ``process``, ``ecowarn serve`` starts the runner in a child process
(:func:`multiprocessing` ``spawn``) with its own connection pool, and supervises it:

- the child wakes on ``NOTIFY ecowarn_pending``, which every ingest commit sends (see
  :mod:`store.readings`), so it starts a batch as soon as readings are committed;
- every second it sends its metrics (Prometheus text) and the time of its last pass to the
  parent, which serves them on its own ``/metrics`` and ``/healthz``; the ids of alerts it
  opened go to the parent at once (warning dispatcher, the demo's announcements);
- a child that dies is logged with its exit code and started again, with a backoff;
- the child exits when the parent's end of the pipe closes (also when the parent is killed).

``ECOWARN_RUNNERS`` children (default: one per core beyond the first) run side by side,
each a partitioned runner (``ECOWARN_RUNNER_PARTITIONS``, see ``detectors.runtime.partition``)
taking its share of the enterprises' partitions, as do the runners of any other
``ecowarn serve`` on the same database; each child is supervised as above. Their metrics are
merged for the parent's ``/metrics``: counters and histograms summed over the children,
gauges (such as ``ecowarn_detector_partitions_owned``) per child with a ``runner`` label.
With ``ECOWARN_RUNNER_PARTITIONS=0`` the leader lock
(:data:`detectors.runtime.runner.LEADER_LOCK_KEY`) keeps one active runner per database,
whatever the number of processes (the other children stand by).

``inline`` runs the runner in the service's event loop (one process; what ``ecowarn
evaluate`` and most tests use); ``off`` runs none here (another instance's runner works).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing as mp
import time
from collections.abc import Callable, Iterator
from functools import partial
from multiprocessing.connection import Connection
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample
from psycopg_pool import AsyncConnectionPool

from ecowarn.config.registry import Registry
from ecowarn.config.settings import Settings
from ecowarn.core.aio import Backoff, cancel_and_wait
from ecowarn.detectors.runtime.partition import wait_no_pending

__all__ = ["ElsewhereRunner", "RunnerProcess", "merge_metrics", "wait_no_pending"]

log = logging.getLogger(__name__)

_REPORT_S = 1.0
_BACKOFF_MAX_S = 30.0


class ElsewhereRunner:
    """``ECOWARN_RUNNER=off``: this process evaluates nothing; another one's runner does."""

    last_run_wall: float | None = None

    def __init__(self, pool: AsyncConnectionPool[Any]) -> None:
        self._pool = pool

    def wake(self) -> None:
        pass

    async def drain(self, timeout_s: float | None = None) -> int:
        """Wait until the runner (elsewhere) has evaluated everything committed so far."""
        return await wait_no_pending(self._pool, timeout_s)


class RunnerProcess:
    """Starts, watches and restarts the runners' child processes; a Prometheus collector of
    the children's metrics for the parent's registry."""

    def __init__(self, settings: Settings, registry: Registry, params: dict[str, object],
                 dsn: str, pool: AsyncConnectionPool[Any], metrics_registry: CollectorRegistry,
                 on_alerts: Callable[[list[int]], None] | None = None) -> None:
        self._args = (settings, registry, params, dsn)
        self._pool = pool
        self._on_alerts = on_alerts
        self.count = settings.resolved_runners()
        self._texts: list[str] = [""] * self.count
        self._walls: list[float | None] = [None] * self.count
        self.pids: list[int | None] = [None] * self.count
        self.restarts = 0
        self.started = asyncio.Event()  # set once every child has been started once
        metrics_registry.register(self)

    @property
    def pid(self) -> int | None:
        """The first child's process id."""
        return self.pids[0]

    @property
    def last_run_wall(self) -> float | None:
        """The oldest of the children's last passes (None until each has made one)."""
        walls = self._walls
        return None if any(w is None for w in walls) else min(w for w in walls if w is not None)

    # --- as a Prometheus collector -----------------------------------------------------

    def collect(self) -> Iterator[Metric]:
        yield from merge_metrics(self._texts)

    # --- as the service's runner -------------------------------------------------------

    def wake(self) -> None:
        """Nothing to do: the child wakes on the commit's NOTIFY."""

    async def drain(self, timeout_s: float | None = None) -> int:
        """Wait until the runner (elsewhere) has evaluated everything committed so far."""
        return await wait_no_pending(self._pool, timeout_s)

    async def run(self) -> None:
        """Keep ``count`` children running until cancelled (then stop them)."""
        async with asyncio.TaskGroup() as tg:
            for i in range(self.count):
                tg.create_task(self._keep(i), name=f"detector-runner-{i}")

    async def _keep(self, index: int) -> None:
        """Keep child ``index`` running until cancelled (then stop it)."""
        backoff = Backoff(1.0, _BACKOFF_MAX_S, jitter=False)
        while True:
            ctx = mp.get_context("spawn")
            parent_end, child_end = ctx.Pipe()
            proc = ctx.Process(target=_child_main, args=(*self._args, child_end),
                               name=f"ecowarn-runner-{index}", daemon=True)
            proc.start()
            child_end.close()
            self.pids[index] = proc.pid
            if all(p is not None for p in self.pids):
                self.started.set()
            log.info("detector runner process %d started (pid %s)", index, proc.pid)
            started = time.monotonic()
            try:
                await _read_until_closed(parent_end, partial(self._take, index))
            finally:
                parent_end.close()  # the child sees end-of-file and stops
                await _reap(proc)
            if time.monotonic() - started > 60.0:
                backoff.reset()  # it ran a while: a new failure, not a crash loop
            delay = backoff.next_s()
            log.error("detector runner process %s exited (code %s); starting another in %.0f s",
                      proc.pid, proc.exitcode, delay)
            self.restarts += 1
            await asyncio.sleep(delay)

    def _take(self, index: int, msg: Any) -> None:
        kind = msg[0]
        if kind == "metrics":
            self._texts[index], self._walls[index] = msg[1], msg[2]
        elif kind == "alerts" and self._on_alerts is not None:
            try:
                self._on_alerts(list(msg[1]))
            except Exception:  # an announcement must not stop the supervision
                log.exception("handling opened alerts failed")


def merge_metrics(texts: list[str]) -> Iterator[Metric]:
    """The children's metrics (Prometheus text, one per child) as one set: counters and
    histograms summed (``_created``: the earliest), gauges labelled ``runner`` by child."""
    merged: dict[str, Metric] = {}
    values: dict[str, dict[tuple[str, tuple[tuple[str, str], ...]], float]] = {}
    for index, text in enumerate(texts):
        if not text:
            continue
        for fam in text_string_to_metric_families(text):
            if fam.name not in merged:
                merged[fam.name] = Metric(fam.name, fam.documentation, fam.type, fam.unit)
                values[fam.name] = {}
            acc = values[fam.name]
            for sample in fam.samples:
                labels = dict(sample.labels)
                if fam.type == "gauge":
                    labels["runner"] = str(index)
                key = (sample.name, tuple(sorted(labels.items())))
                if key not in acc:
                    acc[key] = sample.value
                elif sample.name.endswith("_created"):
                    acc[key] = min(acc[key], sample.value)
                else:
                    acc[key] += sample.value
    for name, fam in merged.items():
        fam.samples = [Sample(n, dict(labels), v) for (n, labels), v in values[name].items()]
        yield fam


async def _read_until_closed(conn: Connection, take: Callable[[Any], None]) -> None:
    """Hand every message arriving on ``conn`` to ``take`` until the other end closes."""
    loop = asyncio.get_running_loop()
    gone = asyncio.Event()

    def readable() -> None:
        try:
            while conn.poll():
                take(conn.recv())
        except (EOFError, OSError):
            loop.remove_reader(conn.fileno())
            gone.set()

    loop.add_reader(conn.fileno(), readable)
    try:
        await gone.wait()
    finally:
        with contextlib.suppress(ValueError, OSError):
            loop.remove_reader(conn.fileno())


async def _reap(proc: Any) -> None:
    """Wait for the child to stop after its pipe closed; terminate, then kill, if it does not."""
    for stop, wait_s in ((None, 10.0), (proc.terminate, 5.0), (proc.kill, 5.0)):
        if stop is not None:
            log.warning("detector runner process %s did not stop; %s", proc.pid, stop.__name__)
            stop()
        try:
            await asyncio.shield(asyncio.to_thread(proc.join, wait_s))
        except asyncio.CancelledError:
            proc.join(wait_s)  # shutdown: finish reaping before giving up the task
            raise
        if not proc.is_alive():
            return


# --- the child --------------------------------------------------------------------------

def _child_main(settings: Settings, registry: Registry, params: dict[str, object], dsn: str,
                conn: Connection) -> None:
    from ecowarn.core.logs import setup_logging

    setup_logging(settings.log_level)
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C reaches the whole process group
        asyncio.run(_child(settings, registry, params, dsn, conn))


async def _child(settings: Settings, registry: Registry, params: dict[str, object], dsn: str,
                 conn: Connection) -> None:
    from ecowarn.detectors.runtime.evaluators import build_evaluators
    from ecowarn.detectors.runtime.partition import build_partition_map
    from ecowarn.detectors.runtime.runner import DetectorRunner, RunnerMetrics

    send_lock = asyncio.Lock()

    async def send(msg: tuple[Any, ...]) -> None:
        async with send_lock:  # a full pipe blocks a thread, never the runner
            with contextlib.suppress(OSError, ValueError):
                await asyncio.to_thread(conn.send, msg)

    metrics = CollectorRegistry()
    pending_alerts: list[int] = []
    alerts_ready = asyncio.Event()

    def opened(ids: list[int]) -> None:
        pending_alerts.extend(ids)
        alerts_ready.set()

    async with AsyncConnectionPool(dsn, min_size=1, max_size=4, open=False, timeout=10.0,
                                   name="ecowarn-runner", reconnect_timeout=30.0) as pool:
        evaluators = build_evaluators(registry, params)
        partitions = (build_partition_map(registry, evaluators, settings.runner_partitions)
                      if settings.runner_partitions else None)
        runner = DetectorRunner(pool, registry, evaluators,
                                RunnerMetrics(metrics), poll_ms=settings.runner_poll_ms,
                                on_alerts=opened, partitions=partitions,
                                rebalance_s=settings.runner_rebalance_s)

        async def report() -> None:
            while True:
                await send(("metrics", generate_latest(metrics).decode(), runner.last_run_wall))
                await asyncio.sleep(_REPORT_S)

        async def forward_alerts() -> None:
            while True:
                await alerts_ready.wait()
                alerts_ready.clear()
                ids = pending_alerts[:]
                pending_alerts.clear()
                await send(("alerts", ids))

        tasks = [asyncio.create_task(runner.run(), name="detector-runner"),
                 asyncio.create_task(report(), name="runner-report"),
                 asyncio.create_task(forward_alerts(), name="runner-alerts")]
        # The parent sends nothing: its end closing (stop, or the parent died) ends the child.
        watch = asyncio.create_task(_read_until_closed(conn, lambda _msg: None),
                                    name="runner-parent")
        try:
            done, _ = await asyncio.wait([*tasks, watch], return_when=asyncio.FIRST_COMPLETED)
            for t in done:
                if t is not watch and not t.cancelled() and t.exception() is not None:
                    log.error("detector runner process: %s failed", t.get_name(),
                              exc_info=t.exception())
        finally:
            await cancel_and_wait([*tasks, watch], log=log, timeout_s=10.0)
    log.info("detector runner process stopping")
