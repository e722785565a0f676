"""Console page of the positive lists (正面清单, CONTRACT section 9).

- ``GET /console/positive-list?list=&region=&enterprise_id=&active=&include_removed=`` (officer,
  enterprise): the entries a session may see, newest first, filtered by list, region,
  enterprise, the day they are active on (``YYYY-MM-DD``) and whether removed entries are
  shown; each with its validity, reason, who listed it and, once removed, who removed it,
  when and why. Officers get the form to list an enterprise and a removal button per entry.
- ``POST /console/positive-list`` (officer): lists an enterprise (``enterprise_id``, ``list``,
  ``start``, ``end``, ``reason``), as ``POST /api/v1/positive-list``; 303 back to the page.
- ``POST /console/positive-list/{entry_id}/remove`` (officer): removes an entry with a reason
  (kept, marked), as ``DELETE /api/v1/positive-list/{id}``; 303 back to the page.

A refused post (422: an enterprise unknown or outside the jurisdiction, an unknown list, an
end not after the start, a missing reason, a day that is not a day) renders the page again with
the reason beside its form, in the page's language, and the typed values kept. An entry
outside the jurisdiction, or already removed, is the console's 404 page, like a missing one.
"""

# No "from __future__ import annotations": FastAPI resolves the Depends() in the
# route signatures at definition time, and they name closure variables.

from datetime import date
from typing import Annotated, Final

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
from ecowarn.api.auth import Auth, visibility
from ecowarn.api.context import ApiContext
from ecowarn.api.pagination import BIGINT_MAX
from ecowarn.credit.supervision import (
    ListingFilter,
    SupervisionInputError,
    add_entry,
    list_entries,
    remove_entry,
    today_cst,
)
from ecowarn.credit.supervision.positive_list import MAX_REASON, is_active
from ecowarn.i18n import Lang, label
from ecowarn.store.tokens import Principal

__all__ = ["build_positive_list_console"]

PAGE_SIZE: Final = 100
MAX_FORM_BYTES: Final = 64 * 1024
_PAGE: Final = f"{CONSOLE_PREFIX}/positive-list"


def _day(value: str, field: str) -> date | None:
    """A ``date`` input (blank: None); a refusal naming ``field`` when it is not a day."""
    text = value.strip()
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ConsoleInputError(field, "bad_day", value=text) from None


def _who(role: str | None, label_text: str | None, token: int | None, lang: Lang) -> str:
    if role is None:
        return ""
    name = label(role, lang)
    return f"{name} #{token} {label_text or ''}".strip() if token is not None else name


