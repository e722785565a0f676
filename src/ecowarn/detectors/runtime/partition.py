"""Partitions of the detector runners' work, and who owns which.

A runner's memories (series cache, quiet subjects, evaluator memories) are exact only while
it sees every ``pending_eval`` row of the subjects it evaluates. Subjects never span
enterprises (the registry refuses a ``treated_by`` or ``serves`` reference to another
enterprise; an emergency order is queued per enterprise), so the work splits by enterprise:

- ``count`` enterprise partitions, ``crc32(enterprise id) % count`` (stable across processes,
  hosts and Python versions), and one more, number ``count``, for the air stations
  (``air_hotspot`` compares a station with its neighbours; ``data_gap`` groups the stations'
  silences);
- :func:`build_partition_map` maps every key a ``pending_eval`` row can carry (device ids,
  and enterprise ids for emergency orders) to its partition, and checks with the evaluators
  that no subject gets work from two partitions (:class:`PartitionError` otherwise);
- :func:`publish_map` writes that map to ``runner_partition_keys`` (migration 0017), through
  which a runner claims only its partitions' rows; a key missing from it (a device not in
  the registry) belongs to partition 0.

Ownership is a session advisory lock per partition, ``(PARTITION_LOCK_CLASS, partition)``,
held by :class:`PartitionOwner` on the runner's lock connection: whoever holds it, in any
process on any host, owns the partition, and the lock goes with the connection. Every
partitioned runner also holds a *shared* lock on ``LEADER_LOCK_KEY``: it counts the live
runners, and keeps out a runner in the single-leader mode (which takes that key exclusively).
:meth:`PartitionOwner.rebalance`, called every few seconds, takes unowned partitions up to a
fair share (``ceil(partitions / live runners)``) and gives back what is above it, so a dead
runner's partitions are taken within one period once its connection is gone.
"""

from __future__ import annotations

import asyncio
import math
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool

from ecowarn.config.registry import Registry
from ecowarn.detectors.runtime.contract import RuleEvaluator

__all__ = ["PARTITION_LOCK_CLASS", "PartitionError", "PartitionMap", "PartitionOwner",
           "build_partition_map", "enterprise_partition", "publish_map", "wait_no_pending"]

# First key of the per-partition advisory locks (two int4 keys: class, partition), "ecpt".
PARTITION_LOCK_CLASS = int.from_bytes(b"ecpt", "big")
# Serialises writers of the partition map (transaction-level lock).
_LAYOUT_CLASS = int.from_bytes(b"eclo", "big")


class PartitionError(Exception):
    """The registry's subjects cannot be split by enterprise (one line per subject)."""


def enterprise_partition(enterprise_id: str, count: int) -> int:
    """The partition of an enterprise among ``count`` enterprise partitions."""
    return zlib.crc32(enterprise_id.encode("utf-8")) % count


@dataclass(frozen=True, slots=True)
class PartitionMap:
    """``count`` enterprise partitions plus the stations' (number ``count``); ``parts`` maps
    each pending_eval key of the registry to its partition."""

    count: int
    parts: Mapping[str, int]

    @property
    def total(self) -> int:
        return self.count + 1

    @property
    def stations(self) -> int:
        return self.count

    def of(self, key: str) -> int:
        """The partition that evaluates ``key``'s pending work (0 when unknown)."""
        return self.parts.get(key, 0)


def build_partition_map(registry: Registry, evaluators: Iterable[RuleEvaluator],
                        count: int) -> PartitionMap:
    """Every device and enterprise of ``registry`` mapped to its partition; raises
    :class:`PartitionError` when an evaluator's subject would get work from two."""
    if count < 1:
        raise ValueError("at least one enterprise partition")
    parts: dict[str, int] = {e: enterprise_partition(e, count) for e in registry.enterprises}
    problems: list[str] = []
    for d in registry.devices.values():
        part = count if d.enterprise_id is None else enterprise_partition(d.enterprise_id, count)
        if parts.setdefault(d.id, part) != part:
            problems.append(f"device id {d.id!r} is also an enterprise id")
    owner: dict[tuple[str, str], tuple[str, int]] = {}
    for ev in evaluators:
        for key, part in parts.items():
            for subject in ev.subjects_for(key):
                first = owner.setdefault((ev.rule, subject), (key, part))
                if first[1] != part:
                    problems.append(f"{ev.rule} subject {subject!r} gets work from {first[0]!r}"
                                    f" (partition {first[1]}) and {key!r} (partition {part})")
    if problems:
        raise PartitionError("; ".join(sorted(set(problems))))
    return PartitionMap(count=count, parts=parts)


