"""A spool belongs to one database: it is never replayed into another one.

The spool records the database it is for (``database.json``); a spool found at
start that belongs to another database is moved aside as ``<dir>.foreign-<time>``,
reported in the log and ``/healthz``, and left to ``ecowarn spool`` (inspect,
replay into its own database, discard).
"""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import psycopg
import pytest
from conftest import ADMIN_DSN
from prometheus_client import CollectorRegistry
from psycopg import sql
from psycopg_pool import AsyncConnectionPool

from ecowarn.cli import main
from ecowarn.config.registry import Registry
from ecowarn.config.settings import load_settings
from ecowarn.ingest.pipeline import IngestMetrics, IngestPipeline
from ecowarn.ingest.spool import Spool, SpoolBatch, SpoolForeign
from ecowarn.service import open_service
from ecowarn.store import migrate
from ecowarn.store.identity import DatabaseIdentity, dsn_target, pool_identity
from ecowarn.store.model import Row

T0 = datetime(2026, 11, 23, tzinfo=UTC)
A = DatabaseIdentity(target="db-a:5432/ecowarn", database="ecowarn", system_identifier="111")
B = DatabaseIdentity(target="db-b:5432/ecowarn", database="ecowarn", system_identifier="222")


@pytest.fixture
async def other_database() -> AsyncIterator[str]:
    """A second migrated database on the same cluster (same cluster id, another name)."""
    name = f"ecowarn_t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(ADMIN_DSN, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    dsn = psycopg.conninfo.make_conninfo(ADMIN_DSN, dbname=name)
    try:
        await migrate(dsn)
        yield dsn
    finally:
        with psycopg.connect(ADMIN_DSN, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier(name)))


def rows(device: str, first: int, n: int) -> list[Row]:
    return [Row(device, "p", T0 + timedelta(minutes=first + k), float(first + k), "N")
            for k in range(n)]


async def fill(directory: Path, database: DatabaseIdentity | None, batches: int = 3,
               device: str = "PWR-KILN-1") -> None:
    async with Spool(directory, max_bytes=1 << 20, database=database) as spool:
        for i in range(batches):
            await spool.append(SpoolBatch(1_800_000_000.0 + i, rows(device, i * 10, 10), []))


def stored(dsn: str) -> int:
    with psycopg.connect(dsn) as conn:
        row = conn.execute("SELECT count(*) FROM readings").fetchone()
        assert row is not None
        return int(row[0])


async def test_a_spool_records_its_database_when_created(tmp_path: Path) -> None:
    """The first append writes database.json with the target, name and cluster id."""
    d = tmp_path / "spool"
    await fill(d, A, batches=1)
    recorded = json.loads((d / "database.json").read_text("utf-8"))
    assert (recorded["target"], recorded["database"], recorded["system_identifier"]) == (
        "db-a:5432/ecowarn", "ecowarn", "111")


async def test_a_spool_of_another_database_is_set_aside_not_replayed(tmp_path: Path) -> None:
    """Opened for database B, a spool holding A's batches is moved aside whole; B's spool is empty,
    and the set-aside one is reported (log, health) at this and every later start."""
    d = tmp_path / "spool"
    await fill(d, A, batches=3)
    async with Spool(d, max_bytes=1 << 20, database=B) as spool:
        assert spool.pending_records == 0
        [aside] = spool.set_aside
        assert aside.path.name.startswith("spool.foreign-")
        assert (aside.batches, aside.readings, aside.devices) == (3, 30, 1)
        assert aside.database == A
        health = spool.health()
        assert health["status"] == "foreign_spool"
        assert health["set_aside"] == [aside.as_json()]
        # B's own outage data goes into a fresh spool bound to B.
        await spool.append(SpoolBatch(0.0, rows("PWR-BAG-1", 0, 2), []))
    assert json.loads((d / "database.json").read_text("utf-8"))["system_identifier"] == "222"
    async with Spool(d, max_bytes=1 << 20, database=B) as spool:
        assert spool.pending_records == 1
        assert [s.batches for s in spool.set_aside] == [3]


