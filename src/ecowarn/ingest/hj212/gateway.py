"""The HJ 212-2017 TCP gateway (CONTRACT section 4).

Loggers keep a TCP connection open and send packets; the gateway decodes them,
authenticates MN + PW against the registry, turns data uploads into rows and
hands rows and rejections to ``sink`` (the ingest pipeline). Awaiting the sink
is the backpressure: while it blocks, the connection is not read. A 9014 data
ack is written only after the sink returned, i.e. once the data was accepted.

Per connection, one task reads with a timeout: ``read_timeout_s`` while a
packet is half received, ``idle_timeout_s`` between packets (a bit over an hour
by default, so loggers that only send hourly data keep their connection). A
broken packet is dead-lettered and the connection goes on; a timeout, the end
of the stream, a failing sink or a reply that cannot be written closes it.

Modes: ``strict`` rejects a Flag without the dialect's version bits and an MN
that is not 24 hex characters; lenient (the default) accepts both, since real
loggers send 14-digit MNs and odd Flags. In both modes the MN must be a cems
device of the registry and PW must match its ``password`` when it has one.

Split uploads (Flag bit D, ``PNUM``/``PNO``): the parts of one data upload,
keyed by (MN, QN, CN), are kept by the gateway until all ``PNUM`` of them
arrived, over one connection or several (a logger that reconnects mid-upload);
the upload's rows are then those of the union of the parts' CP fields (a field
sent in several parts must carry the same value in each, otherwise the whole
upload is dead-lettered as ``conflicting_split_packet``). Each part that asks
for an answer is acknowledged (9014) as it arrives, the last one after the
sink took the upload's rows. An upload not complete ``split_timeout_s`` after
its first part, pushed out by newer ones (``max_split_uploads`` and
``max_split_bytes`` per device, ``max_split_bytes_total`` in all) or still open
when the gateway shuts down is dead-lettered with its raw parts as
``incomplete_split_packet``. A part sent again unchanged is answered again and
not stored twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Self

from prometheus_client import CollectorRegistry

from ecowarn.config.registry import Registry
from ecowarn.core.aio import Backoff, cancel_and_wait
from ecowarn.ingest.hj212._handler import Counters, Outcome, PacketHandler
from ecowarn.ingest.hj212._split import SplitAssembler
from ecowarn.ingest.hj212.dialect import DIALECTS, Dialect
from ecowarn.ingest.hj212.framing import Frame, FrameError, StreamDecoder
from ecowarn.ingest.hj212.metrics import Hj212Metrics
from ecowarn.store.model import Rejection, Row

__all__ = ["ConnectionStats", "Hj212Gateway", "Sink", "decode_for_replay"]

log = logging.getLogger(__name__)

Sink = Callable[[list[Row], list[Rejection]], Awaitable[None]]

READ_CHUNK_BYTES = 64 * 1024


@dataclass(frozen=True, slots=True)
class ConnectionStats:
    """A snapshot of one connection's counters."""

    peer: str
    device_id: str | None  # the last MN that authenticated on it
    opened_at: float  # epoch seconds
    bytes_in: int
    bytes_out: int
    frames: int  # packets and framing errors decoded
    accepted: int
    rejected: int
    ignored: int
    rows: int
    skipped_fields: int
    replies: int
    unknown_codes: tuple[str, ...]


