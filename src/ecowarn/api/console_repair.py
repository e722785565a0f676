"""Console pages and forms of credit repair by application (信用修复申请, CONTRACT section 9).

- ``POST /console/enterprises/{id}`` (enterprise, its own page): the form "申请信用修复" of
  a deduction on the enterprise's credit page, posted to that page: ``multipart/form-data``
  with ``entry_id``, ``commitment`` (信用修复承诺书) and any number of ``files`` parts
  (url-encoded works too, without files). Filed: 303 back to the page at the deduction.
  Refused (409: the publication period runs, with the date from which it can be filed; an
  application already pending; 422: an empty commitment, a refused file): the page again,
  the reason beside the deduction's form and the commitment as typed (the files must be
  chosen again: browsers do not keep them).
- ``GET /console/credit/repair-applications?status=&enterprise=&cursor=`` (officer): the
  applications of the enterprises the officer sees, pending first, then decided ones, each
  newest first, 50 a page; commitment, files (name, size, SHA-256, download) and, for a
  pending one, the decision form.
- ``POST /console/credit/repair-applications?status=&enterprise=&cursor=`` (officer): the
  decision form, posted to the list's own address: ``application_id``, ``action``
  approve | reject and ``reason``. Decided: 303 back to the list. Refused (409: not pending,
  the deduction repaired or reversed meanwhile, the publication period still running; 422:
  no reason): the list again with the reason beside the application's form, the reason as
  typed.

Files link to ``GET /console/attachments/{id}`` (``api/console_rectifications.py``): the
console session's download of a stored file.

A refused form is answered at the address of the page it was on, so the page's links
(its language switch) stay valid. Forms carry the session's form token
(``api/_console_forms.py``). What the principal may not see (:func:`api.auth.visibility`)
is the same 404 as what does not exist.
"""

# No "from __future__ import annotations": FastAPI resolves the Depends() in the
# route signatures at definition time, and they name closure variables.

from collections.abc import Awaitable, Callable
from typing import Annotated, Any, Protocol

from fastapi import APIRouter, Depends, Path, Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from ecowarn.alerts.audit import load_actor
from ecowarn.alerts.errors import InvalidWorkflowInput
from ecowarn.api._console_credit_db import application_page
from ecowarn.api._console_fields import file_kind
from ecowarn.api._console_forms import FormGuard, read_form
from ecowarn.api._console_inline import Refusal, refusal_of
from ecowarn.api._console_lang import lang_of, local_minute, url_for, with_lang
from ecowarn.api._db import connect
from ecowarn.api.auth import Auth, visibility
from ecowarn.api.context import ApiContext
from ecowarn.api.errors import NotFound, PayloadTooLarge
from ecowarn.api.pagination import BIGINT_MAX, CursorCodec
from ecowarn.config.registry import Registry
from ecowarn.credit import applications
from ecowarn.credit.applications import InvalidApplication, Proof
from ecowarn.credit.errors import EntryNotFound, NotEligible
from ecowarn.credit.ledger import fetch_entry
from ecowarn.credit.params import CreditParams
from ecowarn.i18n import CREDIT_TEXTS, Lang, label, rule_name
from ecowarn.store.attachments import (
    MAX_BYTES,
    MAX_FILES,
    AttachmentRejected,
    Upload,
    parse_multipart,
)
from ecowarn.store.tokens import Principal

__all__ = ["application_view", "build_repair_console", "human_size"]

EntityId = Annotated[int, Path(ge=1, le=BIGINT_MAX)]
PAGE_SIZE = 50
STATUSES = ("pending", "approved", "rejected")
BASE = "/console/credit/repair-applications"
# Every file at its largest plus the text fields.
MAX_MULTIPART_BYTES = MAX_FILES * MAX_BYTES + 1024 * 1024
_CURSOR = CursorCodec("console_repair_applications", int, int)


class Page(Protocol):
    def __call__(self, request: Request, principal: Principal, name: str, status: int = 200,
                 **kw: Any) -> HTMLResponse: ...


class EnterprisePage(Protocol):
    def __call__(self, request: Request, principal: Principal, enterprise_id: str,
                 refusal: Refusal | None = None) -> Awaitable[HTMLResponse]: ...


def human_size(n: int) -> str:
    """A file size for people: bytes, KB or MB (1,024 steps)."""
    if n < 1024:
        return f"{n} B"
    if n < 1024 * 1024:
        return f"{n / 1024:.1f} KB"
    return f"{n / (1024 * 1024):.1f} MB"


