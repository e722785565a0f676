"""data_gap end to end: gaps in event time when later data arrives, and wall-clock silence
(the runner's sweep) of live devices."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

from test_eval_support import SCR, EvalEnv, at, insert_maintenance, simulate_days, spans

from ecowarn.simulator import DataGap
from ecowarn.simulator.plant import Simulation

pytest_plugins = ("test_eval_support",)

MIN = 60.0


def one_day(env: EvalEnv, *gaps: tuple[datetime, datetime]) -> Simulation:
    return simulate_days(env.registry, 1, [DataGap((SCR,), a, b) for a, b in gaps])


async def test_gap_is_found_when_later_data_arrives(eval_env: EvalEnv) -> None:
    """SCR meter silent 05:00-05:45: once later data arrives, one closed alert from the last
    reading (04:59) to the next (05:45), 46 min."""
    sim = one_day(eval_env, (at(0, 5), at(0, 5, 45)))
    runner = eval_env.runner(["data_gap"])
    await eval_env.write_sim(sim, devices=(SCR,), end=at(0, 5))
    await runner.drain()
    assert await eval_env.alerts() == [], "no later data yet: event time cannot judge"
    await eval_env.write_sim(sim, devices=(SCR,), start=at(0, 5))
    await runner.drain()
    [alert] = await eval_env.alerts()
    assert (alert.subject, alert.device_ids) == (SCR, [SCR])
    assert (alert.start, alert.end) == (at(0, 4, 59), at(0, 5, 45))
    assert alert.evidence["facts"]["gap_min"] == 46.0
    assert alert.evidence["source"] == "event_time"
    assert alert.severity == "low"
    assert "no reading for 46 min" in alert.summary and "缺失 46 分钟" in alert.summary_zh


async def test_gap_of_29_minutes_is_no_alert(eval_env: EvalEnv) -> None:
    """28 missing minutes leave 29 min between readings (minimum 30): no alert."""
    await eval_env.write_sim(one_day(eval_env, (at(0, 5), at(0, 5, 28))), devices=(SCR,))
    await eval_env.runner(["data_gap"]).drain()
    assert await eval_env.alerts() == []


async def test_gaps_across_batches_and_devices_are_each_found_once(eval_env: EvalEnv) -> None:
    """Two gaps of one meter, data streamed in 10-minute batches: two alerts, no duplicates."""
    sim = one_day(eval_env, (at(0, 2), at(0, 3)), (at(0, 20), at(0, 20, 31)))
    runner = eval_env.runner(["data_gap"])
    t = at(0, 0)
    while t < at(1, 0):
        await eval_env.write_sim(sim, devices=(SCR,), start=t, end=t + timedelta(minutes=10))
        await runner.drain()
        t += timedelta(minutes=10)
    assert spans(await eval_env.alerts()) == [(at(0, 1, 59), at(0, 3)), (at(0, 19, 59), at(0, 20, 31))]


async def test_declared_maintenance_is_taken_out_of_a_gap(eval_env: EvalEnv) -> None:
    """A 3 h silence with maintenance declared for its first 2 h15: only 45 min remain."""
    await insert_maintenance(eval_env, SCR, at(0, 4, 59), at(0, 7, 14), "meter replaced")
    await eval_env.write_sim(one_day(eval_env, (at(0, 5), at(0, 8))), devices=(SCR,))
    await eval_env.runner(["data_gap"]).drain()
    [alert] = await eval_env.alerts()
    assert (alert.start, alert.end) == (at(0, 7, 14), at(0, 8))
    assert alert.evidence["maintenance_excluded"][0]["reason"] == "meter replaced"


async def write_recent(env: EvalEnv, device: str, end: datetime, minutes: int,
                       received_s: float | None = None) -> None:
    """``minutes`` of power readings of ``device`` ending at ``end`` (event time), stored as
    received at ``received_s`` (wall clock; default now)."""
    rows = [(device, "p", end - timedelta(minutes=k), 50.0, "N") for k in range(minutes, 0, -1)]
    await env.write_rows(rows)
    if received_s is not None:
        await env.execute("UPDATE readings SET received_at = to_timestamp(%s)"
                          " WHERE device_id = %s AND ts >= %s AND ts < %s",
                          (received_s, device, rows[0][2], end))


async def test_silent_live_device_gets_an_open_alert_then_its_real_end(eval_env: EvalEnv) -> None:
    """A meter last heard 31 min ago (wall clock) -> open alert from its last reading; when it
    reports again after the gap, the event-time evaluation closes it at the next reading."""
    now = time.time()
    last = datetime.fromtimestamp(int(now // 60 * 60) - 40 * 60, UTC)
    runner = eval_env.runner(["data_gap"])
    await write_recent(eval_env, SCR, last + timedelta(minutes=1), 30, now - 31 * MIN)
    await runner.drain()
    eval_env.arrivals[SCR] = now - 31 * MIN
    res = await runner.sweep_silence(now)
    [alert] = await eval_env.alerts()
    assert res.opened == [alert.id]
    assert (alert.start, alert.end, alert.status) == (last, None, "open")
    assert alert.evidence["source"] == "wall_clock"
    assert alert.evidence["facts"]["silent_min"] == 31.0
    assert "silent for 31 min" in alert.summary and "ongoing" in alert.summary
    again = await runner.sweep_silence(now + 5 * MIN)
    assert again.opened == [] and len(await eval_env.alerts()) == 1, "one alert while it lasts"
    # Messages resume: the first reading after the silence is at last + 38 min.
    eval_env.arrivals[SCR] = now + 6 * MIN
    resumed = last + timedelta(minutes=38)
    await eval_env.write_rows([(SCR, "p", resumed, 52.0, "N")])
    await runner.drain()
    [alert] = await eval_env.alerts()
    assert (alert.start, alert.end) == (last, resumed)
    assert alert.evidence["source"] == "event_time"
    closed = await runner.sweep_silence(now + 7 * MIN)
    assert closed.opened == [] and closed.closed == []


async def test_backlog_replay_is_not_silence(eval_env: EvalEnv) -> None:
    """A device whose messages keep arriving is not silent, however old its readings are."""
    old = datetime(2026, 11, 1, tzinfo=UTC)
    await write_recent(eval_env, SCR, old, 60)
    runner = eval_env.runner(["data_gap"])
    await runner.drain()
    now = time.time()
    eval_env.arrivals[SCR] = now - 5.0
    assert (await runner.sweep_silence(now)).opened == []
    assert await eval_env.alerts() == []


async def test_sweep_closes_a_silence_that_a_backlog_filled(eval_env: EvalEnv) -> None:
    """Silent for 35 min of wall clock, then the logger sends what it buffered (no event-time
    gap): the sweep closes the wall-clock alert at the first reading after its start."""
    now = time.time()
    last = datetime.fromtimestamp(int(now // 60 * 60) - 36 * 60, UTC)
    runner = eval_env.runner(["data_gap"])
    await write_recent(eval_env, SCR, last + timedelta(minutes=1), 20, now - 35 * MIN)
    await runner.drain()
    eval_env.arrivals[SCR] = now - 35 * MIN
    await runner.sweep_silence(now)
    eval_env.arrivals[SCR] = now + MIN
    await write_recent(eval_env, SCR, last + timedelta(minutes=36), 35)
    await runner.drain()
    res = await runner.sweep_silence(now + 2 * MIN)
    [alert] = await eval_env.alerts()
    assert res.closed == [alert.id]
    assert (alert.start, alert.end) == (last, last + timedelta(minutes=1))
    assert alert.evidence["source"] == "wall_clock" and "messages resumed" in alert.summary


async def test_silence_is_judged_from_stored_arrivals_after_a_restart(eval_env: EvalEnv) -> None:
    """Without the collector's arrival times (restart, HJ 212 or HTTP device), received_at of
    the latest stored reading tells when the device was last heard."""
    runner = eval_env.runner(["data_gap"])
    now = time.time()
    await write_recent(eval_env, SCR, datetime.fromtimestamp(now // 60 * 60, UTC), 10)
    await runner.drain()
    assert (await runner.sweep_silence(now + 29 * MIN)).opened == []
    assert len((await runner.sweep_silence(now + 31 * MIN)).opened) == 1


async def test_devices_never_heard_from_are_not_judged(eval_env: EvalEnv) -> None:
    """Registered devices without any message or reading raise no wall-clock alert."""
    res = await eval_env.runner(["data_gap"]).sweep_silence(time.time() + 86_400)
    assert res.opened == [] and await eval_env.alerts() == []


async def test_no_silence_alert_during_declared_maintenance(eval_env: EvalEnv) -> None:
    """A device silent for an hour under declared maintenance raises nothing."""
    now = time.time()
    await write_recent(eval_env, SCR, datetime.fromtimestamp(now - 3600, UTC), 10, now - 3600)
    await insert_maintenance(eval_env, SCR, datetime.fromtimestamp(now - 3700, UTC),
                             datetime.fromtimestamp(now + 3600, UTC))
    runner = eval_env.runner(["data_gap"])
    await runner.drain()
    eval_env.arrivals[SCR] = now - 3600
    assert (await runner.sweep_silence(now)).opened == []


async def test_runner_loop_sweeps_on_its_own(eval_env: EvalEnv) -> None:
    """The runner's loop runs the sweep periodically: a silent device gets its alert."""
    now = time.time()
    await write_recent(eval_env, SCR, datetime.fromtimestamp(now - 3600, UTC), 10, now - 3600)
    eval_env.arrivals[SCR] = now - 3600
    runner = eval_env.runner(["data_gap"])
    task = asyncio.create_task(runner.run(), name="runner-under-test")
    try:
        for _ in range(200):
            if await eval_env.alerts():
                break
            await asyncio.sleep(0.05)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    [alert] = await eval_env.alerts()
    assert alert.end is None and alert.evidence["source"] == "wall_clock"


