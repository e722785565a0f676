"""The HJ 212 TCP gateway, over real sockets on a free port."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from fix_hj212 import HEX_MN, MN, OPEN_MN, TIMEOUT_S, Collector, Logger, make_registry, upload
from prometheus_client import CollectorRegistry

from ecowarn.ingest.hj212 import Hj212Gateway, Hj212Metrics, encode_packet
from ecowarn.store.model import Row


@pytest.fixture
async def gateway(collector: Collector,
                  metrics_registry: CollectorRegistry) -> AsyncIterator[Hj212Gateway]:
    async with Hj212Gateway(make_registry(), collector, port=0,
                            metrics=Hj212Metrics(metrics_registry)) as gw:
        yield gw


async def test_port_zero_binds_a_free_port_and_nothing_opens_before_enter(
        collector: Collector) -> None:
    """The constructor opens nothing; __aenter__ binds (port 0 -> a real port); exit frees it."""
    gw = Hj212Gateway(make_registry(), collector, port=0)
    with pytest.raises(RuntimeError):
        _ = gw.port
    async with gw:
        assert gw.port > 0
        conn = await Logger.connect(gw.port)
        await conn.close()
    with pytest.raises(RuntimeError):
        _ = gw.port


async def test_data_ack_sent_when_flag_asks(gateway: Hj212Gateway, collector: Collector) -> None:
    """Flag=5: rows reach the sink and a 9014 with the same QN, PW and MN comes back."""
    logger = await Logger.connect(gateway.port)
    await logger.send(upload("20261123080000001"))
    ack = await logger.answer()
    assert (ack.qn, ack.st, ack.cn, ack.pw, ack.mn, ack.flag) == (
        "20261123080000001", "91", "9014", "123456", MN, 4)
    assert ack.cp == ()
    assert {(r.device_id, r.metric, r.value, r.flag) for r in collector.rows} == {
        (MN, "so2", 12.3, "N"), (MN, "nox", 40.1, "N")}
    await logger.close()


async def test_no_answer_when_flag_does_not_ask(gateway: Hj212Gateway,
                                                collector: Collector) -> None:
    """Flag=4: the data is stored and nothing is sent back."""
    logger = await Logger.connect(gateway.port)
    await logger.send(upload("20261123080000001", flag=4))
    await collector.wait_for(rows=2)
    await logger.send(upload("20261123080000002", flag=5))
    ack = await logger.answer()  # the first answer on the wire is for the second packet
    assert ack.qn == "20261123080000002"
    await logger.close()


async def test_ack_only_after_the_sink_returned(gateway: Hj212Gateway,
                                                collector: Collector) -> None:
    """While the sink blocks (backpressure) no ack is sent; it follows the sink's return."""
    collector.gate = asyncio.Event()
    logger = await Logger.connect(gateway.port)
    await logger.send(upload("20261123080000001"))
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.3):
            await logger.reader.readuntil(b"\r\n")
    assert collector.rows == []
    collector.gate.set()
    assert (await logger.answer()).cn == "9014"
    assert len(collector.rows) == 2
    await logger.close()


async def test_bad_crc_dead_lettered_and_next_packet_accepted(
        gateway: Hj212Gateway, collector: Collector, metrics_registry: CollectorRegistry) -> None:
    """A wrong CRC is dead-lettered with its bytes (answer QnRtn=9); the connection goes on."""
    good = upload("20261123080000001")
    bad = good[:-6] + (b"0000" if good[-6:-2] != b"0000" else b"FFFF") + b"\r\n"
    logger = await Logger.connect(gateway.port)
    await logger.send(bad)
    nak = await logger.answer()
    assert (nak.cn, nak.qn, list(nak.cp_fields())) == ("9011", "20261123080000001",
                                                       [("QnRtn", "9")])
    await logger.send(upload("20261123080000002"))
    assert (await logger.answer()).cn == "9014"
    [rej] = collector.rejections
    assert (rej.source, rej.reason, rej.payload, rej.device_id) == ("hj212", "bad_crc", bad, MN)
    assert len(collector.rows) == 2
    assert metrics_registry.get_sample_value("ecowarn_hj212_packets_total",
                                             {"result": "rejected"}) == 1
    assert metrics_registry.get_sample_value("ecowarn_hj212_packets_total",
                                             {"result": "accepted"}) == 1
    await logger.close()


async def test_wrong_password_rejected(gateway: Hj212Gateway, collector: Collector) -> None:
    """A wrong PW is rejected as bad_password with the raw packet; QnRtn=3 when asked."""
    packet = upload("20261123080000001", pw="000000")
    logger = await Logger.connect(gateway.port)
    await logger.send(packet)
    nak = await logger.answer()
    assert nak.cn == "9011" and list(nak.cp_fields()) == [("QnRtn", "3")]
    await collector.wait_for(rejections=1)
    [rej] = collector.rejections
    assert (rej.reason, rej.payload, rej.device_id) == ("bad_password", packet, MN)
    assert collector.rows == []
    await logger.close()


