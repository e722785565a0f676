"""Which database a connection string names, and which one answers on it.

A :class:`DatabaseIdentity` is what the ingest spool is bound to: the cluster's
``system_identifier`` (from ``pg_control_system()``, readable by any role) and
the database name, plus the connection target without credentials
(``host:port/dbname``) for people and for matching before the database has
answered once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict
from psycopg_pool import AsyncConnectionPool

from ecowarn.store._errors import StoreError, StoreUnavailable

__all__ = ["DatabaseIdentity", "database_identity", "dsn_target", "pool_identity"]


@dataclass(frozen=True, slots=True)
class DatabaseIdentity:
    """A database: its connection target, and once it answered, its cluster id and name."""

    target: str
    database: str
    system_identifier: str | None = None

    def same_database(self, other: DatabaseIdentity) -> bool:
        """Both name the same database: by cluster id and name when both are known, else by target."""
        if self.system_identifier and other.system_identifier:
            return (self.system_identifier, self.database) == (other.system_identifier,
                                                               other.database)
        return self.target == other.target

    def describe(self) -> str:
        cluster = f", cluster {self.system_identifier}" if self.system_identifier else ""
        return f"{self.database} at {self.target}{cluster}"


def dsn_target(dsn: str) -> DatabaseIdentity:
    """The identity a connection string promises (no credentials; cluster id unknown)."""
    params = conninfo_to_dict(dsn)
    host = str(params.get("host") or params.get("hostaddr") or "localhost")
    port = str(params.get("port") or "5432")
    dbname = str(params.get("dbname") or params.get("user") or "postgres")
    return DatabaseIdentity(target=f"{host}:{port}/{dbname}", database=dbname)


async def database_identity(conn: psycopg.AsyncConnection[Any]) -> DatabaseIdentity:
    """The identity of the database ``conn`` is connected to."""
    cur = await conn.execute(
        "SELECT system_identifier::text, current_database() FROM pg_control_system()")
    row = await cur.fetchone()
    assert row is not None
    info = conn.info
    return DatabaseIdentity(target=f"{info.host}:{info.port}/{info.dbname}", database=str(row[1]),
                            system_identifier=str(row[0]))


async def pool_identity(pool: AsyncConnectionPool[Any]) -> DatabaseIdentity:
    """The identity of the database ``pool`` connects to; :class:`StoreUnavailable` if away."""
    try:
        async with pool.connection() as conn:
            return await database_identity(conn)
    except psycopg.OperationalError as exc:
        raise StoreUnavailable(f"database unavailable: {exc}") from exc
    except psycopg.Error as exc:
        raise StoreError(f"cannot read the database's identity: {exc}") from exc
