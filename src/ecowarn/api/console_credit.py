"""Console pages of enterprise credit: warnings, answers, credit standing, evidence.

- ``GET /console/enterprises``: officers see every registered enterprise with its score
  and level; an enterprise session goes to its own page.
- ``GET /console/enterprises/{id}``: the enterprise's score and level, the risk warnings
  sent to it, its answers to alerts (when the alert workflow's ``alert_answers`` table
  exists) and its credit history with links to the evidence packages.
- ``GET /console/evidence/{id}``: the printable evidence page (as
  ``/api/v1/evidence/{id}.html``).

An enterprise session sees only its own enterprise, a region-limited officer's session
its region's enterprises (:func:`api.auth.visibility`); another's page is the same 404
as a missing one.
"""

# No "from __future__ import annotations": FastAPI resolves the Depends() in the
# route signatures at definition time, and they name closure variables.

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from ecowarn.api._console_lang import lang_of, local_minute, with_lang
from ecowarn.api._credit_db import fetch_answers, fetch_scores, list_deliveries
from ecowarn.api._db import connect
from ecowarn.api._evidence_html import render_evidence
from ecowarn.api._templates import templates
from ecowarn.api.auth import visibility
from ecowarn.api.context import ApiContext
from ecowarn.api.errors import NotFound
from ecowarn.api.pagination import BIGINT_MAX
from ecowarn.api.routes_credit import PAGE_HEADERS
from ecowarn.credit import ledger
from ecowarn.credit.evidence import fetch_evidence
from ecowarn.i18n import CREDIT_TEXTS, ENTRY_TYPES, Lang, rule_name
from ecowarn.store.tokens import Principal

__all__ = ["build_credit_console"]

Renderer = Callable[..., HTMLResponse]
Viewers = Callable[[Request], Awaitable[Principal]]
# Rows shown per section; the JSON API pages through all of them.
SECTION_ROWS = 200





def _answer_view(answer: dict[str, Any]) -> dict[str, Any]:
    """An answer row (any columns) for display: the well-known ones, then the rest."""
    known = ("id", "alert_id", "kind", "body", "created_at", "author_label")
    at = answer.get("created_at")
    return {
        "alert_id": answer.get("alert_id"),
        "kind": answer.get("kind", ""),
        "text": answer.get("body", ""),
        "at": local_minute(datetime.fromisoformat(at)) if isinstance(at, str) else "",
        "by": answer.get("author_label") or "",
        "more": {k: v for k, v in answer.items()
                 if k not in known and k not in ("enterprise_id", "author_token", "author_role")
                 and v not in (None, [], "")},
    }


