"""The runner's memories (series cache, quiet subjects, unchanged minutes, quiet tails) never
change a result.

The same stream -- in order, late, out of order, re-delivered, with a gap -- goes into two
databases; one runner evaluates with its memories, the other queries the database for
everything. After every chunk, both hold the same alerts. Then: the leader lock keeps a
second runner on standby, and one transaction can lock thousands of subjects.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import psycopg
import pytest
from conftest import ADMIN_DSN, _dsn_for
from prometheus_client import CollectorRegistry
from psycopg import sql
from psycopg_pool import AsyncConnectionPool
from test_eval_support import CEMENT, KILN, KILN_CEMS, EvalEnv, at, insert_order, sim_rows, simulate_days

from ecowarn.alerts.store import lock_subject
from ecowarn.config.registry import Registry
from ecowarn.detectors.catalog import default_params
from ecowarn.detectors.runtime.evaluators import build_evaluators
from ecowarn.detectors.runtime.runner import DetectorRunner, RunnerMetrics
from ecowarn.ingest.pipeline import IngestMetrics, IngestPipeline
from ecowarn.simulator.scenario import AirHotspot
from ecowarn.store import migrate
from ecowarn.store.model import Row

pytest_plugins = ("test_eval_support",)

DAY = datetime(2026, 11, 22, 16, 0, tzinfo=UTC)  # 2026-11-23 00:00 in UTC+8


@pytest.fixture
async def second_database() -> AsyncIterator[str]:
    name = f"ecowarn_t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(ADMIN_DSN, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        await migrate(_dsn_for(name))
        yield _dsn_for(name)
    finally:
        with psycopg.connect(ADMIN_DSN, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier(name)))


def plant_rows(seed: int) -> list[Row]:
    """Four hours of the kiln, coke oven and furnace meters with outages, underload, a gap
    and readings several times a minute (so many arrive within an evaluated minute)."""
    rng = np.random.default_rng(seed)
    rows: list[Row] = []
    for s in range(0, 4 * 3600, 20):
        ts = DAY + timedelta(seconds=s)
        m = s // 60
        bag_off = 30 <= m < 52 or 150 <= m < 158  # kiln untreated 22 min: alert; 8: too short
        desox_low = 90 <= m < 130  # running at a fraction of its load
        gap = 190 <= m < 230  # the furnace meter goes quiet
        rows.append(Row("PWR-KILN-1", "p", ts, float(560 + rng.normal(0, 25)), "N"))
        rows.append(Row("PWR-BAG-1", "p", ts, float(abs(rng.normal(0.4, 0.2)) if bag_off
                                                     else 110 + rng.normal(0, 6)), "N"))
        rows.append(Row("PWR-SCR-1", "p", ts, float(abs(rng.normal(0.3, 0.2)) if bag_off
                                                     else 85 + rng.normal(0, 5)), "N"))
        rows.append(Row("PWR-COKE-1", "p", ts, float(400 + rng.normal(0, 20)), "N"))
        rows.append(Row("PWR-DESOX-1", "p", ts, float(50 + rng.normal(0, 2)) if desox_low
                        else float(200 + rng.normal(0, 8)), "N"))
        if not gap:
            rows.append(Row("PWR-FURN-1", "p", ts, float(300 + rng.normal(0, 15)), "N"))
    return rows


def delivery(rows: list[Row], seed: int, late_fraction: float = 0.1) -> list[list[Row]]:
    """Chunks of about a minute; ``late_fraction`` held back and delivered late, and then
    some chunks re-delivered in part (in order, by whole timestamps, when 0)."""
    rnd = random.Random(seed)
    if not late_fraction:
        # Whole timestamps per chunk, so every chunk only extends what came before.
        times = sorted({r.ts for r in rows})
        per = {t: [r for r in rows if r.ts == t] for t in times}
        return [[r for t in times[i:i + 3] for r in per[t]] for i in range(0, len(times), 3)]
    chunks: list[list[Row]] = []
    late: list[Row] = []
    for i in range(0, len(rows), 16):
        chunk = rows[i:i + 16]
        keep = [r for r in chunk if rnd.random() >= late_fraction]
        late.extend(r for r in chunk if r not in keep)
        if late and rnd.random() < 0.15:
            rnd.shuffle(late)
            keep.extend(late[: len(late) // 2])
            late = late[len(late) // 2:]
        if late_fraction and chunks and rnd.random() < 0.1:
            keep.extend(chunks[-1][:4])  # re-delivered
        chunks.append(keep)
    chunks.append(late)
    return chunks


async def alert_state(pool: AsyncConnectionPool[Any]) -> list[tuple[Any, ...]]:
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT rule, subject, start_ts, end_ts, severity, status, summary FROM alerts"
            " ORDER BY rule, subject, start_ts, id")
        return await cur.fetchall()


async def twin_stream(database: str, second_database: str, registry: Registry,
                      chunks: list[list[Row]], metrics: CollectorRegistry, *,
                      rules: frozenset[str] | None = None,
                      check: Callable[[int], bool] = lambda k: True,
                      ) -> tuple[list[tuple[Any, ...]], int]:
    """The chunks into both databases through the ingest pipeline, each drained by a runner:
    the first with its memories (metrics into ``metrics``), the second with no cache and
    remembering nothing from one batch to the next. After
    every chunk ``check`` selects, both hold the same alerts. Returns the first's alerts and
    its cache's hits."""
    params = default_params()
    async with AsyncConnectionPool(database, min_size=1, max_size=4, open=False) as pool_a, \
            AsyncConnectionPool(second_database, min_size=1, max_size=4, open=False) as pool_b:
        runner_a = DetectorRunner(pool_a, registry, build_evaluators(registry, params, rules=rules),
                                  RunnerMetrics(metrics))
        runner_b = DetectorRunner(pool_b, registry, build_evaluators(registry, params, rules=rules),
                                  RunnerMetrics(CollectorRegistry()), cache=False,
                                  memories=False)
        async with IngestPipeline(pool_a, registry, IngestMetrics(CollectorRegistry()),
                                  flush_ms=5) as pipe_a, \
                IngestPipeline(pool_b, registry, IngestMetrics(CollectorRegistry()),
                               flush_ms=5) as pipe_b:
            for k, chunk in enumerate(chunks):
                for pipe, runner in ((pipe_a, runner_a), (pipe_b, runner_b)):
                    await pipe.submit(chunk)
                    await pipe.drain(30)
                    await runner.drain()
                if check(k):
                    assert await alert_state(pool_a) == await alert_state(pool_b), f"chunk {k}"
        assert runner_a.cache is not None
        return await alert_state(pool_a), runner_a.cache.hits


