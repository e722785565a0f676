"""The TimescaleDB layer without the extension: statements chosen by version, layers applied in
order, late spans queued and refreshed, and hourly values read exactly from raw rows."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool
from test_api_support import ApiEnv

from ecowarn.credit.evidence import _window_data
from ecowarn.store import list_migrations
from ecowarn.store._errors import StoreError
from ecowarn.store._migrate import Migration, _split, apply_migrations, parse_version, select_statements
from ecowarn.store.model import Row
from ecowarn.store.readings import write_batch
from ecowarn.store.timescale import HourlyRefresher, refresh_windows

pytest_plugins = ("test_api_support",)

V2_17 = (2, 17, 2)
V2_28 = (2, 28, 3)
H = timedelta(hours=1)
NOW = datetime(2026, 12, 7, 4, 30, tzinfo=UTC)


def layer(version: int) -> str:
    sql = next(m for m in list_migrations() if m.version == version).timescale_sql
    assert sql is not None
    return sql


def heads(stmts: list[str]) -> list[str]:
    return [" ".join(s.split())[:60] for s in stmts]


# -- statement selection (pure) ----------------------------------------------------------

def test_parse_version_reads_extversion() -> None:
    """extversion strings become comparable tuples; a suffix is ignored; garbage is refused."""
    assert parse_version("2.28.3") == (2, 28, 3)
    assert parse_version("2.18.0-dev") == (2, 18, 0)
    assert parse_version("2.17.2") < (2, 18) <= parse_version("2.18.0")
    with pytest.raises(StoreError):
        parse_version("unknown")


def test_first_layer_uses_columnstore_names_from_2_18_and_compression_names_before() -> None:
    """0001's layer: enable_columnstore + add_columnstore_policy on 2.28, the deprecated
    timescaledb.compress + add_compression_policy on 2.17; the rest is the same, ending with
    the refresh that materialises history over the whole range."""
    new = select_statements(layer(1), V2_28)
    old = select_statements(layer(1), V2_17)
    joined_new, joined_old = " ".join(new), " ".join(old)
    assert "timescaledb.enable_columnstore" in joined_new and "timescaledb.segmentby = 'device_id'" in joined_new
    assert "CALL add_columnstore_policy('readings', after => INTERVAL '7 days'" in joined_new
    assert "compress" not in joined_new.replace("columnstore", "")
    assert "timescaledb.compress_segmentby = 'device_id'" in joined_old
    assert "add_compression_policy('readings'" in joined_old and "columnstore" not in joined_old
    for stmts in (new, old):
        h = heads(stmts)
        assert h[0].startswith("DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM timescal")
        assert "DROP VIEW IF EXISTS readings_hourly" in stmts[0]
        assert h[1].startswith("SELECT create_hypertable('readings', by_range(")
        assert h[4].startswith("SELECT add_retention_policy('readings'")
        assert h[5].startswith("CREATE MATERIALIZED VIEW IF NOT EXISTS readings_")
        assert h[6].startswith("SELECT add_continuous_aggregate_policy('readings_h")
        assert " ".join(stmts[7].split()) == ("CALL refresh_continuous_aggregate('readings_hourly',"
                                              " NULL, now() - INTERVAL '1 hour')")
        assert len(stmts) == 8


def test_upgrade_layer_moves_existing_installations_idempotently() -> None:
    """0016's layer: on 2.18+ re-declares the columnstore settings and policy (if_not_exists),
    on older versions leaves compression alone; both install the late-span trigger
    (dropped first) and materialise the history the 3-day policy window left behind."""
    new = heads(select_statements(layer(16), V2_28))
    old = heads(select_statements(layer(16), V2_17))
    tail = ["DROP TRIGGER IF EXISTS queue_hourly_refresh ON p",
            "CREATE TRIGGER queue_hourly_refresh AFTER INSERT",
            "CALL refresh_continuous_aggregate('readings_hour"]
    assert len(old) == 3 and all(h.startswith(t) for h, t in zip(old, tail, strict=True))
    assert len(new) == 5 and all(h.startswith(t) for h, t in zip(new[2:], tail, strict=True))
    assert new[0].startswith("ALTER TABLE readings SET ( timescaledb.enable_col")
    assert new[1].startswith("CALL add_columnstore_policy('readings', after =>")
    assert "if_not_exists => true" in select_statements(layer(16), V2_28)[1]


def test_every_migration_file_parses() -> None:
    """Every plain migration splits into statements and every layer into statements for an old
    and a new version, with no marker left and no unterminated quoting."""
    for mig in list_migrations():
        assert _split(mig.sql), mig.name
        if mig.timescale_sql:
            for version in (V2_17, V2_28):
                stmts = select_statements(mig.timescale_sql, version)
                assert stmts and not any("@if" in s or "@end" in s or "@else" in s for s in stmts)


def test_dollar_quoted_bodies_stay_one_statement() -> None:
    """Semicolons inside $$ bodies and quotes do not split; the 0016 function is one statement."""
    stmts = _split("SELECT 'a;b';\nCREATE FUNCTION f() RETURNS int LANGUAGE sql AS $body$ SELECT 1; $body$;\n"
                   "-- a comment; with a semicolon\nSELECT 2")
    assert stmts == ["SELECT 'a;b'", "CREATE FUNCTION f() RETURNS int LANGUAGE sql AS $body$ SELECT 1; $body$",
                     "SELECT 2"]
    plain = _split(next(m for m in list_migrations() if m.version == 16).sql)
    assert len(plain) == 2 and plain[1].startswith("CREATE FUNCTION queue_hourly_refresh()")


def test_malformed_conditionals_are_refused() -> None:
    """A nested @if, a stray @else/@end or an unclosed @if is an error, not a silent choice."""
    for sql in ("-- @if timescaledb >= 2.18\n-- @if timescaledb >= 2.19\n-- @end\n-- @end",
                "-- @else", "-- @end", "-- @if timescaledb < 2.18\nSELECT 1;"):
        with pytest.raises(StoreError):
            select_statements(sql, V2_28)


# -- layers applied in order (real PostgreSQL, layers of plain SQL) ------------------------

FAKE = [
    Migration(1, "one", "CREATE TABLE steps (n serial, what text);"
                        " INSERT INTO steps (what) VALUES ('plain 1');",
              "INSERT INTO steps (what) VALUES ('layer 1');\n-- @if timescaledb >= 2.18\n"
              "INSERT INTO steps (what) VALUES ('layer 1 new');\n-- @else\n"
              "INSERT INTO steps (what) VALUES ('layer 1 old');\n-- @end\n"),
    Migration(2, "two", "INSERT INTO steps (what) VALUES ('plain 2');", None),
    Migration(3, "three", "INSERT INTO steps (what) VALUES ('plain 3');",
              "INSERT INTO steps (what) VALUES ('layer 3');"),
]


async def _steps(conn: psycopg.AsyncConnection[Any]) -> list[str]:
    cur = await conn.execute("SELECT what FROM steps ORDER BY n")
    return [r[0] for r in await cur.fetchall()]


async def test_layers_follow_their_migration_in_version_order(empty_database: str) -> None:
    """In timescaledb mode each plain migration is followed by its layer, for the installed
    version's branch; a second run does nothing."""
    async with await psycopg.AsyncConnection.connect(empty_database, autocommit=True) as conn:
        assert await apply_migrations(conn, "timescaledb", V2_28, FAKE) == [1, 2, 3]
        assert await _steps(conn) == ["plain 1", "layer 1", "layer 1 new", "plain 2", "plain 3", "layer 3"]
        assert await apply_migrations(conn, "timescaledb", V2_28, FAKE) == []
        cur = await conn.execute("SELECT version, mode FROM schema_migrations ORDER BY version")
        assert await cur.fetchall() == [(1, "timescaledb"), (2, "timescaledb"), (3, "timescaledb")]


