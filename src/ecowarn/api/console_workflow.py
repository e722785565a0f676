"""Console pages of the workflow: the officers' queue and the forms on an alert page.

- ``GET /console/queue`` (officer, admin): the enforcement queue with filters and a
  claim button per unassigned item, and the maintenance declarations awaiting approval.
- ``POST /console/alerts/{id}/transition | claim | comment | remote-verification`` (officer,
  admin),
  ``POST /console/alerts/{id}/answer`` (enterprise, its own alert) and
  ``POST /console/maintenance/{id}/decide`` (officer): server-rendered forms carrying the
  session's form token (``api/_console_forms.py``); they call the same domain functions
  as the JSON API and redirect (303) back to the page. A refusal (409, 422) renders the
  page again with the reason beside the form and the typed text kept, with the refusal's
  status (``api/_console_errors.py``); 403, 404 and 413 render the console's error page.

The alert page shows officers the right to be heard (:mod:`alerts.hearing`): whether the
enterprise has been heard, the answers read or not, the answer deadline; the confirm
button is disabled while it has not, with why and from when it will be possible. The
confirmation offers 首违不罚 (``first_offence_no_penalty``) with its conditions checked
(:func:`alerts.first_offence.check_first_offence`); closing offers the dispositions the
status and the confirmation allow. Rectifications are ``api/console_rectifications.py``;
off-site handling first of positive-listed firms (the remote verification form, the dispatch
button disabled until one is recorded) is ``api/_console_offsite.py``.

A region-limited officer (CONTRACT section 9) finds only its region's alerts and
declarations in the queue, and another region's alert or declaration answers 404 like a
missing one. An officer opening an alert page that shows answers has read them (the
right to be heard counts from then; ``alerts.answers.record_answers_read``): the page is
built after that reading, so it shows the hearing as it stands with the answers read.
"""

# No "from __future__ import annotations": FastAPI resolves the Depends() in the
# route signatures at definition time, and they name closure variables.

import dataclasses
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
from ecowarn.alerts.first_offence import FirstOffenceCheck, check_first_offence
from ecowarn.alerts.hearing import Hearing, explain
from ecowarn.alerts.maintenance import decide, pending_declarations
from ecowarn.alerts.model import WorkflowParams, dispositions_after
from ecowarn.alerts.remote_verification import record_verification
from ecowarn.api._console_csv import CSV_MAX_ROWS
from ecowarn.api._console_errors import INLINE_ERRORS, WINDOW_MISSING, FormFailure, form_failure
from ecowarn.api._console_forms import FORM_FIELD, FormGuard, local_datetime, read_form
from ecowarn.api._console_lang import lang_of, local_minute, url_for, with_lang
from ecowarn.api._console_names import enterprise_cell, equipment
from ecowarn.api._console_nav import nav_links
from ecowarn.api._console_offsite import FORM as OFFSITE_FORM
from ecowarn.api._console_offsite import off_site_section
from ecowarn.api._console_queue_csv import queue_csv
from ecowarn.api._console_reasons import trail_reason
from ecowarn.api._db import connect
from ecowarn.api._paths import CONSOLE_PREFIX
from ecowarn.api.auth import Auth, Visibility, enterprise_scope, visibility
from ecowarn.api.console_rectifications import (
    AlertPage,
    check_file_types,
    file_view,
    read_upload_form,
    rectification_section,
    trail_event,
)
from ecowarn.api.context import ApiContext
from ecowarn.api.errors import FieldError, InvalidRequest
from ecowarn.api.pagination import BIGINT_MAX, CursorCodec
from ecowarn.api.routes_workflow import actor_of, region_enterprises
from ecowarn.config.registry import Registry
from ecowarn.i18n import RULE_NAMES, WORKFLOW_TEXTS, Join, Lang, catalog, label, rule_name
from ecowarn.i18n import render as in_lang
from ecowarn.store.tokens import Principal

__all__ = ["NO_FAILURE", "Renderer", "alert_workflow_context", "build_workflow_console", "nav_links"]

