"""Versioned SQL migrations under an advisory lock.

``NNNN_name.sql`` runs in one transaction. When the TimescaleDB extension is
available, ``NNNN_name.timescale.sql`` runs right after it, statement by
statement outside a transaction (continuous aggregates cannot be created inside
one). Each version is recorded in ``schema_migrations`` with the mode it ran in,
so running migrations twice is a no-op.

A layer may hold statements for some TimescaleDB versions only, chosen at run time
from the installed ``extversion`` (:func:`select_statements`)::

    -- @if timescaledb >= 2.18
    CALL add_columnstore_policy('readings', after => INTERVAL '7 days', if_not_exists => true);
    -- @else
    SELECT add_compression_policy('readings', INTERVAL '7 days', if_not_exists => true);
    -- @end

so every TimescaleDB statement stays in the migration files, written for the API
of the version that runs it.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from importlib import resources
from typing import Any, Literal

import psycopg

from ecowarn.store._errors import StoreError

__all__ = ["Migration", "StorageMode", "detect_mode", "list_migrations", "migrate", "parse_version",
           "select_statements"]

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


_IF = re.compile(r"--\s*@if\s+timescaledb\s*(>=|<)\s*([\d.]+)\s*$")
_ELSE = re.compile(r"--\s*@else\s*$")
_END = re.compile(r"--\s*@end\s*$")
_DOLLAR = re.compile(r"\$(?:[A-Za-z_][A-Za-z_0-9]*)?\$")


def parse_version(text: str) -> tuple[int, ...]:
    """``'2.28.3'`` -> ``(2, 28, 3)``; a suffix such as ``-dev`` is ignored."""
    m = re.match(r"\d+(?:\.\d+)*", text.strip())
    if m is None:
        raise StoreError(f"cannot read the TimescaleDB version {text!r}")
    return tuple(int(p) for p in m.group(0).split("."))


def _choose(sql: str, version: tuple[int, ...]) -> str:
    """Keep the lines of the ``@if``/``@else`` branches that hold for ``version``."""
    out: list[str] = []
    branch: bool | None = None  # None: outside a conditional block
    for n, line in enumerate(sql.splitlines(), 1):
        text = line.strip()
        if m := _IF.fullmatch(text):
            if branch is not None:
                raise StoreError(f"line {n}: nested @if")
            bound = parse_version(m.group(2))
            branch = version >= bound if m.group(1) == ">=" else version < bound
        elif _ELSE.fullmatch(text):
            if branch is None:
                raise StoreError(f"line {n}: @else outside @if")
            branch = not branch
        elif _END.fullmatch(text):
            if branch is None:
                raise StoreError(f"line {n}: @end outside @if")
            branch = None
        elif branch is not False:
            out.append(line)
    if branch is not None:
        raise StoreError("@if without @end")
    return "\n".join(out)


def _split(sql: str) -> list[str]:
    """Split on semicolons outside quotes and dollar quoting; whole-line ``--`` comments dropped."""
    body = "\n".join(line for line in sql.splitlines() if not line.lstrip().startswith("--"))
    out: list[str] = []
    start = i = 0
    while i < len(body):
        ch = body[i]
        if ch == "'":
            i = body.index("'", i + 1) + 1 if "'" in body[i + 1:] else len(body)
            continue
        if ch == "$" and (m := _DOLLAR.match(body, i)):
            end = body.find(m.group(0), m.end())
            if end < 0:
                raise StoreError(f"unterminated {m.group(0)} quoting")
            i = end + len(m.group(0))
            continue
        if ch == ";":
            out.append(body[start:i])
            start = i + 1
        i += 1
    out.append(body[start:])
    return [s.strip() for s in out if s.strip()]


def select_statements(sql: str, version: tuple[int, ...]) -> list[str]:
    """The statements of a TimescaleDB layer that apply to extension ``version``, in order."""
    return _split(_choose(sql, version))


def _statements(sql: str) -> list[str]:
    """Split a migration into statements (conditional blocks are not chosen here)."""
    return _split(sql)


async def timescale_version(conn: psycopg.AsyncConnection[Any]) -> tuple[int, ...]:
    """The installed TimescaleDB version (``extversion`` of ``pg_extension``)."""
    cur = await conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'")
    row = await cur.fetchone()
    if row is None:
        raise StoreError("the timescaledb extension is not installed")
    return parse_version(str(row[0]))


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
    async with conn:
        await conn.execute("SELECT pg_advisory_lock(%s)", (_LOCK_KEY,))
        try:
            mode = await detect_mode(conn)
            version: tuple[int, ...] = ()
            if mode == "timescaledb":
                await conn.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
                version = await timescale_version(conn)
                log.info("TimescaleDB %s", ".".join(map(str, version)))
            applied = await apply_migrations(conn, mode, version, list_migrations())
        finally:
            await conn.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_KEY,))
    return mode, applied


async def apply_migrations(conn: psycopg.AsyncConnection[Any], mode: StorageMode,
                           version: tuple[int, ...], migrations: list[Migration]) -> list[int]:
    """Apply what ``schema_migrations`` lacks, in version order: each plain migration in one
    transaction, then (in ``timescaledb`` mode) its layer for TimescaleDB ``version``, one
    statement at a time outside a transaction. ``conn`` is in autocommit mode and holds the
    migration lock."""
    await conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        " version integer PRIMARY KEY, name text NOT NULL, mode text NOT NULL,"
        " applied_at timestamptz NOT NULL DEFAULT now())"
    )
    cur = await conn.execute("SELECT version, mode FROM schema_migrations")
    done = {r[0]: r[1] for r in await cur.fetchall()}
    applied: list[int] = []
    for mig in migrations:
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
                for stmt in select_statements(mig.timescale_sql, version):
                    await conn.execute(stmt.encode())
            await conn.execute(
                "UPDATE schema_migrations SET mode = 'timescaledb' WHERE version = %s",
                (mig.version,),
            )
            if mig.version not in applied:
                applied.append(mig.version)
    return applied
