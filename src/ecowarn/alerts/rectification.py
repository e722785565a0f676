"""Rectification (整改) to closure: the ledger of what an enterprise was ordered to correct.

::

    ordered ──submit──► submitted ──verify──► verified
       │                 │  ▲ │
       │                 └──┘ submit again
       └─────reject──────┴──────reject──────► rejected

An officer orders a rectification on an alert that is ``dispatched`` or ``confirmed``,
with a due time (in the future) and requirements. The alert becomes ``rectifying``
(``rectifying_from`` keeps where it was) and stays open: the enterprise's answers are still
taken. The enterprise submits text and files (:mod:`store.attachments`) while the
rectification is ``ordered`` or ``submitted``; every submission is kept in the hash chain
by the caller's :class:`DocumentKeeper` (the HTTP layer freezes it as an evidence
package of kind ``rectification_submission``). An officer verifies a ``submitted``
rectification or rejects an ``ordered`` or ``submitted`` one, with a reason; either returns
the alert to ``rectifying_from``, so the officer can then confirm it (``first_offence_no_penalty``
needs a verified rectification) or close it.

A verification may carry a data check (:func:`data_check`): whether the alert's rule fired
again for the same enterprise and subject in the last N days (other alerts starting in the
window, repeat episodes starting in it, or this alert's own episode not ended). A check
that finds a recurrence refuses the verification (409, with the check) unless ``force`` is
given; the check is stored with the rectification either way it is verified.

An alert that leaves the workflow with a rectification in progress (dismissed by an officer,
superseded by the detector runner) ends it ``withdrawn`` (migration 0011): the caller calls
:func:`withdraw_with_alert` in the transaction that changes the alert.

Overdue: a rectification still ``ordered`` or ``submitted`` when its due time passes is
overdue (``overdue`` in every row). :func:`mark_overdue` (called periodically) records it
once: ``overdue_at``, an ``overdue`` event and an ``escalated`` alert event raising the
alert's escalation level by one. :func:`due_soon` and :func:`mark_reminded` serve the
reminder sent to the enterprise before the due time.

Every change runs in one transaction (a savepoint inside the caller's) that locks the alert
row, then the rectification row (the order every writer here and the alert lifecycle use),
and appends both trails: ``rectification_events`` and the alert's ``alert_events`` (kind
``rectification``, public; ``escalated`` for an overdue one, internal).

Errors (``alerts.errors`` subclasses, so the HTTP layer maps them): :class:`RectificationNotFound`
and :class:`AttachmentNotFound` (404, exactly like an absent id for what the actor may not
see), :class:`RectificationConflict` (409), :class:`RectificationInputError` (422). Each
carries its reason in Chinese (``detail_zh``).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Protocol

import psycopg
from psycopg.rows import dict_row

from ecowarn.alerts._rectification_trail import rectification_event as _event
from ecowarn.alerts._rectification_trail import withdraw_with_alert
from ecowarn.alerts.audit import record_event
from ecowarn.alerts.errors import AlertNotFound, InvalidWorkflowInput, WorkflowConflict, WorkflowError
from ecowarn.alerts.lifecycle import MAX_TEXT, AlertState, fetch_state, in_scope, transition
from ecowarn.alerts.model import Actor, WorkflowParams
from ecowarn.i18n import catalog, label, rule_name
from ecowarn.store.attachments import AttachmentRejected, Upload, store_uploads

__all__ = [
    "DATA_CHECK_MAX_DAYS",
    "DECIDED",
    "IN_PROGRESS",
    "MAX_REFERENCES",
    "ORDERABLE_FROM",
    "REFERENCE_LENGTH",
    "STATUSES",
    "SYSTEM_RECTIFICATION",
    "AttachmentNotFound",
    "DocumentKeeper",
    "RectificationConflict",
    "RectificationFilter",
    "RectificationInputError",
    "RectificationNotFound",
    "data_check",
    "due_soon",
    "events_of",
    "fetch_rectification",
    "has_verified_rectification",
    "list_rectifications",
    "mark_overdue",
    "mark_reminded",
    "order_rectification",
    "reject",
    "submissions_of",
    "submit",
    "verify",
    "withdraw_with_alert",
]

log = logging.getLogger(__name__)

STATUSES: Final = ("ordered", "submitted", "verified", "rejected", "withdrawn")
IN_PROGRESS: Final = ("ordered", "submitted")
# Ended: decided by an officer, or withdrawn with its alert (dismissed, superseded).
DECIDED: Final = ("verified", "rejected", "withdrawn")
# Alert statuses a rectification can be ordered from (and that the alert returns to).
ORDERABLE_FROM: Final = ("dispatched", "confirmed")
# Statuses from which ordering a rectification dispatches the alert first.
DISPATCHED_BY_ORDER: Final = ("open", "acknowledged")
DATA_CHECK_MAX_DAYS: Final = 365
# Attachment references (document ids or URLs filed elsewhere), as alert answers take them.
MAX_REFERENCES: Final = 20
REFERENCE_LENGTH: Final = 500

SYSTEM_RECTIFICATION: Final = Actor(token_id=None, role="system", label="rectification")

_EN = catalog("en", "RECTIFICATION")
_ZH = catalog("zh", "RECTIFICATION")
# Actions possible on a rectification in each status (what a 409 lists).
_ALLOWED: Final[Mapping[str, tuple[str, ...]]] = {
    "ordered": ("submit", "reject"), "submitted": ("submit", "verify", "reject"),
    "verified": (), "rejected": (), "withdrawn": (),
}

_COLUMNS = (
    "r.id, r.alert_id, r.enterprise_id, r.rule, r.status, r.requirements, r.due_at,"
    " r.ordered_by_token, r.ordered_by_label, r.created_at, r.updated_at, r.submitted_at,"
    " r.decided_at, r.decided_by_token, r.decided_by_label, r.decision_reason, r.data_check,"
    " r.overdue_at, r.reminded_at, a.subject, a.status AS alert_status,"
    " (r.status IN ('ordered', 'submitted')"
    "  AND (r.due_at <= %(now)s OR r.overdue_at IS NOT NULL)) AS overdue,"
    " (SELECT count(*) FROM rectification_submissions s WHERE s.rectification_id = r.id)"
    " AS submission_count"
    " FROM rectifications r JOIN alerts a ON a.id = r.alert_id"
)
_SUBMISSION_COLUMNS = (
    "id, rectification_id, body, attachments, evidence_id, author_token, author_label, created_at")


def _st(status: str, lang: str) -> str:
    table = _ZH if lang == "zh" else _EN
    return table.get(f"st_{status}", status)


# --- errors -------------------------------------------------------------------------------

class RectificationNotFound(AlertNotFound):
    """No rectification with this id, or one the actor may not see (not disclosed). A kind
    of :class:`AlertNotFound` so that it is a 404 like one; ``alert_id`` is not known."""

    def __init__(self, rectification_id: int, *, key: str = "not_found") -> None:
        WorkflowError.__init__(self, _EN[key].format(id=rectification_id))
        self.alert_id = 0
        self.rectification_id = rectification_id
        self.detail_zh = _ZH[key].format(id=rectification_id)


class AttachmentNotFound(RectificationNotFound):
    """No stored file with this id, or one of an enterprise the actor may not see."""

    def __init__(self, attachment_id: int) -> None:
        super().__init__(attachment_id, key="attachment_not_found")


class RectificationConflict(WorkflowConflict):
    """The state of the rectification or its alert forbids the request (409). ``status``
    and ``allowed`` are the rectification's (or, when ordering, the alert's); ``values``
    fill the message of ``key`` (``zh`` overrides them in Chinese); ``extra`` adds members
    to the error body (the data check that refused a verification)."""

    def __init__(self, key: str, *, alert_id: int, status: str, allowed: Sequence[str] = (),
                 values: Mapping[str, Any] | None = None, zh: Mapping[str, Any] | None = None,
                 extra: dict[str, Any] | None = None) -> None:
        values = dict(values or {})
        super().__init__(_EN[key].format(**values), alert_id=alert_id, status=status,
                         allowed=allowed)
        self.detail_zh = _ZH[key].format(**{**values, **(zh or {})})
        self.extra = extra or {}


class RectificationInputError(InvalidWorkflowInput):
    """A value of the request that cannot be taken (422), naming its field."""

    def __init__(self, field: str, key: str, *, area: str = "RECTIFICATION", **values: Any) -> None:
        super().__init__(field, catalog("en", area)[key].format(**values))
        self.detail_zh = f"{field}：{catalog('zh', area)[key].format(**values)}"

    @classmethod
    def from_rejected(cls, exc: AttachmentRejected) -> RectificationInputError:
        """The 422 of an upload the store refused (its field, both languages)."""
        err = cls.__new__(cls)
        InvalidWorkflowInput.__init__(err, exc.field, exc.message)
        err.detail_zh = f"{exc.field}：{exc.message_zh}"
        return err


# --- reading ------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class RectificationFilter:
    """What a list shows: enterprises (None: all), statuses (None: all), overdue or not
    (None: both), one alert's."""

    enterprise_ids: Sequence[str] | None = None
    statuses: Sequence[str] | None = None
    overdue: bool | None = None
    alert_id: int | None = None


