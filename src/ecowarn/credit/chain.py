"""The one hash chain over evidence packages and credit ledger entries.

Each entry stores ``chain_seq``, ``prev_hash`` and ``hash = sha256(prev_hash ||
canonical payload)`` (:func:`credit._canonical.link_hash`); the first entry's
``prev_hash`` is 64 zeros. The payload of a row is built here, by the same
functions for the writer and for ``ecowarn verify``, from every column except the
two hashes, so editing any stored value, deleting or reordering entries breaks the
chain at that entry.

Appending takes a transaction-scoped advisory lock (:func:`lock_chain`) that is held
until the writer's transaction ends: chain order is commit order, and ids taken
under the lock grow in commit order too (the credit feed pages by id safely).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg

from ecowarn.credit._canonical import GENESIS_HASH, canonical_json, jsonable, ts

__all__ = [
    "LEDGER_FIELDS",
    "ChainSlot",
    "evidence_payload",
    "ledger_payload",
    "lock_chain",
    "next_slot",
]

# pg_advisory_xact_lock key of the chain ("ecocredt" as an integer).
CHAIN_LOCK_KEY = 0x65636F6372656474

# Columns of credit_ledger covered by the hash (everything but prev_hash and hash).
LEDGER_FIELDS = (
    "id", "enterprise_id", "entry_type", "points", "score_after", "level_after", "alert_id",
    "rule", "severity", "repeat_count", "evidence_id", "ref_id", "repair_after", "occurred_at",
    "reason", "actor", "created_at", "chain_seq",
)
EVIDENCE_FIELDS = ("id", "alert_id", "enterprise_id", "sha256", "created_at", "chain_seq")


@dataclass(frozen=True, slots=True)
class ChainSlot:
    """Where the next entry goes: its sequence number, predecessor's hash and timestamp."""

    seq: int
    prev_hash: str
    now: datetime


async def lock_chain(conn: psycopg.AsyncConnection[Any]) -> None:
    """Serialise chain writers until the current transaction ends."""
    await conn.execute("SELECT pg_advisory_xact_lock(%s)", (CHAIN_LOCK_KEY,))


async def next_slot(conn: psycopg.AsyncConnection[Any]) -> ChainSlot:
    """The slot for one new entry; call with the chain lock held (:func:`lock_chain`)."""
    cur = await conn.execute(
        "SELECT hash FROM ("
        " (SELECT chain_seq, hash FROM evidence_packages ORDER BY chain_seq DESC LIMIT 1)"
        " UNION ALL"
        " (SELECT chain_seq, hash FROM credit_ledger ORDER BY chain_seq DESC LIMIT 1)"
        ") last ORDER BY chain_seq DESC LIMIT 1")
    row = await cur.fetchone()
    prev = str(row[0]) if row else GENESIS_HASH
    cur = await conn.execute("SELECT nextval('credit_chain_seq'), now()")
    seq_row = await cur.fetchone()
    assert seq_row is not None
    return ChainSlot(seq=int(seq_row[0]), prev_hash=prev, now=seq_row[1])


def _ts_or_none(value: datetime | None) -> str | None:
    return None if value is None else ts(value)


def ledger_payload(row: dict[str, Any]) -> bytes:
    """Canonical payload of a credit_ledger row (a mapping with :data:`LEDGER_FIELDS`)."""
    body = {k: row[k] for k in LEDGER_FIELDS}
    for k in ("repair_after", "occurred_at", "created_at"):
        body[k] = _ts_or_none(body[k])
    body["actor"] = jsonable(body["actor"])
    return canonical_json({"type": "ledger", **body})


def evidence_payload(row: dict[str, Any]) -> bytes:
    """Canonical payload of an evidence_packages row's chain entry (the package itself is
    covered through its SHA-256, which ``verify`` recomputes from ``canonical``)."""
    body = {k: row[k] for k in EVIDENCE_FIELDS}
    body["created_at"] = ts(body["created_at"])
    return canonical_json({"type": "evidence", **body})
