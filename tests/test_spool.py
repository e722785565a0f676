"""The on-disk ingest spool on its own: order, durability, recovery, bounds, ownership."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from ecowarn.ingest.spool import Spool, SpoolBatch, SpoolLocked, SpoolMetrics
from ecowarn.store.model import Rejection, Row

T0 = datetime(2026, 11, 23, tzinfo=UTC)


def batch(i: int, n_rows: int = 3) -> SpoolBatch:
    rows = [Row(f"DEV-{i}", "p", T0 + timedelta(minutes=k), float(i * 100 + k), "N")
            for k in range(n_rows)]
    return SpoolBatch(arrived=1_800_000_000.0 + i, rows=rows, rejections=[])


async def drain_all(spool: Spool, max_rows: int = 1000) -> list[SpoolBatch]:
    out: list[SpoolBatch] = []
    while spool.pending_records:
        chunk = await spool.read(max_rows)
        out.extend(chunk.batches)
        await spool.consume(chunk)
    return out


async def test_batches_come_back_in_order_and_intact(tmp_path: Path) -> None:
    """Rows (aware timestamps, nulls, flags) and rejections (raw bytes) survive the round trip in order."""
    cst = timezone(timedelta(hours=8))
    special = SpoolBatch(
        arrived=1.5,
        rows=[Row("13010500000001", "so2", datetime(2026, 11, 23, 8, 1, tzinfo=cst), None, "M")],
        rejections=[Rejection("mqtt", "naive_timestamp", "no offset", b"\x00\xff{", "t/x", "D1")])
    async with Spool(tmp_path / "spool", max_bytes=1 << 20) as spool:
        for i in range(5):
            await spool.append(batch(i))
        await spool.append(special)
        got = await drain_all(spool, max_rows=4)
    assert [b.rows[0].device_id for b in got[:5]] == [f"DEV-{i}" for i in range(5)]
    assert got[:5] == [batch(i) for i in range(5)]
    last = got[5]
    assert last.rows[0].ts == datetime(2026, 11, 23, 0, 1, tzinfo=UTC)
    assert last.rows[0].value is None and last.rows[0].flag == "M"
    assert last.rejections == special.rejections


async def test_unconsumed_batches_survive_a_restart_and_resume_at_the_cursor(tmp_path: Path) -> None:
    """After a restart the spool holds exactly the batches not yet consumed, oldest first."""
    d = tmp_path / "spool"
    async with Spool(d, max_bytes=1 << 20) as spool:
        for i in range(6):
            await spool.append(batch(i))
        chunk = await spool.read(max_rows=6)  # two batches of three rows
        assert chunk.records == 2
        await spool.consume(chunk)
    async with Spool(d, max_bytes=1 << 20) as spool:
        assert spool.pending_records == 4
        assert spool.pending_rows == 12
        got = await drain_all(spool)
    assert got == [batch(i) for i in range(2, 6)]
    async with Spool(d, max_bytes=1 << 20) as spool:
        assert spool.pending_records == 0 and spool.pending_bytes == 0


async def test_torn_last_record_is_cut_off_at_start(tmp_path: Path) -> None:
    """A record half written when the process died (never acknowledged) is dropped; the rest is kept."""
    d = tmp_path / "spool"
    async with Spool(d, max_bytes=1 << 20) as spool:
        for i in range(3):
            await spool.append(batch(i))
    seg = sorted(d.glob("*.seg"))[-1]
    data = seg.read_bytes()
    seg.write_bytes(data + data[:20])  # the start of a fourth record
    async with Spool(d, max_bytes=1 << 20) as spool:
        assert spool.pending_records == 3
        await spool.append(batch(3))
        got = await drain_all(spool)
    assert got == [batch(i) for i in range(4)]


async def test_damaged_segment_keeps_good_records_and_is_set_aside(tmp_path: Path) -> None:
    """A bad record inside an older segment keeps the records before it and counts the damage."""
    d = tmp_path / "spool"
    metrics = CollectorRegistry()
    async with Spool(d, max_bytes=64 << 20, segment_bytes=200) as spool:
        for i in range(4):  # about 100 bytes each: two segments
            await spool.append(batch(i))
    segs = sorted(d.glob("*.seg"))
    assert len(segs) >= 2
    first = bytearray(segs[0].read_bytes())
    first[-3] ^= 0xFF  # flip a byte in the first segment's last record
    segs[0].write_bytes(bytes(first))
    async with Spool(d, max_bytes=64 << 20, segment_bytes=200,
                     metrics=SpoolMetrics(metrics)) as spool:
        got = await drain_all(spool)
    assert metrics.get_sample_value("ecowarn_spool_corrupt_segments_total") == 1
    assert list(d.glob("*.corrupt"))
    ids = [b.rows[0].device_id for b in got]
    assert ids == sorted(ids) and "DEV-3" in ids and len(ids) == 3


async def test_full_spool_blocks_the_append_until_replay_frees_room(tmp_path: Path) -> None:
    """With max_bytes reached, append waits (backpressure) and completes once a chunk is consumed."""
    metrics = CollectorRegistry()
    async with Spool(tmp_path / "spool", max_bytes=250, metrics=SpoolMetrics(metrics)) as spool:
        await spool.append(batch(0))
        await spool.append(batch(1))
        assert spool.pending_bytes > 150
        blocked = asyncio.create_task(spool.append(batch(2)))
        for _ in range(100):
            if metrics.get_sample_value("ecowarn_spool_full") == 1:
                break
            await asyncio.sleep(0.01)
        assert metrics.get_sample_value("ecowarn_spool_full") == 1
        assert not blocked.done()
        chunk = await spool.read(max_rows=3)
        await spool.consume(chunk)
        await asyncio.wait_for(blocked, 5)
        assert metrics.get_sample_value("ecowarn_spool_full") == 0
        assert [b.rows[0].device_id for b in await drain_all(spool)] == ["DEV-1", "DEV-2"]


async def test_depth_metrics_follow_appends_and_replay(tmp_path: Path) -> None:
    """ecowarn_spool_bytes/records/rows rise with appends and fall to zero as batches are consumed."""
    metrics = CollectorRegistry()
    async with Spool(tmp_path / "spool", max_bytes=1 << 20, metrics=SpoolMetrics(metrics)) as spool:
        for i in range(3):
            await spool.append(batch(i, n_rows=2))
        assert metrics.get_sample_value("ecowarn_spool_records") == 3
        assert metrics.get_sample_value("ecowarn_spool_rows") == 6
        assert metrics.get_sample_value("ecowarn_spool_bytes") == spool.pending_bytes > 0
        await drain_all(spool)
        assert metrics.get_sample_value("ecowarn_spool_records") == 0
        assert metrics.get_sample_value("ecowarn_spool_bytes") == 0
        assert metrics.get_sample_value("ecowarn_spool_replayed_total") == 3


async def test_replayed_segments_are_deleted(tmp_path: Path) -> None:
    """Disk use stays bounded: once replayed, all but the segment taking appends are removed."""
    d = tmp_path / "spool"
    async with Spool(d, max_bytes=64 << 20, segment_bytes=250) as spool:
        for i in range(20):
            await spool.append(batch(i))
        assert len(list(d.glob("*.seg"))) >= 5
        await drain_all(spool)
        assert len(list(d.glob("*.seg"))) == 1


async def test_second_owner_of_a_directory_is_refused(tmp_path: Path) -> None:
    """Two spools on one directory would interleave records: the second one fails to open."""
    d = tmp_path / "spool"
    async with Spool(d, max_bytes=1 << 20) as first:
        await first.append(batch(0))
        with pytest.raises(SpoolLocked, match="in use by another process"):
            async with Spool(d, max_bytes=1 << 20):
                pass


async def test_directory_is_created_only_when_first_needed(tmp_path: Path) -> None:
    """A service that never loses its database leaves no spool directory behind."""
    d = tmp_path / "spool"
    async with Spool(d, max_bytes=1 << 20) as spool:
        assert not d.exists()
        await spool.append(batch(0))
        assert d.exists()
