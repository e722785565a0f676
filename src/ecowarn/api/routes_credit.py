"""Credit, evidence and warning endpoints.

- ``GET /api/v1/credit/events?since=&enterprise_id=&limit=&cursor=&format=``: credit, officer.
  Ledger entries oldest first (the feed for the credit evaluation system); JSON, or CSV
  with ``Accept: text/csv`` or ``format=csv`` (cursors in ``X-Next-Cursor`` and ``Link``).
- ``GET /api/v1/credit/scores``: credit, officer. Score and level of every registered enterprise.
- ``GET /api/v1/credit/enterprises/{id}?limit=&cursor=``: credit, officer, enterprise (own).
  Score, level and history, newest first.
- ``POST /api/v1/credit/entries/{id}/repair``, ``POST /api/v1/credit/entries/{id}/reversal``:
  officer. Body ``{"reason"}``. Credit repair of a deduction after its waiting period;
  reversal of an entry (a new entry; the ledger is append-only).
- ``GET /api/v1/evidence/{id}``: officer, credit, enterprise (own). The package as JSON
  with its SHA-256 and chain position; ``/package``: the exact canonical bytes that hash
  to it; ``.html``: the printable page.
- ``GET /api/v1/warnings?enterprise_id=&alert_id=&status=&limit=&cursor=``: officer,
  enterprise (own). The warning delivery log with every attempt.

``admin`` may use all of them. A region-limited officer (CONTRACT section 9) sees only
its region's enterprises: the feed, scores and warnings are filtered to them, and another
enterprise's standing, entry or evidence package answers 404 exactly like an absent one.
The ``credit`` role is never limited.
"""

# No "from __future__ import annotations": FastAPI resolves the Depends() in the
# route signatures at definition time, and they name closure variables.

import json
from typing import Annotated, Any, Literal

import psycopg
from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel, Field
from starlette.responses import HTMLResponse, Response

from ecowarn.alerts.audit import load_actor
from ecowarn.api._credit_db import delivery_attempts, fetch_scores, list_deliveries
from ecowarn.api._db import connect
from ecowarn.api._evidence_html import render_evidence
from ecowarn.api._paths import API_PREFIX
from ecowarn.api._templates import templates
from ecowarn.api._time import AwareDatetime, iso, iso_or_none
from ecowarn.api.auth import Auth, visibility
from ecowarn.api.context import ApiContext
from ecowarn.api.errors import NotFound
from ecowarn.api.pagination import BIGINT_MAX, DEFAULT_LIMIT, CursorCodec, Limit
from ecowarn.api.routes_evaluations import credit_standing
from ecowarn.credit import ledger
from ecowarn.credit.errors import EntryNotFound
from ecowarn.credit.evidence import fetch_evidence
from ecowarn.credit.feed import event, events_csv, list_events
from ecowarn.credit.hooks import actor_info
from ecowarn.store.tokens import Principal

__all__ = ["build_credit_router"]

# The printable page loads nothing from anywhere: inline styles and inline SVG only.
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
                               "frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
EntityId = Annotated[int, Path(ge=1, le=BIGINT_MAX)]


class ReasonBody(BaseModel):
    reason: str = Field(min_length=1, max_length=2000,
                        description="why: the rectification checked, or the error corrected")


_EVENTS = CursorCodec("credit_events", int)
_HISTORY = CursorCodec("credit_history", int)
_WARNINGS = CursorCodec("warnings", int)


def _wants_csv(request: Request, fmt: str | None) -> bool:
    if fmt is not None:
        return fmt == "csv"
    return "text/csv" in request.headers.get("accept", "")


def history_item(row: dict[str, Any]) -> dict[str, Any]:
    return {**event(row), "reversed_by": row.get("reversed_by"), "repaired_by": row.get("repaired_by")}


def evidence_summary(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"], "alert_id": row["alert_id"], "enterprise_id": row["enterprise_id"],
        "sha256": row["sha256"], "created_at": iso(row["created_at"]),
        "chain": {"seq": row["chain_seq"], "prev_hash": row["prev_hash"], "hash": row["hash"]},
        "package_url": f"{API_PREFIX}/evidence/{row['id']}/package",
        "html_url": f"{API_PREFIX}/evidence/{row['id']}.html",
    }


