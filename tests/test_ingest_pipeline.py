"""The pipeline below the sources: completion order, the fast path, time hygiene metrics."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from prometheus_client import CollectorRegistry
from psycopg_pool import AsyncConnectionPool

from ecowarn.config.registry import Registry
from ecowarn.detectors.runtime.eval_treatment_off import TreatmentOffEvaluator
from ecowarn.detectors.runtime.runner import DetectorRunner, RunnerMetrics
from ecowarn.detectors.treatment_off import TreatmentOffParams
from ecowarn.ingest.pipeline import IngestMetrics, IngestPipeline
from ecowarn.store.model import Rejection, Row

T0 = datetime(2026, 11, 23, tzinfo=UTC)


@pytest.fixture
async def pool(database: str) -> AsyncIterator[AsyncConnectionPool[Any]]:
    async with AsyncConnectionPool(database, min_size=1, max_size=4, open=False) as p:
        yield p


async def fetch(pool: AsyncConnectionPool[Any], query: str) -> list[tuple[Any, ...]]:
    async with pool.connection() as conn:
        cur = await conn.execute(query)
        return await cur.fetchall()


def meter_rows(device: str, start_min: int, n: int, value: float = 100.0) -> list[Row]:
    return [Row(device, "p", T0 + timedelta(minutes=start_min + k), value, "N") for k in range(n)]


async def test_completions_run_in_submission_order_across_concurrent_batches(
        pool: AsyncConnectionPool[Any], sample_registry: Registry) -> None:
    """With two writers and many small batches, on_done callbacks fire exactly in submission order."""
    order: list[int] = []
    metrics = CollectorRegistry()
    async with IngestPipeline(pool, sample_registry, IngestMetrics(metrics), batch_size=7,
                              flush_ms=1, writers=2) as pl:
        for i in range(300):
            rows = meter_rows("PWR-KILN-1", i * 3, 1 + i % 5)
            rejections = ([Rejection("mqtt", "bad_flag", "x", b"{}", None, "PWR-KILN-1")]
                          if i % 17 == 0 else [])
            await pl.submit(rows, rejections, on_done=lambda i=i: order.append(i))
        await pl.drain(30)
    assert order == list(range(300))
    assert metrics.get_sample_value("ecowarn_write_batch_rows_count") > 10


async def test_commits_follow_submission_order(pool: AsyncConnectionPool[Any],
                                               sample_registry: Registry) -> None:
    """Batches commit in the order they were cut: per device, later submissions get later transactions."""
    async with IngestPipeline(pool, sample_registry, IngestMetrics(CollectorRegistry()),
                              batch_size=50, flush_ms=1, writers=2) as pl:
        for i in range(40):
            await pl.submit(meter_rows("PWR-BAG-1", i * 20, 20) + meter_rows("PWR-SCR-1", i * 20, 20))
        await pl.drain(30)
    rows = await fetch(pool, "SELECT device_id, xmin::text::bigint FROM readings ORDER BY device_id, ts")
    by_dev: dict[str, list[int]] = {}
    for dev, x in rows:
        by_dev.setdefault(dev, []).append(x)
    assert len(rows) == 1600
    for xs in by_dev.values():
        assert xs == sorted(xs)
        assert len(set(xs)) > 5, "several transactions were involved"


async def test_redelivered_rows_take_the_staged_path_and_are_counted_once(
        pool: AsyncConnectionPool[Any], sample_registry: Registry) -> None:
    """A batch mixing new and already stored readings stores the new ones and counts the rest as duplicates."""
    metrics = CollectorRegistry()
    async with IngestPipeline(pool, sample_registry, IngestMetrics(metrics), flush_ms=1) as pl:
        await pl.submit(meter_rows("PWR-KILN-1", 0, 10), wait=True)
        await pl.submit(meter_rows("PWR-KILN-1", 5, 10), wait=True)
    assert (await fetch(pool, "SELECT count(*) FROM readings")) == [(15,)]
    assert metrics.get_sample_value("ecowarn_readings_ingested_total", {"kind": "power"}) == 15
    assert metrics.get_sample_value("ecowarn_readings_duplicate_total", {"kind": "power"}) == 5
    spans = await fetch(pool, "SELECT t_min, t_max FROM pending_eval ORDER BY id")
    assert spans == [(T0, T0 + timedelta(minutes=9)),
                     (T0 + timedelta(minutes=10), T0 + timedelta(minutes=14))]


async def test_late_reading_is_stored_counted_and_its_window_reevaluated(
        pool: AsyncConnectionPool[Any], sample_registry: Registry) -> None:
    """Treatment data arriving after later data was evaluated queues its window; the runner then alerts."""
    metrics = CollectorRegistry()
    runner = DetectorRunner(pool, sample_registry,
                            [TreatmentOffEvaluator(sample_registry, TreatmentOffParams())],
                            RunnerMetrics(metrics))
    minutes = 180
    outage = range(60, 90)
    on_time: list[Row] = []
    late: list[Row] = []
    for m in range(minutes):
        ts = T0 + timedelta(minutes=m)
        on_time.append(Row("PWR-KILN-1", "p", ts, 560.0, "N"))
        for dev, load in (("PWR-BAG-1", 110.0), ("PWR-SCR-1", 85.0)):
            row = Row(dev, "p", ts, 0.3 if m in outage else load, "N")
            (late if m in outage else on_time).append(row)
    async with IngestPipeline(pool, sample_registry, IngestMetrics(metrics), flush_ms=1) as pl:
        await pl.submit(on_time, wait=True)
        await runner.drain()
        assert await fetch(pool, "SELECT count(*) FROM alerts") == [(0,)], \
            "a treatment meter without data is a gap, not an outage"
        assert await fetch(pool, "SELECT count(*) FROM pending_eval") == [(0,)]
        await pl.submit(late, wait=True)
    pending = await fetch(pool, "SELECT device_id, t_min, t_max FROM pending_eval ORDER BY device_id")
    assert pending == [(dev, T0 + timedelta(minutes=60), T0 + timedelta(minutes=89))
                       for dev in ("PWR-BAG-1", "PWR-SCR-1")]
    assert metrics.get_sample_value("ecowarn_readings_out_of_order_total", {"kind": "power"}) == 60
    await runner.drain()
    alerts = await fetch(pool, "SELECT rule, start_ts, end_ts FROM alerts")
    assert alerts == [("treatment_off", T0 + timedelta(minutes=60), T0 + timedelta(minutes=90))]


async def test_delay_skew_and_lag_metrics(pool: AsyncConnectionPool[Any],
                                          sample_registry: Registry) -> None:
    """Delays are histogrammed without device labels; the skew gauge names only the worst devices."""
    metrics = CollectorRegistry()
    im = IngestMetrics(metrics, late_after_s=3600)
    now = datetime.now(UTC)
    async with IngestPipeline(pool, sample_registry, im, flush_ms=1) as pl:
        # A meter whose clock is 90 s behind, one 20 s ahead, one on time, one two hours late.
        await pl.submit([Row("PWR-KILN-1", "p", now - timedelta(seconds=90), 1.0, "N")])
        await pl.submit([Row("PWR-BAG-1", "p", now + timedelta(seconds=20), 1.0, "N")])
        await pl.submit([Row("PWR-SCR-1", "p", now, 1.0, "N")])
        await pl.submit([Row("13010500000001", "so2", now - timedelta(hours=2), 1.0, "N")])
        await pl.drain(10)
    # Negative buckets (clocks ahead): no _count/_sum by the exposition rules; +Inf counts.
    assert metrics.get_sample_value("ecowarn_reading_delay_seconds_bucket", {"le": "+Inf"}) == 4
    assert metrics.get_sample_value("ecowarn_reading_delay_seconds_bucket", {"le": "-10.0"}) == 1
    assert metrics.get_sample_value("ecowarn_reading_delay_seconds_bucket", {"le": "120.0"}) == 3
    assert metrics.get_sample_value("ecowarn_readings_late_total", {"kind": "cems"}) == 1
    skew = metrics.get_sample_value("ecowarn_device_clock_skew_seconds", {"device_id": "PWR-KILN-1"})
    assert skew is not None and 89 < skew < 100
    ahead = metrics.get_sample_value("ecowarn_device_clock_skew_seconds", {"device_id": "PWR-BAG-1"})
    assert ahead is not None and -21 < ahead < -10
    assert metrics.get_sample_value("ecowarn_ingest_lag_seconds_count") >= 1
    # Bounded labels: only the worst N devices are exported.
    im.arrivals.skew._worst_n = 2
    exported = [s.labels["device_id"] for fam in metrics.collect()
                if fam.name == "ecowarn_device_clock_skew_seconds" for s in fam.samples]
    assert exported == ["13010500000001", "PWR-KILN-1"]


async def test_offer_refuses_without_queueing_when_the_queue_is_full(
        pool: AsyncConnectionPool[Any], sample_registry: Registry) -> None:
    """offer() never blocks: with the row budget used up it returns False and queues nothing."""
    pl = IngestPipeline(pool, sample_registry, IngestMetrics(CollectorRegistry()), queue_rows=10)
    assert pl.offer(meter_rows("PWR-KILN-1", 0, 10))
    assert not pl.offer(meter_rows("PWR-KILN-1", 10, 1))
    assert pl.queued_rows == 10
    async with pl:
        await pl.drain(10)
        assert pl.offer(meter_rows("PWR-KILN-1", 10, 1))
        await pl.drain(10)
    assert await fetch(pool, "SELECT count(*) FROM readings") == [(11,)]


async def test_row_the_database_refuses_is_dead_lettered_and_the_rest_stored(
        pool: AsyncConnectionPool[Any], sample_registry: Registry) -> None:
    """A batch with one unstorable row is split: that row is dead-lettered, the others committed in order."""
    metrics = CollectorRegistry()
    done: list[int] = []
    async with IngestPipeline(pool, sample_registry, IngestMetrics(metrics), batch_size=40,
                              flush_ms=1, writers=2) as pl:
        for i in range(20):
            rows = meter_rows("PWR-KILN-1", i * 10, 10)
            if i == 7:
                rows[3] = Row("PWR-KILN-1", "p\x00", rows[3].ts, 1.0, "N")  # text cannot hold NUL
            await pl.submit(rows, on_done=lambda i=i: done.append(i))
        await pl.drain(30)
    assert done == list(range(20))
    assert await fetch(pool, "SELECT count(*) FROM readings") == [(199,)]
    dead = await fetch(pool, "SELECT source, reason FROM dead_letters")
    assert dead == [("store", "store_refused")]
    assert metrics.get_sample_value("ecowarn_write_errors_total", {"kind": "refused"}) >= 1
    xids = [x for (x,) in await fetch(pool, "SELECT xmin::text::bigint FROM readings ORDER BY ts")]
    assert xids == sorted(xids)


def test_tune_gc_raises_the_young_generation_threshold() -> None:
    """The service's GC setting for ingest takes effect (and a second call changes nothing)."""
    import gc

    from ecowarn.ingest.pipeline import GC_GEN0_THRESHOLD, tune_gc

    tune_gc()
    tune_gc(gen0_threshold=123)
    assert gc.get_threshold()[0] == GC_GEN0_THRESHOLD