async def test_unknown_device_and_kind_mismatch(gateway: Hj212Gateway,
                                                collector: Collector) -> None:
    """An MN not in the registry, or not a cems device, is rejected (QnRtn=4)."""
    logger = await Logger.connect(gateway.port)
    await logger.send(upload("1", mn="99999999999999") + upload("2", mn="PWR-1"))
    assert [list((await logger.answer()).cp_fields()) for _ in range(2)] == [
        [("QnRtn", "4")], [("QnRtn", "4")]]
    assert [r.reason for r in collector.rejections] == ["unknown_device", "kind_mismatch"]
    await logger.close()


async def test_device_without_password_is_accepted_with_any_pw(
        gateway: Hj212Gateway, collector: Collector) -> None:
    """A registry device with no password is not PW-checked."""
    logger = await Logger.connect(gateway.port)
    await logger.send(upload("1", mn=OPEN_MN, pw="whatever"))
    assert (await logger.answer()).cn == "9014"
    assert {r.device_id for r in collector.rows} == {OPEN_MN}
    await logger.close()


async def test_minute_data_time_is_mapped_to_utc(gateway: Hj212Gateway,
                                                 collector: Collector) -> None:
    """A 2051 packet with DataTime 20261123080000 (UTC+8) stores 2026-11-23T00:00:00Z."""
    segment = (f"QN=20261123080100000;ST=31;CN=2051;PW=123456;MN={MN};Flag=5;"
               "CP=&&DataTime=20261123080000;a21026-Avg=12.3,a21026-Flag=N;"
               "a21026-ZsAvg=20.1;a99999-Avg=1&&")
    logger = await Logger.connect(gateway.port)
    await logger.send(encode_packet(segment))
    await logger.answer()
    [row] = collector.rows
    assert row == Row(MN, "so2", datetime(2026, 11, 23, 0, 0, tzinfo=UTC), 12.3, "N")
    assert row.ts.isoformat() == "2026-11-23T00:00:00+00:00"
    [stats] = gateway.connection_stats()
    assert stats.unknown_codes == ("a99999",) and stats.skipped_fields == 2
    assert stats.device_id == MN
    await logger.close()


async def test_garbage_wrong_length_and_truncation_keep_the_connection(
        gateway: Hj212Gateway, collector: Collector) -> None:
    """Garbage, a wrong length and a truncated packet are each dead-lettered; data goes on."""
    good = upload("20261123080000009")
    wrong_length = b"##0001" + good[6:]
    logger = await Logger.connect(gateway.port)
    await logger.send(b"hello\r\n" + wrong_length + good[:50] + good)
    assert (await logger.answer()).qn == "20261123080000009"
    await collector.wait_for(rejections=3)
    assert [r.reason for r in collector.rejections] == ["garbage", "bad_length", "truncated"]
    assert collector.rejections[1].payload == wrong_length
    assert collector.rejections[2].payload == good[:50]
    await logger.close()


async def test_a_megabyte_of_noise_then_data(gateway: Hj212Gateway, collector: Collector) -> None:
    """A large burst without ## is reported with bounded bytes; the next packet is acked."""
    logger = await Logger.connect(gateway.port)
    await logger.send(b"x" * (3 << 20))
    await logger.send(upload("1"))
    assert (await logger.answer()).cn == "9014"
    assert sum(1 for r in collector.rejections if r.reason == "garbage") >= 1
    assert all(len(r.payload) <= 10011 for r in collector.rejections)
    await logger.close()


async def test_strict_mode_rejects_what_lenient_accepts(collector: Collector) -> None:
    """Strict refuses a 14-digit MN and a non-2017 Flag; lenient takes both."""
    registry = make_registry()
    odd_flag = upload("1", flag=1)  # version bits 0, answer wanted
    short_mn = upload("2")
    hex_mn = upload("3", mn=HEX_MN, pw="100000")
    async with Hj212Gateway(registry, collector, port=0, strict=True) as gw:
        logger = await Logger.connect(gw.port)
        await logger.send(odd_flag + short_mn + hex_mn)
        answers = [await logger.answer() for _ in range(3)]
        await logger.close()
    assert [list(a.cp_fields()) for a in answers[:2]] == [[("QnRtn", "6")], [("QnRtn", "4")]]
    assert answers[2].cn == "9014"
    assert [r.reason for r in collector.rejections] == ["nonstandard_flag", "nonstandard_mn"]
    assert {r.device_id for r in collector.rows} == {HEX_MN}

    lenient = Collector()
    async with Hj212Gateway(registry, lenient, port=0) as gw:
        logger = await Logger.connect(gw.port)
        await logger.send(odd_flag + short_mn)
        assert [(await logger.answer()).cn for _ in range(2)] == ["9014", "9014"]
        await logger.close()
    assert lenient.rejections == [] and len(lenient.rows) == 4


