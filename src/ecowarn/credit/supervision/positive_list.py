"""Positive lists (正面清单): entries with validity, kept forever.

An entry puts one enterprise on one list (an identifier of ``positive_list.lists`` in the
supervision file) from ``start`` through ``end`` (days in China Standard Time, both
included; no ``end``: until removed). An entry is *active* on a day inside that validity
unless it was removed. Removing (``DELETE /positive-list/{id}``) never deletes the row: it
records who removed it, when and why, once (the table's trigger refuses any other change).

A listed firm is supervised off-site first: :func:`is_listed` tells the alert workflow, the
plan and the draws whether an enterprise is on any list on a day.

Scope: functions that read or change one entry take ``scope`` (the enterprise ids the actor
may see, None for all); an entry outside it is reported absent, exactly like one that does
not exist.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Final

import psycopg
from psycopg.rows import dict_row

from ecowarn.alerts.model import Actor
from ecowarn.credit._canonical import CST
from ecowarn.credit.supervision.config import SupervisionConfig
from ecowarn.credit.supervision.errors import SupervisionInputError, SupervisionNotFound

__all__ = ["MAX_REASON", "ListingFilter", "active_listings", "add_entry", "fetch_entry", "is_active",
           "is_listed", "list_entries", "remove_entry", "today_cst"]

log = logging.getLogger(__name__)

MAX_REASON: Final = 2000
_COLUMNS: Final = ("id, enterprise_id, list, start_date, end_date, reason, created_at, created_by_token,"
                   " created_by_role, created_by_label, deleted_at, deleted_by_token, deleted_by_role,"
                   " deleted_by_label, delete_reason")


def today_cst(now: datetime | None = None) -> date:
    """Today in China Standard Time."""
    return (now or datetime.now(CST)).astimezone(CST).date()


def is_active(row: Mapping[str, Any], on: date) -> bool:
    """Whether an entry (a row of :func:`fetch_entry`) lists its enterprise on ``on``."""
    end = row["end_date"]
    return row["deleted_at"] is None and row["start_date"] <= on and (end is None or on <= end)


@dataclass(frozen=True, slots=True)
class ListingFilter:
    """What a list of entries shows. ``enterprise_ids`` None: every enterprise; ``active_on``:
    entries active that day; ``inactive_on``: entries not active that day (expired, not yet
    valid or removed); removed entries only with ``include_deleted``."""

    enterprise_ids: Sequence[str] | None = None
    list_id: str | None = None
    active_on: date | None = None
    inactive_on: date | None = None
    include_deleted: bool = False


async def add_entry(conn: psycopg.AsyncConnection[Any], config: SupervisionConfig, *,
                    enterprise_id: str, list_name: str | None, start: date, end: date | None,
                    reason: str, actor: Actor, listable: Collection[str]) -> dict[str, Any]:
    """Put ``enterprise_id`` on a list; the new entry's row.

    ``listable``: the enterprises the actor may list (the registry's, within its
    jurisdiction); any other id is refused like one that does not exist (422 naming
    ``body.enterprise_id``). ``list_name`` is a list's identifier or name (None: the
    default list)."""
    if enterprise_id not in listable:
        raise SupervisionInputError("body.enterprise_id", "unknown_enterprise", id=enterprise_id)
    list_id = config.list_id(list_name) if list_name is not None else config.default_list
    if list_id is None:
        raise SupervisionInputError("body.list", "unknown_list", list=list_name,
                                    lists=", ".join(config.lists))
    if end is not None and end <= start:
        raise SupervisionInputError("body.end", "end_not_after_start", start=start.isoformat(),
                                    end=end.isoformat())
    text = reason.strip()
    if not 1 <= len(text) <= MAX_REASON:
        raise SupervisionInputError("body.reason", "reason", max=MAX_REASON)
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "INSERT INTO positive_list (enterprise_id, list, start_date, end_date, reason,"
            " created_by_token, created_by_role, created_by_label)"
            f" VALUES (%s, %s, %s, %s, %s, %s, %s, %s) RETURNING {_COLUMNS}",
            (enterprise_id, list_id, start, end, text, actor.token_id, actor.role, actor.label))
        row = await cur.fetchone()
    assert row is not None
    log.info("positive list %s: enterprise %s listed %s to %s (entry %d, token %s)", list_id,
             enterprise_id, start, end or "removal", row["id"], actor.token_id)
    return row


async def remove_entry(conn: psycopg.AsyncConnection[Any], entry_id: int, *, actor: Actor,
                       reason: str | None, scope: Collection[str] | None) -> dict[str, Any]:
    """Remove an entry (kept, marked with who, when and why); its row. An entry already
    removed, or outside ``scope``, is absent."""
    text = (reason or "").strip() or None
    if text is not None and len(text) > MAX_REASON:
        raise SupervisionInputError("query.reason", "reason", max=MAX_REASON)
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "UPDATE positive_list SET deleted_at = now(), deleted_by_token = %s, deleted_by_role = %s,"
            " deleted_by_label = %s, delete_reason = %s"
            " WHERE id = %s AND deleted_at IS NULL AND (%s::text[] IS NULL OR enterprise_id = ANY(%s))"
            f" RETURNING {_COLUMNS}",
            (actor.token_id, actor.role, actor.label, text, entry_id, _ids(scope), _ids(scope)))
        row = await cur.fetchone()
    if row is None:
        raise SupervisionNotFound("entry_not_found", id=entry_id)
    log.info("positive list %s: entry %d of %s removed (token %s)", row["list"], entry_id,
             row["enterprise_id"], actor.token_id)
    return row


def _ids(scope: Collection[str] | None) -> list[str] | None:
    return None if scope is None else sorted(scope)


async def fetch_entry(conn: psycopg.AsyncConnection[Any], entry_id: int, *,
                      scope: Collection[str] | None) -> dict[str, Any]:
    """One entry, removed or not; absent outside ``scope``."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            f"SELECT {_COLUMNS} FROM positive_list WHERE id = %s"
            " AND (%s::text[] IS NULL OR enterprise_id = ANY(%s))", (entry_id, _ids(scope), _ids(scope)))
        row = await cur.fetchone()
    if row is None:
        raise SupervisionNotFound("entry_not_found", id=entry_id)
    return row


