"""Partitioned detector runners: the enterprises (and the air stations) split between runners
by advisory locks, each runner claiming only its partitions' pending work.

Two runners together produce exactly the alerts one runner does, wall-clock sweeps included;
a runner killed (SIGKILL) in the middle of a pass loses its locks with its connection, the
other takes its partitions within seconds, and no alert is lost or duplicated.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
import pytest
from conftest import _dsn_for, eventually
from fix_db import DatabasePool
from fix_runner_child import APP_NAME
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.metrics_core import Metric
from psycopg_pool import AsyncConnectionPool
from test_runner_memory import alert_state, delivery, plant_rows

from ecowarn.config.registry import Registry
from ecowarn.config.settings import load_settings
from ecowarn.detectors.catalog import default_params
from ecowarn.detectors.runtime.contract import RuleEvaluator
from ecowarn.detectors.runtime.evaluators import build_evaluators
from ecowarn.detectors.runtime.partition import (
    PARTITION_LOCK_CLASS,
    PartitionError,
    build_partition_map,
    enterprise_partition,
    publish_map,
    wait_no_pending,
)
from ecowarn.detectors.runtime.process import RunnerProcess, merge_metrics
from ecowarn.detectors.runtime.runner import DetectorRunner, RunnerMetrics
from ecowarn.service import open_service
from ecowarn.store.model import Row
from ecowarn.store.readings import write_batch

DAY = datetime(2026, 11, 22, 16, 0, tzinfo=UTC)
CEMENT, COKING, GLASS = "91130105MA0CXXXX1X", "91130182MA0DEM001G", "91130627MA0GLA2230"
# With 8 partitions: cement 6, coking 3, glass 4, the stations 8. A runner alone takes all
# nine; a second one joining gets the four highest (the first keeps 0-4): each has work.
PARTITIONS = 8


def station_rows(seed: int) -> list[Row]:
    """Four hours of the five air stations: AQ-0001 far above its neighbours for 50 minutes
    (an air hotspot), AQ-0005 silent for 40 (a data gap)."""
    rng = np.random.default_rng(seed)
    rows: list[Row] = []
    for s in range(0, 4 * 3600, 60):
        ts = DAY + timedelta(seconds=s)
        m = s // 60
        for k in range(1, 6):
            station = f"AQ-000{k}"
            if station == "AQ-0005" and 100 <= m < 140:
                continue
            pm25 = 40 + rng.normal(0, 3) + (260.0 if station == "AQ-0001" and 60 <= m < 110 else 0)
            rows += [Row(station, "pm25", ts, float(pm25), "N"),
                     Row(station, "wind_dir", ts, 90.0, "N"),
                     Row(station, "wind_speed", ts, 2.5, "N")]
    return rows


def stream() -> list[Row]:
    return sorted([*plant_rows(seed=3), *station_rows(seed=4)], key=lambda r: (r.ts, r.device_id))


@contextlib.contextmanager
def two_databases(database_pool: DatabasePool) -> Iterator[tuple[str, str]]:
    a, b = database_pool.take(), database_pool.take()
    try:
        yield _dsn_for(a), _dsn_for(b)
    finally:
        database_pool.give_back(a)
        database_pool.give_back(b)


def evaluators(registry: Registry) -> list[RuleEvaluator]:
    return build_evaluators(registry, default_params())


def partitioned(pool: AsyncConnectionPool[Any], registry: Registry,
                metrics: CollectorRegistry) -> DetectorRunner:
    evs = evaluators(registry)
    return DetectorRunner(pool, registry, evs, RunnerMetrics(metrics), poll_ms=200,
                          sweep_s=3600.0, rebalance_s=0.3,
                          partitions=build_partition_map(registry, evs, PARTITIONS))


@contextlib.asynccontextmanager
async def running(*runners: DetectorRunner) -> AsyncIterator[None]:
    tasks = [asyncio.create_task(r.run(), name=f"runner-{i}") for i, r in enumerate(runners)]
    try:
        yield
    finally:
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await t


def owned(runner: DetectorRunner) -> frozenset[int]:
    return runner.owned_partitions or frozenset()


async def held_by(dsn: str, application_name: str) -> set[int]:
    """Partitions whose lock a session named ``application_name`` holds."""
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
        cur = await conn.execute(
            "SELECT l.objid::bigint FROM pg_locks l JOIN pg_stat_activity a USING (pid)"
            " WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2"
            " AND l.classid = %s::bigint::oid AND a.application_name = %s"
            " AND a.datname = current_database()", (PARTITION_LOCK_CLASS, application_name))
        return {int(r[0]) for r in await cur.fetchall()}


def test_partition_map_keeps_every_subject_in_its_enterprises_partition(
        sample_registry: Registry) -> None:
    """Devices and enterprise ids map to their enterprise's partition, the stations to their
    own; every rule's subjects get work from one partition only."""
    pmap = build_partition_map(sample_registry, evaluators(sample_registry), PARTITIONS)
    assert pmap.total == PARTITIONS + 1 and pmap.stations == PARTITIONS
    assert {pmap.of(e) for e in (CEMENT, COKING, GLASS)} == {6, 3, 4}
    for d in sample_registry.devices.values():
        want = (PARTITIONS if d.enterprise_id is None
                else enterprise_partition(d.enterprise_id, PARTITIONS))
        assert pmap.of(d.id) == want, d.id
    assert {pmap.of(s) for s in sample_registry.stations} == {PARTITIONS}
    assert pmap.of("NOT-REGISTERED") == 0
    # Stable: the same enterprise lands in the same partition in any process.
    assert enterprise_partition(CEMENT, PARTITIONS) == 6


