"""Request metrics, registered on the context's registry.

``ecowarn_api_requests_total{method, route, status}`` and
``ecowarn_api_request_duration_seconds{route}``; ``route`` is the route template
(``/api/v1/alerts/{alert_id}``), never the raw path, so label sets stay few.
"""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["RequestMetrics", "RequestMetricsMiddleware"]

_UNMATCHED = "<unmatched>"


class RequestMetrics:
    """The request metrics, registered once per app on ``registry``."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter("ecowarn_api_requests_total", "HTTP requests served",
                                ["method", "route", "status"], registry=registry)
        self.duration = Histogram("ecowarn_api_request_duration_seconds",
                                  "Time to serve an HTTP request", ["route"], registry=registry)


class RequestMetricsMiddleware:
    """Pure ASGI middleware counting requests and timing them."""

    def __init__(self, app: ASGIApp, *, metrics: RequestMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            route = getattr(scope.get("route"), "path", _UNMATCHED)
            self.metrics.requests.labels(scope["method"], route, str(status)).inc()
            self.metrics.duration.labels(route).observe(time.perf_counter() - started)
