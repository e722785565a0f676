"""Credit evaluation endpoints (CONTRACT section 9).

- ``GET /api/v1/credit/catalogs``: officer, credit, enterprise. The evaluation catalogs with
  their items: ``{"items": [{id, name, items: [{id, category, name, kind, max_points}]}]}``
  (``name`` in Chinese; ``name_en``, categories, base, level scheme and each item's expected
  evidence and source besides).
- ``GET /api/v1/credit/level-schemes``: officer, credit, enterprise. The level schemes, their
  bands and the active one.
- ``POST /api/v1/credit/evaluations``: officer. ``{"enterprise_id", "kind": "initial" |
  "periodic", "catalog", "items": [{"item", "points", "note", "evidence"}], "evaluated_at"}``
  -> 201 with the evaluation. Points are signed as in the ledger (deduction items
  ``-max_points..0``, bonus items ``0..max_points``); every problem is reported at once (422,
  ``problems``); a second initial evaluation is 409.
- ``GET /api/v1/credit/evaluations?enterprise_id=&kind=&limit=&cursor=``: officer, credit,
  enterprise (own). Newest first.
- ``GET /api/v1/credit/evaluations/{id}``: officer, credit, enterprise (own); ``.html``: the
  printable report.
- ``GET /api/v1/credit/enterprises/{id}/initial-evaluation.html``: the enterprise's initial
  evaluation report (404 while it has none).

``admin`` may use all of them. A region-limited officer sees and evaluates only its region's
enterprises: another enterprise's evaluation is 404 like a missing one, and evaluating it is
the 422 of an unknown enterprise. The ``credit`` role is never limited.
:func:`credit_standing` gives the enterprise credit page its level, level history and
latest evaluation.
"""

# No "from __future__ import annotations": FastAPI resolves the Depends() in the
# route signatures at definition time, and they name closure variables.

from typing import Annotated, Any, Literal

import psycopg
from fastapi import APIRouter, Depends, Path
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import HTMLResponse

from ecowarn.alerts.audit import load_actor
from ecowarn.api._db import connect
from ecowarn.api._evaluation_html import render_evaluation_report
from ecowarn.api._paths import API_PREFIX
from ecowarn.api._templates import templates
from ecowarn.api._time import AwareDatetime, iso
from ecowarn.api.auth import Auth, visibility
from ecowarn.api.context import ApiContext
from ecowarn.api.errors import NotFound
from ecowarn.api.pagination import BIGINT_MAX, DEFAULT_LIMIT, CursorCodec, Limit
from ecowarn.credit import evaluation
from ecowarn.credit.evaluation import (
    Catalog,
    CreditModel,
    EvaluationNotFound,
    InvalidEvaluation,
    ItemInput,
    LevelScheme,
    Problem,
)
from ecowarn.credit.hooks import actor_info
from ecowarn.credit.ledger import enterprise_standing
from ecowarn.store.tokens import Principal

__all__ = ["build_evaluations_router", "catalog_json", "credit_standing", "evaluation_json", "scheme_json"]

# The printable page loads nothing from anywhere: inline styles only.
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
                               "frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
EntityId = Annotated[int, Path(ge=1, le=BIGINT_MAX)]
_EVALUATIONS = CursorCodec("evaluations", int)


class ItemIn(BaseModel):
    """One evaluated item: signed points as in the ledger (deductions negative)."""

    model_config = ConfigDict(extra="forbid")
    item: str = Field(min_length=1, max_length=64)
    points: int = Field(ge=-100, le=100)
    note: str = Field(default="", max_length=2000)
    evidence: list[Annotated[str, Field(min_length=1, max_length=500)]] = Field(default_factory=list,
                                                                                 max_length=20)


class EvaluationIn(BaseModel):
    """``POST /api/v1/credit/evaluations``; ``evaluated_at`` defaults to now."""

    model_config = ConfigDict(extra="forbid")
    enterprise_id: str = Field(min_length=1, max_length=64)
    kind: Literal["initial", "periodic"]
    catalog: str = Field(min_length=1, max_length=64)
    items: list[ItemIn] = Field(default_factory=list, max_length=500)
    evaluated_at: AwareDatetime | None = None


def catalog_json(cat: Catalog) -> dict[str, Any]:
    return {
        "id": cat.id, "name": cat.name.zh, "name_en": cat.name.en, "scheme": cat.scheme, "base": cat.base,
        "kinds": list(cat.kinds), "require_evidence": cat.require_evidence,
        "categories": [{"id": c.id, "name": c.name.zh, "name_en": c.name.en, "items": list(c.items)}
                       for c in cat.categories],
        "items": [{"id": it.id, "category": it.category, "name": it.name.zh, "name_en": it.name.en,
                   "kind": it.kind, "max_points": it.max_points,
                   "evidence": [e.zh for e in it.evidence], "evidence_en": [e.en for e in it.evidence],
                   "source": it.source, "basis": it.basis} for it in cat.ordered_items()],
    }