def test_partition_map_refuses_a_subject_fed_from_two_enterprises(
        sample_registry: Registry) -> None:
    """An evaluator whose subject takes work from devices of two enterprises cannot be
    partitioned by enterprise: refused at start, naming the subject."""

    class Spanning:
        rule = "spanning"

        def subjects_for(self, device_id: str) -> Iterable[str]:
            return ["PWR-KILN-1"] if device_id in ("PWR-KILN-1", "PWR-COKE-1") else []

    with pytest.raises(PartitionError, match="spanning subject 'PWR-KILN-1'"):
        build_partition_map(sample_registry, [Spanning()], PARTITIONS)  # type: ignore[list-item]


async def settle(a: DetectorRunner, b: DetectorRunner, total: int) -> None:
    await eventually(lambda: owned(a) and owned(b) and len(owned(a) | owned(b)) == total
                     and not owned(a) & owned(b), 20.0, "two runners sharing the partitions")


@pytest.mark.slow
async def test_two_runners_split_partitions_and_produce_the_alerts_of_one(
        database_pool: DatabasePool, sample_registry: Registry) -> None:
    """The same stream (late, out of order, re-delivered) into two databases: partitioned
    runners share one, one unpartitioned runner drains the other. Runner a alone for the
    first third, a and b splitting the partitions for the second (then a wall-clock sweep
    by each), a alone again (b stopped) for the last. After every chunk both databases hold
    the same alerts; each runner evaluated only its partitions' subjects, each sweep opened
    only its partitions' alerts, and a, taking b's partitions back, forgot what it knew of
    them."""
    chunks = delivery(stream(), seed=5, late_fraction=0.1)
    chunks = [[r for c in chunks[i:i + 4] for r in c] for i in range(0, len(chunks), 4)]
    third = len(chunks) // 3
    reg_a, reg_b = CollectorRegistry(), CollectorRegistry()
    pmap = build_partition_map(sample_registry, evaluators(sample_registry), PARTITIONS)
    with two_databases(database_pool) as (dsn_p, dsn_ref):
        async with AsyncConnectionPool(dsn_p, min_size=1, max_size=6, open=False) as pool, \
                AsyncConnectionPool(dsn_ref, min_size=1, max_size=4, open=False) as pool_ref:
            a = partitioned(pool, sample_registry, reg_a)
            b = partitioned(pool, sample_registry, reg_b)
            ref = DetectorRunner(pool_ref, sample_registry, evaluators(sample_registry),
                                 RunnerMetrics(CollectorRegistry()))

            async def feed(part: list[list[Row]], offset: int) -> None:
                for k, chunk in enumerate(part, offset):
                    # One transaction per chunk in both: the same batches on both sides.
                    await write_batch(pool, chunk)
                    await write_batch(pool_ref, chunk)
                    await wait_no_pending(pool, 30.0)
                    await ref.drain()
                    if k % 10 == 0 or k == offset + len(part) - 1:
                        assert await alert_state(pool) == await alert_state(pool_ref), k

            async with running(a):
                await eventually(lambda: len(owned(a)) == PARTITIONS + 1, 20.0, "a owning all")
                await feed(chunks[:third], 0)
                async with running(b):
                    await settle(a, b, PARTITIONS + 1)
                    assert owned(a) == frozenset(range(5)), "the first keeps the lowest"
                    hotspot_a = reg_a.get_sample_value("ecowarn_detector_evaluations_total",
                                                       {"rule": "air_hotspot"})
                    await feed(chunks[third:2 * third], third)
                    # The stations (partition 8) are b's now: a evaluated none of them.
                    assert reg_a.get_sample_value("ecowarn_detector_evaluations_total",
                                                  {"rule": "air_hotspot"}) == hotspot_a
                    assert (reg_b.get_sample_value("ecowarn_detector_evaluations_total",
                                                   {"rule": "air_hotspot"}) or 0) > 0
                    assert (reg_b.get_sample_value("ecowarn_detector_pending_claimed_total")
                            or 0) > 0
                    assert reg_b.get_sample_value("ecowarn_detector_partitions_owned") == 4
                    assert reg_b.get_sample_value("ecowarn_detector_partition_owned",
                                                  {"partition": "8"}) == 1

                    # Hours later on the wall clock every device is silent.
                    now_s = time.time() + 3 * 3600
                    for runner in (a, b):
                        res = await runner.sweep_silence(now_s)
                        assert res.opened, "each runner has silent devices of its own"
                        async with pool.connection() as conn:
                            cur = await conn.execute(
                                "SELECT subject FROM alerts WHERE id = ANY(%s)", (res.opened,))
                            subjects = [r[0] for r in await cur.fetchall()]
                        assert {pmap.of(s) for s in subjects} <= owned(runner), subjects
                    await ref.sweep_silence(now_s)
                    assert await alert_state(pool) == await alert_state(pool_ref)
                # b stopped: a takes its partitions back, with no memory of them.
                await eventually(lambda: len(owned(a)) == PARTITIONS + 1, 20.0, "a owning all")
                await feed(chunks[2 * third:], 2 * third)
                final = await alert_state(pool)
    rules = {(r[0], r[1]) for r in final}
    # Work in every partition that has data: cement (6), coking (3), glass (4), stations (8).
    for want in [("treatment_off", "PWR-KILN-1"), ("treatment_underload", "PWR-DESOX-1"),
                 ("data_gap", "PWR-FURN-1"), ("air_hotspot", "AQ-0001"), ("data_gap", "AQ-0005")]:
        assert want in rules, want