Renderer = Callable[..., HTMLResponse]
AlertId = Annotated[int, Path(ge=1, le=BIGINT_MAX)]
QUEUE_PAGE_SIZE = 50
_QUEUE_CURSOR = CursorCodec("console_queue", datetime, float, int)
# What a page without a refused form gets (templates compare ``failed.form``).
NO_FAILURE = FormFailure(form="", message="", status=200)


def _opt(form: dict[str, str], name: str) -> str | None:
    value = form.get(name, "").strip()
    return value or None


def _who(role: str, token_id: int | None, who_label: str, lang: Lang) -> str:
    name = label(role, lang)
    if token_id is None:
        return name if role != "system" else label("system", lang)
    return f"{name} #{token_id}" + (f" {who_label}" if who_label else "")


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


def _hearing_view(h: Hearing, lang: Lang) -> dict[str, Any]:
    """The right to be heard as the officer sees it: why (not) and from when."""
    w = WORKFLOW_TEXTS[lang]
    when = ""
    if not h.satisfied and h.allowed_at is not None:
        when = w["hearing_allowed_at"].format(at=local_minute(h.allowed_at))
    elif h.reason == "answer_unread":
        when = w["hearing_after_reading"]
    return {"satisfied": h.satisfied, "reason": h.reason, "text": explain(h, lang), "when": when,
            "due": local_minute(h.due_at), "answers": h.answers, "unread": h.unread}


def _first_offence_view(check: FirstOffenceCheck, rule: str, lang: Lang) -> dict[str, Any]:
    """The three conditions of 首违不罚, each met or not, in words."""
    w = WORKFLOW_TEXTS[lang]
    name = rule_name(rule, lang)
    prior = check.prior_entries
    conditions = [
        (check.rule_allowed, w["fo_rule_allowed" if check.rule_allowed else "fo_rule_not_allowed"]
         .format(rule=name)),
        (check.rectification_verified,
         w["fo_rectification_verified" if check.rectification_verified else "fo_no_verified_rectification"]),
        (not prior, w["fo_no_prior"].format(rule=name, months=check.window_months) if not prior
         else w["fo_prior_violation"].format(rule=name, months=check.window_months, n=len(prior),
                                             entries=", ".join(map(str, prior)))),
    ]
    return {"eligible": check.eligible, "summary": w["fo_qualifies" if check.eligible else "fo_not_qualified"],
            "conditions": [{"ok": ok, "text": text} for ok, text in conditions]}


def _trail_event(e: dict[str, Any], w: dict[str, str], lang: Lang) -> str:
    if e["kind"] == "rectification":
        return trail_event(e["action"], lang)
    return w.get(f"ev_{e['kind']}", str(e["kind"]))


