"""Fixtures and helpers of the rule evaluator tests (loaded with ``pytest_plugins``).

Data comes from the seeded simulator (``simulator.simulate``) and goes into
``readings`` by binary COPY, with the per-device event-time spans queued in
``pending_eval`` exactly as the ingest writer queues them; the runner then drains
the queue ("burst" processing). Each test gets a fresh migrated database.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from prometheus_client import CollectorRegistry
from psycopg_pool import AsyncConnectionPool

from ecowarn.config.registry import Registry
from ecowarn.detectors.catalog import default_params
from ecowarn.detectors.runtime.evaluators import build_evaluators
from ecowarn.detectors.runtime.runner import DetectorRunner, RunnerMetrics
from ecowarn.simulator import CST, Injection, select_enterprises, simulate
from ecowarn.simulator.plant import Simulation

CEMENT = "91130105MA0CXXXX1X"
COKING = "91130182MA0DEM001G"
GLASS = "91130627MA0GLA2230"
KILN, BAG, SCR, KILN_CEMS = "PWR-KILN-1", "PWR-BAG-1", "PWR-SCR-1", "13010500000001"
DAY0 = datetime(2026, 11, 18, 0, 0, tzinfo=CST)  # the first simulated day (local midnight)


def at(day: int, hh: int, mm: int = 0) -> datetime:
    """Local time ``hh:mm`` of simulated day ``day`` (0-based), as an aware UTC datetime."""
    return (DAY0 + timedelta(days=day, hours=hh, minutes=mm)).astimezone(UTC)


@dataclass
class Alert:
    id: int
    rule: str
    subject: str
    enterprise_id: str | None
    device_ids: list[str]
    start: datetime
    end: datetime | None
    severity: str
    status: str
    summary: str
    summary_zh: str
    params: dict[str, Any]
    evidence: dict[str, Any]


@dataclass
class EvalEnv:
    pool: AsyncConnectionPool[Any]
    registry: Registry
    metrics: CollectorRegistry
    arrivals: dict[str, float] = field(default_factory=dict)
    params: dict[str, object] = field(default_factory=default_params)

    def runner(self, rules: Iterable[str] | None = None, **params: object) -> DetectorRunner:
        """A runner with the evaluators of ``rules`` (default: all), parameters overridden."""
        merged = {**self.params, **params}
        evaluators = build_evaluators(self.registry, merged, last_arrival=self.arrivals.get,
                                      rules=None if rules is None else frozenset(rules))
        return DetectorRunner(self.pool, self.registry, evaluators,
                              RunnerMetrics(CollectorRegistry()))

    async def execute(self, query: str, params: Any = None) -> list[tuple[Any, ...]]:
        async with self.pool.connection() as conn:
            cur = await conn.execute(query, params)
            return await cur.fetchall() if cur.description else []

    async def alerts(self, rule: str | None = None, *, live: bool = True) -> list[Alert]:
        """Alerts in id order (``live``: superseded ones left out)."""
        where, args = [], []
        if rule is not None:
            where.append("rule = %s")
            args.append(rule)
        if live:
            where.append("status <> 'superseded'")
        rows = await self.execute(
            "SELECT id, rule, subject, enterprise_id, device_ids, start_ts, end_ts, severity,"
            " status, summary, summary_zh, params, evidence FROM alerts"
            + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY id", args)
        return [Alert(*r) for r in rows]

    async def write_sim(self, sim: Simulation, *, devices: Iterable[str] | None = None,
                        start: datetime | None = None, end: datetime | None = None,
                        edit: Callable[[str, str, np.ndarray, np.ndarray], None] | None = None,
                        ) -> int:
        """COPY the simulation's readings (optionally some devices, ``[start, end)``) and
        queue their spans; ``edit(device, metric, values, flags)`` may change arrays in place."""
        rows = sim_rows(sim, devices=devices, start=start, end=end, edit=edit)
        return await self.write_rows(rows)

    async def write_rows(self, rows: Sequence[tuple[str, str, datetime, float | None, str]]) -> int:
        if not rows:
            return 0
        spans: dict[str, tuple[datetime, datetime]] = {}
        for dev, _, ts, _, _ in rows:
            lo, hi = spans.get(dev, (ts, ts))
            spans[dev] = (min(lo, ts), max(hi, ts))
        async with self.pool.connection() as conn, conn.transaction():
            async with conn.cursor() as cur:
                async with cur.copy("COPY readings (device_id, metric, ts, value, flag)"
                                    " FROM STDIN (FORMAT BINARY)") as copy:
                    copy.set_types(["text", "text", "timestamptz", "float8", "text"])
                    for r in rows:
                        await copy.write_row(r)
                await cur.executemany(
                    "INSERT INTO pending_eval (device_id, t_min, t_max) VALUES (%s, %s, %s)",
                    [(d, lo, hi) for d, (lo, hi) in spans.items()])
        return len(rows)

    async def requeue_all(self) -> None:
        """Queue every device's whole history again (as a restart with lost state would)."""
        await self.execute("INSERT INTO pending_eval (device_id, t_min, t_max)"
                           " SELECT device_id, min(ts), max(ts) FROM readings GROUP BY device_id")


