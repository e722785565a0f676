"""The audit trail of an alert (table ``alert_events``, append-only).

Every state change and every step on an alert appends one event in the same
transaction as the change: who (token id, role, the token's label at that time, or
the system), when (transaction time), what (kind, action, from/to status), why
(reason, disposition), plus kind-specific ``data``. Events marked ``public`` make up
the trail an enterprise sees for its own alert; officers see everything.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import psycopg
from psycopg.rows import dict_row

from ecowarn.alerts.model import Actor

__all__ = ["audit_trail", "load_actor", "record_event"]


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
    data: Mapping[str, Any] | None = None,
) -> int:
    """Append one event; returns its id. Call inside the transaction of the change."""
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
