"""Console pages of supervision by credit (CONTRACT section 9): the plan and the random draws.

- ``GET /console/supervision?region=&period=`` (officer): per region (default: the officer's
  jurisdiction) and period (a month ``2026-12``, quarter ``2026-Q4`` or year ``2026``; default:
  this month), the plan (each enterprise's level, positive-list status, routine on-site
  inspections due, the off-site checks replacing them, whether exempt and why, its weights in
  draws), the form to draw enterprises for remote spot checks or on-site checks (双随机), and
  the draws of that region and period. ``GET /console/supervision/plan.csv``: the plan as CSV
  (the columns of ``GET /api/v1/supervision/plan?format=csv``).
- ``POST /console/supervision/draws`` (officer): ``region``, ``period``, ``kind`` remote|onsite,
  ``count``, optional ``seed``, as ``POST /api/v1/supervision/draws``; 303 to the draw's page.
- ``GET /console/supervision/draws/{id}`` (officer): the draw's inputs and seed, every
  candidate with its level, list status and weight, the enterprises selected in the order
  drawn, and a button that re-runs the draw from what was stored and says whether it selects
  the same (``POST /console/supervision/draws/{id}/verify``, as the API's ``verify``);
  ``/console/supervision/draws/{id}.csv``: the candidates as CSV.

A refused draw (422: a period, kind, count or seed it cannot take; 404: a region outside the
jurisdiction) renders the page again with the reason beside the form, in the page's
language, and the typed values kept. A period the page cannot read is shown beside the
filter (422). A region-limited officer sees plans and draws of its jurisdiction only: another
region's plan, and another region's draw, are the console's 404 page.
"""

# No "from __future__ import annotations": FastAPI resolves the Depends() in the
# route signatures at definition time, and they name closure variables.

import re
from datetime import datetime
from typing import Annotated, Any, Final

from fastapi import APIRouter, Depends, Path, Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from ecowarn.alerts.audit import load_actor
from ecowarn.api._console_forms import FormGuard
from ecowarn.api._console_lang import lang_of, local_minute, url_for, with_lang
from ecowarn.api._console_page import (
    NOTHING_REFUSED,
    ConsoleInputError,
    Pages,
    Refused,
    read_console_form,
    region_choices,
    texts,
)
from ecowarn.api._db import connect
from ecowarn.api._paths import CONSOLE_PREFIX
from ecowarn.api._time import CST
from ecowarn.api.auth import Auth, visibility
from ecowarn.api.context import ApiContext
from ecowarn.api.pagination import BIGINT_MAX
from ecowarn.api.routes_supervision import draw_csv, draw_out, plan_csv, plan_out
from ecowarn.config.registry import Enterprise
from ecowarn.credit.supervision import (
    KINDS,
    DrawFilter,
    DrawRequest,
    Period,
    PeriodError,
    SupervisionInputError,
    SupervisionNotFound,
    fetch_draw,
    list_draws,
    make_draw,
    parse_period,
    rerun,
    supervision_plan,
    today_cst,
)
from ecowarn.credit.supervision.draws import MAX_COUNT
from ecowarn.credit.supervision.plan import reason
from ecowarn.credit.supervision.sampling import MAX_SEED
from ecowarn.i18n import Lang, label
from ecowarn.store.tokens import Principal

__all__ = ["build_draws_console"]

DrawId = Annotated[int, Path(ge=1, le=BIGINT_MAX)]
DRAWS_SHOWN: Final = 50
MAX_FORM_BYTES: Final = 16 * 1024
_PAGE: Final = f"{CONSOLE_PREFIX}/supervision"
_REGION = re.compile(r"^\d{2,6}$")


def _this_month() -> str:
    return datetime.now(CST).strftime("%Y-%m")


def _period(value: str, field: str) -> Period:
    try:
        return parse_period(value)
    except PeriodError:
        raise SupervisionInputError(f"form.{field}", "period", value=value) from None


def _whole(value: str, field: str, low: int, high: int, *, optional: bool = False) -> int | None:
    """A whole number from ``low`` to ``high`` typed into ``field``; blank is None when ``optional``."""
    text = value.strip()
    if not text and optional:
        return None
    if re.fullmatch(r"\d{1,19}", text) and low <= int(text) <= high:
        return int(text)
    raise ConsoleInputError(field, f"bad_{field}", low=low, high=high, value=text)


