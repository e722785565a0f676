"""Risk warnings on MQTT topic warnings/{enterprise_id}, through a real broker."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import aiomqtt
from prometheus_client import CollectorRegistry
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from ecowarn.alerts.warnings import WarningDispatcher, WarningMetrics, WarningPolicy
from ecowarn.config.registry import Registry
from ecowarn.core.mqtturl import MqttEndpoint, parse_mqtt_url

CEMENT = "91130105MA0CXXXX1X"
COKING = "91130182MA0DEM001G"
CST = timezone(timedelta(hours=8))


async def _insert_alert(pool: AsyncConnectionPool[Any], enterprise_id: str) -> int:
    async with pool.connection() as conn:
        cur = await conn.execute(
            "INSERT INTO alerts (rule, subject, enterprise_id, device_ids, start_ts, severity, summary,"
            " summary_zh, params, evidence) VALUES ('treatment_off', 'P', %s, ARRAY['P'], %s, 'high',"
            " 'Treatment off', '治污设施未运行', %s, %s) RETURNING id",
            (enterprise_id, datetime(2026, 11, 20, 8, tzinfo=CST), Jsonb({}), Jsonb({})))
        row = await cur.fetchone()
    assert row is not None
    return int(row[0])


async def test_warning_is_published_on_the_enterprise_topic_with_qos1(
        database: str, sample_registry: Registry, mqtt_url: str, topic_prefix: str) -> None:
    """Each enterprise's warning arrives once, as JSON, on its own warnings/{id} topic at QoS 1,
    and a second dispatcher instance publishes nothing more."""
    endpoint: MqttEndpoint = parse_mqtt_url(mqtt_url)
    metrics = CollectorRegistry()
    received: list[aiomqtt.Message] = []
    async with AsyncConnectionPool(database, min_size=1, max_size=4, open=False) as pool, \
            aiomqtt.Client(endpoint.host, endpoint.port, username=endpoint.username,
                           password=endpoint.password) as sub:
        await sub.subscribe(f"{topic_prefix}warnings/#", qos=1)
        cement = await _insert_alert(pool, CEMENT)
        coking = await _insert_alert(pool, COKING)
        for _ in range(2):  # the second instance stands for a restart
            dispatcher = WarningDispatcher(pool, sample_registry, WarningPolicy(), WarningMetrics(metrics),
                                           mqtt=endpoint, topic_prefix=topic_prefix, timeout_s=5.0)
            async with dispatcher:
                await dispatcher.drain(datetime.now(UTC))
            metrics = CollectorRegistry()

        async def collect() -> None:
            async for message in sub.messages:
                received.append(message)

        try:  # read for a while after the two expected ones: a duplicate would show up
            await asyncio.wait_for(collect(), timeout=3)
        except TimeoutError:
            pass
        async with pool.connection() as conn:
            cur = await conn.execute("SELECT alert_id, channel, status FROM warning_deliveries"
                                     " WHERE channel = 'mqtt' ORDER BY alert_id")
            log = await cur.fetchall()
    by_topic = {str(m.topic): m for m in received}
    assert set(by_topic) == {f"{topic_prefix}warnings/{CEMENT}", f"{topic_prefix}warnings/{COKING}"}
    body = json.loads(bytes(by_topic[f"{topic_prefix}warnings/{CEMENT}"].payload))  # type: ignore[arg-type]
    assert (body["alert_id"], body["event"], body["summary_zh"]) == (cement, "risk_warning", "治污设施未运行")
    assert by_topic[f"{topic_prefix}warnings/{COKING}"].qos == 1
    assert log == [(cement, "mqtt", "delivered"), (coking, "mqtt", "delivered")]
    assert len(received) == 2
