"""Console page of complaints (信访投诉) about enterprises (docs/credit.md, "Complaints").

- ``GET /console/complaints?region=&enterprise_id=`` (officer): the complaints of the
  jurisdiction, newest recorded first, filtered by region and enterprise, each with when it
  was received, its source and summary, who recorded it and when; the form to record one.
- ``POST /console/complaints`` (officer): ``enterprise_id``, ``received_at`` (date and time,
  China Standard Time), ``source``, ``summary``, as ``POST /api/v1/complaints``; 303 back to
  the page.

A refused post (422: an enterprise unknown or outside the jurisdiction, a time that is not
one or is in the future, an empty source or summary) renders the page again with the reason
beside its field, in the page's language, and the typed values kept. A listed firm with a
complaint received in a period is back on that period's on-site plan (``/console/supervision``).
"""

# No "from __future__ import annotations": FastAPI resolves the Depends() in the
# route signatures at definition time, and they name closure variables.

from datetime import UTC, datetime
from typing import Annotated, Final

from fastapi import APIRouter, Depends, Request
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
)
from ecowarn.api._db import connect
from ecowarn.api._paths import CONSOLE_PREFIX
from ecowarn.api._time import CST
from ecowarn.api.auth import Auth, visibility
from ecowarn.api.context import ApiContext
from ecowarn.credit.supervision import SupervisionInputError
from ecowarn.credit.supervision.complaints import (
    MAX_SOURCE,
    MAX_SUMMARY,
    ComplaintFilter,
    add_complaint,
    list_complaints,
)
from ecowarn.i18n import label
from ecowarn.store.tokens import Principal

__all__ = ["build_complaints_console"]

PAGE_SIZE: Final = 100
MAX_FORM_BYTES: Final = 64 * 1024
_PAGE: Final = f"{CONSOLE_PREFIX}/complaints"


def _received(value: str) -> datetime:
    """A ``datetime-local`` input read as China Standard Time; a refusal naming it otherwise."""
    text = value.strip()
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise ConsoleInputError("received_at", "bad_received_at", value=text) from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=CST)


def build_complaints_console(ctx: ApiContext, auth: Auth, guard: FormGuard) -> APIRouter:
    """The routes above, sharing the console's form token (``guard``)."""
    pages = Pages(guard)
    # No prefix: these routes join the console's router, which carries /console.
    router = APIRouter(include_in_schema=False)
    officers = auth.require_cookie("officer")
    reg = ctx.registry

    async def page(request: Request, principal: Principal, refused: Refused = NOTHING_REFUSED) -> HTMLResponse:
        lang = lang_of(request)
        qp = request.query_params
        seen = visibility(ctx, principal)
        picked = {"region": qp.get("region", "").strip(), "enterprise_id": qp.get("enterprise_id", "").strip()}
        wanted = None
        if picked["region"]:
            wanted = [e.id for e in reg.enterprises.values() if e.region.startswith(picked["region"])]
        if picked["enterprise_id"]:
            wanted = [picked["enterprise_id"]] if wanted is None or picked["enterprise_id"] in wanted else []
        before = qp.get("before", "")
        async with connect(ctx) as conn:
            rows, last = await list_complaints(
                conn, ComplaintFilter(enterprise_ids=seen.narrow(wanted)), limit=PAGE_SIZE,
                before_id=int(before) if before.isdigit() and len(before) < 19 else None)
        items = [{
            "id": r["id"], "enterprise_id": r["enterprise_id"],
            "enterprise": reg.enterprises[r["enterprise_id"]].name if r["enterprise_id"] in reg.enterprises
            else r["enterprise_id"],
            "region": reg.enterprises[r["enterprise_id"]].region if r["enterprise_id"] in reg.enterprises else "",
            "received": local_minute(r["received_at"]), "source": r["source"], "summary": r["summary"],
            "recorded": local_minute(r["created_at"]),
            "by": f"{label(r['created_by_role'], lang)} #{r['created_by_token'] or ''} {r['created_by_label']}".strip(),
        } for r in rows]
        enterprises = [(e.id, f"{e.name} ({e.id})") for e in sorted(reg.enterprises.values(), key=lambda e: e.id)
                       if seen.sees(e.id)]
        now = datetime.now(CST).strftime("%Y-%m-%dT%H:%M")
        return pages.render(
            request, principal, "complaints.html", status=refused.status, path=_PAGE,
            query={k: v or None for k, v in picked.items()}, items=items, refused=refused, picked=picked,
            regions=region_choices([e.region for e in reg.enterprises.values() if seen.sees(e.id)], seen.region),
            enterprises=enterprises, max_source=MAX_SOURCE, max_summary=MAX_SUMMARY,
            add={"enterprise_id": refused.value("add", "enterprise_id", picked["enterprise_id"]),
                 "received_at": refused.value("add", "received_at", now),
                 "source": refused.value("add", "source"), "summary": refused.value("add", "summary")},
            action=with_lang(_PAGE, lang), plan=with_lang(f"{CONSOLE_PREFIX}/supervision", lang),
            older=url_for(_PAGE, lang, **{**picked, "before": last}) if last is not None else None)

    @router.get("/complaints")
    async def complaints_page(request: Request, principal: Annotated[Principal, Depends(officers)]) -> Response:
        return await page(request, principal)

    @router.post("/complaints")
    async def add_form(request: Request, principal: Annotated[Principal, Depends(officers)]) -> Response:
        lang = lang_of(request)
        form = await read_console_form(request, pages.guard, MAX_FORM_BYTES)
        seen = visibility(ctx, principal)
        try:
            received = _received(form.get("received_at", ""))
            async with connect(ctx) as conn:
                actor = await load_actor(conn, principal.token_id, principal.role, principal.enterprise_id)
                await add_complaint(conn, enterprise_id=form.get("enterprise_id", "").strip(), received_at=received,
                                    source=form.get("source", ""), summary=form.get("summary", ""), actor=actor,
                                    known={e for e in reg.enterprises if seen.sees(e)}, now=datetime.now(UTC))
        except (SupervisionInputError, ConsoleInputError) as exc:
            refused = Refused.of(exc, lang, "add", form)
            assert refused is not None
            return await page(request, principal, refused)
        return RedirectResponse(with_lang(_PAGE, lang), status_code=303)

    return router
