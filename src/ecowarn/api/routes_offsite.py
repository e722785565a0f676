"""Off-site handling first (非现场优先): remote verifications of an alert (docs/enforcement.md,
"Remote verification").

Roles (``admin`` may use all):

- ``POST /api/v1/alerts/{alert_id}/remote-verification``: officer, within its jurisdiction
  (another region's alert is 404 like an absent one). ``{"method": "video_call" |
  "data_review" | "documents" | "other", "result": "confirmed" | "not_confirmed" |
  "inconclusive", "note"}`` -> 201 the verification with the alert's ``workflow`` (its
  ``off_site`` says whether dispatch still waits for one). A closed or superseded alert is 409.
- ``GET /api/v1/alerts/{alert_id}/remote-verifications``: officer. Oldest first, with the
  alert's ``off_site`` handling.

An alert whose enterprise was on a positive list when it started cannot be dispatched
(``POST /alerts/{id}/transitions {"action": "dispatch"}``) before a remote verification is
recorded: 409 ``reason: remote_verification_required`` with ``detail`` and ``detail_zh``.
Each verification appends an internal ``remote_verification`` event to the alert's trail.
"""

# No "from __future__ import annotations": FastAPI resolves the Depends() in the
# route signatures at definition time, and they name closure variables.

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path
from pydantic import BaseModel, ConfigDict, Field

from ecowarn.alerts import fetch_state
from ecowarn.alerts.remote_verification import MAX_NOTE, record_verification, verifications_of
from ecowarn.api._db import connect
from ecowarn.api._paths import API_PREFIX
from ecowarn.api._time import iso
from ecowarn.api._workflow_io import state_out
from ecowarn.api.auth import Auth, visibility
from ecowarn.api.context import ApiContext
from ecowarn.api.pagination import BIGINT_MAX
from ecowarn.api.routes_workflow import actor_of
from ecowarn.store.tokens import Principal

__all__ = ["RemoteVerificationIn", "build_offsite_router", "verification_out"]

AlertId = Annotated[int, Path(ge=1, le=BIGINT_MAX)]


class RemoteVerificationIn(BaseModel):
    """``POST /alerts/{id}/remote-verification``."""

    model_config = ConfigDict(extra="forbid")

    method: Literal["video_call", "data_review", "documents", "other"] = Field(
        description="how it was verified: a video call with the enterprise, a review of its data, "
                    "documents it sent, or another way")
    result: Literal["confirmed", "not_confirmed", "inconclusive"]
    note: str = Field(min_length=1, max_length=MAX_NOTE, description="what was seen")


def verification_out(r: dict[str, Any]) -> dict[str, Any]:
    return {"id": r["id"], "alert_id": r["alert_id"], "method": r["method"], "result": r["result"],
            "note": r["note"], "verified_at": iso(r["verified_at"]),
            "by": {"token_id": r["author_token"], "role": r["author_role"], "label": r["author_label"]}}


def build_offsite_router(ctx: ApiContext, auth: Auth) -> APIRouter:
    router = APIRouter(prefix=API_PREFIX, tags=["workflow"])
    officers = auth.require("officer")

    @router.post("/alerts/{alert_id}/remote-verification", status_code=201)
    async def post_verification(principal: Annotated[Principal, Depends(officers)], alert_id: AlertId,
                                body: RemoteVerificationIn) -> dict[str, Any]:
        """Record how the alert was verified remotely and the result (远程核查). A positive-listed
        firm's alert can be dispatched once one is recorded."""
        scope = visibility(ctx, principal).enterprises
        async with connect(ctx) as conn:
            row = await record_verification(conn, alert_id, await actor_of(conn, principal),
                                            method=body.method, result=body.result, note=body.note,
                                            scope=scope)
            state = await fetch_state(conn, alert_id)
        return {**verification_out(row), "workflow": state_out(state)}

    @router.get("/alerts/{alert_id}/remote-verifications")
    async def get_verifications(principal: Annotated[Principal, Depends(officers)],
                                alert_id: AlertId) -> dict[str, Any]:
        """The alert's remote verifications, oldest first, and its off-site handling."""
        async with connect(ctx) as conn:
            state = await fetch_state(conn, alert_id, scope=visibility(ctx, principal).enterprises)
            rows = await verifications_of(conn, alert_id)
        return {"alert_id": alert_id, "off_site": state.off_site.as_json(),
                "items": [verification_out(r) for r in rows]}

    return router
