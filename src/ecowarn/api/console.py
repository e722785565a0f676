"""Server-rendered web console: alert list and alert pages with charts.

The workflow (officers' queue, action forms on the alert page, the enterprise's
answer form, the right to be heard and 首违不罚) is in ``api/console_workflow.py``,
rectification (its part of the alert page, its forms, the ledger, file downloads) in
``api/console_rectifications.py``; their routes join this router and re-render the alert
page (:func:`show_alert` inside :func:`build_console`) when a form post is refused.

Chinese by default, English with ``?lang=en``; Jinja2 templates from
``api/templates``; no JavaScript and no external assets. ``/console/login`` takes a
token (``?token=`` or a form post), checks it and keeps it in an HttpOnly,
SameSite=Strict cookie; pages without a valid cookie redirect to the login page.
The console shows what the token's role may see through the API: an enterprise its
own, a region-limited officer its region's enterprises (:func:`api.auth.visibility`);
another's page is the same 404 as a missing one.
"""

# No "from __future__ import annotations": FastAPI resolves the Depends() in the
# route signatures at definition time, and they name closure variables.
import logging
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import parse_qs

import psycopg
from fastapi import APIRouter, Depends, Path, Query, Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from ecowarn.api._alerts_db import (
    READINGS_MARGIN,
    binned_series,
    fetch_alert,
    list_alerts,
)
from ecowarn.api._console_alert_list import alert_filter_choices, alert_list_filter, alerts_csv
from ecowarn.api._console_errors import FormFailure
from ecowarn.api._console_fields import evidence_rows, metric_label, metric_name, unit_symbol
from ecowarn.api._console_forms import FormGuard
from ecowarn.api._console_lang import lang_of, local_minute, url_for
from ecowarn.api._console_ledger import describe_entry
from ecowarn.api._console_names import device_label, enterprise_cell, equipment
from ecowarn.api._db import connect
from ecowarn.api._paths import CONSOLE_LOGIN, CONSOLE_PREFIX
from ecowarn.api._svg import Line, line_chart
from ecowarn.api._templates import templates
from ecowarn.api.auth import COOKIE_NAME, Auth, visibility
from ecowarn.api.console_complaints import build_complaints_console
from ecowarn.api.console_credit import build_credit_console
from ecowarn.api.console_draws import build_draws_console
from ecowarn.api.console_evaluations import build_evaluations_console
from ecowarn.api.console_map import build_map_console
from ecowarn.api.console_overview import build_overview_console
from ecowarn.api.console_positive_list import build_positive_list_console
from ecowarn.api.console_rectifications import build_rectifications_console
from ecowarn.api.console_search import build_search_console
from ecowarn.api.console_workflow import alert_workflow_context, build_workflow_console, nav_links
from ecowarn.api.context import ApiContext
from ecowarn.api.errors import ErrorInfo, HtmlErrorRenderer, NotFound, PayloadTooLarge
from ecowarn.api.pagination import BIGINT_MAX
from ecowarn.api.routes_alerts import ALERT_CURSOR
from ecowarn.config.metrics import UNITS
from ecowarn.config.registry import Device, Registry
from ecowarn.i18n import TEXTS, Lang, catalog, rule_name
from ecowarn.i18n import label as status_label
from ecowarn.store.tokens import Principal

__all__ = ["SESSION_MAX_AGE_S", "build_console"]

log = logging.getLogger(__name__)

SESSION_MAX_AGE_S = 8 * 3600
PAGE_SIZE = 50
_MAX_FORM_BYTES = 4096
# What each chart of an alert page plots, per device kind; some rules add metrics.
_CHART_METRICS = {"power": ["p"], "cems": ["so2", "nox", "pm", "co"], "air": ["pm25", "pm10"]}
_RULE_EXTRA = {"o2_dilution": ["o2"], "bypass_suspected": ["flow"]}
# Pages load nothing from anywhere: inline styles and inline SVG only.
_SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
                               "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}





def _charts(registry: Registry, device_ids: list[str], rule: str) -> list[tuple[str, list[str]]]:
    """(device id, metrics sharing one unit) per chart."""
    out: list[tuple[str, list[str]]] = []
    for device_id in device_ids:
        device = registry.devices.get(device_id)
        if device is None:
            continue
        metrics = _CHART_METRICS[device.kind] + (_RULE_EXTRA.get(rule, [])
                                                 if device.kind == "cems" else [])
        by_unit: dict[str, list[str]] = {}
        for m in metrics:
            by_unit.setdefault(UNITS[device.kind][m], []).append(m)
        out.extend((device_id, ms) for ms in by_unit.values())
    return out