async def test_gap_filled_by_late_data_is_retired(eval_env: EvalEnv) -> None:
    """Data of 05:00-05:59 delivered after 06:00-...: the apparent gap's alert is retired once
    the late data arrives (superseded, filled_by_late_data); no live data_gap alert remains."""
    sim = one_day(eval_env)
    runner = eval_env.runner(["data_gap"])
    await eval_env.write_sim(sim, devices=(SCR,), end=at(0, 5))
    await eval_env.write_sim(sim, devices=(SCR,), start=at(0, 6))
    await runner.drain()
    [alert] = await eval_env.alerts()
    assert (alert.start, alert.end) == (at(0, 4, 59), at(0, 6))
    await eval_env.write_sim(sim, devices=(SCR,), start=at(0, 5), end=at(0, 6))
    await runner.drain()
    assert await eval_env.alerts() == []
    [gone] = await eval_env.alerts(live=False)
    assert (gone.id, gone.status, gone.evidence["filled_by_late_data"]) == (alert.id, "superseded", True)


async def test_gap_partly_filled_by_late_data_shrinks_to_what_is_left(eval_env: EvalEnv) -> None:
    """Late data for 05:00-05:09 of a 04:59-06:00 gap: the alert now runs 05:09-06:00 (51 min)."""
    sim = one_day(eval_env)
    runner = eval_env.runner(["data_gap"])
    await eval_env.write_sim(sim, devices=(SCR,), end=at(0, 5))
    await eval_env.write_sim(sim, devices=(SCR,), start=at(0, 6))
    await runner.drain()
    [before] = await eval_env.alerts()
    await eval_env.write_sim(sim, devices=(SCR,), start=at(0, 5), end=at(0, 5, 10))
    await runner.drain()
    [alert] = await eval_env.alerts()
    assert (alert.id, alert.start, alert.end) == (before.id, at(0, 5, 9), at(0, 6))
    assert alert.evidence["facts"]["gap_min"] == 51.0
