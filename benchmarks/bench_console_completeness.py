"""Cost of the console overview's "today's data completeness" query (api/_console_bureau_db.py).

Creates a scratch database with the ``readings`` table of migration 0001 (same key and ts
index), loads ``--devices`` devices x ``--metrics`` metrics x one reading a minute for
``--days`` days ending now (today's part and the history before it), and times
``minutes_today`` over every device (median of ``--repeat`` runs). The query reads today's rows
only, so its time should follow today's rows, not the history.

    .venv/bin/python benchmarks/bench_console_completeness.py --devices 300 --days 3
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
import uuid
from datetime import UTC, datetime, timedelta

import psycopg

from ecowarn.api._console_bureau_db import local_midnight, minutes_today

ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--devices", type=int, default=300)
    ap.add_argument("--metrics", type=int, default=3)
    ap.add_argument("--days", type=int, default=3)
    ap.add_argument("--repeat", type=int, default=7)
    args = ap.parse_args()
    name = f"bench_completeness_{uuid.uuid4().hex[:8]}"
    async with await psycopg.AsyncConnection.connect(ADMIN_DSN, autocommit=True) as admin:
        await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        dsn = f"postgresql://postgres@127.0.0.1:5432/{name}"
        async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
            await conn.execute(
                "CREATE TABLE readings (device_id text NOT NULL, metric text NOT NULL, ts timestamptz NOT NULL,"
                " value double precision, flag text NOT NULL DEFAULT 'N',"
                " received_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (device_id, metric, ts))")
            await conn.execute("CREATE INDEX readings_ts_idx ON readings (ts)")
            now = datetime.now(UTC).replace(second=0, microsecond=0)
            start = now - timedelta(days=args.days)
            minutes = int((now - start) // timedelta(minutes=1))
            devices = [f"DEV-{i:05d}" for i in range(args.devices)]
            t0 = time.perf_counter()
            for d in devices:
                await conn.execute(
                    "INSERT INTO readings (device_id, metric, ts, value)"
                    " SELECT %s, 'm' || m, %s + make_interval(mins => i), 1.0"
                    " FROM generate_series(0, %s - 1) i, generate_series(1, %s) m",
                    (d, start, minutes, args.metrics))
            await conn.execute("ANALYZE readings")
            rows = args.devices * args.metrics * minutes
            today = int((now - local_midnight(now)) // timedelta(minutes=1))
            print(f"loaded {rows:,} rows ({args.devices} devices x {args.metrics} metrics x {minutes} min) "
                  f"in {time.perf_counter() - t0:.1f} s; today so far: {today} min "
                  f"({args.devices * args.metrics * today:,} rows)")
            times = []
            for _ in range(args.repeat):
                t = time.perf_counter()
                found = await minutes_today(conn, devices, datetime.now(UTC))
                times.append(time.perf_counter() - t)
            assert len(found) == args.devices
            print(f"minutes_today over {args.devices} devices: median {statistics.median(times) * 1000:.0f} ms "
                  f"(min {min(times) * 1000:.0f}, max {max(times) * 1000:.0f}; {args.repeat} runs)")
    finally:
        async with await psycopg.AsyncConnection.connect(ADMIN_DSN, autocommit=True) as admin:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    asyncio.run(main())