def application_view(a: dict[str, Any], lang: Lang, registry: Registry, *,
                     officer: bool) -> dict[str, Any]:
    """A ``repair_applications`` row (with its deduction's headline) for display;
    enterprises do not see who decided."""
    ent = registry.enterprises.get(a["enterprise_id"])
    alert_id = a["entry_alert_id"]
    return {
        "id": a["id"], "entry_id": a["entry_id"], "enterprise_id": a["enterprise_id"],
        "enterprise": ent.name if ent else a["enterprise_id"],
        "enterprise_url": with_lang(f"/console/enterprises/{a['enterprise_id']}", lang),
        "status_id": a["status"], "status": label(a["status"], lang),
        "filed": local_minute(a["created_at"]), "applicant": a["applicant_label"],
        "commitment": a["commitment"],
        "files": [{"name": f["filename"], "size": human_size(int(f["size"])),
                   "type": file_kind(f["content_type"], lang),
                   "sha256": f["sha256"], "url": f"/console/attachments/{f['id']}"}
                  for f in a["attachments"] if "id" in f],
        "refs": [f["reference"] for f in a["attachments"] if "reference" in f],
        "points": a["entry_points"], "rule": rule_name(a["entry_rule"], lang) if a["entry_rule"] else "",
        "severity": CREDIT_TEXTS[lang].get(f"sev_{a['entry_severity']}", a["entry_severity"] or ""),
        "alert_id": alert_id,
        "alert_url": with_lang(f"/console/alerts/{alert_id}", lang) if alert_id else None,
        "recorded": local_minute(a["entry_recorded_at"]), "allowed_from": local_minute(a["allowed_from"]),
        "decided": local_minute(a["decided_at"]), "reason": a["decision_reason"] or "",
        "decided_by": (a["decided_by_label"] or "") if officer else None,
        "evidence_url": with_lang(f"/console/evidence/{a['evidence_id']}", lang),
        "evidence_sha256": a["evidence_sha256"],
    }


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"the form is larger than {limit} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"the form is larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def _application_form(request: Request) -> tuple[dict[str, str], list[Upload]]:
    """The text fields (last value wins) and the chosen files of the application form."""
    content_type = request.headers.get("content-type", "")
    if not content_type.lower().startswith("multipart/form-data"):
        return await read_form(request), []
    form = parse_multipart(await _read_body(request, MAX_MULTIPART_BYTES), content_type)
    fields = {name: value for name, value in form.fields}
    # A file input left empty sends a part without a file name or content.
    files = [u for u in form.uploads("files") if u.filename or u.content]
    return fields, files