def start_child(dsn: str, delay_s: float) -> subprocess.Popen[bytes]:
    here = Path(__file__).parent
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(here.parent / "src"), str(here), os.environ.get("PYTHONPATH", "")])}
    return subprocess.Popen([sys.executable, str(here / "fix_runner_child.py"), dsn,
                             str(PARTITIONS), "0.3", str(delay_s)], env=env)


async def child_in_pass(dsn: str) -> bool:
    """The child holds an open transaction that has written (claimed rows, reconciled)."""
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
        cur = await conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s"
            " AND backend_xid IS NOT NULL AND datname = current_database()", (APP_NAME,))
        row = await cur.fetchone()
        return row is not None and row[0] > 0


@pytest.mark.slow
async def test_runner_killed_mid_pass_its_partitions_are_taken_and_no_alert_is_lost(
        database_pool: DatabasePool, sample_registry: Registry) -> None:
    """A runner in a process of its own owns the coking and glass works' partitions and is
    SIGKILLed in the middle of its pass (claim and reconciliations uncommitted): its locks
    go with its connection, the other runner owns every partition within seconds, and the
    alerts equal a single runner's over the same data, then over late data after it."""
    rows = stream()
    first = [r for r in rows if r.ts < DAY + timedelta(hours=3)]
    late = [r for r in rows if r.ts >= DAY + timedelta(hours=3)]
    late = late[::2] + late[1::2]  # out of order
    with two_databases(database_pool) as (dsn_p, dsn_ref):
        child = start_child(dsn_p, delay_s=0.4)
        try:
            async with AsyncConnectionPool(dsn_p, min_size=1, max_size=6, open=False) as pool, \
                    AsyncConnectionPool(dsn_ref, min_size=1, max_size=4, open=False) as pool_ref:
                ref = DetectorRunner(pool_ref, sample_registry, evaluators(sample_registry),
                                     RunnerMetrics(CollectorRegistry()))
                for _ in range(300):  # the child alone takes every partition
                    if len(await held_by(dsn_p, APP_NAME)) == PARTITIONS + 1:
                        break
                    await asyncio.sleep(0.1)
                assert await held_by(dsn_p, APP_NAME) == set(range(PARTITIONS + 1))
                metrics = CollectorRegistry()
                survivor = partitioned(pool, sample_registry, metrics)
                async with running(survivor):
                    await eventually(lambda: len(owned(survivor)) == 4, 20.0, "the split")
                    assert await held_by(dsn_p, APP_NAME) == set(range(5))

                    await write_batch(pool, first)
                    await write_batch(pool_ref, first)
                    await ref.drain()
                    for _ in range(300):
                        if await child_in_pass(dsn_p):
                            break
                        await asyncio.sleep(0.05)
                    assert await child_in_pass(dsn_p), "the child never started its pass"
                    await asyncio.sleep(1.0)  # a few subjects reconciled, uncommitted
                    child.send_signal(signal.SIGKILL)
                    killed = time.monotonic()
                    await eventually(lambda: len(owned(survivor)) == PARTITIONS + 1, 15.0,
                                     "the survivor owning every partition")
                    takeover_s = time.monotonic() - killed
                    await wait_no_pending(pool, 60.0)
                    assert await alert_state(pool) == await alert_state(pool_ref)
                    assert (metrics.get_sample_value("ecowarn_detector_partitions_taken_total")
                            == PARTITIONS + 1)

                    # The survivor forgot what it knew: late data evaluates the same.
                    await write_batch(pool, late)
                    await write_batch(pool_ref, late)
                    await ref.drain()
                    await wait_no_pending(pool, 60.0)
                    final = await alert_state(pool)
                    assert final == await alert_state(pool_ref)
        finally:
            child.kill()
            child.wait(10)
    assert takeover_s < 10.0, takeover_s
    rules = {(r[0], r[1]) for r in final}
    for want in [("treatment_off", "PWR-KILN-1"), ("treatment_underload", "PWR-DESOX-1"),
                 ("data_gap", "PWR-FURN-1"), ("air_hotspot", "AQ-0001")]:
        assert want in rules, want
    ids = [r for r in final if r[5] == "open"]
    assert len({(r[0], r[1], r[2]) for r in ids}) == len(ids), "an alert twice"


