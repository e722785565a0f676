"""Province soak: the planning load of docs/scaling.md on one node, for minutes, measured.

    .venv/bin/python benchmarks/bench_province_soak.py [--fraction 1.0] [--minutes 10]
                                                       [--warmup 120] [--find-max]
                                                       [--out DIR] [--svg docs/soak-backlog.svg]

Registry (generated, then loaded through ``config.registry.load_registry`` like any
registry file): at ``--fraction 1.0`` 30,000 enterprises with 4 production + treatment
pairs of power meters each (240,000 meters), 6,000 CEMS outlets (one per enterprise for the
first 6,000 enterprises spread over the list, serving its first production meter) and 5,000
air micro-stations in clusters of 25 around 200 towns; every count scales with
``--fraction``. Plus the probe enterprise (``--probe-pairs`` pairs, as in
``bench_alert_latency.py``).

Load (docs/scaling.md, "The load"): every power meter once a minute (p, e, i), every CEMS
outlet every 20 s (9 metrics; the plan's 2011 real-time every 30 s + 2051 minute data are
3 packets a minute, sent here as 3 MQTT messages 20 s apart so that no two share a
timestamp), every air station once a minute (9 metrics); one reading per message, QoS 1,
event time = the scheduled wall-clock time, each device at a fixed second of its own. At
1.0 that is 15,550 values/s in 4,383 messages/s. ``--publishers`` separate processes (paho)
share the devices; the offered and the achieved publish rates are both reported.

The service runs as ``ecowarn serve`` runs it (``open_service``: collector, pipeline, HTTP
API in this process, the detector runners in child processes, ``--runners`` of them sharing
the enterprise partitions) on a fresh database, with a
Mosquitto of the benchmark's own with sized queues (``benchmarks/_infra.py``).

Phases: warm-up (``--warmup`` s of load, at least one full minute so every device has
reported), catch-up (until the runner's backlog is under two seconds of messages or its
oldest row under 10 s old, at most ``--catch-up`` s, default 600), then ``--minutes`` of measurement. A
run whose oldest pending row is over 180 s old at the end of catch-up, or at any sample of
the window, is stopped there (not held; its figures are those up to the stop), so that
``--find-max`` does not spend ten minutes on a fraction that is plainly too large. During the measurement the probe
sends ``treatment_off`` episodes one after another (``bench_alert_latency.trial``: the
reading that completes the condition is published, the clock stops when the alert is in
``GET /api/v1/alerts``).

Every ``--sample-s`` seconds a sampler records: values committed (the pipeline's
``ecowarn_readings_ingested_total``), the runner's backlog (``pending_eval`` rows and the age
of the oldest), and the resident memory and CPU time from /proc of each process: this
service process, the runner child, the publishers, the benchmark's Mosquitto, the
PostgreSQL backends of the benchmark's database (summed) and PostgreSQL's server processes
(checkpointer, WAL writer, background writer: shared with anything else on the server).
Written to ``DIR/soak-<fraction>.csv``; the backlog over time to an SVG drawn here.

"Held" (one fraction), all three over the measured window:

1. committed values/s >= 98 % of the offered values/s (the publishers' schedule);
2. backlog not growing: the least-squares slope of ``pending_eval`` rows over the window,
   times the window's length, is under 10 s worth of offered messages, and the oldest
   pending row at the end is under 30 s old;
3. alert latency p99 < 5 s over at least 5 trials, and no trial failed (a trial fails when
   its readings are not evaluated within 60 s or its alert is not visible within 120 s);
4. the run was not stopped (above).

``--find-max``: start at ``--fraction``; while it is not held, halve it (down to 1 %); then
bisect between the largest held and the smallest not held ``--steps`` times. Each step is a
full run on a fresh database and broker. The summary gives the CPU seconds per component
per 1,000 values committed and the cores the full province needs, scaled linearly from the
measured CPU (an assumption: per-value cost does not change with the registry's size).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import json
import math
import multiprocessing as mp
import os
import platform
import random
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiomqtt
import httpx
import psycopg
import yaml
from prometheus_client import CollectorRegistry

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks._infra import Broker, Database  # noqa: E402
from benchmarks.bench_alert_latency import quantile, trial  # noqa: E402
from ecowarn.config.credit_code import make_code  # noqa: E402
from ecowarn.config.registry import Registry, load_registry  # noqa: E402
from ecowarn.config.settings import load_settings  # noqa: E402
from ecowarn.detectors.catalog import default_params  # noqa: E402
from ecowarn.service import open_service  # noqa: E402
from ecowarn.store.tokens import create_token  # noqa: E402

# The province of docs/scaling.md at fraction 1.0.
FULL_ENTERPRISES = 30_000
PAIRS_PER_ENTERPRISE = 4
FULL_CEMS = 6_000
FULL_STATIONS = 5_000
STATIONS_PER_TOWN = 25
# Values per message and messages per minute per device, by kind (docs/scaling.md).
VALUES = {"power": 3, "cems": 9, "air": 9}
PER_MIN = {"power": 1, "cems": 3, "air": 1}

TARGET_P99_S = 5.0
HELD_COMMITTED = 0.98
HELD_GROWTH_S = 10.0
HELD_OLDEST_S = 30.0
MIN_TRIALS = 5
CAUGHT_UP_OLDEST_S = 10.0
# A run whose oldest pending row gets this old is stopped and counted as not held.
ABORT_OLDEST_S = 180.0
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


# --- registry ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Counts:
    enterprises: int
    meters: int
    cems: int
    stations: int

    @property
    def values_per_s(self) -> float:
        return (self.meters * VALUES["power"] * PER_MIN["power"] + self.cems * VALUES["cems"]
                * PER_MIN["cems"] + self.stations * VALUES["air"] * PER_MIN["air"]) / 60.0

    @property
    def messages_per_s(self) -> float:
        return (self.meters * PER_MIN["power"] + self.cems * PER_MIN["cems"]
                + self.stations * PER_MIN["air"]) / 60.0


def counts(fraction: float) -> Counts:
    n_ent = max(1, round(FULL_ENTERPRISES * fraction))
    return Counts(n_ent, n_ent * 2 * PAIRS_PER_ENTERPRISE, max(1, round(FULL_CEMS * fraction)),
                  max(1, round(FULL_STATIONS * fraction)))


def _meter(e: int, role: str, k: int) -> str:
    return f"M{e:05d}-{role}{k}"


def _cems_mn(e: int) -> str:
    return f"1301{e:010d}"


def _stations(n: int) -> list[tuple[str, float, float]]:
    """``n`` stations in towns of 25 spread over a Hebei-sized box, 0.5-3 km apart in a town."""
    rng = random.Random(17)
    towns = max(1, math.ceil(n / STATIONS_PER_TOWN))
    centres = [(rng.uniform(36.5, 41.5), rng.uniform(114.0, 119.5)) for _ in range(towns)]
    out = []
    for s in range(n):
        lat, lon = centres[s % towns]
        out.append((f"AQ-{s:05d}", round(lat + rng.uniform(-0.03, 0.03), 5),
                    round(lon + rng.uniform(-0.04, 0.04), 5)))
    return out


def province_yaml(c: Counts, probe_pairs: int) -> str:
    """The registry file of ``c`` plus the probe enterprise (its pairs named as
    ``bench_alert_latency`` names them)."""
    cems_of = {round(i * c.enterprises / c.cems) for i in range(c.cems)}
    out = ["# Generated by benchmarks/bench_province_soak.py\nenterprises:\n"]
    for e in range(c.enterprises):
        region = f"13{e % 11 + 1:02d}05"
        out.append(f'- id: "{make_code(region, e)}"\n  name: "压测企业{e:05d}"\n  region: "{region}"\n'
                   "  industry: cement\n  devices:\n")
        for k in range(PAIRS_PER_ENTERPRISE):
            p, t = _meter(e, "P", k), _meter(e, "T", k)
            out.append(f"  - {{id: {p}, kind: power, role: production, rated_kw: 500, treated_by: [{t}]}}\n"
                       f"  - {{id: {t}, kind: power, role: treatment, rated_kw: 100}}\n")
        if e in cems_of:
            out.append(f'  - {{id: "{_cems_mn(e)}", kind: cems, outlet: DA001, ref_o2: 10, design_flow: 50,'
                       f" limits: {{pm: 10, so2: 35, nox: 50}}, serves: [{_meter(e, 'P', 0)}]}}\n")
    probe = FULL_ENTERPRISES + 1
    out.append(f'- id: "{make_code("130105", probe)}"\n  name: "压测探针企业"\n  region: "130105"\n'
               "  industry: cement\n  devices:\n")
    for k in range(probe_pairs):
        p, t = f"PR-P{k:05d}", f"PR-T{k:05d}"
        out.append(f"  - {{id: {p}, kind: power, role: production, rated_kw: 500, treated_by: [{t}]}}\n"
                   f"  - {{id: {t}, kind: power, role: treatment, rated_kw: 100}}\n")
    out.append("stations:\n")
    for sid, lat, lon in _stations(c.stations):
        out.append(f"- {{id: {sid}, lat: {lat}, lon: {lon}}}\n")
    return "".join(out)


def build_registry(fraction: float, probe_pairs: int, out: Path) -> tuple[Registry, Path, float, float]:
    """Generate, write and load the registry: (registry, file, generate s, load s)."""
    t0 = time.perf_counter()
    text = province_yaml(counts(fraction), probe_pairs)
    path = out / f"registry-{fraction:g}.yaml"
    path.write_text(text, encoding="utf-8")
    t1 = time.perf_counter()
    registry = load_registry(path)
    return registry, path, t1 - t0, time.perf_counter() - t1


def yaml_parse_s(path: Path) -> tuple[float, float]:
    """The loader's two YAML passes (``compose`` for line numbers, ``load`` for the data) on
    ``path``: seconds with PyYAML's pure-Python SafeLoader, as the loader does them, and with
    libyaml's CSafeLoader (what the same passes would cost in C)."""
    text = path.read_text(encoding="utf-8")
    out = []
    for loader in (yaml.SafeLoader, yaml.CSafeLoader):
        t = time.perf_counter()
        yaml.compose(text, Loader=loader)
        yaml.load(text, Loader=loader)
        out.append(time.perf_counter() - t)
    return out[0], out[1]


