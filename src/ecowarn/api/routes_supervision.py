"""Positive lists, supervision plans and random draws, CONTRACT section 9 (docs/credit.md,
"Supervision").

Roles (``admin`` may use all):

- ``POST /api/v1/positive-list``: officer. ``{"enterprise_id", "list"?, "start"?, "end"?,
  "reason"}`` -> 201 the entry. ``list``: a list's identifier or name (default: the
  configured default list); ``start``/``end``: days (``YYYY-MM-DD``, China time; a time with
  an offset is taken as its day in China), both included, ``end`` after ``start``; no
  ``start``: today; no ``end``: until removed. An enterprise that is not registered, or not
  in the officer's jurisdiction, is 422 naming ``body.enterprise_id``.
- ``GET /api/v1/positive-list?enterprise_id=&region=&list=&active=&include_deleted=&limit=&cursor=``:
  officer, credit, enterprise (its own). Newest first. ``active``: ``true`` (active today,
  China time), ``false`` (not active today) or a day (active that day); left out: every
  entry not removed. ``include_deleted=true`` adds removed entries.
- ``GET /api/v1/positive-list/{entry_id}``: officer, credit, enterprise (own); removed too.
- ``DELETE /api/v1/positive-list/{entry_id}?reason=``: officer. Removes the entry (kept,
  with who, when and why) -> 200 the entry; one already removed is 404.
- ``GET /api/v1/supervision/plan?region=&period=``: officer. Per enterprise of the region:
  level (in the active level scheme), positive-list status, the routine on-site inspections
  due in the period, the off-site checks that replace them, whether it is exempt and why
  (``basis``; ``complaint``: a listed firm back on the on-site plan because a complaint
  about it was received in the period, ``complaints`` counts them). JSON, or CSV with
  ``Accept: text/csv`` or ``format=csv``.
- ``POST /api/v1/supervision/draws``: officer. ``{"region", "period", "kind": "remote" |
  "onsite", "count", "seed"?}`` -> 201 ``{id, seed, selected, weights, ...}``. In on-site
  draws a listed firm has weight 0 (left out) unless a complaint about it was received in
  the period (then its level's weight, ``basis: complaint`` among the candidates).
- ``GET /api/v1/supervision/draws?region=&period=&kind=&limit=&cursor=``: officer. Newest
  first, without their candidates.
- ``GET /api/v1/supervision/draws/{draw_id}``: officer. The draw as at creation; CSV (one
  row per candidate) with ``Accept: text/csv`` or ``format=csv``.
- ``POST /api/v1/supervision/draws/{draw_id}/verify``: officer. Re-runs the draw from its
  stored candidates, weights, count and seed and says whether it selects the same.

``period``: a month ``2026-12``, a quarter ``2026-Q4`` or a year ``2026`` (422 otherwise).
``region``: an administrative division code or prefix; left out, the officer's jurisdiction
(every region for an officer without one). A region-limited officer sees only its
enterprises' entries (another's id is 404, like an absent one) and plans and draws only
within its jurisdiction: a region outside it is 404 for the plan and a new draw, and the
list of draws holds only draws of regions inside it.
"""

# No "from __future__ import annotations": FastAPI resolves the Depends() in the
# route signatures at definition time, and they name closure variables.

import csv
import io
import json
import logging
from datetime import date, datetime
from typing import Annotated, Any, Literal

import psycopg
from fastapi import APIRouter, Depends, Path, Query, Request
from prometheus_client import Counter
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field
from starlette.responses import Response

