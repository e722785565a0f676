"""`ecowarn verify`: the hash chain over evidence packages and ledger entries."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone

import psycopg
from psycopg.types.json import Jsonb

from ecowarn.config import packaged_file
from ecowarn.config.registry import load_registry
from ecowarn.credit import CreditService, load_credit_params
from ecowarn.credit.ledger import reverse

CST = timezone(timedelta(hours=8))
T0 = datetime(2026, 11, 20, 8, 0, tzinfo=CST)
REGISTRY = str(packaged_file("registry.example.yaml"))


class Officer:
    token_id = 1
    role = "officer"
    label = "Officer Li"


def run_verify(dsn: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ECOWARN_")}
    env["ECOWARN_DATABASE_URL"] = dsn
    return subprocess.run([sys.executable, "-m", "ecowarn", "verify"], capture_output=True, text=True,
                          env=env, timeout=60)


async def _seed(dsn: str) -> list[int]:
    """Three confirmed alerts and one reversal: 7 chain entries. Returns the ledger ids."""
    service = CreditService(load_registry(REGISTRY), load_credit_params())
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
        for i in range(3):
            cur = await conn.execute(
                "INSERT INTO alerts (rule, subject, enterprise_id, device_ids, start_ts, end_ts, severity,"
                " summary, summary_zh, params, evidence) VALUES ('treatment_off', 'PWR-KILN-1',"
                " '91130105MA0CXXXX1X', ARRAY['PWR-KILN-1'], %s, %s, 'high', 's', 's', %s, %s) RETURNING id",
                (T0 + timedelta(days=i), T0 + timedelta(days=i, hours=1), Jsonb({}), Jsonb({})))
            row = await cur.fetchone()
            assert row is not None
            await service.on_alert_confirmed(conn, int(row[0]), Officer())
        cur = await conn.execute("SELECT id FROM credit_ledger ORDER BY id")
        ids = [int(r[0]) for r in await cur.fetchall()]
        await reverse(conn, ids[0], actor={"role": "officer"}, reason="review")
        cur = await conn.execute("SELECT id FROM credit_ledger ORDER BY id")
        return [int(r[0]) for r in await cur.fetchall()]


def _tamper(dsn: str, statement: str, table: str) -> None:
    """What a superuser could do: switch the append-only trigger off, edit, switch it back on."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"ALTER TABLE {table} DISABLE TRIGGER USER")
        conn.execute(statement)
        conn.execute(f"ALTER TABLE {table} ENABLE TRIGGER USER")


async def test_verify_passes_on_an_untouched_chain(database: str) -> None:
    """The chain of 3 packages and 4 ledger entries verifies; the head hash is printed."""
    await _seed(database)
    res = run_verify(database)
    assert res.returncode == 0, res.stderr
    assert "chain intact: 7 entries (3 evidence packages, 4 ledger entries); head seq" in res.stdout


async def test_verify_names_a_ledger_row_edited_in_the_database(database: str) -> None:
    """Points changed behind the trigger's back: verify exits 1 naming that ledger entry."""
    ids = await _seed(database)
    with psycopg.connect(database) as conn:
        seq = conn.execute("SELECT chain_seq FROM credit_ledger WHERE id = %s", (ids[1],)).fetchone()
    assert seq is not None
    _tamper(database, f"UPDATE credit_ledger SET points = -1 WHERE id = {ids[1]}", "credit_ledger")
    res = run_verify(database)
    assert res.returncode == 1
    assert f"chain BROKEN at ledger entry {ids[1]} (chain seq {seq[0]}): stored hash" in res.stdout
    assert "changed after it was written" in res.stdout


async def test_verify_names_an_edited_evidence_package(database: str) -> None:
    """A reading changed inside a frozen package is caught by the package's SHA-256."""
    await _seed(database)
    with psycopg.connect(database) as conn:
        row = conn.execute("SELECT id, chain_seq FROM evidence_packages ORDER BY id DESC LIMIT 1").fetchone()
    assert row is not None
    _tamper(database, f"UPDATE evidence_packages SET canonical = replace(canonical, '\"high\"', '\"low\"')"
                      f" WHERE id = {row[0]}", "evidence_packages")
    res = run_verify(database)
    assert res.returncode == 1
    assert f"evidence package {row[0]} (chain seq {row[1]}): the stored package hashes to" in res.stdout


async def test_verify_names_the_entry_after_a_deleted_one(database: str) -> None:
    """Deleting a ledger entry breaks the link of the entry after it, which verify names."""
    ids = await _seed(database)
    with psycopg.connect(database) as conn:
        seq = conn.execute("SELECT chain_seq FROM credit_ledger WHERE id = %s", (ids[1],)).fetchone()
        assert seq is not None
        nxt = conn.execute("SELECT id, chain_seq FROM evidence_packages WHERE chain_seq > %s"
                           " ORDER BY chain_seq LIMIT 1", (seq[0],)).fetchone()
    assert nxt is not None and nxt[1] == seq[0] + 1
    _tamper(database, f"DELETE FROM credit_ledger WHERE id = {ids[1]}", "credit_ledger")
    res = run_verify(database)
    assert res.returncode == 1
    assert (f"chain BROKEN at evidence package {nxt[0]} (chain seq {nxt[1]}): prev_hash"
            in res.stdout), res.stdout
    assert "does not match the previous entry's hash" in res.stdout


async def test_verify_catches_a_rewritten_hash(database: str) -> None:
    """An entry whose stored hash was replaced no longer matches its recomputed hash."""
    ids = await _seed(database)
    _tamper(database, f"UPDATE credit_ledger SET hash = repeat('a', 64) WHERE id = {ids[2]}",
            "credit_ledger")
    res = run_verify(database)
    assert res.returncode == 1
    assert f"at ledger entry {ids[2]} (chain seq" in res.stdout
