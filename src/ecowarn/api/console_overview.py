"""The bureau's overview page (``GET /console/overview``, officers): the jurisdiction at a glance.

- open alerts by rule and severity, each number linking to the alert list filtered to exactly
  those alerts (``/console?rule=&severity=&status=active``);
- answers overdue (``/console?answer=overdue``) and rectifications overdue
  (``/console/rectifications?overdue=true``);
- enterprises by credit level in the active level scheme (``/console/enterprises?level=``);
- today's data completeness per device kind (``GET /console/overview/completeness?kind=``
  lists the kind's devices with their minutes, worst first).

Everything is within the officer's jurisdiction (:func:`api.auth.visibility`): a
region-limited officer counts its region's enterprises and their devices only; air stations
(objects of no enterprise) count for officers without a region, as everywhere else.
"""

# No "from __future__ import annotations": FastAPI resolves the Depends() in the
# route signatures at definition time, and they name closure variables.

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from starlette.responses import HTMLResponse, Response

from ecowarn.api._console_bureau_db import (
    SEVERITY_ORDER,
    Completeness,
    enterprise_levels,
    minutes_today,
    open_alert_counts,
    overdue_answer_count,
    overdue_rectification_count,
)
from ecowarn.api._console_lang import lang_of, local_minute, url_for, with_lang
from ecowarn.api._console_nav import nav_links
from ecowarn.api._db import connect
from ecowarn.api._paths import CONSOLE_PREFIX
from ecowarn.api.auth import Auth, Visibility, visibility
from ecowarn.api.context import ApiContext
from ecowarn.api.errors import NotFound
from ecowarn.config.registry import Registry
from ecowarn.i18n import RULE_NAMES, Lang, catalog, label, rule_name
from ecowarn.store.tokens import Principal

__all__ = ["KINDS", "build_overview_console", "visible_devices"]

Renderer = Callable[..., HTMLResponse]
# Device kinds in the order the page lists them.
KINDS = ("cems", "water", "power", "air")


def visible_devices(registry: Registry, seen: Visibility) -> dict[str, list[str]]:
    """Kind -> ids of the registered devices (and, when unlimited, air stations) in view."""
    out: dict[str, list[str]] = {k: [] for k in KINDS}
    for device in registry.devices.values():
        if device.enterprise_id is not None and seen.sees(device.enterprise_id):
            out.setdefault(device.kind, []).append(device.id)
    if seen.unlimited:
        for station_id in registry.stations:
            if station_id not in out["air"]:
                out["air"].append(station_id)
    return {k: sorted(v) for k, v in out.items()}


def _percent(share: float) -> str:
    return f"{share * 100:.1f}%"


