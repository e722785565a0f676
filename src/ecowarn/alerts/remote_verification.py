"""Recording remote verifications (远程核查) of an alert; the decision they feed is
:mod:`alerts.offsite`."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any, Final

import psycopg
from psycopg.rows import dict_row

from ecowarn.alerts.audit import record_event
from ecowarn.alerts.errors import IllegalTransition, InvalidWorkflowInput
from ecowarn.alerts.lifecycle import fetch_state
from ecowarn.alerts.model import FINAL_STATUSES, Actor
from ecowarn.alerts.offsite import METHODS, RESULTS

__all__ = ["MAX_NOTE", "Verification", "record_verification", "verifications_of"]

MAX_NOTE: Final = 5000
_COLUMNS: Final = "id, alert_id, method, result, note, verified_at, author_token, author_role, author_label"


@dataclass(frozen=True, slots=True)
class Verification:
    method: str
    result: str
    note: str


def _checked(method: str, result: str, note: str | None) -> Verification:
    if method not in METHODS:
        raise InvalidWorkflowInput("body.method", f"unknown method {method!r}; expected one of {', '.join(METHODS)}")
    if result not in RESULTS:
        raise InvalidWorkflowInput("body.result", f"unknown result {result!r}; expected one of {', '.join(RESULTS)}")
    text = (note or "").strip()
    if not text:
        raise InvalidWorkflowInput("body.note", "a remote verification needs a note (what was seen)")
    if len(text) > MAX_NOTE:
        raise InvalidWorkflowInput("body.note", f"at most {MAX_NOTE} characters")
    return Verification(method, result, text)


async def record_verification(conn: psycopg.AsyncConnection[Any], alert_id: int, actor: Actor, *,
                              method: str, result: str, note: str | None,
                              scope: str | Collection[str] | None = None) -> dict[str, Any]:
    """Record a remote verification of the alert (any alert not closed or superseded);
    its row. Appends a ``remote_verification`` event (internal) in the same transaction."""
    checked = _checked(method, result, note)
    async with conn.transaction():
        state = await fetch_state(conn, alert_id, scope=scope, lock=True)
        if state.status in FINAL_STATUSES:
            raise IllegalTransition(alert_id, state.status, "remote_verification", ())
        async with conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(
                "INSERT INTO alert_remote_verifications (alert_id, method, result, note, author_token,"
                f" author_role, author_label) VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING {_COLUMNS}",
                (alert_id, checked.method, checked.result, checked.note, actor.token_id, actor.role, actor.label))
            row = await cur.fetchone()
        assert row is not None
        await record_event(conn, alert_id, "remote_verification", actor, public=False, data={
            "verification_id": row["id"], "method": checked.method, "result": checked.result,
            "note": checked.note, "positive_list": list(state.off_site.lists)})
    return row


async def verifications_of(conn: psycopg.AsyncConnection[Any], alert_id: int) -> list[dict[str, Any]]:
    """The alert's remote verifications, oldest first."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(f"SELECT {_COLUMNS} FROM alert_remote_verifications WHERE alert_id = %s ORDER BY id",
                          (alert_id,))
        return await cur.fetchall()

