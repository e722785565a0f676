"""The runner cache's fetch: exactly the readings asked for, one index range scan per pair.

A plain join of the request with ``readings`` was planned as a hash join over the whole
table once the request held a few thousand pairs (0.8 s at 1.2 million readings, growing with
the table); the fetch now reads each pair through the primary key.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import psycopg

from ecowarn.detectors.runtime._cache import _FETCH_SQL, _SEP, SeriesCache

START = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
DEVICES = [f"M{k:04d}" for k in range(400)]


async def _fill(conn: psycopg.AsyncConnection) -> None:
    async with conn.cursor() as cur:
        async with cur.copy("COPY readings (device_id, metric, ts, value, flag) FROM STDIN") as cp:
            for s in range(0, 600):
                ts = (START + timedelta(seconds=s)).isoformat()
                for i, d in enumerate(DEVICES):
                    flag = "M" if s % 97 == 0 else "N"
                    await cp.write(f"{d}\tp\t{ts}\t{i + s / 1000}\t{flag}\n")
        await cur.execute("ANALYZE readings")


def _plan_nodes(plan: dict) -> list[tuple[str, str | None]]:
    out = [(plan["Node Type"], plan.get("Relation Name"))]
    for child in plan.get("Plans", []):
        out += _plan_nodes(child)
    return out


async def test_fetch_reads_each_pair_by_index(database: str) -> None:
    async with await psycopg.AsyncConnection.connect(database, autocommit=True) as conn:
        await _fill(conn)
        lo = (START + timedelta(seconds=590)).timestamp()
        params = (_SEP.join(DEVICES), _SEP.join("p" for _ in DEVICES),
                  _SEP.join(repr(lo) for _ in DEVICES), _SEP.join("" for _ in DEVICES))
        cur = await conn.execute("EXPLAIN (FORMAT JSON) " + _FETCH_SQL, params)
        row = await cur.fetchone()
        assert row is not None
        plan = row[0] if isinstance(row[0], list) else json.loads(row[0])
        nodes = _plan_nodes(plan[0]["Plan"])
        on_readings = [n for n, rel in nodes if rel == "readings"]
        assert on_readings and "Seq Scan" not in on_readings, nodes
        assert "Hash Join" not in [n for n, _ in nodes], nodes


async def test_fetch_returns_exactly_the_span_asked(database: str) -> None:
    cache = SeriesCache()
    async with await psycopg.AsyncConnection.connect(database, autocommit=True) as conn:
        await _fill(conn)
        t = lambda s: (START + timedelta(seconds=s)).timestamp()  # noqa: E731
        req = [("M0001", "p", t(100), t(105)),   # [100, 105): five readings
               ("M0002", "p", t(595), None),      # up to now: the last five
               ("M0003", "p", t(700), None),      # nothing there
               ("M0004", "so2", t(0), None),      # a metric it never sent
               ("M0005", "p", t(194), t(195))]    # one reading, flagged M (194 = 2 x 97)
        got = await cache._fetch(conn, req)
    assert set(got) == {(d, m) for d, m, _, _ in req}
    te, v, f = got[("M0001", "p")]
    assert te.tolist() == [t(s) for s in range(100, 105)]
    assert v.tolist() == [1 + s / 1000 for s in range(100, 105)]
    assert "".join(f.tolist()) == "NNNNN"
    assert got[("M0002", "p")][0].tolist() == [t(s) for s in range(595, 600)]
    assert got[("M0003", "p")][0].size == 0 and got[("M0004", "so2")][0].size == 0
    te, v, f = got[("M0005", "p")]
    assert te.tolist() == [t(194)] and v.tolist() == [5 + 194 / 1000] and f.tolist() == ["M"]


async def _insert(conn: psycopg.AsyncConnection, rows: list[tuple[str, str, datetime, float]]) -> None:
    async with conn.cursor() as cur:
        await cur.executemany("INSERT INTO readings (device_id, metric, ts, value, flag)"
                              " VALUES (%s, %s, %s, %s, 'N')", rows)


async def test_expect_newer_makes_cached_tails_stale_until_refreshed(database: str) -> None:
    """Readings committed after a device was cached, whose pending rows the runner has not
    claimed: after ``expect_newer`` the device answers "unknown" until a refresh of it, which
    brings them; a device first cached after the call, and a device refreshed, are current;
    a device with nothing cached in its span is fetched again from its ``lo``."""
    t = lambda s: (START + timedelta(seconds=s)).timestamp()  # noqa: E731
    at = lambda s: START + timedelta(seconds=s)  # noqa: E731
    cache = SeriesCache()
    async with await psycopg.AsyncConnection.connect(database, autocommit=True) as conn:
        await _insert(conn, [(d, m, at(s), 1.0) for d in ("A", "B") for m in ("p", "q")
                             for s in range(0, 300, 60)])
        await cache.ensure(conn, [("A", "p"), ("A", "q"), ("B", "p"), ("E", "p")], t(0))
        assert cache.latest([("A", "p"), ("A", "q")]) == (True, t(240))
        # committed, not claimed: no invalidate
        await _insert(conn, [("A", "q", at(300), 2.0), ("B", "p", at(310), 2.0),
                             ("E", "p", at(320), 2.0)])
        assert cache.latest([("A", "q")]) == (True, t(240))  # nothing said yet
        cache.expect_newer()
        for key in (("A", "p"), ("A", "q"), ("B", "p"), ("E", "p")):
            assert cache.latest([key]) == (False, None), key
            assert not cache.covers([key], t(0))
            assert cache.since([key], t(0)) is None
        await cache.ensure(conn, [("C", "p")], t(0))  # first cached now: current
        assert cache.covers([("C", "p")], t(0))
        await cache.refresh(conn, ["A"])
        assert cache.latest([("A", "q")]) == (True, t(300))
        assert cache.latest([("A", "p")]) == (True, t(240))
        te, v, _ = cache.window(("A", "q"), t(0), t(400))
        assert te.tolist() == [t(s) for s in (0, 60, 120, 180, 240, 300)]
        assert v.tolist() == [1.0] * 5 + [2.0]
        assert cache.latest([("B", "p")]) == (False, None)  # not refreshed yet
        await cache.refresh(conn)  # every stale device
        assert cache.latest([("B", "p")]) == (True, t(310))
        assert cache.window(("E", "p"), t(0), t(400))[0].tolist() == [t(320)]
        # a second call after refreshes: stale again from the newest cached reading
        await _insert(conn, [("A", "p", at(330), 3.0)])
        cache.expect_newer()
        cache.invalidate("B", at(100))  # a late reading claimed meanwhile
        await _insert(conn, [("B", "p", at(100), 9.0)])
        await cache.refresh(conn, ["A", "B"])
        assert cache.window(("A", "p"), t(0), t(400))[0].tolist() == [t(s) for s in (0, 60, 120, 180, 240, 330)]
        te, v, _ = cache.window(("B", "p"), t(0), t(400))
        assert te.tolist() == [t(s) for s in (0, 60, 100, 120, 180, 240, 310)]
        assert v.tolist() == [1.0, 1.0, 9.0, 1.0, 1.0, 1.0, 2.0]
