"""The environmental credit ledger: deductions, repairs and reversals, append-only.

A confirmed violation is written as a ``deduction``, or, when it was confirmed as a
first offence without penalty (首违不罚), as a zero-point ``first_offence`` entry. Both
are *confirmed violations* (:data:`VIOLATION_TYPES`): unless reversed, each counts in
later repeat checks (:func:`repeat_count`) and first-offence checks
(:func:`confirmed_violations`).

An enterprise's score is 100 plus the signed points of all its ledger entries,
clamped to 0..100, and its level follows Hebei's bands (:func:`level_for`); the
``credit_scores`` view computes exactly that from the table, and every entry
records the score and level right after it. Entries are never changed (a trigger
rejects UPDATE and DELETE): a mistake is corrected by a ``reversal`` entry that
references the entry it cancels, and a deduction is lifted by a ``repair`` entry
once its waiting period has passed.

Every write takes the chain lock (:func:`credit.chain.lock_chain`) and runs in the
caller's transaction (a savepoint when one is open), so it commits or rolls back
with whatever the caller does.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, Final

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from ecowarn.credit._canonical import link_hash
from ecowarn.credit.chain import ChainSlot, ledger_payload, lock_chain, next_slot
from ecowarn.credit.errors import EntryNotFound, NotEligible

__all__ = [
    "AUTO_REPAIR_REASON",
    "FULL_SCORE",
    "LEVELS",
    "SYSTEM_ACTOR",
    "VIOLATION_TYPES",
    "active_confirmation",
    "active_deduction",
    "append_entry",
    "clamp_score",
    "confirmed_violations",
    "enterprise_standing",
    "fetch_entry",
    "history",
    "level_for",
    "repair",
    "repair_due",
    "repeat_count",
    "reverse",
]

log = logging.getLogger(__name__)

# Hebei (2024): lower bound of each level on the 100-point score.
LEVELS: tuple[tuple[str, int], ...] = (("A", 85), ("B", 70), ("C", 50), ("D", 30), ("E", 0))
FULL_SCORE = 100
# Entry types that record a confirmed violation (with points, or without: 首违不罚).
VIOLATION_TYPES: tuple[str, ...] = ("deduction", "first_offence")
SYSTEM_ACTOR: Mapping[str, Any] = {"token_id": None, "role": "system", "label": "automatic credit repair"}
# The reason of every automatic repair, always this text: the ledger has no code column and its
# hash chain covers the reason, so the fixed text is the entry's code, and pages word the entry
# in their reader's language from it (api/_console_ledger.py); the JSON ledger keeps the text.
AUTO_REPAIR_REASON: Final = ("automatic credit repair: waiting period passed, condition ended, "
                             "no repeat since")

_COLUMNS = ("id, enterprise_id, entry_type, points, score_after, level_after, alert_id, rule,"
            " severity, repeat_count, evidence_id, ref_id, repair_after, occurred_at, reason, actor,"
            " created_at, chain_seq, prev_hash, hash")


def level_for(score: int) -> str:
    """A >= 85, B 70-84, C 50-69, D 30-49, E <= 29."""
    for level, lower in LEVELS:
        if score >= lower:
            return level
    return "E"


def clamp_score(points_total: int) -> int:
    """100 plus the signed points, clamped to 0..100."""
    return max(0, min(FULL_SCORE, FULL_SCORE + points_total))


async def append_entry(
    conn: psycopg.AsyncConnection[Any], slot: ChainSlot, *, enterprise_id: str, entry_type: str,
    points: int, occurred_at: datetime, reason: str, actor: Mapping[str, Any],
    alert_id: int | None = None, rule: str | None = None, severity: str | None = None,
    repeat_count: int | None = None, evidence_id: int | None = None, ref_id: int | None = None,
    repair_after: datetime | None = None,
) -> dict[str, Any]:
    """Write one entry into ``slot`` of the chain (chain lock held) and return its row."""
    cur = await conn.execute(
        "SELECT coalesce(sum(points), 0), nextval('credit_ledger_id_seq') FROM credit_ledger"
        " WHERE enterprise_id = %s", (enterprise_id,))
    row = await cur.fetchone()
    assert row is not None
    score = clamp_score(int(row[0]) + points)
    entry: dict[str, Any] = {
        "id": int(row[1]), "enterprise_id": enterprise_id, "entry_type": entry_type,
        "points": points, "score_after": score, "level_after": level_for(score),
        "alert_id": alert_id, "rule": rule, "severity": severity, "repeat_count": repeat_count,
        "evidence_id": evidence_id, "ref_id": ref_id, "repair_after": repair_after,
        "occurred_at": occurred_at, "reason": reason, "actor": dict(actor),
        "created_at": slot.now, "chain_seq": slot.seq,
    }
    entry["prev_hash"] = slot.prev_hash
    entry["hash"] = link_hash(slot.prev_hash, ledger_payload(entry))
    await conn.execute(
        f"INSERT INTO credit_ledger ({_COLUMNS}) VALUES"
        " (%(id)s, %(enterprise_id)s, %(entry_type)s, %(points)s, %(score_after)s, %(level_after)s,"
        " %(alert_id)s, %(rule)s, %(severity)s, %(repeat_count)s, %(evidence_id)s, %(ref_id)s,"
        " %(repair_after)s, %(occurred_at)s, %(reason)s, %(actor_json)s, %(created_at)s,"
        " %(chain_seq)s, %(prev_hash)s, %(hash)s)",
        {**entry, "actor_json": Jsonb(entry["actor"])})
    log.info("credit %s %+d for %s (score %d, level %s; entry %d)", entry_type, points,
             enterprise_id, score, entry["level_after"], entry["id"])
    return entry


async def fetch_entry(conn: psycopg.AsyncConnection[Any], entry_id: int) -> dict[str, Any] | None:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(f"SELECT {_COLUMNS} FROM credit_ledger WHERE id = %s", (entry_id,))
        return await cur.fetchone()


async def _active_ref(conn: psycopg.AsyncConnection[Any], entry_id: int,
                      entry_type: str) -> dict[str, Any] | None:
    """The unreversed ``entry_type`` entry referencing ``entry_id`` (its repair), if any."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            f"SELECT {_COLUMNS} FROM credit_ledger e WHERE ref_id = %s AND entry_type = %s"
            " AND NOT EXISTS (SELECT 1 FROM credit_ledger r WHERE r.ref_id = e.id"
            " AND r.entry_type = 'reversal') ORDER BY id LIMIT 1", (entry_id, entry_type))
        return await cur.fetchone()


