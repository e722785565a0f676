"""A full spool during an outage blocks ingest back to the broker; nothing is dropped."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import aiomqtt
import psycopg
import pytest
from conftest import eventually, via_proxy
from fix_proxy import TcpProxy
from prometheus_client import CollectorRegistry
from psycopg_pool import AsyncConnectionPool

from ecowarn.config.registry import Registry
from ecowarn.core.mqtturl import parse_mqtt_url
from ecowarn.ingest import pipeline as pipeline_mod
from ecowarn.ingest.mqtt import MqttCollector
from ecowarn.ingest.parse import TelemetryParser
from ecowarn.ingest.pipeline import IngestMetrics, IngestPipeline
from ecowarn.ingest.spool import Spool, SpoolMetrics

N = 600


async def test_full_spool_stops_reading_from_the_broker_and_loses_nothing(
        database: str, sample_registry: Registry, mqtt_url: str, db_proxy: TcpProxy,
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Database down and spool full: the collector stops reading the broker; afterwards all is stored."""
    monkeypatch.setattr(pipeline_mod, "RETRY_INITIAL_S", 0.05)
    monkeypatch.setattr(pipeline_mod, "RETRY_MAX_S", 0.3)
    prefix = f"bp{uuid.uuid4().hex[:8]}/"
    metrics = CollectorRegistry()

    def m(name: str) -> float:
        return metrics.get_sample_value(name) or 0.0

    db_proxy.stop()
    async with AsyncConnectionPool(via_proxy(database, db_proxy), min_size=0, max_size=4, open=False,
                                   timeout=0.5, reconnect_timeout=0.5) as pool:
        async with Spool(tmp_path / "spool", max_bytes=2000, metrics=SpoolMetrics(metrics)) as spool:
            async with IngestPipeline(pool, sample_registry, IngestMetrics(metrics), batch_size=10,
                                      flush_ms=5, queue_rows=20, spool=spool) as pl:
                collector = MqttCollector(parse_mqtt_url(mqtt_url), TelemetryParser(sample_registry),
                                          pl, metrics, client_id=f"c-{prefix}", topic_prefix=prefix,
                                          clean_session=True, max_buffered=50)
                task = asyncio.create_task(collector.run())
                await asyncio.wait_for(collector.subscribed.wait(), 10)
                ep = parse_mqtt_url(mqtt_url)
                async with aiomqtt.Client(ep.host, ep.port) as pub:
                    for i in range(N):
                        payload = b'{"ts": %d, "values": {"p": %d.0}}' % (1795392060000 + i * 60000, i)
                        await pub.publish(f"{prefix}telemetry/power/PWR-KILN-1", payload, qos=1)
                await eventually(lambda: m("ecowarn_spool_full") == 1, 15, "the spool to fill")
                await eventually(lambda: m("ecowarn_mqtt_reading_paused") == 1, 15,
                                 "the collector to stop reading from the broker")
                taken = m("ecowarn_mqtt_messages_total")
                assert taken < N, "the rest waits in the broker"
                assert spool.pending_bytes <= 2000

                db_proxy.start()
                await eventually(lambda: m("ecowarn_mqtt_acked_total") >= N, 30, "every message acked")
                await pl.drain(30)
                task.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await task
    with psycopg.connect(database) as conn:
        values = [v for (v,) in conn.execute("SELECT value FROM readings ORDER BY ts").fetchall()]
    assert values == [float(i) for i in range(N)]
