"""Fault injection: the broker stops mid-stream and comes back (real Mosquitto, real PostgreSQL)."""

from __future__ import annotations

import asyncio
import logging
import uuid
from pathlib import Path

import aiomqtt
import pytest
from conftest import MosquittoProcess, eventually
from fix_ingest import ingest_stack, stored
from fix_publisher import Publisher

from ecowarn.config.registry import Registry
from ecowarn.core.mqtturl import parse_mqtt_url
from ecowarn.ingest import mqtt as mqtt_mod

N = 1500


def _fast_reconnecting(monkeypatch: pytest.MonkeyPatch,
                       broker: MosquittoProcess) -> tuple[str, str, Publisher]:
    """Reconnect within a fraction of a second; a topic prefix, collector id and publisher of
    the test's own."""
    monkeypatch.setattr(mqtt_mod, "RECONNECT_INITIAL_S", 0.05)
    monkeypatch.setattr(mqtt_mod, "RECONNECT_MAX_S", 0.3)
    prefix = f"f{uuid.uuid4().hex[:8]}/"
    return prefix, f"collector-{prefix[:-1]}", Publisher(broker.url, prefix)


async def _end_session(broker: MosquittoProcess, cid: str) -> None:
    """Drop the collector's persistent session from the broker."""
    ep = parse_mqtt_url(broker.url)
    async with aiomqtt.Client(ep.host, ep.port, identifier=cid, clean_session=True):
        pass


@pytest.mark.slow
async def test_broker_restart_mid_stream_loses_and_duplicates_nothing(
        database: str, sample_registry: Registry, private_mosquitto: MosquittoProcess,
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Mosquitto stopped and restarted under a QoS 1 publisher: every reading is stored exactly once."""
    broker = private_mosquitto
    prefix, cid, pub = _fast_reconnecting(monkeypatch, broker)
    async with ingest_stack(database, sample_registry, broker.url, client_id=cid, prefix=prefix,
                            spool_dir=tmp_path / "spool") as stack:
        publishing = asyncio.create_task(pub.run(N))
        await eventually(lambda: len(stored(database)) >= N // 4, 30, "a quarter of the readings stored")

        await asyncio.to_thread(broker.stop)
        await eventually(lambda: stack.collector.state == "disconnected" and pub.failures > 0, 10,
                         "publisher and collector to notice the broker is gone")
        sent_while_up = pub.sent
        await asyncio.to_thread(broker.start)

        await asyncio.wait_for(publishing, 60)
        assert pub.sent == N and sent_while_up < N
        await eventually(lambda: len(stored(database)) >= N, 30, "every reading stored")
        await stack.pipeline.drain(10)
        assert stack.value("ecowarn_mqtt_reconnects_total") >= 1
        assert stack.value("ecowarn_mqtt_sessions_lost_total") == 0

    rows = stored(database)
    assert len(rows) == N, "exactly once"
    assert {(d, ts) for d, ts, _ in rows} == pub.expected(N)
    await _end_session(broker, cid)


@pytest.mark.timeout(60)
async def test_a_broker_back_without_the_session_is_reported_and_ingest_goes_on(
        database: str, sample_registry: Registry, private_mosquitto: MosquittoProcess,
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """A broker that comes back without its persistence file (not written at shutdown) no longer
    holds the collector's session: the reconnection is logged as an error and counted, and the
    collector subscribes again so that new readings are stored."""
    broker = private_mosquitto
    prefix, cid, pub = _fast_reconnecting(monkeypatch, broker)
    async with ingest_stack(database, sample_registry, broker.url, client_id=cid, prefix=prefix,
                            spool_dir=tmp_path / "spool") as stack:
        await pub.run(5)
        await eventually(lambda: len(stored(database)) >= 5, 30, "the first readings stored")

        # A restart with the session kept is not reported.
        await asyncio.to_thread(broker.stop)
        await asyncio.to_thread(broker.start)
        await eventually(lambda: stack.value("ecowarn_mqtt_reconnects_total") >= 1
                         and stack.collector.state == "connected", 30, "the first reconnection")
        assert stack.value("ecowarn_mqtt_sessions_lost_total") == 0

        await asyncio.to_thread(broker.stop)
        (broker.workdir / "mosquitto.db").unlink()
        with caplog.at_level(logging.ERROR, logger="ecowarn.ingest.mqtt"):
            await asyncio.to_thread(broker.start)
            await eventually(lambda: stack.value("ecowarn_mqtt_sessions_lost_total") == 1, 30,
                             "the lost session to be counted")
        assert any("no longer holds session" in r.getMessage() and cid in r.getMessage()
                   for r in caplog.records)
        await eventually(stack.collector.subscribed.is_set, 30, "the collector to subscribe again")
        await pub.run(10)
        await eventually(lambda: len(stored(database)) >= 10, 30, "the readings published after")
        assert stack.value("ecowarn_mqtt_sessions_lost_total") == 1
    await _end_session(broker, cid)
