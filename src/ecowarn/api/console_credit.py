"""Console pages of enterprise credit: warnings, answers, credit standing, repair, evidence.

- ``GET /console/enterprises``: officers see every registered enterprise with its score
  and level in the active level scheme (``?level=`` keeps one level's, ``?format=csv``
  downloads the list, ``api/_console_csv.py``); an enterprise session goes to its own page.
- ``GET /console/enterprises/{id}``: the enterprise's score and level; its deductions that
  can still be repaired, each with the end of its minimum publication period, its latest
  repair application and (enterprise sessions) the form to apply (``api/console_repair.py``);
  its repair applications with their files and decisions; the risk warnings sent to it, its
  answers to alerts, and its credit history (first offences marked as no penalty) with links
  to the evidence packages.
- ``GET /console/evidence/{id}``: the printable evidence page of a confirmed alert (as
  ``/api/v1/evidence/{id}.html``), or the page of a filed document kept in the chain (a
  repair application, a rectification submission).

The repair application pages and forms are in ``api/console_repair.py``, the officers'
notification log in ``api/console_notifications.py``; their routes join this router.

An enterprise session sees only its own enterprise, a region-limited officer's session
its region's enterprises (:func:`api.auth.visibility`); another's page is the same 404
as a missing one.
"""

# No "from __future__ import annotations": FastAPI resolves the Depends() in the
# route signatures at definition time, and they name closure variables.

import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from ecowarn.api._console_bureau_db import enterprise_levels
from ecowarn.api._console_credit_db import applications_of, live_deductions
from ecowarn.api._console_csv import csv_response
from ecowarn.api._console_fields import document_rows
from ecowarn.api._console_forms import FORM_FIELD, FormGuard
from ecowarn.api._console_inline import Refusal
from ecowarn.api._console_lang import lang_of, local_minute, url_for, with_lang
from ecowarn.api._console_ledger import entry_text
from ecowarn.api._credit_db import fetch_answers, list_deliveries
from ecowarn.api._db import connect
from ecowarn.api._evidence_html import render_evidence
from ecowarn.api._templates import templates
from ecowarn.api.auth import Auth, visibility
from ecowarn.api.console_notifications import build_notifications_console
from ecowarn.api.console_repair import application_view, build_repair_console, human_size
from ecowarn.api.context import ApiContext
from ecowarn.api.errors import NotFound
from ecowarn.api.pagination import BIGINT_MAX
from ecowarn.api.routes_credit import PAGE_HEADERS
from ecowarn.credit import ledger
from ecowarn.credit.applications import MAX_COMMITMENT
from ecowarn.credit.evidence import DOCUMENT_FORMAT, fetch_evidence
from ecowarn.credit.hooks import installed
from ecowarn.credit.params import CreditParams
from ecowarn.i18n import CREDIT_TEXTS, ENTRY_TYPES, Lang, catalog, label, rule_name
from ecowarn.store.attachments import MAX_BYTES, MAX_FILES
from ecowarn.store.tokens import Principal

__all__ = ["build_credit_console"]

Renderer = Callable[..., HTMLResponse]
ENTERPRISE_CSV_COLUMNS = ("col_enterprise", "col_credit_code", "col_region", "col_industry", "col_credit_score",
                          "col_level")
Viewers = Callable[[Request], Awaitable[Principal]]
# Rows shown per section; the JSON API pages through all of them.
SECTION_ROWS = 200


def _answer_view(answer: dict[str, Any], lang: Lang) -> dict[str, Any]:
    """An answer row (any columns) for display: the well-known ones, then the rest."""
    at = answer.get("created_at")
    return {
        "alert_id": answer.get("alert_id"),
        "kind": label(answer.get("kind") or "", lang),
        "text": answer.get("body", ""),
        "at": local_minute(datetime.fromisoformat(at)) if isinstance(at, str) else "",
        "by": answer.get("author_label") or "",
        "more": _answer_more(answer, lang),
    }


def _answer_more(answer: dict[str, Any], lang: Lang) -> list[str]:
    """What else an answer row says, worded: when the bureau first read it, its attachments,
    the maintenance declaration it filed."""
    c = catalog(lang, "CREDIT")
    out = []
    read = answer.get("first_read_at")
    if isinstance(read, str):
        out.append(c["answer_read_at"].format(at=local_minute(datetime.fromisoformat(read))))
    refs = [str(r) for r in answer.get("attachments") or []]
    if refs:
        out.append(c["answer_attachments"].format(refs=("、" if lang == "zh" else ", ").join(refs)))
    if answer.get("maintenance_id") is not None:
        out.append(c["answer_maintenance"].format(id=answer["maintenance_id"]))
    return out


