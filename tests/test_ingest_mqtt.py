"""MQTT -> parser -> pipeline -> PostgreSQL, against the real broker and database."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiomqtt
import psycopg
import pytest
from prometheus_client import CollectorRegistry
from psycopg_pool import AsyncConnectionPool

from ecowarn.config.registry import Registry
from ecowarn.core.mqtturl import parse_mqtt_url
from ecowarn.ingest import mqtt as mqtt_mod
from ecowarn.ingest.mqtt import MqttCollector
from ecowarn.ingest.parse import TelemetryParser
from ecowarn.ingest.pipeline import IngestMetrics, IngestPipeline


@dataclass
class Harness:
    pool: AsyncConnectionPool[Any]
    pipeline: IngestPipeline
    collector: MqttCollector
    metrics: CollectorRegistry
    prefix: str
    mqtt_url: str

    async def publish(self, topic: str, payload: bytes | str) -> None:
        ep = parse_mqtt_url(self.mqtt_url)
        async with aiomqtt.Client(ep.host, ep.port) as client:
            await client.publish(self.prefix + topic, payload, qos=1)

    async def settle(self, expected_messages: int) -> None:
        """Wait until the collector has handled this many messages, then drain the pipeline."""
        for _ in range(500):
            got = self.metrics.get_sample_value("ecowarn_mqtt_messages_total") or 0
            if got >= expected_messages:
                break
            await asyncio.sleep(0.01)
        await self.pipeline.drain(timeout_s=10)

    async def fetch(self, query: str, *args: object) -> list[tuple[Any, ...]]:
        async with self.pool.connection() as conn:
            cur = await conn.execute(query, args)
            return await cur.fetchall()


@pytest.fixture
async def harness(database: str, sample_registry: Registry, mqtt_url: str,
                  topic_prefix: str) -> AsyncIterator[Harness]:
    metrics = CollectorRegistry()
    async with AsyncConnectionPool(database, min_size=1, max_size=4, open=False) as pool:
        pipeline = IngestPipeline(pool, sample_registry, IngestMetrics(metrics), flush_ms=10)
        async with pipeline:
            collector = MqttCollector(parse_mqtt_url(mqtt_url), TelemetryParser(sample_registry),
                                      pipeline, metrics, client_id=f"c-{topic_prefix}",
                                      topic_prefix=topic_prefix, clean_session=True)
            task = asyncio.create_task(collector.run())
            await asyncio.wait_for(collector.subscribed.wait(), 10)
            try:
                yield Harness(pool, pipeline, collector, metrics, topic_prefix, mqtt_url)
            finally:
                task.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await task


READING = {"ts": "2026-11-23T08:01:00+08:00",
           "values": {"so2": 12.3, "nox": 40.1, "pm": 3.2, "o2": 8.9, "flow": 152.0},
           "flags": {"so2": "N", "pm": "M"}}


async def test_reading_published_over_mqtt_is_stored_with_flags(harness: Harness) -> None:
    """A CEMS reading published on telemetry/cems/{MN} lands in readings, one row per metric."""
    await harness.publish("telemetry/cems/13010500000001", json.dumps(READING))
    await harness.settle(1)
    rows = await harness.fetch(
        "SELECT metric, value, flag, ts AT TIME ZONE 'UTC' FROM readings"
        " WHERE device_id = '13010500000001' ORDER BY metric")
    assert [(r[0], r[1], r[2]) for r in rows] == [
        ("flow", 152.0, "N"), ("nox", 40.1, "N"), ("o2", 8.9, "N"), ("pm", 3.2, "M"),
        ("so2", 12.3, "N")]
    assert str(rows[0][3]) == "2026-11-23 00:01:00"


async def test_same_message_twice_is_stored_once(harness: Harness) -> None:
    """Redelivery of the same (device, metric, ts) is absorbed by the key and counted."""
    payload = json.dumps({"ts": 1795392060000, "values": {"p": 640.5, "e": 1200.0}})
    await harness.publish("telemetry/power/PWR-KILN-1", payload)
    await harness.publish("telemetry/power/PWR-KILN-1", payload)
    await harness.settle(2)
    rows = await harness.fetch("SELECT count(*) FROM readings WHERE device_id = 'PWR-KILN-1'")
    assert rows[0][0] == 2
    assert harness.metrics.get_sample_value("ecowarn_readings_duplicate_total",
                                            {"kind": "power"}) == 2
    assert harness.metrics.get_sample_value("ecowarn_readings_ingested_total",
                                            {"kind": "power"}) == 2


async def test_bad_inputs_are_dead_lettered_with_distinct_reasons(harness: Harness) -> None:
    """Malformed JSON, naive ts, unknown device and NaN each keep their payload and reason."""
    cases = [
        ("telemetry/power/PWR-KILN-1", b"{not json", "malformed_json"),
        ("telemetry/power/PWR-KILN-1",
         b'{"ts": "2026-11-23T08:01:00", "values": {"p": 1.0}}', "naive_timestamp"),
        ("telemetry/power/NO-SUCH-METER",
         b'{"ts": "2026-11-23T08:01:00+08:00", "values": {"p": 1.0}}', "unknown_device"),
        ("telemetry/power/PWR-KILN-1",
         b'{"ts": "2026-11-23T08:01:00+08:00", "values": {"p": NaN}}', "non_finite_value"),
        ("telemetry/cems/PWR-KILN-1",
         b'{"ts": "2026-11-23T08:01:00+08:00", "values": {"so2": 1.0}}', "kind_mismatch"),
    ]
    for topic, payload, _ in cases:
        await harness.publish(topic, payload)
    # The collector keeps running: a good reading after the bad ones is stored.
    await harness.publish("telemetry/power/PWR-BAG-1",
                          b'{"ts": "2026-11-23T08:02:00+08:00", "values": {"p": 100.0}}')
    await harness.settle(len(cases) + 1)
    rows = await harness.fetch(
        "SELECT topic, reason, payload, detail FROM dead_letters ORDER BY id")
    assert [(r[0], r[1], bytes(r[2])) for r in rows] == [(t, reason, p) for t, p, reason in cases]
    assert all(r[3] for r in rows), "every dead letter explains itself"
    stored = await harness.fetch("SELECT value FROM readings WHERE device_id = 'PWR-BAG-1'")
    assert stored == [(100.0,)]
    for _, _, reason in cases:
        assert harness.metrics.get_sample_value(
            "ecowarn_readings_rejected_total", {"source": "mqtt", "reason": reason}) == 1


async def test_batch_with_one_bad_reading_stores_the_others(harness: Harness) -> None:
    """In an array payload each reading stands alone; the bad one is dead-lettered by itself."""
    batch = [
        {"ts": "2026-11-23T08:00:00+08:00", "values": {"p": 500.0}},
        {"ts": "2026-11-23T08:01:00", "values": {"p": 501.0}},
        {"ts": "2026-11-23T08:02:00+08:00", "values": {"p": 502.0}},
    ]
    await harness.publish("telemetry/power/PWR-KILN-1", json.dumps(batch))
    await harness.settle(1)
    stored = await harness.fetch(
        "SELECT value FROM readings WHERE device_id = 'PWR-KILN-1' ORDER BY ts")
    assert stored == [(500.0,), (502.0,)]
    dead = await harness.fetch("SELECT reason, payload FROM dead_letters")
    assert len(dead) == 1 and dead[0][0] == "naive_timestamp"
    assert json.loads(bytes(dead[0][1]))["values"] == {"p": 501.0}


async def test_collector_reconnects_after_broker_connection_loss(
        harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    """When the broker drops the collector's connection it reconnects and resumes ingesting."""
    monkeypatch.setattr(mqtt_mod, "RECONNECT_INITIAL_S", 0.05)
    # Another client with the same client id makes the broker disconnect the collector.
    ep = parse_mqtt_url(harness.mqtt_url)
    async with aiomqtt.Client(ep.host, ep.port, identifier=f"c-{harness.prefix}"):
        await asyncio.sleep(0.2)
    for _ in range(300):
        if harness.metrics.get_sample_value("ecowarn_mqtt_reconnects_total"):
            break
        await asyncio.sleep(0.01)
    assert harness.metrics.get_sample_value("ecowarn_mqtt_reconnects_total") >= 1
    await asyncio.wait_for(harness.collector.subscribed.wait(), 10)
    await harness.publish("telemetry/power/PWR-SCR-1",
                          b'{"ts": "2026-11-23T09:00:00+08:00", "values": {"p": 90.0}}')
    for _ in range(500):
        await harness.pipeline.drain(5)
        rows = await harness.fetch("SELECT value FROM readings WHERE device_id = 'PWR-SCR-1'")
        if rows:
            break
        await asyncio.sleep(0.01)
    assert rows == [(90.0,)]


