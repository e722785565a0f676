"""Stress: broker restarts, database cuts and SIGKILLs of ``ecowarn serve`` under CPU contention.

Every round publishes a block of readings (20 power meters, 20 minutes of one
meter per QoS 1 message) as fast as the broker acknowledges, injects one fault
at a random point of the block, and then requires every reading published so
far to be stored exactly once. The rig is in ``tests/fix_stress.py``.

The default run does three rounds, one of each fault. The long form, for a
release or after touching the ingest path (docs/operations.md, "Stress run")::

    ECOWARN_STRESS_ROUNDS=20 .venv/bin/pytest -q -p no:cacheprovider tests/test_faults_stress.py

``ECOWARN_STRESS_SEED`` picks the faults and their moments (printed on failure).
"""

from __future__ import annotations

import asyncio
import os
import random
import shutil
import uuid
from functools import partial
from pathlib import Path

import aiomqtt
import pytest
from conftest import eventually, via_proxy
from fix_broker import MosquittoProcess
from fix_proxy import TcpProxy
from fix_stress import (
    BusyCores,
    Publisher,
    ServeProcess,
    meter_messages,
    registry_yaml,
    shipped_broker,
    stored_keys,
)

from ecowarn.core.mqtturl import parse_mqtt_url

ROUNDS = int(os.environ.get("ECOWARN_STRESS_ROUNDS", "3"))
SEED = int(os.environ.get("ECOWARN_STRESS_SEED", "20261120"))
METERS = 20
PER_MESSAGE = 20
MINUTES_PER_ROUND = int(os.environ.get("ECOWARN_STRESS_MINUTES", "60"))
FAULTS = ("broker", "db", "kill")

pytestmark = pytest.mark.skipif(shutil.which("mosquitto") is None, reason="needs mosquitto")


class Rig:
    """The parts of one stress run and the faults it can inject."""

    def __init__(self, broker: MosquittoProcess, proxy: TcpProxy, serve: ServeProcess,
                 rng: random.Random) -> None:
        self.broker = broker
        self.proxy = proxy
        self.serve = serve
        self.rng = rng
        self.history: list[str] = []

    async def inject(self, fault: str) -> None:
        if fault == "broker":
            pause_s = self.rng.uniform(0.5, 3.0)
            await asyncio.to_thread(self.broker.stop)
            await asyncio.sleep(pause_s)
            await asyncio.to_thread(self.broker.start)
            self.history.append(f"broker SIGTERM, back after {pause_s:.1f} s")
        elif fault == "db":
            cut_s = self.rng.uniform(1.0, 6.0)
            await asyncio.to_thread(self.proxy.stop)
            await asyncio.sleep(cut_s)
            await asyncio.to_thread(self.proxy.start)
            self.history.append(f"database cut for {cut_s:.1f} s")
        else:
            await asyncio.to_thread(self.serve.kill)
            self.serve.start()
            await eventually(self.serve.subscribed, 90, "the restarted serve to subscribe", 0.1)
            self.history.append("serve SIGKILL and restart")


def _reached(publisher: Publisher, n: float, publishing: asyncio.Task[None]) -> bool:
    return len(publisher.acked) >= n or publishing.done()


def round_faults(rng: random.Random) -> list[str]:
    """One of each fault first (in a seeded order), then random ones."""
    first = list(FAULTS)
    rng.shuffle(first)
    return (first + [rng.choice(FAULTS) for _ in range(max(0, ROUNDS - len(first)))])[:ROUNDS]


@pytest.mark.slow
@pytest.mark.timeout(180 + 120 * ROUNDS)
async def test_every_reading_stored_once_through_broker_restarts_db_cuts_and_kills(
        database: str, db_proxy: TcpProxy, tmp_path: Path) -> None:
    """Under a busy-loop per core, each round's fault (broker SIGTERM and restart, database
    cut, SIGKILL of serve) at a random point loses and duplicates no reading."""
    rng = random.Random(SEED)
    prefix = f"s{uuid.uuid4().hex[:8]}/"
    (tmp_path / "broker").mkdir()
    broker = shipped_broker(tmp_path / "broker")
    broker.start()
    registry = tmp_path / "registry.yaml"
    registry.write_text(registry_yaml(METERS))
    env = {k: v for k, v in os.environ.items() if not k.startswith("ECOWARN_")}
    env.update(ECOWARN_DATABASE_URL=via_proxy(database, db_proxy), ECOWARN_MQTT_URL=broker.url,
               ECOWARN_REGISTRY=str(registry), ECOWARN_HTTP_PORT="0", ECOWARN_HJ212_PORT="0",
               ECOWARN_DATA_DIR=str(tmp_path / "data"),
               ECOWARN_MQTT_CLIENT_ID=f"stress-{prefix[:-1]}", ECOWARN_MQTT_TOPIC_PREFIX=prefix,
               ECOWARN_LOG_LEVEL="INFO", PYTHONUNBUFFERED="1")
    serve = ServeProcess(env, tmp_path / "serve.log")
    rig = Rig(broker, db_proxy, serve, rng)
    publisher = Publisher("127.0.0.1", broker.port)
    expected: set[tuple[object, ...]] = set()
    try:
        with BusyCores():
            serve.start()
            await eventually(serve.subscribed, 90, "serve to subscribe", 0.1)
            for n, fault in enumerate(round_faults(rng)):
                messages = list(meter_messages(prefix, METERS, n * MINUTES_PER_ROUND,
                                               MINUTES_PER_ROUND, PER_MESSAGE))
                at = rng.uniform(0.1, 0.9)
                publishing = asyncio.create_task(asyncio.to_thread(publisher.publish, messages))
                await eventually(partial(_reached, publisher, at * len(messages), publishing), 60,
                                 "the fault's moment", 0.002)
                await rig.inject(fault)
                await publishing
                expected.update(k for m in messages for k in m.keys)
                what = (f"round {n + 1} of {ROUNDS} (seed {SEED}; {rig.history[-1]} at"
                        f" {at:.0%} of the round)")
                await eventually(lambda: len(stored_keys(database)) >= len(expected), 180,
                                 f"every reading stored after {what}", 0.5)
                keys = stored_keys(database)
                assert len(keys) == len(expected), f"duplicates after {what}"
                assert set(keys) == expected, f"readings lost after {what}"
                # Loss through the broker shows here first: a session it did not keep.
                assert "no longer holds session" not in serve.log.read_text(errors="replace"), what
                assert "Error saving" not in broker.log.read_text(errors="replace"), what
    except BaseException:
        print(serve.tail(), "\nfaults:", rig.history)
        raise
    finally:
        serve.stop()
        if broker.proc is None:
            broker.start()
        ep = parse_mqtt_url(broker.url)
        try:
            async with aiomqtt.Client(ep.host, ep.port, identifier=f"stress-{prefix[:-1]}",
                                      clean_session=True):
                pass
        finally:
            broker.stop()
