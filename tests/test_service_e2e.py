"""The whole service in one process: MQTT and HJ 212 in, alerts out through the API."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone

import httpx
import psycopg
import pytest
from prometheus_client import CollectorRegistry

from ecowarn.config.registry import Registry
from ecowarn.config.settings import load_settings
from ecowarn.ingest.hj212 import build_data_packet
from ecowarn.service import Service, open_service
from ecowarn.simulator import parse_injection, run_simulation, select_enterprises
from ecowarn.store.tokens import create_token

CST = timezone(timedelta(hours=8))
DAY = datetime(2026, 11, 20, 0, 0, tzinfo=CST)


@pytest.fixture
async def service(database: str, mqtt_url: str, sample_registry: Registry,
                  topic_prefix: str) -> AsyncIterator[Service]:
    settings = load_settings(database_url=database, mqtt_url=mqtt_url, http_port=0, hj212_port=0,
                             mqtt_client_id=f"svc-{topic_prefix}", runner_poll_ms=50)
    async with open_service(settings, sample_registry, http=False, topic_prefix=topic_prefix,
                            metrics_registry=CollectorRegistry()) as svc:
        yield svc


async def officer_client(svc: Service) -> httpx.AsyncClient:
    async with await psycopg.AsyncConnection.connect(svc.database_url, autocommit=True) as conn:
        token = await create_token(conn, role="officer")
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=svc.app), base_url="http://svc",
                             headers={"Authorization": f"Bearer {token}"})


async def publish_day(svc: Service, registry: Registry, prefix: str, injections: list[str]) -> None:
    assert svc.mqtt_url is not None
    specs = [parse_injection(s, registry, DAY) for s in injections]
    stats = await run_simulation(svc.mqtt_url, registry, start=DAY, minutes=1440, speed=None, seed=3,
                                 injections=specs, topic_prefix=prefix)
    for _ in range(3000):
        got = svc.metrics_registry.get_sample_value("ecowarn_mqtt_messages_total") or 0
        if got >= stats.messages:
            break
        await asyncio.sleep(0.01)
    assert got == stats.messages
    await svc.drain()


@pytest.mark.slow
async def test_simulated_day_with_one_outage_gives_one_alert_in_the_api(
        service: Service, sample_registry: Registry, topic_prefix: str) -> None:
    """A day of the cement plant over MQTT with a 25-minute outage -> exactly that alert."""
    cement = select_enterprises(sample_registry, ["91130105MA0CXXXX1X"])
    await publish_day(service, cement, topic_prefix, ["treatment_off:PWR-KILN-1@10:00+25m"])
    async with await officer_client(service) as client:
        resp = await client.get("/api/v1/alerts", params={"rule": "treatment_off"})
    assert resp.status_code == 200
    items = resp.json()["items"]
    assert len(items) == 1
    alert = items[0]
    assert alert["enterprise_id"] == "91130105MA0CXXXX1X"
    # every stage was off: the kiln and all its treatment meters (the duty/standby towers too)
    assert alert["device_ids"] == ["PWR-KILN-1", "PWR-BAG-1", "PWR-DS-1", "PWR-DS-2", "PWR-SCR-1"]
    assert alert["start"] == "2026-11-20T10:00:00+08:00"
    assert alert["end"] == "2026-11-20T10:25:00+08:00"
    assert alert["status"] == "open"
    async with await officer_client(service) as client:
        detail = (await client.get(f"/api/v1/alerts/{alert['id']}")).json()
    kiln_power = [r for r in detail["readings"] if r["metric"] == "p"]
    assert kiln_power, "the evidence includes the power readings around the episode"
    assert detail["evidence"]["facts"]["duration_min"] == 25.0


@pytest.mark.slow
async def test_simulated_clean_day_gives_no_alert(service: Service, sample_registry: Registry,
                                                  topic_prefix: str) -> None:
    """The same plant on a day without an outage raises nothing."""
    cement = select_enterprises(sample_registry, ["91130105MA0CXXXX1X"])
    await publish_day(service, cement, topic_prefix, [])
    async with await officer_client(service) as client:
        resp = await client.get("/api/v1/alerts")
    assert resp.json()["items"] == []


async def test_hj212_packet_is_acknowledged_after_it_is_stored(service: Service) -> None:
    """A 2051 minute packet over TCP is stored, then acknowledged with 9014."""
    assert service.gateway is not None
    packet = build_data_packet("13010500000001", "123456", "2051", datetime(2026, 11, 20, 8, 0, tzinfo=CST),
                               {"so2": 12.5, "nox": 41.0, "o2": 9.1}, {"so2": "N", "nox": "N", "o2": "N"})
    reader, writer = await asyncio.open_connection("127.0.0.1", service.gateway.port)
    try:
        writer.write(packet)
        await writer.drain()
        reply = await asyncio.wait_for(reader.readuntil(b"\r\n"), 10)
    finally:
        writer.close()
        await writer.wait_closed()
    assert b"CN=9014" in reply
    async with service.pool.connection() as conn:
        cur = await conn.execute(
            "SELECT metric, value FROM readings WHERE device_id = '13010500000001'"
            " AND ts = '2026-11-20T00:00:00Z' ORDER BY metric")
        assert await cur.fetchall() == [("nox", 41.0), ("o2", 9.1), ("so2", 12.5)]


async def test_healthz_reports_storage_mode_and_components(service: Service) -> None:
    """/healthz says which storage mode is active and how the components are."""
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=service.app),
                                 base_url="http://svc") as client:
        body = (await client.get("/healthz")).json()
    assert body["storage_mode"] == "postgresql"
    assert body["mqtt"] == "connected"
    assert body["status"] == "ok"
