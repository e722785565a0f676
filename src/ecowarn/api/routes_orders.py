"""Emergency orders and declared maintenance.

- ``POST /api/v1/emergency-orders`` (officer, admin); ``GET`` (officer, admin; an
  enterprise sees the orders naming it).
- ``POST /api/v1/maintenance`` (officer, admin; an enterprise for its own devices,
  another device answers 404); ``GET`` scoped the same way, ``?status=pending`` for the
  declarations waiting for an officer; ``GET /maintenance/{id}`` with its trail.
- ``POST /api/v1/maintenance/{id}/approve`` | ``/reject`` (officer, admin; ``reason``):
  an enterprise's retroactive or over-long declaration suppresses nothing until approved
  (CONTRACT section 8, :mod:`alerts.maintenance`).

Lists are newest first (by id), keyset-paged; ``since``/``until`` keep windows
overlapping ``[since, until)``.

A region-limited officer (CONTRACT section 9) sees what concerns its region's
enterprises: their devices' declarations, and the orders naming one of them (with only
those of its region in ``enterprise_ids``); anything else answers as if absent. Naming an
enterprise outside its region in an order is refused like an unknown id.
"""

# No "from __future__ import annotations": FastAPI resolves the Depends() in the
# route signatures at definition time, and they name closure variables.

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query
from psycopg import sql
from psycopg.rows import dict_row
from pydantic import BaseModel, ConfigDict, Field

from ecowarn.alerts.audit import load_actor
from ecowarn.alerts.maintenance import COLUMNS as _MAINT_COLUMNS
from ecowarn.alerts.maintenance import decide, declaration_events, declare, get_declaration
from ecowarn.api._bodies import EmergencyOrderIn, MaintenanceIn
from ecowarn.api._db import connect
from ecowarn.api._paths import API_PREFIX
from ecowarn.api._time import AwareDatetime, iso
from ecowarn.api.auth import Auth, Visibility, can_see_device, enterprise_scope, visibility
from ecowarn.api.context import ApiContext
from ecowarn.api.errors import FieldError, InvalidRequest, NotFound
from ecowarn.api.pagination import DEFAULT_LIMIT, CursorCodec, Limit
from ecowarn.store.tokens import Principal

__all__ = ["build_orders_router"]

Since = Annotated[AwareDatetime | None, Query(description="windows ending after this time")]
Until = Annotated[AwareDatetime | None, Query(description="windows starting before this time")]

_ORDER_COLS = sql.SQL(
    "id, enterprise_ids, start_ts, end_ts, measure, limit_pct, created_by_token, created_at")
_MAINT_COLS = sql.SQL(_MAINT_COLUMNS)
MaintenanceId = Annotated[int, Path(ge=1, le=2**63 - 1)]
MaintenanceStatus = Literal["pending", "approved", "rejected"]


class DecisionIn(BaseModel):
    """``POST /maintenance/{id}/approve`` | ``/reject``: the officer's reason (kept in the trail)."""

    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=1, max_length=2000)


def _order_out(r: dict[str, Any], seen: Visibility | None = None) -> dict[str, Any]:
    """An order; for a region-limited officer (``seen``) only the enterprises it may see."""
    ids = list(r["enterprise_ids"])
    if seen is not None:
        ids = [e for e in ids if seen.sees(e)]
    return {"id": r["id"], "enterprise_ids": ids, "start": iso(r["start_ts"]),
            "end": iso(r["end_ts"]), "measure": r["measure"], "limit_pct": r["limit_pct"],
            "created_by_token": r["created_by_token"], "created_at": iso(r["created_at"])}


def _maint_out(r: dict[str, Any]) -> dict[str, Any]:
    return {"id": r["id"], "device_id": r["device_id"], "enterprise_id": r["enterprise_id"],
            "start": iso(r["start_ts"]), "end": iso(r["end_ts"]), "reason": r["reason"],
            "declared_by_role": r["declared_by_role"],
            "created_by_token": r["created_by_token"], "created_at": iso(r["created_at"]),
            "status": r["status"],
            "pending_reason": r["pending_reason"].split(",") if r["pending_reason"] else [],
            "decided_by_token": r["decided_by_token"],
            "decided_at": None if r["decided_at"] is None else iso(r["decided_at"]),
            "decision_reason": r["decision_reason"]}