@pytest.mark.parametrize("late_fraction", [0.1, 0.0], ids=["late", "in_order"])
async def test_memories_change_no_result(database: str, second_database: str,
                                         sample_registry: Registry, late_fraction: float) -> None:
    # In order, every new minute extends what was evaluated: the quiet-tail skip decides.
    chunks = delivery(plant_rows(seed=3), seed=5, late_fraction=late_fraction)
    metrics = CollectorRegistry()
    final, hits = await twin_stream(database, second_database, sample_registry, chunks, metrics,
                                    check=lambda k: not late_fraction or k % 40 == 0
                                    or k == len(chunks) - 1)
    rules = {(r[0], r[1]) for r in final}
    # The stream has something for the memories to get right.
    assert ("treatment_off", "PWR-KILN-1") in rules
    assert ("treatment_underload", "PWR-DESOX-1") in rules
    assert ("data_gap", "PWR-FURN-1") in rules
    assert hits > 0
    assert (metrics.get_sample_value("ecowarn_detector_reconciles_skipped_total") or 0) > 0
    if late_fraction:  # chunks of 16 readings: many within an evaluated minute
        assert (metrics.get_sample_value("ecowarn_detector_unchanged_total") or 0) > 0
    else:  # whole minutes, in order
        assert (metrics.get_sample_value("ecowarn_detector_tail_quiet_total") or 0) > 0


async def test_second_runner_stands_by_until_the_leader_stops(database: str,
                                                              sample_registry: Registry) -> None:
    reg_a, reg_b = CollectorRegistry(), CollectorRegistry()
    async with AsyncConnectionPool(database, min_size=1, max_size=4, open=False) as pool:
        a = DetectorRunner(pool, sample_registry, [], RunnerMetrics(reg_a), sweep_s=3600)
        b = DetectorRunner(pool, sample_registry, [], RunnerMetrics(reg_b), sweep_s=3600)

        def leader(reg: CollectorRegistry) -> float | None:
            return reg.get_sample_value("ecowarn_detector_leader")

        task_a = asyncio.create_task(a.run())
        for _ in range(100):
            if leader(reg_a) == 1:
                break
            await asyncio.sleep(0.05)
        assert leader(reg_a) == 1
        task_b = asyncio.create_task(b.run())
        await asyncio.sleep(1.0)
        assert leader(reg_b) == 0, "a second runner must not run beside the leader"
        task_a.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task_a
        for _ in range(200):  # the standby retries every 5 s
            if leader(reg_b) == 1:
                break
            await asyncio.sleep(0.05)
        assert leader(reg_b) == 1
        task_b.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task_b