def scheme_json(scheme: LevelScheme) -> dict[str, Any]:
    return {"id": scheme.id, "name": scheme.name.zh, "name_en": scheme.name.en, "source": scheme.source,
            "basis": scheme.basis,
            "levels": [{"id": lv.id, "name": lv.name.zh, "name_en": lv.name.en, "min": low, "max": high}
                       for lv, low, high in scheme.bands()]}


def evaluation_json(ctx: ApiContext, row: dict[str, Any], *, show_token: bool) -> dict[str, Any]:
    """An evaluation as the API shows it (enterprise tokens do not see the officer's token):
    ``level`` in the active level scheme (``level_scheme``), ``recorded_level`` in the scheme
    active when it was recorded (``scheme``), ``levels`` in every scheme."""
    model: CreditModel = ctx.credit_model
    ent = ctx.registry.enterprises.get(row["enterprise_id"])
    officer: dict[str, Any] = {"label": row["officer_label"]}
    if show_token:
        officer["token_id"] = row["officer_token"]
    cat = model.catalogs.get(row["catalog"])
    return {
        "id": row["id"], "enterprise_id": row["enterprise_id"], "enterprise_name": ent.name if ent else None,
        "kind": row["kind"], "catalog": row["catalog"], "catalog_name": cat.name.zh if cat else None,
        "scheme": row["scheme"], "base": row["base"],
        "items": [{"item": i["item"], "category": i["category"], "name": i["name"]["zh"],
                   "name_en": i["name"]["en"], "kind": i["kind"], "max_points": i["max_points"],
                   "points": i["points"], "note": i["note"], "evidence": i["evidence"]} for i in row["items"]],
        "deductions": row["deductions"], "bonuses": row["bonuses"], "score": row["score"],
        # The level in the scheme active now (as GET /credit/enterprises/{id} reports it); the
        # evaluation document keeps the level of the scheme active when it was recorded.
        "level": model.level_for(row["score"]), "level_scheme": model.active,
        "recorded_level": row["level"], "levels": model.levels_for(row["score"]),
        "entry_id": row["entry_id"], "sha256": row["sha256"], "evaluated_at": iso(row["evaluated_at"]),
        "created_at": iso(row["created_at"]), "officer": officer, "reversed_by": row["reversed_by"],
        "report_url": f"{API_PREFIX}/credit/evaluations/{row['id']}.html",
    }


async def credit_standing(conn: psycopg.AsyncConnection[Any], ctx: ApiContext, principal: Principal,
                          enterprise_id: str, score: int) -> dict[str, Any]:
    """Members of ``GET /credit/enterprises/{id}`` about levels and evaluations: ``level`` (the
    active scheme's), ``level_scheme``, ``level_history`` (oldest first) and ``evaluation``
    (the one the score starts from, or null)."""
    found = await evaluation.standing(conn, ctx.credit_model, enterprise_id, score)
    latest = found["evaluation"]
    return {
        "level": found["level"], "level_scheme": found["level_scheme"],
        "level_history": [{**h, "at": iso(h["at"])} for h in found["level_history"]],
        "evaluation": None if latest is None else evaluation_json(
            ctx, latest, show_token=principal.role != "enterprise"),
    }


