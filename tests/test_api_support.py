"""Fixtures and helpers shared by the HTTP API tests (loaded with ``pytest_plugins``).

The context is real where it matters (PostgreSQL pool, registry, parser, metrics
registry); ``submit`` and ``replay_dead_letter`` are seams owned by the tests: a
plain INSERT into ``readings`` / ``dead_letters`` and a replay that marks the row.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import psycopg
import pytest
from prometheus_client import CollectorRegistry
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from ecowarn.api import ApiContext, create_app
from ecowarn.config.registry import Registry
from ecowarn.ingest.parse import TelemetryParser
from ecowarn.store.model import Rejection, Row
from ecowarn.store.tokens import create_token

CEMENT = "91130105MA0CXXXX1X"
COKING = "91130182MA0DEM001G"
GLASS = "91130627MA0GLA2230"
CST = timezone(timedelta(hours=8))
T0 = datetime(2026, 11, 20, 8, 0, tzinfo=CST)


@dataclass
class ApiEnv:
    client: httpx.AsyncClient
    ctx: ApiContext
    dsn: str
    submits: list[tuple[list[Row], list[Rejection]]] = field(default_factory=list)

    async def token(self, role: str, enterprise_id: str | None = None, *,
                    expires_at: datetime | None = None) -> str:
        async with await psycopg.AsyncConnection.connect(self.dsn, autocommit=True) as conn:
            return await create_token(conn, role=role, enterprise_id=enterprise_id,
                                      expires_at=expires_at)

    async def headers(self, role: str, enterprise_id: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {await self.token(role, enterprise_id)}"}

    async def execute(self, query: str, params: Any = None) -> list[tuple[Any, ...]]:
        async with await psycopg.AsyncConnection.connect(self.dsn, autocommit=True) as conn:
            cur = await conn.execute(query, params)
            return await cur.fetchall() if cur.description else []

    async def insert_alert(self, *, rule: str = "treatment_off", enterprise_id: str | None = CEMENT,
                           device_ids: tuple[str, ...] = ("PWR-KILN-1", "PWR-BAG-1"),
                           start: datetime = T0, end: datetime | None = None,
                           summary: str = "Kiln 1 ran while its treatment was off",
                           summary_zh: str = "1号窑运行期间治污设施未运行",
                           evidence: Any = None) -> int:
        rows = await self.execute(
            "INSERT INTO alerts (rule, subject, enterprise_id, device_ids, start_ts, end_ts,"
            " severity, summary, summary_zh, params, evidence)"
            " VALUES (%s, %s, %s, %s, %s, %s, 'high', %s, %s, %s, %s) RETURNING id",
            (rule, device_ids[0], enterprise_id, list(device_ids), start, end, summary,
             summary_zh, Jsonb({"min_duration_min": 10}),
             Jsonb(evidence if evidence is not None else {"production_kw": 512.0})))
        return int(rows[0][0])

    async def insert_readings(self, device_id: str, metric: str, start: datetime,
                              values: list[float | None], *, flag: str = "N",
                              step: timedelta = timedelta(minutes=1)) -> None:
        async with await psycopg.AsyncConnection.connect(self.dsn, autocommit=True) as conn:
            async with conn.cursor() as cur:
                await cur.executemany(
                    "INSERT INTO readings (device_id, metric, ts, value, flag)"
                    " VALUES (%s, %s, %s, %s, %s)",
                    [(device_id, metric, start + i * step, v, flag) for i, v in enumerate(values)])


async def _submit_into(dsn: str, rows: list[Row], rejections: list[Rejection]) -> None:
    async with await psycopg.AsyncConnection.connect(dsn) as conn, conn.cursor() as cur:
        if rows:
            await cur.executemany(
                "INSERT INTO readings (device_id, metric, ts, value, flag)"
                " VALUES (%s, %s, %s, %s, %s) ON CONFLICT DO NOTHING", rows)
        if rejections:
            await cur.executemany(
                "INSERT INTO dead_letters (source, topic, device_id, reason, detail, payload)"
                " VALUES (%s, %s, %s, %s, %s, %s)",
                [(r.source, r.topic, r.device_id, r.reason, r.detail, r.payload)
                 for r in rejections])


async def _replay_in(dsn: str, dead_letter_id: int) -> dict[str, Any]:
    async with await psycopg.AsyncConnection.connect(dsn) as conn:
        cur = await conn.execute(
            "UPDATE dead_letters SET replayed_at = now(), replay_result = 'rejected'"
            " WHERE id = %s RETURNING reason", (dead_letter_id,))
        row = await cur.fetchone()
    if row is None:
        raise KeyError(dead_letter_id)
    return {"id": dead_letter_id, "result": "rejected", "reason": row[0]}


@pytest.fixture
async def api(database: str, sample_registry: Registry) -> AsyncIterator[ApiEnv]:
    """An app over a fresh database, with an HTTP client bound to it."""
    pool: AsyncConnectionPool[Any] = AsyncConnectionPool(database, min_size=1, max_size=4,
                                                         open=False)
    await pool.open()
    submits: list[tuple[list[Row], list[Rejection]]] = []

    async def submit(rows: list[Row], rejections: list[Rejection]) -> None:
        submits.append((rows, rejections))
        await _submit_into(database, rows, rejections)

    async def replay(dead_letter_id: int) -> dict[str, Any]:
        return await _replay_in(database, dead_letter_id)

    ctx = ApiContext(
        pool=pool, registry=sample_registry, metrics_registry=CollectorRegistry(),
        storage_mode="postgresql", parser=TelemetryParser(sample_registry), submit=submit,
        health=lambda: {"mqtt": "connected", "ingest_queue": 0}, replay_dead_letter=replay)
    transport = httpx.ASGITransport(app=create_app(ctx))
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield ApiEnv(client=client, ctx=ctx, dsn=database, submits=submits)
    finally:
        await pool.close()


def dumps(obj: Any) -> bytes:
    return json.dumps(obj).encode()


def app_routes(app: Any) -> Iterator[tuple[str, str]]:
    """(method, path template) of every route, included routers resolved; HEAD left out."""
    for route in app.routes:
        if hasattr(route, "effective_route_contexts"):  # FastAPI's lazily included routers
            entries = [(c.methods, c.path) for c in route.effective_route_contexts()]
        elif hasattr(route, "routes") and not hasattr(route, "methods"):
            entries = [(getattr(r, "methods", None), r.path) for r in route.routes]
        else:
            entries = [(getattr(route, "methods", None), route.path)]
        for methods, path in entries:
            for method in sorted(methods or ()):
                if method not in ("HEAD", "OPTIONS"):
                    yield method, path
