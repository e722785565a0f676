"""The FastAPI application: routers, error mapping, request metrics.

Endpoints (roles; ``admin`` may use all):

- ``GET /api/v1/alerts``, ``GET /api/v1/alerts/{id}``: officer, enterprise (own)
- ``GET /api/v1/readings``, ``GET /api/v1/readings/hourly``: officer, enterprise (own devices)
- ``POST /api/v1/readings``: ingest
- ``POST /api/v1/emergency-orders``: officer; ``GET``: officer, enterprise (orders naming it)
- ``POST /api/v1/maintenance``, ``GET``: officer, enterprise (own devices)
- ``GET /api/v1/dead-letters``, ``POST /api/v1/dead-letters/{id}/replay``: officer
- ``/api/v1/credit/catalogs``, ``/api/v1/credit/evaluations``: credit evaluations
  (api/routes_evaluations.py)
- ``GET /api/v1/notifications``: officer (the log of notifications to officer channels)
- ``/api/v1/positive-list``, ``/api/v1/supervision/plan``, ``/api/v1/supervision/draws``:
  positive lists (officer; read also credit, enterprise own), plans and draws (officer)
- ``POST /api/v1/alerts/{id}/remote-verification``, ``GET .../remote-verifications``: officer
  (off-site handling first of positive-listed firms, api/routes_offsite.py)
- ``POST|GET /api/v1/complaints``, ``GET /api/v1/complaints/{id}``: officer (信访投诉)
- ``GET /api/v1/enterprises``, ``GET /api/v1/enterprises/{id}``: the enterprise file (一企一档;
  officer, credit, enterprise own); ``GET /api/v1/stats``: statistics (officer)
- ``GET /healthz``, ``GET /metrics``: no authentication (firewall ``/metrics``)
- ``/console``: web console for officer and enterprise tokens
- ``GET /api/v1/docs``: OpenAPI documentation (Swagger UI served from the package itself,
  so it works on networks without internet access)

The ``credit`` role has no endpoint yet besides the unauthenticated ones.
Times in responses are RFC 3339 in +08:00; inputs accept any offset and reject
times without one (422).
"""

from __future__ import annotations

import logging

import swagger_ui_bundle  # type: ignore[import-untyped]
from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.staticfiles import StaticFiles
from starlette.responses import HTMLResponse, RedirectResponse

from ecowarn.api._metrics import RequestMetrics, RequestMetricsMiddleware
from ecowarn.api._paths import API_PREFIX
from ecowarn.api.auth import Auth
from ecowarn.api.console import build_console
from ecowarn.api.console_supervision import build_supervision_console
from ecowarn.api.context import ApiContext
from ecowarn.api.errors import install_error_handlers
from ecowarn.api.routes_alerts import build_alerts_router
from ecowarn.api.routes_complaints import build_complaints_router
from ecowarn.api.routes_credit import build_credit_router
from ecowarn.api.routes_dead_letters import build_dead_letters_router
from ecowarn.api.routes_enterprises import build_enterprises_router
from ecowarn.api.routes_evaluations import build_evaluations_router
from ecowarn.api.routes_ingest import build_ingest_router
from ecowarn.api.routes_notifications import build_notifications_router
from ecowarn.api.routes_offsite import build_offsite_router
from ecowarn.api.routes_ops import build_ops_router
from ecowarn.api.routes_orders import build_orders_router
from ecowarn.api.routes_readings import build_readings_router
from ecowarn.api.routes_rectifications import build_rectifications_router
from ecowarn.api.routes_repair import build_repair_router
from ecowarn.api.routes_stats import build_stats_router
from ecowarn.api.routes_supervision import build_supervision_router
from ecowarn.api.routes_workflow import build_workflow_router

__all__ = ["API_PREFIX", "create_app"]

log = logging.getLogger(__name__)


def create_app(ctx: ApiContext) -> FastAPI:
    """Build the HTTP application over ``ctx``; the caller owns ctx's resources."""
    app = FastAPI(
        title="ecowarn", version="1",
        description="Monitoring-driven early warning for environmental enforcement. "
                    "Authenticate with 'Authorization: Bearer <token>' "
                    "(ecowarn token create --role ROLE).",
        docs_url=None, openapi_url=f"{API_PREFIX}/openapi.json", redoc_url=None,
    )
    auth = Auth(ctx)
    app.add_middleware(RequestMetricsMiddleware, metrics=RequestMetrics(ctx.metrics_registry))
    console, html_errors = build_console(ctx, auth)
    install_error_handlers(app, html=html_errors)

    # Routers carry their full prefix, so route templates (metric labels) are full paths.
    for build in (build_alerts_router, build_readings_router, build_ingest_router,
                  build_orders_router, build_dead_letters_router):
        app.include_router(build(ctx, auth))
    app.include_router(build_workflow_router(ctx, auth))
    app.include_router(build_offsite_router(ctx, auth))
    app.include_router(build_rectifications_router(ctx, auth))
    app.include_router(build_credit_router(ctx, auth))
    app.include_router(build_evaluations_router(ctx, auth))
    app.include_router(build_notifications_router(ctx, auth))
    app.include_router(build_repair_router(ctx, auth))
    app.include_router(build_supervision_router(ctx, auth))
    app.include_router(build_complaints_router(ctx, auth))
    app.include_router(build_enterprises_router(ctx, auth))
    app.include_router(build_stats_router(ctx, auth))
    app.include_router(build_ops_router(ctx))
    app.include_router(console)
    app.include_router(build_supervision_console(ctx, auth))

    assets = f"{API_PREFIX}/docs/assets"
    app.mount(assets, StaticFiles(directory=str(swagger_ui_bundle.swagger_ui_path)),
              name="docs-assets")

    @app.get(f"{API_PREFIX}/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        # FastAPI's default page loads Swagger UI from a CDN, which bureau networks
        # often cannot reach.
        return get_swagger_ui_html(openapi_url=f"{API_PREFIX}/openapi.json",
                                   title="ecowarn API", swagger_js_url=f"{assets}/swagger-ui-bundle.js",
                                   swagger_css_url=f"{assets}/swagger-ui.css",
                                   swagger_favicon_url=f"{assets}/favicon-32x32.png")

    @app.get("/", include_in_schema=False)
    async def root() -> RedirectResponse:
        return RedirectResponse("/console", status_code=307)

    log.debug("HTTP application built (storage mode %s)", ctx.storage_mode)
    return app
