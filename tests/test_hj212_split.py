"""Uploads split over several packets (PNUM/PNO), reassembled by the gateway over real sockets."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from functools import partial

import pytest
from fix_hj212 import (
    HEX_MN,
    MN,
    OPEN_MN,
    TIMEOUT_S,
    Collector,
    Logger,
    make_registry,
    split_upload,
    upload,
)
from prometheus_client import CollectorRegistry
from psycopg_pool import AsyncConnectionPool

from ecowarn.config.registry import Registry
from ecowarn.ingest.hj212 import Hj212Gateway, Hj212Metrics, encode_packet, parse_segment
from ecowarn.ingest.hj212._split import SplitAssembler
from ecowarn.ingest.pipeline import IngestMetrics, IngestPipeline
from ecowarn.store.model import Row

QN = "20261123080000123"
TS = datetime(2026, 11, 23, 0, 0, tzinfo=UTC)  # DataTime 20261123080000 (UTC+8)
PARTS = ["DataTime=20261123080000;a21026-Rtd=12.3,a21026-Flag=N",
         "a21002-Rtd=40.1,a21002-Flag=N;a34013-Rtd=3.5,a34013-Flag=N",
         "DataTime=20261123080000;a19001-Rtd=10.2,a19001-Flag=N"]
ALL_ROWS = {(MN, "so2", TS, 12.3, "N"), (MN, "nox", TS, 40.1, "N"), (MN, "pm", TS, 3.5, "N"),
            (MN, "o2", TS, 10.2, "N")}
SPLIT_TIMEOUT_S = 1.0


@pytest.fixture
async def gateway(collector: Collector,
                  metrics_registry: CollectorRegistry) -> AsyncIterator[Hj212Gateway]:
    async with Hj212Gateway(make_registry(), collector, port=0,
                            metrics=Hj212Metrics(metrics_registry),
                            split_timeout_s=SPLIT_TIMEOUT_S) as gw:
        yield gw


def as_set(rows: list[Row]) -> set[tuple[object, ...]]:
    return {tuple(r) for r in rows}


def sample(registry: CollectorRegistry, name: str, **labels: str) -> float:
    return registry.get_sample_value(name, labels) or 0.0


async def expect_silence(logger: Logger, seconds: float = 0.2) -> None:
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(seconds):
            await logger.reader.readuntil(b"\r\n")


async def first_part_then_leave(port: int) -> bytes:
    """A logger sends part 1 of 3 of an upload, takes its answer and disconnects."""
    p1 = split_upload(QN, PARTS)[0]
    logger = await Logger.connect(port)
    await logger.send(p1)
    await logger.answer()
    await logger.close()
    return p1


async def test_parts_in_order_are_acked_each_and_stored_as_one_upload(
        gateway: Hj212Gateway, collector: Collector, metrics_registry: CollectorRegistry) -> None:
    """Each part with Flag=7 gets its 9014 as it arrives; the rows (the union of the parts'
    fields) reach the sink only with the last part, in one go."""
    p1, p2, p3 = split_upload(QN, PARTS)
    logger = await Logger.connect(gateway.port)
    for part in (p1, p2):
        await logger.send(part)
        ack = await logger.answer()
        assert (ack.cn, ack.qn, ack.mn, ack.flag) == ("9014", QN, MN, 4)
    assert collector.rows == [] and collector.calls == 0
    assert sample(metrics_registry, "ecowarn_hj212_split_pending") == 1
    await logger.send(p3)
    assert (await logger.answer()).cn == "9014"
    assert as_set(collector.rows) == ALL_ROWS and len(collector.rows) == 4
    assert collector.rejections == []
    assert sample(metrics_registry, "ecowarn_hj212_split_uploads_total", result="complete") == 1
    assert sample(metrics_registry, "ecowarn_hj212_split_pending") == 0
    assert sample(metrics_registry, "ecowarn_hj212_packets_total", result="accepted") == 3
    await logger.close()


async def test_parts_out_of_order(gateway: Hj212Gateway, collector: Collector) -> None:
    """Parts 3, 1, 2 (several in one write, too) make the same upload as 1, 2, 3."""
    p1, p2, p3 = split_upload(QN, PARTS)
    logger = await Logger.connect(gateway.port)
    await logger.send(p3)
    assert (await logger.answer()).cn == "9014"
    await logger.send(p1 + p2)
    assert [(await logger.answer()).cn for _ in range(2)] == ["9014", "9014"]
    assert as_set(collector.rows) == ALL_ROWS and len(collector.rows) == 4
    await logger.close()


async def test_a_part_sent_twice_is_answered_twice_and_stored_once(
        gateway: Hj212Gateway, collector: Collector, metrics_registry: CollectorRegistry) -> None:
    """A logger that missed an ack resends the part: it is acked again and not stored twice,
    also when the resend comes after the upload completed (no dead letter follows)."""
    p1, p2, p3 = split_upload(QN, PARTS)
    logger = await Logger.connect(gateway.port)
    await logger.send(p1 + p1 + p2 + p3)
    assert [(await logger.answer()).cn for _ in range(4)] == ["9014"] * 4
    await logger.send(p3)  # after completion
    assert (await logger.answer()).cn == "9014"
    await asyncio.sleep(SPLIT_TIMEOUT_S * 2)
    assert len(collector.rows) == 4 and as_set(collector.rows) == ALL_ROWS
    assert collector.rejections == []
    assert sample(metrics_registry, "ecowarn_hj212_packets_total", result="ignored") == 2
    assert sample(metrics_registry, "ecowarn_hj212_split_uploads_total", result="complete") == 1
    await logger.close()


async def test_missing_part_is_dead_lettered_after_the_timeout(
        gateway: Hj212Gateway, collector: Collector, metrics_registry: CollectorRegistry) -> None:
    """Parts 1 and 3 of 3, then nothing: after split_timeout_s the gateway dead-letters both
    raw parts as incomplete_split_packet by itself and keeps the connection open."""
    p1, _, p3 = split_upload(QN, PARTS)
    logger = await Logger.connect(gateway.port)
    await logger.send(p1 + p3)
    assert [(await logger.answer()).cn for _ in range(2)] == ["9014", "9014"]
    await collector.wait_for(rejections=1)
    [rej] = collector.rejections
    assert (rej.source, rej.reason, rej.device_id) == ("hj212", "incomplete_split_packet", MN)
    assert rej.payload == p1 + p3
    assert "2 of 3 parts" in rej.detail and "PNO 1,3" in rej.detail
    assert collector.rows == []
    assert sample(metrics_registry, "ecowarn_hj212_split_uploads_total", result="incomplete") == 1
    assert sample(metrics_registry, "ecowarn_hj212_rejections_total",
                  reason="incomplete_split_packet") == 1
    assert sample(metrics_registry, "ecowarn_hj212_split_pending") == 0
    await logger.send(upload("20261123080000999"))  # the connection still works
    assert (await logger.answer()).qn == "20261123080000999"
    await logger.close()


async def test_late_part_after_the_timeout_does_not_revive_the_upload(
        gateway: Hj212Gateway, collector: Collector) -> None:
    """A part arriving after its upload was dead-lettered starts a new incomplete upload."""
    p1, p2, _ = split_upload(QN, PARTS)
    logger = await Logger.connect(gateway.port)
    await logger.send(p1)
    await logger.answer()
    await collector.wait_for(rejections=1)
    await logger.send(p2)
    await logger.answer()
    await collector.wait_for(rejections=2)
    assert [r.payload for r in collector.rejections] == [p1, p2]
    assert collector.rows == []
    await logger.close()


async def test_two_uploads_interleaved_on_one_connection(
        gateway: Hj212Gateway, collector: Collector) -> None:
    """Parts of two QNs sent alternately are kept apart: each upload gets its own rows."""
    qn_b = "20261123080100456"
    a1, a2 = split_upload(QN, ["DataTime=20261123080000;a21026-Rtd=1", "a21002-Rtd=2"])
    b1, b2 = split_upload(qn_b, ["DataTime=20261123080100;a21026-Rtd=3", "a21002-Rtd=4"])
    logger = await Logger.connect(gateway.port)
    for part in (a1, b1, b2, a2):
        await logger.send(part)
        await logger.answer()
    later = TS + timedelta(minutes=1)
    assert as_set(collector.rows) == {(MN, "so2", TS, 1.0, "N"), (MN, "nox", TS, 2.0, "N"),
                                      (MN, "so2", later, 3.0, "N"), (MN, "nox", later, 4.0, "N")}
    assert collector.rejections == []
    await logger.close()


async def test_conflicting_values_reject_the_whole_upload(
        gateway: Hj212Gateway, collector: Collector, metrics_registry: CollectorRegistry) -> None:
    """A field with different values in two parts: the upload is dead-lettered whole as
    conflicting_split_packet and the last part is answered 9011 QnRtn=2."""
    p1, p2 = split_upload(QN, ["DataTime=20261123080000;a21026-Rtd=1", "a21026-Rtd=2"])
    logger = await Logger.connect(gateway.port)
    await logger.send(p1)
    assert (await logger.answer()).cn == "9014"
    await logger.send(p2)
    nak = await logger.answer()
    assert (nak.cn, nak.qn, list(nak.cp_fields())) == ("9011", QN, [("QnRtn", "2")])
    [rej] = collector.rejections
    assert (rej.reason, rej.payload) == ("conflicting_split_packet", p1 + p2)
    assert "a21026-Rtd" in rej.detail
    assert collector.rows == []
    assert sample(metrics_registry, "ecowarn_hj212_split_uploads_total", result="rejected") == 1
    await logger.close()


async def test_same_pno_with_other_content_is_rejected(
        gateway: Hj212Gateway, collector: Collector) -> None:
    """A second PNO 1 that differs from the first is dead-lettered; the upload goes on."""
    p1, p2 = split_upload(QN, ["DataTime=20261123080000;a21026-Rtd=1", "a21002-Rtd=2"])
    [other] = split_upload(QN, ["DataTime=20261123080000;a21026-Rtd=9"], pnum=2)
    logger = await Logger.connect(gateway.port)
    await logger.send(p1 + other + p2)
    answers = [await logger.answer() for _ in range(3)]
    assert [a.cn for a in answers] == ["9014", "9011", "9014"]
    assert [r.reason for r in collector.rejections] == ["conflicting_split_packet"]
    assert collector.rejections[0].payload == other
    assert as_set(collector.rows) == {(MN, "so2", TS, 1.0, "N"), (MN, "nox", TS, 2.0, "N")}
    await logger.close()


@pytest.mark.parametrize(("pnum", "pno"), [("3", "4"), ("3", "0"), ("x", "1"), ("65", "1")])
async def test_unusable_pnum_or_pno_is_rejected(gateway: Hj212Gateway, collector: Collector,
                                                pnum: str, pno: str) -> None:
    """PNO outside 1..PNUM, a PNUM that is not a number or above 64: bad_split_header."""
    packet = encode_packet(f"QN={QN};ST=31;CN=2011;PW=123456;MN={MN};Flag=7;PNUM={pnum};"
                           f"PNO={pno};CP=&&DataTime=20261123080000;a21026-Rtd=1&&")
    logger = await Logger.connect(gateway.port)
    await logger.send(packet)
    nak = await logger.answer()
    assert (nak.cn, list(nak.cp_fields())) == ("9011", [("QnRtn", "2")])
    assert [(r.reason, r.payload) for r in collector.rejections] == [("bad_split_header", packet)]
    await logger.close()


async def test_one_part_upload_is_an_ordinary_packet(gateway: Hj212Gateway,
                                                     collector: Collector) -> None:
    """PNUM=1, PNO=1 is stored at once like an unsplit packet."""
    [only] = split_upload(QN, [PARTS[0]])
    logger = await Logger.connect(gateway.port)
    await logger.send(only)
    assert (await logger.answer()).cn == "9014"
    assert as_set(collector.rows) == {(MN, "so2", TS, 12.3, "N")}
    await logger.close()


async def test_flag_6_parts_get_no_answer(gateway: Hj212Gateway, collector: Collector) -> None:
    """Flag=6 (split, no answer wanted): nothing is sent back, the upload is still stored."""
    parts = split_upload(QN, PARTS, flag=6)
    logger = await Logger.connect(gateway.port)
    await logger.send(b"".join(parts))
    await collector.wait_for(rows=4)
    await expect_silence(logger)
    assert as_set(collector.rows) == ALL_ROWS
    await logger.close()


async def test_a_wrong_password_on_one_part_rejects_that_part_only(
        gateway: Hj212Gateway, collector: Collector) -> None:
    """Each part is authenticated on its own: a part with a wrong PW is rejected (QnRtn=3) and
    does not count towards the upload, which completes once the right part is resent."""
    p1, p2 = split_upload(QN, ["DataTime=20261123080000;a21026-Rtd=1", "a21002-Rtd=2"])
    bad2 = split_upload(QN, ["", "a21002-Rtd=2"], pw="000000")[1]
    logger = await Logger.connect(gateway.port)
    await logger.send(p1 + bad2)
    answers = [await logger.answer() for _ in range(2)]
    assert [(a.cn, list(a.cp_fields())) for a in answers] == [("9014", []),
                                                              ("9011", [("QnRtn", "3")])]
    assert collector.rows == []
    await logger.send(p2)
    assert (await logger.answer()).cn == "9014"
    assert as_set(collector.rows) == {(MN, "so2", TS, 1.0, "N"), (MN, "nox", TS, 2.0, "N")}
    assert [r.reason for r in collector.rejections] == ["bad_password"]
    await logger.close()


async def test_parts_over_two_connections_are_joined(
        collector: Collector, metrics_registry: CollectorRegistry) -> None:
    """A logger that reconnects mid-upload sends the rest over its new connection: the parts
    are joined into one upload, acked on the connection each came over."""
    p1, p2, p3 = split_upload(QN, PARTS)
    async with Hj212Gateway(make_registry(), collector, port=0, split_timeout_s=TIMEOUT_S,
                            metrics=Hj212Metrics(metrics_registry)) as gw:
        first = await Logger.connect(gw.port)
        await first.send(p1)
        assert (await first.answer()).qn == QN
        await first.close()
        second = await Logger.connect(gw.port)
        await second.send(p2)
        assert (await second.answer()).qn == QN
        assert collector.rows == [] and collector.rejections == []
        assert sample(metrics_registry, "ecowarn_hj212_split_pending") == 1
        await second.send(p3)
        assert (await second.answer()).cn == "9014"
        assert as_set(collector.rows) == ALL_ROWS and len(collector.rows) == 4
        await second.send(p1)  # a resend of a part of the completed upload: answered only
        assert (await second.answer()).qn == QN
        await second.close()
    assert len(collector.rows) == 4 and collector.rejections == []
    assert sample(metrics_registry, "ecowarn_hj212_split_uploads_total", result="complete") == 1
    assert sample(metrics_registry, "ecowarn_hj212_split_pending") == 0


async def test_a_last_part_whose_storing_failed_is_completed_by_its_resend(
        collector: Collector) -> None:
    """The sink fails on the part that completes an upload: no answer, the connection closes.
    The logger sends that part again over a new connection: the upload is stored whole."""
    p1, p2, p3 = split_upload(QN, PARTS)
    async with Hj212Gateway(make_registry(), collector, port=0, split_timeout_s=TIMEOUT_S) as gw:
        first = await Logger.connect(gw.port)
        for part in (p1, p2):
            await first.send(part)
            await first.answer()
        collector.fail = True
        await first.send(p3)
        async with asyncio.timeout(TIMEOUT_S):
            assert await first.reader.read() == b""  # closed, unanswered
        await first.close()
        collector.fail = False
        second = await Logger.connect(gw.port)
        await second.send(p3)
        assert (await second.answer()).cn == "9014"
        await second.close()
    assert as_set(collector.rows) == ALL_ROWS and len(collector.rows) == 4
    assert collector.rejections == []


async def test_dead_letters_the_sink_refused_are_tried_again(collector: Collector) -> None:
    """An upload times out while the sink fails: its dead letter is kept and handed over once
    the sink works again, exactly once."""
    async with Hj212Gateway(make_registry(), collector, port=0, split_timeout_s=0.5) as gw:
        p1 = await first_part_then_leave(gw.port)
        collector.fail = True
        async with asyncio.timeout(TIMEOUT_S):
            while collector.calls == 0 and gw.pending_dead_letters == 0:  # noqa: ASYNC110
                await asyncio.sleep(0.05)
        assert collector.rejections == [] and gw.pending_dead_letters == 1
        collector.fail = False
        await collector.wait_for(rejections=1)
        await asyncio.sleep(1.5)  # more than the retry backoff: nothing is sent twice
        assert gw.pending_dead_letters == 0
    assert [(r.reason, r.payload) for r in collector.rejections] == [
        ("incomplete_split_packet", p1)]


async def test_an_upload_outlives_its_connection_until_the_timeout(
        collector: Collector) -> None:
    """A disconnect does not end the upload; the timeout does (the parts are dead-lettered)."""
    async with Hj212Gateway(make_registry(), collector, port=0, split_timeout_s=1.0) as gw:
        p1 = await first_part_then_leave(gw.port)
        await asyncio.sleep(0.4)
        assert collector.rejections == []
        await collector.wait_for(rejections=1)
    [rej] = collector.rejections
    assert (rej.reason, rej.payload) == ("incomplete_split_packet", p1)
    assert "not complete 1 s after its first part" in rej.detail


async def test_gateway_shutdown_dead_letters_incomplete_uploads(collector: Collector) -> None:
    """Leaving the gateway's context with an upload half received dead-letters its parts."""
    p1, _ = split_upload(QN, ["DataTime=20261123080000;a21026-Rtd=1", "a21002-Rtd=2"])
    async with Hj212Gateway(make_registry(), collector, port=0) as gw:
        logger = await Logger.connect(gw.port)
        await logger.send(p1)
        await logger.answer()
    assert [(r.reason, r.payload) for r in collector.rejections] == [
        ("incomplete_split_packet", p1)]
    assert "shutting down" in collector.rejections[0].detail
    await logger.close()


