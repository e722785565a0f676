"""data_gap's gate: a batch whose claimed spans show only in-order readings, each device's
within ``min_gap_min`` of its newest, is answered without reading the group's series; the
silences it finds stay the same, and a declaration's span is never taken for readings."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from conftest import _dsn_for
from fix_db import DatabasePool
from prometheus_client import CollectorRegistry
from psycopg_pool import AsyncConnectionPool
from test_eval_support import BAG, DAY0, KILN, SCR, EvalEnv

from ecowarn.detectors.catalog import default_params
from ecowarn.detectors.runtime.evaluators import build_evaluators
from ecowarn.detectors.runtime.runner import DetectorRunner, RunnerMetrics

pytest_plugins = ("test_eval_support",)

Row = tuple[str, str, datetime, float | None, str]


def minute(m: int, devices: tuple[str, ...]) -> list[Row]:
    """Readings every 20 s of minute ``m`` after DAY0 for ``devices``."""
    t = DAY0 + timedelta(minutes=m)
    return [(d, "p", t + timedelta(seconds=s), 100.0, "N") for s in (0, 20, 40) for d in devices]


def gap_runner(env: EvalEnv) -> tuple[DetectorRunner, CollectorRegistry]:
    metrics = CollectorRegistry()
    evaluators = build_evaluators(env.registry, default_params(), rules=frozenset({"data_gap"}))
    return DetectorRunner(env.pool, env.registry, evaluators, RunnerMetrics(metrics)), metrics


def gated(metrics: CollectorRegistry) -> float:
    return metrics.get_sample_value("ecowarn_detector_gated_total") or 0.0


async def test_in_order_minutes_pass_the_gate_and_the_gap_is_still_found(eval_env: EvalEnv) -> None:
    """Three meters of one enterprise a minute at a time; the SCR meter silent for 40 minutes
    (minimum 30). Before and during the silence the gate answers; when the SCR meter reports
    again (40 min after its newest reading) it does not, and the gap is found exactly."""
    runner, metrics = gap_runner(eval_env)
    for m in range(120):
        silent = 60 <= m < 100
        await eval_env.write_rows(minute(m, (KILN, BAG) if silent else (KILN, BAG, SCR)))
        await runner.drain()
        if m == 59:
            assert gated(metrics) > 0, "in-order minutes before the gap pass the gate"
            before = gated(metrics)
        if m == 99:
            assert gated(metrics) > before, "the others' minutes during the silence pass it"
            assert await eval_env.alerts("data_gap") == []
    [alert] = await eval_env.alerts("data_gap")
    assert (alert.subject, alert.device_ids) == (SCR, [SCR])
    assert (alert.start, alert.end) == (DAY0 + timedelta(minutes=59, seconds=40),
                                        DAY0 + timedelta(minutes=100))


async def test_a_declared_span_is_not_taken_for_readings(eval_env: EvalEnv) -> None:
    """The SCR meter falls silent after 00:59:40; at 01:01 its maintenance for 01:05-01:20 is
    declared (pending approval, so it suppresses nothing), which queues that span. The meter
    reports again at 01:40: 40 min 20 s after its last reading, a gap, although only 20 min
    after the declared span's end."""
    runner, metrics = gap_runner(eval_env)
    for m in range(100):
        if m == 61:
            await eval_env.execute(
                "INSERT INTO maintenance (device_id, enterprise_id, start_ts, end_ts, reason,"
                " declared_by_role, status) VALUES (%s, %s, %s, %s, 'analyser calibration',"
                " 'enterprise', 'pending')",
                (SCR, eval_env.registry.devices[SCR].enterprise_id,
                 DAY0 + timedelta(minutes=65), DAY0 + timedelta(minutes=80)))
            queued = await eval_env.execute("SELECT declared FROM pending_eval")
            assert queued == [(True,)]
            await runner.drain()
        await eval_env.write_rows(minute(m, (KILN, BAG) if m >= 60 else (KILN, BAG, SCR)))
        await runner.drain()
    assert gated(metrics) > 0
    await eval_env.write_rows(minute(100, (KILN, BAG, SCR)))
    await runner.drain()
    [alert] = await eval_env.alerts("data_gap")
    assert (alert.start, alert.end) == (DAY0 + timedelta(minutes=59, seconds=40),
                                        DAY0 + timedelta(minutes=100))


class Ungated:
    """An evaluator without the gate (everything else delegated)."""

    def __init__(self, ev: Any) -> None:
        self._ev = ev

    def __getattr__(self, name: str) -> Any:
        if name == "spans_quiet":
            raise AttributeError(name)
        return getattr(self._ev, name)