def _now(now: datetime | None) -> datetime:
    return now if now is not None else datetime.now(UTC)


async def _rows(conn: psycopg.AsyncConnection[Any], where: str, params: dict[str, Any],
                tail: str = "") -> list[dict[str, Any]]:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(f"SELECT {_COLUMNS} WHERE {where}{tail}", params)
        return await cur.fetchall()


async def fetch_rectification(conn: psycopg.AsyncConnection[Any], rectification_id: int, *,
                              scope: str | Collection[str] | None = None,
                              now: datetime | None = None) -> dict[str, Any]:
    """One rectification (with ``overdue``, ``subject``, ``alert_status`` and
    ``submission_count``); :class:`RectificationNotFound` when absent or outside ``scope``
    (None: everything; an enterprise id or a collection of them)."""
    rows = await _rows(conn, "r.id = %(id)s", {"id": rectification_id, "now": _now(now)})
    if not rows or not in_scope(rows[0]["enterprise_id"], scope):
        raise RectificationNotFound(rectification_id)
    return rows[0]


async def list_rectifications(conn: psycopg.AsyncConnection[Any], f: RectificationFilter, *,
                              limit: int, after_id: int | None = None, now: datetime | None = None,
                              ) -> tuple[list[dict[str, Any]], int | None]:
    """Rectifications matching ``f``, newest first, keyset-paged by id; returns the page
    and the id to continue after (None on the last page)."""
    where = ["true"]
    params: dict[str, Any] = {"now": _now(now), "limit": limit + 1}
    if f.enterprise_ids is not None:
        where.append("r.enterprise_id = ANY(%(enterprises)s)")
        params["enterprises"] = list(f.enterprise_ids)
    if f.statuses is not None:
        where.append("r.status = ANY(%(statuses)s)")
        params["statuses"] = list(f.statuses)
    if f.overdue is not None:
        where.append(("" if f.overdue else "NOT ") + "(r.status IN ('ordered', 'submitted')"
                     " AND (r.due_at <= %(now)s OR r.overdue_at IS NOT NULL))")
    if f.alert_id is not None:
        where.append("r.alert_id = %(alert_id)s")
        params["alert_id"] = f.alert_id
    if after_id is not None:
        where.append("r.id < %(after)s")
        params["after"] = after_id
    rows = await _rows(conn, " AND ".join(where), params, " ORDER BY r.id DESC LIMIT %(limit)s")
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (int(rows[-1]["id"]) if more else None)