async def test_pending_uploads_per_device_are_bounded(
        collector: Collector, metrics_registry: CollectorRegistry) -> None:
    """With max_split_uploads=2 a device's third open upload pushes out its oldest,
    dead-lettered; another device's upload, older still, is not touched."""
    async with Hj212Gateway(make_registry(), collector, port=0, max_split_uploads=2,
                            metrics=Hj212Metrics(metrics_registry)) as gw:
        logger = await Logger.connect(gw.port)
        other = split_upload("20261123080000999", PARTS, mn=OPEN_MN, pw="")[0]
        firsts = [split_upload(f"2026112308000000{i}", PARTS)[0] for i in range(3)]
        for part in (other, *firsts):
            await logger.send(part)
            await logger.answer()
        await collector.wait_for(rejections=1)
        [rej] = collector.rejections
        assert (rej.reason, rej.payload) == ("incomplete_split_packet", firsts[0])
        assert "at most 2 pending per device" in rej.detail
        assert sample(metrics_registry, "ecowarn_hj212_split_pending") == 3
        await logger.close()
    assert sorted(r.payload for r in collector.rejections[1:]) == sorted([other, *firsts[1:]])
    assert sample(metrics_registry, "ecowarn_hj212_split_pending") == 0


async def test_strict_mode_wants_the_split_bit_with_pnum(collector: Collector) -> None:
    """Strict: PNUM/PNO with Flag=5 (no D bit), or Flag=7 without them, is bad_split_header;
    lenient stores PNUM/PNO uploads whatever their Flag."""
    hex_parts = partial(split_upload, mn=HEX_MN, pw="100000")
    no_bit = hex_parts(QN, PARTS, flag=5)
    no_pnum = encode_packet(f"QN={QN};ST=31;CN=2011;PW=100000;MN={HEX_MN};Flag=7;"
                            "CP=&&DataTime=20261123080000;a21026-Rtd=1&&")
    async with Hj212Gateway(make_registry(), collector, port=0, strict=True) as gw:
        logger = await Logger.connect(gw.port)
        await logger.send(no_bit[0] + no_pnum + b"".join(hex_parts("20261123080000999", PARTS)))
        answers = [await logger.answer() for _ in range(5)]
        await logger.close()
    assert [(a.cn, list(a.cp_fields())) for a in answers[:2]] == [
        ("9011", [("QnRtn", "2")]), ("9011", [("QnRtn", "2")])]
    assert [a.cn for a in answers[2:]] == ["9014"] * 3
    assert [r.reason for r in collector.rejections] == ["bad_split_header", "bad_split_header"]
    assert {r.device_id for r in collector.rows} == {HEX_MN} and len(collector.rows) == 4

    lenient = Collector()
    async with Hj212Gateway(make_registry(), lenient, port=0) as gw:
        logger = await Logger.connect(gw.port)
        await logger.send(b"".join(split_upload(QN, PARTS, flag=5)))
        assert [(await logger.answer()).cn for _ in range(3)] == ["9014"] * 3
        await logger.close()
    assert as_set(lenient.rows) == ALL_ROWS