from ecowarn.alerts.audit import load_actor
from ecowarn.alerts.model import Actor
from ecowarn.api._db import connect
from ecowarn.api._paths import API_PREFIX
from ecowarn.api._time import CST, iso, iso_or_none
from ecowarn.api.auth import Auth, Visibility, visibility
from ecowarn.api.context import ApiContext
from ecowarn.api.pagination import BIGINT_MAX, DEFAULT_LIMIT, CursorCodec, Limit
from ecowarn.config.registry import Enterprise, Registry
from ecowarn.credit.supervision import (
    DrawFilter,
    DrawRequest,
    ListingFilter,
    Period,
    PeriodError,
    PlanItem,
    SupervisionConfig,
    SupervisionInputError,
    SupervisionNotFound,
    add_entry,
    fetch_draw,
    fetch_entry,
    list_draws,
    list_entries,
    make_draw,
    parse_period,
    remove_entry,
    rerun,
    supervision_plan,
    today_cst,
)
from ecowarn.credit.supervision.draws import MAX_COUNT
from ecowarn.credit.supervision.plan import reason
from ecowarn.credit.supervision.positive_list import MAX_REASON, is_active
from ecowarn.credit.supervision.sampling import MAX_SEED
from ecowarn.store.tokens import Principal

__all__ = ["DRAW_CSV_COLUMNS", "PLAN_CSV_COLUMNS", "DrawIn", "ListingIn", "build_supervision_router",
           "draw_csv", "draw_out", "entry_out", "plan_csv", "plan_out"]

log = logging.getLogger(__name__)

EntityId = Annotated[int, Path(ge=1, le=BIGINT_MAX)]
Region = Annotated[str | None, Query(pattern=r"^\d{2,6}$", description=(
    "administrative division code or prefix (13 province, 1301 city, 130105 county); "
    "default: the officer's jurisdiction"))]
_ENTRIES = CursorCodec("positive_list", int)
_DRAWS = CursorCodec("supervision_draws", int)

DRAW_CSV_COLUMNS = ("enterprise_id", "name", "region", "level", "listed", "weight", "selected", "rank",
                    "score", "lists", "basis", "complaints")
PLAN_CSV_COLUMNS = ("enterprise_id", "name", "region", "score", "level", "positive_list", "lists",
                    "onsite_per_year", "inspections", "remote_inspections", "exempt", "basis", "reason_zh",
                    "reason", "remote_weight", "onsite_weight", "complaints")


# --- request bodies -----------------------------------------------------------------------

def _day(value: Any) -> Any:
    """A time with an offset counts as its day in China; a day stays a day."""
    if isinstance(value, str) and len(value.strip()) > 10:
        try:
            at = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            return value
        if at.tzinfo is not None:
            return at.astimezone(CST).date()
    return value


def _text(value: Any) -> Any:
    """Numbers sent for a code (``"region": 1301``, ``"period": 2026``) are read as text."""
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


Day = Annotated[date, BeforeValidator(_day)]


class ListingIn(BaseModel):
    """``POST /positive-list``."""

    model_config = ConfigDict(extra="forbid")

    enterprise_id: str = Field(min_length=1, max_length=64)
    list: str | None = Field(default=None, min_length=1, max_length=100, description=(
        "the list's identifier (e.g. positive) or name (e.g. 正面清单); default: the configured "
        "default list"))
    start: Day | None = Field(default=None, description="first day listed (YYYY-MM-DD); default today")
    end: Day | None = Field(default=None, description="last day listed, after start; none: until removed")
    reason: str = Field(min_length=1, max_length=MAX_REASON)


class DrawIn(BaseModel):
    """``POST /supervision/draws``."""

    model_config = ConfigDict(extra="forbid")

    region: Annotated[str | None, BeforeValidator(_text)] = Field(
        default=None, pattern=r"^\d{2,6}$",
        description="administrative division code or prefix; default: the officer's jurisdiction")
    period: Annotated[str, BeforeValidator(_text)] = Field(
        min_length=1, max_length=20, description="a month 2026-12, a quarter 2026-Q4 or a year 2026")
    kind: Literal["remote", "onsite"]
    count: int = Field(ge=1, le=MAX_COUNT, description="enterprises to select (all when fewer)")
    seed: int | None = Field(default=None, ge=0, le=MAX_SEED,
                             description="the random seed; default: a fresh one, returned")


# --- JSON and CSV shapes (the console reuses them) ------------------------------------------

def _who(token_id: int | None, role: str | None, label: str | None, *, hidden: bool) -> dict[str, Any] | None:
    if role is None:
        return None
    if hidden and role != "enterprise":
        return {"token_id": None, "role": role, "label": ""}
    return {"token_id": token_id, "role": role, "label": label or ""}


