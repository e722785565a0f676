"""Console page of the officer notification log (``alerts/notify.py``).

- ``GET /console/notifications?event=&status=&cursor=`` (officer): notifications to the
  officers' channels, newest first, 50 a page: the event, the channel (its id in the
  configuration; the URL is never shown), what it is about (enterprise and region, the
  alert, rectification or declaration, linked), the delivery status, the attempts, the
  last error and the message as sent.

A region-limited officer sees the notifications of its region's enterprises only; those
of no enterprise only unlimited officers see (as ``GET /api/v1/notifications``).
"""

# No "from __future__ import annotations": FastAPI resolves the Depends() in the
# route signatures at definition time, and they name closure variables.

import json
from typing import Annotated, Any, Protocol

from fastapi import APIRouter, Depends, Request
from starlette.responses import HTMLResponse, Response

from ecowarn.api._console_credit_db import notification_page
from ecowarn.api._console_lang import lang_of, local_minute, url_for, with_lang
from ecowarn.api._db import connect
from ecowarn.api.auth import Auth, visibility
from ecowarn.api.context import ApiContext
from ecowarn.api.pagination import CursorCodec
from ecowarn.config.registry import Registry
from ecowarn.i18n import Lang, catalog
from ecowarn.store.tokens import Principal

__all__ = ["build_notifications_console"]

PAGE_SIZE = 50
EVENTS = ("high_alert", "escalated", "rectification_overdue", "maintenance_pending")
STATUSES = ("pending", "delivered", "failed")
BASE = "/console/notifications"
_CURSOR = CursorCodec("console_notifications", int)


class Page(Protocol):
    def __call__(self, request: Request, principal: Principal, name: str, status: int = 200,
                 **kw: Any) -> HTMLResponse: ...


def _subject(r: dict[str, Any], lang: Lang, words: dict[str, str]) -> tuple[str, str | None]:
    """What the notification is about, and the console page that shows it."""
    if r["event"] == "maintenance_pending":
        return words["subject_maintenance"].format(id=r["subject_id"]), with_lang("/console/queue", lang)
    if r["event"] == "rectification_overdue":
        text = words["subject_rectification"].format(id=r["subject_id"])
    else:
        text = words["subject_alert"].format(id=r["alert_id"])
    return text, with_lang(f"/console/alerts/{r['alert_id']}", lang) if r["alert_id"] else None


def notification_view(r: dict[str, Any], lang: Lang, registry: Registry) -> dict[str, Any]:
    """An ``officer_notifications`` row for display."""
    words = catalog(lang, "NOTIFY")
    ent = registry.enterprises.get(r["enterprise_id"] or "")
    subject, url = _subject(r, lang, words)
    try:
        message = json.dumps(json.loads(r["body"]), ensure_ascii=False, indent=2)
    except ValueError:
        message = str(r["body"])
    error = r["last_error"] or ""
    if r["last_status_code"] and r["status"] != "delivered":
        code = words["page_http"].format(code=r["last_status_code"])
        error = f"{code}: {error}" if error else code
    return {
        "id": r["id"], "event": words.get(r["event"], r["event"]), "event_id": r["event"],
        "channel": r["channel"],
        "enterprise": (ent.name if ent else r["enterprise_id"]) or words["no_enterprise"],
        "region": words["subject_region"].format(region=r["region"]) if r["region"] else "",
        "subject": subject, "subject_url": url,
        "status_id": r["status"], "status": words[f"page_st_{r['status']}"],
        "attempts": r["attempts"], "error": error,
        "next_attempt": words["page_next_attempt"].format(at=local_minute(r["next_attempt_at"]))
        if r["status"] == "pending" else "",
        "created": local_minute(r["created_at"]), "delivered": local_minute(r["delivered_at"]),
        "message": message,
    }


def build_notifications_console(ctx: ApiContext, auth: Auth, *, page: Page) -> APIRouter:
    router = APIRouter(include_in_schema=False)
    officers = auth.require_cookie("officer")
    reg = ctx.registry

    @router.get("/notifications")
    async def notifications_page(request: Request, principal: Annotated[Principal, Depends(officers)],
                                 event: str | None = None, status: str | None = None,
                                 cursor: str | None = None) -> Response:
        lang = lang_of(request)
        words = catalog(lang, "NOTIFY")
        event = event if event in EVENTS else None
        status = status if status in STATUSES else None
        before = _CURSOR.decode_one(cursor or None)
        async with connect(ctx) as conn:
            rows = await notification_page(conn, enterprises=visibility(ctx, principal).ids(), event=event,
                                           status=status, before_id=before, limit=PAGE_SIZE)
        more = len(rows) > PAGE_SIZE
        rows = rows[:PAGE_SIZE]
        filters = {"event": event, "status": status}
        return page(
            request, principal, "notifications.html", n=words,
            items=[notification_view(r, lang, reg) for r in rows], selected=filters,
            events=[(e, words[e]) for e in EVENTS],
            statuses=[(s, words[f"page_st_{s}"]) for s in STATUSES],
            more=url_for(BASE, lang, **filters, cursor=_CURSOR.encode(int(rows[-1]["id"])))
            if more else None,
            first=url_for(BASE, lang, **filters) if cursor else None)

    return router
