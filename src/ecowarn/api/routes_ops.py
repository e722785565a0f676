"""``GET /healthz`` and ``GET /metrics``: no authentication.

``/metrics`` exposes internal counters (device ids among label values, queue
depths); firewall it to the monitoring network. Both are also served under
``/api/v1`` for clients that keep one base URL.

Health: ``status`` is ``ok`` unless a component reported by ``ctx.health()`` is in
a failing state (a string value, or the ``status`` of a nested object, among
:data:`FAILING_STATES`), then ``degraded``. When the database does not answer
``SELECT 1`` within 2 s the answer is 503 with ``database: unavailable``.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Final

import psycopg
from fastapi import APIRouter
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.responses import JSONResponse, Response

from ecowarn.api._paths import API_PREFIX
from ecowarn.api.context import ApiContext

__all__ = ["DB_PROBE_TIMEOUT_S", "FAILING_STATES", "build_ops_router"]

log = logging.getLogger(__name__)

DB_PROBE_TIMEOUT_S: Final = 2.0
FAILING_STATES: Final = frozenset({
    "error", "failed", "down", "unavailable", "disconnected", "reconnecting", "stopped",
    "degraded", "stalled", "foreign_spool", "waiting_for_database",
})


async def _database_answers(ctx: ApiContext) -> bool:
    if ctx.gate is not None and not ctx.gate.ready:
        return False  # the service is still waiting for it (see "startup")
    try:
        async with asyncio.timeout(DB_PROBE_TIMEOUT_S):
            async with ctx.pool.connection(timeout=DB_PROBE_TIMEOUT_S) as conn:
                await conn.execute("SELECT 1")
    except (TimeoutError, psycopg.Error) as exc:
        log.warning("health probe: database did not answer SELECT 1: %s", exc or "timeout")
        return False
    return True


def _failing(value: Any) -> bool:
    if isinstance(value, str):
        return value.lower() in FAILING_STATES
    if isinstance(value, dict):
        return _failing(value.get("status"))
    return False


def build_ops_router(ctx: ApiContext) -> APIRouter:
    router = APIRouter(tags=["operations"])

    async def healthz() -> Response:
        """Service health; 503 when the database does not answer within 2 s."""
        try:
            components = dict(ctx.health())
        except Exception:  # a broken reporter must not take the probe down
            log.exception("health reporter failed")
            components = {"health_reporter": "error"}
        db_ok = await _database_answers(ctx)
        components["database"] = "ok" if db_ok else "unavailable"
        degraded = not db_ok or any(_failing(v) for v in components.values())
        mode = ctx.gate.mode if ctx.gate is not None and ctx.gate.mode else ctx.storage_mode
        body = {"status": "degraded" if degraded else "ok", "storage_mode": mode,
                **components}
        return JSONResponse(body, status_code=200 if db_ok else 503)

    async def metrics() -> Response:
        """Prometheus text exposition of the service's metrics."""
        return Response(generate_latest(ctx.metrics_registry), media_type=CONTENT_TYPE_LATEST)

    for prefix, in_schema in (("", True), (API_PREFIX, False)):
        router.add_api_route(f"{prefix}/healthz", healthz, methods=["GET"],
                             include_in_schema=in_schema)
        router.add_api_route(f"{prefix}/metrics", metrics, methods=["GET"],
                             include_in_schema=in_schema)
    return router
