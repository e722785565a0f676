"""Console pages of rectification (整改): the alert page's part, its forms, the ledger.

- The alert page shows the alert's rectifications (status, due time, overdue, requirements,
  submissions with their files' name, size and SHA-256 and a download link, the evidence
  package of each submission, the trail, the data check with its chart) and the forms the
  principal may use: :func:`rectification_section`.
- ``POST /console/alerts/{id}/rectification`` (officer): order one; ``due`` is a date (the
  end of that day) or a date and time, China Standard Time; ``requirements``.
- ``POST /console/rectifications/{id}/submit`` (enterprise, its own): ``multipart/form-data``
  with ``text``, ``references`` (one per line) and ``files`` (several; a browser's empty
  file input is ignored), or url-encoded without files. Bodies over 32 MiB are 413.
- ``POST /console/rectifications/{id}/verify`` (officer): ``reason``, ``data_check_days``
  (optional), ``force`` (verify although the data check found a recurrence);
  ``POST /console/rectifications/{id}/reject`` (officer): ``reason``.
- ``GET /console/rectifications`` (officer: its jurisdiction; enterprise: its own, the
  "问题台账"): filters ``status``, ``overdue``, ``region``, ``enterprise_id``; pages of 50;
  ``format=csv`` downloads every matching row (columns of the JSON API's CSV).
- ``GET /console/attachments/{id}`` (officer; the owning enterprise): a stored file as a
  download. The session cookie is scoped to ``/console``, so the console serves the files
  itself, with the headers of ``GET /api/v1/attachments/{id}``.

Form posts carry the session's form token; success redirects (303) to the alert page, a
refusal renders it again with the reason beside the form (``api/_console_errors.py``).
Another enterprise's or region's rectification, alert or file is 404 like a missing one.
"""

# No "from __future__ import annotations": FastAPI resolves the Depends() in the
# route signatures at definition time, and they name closure variables.

import dataclasses
from collections.abc import Awaitable, Callable
from datetime import date, datetime, time
from typing import Annotated, Any

import psycopg
from fastapi import APIRouter, Depends, Path, Request
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import HTMLResponse, RedirectResponse, Response

from ecowarn.alerts import AlertState
from ecowarn.alerts.rectification import (
    DATA_CHECK_MAX_DAYS,
    DISPATCHED_BY_ORDER,
    IN_PROGRESS,
    ORDERABLE_FROM,
    STATUSES,
    RectificationFilter,
    RectificationInputError,
    events_of,
    fetch_rectification,
    list_rectifications,
    order_rectification,
    reject,
    submissions_of,
    submit,
    verify,
)
from ecowarn.api._console_csv import CSV_MAX_ROWS, csv_response, yes_no
from ecowarn.api._console_errors import INLINE_ERRORS, FormFailure, form_failure
from ecowarn.api._console_fields import file_kind
from ecowarn.api._console_forms import (
    MAX_FORM_BYTES,
    FormGuard,
    parse_form,
    read_body,
    read_form,
)
from ecowarn.api._console_lang import lang_of, local_minute, url_for, with_lang
from ecowarn.api._console_reasons import trail_reason
from ecowarn.api._db import connect
from ecowarn.api._paths import CONSOLE_PREFIX
from ecowarn.api._svg_days import DaySeries, day_chart
from ecowarn.api._time import CST
from ecowarn.api.auth import Auth, visibility
from ecowarn.api.context import ApiContext
from ecowarn.api.pagination import BIGINT_MAX, CursorCodec
from ecowarn.api.routes_rectifications import (
    MAX_REQUEST_BYTES,
    attachment_response,
    keep_submission,
)
from ecowarn.api.routes_workflow import actor_of, region_enterprises
from ecowarn.i18n import WORKFLOW_TEXTS, Lang, catalog, label, rule_name
from ecowarn.store.attachments import (
    ALLOWED_TYPES,
    MAX_BYTES,
    MAX_FILES,
    AttachmentRejected,
    Upload,
    parse_multipart,
)
from ecowarn.store.tokens import Principal

__all__ = ["AlertPage", "build_rectifications_console", "check_file_types", "data_check_view", "file_view",
           "read_upload_form", "rectification_section", "trail_event"]