async def test_its_own_database_keeps_the_spool(tmp_path: Path) -> None:
    """Reopened for the database it belongs to, nothing is set aside and the batches wait for replay."""
    d = tmp_path / "spool"
    await fill(d, A, batches=2)
    async with Spool(d, max_bytes=1 << 20, database=A) as spool:
        assert spool.pending_records == 2 and spool.set_aside == []
        assert spool.health()["status"] == "ok"


async def test_an_empty_spool_of_another_database_is_simply_rebound(tmp_path: Path) -> None:
    """A spool with nothing left to replay is not worth setting aside: it is bound to the new database."""
    d = tmp_path / "spool"
    await fill(d, A, batches=0)
    async with Spool(d, max_bytes=1 << 20, database=A) as spool:
        await spool.append(SpoolBatch(0.0, rows("PWR-KILN-1", 0, 1), []))
        chunk = await spool.read(100)
        await spool.consume(chunk)
    async with Spool(d, max_bytes=1 << 20, database=B) as spool:
        assert spool.set_aside == [] and spool.pending_records == 0
    assert json.loads((d / "database.json").read_text("utf-8"))["target"] == B.target


async def test_a_spool_that_never_recorded_its_database_is_set_aside(tmp_path: Path) -> None:
    """Batches of unknown origin (a spool written without a database) are not guessed into this one."""
    d = tmp_path / "spool"
    await fill(d, None, batches=2)
    assert not (d / "database.json").exists()
    async with Spool(d, max_bytes=1 << 20, database=A) as spool:
        assert spool.pending_records == 0
        assert [(s.batches, s.database) for s in spool.set_aside] == [(2, None)]


async def test_refuse_mode_raises_instead_of_moving(tmp_path: Path) -> None:
    """The replay command opens spools in refuse mode: another database is an error, nothing moves."""
    d = tmp_path / "spool"
    await fill(d, A, batches=1)
    with pytest.raises(SpoolForeign, match="db-a:5432/ecowarn"):
        async with Spool(d, max_bytes=1 << 20, database=B, on_foreign="refuse"):
            pass
    assert sorted(os.listdir(tmp_path)) == ["spool"]


async def test_binding_by_target_is_checked_against_the_cluster_that_answers(
        tmp_path: Path) -> None:
    """A spool written before the database ever answered (target only) is confirmed by the live
    cluster: the same target gets its cluster id recorded; a later different cluster sets it aside."""
    d = tmp_path / "spool"
    target_only = DatabaseIdentity(target=A.target, database="ecowarn")
    await fill(d, target_only, batches=2)
    async with Spool(d, max_bytes=1 << 20, database=target_only) as spool:
        assert await spool.confirm(A) is True
        assert spool.pending_records == 2
    assert json.loads((d / "database.json").read_text("utf-8"))["system_identifier"] == "111"
    moved_cluster = DatabaseIdentity(target=A.target, database="ecowarn", system_identifier="999")
    async with Spool(d, max_bytes=1 << 20, database=target_only) as spool:
        assert spool.pending_records == 2  # not yet known to be foreign
        assert await spool.confirm(moved_cluster) is False
        assert spool.pending_records == 0
        assert [s.batches for s in spool.set_aside] == [2]


