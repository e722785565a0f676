"""A fake data logger and a recording sink for tests of the HJ 212 gateway over real sockets."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from ecowarn.config.registry import Device, Registry
from ecowarn.ingest.hj212 import StreamDecoder, build_data_packet, encode_packet, parse_segment
from ecowarn.ingest.hj212.framing import Frame
from ecowarn.ingest.hj212.segment import Packet
from ecowarn.store.model import Rejection, Row

__all__ = ["HEX_MN", "MN", "OPEN_MN", "T0", "TIMEOUT_S", "Collector", "Logger", "make_registry",
           "split_upload", "upload"]

MN = "13010500000001"  # 14 digits, as real loggers send
HEX_MN = "010000A8900016F000169DC0"
OPEN_MN = "13010500000002"  # registered without a password
T0 = datetime(2026, 11, 23, 0, 0, tzinfo=UTC)
TIMEOUT_S = 5.0


def make_registry() -> Registry:
    devices = {
        MN: Device(id=MN, kind="cems", enterprise_id=None, password="123456"),
        HEX_MN: Device(id=HEX_MN, kind="cems", enterprise_id=None, password="100000"),
        OPEN_MN: Device(id=OPEN_MN, kind="cems", enterprise_id=None),
        "PWR-1": Device(id="PWR-1", kind="power", enterprise_id=None, role="production",
                        rated_kw=100),
    }
    return Registry(enterprises={}, devices=devices, stations={})


class Collector:
    """A sink that keeps what it is given; optionally blocks until released."""

    def __init__(self) -> None:
        self.rows: list[Row] = []
        self.rejections: list[Rejection] = []
        self.calls = 0
        self.changed = asyncio.Condition()
        self.gate: asyncio.Event | None = None
        self.fail = False

    async def __call__(self, rows: list[Row], rejections: list[Rejection]) -> None:
        if self.gate is not None:
            await self.gate.wait()
        if self.fail:
            raise RuntimeError("pipeline is down")
        async with self.changed:
            self.rows += rows
            self.rejections += rejections
            self.calls += 1
            self.changed.notify_all()

    async def wait_for(self, *, rows: int = 0, rejections: int = 0) -> None:
        async with asyncio.timeout(TIMEOUT_S), self.changed:
            await self.changed.wait_for(
                lambda: len(self.rows) >= rows and len(self.rejections) >= rejections)


class Logger:
    """A fake data logger: one TCP connection, sends packets, reads answers."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def connect(cls, port: int) -> Logger:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        return cls(reader, writer)

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def answer(self) -> Packet:
        async with asyncio.timeout(TIMEOUT_S):
            raw = await self.reader.readuntil(b"\r\n")
        [frame] = StreamDecoder().feed(raw)
        assert isinstance(frame, Frame), frame
        return parse_segment(frame.segment)

    async def close(self) -> None:
        self.writer.close()
        await self.writer.wait_closed()


def upload(qn: str, *, mn: str = MN, pw: str = "123456", cn: str = "2011", flag: int = 5,
           values: dict[str, float | None] | None = None, when: datetime = T0) -> bytes:
    return build_data_packet(mn, pw, cn, when, values or {"so2": 12.3, "nox": 40.1}, qn=qn,
                             flag=flag)


def split_upload(qn: str, parts: list[str], *, mn: str = MN, pw: str = "123456", cn: str = "2011",
                 flag: int = 7, pnum: int | None = None) -> list[bytes]:
    """The packets of one upload split over ``len(parts)`` packets (PNO 1, 2, ...).

    Each part is the text between ``CP=&&`` and ``&&``; Flag 7 = HJ 212-2017, split,
    answer wanted.
    """
    total = len(parts) if pnum is None else pnum
    return [encode_packet(f"QN={qn};ST=31;CN={cn};PW={pw};MN={mn};Flag={flag};"
                          f"PNUM={total};PNO={pno};CP=&&{cp}&&")
            for pno, cp in enumerate(parts, 1)]