# --- publishers (separate processes) ---------------------------------------------------------

Entry = tuple[float, str, str, int]  # (second within the minute, kind, device id, seed)


def schedule(registry: Registry, publishers: int) -> list[list[Entry]]:
    """Every background message of one minute, dealt to ``publishers`` by device."""
    rng = random.Random(5)
    shards: list[list[Entry]] = [[] for _ in range(publishers)]
    for i, dev in enumerate(d for d in registry.devices.values() if not d.id.startswith("PR-")):
        phase = rng.uniform(0.0, 60.0)
        n = PER_MIN[dev.kind]
        for j in range(n):
            shards[i % publishers].append(((phase + j * 60.0 / n) % 60.0, dev.kind, dev.id, i))
    for s in shards:
        s.sort()
    return shards


def _payload(kind: str, dev: str, seed: int, ts_ms: int, rng: random.Random) -> bytes:
    g = rng.gauss
    if kind == "power":
        prod = "-P" in dev
        p = (400.0 if prod else 80.0) + g(0.0, 4.0 if prod else 1.0)
        e = (seed % 1000) * 1000.0 + ts_ms / 3.6e6 * (400.0 if prod else 80.0)
        values: dict[str, float] = {"p": round(p, 2), "e": round(e, 2), "i": round(p / 0.658, 2)}
    elif kind == "cems":
        values = {"so2": round(18.0 + g(0, 3), 2), "nox": round(30.0 + g(0, 4), 2),
                  "pm": round(abs(4.0 + g(0, 1)), 2), "co": round(abs(20.0 + g(0, 3)), 2),
                  "o2": round(10.0 + g(0, 0.5), 2), "flow": round(45.0 + g(0, 2), 2),
                  "temp": round(60.0 + g(0, 1), 2), "pressure": round(101.0 + g(0, 0.3), 2),
                  "humidity": round(8.0 + g(0, 0.5), 2)}
    else:
        values = {"pm25": round(abs(40.0 + g(0, 5)), 1), "pm10": round(abs(70.0 + g(0, 8)), 1),
                  "so2": round(abs(10.0 + g(0, 2)), 1), "no2": round(abs(30.0 + g(0, 4)), 1),
                  "co": round(abs(0.8 + g(0, 0.1)), 2), "o3": round(abs(60.0 + g(0, 8)), 1),
                  "tvoc": round(abs(100.0 + g(0, 10)), 1), "wind_dir": round(rng.uniform(0, 360), 0),
                  "wind_speed": round(abs(2.0 + g(0, 1)), 1)}
    return json.dumps({"ts": ts_ms, "values": values}, separators=(",", ":")).encode()