AlertPage = Callable[[Request, Principal, int, FormFailure | None], Awaitable[Response]]
Renderer = Callable[..., HTMLResponse]
NavLinks = Callable[[Principal, Lang], list[tuple[str, str]]]
EntityId = Annotated[int, Path(ge=1, le=BIGINT_MAX)]
LEDGER_PAGE_SIZE = 50
# A CSV export stops here (the JSON API pages through everything).
# The ledger's CSV download (``api/_console_csv.py``: BOM, headers in the page's language).
RECTIFICATION_CSV_COLUMNS = ("col_id", "col_alert", "col_rule", "col_enterprise", "col_credit_code", "col_region",
                             "col_status", "col_overdue", "col_rect_due", "col_requirements", "col_ordered",
                             "col_submissions", "col_decided", "col_decision_reason")
# Rectifications shown on one alert's page (one at a time is in progress; the rest ended).
SECTION_ROWS = 50
_CURSOR = CursorCodec("console_rectifications", int)
_FILE_TYPES = ("PDF", "JPEG", "PNG", "WebP", "TXT", "CSV", "DOCX", "XLSX")
# Rectification events on an alert's trail (alert_events.action) -> their catalog key.
_TRAIL_KEYS = {"order": "ev_ordered", "submit": "ev_submitted", "verify": "ev_verified",
               "reject": "ev_rejected", "withdraw": "ev_withdrawn"}


def trail_event(action: str | None, lang: Lang) -> str:
    """The name of a rectification step on an alert's trail."""
    key = _TRAIL_KEYS.get(action or "")
    return catalog(lang, "RECTIFICATION")[key] if key else WORKFLOW_TEXTS[lang]["ev_rectification"]


def _size(n: int) -> str:
    if n < 1024:
        return f"{n} B"
    if n < 1024 * 1024:
        return f"{n / 1024:.1f} KB"
    return f"{n / (1024 * 1024):.1f} MB"


def _who(role: str, token_id: int | None, who: str | None, lang: Lang, *, hidden: bool) -> str:
    name = label(role, lang)
    if hidden or token_id is None:
        return name
    return f"{name} #{token_id}" + (f" {who}" if who else "")


def _due(value: str) -> datetime:
    """A due time from the form: a date (the end of that day) or a date and time, in CST."""
    text = value.strip()
    try:
        if len(text) == 10:
            return datetime.combine(date.fromisoformat(text), time(23, 59, 59), tzinfo=CST)
        parsed = datetime.fromisoformat(text)
    except ValueError as exc:
        raise RectificationInputError("form.due", "c_due_invalid") from exc
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=CST)


def _days(value: str) -> int | None:
    text = value.strip()
    if not text:
        return None
    if not text.isdigit() or not 1 <= int(text) <= DATA_CHECK_MAX_DAYS:
        raise RectificationInputError("form.data_check_days", "c_days_invalid", max=DATA_CHECK_MAX_DAYS)
    return int(text)


async def _starts(conn: psycopg.AsyncConnection[Any], table: str, ids: list[int]) -> dict[date, int]:
    """Per day (CST), how many of the rows ``ids`` of ``table`` started that day."""
    if not ids:
        return {}
    cur = await conn.execute(f"SELECT start_ts FROM {table} WHERE id = ANY(%s)", (ids,))
    counts: dict[date, int] = {}
    for (start,) in await cur.fetchall():
        day = start.astimezone(CST).date()
        counts[day] = counts.get(day, 0) + 1
    return counts


def _found(check: dict[str, Any], lang: Lang) -> str:
    texts = catalog(lang, "RECTIFICATION")
    parts = []
    if check.get("alert_ids"):
        parts.append(texts["recurred_alerts"].format(ids=", ".join(map(str, check["alert_ids"]))))
    if check.get("episode_ids"):
        parts.append(texts["recurred_episodes"].format(ids=", ".join(map(str, check["episode_ids"]))))
    if check.get("ongoing"):
        parts.append(texts["recurred_ongoing"])
    return ("；" if lang == "zh" else "; ").join(parts)


