"""Console pages of the workflow: the officers' queue and the forms on an alert page.

- ``GET /console/queue`` (officer, admin): the enforcement queue with filters and a
  claim button per unassigned item.
- ``POST /console/alerts/{id}/transition | claim | comment`` (officer, admin) and
  ``POST /console/alerts/{id}/answer`` (enterprise, its own alert): server-rendered
  forms carrying the session's form token (``api/_console_forms.py``); they call the
  same domain functions as the JSON API and redirect (303) back to the page.
  Refusals (409, 422, 404) render the console's error page.

A region-limited officer (CONTRACT section 9) finds only its region's alerts and
declarations in the queue, and another region's alert or declaration answers 404 like a
missing one. An officer opening an alert page that shows answers has read them (the
right to be heard counts from then; ``alerts.answers.record_answers_read``).
"""

# No "from __future__ import annotations": FastAPI resolves the Depends() in the
# route signatures at definition time, and they name closure variables.

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import urlencode

import psycopg
from fastapi import APIRouter, Depends, Path, Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from ecowarn.alerts import (
    ANSWER_KINDS,
    STATUSES,
    AlertState,
    MaintenanceWindow,
    QueueFilter,
    add_comment,
    answers_of,
    audit_trail,
    claim,
    fetch_state,
    queue_page,
    submit_answer,
    transition,
)
from ecowarn.alerts.answers import record_answers_read
from ecowarn.alerts.details import comments_of, episodes_of
from ecowarn.alerts.errors import InvalidWorkflowInput
from ecowarn.alerts.maintenance import decide, pending_declarations
from ecowarn.alerts.model import dispositions_after
from ecowarn.api._console_forms import FORM_FIELD, FormGuard, local_datetime, read_form
from ecowarn.api._console_lang import lang_of, local_minute, with_lang
from ecowarn.api._db import connect
from ecowarn.api._paths import CONSOLE_PREFIX
from ecowarn.api.auth import Auth, Visibility, enterprise_scope, visibility
from ecowarn.api.context import ApiContext
from ecowarn.api.errors import FieldError, InvalidRequest
from ecowarn.api.pagination import BIGINT_MAX, CursorCodec
from ecowarn.api.routes_workflow import actor_of, region_enterprises
from ecowarn.config.registry import Registry
from ecowarn.i18n import RULE_NAMES, WORKFLOW_TEXTS, Join, Lang, label, rule_name
from ecowarn.i18n import render as in_lang
from ecowarn.store.tokens import Principal

__all__ = ["Renderer", "alert_workflow_context", "build_workflow_console", "nav_links"]

Renderer = Callable[..., HTMLResponse]
AlertId = Annotated[int, Path(ge=1, le=BIGINT_MAX)]
QUEUE_PAGE_SIZE = 50
_QUEUE_CURSOR = CursorCodec("console_queue", datetime, float, int)





def _opt(form: dict[str, str], name: str) -> str | None:
    value = form.get(name, "").strip()
    return value or None


def _who(role: str, token_id: int | None, who_label: str, lang: Lang) -> str:
    name = label(role, lang)
    if token_id is None:
        return name if role != "system" else label("system", lang)
    return f"{name} #{token_id}" + (f" {who_label}" if who_label else "")


def nav_links(principal: Principal, lang: Lang) -> list[tuple[str, str]]:
    """Header links: officers get the queue next to the alert list."""
    if principal.role not in ("officer", "admin"):
        return []
    w = WORKFLOW_TEXTS[lang]
    return [(with_lang(CONSOLE_PREFIX, lang), w["alerts"]),
            (with_lang(f"{CONSOLE_PREFIX}/queue", lang), w["queue"])]


def _state_view(s: AlertState, lang: Lang, *, for_enterprise: bool) -> dict[str, Any]:
    now = datetime.now(UTC)
    return {
        "status": label(s.status, lang), "status_id": s.status,
        "assignee": (None if for_enterprise or s.assignee_token is None
                     else f"#{s.assignee_token} {s.assignee_label or ''}".strip()),
        "due": local_minute(s.due_at), "overdue": s.due_at is not None and s.due_at < now,
        "escalation": None if for_enterprise else s.escalation_level,
        "repeats": s.repeat_count,
        "disposition": label(s.disposition, lang), "disposition_reason": s.disposition_reason,
    }


