"""The enterprise's answers to an alert (Administrative Penalty Law art. 41: state its case).

An answer is an ``explanation``, ``maintenance_declared`` or ``rectification_done``,
with text, optional attachment references (document ids or URLs of material the
enterprise filed elsewhere) and optional files (stored in ``attachments`` through
:func:`store.attachments.store_uploads`, with its type and size limits; the answer keeps
each file's id, name, type, size and SHA-256 in ``files``). A ``maintenance_declared``
answer may carry the maintenance window of one of the alert's devices: it then also
creates a ``maintenance`` row (CONTRACT section 5), which suppresses the rules it
covers for that device and window in later evaluations.

Answers do not change the alert's status; they are events in its public trail and
show in the officer's queue item. A closed or superseded alert takes no answers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from ecowarn.alerts.audit import record_event
from ecowarn.alerts.errors import AlertNotFound, IllegalTransition, InvalidWorkflowInput
from ecowarn.alerts.lifecycle import MAX_TEXT, fetch_state
from ecowarn.alerts.maintenance import declare
from ecowarn.alerts.model import ANSWER_KINDS, FINAL_STATUSES, Actor, MaintenancePolicy
from ecowarn.alerts.rectification import RectificationInputError
from ecowarn.store.attachments import AttachmentRejected, Upload, store_uploads

__all__ = ["MAX_ATTACHMENTS", "MaintenanceWindow", "answers_of", "record_answers_read",
           "submit_answer"]

MAX_ATTACHMENTS = 20
MAX_ATTACHMENT_LEN = 500

_ANSWER_COLUMNS = (
    "id, alert_id, enterprise_id, kind, body, attachments, files, maintenance_id, author_token,"
    " author_role, author_label, created_at, first_read_at, first_read_token"
)


@dataclass(frozen=True, slots=True)
class MaintenanceWindow:
    device_id: str
    start: datetime
    end: datetime


async def submit_answer(
    conn: psycopg.AsyncConnection[Any], alert_id: int, actor: Actor, kind: str, text: str, *,
    attachments: Sequence[str] = (), maintenance: MaintenanceWindow | None = None,
    policy: MaintenancePolicy | None = None, uploads: Sequence[Upload] = (),
    files_field: str = "body.files",
) -> dict[str, Any]:
    """Record an answer; returns it (with ``maintenance_id`` when a window was declared).

    ``uploads`` are stored with the answer, all or none; a file the store refuses is
    :class:`RectificationInputError` naming ``files_field[i]`` (both languages).

    A declared window goes through :func:`alerts.maintenance.declare` with ``policy``: one
    reaching back over the alert is ``pending`` and suppresses nothing until an officer
    approves it.

    An enterprise actor may answer only its own enterprise's alerts; another's is
    :class:`AlertNotFound`, exactly like an alert that does not exist.
    """
    if kind not in ANSWER_KINDS:
        raise InvalidWorkflowInput("body.kind", f"unknown kind {kind!r}; expected one of "
                                                f"{', '.join(ANSWER_KINDS)}")
    body = text.strip()
    if not body or len(body) > MAX_TEXT:
        raise InvalidWorkflowInput("body.text", f"an answer needs 1 to {MAX_TEXT} characters")
    refs = [a.strip() for a in attachments]
    if len(refs) > MAX_ATTACHMENTS or any(not a or len(a) > MAX_ATTACHMENT_LEN for a in refs):
        raise InvalidWorkflowInput("body.attachments", f"at most {MAX_ATTACHMENTS} references of "
                                                       f"1 to {MAX_ATTACHMENT_LEN} characters")
    if maintenance is not None and kind != "maintenance_declared":
        raise InvalidWorkflowInput("body.maintenance", "only a maintenance_declared answer "
                                                       "carries a maintenance window")
    if actor.token_id is None:
        raise InvalidWorkflowInput("author", "only a token can answer")
    scope = actor.enterprise_id if actor.role == "enterprise" else None
    if actor.role == "enterprise" and scope is None:
        raise AlertNotFound(alert_id)
    async with conn.transaction():
        state = await fetch_state(conn, alert_id, scope=scope, lock=True)
        if state.status in FINAL_STATUSES:
            raise IllegalTransition(alert_id, state.status, "answer", ())
        maintenance_id = None
        if maintenance is not None:
            if maintenance.device_id not in state.device_ids:
                raise InvalidWorkflowInput(
                    "body.maintenance.device_id",
                    f"{maintenance.device_id} is not one of this alert's devices "
                    f"({', '.join(state.device_ids)})")
            if maintenance.end <= maintenance.start:
                raise InvalidWorkflowInput("body.maintenance.end", "end must be after start")
            declared = await declare(
                conn, device_id=maintenance.device_id, enterprise_id=state.enterprise_id,
                start=maintenance.start, end=maintenance.end, reason=body, actor=actor,
                policy=policy or MaintenancePolicy())
            maintenance_id = int(declared["id"])
        files: list[dict[str, Any]] = []
        if uploads:
            if state.enterprise_id is None:
                raise InvalidWorkflowInput(files_field, "this alert has no enterprise to file the files under")
            try:
                files = await store_uploads(conn, uploads, enterprise_id=state.enterprise_id,
                                            uploaded_by=actor.token_id, field=files_field)
            except AttachmentRejected as exc:
                raise RectificationInputError.from_rejected(exc) from exc
        async with conn.cursor(row_factory=dict_row) as dcur:
            await dcur.execute(
                "INSERT INTO alert_answers (alert_id, enterprise_id, kind, body, attachments, files,"
                " maintenance_id, author_token, author_role, author_label)"
                f" VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING {_ANSWER_COLUMNS}",
                (alert_id, state.enterprise_id, kind, body, refs, Jsonb(files), maintenance_id,
                 actor.token_id, actor.role, actor.label))
            answer = await dcur.fetchone()
        assert answer is not None
        await conn.execute("UPDATE alerts SET updated_at = now() WHERE id = %s", (alert_id,))
        await record_event(conn, alert_id, "answer", actor, public=True,
                           data={"answer_id": answer["id"], "kind": kind,
                                 "maintenance_id": maintenance_id,
                                 "files": [f["id"] for f in files]})
    return answer


async def answers_of(conn: psycopg.AsyncConnection[Any],
                     alert_ids: Sequence[int]) -> dict[int, list[dict[str, Any]]]:
    """Answers per alert id, oldest first (ids without answers are absent)."""
    if not alert_ids:
        return {}
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(f"SELECT {_ANSWER_COLUMNS} FROM alert_answers"
                          " WHERE alert_id = ANY(%s) ORDER BY alert_id, id", (list(alert_ids),))
        rows = await cur.fetchall()
    out: dict[int, list[dict[str, Any]]] = {}
    for r in rows:
        out.setdefault(int(r["alert_id"]), []).append(r)
    return out


async def record_answers_read(conn: psycopg.AsyncConnection[Any], alert_id: int,
                              actor: Actor) -> list[int]:
    """An officer (or admin) token has read the alert's answers: mark the ones no officer
    had read yet and record an ``answers_read`` event naming them (CONTRACT section 9: the
    right to be heard counts an answer as seen from then). Returns the answer ids newly
    marked; reading again, or an enterprise reading its own answers, records nothing."""
    if actor.role not in ("officer", "admin") or actor.token_id is None:
        return []
    async with conn.transaction():
        cur = await conn.execute(
            "UPDATE alert_answers SET first_read_at = now(), first_read_token = %s"
            " WHERE alert_id = %s AND first_read_at IS NULL RETURNING id",
            (actor.token_id, alert_id))
        ids = sorted(int(r[0]) for r in await cur.fetchall())
        if ids:
            await record_event(conn, alert_id, "answers_read", actor, public=False,
                               data={"answer_ids": ids})
    return ids
