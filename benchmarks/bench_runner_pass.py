"""The detector runner alone, pass by pass: this checkout against a baseline revision.

    .venv/bin/python benchmarks/bench_runner_pass.py [--baseline-ref dc6740a] [--pairs 2500]
        [--per-enterprise 0] [--warmup-s 180] [--seconds 480] [--pass-s 5]
        [--profile FILE --only-a]

The registry of ``bench_alert_latency.py``: ``--pairs`` production + treatment power meters
(all in one enterprise unless ``--per-enterprise`` pairs per enterprise). Each side runs in a
child process of its own (``src`` of this checkout, and ``src`` of ``--baseline-ref`` from
``git archive``) on a scratch database of its own, fed the same readings the same way: every
meter reports once a second (event time from a fixed start, production 400 kW, treatment
80 kW; the treatment of every hundredth pair off from the second minute on, so both sides
raise ``treatment_off`` alerts to compare). ``--warmup-s`` seconds are committed and drained
first (the **cold pass**: the runner meets every subject for the first time), then
``--seconds`` are committed ``--pass-s`` seconds at a time with one ``pending_eval`` span per
device, as the ingest writer commits, each followed by one runner pass (``run_once``).
Passes are reported apart by whether their readings cross into a new minute (every
subject's grid gains a point) or stay within it. The sides run one after the other, never
together; both must end with the same alerts (checked). ``--profile FILE --only-a`` writes
cProfile statistics of this checkout's streamed passes.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks._infra import Database  # noqa: E402

# Runs with PYTHONPATH set to one side's src; uses only what both sides have.
_CHILD = r"""
import asyncio, json, sys, time
from datetime import UTC, datetime, timedelta
from prometheus_client import CollectorRegistry
from psycopg_pool import AsyncConnectionPool
from ecowarn.config.credit_code import make_code
from ecowarn.config.registry import Device, Enterprise, Registry
from ecowarn.detectors.catalog import default_params
from ecowarn.detectors.runtime.evaluators import build_evaluators
from ecowarn.detectors.runtime.runner import DetectorRunner, RunnerMetrics
from ecowarn.store import migrate

dsn, pairs, per, warm_s, secs, step = sys.argv[1], *map(int, sys.argv[2:7])
START = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)