async def test_unreachable_database_keeps_batch_and_retries(
        database: str, sample_registry: Registry, monkeypatch: pytest.MonkeyPatch) -> None:
    """A write that fails for lack of a database is retried, not dropped."""
    from datetime import UTC, datetime

    from ecowarn.ingest import pipeline as pipeline_mod
    from ecowarn.store.model import Row

    monkeypatch.setattr(pipeline_mod, "RETRY_INITIAL_S", 0.05)
    metrics = CollectorRegistry()
    # A pool whose connections fail until we "restore" the database by renaming it back.
    admin = psycopg.conninfo.make_conninfo(database, dbname="postgres")
    dbname = psycopg.conninfo.conninfo_to_dict(database)["dbname"]
    async with AsyncConnectionPool(database, min_size=0, max_size=2, open=False,
                                   timeout=0.5) as pool:
        async with IngestPipeline(pool, sample_registry, IngestMetrics(metrics), flush_ms=5) as pl:
            with psycopg.connect(admin, autocommit=True) as c:
                c.execute(f'ALTER DATABASE "{dbname}" RENAME TO "{dbname}_away"')
            try:
                row = Row("PWR-KILN-1", "p", datetime(2026, 11, 23, tzinfo=UTC), 1.0, "N")
                await pl.submit([row])
                for _ in range(200):
                    if metrics.get_sample_value("ecowarn_write_errors_total",
                                                {"kind": "unavailable"}):
                        break
                    await asyncio.sleep(0.02)
                assert metrics.get_sample_value("ecowarn_write_errors_total",
                                                {"kind": "unavailable"}) >= 1
            finally:
                with psycopg.connect(admin, autocommit=True) as c:
                    c.execute(f'ALTER DATABASE "{dbname}_away" RENAME TO "{dbname}"')
            await pl.drain(timeout_s=20)
        async with pool.connection() as conn:
            cur = await conn.execute("SELECT value FROM readings")
            assert await cur.fetchall() == [(1.0,)]


