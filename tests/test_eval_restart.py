"""Every rule together over a simulated plant: exact alerts, and re-evaluation (restart,
replay, streaming in batches) never duplicates or moves them."""

from __future__ import annotations

from datetime import datetime, timedelta

from test_eval_support import (
    BAG,
    CEMENT,
    KILN,
    KILN_CEMS,
    SCR,
    EvalEnv,
    at,
    insert_order,
    simulate_days,
)

from ecowarn.simulator import (
    AirHotspot,
    Bypass,
    DataGap,
    Exceedance,
    Flatline,
    Marking,
    O2Dilution,
    Pinned,
    PlannedShutdown,
    TreatmentBlip,
    TreatmentOutage,
    TreatmentUnderload,
)
from ecowarn.simulator.plant import Simulation

pytest_plugins = ("test_eval_support",)

INJECTIONS = (
    TreatmentOutage((KILN,), at(2, 1), at(2, 1, 25)),
    TreatmentUnderload((BAG,), at(2, 3), at(2, 4)),
    DataGap((SCR,), at(2, 5), at(2, 5, 45)),
    Exceedance((KILN_CEMS,), at(2, 6), at(2, 8), metric="so2"),
    Flatline((KILN_CEMS,), at(2, 9), at(2, 11, 30), metric="nox"),
    AirHotspot(("AQ-0001",), at(2, 10), at(2, 11)),
    O2Dilution((KILN_CEMS,), at(2, 12), at(2, 13, 30)),
    Bypass((KILN_CEMS,), at(2, 14), at(2, 15, 30)),
    Marking((KILN_CEMS,), at(2, 16), at(2, 17, 30)),
    Pinned((KILN_CEMS,), at(2, 18), at(3, 2)),
    TreatmentBlip((KILN,), at(1, 9), at(1, 9, 8)),          # hard negative
    PlannedShutdown((KILN,), at(1, 12), at(1, 14)),         # hard negative
)

EXPECTED = {
    ("treatment_off", KILN, at(2, 1), at(2, 1, 25)),
    ("treatment_underload", BAG, at(2, 3), at(2, 4)),
    ("data_gap", SCR, at(2, 4, 59), at(2, 5, 45)),
    ("emission_exceedance", f"{KILN_CEMS}/so2", at(2, 6), at(2, 8)),
    ("flatline", f"{KILN_CEMS}/nox", at(2, 9), at(2, 11, 30)),
    ("air_hotspot", "AQ-0001", at(2, 10), at(2, 11)),
    ("o2_dilution", KILN_CEMS, at(2, 12), at(2, 13, 30)),
    ("bypass_suspected", KILN_CEMS, at(2, 14), at(2, 15, 30)),
    ("undeclared_marking", KILN_CEMS, at(2, 16), at(2, 17, 30)),
    ("pinned_below_limit", f"{KILN_CEMS}/so2", at(2, 18), at(3, 2)),
    ("emergency_noncompliance", KILN, at(3, 4), at(3, 6)),
}


def scenario(env: EvalEnv) -> Simulation:
    return simulate_days(env.registry, 4, INJECTIONS, stations=True)


async def snapshot(env: EvalEnv) -> set[tuple[str, str, datetime, datetime | None]]:
    return {(a.rule, a.subject, a.start, a.end) for a in await env.alerts()}


async def test_every_rule_fires_exactly_where_injected(eval_env: EvalEnv) -> None:
    """Four days of the cement works and the stations, streamed day by day: one alert per
    injected violation with its exact span, nothing for the hard negatives."""
    await insert_order(eval_env, [CEMENT], at(3, 4), at(3, 6))
    sim = scenario(eval_env)
    runner = eval_env.runner()
    for day in range(4):
        await eval_env.write_sim(sim, start=at(day, 0), end=at(day + 1, 0))
        await runner.drain()
    alerts = await eval_env.alerts()
    assert await snapshot(eval_env) == EXPECTED
    assert len(alerts) == len(EXPECTED)
    for a in alerts:
        assert a.summary and a.summary_zh and a.params and a.evidence["facts"], a.rule
        assert a.severity in ("low", "medium", "high"), a.rule


async def test_re_evaluating_everything_after_a_restart_changes_nothing(eval_env: EvalEnv) -> None:
    """Queue the whole history again and drain with a fresh runner: same alerts, same ids."""
    await insert_order(eval_env, [CEMENT], at(3, 4), at(3, 6))
    await eval_env.write_sim(scenario(eval_env))
    await eval_env.runner().drain()
    before = {(a.id, a.rule, a.subject, a.start, a.end, a.status) for a in await eval_env.alerts(live=False)}
    assert {(r, s, a, b) for _, r, s, a, b, _ in before} == EXPECTED
    await eval_env.requeue_all()
    assert await eval_env.runner().drain() > 0
    after = {(a.id, a.rule, a.subject, a.start, a.end, a.status) for a in await eval_env.alerts(live=False)}
    assert after == before


async def test_hourly_batches_give_the_same_alerts_as_one_bulk_load(eval_env: EvalEnv) -> None:
    """Streaming day 2-3 in one-hour batches, evaluating after each, ends with the same alerts
    as loading everything at once (ongoing episodes are updated, never duplicated)."""
    await insert_order(eval_env, [CEMENT], at(3, 4), at(3, 6))
    sim = scenario(eval_env)
    runner = eval_env.runner()
    await eval_env.write_sim(sim, end=at(2, 0))
    await runner.drain()
    t = at(2, 0)
    while t < at(4, 0):
        await eval_env.write_sim(sim, start=t, end=t + timedelta(hours=1))
        await runner.drain()
        t += timedelta(hours=1)
    assert await snapshot(eval_env) == EXPECTED
    assert len(await eval_env.alerts(live=False)) == len(EXPECTED)
