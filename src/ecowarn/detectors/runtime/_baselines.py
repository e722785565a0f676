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
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any

import numpy as np
import psycopg

from ecowarn.config.registry import Device
from ecowarn.detectors._core import BoolArray, FloatArray, IntArray, minute_grid
from ecowarn.detectors.baseline import Baseline, BaselineParams, DaySummary, merge_summaries, summarize_day
from ecowarn.detectors.running import ON, running_state
from ecowarn.detectors.runtime._load import DAY_S, as_dt, epoch, held_on_grid, load_series, local_day_start

__all__ = ["BaselineMemo", "Sampler", "baseline_as_of", "invalidate", "power_sampler"]

# Loads a series and its running mask on a grid over [lo, hi): (grid times, values, running).
Sampler = Callable[[psycopg.AsyncConnection[Any], datetime, datetime],
                   Awaitable[tuple[IntArray, FloatArray, BoolArray]]]


def power_sampler(dev: Device, off_ratio: float) -> Sampler:
    """The :data:`Sampler` of a power meter: its power held on the minute grid of ``[lo, hi)``
    and where it runs (on at its running threshold, off below ``off_ratio`` times it)."""

    async def sample(conn: psycopg.AsyncConnection[Any], lo: datetime,
                     hi: datetime) -> tuple[IntArray, FloatArray, BoolArray]:
        series = await load_series(conn, None, [dev.id], ["p"], lo, hi)
        grid = minute_grid(epoch(lo), epoch(hi) - 60)
        kw = held_on_grid(series[(dev.id, "p")], grid)
        thr = dev.running_threshold_kw
        running = running_state(kw, thr, off_ratio * thr) == ON
        return grid, kw, np.asarray(running)

    return sample


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


async def _baseline_as_of(conn: psycopg.AsyncConnection[Any], series: str, as_of: int,
                          params: BaselineParams, rated: float | None, sampler: Sampler,
                          memo: BaselineMemo | None) -> Baseline | None:
    n_days = max(1, -(-params.window_s // DAY_S))
    days = [as_of - DAY_S * k for k in range(n_days, 0, -1)]
    cur = await conn.execute(
        "SELECT day_start, n, quantiles FROM baselines"
        " WHERE series = %s AND day_start >= %s AND day_start < %s",
        (series, as_dt(days[0]), as_dt(as_of)))
    have = {epoch(r[0]): DaySummary(epoch(r[0]), int(r[1]), tuple(float(q) for q in r[2]))
            for r in await cur.fetchall()}
    missing = [d for d in days if d not in have]
    if missing:
        # Weeks of history, read once per day summary: past the runner's cache of recent data.
        t, v, running = await sampler(conn, as_dt(missing[0]), as_dt(missing[-1] + DAY_S))
        fresh = []
        for d in missing:
            a, b = np.searchsorted(t, [d, d + DAY_S], side="left")
            fresh.append(summarize_day(d, v[a:b], running[a:b], params))
        async with conn.cursor() as c:
            await c.executemany(
                "INSERT INTO baselines (series, day_start, n, quantiles) VALUES (%s, %s, %s, %s)"
                " ON CONFLICT (series, day_start) DO UPDATE SET n = EXCLUDED.n,"
                " quantiles = EXCLUDED.quantiles, computed_at = now()",
                [(series, as_dt(s.day_s), s.n, list(s.quantiles)) for s in fresh])
        have.update({s.day_s: s for s in fresh})
        if memo is not None and series in memo.floor:
            memo.floor[series] = max(memo.floor[series], missing[-1] + DAY_S)
    return merge_summaries(list(have.values()), as_of, rated, params)


async def invalidate(conn: psycopg.AsyncConnection[Any], series: Sequence[str], t_min: datetime,
                     t_max: datetime, *, memo: BaselineMemo | None = None) -> None:
    """Forget the day summaries of ``series`` for the days that ``[t_min, t_max]`` touches.

    With ``memo``, summaries from the first such day on are forgotten (later days are
    recomputed when needed), which lets the memo skip the query next time.
    """
    day = local_day_start(epoch(t_min))
    if memo is not None:
        for s in series:
            results = memo.results.get(s)
            if results:
                for as_of in [a for a in results if a > day]:
                    del results[as_of]
        series = [s for s in series if memo.floor.get(s, day + 1) > day]
    if not series:
        return
    if memo is None:
        await conn.execute(
            "DELETE FROM baselines WHERE series = ANY(%s) AND day_start >= %s AND day_start <= %s",
            (list(series), as_dt(day), t_max))
        return
    await conn.execute("DELETE FROM baselines WHERE series = ANY(%s) AND day_start >= %s",
                       (list(series), as_dt(day)))
    for s in series:
        memo.floor[s] = day