def _describe(e: dict[str, Any], apps: dict[int, dict[str, Any]], c: dict[str, str], lang: Lang) -> str:
    """What a ledger entry records, in the page's language; the recorded reason (machine
    text, or what an officer typed) where there is nothing better to say."""
    kind = e["entry_type"]
    app = apps.get(int(e["id"]))
    if kind == "deduction":
        if e.get("repeat_count"):
            return c["desc_deduction_repeats"].format(points=-int(e["points"]), n=e["repeat_count"])
        return c["desc_deduction"].format(points=-int(e["points"]))
    if kind == "first_offence":
        return c["desc_first_offence"]
    if kind == "repair_application" and app is not None:
        return c["desc_application"].format(id=app["id"], entry=app["entry_id"])
    if kind == "repair_rejection" and app is not None:
        return c["desc_rejected"].format(id=app["id"], reason=app["decision_reason"])
    if kind == "repair" and app is not None:
        return c["desc_approved"].format(id=app["id"], points=e["points"], reason=app["decision_reason"])
    if kind == "repair" and (e.get("actor") or {}).get("role") == "system":
        return c["desc_auto_repair"].format(points=e["points"])
    return entry_text(e, lang)


def _repair_item(d: dict[str, Any], params: CreditParams, latest: dict[str, Any] | None, *,
                 now: datetime, may_apply: bool, refusal: Refusal | None, lang: Lang,
                 c: dict[str, str]) -> dict[str, Any]:
    """One live deduction with its publication period, its latest application and its form."""
    allowed = params.publication_end(d["created_at"], d["severity"])
    cls = params.publication_class(d["severity"])
    pending = latest is not None and latest["status_id"] == "pending"
    return {
        "id": d["id"], "points": d["points"], "rule": rule_name(d["rule"], lang) if d["rule"] else "",
        "severity": c.get(f"sev_{d['severity']}", d["severity"] or ""), "alert_id": d["alert_id"],
        "alert_url": with_lang(f"/console/alerts/{d['alert_id']}", lang),
        "recorded": local_minute(d["created_at"]),
        "publication": c[f"pub_{cls}"].format(months=params.publication_months[cls]),
        "allowed_from": local_minute(allowed), "open": now >= allowed,
        "allowed_note": c["allowed_open"] if now >= allowed
        else c["allowed_later"].format(at=local_minute(allowed)),
        # A refused form stays (with the typed text) even when an application is pending.
        "latest": latest, "pending": pending, "form": may_apply and (not pending or refusal is not None),
        "error": refusal.message if refusal is not None else None,
        "commitment": refusal.kept.get("commitment", "") if refusal is not None else "",
    }


