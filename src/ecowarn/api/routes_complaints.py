"""Complaints (信访投诉) about enterprises (docs/credit.md, "Supervision").

Roles (``admin`` may use all; complaints name who complained, so only officers read them):

- ``POST /api/v1/complaints``: officer. ``{"enterprise_id", "received_at", "source",
  "summary"}`` -> 201 the complaint. ``received_at``: RFC 3339 with an offset, not in the
  future; ``source``: where it came from (e.g. ``12369`` hotline, letter, visit), 1-200
  characters; ``summary``: 1-5,000 characters. An enterprise that is not registered, or not
  in the officer's jurisdiction, is 422 naming ``body.enterprise_id``.
- ``GET /api/v1/complaints?enterprise_id=&region=&since=&until=&limit=&cursor=``: officer.
  Newest recorded first; ``since``/``until``: days received (China time, both included).
- ``GET /api/v1/complaints/{id}``: officer.

Every complaint keeps who recorded it and when (append-only table). A region-limited officer
sees and records only its region's enterprises' complaints (another's id is 404, like an
absent one). A positive-listed firm with a complaint received in a period is back on that
period's on-site plan and draws (``GET /supervision/plan``, ``POST /supervision/draws``).
"""

# No "from __future__ import annotations": FastAPI resolves the Depends() in the
# route signatures at definition time, and they name closure variables.

from datetime import UTC, date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel, ConfigDict, Field

from ecowarn.api._db import connect
from ecowarn.api._paths import API_PREFIX
from ecowarn.api._time import AwareDatetime, iso
from ecowarn.api.auth import Auth, visibility
from ecowarn.api.context import ApiContext
from ecowarn.api.pagination import BIGINT_MAX, DEFAULT_LIMIT, CursorCodec, Limit
from ecowarn.api.routes_workflow import actor_of
from ecowarn.config.registry import Registry
from ecowarn.credit.supervision.complaints import (
    MAX_SOURCE,
    MAX_SUMMARY,
    ComplaintFilter,
    add_complaint,
    fetch_complaint,
    list_complaints,
)
from ecowarn.store.tokens import Principal

__all__ = ["ComplaintIn", "build_complaints_router", "complaint_out"]

_CURSOR = CursorCodec("complaints", int)


class ComplaintIn(BaseModel):
    """``POST /complaints``."""

    model_config = ConfigDict(extra="forbid")

    enterprise_id: str = Field(min_length=1, max_length=64)
    received_at: AwareDatetime = Field(description="when the complaint was received (RFC 3339 with offset)")
    source: str = Field(min_length=1, max_length=MAX_SOURCE,
                        description="where it came from, e.g. 12369 hotline, letter, visit")
    summary: str = Field(min_length=1, max_length=MAX_SUMMARY)


def complaint_out(row: dict[str, Any], registry: Registry) -> dict[str, Any]:
    enterprise = registry.enterprises.get(row["enterprise_id"])
    return {
        "id": row["id"], "enterprise_id": row["enterprise_id"],
        "enterprise_name": enterprise.name if enterprise else None,
        "region": enterprise.region if enterprise else None,
        "received_at": iso(row["received_at"]), "source": row["source"], "summary": row["summary"],
        "created_at": iso(row["created_at"]),
        "created_by": {"token_id": row["created_by_token"], "role": row["created_by_role"],
                       "label": row["created_by_label"]},
        "url": f"{API_PREFIX}/complaints/{row['id']}",
    }


def build_complaints_router(ctx: ApiContext, auth: Auth) -> APIRouter:
    router = APIRouter(prefix=API_PREFIX, tags=["supervision"])
    officers = auth.require("officer")

    @router.post("/complaints", status_code=201)
    async def post_complaint(principal: Annotated[Principal, Depends(officers)],
                             body: ComplaintIn) -> dict[str, Any]:
        """Record a complaint (信访投诉) received about an enterprise."""
        seen = visibility(ctx, principal)
        known = {e for e in ctx.registry.enterprises if seen.sees(e)}
        async with connect(ctx) as conn:
            row = await add_complaint(conn, enterprise_id=body.enterprise_id, received_at=body.received_at,
                                      source=body.source, summary=body.summary,
                                      actor=await actor_of(conn, principal), known=known,
                                      now=datetime.now(UTC))
        return complaint_out(row, ctx.registry)

    @router.get("/complaints")
    async def get_complaints(
        principal: Annotated[Principal, Depends(officers)],
        enterprise_id: str | None = None,
        region: Annotated[str | None, Query(pattern=r"^\d{2,6}$", description=(
            "administrative division code or prefix"))] = None,
        since: Annotated[date | None, Query(description="received on or after this day (China time)")] = None,
        until: Annotated[date | None, Query(description="received on or before this day (China time)")] = None,
        limit: Limit = DEFAULT_LIMIT,
        cursor: str | None = None,
    ) -> dict[str, Any]:
        """Complaints, newest recorded first: ``{"items": [...], "next_cursor"}``."""
        wanted = None
        if region is not None:
            wanted = sorted(e.id for e in ctx.registry.enterprises.values() if e.region.startswith(region))
        if enterprise_id is not None:
            wanted = [enterprise_id] if wanted is None or enterprise_id in wanted else []
        f = ComplaintFilter(enterprise_ids=visibility(ctx, principal).narrow(wanted), since=since, until=until)
        async with connect(ctx) as conn:
            rows, last = await list_complaints(conn, f, limit=limit, before_id=_CURSOR.decode_one(cursor))
        return {"items": [complaint_out(r, ctx.registry) for r in rows],
                "next_cursor": None if last is None else _CURSOR.encode(last)}

    @router.get("/complaints/{complaint_id}")
    async def get_complaint(principal: Annotated[Principal, Depends(officers)],
                            complaint_id: Annotated[int, Path(ge=1, le=BIGINT_MAX)]) -> dict[str, Any]:
        """One complaint."""
        async with connect(ctx) as conn:
            row = await fetch_complaint(conn, complaint_id, scope=visibility(ctx, principal).enterprises)
        return complaint_out(row, ctx.registry)

    return router