async def test_flush_time_counts_from_arrival_not_from_the_writer_freeing(
        pool: AsyncConnectionPool[Any], sample_registry: Registry) -> None:
    """Rows that queued while the only writer was blocked go out as soon as it is free: they
    already waited flush_ms, so they do not wait for it a second time."""
    flush_ms = 1500
    async with pool.connection() as locker, IngestPipeline(
            pool, sample_registry, IngestMetrics(CollectorRegistry()), batch_size=1000,
            flush_ms=flush_ms, writers=1) as pl:
        await locker.execute("LOCK TABLE readings IN ACCESS EXCLUSIVE MODE")  # blocks writes
        first, second = asyncio.Event(), asyncio.Event()
        await pl.submit(meter_rows("PWR-KILN-1", 0, 1), on_done=first.set)
        pl.flush()  # cut the first batch now: it blocks on the lock
        await asyncio.sleep(0.2)
        await pl.submit(meter_rows("PWR-KILN-1", 1, 1), on_done=second.set)
        await asyncio.sleep(flush_ms / 1000 + 0.2)  # the second row has waited flush_ms
        assert not first.is_set() and not second.is_set()
        await locker.commit()  # releases the lock
        released = time.monotonic()
        async with asyncio.timeout(10):
            await first.wait()
            await second.wait()
        assert time.monotonic() - released < flush_ms / 1000 / 2
    assert await fetch(pool, "SELECT count(*) FROM readings") == [(2,)]