def entry_out(row: dict[str, Any], registry: Registry, config: SupervisionConfig, *, today: date,
              for_enterprise: bool = False) -> dict[str, Any]:
    """A positive-list entry as JSON; ``active``: whether it lists its enterprise today. An
    enterprise does not see which officer's token acted."""
    enterprise = registry.enterprises.get(row["enterprise_id"])
    info = config.lists.get(row["list"])
    end = row["end_date"]
    return {
        "id": row["id"], "enterprise_id": row["enterprise_id"], "list": row["list"],
        "start": row["start_date"].isoformat(), "end": None if end is None else end.isoformat(),
        "reason": row["reason"], "active": is_active(row, today),
        "list_name": info.zh if info else row["list"], "list_name_en": info.en if info else row["list"],
        "enterprise_name": enterprise.name if enterprise else None,
        "region": enterprise.region if enterprise else None,
        "created_at": iso(row["created_at"]),
        "created_by": _who(row["created_by_token"], row["created_by_role"], row["created_by_label"],
                           hidden=for_enterprise),
        "deleted": row["deleted_at"] is not None, "deleted_at": iso_or_none(row["deleted_at"]),
        "deleted_by": _who(row["deleted_by_token"], row["deleted_by_role"], row["deleted_by_label"],
                           hidden=for_enterprise),
        "delete_reason": row["delete_reason"],
        "url": f"{API_PREFIX}/positive-list/{row['id']}",
    }


def plan_out(item: PlanItem, registry: Registry, config: SupervisionConfig) -> dict[str, Any]:
    """One enterprise of a plan as JSON."""
    enterprise = registry.enterprises.get(item.enterprise_id)
    return {
        "enterprise_id": item.enterprise_id, "name": enterprise.name if enterprise else None,
        "region": enterprise.region if enterprise else None, "score": item.score, "level": item.level,
        "positive_list": item.listed, "lists": list(item.lists), "onsite_per_year": item.onsite_per_year,
        "inspections": item.inspections, "remote_inspections": item.remote_inspections,
        "exempt": item.exempt, "basis": item.basis, "reason": reason(item, config, "en"),
        "reason_zh": reason(item, config, "zh"),
        "windows": [{"start": w.start.isoformat(), "end": w.end.isoformat(), "inspections": w.inspections,
                     "closes_in_period": w.closes_in_period} for w in item.windows],
        "remote_weight": item.remote_weight, "onsite_weight": item.onsite_weight,
        "complaints": item.complaints,
    }


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, list | tuple):
        return " ".join(str(v) for v in value)
    return value


def _csv(columns: tuple[str, ...], rows: list[dict[str, Any]]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_cell(row.get(c)) for c in columns])
    return buf.getvalue()


def plan_csv(items: list[dict[str, Any]]) -> str:
    """Plan items (as :func:`plan_out`) as CSV, RFC 4180 quoting."""
    return _csv(PLAN_CSV_COLUMNS, items)


def draw_out(row: dict[str, Any], *, full: bool = True) -> dict[str, Any]:
    """A draw as JSON: ``weights`` exactly as drawn with; ``candidates`` (with ``full``) in
    enterprise id order, with whether and when (``rank``, 1 = first drawn) each was selected."""
    selected = [str(s) for s in row["selected"]]
    rank = {eid: i + 1 for i, eid in enumerate(selected)}
    out: dict[str, Any] = {
        "id": row["id"], "seed": int(row["seed"]), "selected": selected,
        "region": row["region"], "period": row["period"], "period_start": row["period_start"].isoformat(),
        "period_end": row["period_end"].isoformat(), "kind": row["kind"], "count": row["count"],
        "seed_given": row["seed_given"], "algorithm": row["algorithm"],
        "reference_date": row["reference_date"].isoformat(), "candidate_count": len(row["candidates"]),
        "created_at": iso(row["created_at"]),
        "created_by": _who(row["created_by_token"], row["created_by_role"], row["created_by_label"],
                           hidden=False),
        "url": f"{API_PREFIX}/supervision/draws/{row['id']}",
    }
    if full:
        out["weights"] = {str(c["enterprise_id"]): c["weight"] for c in row["candidates"]}
        out["candidates"] = [{**c, "selected": c["enterprise_id"] in rank, "rank": rank.get(c["enterprise_id"])}
                             for c in row["candidates"]]
    return out