async def test_the_pipeline_writes_nothing_of_a_foreign_spool(
        database: str, sample_registry: Registry, tmp_path: Path) -> None:
    """Against a real PostgreSQL: a spool that claims to be this database's by target, but was
    written for another cluster, is set aside at the first replay; new input goes straight in."""
    d = tmp_path / "spool"
    target = dsn_target(database)
    await fill(d, DatabaseIdentity(target=target.target, database=target.database,
                                   system_identifier="1"), batches=4)
    async with AsyncConnectionPool(database, min_size=1, max_size=4, open=False) as pool:
        live = await pool_identity(pool)
        assert live.system_identifier not in (None, "1")
        # The process only knows the target (as when it started during an outage).
        async with Spool(d, max_bytes=1 << 20, database=target) as spool:
            assert spool.pending_records == 4
            async with IngestPipeline(pool, sample_registry, IngestMetrics(CollectorRegistry()),
                                      flush_ms=1, spool=spool) as pl:
                await pl.drain(10)
                assert spool.pending_records == 0
                await pl.submit(rows("PWR-BAG-1", 0, 5), wait=True)
                await pl.drain(10)
            assert [s.readings for s in spool.set_aside] == [40]
    assert stored(database) == 5


async def test_the_service_reports_a_set_aside_spool_in_healthz(
        database: str, other_database: str, sample_registry: Registry, tmp_path: Path) -> None:
    """A service started against database B with database A's spool in its directory writes none of
    it into B and says so in /healthz (degraded, with the counts and A's name)."""
    spool_dir = tmp_path / "spool"
    async with AsyncConnectionPool(database, min_size=1, max_size=2, open=False) as pool:
        a = await pool_identity(pool)
    await fill(spool_dir, a, batches=3)
    settings = load_settings(database_url=other_database, spool_dir=str(spool_dir), runner="off")
    async with open_service(settings, sample_registry, mqtt=False, http=False, hj212=False,
                            metrics_registry=CollectorRegistry()) as svc:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=svc.app),
                                     base_url="http://svc") as client:
            r = await client.get("/healthz")
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "degraded"
    assert body["spool"]["status"] == "foreign_spool"
    [aside] = body["spool"]["set_aside"]
    assert (aside["batches"], aside["readings"]) == (3, 30)
    assert aside["database"]["database"] == a.database
    assert stored(other_database) == 0 and stored(database) == 0


def test_spool_command_inspects_replays_into_its_own_database_only_and_discards(
        empty_database: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """`ecowarn spool`: inspect lists the set-aside spool with its database; replay into another
    database is refused naming the right one; replay into its own writes every reading and removes
    the directory; discard asks for --yes, then deletes."""
    asyncio.run(migrate(empty_database))
    own = empty_database

    async def identity() -> DatabaseIdentity:
        async with AsyncConnectionPool(own, min_size=1, max_size=1, open=False) as pool:
            return await pool_identity(pool)

    home = tmp_path / "spool"
    aside = tmp_path / "spool.foreign-20261206T000000Z"
    asyncio.run(fill(aside, asyncio.run(identity()), batches=2))
    other = tmp_path / "other.foreign-20261206T000000Z"
    asyncio.run(fill(other, B, batches=1))
    monkeypatch.setenv("ECOWARN_DATABASE_URL", own)
    monkeypatch.setenv("ECOWARN_SPOOL_DIR", str(home))

    assert main(["spool", "inspect", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [(Path(s["path"]).name, s["batches"], s["readings"]) for s in listed] == [
        (aside.name, 2, 20)]
    export = tmp_path / "readings.jsonl"
    assert main(["spool", "inspect", "--dir", str(aside), "--readings", str(export)]) == 0
    lines = [json.loads(x) for x in export.read_text("utf-8").splitlines()]
    assert len(lines) == 20 and lines[0]["device_id"] == "PWR-KILN-1"

    capsys.readouterr()
    assert main(["spool", "replay", str(other)]) == 2
    err = capsys.readouterr().err
    assert "db-b:5432/ecowarn" in err and other.is_dir()
    assert main(["spool", "replay", str(aside)]) == 0
    assert stored(own) == 20 and not aside.exists()

    assert main(["spool", "discard", str(other)]) == 2
    assert other.is_dir()
    assert main(["spool", "discard", str(other), "--yes"]) == 0
    assert not other.exists()