def build_evaluations_router(ctx: ApiContext, auth: Auth) -> APIRouter:
    router = APIRouter(prefix=API_PREFIX)
    readers = auth.require("officer", "credit", "enterprise")
    officers = auth.require("officer")
    env = templates()

    async def load(conn: psycopg.AsyncConnection[Any], principal: Principal,
                   evaluation_id: int) -> dict[str, Any]:
        row = await evaluation.fetch_evaluation(conn, evaluation_id)
        if row is None or not visibility(ctx, principal).sees(row["enterprise_id"]):
            raise EvaluationNotFound(evaluation_id)
        return row

    async def report(conn: psycopg.AsyncConnection[Any], row: dict[str, Any]) -> HTMLResponse:
        score, _, _ = await enterprise_standing(conn, row["enterprise_id"])
        html = render_evaluation_report(env, row, ctx.credit_model,
                                        ctx.registry.enterprises.get(row["enterprise_id"]),
                                        (score, ctx.credit_model.level_for(score)))
        return HTMLResponse(html, headers=PAGE_HEADERS)

    @router.get("/credit/catalogs", tags=["credit"])
    async def catalogs(principal: Annotated[Principal, Depends(readers)]) -> dict[str, Any]:
        """The evaluation catalogs (configuration) with their categories and items."""
        return {"items": [catalog_json(c) for c in ctx.credit_model.catalogs.values()]}

    @router.get("/credit/level-schemes", tags=["credit"])
    async def level_schemes(principal: Annotated[Principal, Depends(readers)]) -> dict[str, Any]:
        """The level schemes (configuration) with their bands; ``active`` is the one whose
        level the API reports."""
        model = ctx.credit_model
        return {"active": model.active, "items": [scheme_json(s) for s in model.schemes.values()]}

    @router.post("/credit/evaluations", tags=["credit"], status_code=201)
    async def record(principal: Annotated[Principal, Depends(officers)], body: EvaluationIn) -> dict[str, Any]:
        """Record an initial or periodic evaluation: the enterprise's score becomes its score,
        and later ledger entries move it from there."""
        items = [ItemInput(i.item, i.points, i.note, tuple(i.evidence)) for i in body.items]
        known = (body.enterprise_id in ctx.registry.enterprises
                 and visibility(ctx, principal).sees(body.enterprise_id))
        _, problems = evaluation.check_evaluation(ctx.credit_model, body.catalog, body.kind, items)
        if not known:
            problems.insert(0, Problem("body.enterprise_id", "unknown_enterprise",
                                       {"enterprise": body.enterprise_id}))
        if problems:
            raise InvalidEvaluation(problems)
        async with connect(ctx) as conn:
            who = actor_info(await load_actor(conn, principal.token_id, principal.role))
            row = await evaluation.record_evaluation(
                conn, ctx.credit_model, enterprise_id=body.enterprise_id, kind=body.kind,
                catalog_id=body.catalog, items=items, actor=who,
                evaluated_at=body.evaluated_at)
        return evaluation_json(ctx, row, show_token=True)

    @router.get("/credit/evaluations", tags=["credit"])
    async def list_evaluations(
        principal: Annotated[Principal, Depends(readers)], enterprise_id: str | None = None,
        kind: Literal["initial", "periodic"] | None = None,
        limit: Limit = DEFAULT_LIMIT, cursor: str | None = None,
    ) -> dict[str, Any]:
        """Evaluations, newest first; a token sees those of the enterprises it may see (an
        ``enterprise_id`` outside them gives an empty list)."""
        before = _EVALUATIONS.decode_one(cursor)
        async with connect(ctx) as conn:
            rows = await evaluation.list_evaluations(
                conn, limit=limit, enterprise_id=enterprise_id, kind=kind, before_id=before,
                enterprise_ids=visibility(ctx, principal).enterprises)
        more = len(rows) > limit
        rows = rows[:limit]
        show = principal.role != "enterprise"
        return {"items": [evaluation_json(ctx, r, show_token=show) for r in rows],
                "next_cursor": _EVALUATIONS.encode(rows[-1]["id"]) if more else None}

    # Before "/credit/evaluations/{evaluation_id}", which would otherwise take "5.html" as an id.
    @router.get("/credit/evaluations/{evaluation_id}.html", tags=["credit"], response_class=HTMLResponse)
    async def evaluation_html(principal: Annotated[Principal, Depends(readers)],
                              evaluation_id: EntityId) -> HTMLResponse:
        """The evaluation as a printable report: every problem found, Chinese with English."""
        async with connect(ctx) as conn:
            return await report(conn, await load(conn, principal, evaluation_id))

    @router.get("/credit/evaluations/{evaluation_id}", tags=["credit"])
    async def get_evaluation(principal: Annotated[Principal, Depends(readers)],
                             evaluation_id: EntityId) -> dict[str, Any]:
        """One evaluation with its items, score, level and ledger entry."""
        async with connect(ctx) as conn:
            row = await load(conn, principal, evaluation_id)
        return evaluation_json(ctx, row, show_token=principal.role != "enterprise")

    @router.get("/credit/enterprises/{enterprise_id}/initial-evaluation.html", tags=["credit"],
                response_class=HTMLResponse)
    async def initial_report(principal: Annotated[Principal, Depends(readers)],
                             enterprise_id: str) -> HTMLResponse:
        """The enterprise's initial evaluation as a printable report (404 while it has none)."""
        if not visibility(ctx, principal).sees(enterprise_id):
            raise NotFound(f"no enterprise {enterprise_id}")
        async with connect(ctx) as conn:
            row = await evaluation.initial_evaluation(conn, enterprise_id)
            if row is None:
                raise NotFound(f"enterprise {enterprise_id} has no initial evaluation")
            return await report(conn, row)

    return router