def build_repair_console(ctx: ApiContext, auth: Auth, *, page: Page, enterprise_page: EnterprisePage,
                         guard: FormGuard, params: Callable[[], CreditParams]) -> APIRouter:
    """The routes above; ``page`` renders a console page, ``enterprise_page`` the
    enterprise's credit page (with a refused application form)."""
    router = APIRouter(include_in_schema=False)
    officers = auth.require_cookie("officer")
    enterprises = auth.require_cookie("enterprise")
    reg = ctx.registry

    async def list_response(request: Request, principal: Principal, *, status: str | None,
                            enterprise: str | None, cursor: str | None,
                            refusal: Refusal | None = None) -> HTMLResponse:
        lang = lang_of(request)
        status = status if status in STATUSES else None
        enterprise = enterprise or None
        seen = visibility(ctx, principal)
        after = _CURSOR.decode(cursor or None)
        async with connect(ctx) as conn:
            rows = await application_page(conn, enterprises=seen.ids(), status=status, enterprise_id=enterprise,
                                          after=(after[0], after[1]) if after else None, limit=PAGE_SIZE)
            more = len(rows) > PAGE_SIZE
            rows = rows[:PAGE_SIZE]
            if refusal is not None and all(r["id"] != refusal.target for r in rows):
                # The refused application left this page meanwhile: show it on top with its reason.
                rows.insert(0, await applications.fetch_application(conn, refusal.target,
                                                                    scope=seen.enterprises))
        items = []
        for r in rows:
            view = application_view(r, lang, reg, officer=True)
            mine = refusal is not None and refusal.target == r["id"]
            view["error"] = refusal.message if mine and refusal is not None else None
            view["reason_kept"] = refusal.kept.get("reason", "") if mine and refusal is not None else ""
            items.append(view)
        last = rows[-1] if rows else None
        filters = {"status": status, "enterprise": enterprise}
        return page(
            request, principal, "repair_applications.html", status=refusal.status if refusal else 200,
            items=items, selected=filters, action=url_for(BASE, lang, **filters, cursor=cursor or None),
            statuses=[(s, label(s, lang)) for s in STATUSES],
            enterprises=sorted(((e.id, e.name) for e in reg.enterprises.values() if seen.sees(e.id)),
                               key=lambda x: x[1]),
            more=url_for(BASE, lang, **filters, cursor=_CURSOR.encode(int(last["rank"]) if "rank" in last
                                                                      else 0, int(last["id"])))
            if more and last is not None else None,
            first=url_for(BASE, lang, **filters) if cursor else None)

    @router.post("/enterprises/{enterprise_id}")
    async def apply_form(request: Request, principal: Annotated[Principal, Depends(enterprises)],
                         enterprise_id: str) -> Response:
        """File an application from the enterprise page (the form posts to its own page)."""
        lang = lang_of(request)
        fields, files = await _application_form(request)
        guard.check(request, fields)
        seen = visibility(ctx, principal)
        if not seen.sees(enterprise_id):
            raise NotFound(f"no enterprise {enterprise_id}")
        raw_entry = fields.get("entry_id", "").strip()
        if not raw_entry.isdigit() or not 1 <= int(raw_entry) <= BIGINT_MAX:
            raise InvalidApplication.worded("form.entry_id", "console_entry")
        entry_id = int(raw_entry)
        commitment = fields.get("commitment", "")
        refusal = None
        async with connect(ctx) as conn:
            entry = await fetch_entry(conn, entry_id)
            if entry is None or entry["enterprise_id"] != enterprise_id:
                raise EntryNotFound(f"no credit ledger entry {entry_id}")
            actor = await load_actor(conn, principal.token_id, principal.role, principal.enterprise_id)
            try:
                await applications.file_application(
                    conn, params(), entry_id=entry_id, commitment=commitment, proof=Proof(files=files),
                    actor=actor, scope=seen.enterprises)
            except (NotEligible, InvalidWorkflowInput, AttachmentRejected) as exc:
                refusal = refusal_of(exc, lang, target=entry_id, kept={"commitment": commitment})
                if refusal is None:
                    raise
        if refusal is not None:
            return await enterprise_page(request, principal, enterprise_id, refusal)
        return RedirectResponse(with_lang(f"/console/enterprises/{enterprise_id}", lang)
                                + f"#repair-{entry_id}", status_code=303)

    @router.get("/credit/repair-applications")
    async def applications_page(request: Request, principal: Annotated[Principal, Depends(officers)],
                                status: str | None = None, enterprise: str | None = None,
                                cursor: str | None = None) -> Response:
        return await list_response(request, principal, status=status, enterprise=enterprise, cursor=cursor)

    @router.post("/credit/repair-applications")
    async def decide_form(request: Request, principal: Annotated[Principal, Depends(officers)],
                          status: str | None = None, enterprise: str | None = None,
                          cursor: str | None = None) -> Response:
        """Approve or reject an application of the list with the reason; the form posts to the
        list's own address (its filters in the query), which it returns to."""
        lang = lang_of(request)
        form = await read_form(request)
        guard.check(request, form)
        raw_id = form.get("application_id", "").strip()
        if not raw_id.isdigit() or not 1 <= int(raw_id) <= BIGINT_MAX:
            raise InvalidApplication.worded("form.application_id", "console_application")
        application_id = int(raw_id)
        action, reason = form.get("action", ""), form.get("reason", "")
        seen = visibility(ctx, principal)
        refusal = None
        async with connect(ctx) as conn:
            actor = await load_actor(conn, principal.token_id, principal.role)
            try:
                if action not in ("approve", "reject"):
                    raise InvalidApplication.worded("form.action", "console_action")
                decide = applications.approve if action == "approve" else applications.reject
                await decide(conn, application_id, actor=actor, reason=reason, scope=seen.enterprises)
            except (NotEligible, InvalidWorkflowInput) as exc:
                refusal = refusal_of(exc, lang, target=application_id, kept={"reason": reason})
                if refusal is None:
                    raise
        if refusal is not None:
            return await list_response(request, principal, status=status, enterprise=enterprise, cursor=cursor,
                                       refusal=refusal)
        return RedirectResponse(url_for(BASE, lang, status=status or None, enterprise=enterprise or None,
                                        cursor=cursor or None), status_code=303)

    return router