def _event_out(r: dict[str, Any]) -> dict[str, Any]:
    return {"action": r["action"], "by": {"role": r["actor_role"], "token_id": r["actor_token"],
                                          "label": r["actor_label"]},
            "reason": r["reason"], "at": iso(r["at"])}


async def _page(ctx: ApiContext, kind: str, table: str, cols: sql.Composable,
                where: list[sql.Composable], params: list[Any], since: Any, until: Any,
                limit: int, cursor: str | None) -> tuple[list[dict[str, Any]], str | None]:
    if since is not None:
        where.append(sql.SQL("end_ts > %s"))
        params.append(since)
    if until is not None:
        where.append(sql.SQL("start_ts < %s"))
        params.append(until)
    after = CursorCodec(kind, int).decode_one(cursor)
    if after is not None:
        where.append(sql.SQL("id < %s"))
        params.append(after)
    params.append(limit + 1)
    query = sql.SQL("SELECT {} FROM {} {} ORDER BY id DESC LIMIT %s").format(
        cols, sql.Identifier(table),
        sql.SQL("WHERE ") + sql.SQL(" AND ").join(where) if where else sql.SQL(""))
    async with connect(ctx) as conn, conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(query, params)
        rows = await cur.fetchall()
    if len(rows) > limit:
        rows = rows[:limit]
        return rows, CursorCodec(kind, int).encode(rows[-1]["id"])
    return rows, None