def publisher(port: int, prefix: str, entries: list[Entry], t0_wall: float, stop: Any, out: Any) -> None:
    """Publish ``entries`` every minute from ``t0_wall`` on, each at its second, until ``stop``.

    Puts (messages sent, acknowledged, seconds, values sent, worst lag behind schedule s)."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    rng = random.Random(os.getpid())
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"soak-pub-{uuid.uuid4().hex[:6]}")
    client.max_inflight_messages_set(1000)
    client.max_queued_messages_set(0)
    acked = [0]
    client.on_publish = lambda *a: acked.__setitem__(0, acked[0] + 1)
    client.connect("127.0.0.1", port)
    sent = values = 0
    worst_lag = 0.0
    n = len(entries)
    k = 0  # index into the endless schedule: minute k // n, entry k % n
    while time.time() < t0_wall:
        time.sleep(0.01)
    t_start = time.monotonic()
    while not stop.is_set():
        now = time.time()
        while n:
            phase, kind, dev, seed = entries[k % n]
            due = t0_wall + (k // n) * 60.0 + phase
            if due > now or sent - acked[0] >= 1000:
                break
            worst_lag = max(worst_lag, now - due)
            info = client.publish(f"{prefix}telemetry/{kind}/{dev}",
                                  _payload(kind, dev, seed, int(due * 1000), rng), qos=1)
            if info.rc != mqtt.MQTT_ERR_SUCCESS:
                raise RuntimeError(f"publish failed: {mqtt.error_string(info.rc)}")
            sent += 1
            values += VALUES[kind]
            k += 1
            if sent % 100 == 0:
                client.loop(timeout=0)
        client.loop(timeout=0.002)
    elapsed = time.monotonic() - t_start
    deadline = time.monotonic() + 60
    while acked[0] < sent and time.monotonic() < deadline:
        client.loop(timeout=0.01)
    client.disconnect()
    out.put((sent, acked[0], elapsed, values, worst_lag))


# --- sampling --------------------------------------------------------------------------------


def _proc(pid: int) -> tuple[float, int, int] | None:
    """(CPU seconds, RSS bytes, anonymous RSS bytes) of ``pid``, None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
        with open(f"/proc/{pid}/status", "rb") as f:
            status = f.read().decode()
    except OSError:
        return None
    fields = stat[stat.rindex(b")") + 2:].split()
    cpu = (int(fields[11]) + int(fields[12])) / CLK_TCK
    rss = anon = 0
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            rss = int(line.split()[1]) * 1024
        elif line.startswith("RssAnon:"):
            anon = int(line.split()[1]) * 1024
    return cpu, rss, anon


def _postgres_server_pids() -> list[int]:
    """PostgreSQL's own processes (not backends): checkpointer, WAL and background writers."""
    pids = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/cmdline", "rb") as f:
                cmd = f.read()
        except OSError:
            continue
        if cmd.startswith(b"postgres: ") and any(w in cmd for w in (
                b"checkpointer", b"walwriter", b"background writer", b"autovacuum launcher")):
            pids.append(int(name))
    return pids


COMPONENTS = ("service", "runner", "publishers", "mosquitto", "pg_backends", "pg_server")


@dataclass
class Component:
    """CPU of a set of processes, kept per pid so that one that exits keeps its share."""

    cpu_by_pid: dict[int, float] = field(default_factory=dict)
    rss: int = 0
    rss_max: int = 0

    def update(self, pids: list[int], anon: bool = False) -> None:
        rss = 0
        for pid in pids:
            got = _proc(pid)
            if got is None:
                continue
            self.cpu_by_pid[pid] = got[0]
            rss += got[2] if anon else got[1]
        self.rss = rss
        self.rss_max = max(self.rss_max, rss)

    @property
    def cpu(self) -> float:
        return sum(self.cpu_by_pid.values())


@dataclass
class Sample:
    t: float  # seconds since the load started
    phase: str
    values: float  # committed since start
    pending: int
    oldest_s: float
    cpu: dict[str, float]
    rss: dict[str, int]
    machine_busy: float  # whole machine, CPU seconds since boot (all processes, everyone's)
    active_s: float = 0.0  # the longest-running active statement on the database, seconds
    active_query: str = ""  # and its text (shortened)


def _machine_busy() -> float:
    with open("/proc/stat") as f:
        parts = f.readline().split()[1:]
    ticks = [int(x) for x in parts]
    return (sum(ticks) - ticks[3] - ticks[4]) / CLK_TCK  # all but idle and iowait