def build_positive_list_console(ctx: ApiContext, auth: Auth, guard: FormGuard) -> APIRouter:
    """The routes above, sharing the console's form token (``guard``)."""
    pages = Pages(guard)
    # No prefix: these routes join the console's router, which carries /console.
    router = APIRouter(include_in_schema=False)
    viewers = auth.require_cookie("officer", "enterprise")
    officers = auth.require_cookie("officer")
    reg = ctx.registry
    config = ctx.supervision

    async def page(request: Request, principal: Principal, refused: Refused = NOTHING_REFUSED) -> HTMLResponse:
        lang = lang_of(request)
        s = texts(lang)
        qp = request.query_params
        seen = visibility(ctx, principal)
        officer = principal.role in ("officer", "admin")
        picked = {"list": qp.get("list", ""), "region": qp.get("region", ""),
                  "enterprise_id": qp.get("enterprise_id", ""), "active": qp.get("active", "").strip(),
                  "include_removed": "1" if qp.get("include_removed", "") in ("1", "on", "true") else ""}
        today = today_cst()
        filter_error = ""
        on = None
        try:
            on = _day(picked["active"], "active")
        except ConsoleInputError as exc:
            found = Refused.of(exc, lang, "filter", picked)
            filter_error = found.message if found else ""
            refused = refused if refused.form else Refused("filter", 422, filter_error)
        list_id = config.list_id(picked["list"]) if picked["list"] else None
        wanted = None
        if picked["region"]:
            wanted = [e.id for e in reg.enterprises.values() if e.region.startswith(picked["region"])]
        if picked["enterprise_id"]:
            wanted = [picked["enterprise_id"]] if wanted is None or picked["enterprise_id"] in wanted else []
        if picked["list"] and list_id is None:
            wanted = []  # a list that does not exist has no entries
        f = ListingFilter(enterprise_ids=seen.narrow(wanted), list_id=list_id, active_on=on,
                          include_deleted=picked["include_removed"] == "1")
        before = qp.get("before", "")
        async with connect(ctx) as conn:
            rows, last = await list_entries(conn, f, limit=PAGE_SIZE,
                                            before_id=int(before) if before.isdigit() and len(before) < 19 else None)
        items = []
        for r in rows:
            ent = reg.enterprises.get(r["enterprise_id"])
            info = config.lists.get(r["list"])
            removed = r["deleted_at"] is not None
            active = is_active(r, today)
            items.append({
                "id": r["id"], "enterprise_id": r["enterprise_id"],
                "enterprise": ent.name if ent else r["enterprise_id"],
                "region": ent.region if ent else "", "list": getattr(info, lang) if info else r["list"],
                "start": r["start_date"].isoformat(), "end": r["end_date"].isoformat() if r["end_date"] else "",
                "reason": r["reason"], "removed": removed, "active": active,
                "state": s["st_removed"] if removed else s["st_active"] if active
                else s["st_expired"] if r["end_date"] is not None and r["end_date"] < today else s["st_pending"],
                "created": local_minute(r["created_at"]),
                "created_by": _who(r["created_by_role"], r["created_by_label"], r["created_by_token"], lang)
                if officer else "",
                "removed_at": local_minute(r["deleted_at"]),
                "removed_by": _who(r["deleted_by_role"], r["deleted_by_label"], r["deleted_by_token"], lang)
                if officer else "",
                "remove_reason": r["delete_reason"] or "",
                "remove_url": with_lang(f"{_PAGE}/{r['id']}/remove", lang),
                "remove_error": refused.message if refused.form == f"remove:{r['id']}" else "",
                "remove_reason_kept": refused.value(f"remove:{r['id']}", "reason"),
            })
        query = {k: (v or None) for k, v in picked.items()}
        stray = refused.message if refused.form.startswith("remove:") and not any(
            i["remove_error"] for i in items) else ""
        enterprises = [(e.id, f"{e.name} ({e.id})") for e in sorted(reg.enterprises.values(), key=lambda e: e.id)
                       if seen.sees(e.id)]
        return pages.render(
            request, principal, "positive_list.html", status=refused.status, path=_PAGE,
            query={k: v for k, v in query.items() if k != "before"},
            officer=officer, items=items, refused=refused, filter_error=filter_error, remove_error=stray,
            lists=[(i.id, getattr(i, lang)) for i in config.lists.values()], default_list=config.default_list,
            regions=region_choices([e.region for e in reg.enterprises.values() if seen.sees(e.id)], seen.region),
            enterprises=enterprises, picked=picked, today=today.isoformat(), max_reason=MAX_REASON,
            add={"enterprise_id": refused.value("add", "enterprise_id"),
                 "list": refused.value("add", "list", config.default_list),
                 "start": refused.value("add", "start", today.isoformat()), "end": refused.value("add", "end"),
                 "reason": refused.value("add", "reason")},
            action=with_lang(_PAGE, lang),
            older=url_for(_PAGE, lang, **{**query, "before": last}) if last is not None else None,
            routine=s[f"routine_{config.routine_onsite}"])

    @router.get("/positive-list")
    async def list_page(request: Request, principal: Annotated[Principal, Depends(viewers)]) -> Response:
        return await page(request, principal)

    @router.post("/positive-list")
    async def add_form(request: Request, principal: Annotated[Principal, Depends(officers)]) -> Response:
        lang = lang_of(request)
        form = await read_console_form(request, pages.guard, MAX_FORM_BYTES)
        seen = visibility(ctx, principal)
        try:
            start = _day(form.get("start", ""), "start") or today_cst()
            end = _day(form.get("end", ""), "end")
            async with connect(ctx) as conn:
                actor = await load_actor(conn, principal.token_id, principal.role, principal.enterprise_id)
                await add_entry(conn, config, enterprise_id=form.get("enterprise_id", "").strip(),
                                list_name=form.get("list", "").strip() or None, start=start, end=end,
                                reason=form.get("reason", ""), actor=actor,
                                listable={e for e in reg.enterprises if seen.sees(e)})
        except (SupervisionInputError, ConsoleInputError) as exc:
            refused = Refused.of(exc, lang, "add", form)
            assert refused is not None
            return await page(request, principal, refused)
        return RedirectResponse(with_lang(_PAGE, lang), status_code=303)

    @router.post("/positive-list/{entry_id}/remove")
    async def remove_form(request: Request, principal: Annotated[Principal, Depends(officers)],
                          entry_id: Annotated[int, Path(ge=1, le=BIGINT_MAX)]) -> Response:
        lang = lang_of(request)
        form = await read_console_form(request, pages.guard, MAX_FORM_BYTES)
        try:
            async with connect(ctx) as conn:
                actor = await load_actor(conn, principal.token_id, principal.role, principal.enterprise_id)
                await remove_entry(conn, entry_id, actor=actor, reason=form.get("reason"),
                                   scope=visibility(ctx, principal).enterprises)
        except SupervisionInputError as exc:
            refused = Refused.of(exc, lang, f"remove:{entry_id}", form)
            assert refused is not None
            return await page(request, principal, refused)
        return RedirectResponse(with_lang(_PAGE, lang), status_code=303)

    return router
