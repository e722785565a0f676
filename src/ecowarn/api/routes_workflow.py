"""From alert to action: the officers' queue and working an alert (docs/enforcement.md).

Roles (``admin`` may use all; ``credit`` and ``ingest`` none):

- ``GET /api/v1/queue``: officer. Active alerts across enterprises, riskiest first;
  filters ``region`` (administrative division code or its prefix, from the
  registry), ``rule``, ``status``, ``assignee`` (``me``, ``none`` or a token id),
  ``enterprise_id``.
- ``POST /api/v1/queue/{alert_id}/claim``: officer. Atomic: a second officer gets 409.
- ``POST /api/v1/alerts/{alert_id}/transitions``: officer. ``{"action", "reason"?,
  "disposition"?}``; an action the status does not allow is 409 with ``allowed``.
  ``confirm`` before the enterprise was heard is 409 with ``reason``
  (``awaiting_answer`` | ``answer_unread``), ``allowed_at``, ``hearing`` and
  ``detail_zh``; ``{"action": "confirm", "disposition": "first_offence_no_penalty"}``
  confirms without penalty (首违不罚) or is 409 ``reason: not_eligible`` with ``failed``.
- ``POST /api/v1/alerts/{alert_id}/comments``, ``POST .../assign``: officer.
- ``GET /api/v1/alerts/{alert_id}/audit``: officer (everything); enterprise, its own
  alert's public trail (another enterprise's alert is 404).
- ``POST /api/v1/alerts/{alert_id}/answers``: enterprise, its own alert (404
  otherwise); ``GET``: officer, enterprise (own). An officer's (or admin's) ``GET``
  records that the answers were read (``answers_read`` event, once per answer): the
  right to be heard counts them as seen from then.
- ``GET /api/v1/labels``: officer. Closed alerts with their disposition (false-alarm
  reasons are the labels for tuning detectors).

Every change is one transaction that also appends its audit event. Every route sees
only what the token may see (:func:`api.auth.visibility`: an enterprise its own, a
region-limited officer its region's enterprises): the queue and labels list nothing
else, and another's alert is 404 exactly like an absent id, before anything changes.
"""

# No "from __future__ import annotations": FastAPI resolves the Depends() in the
# route signatures at definition time, and they name closure variables.

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Annotated, Any

import psycopg
from fastapi import APIRouter, Depends, Path, Query
from prometheus_client import Counter

from ecowarn.alerts import (
    STATUSES,
    Actor,
    MaintenanceWindow,
    QueueFilter,
    add_comment,
    answers_of,
    assign,
    audit_trail,
    claim,
    fetch_state,
    list_labels,
    load_actor,
    queue_page,
    record_answers_read,
    submit_answer,
    transition,
)
from ecowarn.api._db import connect
from ecowarn.api._paths import API_PREFIX
from ecowarn.api._time import AwareDatetime, iso, iso_or_none
from ecowarn.api._workflow_io import (
    AnswerIn,
    AssignIn,
    CommentIn,
    TransitionIn,
    answer_out,
    comment_out,
    event_out,
    state_out,
)
from ecowarn.api.auth import Auth, enterprise_scope, visibility
from ecowarn.api.context import ApiContext
from ecowarn.api.errors import FieldError, InvalidRequest
from ecowarn.api.pagination import BIGINT_MAX, DEFAULT_LIMIT, CursorCodec, Limit
from ecowarn.config.registry import Registry
from ecowarn.credit.supervision.positive_list import active_listings, today_cst
from ecowarn.store.tokens import Principal

__all__ = ["build_workflow_router", "parse_assignee", "queue_item", "region_enterprises"]

AlertId = Annotated[int, Path(ge=1, le=BIGINT_MAX)]
QUEUE_CURSOR = CursorCodec("queue", datetime, float, int)
_LABELS_CURSOR = CursorCodec("labels", int)