class Sampler:
    def __init__(self, dsn: str, metrics: CollectorRegistry, pids: dict[str, list[int]],
                 runner: Any = None) -> None:
        self.runner = runner  # the service's runner: its child processes' pids, as they start
        self.dsn = dsn
        self.metrics = metrics
        self.pids = pids
        self.comps = {c: Component() for c in COMPONENTS}
        self.samples: list[Sample] = []
        self.phase = "warm-up"
        self.t0 = time.monotonic()

    def committed(self) -> float:
        return sum(self.metrics.get_sample_value("ecowarn_readings_ingested_total", {"kind": k}) or 0.0
                   for k in ("power", "cems", "air", "water"))

    async def take(self, conn: psycopg.AsyncConnection[Any]) -> Sample:
        cur = await conn.execute("SELECT count(*), coalesce(extract(epoch FROM now() - min(created_at)), 0)"
                                 " FROM pending_eval")
        row = await cur.fetchone()
        cur = await conn.execute("SELECT pid FROM pg_stat_activity WHERE datname = current_database()")
        backends = [int(r[0]) for r in await cur.fetchall()]
        cur = await conn.execute(
            "SELECT extract(epoch FROM now() - query_start), left(regexp_replace(query, '\\s+', ' ', 'g'), 160)"
            " FROM pg_stat_activity WHERE datname = current_database() AND state = 'active'"
            " AND pid <> pg_backend_pid() ORDER BY query_start LIMIT 1")
        active = await cur.fetchone()
        self.pids["pg_backends"] = backends
        children = getattr(self.runner, "pids", None)
        if children is None:
            children = [getattr(self.runner, "pid", None)]
        self.pids["runner"] = [p for p in children if p]
        for name, comp in self.comps.items():
            comp.update(self.pids.get(name, []), anon=name.startswith("pg_"))
        s = Sample(time.monotonic() - self.t0, self.phase, self.committed(), int(row[0]) if row else 0,
                   float(row[1]) if row else 0.0, {n: c.cpu for n, c in self.comps.items()},
                   {n: c.rss for n, c in self.comps.items()}, _machine_busy(),
                   float(active[0] or 0.0) if active else 0.0, str(active[1]) if active else "")
        self.samples.append(s)
        return s

    async def run(self, every_s: float) -> None:
        async with await psycopg.AsyncConnection.connect(self.dsn, autocommit=True) as conn:
            while True:
                await self.take(conn)
                await asyncio.sleep(every_s)


def runner_counters(metrics: CollectorRegistry) -> dict[str, float]:
    """The runner child's counters as the service relays them: rows claimed, batches, seconds
    in batches, evaluations (all rules and per rule) and the evaluations it skipped."""
    out: dict[str, float] = {}
    names = {"ecowarn_detector_pending_claimed_total": "rows claimed",
             "ecowarn_detector_batch_seconds_count": "batches",
             "ecowarn_detector_batch_seconds_sum": "batch seconds",
             "ecowarn_detector_unchanged_total": "skipped: minute already evaluated",
             "ecowarn_detector_tail_quiet_total": "skipped: quiet tail",
             "ecowarn_detector_reconciles_skipped_total": "reconciliations skipped",
             "ecowarn_alerts_opened_total": "alerts opened"}
    for m in metrics.collect():
        for smp in m.samples:
            if smp.name in names:
                out[names[smp.name]] = out.get(names[smp.name], 0.0) + smp.value
            elif smp.name == "ecowarn_detector_evaluations_total":
                key = f"evaluations {smp.labels.get('rule', '?')}"
                out[key] = out.get(key, 0.0) + smp.value
                out["evaluations"] = out.get("evaluations", 0.0) + smp.value
    return out


# --- one run ---------------------------------------------------------------------------------


@dataclass
class Result:
    fraction: float
    counts: Counts
    generate_s: float
    load_s: float
    start_s: float
    window_s: float = 0.0
    offered_values_s: float = 0.0
    offered_msgs_s: float = 0.0
    published_msgs_s: float = 0.0
    published_values_s: float = 0.0
    publish_lag_s: float = 0.0
    committed_values_s: float = 0.0
    growth_msgs_s: float = 0.0  # backlog growth over the window, in seconds of offered messages
    oldest_end_s: float = 0.0
    pending_end: int = 0
    latencies: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    cpu_s: dict[str, float] = field(default_factory=dict)
    rss_max: dict[str, int] = field(default_factory=dict)
    machine_cpu_s: float = 0.0
    caught_up_s: float = 0.0
    samples: list[Sample] = field(default_factory=list)
    alerts_opened: float = 0.0
    runner: dict[str, float] = field(default_factory=dict)  # runner counters over the window
    aborted: str = ""  # why the run was stopped before its window ended

    def checks(self) -> dict[str, bool]:
        return {
            f"committed >= {HELD_COMMITTED:.0%} of offered": self.committed_values_s
            >= HELD_COMMITTED * self.offered_values_s,
            f"backlog not growing (< {HELD_GROWTH_S:.0f} s of messages over the window, oldest"
            f" < {HELD_OLDEST_S:.0f} s)": self.growth_msgs_s < HELD_GROWTH_S
            and self.oldest_end_s < HELD_OLDEST_S,
            f"alert p99 < {TARGET_P99_S:.0f} s (>= {MIN_TRIALS} trials, none failed)":
                len(self.latencies) >= MIN_TRIALS and not self.failures
                and quantile(self.latencies, 0.99) < TARGET_P99_S,
            "measured to the end (not stopped)": not self.aborted,
        }

    @property
    def held(self) -> bool:
        return all(self.checks().values())


def _slope(xs: list[float], ys: list[float]) -> float:
    if len(xs) < 2:
        return 0.0
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    den = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / den if den else 0.0