async def alert_workflow_context(
    conn: psycopg.AsyncConnection[Any], registry: Registry, principal: Principal,
    alert_id: int, lang: Lang, guard: FormGuard, request: Request, *, seen: Visibility,
) -> dict[str, Any]:
    """What ``alert.html`` shows of the workflow, and the forms the principal may use.
    ``seen`` is what the principal may see (another's alert is not found); an officer
    shown the answers has read them."""
    scope = enterprise_scope(principal)
    public = scope is not None
    state = await fetch_state(conn, alert_id, scope=seen.enterprises)
    answers = (await answers_of(conn, [alert_id])).get(alert_id, [])
    if answers and principal.role in ("officer", "admin"):
        await record_answers_read(conn, alert_id, await actor_of(conn, principal))
    events = await audit_trail(conn, alert_id, viewer_enterprise=scope)
    comments = await comments_of(conn, alert_id, public_only=public)
    episodes = await episodes_of(conn, alert_id)
    w = WORKFLOW_TEXTS[lang]
    officer = principal.role in ("officer", "admin")
    can_answer = principal.role in ("enterprise", "admin") and state.status not in ("closed",
                                                                                   "superseded")
    base = f"{CONSOLE_PREFIX}/alerts/{alert_id}"
    forms = {
        name: with_lang(f"{base}/{name}", lang)
        for name in ("transition", "claim", "comment", "answer")
    }
    return {
        "w": w,
        "csrf_field": FORM_FIELD,
        "csrf": guard.token_for(request),
        "wf": _state_view(state, lang, for_enterprise=public),
        "officer": officer,
        "can_answer": can_answer,
        "can_claim": officer and state.assignee_token != principal.token_id
                     and state.status not in ("closed", "superseded"),
        "forms": forms,
        "actions": [{"id": a, "name": label(a, lang),
                     "dispositions": [(d, label(d, lang)) for d in dispositions_after(state.status)]
                     if a == "close" else []}
                    for a in (state.allowed_actions if officer else ())],
        "answer_kinds": [(k, label(k, lang)) for k in ANSWER_KINDS],
        "devices": [(d, (registry.devices[d].label if d in registry.devices else d))
                    for d in state.device_ids],
        "answers": [{"kind": label(a["kind"], lang), "text": a["body"],
                     "attachments": list(a["attachments"]), "at": local_minute(a["created_at"]),
                     "maintenance_id": a["maintenance_id"]} for a in answers],
        "episodes": [{"start": local_minute(e["start_ts"]), "end": local_minute(e["end_ts"]),
                      "summary": e["summary_zh"] if lang == "zh" else e["summary"]}
                     for e in episodes],
        "comments": [{"text": c["body"], "public": c["public"], "at": local_minute(c["created_at"]),
                      "by": _who(c["author_role"], None if public else c["author_token"],
                                 "" if public else c["author_label"], lang)}
                     for c in comments],
        "trail": [{
            "at": local_minute(e["at"]),
            "event": w.get(f"ev_{e['kind']}", e["kind"]),
            "change": (f"{label(e['from_status'], lang)} → {label(e['to_status'], lang)}"
                       if e["from_status"] and e["to_status"] else label(e["to_status"], lang)),
            "by": _who(e["actor_role"], e["actor_token"], e["actor_label"], lang),
            "reason": e["reason"] or "",
            "disposition": label(e["disposition"], lang),
        } for e in events],
    }