async def submissions_of(conn: psycopg.AsyncConnection[Any],
                         rectification_id: int) -> list[dict[str, Any]]:
    """The rectification's submissions, oldest first."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(f"SELECT {_SUBMISSION_COLUMNS} FROM rectification_submissions"
                          " WHERE rectification_id = %s ORDER BY id", (rectification_id,))
        return await cur.fetchall()


async def events_of(conn: psycopg.AsyncConnection[Any],
                    rectification_id: int) -> list[dict[str, Any]]:
    """The rectification's trail, oldest first."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "SELECT id, action, actor_role, actor_token, actor_label, reason, data, at"
            " FROM rectification_events WHERE rectification_id = %s ORDER BY id",
            (rectification_id,))
        return await cur.fetchall()


async def has_verified_rectification(conn: psycopg.AsyncConnection[Any], alert_id: int) -> bool:
    """Whether a rectification of the alert was verified (a condition of 首违不罚)."""
    cur = await conn.execute("SELECT EXISTS (SELECT 1 FROM rectifications WHERE alert_id = %s"
                             " AND status = 'verified')", (alert_id,))
    row = await cur.fetchone()
    return bool(row and row[0])


# --- writing ------------------------------------------------------------------------------

def _text(value: str, field: str, key: str) -> str:
    text = value.strip()
    if not text or len(text) > MAX_TEXT:
        raise RectificationInputError(field, key, max=MAX_TEXT)
    return text