def build_overview_console(ctx: ApiContext, auth: Auth, render: Renderer) -> APIRouter:
    router = APIRouter(include_in_schema=False)
    officers = auth.require_cookie("officer")
    reg = ctx.registry

    def page(request: Request, principal: Principal, name: str, **kw: Any) -> HTMLResponse:
        lang = lang_of(request)
        return render(request, name, b=catalog(lang, "BUREAU"), nav=nav_links(principal, lang),
                      logout=with_lang(f"{CONSOLE_PREFIX}/logout", lang), **kw)

    @router.get("/overview")
    async def overview(request: Request, principal: Annotated[Principal, Depends(officers)]) -> Response:
        lang = lang_of(request)
        b = catalog(lang, "BUREAU")
        seen = visibility(ctx, principal)
        ids = seen.ids()
        now = datetime.now(UTC)
        devices = visible_devices(reg, seen)
        async with connect(ctx) as conn:
            counts = await open_alert_counts(conn, ids)
            answers_late = await overdue_answer_count(conn, ids, now)
            rect_late = await overdue_rectification_count(conn, ids, now)
            levels = await enterprise_levels(conn, reg, seen, ctx.credit_model.level_for)
            minutes = {k: await minutes_today(conn, v, now) for k, v in devices.items() if v}
        return page(request, principal, "overview.html",
                    scope=(b["ov_scope_region"].format(region=seen.region) if seen.region
                           else b["ov_scope_all"]),
                    as_of=b["ov_as_of"].format(at=local_minute(now)),
                    open=_open_table(counts, lang),
                    answers_late=(answers_late, url_for(CONSOLE_PREFIX, lang, answer="overdue")),
                    rect_late=(rect_late, url_for(f"{CONSOLE_PREFIX}/rectifications", lang, overdue="true")),
                    levels=_level_rows(levels, ctx, lang),
                    scheme=ctx.credit_model.scheme.name.zh if lang == "zh" else ctx.credit_model.scheme.name.en,
                    completeness=_completeness_rows(minutes, lang),
                    elapsed=next((c.expected for cs in minutes.values() for c in cs), 0))

    @router.get("/overview/completeness")
    async def completeness(request: Request, principal: Annotated[Principal, Depends(officers)],
                           kind: str = "cems") -> Response:
        lang = lang_of(request)
        if kind not in KINDS:
            raise NotFound(f"no device kind {kind}")
        seen = visibility(ctx, principal)
        now = datetime.now(UTC)
        async with connect(ctx) as conn:
            found = await minutes_today(conn, visible_devices(reg, seen)[kind], now)
        rows = []
        for c in sorted(found, key=lambda c: (c.share, c.device_id)):
            device = reg.devices.get(c.device_id)
            enterprise = reg.enterprises.get(device.enterprise_id or "") if device else None
            station = reg.stations.get(c.device_id)
            rows.append({
                "id": c.device_id,
                "name": (device.equipment or device.outlet or "") if device else (station.name if station else ""),
                "enterprise": enterprise.name if enterprise else "",
                "url": (with_lang(f"{CONSOLE_PREFIX}/enterprises/{enterprise.id}/file", lang) if enterprise
                        else url_for(CONSOLE_PREFIX, lang, device_id=c.device_id)),
                "received": c.received, "expected": c.expected, "share": _percent(c.share)})
        b = catalog(lang, "BUREAU")
        return page(request, principal, "overview_completeness.html", rows=rows,
                    heading=b["cmp_title"].format(kind=b[f"kind_{kind}"]),
                    back=with_lang(f"{CONSOLE_PREFIX}/overview", lang),
                    elapsed=found[0].expected if found else 0)

    return router


def _open_table(counts: dict[tuple[str, str], int], lang: Lang) -> dict[str, Any]:
    """Rows (rules with open alerts, catalogue order) x columns (severities, worst first)."""
    severities = [s for s in SEVERITY_ORDER if any(k[1] == s for k in counts)]
    severities += sorted({k[1] for k in counts} - set(severities))
    rules = [r for r in RULE_NAMES if any(k[0] == r for k in counts)]
    rules += sorted({k[0] for k in counts} - set(rules))

    def link(rule: str | None, severity: str | None) -> str:
        return url_for(CONSOLE_PREFIX, lang, rule=rule, severity=severity, status="active")

    rows = [{"name": rule_name(r, lang),
             "cells": [(counts.get((r, s), 0), link(r, s)) for s in severities],
             "total": (sum(n for (rr, _), n in counts.items() if rr == r), link(r, None))}
            for r in rules]
    totals = [(sum(n for (_, ss), n in counts.items() if ss == s), link(None, s)) for s in severities]
    return {"severities": [label(s, lang) for s in severities], "rows": rows, "totals": totals,
            "total": (sum(counts.values()), link(None, None))}


def _level_rows(levels: dict[str, tuple[int, str]], ctx: ApiContext, lang: Lang) -> list[dict[str, Any]]:
    scheme = ctx.credit_model.scheme
    out = []
    for band, low, high in scheme.bands():
        n = sum(1 for _, level in levels.values() if level == band.id)
        out.append({"id": band.id, "name": band.name.zh if lang == "zh" else band.name.en,
                    "range": f"{low}–{high}", "count": n,
                    "url": url_for(f"{CONSOLE_PREFIX}/enterprises", lang, level=band.id)})
    return out


def _completeness_rows(minutes: dict[str, list[Completeness]], lang: Lang) -> list[dict[str, Any]]:
    b = catalog(lang, "BUREAU")
    out = []
    for kind in KINDS:
        found = minutes.get(kind, [])
        if not found:
            continue
        expected = sum(c.expected for c in found)
        received = sum(c.received for c in found)
        out.append({"kind": b[f"kind_{kind}"], "devices": len(found), "expected": expected,
                    "received": received, "share": _percent(received / expected if expected else 0.0),
                    "url": url_for(f"{CONSOLE_PREFIX}/overview/completeness", lang, kind=kind)})
    return out