class _Connection:
    def __init__(self, gateway: Hj212Gateway, reader: asyncio.StreamReader,
                 writer: asyncio.StreamWriter) -> None:
        self.gw = gateway
        self.reader = reader
        self.writer = writer
        peername = writer.get_extra_info("peername")
        self.peer = f"{peername[0]}:{peername[1]}" if isinstance(peername, tuple) else "?"
        self.opened_at = time.time()
        self.counters = Counters()
        self.decoder = StreamDecoder()
        self.handler = gateway.packet_handler(self.counters, self.peer)

    def stats(self) -> ConnectionStats:
        c = self.counters
        return ConnectionStats(
            peer=self.peer, device_id=c.device_id, opened_at=self.opened_at,
            bytes_in=c.bytes_in, bytes_out=c.bytes_out, frames=c.frames, accepted=c.accepted,
            rejected=c.rejected, ignored=c.ignored, rows=c.rows,
            skipped_fields=c.skipped_fields, replies=c.replies,
            unknown_codes=tuple(sorted(c.unknown_codes)))

    async def run(self) -> str:
        """Serve until the connection ends; return why it ended."""
        gw = self.gw
        loop = asyncio.get_running_loop()
        reader, decoder = self.reader, self.decoder
        bytes_in = gw.metrics.bytes_in
        read_deadline: float | None = None
        partial = False
        while True:
            if read_deadline is None:
                partial = decoder.buffered_bytes > 0
                read_deadline = loop.time() + (gw.read_timeout_s if partial
                                               else gw.idle_timeout_s)
            try:
                async with asyncio.timeout_at(read_deadline):
                    data = await reader.read(READ_CHUNK_BYTES)
            except TimeoutError:
                cause = "read_timeout" if partial else "idle_timeout"
                await self._process(decoder.close())
                return cause
            read_deadline = None
            if not data:
                await self._process(decoder.close())
                return "eof"
            self.counters.bytes_in += len(data)
            bytes_in.inc(len(data))
            if not await self._process(decoder.feed(data)):
                return "sink_error"

    async def _process(self, items: Sequence[Frame | FrameError]) -> bool:
        """Handle decoded items, feed the sink, then answer. False if the sink failed."""
        handler = self.handler
        now = asyncio.get_running_loop().time()
        out = Outcome()
        for item in items:
            handler.handle(item, out, now)
        handler.count(out)
        if out.rows or out.rejections:
            if not await self._sink(out):
                return False
        if out.replies:
            replies = out.replies
            payload = replies[0][1] if len(replies) == 1 else b"".join(p for _, p in replies)
            writer = self.writer
            writer.write(payload)
            if writer.transport.get_write_buffer_size():
                async with asyncio.timeout(self.gw.write_timeout_s):
                    await writer.drain()
            else:
                await writer.drain()  # does not block: nothing is waiting to be sent
            metrics = self.gw.metrics
            self.counters.bytes_out += len(payload)
            self.counters.replies += len(replies)
            metrics.bytes_out.inc(len(payload))
            for cn, _ in replies:
                metrics.replies_for(cn).inc()
        return True

    async def _sink(self, out: Outcome) -> bool:
        started = time.perf_counter()
        ok = False
        try:
            await self.gw.sink(out.rows, out.rejections)
            ok = True
        except Exception:
            log.exception("hj212 sink failed; closing the connection unacknowledged",
                          extra={"device_id": self.counters.device_id, "peer": self.peer})
        finally:
            self.gw.metrics.sink_seconds.observe(time.perf_counter() - started)
            self.gw.settle(out, stored=ok)
        return ok

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(OSError, TimeoutError):
            async with asyncio.timeout(self.gw.write_timeout_s):
                await self.writer.wait_closed()


