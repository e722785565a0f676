"""Backup and restore as docs/operations.md says: pg_dump of a running service's database,
pg_restore into a new database, `ecowarn verify` on the copy: the hash chain still checks."""

from __future__ import annotations

import asyncio
import shutil
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from conftest import ADMIN_DSN, eventually
from prometheus_client import CollectorRegistry
from psycopg import sql
from test_credit_verify import _seed, run_verify

from ecowarn.config.registry import Registry
from ecowarn.config.settings import load_settings
from ecowarn.service import open_service
from ecowarn.store.model import Row

pytestmark = pytest.mark.skipif(shutil.which("pg_dump") is None or shutil.which("pg_restore") is None,
                                reason="needs the PostgreSQL client tools pg_dump and pg_restore")


@pytest.fixture
def restore_target() -> Iterator[str]:
    """An empty database to restore into (created with createdb semantics), dropped afterwards."""
    name = f"ecowarn_r_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(ADMIN_DSN, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield psycopg.conninfo.make_conninfo(ADMIN_DSN, dbname=name)
    finally:
        with psycopg.connect(ADMIN_DSN, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier(name)))


def counts(dsn: str) -> tuple[int, int, int]:
    with psycopg.connect(dsn) as conn:
        row = conn.execute("SELECT (SELECT count(*) FROM readings),"
                           " (SELECT count(*) FROM credit_ledger),"
                           " (SELECT count(*) FROM evidence_packages)").fetchone()
        assert row is not None
        return int(row[0]), int(row[1]), int(row[2])


@pytest.mark.timeout(180)
async def test_dump_of_a_running_service_restores_and_its_chain_verifies(
        database: str, restore_target: str, sample_registry: Registry, tmp_path: Path) -> None:
    """While the service ingests, pg_dump -Fc takes a consistent copy; pg_restore into a new database
    and `ecowarn verify` there: intact, same ledger and evidence; a later edit there is caught."""
    await _seed(database)
    settings = load_settings(database_url=database, spool_dir=str(tmp_path / "spool"), runner="off")
    dump = tmp_path / "ecowarn.dump"
    t0 = datetime(2026, 11, 23, tzinfo=UTC)
    async with open_service(settings, sample_registry, mqtt=False, http=False, hj212=False,
                            metrics_registry=CollectorRegistry()) as svc:
        stop = asyncio.Event()

        async def ingest() -> int:
            n = 0
            while not stop.is_set():
                await svc.pipeline.submit([Row("PWR-KILN-1", "p", t0 + timedelta(minutes=n),
                                               float(n), "N")], wait=True)
                n += 1
            return n

        writer = asyncio.create_task(ingest())
        await eventually(lambda: counts(database)[0] >= 20, 30, "readings before the dump")
        proc = await asyncio.create_subprocess_exec(
            "pg_dump", "-Fc", "-f", str(dump), "-d", database,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        _out, err = await proc.communicate()
        assert proc.returncode == 0, err.decode()
        stop.set()
        sent = await writer
        await svc.pipeline.drain(30)
    source = counts(database)
    assert source[0] == sent

    restored = await asyncio.create_subprocess_exec(
        "pg_restore", "--no-owner", "--exit-on-error", "-d", restore_target, str(dump),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    _out, err = await restored.communicate()
    assert restored.returncode == 0, err.decode()
    copy = counts(restore_target)
    assert copy[1:] == source[1:] == (4, 3)  # every ledger entry and evidence package
    assert 20 <= copy[0] <= source[0]  # the readings committed when the dump began

    res = run_verify(restore_target)
    assert res.stdout == run_verify(database).stdout  # same head hash as the source
    assert res.returncode == 0, res.stdout + res.stderr
    assert "chain intact: 7 entries (3 evidence packages, 4 ledger entries)" in res.stdout

    with psycopg.connect(restore_target, autocommit=True) as conn:
        conn.execute("ALTER TABLE credit_ledger DISABLE TRIGGER USER")
        conn.execute("UPDATE credit_ledger SET points = points + 1 WHERE id = (SELECT min(id)"
                     " FROM credit_ledger WHERE points <> 0)")
        conn.execute("ALTER TABLE credit_ledger ENABLE TRIGGER USER")
    assert run_verify(restore_target).returncode == 1
