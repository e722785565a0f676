"""The officer notification log (officer, admin).

- ``GET /api/v1/notifications?event=&status=&channel=&limit=&cursor=``: notifications to
  officer channels (alerts/notify.py), newest first, keyset-paged over id, each with every
  delivery attempt and the message as sent (``message``: the JSON body; robot signatures are
  added per attempt and not kept). A region-limited officer token sees only the notifications
  of its region's enterprises (CONTRACT section 9); those of no enterprise only unlimited
  tokens see. The channel's URL is configuration and never shown.
"""

# No "from __future__ import annotations": FastAPI resolves the Depends() in the
# route signatures at definition time, and they name closure variables.
import json
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from psycopg.rows import dict_row

from ecowarn.api._db import connect
from ecowarn.api._paths import API_PREFIX
from ecowarn.api._time import iso, iso_or_none
from ecowarn.api.auth import Auth, visibility
from ecowarn.api.context import ApiContext
from ecowarn.api.pagination import DEFAULT_LIMIT, CursorCodec, Limit
from ecowarn.store.tokens import Principal

__all__ = ["build_notifications_router"]

_CURSOR = CursorCodec("notifications", int)

EventName = Literal["high_alert", "escalated", "rectification_overdue", "maintenance_pending"]


def _item(r: dict[str, Any], attempts: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "id": r["id"], "delivery_id": str(r["delivery_id"]), "event": r["event"],
        "subject_id": r["subject_id"], "channel": r["channel"], "alert_id": r["alert_id"],
        "enterprise_id": r["enterprise_id"], "region": r["region"], "status": r["status"],
        "attempts": r["attempts"],
        "next_attempt_at": iso(r["next_attempt_at"]) if r["status"] == "pending" else None,
        "last_status_code": r["last_status_code"], "last_error": r["last_error"],
        "delivered_at": iso_or_none(r["delivered_at"]), "created_at": iso(r["created_at"]),
        "message": json.loads(r["body"]),
        "attempt_log": [{"attempt": a["attempt"], "started_at": iso(a["started_at"]),
                         "duration_ms": a["duration_ms"], "status_code": a["status_code"],
                         "error": a["error"]} for a in attempts],
    }


def build_notifications_router(ctx: ApiContext, auth: Auth) -> APIRouter:
    router = APIRouter(prefix=API_PREFIX, tags=["notifications"])
    officers = auth.require("officer")

    @router.get("/notifications")
    async def notifications(
        principal: Annotated[Principal, Depends(officers)],
        event: EventName | None = None,
        status: Literal["pending", "delivered", "failed"] | None = None,
        channel: Annotated[str | None, Query(max_length=64)] = None,
        limit: Limit = DEFAULT_LIMIT, cursor: str | None = None,
    ) -> dict[str, Any]:
        """Notifications to officer channels, newest first, with every delivery attempt."""
        seen = visibility(ctx, principal)
        before = _CURSOR.decode_one(cursor)
        async with connect(ctx) as conn, conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(
                "SELECT id, delivery_id, event, subject_id, channel, alert_id, enterprise_id, region, body,"
                " status, attempts, next_attempt_at, last_status_code, last_error, delivered_at, created_at"
                " FROM officer_notifications"
                " WHERE (%(all)s OR enterprise_id = ANY(%(ents)s))"
                " AND (%(event)s::text IS NULL OR event = %(event)s)"
                " AND (%(status)s::text IS NULL OR status = %(status)s)"
                " AND (%(channel)s::text IS NULL OR channel = %(channel)s)"
                " AND (%(before)s::bigint IS NULL OR id < %(before)s)"
                " ORDER BY id DESC LIMIT %(limit)s",
                {"all": seen.unlimited, "ents": seen.ids() or [], "event": event, "status": status,
                 "channel": channel, "before": before, "limit": limit + 1})
            rows = await cur.fetchall()
            more = len(rows) > limit
            rows = rows[:limit]
            await cur.execute(
                "SELECT delivery, attempt, started_at, duration_ms, status_code, error"
                " FROM officer_notification_attempts WHERE delivery = ANY(%s) ORDER BY delivery, attempt",
                ([int(r["id"]) for r in rows],))
            attempts: dict[int, list[dict[str, Any]]] = {}
            for a in await cur.fetchall():
                attempts.setdefault(int(a["delivery"]), []).append(a)
        return {"items": [_item(r, attempts.get(int(r["id"]), [])) for r in rows],
                "next_cursor": _CURSOR.encode(rows[-1]["id"]) if more else None}

    return router