async def test_a_plain_database_gains_the_layers_later(empty_database: str) -> None:
    """Migrated on plain PostgreSQL first, the database gets every layer, in order, once the
    extension is there (the old version's branch here), without re-running plain migrations."""
    async with await psycopg.AsyncConnection.connect(empty_database, autocommit=True) as conn:
        assert await apply_migrations(conn, "postgresql", (), FAKE) == [1, 2, 3]
        assert await _steps(conn) == ["plain 1", "plain 2", "plain 3"]
        assert await apply_migrations(conn, "timescaledb", V2_17, FAKE) == [1, 2, 3]
        assert await _steps(conn) == ["plain 1", "plain 2", "plain 3", "layer 1", "layer 1 old", "layer 3"]


async def test_layer_statements_run_one_at_a_time_outside_a_transaction(empty_database: str) -> None:
    """A layer statement that refuses a transaction block (VACUUM, like CALL
    refresh_continuous_aggregate) runs between two others: the runner sends each statement on
    its own in autocommit. The same statements sent as one string fail, so the check bites."""
    layered = [Migration(1, "one", "CREATE TABLE steps (n serial, what text);",
                         "INSERT INTO steps (what) VALUES ('before');\nVACUUM steps;\n"
                         "INSERT INTO steps (what) VALUES ('after');")]
    async with await psycopg.AsyncConnection.connect(empty_database, autocommit=True) as conn:
        assert await apply_migrations(conn, "timescaledb", V2_28, layered) == [1]
        assert await _steps(conn) == ["before", "after"]
        with pytest.raises(psycopg.errors.ActiveSqlTransaction):
            await conn.execute(b"INSERT INTO steps (what) VALUES ('x'); VACUUM steps")