def build_draws_console(ctx: ApiContext, auth: Auth, guard: FormGuard) -> APIRouter:
    """The routes above, sharing the console's form token (``guard``)."""
    pages = Pages(guard)
    # No prefix: these routes join the console's router, which carries /console.
    router = APIRouter(include_in_schema=False)
    officers = auth.require_cookie("officer")
    reg = ctx.registry
    config = ctx.supervision

    def in_region(principal: Principal, region: str | None) -> tuple[str | None, list[Enterprise]]:
        """The region (default: the jurisdiction) and its visible enterprises; a region
        outside a limited officer's jurisdiction is absent (as in the API)."""
        seen = visibility(ctx, principal)
        if region is None:
            region = seen.region
        elif seen.region is not None and not region.startswith(seen.region):
            raise SupervisionNotFound("region_not_found", region=region)
        return region, [e for e in reg.enterprises.values()
                        if (region is None or e.region.startswith(region)) and seen.sees(e.id)]

    def region_of(value: str, field: str) -> str | None:
        text = value.strip()
        if not text:
            return None
        if not _REGION.match(text):
            raise ConsoleInputError(field, "bad_region", value=text)
        return text

    def list_names(ids: list[str] | tuple[str, ...], lang: Lang) -> str:
        names = [getattr(config.lists[i], lang) if i in config.lists else i for i in ids]
        return ("、" if lang == "zh" else ", ").join(names)

    async def plan_page(request: Request, principal: Principal, *, region_text: str, period_text: str,
                        refused: Refused = NOTHING_REFUSED) -> HTMLResponse:
        lang = lang_of(request)
        s = texts(lang)
        seen = visibility(ctx, principal)
        filter_error = ""
        span: Period | None = None
        region: str | None = None
        enterprises: list[Enterprise] = []
        try:
            span = _period(period_text, "period")
            region, enterprises = in_region(principal, region_of(region_text, "region"))
        except (SupervisionInputError, ConsoleInputError) as exc:
            found = Refused.of(exc, lang, "filter", {})
            filter_error = found.message if found else str(exc)
            span = None
        items: list[dict[str, Any]] = []
        reference = None
        draws: list[dict[str, Any]] = []
        async with connect(ctx) as conn:
            if span is not None:
                reference, plan = await supervision_plan(conn, config, enterprises, span, today_cst(),
                                                         level_of=ctx.credit_model.level_for)
                for item in plan:
                    out = plan_out(item, reg, config)
                    items.append({**out, "list_names": list_names(item.lists, lang),
                                  "reason_text": reason(item, config, lang)})
                rows, _ = await list_draws(conn, DrawFilter(region=region, period=span.label),
                                           jurisdiction=seen.region, limit=DRAWS_SHOWN)
                draws = [{**draw_out(r, full=False), "url": with_lang(f"{_PAGE}/draws/{r['id']}", lang),
                          "kind_name": s[f"kind_{r['kind']}"], "at": local_minute(r["created_at"]),
                          "selected_names": ("、" if lang == "zh" else ", ").join(
                              reg.enterprises[e].name if e in reg.enterprises else e for e in r["selected"])}
                         for r in rows]
        status = refused.status if refused.form else (422 if filter_error else 200)
        query = {"region": region_text.strip() or None, "period": period_text.strip() or None}
        totals = {"enterprises": len(items), "inspections": sum(i["inspections"] for i in items),
                  "remote": sum(i["remote_inspections"] for i in items),
                  "exempt": sum(1 for i in items if i["exempt"]), "listed": sum(1 for i in items if i["positive_list"]),
                  "on_complaint": sum(1 for i in items if i["basis"] == "complaint")}
        return pages.render(
            request, principal, "supervision.html", status=status, path=_PAGE, query=query,
            region=region, region_text=region_text.strip(), period_text=period_text.strip(),
            span=span, reference=reference.isoformat() if reference else "", items=items, totals=totals,
            draws=draws, filter_error=filter_error, refused=refused,
            regions=region_choices([e.region for e in reg.enterprises.values() if seen.sees(e.id)], seen.region),
            jurisdiction=seen.region, kinds=[(k, s[f"kind_{k}"]) for k in KINDS],
            draw={"region": refused.value("draw", "region", region_text.strip()),
                  "period": refused.value("draw", "period", span.label if span else period_text.strip()),
                  "kind": refused.value("draw", "kind", "remote"), "count": refused.value("draw", "count", "5"),
                  "seed": refused.value("draw", "seed")},
            max_count=MAX_COUNT, action=with_lang(f"{_PAGE}/draws", lang),
            csv_url=url_for(f"{_PAGE}/plan.csv", "zh", **query),  # a file: no language in its address
            routine=s[f"routine_{config.routine_onsite}"],
            factors={"remote": config.remote_weight_factor, "onsite": config.onsite_weight_factor})

    @router.get("/supervision")
    async def supervision_page(request: Request, principal: Annotated[Principal, Depends(officers)],
                               region: str = "", period: str = "") -> Response:
        return await plan_page(request, principal, region_text=region, period_text=period or _this_month())

    @router.get("/supervision/plan.csv")
    async def plan_export(principal: Annotated[Principal, Depends(officers)],
                          region: str = "", period: str = "") -> Response:
        span = _period(period or _this_month(), "period")
        chosen, enterprises = in_region(principal, region_of(region, "region"))
        async with connect(ctx) as conn:
            _, plan = await supervision_plan(conn, config, enterprises, span, today_cst(),
                                             level_of=ctx.credit_model.level_for)
        name = f"plan-{chosen or 'all'}-{span.label}.csv"
        return Response(plan_csv([plan_out(i, reg, config) for i in plan]), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": f'attachment; filename="{name}"'})

    @router.post("/supervision/draws")
    async def draw_form(request: Request, principal: Annotated[Principal, Depends(officers)]) -> Response:
        lang = lang_of(request)
        form = await read_console_form(request, pages.guard, MAX_FORM_BYTES)
        region_text, period_text = form.get("region", ""), form.get("period", "")
        try:
            span = _period(period_text, "period")
            kind = form.get("kind", "")
            if kind not in KINDS:
                raise ConsoleInputError("kind", "bad_kind", value=kind)
            count = _whole(form.get("count", ""), "count", 1, MAX_COUNT) or 1
            seed = _whole(form.get("seed", ""), "seed", 0, MAX_SEED, optional=True)
            region, enterprises = in_region(principal, region_of(region_text, "region"))
            async with connect(ctx) as conn:
                actor = await load_actor(conn, principal.token_id, principal.role, principal.enterprise_id)
                row = await make_draw(conn, config, enterprises,
                                      DrawRequest(region=region, period=span, kind=kind, count=count,
                                                  seed=seed),
                                      actor=actor, today=today_cst(), level_of=ctx.credit_model.level_for)
        except (SupervisionInputError, ConsoleInputError, SupervisionNotFound) as exc:
            refused = Refused.of(exc, lang, "draw", form, region_not_found=True)
            assert refused is not None
            page_region = region_text if refused.field_error("region") == "" else ""
            page_period = period_text if refused.field_error("period") == "" else _this_month()
            return await plan_page(request, principal, region_text=page_region, period_text=page_period,
                                   refused=refused)
        return RedirectResponse(with_lang(f"{_PAGE}/draws/{row['id']}", lang), status_code=303)

    def draw_view(row: dict[str, Any], lang: Lang) -> dict[str, Any]:
        s = texts(lang)
        out = draw_out(row)
        total = sum(float(c["weight"]) for c in out["candidates"]) or 1.0
        candidates = sorted(out["candidates"], key=lambda c: (c["rank"] is None, c["rank"] or 0, c["enterprise_id"]))
        return {
            **out, "kind_name": s[f"kind_{out['kind']}"], "at": local_minute(row["created_at"]),
            "by": (f"{label(row['created_by_role'], lang)} #{row['created_by_token']} "
                   f"{row['created_by_label'] or ''}").strip() if row["created_by_role"] else "",
            "candidates": [{**c, "list_names": list_names(c.get("lists") or [], lang),
                            "share": f"{100 * float(c['weight']) / total:.1f}%"} for c in candidates],
            "names": {c["enterprise_id"]: c.get("name") or c["enterprise_id"] for c in out["candidates"]},
        }

    async def fetch(principal: Principal, draw_id: int) -> dict[str, Any]:
        async with connect(ctx) as conn:
            return await fetch_draw(conn, draw_id, jurisdiction=visibility(ctx, principal).region)

    def draw_page(request: Request, principal: Principal, row: dict[str, Any],
                  verified: dict[str, Any] | None = None) -> HTMLResponse:
        lang = lang_of(request)
        draw_id = int(row["id"])
        d = draw_view(row, lang)
        return pages.render(
            request, principal, "supervision_draw.html", path=f"{_PAGE}/draws/{draw_id}", d=d, verified=verified,
            verify_url=with_lang(f"{_PAGE}/draws/{draw_id}/verify", lang),
            csv_url=f"{_PAGE}/draws/{draw_id}.csv",
            back=url_for(_PAGE, lang, region=row["region"], period=row["period"]))

    # Before "/supervision/draws/{draw_id}", which would otherwise take "5.csv" as an id.
    @router.get("/supervision/draws/{draw_id}.csv")
    async def draw_export(principal: Annotated[Principal, Depends(officers)], draw_id: DrawId) -> Response:
        row = await fetch(principal, draw_id)
        out = draw_out(row)
        return Response(draw_csv(out), media_type="text/csv; charset=utf-8", headers={
            "Content-Disposition": f'attachment; filename="draw-{row["id"]}.csv"',
            "X-Draw-Seed": str(out["seed"]), "X-Draw-Algorithm": out["algorithm"]})

    @router.get("/supervision/draws/{draw_id}")
    async def draw_get(request: Request, principal: Annotated[Principal, Depends(officers)],
                       draw_id: DrawId) -> Response:
        return draw_page(request, principal, await fetch(principal, draw_id))

    @router.post("/supervision/draws/{draw_id}/verify")
    async def verify_form(request: Request, principal: Annotated[Principal, Depends(officers)],
                          draw_id: DrawId) -> Response:
        """Re-run the draw from its stored candidates, weights, count and seed; the page shows
        whether it selects the same enterprises in the same order."""
        await read_console_form(request, pages.guard, MAX_FORM_BYTES)
        row = await fetch(principal, draw_id)
        again = rerun(row)
        stored = [str(e) for e in row["selected"]]
        return draw_page(request, principal, row,
                         verified={"matches": again == stored, "rerun": again, "stored": stored})

    return router