def build_orders_router(ctx: ApiContext, auth: Auth) -> APIRouter:
    router = APIRouter(prefix=API_PREFIX, tags=["orders"])
    officers = auth.require("officer")
    with_enterprise = auth.require("officer", "enterprise")

    @router.post("/emergency-orders", status_code=201)
    async def post_order(
        principal: Annotated[Principal, Depends(officers)], body: EmergencyOrderIn,
    ) -> dict[str, Any]:
        """Order enterprises to shut down or curtail production for a time window."""
        ids = list(dict.fromkeys(body.enterprise_ids))
        seen = visibility(ctx, principal)
        unknown = [e for e in ids if e not in ctx.registry.enterprises or not seen.sees(e)]
        if unknown:
            msg = f"unknown enterprise ids: {', '.join(unknown)}"
            raise InvalidRequest(msg, fields=(FieldError("body.enterprise_ids", msg),))
        async with connect(ctx) as conn, conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(
                sql.SQL("INSERT INTO emergency_orders"
                        " (enterprise_ids, start_ts, end_ts, measure, limit_pct, created_by_token)"
                        " VALUES (%s, %s, %s, %s, %s, %s) RETURNING {}").format(_ORDER_COLS),
                (ids, body.start, body.end, body.measure, body.limit_pct, principal.token_id))
            row = await cur.fetchone()
        assert row is not None
        return _order_out(row)

    @router.get("/emergency-orders")
    async def get_orders(
        principal: Annotated[Principal, Depends(with_enterprise)],
        enterprise_id: str | None = None, since: Since = None, until: Until = None,
        limit: Limit = DEFAULT_LIMIT, cursor: str | None = None,
    ) -> dict[str, Any]:
        """Emergency orders, newest first; an enterprise sees those naming it, a
        region-limited officer those naming an enterprise of its region."""
        where: list[sql.Composable] = []
        params: list[Any] = []
        for value in (enterprise_id, enterprise_scope(principal)):
            if value is not None:
                where.append(sql.SQL("enterprise_ids @> ARRAY[%s]::text[]"))
                params.append(value)
        seen = visibility(ctx, principal)
        limited = None if seen.unlimited or principal.role == "enterprise" else seen
        if limited is not None:
            where.append(sql.SQL("enterprise_ids && %s::text[]"))
            params.append(limited.ids())
        rows, nxt = await _page(ctx, "emergency_orders", "emergency_orders", _ORDER_COLS,
                                where, params, since, until, limit, cursor)
        return {"items": [_order_out(r, limited) for r in rows], "next_cursor": nxt}

    @router.post("/maintenance", status_code=201)
    async def post_maintenance(
        principal: Annotated[Principal, Depends(with_enterprise)], body: MaintenanceIn,
    ) -> dict[str, Any]:
        """Declare maintenance of a device. Once approved it suppresses the rules it covers;
        an enterprise's declaration that reaches back more than the grace period, or lasts
        longer than allowed, waits for an officer (``status: pending``)."""
        if not can_see_device(ctx, principal, body.device_id):
            raise NotFound(f"no device {body.device_id}")
        device = ctx.registry.devices.get(body.device_id)
        if device is None:
            msg = f"unknown device id: {body.device_id}"
            raise InvalidRequest(msg, fields=(FieldError("body.device_id", msg),))
        async with connect(ctx) as conn:
            actor = await load_actor(conn, principal.token_id, principal.role, principal.enterprise_id)
            row = await declare(conn, device_id=device.id, enterprise_id=device.enterprise_id,
                                start=body.start, end=body.end, reason=body.reason, actor=actor,
                                policy=ctx.workflow.maintenance)
        return _maint_out(row)

    @router.get("/maintenance/{maintenance_id}")
    async def get_one_maintenance(principal: Annotated[Principal, Depends(with_enterprise)],
                                  maintenance_id: MaintenanceId) -> dict[str, Any]:
        """One declaration with its trail (declared, approved or rejected: who, when, why)."""
        async with connect(ctx) as conn:
            row = await get_declaration(conn, maintenance_id, visibility(ctx, principal).enterprises)
            events = await declaration_events(conn, maintenance_id)
        return {**_maint_out(row), "history": [_event_out(e) for e in events]}

    async def _decide(principal: Principal, maintenance_id: int, action: Literal["approve", "reject"],
                      body: DecisionIn) -> dict[str, Any]:
        async with connect(ctx) as conn:
            actor = await load_actor(conn, principal.token_id, principal.role, principal.enterprise_id)
            row = await decide(conn, maintenance_id, action, actor, body.reason,
                               scope=visibility(ctx, principal).enterprises)
            events = await declaration_events(conn, maintenance_id)
        return {**_maint_out(row), "history": [_event_out(e) for e in events]}

    @router.post("/maintenance/{maintenance_id}/approve")
    async def approve_maintenance(principal: Annotated[Principal, Depends(officers)],
                                  maintenance_id: MaintenanceId, body: DecisionIn) -> dict[str, Any]:
        """Approve a pending declaration: it now suppresses the rules it covers, and open
        alerts it covers are retired with the declaration in their audit trail."""
        return await _decide(principal, maintenance_id, "approve", body)

    @router.post("/maintenance/{maintenance_id}/reject")
    async def reject_maintenance(principal: Annotated[Principal, Depends(officers)],
                                 maintenance_id: MaintenanceId, body: DecisionIn) -> dict[str, Any]:
        """Reject a pending declaration: it never suppresses anything."""
        return await _decide(principal, maintenance_id, "reject", body)

    @router.get("/maintenance")
    async def get_maintenance(
        principal: Annotated[Principal, Depends(with_enterprise)],
        device_id: str | None = None, status: MaintenanceStatus | None = None,
        since: Since = None, until: Until = None,
        limit: Limit = DEFAULT_LIMIT, cursor: str | None = None,
    ) -> dict[str, Any]:
        """Declared maintenance, newest first; an enterprise sees its own devices, a
        region-limited officer its region's (another device answers 404)."""
        where: list[sql.Composable] = []
        params: list[Any] = []
        if status is not None:
            where.append(sql.SQL("status = %s"))
            params.append(status)
        if device_id is not None:
            if not can_see_device(ctx, principal, device_id):
                raise NotFound(f"no device {device_id}")
            where.append(sql.SQL("device_id = %s"))
            params.append(device_id)
        scope = visibility(ctx, principal).ids()
        if scope is not None:
            where.append(sql.SQL("enterprise_id = ANY(%s)"))
            params.append(scope)
        rows, nxt = await _page(ctx, "maintenance", "maintenance", _MAINT_COLS,
                                where, params, since, until, limit, cursor)
        return {"items": [_maint_out(r) for r in rows], "next_cursor": nxt}

    return router
