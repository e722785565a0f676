"""The audit trail of an alert (table ``alert_events``, append-only).

Every state change and every step on an alert appends one event in the same
transaction as the change: who (token id, role, the token's label at that time, or
the system), when (transaction time), what (kind, action, from/to status), why
(reason, disposition), plus kind-specific ``data``. Events marked ``public`` make up
the trail an enterprise sees for its own alert; officers see everything.

A reason the system writes itself (not typed by a person) is one of
:data:`SYSTEM_REASONS`: the event keeps its code in ``data["reason_code"]`` and the English
text in ``reason`` (what the JSON trail has always carried), so a page can word it in its
reader's language. Events recorded before the codes existed carry only the text;
:func:`reason_code` finds their code from it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Final

import psycopg
from psycopg.rows import dict_row

from ecowarn.alerts.model import Actor

__all__ = ["SYSTEM_REASONS", "audit_trail", "load_actor", "reason_code", "record_event"]

# Reasons the system writes, by code: the English text stored in ``alert_events.reason``.
SYSTEM_REASONS: Final[Mapping[str, str]] = {
    "claimed": "claimed from the queue",
    "rectification_ordered": "rectification ordered",
}
_CODE_OF_TEXT: Final = {text: code for code, text in SYSTEM_REASONS.items()}


def reason_code(event: Mapping[str, Any]) -> str | None:
    """The system reason code of an event row (``data.reason_code``, or for an event recorded
    before the codes, its stored text when that is one of :data:`SYSTEM_REASONS`); None for a
    reason a person typed or no reason."""
    data = event.get("data")
    code = data.get("reason_code") if isinstance(data, Mapping) else None
    if isinstance(code, str) and code in SYSTEM_REASONS:
        return code
    return _CODE_OF_TEXT.get(str(event.get("reason") or ""))


async def load_actor(conn: psycopg.AsyncConnection[Any], token_id: int, role: str,
                     enterprise_id: str | None = None) -> Actor:
    """The actor of a token, with the token's current label."""
    cur = await conn.execute("SELECT label FROM api_tokens WHERE id = %s", (token_id,))
    row = await cur.fetchone()
    return Actor(token_id=token_id, role=role, label=str(row[0]) if row else "",
                 enterprise_id=enterprise_id)


async def record_event(
    conn: psycopg.AsyncConnection[Any], alert_id: int, kind: str, actor: Actor, *,
    public: bool, action: str | None = None, from_status: str | None = None,
    to_status: str | None = None, reason: str | None = None, disposition: str | None = None,
    data: Mapping[str, Any] | None = None, reason_code: str | None = None,
) -> int:
    """Append one event; returns its id. Call inside the transaction of the change.

    ``reason_code`` (one of :data:`SYSTEM_REASONS`) records a reason the system gives: its
    English text goes to ``reason`` and the code to ``data["reason_code"]``."""
    if reason_code is not None:
        if reason_code not in SYSTEM_REASONS:
            raise ValueError(f"unknown system reason code {reason_code!r}")
        reason = SYSTEM_REASONS[reason_code]
        data = {**(data or {}), "reason_code": reason_code}
    cur = await conn.execute(
        "INSERT INTO alert_events (alert_id, kind, action, from_status, to_status, actor_token,"
        " actor_role, actor_label, reason, disposition, public, data)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id",
        (alert_id, kind, action, from_status, to_status, actor.token_id, actor.role, actor.label,
         reason, disposition, public, json.dumps(dict(data or {}), default=str)),
    )
    row = await cur.fetchone()
    assert row is not None
    return int(row[0])


async def audit_trail(conn: psycopg.AsyncConnection[Any], alert_id: int, *,
                      viewer_enterprise: str | None = None) -> list[dict[str, Any]]:
    """The alert's events, oldest first.

    With ``viewer_enterprise`` (an enterprise looking at its own alert) only public
    events are returned, and the token id and label of actors other than the
    enterprise itself are left out (the role stays): the enterprise learns what was
    decided and why, not which officer's token did it.
    """
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "SELECT e.id, e.at, e.kind, e.action, e.from_status, e.to_status, e.actor_token,"
            " e.actor_role, e.actor_label, e.reason, e.disposition, e.public, e.data"
            " FROM alert_events e WHERE e.alert_id = %s"
            + (" AND e.public" if viewer_enterprise is not None else "")
            + " ORDER BY e.id", (alert_id,))
        rows = await cur.fetchall()
    if viewer_enterprise is not None:
        for r in rows:
            if r["actor_role"] != "enterprise":
                r["actor_token"] = None
                r["actor_label"] = ""
    return rows