async def alert_workflow_context(
    conn: psycopg.AsyncConnection[Any], registry: Registry, principal: Principal,
    alert_id: int, lang: Lang, guard: FormGuard, request: Request, *, seen: Visibility,
    params: WorkflowParams, failed: FormFailure | None = None,
) -> dict[str, Any]:
    """What ``alert.html`` shows of the workflow, and the forms the principal may use.
    ``seen`` is what the principal may see (another's alert is not found); an officer
    shown the answers has read them, and the page shows the state after that reading.
    ``failed`` is a refused form post to show beside its form."""
    scope = enterprise_scope(principal)
    public = scope is not None
    officer = principal.role in ("officer", "admin")
    state = await fetch_state(conn, alert_id, scope=seen.enterprises)
    if officer and await record_answers_read(conn, alert_id, await actor_of(conn, principal)):
        state = await fetch_state(conn, alert_id, scope=seen.enterprises)
    answers = (await answers_of(conn, [alert_id])).get(alert_id, [])
    events = await audit_trail(conn, alert_id, viewer_enterprise=scope)
    comments = await comments_of(conn, alert_id, public_only=public)
    episodes = await episodes_of(conn, alert_id)
    w = WORKFLOW_TEXTS[lang]
    can_answer = principal.role in ("enterprise", "admin") and state.status not in ("closed",
                                                                                   "superseded")
    hearing = _hearing_view(state.hearing, lang)
    first_offence = None
    if officer and "confirm" in state.allowed_actions:
        check = await check_first_offence(conn, alert_id=state.id, enterprise_id=state.enterprise_id,
                                          rule=state.rule, start=state.start_ts, params=params)
        first_offence = _first_offence_view(check, state.rule, lang)
    base = f"{CONSOLE_PREFIX}/alerts/{alert_id}"
    forms = {
        name: with_lang(f"{base}/{name}", lang)
        for name in ("transition", "claim", "comment", "answer")
    }
    return {
        "w": w,
        "csrf_field": FORM_FIELD,
        "csrf": guard.token_for(request),
        "failed": failed or NO_FAILURE,
        "wf": _state_view(state, lang, for_enterprise=public),
        "hearing": hearing if officer else None,
        "officer": officer,
        "can_answer": can_answer,
        "can_claim": officer and state.assignee_token != principal.token_id
                     and state.status not in ("closed", "superseded"),
        "forms": forms,
        "actions": [{"id": a, "name": label(a, lang),
                     "dispositions": [(d, label(d, lang))
                                      for d in dispositions_after(state.status, state.disposition)]
                     if a == "close" else [],
                     "blocked": a == "confirm" and not hearing["satisfied"],
                     "offsite_blocked": state.off_site.blocks(a),
                     "first_offence": first_offence if a == "confirm" else None}
                    for a in (state.allowed_actions if officer else ())],
        "answer_kinds": [(k, label(k, lang)) for k in ANSWER_KINDS],
        "devices": [(d, (registry.devices[d].label if d in registry.devices else d))
                    for d in state.device_ids],
        "answers": [{"kind": label(a["kind"], lang), "text": a["body"],
                     "attachments": list(a["attachments"]), "at": local_minute(a["created_at"]),
                     "files": [file_view(f, lang) for f in a["files"]],
                     "maintenance_id": a["maintenance_id"], "read": a["first_read_at"] is not None,
                     "read_at": local_minute(a["first_read_at"])} for a in answers],
        "episodes": [{"start": local_minute(e["start_ts"]), "end": local_minute(e["end_ts"]),
                      "summary": e["summary_zh"] if lang == "zh" else e["summary"]}
                     for e in episodes],
        "comments": [{"text": c["body"], "public": c["public"], "at": local_minute(c["created_at"]),
                      "by": _who(c["author_role"], None if public else c["author_token"],
                                 "" if public else c["author_label"], lang)}
                     for c in comments],
        "trail": [{
            "at": local_minute(e["at"]),
            "event": _trail_event(e, w, lang),
            "change": (f"{label(e['from_status'], lang)} → {label(e['to_status'], lang)}"
                       if e["from_status"] and e["to_status"] else label(e["to_status"], lang)),
            "by": _who(e["actor_role"], e["actor_token"], e["actor_label"], lang),
            "reason": trail_reason(e, lang),
            "disposition": label(e["disposition"], lang),
        } for e in events],
        **await rectification_section(conn, principal, state, lang, failed),
        **await off_site_section(conn, state, lang, failed, officer=officer),
    }