def build_credit_router(ctx: ApiContext, auth: Auth) -> APIRouter:
    router = APIRouter(prefix=API_PREFIX)
    feed_readers = auth.require("credit", "officer")
    credit_readers = auth.require("credit", "officer", "enterprise")
    officers = auth.require("officer")
    warning_readers = auth.require("officer", "enterprise")
    env = templates()

    def check_scope(principal: Principal, enterprise_id: str | None, what: str) -> None:
        if not visibility(ctx, principal).sees(enterprise_id):
            raise NotFound(f"no {what}")

    async def check_entry(conn: psycopg.AsyncConnection[Any], principal: Principal, entry_id: int) -> None:
        """An entry of an enterprise the officer may not see is absent (the ledger's own
        message for a missing entry, so both answer alike)."""
        seen = visibility(ctx, principal)
        if seen.unlimited:
            return
        entry = await ledger.fetch_entry(conn, entry_id)
        if entry is None or not seen.sees(entry["enterprise_id"]):
            raise EntryNotFound(f"no credit ledger entry {entry_id}")

    @router.get("/credit/events", tags=["credit"])
    async def credit_events(
        request: Request, principal: Annotated[Principal, Depends(feed_readers)],
        since: Annotated[AwareDatetime | None, Query(
            description="entries recorded at or after this time")] = None,
        enterprise_id: str | None = None,
        limit: Limit = DEFAULT_LIMIT, cursor: str | None = None,
        format: Annotated[Literal["json", "csv"] | None, Query(
            description="csv or json; default from the Accept header, else json")] = None,
    ) -> Response:
        """Credit ledger entries, oldest first, keyset-paged by id. Entry ids grow in
        commit order, so resuming from ``resume_cursor`` never misses a later entry."""
        after = _EVENTS.decode_one(cursor)
        async with connect(ctx) as conn:
            rows = await list_events(conn, since=since, after_id=after, limit=limit,
                                     enterprise_id=enterprise_id,
                                     enterprise_ids=visibility(ctx, principal).enterprises)
        more = len(rows) > limit
        items = [event(r) for r in rows[:limit]]
        last = items[-1]["id"] if items else after
        resume = _EVENTS.encode(last) if last is not None else cursor
        next_cursor = _EVENTS.encode(last) if more else None
        if _wants_csv(request, format):
            headers = {"X-Resume-Cursor": resume or ""}
            if next_cursor is not None:
                headers["X-Next-Cursor"] = next_cursor
                headers["Link"] = f'<{request.url.include_query_params(cursor=next_cursor)}>; rel="next"'
            return Response(events_csv(items), media_type="text/csv; charset=utf-8", headers=headers)
        return Response(json.dumps({"items": items, "next_cursor": next_cursor, "resume_cursor": resume},
                                   ensure_ascii=False), media_type="application/json")

    @router.get("/credit/scores", tags=["credit"])
    async def credit_scores(principal: Annotated[Principal, Depends(feed_readers)]) -> dict[str, Any]:
        """Score and level of every enterprise in the registry (100, A without entries);
        a region-limited officer gets its region's."""
        seen = visibility(ctx, principal)
        async with connect(ctx) as conn:
            scores = await fetch_scores(conn)
        items = []
        for enterprise_id in sorted(set(ctx.registry.enterprises) | set(scores)):
            if not seen.sees(enterprise_id):
                continue
            score, level = scores.get(enterprise_id, (ledger.FULL_SCORE, ledger.level_for(ledger.FULL_SCORE)))
            level = ctx.credit_model.level_for(score)  # the active level scheme's
            ent = ctx.registry.enterprises.get(enterprise_id)
            items.append({"enterprise_id": enterprise_id, "name": ent.name if ent else None,
                          "score": score, "level": level})
        return {"items": items}

    @router.get("/credit/enterprises/{enterprise_id}", tags=["credit"])
    async def enterprise_credit(
        principal: Annotated[Principal, Depends(credit_readers)], enterprise_id: str,
        limit: Limit = DEFAULT_LIMIT, cursor: str | None = None,
    ) -> dict[str, Any]:
        """Score, level and ledger history (newest first) of one enterprise."""
        check_scope(principal, enterprise_id, f"enterprise {enterprise_id}")
        before = _HISTORY.decode_one(cursor)
        async with connect(ctx) as conn:
            score, level, n = await ledger.enterprise_standing(conn, enterprise_id)
            rows = await ledger.history(conn, enterprise_id, limit=limit, before_id=before)
            # level (the active scheme's), level_scheme, level_history, evaluation
            evaluations = await credit_standing(conn, ctx, principal, enterprise_id, score)
        ent = ctx.registry.enterprises.get(enterprise_id)
        if ent is None and n == 0:
            raise NotFound(f"no enterprise {enterprise_id}")
        more = len(rows) > limit
        rows = rows[:limit]
        return {
            "enterprise_id": enterprise_id, "name": ent.name if ent else None,
            "score": score, "level": level, "entries": n,
            "history": [history_item(r) for r in rows],
            "next_cursor": _HISTORY.encode(rows[-1]["id"]) if more else None,
            **evaluations,
        }

    @router.post("/credit/entries/{entry_id}/repair", tags=["credit"], status_code=201)
    async def repair_entry(principal: Annotated[Principal, Depends(officers)], entry_id: EntityId,
                           body: ReasonBody) -> dict[str, Any]:
        """Credit repair: restore a deduction's points once its waiting period has passed
        and the officer has checked the rectification (409 when not eligible)."""
        async with connect(ctx) as conn:
            await check_entry(conn, principal, entry_id)
            who = actor_info(await load_actor(conn, principal.token_id, principal.role))
            row = await ledger.repair(conn, entry_id, actor=who, reason=body.reason)
        return event(row)

    @router.post("/credit/entries/{entry_id}/reversal", tags=["credit"], status_code=201)
    async def reverse_entry(principal: Annotated[Principal, Depends(officers)], entry_id: EntityId,
                            body: ReasonBody) -> dict[str, Any]:
        """Reverse an entry (a deduction confirmed in error, a repair granted in error) with
        new entries; a repaired deduction's repair is reversed with it."""
        async with connect(ctx) as conn:
            await check_entry(conn, principal, entry_id)
            who = actor_info(await load_actor(conn, principal.token_id, principal.role))
            rows = await ledger.reverse(conn, entry_id, actor=who, reason=body.reason)
        return {"items": [event(r) for r in rows]}

    async def load_evidence(principal: Principal, evidence_id: int) -> dict[str, Any]:
        async with connect(ctx) as conn:
            row = await fetch_evidence(conn, evidence_id)
        if row is None:
            raise NotFound(f"no evidence package {evidence_id}")
        check_scope(principal, row["enterprise_id"], f"evidence package {evidence_id}")
        return row

    # Before "/evidence/{evidence_id}", which would otherwise take "5.html" as an id.
    @router.get("/evidence/{evidence_id}.html", tags=["evidence"], response_class=HTMLResponse)
    async def evidence_html(principal: Annotated[Principal, Depends(credit_readers)],
                            evidence_id: EntityId) -> HTMLResponse:
        """The evidence package as a printable page (Chinese with English, SHA-256 printed)."""
        row = await load_evidence(principal, evidence_id)
        return HTMLResponse(render_evidence(env, row), headers=PAGE_HEADERS)

    @router.get("/evidence/{evidence_id}/package", tags=["evidence"])
    async def evidence_package(principal: Annotated[Principal, Depends(credit_readers)],
                               evidence_id: EntityId) -> Response:
        """The exact canonical JSON bytes of the package: their SHA-256 is ``sha256``."""
        row = await load_evidence(principal, evidence_id)
        return Response(row["canonical"].encode("utf-8"), media_type="application/json",
                        headers={"X-Ecowarn-SHA256": row["sha256"]})

    @router.get("/evidence/{evidence_id}", tags=["evidence"])
    async def evidence_json(principal: Annotated[Principal, Depends(credit_readers)],
                            evidence_id: EntityId) -> dict[str, Any]:
        """The evidence package with its SHA-256 and its place in the hash chain."""
        row = await load_evidence(principal, evidence_id)
        return {**evidence_summary(row), "package": json.loads(row["canonical"])}

    @router.get("/warnings", tags=["warnings"])
    async def warnings(
        principal: Annotated[Principal, Depends(warning_readers)],
        enterprise_id: str | None = None,
        alert_id: Annotated[int | None, Query(ge=1, le=BIGINT_MAX)] = None,
        status: Literal["pending", "delivered", "failed"] | None = None,
        limit: Limit = DEFAULT_LIMIT, cursor: str | None = None,
    ) -> dict[str, Any]:
        """Risk warnings sent to enterprises (one per alert and channel), newest first,
        with every delivery attempt. A token sees the warnings of the enterprises it may
        see (an ``enterprise_id`` outside them gives an empty list)."""
        before = _WARNINGS.decode_one(cursor)
        async with connect(ctx) as conn:
            rows = await list_deliveries(conn, enterprise_id=enterprise_id, alert_id=alert_id,
                                         status=status, limit=limit, before_id=before,
                                         enterprise_ids=visibility(ctx, principal).enterprises)
            more = len(rows) > limit
            rows = rows[:limit]
            attempts = await delivery_attempts(conn, [int(r["id"]) for r in rows])
        items = [{
            "id": r["id"], "delivery_id": str(r["delivery_id"]), "alert_id": r["alert_id"],
            "enterprise_id": r["enterprise_id"], "channel": r["channel"], "target": r["target"],
            "status": r["status"], "attempts": r["attempts"],
            "next_attempt_at": iso(r["next_attempt_at"]) if r["status"] == "pending" else None,
            "last_status_code": r["last_status_code"], "last_error": r["last_error"],
            "delivered_at": iso_or_none(r["delivered_at"]), "created_at": iso(r["created_at"]),
            "alert": {"rule": r["rule"], "severity": r["severity"], "start": iso(r["start_ts"]),
                      "end": iso_or_none(r["end_ts"]), "status": r["alert_status"],
                      "summary": r["summary"], "summary_zh": r["summary_zh"]},
            "attempt_log": [{"attempt": a["attempt"], "started_at": iso(a["started_at"]),
                             "duration_ms": a["duration_ms"], "status_code": a["status_code"],
                             "error": a["error"]} for a in attempts.get(int(r["id"]), [])],
        } for r in rows]
        return {"items": items,
                "next_cursor": _WARNINGS.encode(rows[-1]["id"]) if more else None}

    return router
