"""treatment_off end to end below MQTT: pipeline -> pending_eval -> runner -> alerts."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from prometheus_client import CollectorRegistry
from psycopg_pool import AsyncConnectionPool

from ecowarn.config.registry import Registry
from ecowarn.detectors.runtime.eval_treatment_off import TreatmentOffEvaluator
from ecowarn.detectors.runtime.runner import DetectorRunner, RunnerMetrics
from ecowarn.detectors.treatment_off import TreatmentOffParams
from ecowarn.ingest.pipeline import IngestMetrics, IngestPipeline
from ecowarn.store.model import Row

DAY = datetime(2026, 11, 22, 16, 0, tzinfo=UTC)  # 2026-11-23 00:00 in UTC+8
CST = timedelta(hours=8)


@dataclass
class Env:
    pool: AsyncConnectionPool[Any]
    pipeline: IngestPipeline
    runner: DetectorRunner
    metrics: CollectorRegistry

    async def alerts(self) -> list[tuple[Any, ...]]:
        async with self.pool.connection() as conn:
            cur = await conn.execute(
                "SELECT rule, enterprise_id, device_ids, start_ts, end_ts, status, severity,"
                " summary FROM alerts ORDER BY id")
            return await cur.fetchall()


@pytest.fixture
async def env(database: str, sample_registry: Registry) -> AsyncIterator[Env]:
    metrics = CollectorRegistry()
    async with AsyncConnectionPool(database, min_size=1, max_size=4, open=False) as pool:
        runner = DetectorRunner(pool, sample_registry,
                                [TreatmentOffEvaluator(sample_registry, TreatmentOffParams())],
                                RunnerMetrics(metrics))
        async with IngestPipeline(pool, sample_registry, IngestMetrics(metrics),
                                  flush_ms=5) as pipeline:
            yield Env(pool, pipeline, runner, metrics)


def kiln_day(outage: tuple[int, int] | None, seed: int = 7, minutes: int = 1440) -> list[Row]:
    """A day of the cement kiln and its two treatment units, minute by minute.

    ``outage`` is (first minute, number of minutes) during which both treatment units are off.
    Loads sit well clear of the thresholds except for noise.
    """
    rng = np.random.default_rng(seed)
    rows = []
    for m in range(minutes):
        ts = DAY + timedelta(minutes=m)
        off = outage is not None and outage[0] <= m < outage[0] + outage[1]
        rows.append(Row("PWR-KILN-1", "p", ts, float(560 + rng.normal(0, 25)), "N"))
        rows.append(Row("PWR-BAG-1", "p", ts, float(abs(rng.normal(0.4, 0.2)) if off
                                                     else 110 + rng.normal(0, 6)), "N"))
        rows.append(Row("PWR-SCR-1", "p", ts, float(abs(rng.normal(0.3, 0.2)) if off
                                                     else 85 + rng.normal(0, 5)), "N"))
    return rows


async def ingest(env: Env, rows: list[Row], chunk: int = 600, evaluate_each: bool = False) -> None:
    for i in range(0, len(rows), chunk):
        await env.pipeline.submit(rows[i:i + chunk])
        if evaluate_each:
            await env.pipeline.drain(30)
            await env.runner.drain()
    await env.pipeline.drain(30)
    await env.runner.drain()


async def test_day_with_25_minute_outage_yields_exactly_one_alert(env: Env) -> None:
    """One injected outage 10:00-10:25 local -> one closed alert with that start and end."""
    await ingest(env, kiln_day(outage=(600, 25)))
    alerts = await env.alerts()
    assert len(alerts) == 1
    rule, ent, devices, start, end, status, severity, summary = alerts[0]
    assert (rule, ent, status, severity) == ("treatment_off", "91130105MA0CXXXX1X", "open", "medium")
    # the kiln and every meter of its treatment stages (the duty/standby towers send nothing here)
    assert devices == ["PWR-KILN-1", "PWR-BAG-1", "PWR-DS-1", "PWR-DS-2", "PWR-SCR-1"]
    assert start == DAY + timedelta(minutes=600)
    assert end == DAY + timedelta(minutes=625)
    assert "1号回转窑" in summary and "25 min" in summary
    assert env.metrics.get_sample_value("ecowarn_alerts_opened_total",
                                        {"rule": "treatment_off"}) == 1


async def test_clean_day_yields_no_alert(env: Env) -> None:
    """The same day without the outage raises nothing."""
    await ingest(env, kiln_day(outage=None))
    assert await env.alerts() == []


async def test_short_dip_under_minimum_duration_yields_no_alert(env: Env) -> None:
    """A 9-minute treatment stop (minimum is 10) is not an alert."""
    await ingest(env, kiln_day(outage=(600, 9)))
    assert await env.alerts() == []


async def test_ongoing_condition_has_null_end_until_it_clears(env: Env) -> None:
    """While data ends inside the outage the alert is open-ended; later data closes it."""
    rows = kiln_day(outage=(600, 40))
    await ingest(env, rows[: 3 * 620])  # up to 10:20 local: 20 minutes into the outage
    alerts = await env.alerts()
    assert len(alerts) == 1
    assert alerts[0][3] == DAY + timedelta(minutes=600) and alerts[0][4] is None
    await ingest(env, rows[3 * 620:])
    alerts = await env.alerts()
    assert len(alerts) == 1, "the same episode is updated, not duplicated"
    assert alerts[0][4] == DAY + timedelta(minutes=640)
    assert env.metrics.get_sample_value("ecowarn_alerts_closed_total",
                                        {"rule": "treatment_off"}) == 1


async def test_re_evaluation_after_restart_does_not_duplicate(env: Env, database: str,
                                                             sample_registry: Registry) -> None:
    """Re-running the detector over the same data (as after a restart) keeps one alert."""
    await ingest(env, kiln_day(outage=(600, 25)))
    async with env.pool.connection() as conn:
        await conn.execute(
            "INSERT INTO pending_eval (device_id, t_min, t_max)"
            " SELECT device_id, min(ts), max(ts) FROM readings GROUP BY device_id")
    fresh = DetectorRunner(env.pool, sample_registry,
                           [TreatmentOffEvaluator(sample_registry, TreatmentOffParams())],
                           RunnerMetrics(CollectorRegistry()))
    assert await fresh.drain() == 3
    assert len(await env.alerts()) == 1


async def test_late_data_in_any_order_gives_the_same_alert(env: Env) -> None:
    """Delivering the day newest-first, evaluating as it comes, gives the same single alert."""
    rows = kiln_day(outage=(600, 25))
    await ingest(env, list(reversed(rows)), chunk=30, evaluate_each=True)
    alerts = await env.alerts()
    assert [(a[3], a[4]) for a in alerts] == [
        (DAY + timedelta(minutes=600), DAY + timedelta(minutes=625))]


async def test_hole_filled_later_merges_two_episodes_into_one_alert(env: Env) -> None:
    """Two episodes split by missing data become one alert when the hole is filled."""
    rows = kiln_day(outage=(600, 60))
    hole = {DAY + timedelta(minutes=m) for m in range(625, 631)}
    first = [r for r in rows if r.ts not in hole]
    await ingest(env, first)
    before = await env.alerts()
    assert len(before) == 2, "a gap longer than max_hold splits the outage in two episodes"
    await ingest(env, [r for r in rows if r.ts in hole])
    async with env.pool.connection() as conn:
        cur = await conn.execute("SELECT status, start_ts, end_ts FROM alerts ORDER BY id")
        final = await cur.fetchall()
    assert final == [("open", DAY + timedelta(minutes=600), DAY + timedelta(minutes=660)),
                     ("superseded", DAY + timedelta(minutes=631), DAY + timedelta(minutes=660))]
