"""The rectification trail and the withdrawal of a rectification with its alert.

Kept apart from :mod:`alerts.rectification` because the alert lifecycle (dismiss) and the
detector runner (superseding) end a rectification too, and :mod:`alerts.rectification`
itself builds on the lifecycle.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import psycopg

from ecowarn.alerts.model import Actor

__all__ = ["rectification_event", "withdraw_with_alert"]

log = logging.getLogger(__name__)


async def rectification_event(conn: psycopg.AsyncConnection[Any], rectification_id: int, action: str,
                 actor: Actor, *, reason: str | None = None, data: Mapping[str, Any] | None = None,
                 at: datetime | None = None) -> None:
    await conn.execute(
        "INSERT INTO rectification_events (rectification_id, action, actor_role, actor_token,"
        " actor_label, reason, data, at) VALUES (%s, %s, %s, %s, %s, %s, %s, coalesce(%s, now()))",
        (rectification_id, action, actor.role, actor.token_id, actor.label, reason,
         json.dumps(dict(data or {}), default=str), at))


async def withdraw_with_alert(conn: psycopg.AsyncConnection[Any], alert_id: int, actor: Actor, *,
                              reason: str | None, alert_status: str) -> int | None:
    """End the alert's rectification in progress as ``withdrawn`` because the alert leaves
    the workflow (``alert_status``: dismissed, superseded). Call in the transaction that
    changes the alert, with its row locked; that caller sets the alert's status and clears
    ``rectifying_from``. Returns the rectification's id, None when none was in progress."""
    cur = await conn.execute(
        "UPDATE rectifications SET status = 'withdrawn', decided_at = now(), decided_by_token = %s,"
        " decided_by_label = %s, decision_reason = %s, updated_at = now()"
        " WHERE alert_id = %s AND status IN ('ordered', 'submitted') RETURNING id",
        (actor.token_id, actor.label, reason, alert_id))
    row = await cur.fetchone()
    if row is None:
        return None
    rectification_id = int(row[0])
    await rectification_event(conn, rectification_id, "withdrawn", actor, reason=reason,
                 data={"alert_status": alert_status})
    log.info("rectification %s withdrawn: alert %s is %s", rectification_id, alert_id, alert_status)
    return rectification_id