async def list_entries(conn: psycopg.AsyncConnection[Any], f: ListingFilter, *, limit: int,
                       before_id: int | None = None) -> tuple[list[dict[str, Any]], int | None]:
    """Entries matching ``f``, newest first, at most ``limit``; and the id to continue
    before when more follow (else None)."""
    active = ("deleted_at IS NULL AND start_date <= %(on)s AND (end_date IS NULL OR %(on)s <= end_date)")
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            f"SELECT {_COLUMNS} FROM positive_list WHERE"
            " (%(ents)s::text[] IS NULL OR enterprise_id = ANY(%(ents)s))"
            " AND (%(list)s::text IS NULL OR list = %(list)s)"
            " AND (%(deleted)s OR deleted_at IS NULL)"
            f" AND (%(on)s::date IS NULL OR {active})"
            " AND (%(off)s::date IS NULL OR NOT (deleted_at IS NULL AND start_date <= %(off)s"
            "      AND (end_date IS NULL OR %(off)s <= end_date)))"
            " AND (%(before)s::bigint IS NULL OR id < %(before)s)"
            " ORDER BY id DESC LIMIT %(limit)s",
            {"ents": None if f.enterprise_ids is None else list(f.enterprise_ids), "list": f.list_id,
             "deleted": f.include_deleted, "on": f.active_on, "off": f.inactive_on,
             "before": before_id, "limit": limit + 1})
        rows = await cur.fetchall()
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (int(rows[-1]["id"]) if more and rows else None)


async def active_listings(conn: psycopg.AsyncConnection[Any], enterprise_ids: Sequence[str] | None,
                          on: date) -> dict[str, list[dict[str, Any]]]:
    """Enterprise id -> its entries active on ``on`` (oldest first); enterprises on no list
    are left out. ``enterprise_ids`` None: every enterprise."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            f"SELECT {_COLUMNS} FROM positive_list WHERE deleted_at IS NULL"
            " AND start_date <= %(on)s AND (end_date IS NULL OR %(on)s <= end_date)"
            " AND (%(ents)s::text[] IS NULL OR enterprise_id = ANY(%(ents)s)) ORDER BY id",
            {"on": on, "ents": None if enterprise_ids is None else list(enterprise_ids)})
        out: dict[str, list[dict[str, Any]]] = {}
        for row in await cur.fetchall():
            out.setdefault(str(row["enterprise_id"]), []).append(row)
        return out


async def is_listed(conn: psycopg.AsyncConnection[Any], enterprise_id: str, on: date | None = None) -> bool:
    """Whether ``enterprise_id`` is on any positive list on ``on`` (default: today, China
    time). Listed firms' alerts go to off-site handling first."""
    return bool(await active_listings(conn, [enterprise_id], on or today_cst()))
