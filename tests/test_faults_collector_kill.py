"""Fault injection: ``kill -9`` of a running ``ecowarn serve`` mid-stream, then a restart."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import aiomqtt
import pytest
from conftest import CONFIG_DIR, eventually
from fix_ingest import stored
from fix_publisher import Publisher

from ecowarn.core.mqtturl import parse_mqtt_url

N = 2400


class Serve:
    """``python -m ecowarn serve`` in a subprocess, its output in a file."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.log = log
        self.out = log.open("ab")
        self.proc = subprocess.Popen([sys.executable, "-m", "ecowarn", "serve"], env=env,
                                     stdout=self.out, stderr=subprocess.STDOUT)

    def subscribed(self) -> bool:
        assert self.proc.poll() is None, self.log.read_text()
        return self.log.read_text().count("subscribed to") >= 1

    def kill(self) -> None:
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)
        self.out.close()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.out.close()


@pytest.mark.slow
@pytest.mark.timeout(120)
async def test_collector_killed_mid_stream_and_restarted_loses_nothing(
        database: str, mqtt_url: str, tmp_path: Path) -> None:
    """SIGKILL of the serving process while readings flow: after a restart every one is stored once."""
    prefix = f"k{uuid.uuid4().hex[:8]}/"
    cid = f"serve-{prefix[:-1]}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("ECOWARN_")}
    env.update(ECOWARN_DATABASE_URL=database, ECOWARN_MQTT_URL=mqtt_url,
               ECOWARN_REGISTRY=str(CONFIG_DIR / "registry.example.yaml"),
               ECOWARN_HTTP_PORT="0", ECOWARN_HJ212_PORT="0", ECOWARN_DATA_DIR=str(tmp_path / "data"),
               ECOWARN_MQTT_CLIENT_ID=cid, ECOWARN_MQTT_TOPIC_PREFIX=prefix,
               ECOWARN_INGEST_FLUSH_MS="50", ECOWARN_LOG_LEVEL="INFO", PYTHONUNBUFFERED="1")
    log = tmp_path / "serve.log"
    first = Serve(env, log)
    second: Serve | None = None
    pub = Publisher(mqtt_url, prefix, interval_s=0.003)
    try:
        await eventually(first.subscribed, 60, "the first process to subscribe", interval_s=0.05)
        publishing = asyncio.create_task(pub.run(N))
        await eventually(lambda: len(stored(database)) >= N // 4, 30, "a quarter stored", 0.05)
        first.kill()
        killed_at = len(stored(database))
        assert killed_at < N
        log.write_text("")  # the second process's output only
        second = Serve(env, log)
        await eventually(second.subscribed, 60, "the restarted process to subscribe", interval_s=0.05)
        await asyncio.wait_for(publishing, 60)
        await eventually(lambda: len(stored(database)) >= N, 30, "every reading stored", 0.05)
    finally:
        if second is not None:
            second.stop()
        if first.proc.poll() is None:
            first.stop()
    rows = stored(database)
    assert len(rows) == N, "exactly once"
    assert {(d, ts) for d, ts, _ in rows} == pub.expected(N)
    ep = parse_mqtt_url(mqtt_url)
    async with aiomqtt.Client(ep.host, ep.port, identifier=cid, clean_session=True):
        pass