def build_workflow_console(ctx: ApiContext, auth: Auth, render: Renderer, guard: FormGuard,
                           alert_page: AlertPage) -> APIRouter:
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

    async def queue_response(request: Request, principal: Principal, *, region: str | None = None,
                             rule: str | None = None, status: str | None = None,
                             assignee: str | None = None, cursor: str | None = None,
                             failed: FormFailure | None = None, csv: bool = False) -> Response:
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
        if csv:
            async with connect(ctx) as conn:
                rows, _ = await queue_page(conn, f, as_of=as_of, limit=CSV_MAX_ROWS)
            return queue_csv(rows, reg, lang)
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
            items.append({
                "id": r["id"], "url": with_lang(f"{CONSOLE_PREFIX}/alerts/{r['id']}", lang),
                "score": f"{r['score'].total:.1f}", "rule": rule_name(r["rule"], lang),
                "enterprise": enterprise_cell(reg, r["enterprise_id"], list(r["device_ids"]), lang),
                "equipment": equipment(reg, list(r["device_ids"]), lang),
                "start": local_minute(r["start_ts"]), "severity": label(r["severity"], lang),
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
        filters = {k: v for k, v in {"region": region, "rule": rule, "status": status,
                                     "assignee": assignee}.items() if v}
        return render(request, "queue.html", status=failed.status if failed else 200,
                      csv=url_for(f"{CONSOLE_PREFIX}/queue", lang, **filters, format="csv"),
                      b=catalog(lang, "BUREAU"),
                      w=WORKFLOW_TEXTS[lang], items=items, more=more,
                      declarations=declarations, failed=failed or NO_FAILURE,
                      csrf_field=FORM_FIELD, csrf=guard.token_for(request),
                      regions=regions, rules=[(r, rule_name(r, lang)) for r in RULE_NAMES],
                      statuses=[(s, label(s, lang)) for s in STATUSES],
                      selected={"region": region, "rule": rule, "status": status,
                                "assignee": assignee},
                      nav=nav_links(principal, lang),
                      logout=with_lang(f"{CONSOLE_PREFIX}/logout", lang))

    @router.get("/queue")
    async def queue_view(
        request: Request, principal: Annotated[Principal, Depends(officers)],
        region: str | None = None, rule: str | None = None, status: str | None = None,
        assignee: str | None = None, cursor: str | None = None, format: str | None = None,
    ) -> Response:
        return await queue_response(request, principal, region=region, rule=rule, status=status,
                                    assignee=assignee, cursor=cursor, csv=format == "csv")

    @router.post("/maintenance/{maintenance_id}/decide")
    async def decide_form(request: Request, principal: Annotated[Principal, Depends(officers)],
                          maintenance_id: int) -> Response:
        """Approve or reject a pending maintenance declaration from the queue page."""
        form = await checked_form(request)
        action = form.get("action", "")
        try:
            if action not in ("approve", "reject"):
                raise InvalidWorkflowInput("form.action", "action must be approve or reject")
            async with connect(ctx) as conn:
                await decide(conn, maintenance_id, "approve" if action == "approve" else "reject",
                             await actor_of(conn, principal), form.get("reason", ""),
                             scope=visibility(ctx, principal).enterprises)
        except INLINE_ERRORS as exc:
            failure = form_failure(exc, lang_of(request), f"decide:{maintenance_id}", form)
            return await queue_response(request, principal, failed=failure)
        return RedirectResponse(with_lang(f"{CONSOLE_PREFIX}/queue", lang_of(request)), status_code=303)

    @router.post("/alerts/{alert_id}/transition")
    async def transition_form(request: Request, principal: Annotated[Principal, Depends(officers)],
                              alert_id: AlertId) -> Response:
        form = await checked_form(request)
        action = form.get("action", "")
        try:
            async with connect(ctx) as conn:
                await transition(conn, alert_id, action, await actor_of(conn, principal),
                                 reason=_opt(form, "reason"), disposition=_opt(form, "disposition"),
                                 params=ctx.workflow, on_confirmed=ctx.on_confirmed,
                                 scope=visibility(ctx, principal).enterprises)
        except INLINE_ERRORS as exc:
            failure = form_failure(exc, lang_of(request), f"transition:{action}", form)
            return await alert_page(request, principal, alert_id, failure)
        return back_to(request, alert_id)

    @router.post("/alerts/{alert_id}/remote-verification")
    async def remote_verification_form(request: Request, principal: Annotated[Principal, Depends(officers)],
                                       alert_id: AlertId) -> Response:
        """Record a remote verification (远程核查) from the alert page."""
        form = await checked_form(request)
        try:
            async with connect(ctx) as conn:
                await record_verification(conn, alert_id, await actor_of(conn, principal),
                                          method=form.get("method", ""), result=form.get("result", ""),
                                          note=form.get("note", ""), scope=visibility(ctx, principal).enterprises)
        except INLINE_ERRORS as exc:
            failure = form_failure(exc, lang_of(request), OFFSITE_FORM, form)
            return await alert_page(request, principal, alert_id, failure)
        return back_to(request, alert_id)

    @router.post("/alerts/{alert_id}/claim")
    async def claim_form(request: Request, principal: Annotated[Principal, Depends(officers)],
                         alert_id: AlertId) -> Response:
        form = await checked_form(request)
        from_queue = form.get("next") == "queue"
        try:
            async with connect(ctx) as conn:
                await claim(conn, alert_id, await actor_of(conn, principal),
                            scope=visibility(ctx, principal).enterprises)
        except INLINE_ERRORS as exc:
            failure = form_failure(exc, lang_of(request), f"claim:{alert_id}" if from_queue else "claim",
                                   form)
            if from_queue:
                return await queue_response(request, principal, failed=failure)
            return await alert_page(request, principal, alert_id, failure)
        if from_queue:
            return RedirectResponse(with_lang(f"{CONSOLE_PREFIX}/queue", lang_of(request)),
                                    status_code=303)
        return back_to(request, alert_id)

    @router.post("/alerts/{alert_id}/comment")
    async def comment_form(request: Request, principal: Annotated[Principal, Depends(officers)],
                           alert_id: AlertId) -> Response:
        form = await checked_form(request)
        try:
            async with connect(ctx) as conn:
                await add_comment(conn, alert_id, await actor_of(conn, principal),
                                  form.get("text", ""), public=form.get("public") == "on",
                                  scope=visibility(ctx, principal).enterprises)
        except INLINE_ERRORS as exc:
            failure = form_failure(exc, lang_of(request), "comment", form)
            return await alert_page(request, principal, alert_id, failure)
        return back_to(request, alert_id)

    @router.post("/alerts/{alert_id}/answer")
    async def answer_form(request: Request, principal: Annotated[Principal, Depends(enterprises)],
                          alert_id: AlertId) -> Response:
        """The enterprise's answer: multipart with its files (the rectification form's upload,
        same limits), or url-encoded without files."""
        form, files = await read_upload_form(request)
        guard.check(request, form)
        attachments = [line.strip() for line in form.get("attachments", "").splitlines()
                       if line.strip()]
        try:
            check_file_types(files)
            window = _window(form)
            async with connect(ctx) as conn:
                await submit_answer(conn, alert_id, await actor_of(conn, principal),
                                    form.get("kind", ""), form.get("text", ""),
                                    attachments=attachments, maintenance=window,
                                    policy=ctx.workflow.maintenance, uploads=files,
                                    files_field="form.files")
        except INLINE_ERRORS as exc:
            failure = form_failure(exc, lang_of(request), "answer", form)
            if files:
                failure = dataclasses.replace(failure, extra={**failure.extra, "files_again": True})
            return await alert_page(request, principal, alert_id, failure)
        return back_to(request, alert_id)

    return router


def _window(form: dict[str, str]) -> MaintenanceWindow | None:
    """The maintenance window of an answer form (times entered are CST), or None."""
    device, start, end = _opt(form, "device_id"), _opt(form, "start"), _opt(form, "end")
    if not (start or end):
        return None
    for name, value in (("device_id", device), ("start", start), ("end", end)):
        if not value:  # the first input left empty, named for the message beside it
            raise InvalidRequest(f"form.maintenance.{name}: {WINDOW_MISSING}",
                                 fields=(FieldError(f"form.maintenance.{name}", WINDOW_MISSING),))
    assert device and start and end
    return MaintenanceWindow(device, local_datetime(start, "form.maintenance.start"),
                             local_datetime(end, "form.maintenance.end"))


def _device_name(registry: Registry, device_id: str) -> str:
    dev = registry.devices.get(device_id)
    return f"{dev.label} ({device_id})" if dev is not None and dev.equipment else device_id
