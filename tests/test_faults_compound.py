"""Compound fault: a broker restart, a database cut, and a SIGKILL of ``ecowarn serve`` during
the cut (restarted while the database is still away), in one run. Every reading is stored
exactly once and the alerts equal those of a fault-free run of the same data.

Real Mosquitto (the shipped settings, ``tests/fix_stress.py``), real PostgreSQL behind a TCP
proxy that is closed and reopened, ``ecowarn serve`` as a subprocess with its detector runner.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import uuid
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest
from conftest import eventually, via_proxy
from fix_broker import MosquittoProcess
from fix_proxy import TcpProxy
from fix_stress import T0, Message, Publisher, ServeProcess, shipped_broker, stored_keys

pytestmark = pytest.mark.skipif(shutil.which("mosquitto") is None, reason="needs mosquitto")

PAIRS = 3
MINUTES = 240
# Treatment meter k is off during [start, end) minutes while its production unit runs.
OUTAGES = {0: (60, 85), 1: (150, 190)}


def registry_yaml() -> str:
    lines = ["enterprises:", '  - id: "91130105MA0CXXXX1X"', '    name: "复合故障"',
             '    region: "130105"', "    devices:"]
    for k in range(PAIRS):
        lines += [f'      - id: "PWR-P{k}"', "        kind: power", "        role: production",
                  "        rated_kw: 1000", f'        treated_by: ["PWR-T{k}"]',
                  f'      - id: "PWR-T{k}"', "        kind: power", "        role: treatment",
                  "        rated_kw: 100"]
    return "\n".join(lines) + "\n"


def messages(prefix: str) -> list[Message]:
    """One minute of one meter per message, every meter each minute, time ascending."""
    out = []
    for minute in range(MINUTES):
        ts = T0 + timedelta(minutes=minute)
        for k in range(PAIRS):
            lo, hi = OUTAGES.get(k, (-1, -1))
            for dev, kw in ((f"PWR-P{k}", 800.0 + (minute * 7 + k * 13) % 40),
                            (f"PWR-T{k}", 0.0 if lo <= minute < hi
                             else 85.0 + (minute * 5 + k) % 9)):
                payload = json.dumps({"ts": int(ts.timestamp() * 1000), "values": {"p": kw}})
                out.append(Message(f"{prefix}telemetry/power/{dev}", payload.encode(),
                                   ((dev, ts),)))
    return out


def alerts(dsn: str) -> list[tuple[str, str, object, object]]:
    with psycopg.connect(dsn) as conn:
        return [(str(r), str(s), a, b) for r, s, a, b in conn.execute(
            "SELECT rule, subject, start_ts, end_ts FROM alerts ORDER BY 1, 2, 3")]


def pending(dsn: str) -> int:
    with psycopg.connect(dsn) as conn:
        row = conn.execute("SELECT count(*) FROM pending_eval").fetchone()
        assert row is not None
        return int(row[0])


def env_for(dsn: str, broker: MosquittoProcess, registry: Path, data: Path, prefix: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ECOWARN_")}
    env.update(ECOWARN_DATABASE_URL=dsn, ECOWARN_MQTT_URL=broker.url, ECOWARN_REGISTRY=str(registry),
               ECOWARN_HTTP_PORT="0", ECOWARN_HJ212_PORT="0", ECOWARN_DATA_DIR=str(data),
               ECOWARN_MQTT_CLIENT_ID=f"compound-{prefix[:-1]}",
               ECOWARN_MQTT_TOPIC_PREFIX=prefix, ECOWARN_LOG_LEVEL="INFO",
               PYTHONUNBUFFERED="1")
    return env


async def settled(dsn: str, n: int, what: str) -> list[tuple[str, str, object, object]]:
    """Wait until ``n`` readings are stored and the runner has evaluated them all."""
    await eventually(lambda: len(stored_keys(dsn)) >= n, 180, f"{what}: every reading stored", 0.5)
    await eventually(lambda: pending(dsn) == 0, 120, f"{what}: the runner to evaluate them", 0.5)
    first = alerts(dsn)
    await asyncio.sleep(2.0)  # one more runner pass must not change them
    assert alerts(dsn) == first, f"{what}: alerts still changing"
    return first


@pytest.mark.slow
@pytest.mark.timeout(600)
async def test_broker_restart_db_cut_and_kill_during_the_cut_lose_nothing_and_change_no_alert(
        database: str, empty_database: str, db_proxy: TcpProxy, tmp_path: Path) -> None:
    """Faults at 30 % (broker SIGTERM, back 2 s later), 50 % (database cut), 65 % (SIGKILL of
    serve while the database is away, restarted at once, still without it), 80 % (database
    back): the stored readings are exactly the published ones, once each, and the alerts are
    those of the same data published without faults into another database."""
    from ecowarn.store import migrate

    await migrate(empty_database)
    (tmp_path / "broker").mkdir()
    broker = shipped_broker(tmp_path / "broker")
    broker.start()
    registry = tmp_path / "registry.yaml"
    registry.write_text(registry_yaml(), "utf-8")
    prefix = f"c{uuid.uuid4().hex[:8]}/"
    msgs = messages(prefix)
    expected = {k for m in msgs for k in m.keys}
    cut = [int(len(msgs) * f) for f in (0.3, 0.5, 0.65, 0.8)]
    serve = ServeProcess(env_for(via_proxy(database, db_proxy), broker, registry,
                                 tmp_path / "data", prefix), tmp_path / "serve.log")
    publisher = Publisher("127.0.0.1", broker.port)
    clean_serve: ServeProcess | None = None
    try:
        serve.start()
        await eventually(serve.subscribed, 90, "serve to subscribe", 0.1)
        await asyncio.to_thread(publisher.publish, msgs[:cut[0]])
        await asyncio.to_thread(broker.stop)
        await asyncio.sleep(2.0)
        await asyncio.to_thread(broker.start)
        await asyncio.to_thread(publisher.publish, msgs[cut[0]:cut[1]])
        await eventually(lambda: len(stored_keys(database)) >= cut[1] * 0.5, 60,
                         "ingest to go on after the broker restart", 0.2)
        db_proxy.stop()
        await asyncio.to_thread(publisher.publish, msgs[cut[1]:cut[2]])
        serve.kill()  # during the cut: what it spooled stays on disk
        serve.start()  # and it starts again while the database is still away
        await eventually(serve.subscribed, 90, "serve to subscribe again, database still away", 0.1)
        await asyncio.to_thread(publisher.publish, msgs[cut[2]:cut[3]])
        db_proxy.start()
        await asyncio.to_thread(publisher.publish, msgs[cut[3]:])
        faulty = await settled(database, len(expected), "run with faults")
        keys = stored_keys(database)
        assert len(keys) == len(expected), "duplicated readings"
        assert set(keys) == expected, "lost readings"
        log = (tmp_path / "serve.log").read_text(errors="replace")
        # The faults were where the test put them: the restart found no database, and what
        # came in meanwhile went to the spool and was replayed.
        assert "database not available at start" in log
        assert "spooling to disk" in log and "spool replayed" in log

        clean_prefix = f"d{uuid.uuid4().hex[:8]}/"
        clean_serve = ServeProcess(env_for(empty_database, broker, registry, tmp_path / "data2",
                                           clean_prefix), tmp_path / "clean.log")
        clean_serve.start()
        await eventually(clean_serve.subscribed, 90, "the fault-free serve to subscribe", 0.1)
        await asyncio.to_thread(publisher.publish, messages(clean_prefix))
        clean = await settled(empty_database, len(expected), "fault-free run")
        assert {(r, s) for r, s, _, _ in clean} >= {("treatment_off", "PWR-P0"),
                                                    ("treatment_off", "PWR-P1")}, clean
        assert faulty == clean
    except BaseException:
        print(serve.tail(), clean_serve.tail() if clean_serve else "")
        raise
    finally:
        serve.stop()
        if clean_serve is not None:
            clean_serve.stop()
        if broker.proc is None:
            broker.start()
        broker.stop()