class Hj212Gateway:
    """The HJ 212 TCP server; an async context manager (listens in ``__aenter__``).

    ``port=0`` binds a free port, read back from :attr:`port`. ``metrics``
    should be built on the service's registry; without it the gateway counts
    into a private registry that nothing exports. ``sink`` receives, per read
    from a connection, the rows and rejections of the packets in it; acks for
    those packets are written once it returns (pass a sink that returns after
    the commit, e.g. the pipeline's ``submit`` with ``wait=True``, for acks
    that mean "stored"). The gateway also calls it, with no rows, for the dead
    letters of split uploads that time out or are open at shutdown.
    """

    def __init__(self, registry: Registry, sink: Sink, *, host: str = "127.0.0.1",
                 port: int = 9212, strict: bool = False, metrics: Hj212Metrics | None = None,
                 read_timeout_s: float = 30.0, idle_timeout_s: float = 3900.0,
                 write_timeout_s: float = 10.0, close_timeout_s: float = 5.0,
                 max_connections: int = 10_000, backlog: int = 1024,
                 dialects: Sequence[Dialect] = DIALECTS, split_timeout_s: float = 60.0,
                 max_split_uploads: int = 16, max_split_bytes: int = 1 << 20,
                 max_split_bytes_total: int = 64 << 20) -> None:
        for name, value in (("read_timeout_s", read_timeout_s),
                            ("idle_timeout_s", idle_timeout_s),
                            ("write_timeout_s", write_timeout_s),
                            ("close_timeout_s", close_timeout_s),
                            ("split_timeout_s", split_timeout_s)):
            if not value > 0:
                raise ValueError(f"{name} must be positive, got {value}")
        if max_connections < 1 or backlog < 1:
            raise ValueError("max_connections and backlog must be at least 1")
        if min(max_split_uploads, max_split_bytes, max_split_bytes_total) < 1:
            raise ValueError("max_split_uploads, max_split_bytes and max_split_bytes_total "
                             "must be at least 1")
        if not dialects:
            raise ValueError("at least one dialect is needed")
        if not 0 <= port <= 65535:
            raise ValueError(f"port {port} is out of range")
        self.registry = registry
        self.sink = sink
        self.strict = strict
        self.metrics = metrics if metrics is not None else Hj212Metrics(CollectorRegistry())
        self.read_timeout_s = read_timeout_s
        self.idle_timeout_s = idle_timeout_s
        self.write_timeout_s = write_timeout_s
        self.dialects = tuple(dialects)
        self.close_timeout_s = close_timeout_s
        self.split_timeout_s = split_timeout_s
        self.max_split_uploads = max_split_uploads
        self.max_split_bytes = max_split_bytes
        self.max_split_bytes_total = max_split_bytes_total
        self._splits = SplitAssembler(timeout_s=split_timeout_s, max_uploads=max_split_uploads,
                                      max_bytes=max_split_bytes,
                                      max_total_bytes=max_split_bytes_total)
        # Dead-letters incomplete split uploads; counts into no connection.
        self._housekeeping = self.packet_handler(Counters(), "gateway")
        self._unsent: list[Rejection] = []  # dead letters the sink did not take yet
        self._retry_at = 0.0  # when _unsent may be tried again (loop time)
        self._retry = Backoff(1.0, 30.0, jitter=False)  # for the dead letters the sink refused
        self._expiry: asyncio.Task[None] | None = None
        self._closing: asyncio.Event | None = None
        self._host = host
        self._port = port
        self._max_connections = max_connections
        self._backlog = backlog
        self._server: asyncio.Server | None = None
        self._conns: dict[asyncio.Task[None], _Connection] = {}

    async def __aenter__(self) -> Self:
        if self._server is not None:
            raise RuntimeError("the gateway is already open")
        self._server = await asyncio.start_server(self._serve, self._host, self._port,
                                                  backlog=self._backlog)
        self._closing = asyncio.Event()
        self._expiry = asyncio.create_task(self._expire_splits(self._closing),
                                           name="hj212-split-expiry")
        self._expiry.add_done_callback(_log_unexpected_end)
        log.info("hj212 gateway listening on %s:%d (%s mode)", self._host, self.port,
                 "strict" if self.strict else "lenient")
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Stop listening, end every connection (bounded wait), dead-letter the split uploads
        still open, release the port."""
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        if self._closing is not None:
            self._closing.set()  # the expiry task finishes a dead-lettering under way, then ends
        tasks = list(self._conns)
        expiry, self._expiry = self._expiry, None
        if expiry is not None:
            tasks.append(expiry)  # told by ``closing``; cancelled only if stuck in the sink
        await cancel_and_wait(tasks, log=log, timeout_s=self.close_timeout_s,
                              cancel=lambda t: t is not expiry)
        out = Outcome()
        self._housekeeping.abandon_splits("the gateway is shutting down", out)
        self._unsent += out.rejections
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self.close_timeout_s):
                await self._dead_letter()
        if self._unsent:
            log.error("hj212 gateway closed with %d dead letters of split uploads not stored "
                      "(the sink failed or took too long)", len(self._unsent))
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self.close_timeout_s):
                await server.wait_closed()
        log.info("hj212 gateway closed")

    def packet_handler(self, counters: Counters, peer: str) -> PacketHandler:
        """A handler for one connection (or for the gateway's own housekeeping)."""
        return PacketHandler(self.registry, strict=self.strict, dialects=self.dialects,
                             metrics=self.metrics, counters=counters, peer=peer,
                             splits=self._splits)

    def settle(self, out: Outcome, *, stored: bool) -> None:
        """After a connection's sink call: the split uploads it completed are stored, or put
        back to be completed again (their last part was not answered); on failure its dead
        letters are kept for another try."""
        splits = self._splits
        now = asyncio.get_running_loop().time()
        for complete in out.completed:
            if stored:
                splits.stored(complete.key, now)
            else:
                splits.restore(complete, now)
        if not stored:
            self.metrics.split_pending.set(splits.pending_uploads)
            self._unsent += out.rejections

    async def _expire_splits(self, closing: asyncio.Event) -> None:
        """Dead-letter split uploads whose time is up, checked a few times per timeout; try
        again dead letters the sink failed to take, with a backoff."""
        loop = asyncio.get_running_loop()
        interval = min(1.0, self.split_timeout_s / 4)
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(interval):
                    await closing.wait()
            if closing.is_set():
                return
            try:
                due = self._splits.next_deadline
                now = loop.time()
                if due is not None and due <= now:
                    out = Outcome()
                    self._housekeeping.expire(now, out)
                    self._unsent += out.rejections
                if self._unsent and now >= self._retry_at:
                    await self._dead_letter()
            except Exception:  # a bug must not end the expiry of every later upload
                log.exception("hj212 split upload expiry failed; going on")

    async def _dead_letter(self) -> None:
        """Hand the waiting dead letters to the sink. If it fails they wait for the next try,
        with a backoff (1 s, doubling, at most 30 s); at most ``max_split_bytes_total`` of
        raw packets wait, the oldest are dropped (logged) beyond."""
        batch, self._unsent = self._unsent, []
        if not batch:
            return
        try:
            await self.sink([], batch)
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                log.error("hj212 gateway stopped while %d dead letters of split uploads were "
                          "with the sink: they may not be stored", len(batch))
                raise
            self._failed_dead_letters(batch, "the sink call was cancelled")
        except Exception as exc:
            self._failed_dead_letters(batch, f"{type(exc).__name__}: {exc}")
        else:
            self._retry.reset()

    def _failed_dead_letters(self, batch: list[Rejection], why: str) -> None:
        waiting = batch + self._unsent
        size = sum(len(r.payload) for r in waiting)
        while waiting and size > self.max_split_bytes_total:
            dropped = waiting.pop(0)
            size -= len(dropped.payload)
            log.error("hj212 dead letter dropped, the sink failing for too long: %s %s",
                      dropped.reason, dropped.detail, extra={"device_id": dropped.device_id})
        self._unsent = waiting
        retry_s = self._retry.next_s()
        self._retry_at = asyncio.get_running_loop().time() + retry_s
        log.error("hj212 sink failed on %d dead letters of split uploads (%s); trying again "
                  "in %.0f s", len(batch), why, retry_s)

    @property
    def port(self) -> int:
        """The bound port (the one picked by the system when created with port=0)."""
        if self._server is None or not self._server.sockets:
            raise RuntimeError("the gateway is not open")
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    @property
    def pending_dead_letters(self) -> int:
        """Dead letters of split uploads waiting for the sink to take them (it failed)."""
        return len(self._unsent)

    @property
    def active_connections(self) -> int:
        return len(self._conns)

    def connection_stats(self) -> list[ConnectionStats]:
        """Snapshots of the open connections' counters."""
        return [c.stats() for c in self._conns.values()]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        conn = _Connection(self, reader, writer)
        if len(self._conns) >= self._max_connections:
            log.warning("hj212 connection from %s refused: %d connections open",
                        conn.peer, len(self._conns))
            self.metrics.connections_closed.labels("limit").inc()
            await conn.close()
            return
        task.set_name(f"hj212-conn-{conn.peer}")
        self._conns[task] = conn
        self.metrics.connections_opened.inc()
        self.metrics.connections.inc()
        log.debug("hj212 connection from %s", conn.peer)
        cause = "error"
        try:
            cause = await conn.run()
        except asyncio.CancelledError:
            cause = "shutdown"
            raise
        except TimeoutError:
            cause = "write_timeout"
        except (ConnectionError, OSError) as exc:
            cause = "connection_error"
            log.info("hj212 connection from %s failed: %s", conn.peer, exc)
        except Exception:
            log.exception("hj212 connection from %s failed", conn.peer)
        finally:
            del self._conns[task]
            self.metrics.connections.dec()
            self.metrics.connections_closed.labels(cause).inc()
            s = conn.stats()
            log.info("hj212 connection from %s closed (%s): %d packets, %d accepted, "
                     "%d rejected, %d rows, %d bytes in", conn.peer, cause, s.frames,
                     s.accepted, s.rejected, s.rows, s.bytes_in,
                     extra={"device_id": s.device_id, "peer": conn.peer})
            await conn.close()


def _log_unexpected_end(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("hj212 task %s ended", task.get_name(), exc_info=task.exception())


def decode_for_replay(registry: Registry, raw: bytes, *, strict: bool = False,
                      dialects: Sequence[Dialect] = DIALECTS) -> tuple[list[Row], list[Rejection]]:
    """A dead-lettered HJ 212 payload decoded against ``registry`` as the gateway would
    (framing, CRC, dialect, authentication, split reassembly): the rows it now gives, and
    what still fails as rejections. The payload is one packet, or the parts of a split
    upload kept together (``incomplete_split_packet``). Nothing is answered; the gateway's
    metrics are not touched.
    """
    handler = PacketHandler(registry, strict=strict, dialects=dialects,
                            metrics=Hj212Metrics(CollectorRegistry()), counters=Counters(),
                            peer="replay",
                            splits=SplitAssembler(timeout_s=3600.0, max_uploads=64,
                                                  max_bytes=len(raw) + 1))
    decoder = StreamDecoder()
    out = Outcome()
    now = time.monotonic()
    for item in (*decoder.feed(raw), *decoder.close()):
        handler.handle(item, out, now)
    handler.abandon_splits("still incomplete when replayed", out)
    return out.rows, out.rejections
