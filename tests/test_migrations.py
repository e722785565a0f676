"""Migrations: versioned, idempotent, safe when two instances start at once."""

from __future__ import annotations

import asyncio

import psycopg

from ecowarn.store import list_migrations, migrate


async def test_migrations_run_twice_are_a_noop(empty_database: str) -> None:
    """The second run applies nothing and leaves the schema as it was."""
    mode, applied = await migrate(empty_database)
    assert mode == "postgresql"  # no TimescaleDB on this server
    assert applied == [m.version for m in list_migrations()]
    mode2, applied2 = await migrate(empty_database)
    assert (mode2, applied2) == ("postgresql", [])
    with psycopg.connect(empty_database) as conn:
        versions = conn.execute("SELECT version, mode FROM schema_migrations ORDER BY version").fetchall()
    assert versions == [(m.version, "postgresql") for m in list_migrations()]


async def test_concurrent_migrations_apply_each_version_once(empty_database: str) -> None:
    """Two instances migrating at the same time serialise on the advisory lock."""
    results = await asyncio.gather(migrate(empty_database), migrate(empty_database))
    applied = sorted(v for _, vs in results for v in vs)
    assert applied == sorted(m.version for m in list_migrations())


async def test_readings_key_makes_duplicates_impossible(database: str) -> None:
    """(device, metric, ts) is the primary key of readings."""
    with psycopg.connect(database) as conn:
        cols = conn.execute(
            "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid"
            " AND a.attnum = ANY(i.indkey) WHERE i.indrelid = 'readings'::regclass"
            " AND i.indisprimary").fetchall()
    assert sorted(c[0] for c in cols) == ["device_id", "metric", "ts"]


def test_timescale_layer_installs_hypertable_columnstore_retention_and_aggregate() -> None:
    """The TimescaleDB layer of 0001 on 2.28 splits into the statements the docs prescribe, in
    order (the version choice itself: tests/test_timescale_layer.py)."""
    from ecowarn.store._migrate import select_statements

    first = next(m for m in list_migrations() if m.version == 1)
    assert first.timescale_sql is not None
    stmts = select_statements(first.timescale_sql, (2, 28, 3))
    heads = [" ".join(s.split())[:60] for s in stmts]
    assert heads[0].startswith("DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM timescal")
    assert "DROP VIEW IF EXISTS readings_hourly" in stmts[0]
    assert heads[1].startswith("SELECT create_hypertable('readings', by_range('ts', INTERVAL")
    assert heads[2].startswith("ALTER TABLE readings SET ( timescaledb.enable_columnstore,")
    assert "timescaledb.segmentby = 'device_id'" in " ".join(stmts[2].split())
    assert heads[3].startswith("CALL add_columnstore_policy('readings'")
    assert heads[4].startswith("SELECT add_retention_policy('readings'")
    assert heads[5].startswith("CREATE MATERIALIZED VIEW IF NOT EXISTS readings_hourly WITH")
    assert heads[6].startswith("SELECT add_continuous_aggregate_policy('readings_hourly'")
    assert heads[7].startswith("CALL refresh_continuous_aggregate('readings_hourly', NULL,")
    assert len(heads) == 8