async def actor_of(conn: psycopg.AsyncConnection[Any], principal: Principal) -> Actor:
    return await load_actor(conn, principal.token_id, principal.role, principal.enterprise_id)


def region_enterprises(registry: Registry, region: str | None) -> list[str] | None:
    """Enterprises whose division code starts with ``region`` (130105 county, 1301 city,
    13 province); None when no region is given."""
    if region is None:
        return None
    return sorted(e.id for e in registry.enterprises.values() if e.region.startswith(region))


def parse_assignee(value: str | None, principal: Principal) -> int | None:
    """``me`` -> the caller's token, ``none`` -> 0 (unassigned), digits -> that token."""
    if value is None:
        return None
    if value == "me":
        return principal.token_id
    if value == "none":
        return 0
    if value.isdigit() and 0 < int(value) <= BIGINT_MAX:
        return int(value)
    msg = "assignee must be 'me', 'none' or a token id"
    raise InvalidRequest(msg, fields=(FieldError("query.assignee", msg),))


def queue_item(registry: Registry, r: dict[str, Any],
               listings: Mapping[str, list[dict[str, Any]]] | None = None) -> dict[str, Any]:
    """A queue row as JSON (also what the console's queue page shows). ``listings``: the
    positive-list entries active today per enterprise; a listed firm's alert is handled
    off-site first (``handling``: remote verification before any on-site step)."""
    enterprise = registry.enterprises.get(r["enterprise_id"] or "")
    listed = (listings or {}).get(r["enterprise_id"] or "", [])
    return {
        "id": r["id"], "rule": r["rule"], "enterprise_id": r["enterprise_id"],
        "enterprise_name": enterprise.name if enterprise else None,
        "region": enterprise.region if enterprise else None,
        "device_ids": list(r["device_ids"]), "start": iso(r["start_ts"]),
        "end": iso_or_none(r["end_ts"]), "severity": r["severity"], "status": r["status"],
        "summary": r["summary"], "summary_zh": r["summary_zh"],
        "score": r["score"].total, "score_parts": r["score"].parts(),
        "repeats_90d": int(r["earlier"]), "repeat_count": r["repeat_count"],
        "credit_level": r["credit_level"],
        "positive_list": [str(e["list"]) for e in listed],
        "handling": "off_site_first" if listed else "standard",
        "assignee": (None if r["assignee_token"] is None else
                     {"token_id": r["assignee_token"], "label": r["assignee_label"] or ""}),
        "claimed_at": iso_or_none(r["claimed_at"]),
        "dispatched_at": iso_or_none(r["dispatched_at"]), "due_at": iso_or_none(r["due_at"]),
        "overdue": r["overdue"],
        "escalation_level": r["escalation_level"], "escalated_at": iso_or_none(r["escalated_at"]),
        "answers": [answer_out(a) for a in r["answers"]],
        "created_at": iso(r["created_at"]),
    }


