"""The service starts while its database, or its broker, is away, and catches up when they answer.

Real PostgreSQL behind a TCP proxy that is closed at start, a real HJ 212 logger over TCP, a
real Mosquitto of the test's own that is stopped at start.
"""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

import aiomqtt
import httpx
import psycopg
import pytest
from conftest import MosquittoProcess, eventually, via_proxy
from fix_hj212 import Logger, make_registry, upload
from fix_proxy import TcpProxy
from prometheus_client import CollectorRegistry

from ecowarn.config.registry import Registry
from ecowarn.config.settings import load_settings
from ecowarn.core.mqtturl import parse_mqtt_url
from ecowarn.ingest import pipeline as pipeline_mod
from ecowarn.service import open_service
from ecowarn.store import gate as gate_mod
from ecowarn.store.tokens import create_token


def count_readings(dsn: str) -> int:
    with psycopg.connect(dsn) as conn:
        row = conn.execute("SELECT count(*) FROM readings").fetchone()
        assert row is not None
        return int(row[0])


def has_schema(dsn: str) -> bool:
    with psycopg.connect(dsn) as conn:
        row = conn.execute("SELECT to_regclass('readings') IS NOT NULL").fetchone()
        assert row is not None
        return bool(row[0])


@pytest.fixture(autouse=True)
def quick_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gate_mod, "RETRY_INITIAL_S", 0.1)
    monkeypatch.setattr(gate_mod, "RETRY_MAX_S", 0.5)
    monkeypatch.setattr(pipeline_mod, "RETRY_INITIAL_S", 0.1)
    monkeypatch.setattr(pipeline_mod, "RETRY_MAX_S", 0.5)


@pytest.mark.timeout(120)
async def test_starts_during_a_database_outage_spools_and_migrates_when_it_answers(
        empty_database: str, db_proxy: TcpProxy, tmp_path: Path) -> None:
    """With the database unreachable (and never migrated) the service still starts: a logger's
    upload is acknowledged from the spool at once, /healthz says degraded with the reason, API
    requests get 503 with Retry-After; when the database answers, the migrations run, the spool is
    replayed, the detector runner starts and the API answers."""
    db_proxy.stop()
    settings = load_settings(database_url=via_proxy(empty_database, db_proxy), hj212_port=0,
                             spool_dir=str(tmp_path / "spool"), runner="inline")
    started = time.monotonic()
    async with open_service(settings, make_registry(), mqtt=False, http=False,
                            metrics_registry=CollectorRegistry()) as svc:
        assert time.monotonic() - started < 10, "the start did not wait for the database"
        assert svc.gate is not None and not svc.gate.ready
        assert svc.gateway is not None
        logger = await Logger.connect(svc.gateway.port)
        try:
            await logger.send(upload("20261123080000001"))
            ack = await logger.answer()  # 9014 only once the data is stored or spooled
            assert ack.cn == "9014"
        finally:
            await logger.close()
        assert svc.spool.pending_rows == 2
        assert not has_schema(empty_database)

        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=svc.app),
                                     base_url="http://svc") as client:
            t0 = time.monotonic()
            health = await client.get("/healthz")
            assert time.monotonic() - t0 < 1.5, "the probe did not wait for a closed database"
            assert health.status_code == 503
            body = health.json()
            assert body["status"] == "degraded" and body["database"] == "unavailable"
            assert body["startup"]["status"] == "waiting_for_database"
            assert body["startup"]["reason"] and body["startup"]["attempts"] >= 1
            r = await client.get("/api/v1/alerts", headers={"Authorization": "Bearer x"})
            assert r.status_code == 503
            assert r.headers["Retry-After"] == "5"
            assert r.json()["detail_zh"]
            assert not any(t.get_name() == "detector-runner" for t in svc._tasks)

            db_proxy.start()
            await eventually(lambda: svc.gate is not None and svc.gate.ready, 30,
                             "the database to be migrated once it answers")
            assert has_schema(empty_database)
            await eventually(lambda: svc.spool.pending_records == 0, 30, "the spool replay")
            await svc.pipeline.drain(30)
            assert count_readings(empty_database) == 2
            assert any(t.get_name() == "detector-runner" for t in svc._tasks)
            async with await psycopg.AsyncConnection.connect(empty_database,
                                                             autocommit=True) as conn:
                token = await create_token(conn, role="officer")
            r = await client.get("/api/v1/alerts", headers={"Authorization": f"Bearer {token}"})
            assert r.status_code == 200
            health = await client.get("/healthz")
            assert health.status_code == 200
            assert health.json()["startup"] == {"status": "ready", "storage_mode": "postgresql"}
            assert health.json()["storage_mode"] == "postgresql"
            # Spooled before the database answered, the spool was checked against it then.
            recorded = json.loads((tmp_path / "spool" / "database.json").read_text("utf-8"))
            assert recorded["system_identifier"]


@pytest.mark.timeout(120)
async def test_starts_while_the_broker_is_down_and_subscribes_when_it_comes(
        database: str, sample_registry: Registry, tmp_path: Path) -> None:
    """With the broker down at start, the service starts (HTTP and HJ 212 serve), the collector
    keeps retrying, and once the broker is up, published readings are stored."""
    broker = MosquittoProcess(tmp_path)
    prefix = f"b{uuid.uuid4().hex[:8]}/"
    settings = load_settings(database_url=database, mqtt_url=broker.url, hj212_port=0,
                             spool_dir=str(tmp_path / "spool"), runner="off",
                             mqtt_client_id=f"c-{prefix[:-1]}")
    started = time.monotonic()
    try:
        async with open_service(settings, sample_registry, http=False, topic_prefix=prefix,
                                metrics_registry=CollectorRegistry()) as svc:
            assert time.monotonic() - started < 25
            assert svc.collector is not None and svc.collector.state != "connected"
            assert svc.health()["mqtt"] != "connected"
            broker.start()
            await eventually(lambda: svc.collector is not None and svc.collector.subscribed.is_set(),
                             60, "the collector to subscribe once the broker is up")
            ep = parse_mqtt_url(broker.url)
            async with aiomqtt.Client(ep.host, ep.port, timeout=5) as client:
                await client.publish(f"{prefix}telemetry/power/PWR-KILN-1",
                                     json.dumps({"ts": 1_795_392_000_000, "values": {"p": 812.5}}),
                                     qos=1, timeout=5)
            await eventually(lambda: count_readings(database) == 1, 30,
                             "the reading published after the broker came up")
    finally:
        broker.stop()
