"""Repeat triggers: a new episode while an alert is being worked is attached to it, idempotently."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import psycopg
import pytest
from prometheus_client import CollectorRegistry
from psycopg_pool import AsyncConnectionPool

from ecowarn.alerts import AlertDraft, reconcile
from ecowarn.config.registry import Registry
from ecowarn.detectors.runtime.eval_treatment_off import TreatmentOffEvaluator
from ecowarn.detectors.runtime.runner import DetectorRunner, RunnerMetrics
from ecowarn.detectors.treatment_off import TreatmentOffParams
from ecowarn.ingest.pipeline import IngestMetrics, IngestPipeline
from ecowarn.store.model import Row

T = datetime(2026, 11, 22, 2, 0, tzinfo=UTC)
SUBJECT = "PWR-KILN-1"


def draft(start_min: int, end_min: int | None) -> AlertDraft:
    return AlertDraft(
        rule="treatment_off", subject=SUBJECT, enterprise_id="91130105MA0CXXXX1X",
        device_ids=("PWR-KILN-1", "PWR-BAG-1"), start=T + timedelta(minutes=start_min),
        end=None if end_min is None else T + timedelta(minutes=end_min), severity="medium",
        summary=f"outage from minute {start_min}", summary_zh="治污设施未运行", params={},
        evidence={"from": start_min})


@pytest.fixture
async def conn(database: str) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
    async with await psycopg.AsyncConnection.connect(database, autocommit=True) as c:
        yield c


async def _reconcile(conn: psycopg.AsyncConnection[Any], *drafts: AlertDraft,
                     window_start_min: int = 0) -> Any:
    async with conn.transaction():
        return await reconcile(conn, "treatment_off", SUBJECT, list(drafts),
                               T + timedelta(minutes=window_start_min))


async def _rows(conn: psycopg.AsyncConnection[Any], query: str) -> list[tuple[Any, ...]]:
    return await (await conn.execute(query)).fetchall()


@pytest.mark.parametrize("status", ["acknowledged", "dispatched"])
async def test_new_episode_while_worked_is_a_repeat(conn: psycopg.AsyncConnection[Any],
                                                    status: str) -> None:
    """A later episode attaches to the acknowledged/dispatched alert: repeat_count 1, an episode row, an event."""
    first = await _reconcile(conn, draft(0, 30))
    alert = first.opened[0]
    await conn.execute("UPDATE alerts SET status = %s WHERE id = %s", (status, alert))
    res = await _reconcile(conn, draft(120, None), window_start_min=100)
    assert (res.opened, res.repeated) == ([], [alert])
    assert await _rows(conn, "SELECT count(*) FROM alerts") == [(1,)]
    rows = await _rows(conn, "SELECT repeat_count, last_repeat_at IS NOT NULL FROM alerts")
    assert rows == [(1, True)]
    episodes = await _rows(conn, "SELECT alert_id, start_ts, end_ts FROM alert_episodes")
    assert episodes == [(alert, T + timedelta(minutes=120), None)]
    events = await _rows(conn, "SELECT kind, public FROM alert_events ORDER BY id")
    assert events == [("opened", True), ("repeat", True)]


async def test_re_evaluation_updates_the_repeat_episode(conn: psycopg.AsyncConnection[Any]) -> None:
    """Finding the repeat again (longer, then cleared) updates its episode; no new alert, count stays 1."""
    alert = (await _reconcile(conn, draft(0, 30))).opened[0]
    await conn.execute("UPDATE alerts SET status = 'dispatched' WHERE id = %s", (alert,))
    await _reconcile(conn, draft(120, None), window_start_min=100)
    for end in (None, 200):
        res = await _reconcile(conn, draft(120, end), window_start_min=100)
        assert (res.opened, res.repeated) == ([], [])
    assert await _rows(conn, "SELECT end_ts FROM alert_episodes") == [(T + timedelta(minutes=200),)]
    assert await _rows(conn, "SELECT repeat_count FROM alerts") == [(1,)]
    assert await _rows(conn, "SELECT count(*) FROM alert_events WHERE kind = 'repeat'") == [(1,)]


@pytest.mark.parametrize("status", ["open", "confirmed", "dismissed", "closed"])
async def test_other_statuses_open_a_new_alert(conn: psycopg.AsyncConnection[Any],
                                               status: str) -> None:
    """Only acknowledged/dispatched alerts absorb repeats; otherwise a new episode is a new alert."""
    alert = (await _reconcile(conn, draft(0, 30))).opened[0]
    await conn.execute("UPDATE alerts SET status = %s, disposition = %s WHERE id = %s",
                       (status, "case_filed" if status == "closed" else None, alert))
    res = await _reconcile(conn, draft(120, 150), window_start_min=100)
    assert len(res.opened) == 1 and res.repeated == []
    assert await _rows(conn, "SELECT count(*) FROM alert_episodes") == [(0,)]


async def test_late_data_joining_a_repeat_to_its_alert_merges_it(
        conn: psycopg.AsyncConnection[Any]) -> None:
    """When a filled hole joins the repeat to the alert's own episode, the repeat is merged away."""
    alert = (await _reconcile(conn, draft(0, 30))).opened[0]
    await conn.execute("UPDATE alerts SET status = 'acknowledged' WHERE id = %s", (alert,))
    await _reconcile(conn, draft(40, 60), window_start_min=35)
    assert await _rows(conn, "SELECT repeat_count FROM alerts") == [(1,)]
    res = await _reconcile(conn, draft(0, 60), window_start_min=0)
    assert res.updated == [alert] and res.opened == []
    assert await _rows(conn, "SELECT merged FROM alert_episodes") == [(True,)]
    rows = await _rows(conn, "SELECT repeat_count, end_ts FROM alerts")
    assert rows == [(0, T + timedelta(minutes=60))]


