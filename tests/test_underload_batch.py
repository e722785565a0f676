"""treatment_underload's batched form gives what evaluating its subjects one by one gives.

``evaluate_many`` learns the baselines of a whole batch in a few queries; two fresh
evaluators on twin databases, one batched and one evaluating each subject in turn, must
return the same window starts and drafts, keep the same memories and leave the same day
summaries in ``baselines``, batch after batch: learned baselines, a rated fallback, an
underload, a subject without data, a stage of alternatives, late data for a summarised day.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from conftest import _dsn_for
from fix_db import DatabasePool

from ecowarn.alerts.store import AlertDraft
from ecowarn.config.registry import Device, Enterprise, Registry
from ecowarn.detectors.runtime._cache import SeriesCache
from ecowarn.detectors.runtime.contract import Window
from ecowarn.detectors.runtime.eval_treatment_underload import TreatmentUnderloadEvaluator
from ecowarn.detectors.treatment_underload import TreatmentUnderloadParams

DAY0 = datetime(2026, 11, 1, 16, 0, tzinfo=UTC)  # 2026-11-02 00:00 in UTC+8
ENTERPRISE = "91130105MA0BATCH1X"
STAGE = "TA+TB"
Rows = list[tuple[str, str, datetime, float, str]]
Result = tuple[datetime, list[AlertDraft]]


def at(day: int, hh: int, mm: int = 0) -> datetime:
    return DAY0 + timedelta(days=day, hours=hh, minutes=mm)


def pairs_registry(pairs: Sequence[int], stage: bool = False) -> Registry:
    """Production meters ``P<k>`` each treated by ``T<k>`` (rated 500 and 100 kW); with
    ``stage``, ``P90`` treated by the alternatives ``TA`` and ``TB``."""
    devs = []
    for k in pairs:
        devs += [Device(f"P{k:02d}", "power", ENTERPRISE, role="production", rated_kw=500.0,
                        treated_by=(f"T{k:02d}",)),
                 Device(f"T{k:02d}", "power", ENTERPRISE, role="treatment", rated_kw=100.0)]
    if stage:
        devs += [Device("P90", "power", ENTERPRISE, role="production", rated_kw=500.0,
                        treated_by=("TA", "TB"), stages=(("TA", "TB"),)),
                 Device("TA", "power", ENTERPRISE, role="treatment", rated_kw=100.0),
                 Device("TB", "power", ENTERPRISE, role="treatment", rated_kw=100.0)]
    enterprise = Enterprise(ENTERPRISE, "batch", "130105", "cement", None, tuple(d.id for d in devs))
    return Registry(enterprises={ENTERPRISE: enterprise}, devices={d.id: d for d in devs},
                    stations={}, source="<test>")


def minutes(dev: str, start: datetime, end: datetime, kw: Callable[[int], float]) -> Rows:
    """One reading a minute of ``dev`` in ``[start, end)``; ``kw`` by minute index."""
    n = int((end - start).total_seconds()) // 60
    return [(dev, "p", start + timedelta(minutes=m), kw(m), "N") for m in range(n)]


def steady(base: float) -> Callable[[int], float]:
    return lambda m: base + m % 7


def dipping(base: float, low: float, lo_min: int, hi_min: int) -> Callable[[int], float]:
    return lambda m: low + m % 3 if lo_min <= m < hi_min else base + m % 7


def day2_rows(start: datetime, end: datetime) -> Rows:
    """Day 2 of every device in ``[start, end)``: T01 at 15 kW 07:00-10:00 (under 30% of its
    learned ~83 kW), T02 (no history: rated 100 kW) at 20 kW 03:00-05:00, T03 and T04
    silent (P04 runs: T04's data ends a day before its windows)."""
    first = int((start - at(2, 0)).total_seconds()) // 60
    rows: Rows = []
    for dev, kw in (("P00", steady(400)), ("T00", steady(80)), ("P01", steady(400)),
                    ("T01", dipping(80, 15, 420, 600)), ("P02", steady(400)),
                    ("T02", dipping(80, 20, 180, 300)), ("P03", steady(400)), ("P04", steady(400)),
                    ("P90", steady(400)), ("TA", steady(80)), ("TB", lambda m: 0.5)):
        rows += minutes(dev, start, end, lambda m, kw=kw: kw(first + m))  # type: ignore[misc]
    return rows


def history_rows() -> Rows:
    """Days 0-1 of every device but T02 (T03 silent throughout; T00 silent 12:00-13:00 of
    day 1, an hour that arrives late)."""
    rows: Rows = []
    for day in (0, 1):
        for dev, kw in (("P00", steady(400)), ("T00", steady(80)), ("P01", steady(400)),
                        ("T01", steady(80)), ("P02", steady(400)), ("P03", steady(400)),
                        ("P04", steady(400)), ("T04", steady(80)), ("P90", steady(400)),
                        ("TA", steady(80)), ("TB", lambda m: 0.5)):
            rows += [r for r in minutes(dev, at(day, 0), at(day + 1, 0), kw)
                     if not (dev == "T00" and at(1, 12) <= r[2] < at(1, 13))]
    return rows


async def write(conn: psycopg.AsyncConnection[Any], rows: Rows) -> None:
    async with conn.transaction(), conn.cursor() as cur:
        async with cur.copy("COPY readings (device_id, metric, ts, value, flag) FROM STDIN"
                            " (FORMAT BINARY)") as copy:
            copy.set_types(["text", "text", "timestamptz", "float8", "text"])
            for r in rows:
                await copy.write_row(r)


async def baselines_table(conn: psycopg.AsyncConnection[Any]) -> list[tuple[Any, ...]]:
    cur = await conn.execute("SELECT series, day_start, n, quantiles FROM baselines ORDER BY 1, 2")
    return await cur.fetchall()


@pytest.fixture
def twin_database(database_pool: DatabasePool) -> Iterator[str]:
    name = database_pool.take()
    try:
        yield _dsn_for(name)
    finally:
        database_pool.give_back(name)


@pytest.fixture
async def twins(database: str, twin_database: str,
                ) -> AsyncIterator[tuple[psycopg.AsyncConnection[Any], psycopg.AsyncConnection[Any]]]:
    async with await psycopg.AsyncConnection.connect(database) as a, \
            await psycopg.AsyncConnection.connect(twin_database) as b:
        yield a, b


async def test_batched_evaluation_equals_one_by_one(
        twins: tuple[psycopg.AsyncConnection[Any], psycopg.AsyncConnection[Any]]) -> None:
    """Four batches (history; day 2 in three parts, the third batch with a late hour of T00's
    day 1): the batched evaluator returns the one-by-one evaluator's window starts and
    drafts, keeps the same record of what it evaluated and stores the same day summaries
    -- including T00's day 1 deleted by its late data and recomputed from it."""
    conn_a, conn_b = twins
    registry = pairs_registry(range(5), stage=True)
    batched = TreatmentUnderloadEvaluator(registry, TreatmentUnderloadParams())
    single = TreatmentUnderloadEvaluator(registry, TreatmentUnderloadParams())
    subjects = sorted(batched.all_subjects())
    assert subjects == ["T00", "T01", "T02", "T03", "T04", STAGE]
    late = minutes("T00", at(1, 12), at(1, 13), lambda m: 40.0 + m % 5)
    batches: list[tuple[Rows, dict[str, Window]]] = [
        (history_rows(), {s: Window(at(0, 0), at(1, 23, 59)) for s in subjects}),
        (day2_rows(at(2, 0), at(2, 6)), {s: Window(at(2, 0), at(2, 5, 59)) for s in subjects}),
        (late + day2_rows(at(2, 6), at(2, 12)),
         {s: Window(at(1, 12) if s == "T00" else at(2, 6), at(2, 11, 59)) for s in subjects}),
        (day2_rows(at(2, 12), at(3, 0)), {s: Window(at(2, 12), at(2, 23, 59)) for s in subjects}),
    ]
    got: list[list[Result]] = []
    tables: list[list[tuple[Any, ...]]] = []
    for rows, windows in batches:
        await write(conn_a, rows)
        await write(conn_b, rows)
        items = sorted(windows.items())
        async with conn_a.transaction():
            many = await batched.evaluate_many(conn_a, items)
        async with conn_b.transaction():
            one_by_one = [await single.evaluate(conn_b, s, w) for s, w in items]
        assert many == one_by_one
        assert batched._evaluated == single._evaluated
        assert batched.baseline_memo.results == single.baseline_memo.results
        assert batched.baseline_memo.floor == single.baseline_memo.floor
        tables.append(await baselines_table(conn_a))
        assert tables[-1] == await baselines_table(conn_b)
        got.append(many)

    # The scenario covers what it means to: no data, fallback, learned, underload, late data.
    assert got[0][subjects.index("T02")] == (at(0, 0), [])  # no reading of T02 yet
    assert all(r == (w.t_min, []) for r, w in zip([b[subjects.index("T03")] for b in got],
                                                  [ws["T03"] for _, ws in batches], strict=True))
    [t01] = got[2][subjects.index("T01")][1]
    assert (t01.start, t01.evidence["baseline"]["source"]) == (at(2, 7), "learned")
    [t02] = got[1][subjects.index("T02")][1]
    assert (t02.start, t02.evidence["baseline"]["source"]) == (at(2, 3), "rated")
    assert got[1][subjects.index(STAGE)][1] == [] and got[1][subjects.index("T00")][1] == []
    assert single._evaluated["T04"][1][0] == at(1, 0).timestamp()  # as of its data's day

    def t00_day1(table: list[tuple[Any, ...]]) -> tuple[Any, ...]:
        [row] = [r for r in table if r[0] == "load:T00" and r[1] == at(1, 0)]
        return row

    assert t00_day1(tables[1])[2] < 1440 and t00_day1(tables[2])[2] == 1440  # with the late hour


class _Counting:
    """A connection that counts the statements sent through it (``execute``, a cursor's
    ``execute``, each of ``executemany``'s, ``stream``)."""

    def __init__(self, conn: psycopg.AsyncConnection[Any]) -> None:
        self._conn = conn
        self.statements = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)

    async def execute(self, query: Any, params: Any = None, **kw: Any) -> Any:
        self.statements += 1
        return await self._conn.execute(query, params, **kw)

    def cursor(self, *args: Any, **kw: Any) -> _CountingCursor:
        return _CountingCursor(self, self._conn.cursor(*args, **kw))