def draw_csv(draw: dict[str, Any]) -> str:
    """A draw's candidates (as in :func:`draw_out`) as CSV, one row each, in id order."""
    return _csv(DRAW_CSV_COLUMNS, draw["candidates"])


# --- routes -------------------------------------------------------------------------------

def _wants_csv(request: Request, fmt: str | None) -> bool:
    if fmt is not None:
        return fmt == "csv"
    return "text/csv" in request.headers.get("accept", "")


def _period(value: str, field: str) -> Period:
    try:
        return parse_period(value)
    except PeriodError as exc:
        raise SupervisionInputError(field, "period", value=value) from exc


def _active(value: str | None, today: date) -> tuple[date | None, date | None]:
    """``active`` of the list: (active on, not active on)."""
    if value is None:
        return None, None
    text = value.strip().lower()
    if text in ("true", "1", "yes"):
        return today, None
    if text in ("false", "0", "no"):
        return None, today
    try:
        return date.fromisoformat(text), None
    except ValueError:
        raise SupervisionInputError("query.active", "active", value=value) from None


def _json(body: Any, status_code: int = 200) -> Response:
    return Response(json.dumps(body, ensure_ascii=False), status_code=status_code,
                    media_type="application/json")


def build_supervision_router(ctx: ApiContext, auth: Auth) -> APIRouter:
    router = APIRouter(prefix=API_PREFIX, tags=["supervision"])
    officers = auth.require("officer")
    readers = auth.require("officer", "credit", "enterprise")
    config = ctx.supervision
    unruled = [lv.id for lv in ctx.credit_model.scheme.levels if lv.id not in config.levels]
    if unruled:
        log.warning("supervision file %s has no rule for level(s) %s of the active level scheme %s: they are "
                    "supervised like %s", config.source, ", ".join(unruled), ctx.credit_model.active,
                    config.unknown_level)
    draws_made = Counter("ecowarn_supervision_draws_total", "Random supervision draws made, by kind",
                         ["kind"], registry=ctx.metrics_registry)

    async def actor_of(conn: psycopg.AsyncConnection[Any], principal: Principal) -> Actor:
        return await load_actor(conn, principal.token_id, principal.role, principal.enterprise_id)

    def in_region(principal: Principal, region: str | None) -> tuple[str | None, list[Enterprise]]:
        """The region asked for (default: the jurisdiction) and its visible enterprises; a
        region outside a limited officer's jurisdiction is absent."""
        seen: Visibility = visibility(ctx, principal)
        if region is None:
            region = seen.region
        elif seen.region is not None and not region.startswith(seen.region):
            raise SupervisionNotFound("region_not_found", region=region)
        return region, [e for e in ctx.registry.enterprises.values()
                        if (region is None or e.region.startswith(region)) and seen.sees(e.id)]

    # --- positive list --------------------------------------------------------------------

    @router.post("/positive-list", status_code=201)
    async def post_entry(principal: Annotated[Principal, Depends(officers)], body: ListingIn) -> Response:
        """Put an enterprise on a positive list (正面清单) from ``start`` through ``end``."""
        seen = visibility(ctx, principal)
        listable = {e for e in ctx.registry.enterprises if seen.sees(e)}
        today = today_cst()
        async with connect(ctx) as conn:
            row = await add_entry(conn, config, enterprise_id=body.enterprise_id, list_name=body.list,
                                  start=body.start or today, end=body.end, reason=body.reason,
                                  actor=await actor_of(conn, principal), listable=listable)
        return _json(entry_out(row, ctx.registry, config, today=today), 201)

    @router.get("/positive-list")
    async def get_entries(
        principal: Annotated[Principal, Depends(readers)],
        enterprise_id: str | None = None,
        region: Annotated[str | None, Query(pattern=r"^\d{2,6}$", description=(
            "administrative division code or prefix"))] = None,
        list: Annotated[str | None, Query(max_length=100, description="a list's identifier or name")] = None,
        active: Annotated[str | None, Query(max_length=10, description=(
            "true: active today (China time); false: not active today; YYYY-MM-DD: active that "
            "day; left out: every entry not removed"))] = None,
        include_deleted: bool = False,
        limit: Limit = DEFAULT_LIMIT,
        cursor: str | None = None,
    ) -> Response:
        """Positive-list entries, newest first: ``{"items": [...], "next_cursor"}``."""
        today = today_cst()
        on, off = _active(active, today)
        list_id = None
        if list is not None:
            list_id = config.list_id(list)
            if list_id is None:
                raise SupervisionInputError("query.list", "unknown_list", list=list, lists=", ".join(config.lists))
        wanted = None
        if region is not None:
            wanted = sorted(e.id for e in ctx.registry.enterprises.values() if e.region.startswith(region))
        if enterprise_id is not None:
            wanted = [enterprise_id] if wanted is None or enterprise_id in wanted else []
        f = ListingFilter(enterprise_ids=visibility(ctx, principal).narrow(wanted), list_id=list_id,
                          active_on=on, inactive_on=off, include_deleted=include_deleted)
        async with connect(ctx) as conn:
            rows, last = await list_entries(conn, f, limit=limit, before_id=_ENTRIES.decode_one(cursor))
        for_enterprise = principal.role == "enterprise"
        return _json({"items": [entry_out(r, ctx.registry, config, today=today, for_enterprise=for_enterprise)
                                for r in rows],
                      "next_cursor": None if last is None else _ENTRIES.encode(last)})

    @router.get("/positive-list/{entry_id}")
    async def get_entry(principal: Annotated[Principal, Depends(readers)], entry_id: EntityId) -> Response:
        """One entry, removed or not."""
        async with connect(ctx) as conn:
            row = await fetch_entry(conn, entry_id, scope=visibility(ctx, principal).enterprises)
        return _json(entry_out(row, ctx.registry, config, today=today_cst(),
                               for_enterprise=principal.role == "enterprise"))

    @router.delete("/positive-list/{entry_id}")
    async def delete_entry(
        principal: Annotated[Principal, Depends(officers)], entry_id: EntityId,
        reason: Annotated[str | None, Query(max_length=MAX_REASON, description="why it is removed")] = None,
    ) -> Response:
        """Remove an entry from its list: it is kept, with who removed it, when and why."""
        async with connect(ctx) as conn:
            row = await remove_entry(conn, entry_id, actor=await actor_of(conn, principal), reason=reason,
                                     scope=visibility(ctx, principal).enterprises)
        return _json(entry_out(row, ctx.registry, config, today=today_cst()))

    # --- plan and draws -------------------------------------------------------------------

    @router.get("/supervision/plan")
    async def get_plan(
        request: Request, principal: Annotated[Principal, Depends(officers)],
        period: Annotated[str, Query(min_length=1, max_length=20, description=(
            "a month 2026-12, a quarter 2026-Q4 or a year 2026"))],
        region: Region = None,
        format: Annotated[Literal["json", "csv"] | None, Query(
            description="csv or json; default from the Accept header, else json")] = None,
    ) -> Response:
        """The routine inspections each enterprise's level and positive list call for in the
        period (on-site, and the off-site checks that replace them for listed firms)."""
        span = _period(period, "query.period")
        region, enterprises = in_region(principal, region)
        async with connect(ctx) as conn:
            reference, items = await supervision_plan(conn, config, enterprises, span, today_cst(),
                                                      level_of=ctx.credit_model.level_for)
        out = [plan_out(item, ctx.registry, config) for item in items]
        if _wants_csv(request, format):
            name = f"plan-{region or 'all'}-{span.label}.csv"
            return Response(plan_csv(out), media_type="text/csv; charset=utf-8",
                            headers={"Content-Disposition": f'attachment; filename="{name}"'})
        return _json({
            "region": region, "period": span.label, "period_kind": span.kind, "start": span.start.isoformat(),
            "end": span.end.isoformat(), "reference_date": reference.isoformat(), "items": out,
            "totals": {"enterprises": len(out), "inspections": sum(i.inspections for i in items),
                       "remote_inspections": sum(i.remote_inspections for i in items),
                       "exempt": sum(1 for i in items if i.exempt),
                       "listed": sum(1 for i in items if i.listed),
                       "on_complaint": sum(1 for i in items if i.basis == "complaint")},
        })

    @router.post("/supervision/draws", status_code=201)
    async def post_draw(principal: Annotated[Principal, Depends(officers)], body: DrawIn) -> Response:
        """Draw ``count`` enterprises of the region for remote spot checks or on-site checks,
        weighted by level and positive list; reproducible from the returned seed."""
        span = _period(body.period, "body.period")
        region, enterprises = in_region(principal, body.region)
        request = DrawRequest(region=region, period=span, kind=body.kind, count=body.count, seed=body.seed)
        async with connect(ctx) as conn:
            row = await make_draw(conn, config, enterprises, request, actor=await actor_of(conn, principal),
                                  today=today_cst(), level_of=ctx.credit_model.level_for)
        draws_made.labels(body.kind).inc()
        return _json(draw_out(row), 201)

    @router.get("/supervision/draws")
    async def get_draws(
        principal: Annotated[Principal, Depends(officers)],
        region: Annotated[str | None, Query(pattern=r"^\d{2,6}$", description=(
            "draws of this region or inside it"))] = None,
        period: Annotated[str | None, Query(max_length=20)] = None,
        kind: Literal["remote", "onsite"] | None = None,
        limit: Limit = DEFAULT_LIMIT,
        cursor: str | None = None,
    ) -> Response:
        """Draws, newest first, without their candidates: ``{"items": [...], "next_cursor"}``."""
        label = None if period is None else _period(period, "query.period").label
        async with connect(ctx) as conn:
            rows, last = await list_draws(conn, DrawFilter(region=region, period=label, kind=kind),
                                          jurisdiction=visibility(ctx, principal).region, limit=limit,
                                          before_id=_DRAWS.decode_one(cursor))
        return _json({"items": [draw_out(r, full=False) for r in rows],
                      "next_cursor": None if last is None else _DRAWS.encode(last)})

    @router.get("/supervision/draws/{draw_id}")
    async def get_draw(
        request: Request, principal: Annotated[Principal, Depends(officers)], draw_id: EntityId,
        format: Annotated[Literal["json", "csv"] | None, Query(
            description="csv or json; default from the Accept header, else json")] = None,
    ) -> Response:
        """One draw as made; as CSV, one row per candidate (weight, whether selected)."""
        async with connect(ctx) as conn:
            row = await fetch_draw(conn, draw_id, jurisdiction=visibility(ctx, principal).region)
        out = draw_out(row)
        if _wants_csv(request, format):
            return Response(draw_csv(out), media_type="text/csv; charset=utf-8", headers={
                "Content-Disposition": f'attachment; filename="draw-{row["id"]}.csv"',
                "X-Draw-Seed": str(out["seed"]), "X-Draw-Algorithm": out["algorithm"]})
        return _json(out)

    @router.post("/supervision/draws/{draw_id}/verify")
    async def verify_draw(principal: Annotated[Principal, Depends(officers)], draw_id: EntityId) -> Response:
        """Re-run a draw from its stored candidates, weights, count and seed."""
        async with connect(ctx) as conn:
            row = await fetch_draw(conn, draw_id, jurisdiction=visibility(ctx, principal).region)
        again = rerun(row)
        stored = [str(s) for s in row["selected"]]
        return _json({"id": row["id"], "seed": int(row["seed"]), "algorithm": row["algorithm"],
                      "count": row["count"], "selected": stored, "rerun": again, "matches": again == stored})

    return router