def test_assembler_bounds_bytes_and_expires_oldest_first() -> None:
    """The byte bound abandons the oldest upload; expiry goes by first-part arrival."""
    packets = [split_upload(f"Q{i}", PARTS)[0] for i in range(3)]  # all of one length
    asm = SplitAssembler(timeout_s=10, max_uploads=8, max_bytes=len(packets[0]) * 5 // 2)
    added = [asm.add((MN, f"Q{i}", "2011"), 3, 1, parse_segment(p[6:-6]), p, now=float(i))
             for i, p in enumerate(packets)]
    assert [a.status for a in added] == ["pending", "pending", "pending"]
    assert [ab.key[1] for ab in added[2].evicted] == ["Q0"]
    assert asm.pending_bytes == len(packets[1]) + len(packets[2])
    assert asm.next_deadline == 11.0
    assert [ab.key[1] for ab in asm.expire(11.5)] == ["Q1"]
    assert asm.expire(11.9) == [] and asm.pending_uploads == 1


def test_assembler_bounds_bytes_per_device_and_in_all() -> None:
    """A device over its bytes loses its own oldest upload; over the total, the gateway's
    oldest upload goes, whichever device it belongs to."""
    size = len(split_upload("Q0", PARTS, mn="A")[0])  # the same for every MN and QN below
    asm = SplitAssembler(timeout_s=10, max_uploads=8, max_bytes=size * 2, max_total_bytes=size * 3)

    def first_part(mn: str, qn: str, now: float) -> list[str]:
        p = split_upload(qn, PARTS, mn=mn)[0]
        res = asm.add((mn, qn, "2011"), 3, 1, parse_segment(p[6:-6]), p, now=now)
        assert res.status == "pending"
        return [f"{ab.key[0]}/{ab.key[1]}" for ab in res.evicted]

    assert first_part("A", "Q1", 0) == [] and first_part("B", "Q2", 1) == []
    assert first_part("B", "Q3", 2) == []  # B holds 2 parts: at its bound, not over it
    assert first_part("B", "Q4", 3) == ["B/Q2"]  # over B's bytes: B's oldest
    assert first_part("C", "Q5", 4) == ["A/Q1"]  # over the total: the oldest of all
    assert asm.pending_uploads == 3 and asm.pending_bytes == size * 3


def test_a_completing_part_makes_no_room() -> None:
    """The part that completes an upload frees its bytes: it evicts nothing, not even at the
    device's or the gateway's byte bound."""
    s1, s2, _ = map(len, split_upload("Q1", PARTS, mn="A"))  # B's first part is s1 long too
    asm = SplitAssembler(timeout_s=10, max_uploads=8, max_bytes=s1 + s2,
                         max_total_bytes=s1 + s1 + s2)

    def part(mn: str, qn: str, pno: int) -> tuple[str, tuple[str, ...]]:
        p = split_upload(qn, PARTS, mn=mn)[pno - 1]
        res = asm.add((mn, qn, "2011"), 3, pno, parse_segment(p[6:-6]), p, now=0.0)
        return res.status, tuple(f"{ab.key[0]}/{ab.key[1]}" for ab in res.evicted)

    assert part("B", "Q9", 1) == ("pending", ())
    assert part("A", "Q1", 1) == ("pending", ()) and part("A", "Q1", 2) == ("pending", ())
    assert part("A", "Q1", 3) == ("complete", ())  # A at its bound, all at theirs: no eviction
    assert asm.pending_uploads == 1 and asm.pending_bytes == s1


async def test_split_upload_into_postgresql(database: str, sample_registry: Registry) -> None:
    """With the real pipeline: a reassembled upload lands in readings (acked after commit),
    an incomplete one in dead_letters with its raw parts."""
    metrics = CollectorRegistry()
    done_qn, open_qn = "20261123080000001", "20261123080000002"
    complete = split_upload(done_qn, PARTS)
    incomplete = split_upload(open_qn, PARTS)[:2]
    async with AsyncConnectionPool(database, min_size=1, max_size=4, open=False) as pool:
        async with IngestPipeline(pool, sample_registry, IngestMetrics(metrics),
                                  flush_ms=10) as pipeline:
            async with Hj212Gateway(sample_registry, partial(pipeline.submit, wait=True), port=0,
                                    metrics=Hj212Metrics(metrics),
                                    split_timeout_s=SPLIT_TIMEOUT_S) as gw:
                logger = await Logger.connect(gw.port)
                await logger.send(b"".join(complete + incomplete))
                assert [(await logger.answer()).cn for _ in range(5)] == ["9014"] * 5
                async with asyncio.timeout(TIMEOUT_S):
                    # The gateway exposes no event for this; its metric is what operators see.
                    while not sample(metrics, "ecowarn_hj212_split_uploads_total",  # noqa: ASYNC110
                                     result="incomplete"):
                        await asyncio.sleep(0.02)
                await logger.close()
            await pipeline.drain(TIMEOUT_S)
        async with pool.connection() as conn:
            cur = await conn.execute("SELECT device_id, metric, ts, value, flag FROM readings "
                                     "ORDER BY metric")
            readings = await cur.fetchall()
            cur = await conn.execute("SELECT source, device_id, reason, payload FROM dead_letters")
            dead = await cur.fetchall()
    assert {tuple(r) for r in readings} == ALL_ROWS
    assert [(s, d, r, bytes(p)) for s, d, r, p in dead] == [
        ("hj212", MN, "incomplete_split_packet", b"".join(incomplete))]


async def test_open_device_parts_need_no_password(gateway: Hj212Gateway,
                                                  collector: Collector) -> None:
    """Parts from a device registered without a password are reassembled like any other."""
    parts = split_upload(QN, PARTS[:2], mn=OPEN_MN, pw="")
    logger = await Logger.connect(gateway.port)
    await logger.send(b"".join(parts))
    assert [(await logger.answer()).cn for _ in range(2)] == ["9014"] * 2
    assert {r.device_id for r in collector.rows} == {OPEN_MN} and len(collector.rows) == 3
    await logger.close()


async def test_split_bounds_come_from_the_environment(
        database: str, sample_registry: Registry, tmp_path: object,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """ECOWARN_HJ212_SPLIT_TIMEOUT_S / _MAX_SPLIT_UPLOADS / _MAX_SPLIT_BYTES(_TOTAL) reach the
    gateway;
    a bad value names its variable."""
    from ecowarn.config.settings import SettingsError, load_settings
    from ecowarn.service import open_service

    monkeypatch.setenv("ECOWARN_HJ212_SPLIT_TIMEOUT_S", "7.5")
    monkeypatch.setenv("ECOWARN_HJ212_MAX_SPLIT_UPLOADS", "3")
    monkeypatch.setenv("ECOWARN_HJ212_MAX_SPLIT_BYTES", "65536")
    monkeypatch.setenv("ECOWARN_HJ212_MAX_SPLIT_BYTES_TOTAL", "1048576")
    settings = load_settings(database_url=database, hj212_port=0, spool_dir=str(tmp_path),
                             runner="off")
    async with open_service(settings, sample_registry, mqtt=False, http=False) as svc:
        assert svc.gateway is not None
        assert (svc.gateway.split_timeout_s, svc.gateway.max_split_uploads,
                svc.gateway.max_split_bytes,
                svc.gateway.max_split_bytes_total) == (7.5, 3, 65536, 1048576)
    monkeypatch.setenv("ECOWARN_HJ212_MAX_SPLIT_UPLOADS", "0")
    with pytest.raises(SettingsError, match="ECOWARN_HJ212_MAX_SPLIT_UPLOADS"):
        load_settings()