async def publish_map(conn: psycopg.AsyncConnection[Any], pmap: PartitionMap) -> bool:
    """Write ``pmap`` to the database. False (nothing written) when the map there was written
    for another partition count and a runner still holds a partition by it."""
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(%s, 0)", (_LAYOUT_CLASS,))
        cur = await conn.execute("SELECT partitions FROM runner_layout")
        row = await cur.fetchone()
        if row is not None and int(row[0]) != pmap.count:
            if await _held_partitions(conn, others_only=True):
                return False
            await conn.execute("DELETE FROM runner_partition_keys")
        await conn.execute(
            "INSERT INTO runner_layout (id, partitions) VALUES (true, %s)"
            " ON CONFLICT (id) DO UPDATE SET partitions = EXCLUDED.partitions, updated_at = now()"
            " WHERE runner_layout.partitions <> EXCLUDED.partitions", (pmap.count,))
        keys = sorted(pmap.parts)
        await conn.execute(
            "INSERT INTO runner_partition_keys (key, part)"
            " SELECT * FROM unnest(%s::text[], %s::int[])"
            " ON CONFLICT (key) DO UPDATE SET part = EXCLUDED.part"
            " WHERE runner_partition_keys.part <> EXCLUDED.part",
            (keys, [pmap.parts[k] for k in keys]))
    return True


_HELD = (
    "SELECT objid::bigint, pid FROM pg_locks WHERE locktype = 'advisory' AND granted"
    " AND objsubid = 2 AND classid = %s::bigint::oid"
    " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
)


async def _held_partitions(conn: psycopg.AsyncConnection[Any], *, others_only: bool) -> set[int]:
    sql = _HELD + (" AND pid <> pg_backend_pid()" if others_only else "")
    cur = await conn.execute(sql, (PARTITION_LOCK_CLASS,))
    return {int(r[0]) for r in await cur.fetchall()}


class LayoutChanged(Exception):
    """The database's partition count is not this runner's any more."""


class PartitionOwner:
    """The partitions one runner holds, on its lock connection (which already holds the shared
    ``LEADER_LOCK_KEY``). Not safe for concurrent use; the runner calls it between batches."""

    def __init__(self, conn: psycopg.AsyncConnection[Any], pmap: PartitionMap,
                 leader_key: int) -> None:
        self._conn = conn
        self._pmap = pmap
        self._leader_hi, self._leader_lo = leader_key >> 32, leader_key & 0xFFFF_FFFF
        self.owned: set[int] = set()

    async def rebalance(self) -> tuple[set[int], set[int]]:
        """Take unowned partitions up to the fair share, give back what is above it; returns
        (gained, given back). Raises :class:`LayoutChanged` (after giving everything back)
        when the database's partition count changed, and psycopg errors when the connection
        is lost (its locks are gone with it)."""
        cur = await self._conn.execute(
            "SELECT (SELECT partitions FROM runner_layout),"
            " (SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted"
            "  AND mode = 'ShareLock' AND objsubid = 1 AND classid = %s::bigint::oid"
            "  AND objid = %s::bigint::oid"
            "  AND database = (SELECT oid FROM pg_database WHERE datname = current_database()))",
            (self._leader_hi, self._leader_lo))
        row = await cur.fetchone()
        assert row is not None
        if row[0] is None or int(row[0]) != self._pmap.count:
            await self.release(set(self.owned))
            raise LayoutChanged(f"the database's runners use {row[0]} partitions, not"
                                f" {self._pmap.count}")
        total = self._pmap.total
        share = math.ceil(total / max(1, int(row[1])))
        lost: set[int] = set()
        if len(self.owned) > share:
            lost = set(sorted(self.owned)[share:])
            await self.release(lost)
        gained: set[int] = set()
        if len(self.owned) < share:
            held = await _held_partitions(self._conn, others_only=False)
            # Start at a place of our own, so runners starting together try different ones.
            start = self._conn.info.backend_pid % total
            for p in sorted(range(total), key=lambda p: (p - start) % total):
                if len(self.owned) >= share:
                    break
                if p in held:
                    continue
                cur = await self._conn.execute("SELECT pg_try_advisory_lock(%s, %s)",
                                               (PARTITION_LOCK_CLASS, p))
                got = await cur.fetchone()
                if got is not None and got[0]:
                    self.owned.add(p)
                    gained.add(p)
        return gained, lost

    async def release(self, parts: Sequence[int] | set[int]) -> None:
        for p in sorted(parts):
            await self._conn.execute("SELECT pg_advisory_unlock(%s, %s)", (PARTITION_LOCK_CLASS, p))
            self.owned.discard(p)


async def wait_no_pending(pool: AsyncConnectionPool[Any], timeout_s: float | None = None) -> int:
    """Wait until no committed reading waits for evaluation (``pending_eval`` empty: a batch
    being evaluated holds its rows until it commits). Returns the rows seen at first."""
    first: int | None = None
    async with asyncio.timeout(timeout_s):
        while True:
            async with pool.connection() as conn:
                cur = await conn.execute("SELECT count(*) FROM pending_eval")
                row = await cur.fetchone()
            n = int(row[0]) if row else 0
            first = n if first is None else first
            if n == 0:
                return first
            await asyncio.sleep(0.05)