# Stand-in for TimescaleDB's refresh_continuous_aggregate on plain PostgreSQL: a procedure of
# the same name and argument order that records its window and COMMITs, so that, like the
# real one ("cannot run inside a transaction block"), it fails when called inside a
# transaction block or among several statements of one query string.
STAND_IN_REFRESH = """
CREATE TABLE refresh_calls (n serial, cagg regclass, window_start timestamptz, window_end timestamptz);
CREATE PROCEDURE refresh_continuous_aggregate(cagg regclass, window_start timestamptz,
                                              window_end timestamptz)
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO refresh_calls (cagg, window_start, window_end) VALUES (cagg, window_start, window_end);
    COMMIT;
END
$$;
"""


async def _refresh_calls(conn: psycopg.AsyncConnection[Any]) -> list[tuple[Any, ...]]:
    cur = await conn.execute("SELECT cagg::text, window_start, window_end FROM refresh_calls ORDER BY n")
    return list(await cur.fetchall())


async def test_stand_in_refresh_refuses_a_transaction_block(database: str) -> None:
    """The stand-in fails inside a transaction block and in a multi-statement string (what the
    tests below rely on to show the real calls are made outside one)."""
    async with await psycopg.AsyncConnection.connect(database, autocommit=True) as conn:
        await conn.execute(STAND_IN_REFRESH.encode())
        with pytest.raises(psycopg.errors.InvalidTransactionTermination):
            async with conn.transaction():
                await conn.execute("CALL refresh_continuous_aggregate('readings_hourly', NULL, now())")
        with pytest.raises(psycopg.errors.InvalidTransactionTermination):
            await conn.execute(b"SELECT 1; CALL refresh_continuous_aggregate('readings_hourly', NULL, now())")
        assert await _refresh_calls(conn) == []


async def test_upgrade_layer_materialises_history_outside_a_transaction(database: str) -> None:
    """0016's layer for 2.17 through the runner, against the stand-in procedure: the trigger is
    installed and the history refresh is called once, outside a transaction, over the whole
    range up to the policy's end_offset (NULL start, now() - 1 hour); the layer is recorded."""
    mig = next(m for m in list_migrations() if m.version == 16)
    async with await psycopg.AsyncConnection.connect(database, autocommit=True) as conn:
        await conn.execute(STAND_IN_REFRESH.encode())
        before = datetime.now(UTC)
        assert await apply_migrations(conn, "timescaledb", V2_17, [mig]) == [16]
        calls = await _refresh_calls(conn)
        assert len(calls) == 1 and calls[0][0] == "readings_hourly" and calls[0][1] is None
        assert before - H - timedelta(seconds=1) <= calls[0][2] <= datetime.now(UTC) - H
        cur = await conn.execute("SELECT tgname FROM pg_trigger WHERE tgrelid = 'pending_eval'::regclass"
                                 " AND NOT tgisinternal")
        assert await cur.fetchall() == [("queue_hourly_refresh",)]
        cur = await conn.execute("SELECT mode FROM schema_migrations WHERE version = 16")
        assert await cur.fetchone() == ("timescaledb",)


