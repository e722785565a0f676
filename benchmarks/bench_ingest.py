"""Ingest throughput and latency: the COPY ceiling against ecowarn end to end, in one run.

    .venv/bin/python benchmarks/bench_ingest.py [--readings 200000] [--only a,b1,...] [--hj212-values 6] [--dsn ...]

(a)  ceiling: psycopg binary COPY of the same rows straight into ``readings``
     (10k-row batches, the table's primary key and time index in place);
(b1) MQTT publisher (a separate process, paho, QoS 1) -> broker -> collector ->
     parser -> pipeline -> committed rows, batched payloads of 100 readings;
(b2) the same with one reading per message;
(b3) one reading per message at half of (b2)'s rate: arrival -> commit latency;
(b4) one reading per message into two collector processes sharing the
     subscription (``$share/bench/...``), each with its own pipeline;
(c1) HJ 212-2017 gateway, 1,000 concurrent TCP connections (loggers in a
     separate process), CN 2011 packets of ``--hj212-values`` values (default 6:
     so2, nox, pm, o2, flow, temp; ``--hj212-values 1`` for one pollutant per
     packet), each logger keeping up to 8 packets waiting for their 9014 ack:
     readings (values) and packets per second, and the CPU per packet of the
     gateway process, the loggers and PostgreSQL;
(c2) the same loggers at half of (c1)'s rate: send -> 9014 ack latency (the ack
     is written after the commit).

Each phase gets a fresh database. A Mosquitto of our own with sized queues runs
on a free port (stock Mosquitto drops past 1,000 queued messages per client).
Pipelines use the service defaults (5,000-row batches, 100 ms flush, two
writers, the collector's acks after commit). One reading = one value = one row.
Latency quantiles from histograms are bucket upper bounds; the ack latencies
of (c2) are exact.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import platform
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import psycopg
from prometheus_client import CollectorRegistry
from psycopg_pool import AsyncConnectionPool

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks._infra import Broker, Database  # noqa: E402
from ecowarn.config.registry import Registry, parse_registry  # noqa: E402
from ecowarn.core.mqtturl import parse_mqtt_url  # noqa: E402
from ecowarn.ingest.hj212 import Hj212Gateway, Hj212Metrics, build_data_packet  # noqa: E402
from ecowarn.ingest.mqtt import MqttCollector  # noqa: E402
from ecowarn.ingest.parse import TelemetryParser  # noqa: E402
from ecowarn.ingest.pipeline import IngestMetrics, IngestPipeline, tune_gc  # noqa: E402

N_DEVICES = 200
N_LOGGERS = 1000
LOGGER_WINDOW = 8
CEMS_METRICS = ("so2", "nox", "pm", "o2", "flow", "temp", "co", "pressure", "humidity")
T0 = datetime(2026, 11, 1, tzinfo=UTC)
BATCH_SIZE, FLUSH_MS = 5000, 100  # service defaults


def bench_registry() -> Registry:
    lines = ["enterprises:", '  - id: "91130105MA0CXXXX1X"', '    name: "压测企业"', '    region: "130105"',
             "    devices:"]
    for i in range(N_DEVICES):
        lines += [f'      - id: "PWR-{i:05d}"', "        kind: power", "        role: treatment",
                  "        rated_kw: 100"]
    for i in range(N_LOGGERS):
        lines += [f'      - id: "{logger_mn(i)}"', "        kind: cems", f'        outlet: "DA{i:04d}"']
    return parse_registry("\n".join(lines) + "\n", "bench")


def logger_mn(i: int) -> str:
    return f"{13010590000000 + i:014d}"


def reading(i: int) -> tuple[str, dict[str, object]]:
    dev = f"PWR-{i % N_DEVICES:05d}"
    ts = T0 + timedelta(minutes=i // N_DEVICES)
    return dev, {"ts": ts.isoformat(), "values": {"p": 50.0 + (i % 97)}}


# --- infrastructure -------------------------------------------------------------------


def quantile(metrics: CollectorRegistry, name: str, q: float) -> float:
    buckets = []
    for fam in metrics.collect():
        if fam.name == name:
            buckets = [(float(s.labels["le"]), s.value) for s in fam.samples if s.name.endswith("_bucket")]
    total = buckets[-1][1] if buckets else 0
    for le, c in buckets:
        if c >= q * total:
            return le
    return float("nan")


def exact_quantile(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))] if s else float("nan")


def proc_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process so far (Linux /proc; 0 elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_busy_s() -> float:
    """CPU seconds all cores have spent busy so far (Linux /proc/stat; 0 elsewhere)."""
    try:
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except OSError:
        return 0.0
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def backend_pids(dsn: str) -> list[int]:
    """PostgreSQL backend pids serving the database of ``dsn`` (for CPU accounting)."""
    dbname = psycopg.conninfo.conninfo_to_dict(dsn)["dbname"]
    with psycopg.connect(dsn, autocommit=True) as c:
        rows = c.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                         (dbname,)).fetchall()
    return [int(r[0]) for r in rows]


def ms(x: float) -> str:
    return "inf" if x == float("inf") else f"{x * 1000:.0f} ms"


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


# --- (b) MQTT end to end --------------------------------------------------------------


def publisher(port: int, prefix: str, n: int, batch: int, rate: float | None, ready: Any,
              go: Any, cpu: Any = None) -> None:
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
    cpu0 = time.process_time()
    # One thread: publish and drive the network loop ourselves. With paho's own loop thread
    # every publish wakes that thread through a socket pair, which caps a publisher near 7k msg/s.
    t0 = time.perf_counter()
    for k, (topic, payload) in enumerate(payloads):
        if rate is not None:
            while time.perf_counter() - t0 < k / rate:
                client.loop(timeout=0.001)
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
    if cpu is not None:
        cpu.value = time.process_time() - cpu0
    client.disconnect()


async def collect(dsn: str, port: int, prefix: str, registry: Registry, metrics: CollectorRegistry,
                  *, shared_group: str | None = None, client_id: str | None = None,
                  subscribed: Any = None, done: Any = None, n: int = 0) -> None:
    """One collector with its own pipeline; runs until ``n`` rows are stored (or cancelled)."""
    async with AsyncConnectionPool(dsn, min_size=2, max_size=4, open=False) as pool:
        async with IngestPipeline(pool, registry, IngestMetrics(metrics), batch_size=BATCH_SIZE,
                                  flush_ms=FLUSH_MS) as pipeline:
            collector = MqttCollector(parse_mqtt_url(f"mqtt://127.0.0.1:{port}"),
                                      TelemetryParser(registry, max_future_s=1e12), pipeline,
                                      metrics, client_id=client_id or f"bench-{prefix}",
                                      topic_prefix=prefix, clean_session=True,
                                      shared_group=shared_group)
            task = asyncio.create_task(collector.run())
            await asyncio.wait_for(collector.subscribed.wait(), 10)
            if subscribed is not None:
                subscribed.set()
            try:
                if done is not None:
                    while True:
                        with done.get_lock():
                            done.value = int(metrics.get_sample_value(
                                "ecowarn_readings_ingested_total", {"kind": "power"}) or 0)
                        await asyncio.sleep(0.01)
                else:
                    await asyncio.Event().wait()
            finally:
                task.cancel()


def collector_process(dsn: str, port: int, prefix: str, group: str, index: int, subscribed: Any,
                      done: Any) -> None:
    tune_gc()
    asyncio.run(collect(dsn, port, prefix, bench_registry(), CollectorRegistry(), shared_group=group,
                        client_id=f"bench-shared-{index}-{uuid.uuid4().hex[:4]}",
                        subscribed=subscribed, done=done))


CPU: dict[str, float] = {}  # CPU seconds per process role in the last end-to-end phase
CPU_OTHER = [0.0]  # cores used by other processes during it


async def end_to_end(dsn: str, broker: Broker, n: int, batch: int,
                     rate: float | None = None) -> tuple[float, CollectorRegistry]:
    registry = bench_registry()
    metrics = CollectorRegistry()
    prefix = f"b{uuid.uuid4().hex[:6]}/"
    subscribed = asyncio.Event()
    task = asyncio.create_task(collect(dsn, broker.port, prefix, registry, metrics,
                                       subscribed=subscribed))
    await asyncio.wait_for(subscribed.wait(), 30)
    ctx = mp.get_context("spawn")
    ready, go, pub_cpu = ctx.Event(), ctx.Event(), ctx.Value("d", 0.0)
    proc = ctx.Process(target=publisher, args=(broker.port, prefix, n, batch, rate, ready, go, pub_cpu))
    proc.start()
    await asyncio.to_thread(ready.wait)
    cpu0 = (time.process_time(), proc_cpu_s(broker.proc.pid))
    pg0 = {pid: proc_cpu_s(pid) for pid in await asyncio.to_thread(backend_pids, dsn)}
    busy0 = machine_busy_s()
    t0 = time.perf_counter()
    go.set()
    last, last_change = -1.0, time.monotonic()
    while (done := metrics.get_sample_value("ecowarn_readings_ingested_total", {"kind": "power"}) or 0) < n:
        if not proc.is_alive() and proc.exitcode not in (0, None):
            raise RuntimeError("publisher failed")
        if done != last:
            last, last_change = done, time.monotonic()
        elif time.monotonic() - last_change > 60:
            raise RuntimeError(
                f"no progress for 60 s: {done:.0f} of {n} stored; messages received "
                f"{metrics.get_sample_value('ecowarn_mqtt_messages_total')}, acked "
                f"{metrics.get_sample_value('ecowarn_mqtt_acked_total')}, reconnects "
                f"{metrics.get_sample_value('ecowarn_mqtt_reconnects_total')}")
        await asyncio.sleep(0.01)
    elapsed = time.perf_counter() - t0
    cpu1 = (time.process_time(), proc_cpu_s(broker.proc.pid))
    pg1 = {pid: proc_cpu_s(pid) for pid in await asyncio.to_thread(backend_pids, dsn)}
    busy = machine_busy_s() - busy0
    proc.join(30)
    CPU.update(collector=cpu1[0] - cpu0[0], broker=cpu1[1] - cpu0[1], publisher=pub_cpu.value,
               postgres=sum(v - pg0.get(pid, 0.0) for pid, v in pg1.items()))
    # Whatever else ran on the machine meanwhile, in cores (the publisher's CPU is counted
    # until it finished, so this slightly overstates).
    CPU_OTHER[0] = max(0.0, busy - sum(CPU.values())) / elapsed
    proc.join(30)
    task.cancel()
    return elapsed, metrics


def shared_subscription(dsn: str, broker: Broker, n: int, processes: int = 2) -> float:
    ctx = mp.get_context("spawn")
    prefix = f"s{uuid.uuid4().hex[:6]}/"
    subs = [ctx.Event() for _ in range(processes)]
    dones = [ctx.Value("q", 0) for _ in range(processes)]
    procs = [ctx.Process(target=collector_process,
                         args=(dsn, broker.port, prefix, "bench", i, subs[i], dones[i]))
             for i in range(processes)]
    for p in procs:
        p.start()
    try:
        for s in subs:
            if not s.wait(60):
                raise RuntimeError("collector did not subscribe")
        ready, go = ctx.Event(), ctx.Event()
        pub = ctx.Process(target=publisher, args=(broker.port, prefix, n, 1, None, ready, go))
        pub.start()
        ready.wait()
        t0 = time.perf_counter()
        go.set()
        while sum(d.value for d in dones) < n:
            if any(not p.is_alive() for p in procs):
                raise RuntimeError("a collector process died")
            time.sleep(0.01)
        elapsed = time.perf_counter() - t0
        pub.join(30)
        return elapsed
    finally:
        for p in procs:
            p.terminate()
            p.join(10)


# --- (c) HJ 212 gateway ---------------------------------------------------------------


def print_cpu(packets: int, elapsed: float, n_values: int) -> None:
    """CPU per packet of the gateway, the loggers and PostgreSQL in the last HJ 212 phase."""
    print(f"     CPU per packet: gateway+pipeline {CPU['gateway'] / packets * 1e6:.1f} us,"
          f" loggers {CPU['loggers'] / packets * 1e6:.1f} us,"
          f" PostgreSQL {CPU['postgres'] / packets * 1e6:.1f} us"
          f" (cores busy: gateway {CPU['gateway'] / elapsed:.2f}, loggers"
          f" {CPU['loggers'] / elapsed:.2f}, PostgreSQL {CPU['postgres'] / elapsed:.2f});"
          f" all three saturate 2 cores at {2 * packets * n_values / sum(CPU.values()):,.0f}"
          f" readings/s; other processes used {CPU_OTHER[0]:.2f} cores meanwhile")


def loggers_process(port: int, per_logger: int, rate_per_logger: float | None, n_values: int,
                    ready: Any, go: Any, out: Any) -> None:
    """N_LOGGERS asyncio connections sending pre-built 2011 packets; reports ack latencies."""

    async def main() -> None:
        metrics = CEMS_METRICS[:n_values]
        packets = [[build_data_packet(logger_mn(i), "", "2011", T0 + timedelta(minutes=k),
                                      {m: float((k + j) % 50) for j, m in enumerate(metrics)})
                    for k in range(per_logger)] for i in range(N_LOGGERS)]
        conns = [await asyncio.open_connection("127.0.0.1", port) for _ in range(N_LOGGERS)]
        ready.set()
        await asyncio.to_thread(go.wait)
        latencies: list[float] = []
        start = time.perf_counter()
        cpu0 = time.process_time()

        async def one(i: int) -> None:
            reader, writer = conns[i]
            window = asyncio.Semaphore(LOGGER_WINDOW)
            sent: list[float] = []

            async def acks() -> None:
                got, buf = 0, b""
                while got < per_logger:
                    data = await reader.read(65536)
                    if not data:
                        raise RuntimeError("gateway closed a connection")
                    buf += data
                    n = buf.count(b"\r\n")
                    if n:
                        buf = buf[buf.rfind(b"\r\n") + 2:]
                        now = time.perf_counter()
                        for k in range(got, got + n):
                            latencies.append(now - sent[k])
                            window.release()
                        got += n

            reading_task = asyncio.create_task(acks())
            offset = i / N_LOGGERS / rate_per_logger if rate_per_logger else 0.0
            for k, pkt in enumerate(packets[i]):
                await window.acquire()
                if rate_per_logger:
                    delay = start + offset + k / rate_per_logger - time.perf_counter()
                    if delay > 0:
                        await asyncio.sleep(delay)
                sent.append(time.perf_counter())
                writer.write(pkt)
            await reading_task
            writer.close()

        await asyncio.gather(*(one(i) for i in range(N_LOGGERS)))
        out.put((time.perf_counter() - start, latencies, time.process_time() - cpu0))

    asyncio.run(main())


async def hj212(dsn: str, per_logger: int, rate_per_logger: float | None,
                n_values: int) -> tuple[float, list[float], CollectorRegistry]:
    registry = bench_registry()
    metrics = CollectorRegistry()
    async with AsyncConnectionPool(dsn, min_size=2, max_size=4, open=False) as pool:
        async with IngestPipeline(pool, registry, IngestMetrics(metrics), batch_size=BATCH_SIZE,
                                  flush_ms=FLUSH_MS) as pipeline:
            gateway = Hj212Gateway(registry, partial(pipeline.submit, wait=True), port=0,
                                   metrics=Hj212Metrics(metrics))
            async with gateway:
                ctx = mp.get_context("spawn")
                ready, go, out = ctx.Event(), ctx.Event(), ctx.Queue()
                proc = ctx.Process(target=loggers_process,
                                   args=(gateway.port, per_logger, rate_per_logger, n_values,
                                         ready, go, out))
                proc.start()
                await asyncio.to_thread(ready.wait, 300)
                pg0 = {pid: proc_cpu_s(pid) for pid in await asyncio.to_thread(backend_pids, dsn)}
                cpu0, busy0 = time.process_time(), machine_busy_s()
                go.set()
                elapsed, latencies, loggers_cpu = await asyncio.to_thread(out.get, True, 600)
                cpu1, busy = time.process_time(), machine_busy_s() - busy0
                pg1 = {pid: proc_cpu_s(pid) for pid in await asyncio.to_thread(backend_pids, dsn)}
                await asyncio.to_thread(proc.join, 30)
            await pipeline.drain(30)
    stored = metrics.get_sample_value("ecowarn_readings_ingested_total", {"kind": "cems"}) or 0
    if stored != N_LOGGERS * per_logger * n_values:
        raise RuntimeError(f"stored {stored} of {N_LOGGERS * per_logger * n_values} readings")
    CPU.clear()
    CPU.update(gateway=cpu1 - cpu0, loggers=loggers_cpu,
               postgres=sum(v - pg0.get(pid, 0.0) for pid, v in pg1.items()))
    CPU_OTHER[0] = max(0.0, busy - sum(CPU.values())) / elapsed
    return elapsed, latencies, metrics


# --- main -----------------------------------------------------------------------------


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--readings", type=int, default=200_000)
    ap.add_argument("--only", default="a,b1,b2,b3,b4,c1,c2",
                    help="comma-separated phases (a,b1,b2,b3,b4,c1,c2)")
    ap.add_argument("--hj212-values", type=int, default=6, choices=range(1, 10), metavar="1..9",
                    help="values per HJ 212 packet (default 6)")
    ap.add_argument("--dsn", default=os.environ.get("ECOWARN_TEST_DATABASE_URL",
                                                    "postgresql://postgres@127.0.0.1:5432/postgres"))
    args = ap.parse_args()
    tune_gc()  # as ecowarn.service does
    n = args.readings
    only = set(args.only.split(","))
    print(f"machine: {platform.machine()} {os.cpu_count()} cores, Python {platform.python_version()}")
    print(f"readings: {n:,} per phase (one value each)")
    broker = Broker("ecowarn-bench-mqtt-")
    peak: dict[str, float] = {}

    def phase(label: str, fn: Any) -> Any:
        db = Database(args.dsn, migrated=True)
        try:
            return fn(db.dsn)
        finally:
            db.drop()

    try:
        if "a" in only:
            t = phase("a", lambda dsn: copy_ceiling(dsn, n))
            peak["copy"] = n / t
            print(f"(a)  COPY ceiling                          {n / t:>9,.0f} readings/s  ({t:.2f} s)")
        ceiling = peak.get("copy")

        def ratio(rate: float) -> str:
            return f"  ratio to COPY {rate / ceiling:.2f}" if ceiling else ""

        for key, label, batch in (("b1", "MQTT batched x100", 100), ("b2", "MQTT one reading/message", 1)):
            if key not in only:
                continue
            t, m = phase(key, lambda dsn, batch=batch: asyncio.run(end_to_end(dsn, broker, n, batch)))
            peak[key] = n / t
            msgs = n / batch
            print(f"({key}) {label:<36} {n / t:>9,.0f} readings/s  ({t:.2f} s){ratio(n / t)}"
                  f"  commit p50<={ms(quantile(m, 'ecowarn_write_latency_seconds', 0.5))}"
                  f" p99<={ms(quantile(m, 'ecowarn_write_latency_seconds', 0.99))}")
            total = sum(CPU.values())
            print(f"     CPU per message: collector+pipeline {CPU['collector'] / msgs * 1e6:.1f} us,"
                  f" publisher {CPU['publisher'] / msgs * 1e6:.1f} us,"
                  f" broker {CPU['broker'] / msgs * 1e6:.1f} us,"
                  f" PostgreSQL {CPU['postgres'] / msgs * 1e6:.1f} us;"
                  f" all four saturate 2 cores at {2 * n / total:,.0f} readings/s;"
                  f" other processes used {CPU_OTHER[0]:.2f} cores meanwhile")
        if "b3" in only:
            rate = peak.get("b2", 20_000.0) / 2
            count = min(n, int(rate * 10))
            t, m = phase("b3", lambda dsn: asyncio.run(end_to_end(dsn, broker, count, 1, rate=rate)))
            print(f"(b3) MQTT one reading/message at {rate:,.0f}/s    {count / t:>9,.0f} readings/s"
                  f"  arrival->commit p50<={ms(quantile(m, 'ecowarn_ingest_lag_seconds', 0.5))}"
                  f" p99<={ms(quantile(m, 'ecowarn_ingest_lag_seconds', 0.99))}")
        if "b4" in only:
            t = phase("b4", lambda dsn: shared_subscription(dsn, broker, n))
            print(f"(b4) MQTT one reading/message, 2 collectors {n / t:>9,.0f} readings/s  ({t:.2f} s)"
                  f"{ratio(n / t)}")
        nv = args.hj212_values
        per_logger = max(10, n // N_LOGGERS // nv)
        if "c1" in only:
            t, lat, m = phase("c1", lambda dsn: asyncio.run(hj212(dsn, per_logger, None, nv)))
            packets = N_LOGGERS * per_logger
            peak["c1"] = packets / t
            print(f"(c1) HJ 212, {N_LOGGERS:,} connections, {nv} value{'s' if nv > 1 else ''}/packet"
                  f" {packets * nv / t:>9,.0f} readings/s  ({packets / t:,.0f} packets/s, {t:.2f} s)"
                  f"{ratio(packets * nv / t)}"
                  f"  ack p50 {ms(exact_quantile(lat, 0.5))} p99 {ms(exact_quantile(lat, 0.99))}")
            print_cpu(packets, t, nv)
        if "c2" in only:
            rate = peak.get("c1", 4_000.0) / 2
            per = max(10, int(rate * 10 / N_LOGGERS))
            t, lat, m = phase("c2", lambda dsn: asyncio.run(hj212(dsn, per, rate / N_LOGGERS, nv)))
            packets = N_LOGGERS * per
            print(f"(c2) HJ 212 at {rate:,.0f} packets/s ({rate * nv:,.0f} readings/s)"
                  f"  {packets * nv / t:>9,.0f} readings/s"
                  f"  send->ack p50 {ms(exact_quantile(lat, 0.5))} p99 {ms(exact_quantile(lat, 0.99))}"
                  f" (batch write p99<={ms(quantile(m, 'ecowarn_write_latency_seconds', 0.99))})")
            print_cpu(packets, t, nv)
    finally:
        broker.close()


if __name__ == "__main__":
    main()
