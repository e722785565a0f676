"""Versioned SQL migrations under an advisory lock.

``NNNN_name.sql`` runs in one transaction. When the TimescaleDB extension is
available, ``NNNN_name.timescale.sql`` runs right after it, statement by
statement outside a transaction (continuous aggregates cannot be created inside
one). Each version is recorded in ``schema_migrations`` with the mode it ran in,
so running migrations twice is a no-op.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from importlib import resources
from typing import Any, Literal

import psycopg

from ecowarn.store._errors import StoreError

__all__ = ["Migration", "StorageMode", "detect_mode", "list_migrations", "migrate"]

log = logging.getLogger(__name__)

StorageMode = Literal["timescaledb", "postgresql"]

# pg_advisory_lock key: "ecowarn" as an integer, shared by every instance.
_LOCK_KEY = 0x65636F7761726E


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str
    timescale_sql: str | None


def list_migrations() -> list[Migration]:
    files = {p.name: p for p in resources.files("ecowarn.store").joinpath("migrations").iterdir()}
    out = []
    for fname in sorted(files):
        m = re.fullmatch(r"(\d{4})_(\w+)\.sql", fname)
        if not m:
            continue
        ts_name = f"{m.group(1)}_{m.group(2)}.timescale.sql"
        out.append(Migration(
            version=int(m.group(1)), name=m.group(2), sql=files[fname].read_text("utf-8"),
            timescale_sql=files[ts_name].read_text("utf-8") if ts_name in files else None,
        ))
    return out


def _statements(sql: str) -> list[str]:
    """Split a migration into statements (no dollar quoting in these files)."""
    body = "\n".join(line for line in sql.splitlines() if not line.lstrip().startswith("--"))
    return [s.strip() for s in body.split(";") if s.strip()]


async def detect_mode(conn: psycopg.AsyncConnection[Any]) -> StorageMode:
    """``timescaledb`` when the extension is installed or installable, else ``postgresql``."""
    cur = await conn.execute(
        "SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb'),"
        " EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb')"
    )
    row = await cur.fetchone()
    assert row is not None
    installed, available = bool(row[0]), bool(row[1])
    return "timescaledb" if installed or available else "postgresql"


async def migrate(dsn: str) -> tuple[StorageMode, list[int]]:
    """Apply pending migrations; return the storage mode and the versions applied."""
    try:
        conn = await psycopg.AsyncConnection.connect(dsn, autocommit=True)
    except psycopg.OperationalError as exc:
        raise StoreError(f"cannot connect to the database: {exc}") from exc
    applied: list[int] = []
    async with conn:
        await conn.execute("SELECT pg_advisory_lock(%s)", (_LOCK_KEY,))
        try:
            mode = await detect_mode(conn)
            if mode == "timescaledb":
                await conn.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
            await conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " version integer PRIMARY KEY, name text NOT NULL, mode text NOT NULL,"
                " applied_at timestamptz NOT NULL DEFAULT now())"
            )
            cur = await conn.execute("SELECT version, mode FROM schema_migrations")
            done = {r[0]: r[1] for r in await cur.fetchall()}
            for mig in list_migrations():
                if mig.version not in done:
                    log.info("applying migration %04d_%s", mig.version, mig.name)
                    async with conn.transaction():
                        await conn.execute(mig.sql.encode())
                        await conn.execute(
                            "INSERT INTO schema_migrations (version, name, mode)"
                            " VALUES (%s, %s, 'postgresql')",
                            (mig.version, mig.name),
                        )
                    applied.append(mig.version)
                # The TimescaleDB layer is tracked on its own, so a database migrated
                # on plain PostgreSQL gains it once the extension is installed.
                if mode == "timescaledb" and done.get(mig.version) != "timescaledb":
                    if mig.timescale_sql:
                        log.info("applying TimescaleDB layer of %04d_%s", mig.version, mig.name)
                        for stmt in _statements(mig.timescale_sql):
                            await conn.execute(stmt.encode())
                    await conn.execute(
                        "UPDATE schema_migrations SET mode = 'timescaledb' WHERE version = %s",
                        (mig.version,),
                    )
                    if mig.version not in applied:
                        applied.append(mig.version)
        finally:
            await conn.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_KEY,))
    return mode, applied
