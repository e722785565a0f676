"""Private base of the rule evaluators: the evaluation window, maintenance, wording helpers.

An evaluator evaluates one subject from a look-back before the new data up to the
subject's latest reading, so a condition still holding at the end of the data is
ongoing (``end`` null). When a finding starts right at the window's left edge, its
true start lies further back: the look-back is widened (x4, at most three days) and
the subject evaluated again.

Summaries are worded by :func:`ecowarn.i18n.summary` from the catalogs; the helpers here
turn registry devices, baselines and states into the catalog's phrases.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import psycopg

from ecowarn.alerts.store import AlertDraft
from ecowarn.config.registry import Device
from ecowarn.detectors._core import FloatArray, IntArray
from ecowarn.detectors.baseline import Baseline, BaselineParams
from ecowarn.detectors.runtime._baselines import BaselineMemo, Sampler, baseline_as_of, invalidate
from ecowarn.detectors.runtime._cache import SeriesCache
from ecowarn.detectors.runtime._load import (
    DAY_S,
    LOCAL_OFFSET_S,
    Maintenance,
    MaintenanceIndex,
    Series,
    as_dt,
    epoch,
    held_on_grid,
    latest_ts,
    load_maintenance,
    local_day_start,
)
from ecowarn.detectors.runtime.contract import Window
from ecowarn.i18n import Minutes, Phrase, fmt, render

__all__ = [
    "MAX_LOOKBACK",
    "Evaluator",
    "baseline_evidence",
    "baseline_phrase",
    "device_en",
    "device_phrase",
    "dur_en",
    "dur_zh",
    "fmt",
    "local_hm",
    "maintenance_evidence",
    "metric_phrase",
    "outlet_en",
    "outlet_phrase",
    "state",
]

MAX_LOOKBACK = timedelta(days=3)
_FAR_FUTURE = datetime(9999, 1, 1, tzinfo=UTC)


def dur_en(minutes: float) -> str:
    return render(Minutes(minutes), "en")


def dur_zh(minutes: float) -> str:
    return render(Minutes(minutes), "zh")


def local_hm(ts_s: int) -> str:
    """``MM-DD HH:MM`` in UTC+8."""
    return as_dt(ts_s + LOCAL_OFFSET_S).strftime("%m-%d %H:%M")


def state(end_s: int | None) -> Phrase:
    """Whether an episode is still going on at the end of the data."""
    return Phrase("ongoing" if end_s is None else "ended")


def metric_phrase(metric: str) -> Phrase:
    """The name of a metric (``so2``, ``pm25``...)."""
    return Phrase(f"metric_{metric}")


def outlet_phrase(dev: Device) -> Phrase:
    return Phrase("outlet", outlet=dev.outlet, id=dev.id) if dev.outlet else Phrase("cems", id=dev.id)


def device_phrase(dev: Device) -> Phrase:
    if dev.kind == "cems":
        return outlet_phrase(dev)
    if dev.kind == "air":
        return Phrase("air_station_named", id=dev.id, name=dev.equipment) if dev.equipment \
            else Phrase("air_station", id=dev.id)
    return Phrase("power_meter_named", name=dev.label, id=dev.id) if dev.equipment \
        else Phrase("power_meter", id=dev.id)


def outlet_en(dev: Device) -> str:
    """The outlet's name in English (evidence lists devices by it)."""
    return render(outlet_phrase(dev), "en")


def device_en(dev: Device) -> str:
    """The device's name in English (evidence lists devices by it)."""
    return render(device_phrase(dev), "en")


def maintenance_evidence(windows: Sequence[Maintenance]) -> list[dict[str, Any]]:
    return [{"id": m.id, "device_id": m.device_id, "start_s": m.start_s, "end_s": m.end_s,
             "reason": m.reason} for m in windows]


def baseline_phrase(b: Baseline, unit: str, params: BaselineParams) -> Phrase:
    """How a baseline was obtained (a rated fallback says so explicitly)."""
    if b.source == "learned":
        return Phrase("baseline_learned", value=fmt(b.value), unit=unit, n=b.n,
                      days=fmt(params.window_s / DAY_S))
    return Phrase("baseline_rated", value=fmt(b.value), unit=unit, n=b.n, needed=params.min_samples)


def baseline_evidence(b: Baseline, params: BaselineParams, as_of_s: int) -> dict[str, Any]:
    return {"value": round(b.value, 3), "mad": None if b.mad is None else round(b.mad, 3),
            "n": b.n, "source": b.source, "as_of_s": as_of_s,
            "window_days": params.window_s / DAY_S, "min_samples": params.min_samples}


RunFn = Callable[[datetime], Awaitable[list[AlertDraft]]]