async def _is_reversed(conn: psycopg.AsyncConnection[Any], entry_id: int) -> bool:
    cur = await conn.execute(
        "SELECT EXISTS (SELECT 1 FROM credit_ledger WHERE ref_id = %s AND entry_type = 'reversal')",
        (entry_id,))
    row = await cur.fetchone()
    return bool(row and row[0])


async def active_deduction(conn: psycopg.AsyncConnection[Any], alert_id: int) -> dict[str, Any] | None:
    """The alert's deduction that has not been reversed, if any."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            f"SELECT {_COLUMNS} FROM credit_ledger d WHERE alert_id = %s AND entry_type = 'deduction'"
            " AND NOT EXISTS (SELECT 1 FROM credit_ledger r WHERE r.ref_id = d.id"
            " AND r.entry_type = 'reversal') ORDER BY id DESC LIMIT 1", (alert_id,))
        return await cur.fetchone()


async def active_confirmation(conn: psycopg.AsyncConnection[Any],
                              alert_id: int) -> dict[str, Any] | None:
    """The alert's unreversed confirmed-violation entry (deduction or first offence), if any."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            f"SELECT {_COLUMNS} FROM credit_ledger d WHERE alert_id = %s"
            " AND entry_type = ANY(%s) AND NOT EXISTS (SELECT 1 FROM credit_ledger r"
            " WHERE r.ref_id = d.id AND r.entry_type = 'reversal') ORDER BY id DESC LIMIT 1",
            (alert_id, list(VIOLATION_TYPES)))
        return await cur.fetchone()


