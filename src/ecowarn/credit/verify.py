"""Check the hash chain (``ecowarn verify``) of evidence packages and ledger entries.

Walks every entry in chain order and checks, for each: its ``prev_hash`` is the
previous entry's ``hash`` (64 zeros for the first), its ``hash`` is
``sha256(prev_hash || canonical payload)`` recomputed from the stored columns,
and for an evidence package that ``sha256`` is the digest of the stored package.
It stops at the first broken entry and names it; exit status 0 when the chain is
intact, 1 when it is broken. The head hash it prints can be kept elsewhere (the
credit feed hands every entry's hash to the credit system) to detect a rewrite of
the whole tail.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg.rows import dict_row

from ecowarn.credit._canonical import GENESIS_HASH, link_hash, sha256_hex
from ecowarn.credit.chain import LEDGER_FIELDS, evidence_payload, ledger_payload

__all__ = ["VerifyResult", "verify_chain"]

_EVIDENCE_SQL = (
    "SELECT 'evidence' AS kind, id, alert_id, enterprise_id, sha256, created_at, chain_seq,"
    " prev_hash, hash, canonical FROM evidence_packages")
_LEDGER_SQL = (
    f"SELECT 'ledger' AS kind, {', '.join(LEDGER_FIELDS)}, prev_hash, hash FROM credit_ledger")


@dataclass(frozen=True, slots=True)
class VerifyResult:
    ok: bool
    entries: int
    evidence: int
    ledger: int
    head_seq: int | None
    head_hash: str
    broken: str | None = None  # "ledger entry 17 (chain seq 42): ..." for the first problem

    def describe(self) -> str:
        if not self.ok:
            return f"chain BROKEN at {self.broken}"
        if self.entries == 0:
            return "chain intact: no entries yet"
        return (f"chain intact: {self.entries} entries ({self.evidence} evidence packages, "
                f"{self.ledger} ledger entries); head seq {self.head_seq} hash {self.head_hash}")


async def _entries(conn: psycopg.AsyncConnection[Any]) -> AsyncIterator[dict[str, Any]]:
    """Both tables merged in chain order, streamed (server-side cursors)."""
    async def stream(query: str, name: str) -> AsyncIterator[dict[str, Any]]:
        async with conn.cursor(name=name, row_factory=dict_row) as cur:
            await cur.execute(query + " ORDER BY chain_seq")
            async for row in cur:
                yield row

    ev, lg = stream(_EVIDENCE_SQL, "verify_evidence"), stream(_LEDGER_SQL, "verify_ledger")
    a, b = await anext(ev, None), await anext(lg, None)
    while a is not None or b is not None:
        if b is None or (a is not None and a["chain_seq"] < b["chain_seq"]):
            assert a is not None
            yield a
            a = await anext(ev, None)
        else:
            yield b
            b = await anext(lg, None)


def _name(row: dict[str, Any]) -> str:
    what = "evidence package" if row["kind"] == "evidence" else "ledger entry"
    return f"{what} {row['id']} (chain seq {row['chain_seq']})"


async def verify_chain(conn: psycopg.AsyncConnection[Any]) -> VerifyResult:
    """Check the whole chain; see the module docstring. Needs a transaction (cursors)."""
    prev, n, n_ev, n_lg, head_seq = GENESIS_HASH, 0, 0, 0, None

    def result(broken: str | None = None) -> VerifyResult:
        return VerifyResult(ok=broken is None, entries=n, evidence=n_ev, ledger=n_lg,
                            head_seq=head_seq, head_hash=prev, broken=broken)

    async for row in _entries(conn):
        if row["prev_hash"] != prev:
            return result(f"{_name(row)}: prev_hash {row['prev_hash']} does not match the previous "
                          f"entry's hash {prev} (an entry before it was removed, inserted or changed)")
        if row["kind"] == "evidence":
            digest = sha256_hex(row["canonical"].encode("utf-8"))
            if digest != row["sha256"]:
                return result(f"{_name(row)}: the stored package hashes to {digest}, "
                              f"not its recorded sha256 {row['sha256']} (package changed)")
            payload = evidence_payload(row)
        else:
            payload = ledger_payload(row)
        computed = link_hash(row["prev_hash"], payload)
        if computed != row["hash"]:
            return result(f"{_name(row)}: stored hash {row['hash']} != recomputed {computed} "
                          f"(the row was changed after it was written)")
        prev, head_seq = row["hash"], row["chain_seq"]
        n += 1
        if row["kind"] == "evidence":
            n_ev += 1
        else:
            n_lg += 1
    return result()
