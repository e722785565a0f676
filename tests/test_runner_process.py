"""The detector runner in a child process (``ECOWARN_RUNNER=process``): woken by the commit's
NOTIFY, its metrics and opened alerts forwarded to the parent, restarted when killed, gone
when the service stops."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from prometheus_client import CollectorRegistry

from ecowarn.config.registry import Registry
from ecowarn.config.settings import load_settings
from ecowarn.detectors.runtime.process import RunnerProcess
from ecowarn.service import open_service
from ecowarn.store.model import Row

START = datetime(2026, 11, 21, 2, 0, tzinfo=UTC)


def outage(start: datetime, minutes: int, producer: str, treatments: list[str]) -> list[Row]:
    """``producer`` runs while its treatment units are off, for ``minutes`` minutes."""
    rows = []
    for m in range(minutes + 1):
        ts = start + timedelta(minutes=m)
        rows += [Row(producer, "p", ts, 560.0, "N"),
                 *(Row(t, "p", ts, 0.3, "N") for t in treatments)]
    return rows


async def wait_alerts(dsn: str, n: int, limit_s: float) -> float:
    began = time.monotonic()
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
        while True:
            cur = await conn.execute("SELECT count(*) FROM alerts WHERE rule = 'treatment_off'")
            row = await cur.fetchone()
            if row is not None and row[0] >= n:
                return time.monotonic() - began
            if time.monotonic() - began > limit_s:
                cur = await conn.execute("SELECT rule, subject, start_ts, end_ts, status FROM alerts")
                raise AssertionError(f"{n} treatment_off alert(s) not seen: {await cur.fetchall()}")
            await asyncio.sleep(0.05)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.slow
async def test_runner_process_wakes_forwards_restarts_and_stops(
        database: str, sample_registry: Registry, tmp_path: object) -> None:
    # A poll of ten minutes: only the commit's NOTIFY can wake the runner in time.
    settings = load_settings(database_url=database, runner="process", runner_poll_ms=600_000,
                             spool_dir=str(tmp_path))
    metrics = CollectorRegistry()
    announced: list[int] = []
    async with open_service(settings, sample_registry, mqtt=False, http=False, hj212=False,
                            metrics_registry=metrics, on_alerts=announced.extend) as svc:
        runner = svc.runner
        assert isinstance(runner, RunnerProcess)
        assert runner.pid is not None and runner.pid != os.getpid()
        first_pid = runner.pid
        await asyncio.sleep(3.0)  # the child is up and listening (its leader lock taken)

        await svc.pipeline.submit(outage(START, 15, "PWR-KILN-1", ["PWR-BAG-1", "PWR-SCR-1"]), wait=True)
        await wait_alerts(database, 1, limit_s=20.0)

        # Forwarded: the opened alert's id, the child's metrics and its last pass.
        for _ in range(60):
            if announced and (metrics.get_sample_value("ecowarn_detector_pending_claimed_total")
                              or 0) > 0 and svc.health()["detector_last_run"] is not None:
                break
            await asyncio.sleep(0.1)
        assert len(announced) == 1
        assert (metrics.get_sample_value("ecowarn_alerts_opened_total",
                                         {"rule": "treatment_off"}) or 0) == 1
        assert (metrics.get_sample_value("ecowarn_detector_pending_claimed_total") or 0) > 0
        assert svc.health()["detector_last_run"] is not None

        # Killed: a new child takes over (after the leader lock of the dead one's connection
        # is released) and evaluates what comes next.
        os.kill(first_pid, signal.SIGKILL)
        for _ in range(100):
            if runner.restarts == 1 and runner.pid != first_pid:
                break
            await asyncio.sleep(0.1)
        assert runner.restarts == 1 and runner.pid != first_pid and runner.pid is not None
        second_pid = runner.pid
        await svc.pipeline.submit(outage(START, 15, "PWR-COKE-1", ["PWR-DESOX-1"]), wait=True)
        await wait_alerts(database, 2, limit_s=60.0)
        await svc.drain()
    # Stopped with the service.
    for _ in range(50):
        if not alive(second_pid):
            break
        await asyncio.sleep(0.1)
    assert not alive(second_pid)
