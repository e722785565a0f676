"""The pipeline with its spool against a real PostgreSQL behind a proxy the test cuts."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from conftest import eventually, via_proxy
from fix_proxy import TcpProxy
from prometheus_client import CollectorRegistry
from psycopg_pool import AsyncConnectionPool

from ecowarn.config.registry import Registry
from ecowarn.ingest import pipeline as pipeline_mod
from ecowarn.ingest.pipeline import IngestMetrics, IngestPipeline
from ecowarn.ingest.spool import Spool, SpoolMetrics
from ecowarn.store.model import Rejection, Row

T0 = datetime(2026, 11, 23, tzinfo=UTC)
DEVICES = ("PWR-KILN-1", "PWR-BAG-1", "PWR-SCR-1")


@dataclass
class Env:
    pipeline: IngestPipeline
    spool: Spool
    proxy: TcpProxy
    metrics: CollectorRegistry
    database: str

    def rows_in_db(self) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.database) as conn:
            return conn.execute("SELECT device_id, ts, xmin::text::bigint FROM readings"
                                " ORDER BY device_id, ts").fetchall()

    def value(self, name: str, labels: dict[str, str] | None = None) -> float:
        return self.metrics.get_sample_value(name, labels or {}) or 0.0


@pytest.fixture
async def env(database: str, sample_registry: Registry, db_proxy: TcpProxy, tmp_path: Path,
              monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Env]:
    monkeypatch.setattr(pipeline_mod, "RETRY_INITIAL_S", 0.05)
    monkeypatch.setattr(pipeline_mod, "RETRY_MAX_S", 0.3)
    metrics = CollectorRegistry()
    # A short pool timeout and reconnect window so the outage is noticed, and the end of it,
    # within a second (the service uses 10 s and 30 s).
    async with AsyncConnectionPool(via_proxy(database, db_proxy), min_size=1, max_size=4,
                                   open=False, timeout=1.0, reconnect_timeout=1.0) as pool:
        async with Spool(tmp_path / "spool", max_bytes=8 << 20,
                         metrics=SpoolMetrics(metrics)) as spool:
            async with IngestPipeline(pool, sample_registry, IngestMetrics(metrics), batch_size=50,
                                      flush_ms=5, spool=spool, writers=2) as pl:
                yield Env(pl, spool, db_proxy, metrics, database)


def minute_rows(device: str, minute: int) -> list[Row]:
    return [Row(device, "p", T0 + timedelta(minutes=minute), float(minute), "N")]


async def test_outage_spools_acknowledges_and_replays_in_order(env: Env) -> None:
    """While the database is away inputs are spooled and completed; afterwards all are stored in order."""
    done: list[int] = []
    seq = 0

    async def send(minutes: range) -> None:
        nonlocal seq
        for m in minutes:
            for dev in DEVICES:
                seq += 1
                await env.pipeline.submit(minute_rows(dev, m), on_done=lambda s=seq: done.append(s))

    await send(range(0, 20))
    await env.pipeline.drain(10)
    assert len(env.rows_in_db()) == 60

    env.proxy.stop()
    rejected = Rejection("mqtt", "naive_timestamp", "no offset", b'{"ts": "x"}', None, "PWR-KILN-1")
    await env.pipeline.submit([], [rejected])
    await send(range(20, 120))
    await eventually(lambda: len(done) == seq, 20, "completion of every input while the database is down")
    assert done == list(range(1, seq + 1)), "completions (acks) in submission order"
    assert env.spool.pending_records > 0
    assert env.value("ecowarn_spool_rows") == 300
    assert len(env.rows_in_db()) == 60, "nothing was written while the proxy was down"
    assert env.pipeline.db_state == "unavailable"

    env.proxy.start()
    await send(range(120, 130))
    await env.pipeline.drain(30)
    rows = env.rows_in_db()
    assert len(rows) == 390
    assert {(d, ts) for d, ts, _ in rows} == {
        (d, T0 + timedelta(minutes=m)) for d in DEVICES for m in range(130)}
    for dev in DEVICES:
        xids = [x for d, _, x in rows if d == dev]
        assert xids == sorted(xids), f"{dev}: stored in the order of arrival"
    with psycopg.connect(env.database) as conn:
        dead = conn.execute("SELECT reason FROM dead_letters").fetchall()
    assert dead == [("naive_timestamp",)]
    assert env.spool.pending_records == 0
    assert env.value("ecowarn_spool_bytes") == 0
    assert env.value("ecowarn_readings_ingested_total", {"kind": "power"}) == 390
    # Inputs that arrive while the spool still holds data follow it there (order).
    assert env.value("ecowarn_ingest_spooled_rows_total") >= 300
    assert env.pipeline.db_state == "ok"


async def test_spool_left_by_a_crash_is_replayed_first(database: str, sample_registry: Registry,
                                                       tmp_path: Path) -> None:
    """Batches spooled by an earlier process are written before anything new, then the spool is empty."""
    d = tmp_path / "spool"
    from ecowarn.ingest.spool import SpoolBatch

    async with Spool(d, max_bytes=1 << 20) as spool:
        for m in range(5):
            await spool.append(SpoolBatch(0.0, minute_rows("PWR-KILN-1", m), []))
    metrics = CollectorRegistry()
    async with AsyncConnectionPool(database, min_size=1, max_size=4, open=False) as pool:
        async with Spool(d, max_bytes=1 << 20) as spool:
            assert spool.pending_records == 5
            async with IngestPipeline(pool, sample_registry, IngestMetrics(metrics), flush_ms=1,
                                      spool=spool) as pl:
                await pl.submit(minute_rows("PWR-KILN-1", 5), wait=True)
                await pl.drain(10)
                assert spool.pending_records == 0
        async with pool.connection() as conn:
            cur = await conn.execute("SELECT xmin::text::bigint FROM readings ORDER BY ts")
            xids = [x for (x,) in await cur.fetchall()]
    assert len(xids) == 6 and xids == sorted(xids)