async def data_check_view(conn: psycopg.AsyncConnection[Any], check: dict[str, Any],
                          lang: Lang) -> dict[str, Any]:
    """A data check (stored with a rectification, or the one that refused a verification):
    what it found, in words, and a chart of the rule's alerts and episodes per day."""
    texts = catalog(lang, "RECTIFICATION")
    since, until = datetime.fromisoformat(check["since"]), datetime.fromisoformat(check["until"])
    rule = rule_name(str(check["rule"]), lang)
    words = {"days": check["days"], "since": local_minute(since), "until": local_minute(until), "rule": rule}
    text = (texts["c_check_recurred"].format(**words, found=_found(check, lang)) if check["recurred"]
            else texts["c_check_clean"].format(**words))
    series = [DaySeries(texts["c_chart_alerts"], await _starts(conn, "alerts", list(check["alert_ids"]))),
              DaySeries(texts["c_chart_episodes"],
                        await _starts(conn, "alert_episodes", list(check["episode_ids"])))]
    chart = day_chart(series, first=since.astimezone(CST).date(), last=until.astimezone(CST).date(),
                      title=texts["c_chart_title"].format(rule=rule, days=check["days"]),
                      empty_label=texts["c_chart_none"])
    return {"text": text, "recurred": bool(check["recurred"]), "forced": bool(check.get("forced")),
            "chart": chart}


def file_view(item: dict[str, Any], lang: Lang) -> dict[str, Any]:
    return {"name": item["filename"], "size": _size(int(item["size"])), "bytes": int(item["size"]),
            "sha256": item["sha256"], "type": file_kind(item["content_type"], lang),
            "url": with_lang(f"{CONSOLE_PREFIX}/attachments/{item['id']}", lang)}


async def rectification_section(conn: psycopg.AsyncConnection[Any], principal: Principal,
                                state: AlertState, lang: Lang,
                                failed: FormFailure | None) -> dict[str, Any]:
    """What ``alert.html`` shows of the alert's rectifications, newest first, with the forms
    the principal may use (``state`` is the alert, already checked to be visible)."""
    texts = catalog(lang, "RECTIFICATION")
    officer = principal.role in ("officer", "admin")
    enterprise = principal.role in ("enterprise", "admin")
    for_enterprise = principal.role == "enterprise"
    rows, _ = await list_rectifications(conn, RectificationFilter(alert_id=state.id), limit=SECTION_ROWS)
    items = []
    for row in rows:
        rid = int(row["id"])
        status = str(row["status"])
        submissions = [{
            "at": local_minute(s["created_at"]), "text": s["body"],
            "by": s["author_label"] or label("enterprise", lang),
            "files": [file_view(a, lang) for a in s["attachments"] if a.get("kind") == "file"],
            "references": [a["ref"] for a in s["attachments"] if a.get("kind") == "reference"],
            "evidence_url": (None if s["evidence_id"] is None
                             else with_lang(f"{CONSOLE_PREFIX}/evidence/{s['evidence_id']}", lang)),
            "evidence_id": s["evidence_id"],
        } for s in await submissions_of(conn, rid)]
        events = [{
            "at": local_minute(e["at"]), "what": texts.get(f"ev_{e['action']}", e["action"]),
            "by": _who(e["actor_role"], e["actor_token"], e["actor_label"], lang,
                       hidden=for_enterprise and e["actor_role"] != "enterprise"),
            "reason": trail_reason(e, lang),
        } for e in await events_of(conn, rid)]
        base = f"{CONSOLE_PREFIX}/rectifications/{rid}"
        items.append({
            "id": rid, "status": texts.get(f"st_{status}", status), "status_id": status,
            "overdue": bool(row["overdue"]), "due": local_minute(row["due_at"]),
            "requirements": row["requirements"], "ordered_at": local_minute(row["created_at"]),
            "ordered_by": _who("officer", row["ordered_by_token"], row["ordered_by_label"], lang,
                               hidden=for_enterprise),
            "decided_at": local_minute(row["decided_at"]), "decision_reason": row["decision_reason"] or "",
            "data_check": (None if row["data_check"] is None
                           else await data_check_view(conn, row["data_check"], lang)),
            "submissions": submissions, "events": events,
            "can_submit": enterprise and status in IN_PROGRESS,
            "can_verify": officer and status == "submitted",
            "can_reject": officer and status in IN_PROGRESS,
            "forms": {name: with_lang(f"{base}/{name}", lang) for name in ("submit", "verify", "reject")},
        })
    # One rectification at a time; once one is verified the alert goes on to its decision.
    open_or_done = any(r["status"] in (*IN_PROGRESS, "verified") for r in rows)
    refused_check = None
    if failed is not None and failed.form.startswith("verify:") and "data_check" in failed.extra:
        refused_check = await data_check_view(conn, dict(failed.extra["data_check"]), lang)
    joiner = "、" if lang == "zh" else ", "
    return {
        "r": texts,
        "rectifications": items,
        "can_order": (officer and state.status in (*DISPATCHED_BY_ORDER, *ORDERABLE_FROM) and not open_or_done
                      and state.enterprise_id is not None),
        "order_form": with_lang(f"{CONSOLE_PREFIX}/alerts/{state.id}/rectification", lang),
        "files_hint": texts["c_files"].format(n=MAX_FILES, mb=MAX_BYTES // (1024 * 1024),
                                              types=joiner.join(_FILE_TYPES)),
        "file_accept": ",".join(sorted({"." + t.lower() for t in _FILE_TYPES} | {".jpg"})),
        "refused_check": refused_check,
    }