async def _db_now(conn: psycopg.AsyncConnection[Any]) -> datetime:
    cur = await conn.execute("SELECT now()")
    row = await cur.fetchone()
    assert row is not None
    value: datetime = row[0]
    return value


async def order_rectification(conn: psycopg.AsyncConnection[Any], alert_id: int, actor: Actor, *,
                              due: datetime, requirements: str,
                              scope: str | Collection[str] | None = None,
                              params: WorkflowParams | None = None) -> dict[str, Any]:
    """Order a rectification of the alert, due at ``due`` (must be in the future); returns it.

    The alert must be ``dispatched`` or ``confirmed`` and have no rectification in
    progress (:class:`RectificationConflict` otherwise); it becomes ``rectifying``. An
    ``open`` or ``acknowledged`` alert is dispatched first, in the same transaction (the
    order tells the enterprise, so its answer deadline starts too; ``params`` gives it).
    An alert outside ``scope`` is :class:`AlertNotFound`.
    """
    text = _text(requirements, "body.requirements", "requirements")
    async with conn.transaction():
        state = await fetch_state(conn, alert_id, scope=scope, lock=True)
        if due <= await _db_now(conn):
            raise RectificationInputError("body.due", "due_past", due=due.isoformat())
        if state.status in DISPATCHED_BY_ORDER and state.enterprise_id is not None:
            steps = ("acknowledge", "dispatch") if state.status == "open" else ("dispatch",)
            for action in steps:
                state = await transition(conn, alert_id, action, actor, params=params, scope=scope,
                                         reason_code="rectification_ordered")
        cur = await conn.execute("SELECT id, status FROM rectifications WHERE alert_id = %s"
                                 " AND status IN ('ordered', 'submitted')", (alert_id,))
        current = await cur.fetchone()
        if current is not None:
            raise RectificationConflict(
                "in_progress", alert_id=alert_id, status=state.status,
                values={"alert_id": alert_id, "id": current[0], "state": _st(current[1], "en")},
                zh={"state": _st(current[1], "zh")}, extra={"rectification_id": int(current[0])})
        if state.status not in ORDERABLE_FROM:
            raise RectificationConflict(
                "alert_status", alert_id=alert_id, status=state.status,
                allowed=state.allowed_actions, values={"alert_id": alert_id, "state": state.status},
                zh={"state": label(state.status, "zh")})
        if state.enterprise_id is None:
            raise RectificationConflict("no_enterprise", alert_id=alert_id, status=state.status,
                                        values={"alert_id": alert_id})
        async with conn.cursor(row_factory=dict_row) as dcur:
            await dcur.execute(
                "INSERT INTO rectifications (alert_id, enterprise_id, rule, requirements, due_at,"
                " ordered_by_token, ordered_by_label) VALUES (%s, %s, %s, %s, %s, %s, %s)"
                " RETURNING id", (alert_id, state.enterprise_id, state.rule, text, due,
                                  actor.token_id, actor.label))
            row = await dcur.fetchone()
        assert row is not None
        rectification_id = int(row["id"])
        await conn.execute(
            "UPDATE alerts SET status = 'rectifying', rectifying_from = %s, updated_at = now()"
            " WHERE id = %s", (state.status, alert_id))
        await record_event(conn, alert_id, "rectification", actor, public=True, action="order",
                           from_status=state.status, to_status="rectifying",
                           data={"rectification_id": rectification_id, "due": due.isoformat(),
                                 "requirements": text})
        await _event(conn, rectification_id, "ordered", actor,
                     data={"due": due.isoformat(), "requirements": text,
                           "alert_status": state.status})
        log.info("rectification %s ordered on alert %s (%s), due %s", rectification_id, alert_id,
                 state.enterprise_id, due.isoformat())
        return await fetch_rectification(conn, rectification_id)