async def test_first_layer_drops_the_plain_view_but_never_the_aggregate(database: str) -> None:
    """0001's first statement drops readings_hourly only while it is the plain view: with the
    continuous aggregate listed in timescaledb_information.continuous_aggregates (a stand-in
    table here) it leaves it alone, so a layer stopped part-way can run again; without, the
    plain view goes."""
    first = select_statements(layer(1), V2_28)[0]
    async with await psycopg.AsyncConnection.connect(database, autocommit=True) as conn:
        await conn.execute("CREATE SCHEMA timescaledb_information")
        await conn.execute("CREATE TABLE timescaledb_information.continuous_aggregates"
                           " (view_schema name, view_name name)")
        await conn.execute("INSERT INTO timescaledb_information.continuous_aggregates"
                           " VALUES (current_schema(), 'readings_hourly')")
        await conn.execute(first.encode())
        cur = await conn.execute("SELECT to_regclass('readings_hourly') IS NOT NULL")
        assert await cur.fetchone() == (True,)
        await conn.execute("DELETE FROM timescaledb_information.continuous_aggregates")
        await conn.execute(first.encode())
        cur = await conn.execute("SELECT to_regclass('readings_hourly') IS NOT NULL")
        assert await cur.fetchone() == (False,)


# -- late spans: the queue and the refresher ----------------------------------------------

def test_refresh_windows_merge_align_cut_and_bound() -> None:
    """Spans become UTC-hour windows, merged where they touch, cut at a day, clamped before the
    policy's last hour, and only the first max_windows are refreshed now."""
    t = datetime(2026, 11, 1, 10, 20, tzinfo=UTC)
    plan = refresh_windows([(t, t + timedelta(minutes=5)), (t + H, t + H), (t + 5 * H, t + 5 * H)], NOW)
    hour = t.replace(minute=0)
    assert plan.windows == [(hour, hour + 2 * H), (hour + 5 * H, hour + 6 * H)] and plan.rest == []
    long = refresh_windows([(hour, hour + timedelta(days=3) - timedelta(seconds=1))], NOW, max_windows=2)
    assert long.windows == [(hour, hour + 24 * H), (hour + 24 * H, hour + 48 * H)]
    assert long.rest == [(hour + 48 * H, hour + 72 * H)]
    recent = refresh_windows([(NOW - 50 * H, NOW)], NOW)
    assert recent.windows[-1][1] == datetime(2026, 12, 7, 3, tzinfo=UTC)
    assert refresh_windows([(NOW - timedelta(minutes=30), NOW)], NOW).windows == []


@pytest.fixture
async def pool(database: str) -> AsyncIterator[AsyncConnectionPool[Any]]:
    async with AsyncConnectionPool(database, min_size=1, max_size=3, open=False) as p:
        yield p


async def _install_trigger(database: str) -> None:
    """The trigger statements of 0016's layer (they need no TimescaleDB)."""
    async with await psycopg.AsyncConnection.connect(database, autocommit=True) as conn:
        for stmt in select_statements(layer(16), V2_17):
            if "TRIGGER" in stmt:
                await conn.execute(stmt.encode())