def build_credit_console(ctx: ApiContext, viewers: Viewers, render: Renderer,
                         nav: Callable[[Principal, Lang], list[tuple[str, str]]],
                         guard: FormGuard | None = None,
                         params: Callable[[], CreditParams] | None = None) -> APIRouter:
    """The routes above, sharing the console's session check, renderer and form token
    (``guard``: the console's, so one token serves every form of a session).
    ``params`` gives the credit configuration (default: the installed service's)."""
    router = APIRouter(include_in_schema=False)
    reg = ctx.registry
    env = templates()
    forms = guard or FormGuard()
    credit_params = params or (lambda: installed().params)

    def page(request: Request, principal: Principal, name: str, status: int = 200,
             **kw: Any) -> HTMLResponse:
        lang = lang_of(request)
        return render(request, name, status=status, c=CREDIT_TEXTS[lang], nav=nav(principal, lang),
                      logout=with_lang("/console/logout", lang), csrf_field=FORM_FIELD,
                      csrf=forms.token_for(request), **kw)

    async def enterprise_response(request: Request, principal: Principal, enterprise_id: str,
                                  refusal: Refusal | None = None) -> HTMLResponse:
        """The enterprise's page; with ``refusal``, the refused application form shows why
        (beside the form of its deduction) and keeps the typed commitment."""
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
            live = await live_deductions(conn, enterprise_id, limit=SECTION_ROWS)
            apps = await applications_of(conn, enterprise_id, limit=SECTION_ROWS)
        warnings: dict[int, dict[str, Any]] = {}
        for d in deliveries[:SECTION_ROWS]:
            w = warnings.setdefault(int(d["alert_id"]), {
                "url": with_lang(f"/console/alerts/{d['alert_id']}", lang),
                "alert_id": d["alert_id"], "rule": rule_name(d["rule"], lang),
                "severity": c.get(f"sev_{d['severity']}", d["severity"]), "start": local_minute(d["start_ts"]),
                "summary": d["summary_zh"] if lang == "zh" else d["summary"], "channels": []})
            w["channels"].append({"channel": d["channel"], "status": d["status"],
                                  "status_text": c.get(d["status"], d["status"]),
                                  "attempts": d["attempts"], "at": local_minute(d["delivered_at"])})
        officer = principal.role in ("officer", "admin")
        app_views = [application_view(a, lang, reg, officer=officer) for a in apps]
        latest: dict[int, dict[str, Any]] = {}
        for view in app_views:  # newest first: the first of each deduction is its latest
            latest.setdefault(int(view["entry_id"]), view)
        by_entry = {int(a[k]): a for a in apps for k in ("application_entry_id", "decision_entry_id")
                    if a.get(k) is not None}
        history = [{
            "id": e["id"], "recorded": local_minute(e["created_at"]),
            "type": ENTRY_TYPES.get(e["entry_type"], (e["entry_type"],) * 2)[0 if lang == "zh" else 1],
            "type_id": e["entry_type"], "no_penalty": e["entry_type"] == "first_offence",
            "points": e["points"], "score_after": e["score_after"], "level_after": e["level_after"],
            "rule": rule_name(e["rule"], lang) if e["rule"] else "",
            "alert_url": with_lang(f"/console/alerts/{e['alert_id']}", lang) if e["alert_id"] else None,
            "alert_id": e["alert_id"], "reason": _describe(e, by_entry, c, lang),
            "evidence_url": with_lang(f"/console/evidence/{e['evidence_id']}", lang)
            if e["evidence_id"] else None,
            "evidence_sha256": e["evidence_sha256"],
            "repair_after": local_minute(e["repair_after"]) if e["entry_type"] == "deduction" else "",
            "reversed": e["reversed_by"] is not None, "repaired": e["repaired_by"] is not None,
        } for e in entries[:SECTION_ROWS]]
        config = credit_params()
        now = datetime.now(UTC)
        may_apply = principal.role in ("enterprise", "admin")
        repairs = [_repair_item(d, config, latest.get(int(d["id"])), now=now, may_apply=may_apply,
                                refusal=refusal if refusal is not None and refusal.target == d["id"] else None,
                                lang=lang, c=c) for d in live]
        # A refusal for a deduction no longer listed (repaired or reversed meanwhile) shows above.
        stray = None if refusal is None or any(r["id"] == refusal.target for r in repairs) else refusal.message
        ent = reg.enterprises.get(enterprise_id)
        return page(
            request, principal, "enterprise.html", status=refusal.status if refusal else 200,
            enterprise={"id": enterprise_id, "name": ent.name if ent else enterprise_id,
                        "industry": ent.industry if ent else "", "region": ent.region if ent else ""},
            score=score, level=level, entries=n,
            warnings=sorted(warnings.values(), key=lambda w: -int(w["alert_id"])),
            answers=None if answers is None else [_answer_view(a, lang) for a in answers],
            history=history, repairs=repairs, repair_error=stray, applications=app_views,
            officer=officer, apply_url=with_lang(f"/console/enterprises/{enterprise_id}", lang),
            review_url=url_for("/console/credit/repair-applications", lang, enterprise=enterprise_id),
            limits={"commitment": MAX_COMMITMENT, "files": MAX_FILES, "mb": MAX_BYTES // (1024 * 1024)},
            back=with_lang("/console/enterprises", lang) if principal.enterprise_id is None else None)

    @router.get("/enterprises")
    async def enterprises_page(request: Request, principal: Annotated[Principal, Depends(viewers)],
                               level: str | None = None, format: str | None = None) -> Response:
        """Every visible enterprise with its score and level in the active scheme; ``level``
        keeps one level's (the overview's links), ``format=csv`` downloads the list."""
        lang = lang_of(request)
        if principal.enterprise_id is not None:
            return RedirectResponse(with_lang(f"/console/enterprises/{principal.enterprise_id}", lang),
                                    status_code=303)
        scheme = ctx.credit_model.scheme
        level = level if scheme.level(level or "") is not None else None
        async with connect(ctx) as conn:
            standing = await enterprise_levels(conn, reg, visibility(ctx, principal), ctx.credit_model.level_for)
        items = []
        for enterprise_id, (score, lv) in standing.items():
            if level is not None and lv != level:
                continue
            ent = reg.enterprises.get(enterprise_id)
            items.append({"id": enterprise_id, "name": ent.name if ent else enterprise_id,
                          "industry": ent.industry if ent else "", "region": ent.region if ent else "",
                          "score": score, "level": lv,
                          "url": with_lang(f"/console/enterprises/{enterprise_id}", lang)})
        if format == "csv":
            return csv_response(ENTERPRISE_CSV_COLUMNS, ([e["name"], e["id"], e["region"], e["industry"], e["score"],
                                                          e["level"]] for e in items), lang, "enterprises")
        return page(request, principal, "enterprises.html", items=items, b=catalog(lang, "BUREAU"),
                    levels=[(lv.id, lv.name.zh if lang == "zh" else lv.name.en) for lv in scheme.levels],
                    selected=level, csv=url_for("/console/enterprises", lang, level=level, format="csv"))

    @router.get("/enterprises/{enterprise_id}")
    async def enterprise_page(request: Request, principal: Annotated[Principal, Depends(viewers)],
                              enterprise_id: str) -> Response:
        return await enterprise_response(request, principal, enterprise_id)

    @router.get("/evidence/{evidence_id}")
    async def evidence_page(request: Request, principal: Annotated[Principal, Depends(viewers)],
                            evidence_id: Annotated[int, Path(ge=1, le=BIGINT_MAX)]) -> Response:
        async with connect(ctx) as conn:
            row = await fetch_evidence(conn, evidence_id)
        if row is None or not visibility(ctx, principal).sees(row["enterprise_id"]):
            raise NotFound(f"no evidence package {evidence_id}")
        package = json.loads(row["canonical"])
        if package.get("format") != DOCUMENT_FORMAT:
            lang = lang_of(request)
            t = catalog(lang, "CONSOLE")
            back = [(url_for(f"/console/alerts/{package['alert']['id']}", lang),
                     t["back_to_alert"].format(id=package["alert"]["id"])),
                    (url_for(f"/console/enterprises/{row['enterprise_id']}", lang), t["back_to_credit"])]
            return HTMLResponse(render_evidence(env, row, lang=lang, registry=reg, links=back), headers=PAGE_HEADERS)
        lang = lang_of(request)
        c = CREDIT_TEXTS[lang]
        actor = package.get("actor") or {}
        body = package.get("body") or {}
        return page(
            request, principal, "evidence_document.html",
            doc={"id": row["id"], "kind": c.get(f"doc_kind_{row['kind']}", str(row["kind"])),
                 "sha256": row["sha256"], "chain_seq": row["chain_seq"], "prev_hash": row["prev_hash"],
                 "hash": row["hash"], "kept_at": local_minute(row["created_at"]),
                 "by": " · ".join(str(x) for x in (actor.get("label"), label(actor.get("role"), lang)) if x),
                 "alert_id": package.get("alert_id"),
                 "alert_url": with_lang(f"/console/alerts/{package['alert_id']}", lang)
                 if package.get("alert_id") else None,
                 "enterprise": (reg.enterprises[row["enterprise_id"]].name
                                if row["enterprise_id"] in reg.enterprises else row["enterprise_id"]),
                 "enterprise_url": with_lang(f"/console/enterprises/{row['enterprise_id']}", lang),
                 "text": body.get("commitment") or body.get("text"),
                 "text_title": c["commitment"] if row["kind"] == "repair_application" else c["reason"],
                 "files": [{**f, "size": human_size(int(f.get("size") or 0))}
                           for f in body.get("attachments") or [] if isinstance(f, dict) and "sha256" in f],
                 "fields": document_rows(body, reg, lang, shown=frozenset({"attachments", "text", "commitment"}))},
            sha_note=c["doc_sha_note"].format(id=row["id"]))

    auth = Auth(ctx)
    router.include_router(build_repair_console(ctx, auth, page=page, enterprise_page=enterprise_response,
                                               guard=forms, params=credit_params))
    router.include_router(build_notifications_console(ctx, auth, page=page))
    return router
