"""The ingest spool: accepted batches kept on disk while the database is away.

When a batch cannot be committed because the database is unreachable, the
pipeline appends it here and acknowledges its sources (MQTT PUBACK, HJ 212
9014, HTTP 202) once the append is fsynced. Later batches follow it into the
spool until a replay task has written everything back in order; then writes go
straight to the database again. Nothing is dropped: when the spool holds
``max_bytes`` of unreplayed data, ``append`` waits (backpressure) until replay
frees room.

The directory is created at the first append, so a service that never lost its
database leaves nothing behind; an existing one is locked and recovered at
start. On disk (one process at a time, enforced with a lock file)::

    LOCK                     flock'ed while a process owns the spool
    0000000000000001.seg     segments: records appended, never rewritten
    0000000000000002.seg
    cursor                   (segment, offset) of the first record not yet replayed

A record is ``<u32 length><u32 crc32><payload>`` (little endian); the payload
is one :class:`SpoolBatch` in MessagePack. Appends are fsynced before
``append`` returns. The cursor is rewritten (write, fsync, rename) after each
replayed chunk is committed, and segments wholly behind it are deleted. If the
process dies between a commit and the cursor update, that chunk is replayed
again: its readings are absorbed by the readings key, its dead letters are
stored a second time.

At start the spool is scanned from the cursor: a torn record at the end of the
last segment (a crash in the middle of an append, never acknowledged) is cut
off; a bad record inside an earlier segment means the disk lost fsynced data,
so that segment is renamed ``*.corrupt``, logged and counted, and the scan goes
on with the next one.

A spool belongs to one database (``database.json``, see
:mod:`ingest._spool_binding`): given the database this process writes to, a
spool found at start that holds batches for another one is moved aside as
``<dir>.foreign-<UTC time>`` instead of being replayed, and so is one whose
database turns out, once it answers, to be another cluster than the one
recorded (:meth:`Spool.confirm`). Spools set aside are listed in
:attr:`Spool.set_aside` (``/healthz``) until ``ecowarn spool`` replays them into
their own database or discards them.

Errors::

    SpoolError
     ├── SpoolLocked    another process owns the directory
     └── SpoolForeign   the spool belongs to another database (when asked to refuse)
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Literal, Self

import msgspec
from prometheus_client import CollectorRegistry, Counter, Gauge

from ecowarn.ingest._spool_binding import (
    SpoolSummary,
    foreign_siblings,
    iter_batches,
    parse_cursor,
    read_binding,
    set_aside_path,
    summarize,
    write_binding,
)
from ecowarn.store.identity import DatabaseIdentity
from ecowarn.store.model import Rejection, Row

__all__ = ["Spool", "SpoolBatch", "SpoolChunk", "SpoolError", "SpoolForeign", "SpoolLocked",
           "SpoolMetrics", "SpoolSummary", "iter_spool", "lock_spool_dir", "summarize_spool"]

log = logging.getLogger(__name__)

_HEADER = struct.Struct("<II")
_CURSOR = struct.Struct("<QQ")
MAX_RECORD_BYTES = 512 * 1024 * 1024
_SEGMENT_SUFFIX = ".seg"


class SpoolError(Exception):
    """Base class of spool errors."""


class SpoolLocked(SpoolError):
    """Another process owns the spool directory."""


class SpoolForeign(SpoolError):
    """The spool holds batches for another database than the one it was opened for."""


class SpoolBatch(msgspec.Struct, array_like=True):
    """One pipeline batch as spooled: rows, rejections, and when its oldest input arrived."""

    arrived: float  # epoch seconds
    rows: list[Row]
    rejections: list[Rejection]


@dataclass(frozen=True, slots=True)
class SpoolChunk:
    """Records read from the head of the spool; hand it back to :meth:`Spool.consume` once stored."""

    batches: list[SpoolBatch]
    records: int
    nbytes: int
    end_segment: int
    end_offset: int


class SpoolMetrics:
    """Spool depth and traffic, registered on the given registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.bytes = Gauge("ecowarn_spool_bytes", "Bytes of spooled batches not yet replayed",
                           registry=registry)
        self.records = Gauge("ecowarn_spool_records", "Spooled batches not yet replayed",
                             registry=registry)
        self.rows = Gauge("ecowarn_spool_rows", "Readings (rows) in spooled batches not yet replayed",
                          registry=registry)
        self.appended = Counter("ecowarn_spool_appended_total", "Batches appended to the spool",
                                registry=registry)
        self.replayed = Counter("ecowarn_spool_replayed_total",
                                "Spooled batches written to the database", registry=registry)
        self.full = Gauge("ecowarn_spool_full", "1 while an append waits for room (backpressure)",
                          registry=registry)
        self.corrupt = Counter("ecowarn_spool_corrupt_segments_total",
                               "Segments set aside at start because a record was damaged",
                               registry=registry)