def build_credit_console(ctx: ApiContext, viewers: Viewers, render: Renderer,
                         nav: Callable[[Principal, Lang], list[tuple[str, str]]]) -> APIRouter:
    """The routes above, sharing the console's session check and renderer."""
    router = APIRouter(include_in_schema=False)
    reg = ctx.registry
    env = templates()

    def page(request: Request, principal: Principal, name: str, **kw: Any) -> HTMLResponse:
        lang = lang_of(request)
        return render(request, name, c=CREDIT_TEXTS[lang], nav=nav(principal, lang),
                      logout=with_lang("/console/logout", lang), **kw)

    @router.get("/enterprises")
    async def enterprises_page(request: Request,
                               principal: Annotated[Principal, Depends(viewers)]) -> Response:
        lang = lang_of(request)
        if principal.enterprise_id is not None:
            return RedirectResponse(with_lang(f"/console/enterprises/{principal.enterprise_id}", lang),
                                    status_code=303)
        seen = visibility(ctx, principal)
        async with connect(ctx) as conn:
            scores = await fetch_scores(conn)
        items = []
        for enterprise_id in sorted(set(reg.enterprises) | set(scores)):
            if not seen.sees(enterprise_id):
                continue
            ent = reg.enterprises.get(enterprise_id)
            score, level = scores.get(enterprise_id, (ledger.FULL_SCORE, ledger.level_for(ledger.FULL_SCORE)))
            items.append({"id": enterprise_id, "name": ent.name if ent else enterprise_id,
                          "industry": ent.industry if ent else "", "score": score, "level": level,
                          "url": with_lang(f"/console/enterprises/{enterprise_id}", lang)})
        return page(request, principal, "enterprises.html", items=items)

    @router.get("/enterprises/{enterprise_id}")
    async def enterprise_page(request: Request, principal: Annotated[Principal, Depends(viewers)],
                              enterprise_id: str) -> Response:
        lang = lang_of(request)
        c = CREDIT_TEXTS[lang]
        if not visibility(ctx, principal).sees(enterprise_id):
            raise NotFound(f"no enterprise {enterprise_id}")
        async with connect(ctx) as conn:
            score, level, n = await ledger.enterprise_standing(conn, enterprise_id)
            if enterprise_id not in reg.enterprises and n == 0:
                raise NotFound(f"no enterprise {enterprise_id}")
            deliveries = await list_deliveries(conn, enterprise_id=enterprise_id, alert_id=None,
                                               status=None, limit=SECTION_ROWS, before_id=None)
            answers = await fetch_answers(conn, enterprise_id)
            entries = await ledger.history(conn, enterprise_id, limit=SECTION_ROWS)
        warnings: dict[int, dict[str, Any]] = {}
        for d in deliveries[:SECTION_ROWS]:
            w = warnings.setdefault(int(d["alert_id"]), {
                "url": with_lang(f"/console/alerts/{d['alert_id']}", lang),
                "alert_id": d["alert_id"], "rule": rule_name(d["rule"], lang),
                "severity": d["severity"], "start": local_minute(d["start_ts"]),
                "summary": d["summary_zh"] if lang == "zh" else d["summary"], "channels": []})
            w["channels"].append({"channel": d["channel"], "status": d["status"],
                                  "status_text": c.get(d["status"], d["status"]),
                                  "attempts": d["attempts"], "at": local_minute(d["delivered_at"])})
        history = [{
            "id": e["id"], "recorded": local_minute(e["created_at"]),
            "type": ENTRY_TYPES.get(e["entry_type"], (e["entry_type"],) * 2)[0 if lang == "zh" else 1],
            "points": e["points"], "score_after": e["score_after"], "level_after": e["level_after"],
            "rule": rule_name(e["rule"], lang) if e["rule"] else "",
            "alert_url": with_lang(f"/console/alerts/{e['alert_id']}", lang) if e["alert_id"] else None,
            "alert_id": e["alert_id"], "reason": e["reason"],
            "evidence_url": with_lang(f"/console/evidence/{e['evidence_id']}", lang)
            if e["evidence_id"] else None,
            "evidence_sha256": e["evidence_sha256"],
            "repair_after": local_minute(e["repair_after"]) if e["entry_type"] == "deduction" else "",
            "reversed": e["reversed_by"] is not None, "repaired": e["repaired_by"] is not None,
        } for e in entries[:SECTION_ROWS]]
        ent = reg.enterprises.get(enterprise_id)
        return page(
            request, principal, "enterprise.html",
            enterprise={"id": enterprise_id, "name": ent.name if ent else enterprise_id,
                        "industry": ent.industry if ent else "", "region": ent.region if ent else ""},
            score=score, level=level, entries=n,
            warnings=sorted(warnings.values(), key=lambda w: -int(w["alert_id"])),
            answers=None if answers is None else [_answer_view(a) for a in answers],
            history=history, back=with_lang("/console/enterprises", lang)
            if principal.enterprise_id is None else None)

    @router.get("/evidence/{evidence_id}")
    async def evidence_page(request: Request, principal: Annotated[Principal, Depends(viewers)],
                            evidence_id: Annotated[int, Path(ge=1, le=BIGINT_MAX)]) -> Response:
        async with connect(ctx) as conn:
            row = await fetch_evidence(conn, evidence_id)
        if row is None or not visibility(ctx, principal).sees(row["enterprise_id"]):
            raise NotFound(f"no evidence package {evidence_id}")
        return HTMLResponse(render_evidence(env, row), headers=PAGE_HEADERS)

    return router