async def test_another_partition_count_waits_until_no_partition_is_held(
        database: str, sample_registry: Registry) -> None:
    """A runner configured with another partition count does not rewrite the map while a
    partition is held by the recorded count; once none is, it does."""
    evs = evaluators(sample_registry)
    eight = build_partition_map(sample_registry, evs, PARTITIONS)
    four = build_partition_map(sample_registry, evs, 4)
    async with await psycopg.AsyncConnection.connect(database, autocommit=True) as holder, \
            await psycopg.AsyncConnection.connect(database, autocommit=True) as other:
        assert await publish_map(holder, eight)
        await holder.execute("SELECT pg_advisory_lock(%s, 3)", (PARTITION_LOCK_CLASS,))
        assert not await publish_map(other, four)
        cur = await other.execute("SELECT partitions FROM runner_layout")
        assert await cur.fetchall() == [(PARTITIONS,)]
        cur = await other.execute("SELECT part FROM runner_partition_keys WHERE key = %s",
                                  (CEMENT,))
        assert await cur.fetchall() == [(6,)]
        await holder.execute("SELECT pg_advisory_unlock(%s, 3)", (PARTITION_LOCK_CLASS,))
        assert await publish_map(other, four)
        cur = await other.execute("SELECT part FROM runner_partition_keys WHERE key = %s",
                                  (CEMENT,))
        assert await cur.fetchall() == [(four.of(CEMENT),)]
        cur = await other.execute("SELECT count(*) FROM runner_partition_keys WHERE part = 4")
        row = await cur.fetchone()
        assert row is not None and row[0] == len(sample_registry.stations)


