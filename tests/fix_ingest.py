"""The MQTT ingest path as the service wires it (pool, spool, pipeline, collector), for fault tests."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg
from prometheus_client import CollectorRegistry
from psycopg_pool import AsyncConnectionPool

from ecowarn.config.registry import Registry
from ecowarn.core.mqtturl import parse_mqtt_url
from ecowarn.ingest.mqtt import MqttCollector
from ecowarn.ingest.parse import TelemetryParser
from ecowarn.ingest.pipeline import IngestMetrics, IngestPipeline
from ecowarn.ingest.spool import Spool, SpoolMetrics

__all__ = ["IngestStack", "ingest_stack", "stored"]


@dataclass
class IngestStack:
    pool: AsyncConnectionPool[Any]
    spool: Spool
    pipeline: IngestPipeline
    collector: MqttCollector
    metrics: CollectorRegistry

    def value(self, name: str, labels: dict[str, str] | None = None) -> float:
        return self.metrics.get_sample_value(name, labels or {}) or 0.0


@contextlib.asynccontextmanager
async def ingest_stack(dsn: str, registry: Registry, mqtt_url: str, *, client_id: str,
                       prefix: str, spool_dir: Path) -> AsyncIterator[IngestStack]:
    """Start the stack with a persistent MQTT session; the collector runs until the block exits."""
    metrics = CollectorRegistry()
    async with AsyncConnectionPool(dsn, min_size=1, max_size=4, open=False, timeout=1.0,
                                   reconnect_timeout=2.0) as pool:
        async with Spool(spool_dir, max_bytes=64 << 20, metrics=SpoolMetrics(metrics)) as spool:
            async with IngestPipeline(pool, registry, IngestMetrics(metrics), batch_size=500,
                                      flush_ms=20, spool=spool, close_timeout_s=1.0) as pipeline:
                collector = MqttCollector(parse_mqtt_url(mqtt_url), TelemetryParser(registry),
                                          pipeline, metrics, client_id=client_id,
                                          topic_prefix=prefix, clean_session=False)
                task = asyncio.create_task(collector.run(), name="collector")
                try:
                    await asyncio.wait_for(collector.subscribed.wait(), 10)
                    yield IngestStack(pool, spool, pipeline, collector, metrics)
                finally:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task


def stored(dsn: str) -> list[tuple[str, datetime, int]]:
    """(device, ts, xmin) of every stored reading, per device in event-time order."""
    with psycopg.connect(dsn) as conn:
        rows = conn.execute("SELECT device_id, ts, xmin::text::bigint FROM readings"
                            " ORDER BY device_id, ts").fetchall()
    return [(str(d), ts, int(x)) for d, ts, x in rows]