async def read_upload_form(request: Request) -> tuple[dict[str, str], list[Upload]]:
    """The submission form: text fields (last value wins, ``references`` kept whole) and the
    chosen files. Multipart from the browser; url-encoded (no files) is taken too."""
    content_type = request.headers.get("content-type", "")
    kind = content_type.split(";")[0].strip().lower()
    if kind == "application/x-www-form-urlencoded":
        return parse_form(await read_body(request, MAX_FORM_BYTES)), []
    if kind != "multipart/form-data":
        raise StarletteHTTPException(415, "send multipart/form-data or application/x-www-form-urlencoded")
    body = await read_body(request, MAX_REQUEST_BYTES)
    try:
        parsed = parse_multipart(body, content_type, field="form")
    except AttachmentRejected as exc:
        raise RectificationInputError.from_rejected(exc) from exc
    fields = {name: value for name, value in parsed.fields}
    # An empty file input of a browser form sends a part without name or content.
    files = [u for u in parsed.uploads("files") if u.filename or u.content]
    return fields, files


def check_file_types(files: list[Upload]) -> None:
    """A file of a type the store refuses, named with the types it takes in the users' words
    (the store checks every file again, content included)."""
    for i, upload in enumerate(files):
        if upload.content_type.split(";")[0].strip().lower() not in ALLOWED_TYPES:
            raise RectificationInputError(f"form.files[{i}]", "c_type_refused", name=upload.filename,
                                          types="/".join(_FILE_TYPES))