def test_children_metrics_merge_counters_summed_gauges_per_runner() -> None:
    """The parent's /metrics over two runner processes: counters and histograms summed,
    gauges once per child with a ``runner`` label."""
    texts = []
    for i in range(2):
        reg = CollectorRegistry()
        m = RunnerMetrics(reg)
        m.claimed.inc(3 + i)
        m.opened.labels("treatment_off").inc(1 + i)
        m.batch_seconds.observe(0.2)
        m.partitions_owned.set(5 - i)
        texts.append(generate_latest(reg).decode())

    class Merged:
        def collect(self) -> Iterator[Metric]:
            return merge_metrics(texts)

    parent = CollectorRegistry()
    parent.register(Merged())
    assert parent.get_sample_value("ecowarn_detector_pending_claimed_total") == 7
    assert parent.get_sample_value("ecowarn_alerts_opened_total", {"rule": "treatment_off"}) == 3
    assert parent.get_sample_value("ecowarn_detector_batch_seconds_count") == 2
    assert parent.get_sample_value("ecowarn_detector_partitions_owned", {"runner": "0"}) == 5
    assert parent.get_sample_value("ecowarn_detector_partitions_owned", {"runner": "1"}) == 4
    assert parent.get_sample_value("ecowarn_detector_partitions_owned") is None
    assert "ecowarn_detector_pending_claimed_total 7.0" in generate_latest(parent).decode()


@pytest.mark.slow
async def test_serve_starts_runner_processes_that_share_the_partitions(
        database: str, sample_registry: Registry, tmp_path: Path) -> None:
    """``ECOWARN_RUNNER=process`` with ``ECOWARN_RUNNERS=2``: two child processes own the
    partitions between them, the data of an enterprise is evaluated, and the parent's metrics
    show each child's partitions."""
    settings = load_settings(database_url=database, runner="process", runners=2,
                             runner_rebalance_s=0.5, spool_dir=str(tmp_path))
    metrics = CollectorRegistry()
    async with open_service(settings, sample_registry, mqtt=False, http=False, hj212=False,
                            metrics_registry=metrics) as svc:
        runner = svc.runner
        assert isinstance(runner, RunnerProcess) and runner.count == 2
        assert len({p for p in runner.pids if p is not None}) == 2

        def shares() -> list[float | None]:
            return [metrics.get_sample_value("ecowarn_detector_partitions_owned",
                                             {"runner": str(i)}) for i in range(2)]

        await eventually(lambda: all(shares()) and sum(s or 0 for s in shares()) == 9, 60.0,
                         "two children sharing the 9 partitions")
        assert sorted(s or 0 for s in shares()) == [4, 5]
        rows = [Row(d, "p", DAY + timedelta(minutes=m), v, "N") for m in range(16)
                for d, v in (("PWR-KILN-1", 560.0), ("PWR-BAG-1", 0.3), ("PWR-SCR-1", 0.3))]
        await svc.pipeline.submit(rows, wait=True)
        await svc.drain()
        async with svc.pool.connection() as conn:
            cur = await conn.execute("SELECT rule, subject FROM alerts")
            assert ("treatment_off", "PWR-KILN-1") in await cur.fetchall()
