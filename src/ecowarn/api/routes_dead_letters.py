"""Dead letters: inputs that were not stored, with their reasons (officer, admin).

- ``GET /api/v1/dead-letters?reason=&source=&pending=&limit=&cursor=``, newest first;
  ``pending=true`` keeps those not replayed yet. ``payload`` is the raw input as
  UTF-8 text when it decodes, else base64; ``payload_encoding`` says which.
- ``POST /api/v1/dead-letters/{id}/replay`` re-parses one against the current
  registry (for example after a device was registered).

A region-limited officer (CONTRACT section 9) sees only the dead letters that name a
registered device of its region's enterprises; any other id answers 404 like an absent
one.
"""

# No "from __future__ import annotations": FastAPI resolves the Depends() in the
# route signatures at definition time, and they name closure variables.
import base64
import logging
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path
from psycopg import sql
from psycopg.rows import dict_row

from ecowarn.api._db import connect
from ecowarn.api._paths import API_PREFIX
from ecowarn.api._time import iso, iso_or_none
from ecowarn.api.auth import Auth, visibility
from ecowarn.api.context import ApiContext
from ecowarn.api.errors import NotFound
from ecowarn.api.pagination import BIGINT_MAX, DEFAULT_LIMIT, CursorCodec, Limit
from ecowarn.store.tokens import Principal

__all__ = ["build_dead_letters_router", "payload_fields"]

log = logging.getLogger(__name__)

_CURSOR = CursorCodec("dead_letters", int)


def payload_fields(payload: bytes) -> dict[str, str]:
    try:
        return {"payload": payload.decode("utf-8"), "payload_encoding": "utf-8"}
    except UnicodeDecodeError:
        return {"payload": base64.b64encode(payload).decode("ascii"),
                "payload_encoding": "base64"}


def _item(r: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": r["id"], "received_at": iso(r["received_at"]), "source": r["source"],
        "topic": r["topic"], "device_id": r["device_id"], "reason": r["reason"],
        "detail": r["detail"], **payload_fields(bytes(r["payload"])),
        "replayed_at": iso_or_none(r["replayed_at"]), "replay_result": r["replay_result"],
    }


def build_dead_letters_router(ctx: ApiContext, auth: Auth) -> APIRouter:
    router = APIRouter(prefix=API_PREFIX, tags=["dead letters"])
    officers = auth.require("officer")

    @router.get("/dead-letters")
    async def get_dead_letters(
        principal: Annotated[Principal, Depends(officers)],
        reason: str | None = None, source: str | None = None, pending: bool | None = None,
        limit: Limit = DEFAULT_LIMIT, cursor: str | None = None,
    ) -> dict[str, Any]:
        """Rejected inputs, newest first, keyset-paged over id."""
        where: list[sql.Composable] = []
        params: list[Any] = []
        devices = _visible_devices(ctx, principal)
        if devices is not None:
            where.append(sql.SQL("device_id = ANY(%s)"))
            params.append(devices)
        for column, value in (("reason", reason), ("source", source)):
            if value is not None:
                where.append(sql.SQL("{} = %s").format(sql.Identifier(column)))
                params.append(value)
        if pending is not None:
            where.append(sql.SQL("replayed_at IS NULL" if pending else "replayed_at IS NOT NULL"))
        before = _CURSOR.decode_one(cursor)
        if before is not None:
            where.append(sql.SQL("id < %s"))
            params.append(before)
        params.append(limit + 1)
        query = sql.SQL(
            "SELECT id, received_at, source, topic, device_id, reason, detail, payload,"
            " replayed_at, replay_result FROM dead_letters {} ORDER BY id DESC LIMIT %s",
        ).format(sql.SQL("WHERE ") + sql.SQL(" AND ").join(where) if where else sql.SQL(""))
        async with connect(ctx) as conn, conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(query, params)
            rows = await cur.fetchall()
        nxt = None
        if len(rows) > limit:
            rows = rows[:limit]
            nxt = _CURSOR.encode(rows[-1]["id"])
        return {"items": [_item(r) for r in rows], "next_cursor": nxt}

    @router.post("/dead-letters/{dead_letter_id}/replay")
    async def replay(
        principal: Annotated[Principal, Depends(officers)],
        dead_letter_id: Annotated[int, Path(ge=1, le=BIGINT_MAX)],
    ) -> dict[str, Any]:
        """Re-parse one dead letter against the current registry."""
        devices = _visible_devices(ctx, principal)
        if devices is not None:
            async with connect(ctx) as conn:
                cur = await conn.execute("SELECT device_id FROM dead_letters WHERE id = %s",
                                         (dead_letter_id,))
                row = await cur.fetchone()
            if row is None or row[0] not in devices:
                raise NotFound(f"no dead letter {dead_letter_id}")
        try:
            result = await ctx.replay_dead_letter(dead_letter_id)
        except KeyError as exc:
            raise NotFound(f"no dead letter {dead_letter_id}") from exc
        log.info("dead letter %s replayed by token %s: %s", dead_letter_id,
                 principal.token_id, result.get("result"))
        return result

    return router


def _visible_devices(ctx: ApiContext, principal: Principal) -> list[str] | None:
    """The registered devices a limited token may see; None when it sees every one."""
    seen = visibility(ctx, principal)
    if seen.unlimited:
        return None
    return sorted(d.id for d in ctx.registry.devices.values() if seen.sees(d.enterprise_id))