class _CountingCursor:
    def __init__(self, owner: _Counting, cur: Any) -> None:
        self._owner, self._cur = owner, cur

    def __getattr__(self, name: str) -> Any:
        return getattr(self._cur, name)

    async def __aenter__(self) -> _CountingCursor:
        await self._cur.__aenter__()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self._cur.__aexit__(*exc)

    async def execute(self, query: Any, params: Any = None, **kw: Any) -> Any:
        self._owner.statements += 1
        return await self._cur.execute(query, params, **kw)

    async def executemany(self, query: Any, params_seq: Any, **kw: Any) -> None:
        params_seq = list(params_seq)
        self._owner.statements += len(params_seq)
        await self._cur.executemany(query, params_seq, **kw)

    def stream(self, query: Any, params: Any = None, **kw: Any) -> Any:
        self._owner.statements += 1
        return self._cur.stream(query, params, **kw)


async def _cold_statements(conn: psycopg.AsyncConnection[Any], pairs: range, batched: bool) -> int:
    """Statements of one cold evaluation of ``pairs`` (each with a day of history) with a
    runner's cache already holding their recent readings, as the runner prefetches them."""
    registry = pairs_registry(pairs)
    ev = TreatmentUnderloadEvaluator(registry, TreatmentUnderloadParams())
    window = Window(at(1, 1), at(1, 1, 59))
    items = [(s, window) for s in sorted(ev.all_subjects())]
    cache = SeriesCache()
    since = (at(1, 0) - timedelta(hours=4)).timestamp()
    keys = {(d, "p"): since for d in registry.devices}
    counting = _Counting(conn)
    async with conn.transaction():
        await cache.ensure_many(conn, keys)
        await cache.fill_prior(conn, keys)
        if batched:
            results = await ev.evaluate_many(counting, items, cache)  # type: ignore[arg-type]
        else:
            results = [await ev.evaluate(counting, s, w, cache) for s, w in items]  # type: ignore[arg-type]
    assert [r[0] for r in results] == [at(1, 0) - timedelta(minutes=30)] * len(items)
    return counting.statements


async def test_batched_cold_evaluation_takes_a_bounded_number_of_statements(database: str) -> None:
    """Meeting 3 or 12 subjects with history for the first time, the batched form sends the
    same few statements (forget, read, load history, store), where one by one takes
    several per subject."""
    async with await psycopg.AsyncConnection.connect(database) as conn:
        rows: Rows = []
        for k in range(30):
            rows += minutes(f"P{k:02d}", at(0, 0), at(1, 2), steady(400))
            rows += minutes(f"T{k:02d}", at(0, 0), at(1, 2), steady(80))
        await write(conn, rows)
        few = await _cold_statements(conn, range(0, 3), batched=True)
        many = await _cold_statements(conn, range(3, 15), batched=True)
        one_by_one = await _cold_statements(conn, range(15, 27), batched=False)
    assert few == many <= 4
    assert one_by_one >= 3 * 12