def build_workflow_router(ctx: ApiContext, auth: Auth) -> APIRouter:
    router = APIRouter(prefix=API_PREFIX, tags=["workflow"])
    officers = auth.require("officer")
    enterprises = auth.require("enterprise")
    readers = auth.require("officer", "enterprise")
    actions = Counter("ecowarn_alert_actions_total",
                      "Steps taken on alerts through the JSON API, by action",
                      ["action"], registry=ctx.metrics_registry)

    @router.get("/queue")
    async def get_queue(
        principal: Annotated[Principal, Depends(officers)],
        region: Annotated[str | None, Query(pattern=r"^\d{2,6}$", description=(
            "administrative division code or prefix (13 province, 1301 city)"))] = None,
        rule: str | None = None,
        status: str | None = None,
        assignee: Annotated[str | None, Query(description="me, none or a token id")] = None,
        enterprise_id: str | None = None,
        limit: Limit = DEFAULT_LIMIT,
        cursor: str | None = None,
    ) -> dict[str, Any]:
        """Active alerts (not closed or superseded; ``status`` picks one status) across
        enterprises, highest risk score first (docs/enforcement.md), with their answers,
        assignee, answer deadline and escalation."""
        if status is not None and status not in STATUSES:
            msg = f"unknown status; expected one of {', '.join(STATUSES)}"
            raise InvalidRequest(msg, fields=(FieldError("query.status", msg),))
        ids = region_enterprises(ctx.registry, region)
        if enterprise_id is not None:
            ids = [enterprise_id] if ids is None or enterprise_id in ids else []
        ids = visibility(ctx, principal).narrow(ids)
        f = QueueFilter(enterprise_ids=ids, rule=rule,
                        statuses=(status,) if status else QueueFilter().statuses,
                        assignee=parse_assignee(assignee, principal))
        key = QUEUE_CURSOR.decode(cursor)
        as_of, after = (datetime.now(UTC), None) if key is None else (key[0], (key[1], key[2]))
        async with connect(ctx) as conn:
            rows, last = await queue_page(conn, f, as_of=as_of, limit=limit, after=after)
            listings = await active_listings(
                conn, sorted({r["enterprise_id"] for r in rows if r["enterprise_id"]}), today_cst())
        nxt = None if last is None else QUEUE_CURSOR.encode(as_of, *last)
        return {"as_of": iso(as_of), "items": [queue_item(ctx.registry, r, listings) for r in rows],
                "next_cursor": nxt}

    @router.post("/queue/{alert_id}/claim")
    async def post_claim(principal: Annotated[Principal, Depends(officers)],
                         alert_id: AlertId) -> dict[str, Any]:
        """Take the alert: you become its assignee unless another officer holds it (409).
        An open alert is acknowledged by the claim."""
        async with connect(ctx) as conn:
            state = await claim(conn, alert_id, await actor_of(conn, principal),
                                scope=visibility(ctx, principal).enterprises)
        actions.labels("claim").inc()
        return state_out(state)

    @router.post("/alerts/{alert_id}/transitions")
    async def post_transition(principal: Annotated[Principal, Depends(officers)],
                              alert_id: AlertId, body: TransitionIn) -> dict[str, Any]:
        """Move the alert along its lifecycle; 409 lists the actions its status allows, or
        says why the enterprise has not been heard yet (``reason``, ``allowed_at``) or why
        a first offence does not qualify."""
        async with connect(ctx) as conn:
            state = await transition(conn, alert_id, body.action, await actor_of(conn, principal),
                                     reason=body.reason, disposition=body.disposition,
                                     params=ctx.workflow, on_confirmed=ctx.on_confirmed,
                                     scope=visibility(ctx, principal).enterprises)
        actions.labels(body.action).inc()
        return state_out(state)

    @router.post("/alerts/{alert_id}/comments", status_code=201)
    async def post_comment(principal: Annotated[Principal, Depends(officers)],
                           alert_id: AlertId, body: CommentIn) -> dict[str, Any]:
        """Add a note; ``public`` notes are shown to the enterprise."""
        async with connect(ctx) as conn:
            row = await add_comment(conn, alert_id, await actor_of(conn, principal), body.text,
                                    public=body.public, scope=visibility(ctx, principal).enterprises)
        actions.labels("comment").inc()
        return comment_out(row)

    @router.post("/alerts/{alert_id}/assign")
    async def post_assign(principal: Annotated[Principal, Depends(officers)],
                          alert_id: AlertId, body: AssignIn) -> dict[str, Any]:
        """Give the alert to a live officer (or admin) token, or release it (null)."""
        async with connect(ctx) as conn:
            state = await assign(conn, alert_id, await actor_of(conn, principal),
                                 body.assignee_token_id, reason=body.reason,
                                 scope=visibility(ctx, principal).enterprises)
        actions.labels("assign").inc()
        return state_out(state)

    @router.get("/alerts/{alert_id}/audit")
    async def get_audit(principal: Annotated[Principal, Depends(readers)],
                        alert_id: AlertId) -> dict[str, Any]:
        """The alert's trail, oldest first. An enterprise sees its own alert's public
        events, without the token ids and labels of the officers who acted."""
        scope = enterprise_scope(principal)
        async with connect(ctx) as conn:
            await fetch_state(conn, alert_id, scope=visibility(ctx, principal).enterprises)
            events = await audit_trail(conn, alert_id, viewer_enterprise=scope)
        return {"alert_id": alert_id, "items": [event_out(e) for e in events]}

    @router.post("/alerts/{alert_id}/answers", status_code=201)
    async def post_answer(principal: Annotated[Principal, Depends(enterprises)],
                          alert_id: AlertId, body: AnswerIn) -> dict[str, Any]:
        """The enterprise answers its alert: an explanation, declared maintenance (with a
        window it also creates a maintenance row) or rectification done."""
        window = None if body.maintenance is None else MaintenanceWindow(
            body.maintenance.device_id, body.maintenance.start, body.maintenance.end)
        async with connect(ctx) as conn:
            await fetch_state(conn, alert_id, scope=visibility(ctx, principal).enterprises)
            row = await submit_answer(conn, alert_id, await actor_of(conn, principal), body.kind,
                                      body.text, attachments=body.attachments, maintenance=window,
                                      policy=ctx.workflow.maintenance)
        actions.labels("answer").inc()
        return answer_out(row)

    @router.get("/alerts/{alert_id}/answers")
    async def get_answers(principal: Annotated[Principal, Depends(readers)],
                          alert_id: AlertId) -> dict[str, Any]:
        """The alert's answers, oldest first. An officer (or admin) reading them is recorded
        (``answers_read``): the right to be heard counts them as seen from then."""
        async with connect(ctx) as conn:
            await fetch_state(conn, alert_id, scope=visibility(ctx, principal).enterprises)
            if principal.role in ("officer", "admin"):
                await record_answers_read(conn, alert_id, await actor_of(conn, principal))
            answers = (await answers_of(conn, [alert_id])).get(alert_id, [])
        return {"alert_id": alert_id, "items": [answer_out(a) for a in answers]}

    @router.get("/labels")
    async def get_labels(
        principal: Annotated[Principal, Depends(officers)],
        rule: str | None = None,
        disposition: Annotated[str | None, Query(
            pattern=("^(case_filed|rectification_ordered|explanation_accepted|false_alarm"
                     "|first_offence_no_penalty)$"))] = None,
        since: Annotated[AwareDatetime | None, Query(description="closed at or after")] = None,
        until: Annotated[AwareDatetime | None, Query(description="closed before")] = None,
        limit: Limit = DEFAULT_LIMIT,
        cursor: str | None = None,
    ) -> dict[str, Any]:
        """Closed alerts with their disposition and reason, newest first: the outcome of
        each finding, for measuring and tuning detectors (``disposition=false_alarm``
        for the false alarms)."""
        after = _LABELS_CURSOR.decode_one(cursor)
        async with connect(ctx) as conn:
            rows, last = await list_labels(conn, rule=rule, disposition=disposition, since=since,
                                           until=until, limit=limit, after_id=after,
                                           enterprise_ids=visibility(ctx, principal).enterprises)
        items = [{
            "alert_id": r["id"], "rule": r["rule"], "subject": r["subject"],
            "enterprise_id": r["enterprise_id"], "device_ids": list(r["device_ids"]),
            "start": iso(r["start_ts"]), "end": iso_or_none(r["end_ts"]),
            "severity": r["severity"], "params": r["params"], "label": r["disposition"],
            "reason": r["disposition_reason"], "closed_at": iso_or_none(r["closed_at"]),
            "repeat_count": r["repeat_count"],
        } for r in rows]
        return {"items": items,
                "next_cursor": None if last is None else _LABELS_CURSOR.encode(last)}

    return router