def build_console(ctx: ApiContext, auth: Auth) -> tuple[APIRouter, HtmlErrorRenderer]:
    """The console's routes and the renderer of its error pages."""
    env = templates()
    router = APIRouter(prefix=CONSOLE_PREFIX, include_in_schema=False)
    viewers = auth.require_cookie("officer", "enterprise")
    reg = ctx.registry
    guard = FormGuard()

    def render(request: Request, name: str, status: int = 200, **kw: Any) -> HTMLResponse:
        lang = lang_of(request)
        other: Lang = "zh" if lang == "en" else "en"
        query = {k: v for k, v in request.query_params.items() if k not in ("lang", "token")}
        switch = url_for(request.url.path, other, **query)
        html = env.get_template(name).render(t=TEXTS[lang], lang=lang, switch_url=switch, **kw)
        return HTMLResponse(html, status_code=status, headers=_SECURITY_HEADERS)

    def error_page(request: Request, info: ErrorInfo) -> Response:
        if info.status == 401:
            return render(request, "login.html", status=401, failed=True)
        return render(request, "error.html", status=info.status, info=info,
                      detail=_error_detail(info, lang_of(request)),
                      back=url_for("/console", lang_of(request)))

    async def login(request: Request, token: str | None, next_path: str | None = None) -> Response:
        lang = lang_of(request)
        if token is None:
            return render(request, "login.html", failed=False)
        principal = await auth.authenticate(token.strip())
        log.info("console login by token %s (role %s)", principal.token_id, principal.role)
        response = RedirectResponse(_safe_next(next_path) or url_for("/console", lang), status_code=303)
        response.set_cookie(COOKIE_NAME, token.strip(), max_age=SESSION_MAX_AGE_S, path="/console",
                            httponly=True, samesite="strict",
                            secure=request.url.scheme == "https")
        return response

    @router.get("/login")
    async def login_get(request: Request, token: str | None = None,
                        next_path: Annotated[str | None, Query(alias="next")] = None) -> Response:
        # ?next=/console/... lands on that page after logging in (a link or a headless browser).
        return await login(request, token, next_path)

    @router.post("/login")
    async def login_post(request: Request) -> Response:
        body = await request.body()
        if len(body) > _MAX_FORM_BYTES:
            raise PayloadTooLarge("login form too large")
        token = parse_qs(body.decode("utf-8", "replace")).get("token", [""])[0]
        return await login(request, token)

    @router.get("/logout")
    async def logout(request: Request) -> Response:
        response = RedirectResponse(url_for(CONSOLE_LOGIN, lang_of(request)), status_code=303)
        response.delete_cookie(COOKIE_NAME, path="/console", httponly=True, samesite="strict")
        return response

    @router.get("")
    async def alerts_page(
        request: Request, principal: Annotated[Principal, Depends(viewers)],
        rule: str | None = None, status: str | None = None, severity: str | None = None,
        answer: str | None = None, device_id: str | None = None, cursor: str | None = None,
        format: str | None = None,
    ) -> Response:
        lang = lang_of(request)
        f, selected = alert_list_filter(rule=rule, status=status, severity=severity, answer=answer,
                                        device_id=device_id, now=datetime.now(UTC))
        scope = visibility(ctx, principal).enterprises
        if format == "csv":
            async with connect(ctx) as conn:
                return await alerts_csv(conn, f, scope, reg, lang)
        async with connect(ctx) as conn:
            rows, last = await list_alerts(conn, f, scope=scope, limit=PAGE_SIZE,
                                           after=ALERT_CURSOR.decode(cursor))
            answering = await _answer_states(conn, [int(r["id"]) for r in rows], lang)
        items = [{
            "url": url_for(f"/console/alerts/{r['id']}", lang),
            "rule": rule_name(r["rule"], lang),
            "enterprise": enterprise_cell(reg, r["enterprise_id"], list(r["device_ids"]), lang),
            "equipment": equipment(reg, list(r["device_ids"]), lang),
            "start": local_minute(r["start_ts"]),
            "end": local_minute(r["end_ts"]) if r["end_ts"] else None,
            "severity": status_label(r["severity"], lang), "status": r["status"],
            "status_text": status_label(r["status"], lang),
            "summary": r["summary_zh"] if lang == "zh" else r["summary"],
            "answer": answering.get(int(r["id"]), ("", "")),
        } for r in rows]
        older = None if last is None else url_for("/console", lang, **selected,
                                                  cursor=ALERT_CURSOR.encode(*last))
        return render(request, "alerts.html", items=items, older=older,
                      b=catalog(lang, "BUREAU"), selected=selected,
                      csv=url_for("/console", lang, **selected, format="csv"),
                      choices=alert_filter_choices(lang),
                      nav=nav_links(principal, lang), logout=url_for("/console/logout", lang))

    async def show_alert(request: Request, principal: Principal, alert_id: int,
                         failed: FormFailure | None = None) -> Response:
        """The alert page; with ``failed``, again after a refused form post (its status)."""
        lang = lang_of(request)
        t = TEXTS[lang]
        seen = visibility(ctx, principal)
        async with connect(ctx) as conn:
            row = await fetch_alert(conn, alert_id, scope=seen.enterprises)
            if row is None:
                raise NotFound(f"no alert {alert_id}")
            start, end = row["start_ts"], row["end_ts"] or datetime.now(UTC)
            t0, t1 = start - READINGS_MARGIN, end + READINGS_MARGIN
            specs = _charts(reg, list(row["device_ids"]), row["rule"])
            series = await binned_series(
                conn, [d for d, _ in specs], sorted({m for _, ms in specs for m in ms}), t0, t1)
            workflow = await alert_workflow_context(conn, reg, principal, alert_id, lang, guard,
                                                    request, seen=seen, params=ctx.workflow,
                                                    failed=failed)
            credit = await _credit_entries(conn, alert_id, row["enterprise_id"], lang)
        charts = []
        for device_id, metrics in specs:
            device = reg.devices[device_id]
            unit = unit_symbol(UNITS[device.kind][metrics[0]], lang)
            label = device_label(reg, device_id)
            label = label if device_id in label else f"{label} ({device_id})"
            lines = [Line(metric_label(device.kind, m, lang), series.get((device_id, m), [])) for m in metrics]
            charts.append(line_chart(
                lines, t0=t0, t1=t1, shade=(start, end),
                title=f"{label} · {unit}", limits=_chart_limits(device, metrics, lang),
                shade_label=t["alert_window"], empty_label=t["no_readings"]))
        subject = reg.devices.get(row["subject"])
        kind = subject.kind if subject is not None else ""
        evidence = row["evidence"] if isinstance(row["evidence"], dict) else {"value": row["evidence"]}
        metric = str(evidence.get("metric") or next(iter(evidence.get("metrics") or []), ""))
        alert = {
            "id": row["id"], "rule": rule_name(row["rule"], lang), "rule_id": row["rule"],
            "enterprise": enterprise_cell(reg, row["enterprise_id"], list(row["device_ids"]), lang),
            "equipment": equipment(reg, list(row["device_ids"]), lang),
            "start": local_minute(row["start_ts"]),
            "end": local_minute(row["end_ts"]) if row["end_ts"] else None,
            "severity": status_label(row["severity"], lang), "status": status_label(row["status"], lang),
            "summary": row["summary_zh"] if lang == "zh" else row["summary"],
        }
        return render(
            request, "alert.html", status=failed.status if failed else 200, alert=alert, charts=charts,
            evidence=evidence_rows(evidence, reg, lang, kind=kind, metric=metric),
            params=evidence_rows(row["params"] or {}, reg, lang, kind=kind, metric=metric),
            back=url_for("/console", lang), logout=url_for("/console/logout", lang),
            nav=nav_links(principal, lang), credit=credit, **workflow)

    @router.get("/alerts/{alert_id}")
    async def alert_page(
        request: Request, principal: Annotated[Principal, Depends(viewers)],
        alert_id: Annotated[int, Path(ge=1, le=BIGINT_MAX)],
    ) -> Response:
        return await show_alert(request, principal, alert_id)

    router.include_router(build_workflow_console(ctx, auth, render, guard, show_alert))
    for build_bureau_page in (build_overview_console, build_map_console, build_search_console):
        router.include_router(build_bureau_page(ctx, auth, render))
    router.include_router(build_rectifications_console(ctx, auth, render, guard, show_alert, nav_links))
    router.include_router(build_credit_console(ctx, viewers, render, nav_links, guard=guard))
    for build_credit_page in (build_evaluations_console, build_positive_list_console, build_draws_console,
                              build_complaints_console):
        router.include_router(build_credit_page(ctx, auth, guard))
    return router, error_page