@dataclass(slots=True)
class _Segment:
    id: int
    end: int  # bytes durably written
    records: int  # records in it not yet consumed


_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(SpoolBatch)


def lock_spool_dir(directory: Path) -> IO[bytes]:
    """Take the directory's ``LOCK`` (flock, exclusive); :class:`SpoolLocked` if another process
    holds it. Closing the returned file releases it."""
    lock_fh = open(directory / "LOCK", "ab")
    try:
        fcntl.flock(lock_fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock_fh.close()
        raise SpoolLocked(f"spool directory {directory} is in use by another process; "
                          "give each process its own ECOWARN_SPOOL_DIR (or ECOWARN_DATA_DIR)"
                          ) from None
    return lock_fh


def summarize_spool(directory: Path) -> SpoolSummary:
    """What the spool in ``directory`` holds, read without changing it."""
    return summarize(directory, _decoder)


def iter_spool(directory: Path) -> Iterator[SpoolBatch]:
    """The unreplayed batches of the spool in ``directory``, oldest first, read without changing it."""
    for _size, batch in iter_batches(directory, _decoder):
        yield batch


def _encode(batch: SpoolBatch) -> bytes:
    payload = _encoder.encode(batch)
    return _HEADER.pack(len(payload), zlib.crc32(payload)) + payload


def _seg_path(directory: Path, seg_id: int) -> Path:
    return directory / f"{seg_id:016d}{_SEGMENT_SUFFIX}"


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _scan(fh: IO[bytes], start: int) -> tuple[int, int, int, bool]:
    """Walk records from ``start``: (records, rows, end of the last good record, ended cleanly)."""
    fh.seek(start)
    pos, records, rows = start, 0, 0
    while True:
        header = fh.read(_HEADER.size)
        if not header:
            return records, rows, pos, True
        if len(header) < _HEADER.size:
            return records, rows, pos, False
        length, crc = _HEADER.unpack(header)
        if length > MAX_RECORD_BYTES:
            return records, rows, pos, False
        payload = fh.read(length)
        if len(payload) < length or zlib.crc32(payload) != crc:
            return records, rows, pos, False
        try:
            batch = _decoder.decode(payload)
        except msgspec.DecodeError:
            return records, rows, pos, False
        records += 1
        rows += len(batch.rows)
        pos += _HEADER.size + length


class Spool:
    """Append-only on-disk spool of batches; an async context manager owning its files.

    ``max_bytes`` bounds the unreplayed data (a record larger than that is
    still taken when the spool is empty). Disk use can exceed it by up to one
    segment of replayed records awaiting deletion; ``segment_bytes`` defaults
    to an eighth of ``max_bytes``, between 1 MiB and 64 MiB.
    """

    def __init__(self, directory: Path, *, max_bytes: int, segment_bytes: int | None = None,
                 metrics: SpoolMetrics | None = None, database: DatabaseIdentity | None = None,
                 on_foreign: Literal["set_aside", "refuse"] = "set_aside") -> None:
        """``database``: the database this process writes to; None leaves the spool unbound.
        ``on_foreign``: what to do with a spool that belongs to another database: move it
        aside and start an empty one (the service), or raise :class:`SpoolForeign`."""
        if max_bytes < 1:
            raise ValueError("max_bytes must be positive")
        self.directory = directory
        self.max_bytes = max_bytes
        self.segment_bytes = segment_bytes or max(1 << 20, min(64 << 20, max_bytes // 8))
        self._metrics = metrics if metrics is not None else SpoolMetrics(CollectorRegistry())
        self._lock_fh: IO[bytes] | None = None
        self._segments: list[_Segment] = []  # oldest first; the last one takes appends
        self._next_id = 1
        self._cursor_seg = 1  # first record not yet consumed
        self._cursor_off = 0
        self._append_fh: IO[bytes] | None = None
        self._append_seg = -1
        self._read_fh: IO[bytes] | None = None
        self._read_seg = -1
        self.pending_records = 0
        self.pending_rows = 0
        self.pending_bytes = 0
        self._append_lock = asyncio.Lock()
        self._changed = asyncio.Condition()
        self._full_logged = False
        self.database = database
        self._on_foreign = on_foreign
        self.set_aside: list[SpoolSummary] = []

    # -- lifecycle ---------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        if self.directory.exists():
            await asyncio.to_thread(self._open_sync)
        if self.database is not None:
            just_moved = {s.path for s in self.set_aside}
            earlier = await asyncio.to_thread(
                lambda: [summarize_spool(p) for p in foreign_siblings(self.directory)
                         if p not in just_moved])
            self.set_aside = earlier + self.set_aside
            for found in earlier:
                log.error("spool %s holds %d batches (%d readings) for another database (%s);"
                          " they are kept there and not written to %s: see `ecowarn spool inspect`",
                          found.path, found.batches, found.readings,
                          found.database.describe() if found.database else "not recorded",
                          self.database.describe())
        self._publish()
        if self.pending_records:
            log.warning("spool %s holds %d batches (%d readings, %d bytes) from an earlier run;"
                        " they are written to the database first", self.directory,
                        self.pending_records, self.pending_rows, self.pending_bytes)
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        async with self._append_lock:
            await asyncio.to_thread(self._close_sync)

    @property
    def opened(self) -> bool:
        return self._lock_fh is not None

    def _open_sync(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        self._lock_fh = lock_spool_dir(self.directory)  # held until close
        try:
            self._recover()
            if self.database is not None:
                self._check_binding_sync(self.database)
        except BaseException:
            self._close_sync()
            raise

    # -- database binding -----------------------------------------------------------------

    def _check_binding_sync(self, database: DatabaseIdentity) -> bool:
        """Keep the spool if it belongs to ``database`` (recording it if empty); else set it aside."""
        bound = read_binding(self.directory)
        empty = self.pending_records == 0
        if empty or (bound is not None and bound.same_database(database)):
            # An empty spool takes this database; a kept one learns its cluster id once known.
            if bound != database and (empty or bound is None or bound.system_identifier is None):
                write_binding(self.directory, database)
            return True
        where = bound.describe() if bound is not None else "a database it did not record"
        if self._on_foreign == "refuse":
            raise SpoolForeign(f"spool {self.directory} holds {self.pending_records} batches for"
                               f" {where}, not for {database.describe()}")
        self._close_sync()
        target = set_aside_path(self.directory)
        os.replace(self.directory, target)
        _fsync_dir(target.parent)
        found = summarize_spool(target)
        log.error("spool %s holds %d batches (%d readings) for %s, not for %s: moved aside to %s"
                  " and not written here; see `ecowarn spool inspect %s`", self.directory,
                  found.batches, found.readings, where, database.describe(), target, target)
        self.set_aside.append(found)
        self._segments, self._next_id = [], 1
        self._cursor_seg, self._cursor_off = 1, 0
        self.pending_records = self.pending_rows = self.pending_bytes = 0
        return False

    async def confirm(self, database: DatabaseIdentity) -> bool:
        """Check the spool against the database that now answers (before replaying into it).

        True when its batches belong there (the cluster id is then recorded); False
        when they were moved aside (or :class:`SpoolForeign` with ``on_foreign="refuse"``).
        """
        async with self._append_lock:
            self.database = database
            if not self.opened:
                if not self.directory.exists():
                    return True
                await asyncio.to_thread(self._open_sync)
                return self.opened
            kept = await asyncio.to_thread(self._check_binding_sync, database)
        if not kept:
            self._publish()
            await self._notify()
        return kept

    def health(self) -> dict[str, object]:
        """For ``/healthz``: unreplayed batches here, and spools set aside for other databases."""
        return {"status": "foreign_spool" if self.set_aside else "ok",
                "pending_batches": self.pending_records, "pending_readings": self.pending_rows,
                "directory": str(self.directory),
                "set_aside": [s.as_json() for s in self.set_aside]}

    def _close_sync(self) -> None:
        for fh in (self._append_fh, self._read_fh):
            if fh is not None:
                fh.close()
        self._append_fh = self._read_fh = None
        self._append_seg = self._read_seg = -1
        if self._lock_fh is not None:
            fcntl.flock(self._lock_fh.fileno(), fcntl.LOCK_UN)
            self._lock_fh.close()
            self._lock_fh = None

    def _read_cursor(self) -> tuple[int, int] | None:
        path = self.directory / "cursor"
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return None
        cursor = parse_cursor(data)
        if cursor is not None:
            return cursor
        log.warning("spool cursor %s is damaged; replaying from the oldest segment"
                    " (readings already stored are absorbed by their key)", path)
        return None

    def _recover(self) -> None:
        ids = sorted(int(p.name[:-len(_SEGMENT_SUFFIX)]) for p in self.directory.iterdir()
                     if p.name.endswith(_SEGMENT_SUFFIX) and p.name[:-len(_SEGMENT_SUFFIX)].isdigit())
        cursor = self._read_cursor() or ((ids[0], 0) if ids else (1, 0))
        seg0, off0 = cursor
        for seg_id in [i for i in ids if i < seg0]:
            _seg_path(self.directory, seg_id).unlink()
        ids = [i for i in ids if i >= seg0]
        if ids and ids[0] > seg0:
            seg0, off0 = ids[0], 0
        for n, seg_id in enumerate(ids):
            path = _seg_path(self.directory, seg_id)
            start = off0 if seg_id == seg0 else 0
            with open(path, "rb") as fh:
                records, rows, good_end, clean = _scan(fh, start)
            if not clean and n == len(ids) - 1:
                log.warning("spool segment %s ends with a torn record (a crash during an append,"
                            " never acknowledged); cutting it at byte %d", path, good_end)
                with open(path, "rb+") as fh:
                    fh.truncate(good_end)
                    os.fsync(fh.fileno())
            elif not clean:
                corrupt = path.with_name(path.name + ".corrupt")
                log.error("spool segment %s is damaged after byte %d; the %d batches before that"
                          " are kept, the whole file is set aside as %s", path, good_end,
                          records, corrupt.name)
                self._metrics.corrupt.inc()
                os.replace(path, corrupt)
                with open(corrupt, "rb") as src, open(path, "wb") as dst:
                    dst.write(src.read(good_end))
                    dst.flush()
                    os.fsync(dst.fileno())
            self._segments.append(_Segment(seg_id, good_end, records))
            self.pending_records += records
            self.pending_rows += rows
            self.pending_bytes += good_end - start
        self._cursor_seg, self._cursor_off = seg0, off0
        self._next_id = max([seg0, *ids]) + 1
        _fsync_dir(self.directory)

    # -- state -------------------------------------------------------------------------

    def _publish(self) -> None:
        m = self._metrics
        m.bytes.set(self.pending_bytes)
        m.records.set(self.pending_records)
        m.rows.set(self.pending_rows)

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def wait_empty(self) -> None:
        """Return once every spooled batch has been consumed."""
        async with self._changed:
            await self._changed.wait_for(lambda: self.pending_records == 0)

    # -- append ------------------------------------------------------------------------

    def _fits(self, size: int) -> bool:
        return self.pending_bytes == 0 or self.pending_bytes + size <= self.max_bytes

    async def append(self, batch: SpoolBatch) -> None:
        """Append ``batch`` durably (fsynced on return); wait while the spool is full."""
        data = _encode(batch)
        if not self._fits(len(data)):
            self._metrics.full.set(1)
            if not self._full_logged:
                self._full_logged = True
                log.warning("spool full (%d of %d bytes): ingest waits until replay frees room",
                            self.pending_bytes, self.max_bytes)
            try:
                async with self._changed:
                    await self._changed.wait_for(lambda: self._fits(len(data)))
            finally:
                self._metrics.full.set(0)
        async with self._append_lock:
            if not self.opened:
                await asyncio.to_thread(self._open_sync)
            last = self._segments[-1] if self._segments else None
            if last is None or (last.end and last.end + len(data) > self.segment_bytes):
                last = _Segment(self._next_id, 0, 0)
                self._next_id += 1
                self._segments.append(last)
                if self.pending_records == 0:
                    self._cursor_seg, self._cursor_off = last.id, 0
            write = asyncio.ensure_future(asyncio.to_thread(self._append_sync, last.id, data))
            try:
                last.end = await asyncio.shield(write)
            except asyncio.CancelledError:
                # The thread cannot be stopped: let it finish so the books match the file.
                last.end = await write
                self._account(last, batch, len(data))
                raise
        self._account(last, batch, len(data))
        await self._notify()

    def _account(self, last: _Segment, batch: SpoolBatch, size: int) -> None:
        last.records += 1
        self.pending_records += 1
        self.pending_rows += len(batch.rows)
        self.pending_bytes += size
        self._metrics.appended.inc()
        self._publish()

    def _append_sync(self, seg_id: int, data: bytes) -> int:
        """Write and fsync one record; the new end of the segment (worker thread, one at a time)."""
        if self._append_seg != seg_id or self._append_fh is None:
            if self._append_fh is not None:
                self._append_fh.close()
            path = _seg_path(self.directory, seg_id)
            fresh = not path.exists()
            self._append_fh = open(path, "ab")
            self._append_seg = seg_id
            if fresh:
                _fsync_dir(self.directory)
        fh = self._append_fh
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
        return fh.tell()

    # -- replay ------------------------------------------------------------------------

    async def read(self, max_rows: int) -> SpoolChunk:
        """The oldest unconsumed batches (at least one, up to about ``max_rows`` rows); waits for one."""
        if self.pending_records == 0:
            async with self._changed:
                await self._changed.wait_for(lambda: self.pending_records > 0)
        plan = [(s.id, s.end) for s in self._segments]
        return await asyncio.to_thread(self._read_sync, plan, self._cursor_seg, self._cursor_off,
                                       max_rows)

    def _read_sync(self, plan: list[tuple[int, int]], seg_id: int, offset: int,
                   max_rows: int) -> SpoolChunk:
        batches: list[SpoolBatch] = []
        nbytes = rows = 0
        for sid, end in plan:
            if sid < seg_id:
                continue
            if sid > seg_id:
                seg_id, offset = sid, 0
            if offset >= end:
                continue
            if self._read_fh is None or self._read_seg != sid:
                if self._read_fh is not None:
                    self._read_fh.close()
                self._read_fh = open(_seg_path(self.directory, sid), "rb")
                self._read_seg = sid
            fh = self._read_fh
            fh.seek(offset)
            while offset < end and rows < max_rows:
                length, crc = _HEADER.unpack(fh.read(_HEADER.size))
                payload = fh.read(length)
                if zlib.crc32(payload) != crc:
                    raise SpoolError(f"spool record at segment {sid} byte {offset} changed on disk")
                batch = _decoder.decode(payload)
                batches.append(batch)
                rows += max(1, len(batch.rows))
                offset += _HEADER.size + length
                nbytes += _HEADER.size + length
            if rows >= max_rows:
                break
        return SpoolChunk(batches, len(batches), nbytes, seg_id, offset)

    async def consume(self, chunk: SpoolChunk) -> None:
        """Mark ``chunk`` (the last :meth:`read`) as stored: advance the cursor, free room."""
        left = chunk.records
        for seg in self._segments:
            if left == 0 or seg.id > chunk.end_segment:
                break
            take = min(seg.records, left)
            seg.records -= take
            left -= take
        self._cursor_seg, self._cursor_off = chunk.end_segment, chunk.end_offset
        self.pending_records -= chunk.records
        self.pending_rows -= sum(len(b.rows) for b in chunk.batches)
        self.pending_bytes -= chunk.nbytes
        # Segments wholly replayed are deleted, except the last one (it takes appends).
        done = [s.id for s in self._segments[:-1] if s.records == 0]
        self._segments = [s for s in self._segments if s.id not in done]
        if self._segments and self._segments[0].records and self._cursor_seg < self._segments[0].id:
            self._cursor_seg, self._cursor_off = self._segments[0].id, 0
        await asyncio.to_thread(self._persist_sync, self._cursor_seg, self._cursor_off, done)
        self._metrics.replayed.inc(chunk.records)
        if self._full_logged and self.pending_bytes <= self.max_bytes // 2:
            self._full_logged = False
        self._publish()
        await self._notify()

    def _persist_sync(self, seg_id: int, offset: int, done: list[int]) -> None:
        data = _CURSOR.pack(seg_id, offset)
        data += zlib.crc32(data).to_bytes(4, "little")
        tmp = self.directory / "cursor.tmp"
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.directory / "cursor")
        for sid in done:
            if self._read_fh is not None and self._read_seg == sid:
                self._read_fh.close()
                self._read_fh = None
                self._read_seg = -1
            _seg_path(self.directory, sid).unlink(missing_ok=True)
        _fsync_dir(self.directory)
