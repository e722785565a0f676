"""data_gap outages (CONTRACT 1.1 section 8): devices of one enterprise, or air stations,
falling silent within ``group_window_min`` (5 min) of each other are one alert naming all of
them, in event time and on the wall clock; a silence starting further apart is its own."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterable
from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client import CollectorRegistry
from psycopg_pool import AsyncConnectionPool
from test_eval_data_gap import write_recent
from test_eval_support import (
    KILN,
    SCR,
    EvalEnv,
    at,
    insert_order,
    simulate_days,
)

from ecowarn.config.registry import parse_registry
from ecowarn.simulator import DataGap, TreatmentOutage

pytest_plugins = ("test_eval_support",)

MIN = 60.0
WORKS = "91130105MA0CXXXX1X"
METERS = tuple(f"PWR-M{i}" for i in range(1, 9))
STATIONS = ("AQ-0001", "AQ-0002", "AQ-0003", "AQ-0004", "AQ-0005")

REGISTRY = """
enterprises:
  - id: "91130105MA0CXXXX1X"
    name: "Outage Test Works"
    region: "130105"
    industry: cement
    notify: {}
    devices:
""" + "".join(f"""      - id: "{m}"
        kind: power
        role: treatment
        equipment: "Fan {m[-1]}"
        rated_kw: 100