def sim_rows(sim: Simulation, *, devices: Iterable[str] | None = None,
             start: datetime | None = None, end: datetime | None = None,
             edit: Callable[[str, str, np.ndarray, np.ndarray], None] | None = None,
             ) -> list[tuple[str, str, datetime, float | None, str]]:
    """Readings of a simulation as ``readings`` rows, in time order per device."""
    wanted = None if devices is None else set(devices)
    t = sim.times_s
    lo = 0 if start is None else int(np.searchsorted(t, int(start.timestamp())))
    hi = t.size if end is None else int(np.searchsorted(t, int(end.timestamp())))
    stamps = [datetime.fromtimestamp(int(x), UTC) for x in t[lo:hi].tolist()]
    rows: list[tuple[str, str, datetime, float | None, str]] = []
    for dev_id, s in sim.series.items():
        if wanted is not None and dev_id not in wanted:
            continue
        present = s.present[lo:hi]
        for metric, values in s.values.items():
            v = values[lo:hi].copy()
            f = (s.flags[metric][lo:hi].copy() if metric in s.flags
                 else np.full(v.size, "N", dtype="<U1"))
            if edit is not None:
                edit(dev_id, metric, v, f)
            vals = [None if np.isnan(x) else x for x in v.tolist()]
            for ts, val, flag, ok in zip(stamps, vals, f.tolist(), present.tolist(), strict=True):
                if ok:
                    rows.append((dev_id, metric, ts, val, flag))
    return rows


_SIMS: dict[tuple[object, ...], Simulation] = {}


def simulate_days(registry: Registry, days: int, injections: Iterable[Injection] = (), *,
                  enterprises: Iterable[str] = (CEMENT,), stations: bool = False,
                  seed: int = 11) -> Simulation:
    """``days`` simulated days of some enterprises (and the air stations) from ``DAY0``,
    cached per arguments (simulations are pure; tests must not edit their arrays)."""
    injs = tuple(injections)
    key = (days, tuple(enterprises), stations, seed, injs)
    if key not in _SIMS:
        reg = select_enterprises(registry, list(enterprises), stations=stations)
        _SIMS[key] = simulate(reg, DAY0, days * 1440, seed, list(injs))
    return _SIMS[key]


def index_of(sim: Simulation, ts: datetime) -> int:
    return int(np.searchsorted(sim.times_s, int(ts.timestamp())))


def spans(alerts: list[Alert]) -> list[tuple[datetime, datetime | None]]:
    return [(a.start, a.end) for a in alerts]


def by_rule(alerts: list[Alert]) -> Mapping[str, list[Alert]]:
    out: dict[str, list[Alert]] = {}
    for a in alerts:
        out.setdefault(a.rule, []).append(a)
    return out


@pytest.fixture
async def eval_env(database: str, sample_registry: Registry) -> AsyncIterator[EvalEnv]:
    async with AsyncConnectionPool(database, min_size=1, max_size=4, open=False) as pool:
        yield EvalEnv(pool, sample_registry, CollectorRegistry())


async def insert_maintenance(env: EvalEnv, device_id: str, start: datetime, end: datetime,
                             reason: str = "analyser calibration") -> int:
    dev = env.registry.devices[device_id]
    rows = await env.execute(
        "INSERT INTO maintenance (device_id, enterprise_id, start_ts, end_ts, reason,"
        " declared_by_role) VALUES (%s, %s, %s, %s, %s, 'enterprise') RETURNING id",
        (device_id, dev.enterprise_id, start, end, reason))
    return int(rows[0][0])


async def insert_order(env: EvalEnv, enterprise_ids: list[str], start: datetime, end: datetime,
                       measure: str = "shutdown", limit_pct: int | None = None) -> int:
    rows = await env.execute(
        "INSERT INTO emergency_orders (enterprise_ids, start_ts, end_ts, measure, limit_pct)"
        " VALUES (%s, %s, %s, %s, %s) RETURNING id",
        (enterprise_ids, start, end, measure, limit_pct))
    return int(rows[0][0])


__all__ = ["BAG", "CEMENT", "COKING", "DAY0", "GLASS", "KILN", "KILN_CEMS", "SCR", "Alert",
           "EvalEnv", "at", "by_rule", "index_of", "insert_maintenance", "insert_order",
           "sim_rows", "simulate_days", "spans"]