def _safe_next(path: str | None) -> str | None:
    """``path`` when it is a console page of this site, else None (no open redirect)."""
    if not path or not (path == CONSOLE_PREFIX or path.startswith(CONSOLE_PREFIX + "/")):
        return None
    if "//" in path or "\\" in path or any(ord(ch) < 0x20 for ch in path):
        return None
    return path


async def _credit_entries(conn: Any, alert_id: int, enterprise_id: str | None, lang: Lang) -> list[dict[str, Any]]:
    """The credit-ledger entries the alert led to, each linked to its line of the enterprise's
    credit record and to its evidence package."""
    if enterprise_id is None:
        return []
    try:
        async with conn.transaction():  # a savepoint: the ledger belongs to the credit component
            cur = await conn.execute(
                "SELECT id, entry_type, points, reason, evidence_id FROM credit_ledger WHERE alert_id = %s"
                " ORDER BY id", (alert_id,))
            rows = await cur.fetchall()
    except psycopg.errors.UndefinedTable:
        return []
    t = TEXTS[lang]
    types = catalog(lang, "ENTRY_TYPES")
    return [{"text": t["credit_entry"].format(id=entry_id, what=types.get(kind, kind), points=points),
             "url": url_for(f"/console/enterprises/{enterprise_id}", lang) + f"#entry-{entry_id}",
             "reason": describe_entry(kind, int(points), str(reason), lang),
             "evidence": t["evidence_of"].format(id=evidence_id) if evidence_id else None,
             "evidence_url": url_for(f"/console/evidence/{evidence_id}", lang) if evidence_id else None}
            for entry_id, kind, points, reason, evidence_id in rows]