async def test_one_transaction_locks_thousands_of_subjects(database: str) -> None:
    """A lock per subject overflowed the shared lock table around a few thousand."""
    async with await psycopg.AsyncConnection.connect(database) as conn, conn.transaction():
        for i in range(20_000):
            await lock_subject(conn, "data_gap", f"DEV-{i:05d}")
        cur = await conn.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()")
        row = await cur.fetchone()
        assert row is not None and row[0] <= 64


def kiln_minutes(start: int, end: int, scr_off_from: int) -> list[tuple[str, str, datetime, float, str]]:
    """The sample kiln and its stages, one reading a minute over ``[start, end)``: every stage
    running, the SCR at 0.3 kW from ``scr_off_from`` on."""
    rows = []
    for m in range(start, end):
        ts = DAY + timedelta(minutes=m)
        for dev, kw in (("PWR-KILN-1", 560.0), ("PWR-BAG-1", 110.0), ("PWR-DS-1", 150.0),
                        ("PWR-DS-2", 0.5), ("PWR-SCR-1", 0.3 if m >= scr_off_from else 85.0)):
            rows.append((dev, "p", ts, kw, "N"))
    return rows


async def kiln_runner(eval_env: EvalEnv, cache: bool) -> DetectorRunner:
    """A treatment_off runner that has evaluated the kiln's minutes 08:00-10:29, all running."""
    runner = DetectorRunner(eval_env.pool, eval_env.registry,
                            build_evaluators(eval_env.registry, default_params(),
                                             rules=frozenset({"treatment_off"})),
                            RunnerMetrics(CollectorRegistry()), cache=cache)
    await eval_env.write_rows(kiln_minutes(0, 150, scr_off_from=150))  # 08:00-10:29
    await runner.drain()
    return runner


async def claim_late_kiln_reading(eval_env: EvalEnv, runner: DetectorRunner,
                                  unclaimed: list[tuple[str, str, datetime, float, str]]) -> None:
    """Commit ``unclaimed`` without pending rows, then a late kiln reading (10:28:30) with
    one, and run the one batch that claims it alone."""
    async with eval_env.pool.connection() as conn, conn.cursor() as cur:
        await cur.executemany("INSERT INTO readings (device_id, metric, ts, value, flag)"
                              " VALUES (%s, %s, %s, %s, %s)", unclaimed)
    await eval_env.write_rows([("PWR-KILN-1", "p", DAY + timedelta(minutes=148, seconds=30), 555.0, "N")])
    assert await runner.run_once() == 1


@pytest.mark.parametrize("cache", [True, False], ids=["cache", "no_cache"])
async def test_rows_committed_but_not_claimed_are_read_fresh(eval_env: EvalEnv, cache: bool) -> None:
    """The SCR stops at 10:30 (the last half hour of the data). A late kiln reading (10:28:30)
    is claimed alone while the half hour of every meter is already committed but its pending
    rows are not visible to the claim (committed between the claim and the cache's refresh).
    The claimed kiln's refresh brings its readings to 10:59; the other meters must not be
    judged from what the cache held before (their newest at 10:29): that evaluation would
    see no stage off, and the next batch, all of it newer than anything claimed before, would
    be skipped as a quiet tail. One treatment_off alert from 10:30, ongoing, with or without
    the cache."""
    runner = await kiln_runner(eval_env, cache)
    late_half_hour = kiln_minutes(150, 180, scr_off_from=150)
    await claim_late_kiln_reading(eval_env, runner, late_half_hour)
    devices = sorted({r[0] for r in late_half_hour})
    await eval_env.execute(
        "INSERT INTO pending_eval (device_id, t_min, t_max) SELECT d, %s, %s FROM unnest(%s::text[]) d",
        (DAY + timedelta(minutes=150), DAY + timedelta(minutes=179), devices))
    await runner.drain()
    alerts = await eval_env.alerts()
    assert [(a.rule, a.start, a.end) for a in alerts] == [
        ("treatment_off", DAY + timedelta(minutes=150), None)]
    assert alerts[0].evidence["facts"]["stages_off_devices"] == [["PWR-SCR-1"]]