class Evaluator:
    """Shared behaviour; subclasses set ``rule``, ``lookback``, ``_subjects`` and implement
    ``primary_keys`` and ``_run``.

    ``suppressed_by_maintenance`` (from the rule's params) says whether declared
    maintenance of ``_maintenance_devices(subject)`` suppresses this rule; the runner
    asks :meth:`maintenance_windows` after reconciling, to suppress alerts that a later
    declaration now covers.
    """

    rule: str
    lookback: timedelta = timedelta(hours=2)
    align_s: int = 60
    suppressed_by_maintenance: bool = False
    # True when findings depend on readings only through minute grid points holding the
    # last reading at or before them (or on gaps of at least a minute): readings arriving
    # after everything evaluated, within the newest minute, cannot change them, and the
    # runner skips the evaluation.
    held_grid: bool = False

    def __init__(self) -> None:
        self._subjects: dict[str, list[str]] = {}
        self.maintenance_index = MaintenanceIndex()
        self.baseline_memo = BaselineMemo()
        # subject -> event time (epoch s) of the latest reading its last full evaluation
        # covered, and what else :meth:`tail_quiet` needs of that evaluation.
        self._evaluated: dict[str, tuple[float, Any]] = {}

    def forget(self) -> None:
        """Drop what this evaluator remembers of the database (the runner calls it)."""
        self.baseline_memo.clear()
        self._evaluated.clear()

    def tail_quiet(self, subject: str, cache: SeriesCache | None) -> bool:
        """Whether the readings since the subject's last full evaluation cannot change what it
        found (nothing, the runner asks only then): the rule's condition is decidedly false at
        every grid point that evaluation did not cover, whatever came before.

        Answered from the runner's cache alone, without a query; False when unsure (no cache,
        no record of a full evaluation, cache not covering the points), and the runner then
        evaluates in full. Subclasses that can tell override it.
        """
        return False

    def read_until(self, subject: str) -> float | None:
        """The newest reading of the subject's primary series its last full evaluation saw
        (findings on a grid ending in that reading's minute, see ``contract``)."""
        done = self._evaluated.get(subject)
        return None if done is None else done[0]

    def _tail_since(self, subject: str, cache: SeriesCache | None) -> tuple[tuple[float, Any], float] | None:
        """What the subject's last full evaluation recorded, and the latest reading of its
        primary series now, from the runner's cache; None when either is not known."""
        done = self._evaluated.get(subject)
        if cache is None or done is None:
            return None
        known, latest = cache.latest(self.primary_keys(subject))
        return None if not known or latest is None else (done, latest)

    def _tail_held(self, subject: str, keys: Sequence[tuple[str, str]], hold_s: int,
                   cache: SeriesCache | None, *, from_last: bool = False,
                   ) -> tuple[IntArray, dict[tuple[str, str], FloatArray], float] | None:
        """The minute grid points after the subject's last full evaluation up to the latest
        reading of its primary series (``from_last``: and before them the last grid point
        that evaluation judged), the value of each of ``keys`` held on them (as
        :func:`held_on_grid` gives it inside that evaluation's window) and the latest
        reading's time; None when unsure."""
        since = self._tail_since(subject, cache)
        if since is None:
            return None
        done, latest = since
        assert cache is not None
        first = (int(done[0]) // 60 + (0 if from_last else 1)) * 60
        grid = np.arange(first, int(latest) // 60 * 60 + 1, 60, dtype=np.int64)
        held: dict[tuple[str, str], FloatArray] = {}
        if grid.size == 0:
            return grid, held, latest
        lo, hi = float(first - hold_s - 1), float(grid[-1] + 1)
        if not cache.covers(keys, lo):
            return None
        for key in keys:
            te, v, f = cache.window(key, lo, hi)
            held[key] = held_on_grid(Series(np.floor(te).astype(np.int64), v, f), grid, hold_s)
        return grid, held, latest

    async def _baseline_as_of(self, conn: psycopg.AsyncConnection[Any], series: str,
                              as_of_s: int, params: BaselineParams, rated: float | None,
                              sampler: Sampler) -> Baseline | None:
        return await baseline_as_of(conn, series, as_of_s, params, rated, sampler,
                                    memo=self.baseline_memo)

    async def _invalidate_baselines(self, conn: psycopg.AsyncConnection[Any],
                                    series: Sequence[str], t_min: datetime,
                                    t_max: datetime) -> None:
        await invalidate(conn, series, t_min, t_max, memo=self.baseline_memo)

    async def _new_data_baseline(self, conn: psycopg.AsyncConnection[Any], window: Window,
                                 until: datetime, series: str, params: BaselineParams,
                                 rated: float | None,
                                 sampler: Sampler) -> tuple[int, Baseline | None]:
        """The start of the local day of the new data (the window's end, or ``until`` when
        earlier) and the baseline of ``series`` as of it, after forgetting the day summaries
        the window touches. The baseline is None when there is none to judge against: too
        little history and no ``rated`` fallback, or a value not above zero."""
        await self._invalidate_baselines(conn, [series], window.t_min, window.t_max)
        as_of = local_day_start(epoch(min(window.t_max, until)))
        baseline = await self._baseline_as_of(conn, series, as_of, params, rated, sampler)
        return as_of, None if baseline is None or baseline.value <= 0 else baseline

    async def begin_batch(self, conn: psycopg.AsyncConnection[Any], batch: int) -> None:
        """Called by the runner once per claimed batch, before any evaluation."""
        if self.suppressed_by_maintenance:
            await self.maintenance_index.refresh(conn, batch)

    def _add_subject(self, subject: str, devices: Iterable[str]) -> None:
        for d in devices:
            subs = self._subjects.setdefault(d, [])
            if subject not in subs:
                subs.append(subject)

    def subjects_for(self, device_id: str) -> Iterable[str]:
        return self._subjects.get(device_id, ())

    def all_subjects(self) -> list[str]:
        return sorted({s for subs in self._subjects.values() for s in subs})

    # --- to implement -----------------------------------------------------------------

    def primary_keys(self, subject: str) -> list[tuple[str, str]]:
        """(device, metric) pairs whose latest reading ends the evaluated span."""
        raise NotImplementedError

    async def _run(self, conn: psycopg.AsyncConnection[Any], cache: SeriesCache | None, subject: str, since: datetime,
                   until: datetime) -> list[AlertDraft]:
        raise NotImplementedError

    def _maintenance_devices(self, subject: str) -> list[str]:
        raise NotImplementedError

    # --- shared -----------------------------------------------------------------------

    async def evaluate(self, conn: psycopg.AsyncConnection[Any], subject: str,
                       window: Window, cache: SeriesCache | None = None) -> tuple[datetime, list[AlertDraft]]:
        until = await latest_ts(conn, cache, self.primary_keys(subject))
        if until is None:
            self._evaluated.pop(subject, None)
            return window.t_min, []
        self._evaluated[subject] = (until.timestamp(), None)
        if self._nothing_new(window, until):
            return until, []

        async def run(since: datetime) -> list[AlertDraft]:
            return await self._run(conn, cache, subject, since, until)

        return await self._widening(window, until, run)

    async def evaluate_many(self, conn: psycopg.AsyncConnection[Any],
                            items: Sequence[tuple[str, Window]],
                            cache: SeriesCache | None = None) -> list[tuple[datetime, list[AlertDraft]]]:
        """:meth:`evaluate` of each (subject, window), in order (see ``contract``); rules with
        a batched form override it and keep its results identical (equivalence tests)."""
        return [await self.evaluate(conn, subject, window, cache) for subject, window in items]

    def _nothing_new(self, window: Window, until: datetime) -> bool:
        """Whether the new data cannot change any finding (evaluation skipped)."""
        return False

    def _aligned(self, since_s: int) -> int:
        """The start of an evaluation window at or before ``since_s`` (``align_s`` steps)."""
        return math.floor(since_s / self.align_s) * self.align_s

    async def _widening(self, window: Window, until: datetime,
                        run: RunFn) -> tuple[datetime, list[AlertDraft]]:
        """Run over ``[since, until]``, widening ``since`` while a finding starts at it."""
        start = min(window.t_min, until)
        lookback = self.lookback
        while True:
            since = as_dt(self._aligned(epoch(start - lookback)))
            drafts = await run(since)
            truncated = any(d.start <= since for d in drafts)
            if not truncated or lookback >= MAX_LOOKBACK:
                return since, drafts
            lookback = min(lookback * 4, MAX_LOOKBACK)

    async def maintenance_windows(self, conn: psycopg.AsyncConnection[Any], subject: str,
                                  since: datetime) -> list[Maintenance]:
        """Declared maintenance that suppresses this rule for ``subject`` from ``since`` on."""
        return await self._maintenance(conn, subject, since, _FAR_FUTURE)

    async def _maintenance(self, conn: psycopg.AsyncConnection[Any], subject: str,
                           since: datetime, until: datetime) -> list[Maintenance]:
        devices = self._maintenance_devices(subject)
        if not self.suppressed_by_maintenance or not self.maintenance_index.may_cover(devices):
            return []
        return await load_maintenance(conn, devices, since, until)


def devices_of(devices: Mapping[str, Device], ids: Iterable[str]) -> list[Device]:
    return [devices[i] for i in ids if i in devices]