class DocumentKeeper(Protocol):
    """Keeps a filed document in the hash chain inside the caller's transaction and returns
    its evidence package id (the HTTP layer freezes it with ``credit.evidence``)."""

    async def __call__(self, conn: psycopg.AsyncConnection[Any], *, alert_id: int,
                       enterprise_id: str, body: dict[str, Any], actor: Actor) -> int: ...


async def _lock(conn: psycopg.AsyncConnection[Any], rectification_id: int,
                scope: str | Collection[str] | None) -> tuple[AlertState, dict[str, Any]]:
    """Lock the rectification's alert, then the rectification (the writers' lock order)."""
    cur = await conn.execute("SELECT alert_id, enterprise_id FROM rectifications WHERE id = %s",
                             (rectification_id,))
    found = await cur.fetchone()
    if found is None or not in_scope(found[1], scope):
        raise RectificationNotFound(rectification_id)
    state = await fetch_state(conn, int(found[0]), lock=True)
    await conn.execute("SELECT id FROM rectifications WHERE id = %s FOR UPDATE", (rectification_id,))
    return state, await fetch_rectification(conn, rectification_id)


def _decided(row: dict[str, Any]) -> RectificationConflict:
    status = str(row["status"])
    return RectificationConflict(
        "decided", alert_id=int(row["alert_id"]), status=status, allowed=_ALLOWED[status],
        values={"id": row["id"], "state": _st(status, "en")}, zh={"state": _st(status, "zh")})


async def submit(conn: psycopg.AsyncConnection[Any], rectification_id: int, actor: Actor, *,
                 text: str, keep: DocumentKeeper, uploads: Sequence[Upload] = (),
                 references: Sequence[str] = (), scope: str | Collection[str] | None = None,
                 files_field: str = "body.files") -> dict[str, Any]:
    """The enterprise submits what it did: text, files (stored with their SHA-256) and
    references to documents filed elsewhere. Allowed while ``ordered`` or ``submitted``
    (:class:`RectificationConflict` once decided). The submission, with each file's name,
    type, size and hash, is kept in the hash chain by ``keep``; returns the submission row
    (with ``evidence_id``). Files the store refuses are :class:`RectificationInputError`
    naming ``files_field[i]``."""
    body = _text(text, "body.text", "text")
    refs = [r.strip() for r in references]
    if len(refs) > MAX_REFERENCES or any(not r or len(r) > REFERENCE_LENGTH for r in refs):
        raise RectificationInputError("body.attachments", "references", max=MAX_REFERENCES,
                                      length=REFERENCE_LENGTH)
    async with conn.transaction():
        state, row = await _lock(conn, rectification_id, scope)
        if row["status"] not in IN_PROGRESS:
            raise _decided(row)
        enterprise_id = str(row["enterprise_id"])
        try:
            stored = await store_uploads(conn, uploads, enterprise_id=enterprise_id,
                                         uploaded_by=actor.token_id, field=files_field)
        except AttachmentRejected as exc:
            raise RectificationInputError.from_rejected(exc) from exc
        attachments = ([{"kind": "file", **ref} for ref in stored]
                       + [{"kind": "reference", "ref": r} for r in refs])
        cur = await conn.execute("SELECT nextval('rectification_submissions_id_seq')")
        id_row = await cur.fetchone()
        assert id_row is not None
        submission_id = int(id_row[0])
        document = {"rectification_id": rectification_id, "submission_id": submission_id,
                    "alert_id": state.id, "rule": row["rule"], "requirements": row["requirements"],
                    "due": row["due_at"], "text": body, "attachments": attachments}
        evidence_id = await keep(conn, alert_id=state.id, enterprise_id=enterprise_id,
                                 body=document, actor=actor)
        async with conn.cursor(row_factory=dict_row) as dcur:
            await dcur.execute(
                "INSERT INTO rectification_submissions (id, rectification_id, body, attachments,"
                " evidence_id, author_token, author_label) VALUES (%s, %s, %s, %s, %s, %s, %s)"
                f" RETURNING {_SUBMISSION_COLUMNS}",
                (submission_id, rectification_id, body, json.dumps(attachments), evidence_id,
                 actor.token_id, actor.label))
            submission = await dcur.fetchone()
        assert submission is not None
        await conn.execute(
            "UPDATE rectifications SET status = 'submitted', submitted_at = now(), updated_at = now()"
            " WHERE id = %s", (rectification_id,))
        await conn.execute("UPDATE alerts SET updated_at = now() WHERE id = %s", (state.id,))
        summary = {"submission_id": submission_id, "evidence_id": evidence_id,
                   "files": [{"id": f["id"], "sha256": f["sha256"]} for f in stored],
                   "references": len(refs)}
        await _event(conn, rectification_id, "submitted", actor, data=summary)
        await record_event(conn, state.id, "rectification", actor, public=True, action="submit",
                           data={"rectification_id": rectification_id, **summary})
    log.info("rectification %s: submission %s (%d files, evidence %s)", rectification_id,
             submission_id, len(stored), evidence_id)
    return submission


