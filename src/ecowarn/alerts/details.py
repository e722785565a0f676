"""What an alert's page shows besides the alert itself: repeat episodes and comments."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.rows import dict_row

__all__ = ["comments_of", "episodes_of"]


async def episodes_of(conn: psycopg.AsyncConnection[Any], alert_id: int) -> list[dict[str, Any]]:
    """The alert's live repeat episodes, earliest first."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "SELECT id, device_ids, start_ts, end_ts, severity, summary, summary_zh, created_at"
            " FROM alert_episodes WHERE alert_id = %s AND NOT merged ORDER BY start_ts, id",
            (alert_id,))
        return await cur.fetchall()


async def comments_of(conn: psycopg.AsyncConnection[Any], alert_id: int, *,
                      public_only: bool) -> list[dict[str, Any]]:
    """The alert's comments, oldest first; ``public_only`` for the enterprise's view."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "SELECT id, author_token, author_role, author_label, body, public, created_at"
            " FROM alert_comments WHERE alert_id = %s"
            + (" AND public" if public_only else "") + " ORDER BY id", (alert_id,))
        return await cur.fetchall()
