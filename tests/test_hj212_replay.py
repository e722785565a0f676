"""HJ 212 dead letters replayed after a registry fix: decoded again as the gateway would, and
through the API of a service restarted with the fixed registry."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

import httpx
import psycopg
from fix_hj212 import MN, T0, make_registry, split_upload, upload
from prometheus_client import CollectorRegistry

from ecowarn.config.registry import Registry
from ecowarn.config.settings import load_settings
from ecowarn.ingest.hj212.gateway import decode_for_replay
from ecowarn.service import open_service
from ecowarn.store.tokens import create_token

PARTS = ["DataTime=20261123080000;a21026-Rtd=12.3,a21026-Flag=N",
         "a21002-Rtd=40.1,a21002-Flag=N",
         "DataTime=20261123080000;a19001-Rtd=10.2,a19001-Flag=N"]


def without(registry: Registry, device_id: str) -> Registry:
    return dataclasses.replace(registry, devices={k: v for k, v in registry.devices.items()
                                                  if k != device_id})


def test_unknown_device_decodes_once_registered() -> None:
    packet = upload("20261123080000001")
    rows, rejections = decode_for_replay(without(make_registry(), MN), packet)
    assert rows == [] and [r.reason for r in rejections] == ["unknown_device"]
    assert rejections[0].payload == packet  # kept whole for the next replay
    rows, rejections = decode_for_replay(make_registry(), packet)
    assert rejections == []
    assert {(r.device_id, r.metric, r.ts, r.value, r.flag) for r in rows} == {
        (MN, "so2", T0, 12.3, "N"), (MN, "nox", T0, 40.1, "N")}


def test_split_upload_parts_kept_together_decode_whole_or_stay_incomplete() -> None:
    parts = split_upload("20261123080000002", PARTS)
    rows, rejections = decode_for_replay(make_registry(), b"".join(parts))
    assert rejections == []
    assert sorted((r.metric, r.value) for r in rows) == [("nox", 40.1), ("o2", 10.2),
                                                          ("so2", 12.3)]
    rows, rejections = decode_for_replay(make_registry(), parts[0] + parts[2])
    assert rows == [] and [r.reason for r in rejections] == ["incomplete_split_packet"]
    assert rejections[0].payload == parts[0] + parts[2]


def test_bad_crc_stays_rejected() -> None:
    packet = bytearray(upload("20261123080000003"))
    packet[-6:-2] = b"0000" if packet[-6:-2] != b"0000" else b"FFFF"
    rows, rejections = decode_for_replay(make_registry(), bytes(packet))
    assert rows == [] and [r.reason for r in rejections] == ["bad_crc"]


async def _send(port: int, data: bytes) -> None:
    _reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(data)
    await writer.drain()
    await asyncio.sleep(0.3)
    writer.close()
    await writer.wait_closed()


async def _wait_dead_letter(dsn: str) -> int:
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
        for _ in range(200):
            cur = await conn.execute("SELECT id FROM dead_letters WHERE source = 'hj212'"
                                     " AND reason = 'unknown_device'")
            row = await cur.fetchone()
            if row is not None:
                return int(row[0])
            await asyncio.sleep(0.05)
    raise AssertionError("the packet of the unregistered logger was not dead-lettered")


async def test_replay_through_the_api_after_the_logger_is_registered(
        database: str, tmp_path: Any) -> None:
    """A logger not yet in the registry sends over TCP: dead-lettered. The service restarts
    with the logger registered; replaying the dead letter stores its readings."""
    settings = load_settings(database_url=database, hj212_port=0, spool_dir=str(tmp_path),
                             runner="off")
    async with open_service(settings, without(make_registry(), MN), mqtt=False, http=False,
                            metrics_registry=CollectorRegistry()) as svc:
        assert svc.gateway is not None
        await _send(svc.gateway.port, upload("20261123080000004", values={"so2": 7.5}))
        dead = await _wait_dead_letter(database)
    async with open_service(settings, make_registry(), mqtt=False, http=False, hj212=False,
                            metrics_registry=CollectorRegistry()) as svc:
        async with await psycopg.AsyncConnection.connect(database, autocommit=True) as conn:
            token = await create_token(conn, role="officer")
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=svc.app),
                                     base_url="http://svc",
                                     headers={"Authorization": f"Bearer {token}"}) as client:
            r = await client.post(f"/api/v1/dead-letters/{dead}/replay")
            assert r.status_code == 200
            assert r.json() == {"id": dead, "result": "stored", "rows": 1}
        async with await psycopg.AsyncConnection.connect(database, autocommit=True) as conn:
            cur = await conn.execute("SELECT device_id, metric, ts, value FROM readings")
            assert await cur.fetchall() == [(MN, "so2", T0, 7.5)]
            cur = await conn.execute("SELECT replay_result FROM dead_letters WHERE id = %s",
                                     (dead,))
            assert await cur.fetchone() == ("stored",)