async def data_check(conn: psycopg.AsyncConnection[Any], alert_id: int, days: int, *,
                     now: datetime | None = None) -> dict[str, Any]:
    """Whether the alert's rule fired again for its enterprise and subject in the ``days``
    before ``now`` (default: the transaction's time): ``{days, since, until, rule, subject,
    recurred, alert_ids, episode_ids, ongoing}``. Counted: other alerts (not superseded)
    starting in the window, repeat episodes (not merged) starting in it, and this alert's
    own episode when it has not ended (``ongoing``)."""
    if not isinstance(days, int) or isinstance(days, bool) or not 1 <= days <= DATA_CHECK_MAX_DAYS:
        raise RectificationInputError("body.data_check_days", "data_check_days",
                                      max=DATA_CHECK_MAX_DAYS)
    until = now if now is not None else await _db_now(conn)
    since = until - timedelta(days=days)
    cur = await conn.execute("SELECT rule, subject, enterprise_id, end_ts FROM alerts WHERE id = %s",
                             (alert_id,))
    alert = await cur.fetchone()
    if alert is None:
        raise AlertNotFound(alert_id)
    rule, subject, enterprise_id, end_ts = alert
    cur = await conn.execute(
        "SELECT id FROM alerts WHERE rule = %s AND subject = %s AND enterprise_id = %s"
        " AND id <> %s AND status <> 'superseded' AND start_ts >= %s AND start_ts <= %s ORDER BY id",
        (rule, subject, enterprise_id, alert_id, since, until))
    alert_ids = [int(r[0]) for r in await cur.fetchall()]
    cur = await conn.execute(
        "SELECT e.id FROM alert_episodes e JOIN alerts a ON a.id = e.alert_id"
        " WHERE e.rule = %s AND e.subject = %s AND a.enterprise_id = %s AND NOT e.merged"
        " AND a.status <> 'superseded' AND e.start_ts >= %s AND e.start_ts <= %s ORDER BY e.id",
        (rule, subject, enterprise_id, since, until))
    episode_ids = [int(r[0]) for r in await cur.fetchall()]
    ongoing = end_ts is None
    return {"days": days, "since": since.astimezone(UTC).isoformat(),
            "until": until.astimezone(UTC).isoformat(), "rule": rule, "subject": subject,
            "recurred": bool(alert_ids or episode_ids or ongoing), "alert_ids": alert_ids,
            "episode_ids": episode_ids, "ongoing": ongoing}


def _recurrence(check: dict[str, Any], lang: str) -> str:
    table = _ZH if lang == "zh" else _EN
    sep = "；" if lang == "zh" else "; "
    parts = []
    if check["alert_ids"]:
        parts.append(table["recurred_alerts"].format(ids=", ".join(map(str, check["alert_ids"]))))
    if check["episode_ids"]:
        parts.append(table["recurred_episodes"].format(
            ids=", ".join(map(str, check["episode_ids"]))))
    if check["ongoing"]:
        parts.append(table["recurred_ongoing"])
    return sep.join(parts)