def build_rectifications_console(ctx: ApiContext, auth: Auth, render: Renderer, guard: FormGuard,
                                 alert_page: AlertPage, nav: NavLinks) -> APIRouter:
    # No prefix: these routes join the console's router, which carries /console.
    router = APIRouter(include_in_schema=False)
    officers = auth.require_cookie("officer")
    enterprises = auth.require_cookie("enterprise")
    readers = auth.require_cookie("officer", "enterprise")
    reg = ctx.registry

    def to_alert(request: Request, alert_id: int, rectification_id: int) -> RedirectResponse:
        url = with_lang(f"{CONSOLE_PREFIX}/alerts/{alert_id}", lang_of(request))
        return RedirectResponse(f"{url}#rectification-{rectification_id}", status_code=303)

    async def alert_of(principal: Principal, rectification_id: int) -> int:
        """The rectification's alert; 404 when it is not the principal's to see."""
        async with connect(ctx) as conn:
            row = await fetch_rectification(conn, rectification_id,
                                            scope=visibility(ctx, principal).enterprises)
        return int(row["alert_id"])

    @router.post("/alerts/{alert_id}/rectification")
    async def order_form(request: Request, principal: Annotated[Principal, Depends(officers)],
                         alert_id: EntityId) -> Response:
        form = await read_form(request)
        guard.check(request, form)
        try:
            due = _due(form.get("due", ""))
            async with connect(ctx) as conn:
                row = await order_rectification(conn, alert_id, await actor_of(conn, principal), due=due,
                                                requirements=form.get("requirements", ""),
                                                scope=visibility(ctx, principal).enterprises,
                                                params=ctx.workflow)
        except INLINE_ERRORS as exc:
            failure = form_failure(exc, lang_of(request), "rectification", form)
            return await alert_page(request, principal, alert_id, failure)
        return to_alert(request, alert_id, int(row["id"]))

    @router.post("/rectifications/{rectification_id}/submit")
    async def submit_form(request: Request, principal: Annotated[Principal, Depends(enterprises)],
                          rectification_id: EntityId) -> Response:
        fields, files = await read_upload_form(request)
        guard.check(request, fields)
        alert_id = await alert_of(principal, rectification_id)
        text, references = fields.get("text", ""), fields.get("references", "")
        try:
            check_file_types(files)
            async with connect(ctx) as conn:
                await submit(conn, rectification_id, await actor_of(conn, principal), text=text,
                             keep=keep_submission, uploads=files,
                             references=[r.strip() for r in references.splitlines() if r.strip()],
                             scope=visibility(ctx, principal).enterprises, files_field="form.files")
        except INLINE_ERRORS as exc:
            failure = form_failure(exc, lang_of(request), f"submit:{rectification_id}",
                                   {"text": text, "references": references})
            if files:
                failure = dataclasses.replace(failure, extra={**failure.extra, "files_again": True})
            return await alert_page(request, principal, alert_id, failure)
        return to_alert(request, alert_id, rectification_id)

    @router.post("/rectifications/{rectification_id}/verify")
    async def verify_form(request: Request, principal: Annotated[Principal, Depends(officers)],
                          rectification_id: EntityId) -> Response:
        form = await read_form(request)
        guard.check(request, form)
        alert_id = await alert_of(principal, rectification_id)
        lang = lang_of(request)
        try:
            days = _days(form.get("data_check_days", ""))
            async with connect(ctx) as conn:
                await verify(conn, rectification_id, await actor_of(conn, principal),
                             reason=form.get("reason", ""), data_check_days=days,
                             force=form.get("force") == "on",
                             scope=visibility(ctx, principal).enterprises)
        except INLINE_ERRORS as exc:
            failure = form_failure(exc, lang, f"verify:{rectification_id}", form)
            check = failure.extra.get("data_check")
            if isinstance(check, dict) and check.get("recurred"):
                texts = catalog(lang, "RECTIFICATION")
                words = {"days": check["days"], "rule": rule_name(str(check["rule"]), lang),
                         "since": local_minute(datetime.fromisoformat(check["since"])),
                         "until": local_minute(datetime.fromisoformat(check["until"]))}
                finding = texts["c_check_recurred"].format(**words, found=_found(check, lang))
                failure = dataclasses.replace(failure, message=texts["c_check_refused"].format(
                    finding=finding, force=texts["c_force"]))
            return await alert_page(request, principal, alert_id, failure)
        return to_alert(request, alert_id, rectification_id)

    @router.post("/rectifications/{rectification_id}/reject")
    async def reject_form(request: Request, principal: Annotated[Principal, Depends(officers)],
                          rectification_id: EntityId) -> Response:
        form = await read_form(request)
        guard.check(request, form)
        alert_id = await alert_of(principal, rectification_id)
        try:
            async with connect(ctx) as conn:
                await reject(conn, rectification_id, await actor_of(conn, principal),
                             reason=form.get("reason", ""), scope=visibility(ctx, principal).enterprises)
        except INLINE_ERRORS as exc:
            failure = form_failure(exc, lang_of(request), f"reject:{rectification_id}", form)
            return await alert_page(request, principal, alert_id, failure)
        return to_alert(request, alert_id, rectification_id)

    @router.get("/rectifications")
    async def ledger_page(
        request: Request, principal: Annotated[Principal, Depends(readers)],
        status: str | None = None, overdue: str | None = None, region: str | None = None,
        enterprise_id: str | None = None, cursor: str | None = None, format: str | None = None,
    ) -> Response:
        lang = lang_of(request)
        texts = catalog(lang, "RECTIFICATION")
        own = principal.role == "enterprise"
        status = status if status in STATUSES else None
        late = {"true": True, "false": False}.get(overdue or "")
        region = None if own else (region or None)
        enterprise_id = None if own else (enterprise_id or None)
        seen = visibility(ctx, principal)
        wanted = region_enterprises(reg, region)
        if enterprise_id is not None:
            wanted = [enterprise_id] if wanted is None or enterprise_id in wanted else []
        f = RectificationFilter(enterprise_ids=seen.narrow(wanted),
                                statuses=None if status is None else (status,), overdue=late)
        if format == "csv":
            return await _csv(f, lang)
        async with connect(ctx) as conn:
            rows, last = await list_rectifications(conn, f, limit=LEDGER_PAGE_SIZE,
                                                   after_id=_CURSOR.decode_one(cursor or None))
        filters = {"status": status, "overdue": overdue if late is not None else None,
                   "region": region, "enterprise_id": enterprise_id}
        items = [{
            "id": r["id"], "alert_id": r["alert_id"],
            "url": url_for(f"{CONSOLE_PREFIX}/alerts/{r['alert_id']}", lang) + f"#rectification-{r['id']}",
            "enterprise": (reg.enterprises[r["enterprise_id"]].name if r["enterprise_id"] in reg.enterprises
                           else r["enterprise_id"]),
            "region": reg.enterprises[r["enterprise_id"]].region if r["enterprise_id"] in reg.enterprises else "",
            "rule": rule_name(r["rule"], lang), "status": texts.get(f"st_{r['status']}", r["status"]),
            "overdue": bool(r["overdue"]), "due": local_minute(r["due_at"]),
            "requirements": r["requirements"], "ordered_at": local_minute(r["created_at"]),
            "submissions": int(r["submission_count"]), "decided_at": local_minute(r["decided_at"]),
            "decision_reason": r["decision_reason"] or "",
        } for r in rows]
        path = f"{CONSOLE_PREFIX}/rectifications"
        return render(
            request, "rectifications.html", r=texts, w=WORKFLOW_TEXTS[lang], own=own, items=items,
            more=None if last is None else url_for(path, lang, **filters, cursor=_CURSOR.encode(last)),
            csv=url_for(path, lang, **filters, format="csv"),
            statuses=[(s, texts[f"st_{s}"]) for s in STATUSES], selected=filters,
            regions=[] if own else seen.regions(reg),
            enterprises=[] if own else sorted(((e.id, e.name) for e in reg.enterprises.values()
                                               if seen.sees(e.id)), key=lambda e: e[1]),
            nav=nav(principal, lang), logout=with_lang(f"{CONSOLE_PREFIX}/logout", lang))

    async def _csv(f: RectificationFilter, lang: Lang) -> Response:
        """The ledger's rows (``f``) as the page shows them, for a spreadsheet."""
        rows: list[dict[str, Any]] = []
        after: int | None = None
        async with connect(ctx) as conn:
            while len(rows) < CSV_MAX_ROWS:
                page, after = await list_rectifications(conn, f, limit=500, after_id=after)
                rows += page
                if after is None:
                    break
        texts = catalog(lang, "RECTIFICATION")

        def line(r: dict[str, Any]) -> list[Any]:
            ent = reg.enterprises.get(r["enterprise_id"])
            return [r["id"], r["alert_id"], rule_name(r["rule"], lang), ent.name if ent else "",
                    r["enterprise_id"], ent.region if ent else "", texts.get(f"st_{r['status']}", r["status"]),
                    yes_no(bool(r["overdue"]), lang), local_minute(r["due_at"]), r["requirements"],
                    local_minute(r["created_at"]), int(r["submission_count"]), local_minute(r["decided_at"]),
                    r["decision_reason"] or ""]

        return csv_response(RECTIFICATION_CSV_COLUMNS, (line(r) for r in rows[:CSV_MAX_ROWS]), lang,
                            "rectifications")

    @router.get("/attachments/{attachment_id}")
    async def attachment(principal: Annotated[Principal, Depends(readers)],
                         attachment_id: EntityId) -> Response:
        """A stored file, as a download (never rendered by the browser)."""
        return await attachment_response(ctx, principal, attachment_id)

    return router