def registry():
    devices, enterprises = {}, {}
    per_e = per or pairs
    for e in range((pairs + per_e - 1) // per_e):
        eid = make_code("130105", e)
        devs = []
        for k in range(e * per_e, min(pairs, (e + 1) * per_e)):
            prod, treat = f"BG-P{k:05d}", f"BG-T{k:05d}"
            devs += [Device(prod, "power", eid, role="production", equipment=f"{k}号生产线",
                            rated_kw=500.0, treated_by=(treat,)),
                     Device(treat, "power", eid, role="treatment", equipment=f"{k}号除尘器",
                            rated_kw=100.0)]
        devices.update({d.id: d for d in devs})
        enterprises[eid] = Enterprise(eid, f"压测企业{e}", "130105", "cement", None,
                                      tuple(d.id for d in devs))
    return Registry(enterprises=enterprises, devices=devices, stations={}, source="<bench>")

async def commit(pool, ids, t0, t1):
    # one reading per meter and second in [t0, t1), one pending span per meter
    async with pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
        async with cur.copy("COPY readings (device_id, metric, ts, value, flag) FROM STDIN") as cp:
            for s in range(t0, t1):
                ts = (START + timedelta(seconds=s)).isoformat()
                for i, d in enumerate(ids):
                    kw = 400.0 + (s + i) % 7 if "-P" in d else 80.0 + (s + i) % 5
                    if s >= 60 and d.startswith("BG-T") and int(d[4:]) % 100 == 1:
                        kw = 3.0  # this pair's treatment off from the second minute on
                    await cp.write(f"{d}\tp\t{ts}\t{kw}\tN\n")
        lo, hi = START + timedelta(seconds=t0), START + timedelta(seconds=t1 - 1)
        await cur.executemany("INSERT INTO pending_eval (device_id, t_min, t_max) VALUES (%s, %s, %s)",
                              [(d, lo, hi) for d in ids])

async def main():
    await migrate(dsn)
    reg = registry()
    ids = sorted(reg.devices)
    pool = AsyncConnectionPool(dsn, min_size=1, max_size=4, open=False)
    await pool.open()
    t = time.perf_counter()
    runner = DetectorRunner(pool, reg, build_evaluators(reg, default_params()),
                            RunnerMetrics(CollectorRegistry()))
    out = {"build_s": time.perf_counter() - t, "passes": []}
    await commit(pool, ids, 0, warm_s)
    t = time.perf_counter()
    await runner.drain()
    out["cold_s"] = time.perf_counter() - t
    prof = None
    if len(sys.argv) > 7:
        import cProfile
        prof = cProfile.Profile()
    for s in range(warm_s, warm_s + secs, step):
        await commit(pool, ids, s, s + step)
        t = time.perf_counter()
        if prof is not None:
            prof.enable()
        await runner.run_once()
        if prof is not None:
            prof.disable()
        crosses = (s + step - 1) // 60 != (s - 1) // 60
        out["passes"].append([time.perf_counter() - t, crosses])
    if prof is not None:
        prof.dump_stats(sys.argv[7])
    await runner.drain()
    async with pool.connection() as conn:
        cur = await conn.execute("SELECT rule, subject, start_ts::text, coalesce(end_ts::text, '')"
                                 " FROM alerts ORDER BY 1, 2, 3")
        out["alerts"] = [list(r) for r in await cur.fetchall()]
    await pool.close()
    print(json.dumps(out))

asyncio.run(main())
"""


def side(src: Path, dsn: str, args: argparse.Namespace, profile: str | None) -> dict:
    env = {**os.environ, "PYTHONPATH": str(src)}
    out = subprocess.run([sys.executable, "-c", _CHILD, dsn, str(args.pairs), str(args.per_enterprise),
                          str(args.warmup_s), str(args.seconds), str(args.pass_s),
                          *([profile] if profile else [])],
                         env=env, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise SystemExit(f"side {src} failed:\n{out.stderr[-4000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def quant(xs: list[float]) -> str:
    if not xs:
        return "none"
    q = np.quantile(xs, [0.5, 1.0])
    return f"median {q[0]:.3f} s, max {q[1]:.3f} s ({len(xs)})"


def summary(name: str, r: dict) -> dict[str, float]:
    within = [p for p, crosses in r["passes"] if not crosses]
    crossing = [p for p, crosses in r["passes"] if crosses]
    print(f"{name}: build {r['build_s']:.2f} s, cold pass {r['cold_s']:.2f} s; passes within a minute "
          f"{quant(within)}; crossing a minute {quant(crossing)}; all passes {sum(within + crossing):.2f} s;"
          f" alerts {len(r['alerts'])}")
    return {"cold": r["cold_s"], "within": float(np.median(within)) if within else 0.0,
            "crossing": float(np.median(crossing)) if crossing else 0.0,
            "total": sum(within + crossing)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--baseline-ref", default="dc6740a", help="git revision of the baseline")
    ap.add_argument("--pairs", type=int, default=2500, help="production + treatment pairs (default 2500)")
    ap.add_argument("--per-enterprise", type=int, default=0,
                    help="pairs per enterprise (default 0: all in one, as bench_alert_latency.py)")
    ap.add_argument("--warmup-s", type=int, default=180, help="seconds committed before the cold pass")
    ap.add_argument("--seconds", type=int, default=480, help="seconds streamed pass by pass")
    ap.add_argument("--pass-s", type=int, default=5, help="seconds of event time per pass")
    ap.add_argument("--profile", metavar="FILE", help="cProfile statistics of (a)'s streamed passes")
    ap.add_argument("--only-a", action="store_true", help="run this checkout only (profiling)")
    ap.add_argument("--dsn", default=os.environ.get("ECOWARN_TEST_DATABASE_URL",
                                                    "postgresql://postgres@127.0.0.1:5432/postgres"))
    args = ap.parse_args()
    print(f"machine: {platform.machine()} {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"load average {os.getloadavg()[0]:.1f}")
    print(f"registry: {args.pairs} pairs ({2 * args.pairs} meters), "
          f"{args.per_enterprise or args.pairs} pairs per enterprise; {args.warmup_s} s warm-up, "
          f"{args.seconds} s in passes of {args.pass_s} s")
    with tempfile.TemporaryDirectory(prefix="ecowarn-bench-base-") as tmp:
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", args.baseline_ref, "src"],
                                 capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", tmp], input=archive, check=True)
        results = {}
        sides = [("(a) this checkout", ROOT / "src"), (f"(b) {args.baseline_ref}", Path(tmp) / "src")]
        for name, src in sides[:1] if args.only_a else sides:
            db = Database(args.dsn)
            try:
                results[name] = side(src, db.dsn, args, args.profile if name.startswith("(a)") else None)
            finally:
                db.drop()
    if args.only_a:
        summary(*next(iter(results.items())))
        return
    (na, a), (nb, b) = results.items()
    sa, sb = summary(na, a), summary(nb, b)
    for k, label in (("cold", "cold pass"), ("within", "median pass within a minute"),
                     ("crossing", "median pass crossing a minute"), ("total", "all passes")):
        ratio = sb[k] / sa[k] if sa[k] else float("nan")
        print(f"(b)/(a) {label}: {ratio:.2f}x ({sb[k]:.3f} s / {sa[k]:.3f} s)")
    print(f"alerts: {'the same' if a['alerts'] == b['alerts'] else 'DIFFERENT'}")


if __name__ == "__main__":
    main()
