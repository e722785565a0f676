"""Private store of learned baselines: day summaries in table ``baselines``, merged on demand.

A baseline "as of" a local day D is merged (:func:`detectors.baseline.merge_summaries`)
from the summaries of the days in ``[D - window_s, D)``: history strictly before the
day being judged, so a long violation never teaches its own baseline, and every
evaluation of one day uses the same value. Missing day summaries are computed from
``readings`` in one query over the missing span and stored (``ON CONFLICT`` makes
concurrent runners harmless); later evaluations only read ~30 small rows. Late data
for a day already summarised deletes that day's row (:func:`invalidate`), so it is
recomputed the next time it is needed. Day summaries are computed from what a
:data:`Sampler` loads; :func:`power_sampler` is the one of a power meter.

Batched forms for many series at once (a runner batch's subjects), each one query for all
of them: :func:`invalidate_many`, and :func:`baselines_as_of_many` (reading the stored
summaries; loading the missing spans of every :class:`GridSampler` in one streamed query;
storing the new summaries). They leave the table and the memo as the single-series calls
would, one series after the other.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import psycopg

from ecowarn.config.registry import Device
from ecowarn.detectors._core import BoolArray, FloatArray, IntArray, minute_grid
from ecowarn.detectors.baseline import Baseline, BaselineParams, DaySummary, merge_summaries, summarize_day
from ecowarn.detectors.running import ON, running_state
from ecowarn.detectors.runtime._load import (
    DAY_S,
    Series,
    as_dt,
    epoch,
    held_on_grid,
    load_series,
    local_day_start,
)

__all__ = ["BaselineAsk", "BaselineMemo", "GridSampler", "Sampler", "baseline_as_of",
           "baselines_as_of_many", "invalidate", "invalidate_many", "power_sampler"]

# Loads a series and its running mask on a grid over [lo, hi): (grid times, values, running).
Sampler = Callable[[psycopg.AsyncConnection[Any], datetime, datetime],
                   Awaitable[tuple[IntArray, FloatArray, BoolArray]]]

# The values and running mask on ``grid`` from the series of a GridSampler's keys.
SampleFn = Callable[[Mapping[tuple[str, str], Series], IntArray], tuple[FloatArray, BoolArray]]


@dataclass(frozen=True, slots=True)
class GridSampler:
    """A :data:`Sampler` in two parts: the series it reads (``metrics`` of ``device_ids``,
    as :func:`load_series` loads them over ``[lo, hi]``) and the pure ``sample`` of them on
    the minute grid of ``[lo, hi)``; :func:`baselines_as_of_many` loads many at once."""

    device_ids: tuple[str, ...]
    metrics: tuple[str, ...]
    sample: SampleFn

    async def __call__(self, conn: psycopg.AsyncConnection[Any], lo: datetime,
                       hi: datetime) -> tuple[IntArray, FloatArray, BoolArray]:
        series = await load_series(conn, None, self.device_ids, self.metrics, lo, hi)
        return self.on_grid(series, lo, hi)

    def keys(self) -> list[tuple[str, str]]:
        """The (device, metric) pairs read, as :func:`load_series` keys them."""
        return [(d, m) for d in sorted(set(self.device_ids)) for m in sorted(set(self.metrics))]

    def on_grid(self, series: Mapping[tuple[str, str], Series], lo: datetime,
                hi: datetime) -> tuple[IntArray, FloatArray, BoolArray]:
        grid = minute_grid(epoch(lo), epoch(hi) - 60)
        values, running = self.sample(series, grid)
        return grid, values, running


def power_sampler(dev: Device, off_ratio: float) -> GridSampler:
    """The :data:`Sampler` of a power meter: its power held on the minute grid of ``[lo, hi)``
    and where it runs (on at its running threshold, off below ``off_ratio`` times it)."""

    def sample(series: Mapping[tuple[str, str], Series], grid: IntArray) -> tuple[FloatArray, BoolArray]:
        kw = held_on_grid(series[(dev.id, "p")], grid)
        thr = dev.running_threshold_kw
        running = running_state(kw, thr, off_ratio * thr) == ON
        return kw, np.asarray(running)

    return GridSampler((dev.id,), ("p",), sample)


class BaselineMemo:
    """What one runner knows of the ``baselines`` table, to spare it a query per evaluation.

    ``results[series][as_of]``: the merged baseline last returned (valid until late data
    for a day before ``as_of`` invalidates it); ``floor[series]``: no day summary is stored
    from that day on. Exact while one runner writes and invalidates (the leader runner);
    :meth:`clear` when in doubt.
    """

    def __init__(self) -> None:
        self.results: dict[str, dict[int, Baseline | None]] = {}
        self.floor: dict[str, int] = {}

    def clear(self) -> None:
        self.results.clear()
        self.floor.clear()


@dataclass(frozen=True, slots=True)
class BaselineAsk:
    """One series' baseline wanted by :func:`baselines_as_of_many` (the arguments of
    :func:`baseline_as_of`)."""

    series: str
    as_of_s: int
    rated: float | None
    sampler: Sampler


async def baseline_as_of(conn: psycopg.AsyncConnection[Any], series: str, as_of_s: int,
                         params: BaselineParams, rated: float | None,
                         sampler: Sampler, *, memo: BaselineMemo | None = None) -> Baseline | None:
    """The baseline of ``series`` from the days before the local day containing ``as_of_s``.

    Falls back to ``rated`` (``source`` "rated") with fewer than ``params.min_samples``
    running minutes; None when there is no fallback.
    """
    as_of = local_day_start(as_of_s)
    if memo is not None and as_of in memo.results.get(series, {}):
        return memo.results[series][as_of]
    result = await _baseline_as_of(conn, series, as_of, params, rated, sampler, memo)
    if memo is not None:
        memo.results.setdefault(series, {})[as_of] = result
    return result


def _window_days(as_of: int, params: BaselineParams) -> list[int]:
    """The local days whose summaries make the baseline as of ``as_of``, oldest first."""
    n_days = max(1, -(-params.window_s // DAY_S))
    return [as_of - DAY_S * k for k in range(n_days, 0, -1)]


def _summary(row: tuple[Any, ...]) -> DaySummary:
    """A ``baselines`` row (day_start, n, quantiles) as a day summary."""
    return DaySummary(epoch(row[0]), int(row[1]), tuple(float(q) for q in row[2]))


def _missing_span(missing: list[int]) -> tuple[datetime, datetime]:
    """What a sampler loads to summarise ``missing`` days: from the first to the end of the last."""
    return as_dt(missing[0]), as_dt(missing[-1] + DAY_S)


def _summarize(missing: list[int], t: IntArray, v: FloatArray, running: BoolArray,
               params: BaselineParams) -> list[DaySummary]:
    fresh = []
    for d in missing:
        a, b = np.searchsorted(t, [d, d + DAY_S], side="left")
        fresh.append(summarize_day(d, v[a:b], running[a:b], params))
    return fresh


def _merge(have: Mapping[int, DaySummary], as_of: int, rated: float | None,
           params: BaselineParams) -> Baseline | None:
    """The baseline from the summaries by day, oldest first (one order, however the rows came)."""
    return merge_summaries([have[d] for d in sorted(have)], as_of, rated, params)


def _stored(memo: BaselineMemo | None, series: str, missing: list[int]) -> None:
    """The memo's floor after ``missing`` days of ``series`` were stored."""
    if memo is not None and series in memo.floor:
        memo.floor[series] = max(memo.floor[series], missing[-1] + DAY_S)


