"""What the runner cache's tail re-fetch (``SeriesCache.expect_newer``) costs per pass.

    .venv/bin/python benchmarks/bench_expect_newer.py [--enterprises 60] [--warmup-min 120]
                                                      [--minutes 30] [--pass-s 10] [--aligned]
                                                      [--seed 1] [--dsn postgresql://...]

At every claimed batch the runner marks every cached device stale from its newest cached
reading, so a subject reading a device whose pending rows wait for a later batch fetches
that device's tail again (one query per batch for the devices read). Without it such a
subject may judge a truncated series (tests/test_runner_memory.py). This measures the price.

Registry: ``--enterprises`` clones of ``config/registry.example.yaml``'s enterprises
(``evaluation.synthetic_registry``: cement kilns with three treatment stages, duty/standby
towers among them, coke ovens with a CEMS and a wastewater outlet, glass works), every rule
of the catalog. Data: the seeded simulator, each device reporting once a minute at a second
of its own (spread over the minute, as meters on independent clocks do), or with
``--aligned`` every device on the minute and one pass per minute. Two scratch
databases get the same rows the same way: ``--warmup-min`` minutes written at once and
drained (cold start, baselines), then ``--minutes`` minutes streamed in passes of
``--pass-s`` seconds of event time: the pass's readings are committed with one
``pending_eval`` row per device (as the ingest writer commits), then one runner pass
(``run_once``) claims them. Spread, a pass claims only the devices that reported in it, so
most subjects read devices the pass did not claim (the case the re-fetch is for); aligned,
every pass claims every device and crosses into a new minute for all of them.

(a) ecowarn: the runner as it is; (b) baseline: the same runner whose cache skips
``expect_newer`` (nothing else differs). Passes alternate (a), (b) on the same pass of data,
so both see the same machine load. Prints per-pass wall time (median, p90, max, total), the
cache's fetch queries, rows fetched and time in them, the ratio (a)/(b), and whether both
ended with the same alerts.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import sys
import time
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
from prometheus_client import CollectorRegistry
from psycopg_pool import AsyncConnectionPool

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks._infra import Database  # noqa: E402
from ecowarn.config.registry import Registry, load_registry  # noqa: E402
from ecowarn.detectors.catalog import default_params  # noqa: E402
from ecowarn.detectors.runtime._cache import SeriesCache  # noqa: E402
from ecowarn.detectors.runtime.evaluators import build_evaluators  # noqa: E402
from ecowarn.detectors.runtime.runner import DetectorRunner, RunnerMetrics  # noqa: E402
from ecowarn.evaluation._scenario import synthetic_registry  # noqa: E402
from ecowarn.evaluation.command import TEMPLATE  # noqa: E402
from ecowarn.simulator import CST, simulate  # noqa: E402

START = datetime(2026, 11, 24, 0, 0, tzinfo=CST)
Row = tuple[str, str, datetime, float | None, str]


class TimedCache(SeriesCache):
    """The runner's cache, counting its fetch queries, rows and time."""

    def __init__(self) -> None:
        super().__init__()
        self.queries = 0
        self.rows = 0
        self.fetch_s = 0.0

    async def _fetch(self, conn: psycopg.AsyncConnection[Any],
                     req: Sequence[tuple[str, str, float, float | None]],
                     ) -> dict[tuple[str, str], Any]:
        t0 = time.perf_counter()
        out = await super()._fetch(conn, req)
        if req:
            self.queries += 1
            self.rows += sum(int(v[0].size) for v in out.values())
        self.fetch_s += time.perf_counter() - t0
        return out


class NoTailCache(TimedCache):
    """The baseline: no tail re-fetch of devices the batch did not claim."""

    def expect_newer(self) -> None:
        return None


@dataclass
class Side:
    name: str
    db: Database
    pool: AsyncConnectionPool[Any]
    runner: DetectorRunner
    cache: TimedCache
    passes: list[float] = field(default_factory=list)


def stream_rows(registry: Registry, minutes: int, seed: int, aligned: bool) -> list[Row]:
    """Every simulated reading in time order, each device shifted by a second offset of its
    own unless ``aligned``."""
    sim = simulate(registry, START, minutes, seed)
    rows: list[Row] = []
    base = [START.astimezone(UTC) + timedelta(minutes=i) for i in range(minutes)]
    for dev_id, s in sim.series.items():
        offset = timedelta(seconds=0 if aligned else zlib.crc32(dev_id.encode()) % 60)
        for metric, values in s.values.items():
            flags = s.flags.get(metric)
            for i in np.flatnonzero(s.present).tolist():
                v = float(values[i])
                rows.append((dev_id, metric, base[i] + offset, None if np.isnan(v) else v,
                             "N" if flags is None else str(flags[i])))
    rows.sort(key=lambda r: r[2])
    return rows


async def commit(pool: AsyncConnectionPool[Any], rows: Sequence[Row]) -> None:
    """The rows and one pending_eval span per device, in one transaction (as ingest does)."""
    spans: dict[str, tuple[datetime, datetime]] = {}
    for dev, _, ts, _, _ in rows:
        lo, hi = spans.get(dev, (ts, ts))
        spans[dev] = (min(lo, ts), max(hi, ts))
    async with pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
        async with cur.copy("COPY readings (device_id, metric, ts, value, flag) FROM STDIN"
                            " (FORMAT BINARY)") as copy:
            copy.set_types(["text", "text", "timestamptz", "float8", "text"])
            for r in rows:
                await copy.write_row(r)
        await cur.executemany("INSERT INTO pending_eval (device_id, t_min, t_max) VALUES (%s, %s, %s)",
                              [(d, lo, hi) for d, (lo, hi) in spans.items()])


