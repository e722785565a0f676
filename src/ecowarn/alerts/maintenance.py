"""Declared maintenance and its approval (CONTRACT sections 5 and 8).

A declaration suppresses the rules it covers only once it is ``approved``, so a warned
enterprise cannot make an alert disappear by declaring maintenance over it after the fact:

- an officer's (or admin's) declaration is approved on creation;
- an enterprise's declaration is approved on creation when it starts no earlier than
  ``grace_min`` before it is made and lasts at most ``max_hours``
  (:meth:`MaintenancePolicy.judge`); any other is ``pending`` and suppresses nothing
  until an officer approves it (:func:`decide`), or ``rejected`` for good.

Every step (declared, approved, rejected: who, when, why) is kept in
``maintenance_events``. Approving queues the covered span for re-evaluation (trigger of
migration 0006); the detector runner then retires the open alerts it covers, naming the
declaration in their audit trail.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, datetime
from typing import Any, Literal

import psycopg
from psycopg.rows import dict_row

from ecowarn.alerts.errors import DeclarationDecided, DeclarationNotFound, InvalidWorkflowInput
from ecowarn.alerts.lifecycle import in_scope
from ecowarn.alerts.model import Actor, MaintenancePolicy

__all__ = [
    "COLUMNS",
    "decide",
    "declaration_events",
    "declare",
    "get_declaration",
    "pending_declarations",
]

COLUMNS = ("id, device_id, enterprise_id, start_ts, end_ts, reason, declared_by_role, created_by_token,"
           " created_at, status, pending_reason, decided_by_token, decided_at, decision_reason")

MAX_REASON = 2000


async def declare(conn: psycopg.AsyncConnection[Any], *, device_id: str, enterprise_id: str | None,
                  start: datetime, end: datetime, reason: str, actor: Actor,
                  policy: MaintenancePolicy, now: datetime | None = None) -> dict[str, Any]:
    """Insert a declaration with the status the policy gives it; returns the row.

    Runs in the caller's transaction when there is one (an enterprise's answer declares
    maintenance and records the answer atomically).
    """
    if end <= start:
        raise InvalidWorkflowInput("body.end", "end must be after start")
    text = reason.strip()
    if not text or len(text) > MAX_REASON:
        raise InvalidWorkflowInput("body.reason", f"a reason needs 1 to {MAX_REASON} characters")
    status, why = policy.judge(actor.role, start, end, now or datetime.now(UTC))
    async with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            f"INSERT INTO maintenance (device_id, enterprise_id, start_ts, end_ts, reason, declared_by_role,"
            f" created_by_token, status, pending_reason) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)"
            f" RETURNING {COLUMNS}",
            (device_id, enterprise_id, start, end, text, actor.role, actor.token_id, status,
             ",".join(why) or None))
        row = await cur.fetchone()
        assert row is not None
        await _event(conn, int(row["id"]), "declared", actor,
                     "approved on creation" if status == "approved" else "awaiting approval: " + ", ".join(why))
    return row


async def decide(conn: psycopg.AsyncConnection[Any], maintenance_id: int, action: Literal["approve", "reject"],
                 actor: Actor, reason: str, *, scope: str | Collection[str] | None = None) -> dict[str, Any]:
    """An officer approves or rejects a pending declaration, with a reason. A declaration
    outside ``scope`` (the enterprises the officer may see) is not found."""
    text = reason.strip()
    if not text or len(text) > MAX_REASON:
        raise InvalidWorkflowInput("body.reason", f"a reason needs 1 to {MAX_REASON} characters")
    status = "approved" if action == "approve" else "rejected"
    async with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
        await cur.execute("SELECT status, enterprise_id FROM maintenance WHERE id = %s FOR UPDATE",
                          (maintenance_id,))
        current = await cur.fetchone()
        if current is None or not in_scope(current["enterprise_id"], scope):
            raise DeclarationNotFound(maintenance_id)
        if current["status"] != "pending":
            raise DeclarationDecided(maintenance_id, str(current["status"]))
        await cur.execute(
            f"UPDATE maintenance SET status = %s, decided_by_token = %s, decided_at = now(),"
            f" decision_reason = %s WHERE id = %s RETURNING {COLUMNS}",
            (status, actor.token_id, text, maintenance_id))
        row = await cur.fetchone()
        assert row is not None
        await _event(conn, maintenance_id, status, actor, text)
    return row


async def get_declaration(conn: psycopg.AsyncConnection[Any], maintenance_id: int,
                          scope: str | Collection[str] | None = None) -> dict[str, Any]:
    """One declaration; ``scope`` (one enterprise or a set of them) limits it to theirs
    (else not found: a declaration of no enterprise only when ``scope`` is None)."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(f"SELECT {COLUMNS} FROM maintenance WHERE id = %s", (maintenance_id,))
        row = await cur.fetchone()
    if row is None or not in_scope(row["enterprise_id"], scope):
        raise DeclarationNotFound(maintenance_id)
    return row


async def pending_declarations(conn: psycopg.AsyncConnection[Any], enterprise_ids: Collection[str] | None,
                               limit: int = 50) -> list[dict[str, Any]]:
    """Declarations waiting for an officer, oldest first; of ``enterprise_ids`` when given
    (then never one of no enterprise)."""
    where, params = "status = 'pending'", list[Any]()
    if enterprise_ids is not None:
        where += " AND enterprise_id = ANY(%s)"
        params.append(list(enterprise_ids))
    params.append(limit)
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(f"SELECT {COLUMNS} FROM maintenance WHERE {where} ORDER BY created_at, id LIMIT %s",
                          params)
        return await cur.fetchall()


async def declaration_events(conn: psycopg.AsyncConnection[Any], maintenance_id: int) -> list[dict[str, Any]]:
    """The declaration's audit trail, oldest first."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "SELECT action, actor_role, actor_token, actor_label, reason, at FROM maintenance_events"
            " WHERE maintenance_id = %s ORDER BY id", (maintenance_id,))
        return await cur.fetchall()


async def _event(conn: psycopg.AsyncConnection[Any], maintenance_id: int, action: str, actor: Actor,
                 reason: str | None) -> None:
    await conn.execute(
        "INSERT INTO maintenance_events (maintenance_id, action, actor_role, actor_token, actor_label, reason)"
        " VALUES (%s, %s, %s, %s, %s, %s)",
        (maintenance_id, action, actor.role, actor.token_id, actor.label, reason))