async def _baseline_as_of(conn: psycopg.AsyncConnection[Any], series: str, as_of: int,
                          params: BaselineParams, rated: float | None, sampler: Sampler,
                          memo: BaselineMemo | None) -> Baseline | None:
    days = _window_days(as_of, params)
    cur = await conn.execute(
        "SELECT day_start, n, quantiles FROM baselines"
        " WHERE series = %s AND day_start >= %s AND day_start < %s",
        (series, as_dt(days[0]), as_dt(as_of)))
    have = {s.day_s: s for s in map(_summary, await cur.fetchall())}
    missing = [d for d in days if d not in have]
    if missing:
        # Weeks of history, read once per day summary: past the runner's cache of recent data.
        t, v, running = await sampler(conn, *_missing_span(missing))
        fresh = _summarize(missing, t, v, running, params)
        async with conn.cursor() as c:
            await c.executemany(
                "INSERT INTO baselines (series, day_start, n, quantiles) VALUES (%s, %s, %s, %s)"
                " ON CONFLICT (series, day_start) DO UPDATE SET n = EXCLUDED.n,"
                " quantiles = EXCLUDED.quantiles, computed_at = now()",
                [(series, as_dt(s.day_s), s.n, list(s.quantiles)) for s in fresh])
        have.update({s.day_s: s for s in fresh})
        _stored(memo, series, missing)
    return _merge(have, as_of, rated, params)