async def alerts(pool: AsyncConnectionPool[Any]) -> list[tuple[Any, ...]]:
    async with pool.connection() as conn:
        cur = await conn.execute("SELECT rule, subject, start_ts, end_ts FROM alerts"
                                 " ORDER BY rule, subject, start_ts")
        return await cur.fetchall()


def describe(xs: list[float]) -> str:
    if not xs:
        return "none"
    q = np.quantile(xs, [0.5, 0.9])
    return (f"{len(xs)} passes, median {1000 * q[0]:.0f} ms, p90 {1000 * q[1]:.0f} ms, "
            f"max {1000 * max(xs):.0f} ms, total {sum(xs):.2f} s")


async def run(args: argparse.Namespace, dbs: list[Database]) -> None:
    registry = synthetic_registry(load_registry(TEMPLATE), args.enterprises, 0)
    kinds: dict[str, int] = {}
    for d in registry.devices.values():
        kinds[d.kind] = kinds.get(d.kind, 0) + 1
    print(f"registry: {args.enterprises} enterprises, {len(registry.devices)} devices "
          f"({', '.join(f'{n} {k}' for k, n in sorted(kinds.items()))})")
    t0 = time.perf_counter()
    rows = stream_rows(registry, args.warmup_min + args.minutes, args.seed, args.aligned)
    print(f"simulated {len(rows):,} readings in {time.perf_counter() - t0:.1f} s")
    cut = START + timedelta(minutes=args.warmup_min)
    warm = [r for r in rows if r[2] < cut]
    sides: list[Side] = []
    for name, db, cache in (("ecowarn (expect_newer)", dbs[0], TimedCache()),
                            ("baseline (no tail re-fetch)", dbs[1], NoTailCache())):
        pool = AsyncConnectionPool(db.dsn, min_size=1, max_size=4, open=False)
        await pool.open()
        runner = DetectorRunner(pool, registry, build_evaluators(registry, default_params()),
                                RunnerMetrics(CollectorRegistry()))
        runner.cache = cache
        sides.append(Side(name, db, pool, runner, cache))
    try:
        for side in sides:
            t0 = time.perf_counter()
            await commit(side.pool, warm)
            await side.runner.drain()
            print(f"{side.name}: warm-up {len(warm):,} readings committed and drained in "
                  f"{time.perf_counter() - t0:.1f} s")
        for side in sides:  # count the streamed passes only
            side.cache.queries = side.cache.rows = 0
            side.cache.fetch_s = 0.0
        step = timedelta(seconds=60 if args.aligned else args.pass_s)
        lo = cut
        end = cut + timedelta(minutes=args.minutes)
        k = 0
        while lo < end:
            hi = lo + step
            chunk = [r for r in rows if lo <= r[2] < hi]
            order = sides if k % 2 == 0 else sides[::-1]
            for side in order:
                await commit(side.pool, chunk)
                t0 = time.perf_counter()
                await side.runner.run_once()
                side.passes.append(time.perf_counter() - t0)
            lo, k = hi, k + 1
        for side in sides:
            await side.runner.drain()
        print()
        for side in sides:
            c = side.cache
            print(f"{side.name}: {describe(side.passes)}; cache fetches: {c.queries} queries, "
                  f"{c.rows:,} rows, {c.fetch_s:.2f} s")
        a, b = sides
        print(f"ratio (a)/(b): median pass {statistics.median(a.passes) / statistics.median(b.passes):.2f}x, "
              f"all passes {sum(a.passes) / sum(b.passes):.2f}x")
        same = await alerts(a.pool) == await alerts(b.pool)
        print(f"alerts: {len(await alerts(a.pool))} and {len(await alerts(b.pool))}, "
              f"{'the same' if same else 'DIFFERENT'}")
    finally:
        for side in sides:
            await side.pool.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--enterprises", type=int, default=60,
                    help="enterprises cloned from the sample registry (default 60: ~330 power meters)")
    ap.add_argument("--warmup-min", type=int, default=120, help="minutes written before measuring")
    ap.add_argument("--minutes", type=int, default=30, help="minutes streamed while measuring")
    ap.add_argument("--pass-s", type=int, default=10,
                    help="seconds of event time per runner pass (a divisor of 60)")
    ap.add_argument("--aligned", action="store_true",
                    help="every device reports on the minute; one pass per minute")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--dsn", default=os.environ.get("ECOWARN_TEST_DATABASE_URL",
                                                    "postgresql://postgres@127.0.0.1:5432/postgres"))
    args = ap.parse_args()
    if args.pass_s <= 0 or 60 % args.pass_s:
        ap.error("--pass-s must divide 60")
    print(f"machine: {platform.machine()} {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"numpy {np.__version__}")
    dbs = [Database(args.dsn, migrated=True), Database(args.dsn, migrated=True)]
    try:
        asyncio.run(run(args, dbs))
    finally:
        for db in dbs:
            db.drop()


if __name__ == "__main__":
    main()
