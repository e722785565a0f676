"""Working an alert: transitions, claims, assignment, comments.

Every function runs in its own transaction (a savepoint when the caller already has
one), locks the alert row (``SELECT ... FOR UPDATE``) before reading its state, and
appends the audit event in the same transaction as the change. Two officers acting
on one alert at once are therefore serialised: the second sees the first's result
(e.g. :class:`~alerts.errors.AlreadyClaimed`, or an
:class:`~alerts.errors.IllegalTransition` listing what is still allowed).

Every function takes the ``scope`` of what its caller may see (:func:`in_scope`): an alert
outside it is :class:`~alerts.errors.AlertNotFound`, exactly like an absent one, and nothing
is changed.

``dispatch`` of an alert whose enterprise was on a positive list when it started is refused
(:class:`~alerts.errors.RemoteVerificationRequired`) until a remote verification is recorded
(:mod:`alerts.offsite`).

``confirm`` is refused (:class:`~alerts.errors.HearingPending`) until the enterprise has
been heard (:mod:`alerts.hearing`), judged under the row lock at the database's clock (or
``now``, for tests); with ``first_offence_no_penalty`` it also needs the checks of
:mod:`alerts.first_offence` (:class:`~alerts.errors.FirstOffenceRefused`).

Assignment is to an officer's API token (its id), not to a free-text name: a token
is what the service can verify (live, role officer or admin), what the queue's
``assignee=me`` filter and a claim compare, and its label (e.g. "Zhang Wei,
Shijiazhuang bureau") is the human name, copied into ``assignee_label`` and into the
audit trail when the assignment is made.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row

from ecowarn.alerts._rectification_trail import withdraw_with_alert
from ecowarn.alerts.audit import record_event
from ecowarn.alerts.errors import (
    AlertNotFound,
    AlreadyClaimed,
    FirstOffenceRefused,
    HearingPending,
    IllegalTransition,
    InvalidWorkflowInput,
    RemoteVerificationRequired,
)
from ecowarn.alerts.first_offence import check_first_offence
from ecowarn.alerts.hearing import Hearing, assess
from ecowarn.alerts.model import (
    ACTIONS,
    CONFIRM_DISPOSITIONS,
    FINAL_STATUSES,
    FIRST_OFFENCE,
    PUBLIC_ACTIONS,
    TRANSITIONS,
    Actor,
    ConfirmHook,
    WorkflowParams,
    allowed_actions,
    dispositions_after,
    no_confirm_hook,
)
from ecowarn.alerts.offsite import LISTS_SQL, RESULTS_SQL, OffSite
from ecowarn.alerts.offsite import assess as assess_off_site

__all__ = ["AlertState", "add_comment", "assign", "claim", "fetch_state", "in_scope", "transition"]

MAX_TEXT = 5000

_STATE_COLUMNS = (
    "id, rule, severity, enterprise_id, device_ids, status, assignee_token, assignee_label,"
    " claimed_at, acknowledged_at, dispatched_at, due_at, decided_at, closed_at, disposition,"
    " disposition_reason, escalated_at, escalation_level, repeat_count, last_repeat_at, start_ts,"
    " now() AS as_of,"
    " ARRAY(SELECT created_at FROM alert_answers s WHERE s.alert_id = alerts.id ORDER BY s.id)"
    "   AS answers_created,"
    " ARRAY(SELECT first_read_at FROM alert_answers s WHERE s.alert_id = alerts.id ORDER BY s.id)"
    "   AS answers_read,"
    f" {LISTS_SQL} AS positive_lists, {RESULTS_SQL} AS remote_results"
)


@dataclass(frozen=True, slots=True)
class AlertState:
    """An alert's workflow state (the columns of 0003), with what the hearing is judged
    on: each answer's ``(created_at, first_read_at)`` and the database's clock when read
    (``as_of``, the transaction's start)."""

    id: int
    rule: str
    severity: str
    enterprise_id: str | None
    device_ids: tuple[str, ...]
    status: str
    assignee_token: int | None
    assignee_label: str | None
    claimed_at: datetime | None
    acknowledged_at: datetime | None
    dispatched_at: datetime | None
    due_at: datetime | None
    decided_at: datetime | None
    closed_at: datetime | None
    disposition: str | None
    disposition_reason: str | None
    escalated_at: datetime | None
    escalation_level: int
    repeat_count: int
    last_repeat_at: datetime | None
    start_ts: datetime
    as_of: datetime
    answer_times: tuple[tuple[datetime, datetime | None], ...]
    positive_lists: tuple[str, ...] = ()
    remote_results: tuple[str, ...] = ()

    @property
    def off_site(self) -> OffSite:
        """Off-site handling first: the lists its enterprise was on when it started, and
        whether a remote verification is still needed before dispatch."""
        return assess_off_site(self.positive_lists, self.remote_results)

    @property
    def allowed_actions(self) -> tuple[str, ...]:
        return allowed_actions(self.status)

    @property
    def hearing(self) -> Hearing:
        """The right to be heard as of when the state was read (:func:`hearing_at`)."""
        return self.hearing_at(None)

    def hearing_at(self, now: datetime | None) -> Hearing:
        """The right to be heard at ``now`` (default: ``as_of``, the database's clock)."""
        return assess(self.due_at, self.answer_times, self.as_of if now is None else now)


def _state(row: dict[str, Any]) -> AlertState:
    created, read = row.pop("answers_created"), row.pop("answers_read")
    return AlertState(**{**row, "id": int(row["id"]), "device_ids": tuple(row["device_ids"]),
                         "answer_times": tuple(zip(created, read, strict=True)),
                         "positive_lists": tuple(row["positive_lists"]),
                         "remote_results": tuple(row["remote_results"])})


def in_scope(enterprise_id: str | None, scope: str | Collection[str] | None) -> bool:
    """Whether an alert of ``enterprise_id`` is within ``scope``: None (everything), one
    enterprise id, or a collection of them (a region-limited officer's enterprises)."""
    if scope is None:
        return True
    if isinstance(scope, str):
        return enterprise_id == scope
    return enterprise_id is not None and enterprise_id in scope


async def fetch_state(conn: psycopg.AsyncConnection[Any], alert_id: int, *,
                      scope: str | Collection[str] | None = None, lock: bool = False,
                      ) -> AlertState:
    """The alert's workflow state; :class:`AlertNotFound` when absent or outside ``scope``
    (see :func:`in_scope`)."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(f"SELECT {_STATE_COLUMNS} FROM alerts WHERE id = %s"
                          + (" FOR UPDATE" if lock else ""), (alert_id,))
        row = await cur.fetchone()
    if row is None or not in_scope(row["enterprise_id"], scope):
        raise AlertNotFound(alert_id)
    return _state(row)


def _clean(text: str | None, field: str) -> str | None:
    if text is None:
        return None
    text = text.strip()
    if len(text) > MAX_TEXT:
        raise InvalidWorkflowInput(field, f"at most {MAX_TEXT} characters")
    return text or None


def _check_close(state: AlertState, disposition: str | None, reason: str | None) -> None:
    allowed = dispositions_after(state.status, state.disposition)
    if disposition is None:
        raise InvalidWorkflowInput(
            "body.disposition", f"closing a {state.status} alert needs a disposition: "
                                f"{' or '.join(allowed)}")
    if disposition not in allowed:
        hint = (" (it is given with the confirmation)" if disposition == FIRST_OFFENCE
                and state.status == "confirmed" else "")
        raise InvalidWorkflowInput(
            "body.disposition", f"{disposition!r} does not close this {state.status} alert"
                                f"{hint}; use {' or '.join(allowed)}")
    if disposition == "false_alarm" and reason is None:
        raise InvalidWorkflowInput("body.reason", "a false alarm needs a reason (it becomes "
                                                  "a label for tuning the detector)")


def _check_disposition(action: str, disposition: str | None) -> None:
    """A disposition on an action other than close: only confirm takes one (首违不罚)."""
    if disposition is None:
        return
    if action != "confirm":
        raise InvalidWorkflowInput("body.disposition", "only confirm (first_offence_no_penalty) "
                                                       "and close take a disposition")
    if disposition not in CONFIRM_DISPOSITIONS:
        raise InvalidWorkflowInput(
            "body.disposition", f"confirm takes no disposition but {' or '.join(CONFIRM_DISPOSITIONS)}; "
                                f"{disposition!r} is given when the alert is closed")


async def _check_confirm(conn: psycopg.AsyncConnection[Any], state: AlertState,
                         disposition: str | None, params: WorkflowParams,
                         now: datetime | None) -> None:
    """The enterprise has been heard, and a first offence qualifies as one."""
    hearing = state.hearing_at(now)
    if not hearing.satisfied:
        raise HearingPending(state.id, state.status, hearing, state.allowed_actions)
    if disposition == FIRST_OFFENCE:
        check = await check_first_offence(
            conn, alert_id=state.id, enterprise_id=state.enterprise_id, rule=state.rule,
            start=state.start_ts, params=params)
        if not check.eligible:
            raise FirstOffenceRefused(state.id, state.status, rule=state.rule, failed=check.failed,
                                      window_months=check.window_months,
                                      prior_entries=check.prior_entries,
                                      allowed=state.allowed_actions)


async def transition(
    conn: psycopg.AsyncConnection[Any], alert_id: int, action: str, actor: Actor, *,
    reason: str | None = None, disposition: str | None = None,
    params: WorkflowParams | None = None, on_confirmed: ConfirmHook = no_confirm_hook,
    scope: str | Collection[str] | None = None, now: datetime | None = None,
    reason_code: str | None = None,
) -> AlertState:
    """Take ``action`` on the alert; returns its new state.

    ``reason_code`` (one of :data:`alerts.audit.SYSTEM_REASONS`) is a reason the system gives
    for a step it takes on its own (a rectification order dispatching the alert); it takes
    the place of ``reason`` in the trail.

    Raises :class:`AlertNotFound` outside ``scope``; :class:`IllegalTransition` (with the
    allowed actions) when the current status forbids it; :class:`InvalidWorkflowInput`
    for a missing reason (dismiss, false alarm) or a disposition that does not fit;
    on ``confirm``, :class:`HearingPending` before the enterprise was heard (judged at
    ``now``, default the database's clock) and :class:`FirstOffenceRefused` for a first
    offence that does not qualify; on ``dispatch`` of a positive-listed firm's alert,
    :class:`RemoteVerificationRequired` until a remote verification is recorded.
    ``on_confirmed`` runs inside the transaction on ``confirm``, with the disposition; if it
    raises, nothing is changed.
    """
    if action not in ACTIONS:
        raise InvalidWorkflowInput("body.action", f"unknown action {action!r}; "
                                                  f"expected one of {', '.join(ACTIONS)}")
    reason = _clean(reason, "body.reason")
    params = params or WorkflowParams()
    async with conn.transaction():
        state = await fetch_state(conn, alert_id, scope=scope, lock=True)
        target = TRANSITIONS.get(state.status, {}).get(action)
        if target is None:
            raise IllegalTransition(alert_id, state.status, action, state.allowed_actions)
        if action == "close":
            _check_close(state, disposition, reason)
        else:
            _check_disposition(action, disposition)
        if action == "dismiss" and reason is None:
            raise InvalidWorkflowInput("body.reason", "a dismissal needs a reason")
        if state.off_site.blocks(action):
            raise RemoteVerificationRequired(alert_id, state.status, action, state.off_site,
                                             state.allowed_actions)
        if action == "confirm":
            await _check_confirm(conn, state, disposition, params, now)
        sets = ["status = %s", "updated_at = now()"]
        values: list[Any] = [target]
        if action == "acknowledge":
            sets.append("acknowledged_at = now()")
        elif action == "dispatch":
            sets += ["dispatched_at = now()", "due_at = now() + %s"]
            values.append(params.answer_deadline(state.rule, state.severity))
        elif action == "dismiss":
            # Dismissing an alert under rectification withdraws the rectification with it.
            sets += ["decided_at = now()", "rectifying_from = NULL"]
            await withdraw_with_alert(conn, alert_id, actor, reason=reason,
                                      alert_status="dismissed")
        elif action == "confirm":
            sets += ["decided_at = now()", "disposition = %s"]
            values.append(disposition)
        else:  # close
            sets += ["closed_at = now()", "disposition = %s", "disposition_reason = %s"]
            values += [disposition, reason]
        await conn.execute(f"UPDATE alerts SET {', '.join(sets)} WHERE id = %s",
                           (*values, alert_id))
        await record_event(conn, alert_id, "transition", actor, public=action in PUBLIC_ACTIONS,
                           action=action, from_status=state.status, to_status=target,
                           reason=reason, disposition=disposition, reason_code=reason_code)
        if action == "confirm":
            await on_confirmed(conn, alert_id, actor, disposition=disposition)
        return await fetch_state(conn, alert_id)


async def claim(conn: psycopg.AsyncConnection[Any], alert_id: int, actor: Actor, *,
                scope: str | Collection[str] | None = None) -> AlertState:
    """Make ``actor`` the alert's assignee unless another token holds it.

    Claiming again is a no-op. Claiming an ``open`` alert also acknowledges it (the
    officer has seen it and takes it up), so it stops escalating. Raises
    :class:`AlreadyClaimed` when another token holds it, :class:`IllegalTransition`
    when the alert is closed or superseded.
    """
    if actor.token_id is None:
        raise InvalidWorkflowInput("assignee", "only a token can claim an alert")
    async with conn.transaction():
        state = await fetch_state(conn, alert_id, scope=scope, lock=True)
        if state.status in FINAL_STATUSES:
            raise IllegalTransition(alert_id, state.status, "claim", ())
        if state.assignee_token == actor.token_id:
            return state
        if state.assignee_token is not None:
            raise AlreadyClaimed(alert_id, state.status, state.assignee_token,
                                 state.assignee_label or "")
        await conn.execute(
            "UPDATE alerts SET assignee_token = %s, assignee_label = %s, claimed_at = now(),"
            " updated_at = now() WHERE id = %s", (actor.token_id, actor.label, alert_id))
        await record_event(conn, alert_id, "claim", actor, public=False,
                           data={"assignee": {"token_id": actor.token_id, "label": actor.label}})
        if state.status == "open":
            await conn.execute(
                "UPDATE alerts SET status = 'acknowledged', acknowledged_at = now() WHERE id = %s",
                (alert_id,))
            await record_event(conn, alert_id, "transition", actor, public=False,
                               action="acknowledge", from_status="open", to_status="acknowledged",
                               reason_code="claimed")
        return await fetch_state(conn, alert_id)


async def _assignee(conn: psycopg.AsyncConnection[Any], token_id: int) -> str:
    cur = await conn.execute(
        "SELECT role, label FROM api_tokens WHERE id = %s AND revoked_at IS NULL"
        " AND (expires_at IS NULL OR expires_at > now())", (token_id,))
    row = await cur.fetchone()
    if row is None or row[0] not in ("officer", "admin"):
        raise InvalidWorkflowInput("body.assignee_token_id",
                                   f"token {token_id} is not a live officer or admin token")
    return str(row[1])


async def assign(conn: psycopg.AsyncConnection[Any], alert_id: int, actor: Actor,
                 assignee_token_id: int | None, *, reason: str | None = None,
                 scope: str | Collection[str] | None = None) -> AlertState:
    """Give the alert to an officer's token (``None`` releases it), overriding a claim.

    The assignee must be a live officer or admin token. Assigning the current
    assignee again changes nothing.
    """
    reason = _clean(reason, "body.reason")
    async with conn.transaction():
        state = await fetch_state(conn, alert_id, scope=scope, lock=True)
        label = None if assignee_token_id is None else await _assignee(conn, assignee_token_id)
        if state.status in FINAL_STATUSES:
            raise IllegalTransition(alert_id, state.status, "assign", ())
        if state.assignee_token == assignee_token_id:
            return state
        await conn.execute(
            "UPDATE alerts SET assignee_token = %s, assignee_label = %s,"
            " claimed_at = CASE WHEN %s::bigint IS NULL THEN NULL ELSE now() END,"
            " updated_at = now() WHERE id = %s",
            (assignee_token_id, label, assignee_token_id, alert_id))
        before = (None if state.assignee_token is None
                  else {"token_id": state.assignee_token, "label": state.assignee_label})
        after = None if assignee_token_id is None else {"token_id": assignee_token_id,
                                                        "label": label}
        await record_event(conn, alert_id, "assign", actor, public=False, reason=reason,
                           data={"from": before, "to": after})
        return await fetch_state(conn, alert_id)


async def add_comment(conn: psycopg.AsyncConnection[Any], alert_id: int, actor: Actor,
                      text: str, *, public: bool = False,
                      scope: str | Collection[str] | None = None) -> dict[str, Any]:
    """Attach an officer's note; ``public`` notes are shown to the enterprise."""
    body = _clean(text, "body.text")
    if body is None:
        raise InvalidWorkflowInput("body.text", "a comment needs text")
    if actor.token_id is None:
        raise InvalidWorkflowInput("author", "only a token can comment")
    async with conn.transaction():
        await fetch_state(conn, alert_id, scope=scope)
        async with conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(
                "INSERT INTO alert_comments (alert_id, author_token, author_role, author_label,"
                " body, public) VALUES (%s, %s, %s, %s, %s, %s)"
                " RETURNING id, alert_id, author_token, author_role, author_label, body, public,"
                " created_at",
                (alert_id, actor.token_id, actor.role, actor.label, body, public))
            row = await cur.fetchone()
        assert row is not None
        await record_event(conn, alert_id, "comment", actor, public=public,
                           data={"comment_id": row["id"], "text": body})
    return row
