"""Water outlets end to end: readings -> runner -> emission_exceedance alerts (CONTRACT 1.1
section 8): daily means with 20 valid hours, hourly limits, pH range; a single spike in a
compliant day is no daily alert."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client import CollectorRegistry
from psycopg_pool import AsyncConnectionPool
from test_eval_support import EvalEnv

from ecowarn.config.registry import Registry, parse_registry
from ecowarn.detectors.exceedance import ExceedanceParams
from ecowarn.ingest.parse import TelemetryParser

pytest_plugins = ("test_eval_support",)

W = "13010500000W01"
REGISTRY = f"""\
enterprises:
  - id: "91130105MA0CXXXX1X"
    name: "Example Paper Co."
    region: "130105"
    devices:
      - id: "{W}"
        kind: water
        outlet: "DW001"
        limits: {{cod: 50, nh3n: 5}}
        limits_hourly: {{nh3n: 8}}
"""
DAY = datetime(2026, 11, 22, 16, 0, tzinfo=UTC)  # 2026-11-23 00:00 UTC+8


@pytest.fixture
async def water_env(database: str) -> AsyncIterator[EvalEnv]:
    registry: Registry = parse_registry(REGISTRY, "water.yaml")
    async with AsyncConnectionPool(database, min_size=1, max_size=4, open=False) as pool:
        yield EvalEnv(pool, registry, CollectorRegistry())


def hourly(metric: str, values: list[float], start: datetime = DAY,
           flag: str = "N") -> list[tuple[str, str, datetime, float, str]]:
    return [(W, metric, start + timedelta(hours=i), v, flag) for i, v in enumerate(values)]


async def test_daily_mean_above_the_limit_fires_once_the_day_is_complete(water_env: EvalEnv) -> None:
    """COD hourly means of 60 mg/L for 24 h against a daily limit of 50: one alert for the day,
    with its mean; the next day compliant closes it."""
    runner = water_env.runner(["emission_exceedance"])
    await water_env.write_rows(hourly("cod", [60.0] * 23))
    await runner.drain()
    assert await water_env.alerts() == [], "the day is not complete yet"
    await water_env.write_rows(hourly("cod", [60.0], DAY + timedelta(hours=23)))
    await runner.drain()
    [alert] = await water_env.alerts()
    assert (alert.subject, alert.start, alert.end) == (f"{W}/cod", DAY, None)
    assert alert.evidence["facts"]["means"] == [60.0]
    assert "化学需氧量日均值" in alert.summary_zh and "daily limit 50" in alert.summary
    await water_env.write_rows(hourly("cod", [30.0] * 24, DAY + timedelta(days=1)))
    await runner.drain()
    [alert] = await water_env.alerts()
    assert alert.end == DAY + timedelta(days=1)


async def test_single_hour_spike_in_a_compliant_day_is_no_alert(water_env: EvalEnv) -> None:
    """One hour at 150 mg/L COD in a day averaging 35: no daily alert, and COD has no hourly
    limit; the same for a day with only 19 valid hours at 60 (not judged)."""
    values = [30.0] * 24
    values[9] = 150.0
    await water_env.write_rows(hourly("cod", values) + hourly("cod", [60.0] * 19, DAY + timedelta(days=1))
                               + hourly("cod", [40.0], DAY + timedelta(days=2)))
    await water_env.runner(["emission_exceedance"]).drain()
    assert await water_env.alerts() == []


async def test_hourly_limit_and_ph_range(water_env: EvalEnv) -> None:
    """NH3-N hours above limits_hourly (8) fire on the hourly subject; pH 5.2 for 2 h fires."""
    nh3n = [3.0] * 10 + [9.5, 10.0] + [3.0] * 12
    ph = [7.0] * 5 + [5.2, 5.2] + [7.1] * 17
    await water_env.write_rows(hourly("nh3n", nh3n) + hourly("ph", ph))
    await water_env.runner(["emission_exceedance"]).drain()
    alerts = {a.subject: a for a in await water_env.alerts()}
    assert set(alerts) == {f"{W}/nh3n/hourly", f"{W}/ph"}
    a = alerts[f"{W}/nh3n/hourly"]
    assert (a.start, a.end, a.evidence["facts"]["periods"]) == (DAY + timedelta(hours=10),
                                                                DAY + timedelta(hours=12), 2)
    p = alerts[f"{W}/ph"]
    assert (p.start, p.end) == (DAY + timedelta(hours=5), DAY + timedelta(hours=7))
    assert "pH 值 5.2～5.2" in p.summary_zh


async def test_water_is_suppressed_only_by_approved_maintenance(water_env: EvalEnv) -> None:
    """Readings inside approved maintenance are left out (when the rule honours maintenance)."""
    await water_env.execute(
        "INSERT INTO maintenance (device_id, start_ts, end_ts, reason, declared_by_role)"
        " VALUES (%s, %s, %s, 'analyser cleaning', 'officer')", (W, DAY, DAY + timedelta(hours=12)))
    params = dataclasses.replace(ExceedanceParams(), suppressed_by_maintenance=True)
    await water_env.write_rows(hourly("cod", [60.0] * 25))
    await water_env.runner(["emission_exceedance"], emission_exceedance=params).drain()
    assert await water_env.alerts() == [], "12 valid hours left: the day is not judged"


def test_water_telemetry_over_mqtt_topic_is_parsed() -> None:
    """``telemetry/water/{id}`` carries the water metrics; a flue-gas metric there is refused
    with the reason, and the same device under another kind is a kind mismatch."""
    parser = TelemetryParser(parse_registry(REGISTRY, "water.yaml"))
    now = datetime(2026, 11, 23, 0, 0, tzinfo=UTC)
    ok = parser.parse_mqtt(f"telemetry/water/{W}",
                           b'{"ts": "2026-11-23T08:00:00+08:00", "values": {"cod": 42.5, "ph": 7.1}}', now=now)
    assert sorted((r.device_id, r.metric, r.value) for r in ok.rows) == [(W, "cod", 42.5), (W, "ph", 7.1)]
    bad = parser.parse_mqtt(f"telemetry/water/{W}",
                            b'{"ts": "2026-11-23T08:00:00+08:00", "values": {"so2": 1}}', now=now)
    assert bad.rows == [] and bad.rejections and "so2" in bad.rejections[0].detail
    wrong = parser.parse_mqtt(f"telemetry/cems/{W}",
                              b'{"ts": "2026-11-23T08:00:00+08:00", "values": {"cod": 1}}', now=now)
    assert wrong.rejections and wrong.rejections[0].reason == "kind_mismatch"


async def test_water_value_frozen_for_twelve_hours_is_a_flatline(water_env: EvalEnv) -> None:
    """COD held at exactly 23.4 for 14 hourly uploads: a flatline alert (water duration 12 h);
    the same value for 10 hours, then changing, is nothing (analysers repeat for hours)."""
    await water_env.write_rows(hourly("cod", [23.4] * 14 + [25.0, 26.1]))
    await water_env.write_rows(hourly("nh3n", [2.1] * 10 + [2.3, 2.2, 2.5, 2.4, 2.6, 2.7]))
    await water_env.runner(["flatline"]).drain()
    [alert] = await water_env.alerts()
    assert (alert.rule, alert.subject, alert.start) == ("flatline", f"{W}/cod", DAY)
    assert alert.end == DAY + timedelta(hours=14)
    assert "化学需氧量" in alert.summary_zh and "23.4" in alert.summary
