"""Cost of a partitioned runner's claim (detectors/runtime/runner.py, ``_CLAIM_OWNED``).

Creates a scratch database with every migration, maps ``--devices`` devices over
``--partitions`` enterprise partitions in ``runner_partition_keys`` (as ``publish_map`` does),
queues ``--pending`` ``pending_eval`` rows spread over the devices, and times one claim of up
to ``--limit`` rows (the runner's statement, rolled back after each run; median of
``--repeat``) for: the unpartitioned claim, the partitioned one owning every partition, and
owning about half of them. For comparison it also times the alternative design: a
``part`` column written at insert time, with an index on (part, id), and the insert cost
of the mapping join that design would add to each ingest batch's pending rows.

    .venv/bin/python benchmarks/bench_runner_claim.py --devices 10000 --pending 100000
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
import uuid
from typing import Any

import psycopg

from ecowarn.detectors.runtime.partition import enterprise_partition
from ecowarn.detectors.runtime.runner import _CLAIM_ALL, _CLAIM_OWNED
from ecowarn.store import migrate

ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"

_CLAIM_COLUMN = (
    "WITH claimed AS (DELETE FROM pending_eval WHERE id IN ("
    " SELECT id FROM pending_eval WHERE part = ANY(%s::int[])"
    " ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED)"
    " RETURNING device_id, t_min, t_max)"
    " SELECT device_id, min(t_min), max(t_max), count(*) FROM claimed GROUP BY device_id"
)


async def timed(conn: psycopg.AsyncConnection[Any], query: str, params: tuple[Any, ...],
                repeat: int) -> tuple[float, int]:
    times: list[float] = []
    n = 0
    for _ in range(repeat):
        await conn.execute("BEGIN")
        t0 = time.perf_counter()
        cur = await conn.execute(query, params)
        rows = await cur.fetchall()
        times.append(time.perf_counter() - t0)
        n = sum(int(r[3]) for r in rows)
        await conn.execute("ROLLBACK")
    return statistics.median(times), n


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--devices", type=int, default=10_000)
    ap.add_argument("--enterprises", type=int, default=1_000)
    ap.add_argument("--partitions", type=int, default=8)
    ap.add_argument("--pending", type=int, default=100_000)
    ap.add_argument("--limit", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=7)
    args = ap.parse_args()
    name = f"bench_claim_{uuid.uuid4().hex[:8]}"
    async with await psycopg.AsyncConnection.connect(ADMIN_DSN, autocommit=True) as admin:
        await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        dsn = f"postgresql://postgres@127.0.0.1:5432/{name}"
        await migrate(dsn)
        async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
            devices = [f"DEV-{i:05d}" for i in range(args.devices)]
            parts = [enterprise_partition(f"ENT-{i % args.enterprises:05d}", args.partitions)
                     for i in range(args.devices)]
            await conn.execute("INSERT INTO runner_partition_keys (key, part)"
                               " SELECT * FROM unnest(%s::text[], %s::int[])", (devices, parts))
            await conn.execute(
                "INSERT INTO pending_eval (device_id, t_min, t_max)"
                " SELECT 'DEV-' || lpad((i %% %s)::text, 5, '0'), now(), now()"
                " FROM generate_series(0, %s - 1) i", (args.devices, args.pending))
            await conn.execute("ANALYZE pending_eval")
            await conn.execute("ANALYZE runner_partition_keys")
            every = list(range(args.partitions + 1))
            half = every[: (args.partitions + 1) // 2 + 1]
            print(f"{args.pending:,} pending rows over {args.devices:,} devices,"
                  f" {args.partitions} partitions + stations, claim limit {args.limit:,}")
            for label, query, params in [
                ("unpartitioned", _CLAIM_ALL, (args.limit,)),
                ("map join, every partition", _CLAIM_OWNED, (every, args.limit)),
                (f"map join, {len(half)} of {len(every)}", _CLAIM_OWNED, (half, args.limit)),
            ]:
                s, n = await timed(conn, query, params, args.repeat)
                print(f"  {label:32s} {s * 1000:8.1f} ms  {n:,} rows  {s / max(n, 1) * 1e6:.2f} us/row")
            # The alternative: a part column written at insert time, indexed (part, id).
            await conn.execute("ALTER TABLE pending_eval ADD COLUMN part integer")
            await conn.execute("UPDATE pending_eval p SET part = k.part FROM runner_partition_keys k"
                               " WHERE k.key = p.device_id")
            await conn.execute("CREATE INDEX ON pending_eval (part, id)")
            await conn.execute("ANALYZE pending_eval")
            for label, params in [("column, every partition", (every, args.limit)),
                                  (f"column, {len(half)} of {len(every)}", (half, args.limit))]:
                s, n = await timed(conn, _CLAIM_COLUMN, params, args.repeat)
                print(f"  {label:32s} {s * 1000:8.1f} ms  {n:,} rows  {s / max(n, 1) * 1e6:.2f} us/row")
            # What that column costs ingest: the pending rows of one batch (one per device).
            batch = devices[:1000]
            ins: list[float] = []
            for _ in range(args.repeat):
                await conn.execute("BEGIN")
                t0 = time.perf_counter()
                await conn.execute(
                    "INSERT INTO pending_eval (device_id, t_min, t_max, part)"
                    " SELECT d, now(), now(), coalesce(k.part, 0) FROM unnest(%s::text[]) d"
                    " LEFT JOIN runner_partition_keys k ON k.key = d", (batch,))
                ins.append(time.perf_counter() - t0)
                await conn.execute("ROLLBACK")
            plain: list[float] = []
            for _ in range(args.repeat):
                await conn.execute("BEGIN")
                t0 = time.perf_counter()
                await conn.execute("INSERT INTO pending_eval (device_id, t_min, t_max)"
                                   " SELECT d, now(), now() FROM unnest(%s::text[]) d", (batch,))
                plain.append(time.perf_counter() - t0)
                await conn.execute("ROLLBACK")
            print(f"  ingest: 1,000 pending rows {statistics.median(plain) * 1000:.1f} ms plain,"
                  f" {statistics.median(ins) * 1000:.1f} ms with the partition looked up")
    finally:
        async with await psycopg.AsyncConnection.connect(ADMIN_DSN, autocommit=True) as admin:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    asyncio.run(main())