async def _probe(svc: Any, broker: Broker, prefix: str, token: str, probe_pairs: int, until: float,
                 res: Result) -> None:
    async with aiomqtt.Client("127.0.0.1", broker.port, identifier=f"soak-probe-{uuid.uuid4().hex[:6]}") as pub, \
            httpx.AsyncClient(base_url=f"http://127.0.0.1:{svc.http_port}", timeout=10.0,
                              headers={"Authorization": f"Bearer {token}"}) as http:
        k = 0
        while time.monotonic() < until:
            try:
                visible, _, _ = await trial(svc, pub, http, prefix, k % probe_pairs, k // probe_pairs)
                res.latencies.append(visible)
            except (RuntimeError, httpx.HTTPError) as exc:
                res.failures.append(f"trial {k + 1}: {exc}")
                print(f"  probe trial {k + 1} failed: {exc}", flush=True)
            k += 1
            if k % 20 == 0:
                print(f"  {k} probe trials, last {res.latencies[-1] if res.latencies else float('nan'):.2f} s",
                      flush=True)


async def run_once(args: argparse.Namespace, fraction: float, out: Path) -> Result:
    c = counts(fraction)
    print(f"\n== fraction {fraction:g}: {c.enterprises:,} enterprises, {c.meters:,} meters, {c.cems:,} CEMS, "
          f"{c.stations:,} stations; offered {c.values_per_s:,.0f} values/s in {c.messages_per_s:,.0f} "
          "messages/s", flush=True)
    registry, reg_path, gen_s, load_s = build_registry(fraction, args.probe_pairs, out)
    print(f"registry: generated in {gen_s:.1f} s ({reg_path.stat().st_size / 1e6:.1f} MB), "
          f"load_registry {load_s:.1f} s ({len(registry.enterprises):,} enterprises, "
          f"{len(registry.devices):,} devices)", flush=True)
    if args.yaml_compare:
        py_s, c_s = yaml_parse_s(reg_path)
        print(f"  of which YAML: compose + load with the pure-Python SafeLoader {py_s:.1f} s; the same two "
              f"passes with libyaml's CSafeLoader {c_s:.1f} s", flush=True)
    publishers = args.publishers or max(1, math.ceil(c.messages_per_s / args.per_publisher))
    shards = schedule(registry, publishers)
    broker = Broker("ecowarn-bench-soak-")
    db = Database(args.dsn)
    try:
        return await _run(args, fraction, c, registry, shards, broker, db, gen_s, load_s, out)
    finally:
        db.drop()
        broker.close()


async def _run(args: argparse.Namespace, fraction: float, c: Counts, registry: Registry,
               shards: list[list[Entry]], broker: Broker, db: Database, gen_s: float, load_s: float,
               out: Path) -> Result:
    prefix = f"soak{uuid.uuid4().hex[:6]}/"
    runner_opts: dict[str, object] = {}
    if args.runners:
        runner_opts["runners"] = args.runners
    if args.partitions is not None:
        runner_opts["runner_partitions"] = args.partitions
    settings = load_settings(database_url=db.dsn, mqtt_url=f"mqtt://127.0.0.1:{broker.port}",
                             http_port=0, hj212_port=0, mqtt_client_id=f"bench-{prefix}",
                             runner="process",
                             spool_dir=Path(tempfile.mkdtemp(prefix="ecowarn-bench-spool-")),
                             **runner_opts)
    metrics = CollectorRegistry()
    t_open = time.perf_counter()
    async with open_service(settings, registry, rule_params=default_params(), hj212=False,
                            topic_prefix=prefix, metrics_registry=metrics) as svc:
        start_s = time.perf_counter() - t_open
        res = Result(fraction, c, gen_s, load_s, start_s)
        res.offered_values_s, res.offered_msgs_s = c.values_per_s, c.messages_per_s
        async with await psycopg.AsyncConnection.connect(db.dsn, autocommit=True) as conn:
            token = await create_token(conn, role="officer", label="bench")
        ctx = mp.get_context("spawn")
        stop, results = ctx.Event(), ctx.Queue()
        t0_wall = time.time() + 2.0
        procs = [ctx.Process(target=publisher, args=(broker.port, prefix, s, t0_wall, stop, results))
                 for s in shards]
        for p in procs:
            p.start()
        pids = {"service": [os.getpid()], "runner": [],
                "publishers": [p.pid for p in procs if p.pid], "mosquitto": [broker.proc.pid],
                "pg_server": _postgres_server_pids()}
        sampler = Sampler(db.dsn, metrics, pids, svc.runner)
        print(f"service started in {start_s:.1f} s; {len(procs)} publisher(s); warming up "
              f"{args.warmup:.0f} s", flush=True)
        try:
            async with asyncio.TaskGroup() as tg:
                sampling = tg.create_task(sampler.run(args.sample_s), name="soak-sampler")
                try:
                    await _phases(args, svc, broker, prefix, token, sampler, res)
                finally:
                    sampling.cancel()
        finally:
            stop.set()
            got = [await asyncio.to_thread(results.get, True, 120) for _ in procs]
            for p in procs:
                await asyncio.to_thread(p.join, 30)
        span = sum(g[2] for g in got) / len(got)
        res.published_msgs_s = sum(g[0] for g in got) / span
        res.published_values_s = sum(g[3] for g in got) / span
        res.publish_lag_s = max(g[4] for g in got)
        res.alerts_opened = runner_counters(metrics).get("alerts opened", 0.0)
        print(f"publishers: {sum(g[0] for g in got):,} messages in {span:.0f} s "
              f"({res.published_msgs_s:,.0f}/s, {res.published_values_s:,.0f} values/s; offered "
              f"{res.offered_msgs_s:,.0f}/s), {sum(g[1] for g in got):,} acknowledged, worst lag behind "
              f"schedule {res.publish_lag_s:.1f} s", flush=True)
    return res


async def _phases(args: argparse.Namespace, svc: Any, broker: Broker, prefix: str, token: str,
                  sampler: Sampler, res: Result) -> None:
    await asyncio.sleep(max(args.warmup, 65.0))
    sampler.phase = "catch-up"
    t_c = time.monotonic()
    limit = max(2.0 * res.offered_msgs_s, 100.0)
    async with await psycopg.AsyncConnection.connect(sampler.dsn, autocommit=True) as conn:
        first = await sampler.take(conn)
        while True:
            s = sampler.samples[-1]
            # Caught up: little left, or nothing older than a pass or two (a batch being
            # evaluated keeps its rows until it commits).
            if s.t > first.t and (s.pending <= limit or s.oldest_s <= CAUGHT_UP_OLDEST_S):
                break
            if time.monotonic() - t_c > args.catch_up:
                print(f"runner still {s.pending:,} pending rows behind (oldest {s.oldest_s:.0f} s) after "
                      f"{args.catch_up:.0f} s", flush=True)
                break
            await asyncio.sleep(1.0)
        res.caught_up_s = time.monotonic() - t_c
        s = sampler.samples[-1]
        if s.oldest_s > ABORT_OLDEST_S:
            # Hopelessly behind: no measurement; the figures are those of the catch-up phase.
            res.aborted = f"runner {s.pending:,} rows behind, oldest {s.oldest_s:.0f} s, at the end of catch-up"
            print(f"not measured: {res.aborted}", flush=True)
            _print_active(sampler)
            last = await sampler.take(conn)
            _window(res, sampler, first, last, {}, {})
            return
        print(f"caught up {res.caught_up_s:.0f} s after warm-up (backlog {s.pending:,} rows, oldest "
              f"{s.oldest_s:.1f} s); measuring {args.minutes:g} min", flush=True)
        sampler.phase = "measure"
        first = await sampler.take(conn)
        counters0 = runner_counters(sampler.metrics)
        until = time.monotonic() + args.minutes * 60.0
        probe = asyncio.create_task(_probe(svc, broker, prefix, token, args.probe_pairs, until, res),
                                    name="soak-probe")
        try:
            while time.monotonic() < until or not probe.done():
                await asyncio.sleep(1.0)
                s = sampler.samples[-1]
                if s.phase == "measure" and s.oldest_s > ABORT_OLDEST_S:
                    res.aborted = (f"runner {s.pending:,} rows behind, oldest {s.oldest_s:.0f} s, "
                                   f"{s.t - first.t:.0f} s into the window")
                    print(f"measurement stopped: {res.aborted}", flush=True)
                    _print_active(sampler)
                    break
        finally:
            probe.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await probe
        last = await sampler.take(conn)
        counters1 = runner_counters(sampler.metrics)
    _window(res, sampler, first, last, counters0, counters1)


def _print_active(sampler: Sampler) -> None:
    longest = max(sampler.samples, key=lambda s: s.active_s)
    print(f"  longest-running statement seen: {longest.active_s:.0f} s at t={longest.t:.0f} s: "
          f"{longest.active_query}", flush=True)


def _window(res: Result, sampler: Sampler, first: Sample, last: Sample, counters0: dict[str, float],
            counters1: dict[str, float]) -> None:
    """The window's figures, from its first and last samples and those between."""
    res.runner = {k: v - counters0.get(k, 0.0) for k, v in counters1.items()}
    sampler.phase = "end"
    window = [s for s in sampler.samples if first.t <= s.t <= last.t]
    res.window_s = last.t - first.t
    res.committed_values_s = (last.values - first.values) / res.window_s
    slope = _slope([s.t for s in window], [float(s.pending) for s in window])
    res.growth_msgs_s = slope * res.window_s / max(res.offered_msgs_s, 1e-9)
    res.oldest_end_s = last.oldest_s
    res.pending_end = last.pending
    res.cpu_s = {n: last.cpu[n] - first.cpu[n] for n in COMPONENTS}
    res.rss_max = {n: max(s.rss[n] for s in window) for n in COMPONENTS}
    res.machine_cpu_s = last.machine_busy - first.machine_busy
    res.samples = list(sampler.samples)


# --- output ----------------------------------------------------------------------------------


def write_csv(res: Result, path: Path) -> None:
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["t_s", "phase", "values_committed", "values_per_s", "pending_rows", "oldest_pending_s",
                    *[f"cpu_{n}_s" for n in COMPONENTS], *[f"rss_{n}_mb" for n in COMPONENTS],
                    "machine_busy_cores", "longest_active_statement_s", "longest_active_statement"])
        prev: Sample | None = None
        for s in res.samples:
            dt = s.t - prev.t if prev else 0.0
            rate = (s.values - prev.values) / dt if prev and dt > 0 else 0.0
            busy = (s.machine_busy - prev.machine_busy) / dt if prev and dt > 0 else 0.0
            w.writerow([f"{s.t:.1f}", s.phase, f"{s.values:.0f}", f"{rate:.0f}", s.pending, f"{s.oldest_s:.1f}",
                        *[f"{s.cpu[n]:.2f}" for n in COMPONENTS], *[f"{s.rss[n] / 1e6:.0f}" for n in COMPONENTS],
                        f"{busy:.2f}", f"{s.active_s:.1f}", s.active_query])
            prev = s