async def test_full_queue_blocks_the_source_until_rows_are_written(
        database: str, sample_registry: Registry) -> None:
    """With the queue full, submit() waits (backpressure) and nothing is dropped."""
    from datetime import UTC, datetime, timedelta

    from ecowarn.store.model import Row

    metrics = CollectorRegistry()
    t0 = datetime(2026, 11, 23, tzinfo=UTC)
    rows = [Row("PWR-KILN-1", "p", t0 + timedelta(minutes=i), float(i), "N") for i in range(50)]
    async with AsyncConnectionPool(database, min_size=1, max_size=2, open=False) as pool:
        pipeline = IngestPipeline(pool, sample_registry, IngestMetrics(metrics), batch_size=10,
                                  flush_ms=1, queue_rows=10)
        # Not started yet: nothing drains the queue, so the second submit must block.
        await pipeline.submit(rows[:10])
        blocked = asyncio.create_task(pipeline.submit(rows[10:20]))
        await asyncio.sleep(0.1)
        assert not blocked.done()
        async with pipeline:
            await asyncio.wait_for(blocked, 10)
            for i in range(20, 50, 10):
                await pipeline.submit(rows[i:i + 10])
            await pipeline.drain(10)
        async with pool.connection() as conn:
            cur = await conn.execute("SELECT count(*) FROM readings")
            assert (await cur.fetchone()) == (50,)


