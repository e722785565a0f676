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