def _ticks(hi: float, n: int = 5) -> list[float]:
    if hi <= 0:
        return [0.0]
    raw = hi / n
    mag = 10.0 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1.0, 2.0, 5.0, 10.0) if raw <= m * mag)
    return [i * step for i in range(int(hi / step) + 2)]


def backlog_svg(res: Result, title: str) -> str:
    """Two panels over time since the load started: pending rows, and the oldest's age."""
    w, panel_h, left, right, top, gap = 880, 170, 72, 20, 44, 46
    h = top + 2 * panel_h + gap + 40
    pw = w - left - right
    samples = res.samples
    t_hi = max((s.t for s in samples), default=1.0)
    xs = _ticks(t_hi / 60.0, 8)
    x_hi = xs[-1] if xs[-1] * 60.0 >= t_hi else t_hi / 60.0

    def x(t_s: float) -> float:
        return left + pw * (t_s / 60.0) / x_hi

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" '
             'font-family="sans-serif" font-size="12">',
             f'<rect width="{w}" height="{h}" fill="#fff"/>',
             f'<text x="{left}" y="22" font-size="14" font-weight="bold">{_esc(title)}</text>']
    measured = [s.t for s in samples if s.phase == "measure"]
    panels: list[tuple[str, Callable[[Sample], float], str]] = [
        ("pending_eval rows (runner backlog)", lambda s: float(s.pending), "#1f77b4"),
        ("oldest pending row, age in s", lambda s: s.oldest_s, "#d62728")]
    for k, (label, get, colour) in enumerate(panels):
        y0 = top + k * (panel_h + gap)
        vals = [get(s) for s in samples]
        ys = _ticks(max(vals, default=1.0) or 1.0, 4)
        y_hi = ys[-1] if ys[-1] >= max(vals, default=0.0) else max(vals)

        def y(v: float, y0: float = y0, y_hi: float = y_hi) -> float:
            return y0 + panel_h - panel_h * v / (y_hi or 1.0)

        if measured:
            parts.append(f'<rect x="{x(measured[0]):.1f}" y="{y0}" width="{x(measured[-1]) - x(measured[0]):.1f}" '
                         f'height="{panel_h}" fill="#f1f5e8"/>')
        for v in ys:
            if v <= y_hi:
                parts.append(f'<line x1="{left}" x2="{left + pw}" y1="{y(v):.1f}" y2="{y(v):.1f}" stroke="#ddd"/>'
                             f'<text x="{left - 6}" y="{y(v) + 4:.1f}" text-anchor="end">{_num(v)}</text>')
        for m in xs:
            if m <= x_hi:
                parts.append(f'<line x1="{x(m * 60):.1f}" x2="{x(m * 60):.1f}" y1="{y0 + panel_h}" '
                             f'y2="{y0 + panel_h + 4}" stroke="#555"/><text x="{x(m * 60):.1f}" '
                             f'y="{y0 + panel_h + 17}" text-anchor="middle">{m:g}</text>')
        parts.append(f'<rect x="{left}" y="{y0}" width="{pw}" height="{panel_h}" fill="none" stroke="#555"/>')
        pts = " ".join(f"{x(s.t):.1f},{y(get(s)):.1f}" for s in samples)
        parts.append(f'<polyline points="{pts}" fill="none" stroke="{colour}" stroke-width="1.5"/>')
        parts.append(f'<text x="{left + 6}" y="{y0 - 6}" fill="{colour}">{_esc(label)}</text>')
    parts.append(f'<text x="{left + pw / 2}" y="{h - 6}" text-anchor="middle">minutes since the load started '
                 '(shaded: the measured window; before it, warm-up and catch-up)</text>')
    parts.append("</svg>\n")
    return "\n".join(parts)