""" for m in METERS)


@pytest.fixture
async def site(database: str) -> AsyncIterator[EvalEnv]:
    """An enterprise of eight power meters (and nothing else)."""
    async with AsyncConnectionPool(database, min_size=1, max_size=4, open=False) as pool:
        yield EvalEnv(pool, parse_registry(REGISTRY), CollectorRegistry())


def t(hh: int, mm: int = 0) -> datetime:
    return at(0, hh, mm)


def minutes(device: str, start: datetime, end: datetime, *, metric: str = "p",
            silent: tuple[datetime, datetime] | None = None) -> list[tuple[str, str, datetime, float | None, str]]:
    """A reading a minute in ``[start, end)``, none in ``silent`` (``[from, to)``)."""
    rows = []
    ts = start
    while ts < end:
        if silent is None or not silent[0] <= ts < silent[1]:
            rows.append((device, metric, ts, 50.0, "N"))
        ts += timedelta(minutes=1)
    return rows


def rows_of(silences: dict[str, tuple[datetime, datetime]],
            devices: Iterable[str] = METERS) -> list[tuple[str, str, datetime, float | None, str]]:
    """A reading a minute 00:00-04:00 of each device, none in its silence."""
    return [r for d in devices for r in minutes(d, t(0), t(4), silent=silences.get(d))]


async def test_site_outage_of_eight_devices_is_one_alert_naming_all(site: EvalEnv) -> None:
    """All eight meters of the works silent 01:00-01:45 (a site outage): one alert naming the
    eight, from the last reading (00:59) to the first after (01:45), worded as an outage."""
    await site.write_rows(rows_of(dict.fromkeys(METERS, (t(1), t(1, 45)))))
    await site.runner(["data_gap"]).drain()
    [alert] = await site.alerts(live=False)
    assert alert.device_ids == list(METERS) and alert.enterprise_id == WORKS
    assert (alert.start, alert.end, alert.status) == (t(0, 59), t(1, 45), "open")
    assert alert.evidence["facts"]["devices_silent"] == 8 and alert.evidence["facts"]["gap_min"] == 46.0
    assert alert.evidence["source"] == "event_time" and alert.evidence["group"] == f"site:{WORKS}"
    assert "Outage Test Works" in alert.summary and "8 devices fell silent together" in alert.summary
    assert "looks like a site or network outage" in alert.summary
    assert all(f"Fan {m[-1]} power meter ({m})" in alert.summary for m in METERS)
    assert "8 台设备" in alert.summary_zh and "疑似厂区停电或网络故障" in alert.summary_zh
    assert all(m in alert.summary_zh for m in METERS)


async def test_outage_streamed_as_devices_come_back_stays_one_alert(site: EvalEnv) -> None:
    """Eight meters fall silent within 3 min of each other and come back one by one over 40 min,
    streamed in 5-minute batches: always one alert (the same id), growing to name all eight;
    it ends when the last one reports again."""
    silences = {m: (t(1, i % 4), t(1, 40) + timedelta(minutes=5 * (7 - i))) for i, m in enumerate(METERS)}
    rows = rows_of(silences)
    runner = site.runner(["data_gap"])
    ids = set()
    ts = t(0)
    while ts < t(4):
        await site.write_rows([r for r in rows if ts <= r[2] < ts + timedelta(minutes=5)])
        await runner.drain()
        ids |= {a.id for a in await site.alerts(live=False)}
        ts += timedelta(minutes=5)
    [alert] = await site.alerts(live=False)
    assert ids == {alert.id}
    assert alert.device_ids == list(METERS)
    assert (alert.start, alert.end) == (t(0, 59), t(2, 15))


async def test_devices_falling_silent_20_min_apart_are_two_alerts(site: EvalEnv) -> None:
    """One meter silent from 01:00, another from 01:20 (overlapping silences of one site, but
    not one outage): two alerts, one device each."""
    await site.write_rows(rows_of({METERS[0]: (t(1), t(2)), METERS[1]: (t(1, 20), t(2, 10))}))
    await site.runner(["data_gap"]).drain()
    alerts = await site.alerts(live=False)
    assert [(a.device_ids, a.start, a.end) for a in alerts] == [
        ([METERS[0]], t(0, 59), t(2)), ([METERS[1]], t(1, 19), t(2, 10))]
    assert "no reading for 61 min" in alerts[0].summary, "one device keeps the one-device wording"


@pytest.mark.parametrize(("apart_min", "alerts"), [(5, 1), (6, 2)])
async def test_group_window_boundary_is_inclusive(site: EvalEnv, apart_min: int, alerts: int) -> None:
    """Silences starting exactly 5 min apart are one outage; 6 min apart, two alerts (the
    window is inclusive: ``group_window_min`` 5 joins starts up to 300 s apart)."""
    late = t(1) + timedelta(minutes=apart_min)
    await site.write_rows(rows_of({METERS[0]: (t(1), t(2)), METERS[1]: (late, t(2))}))
    await site.runner(["data_gap"]).drain()
    found = await site.alerts(live=False)
    assert len(found) == alerts
    assert sorted(d for a in found for d in a.device_ids) == [METERS[0], METERS[1]]


async def test_silences_chained_within_the_window_are_one_outage(site: EvalEnv) -> None:
    """Starts at 01:00, 01:04 and 01:08: each within 5 min of the previous one, so one outage
    (single linkage), though the first and last are 8 min apart; one at 01:14 is its own."""
    await site.write_rows(rows_of({METERS[0]: (t(1), t(2)), METERS[1]: (t(1, 4), t(2)),
                                   METERS[2]: (t(1, 8), t(2)), METERS[3]: (t(1, 14), t(2))}))
    await site.runner(["data_gap"]).drain()
    assert [a.device_ids for a in await site.alerts(live=False)] == [list(METERS[:3]), [METERS[3]]]


async def test_late_data_filling_one_devices_silence_drops_it_from_the_outage(site: EvalEnv) -> None:
    """Two meters seem silent together; the second one's readings from 01:32 on arrive late,
    after the first one's silence ended (01:30): its silence was 28 min, no silence. The
    outage is worked out again and names the first meter alone."""
    a, b = METERS[:2]
    rows = rows_of({a: (t(1), t(1, 30)), b: (t(1, 4), t(2, 30))})
    late = minutes(b, t(1, 32), t(2, 30))
    await site.write_rows(rows)
    runner = site.runner(["data_gap"])
    await runner.drain()
    [before] = await site.alerts()
    assert before.device_ids == [a, b]
    await site.write_rows(late)
    await runner.drain()
    [alert] = await site.alerts(live=False)
    assert (alert.id, alert.device_ids, alert.start, alert.end) == (before.id, [a], t(0, 59), t(1, 30))


async def test_maintenance_declared_after_takes_its_device_out_of_the_outage(site: EvalEnv) -> None:
    """Two meters silent together; maintenance of the second is declared afterwards for its
    whole silence: the alert keeps the first meter only."""
    from test_eval_support import insert_maintenance

    a, b = METERS[:2]
    await site.write_rows(rows_of({a: (t(1), t(2)), b: (t(1), t(2))}))
    runner = site.runner(["data_gap"])
    await runner.drain()
    [before] = await site.alerts()
    await insert_maintenance(site, b, t(0, 50), t(2, 10), "logger replaced")
    await runner.drain()
    [alert] = await site.alerts(live=False)
    assert (alert.id, alert.device_ids, alert.start, alert.end) == (before.id, [a], t(0, 59), t(2))


async def test_group_window_zero_keeps_one_alert_per_device(site: EvalEnv) -> None:
    """With ``group_window_min`` 0 every device is judged alone, as before grouping."""
    from ecowarn.detectors.data_gap import DataGapParams

    await site.write_rows(rows_of(dict.fromkeys(METERS[:3], (t(1), t(1, 45)))))
    await site.runner(["data_gap"], data_gap=DataGapParams(group_window_min=0)).drain()
    assert sorted(a.device_ids[0] for a in await site.alerts()) == list(METERS[:3])


async def test_stations_falling_silent_together_are_one_alert(eval_env: EvalEnv) -> None:
    """Three air stations silent 01:00-01:50 (a network outage) are one alert without an
    enterprise; a meter of a works silent at the same time is an alert of its own."""
    silences = dict.fromkeys(STATIONS[:3], (t(1), t(1, 50)))
    rows = [r for s in STATIONS for r in minutes(s, t(0), t(3), metric="pm25", silent=silences.get(s))]
    rows += minutes(SCR, t(0), t(3), silent=(t(1, 1), t(1, 40)))
    await eval_env.write_rows(rows)
    await eval_env.runner(["data_gap"]).drain()
    stations, works = sorted(await eval_env.alerts(live=False), key=lambda a: a.enterprise_id or "")
    assert (stations.enterprise_id, stations.device_ids) == (None, list(STATIONS[:3]))
    assert (stations.start, stations.end) == (t(0, 59), t(1, 50))
    assert stations.evidence["group"] == "stations"
    assert "Air quality stations: 3 stations fell silent together" in stations.summary
    assert "looks like a network outage" in stations.summary and "疑似通信网络故障" in stations.summary_zh
    assert works.device_ids == [SCR] and (works.start, works.end) == (t(1), t(1, 40))


async def test_wall_clock_sweep_groups_and_the_alert_ends_with_the_last_device(site: EvalEnv) -> None:
    """Three meters go silent together (wall clock): one open alert naming them; a fourth
    silent 3 min later joins it at a later sweep. Three report again: the alert stays open,
    still naming the fourth; when that one reports again, it ends at its first reading."""
    now = time.time()
    last = datetime.fromtimestamp(int(now // 60 * 60) - 40 * 60, UTC)
    a, b, c, d = METERS[:4]
    for m in (a, b, c):
        await write_recent(site, m, last + timedelta(minutes=1), 30, now - 35 * MIN)
        site.arrivals[m] = now - 35 * MIN
    await write_recent(site, d, last + timedelta(minutes=4), 30, now - 28 * MIN)
    site.arrivals[d] = now - 28 * MIN
    for m in METERS[4:]:
        await write_recent(site, m, datetime.fromtimestamp(now, UTC), 60)
        site.arrivals[m] = now
    runner = site.runner(["data_gap"])
    await runner.drain()
    res = await runner.sweep_silence(now)
    [alert] = await site.alerts()
    assert res.opened == [alert.id]
    assert (alert.device_ids, alert.start, alert.end) == ([a, b, c], last, None)
    assert alert.evidence["source"] == "wall_clock" and alert.evidence["facts"]["silent_min"] == 35.0
    assert "3 devices fell silent together" in alert.summary and "still silent" in alert.summary
    assert alert.summary.endswith("ongoing")
    for m in METERS[4:]:
        site.arrivals[m] = now + 3 * MIN
    res = await runner.sweep_silence(now + 3 * MIN)
    [alert] = await site.alerts(live=False)
    assert res.opened == [] and alert.device_ids == [a, b, c, d] and alert.end is None
    # a, b and c report again, 45 min after their last reading; d is still silent.
    back = last + timedelta(minutes=45)
    await site.write_rows([r for m in (a, b, c) for r in minutes(m, back, back + timedelta(minutes=3))])
    for m in (a, b, c):
        site.arrivals[m] = now + 4 * MIN
    await runner.drain()
    [alert] = await site.alerts(live=False)
    assert (alert.device_ids, alert.end) == ([a, b, c, d], None)
    assert alert.evidence["facts"]["still_silent"] == [d]
    res = await runner.sweep_silence(now + 5 * MIN)
    [alert] = await site.alerts(live=False)
    assert res.opened == res.closed == [] and (alert.device_ids, alert.end) == ([a, b, c, d], None)
    # d reports again: the outage ends at its first reading.
    d_back = last + timedelta(minutes=50)
    await site.write_rows(minutes(d, d_back, d_back + timedelta(minutes=2)))
    site.arrivals[d] = now + 6 * MIN
    await runner.drain()
    [alert] = await site.alerts(live=False)
    assert (alert.device_ids, alert.start, alert.end) == ([a, b, c, d], last, d_back)
    assert alert.evidence["source"] == "event_time" and "all reporting again by" in alert.summary
    assert (await runner.sweep_silence(now + 7 * MIN)).closed == []


async def test_wall_clock_silences_20_min_apart_are_two_alerts(site: EvalEnv) -> None:
    """Two meters silent on the wall clock, their last readings 20 min apart: two alerts."""
    now = time.time()
    last = datetime.fromtimestamp(int(now // 60 * 60) - 60 * 60, UTC)
    a, b = METERS[:2]
    await write_recent(site, a, last + timedelta(minutes=1), 10, now - 55 * MIN)
    await write_recent(site, b, last + timedelta(minutes=21), 10, now - 35 * MIN)
    site.arrivals.update({a: now - 55 * MIN, b: now - 35 * MIN})
    runner = site.runner(["data_gap"])
    await runner.drain()
    await runner.sweep_silence(now)
    alerts = await site.alerts()
    assert [(x.device_ids, x.start, x.end) for x in alerts] == [
        ([a], last, None), ([b], last + timedelta(minutes=20), None)]


async def test_backlog_filled_outage_is_ended_by_the_sweep_naming_all(site: EvalEnv) -> None:
    """Two meters silent on the wall clock, then their loggers send what they buffered (no gap
    in event time): the sweep ends the outage at the last first reading and keeps it."""
    now = time.time()
    last = datetime.fromtimestamp(int(now // 60 * 60) - 36 * 60, UTC)
    a, b = METERS[:2]
    for m in (a, b):
        await write_recent(site, m, last + timedelta(minutes=1), 20, now - 35 * MIN)
        site.arrivals[m] = now - 35 * MIN
    runner = site.runner(["data_gap"])
    await runner.drain()
    await runner.sweep_silence(now)
    for m in (a, b):
        site.arrivals[m] = now + MIN
        await write_recent(site, m, last + timedelta(minutes=36), 35)
    await runner.drain()
    [alert] = await site.alerts()
    assert alert.end is None, "event time sees no gap: the sweep decides"
    res = await runner.sweep_silence(now + 2 * MIN)
    [alert] = await site.alerts()
    assert res.closed == [alert.id]
    assert (alert.device_ids, alert.start, alert.end) == ([a, b], last, last + timedelta(minutes=1))
    assert "all reporting again by" in alert.summary and alert.summary.endswith("ended")


async def test_silent_production_meter_raises_only_the_data_gap(eval_env: EvalEnv) -> None:
    """The kiln's meter is silent 03:00-05:00 while its treatment is off and a shutdown order
    runs: its absence is not production (nor no production), so only data_gap fires there.
    The same treatment outage and order at 08:00-08:30 with the meter reporting do fire."""
    sim = simulate_days(eval_env.registry, 1, [
        DataGap((KILN,), at(0, 3), at(0, 5)), TreatmentOutage((KILN,), at(0, 3), at(0, 5)),
        TreatmentOutage((KILN,), at(0, 8), at(0, 8, 30))])
    await insert_order(eval_env, [WORKS], at(0, 3), at(0, 5))
    await insert_order(eval_env, [WORKS], at(0, 8), at(0, 8, 30))
    await eval_env.write_sim(sim)
    await eval_env.runner().drain()
    alerts = await eval_env.alerts()
    during = [a for a in alerts if a.start < at(0, 5) and (a.end is None or a.end > at(0, 3))]
    assert [(a.rule, a.device_ids, a.start, a.end) for a in during] == [
        ("data_gap", [KILN], at(0, 2, 59), at(0, 5))]
    control = {a.rule for a in alerts if at(0, 8) <= a.start < at(0, 8, 30)}
    assert {"treatment_off", "emergency_noncompliance"} <= control
