"""Which database a spool belongs to, and read-only summaries of spool directories.

A spool directory holds ``database.json``: the :class:`~store.identity.DatabaseIdentity`
of the database its batches are for, written when the directory is created
(completed with the cluster's ``system_identifier`` once that database has
answered). A spool that holds batches for another database is never replayed
into this one: the service moves it aside as ``<dir>.foreign-<UTC time>``, keeps
reporting it (log, ``/healthz``) and leaves it to ``ecowarn spool`` (inspect,
replay into its own database, discard).
"""

from __future__ import annotations

import json
import os
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec

from ecowarn.store.identity import DatabaseIdentity

__all__ = ["BINDING_FILE", "SpoolSummary", "foreign_siblings", "iter_batches", "parse_cursor", "read_binding",
           "set_aside_path", "summarize", "write_binding"]

BINDING_FILE = "database.json"
FOREIGN_INFIX = ".foreign-"
_HEADER = struct.Struct("<II")
_CURSOR = struct.Struct("<QQ")
_SEGMENT_SUFFIX = ".seg"


def read_binding(directory: Path) -> DatabaseIdentity | None:
    """The database the spool in ``directory`` belongs to; None if not recorded (or unreadable)."""
    try:
        data = json.loads((directory / BINDING_FILE).read_text("utf-8"))
        return DatabaseIdentity(target=str(data["target"]), database=str(data["database"]),
                                system_identifier=(str(data["system_identifier"])
                                                   if data.get("system_identifier") else None))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def write_binding(directory: Path, identity: DatabaseIdentity) -> None:
    """Record (write, fsync, rename) the database the spool belongs to."""
    body = json.dumps({"target": identity.target, "database": identity.database,
                       "system_identifier": identity.system_identifier,
                       "recorded": datetime.now(UTC).isoformat(timespec="seconds")},
                      ensure_ascii=False, indent=1)
    tmp = directory / (BINDING_FILE + ".tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(body)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, directory / BINDING_FILE)


def set_aside_path(directory: Path) -> Path:
    """A free ``<dir>.foreign-<UTC time>`` beside ``directory``."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    candidate = directory.with_name(f"{directory.name}{FOREIGN_INFIX}{stamp}")
    n = 1
    while candidate.exists():
        n += 1
        candidate = directory.with_name(f"{directory.name}{FOREIGN_INFIX}{stamp}-{n}")
    return candidate


def foreign_siblings(directory: Path) -> list[Path]:
    """Spools set aside beside ``directory`` (oldest first)."""
    if not directory.parent.is_dir():
        return []
    return sorted(p for p in directory.parent.glob(f"{directory.name}{FOREIGN_INFIX}*")
                  if p.is_dir())


def parse_cursor(data: bytes) -> tuple[int, int] | None:
    """(segment, offset) from a cursor file's bytes; None if damaged."""
    if len(data) == _CURSOR.size + 4 and zlib.crc32(data[:_CURSOR.size]) == int.from_bytes(
            data[_CURSOR.size:], "little"):
        seg, off = _CURSOR.unpack(data[:_CURSOR.size])
        return int(seg), int(off)
    return None


def iter_batches(directory: Path, decoder: msgspec.msgpack.Decoder[Any]) -> Iterator[tuple[int, Any]]:
    """(record size, batch) for every unreplayed record, read only; a damaged record ends its segment."""
    ids = sorted(int(p.name[:-len(_SEGMENT_SUFFIX)]) for p in directory.iterdir()
                 if p.name.endswith(_SEGMENT_SUFFIX) and p.name[:-len(_SEGMENT_SUFFIX)].isdigit())
    try:
        cursor = parse_cursor((directory / "cursor").read_bytes())
    except FileNotFoundError:
        cursor = None
    seg0, off0 = cursor or ((ids[0], 0) if ids else (1, 0))
    for seg_id in ids:
        if seg_id < seg0:
            continue
        with open(directory / f"{seg_id:016d}{_SEGMENT_SUFFIX}", "rb") as fh:
            fh.seek(off0 if seg_id == seg0 else 0)
            while True:
                header = fh.read(_HEADER.size)
                if len(header) < _HEADER.size:
                    break
                length, crc = _HEADER.unpack(header)
                payload = fh.read(length)
                if len(payload) < length or zlib.crc32(payload) != crc:
                    break
                try:
                    batch = decoder.decode(payload)
                except msgspec.DecodeError:
                    break
                yield _HEADER.size + length, batch


@dataclass(frozen=True, slots=True)
class SpoolSummary:
    """What a spool directory holds, for people: counts, time ranges, its database."""

    path: Path
    database: DatabaseIdentity | None
    batches: int
    readings: int
    rejections: int
    bytes: int
    devices: int
    first_reading: datetime | None
    last_reading: datetime | None
    first_arrived: datetime | None
    last_arrived: datetime | None

    def as_json(self) -> dict[str, Any]:
        def iso(t: datetime | None) -> str | None:
            return t.isoformat() if t is not None else None

        db = self.database
        return {
            "path": str(self.path),
            "database": ({"target": db.target, "database": db.database,
                          "system_identifier": db.system_identifier} if db else None),
            "batches": self.batches, "readings": self.readings, "rejections": self.rejections,
            "bytes": self.bytes, "devices": self.devices,
            "first_reading": iso(self.first_reading), "last_reading": iso(self.last_reading),
            "first_arrived": iso(self.first_arrived), "last_arrived": iso(self.last_arrived),
        }


def summarize(directory: Path, decoder: msgspec.msgpack.Decoder[Any]) -> SpoolSummary:
    """Read ``directory`` without changing it and say what it holds."""
    batches = readings = rejections = size = 0
    devices: set[str] = set()
    first_ts = last_ts = None
    first_arr = last_arr = None
    for nbytes, batch in iter_batches(directory, decoder):
        batches += 1
        size += nbytes
        readings += len(batch.rows)
        rejections += len(batch.rejections)
        first_arr = batch.arrived if first_arr is None else min(first_arr, batch.arrived)
        last_arr = batch.arrived if last_arr is None else max(last_arr, batch.arrived)
        for row in batch.rows:
            devices.add(row.device_id)
            first_ts = row.ts if first_ts is None or row.ts < first_ts else first_ts
            last_ts = row.ts if last_ts is None or row.ts > last_ts else last_ts

    def wall(t: float | None) -> datetime | None:
        return datetime.fromtimestamp(t, UTC) if t is not None else None

    return SpoolSummary(directory, read_binding(directory), batches, readings, rejections, size,
                        len(devices), first_ts, last_ts, wall(first_arr), wall(last_arr))