async def test_superseded_alert_hands_its_repeats_over(conn: psycopg.AsyncConnection[Any]) -> None:
    """Two alerts joined by late data: the survivor takes the superseded one's repeats and the trail says so."""
    a = (await _reconcile(conn, draft(0, 10))).opened[0]
    b = (await _reconcile(conn, draft(20, 30), window_start_min=15)).opened[0]
    await conn.execute("UPDATE alerts SET status = 'acknowledged' WHERE id = %s", (b,))
    await _reconcile(conn, draft(100, 110), window_start_min=90)  # repeat of b
    res = await _reconcile(conn, draft(0, 30))  # the hole between a and b filled
    assert res.superseded == [b]
    assert await _rows(conn, "SELECT alert_id FROM alert_episodes") == [(a,)]
    rows = await _rows(conn, "SELECT id, status, repeat_count FROM alerts ORDER BY id")
    assert rows == [(a, "open", 1), (b, "superseded", 0)]
    events = await _rows(conn, f"SELECT kind, from_status, to_status, data FROM alert_events"
                               f" WHERE alert_id = {b} AND kind = 'superseded'")
    assert events == [("superseded", "acknowledged", "superseded", {"superseded_by": a})]


# --- through the detector runner ----------------------------------------------------------

DAY = datetime(2026, 11, 22, 16, 0, tzinfo=UTC)


def kiln(minutes: range, outages: list[tuple[int, int]], seed: int = 3) -> list[Row]:
    rng = np.random.default_rng(seed)
    rows = []
    for m in minutes:
        ts = DAY + timedelta(minutes=m)
        off = any(s <= m < s + n for s, n in outages)
        rows.append(Row("PWR-KILN-1", "p", ts, float(560 + rng.normal(0, 20)), "N"))
        for dev, load in (("PWR-BAG-1", 110.0), ("PWR-SCR-1", 85.0)):
            rows.append(Row(dev, "p", ts, float(abs(rng.normal(0.3, 0.1)) if off
                                                else load + rng.normal(0, 4)), "N"))
    return rows


async def test_runner_attaches_a_second_outage_to_the_acknowledged_alert(
        database: str, sample_registry: Registry) -> None:
    """Second treatment outage of the kiln while the first alert is acknowledged: still one alert, one repeat."""
    outages = [(60, 20), (240, 25)]
    async with AsyncConnectionPool(database, min_size=1, max_size=2, open=False) as pool:
        runner = DetectorRunner(pool, sample_registry,
                                [TreatmentOffEvaluator(sample_registry, TreatmentOffParams())],
                                RunnerMetrics(CollectorRegistry()))
        async with IngestPipeline(pool, sample_registry, IngestMetrics(CollectorRegistry()),
                                  flush_ms=5) as pipeline:
            await pipeline.submit(kiln(range(0, 180), outages))
            await pipeline.drain(30)
            await runner.drain()
            async with pool.connection() as c:
                await c.execute("UPDATE alerts SET status = 'acknowledged'")
            await pipeline.submit(kiln(range(180, 360), outages))
            await pipeline.drain(30)
            await runner.drain()
            await pipeline.submit(kiln(range(180, 360), outages))  # redelivered: no effect
            await pipeline.drain(30)
            async with pool.connection() as c:
                await c.execute("INSERT INTO pending_eval (device_id, t_min, t_max)"
                                " SELECT device_id, min(ts), max(ts) FROM readings GROUP BY 1")
            await runner.drain()
        async with pool.connection() as c:
            alerts = await (await c.execute(
                "SELECT start_ts, end_ts, repeat_count FROM alerts")).fetchall()
            episodes = await (await c.execute(
                "SELECT start_ts, end_ts FROM alert_episodes WHERE NOT merged")).fetchall()
    assert alerts == [(DAY + timedelta(minutes=60), DAY + timedelta(minutes=80), 1)]
    assert episodes == [(DAY + timedelta(minutes=240), DAY + timedelta(minutes=265))]
