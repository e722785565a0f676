"""The ingest queue's bound holds whatever the inputs carry: rows, rejections or nothing but an ack."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from prometheus_client import CollectorRegistry
from psycopg_pool import AsyncConnectionPool

from ecowarn.config.registry import Registry
from ecowarn.ingest.pipeline import IngestMetrics, IngestPipeline, item_cost
from ecowarn.store.model import Rejection, Row

T0 = datetime(2026, 11, 23, tzinfo=UTC)
CAPACITY = 20


@pytest.fixture
async def pool(database: str) -> AsyncIterator[AsyncConnectionPool[Any]]:
    # max_size 2: one writer, so a blocked write holds every batch behind it.
    async with AsyncConnectionPool(database, min_size=1, max_size=2, open=False) as p:
        yield p


def rejection(payload: bytes = b"{}") -> Rejection:
    return Rejection("mqtt", "bad_json", "not JSON", payload, "t/x", "PWR-KILN-1")


async def _blocked_writer(database: str) -> psycopg.AsyncConnection[Any]:
    """A transaction holding dead_letters exclusively: the pipeline's writer blocks on it, as it
    does on a full spool or an unreachable database. Budget units are held until a batch is
    resolved, so what is queued and what is being written count alike."""
    conn = await psycopg.AsyncConnection.connect(database)
    await conn.execute("LOCK TABLE dead_letters IN ACCESS EXCLUSIVE MODE")
    return conn


def test_item_cost_counts_rows_rejections_and_payload_bytes() -> None:
    """An input costs a unit per row, per rejection and per KiB of rejected payload, never zero."""
    rows = [Row("D", "p", T0 + timedelta(minutes=k), 1.0, "N") for k in range(3)]
    assert item_cost(rows, []) == 3
    assert item_cost([], [rejection()]) == 1
    assert item_cost([], [rejection(b"x" * 5000)]) == 1 + 4
    assert item_cost(rows, [rejection(), rejection()]) == 5
    assert item_cost([], []) == 1  # an acknowledgement only


async def test_rejection_only_inputs_are_bounded_while_the_writer_is_blocked(
        database: str, pool: AsyncConnectionPool[Any], sample_registry: Registry) -> None:
    """A flood of rejected-only inputs while nothing can be written stops at the bound
    (offer answers False) instead of queueing without limit; once the writer moves, all that
    was accepted is stored and the budget returns to zero."""
    locker = await _blocked_writer(database)
    try:
        async with IngestPipeline(pool, sample_registry, IngestMetrics(CollectorRegistry()),
                                  batch_size=5, flush_ms=1, queue_rows=CAPACITY) as pl:
            assert pl.offer([], [rejection()])
            accepted = 1 + sum(pl.offer([], [rejection()]) for _ in range(1000))
            assert accepted == CAPACITY
            assert not pl.offer([], [rejection()])
            assert not pl.offer([], [], on_done=lambda: None)  # an ack is an input too
            await locker.rollback()
            await pl.drain(30)
            assert pl._budget.used == 0  # every unit came back
    finally:
        await locker.close()
    with psycopg.connect(database) as conn:
        row = conn.execute("SELECT count(*) FROM dead_letters").fetchone()
    assert row is not None and row[0] == accepted


async def test_submit_of_rejections_waits_for_room(
        database: str, pool: AsyncConnectionPool[Any], sample_registry: Registry) -> None:
    """submit() of a rejected-only input blocks while the bound is reached (backpressure) and
    completes once the blocked batch is written."""
    locker = await _blocked_writer(database)
    try:
        async with IngestPipeline(pool, sample_registry, IngestMetrics(CollectorRegistry()),
                                  batch_size=5, flush_ms=1, queue_rows=CAPACITY) as pl:
            for _ in range(CAPACITY):
                await pl.submit([], [rejection()])
            late = asyncio.create_task(pl.submit([], [rejection()]))
            for _ in range(50):  # let every ready task run: nothing frees room while locked
                await asyncio.sleep(0)
            assert not late.done()
            await locker.rollback()
            async with asyncio.timeout(30):
                await late
            await pl.drain(30)
    finally:
        await locker.close()
    with psycopg.connect(database) as conn:
        row = conn.execute("SELECT count(*) FROM dead_letters").fetchone()
    assert row is not None and row[0] == CAPACITY + 1


async def test_large_payload_rejections_are_bounded_by_bytes(
        database: str, pool: AsyncConnectionPool[Any], sample_registry: Registry) -> None:
    """Rejections carrying big raw inputs count by size: two of 8 KiB (9 units each) fit a
    bound of 20, a third does not."""
    locker = await _blocked_writer(database)
    try:
        async with IngestPipeline(pool, sample_registry, IngestMetrics(CollectorRegistry()),
                                  batch_size=5, flush_ms=1, queue_rows=CAPACITY) as pl:
            big = rejection(b"x" * 8192)
            assert pl.offer([], [big])
            assert pl.offer([], [big])
            assert not pl.offer([], [big])
            assert pl.offer([], [rejection()])  # 19 units: a small one still fits
            await locker.rollback()
            await pl.drain(30)
    finally:
        await locker.close()