async def confirmed_violations(
    conn: psycopg.AsyncConnection[Any], enterprise_id: str, rule: str, since: datetime,
    until: datetime, *, types: tuple[str, ...] = VIOLATION_TYPES,
    exclude_alert_id: int | None = None,
) -> list[dict[str, Any]]:
    """Unreversed confirmed violations (entries of ``types``, by default deductions and
    first offences; the ``credit_violations`` view of migration 0014) of the enterprise
    and rule whose violation started in ``[since, until)``, oldest first, leaving out
    those of ``exclude_alert_id``."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "SELECT id, entry_type, alert_id, occurred_at, points FROM credit_violations"
            " WHERE enterprise_id = %s AND rule = %s AND entry_type = ANY(%s)"
            " AND occurred_at >= %s AND occurred_at < %s AND alert_id IS DISTINCT FROM %s::bigint"
            " ORDER BY occurred_at, id",
            (enterprise_id, rule, list(types), since, until, exclude_alert_id))
        return await cur.fetchall()


async def repeat_count(conn: psycopg.AsyncConnection[Any], enterprise_id: str, rule: str,
                       occurred_at: datetime, window: timedelta) -> int:
    """Earlier confirmed violations of the same enterprise and rule: unreversed deductions
    and first offences (首违不罚 counts as a violation) that started in
    ``[occurred_at - window, occurred_at)``."""
    return len(await confirmed_violations(conn, enterprise_id, rule, occurred_at - window,
                                          occurred_at))


async def repair(conn: psycopg.AsyncConnection[Any], deduction_id: int, *, actor: Mapping[str, Any],
                 reason: str, now: datetime | None = None) -> dict[str, Any]:
    """Restore the points of a deduction whose waiting period has passed (credit repair
    after rectification). :class:`NotEligible` when it is not a live deduction, is
    already repaired, or its waiting period runs until later than ``now`` (default: the
    database's clock)."""
    async with conn.transaction():
        await lock_chain(conn)
        entry = await fetch_entry(conn, deduction_id)
        if entry is None:
            raise EntryNotFound(f"no credit ledger entry {deduction_id}")
        if entry["entry_type"] != "deduction":
            raise NotEligible(f"entry {deduction_id} is a {entry['entry_type']}; only deductions are repaired")
        if await _is_reversed(conn, deduction_id):
            raise NotEligible(f"deduction {deduction_id} was reversed; there is nothing to repair")
        if await _active_ref(conn, deduction_id, "repair") is not None:
            raise NotEligible(f"deduction {deduction_id} is already repaired")
        if entry["points"] == 0:
            raise NotEligible(f"deduction {deduction_id} took no points; there is nothing to repair")
        slot = await next_slot(conn)
        at = now or slot.now
        if entry["repair_after"] is not None and at < entry["repair_after"]:
            raise NotEligible(f"deduction {deduction_id} can be repaired from "
                              f"{entry['repair_after'].isoformat()} (waiting period)")
        return await append_entry(
            conn, slot, enterprise_id=entry["enterprise_id"], entry_type="repair",
            points=-int(entry["points"]), occurred_at=at, reason=reason, actor=actor,
            alert_id=entry["alert_id"], rule=entry["rule"], severity=entry["severity"],
            ref_id=deduction_id)


async def reverse(conn: psycopg.AsyncConnection[Any], entry_id: int, *, actor: Mapping[str, Any],
                  reason: str) -> list[dict[str, Any]]:
    """Cancel an entry with a reversal entry of opposite points. Reversing a deduction
    that was repaired reverses the repair first, so the net effect is nil. A reversal
    cannot itself be reversed (confirm the alert again instead)."""
    async with conn.transaction():
        await lock_chain(conn)
        entry = await fetch_entry(conn, entry_id)
        if entry is None:
            raise EntryNotFound(f"no credit ledger entry {entry_id}")
        if entry["entry_type"] == "reversal":
            raise NotEligible(f"entry {entry_id} is a reversal; a reversal is final")
        if await _is_reversed(conn, entry_id):
            raise NotEligible(f"entry {entry_id} is already reversed")
        targets = [entry]
        if entry["entry_type"] == "deduction":
            repaired = await _active_ref(conn, entry_id, "repair")
            if repaired is not None:
                targets.insert(0, repaired)
        written = []
        for target in targets:
            slot = await next_slot(conn)
            written.append(await append_entry(
                conn, slot, enterprise_id=target["enterprise_id"], entry_type="reversal",
                points=-int(target["points"]), occurred_at=slot.now, reason=reason, actor=actor,
                alert_id=target["alert_id"], rule=target["rule"], severity=target["severity"],
                ref_id=int(target["id"])))
        return written


async def repair_due(conn: psycopg.AsyncConnection[Any], *, now: datetime | None = None,
                     limit: int = 500) -> list[dict[str, Any]]:
    """Automatic credit repair: repair every live, unrepaired deduction whose waiting
    period has passed, whose alert's condition has ended, and for which no newer
    same-rule deduction of the enterprise is still in its own waiting period (the
    behaviour has stayed corrected). Returns the repair entries written."""
    at = now
    if at is None:
        cur = await conn.execute("SELECT now()")
        row = await cur.fetchone()
        assert row is not None
        at = row[0]
    cur = await conn.execute(
        "SELECT d.id FROM credit_ledger d JOIN alerts a ON a.id = d.alert_id"
        " WHERE d.entry_type = 'deduction' AND d.points < 0 AND d.repair_after <= %(now)s"
        " AND a.end_ts IS NOT NULL"
        " AND NOT EXISTS (SELECT 1 FROM credit_ledger x WHERE x.ref_id = d.id"
        "   AND (x.entry_type = 'reversal' OR (x.entry_type = 'repair' AND NOT EXISTS ("
        "     SELECT 1 FROM credit_ledger y WHERE y.ref_id = x.id AND y.entry_type = 'reversal'))))"
        " AND NOT EXISTS (SELECT 1 FROM credit_ledger l WHERE l.enterprise_id = d.enterprise_id"
        "   AND l.rule = d.rule AND l.entry_type = 'deduction' AND l.id > d.id"
        "   AND l.repair_after > %(now)s AND NOT EXISTS (SELECT 1 FROM credit_ledger z"
        "     WHERE z.ref_id = l.id AND z.entry_type = 'reversal'))"
        " ORDER BY d.id LIMIT %(limit)s", {"now": at, "limit": limit})
    written = []
    for (deduction_id,) in await cur.fetchall():
        try:
            written.append(await repair(
                conn, int(deduction_id), actor=SYSTEM_ACTOR, now=at,
                reason=AUTO_REPAIR_REASON))
        except NotEligible as exc:  # raced with an officer's repair or reversal
            log.info("automatic repair of %s skipped: %s", deduction_id, exc)
    return written


async def enterprise_standing(conn: psycopg.AsyncConnection[Any], enterprise_id: str) -> tuple[int, str, int]:
    """(score, level, number of ledger entries) of an enterprise; (100, 'A', 0) without entries."""
    cur = await conn.execute(
        "SELECT s.score, s.level, (SELECT count(*) FROM credit_ledger WHERE enterprise_id = %s)"
        " FROM credit_scores s WHERE s.enterprise_id = %s", (enterprise_id, enterprise_id))
    row = await cur.fetchone()
    if row is None:
        return FULL_SCORE, level_for(FULL_SCORE), 0
    return int(row[0]), str(row[1]), int(row[2])


async def history(conn: psycopg.AsyncConnection[Any], enterprise_id: str, *, limit: int,
                  before_id: int | None = None) -> list[dict[str, Any]]:
    """Ledger entries of an enterprise, newest first, with the evidence hash they rest on;
    at most ``limit`` + 1 rows (one more tells the caller another page follows)."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "SELECT l.*, e.sha256 AS evidence_sha256,"
            " (SELECT r.id FROM credit_ledger r WHERE r.ref_id = l.id AND r.entry_type = 'reversal')"
            "   AS reversed_by,"
            " (SELECT r.id FROM credit_ledger r WHERE r.ref_id = l.id AND r.entry_type = 'repair'"
            "   ORDER BY r.id DESC LIMIT 1) AS repaired_by"
            " FROM credit_ledger l LEFT JOIN evidence_packages e ON e.id = l.evidence_id"
            " WHERE l.enterprise_id = %s AND (%s::bigint IS NULL OR l.id < %s)"
            " ORDER BY l.id DESC LIMIT %s",
            (enterprise_id, before_id, before_id, limit + 1))
        return await cur.fetchall()