async def _answer_states(conn: Any, alert_ids: list[int], lang: Lang) -> dict[int, tuple[str, str]]:
    """Per alert told to its enterprise (with an answer deadline): (css class, what the answer
    column says): answered, to answer by its deadline, or overdue."""
    if not alert_ids:
        return {}
    cur = await conn.execute(
        "SELECT id, due_at, EXISTS (SELECT 1 FROM alert_answers x WHERE x.alert_id = alerts.id)"
        " FROM alerts WHERE id = ANY(%s) AND due_at IS NOT NULL", (alert_ids,))
    t = TEXTS[lang]
    now = datetime.now(UTC)
    out: dict[int, tuple[str, str]] = {}
    for alert_id, due_at, answered in await cur.fetchall():
        if answered:
            out[int(alert_id)] = ("ok", t["answer_done"])
        elif due_at < now:
            out[int(alert_id)] = ("overdue", t["answer_late"].format(due=local_minute(due_at)))
        else:
            out[int(alert_id)] = ("due", t["answer_by"].format(due=local_minute(due_at)))
    return out


def _chart_limits(device: Device, metrics: list[str], lang: Lang) -> list[tuple[str, float, str]]:
    """The lines a chart of ``device`` draws across, with their unit: the outlet's emission
    limits of the plotted metrics, a production unit's running threshold."""
    t = TEXTS[lang]
    out = [(t["chart_limit"].format(metric=metric_name(m, lang)), float(device.limits[m]),
            unit_symbol(UNITS[device.kind][m], lang)) for m in metrics if m in device.limits]
    if device.kind == "power" and device.role == "production" and "p" in metrics:
        out.append((t["chart_running"], device.running_threshold_kw, "kW"))
    return out


def _error_detail(info: ErrorInfo, lang: Lang) -> str:
    """What an error page says: the error's own Chinese when it has one, else its code's
    Chinese wording; in English the detail as the API gives it."""
    if lang == "en":
        return info.detail
    own = (info.extra or {}).get("detail_zh")
    if isinstance(own, str):
        return own
    errors = catalog("zh", "ERRORS")
    return errors.get(f"code_{info.code}", errors["code_bad_request" if info.status < 500 else "internal_error"])


