"""Private I/O helpers of the rule evaluators: series from ``readings``, minute grids, orders.

Every query names its devices *and* metrics, so PostgreSQL walks the primary key
``(device_id, metric, ts)`` with one index descent per pair instead of scanning a
device's whole history. Series come back as numpy arrays, one per (device, metric),
aggregated in the database (``array_agg``), so no Python loop runs per row.

Two ways onto a minute grid:

- :func:`held_on_grid` (power, air): the last reading at or before each grid point,
  standing for at most ``hold_s`` (a meter that reports every few minutes still
  covers the minutes between).
- :func:`binned_on_grid` (CEMS): the last reading inside each minute ``[g, g + 60)``,
  nothing carried over, so HJ 75 counts a minute only when it has its own value.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import psycopg

from ecowarn.config.registry import Device
from ecowarn.detectors._core import BoolArray, FloatArray, IntArray, align_to_grid, minute_grid
from ecowarn.detectors._series import in_windows
from ecowarn.detectors.hj75 import flag_in
from ecowarn.detectors.running import ON, running_state
from ecowarn.detectors.runtime._cache import SeriesCache

__all__ = [
    "DAY_S",
    "DEFAULT_HOLD_S",
    "LOCAL_OFFSET_S",
    "Maintenance",
    "MaintenanceIndex",
    "Order",
    "Series",
    "StrArray",
    "as_dt",
    "binned_on_grid",
    "covered_mask",
    "epoch",
    "held_on_grid",
    "latest_ts",
    "load_maintenance",
    "load_orders",
    "load_series",
    "load_times",
    "local_day_start",
    "next_ts",
    "previous_ts",
    "production_running",
    "reports_run_state",
    "unit_power",
    "with_run_state",
]

StrArray = npt.NDArray[np.str_]

DAY_S = 86_400
LOCAL_OFFSET_S = 8 * 3600  # China Standard Time, UTC+8: local days start at 16:00 UTC
# How long a power or air reading stands for the grid points after it.
DEFAULT_HOLD_S = 300


def epoch(ts: datetime) -> int:
    return int(ts.timestamp())


def as_dt(ts_s: float) -> datetime:
    return datetime.fromtimestamp(ts_s, UTC)


def local_day_start(ts_s: int) -> int:
    """Epoch seconds of 00:00 UTC+8 of the local day containing ``ts_s``."""
    return ((ts_s + LOCAL_OFFSET_S) // DAY_S) * DAY_S - LOCAL_OFFSET_S


@dataclass(frozen=True, slots=True)
class Series:
    """One metric of one device: sorted epoch seconds, values (NaN for null), flag letters."""

    t: IntArray
    v: FloatArray
    f: StrArray

    @staticmethod
    def empty() -> Series:
        return Series(np.empty(0, np.int64), np.empty(0, np.float64), np.empty(0, "<U1"))

    def __len__(self) -> int:
        return int(self.t.size)

    def valid_values(self, valid_flags: str = "N") -> FloatArray:
        """Values with NaN where the flag is not one of ``valid_flags``."""
        return np.where(flag_in(self.f, valid_flags), self.v, np.nan)


_SERIES_SQL = (
    "SELECT device_id, metric, array_agg(date_part('epoch', ts) ORDER BY ts),"
    " array_agg(value ORDER BY ts), string_agg(rpad(flag, 1), '' ORDER BY ts)"
    " FROM readings WHERE device_id = ANY(%s) AND metric = ANY(%s) AND ts >= %s AND ts <= %s"
    " GROUP BY device_id, metric"
)


async def load_series(conn: psycopg.AsyncConnection[Any], cache: SeriesCache | None, device_ids: Iterable[str],
                      metrics: Iterable[str], since: datetime,
                      until: datetime) -> dict[tuple[str, str], Series]:
    """Every (device, metric) series in ``[since, until]``; empty series for pairs without data.

    With a runner batch's ``cache`` the series come from it; with None, from the database.
    """
    devs = sorted(set(device_ids))
    mets = sorted(set(metrics))
    out = {(d, m): Series.empty() for d in devs for m in mets}
    if not devs or not mets or until < since:
        return out
    if cache is not None:
        lo, hi = since.timestamp(), until.timestamp()
        await cache.ensure(conn, out, lo)
        for key in out:
            te, v, f = cache.window(key, lo, hi)
            out[key] = Series(np.floor(te).astype(np.int64), v, f)
        return out
    cur = await conn.execute(_SERIES_SQL, (devs, mets, since, until))
    for dev, metric, ts, values, flags in await cur.fetchall():
        t = np.floor(np.asarray(ts, dtype=np.float64)).astype(np.int64)
        v = np.asarray(values, dtype=np.float64)  # None -> NaN
        f = np.frombuffer(flags.encode("utf-32-le"), dtype="<U1") if flags else np.full(
            t.size, "N", "<U1")
        out[(dev, metric)] = Series(t, v, f)
    return out


_LATEST_SQL = (
    "SELECT max(x.ts) FROM unnest(%s::text[], %s::text[]) AS k(d, m)"
    " CROSS JOIN LATERAL (SELECT ts FROM readings r WHERE r.device_id = k.d AND r.metric = k.m"
    " ORDER BY ts DESC LIMIT 1) x"
)

_PREVIOUS_SQL = (
    "SELECT max(x.ts) FROM unnest(%s::text[], %s::text[]) AS k(d, m)"
    " CROSS JOIN LATERAL (SELECT ts FROM readings r WHERE r.device_id = k.d AND r.metric = k.m"
    " AND r.ts < %s ORDER BY ts DESC LIMIT 1) x"
)


_NEXT_SQL = (
    "SELECT min(x.ts) FROM unnest(%s::text[], %s::text[]) AS k(d, m)"
    " CROSS JOIN LATERAL (SELECT ts FROM readings r WHERE r.device_id = k.d AND r.metric = k.m"
    " AND r.ts > %s ORDER BY ts LIMIT 1) x"
)

_TIMES_SQL = (
    "SELECT array_agg(DISTINCT date_part('epoch', ts)) FROM readings"
    " WHERE device_id = %s AND metric = ANY(%s) AND ts >= %s AND ts <= %s"
)


async def latest_ts(conn: psycopg.AsyncConnection[Any], cache: SeriesCache | None,
                    keys: Sequence[tuple[str, str]]) -> datetime | None:
    """Event time of the latest reading of any (device, metric) in ``keys`` (index lookups)."""
    if not keys:
        return None
    if cache is not None:
        await cache.fill_prior(conn, keys)
        known, t = cache.latest(keys)
        if known:
            return None if t is None else as_dt(t)
    cur = await conn.execute(_LATEST_SQL, ([k[0] for k in keys], [k[1] for k in keys]))
    row = await cur.fetchone()
    return None if row is None else row[0]


async def previous_ts(conn: psycopg.AsyncConnection[Any], cache: SeriesCache | None, keys: Sequence[tuple[str, str]],
                      before: datetime) -> datetime | None:
    """Event time of the last reading of any pair in ``keys`` strictly before ``before``."""
    if not keys:
        return None
    if cache is not None:
        await cache.fill_prior(conn, keys)
        known, t = cache.previous(keys, before.timestamp())
        if known:
            return None if t is None else as_dt(t)
    cur = await conn.execute(_PREVIOUS_SQL, ([k[0] for k in keys], [k[1] for k in keys], before))
    row = await cur.fetchone()
    return None if row is None else row[0]


async def next_ts(conn: psycopg.AsyncConnection[Any], cache: SeriesCache | None, keys: Sequence[tuple[str, str]],
                  after: datetime) -> datetime | None:
    """Event time of the first reading of any pair in ``keys`` strictly after ``after``."""
    if not keys:
        return None
    if cache is not None:
        known, t = cache.following(keys, after.timestamp())
        if known:
            return None if t is None else as_dt(t)
    cur = await conn.execute(_NEXT_SQL, ([k[0] for k in keys], [k[1] for k in keys], after))
    row = await cur.fetchone()
    return None if row is None else row[0]


async def load_times(conn: psycopg.AsyncConnection[Any], cache: SeriesCache | None, device_id: str,
                     metrics: Iterable[str], since: datetime, until: datetime) -> IntArray:
    """Sorted distinct event times (epoch seconds) of any of ``metrics`` of one device."""
    mets = sorted(set(metrics))
    if cache is not None and mets:
        keys = [(device_id, m) for m in mets]
        lo, hi = since.timestamp(), until.timestamp()
        await cache.ensure(conn, keys, lo)
        parts = [cache.window(k, lo, hi)[0] for k in keys]
        return np.unique(np.floor(np.concatenate(parts)).astype(np.int64))
    cur = await conn.execute(_TIMES_SQL, (device_id, sorted(set(metrics)), since, until))
    row = await cur.fetchone()
    if row is None or row[0] is None:
        return np.empty(0, np.int64)
    return np.unique(np.floor(np.asarray(row[0], dtype=np.float64)).astype(np.int64))


def held_on_grid(s: Series, grid: IntArray, hold_s: int = DEFAULT_HOLD_S,
                 valid_flags: str | None = "N") -> FloatArray:
    """Last value at or before each grid point, NaN when older than ``hold_s``.

    With ``valid_flags``, readings flagged otherwise count as no value (NaN).
    """
    v = s.v if valid_flags is None else s.valid_values(valid_flags)
    return align_to_grid(s.t, v, grid, hold_s)


def binned_on_grid(s: Series, grid: IntArray, step_s: int = 60) -> tuple[FloatArray, StrArray]:
    """Value and flag of the last reading in each ``[g, g + step_s)``; NaN and ``""`` for none."""
    values = np.full(grid.shape, np.nan, dtype=np.float64)
    flags = np.full(grid.shape, "", dtype="<U1")
    if s.t.size == 0 or grid.size == 0:
        return values, flags
    idx = np.searchsorted(s.t, grid + step_s, side="left") - 1
    ok = idx >= 0
    ok[ok] = s.t[idx[ok]] >= grid[ok]
    values[ok] = s.v[idx[ok]]
    flags[ok] = s.f[idx[ok]]
    return values, flags


def production_running(series: Mapping[str, Series], devices: Sequence[Device], grid: IntArray,
                       *, hold_s: int = DEFAULT_HOLD_S, off_ratio: float = 0.8,
                       blank: BoolArray | None = None) -> BoolArray:
    """True where any of ``devices`` runs (hysteresis on its running threshold).

    A meter without data is not running; ``blank`` marks points to treat as no data.
    """
    out = np.zeros(grid.shape, dtype=bool)
    for dev in devices:
        kw = held_on_grid(series.get(dev.id, Series.empty()), grid, hold_s)
        if blank is not None:
            kw = np.where(blank, np.nan, kw)
        thr = dev.running_threshold_kw
        out |= running_state(kw, thr, off_ratio * thr) == ON
    return out


# --- declared maintenance and emergency orders ---------------------------------------------


@dataclass(frozen=True, slots=True)
class Maintenance:
    id: int
    device_id: str
    start_s: int
    end_s: int
    reason: str


async def load_maintenance(conn: psycopg.AsyncConnection[Any], device_ids: Iterable[str],
                           since: datetime, until: datetime) -> list[Maintenance]:
    """Approved maintenance of ``device_ids`` overlapping ``[since, until]`` (a pending or
    rejected declaration suppresses nothing: CONTRACT section 8)."""
    devs = sorted(set(device_ids))
    if not devs:
        return []
    cur = await conn.execute(
        "SELECT id, device_id, start_ts, end_ts, reason FROM maintenance"
        " WHERE device_id = ANY(%s) AND end_ts > %s AND start_ts <= %s AND status = 'approved'"
        " ORDER BY start_ts, id",
        (devs, since, until))
    return [Maintenance(int(r[0]), r[1], epoch(r[2]), epoch(r[3]), r[4])
            for r in await cur.fetchall()]


class MaintenanceIndex:
    """Which devices have any approved maintenance, refreshed once per runner batch.

    Lets an evaluator skip the maintenance query for the (usual) subjects none of whose
    devices ever had a declaration. Until the first refresh it knows nothing, and every
    lookup queries. A declaration committed after a refresh also queued a re-evaluation
    (trigger of migration 0005; approving one too, migration 0006), which the next batch
    picks up with a fresh index.
    """

    def __init__(self) -> None:
        self._devices: frozenset[str] | None = None
        self._batch: int | None = None

    async def refresh(self, conn: psycopg.AsyncConnection[Any], batch: int) -> None:
        if batch == self._batch:
            return
        cur = await conn.execute("SELECT DISTINCT device_id FROM maintenance WHERE status = 'approved'")
        self._devices = frozenset(r[0] for r in await cur.fetchall())
        self._batch = batch

    def may_cover(self, device_ids: Iterable[str]) -> bool:
        return self._devices is None or any(d in self._devices for d in device_ids)


def covered_mask(grid: IntArray, windows: Sequence[Maintenance],
                 device_ids: Iterable[str] | None = None) -> BoolArray:
    """True at grid points inside any window (of ``device_ids`` when given)."""
    wanted = None if device_ids is None else set(device_ids)
    sel = [m for m in windows if wanted is None or m.device_id in wanted]
    if not sel or grid.size == 0:
        return np.zeros(grid.shape, dtype=bool)
    return in_windows(grid, np.array([m.start_s for m in sel], dtype=np.int64),
                      np.array([m.end_s for m in sel], dtype=np.int64))


@dataclass(frozen=True, slots=True)
class Order:
    id: int
    start_s: int
    end_s: int
    measure: Literal["shutdown", "limit"]
    limit_pct: float | None


async def load_orders(conn: psycopg.AsyncConnection[Any], enterprise_id: str, since: datetime,
                      until: datetime) -> list[Order]:
    """Emergency orders naming ``enterprise_id`` that overlap ``[since, until]``."""
    cur = await conn.execute(
        "SELECT id, start_ts, end_ts, measure, limit_pct FROM emergency_orders"
        " WHERE enterprise_ids @> ARRAY[%s]::text[] AND end_ts > %s AND start_ts <= %s"
        " ORDER BY start_ts, id",
        (enterprise_id, since, until))
    return [Order(int(r[0]), epoch(r[1]), epoch(r[2]), r[3],
                  None if r[4] is None else float(r[4]))
            for r in await cur.fetchall()]


# --- facility run states (HJ 212 SBxxx-RS, metric ``rs``) ---------------------------------

RS_STOPPED = 0.0


def reports_run_state(device: Device) -> bool:
    """Whether the meter's terminal reports the facility's run state (a code mapped to ``rs``)."""
    return any(m == "rs" for m in device.codes.values())


def with_run_state(kw: FloatArray, rs: FloatArray) -> FloatArray:
    """Power as the running rules see it when the terminal also reports a run state: a
    facility reported stopped (``rs`` 0) is off whatever its meter reads; any other state
    (running, calibrating, maintenance, alarm, blowback) or no state leaves power to decide.
    Both arrays are held on the same grid."""
    return np.where(rs == RS_STOPPED, 0.0, kw)


async def unit_power(conn: psycopg.AsyncConnection[Any], cache: SeriesCache | None, devices: Sequence[Device],
                     since: datetime, until: datetime, hold_s: int,
                     maintenance: Sequence[Maintenance]) -> tuple[IntArray, list[FloatArray]]:
    """The minute grid over ``[since, until]`` and each device's power held on it: run states
    applied where the terminal reports them (:func:`with_run_state`), minutes under
    ``maintenance`` of that device blanked (NaN)."""
    ids = [d.id for d in devices]
    metrics = ["p", "rs"] if any(reports_run_state(d) for d in devices) else ["p"]
    series = await load_series(conn, cache, ids, metrics, since - timedelta(seconds=hold_s), until)
    grid = minute_grid(epoch(since), epoch(until))
    out = []
    for dev in devices:
        v = held_on_grid(series.get((dev.id, "p"), Series.empty()), grid, hold_s)
        if reports_run_state(dev):
            v = with_run_state(v, held_on_grid(series.get((dev.id, "rs"), Series.empty()), grid, hold_s))
        out.append(np.where(covered_mask(grid, maintenance, [dev.id]), np.nan, v) if maintenance else v)
    return grid, out