async def _return_alert(conn: psycopg.AsyncConnection[Any], state: AlertState, actor: Actor, *,
                        action: str, reason: str, data: dict[str, Any]) -> None:
    """The alert goes back to where it was when the rectification was ordered."""
    cur = await conn.execute("SELECT rectifying_from FROM alerts WHERE id = %s", (state.id,))
    row = await cur.fetchone()
    back = None if row is None else row[0]
    if state.status == "rectifying" and back is not None:
        await conn.execute("UPDATE alerts SET status = %s, rectifying_from = NULL, updated_at = now()"
                           " WHERE id = %s", (back, state.id))
    else:  # the alert moved on meanwhile (e.g. dismissed): its status stays
        back = state.status
        await conn.execute("UPDATE alerts SET updated_at = now() WHERE id = %s", (state.id,))
    await record_event(conn, state.id, "rectification", actor, public=True, action=action,
                       from_status=state.status, to_status=back, reason=reason, data=data)


async def _decide(conn: psycopg.AsyncConnection[Any], row: dict[str, Any], state: AlertState,
                  actor: Actor, *, status: str, reason: str, check: dict[str, Any] | None) -> None:
    rectification_id = int(row["id"])
    await conn.execute(
        "UPDATE rectifications SET status = %s, decided_at = now(), decided_by_token = %s,"
        " decided_by_label = %s, decision_reason = %s, data_check = %s, updated_at = now()"
        " WHERE id = %s",
        (status, actor.token_id, actor.label, reason,
         None if check is None else json.dumps(check), rectification_id))
    data: dict[str, Any] = {"rectification_id": rectification_id, "result": status}
    if check is not None:
        data["data_check"] = check
    await _event(conn, rectification_id, status, actor, reason=reason,
                 data={k: v for k, v in data.items() if k != "rectification_id"})
    await _return_alert(conn, state, actor, action="verify" if status == "verified" else "reject",
                        reason=reason, data=data)
    log.info("rectification %s %s (alert %s)", rectification_id, status, state.id)


async def verify(conn: psycopg.AsyncConnection[Any], rectification_id: int, actor: Actor, *,
                 reason: str, data_check_days: int | None = None, force: bool = False,
                 scope: str | Collection[str] | None = None) -> dict[str, Any]:
    """An officer verifies a ``submitted`` rectification; returns it. With
    ``data_check_days`` the :func:`data_check` is run and stored; one that found a
    recurrence refuses the verification (:class:`RectificationConflict` with the check in
    ``extra``) unless ``force``, which verifies anyway and records ``forced: true``."""
    why = _text(reason, "body.reason", "reason")
    async with conn.transaction():
        state, row = await _lock(conn, rectification_id, scope)
        if row["status"] in DECIDED:
            raise _decided(row)
        if row["status"] != "submitted":
            status = str(row["status"])
            raise RectificationConflict(
                "verify_needs_submission", alert_id=state.id, status=status,
                allowed=_ALLOWED[status], values={"id": rectification_id, "state": _st(status, "en")},
                zh={"state": _st(status, "zh")})
        check = None
        if data_check_days is not None:
            check = await data_check(conn, state.id, data_check_days)
            if check["recurred"] and not force:
                rule = str(row["rule"])
                raise RectificationConflict(
                    "recurred", alert_id=state.id, status="submitted", allowed=_ALLOWED["submitted"],
                    values={"rule": rule, "days": data_check_days, "found": _recurrence(check, "en")},
                    zh={"rule": rule_name(rule, "zh"), "found": _recurrence(check, "zh")},
                    extra={"data_check": check})
            check["forced"] = bool(force and check["recurred"])
        await _decide(conn, row, state, actor, status="verified", reason=why, check=check)
        return await fetch_rectification(conn, rectification_id)