async def invalidate(conn: psycopg.AsyncConnection[Any], series: Sequence[str], t_min: datetime,
                     t_max: datetime, *, memo: BaselineMemo | None = None) -> None:
    """Forget the day summaries of ``series`` for the days that ``[t_min, t_max]`` touches.

    With ``memo``, summaries from the first such day on are forgotten (later days are
    recomputed when needed), which lets the memo skip the query next time.
    """
    await invalidate_many(conn, [(s, t_min, t_max) for s in series], memo=memo)


def _forget(memo: BaselineMemo, series: str, day: int) -> bool:
    """Drop the memo's results of ``series`` as of days after ``day``; whether stored
    summaries may remain from ``day`` on (then they are deleted, and the floor moves)."""
    results = memo.results.get(series)
    if results:
        for as_of in [a for a in results if a > day]:
            del results[as_of]
    return memo.floor.get(series, day + 1) > day


async def invalidate_many(conn: psycopg.AsyncConnection[Any],
                          spans: Sequence[tuple[str, datetime, datetime]], *,
                          memo: BaselineMemo | None = None) -> None:
    """:func:`invalidate` of each (series, t_min, t_max), in one query for all."""
    days = [(s, local_day_start(epoch(t_min)), t_max) for s, t_min, t_max in spans]
    if memo is not None:
        days = [(s, day, t_max) for s, day, t_max in days if _forget(memo, s, day)]
    if not days:
        return
    if memo is None:
        await conn.execute(
            "DELETE FROM baselines b USING unnest(%s::text[], %s::timestamptz[], %s::timestamptz[])"
            " AS k(series, lo, hi) WHERE b.series = k.series AND b.day_start >= k.lo"
            " AND b.day_start <= k.hi",
            ([s for s, _, _ in days], [as_dt(d) for _, d, _ in days], [t for _, _, t in days]))
        return
    await conn.execute(
        "DELETE FROM baselines b USING unnest(%s::text[], %s::timestamptz[]) AS k(series, lo)"
        " WHERE b.series = k.series AND b.day_start >= k.lo",
        ([s for s, _, _ in days], [as_dt(d) for _, d, _ in days]))
    for s, day, _ in days:
        memo.floor[s] = day


_HISTORY_SQL = (
    "SELECT k.i, k.d, k.m, x.t, x.v, x.f"
    " FROM unnest(%s::int[], %s::text[], %s::text[], %s::timestamptz[], %s::timestamptz[])"
    "  AS k(i, d, m, lo, hi)"
    " CROSS JOIN LATERAL (SELECT array_agg(date_part('epoch', r.ts) ORDER BY r.ts) AS t,"
    "  array_agg(r.value ORDER BY r.ts) AS v, string_agg(rpad(r.flag, 1), '' ORDER BY r.ts) AS f"
    "  FROM readings r WHERE r.device_id = k.d AND r.metric = k.m AND r.ts >= k.lo"
    "  AND r.ts <= k.hi) x"
)


def _series(ts: list[float] | None, values: list[float | None] | None, flags: str | None) -> Series:
    """A series from the aggregates of :data:`_HISTORY_SQL` (as :func:`load_series` builds it)."""
    if ts is None:
        return Series.empty()
    t = np.floor(np.asarray(ts, dtype=np.float64)).astype(np.int64)
    v = np.asarray(values, dtype=np.float64)  # None -> NaN
    f = np.frombuffer(flags.encode("utf-32-le"), dtype="<U1") if flags else np.full(t.size, "N", "<U1")
    return Series(t, v, f)