@pytest.fixture
def second_database(database_pool: DatabasePool) -> Iterator[str]:
    name = database_pool.take()
    try:
        yield _dsn_for(name)
    finally:
        database_pool.give_back(name)


async def test_an_outage_streamed_with_the_gate_as_without_it(
        eval_env: EvalEnv, second_database: str) -> None:
    """Two meters silent (SCR from 01:00 to 01:40, BAG from 01:02 to 02:10: one outage, first
    a gap of SCR, then both), a minute at a time; late, at 00:50 a BAG reading 45 min before
    its first (a gap before it), at 02:20 a kiln reading of 01:10. The same stream into two
    databases, one runner with data_gap's gate, one without: after every minute both hold the
    same alerts."""
    registry = eval_env.registry
    evaluators = build_evaluators(registry, default_params(), rules=frozenset({"data_gap"}))
    async with AsyncConnectionPool(second_database, min_size=1, max_size=2, open=False) as pool_b:
        twin = EvalEnv(pool_b, registry, CollectorRegistry())
        gated_metrics = CollectorRegistry()
        runners = [
            (eval_env, DetectorRunner(eval_env.pool, registry, evaluators, RunnerMetrics(gated_metrics))),
            (twin, DetectorRunner(pool_b, registry,
                                  [Ungated(ev) for ev in build_evaluators(
                                      registry, default_params(), rules=frozenset({"data_gap"}))],
                                  RunnerMetrics(CollectorRegistry())))]
        state = ("SELECT rule, subject, device_ids, start_ts, end_ts, severity, status, summary,"
                 " summary_zh FROM alerts ORDER BY id")
        for m in range(150):
            devices = tuple(d for d, silent in ((KILN, False), (SCR, 60 <= m < 100),
                                                (BAG, 62 <= m < 130)) if not silent)
            rows = minute(m, devices)
            if m == 50:  # late, with no alert yet: a BAG reading 45 min before its first
                rows.append((BAG, "p", DAY0 - timedelta(minutes=45), 90.0, "N"))
            if m == 140:  # late: a kiln reading inside the outage
                rows.append((KILN, "p", DAY0 + timedelta(minutes=70, seconds=10), 90.0, "N"))
            for env, runner in runners:
                await env.write_rows(rows)
                await runner.drain()
            got = await eval_env.execute(state)
            assert got == await twin.execute(state), f"minute {m}"
        assert gated(gated_metrics) > 0
        before, outage = sorted(await eval_env.alerts("data_gap"), key=lambda a: a.start)
        assert (before.device_ids, before.start, before.end) == (
            [BAG], DAY0 - timedelta(minutes=45), DAY0)
        assert sorted(outage.device_ids) == sorted([BAG, SCR])
        assert outage.end == DAY0 + timedelta(minutes=130)


async def test_a_wall_clock_outage_is_evaluated_as_without_the_gate(
        eval_env: EvalEnv, second_database: str) -> None:
    """Each meter's minute committed and drained on its own (so every batch reaches back
    before what the last one read); at 00:30 the wall-clock sweep finds all three meters
    silent (its clock an hour ahead) and opens an outage, then the minutes go on in order:
    their spans would pass the gate, but the outage's subject has an alert, so the group is
    evaluated, and both databases hold the same alerts after every batch."""
    registry = eval_env.registry
    rules = frozenset({"data_gap"})
    async with AsyncConnectionPool(second_database, min_size=1, max_size=2, open=False) as pool_b:
        twin = EvalEnv(pool_b, registry, CollectorRegistry())
        runners = [
            (eval_env, DetectorRunner(eval_env.pool, registry,
                                      build_evaluators(registry, default_params(), rules=rules),
                                      RunnerMetrics(CollectorRegistry()))),
            (twin, DetectorRunner(pool_b, registry,
                                  [Ungated(ev) for ev in build_evaluators(registry, default_params(),
                                                                          rules=rules)],
                                  RunnerMetrics(CollectorRegistry())))]
        state = ("SELECT rule, subject, device_ids, start_ts, end_ts, severity, status, summary,"
                 " summary_zh, evidence - 'as_of' FROM alerts ORDER BY id")
        sweep_at = time.time() + 3600
        for m in range(60):
            for device in (KILN, SCR, BAG):
                for env, runner in runners:
                    await env.write_rows(minute(m, (device,)))
                    await runner.drain()
                    if m == 30 and device == BAG:
                        await runner.sweep_silence(sweep_at)
                got = await eval_env.execute(state)
                assert got == await twin.execute(state), f"minute {m}, {device}"
        assert await eval_env.alerts("data_gap"), "the sweep opened an outage"
