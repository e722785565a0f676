"""Escalation of unacknowledged alerts: thresholds per severity, levels, metrics, trail, locking."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from prometheus_client import CollectorRegistry
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from ecowarn.alerts import EscalationParams, Escalator

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


@pytest.fixture
async def pool(database: str) -> AsyncIterator[AsyncConnectionPool[Any]]:
    async with AsyncConnectionPool(database, min_size=1, max_size=3, open=False) as p:
        yield p


async def _alert(pool: AsyncConnectionPool[Any], severity: str, age: timedelta,
                 status: str = "open", now: datetime = NOW) -> int:
    async with pool.connection() as conn:
        cur = await conn.execute(
            "INSERT INTO alerts (rule, subject, enterprise_id, device_ids, start_ts, severity,"
            " status, summary, summary_zh, params, evidence, created_at)"
            " VALUES ('treatment_off', 'PWR-KILN-1', '91130105MA0CXXXX1X', '{PWR-KILN-1}', %s,"
            " %s, %s, 's', 's', %s, %s, %s) RETURNING id",
            (now - age, severity, status, Jsonb({}), Jsonb({}), now - age))
        row = await cur.fetchone()
    assert row is not None
    return int(row[0])


async def _levels(pool: AsyncConnectionPool[Any]) -> dict[int, tuple[int, datetime | None]]:
    async with pool.connection() as conn:
        rows = await (await conn.execute(
            "SELECT id, escalation_level, escalated_at FROM alerts")).fetchall()
    return {int(r[0]): (r[1], r[2]) for r in rows}


async def test_thresholds_per_severity(pool: AsyncConnectionPool[Any]) -> None:
    """After 3 h a high alert escalates, a medium or low one does not; acknowledged ones never do."""
    metrics = CollectorRegistry()
    high = await _alert(pool, "high", timedelta(hours=3))
    medium = await _alert(pool, "medium", timedelta(hours=3))
    low = await _alert(pool, "low", timedelta(hours=73))
    acked = await _alert(pool, "high", timedelta(hours=30), status="acknowledged")
    escalator = Escalator(pool, metrics, EscalationParams())
    assert sorted(await escalator.sweep(NOW)) == sorted([high, low])
    levels = await _levels(pool)
    assert levels[high] == (1, NOW) and levels[low] == (1, NOW)
    assert levels[medium] == (0, None) and levels[acked] == (0, None)
    assert metrics.get_sample_value("ecowarn_alerts_escalated_total", {"severity": "high"}) == 1
    assert metrics.get_sample_value("ecowarn_alerts_escalated_total", {"severity": "low"}) == 1
    assert await escalator.sweep(NOW) == []  # idempotent at the same time


async def test_levels_rise_with_each_period_up_to_the_cap(pool: AsyncConnectionPool[Any]) -> None:
    """Level n after n periods, never beyond max_level; each rise is an internal trail event."""
    metrics = CollectorRegistry()
    alert = await _alert(pool, "high", timedelta(hours=2, minutes=1))
    escalator = Escalator(pool, metrics, EscalationParams(after_min={"high": 120}, max_level=2))
    await escalator.sweep(NOW)
    await escalator.sweep(NOW + timedelta(hours=2))
    await escalator.sweep(NOW + timedelta(hours=10))
    assert (await _levels(pool))[alert] == (2, NOW + timedelta(hours=2))
    async with pool.connection() as conn:
        events = await (await conn.execute(
            "SELECT kind, actor_role, actor_label, public, data FROM alert_events ORDER BY id"
        )).fetchall()
    assert events == [("escalated", "system", "escalator", False, {"level": 1, "from_level": 0}),
                      ("escalated", "system", "escalator", False, {"level": 2, "from_level": 1})]
    assert metrics.get_sample_value("ecowarn_alerts_escalated_total", {"severity": "high"}) == 2


async def test_unknown_severity_uses_the_default(pool: AsyncConnectionPool[Any]) -> None:
    """A severity without its own time escalates after default_after_min."""
    alert = await _alert(pool, "critical", timedelta(minutes=61))
    escalator = Escalator(pool, CollectorRegistry(), EscalationParams(default_after_min=60))
    assert await escalator.sweep(NOW) == [alert]


async def test_a_locked_alert_is_skipped_not_waited_for(pool: AsyncConnectionPool[Any],
                                                         database: str) -> None:
    """While an officer's transaction holds the row, the sweep passes it by; the next sweep gets it."""
    alert = await _alert(pool, "high", timedelta(hours=5))
    escalator = Escalator(pool, CollectorRegistry())
    async with await psycopg.AsyncConnection.connect(database) as officer:
        await officer.execute("SELECT 1 FROM alerts WHERE id = %s FOR UPDATE", (alert,))
        assert await asyncio.wait_for(escalator.sweep(NOW), timeout=5) == []
        await officer.rollback()
    assert await escalator.sweep(NOW) == [alert]


async def test_run_loop_sweeps_until_cancelled(pool: AsyncConnectionPool[Any]) -> None:
    """run() escalates on its own schedule and stops when its task is cancelled."""
    alert = await _alert(pool, "high", timedelta(hours=1), now=datetime.now(UTC))
    metrics = CollectorRegistry()
    escalator = Escalator(pool, metrics, EscalationParams(after_min={"high": 1}, interval_s=0.05))
    task = asyncio.create_task(escalator.run(), name="escalator")
    try:
        for _ in range(100):
            if (await _levels(pool))[alert][0] > 0:
                break
            await asyncio.sleep(0.05)
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert (await _levels(pool))[alert][0] == 3  # one hour at one minute per level: the cap


def test_params_refuse_nonsense() -> None:
    """Zero or negative times and levels are refused when the parameters are built."""
    for kwargs in ({"after_min": {"high": 0}}, {"max_level": 0}, {"interval_s": 0}):
        with pytest.raises(ValueError):
            EscalationParams(**kwargs)  # type: ignore[arg-type]