def _num(v: float) -> str:
    return f"{v:,.0f}" if v >= 10 or v == int(v) else f"{v:g}"


def _esc(s: str) -> str:
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def summary(res: Result) -> None:
    c = res.counts
    print(f"\n-- fraction {res.fraction:g} ({c.meters:,} meters, {c.cems:,} CEMS, {c.stations:,} stations; "
          f"{res.window_s:.0f} s measured)")
    print(f"registry: load_registry {res.load_s:.1f} s, service start {res.start_s:.1f} s, catch-up "
          f"{res.caught_up_s:.0f} s")
    print(f"offered {res.offered_values_s:,.0f} values/s ({res.offered_msgs_s:,.0f} msg/s); published "
          f"{res.published_values_s:,.0f} values/s ({res.published_msgs_s:,.0f} msg/s, worst lag "
          f"{res.publish_lag_s:.1f} s); committed {res.committed_values_s:,.0f} values/s "
          f"({res.committed_values_s / max(res.offered_values_s, 1e-9):.1%} of offered)")
    if res.aborted:
        print(f"STOPPED: {res.aborted}")
    print(f"runner backlog: growth {res.growth_msgs_s:+.1f} s of messages over the window, at the end "
          f"{res.pending_end:,} rows, oldest {res.oldest_end_s:.1f} s; alerts opened {res.alerts_opened:.0f}")
    if res.latencies:
        lat = res.latencies
        print(f"alert latency over {len(lat)} trials: p50 {quantile(lat, 0.5):.2f} s  p99 {quantile(lat, 0.99):.2f} s"
              f"  max {max(lat):.2f} s; failed trials {len(res.failures)}")
    else:
        print(f"no alert latency measured; failed trials {len(res.failures)}")
    r = res.runner
    if r:
        batches = r.get("batches", 0.0)
        print(f"runner over the window: {r.get('rows claimed', 0):,.0f} pending rows claimed in {batches:,.0f} "
              f"batches ({r.get('batch seconds', 0) / max(batches, 1):.2f} s each, "
              f"batch time {r.get('batch seconds', 0) / res.window_s:.0%} of the window, summed over runners); "
              f"{r.get('evaluations', 0):,.0f} evaluations, {r.get('skipped: quiet tail', 0):,.0f} quiet tails "
              f"and {r.get('skipped: minute already evaluated', 0):,.0f} unchanged minutes skipped")
        per_rule = sorted(((k[12:], v) for k, v in r.items() if k.startswith("evaluations ")), key=lambda kv: -kv[1])
        print("  evaluations by rule: " + ", ".join(f"{k} {v:,.0f}" for k, v in per_rule if v))
    kvalues = res.committed_values_s * res.window_s / 1000.0
    print(f"{'component':<12} {'CPU s':>8} {'cores':>6} {'CPU s/1k values':>16} {'max RSS MB':>11} "
          f"{'full province cores':>20}")
    for n in COMPONENTS:
        cores = res.cpu_s[n] / res.window_s
        print(f"{n:<12} {res.cpu_s[n]:>8.1f} {cores:>6.2f} {res.cpu_s[n] / max(kvalues, 1e-9):>16.3f} "
              f"{res.rss_max[n] / 1e6:>11.0f} {cores / res.fraction:>20.2f}")
    print(f"whole machine busy {res.machine_cpu_s / res.window_s:.2f} cores of {os.cpu_count()} "
          "(everything running, other users included)")
    print(f"full province (x{1 / res.fraction:g}, linear): {full_cores(res):.1f} cores for service + runner + "
          "mosquitto + PostgreSQL (publishers excluded)"
          + (" -- a stopped run: its runner was saturated, no basis for this" if res.aborted else ""))
    for label, ok in res.checks().items():
        print(f"  {label}: {'MET' if ok else 'NOT MET'}")
    print(f"  => fraction {res.fraction:g} {'HELD' if res.held else 'NOT HELD'}", flush=True)