async def test_message_is_acknowledged_only_after_its_commit(
        database: str, sample_registry: Registry, mqtt_url: str, topic_prefix: str,
        db_proxy: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """A message received while its batch cannot commit is not acked; the session's next collector stores it."""
    from conftest import eventually, via_proxy

    from ecowarn.ingest import pipeline as pipeline_mod

    monkeypatch.setattr(pipeline_mod, "RETRY_INITIAL_S", 0.05)
    monkeypatch.setattr(pipeline_mod, "RETRY_MAX_S", 0.2)
    cid = f"c-{topic_prefix}"
    dsn = via_proxy(database, db_proxy)
    readings = [b'{"ts": "2026-11-23T09:0%d:00+08:00", "values": {"p": %d.0}}' % (i, i) for i in range(3)]

    async def run_collector(metrics: CollectorRegistry, pipeline: IngestPipeline) -> asyncio.Task[None]:
        collector = MqttCollector(parse_mqtt_url(mqtt_url), TelemetryParser(sample_registry), pipeline,
                                  metrics, client_id=cid, topic_prefix=topic_prefix, clean_session=False)
        task = asyncio.create_task(collector.run())
        await asyncio.wait_for(collector.subscribed.wait(), 10)
        return task

    async def wait_for(metrics: CollectorRegistry, name: str, value: float,
                       labels: dict[str, str] | None = None) -> None:
        await eventually(lambda: (metrics.get_sample_value(name, labels or {}) or 0) >= value,
                         10, f"{name} >= {value}")

    db_proxy.stop()
    first = CollectorRegistry()
    async with AsyncConnectionPool(dsn, min_size=0, max_size=2, open=False, timeout=0.5,
                                   reconnect_timeout=0.5) as pool:
        async with IngestPipeline(pool, sample_registry, IngestMetrics(first), flush_ms=5,
                                  close_timeout_s=0.2) as pl:
            task = await run_collector(first, pl)
            ep = parse_mqtt_url(mqtt_url)
            async with aiomqtt.Client(ep.host, ep.port) as pub:
                for payload in readings:
                    await pub.publish(f"{topic_prefix}telemetry/power/PWR-KILN-1", payload, qos=1)
            await wait_for(first, "ecowarn_mqtt_messages_total", 3)
            await wait_for(first, "ecowarn_write_errors_total", 1, {"kind": "unavailable"})
            assert (first.get_sample_value("ecowarn_mqtt_acked_total") or 0) == 0
            task.cancel()  # the collector goes away with three messages unacknowledged
            with pytest.raises(asyncio.CancelledError):
                await task

    db_proxy.start()
    second = CollectorRegistry()
    async with AsyncConnectionPool(dsn, min_size=1, max_size=2, open=False) as pool:
        async with IngestPipeline(pool, sample_registry, IngestMetrics(second), flush_ms=5) as pl:
            task = await run_collector(second, pl)
            await wait_for(second, "ecowarn_mqtt_acked_total", 3)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
        async with pool.connection() as conn:
            cur = await conn.execute("SELECT value FROM readings ORDER BY ts")
            assert await cur.fetchall() == [(0.0,), (1.0,), (2.0,)]
    ep = parse_mqtt_url(mqtt_url)
    async with aiomqtt.Client(ep.host, ep.port, identifier=cid, clean_session=True):
        pass  # end the persistent session


async def test_small_broker_window_does_not_wait_for_the_flush_interval(
        database: str, sample_registry: Registry, private_mosquitto: Any, topic_prefix: str) -> None:
    """With a broker window of 20 (stock Mosquitto) acks are not held for flush_ms per 20 messages."""
    import time
    broker = private_mosquitto
    broker.stop()
    broker.conf.write_text(broker.conf.read_text().replace("max_inflight_messages 1000",
                                                           "max_inflight_messages 20"))
    broker.start()
    metrics = CollectorRegistry()
    n = 400
    async with AsyncConnectionPool(database, min_size=1, max_size=4, open=False) as pool:
        async with IngestPipeline(pool, sample_registry, IngestMetrics(metrics), flush_ms=5000) as pl:
            collector = MqttCollector(parse_mqtt_url(broker.url), TelemetryParser(sample_registry), pl,
                                      metrics, client_id=f"c-{topic_prefix}", topic_prefix=topic_prefix,
                                      clean_session=True, max_inflight=1000)
            task = asyncio.create_task(collector.run())
            await asyncio.wait_for(collector.subscribed.wait(), 10)
            started = time.monotonic()
            ep = parse_mqtt_url(broker.url)
            async with aiomqtt.Client(ep.host, ep.port) as pub:
                for i in range(n):
                    payload = b'{"ts": %d, "values": {"p": 1.0}}' % (1795392060000 + i * 60000)
                    await pub.publish(f"{topic_prefix}telemetry/power/PWR-KILN-1", payload, qos=1)
            for _ in range(3000):
                if (metrics.get_sample_value("ecowarn_mqtt_acked_total") or 0) >= n:
                    break
                await asyncio.sleep(0.01)
            elapsed = time.monotonic() - started
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
    assert metrics.get_sample_value("ecowarn_mqtt_acked_total") == n
    # Waiting for the 5 s flush interval instead takes at least two of them (Mosquitto 2.0.11
    # may send the rest of a backlog once the first window is acknowledged), usually twenty.
    assert elapsed < 8


async def test_parser_failure_dead_letters_the_message_and_ingest_goes_on(
        database: str, sample_registry: Registry, mqtt_url: str, topic_prefix: str) -> None:
    """A message the parser crashes on is kept as an internal_error dead letter; the next one is stored."""

    class Fragile(TelemetryParser):
        def parse_mqtt(self, topic: str, payload: bytes, **kw: Any) -> Any:
            if b"boom" in payload:
                raise ValueError("boom")
            return super().parse_mqtt(topic, payload, **kw)

    metrics = CollectorRegistry()
    async with AsyncConnectionPool(database, min_size=1, max_size=4, open=False) as pool:
        async with IngestPipeline(pool, sample_registry, IngestMetrics(metrics), flush_ms=5) as pl:
            collector = MqttCollector(parse_mqtt_url(mqtt_url), Fragile(sample_registry), pl, metrics,
                                      client_id=f"c-{topic_prefix}", topic_prefix=topic_prefix,
                                      clean_session=True)
            task = asyncio.create_task(collector.run())
            await asyncio.wait_for(collector.subscribed.wait(), 10)
            ep = parse_mqtt_url(mqtt_url)
            async with aiomqtt.Client(ep.host, ep.port) as pub:
                await pub.publish(f"{topic_prefix}telemetry/power/PWR-KILN-1", b'{"boom": 1}', qos=1)
                await pub.publish(f"{topic_prefix}telemetry/power/PWR-KILN-1",
                                  b'{"ts": 1795392060000, "values": {"p": 7.0}}', qos=1)
            for _ in range(500):
                if (metrics.get_sample_value("ecowarn_mqtt_acked_total") or 0) >= 2:
                    break
                await asyncio.sleep(0.01)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
        async with pool.connection() as conn:
            cur = await conn.execute("SELECT reason, payload, topic FROM dead_letters")
            dead = await cur.fetchall()
            cur = await conn.execute("SELECT value FROM readings")
            stored = await cur.fetchall()
    assert [(r, bytes(p)) for r, p, _ in dead] == [("internal_error", b'{"boom": 1}')]
    assert stored == [(7.0,)]