@pytest.mark.parametrize("cache", [True, False], ids=["cache", "no_cache"])
async def test_readings_older_than_what_an_evaluation_read_are_judged(eval_env: EvalEnv,
                                                                      cache: bool) -> None:
    """A full evaluation reads, through the refreshed cache, readings newer than anything its
    batch claimed (the kiln and the other stages to 10:59, their pending rows not yet
    visible). The SCR's logger then sends its half hour 10:30-10:59 late (0.3 kW: off): all
    of it after everything the batch claimed, none of it after what the evaluation read.
    Judged as a quiet tail from the evaluated 10:59 on, the outage would never be seen; it
    must be evaluated in full: one treatment_off alert from 10:30."""
    runner = await kiln_runner(eval_env, cache)
    half_hour = kiln_minutes(150, 180, scr_off_from=150)
    others = [r for r in half_hour if r[0] != "PWR-SCR-1"]
    # a full evaluation, which reads the others to 10:59
    await claim_late_kiln_reading(eval_env, runner, others)
    assert await eval_env.alerts() == []  # the SCR without a value: not decidedly off
    await eval_env.execute(
        "INSERT INTO pending_eval (device_id, t_min, t_max) SELECT d, %s, %s FROM unnest(%s::text[]) d",
        (DAY + timedelta(minutes=150), DAY + timedelta(minutes=179), sorted({r[0] for r in others})))
    await eval_env.write_rows([r for r in half_hour if r[0] == "PWR-SCR-1"])
    await runner.drain()
    alerts = await eval_env.alerts()
    assert [(a.rule, a.start, a.end) for a in alerts] == [
        ("treatment_off", DAY + timedelta(minutes=150), None)]


async def test_an_order_declared_ahead_ends_the_quiet_tails(eval_env: EvalEnv) -> None:
    """No order names the cement works: the kiln's new minutes are quiet tails for
    emergency_noncompliance (nothing to find without an order). A shutdown order for
    01:00-03:00, declared at 00:30 before any of its minutes came, queues its window, and
    every minute up to its end is evaluated in full: the kiln running on from 01:00 is an
    alert."""
    metrics = CollectorRegistry()
    runner = DetectorRunner(eval_env.pool, eval_env.registry,
                            build_evaluators(eval_env.registry, default_params(),
                                             rules=frozenset({"emergency_noncompliance"})),
                            RunnerMetrics(metrics))

    async def minutes(start: int, end: int) -> None:
        for m in range(start, end):
            await eval_env.write_rows([(KILN, "p", DAY + timedelta(minutes=m), 560.0, "N")])
            await runner.drain()

    await minutes(0, 30)
    assert (metrics.get_sample_value("ecowarn_detector_tail_quiet_total") or 0) >= 20
    await insert_order(eval_env, [CEMENT], DAY + timedelta(hours=1), DAY + timedelta(hours=3))
    await minutes(30, 100)
    alerts = await eval_env.alerts()
    assert [(a.rule, a.subject, a.start, a.end) for a in alerts] == [
        ("emergency_noncompliance", KILN, DAY + timedelta(hours=1), None)]


def stack_rows(seed: int) -> list[Row]:
    """Five hours of the kiln's stack every 20 s while the kiln runs: SO2 frozen at 12.3
    from minute 60 to 199 (an alert), NOx frozen for 100 minutes from 220 (too short); the
    rest varying."""
    rng = np.random.default_rng(seed)
    rows: list[Row] = []
    for s in range(0, 5 * 3600, 20):
        ts = DAY + timedelta(seconds=s)
        m = s // 60
        rows.append(Row(KILN, "p", ts, float(560 + rng.normal(0, 25)), "N"))
        rows.append(Row(KILN_CEMS, "so2", ts, 12.3 if 60 <= m < 200 else float(20 + rng.normal(0, 2)), "N"))
        rows.append(Row(KILN_CEMS, "nox", ts, 31.0 if 220 <= m < 320 else float(40 + rng.normal(0, 3)), "N"))
        rows.append(Row(KILN_CEMS, "pm", ts, float(5 + rng.normal(0, 0.5)), "N"))
        rows.append(Row(KILN_CEMS, "o2", ts, float(10 + rng.normal(0, 0.3)), "N"))
    return rows


@pytest.mark.parametrize("late_fraction", [0.1, 0.0], ids=["late", "in_order"])
async def test_flatline_quiet_tails_change_no_result(database: str, second_database: str,
                                                     sample_registry: Registry,
                                                     late_fraction: float) -> None:
    chunks = delivery(stack_rows(seed=11), seed=13, late_fraction=late_fraction)
    metrics = CollectorRegistry()
    final, _ = await twin_stream(database, second_database, sample_registry, chunks, metrics,
                                 rules=frozenset({"flatline"}),
                                 check=lambda k: not late_fraction or k % 40 == 0
                                 or k == len(chunks) - 1)
    assert [(r[0], r[1], r[2], r[3]) for r in final] == [
        ("flatline", f"{KILN_CEMS}/so2", DAY + timedelta(minutes=60), DAY + timedelta(minutes=200))]
    if not late_fraction:  # whole timestamps, in order: new minutes extend what was read
        assert (metrics.get_sample_value("ecowarn_detector_tail_quiet_total") or 0) > 1000


