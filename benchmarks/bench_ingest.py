"""Ingest throughput: the COPY ceiling against ecowarn end to end, in one run.

    .venv/bin/python benchmarks/bench_ingest.py [--readings 200000] [--dsn postgresql://...]

(a) ceiling: psycopg binary COPY of the same rows straight into ``readings``
    (10k-row batches, the table's primary key in place);
(b) ecowarn: MQTT publisher (a separate process, paho, QoS 1) -> broker ->
    collector -> parser -> pipeline -> committed rows, with batched payloads of
    100 readings and with one reading per message.

Each phase gets a fresh database. A Mosquitto of our own with sized queues runs
on a free port (stock Mosquitto drops past 1,000 queued messages per client).
Prints rows/s for each phase, the ratio (b)/(a), and commit latency quantiles.
One reading = one power meter sample with one value (p), i.e. one row.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
from prometheus_client import CollectorRegistry
from psycopg import sql
from psycopg_pool import AsyncConnectionPool

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from config.registry import Registry, parse_registry  # noqa: E402
from ingest.mqtt import MqttCollector, parse_mqtt_url  # noqa: E402
from ingest.parse import TelemetryParser  # noqa: E402
from ingest.pipeline import IngestMetrics, IngestPipeline  # noqa: E402
from store import migrate  # noqa: E402

N_DEVICES = 200
T0 = datetime(2026, 11, 1, tzinfo=UTC)


def bench_registry() -> Registry:
    lines = ["enterprises:", '  - id: "91130105MA0CXXXX1X"', '    name: "Bench"', '    region: "130105"',
             "    devices:"]
    for i in range(N_DEVICES):
        lines += [f'      - id: "PWR-{i:05d}"', "        kind: power", "        role: treatment",
                  "        rated_kw: 100"]
    return parse_registry("\n".join(lines) + "\n", "bench")


def reading(i: int) -> tuple[str, dict[str, object]]:
    dev = f"PWR-{i % N_DEVICES:05d}"
    ts = T0 + timedelta(minutes=i // N_DEVICES)
    return dev, {"ts": ts.isoformat(), "values": {"p": 50.0 + (i % 97)}}


# --- infrastructure -------------------------------------------------------------------


class Broker:
    def __init__(self) -> None:
        self.dir = tempfile.mkdtemp(prefix="ecowarn-bench-mqtt-")
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        conf = Path(self.dir) / "mosquitto.conf"
        conf.write_text(f"listener {self.port} 127.0.0.1\nallow_anonymous true\n"
                        "max_queued_messages 10000000\nmax_inflight_messages 1000\n"
                        "persistence false\n")
        self.proc = subprocess.Popen(["mosquitto", "-c", str(conf)], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        for _ in range(200):
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.05)
        raise RuntimeError("mosquitto did not start")

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


class Database:
    def __init__(self, admin_dsn: str) -> None:
        self.admin = admin_dsn
        self.name = f"ecowarn_bench_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(admin_dsn, autocommit=True) as c:
            c.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(self.name)))
        self.dsn = psycopg.conninfo.make_conninfo(admin_dsn, dbname=self.name)

    def drop(self) -> None:
        with psycopg.connect(self.admin, autocommit=True) as c:
            c.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(self.name)))


# --- (a) COPY ceiling -----------------------------------------------------------------


def copy_ceiling(dsn: str, n: int) -> float:
    rows = []
    for i in range(n):
        dev, r = reading(i)
        rows.append((dev, "p", datetime.fromisoformat(str(r["ts"])), float(r["values"]["p"]), "N"))  # type: ignore[index]
    t0 = time.perf_counter()
    with psycopg.connect(dsn) as conn:
        for k in range(0, n, 10_000):
            with conn.cursor() as cur, cur.copy(
                    "COPY readings (device_id, metric, ts, value, flag) FROM STDIN (FORMAT BINARY)") as cp:
                cp.set_types(["text", "text", "timestamptz", "float8", "text"])
                for row in rows[k:k + 10_000]:
                    cp.write_row(row)
            conn.commit()
    return time.perf_counter() - t0


# --- (b) end to end -------------------------------------------------------------------


def publisher(port: int, prefix: str, n: int, batch: int, ready: mp.Event, go: mp.Event) -> None:
    import paho.mqtt.client as mqtt

    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"bench-pub-{uuid.uuid4().hex[:6]}")
    client.max_inflight_messages_set(1000)
    client.max_queued_messages_set(0)
    client.connect("127.0.0.1", port)
    by_dev: dict[str, list[dict[str, object]]] = {}
    payloads: list[tuple[str, bytes]] = []
    for i in range(n):
        dev, r = reading(i)
        if batch == 1:
            payloads.append((f"{prefix}telemetry/power/{dev}", json.dumps(r).encode()))
            continue
        lst = by_dev.setdefault(dev, [])
        lst.append(r)
        if len(lst) == batch:
            payloads.append((f"{prefix}telemetry/power/{dev}", json.dumps(lst).encode()))
            by_dev[dev] = []
    for dev, lst in by_dev.items():
        if lst:
            payloads.append((f"{prefix}telemetry/power/{dev}", json.dumps(lst).encode()))
    ready.set()
    go.wait()
    # One thread: publish and drive the network loop ourselves. With paho's own loop thread
    # every publish wakes that thread through a socket pair, which caps a publisher near 7k msg/s.
    for k, (topic, payload) in enumerate(payloads):
        info = client.publish(topic, payload, qos=1)
        if info.rc not in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN):
            raise RuntimeError(f"publish failed: {info.rc}")
        if k % 200 == 0:
            client.loop(timeout=0)
    deadline = time.monotonic() + 120
    # paho has no public count of unacknowledged messages.
    while client._out_messages and time.monotonic() < deadline:
        client.loop(timeout=0.01)
    if client._out_messages:
        raise RuntimeError(f"{len(client._out_messages)} messages not acknowledged")
    client.disconnect()


async def end_to_end(dsn: str, broker: Broker, n: int, batch: int) -> tuple[float, CollectorRegistry]:
    registry = bench_registry()
    metrics = CollectorRegistry()
    prefix = f"b{uuid.uuid4().hex[:6]}/"
    async with AsyncConnectionPool(dsn, min_size=2, max_size=4, open=False) as pool:
        async with IngestPipeline(pool, registry, IngestMetrics(metrics), batch_size=5000,
                                  flush_ms=50) as pipeline:
            collector = MqttCollector(parse_mqtt_url(f"mqtt://127.0.0.1:{broker.port}"),
                                      TelemetryParser(registry, max_future_s=1e12), pipeline.submit,
                                      metrics, client_id=f"bench-{prefix}", topic_prefix=prefix,
                                      clean_session=True)
            task = asyncio.create_task(collector.run())
            await asyncio.wait_for(collector.subscribed.wait(), 10)
            ctx = mp.get_context("spawn")
            ready, go = ctx.Event(), ctx.Event()
            proc = ctx.Process(target=publisher, args=(broker.port, prefix, n, batch, ready, go))
            proc.start()
            await asyncio.to_thread(ready.wait)
            t0 = time.perf_counter()
            go.set()
            while True:
                done = metrics.get_sample_value("ecowarn_readings_ingested_total", {"kind": "power"}) or 0
                if done >= n:
                    break
                if not proc.is_alive() and proc.exitcode not in (0, None):
                    raise RuntimeError("publisher failed")
                await asyncio.sleep(0.01)
            elapsed = time.perf_counter() - t0
            proc.join(30)
            task.cancel()
    return elapsed, metrics


def quantile(metrics: CollectorRegistry, q: float) -> float:
    buckets = []
    for fam in metrics.collect():
        if fam.name == "ecowarn_write_latency_seconds":
            buckets = [(float(s.labels["le"]), s.value) for s in fam.samples if s.name.endswith("_bucket")]
    total = buckets[-1][1] if buckets else 0
    for le, c in buckets:
        if c >= q * total:
            return le
    return float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--readings", type=int, default=200_000)
    ap.add_argument("--dsn", default=os.environ.get("ECOWARN_TEST_DATABASE_URL",
                                                    "postgresql://postgres@127.0.0.1:5432/postgres"))
    args = ap.parse_args()
    n = args.readings
    print(f"machine: {platform.machine()} {os.cpu_count()} cores, Python {platform.python_version()}")
    print(f"readings: {n:,} (one value each, {N_DEVICES} power meters)")
    broker = Broker()
    results = {}
    try:
        db = Database(args.dsn)
        try:
            asyncio.run(migrate(db.dsn))
            t = copy_ceiling(db.dsn, n)
            results["copy"] = n / t
            print(f"(a) COPY ceiling               {n / t:>10,.0f} readings/s  ({t:.2f} s)")
        finally:
            db.drop()
        for label, batch in (("batched x100", 100), ("single reading", 1)):
            db = Database(args.dsn)
            try:
                asyncio.run(migrate(db.dsn))
                t, metrics = asyncio.run(end_to_end(db.dsn, broker, n, batch))
                results[label] = n / t
                print(f"(b) MQTT end to end, {label:<14} {n / t:>10,.0f} readings/s  ({t:.2f} s)"
                      f"  ratio to COPY {n / t / results['copy']:.2f}"
                      f"  commit p50<={quantile(metrics, 0.5) * 1000:.0f} ms"
                      f" p99<={quantile(metrics, 0.99) * 1000:.0f} ms")
            finally:
                db.drop()
    finally:
        broker.close()


if __name__ == "__main__":
    main()
