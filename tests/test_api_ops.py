"""Health, metrics and dead letters."""

from __future__ import annotations

import asyncio
import re
import time
from typing import Any

import httpx
from prometheus_client import CollectorRegistry
from psycopg_pool import AsyncConnectionPool
from test_api_support import ApiEnv

from ecowarn.api import ApiContext, create_app
from ecowarn.config.registry import Registry
from ecowarn.ingest.parse import TelemetryParser

pytest_plugins = ("test_api_support",)


async def test_healthz_shape(api: ApiEnv) -> None:
    """Without a token: status ok, storage mode, the components and the database probe."""
    r = await api.client.get("/healthz")
    assert r.status_code == 200
    assert r.json() == {"status": "ok", "storage_mode": "postgresql", "mqtt": "connected",
                        "ingest_queue": 0, "database": "ok"}


async def test_healthz_is_503_when_the_database_does_not_answer(
        sample_registry: Registry) -> None:
    """Behind a server that accepts and never answers, the probe gives up in ~2 s with 503."""
    held: list[asyncio.StreamWriter] = []

    async def silent(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
        f"host=127.0.0.1 port={port} user=postgres connect_timeout=3", min_size=0, max_size=1,
        open=False)
    await pool.open()
    ctx = ApiContext(pool=pool, registry=sample_registry, metrics_registry=CollectorRegistry(),
                     storage_mode="postgresql", parser=TelemetryParser(sample_registry),
                     submit=_never, health=lambda: {"mqtt": "reconnecting"},
                     replay_dead_letter=_never_replay)
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(ctx)),
                                     base_url="http://test") as client:
            started = time.monotonic()
            r = await client.get("/healthz")
            elapsed = time.monotonic() - started
    finally:
        await pool.close(timeout=1)
        for writer in held:
            writer.close()
        server.close()
        await server.wait_closed()
    assert r.status_code == 503
    assert r.json()["status"] == "degraded"
    assert r.json()["database"] == "unavailable"
    assert elapsed < 4.0


async def _never(*_: Any) -> None:
    raise AssertionError("not called")


async def _never_replay(_: int) -> dict[str, Any]:
    raise AssertionError("not called")


async def test_degraded_component_is_reported(api: ApiEnv) -> None:
    """A component in a failing state makes the status degraded while the database answers."""
    object.__setattr__(api.ctx, "health", lambda: {"mqtt": "disconnected"})
    r = await api.client.get("/healthz")
    assert r.status_code == 200
    assert r.json()["status"] == "degraded"


async def test_metrics_expose_request_counters(api: ApiEnv) -> None:
    """/metrics is Prometheus text with the API's request counter by route template."""
    await api.client.get("/api/v1/alerts/1")
    r = await api.client.get("/metrics")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    assert ('ecowarn_api_requests_total{method="GET",route="/api/v1/alerts/{alert_id}",'
            'status="401"} 1.0') in r.text
    assert "ecowarn_api_request_duration_seconds_bucket" in r.text


async def test_dead_letters_list_and_replay(api: ApiEnv) -> None:
    """Dead letters list newest first with text or base64 payloads; replay maps unknown ids to 404."""
    rows = await api.execute(
        "INSERT INTO dead_letters (source, topic, device_id, reason, detail, payload) VALUES"
        " ('mqtt', 'telemetry/power/X', 'X', 'unknown_device', 'not registered', %s),"
        " ('hj212', NULL, NULL, 'bad_crc', 'CRC mismatch', %s) RETURNING id",
        (b'{"ts": 1}', b"\xff\xfe##0101"))
    first, second = (int(r[0]) for r in rows)
    headers = await api.headers("officer")
    r = await api.client.get("/api/v1/dead-letters", headers=headers)
    assert r.status_code == 200
    items = r.json()["items"]
    assert [i["id"] for i in items] == [second, first]
    assert (items[0]["payload"], items[0]["payload_encoding"]) == ("//4jIzAxMDE=", "base64")
    assert (items[1]["payload"], items[1]["payload_encoding"]) == ('{"ts": 1}', "utf-8")
    assert items[1]["received_at"].endswith("+08:00") and items[1]["replayed_at"] is None

    r = await api.client.post(f"/api/v1/dead-letters/{first}/replay", headers=headers)
    assert r.status_code == 200
    assert r.json() == {"id": first, "result": "rejected", "reason": "unknown_device"}
    pending = await api.client.get("/api/v1/dead-letters", headers=headers,
                                   params={"pending": "true"})
    assert [i["id"] for i in pending.json()["items"]] == [second]
    by_reason = await api.client.get("/api/v1/dead-letters", headers=headers,
                                     params={"reason": "unknown_device"})
    assert by_reason.json()["items"][0]["replay_result"] == "rejected"

    r = await api.client.post("/api/v1/dead-letters/987654/replay", headers=headers)
    assert r.status_code == 404 and r.json()["error"] == "not_found"


async def test_unknown_route_uses_the_error_format(api: ApiEnv) -> None:
    """Unknown paths answer 404 in the same JSON error shape."""
    r = await api.client.get("/api/v1/nothing-here")
    assert r.status_code == 404
    assert r.json()["error"] == "not_found"


async def test_api_docs_need_no_internet(api: ApiEnv) -> None:
    """The Swagger UI page loads its script and style from this server, not from a CDN."""
    r = await api.client.get("/api/v1/docs")
    assert r.status_code == 200 and "text/html" in r.headers["content-type"]
    page = r.text
    assert "/api/v1/openapi.json" in page
    urls = re.findall(r"""(?:src|href)=['"]([^'"]+)['"]""", page)
    urls += re.findall(r"""url: ['"]([^'"]+)['"]""", page)
    assert urls and all(u.startswith("/") and not u.startswith("//") for u in urls), urls
    for asset in ("swagger-ui-bundle.js", "swagger-ui.css"):
        assert f"/api/v1/docs/assets/{asset}" in urls
        r = await api.client.get(f"/api/v1/docs/assets/{asset}")
        assert r.status_code == 200 and len(r.content) > 10_000


async def test_openapi_lists_the_api(api: ApiEnv) -> None:
    """The OpenAPI document builds and lists the v1 endpoints, not the console."""
    r = await api.client.get("/api/v1/openapi.json")
    assert r.status_code == 200
    paths = r.json()["paths"]
    for path in ("/api/v1/alerts", "/api/v1/alerts/{alert_id}", "/api/v1/readings",
                 "/api/v1/readings/hourly", "/api/v1/emergency-orders", "/api/v1/maintenance",
                 "/api/v1/dead-letters", "/api/v1/dead-letters/{dead_letter_id}/replay",
                 "/healthz", "/metrics"):
        assert path in paths, path
    assert "requestBody" in paths["/api/v1/readings"]["post"]
    assert not any(p.startswith("/console") for p in paths)