async def reject(conn: psycopg.AsyncConnection[Any], rectification_id: int, actor: Actor, *,
                 reason: str, scope: str | Collection[str] | None = None) -> dict[str, Any]:
    """An officer rejects an ``ordered`` (e.g. overdue without a submission) or
    ``submitted`` rectification; returns it."""
    why = _text(reason, "body.reason", "reason")
    async with conn.transaction():
        state, row = await _lock(conn, rectification_id, scope)
        if row["status"] not in IN_PROGRESS:
            raise _decided(row)
        await _decide(conn, row, state, actor, status="rejected", reason=why, check=None)
        return await fetch_rectification(conn, rectification_id)



# --- the clock: overdue and reminders ------------------------------------------------------

async def mark_overdue(conn: psycopg.AsyncConnection[Any], *,
                       now: datetime | None = None) -> list[dict[str, Any]]:
    """Record every rectification in progress whose due time passed by ``now`` (default:
    the current time) and that was not recorded yet: ``overdue_at``, an ``overdue`` event,
    and on its alert an ``escalated`` event (internal) with the escalation level raised by
    one. Returns the rectifications recorded (idempotent: a second call returns none).
    Rows another transaction holds are skipped and taken by the next call."""
    at = _now(now)
    out: list[dict[str, Any]] = []
    async with conn.transaction():
        cur = await conn.execute(
            "SELECT r.id, r.alert_id, r.due_at, a.escalation_level FROM rectifications r"
            " JOIN alerts a ON a.id = r.alert_id"
            " WHERE r.status IN ('ordered', 'submitted') AND r.overdue_at IS NULL AND r.due_at <= %s"
            " ORDER BY r.due_at, r.id FOR UPDATE OF a, r SKIP LOCKED", (at,))
        for rectification_id, alert_id, due_at, level in await cur.fetchall():
            await conn.execute("UPDATE rectifications SET overdue_at = %s, updated_at = now()"
                               " WHERE id = %s", (at, rectification_id))
            await conn.execute("UPDATE alerts SET escalation_level = escalation_level + 1,"
                               " escalated_at = %s WHERE id = %s", (at, alert_id))
            reason = _EN["overdue_reason"].format(id=rectification_id, due=due_at.isoformat())
            await _event(conn, int(rectification_id), "overdue", SYSTEM_RECTIFICATION,
                         reason=reason, data={"due": due_at.isoformat(), "level": int(level) + 1},
                         at=at)
            await record_event(conn, int(alert_id), "escalated", SYSTEM_RECTIFICATION, public=False,
                               reason=reason,
                               data={"level": int(level) + 1, "from_level": int(level),
                                     "rectification_id": int(rectification_id),
                                     "due": due_at.isoformat()})
            out.append(await fetch_rectification(conn, int(rectification_id), now=at))
    if out:
        log.info("rectifications overdue: %s", [r["id"] for r in out])
    return out


async def due_soon(conn: psycopg.AsyncConnection[Any], *, within: timedelta,
                   now: datetime | None = None) -> list[dict[str, Any]]:
    """Rectifications still ``ordered`` (nothing submitted yet) whose due time is after
    ``now`` and at most ``within`` away, and whose enterprise was not reminded yet;
    soonest first."""
    at = _now(now)
    return await _rows(conn, "r.status = 'ordered' AND r.reminded_at IS NULL"
                             " AND r.due_at > %(now)s AND r.due_at <= %(until)s",
                       {"now": at, "until": at + within}, " ORDER BY r.due_at, r.id")


async def mark_reminded(conn: psycopg.AsyncConnection[Any], rectification_id: int, *,
                        now: datetime | None = None, data: Mapping[str, Any] | None = None) -> bool:
    """Record that the enterprise was reminded of the due time (``reminded_at`` and a
    ``reminded`` event with ``data``, e.g. the delivery); False when it had been already."""
    at = _now(now)
    async with conn.transaction():
        cur = await conn.execute("UPDATE rectifications SET reminded_at = %s, updated_at = now()"
                                 " WHERE id = %s AND reminded_at IS NULL RETURNING id",
                                 (at, rectification_id))
        if await cur.fetchone() is None:
            return False
        await _event(conn, rectification_id, "reminded", SYSTEM_RECTIFICATION, data=data, at=at)
    return True