async def test_late_spans_are_queued_refreshed_and_removed(
        database: str, pool: AsyncConnectionPool[Any]) -> None:
    """A batch with readings 10 days old queues its span; a recent batch queues nothing; a run
    refreshes the hours of the late span and empties the queue; a second run has nothing."""
    await _install_trigger(database)
    now = datetime.now(UTC)
    old = (now - timedelta(days=10)).replace(minute=7, second=0, microsecond=0)
    await write_batch(pool, [Row("D1", "so2", old + timedelta(minutes=k), 1.0, "N") for k in range(90)], [])
    await write_batch(pool, [Row("D1", "so2", now - timedelta(minutes=k), 1.0, "N") for k in range(3)], [])
    async with pool.connection() as conn:
        cur = await conn.execute("SELECT t_min, t_max FROM hourly_refresh_queue")
        assert await cur.fetchall() == [(old, old + timedelta(minutes=89))]
    calls: list[tuple[datetime, datetime]] = []

    async def refresh(conn: psycopg.AsyncConnection[Any], start: datetime, end: datetime) -> None:
        assert conn.autocommit  # the procedure cannot run inside a transaction block
        calls.append((start, end))

    refresher = HourlyRefresher(pool, "timescaledb", refresh=refresh)
    assert await refresher.run_once() == 1
    start = old.replace(minute=0).astimezone(UTC)
    assert calls == [(start, start + 2 * H)]
    assert await refresher.run_once() == 0
    async with pool.connection() as conn:
        cur = await conn.execute("SELECT count(*) FROM hourly_refresh_queue")
        assert await cur.fetchone() == (0,)


async def test_a_backlog_is_spread_over_runs(database: str, pool: AsyncConnectionPool[Any]) -> None:
    """Three late days with max_windows=2: two windows now, the third queued again and
    refreshed by the next run."""
    await _install_trigger(database)
    day0 = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(days=20)
    async with pool.connection() as conn:
        await conn.execute("INSERT INTO hourly_refresh_queue (t_min, t_max) VALUES (%s, %s)",
                           (day0, day0 + timedelta(days=3) - timedelta(seconds=1)))
    calls: list[tuple[datetime, datetime]] = []

    async def refresh(conn: psycopg.AsyncConnection[Any], start: datetime, end: datetime) -> None:
        calls.append((start, end))

    refresher = HourlyRefresher(pool, "timescaledb", refresh=refresh, max_windows=2)
    assert await refresher.run_once() == 2
    assert await refresher.run_once() == 1
    assert calls == [(day0, day0 + 24 * H), (day0 + 24 * H, day0 + 48 * H), (day0 + 48 * H, day0 + 72 * H)]


async def test_a_failed_refresh_leaves_the_queue_and_run_retries(
        database: str, pool: AsyncConnectionPool[Any]) -> None:
    """A refresh that fails keeps every queued span (nothing is lost); run() logs it, waits its
    interval and refreshes them on the next round."""
    day0 = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(days=9)
    async with pool.connection() as conn:
        await conn.execute("INSERT INTO hourly_refresh_queue (t_min, t_max) VALUES (%s, %s)",
                           (day0, day0 + timedelta(minutes=30)))
    calls: list[tuple[datetime, datetime]] = []
    done = asyncio.Event()

    async def refresh(conn: psycopg.AsyncConnection[Any], start: datetime, end: datetime) -> None:
        calls.append((start, end))
        if len(calls) == 1:
            raise psycopg.errors.LockNotAvailable("simulated")

    refresher = HourlyRefresher(pool, "timescaledb", refresh=refresh, interval_s=0.01)
    run_once = refresher.run_once

    async def run_once_then_signal() -> int:
        n = await run_once()
        if n:
            done.set()
        return n

    refresher.run_once = run_once_then_signal  # type: ignore[method-assign]
    with pytest.raises(psycopg.Error):
        await run_once()
    async with pool.connection() as conn:
        cur = await conn.execute("SELECT count(*) FROM hourly_refresh_queue")
        assert await cur.fetchone() == (1,)
    task = asyncio.create_task(refresher.run())
    try:
        async with asyncio.timeout(10):
            await done.wait()
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    assert calls == [(day0, day0 + H)] * 2
    async with pool.connection() as conn:
        cur = await conn.execute("SELECT count(*) FROM hourly_refresh_queue")
        assert await cur.fetchone() == (0,)