def full_cores(res: Result) -> float:
    return sum(res.cpu_s[n] for n in COMPONENTS if n != "publishers") / res.window_s / res.fraction


def save(res: Result, out: Path, svg: Path | None) -> None:
    stem = f"soak-{res.fraction:g}"
    write_csv(res, out / f"{stem}.csv")
    title = (f"Runner backlog, fraction {res.fraction:g}: {res.counts.meters:,} meters, {res.counts.cems:,} CEMS, "
             f"{res.counts.stations:,} stations, {res.offered_values_s:,.0f} values/s offered")
    text = backlog_svg(res, title)
    (out / f"{stem}.svg").write_text(text, encoding="utf-8")
    if svg is not None:
        svg.write_text(text, encoding="utf-8")
    print(f"samples: {out / (stem + '.csv')}; plot: {out / (stem + '.svg')}"
          + (f" and {svg}" if svg else ""), flush=True)


async def find_max(args: argparse.Namespace, out: Path) -> list[Result]:
    results: list[Result] = []
    f = args.fraction
    held: Result | None = None
    failed: Result | None = None
    while True:
        r = await run_once(args, f, out)
        summary(r)
        save(r, out, None)
        results.append(r)
        if r.held:
            held = r
            break
        failed = r
        if f <= 0.01:
            break
        f = max(0.01, f / 2)
    for _ in range(args.steps if held is not None and failed is not None else 0):
        assert held is not None and failed is not None
        f = round((held.fraction + failed.fraction) / 2, 4)
        r = await run_once(args, f, out)
        summary(r)
        save(r, out, None)
        results.append(r)
        if r.held:
            held = r
        else:
            failed = r
    print("\n== find-max")
    for r in sorted(results, key=lambda r: r.fraction):
        p99 = f"{quantile(r.latencies, 0.99):.2f} s" if r.latencies else "-"
        print(f"fraction {r.fraction:g}: offered {r.offered_values_s:,.0f} values/s, committed "
              f"{r.committed_values_s:,.0f}, backlog growth {r.growth_msgs_s:+.1f} s, p99 {p99} -> "
              f"{'held' if r.held else 'not held'}")
    if held is not None:
        print(f"largest fraction held: {held.fraction:g} ({held.offered_values_s:,.0f} values/s); the full "
              f"province needs about {full_cores(held):.1f} cores (service + runner + mosquitto + PostgreSQL, "
              "CPU scaled linearly from that run)")
        if args.svg:
            save(held, out, Path(args.svg))
    else:
        print("no fraction held, down to 0.01")
    return results


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--fraction", type=float, default=1.0, help="share of the province (1.0 = full; default 1.0)")
    ap.add_argument("--minutes", type=float, default=10.0, help="measured minutes (default 10)")
    ap.add_argument("--warmup", type=float, default=120.0,
                    help="seconds of load before the catch-up wait (default 120; at least 65)")
    ap.add_argument("--catch-up", type=float, default=600.0,
                    help="longest wait for the runner to catch up after warm-up (default 600 s: a cold runner's "
                         "first pass over 12,570 devices took 5 minutes on a loaded machine)")
    ap.add_argument("--find-max", action="store_true", help="find the largest fraction held (see above)")
    ap.add_argument("--steps", type=int, default=2, help="bisection steps of --find-max (default 2)")
    ap.add_argument("--publishers", type=int, default=0,
                    help="publisher processes (default: one per --per-publisher messages/s)")
    ap.add_argument("--per-publisher", type=float, default=2500.0,
                    help="messages/s one publisher process is given at most (default 2500)")
    ap.add_argument("--probe-pairs", type=int, default=10)
    ap.add_argument("--runners", type=int, default=0,
                    help="runner child processes (ECOWARN_RUNNERS; default: the service's own, one per core "
                         "beyond the first); their CPU and memory are summed as 'runner'")
    ap.add_argument("--partitions", type=int, default=None,
                    help="enterprise partitions of the runners (ECOWARN_RUNNER_PARTITIONS; default the service's)")
    ap.add_argument("--yaml-compare", action="store_true",
                    help="also time the registry's YAML passes with the pure-Python and the libyaml loader")
    ap.add_argument("--sample-s", type=float, default=5.0, help="sampling interval (default 5 s)")
    ap.add_argument("--out", help="directory for the registry, CSV and SVG files (default: a new temporary one)")
    ap.add_argument("--svg", help="also write the backlog plot here (e.g. docs/soak-backlog.svg)")
    ap.add_argument("--dsn", default=os.environ.get("ECOWARN_TEST_DATABASE_URL",
                                                    "postgresql://postgres@127.0.0.1:5432/postgres"))
    args = ap.parse_args()
    out = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="ecowarn-soak-"))
    out.mkdir(parents=True, exist_ok=True)
    with open("/proc/loadavg") as f:
        load = f.read().split()[:3]
    print(f"machine: {platform.machine()} {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"load average {' '.join(load)}, {datetime.now(UTC).isoformat(timespec='seconds')}; artifacts in {out}",
          flush=True)
    t0 = time.monotonic()
    if args.find_max:
        asyncio.run(find_max(args, out))
    else:
        res = asyncio.run(run_once(args, args.fraction, out))
        summary(res)
        save(res, out, Path(args.svg) if args.svg else None)
    print(f"total wall time {(time.monotonic() - t0) / 60:.1f} min", flush=True)


if __name__ == "__main__":
    main()