async def test_other_commands(gateway: Hj212Gateway, collector: Collector) -> None:
    """Run-hour uploads are acked without rows; notices get 9013; unknown CNs QnRtn=8;
    answers from the logger are ignored silently."""
    head = f"ST=31;PW=123456;MN={MN};Flag=5"
    logger = await Logger.connect(gateway.port)
    await logger.send(encode_packet(f"QN=1;{head};CN=9014;CP=&&&&")
                      + encode_packet(f"QN=2;{head};CN=2041;CP=&&DataTime=20261123000000&&")
                      + encode_packet(f"QN=3;{head};CN=1013;CP=&&&&")
                      + encode_packet(f"QN=4;{head};CN=1062;CP=&&RtdInterval=30&&"))
    answers = [await logger.answer() for _ in range(3)]
    assert [(a.qn, a.cn) for a in answers] == [("2", "9014"), ("3", "9013"), ("4", "9011")]
    assert list(answers[2].cp_fields()) == [("QnRtn", "8")]
    assert [r.reason for r in collector.rejections] == ["unsupported_command"]
    assert collector.rows == []
    await logger.close()


async def test_half_packet_times_out_and_is_dead_lettered(collector: Collector) -> None:
    """A packet left half sent past read_timeout_s is dead-lettered and the socket closed."""
    async with Hj212Gateway(make_registry(), collector, port=0, read_timeout_s=0.2) as gw:
        logger = await Logger.connect(gw.port)
        await logger.send(upload("1")[:30])
        async with asyncio.timeout(TIMEOUT_S):
            assert await logger.reader.read() == b""  # closed by the server
        await collector.wait_for(rejections=1)
        assert collector.rejections[0].reason == "truncated"
        await logger.close()


async def test_failing_sink_closes_without_ack(collector: Collector) -> None:
    """If the sink raises, nothing is acknowledged and the connection is closed."""
    collector.fail = True
    async with Hj212Gateway(make_registry(), collector, port=0) as gw:
        logger = await Logger.connect(gw.port)
        await logger.send(upload("1"))
        async with asyncio.timeout(TIMEOUT_S):
            assert await logger.reader.read() == b""
        await logger.close()


async def test_connections_gauge_and_shutdown_with_open_connections(
        collector: Collector, metrics_registry: CollectorRegistry) -> None:
    """Open connections are counted; leaving the context ends them and zeroes the gauge."""
    gw = Hj212Gateway(make_registry(), collector, port=0, metrics=Hj212Metrics(metrics_registry))
    async with gw:
        loggers = [await Logger.connect(gw.port) for _ in range(3)]
        for i, lg in enumerate(loggers):
            await lg.send(upload(str(i)))
            await lg.answer()
        assert gw.active_connections == 3
        assert metrics_registry.get_sample_value("ecowarn_hj212_connections") == 3
    assert metrics_registry.get_sample_value("ecowarn_hj212_connections") == 0
    assert metrics_registry.get_sample_value("ecowarn_hj212_connections_closed_total",
                                             {"cause": "shutdown"}) == 3
    for lg in loggers:
        assert await lg.reader.read() == b""
        await lg.close()


async def test_a_thousand_concurrent_connections(gateway: Hj212Gateway,
                                                 collector: Collector) -> None:
    """1,000 loggers connected at the same time each get their packet stored and acked."""
    n = 1000
    async with asyncio.timeout(60):
        loggers = await asyncio.gather(*(Logger.connect(gateway.port) for _ in range(n)))
        await asyncio.gather(*(lg.send(upload(f"{i:017d}", values={"so2": float(i)}))
                               for i, lg in enumerate(loggers)))
        answers = await asyncio.gather(*(lg.answer() for lg in loggers))
        assert gateway.active_connections == n
        await asyncio.gather(*(lg.close() for lg in loggers))
    assert [a.qn for a in answers] == [f"{i:017d}" for i in range(n)]
    assert sorted(r.value or 0 for r in collector.rows) == [float(i) for i in range(n)]


async def test_connections_beyond_the_limit_are_refused(
        collector: Collector, metrics_registry: CollectorRegistry) -> None:
    """Past max_connections a new connection is closed at once; the open one keeps working."""
    async with Hj212Gateway(make_registry(), collector, port=0, max_connections=1,
                            metrics=Hj212Metrics(metrics_registry)) as gw:
        first = await Logger.connect(gw.port)
        await first.send(upload("1"))
        await first.answer()
        second = await Logger.connect(gw.port)
        async with asyncio.timeout(TIMEOUT_S):
            assert await second.reader.read() == b""
        await second.close()
        await first.send(upload("2"))
        assert (await first.answer()).qn == "2"
        await first.close()
    assert metrics_registry.get_sample_value("ecowarn_hj212_connections_closed_total",
                                             {"cause": "limit"}) == 1