async def baselines_as_of_many(conn: psycopg.AsyncConnection[Any], asks: Sequence[BaselineAsk],
                               params: BaselineParams, *,
                               memo: BaselineMemo | None = None) -> list[Baseline | None]:
    """:func:`baseline_as_of` of each ask (distinct series), in order: the stored summaries of
    all in one query, the missing spans of every :class:`GridSampler` in one streamed query
    (a series' history is summarised as soon as it has arrived, then dropped), the new
    summaries stored in one query. Other samplers are called one by one."""
    if len({a.series for a in asks}) != len(asks):
        raise ValueError("baselines_as_of_many needs distinct series")
    out: list[Baseline | None] = [None] * len(asks)
    todo: list[tuple[int, int, list[int]]] = []  # (index, as_of, window days)
    for i, ask in enumerate(asks):
        as_of = local_day_start(ask.as_of_s)
        if memo is not None and as_of in memo.results.get(ask.series, {}):
            out[i] = memo.results[ask.series][as_of]
        else:
            todo.append((i, as_of, _window_days(as_of, params)))
    if not todo:
        return out
    cur = await conn.execute(
        "SELECT b.series, b.day_start, b.n, b.quantiles FROM baselines b"
        " JOIN unnest(%s::text[], %s::timestamptz[], %s::timestamptz[]) AS k(series, lo, hi)"
        " ON b.series = k.series AND b.day_start >= k.lo AND b.day_start < k.hi",
        ([asks[i].series for i, _, _ in todo], [as_dt(days[0]) for _, _, days in todo],
         [as_dt(as_of) for _, as_of, _ in todo]))
    have: dict[str, dict[int, DaySummary]] = {asks[i].series: {} for i, _, _ in todo}
    for row in await cur.fetchall():
        s = _summary(row[1:])
        have[row[0]][s.day_s] = s
    missing = {i: m for i, _, days in todo
               if (m := [d for d in days if d not in have[asks[i].series]])}
    fresh: dict[int, list[DaySummary]] = {}
    loads: dict[int, GridSampler] = {}
    for i, m in missing.items():
        sampler = asks[i].sampler
        if isinstance(sampler, GridSampler):
            loads[i] = sampler
        else:
            fresh[i] = _summarize(m, *await sampler(conn, *_missing_span(m)), params)
    if loads:
        fresh.update(await _summarize_loaded(conn, loads, missing, params))
    if fresh:
        await _store(conn, [(asks[i].series, s) for i in sorted(fresh) for s in fresh[i]])
    for i, as_of, _ in todo:
        series = asks[i].series
        if i in fresh:
            have[series].update({s.day_s: s for s in fresh[i]})
            _stored(memo, series, missing[i])
        out[i] = _merge(have[series], as_of, asks[i].rated, params)
        if memo is not None:
            memo.results.setdefault(series, {})[as_of] = out[i]
    return out


async def _summarize_loaded(conn: psycopg.AsyncConnection[Any], loads: Mapping[int, GridSampler],
                            missing: Mapping[int, list[int]],
                            params: BaselineParams) -> dict[int, list[DaySummary]]:
    """The summaries of the missing days of each sampler's series, from one streamed query of
    every sampler's series over its missing span."""
    rows: list[tuple[int, str, str, datetime, datetime]] = []
    for i, sampler in loads.items():
        lo, hi = _missing_span(missing[i])
        rows.extend((i, d, m, lo, hi) for d, m in sampler.keys())
    waiting = {i: len(sampler.keys()) for i, sampler in loads.items()}
    got: dict[int, dict[tuple[str, str], Series]] = {i: {} for i in loads}
    out: dict[int, list[DaySummary]] = {}
    cols = list(zip(*rows, strict=True))
    async with conn.cursor() as cur:
        async for i, dev, metric, ts, values, flags in cur.stream(_HISTORY_SQL, [list(c) for c in cols]):
            got[i][(dev, metric)] = _series(ts, values, flags)
            waiting[i] -= 1
            if waiting[i] == 0:
                series = got.pop(i)
                t, v, running = loads[i].on_grid(series, *_missing_span(missing[i]))
                out[i] = _summarize(missing[i], t, v, running, params)
    return out


async def _store(conn: psycopg.AsyncConnection[Any], summaries: Sequence[tuple[str, DaySummary]]) -> None:
    """Upsert day summaries in one statement: days as epoch seconds (tens of thousands of
    datetimes cost more to send than the statement), the quantiles as slices of one array."""
    flat: list[float] = []
    bounds: list[tuple[int, int]] = []
    for _, s in summaries:
        bounds.append((len(flat) + 1, len(flat) + len(s.quantiles)))
        flat.extend(s.quantiles)
    await conn.execute(
        "INSERT INTO baselines (series, day_start, n, quantiles)"
        " SELECT k.series, to_timestamp(k.day_s), k.n, (%s::float8[])[k.a:k.b]"
        " FROM unnest(%s::text[], %s::int8[], %s::int[], %s::int[], %s::int[])"
        "  AS k(series, day_s, n, a, b)"
        " ON CONFLICT (series, day_start) DO UPDATE SET n = EXCLUDED.n,"
        " quantiles = EXCLUDED.quantiles, computed_at = now()",
        (flat, [s for s, _ in summaries], [d.day_s for _, d in summaries],
         [d.n for _, d in summaries], [a for a, _ in bounds], [b for _, b in bounds]))
