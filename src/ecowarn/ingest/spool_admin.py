"""``ecowarn spool``: look into a spool, replay it into its own database, or discard it.

A spool set aside because it belongs to another database (see
:mod:`ingest.spool`) waits for a person. These functions serve the command:

- :func:`inspect` says what each spool holds and for which database, and can write
  its readings as JSON lines (nothing needs to be discarded unseen);
- :func:`replay` writes a spool into the database it belongs to, through the same
  pipeline as the service (duplicates absorbed by the readings key, dead letters
  kept), and removes a set-aside directory once it is empty; it refuses any other
  database, and a spool that never recorded its database unless ``adopt`` says it
  belongs to this one;
- :func:`discard` deletes a spool (the caller asks for confirmation).

A spool in use by a running service is locked: every function refuses it.
"""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from prometheus_client import CollectorRegistry
from psycopg_pool import AsyncConnectionPool

from ecowarn.config.registry import Registry
from ecowarn.ingest._spool_binding import (
    FOREIGN_INFIX,
    foreign_siblings,
    read_binding,
    write_binding,
)
from ecowarn.ingest.pipeline import IngestMetrics, IngestPipeline
from ecowarn.ingest.spool import (
    Spool,
    SpoolError,
    SpoolForeign,
    SpoolSummary,
    iter_spool,
    lock_spool_dir,
    summarize_spool,
)
from ecowarn.store.identity import pool_identity

PROGRESS_EVERY_S = 2.0

__all__ = ["ReplayResult", "discard", "export_readings", "inspect", "replay", "spools_at"]


def spools_at(directory: Path) -> list[Path]:
    """``directory`` (if it exists) and the spools set aside beside it."""
    found = [directory] if directory.is_dir() else []
    if FOREIGN_INFIX not in directory.name:
        found += foreign_siblings(directory)
    return found


def _check_free(directory: Path) -> None:
    """Refuse a missing spool, or one that a running process holds (its LOCK)."""
    if not directory.is_dir():
        raise SpoolError(f"no spool at {directory}")
    if (directory / "LOCK").exists():
        lock_spool_dir(directory).close()


def inspect(directory: Path) -> list[SpoolSummary]:
    """What the spool at ``directory`` and those set aside beside it hold (read only)."""
    return [summarize_spool(p) for p in spools_at(directory)]


def export_readings(directories: list[Path], path: Path) -> int:
    """Write every unreplayed reading of the spools as one JSON line to ``path``; how many."""
    n = 0
    with open(path, "w", encoding="utf-8") as out:
        for directory in directories:
            for batch in iter_spool(directory):
                for row in batch.rows:
                    out.write(json.dumps({"device_id": row.device_id, "metric": row.metric,
                                          "ts": row.ts.isoformat(), "value": row.value,
                                          "flag": row.flag}, ensure_ascii=False) + "\n")
                    n += 1
    return n


@dataclass(frozen=True, slots=True)
class ReplayResult:
    batches: int
    readings: int
    removed: bool  # the (set-aside) directory was deleted once empty


async def replay(directory: Path, dsn: str, registry: Registry, *, adopt: bool = False,
                 timeout_s: float = 3600.0,
                 progress: Callable[[int, int], None] | None = None) -> ReplayResult:
    """Write the spool at ``directory`` into the database at ``dsn``, if it is the spool's own."""
    _check_free(directory)
    before = summarize_spool(directory)
    async with AsyncConnectionPool(dsn, min_size=1, max_size=3, open=False, timeout=10.0) as pool:
        live = await pool_identity(pool)
        recorded = read_binding(directory)
        if recorded is None and before.batches:
            if not adopt:
                raise SpoolForeign(
                    f"spool {directory} did not record which database it belongs to; if it"
                    f" belongs to {live.describe()}, replay it with --adopt")
            write_binding(directory, live)
        elif recorded is not None and before.batches and not recorded.same_database(live):
            raise SpoolForeign(
                f"spool {directory} belongs to {recorded.describe()}, not to {live.describe()};"
                " set ECOWARN_DATABASE_URL to its database to replay it")
        async with Spool(directory, max_bytes=max(1 << 20, before.bytes * 2), database=live,
                         on_foreign="refuse") as spool:
            total = spool.pending_records
            async with IngestPipeline(pool, registry, IngestMetrics(CollectorRegistry()),
                                      flush_ms=1, spool=spool) as pipeline:
                async with asyncio.timeout(timeout_s):
                    while spool.pending_records:
                        if progress is not None:
                            progress(total - spool.pending_records, total)
                        try:
                            await asyncio.wait_for(pipeline.drain(), PROGRESS_EVERY_S)
                        except TimeoutError:
                            continue
            if progress is not None:
                progress(total, total)
    removed = False
    if FOREIGN_INFIX in directory.name:
        shutil.rmtree(directory)
        removed = True
    return ReplayResult(before.batches, before.readings, removed)


def discard(directory: Path) -> SpoolSummary:
    """Delete the spool at ``directory``; what it held."""
    _check_free(directory)
    summary = summarize_spool(directory)
    shutil.rmtree(directory)
    return summary