async def test_refresher_calls_the_procedure_outside_a_transaction(
        database: str, pool: AsyncConnectionPool[Any]) -> None:
    """The real refresh call (refresh_hourly) against the stand-in procedure: a late span's
    hours are refreshed with CALL refresh_continuous_aggregate('readings_hourly', start, end)
    on a connection outside any transaction block (the stand-in's COMMIT succeeds), the queue
    empties, and the pooled connection goes back out of autocommit."""
    day0 = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(days=12)
    async with pool.connection() as conn:
        await conn.set_autocommit(True)
        await conn.execute(STAND_IN_REFRESH.encode())
        await conn.set_autocommit(False)
        await conn.execute("INSERT INTO hourly_refresh_queue (t_min, t_max) VALUES (%s, %s)",
                           (day0 + timedelta(minutes=10), day0 + timedelta(minutes=70)))
    assert await HourlyRefresher(pool, "timescaledb").run_once() == 1
    async with pool.connection() as conn:
        assert not conn.autocommit
        assert await _refresh_calls(conn) == [("readings_hourly", day0, day0 + 2 * H)]
        cur = await conn.execute("SELECT count(*) FROM hourly_refresh_queue")
        assert await cur.fetchone() == (0,)


async def test_refresher_does_nothing_on_plain_postgresql(pool: AsyncConnectionPool[Any]) -> None:
    """In postgresql mode run() returns at once (readings_hourly is a view of the raw rows)."""
    await HourlyRefresher(pool, "postgresql", interval_s=3600).run()


# -- exact hourly values whatever the aggregate's state ---------------------------------------

async def _stale_aggregate(dsn: str) -> None:
    """Stand-in for a continuous aggregate that never materialised old hours: an empty view."""
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
        await conn.execute("CREATE OR REPLACE VIEW readings_hourly AS SELECT * FROM ("
                           "SELECT device_id, metric, date_trunc('hour', ts) AS bucket, count(*) AS n,"
                           " count(value) FILTER (WHERE flag = 'N') AS n_valid,"
                           " avg(value) FILTER (WHERE flag = 'N') AS avg_valid,"
                           " min(value) AS min_value, max(value) AS max_value FROM readings"
                           " GROUP BY 1, 2, 3) v WHERE false")


async def test_evidence_hourly_values_equal_raw_rows_for_old_data(
        database: str, pool: AsyncConnectionPool[Any]) -> None:
    """Readings 20 days old: the evidence's hourly rows equal the aggregation of the raw rows,
    even when readings_hourly has nothing for those hours."""
    t0 = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(days=20)
    rows = [Row("D1", "so2", t0 + timedelta(minutes=k), float(k % 7), "N" if k % 5 else "M")
            for k in range(150)]
    await write_batch(pool, rows, [])
    await _stale_aggregate(database)
    async with await psycopg.AsyncConnection.connect(database) as conn:
        _, _, hourly = await _window_data(conn, ["D1"], t0 + timedelta(minutes=30), t0 + timedelta(minutes=125))
    expected = []
    for h in range(3):
        inside = [r for r in rows if t0 + h * H <= r.ts < t0 + (h + 1) * H]
        valid = [r.value for r in inside if r.flag == "N" and r.value is not None]
        values = [r.value for r in inside if r.value is not None]
        expected.append(["D1", "so2", t0 + h * H, len(inside), len(valid),
                         pytest.approx(sum(valid) / len(valid)), min(values), max(values)])
    assert hourly == expected


async def test_hourly_route_with_a_window_reads_raw_rows(api: ApiEnv) -> None:
    """/readings/hourly with since/until answers from the raw rows of the window (exact for old
    data whatever the aggregate holds), with since/until bounding the bucket."""
    t0 = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(days=30)
    values: list[float | None] = [*([10.0] * 60), *([20.0] * 60), *([30.0] * 60)]
    await api.insert_readings("13010500000001", "so2", t0, values)
    await _stale_aggregate(api.dsn)
    r = await api.client.get("/api/v1/readings/hourly", headers=await api.headers("officer"), params={
        "device_id": "13010500000001", "since": (t0 + timedelta(minutes=1)).isoformat(),
        "until": (t0 + timedelta(minutes=121)).isoformat()})
    assert r.status_code == 200, r.text
    items = r.json()["items"]
    assert [(i["n"], i["avg_valid"]) for i in items] == [(60, 20.0), (60, 30.0)]
    assert datetime.fromisoformat(items[0]["bucket"]) == t0 + H
