"""Fault injection: PostgreSQL unreachable for 30 s under a steady MQTT stream (real broker, real database)."""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path

import aiomqtt
import pytest
from conftest import eventually, via_proxy
from fix_ingest import ingest_stack, stored
from fix_proxy import TcpProxy
from fix_publisher import Publisher

from ecowarn.config.registry import Registry
from ecowarn.core.mqtturl import parse_mqtt_url
from ecowarn.ingest import pipeline as pipeline_mod

OUTAGE_S = 30.0


@pytest.mark.slow
@pytest.mark.timeout(150)
async def test_thirty_second_database_outage_loses_nothing_and_keeps_order(
        database: str, sample_registry: Registry, mqtt_url: str, db_proxy: TcpProxy,
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Readings published while the database is away are acked from the spool, then stored once, in order."""
    monkeypatch.setattr(pipeline_mod, "RETRY_INITIAL_S", 0.1)
    monkeypatch.setattr(pipeline_mod, "RETRY_MAX_S", 1.0)
    prefix = f"f{uuid.uuid4().hex[:8]}/"
    cid = f"collector-{prefix[:-1]}"
    pub = Publisher(mqtt_url, prefix, interval_s=0.01)
    async with ingest_stack(via_proxy(database, db_proxy), sample_registry, mqtt_url,
                            client_id=cid, prefix=prefix, spool_dir=tmp_path / "spool") as stack:
        publishing = asyncio.create_task(pub.run())
        await eventually(lambda: len(stored(database)) >= 100, 20, "readings stored before the outage")

        db_proxy.stop()
        cut_at = time.monotonic()
        before_outage = pub.sent
        acked_at_cut = stack.value("ecowarn_mqtt_acked_total")
        await eventually(lambda: stack.spool.pending_records > 0, 10, "the pipeline to start spooling")
        await eventually(lambda: stack.value("ecowarn_mqtt_acked_total") > acked_at_cut + 200, 20,
                         "acknowledgements of spooled messages while the database is down")
        stored_during = len(stored(database))
        # The outage lasts OUTAGE_S whatever happens above; this is its length, not a synchronisation.
        await asyncio.sleep(max(0.0, OUTAGE_S - (time.monotonic() - cut_at)))
        assert len(stored(database)) == stored_during, "nothing reached the database through the cut"
        during_outage = pub.sent - before_outage
        spooled = stack.spool.pending_rows
        db_proxy.start()

        await eventually(lambda: stack.spool.pending_records == 0, 60, "the spool to be replayed")
        pub.stop.set()
        await asyncio.wait_for(publishing, 10)
        await eventually(lambda: stack.value("ecowarn_mqtt_messages_total") >= pub.sent, 20,
                         "the collector to receive every published message")
        await stack.pipeline.drain(30)
        assert stack.pipeline.db_state == "ok"

    rows = stored(database)
    assert during_outage > 1000 and spooled > 1000
    assert len(rows) == pub.sent, "every reading exactly once"
    assert {(d, ts) for d, ts, _ in rows} == pub.expected(pub.sent)
    for dev in pub.devices:
        xids = [x for d, _, x in rows if d == dev]  # in event-time = publication order
        assert xids == sorted(xids), f"{dev}: committed in order of arrival"
    ep = parse_mqtt_url(mqtt_url)
    async with aiomqtt.Client(ep.host, ep.port, identifier=cid, clean_session=True):
        pass