def station_rows(registry: Registry) -> list[Row]:
    """05:30-08:30 of the simulated air stations, AQ-0001 far above its neighbours from 06:00
    to 08:00; each station reports once a minute at a second of its own (so a station's
    neighbours report within the minute of its newest reading)."""
    sim = simulate_days(registry, 1,
                        [AirHotspot(("AQ-0001",), at(0, 6), at(0, 8))], enterprises=(), stations=True)
    offset = {d: 7 + 11 * k % 50 for k, d in enumerate(sorted(sim.series))}
    rows = [Row(d, m, ts + timedelta(seconds=offset[d]), v, f)
            for d, m, ts, v, f in sim_rows(sim, start=at(0, 5, 30), end=at(0, 8, 30))
            if m in ("pm25", "pm10", "wind_dir", "wind_speed")]
    return sorted(rows, key=lambda r: r.ts)


@pytest.mark.parametrize("late_fraction", [0.1, 0.0], ids=["late", "in_order"])
async def test_air_hotspot_memories_change_no_result(database: str, second_database: str,
                                                     sample_registry: Registry,
                                                     late_fraction: float) -> None:
    chunks = delivery(station_rows(sample_registry), seed=17, late_fraction=late_fraction)
    metrics = CollectorRegistry()
    final, _ = await twin_stream(database, second_database, sample_registry, chunks, metrics,
                                 rules=frozenset({"air_hotspot"}),
                                 check=lambda k: k % 25 == 0 or k == len(chunks) - 1)
    assert {(r[0], r[1]) for r in final} == {("air_hotspot", "AQ-0001")}
    assert (metrics.get_sample_value("ecowarn_detector_unchanged_total") or 0) > 0


def kiln_cycles() -> list[Row]:
    """Eight hours of the sample kiln starting and stopping every hour (on from minute 10 to
    minute 50 of each), readings every 20 s; its stages mostly follow it, except: hour 1 the
    bag filter starts 4 minutes late, hour 2 the SCR stops 5 minutes early, hour 3 the bag
    filter starts 12 minutes late (``treatment_off``'s, not this rule's), hour 5 the
    desulphurisation switches to its second meter mid-run, hour 6 the SCR starts 2 minutes
    late (too little), hour 7 the kiln runs between its thresholds for a while."""
    rows: list[Row] = []
    for s in range(0, 8 * 3600, 20):
        ts = DAY + timedelta(seconds=s)
        hour, m = divmod(s // 60, 60)
        kiln_on = 10 <= m < 50
        kiln = 560.0 if kiln_on else 5.0
        if hour == 7 and 25 <= m < 32:
            kiln = 72.0  # between off (64 kW) and on (80 kW)
        bag_on = kiln_on and not (hour == 1 and m < 14) and not (hour == 3 and m < 22)
        scr_on = kiln_on and not (hour == 2 and m >= 45) and not (hour == 6 and m < 12)
        ds_second = hour == 5 and m >= 30
        rows += [Row("PWR-KILN-1", "p", ts, kiln, "N"),
                 Row("PWR-BAG-1", "p", ts, 110.0 if bag_on else 0.4, "N"),
                 Row("PWR-DS-1", "p", ts, 150.0 if kiln_on and not ds_second else 0.5, "N"),
                 Row("PWR-DS-2", "p", ts, 150.0 if kiln_on and ds_second else 0.5, "N"),
                 Row("PWR-SCR-1", "p", ts, 85.0 if scr_on else 0.3, "N")]
    return rows


async def test_sequence_quiet_tails_change_no_result(database: str, second_database: str,
                                                     sample_registry: Registry) -> None:
    """treatment_sequence skips quiet tails (production steadily off, or steadily on with every
    stage running): minute by minute in order, the runner with its memories raises exactly
    the alerts of one that evaluates everything from the database, and it does skip."""
    metrics = CollectorRegistry()
    final, _ = await twin_stream(database, second_database, sample_registry,
                                 delivery(kiln_cycles(), seed=1, late_fraction=0.0), metrics,
                                 rules=frozenset({"treatment_sequence"}))
    starts = [(r[2] - DAY) / timedelta(minutes=1) for r in final if r[0] == "treatment_sequence"]
    assert starts == [70.0, 165.0], final  # hour 1's late start, hour 2's early stop
    assert (metrics.get_sample_value("ecowarn_detector_tail_quiet_total") or 0) > 100