def build_workflow_console(ctx: ApiContext, auth: Auth, render: Renderer,
                           guard: FormGuard) -> APIRouter:
    # No prefix: these routes join the console's router, which carries /console.
    router = APIRouter(include_in_schema=False)
    officers = auth.require_cookie("officer")
    enterprises = auth.require_cookie("enterprise")
    reg = ctx.registry

    def back_to(request: Request, alert_id: int) -> RedirectResponse:
        return RedirectResponse(with_lang(f"{CONSOLE_PREFIX}/alerts/{alert_id}", lang_of(request)),
                                status_code=303)

    async def checked_form(request: Request) -> dict[str, str]:
        form = await read_form(request)
        guard.check(request, form)
        return form

    async def visible_alert(conn: psycopg.AsyncConnection[Any], principal: Principal,
                            alert_id: int) -> None:
        """Another region's alert is not found (:class:`AlertNotFound`, as a missing one)."""
        await fetch_state(conn, alert_id, scope=visibility(ctx, principal).enterprises)

    @router.get("/queue")
    async def queue_view(
        request: Request, principal: Annotated[Principal, Depends(officers)],
        region: str | None = None, rule: str | None = None, status: str | None = None,
        assignee: str | None = None, cursor: str | None = None,
    ) -> Response:
        lang = lang_of(request)
        region = region or None
        rule = rule or None
        status = status if status in STATUSES else None
        assignee_id = {"me": principal.token_id, "none": 0}.get(assignee or "")
        key = _QUEUE_CURSOR.decode(cursor or None)
        as_of, after = (datetime.now(UTC), None) if key is None else (key[0], (key[1], key[2]))
        seen = visibility(ctx, principal)
        f = QueueFilter(enterprise_ids=seen.narrow(region_enterprises(reg, region)), rule=rule,
                        statuses=(status,) if status else QueueFilter().statuses,
                        assignee=assignee_id)
        async with connect(ctx) as conn:
            rows, last = await queue_page(conn, f, as_of=as_of, limit=QUEUE_PAGE_SIZE,
                                          after=after)
            pending = await pending_declarations(conn, f.enterprise_ids)
        declarations = [{
            "id": m["id"], "device": _device_name(reg, m["device_id"]),
            "enterprise": (reg.enterprises[m["enterprise_id"]].name
                           if m["enterprise_id"] in reg.enterprises else (m["enterprise_id"] or "")),
            "start": local_minute(m["start_ts"]), "end": local_minute(m["end_ts"]),
            "declared": local_minute(m["created_at"]), "reason": m["reason"],
            "why": in_lang(Join(label(w, lang) for w in (m["pending_reason"] or "").split(",") if w), lang),
            "action": with_lang(f"{CONSOLE_PREFIX}/maintenance/{m['id']}/decide", lang),
        } for m in pending]
        items = []
        for r in rows:
            enterprise = reg.enterprises.get(r["enterprise_id"] or "")
            items.append({
                "id": r["id"], "url": with_lang(f"{CONSOLE_PREFIX}/alerts/{r['id']}", lang),
                "score": f"{r['score'].total:.1f}", "rule": rule_name(r["rule"], lang),
                "enterprise": enterprise.name if enterprise else (r["enterprise_id"] or ""),
                "start": local_minute(r["start_ts"]), "severity": r["severity"],
                "status": label(r["status"], lang),
                "assignee": (None if r["assignee_token"] is None
                             else f"#{r['assignee_token']} {r['assignee_label'] or ''}".strip()),
                "due": local_minute(r["due_at"]), "overdue": r["overdue"],
                "escalation": r["escalation_level"], "answers": len(r["answers"]),
                "claim": with_lang(f"{CONSOLE_PREFIX}/alerts/{r['id']}/claim", lang),
            })
        more = None
        if last is not None:
            params = {"region": region, "rule": rule, "status": status, "assignee": assignee,
                      "cursor": _QUEUE_CURSOR.encode(as_of, *last)}
            query = {k: v for k, v in params.items() if v}
            if lang == "en":
                query["lang"] = "en"
            more = f"{CONSOLE_PREFIX}/queue?{urlencode(query)}"
        regions = seen.regions(reg)
        return render(request, "queue.html", w=WORKFLOW_TEXTS[lang], items=items, more=more,
                      declarations=declarations,
                      csrf_field=FORM_FIELD, csrf=guard.token_for(request),
                      regions=regions, rules=[(r, rule_name(r, lang)) for r in RULE_NAMES],
                      statuses=[(s, label(s, lang)) for s in STATUSES],
                      selected={"region": region, "rule": rule, "status": status,
                                "assignee": assignee},
                      nav=nav_links(principal, lang),
                      logout=with_lang(f"{CONSOLE_PREFIX}/logout", lang))

    @router.post("/maintenance/{maintenance_id}/decide")
    async def decide_form(request: Request, principal: Annotated[Principal, Depends(officers)],
                          maintenance_id: int) -> Response:
        """Approve or reject a pending maintenance declaration from the queue page."""
        form = await checked_form(request)
        action = form.get("action", "")
        if action not in ("approve", "reject"):
            raise InvalidWorkflowInput("form.action", "action must be approve or reject")
        async with connect(ctx) as conn:
            await decide(conn, maintenance_id, "approve" if action == "approve" else "reject",
                         await actor_of(conn, principal), form.get("reason", ""),
                         scope=visibility(ctx, principal).enterprises)
        return RedirectResponse(with_lang(f"{CONSOLE_PREFIX}/queue", lang_of(request)), status_code=303)

    @router.post("/alerts/{alert_id}/transition")
    async def transition_form(request: Request, principal: Annotated[Principal, Depends(officers)],
                              alert_id: AlertId) -> Response:
        form = await checked_form(request)
        async with connect(ctx) as conn:
            await visible_alert(conn, principal, alert_id)
            await transition(conn, alert_id, form.get("action", ""), await actor_of(conn, principal),
                             reason=_opt(form, "reason"), disposition=_opt(form, "disposition"),
                             params=ctx.workflow, on_confirmed=ctx.on_confirmed)
        return back_to(request, alert_id)

    @router.post("/alerts/{alert_id}/claim")
    async def claim_form(request: Request, principal: Annotated[Principal, Depends(officers)],
                         alert_id: AlertId) -> Response:
        form = await checked_form(request)
        async with connect(ctx) as conn:
            await visible_alert(conn, principal, alert_id)
            await claim(conn, alert_id, await actor_of(conn, principal))
        if form.get("next") == "queue":
            return RedirectResponse(with_lang(f"{CONSOLE_PREFIX}/queue", lang_of(request)),
                                    status_code=303)
        return back_to(request, alert_id)

    @router.post("/alerts/{alert_id}/comment")
    async def comment_form(request: Request, principal: Annotated[Principal, Depends(officers)],
                           alert_id: AlertId) -> Response:
        form = await checked_form(request)
        async with connect(ctx) as conn:
            await visible_alert(conn, principal, alert_id)
            await add_comment(conn, alert_id, await actor_of(conn, principal),
                              form.get("text", ""), public=form.get("public") == "on")
        return back_to(request, alert_id)

    @router.post("/alerts/{alert_id}/answer")
    async def answer_form(request: Request, principal: Annotated[Principal, Depends(enterprises)],
                          alert_id: AlertId) -> Response:
        form = await checked_form(request)
        window = None
        device, start, end = _opt(form, "device_id"), _opt(form, "start"), _opt(form, "end")
        if start or end:
            if not (device and start and end):
                msg = "a maintenance window needs a device, a start and an end"
                raise InvalidRequest(msg, fields=(FieldError("form.start", msg),))
            window = MaintenanceWindow(device, local_datetime(start, "form.start"),
                                       local_datetime(end, "form.end"))
        attachments = [line.strip() for line in form.get("attachments", "").splitlines()
                       if line.strip()]
        async with connect(ctx) as conn:
            await submit_answer(conn, alert_id, await actor_of(conn, principal),
                                form.get("kind", ""), form.get("text", ""),
                                attachments=attachments, maintenance=window,
                                policy=ctx.workflow.maintenance)
        return back_to(request, alert_id)

    return router


def _device_name(registry: Registry, device_id: str) -> str:
    dev = registry.devices.get(device_id)
    return f"{dev.label} ({device_id})" if dev is not None and dev.equipment else device_id
