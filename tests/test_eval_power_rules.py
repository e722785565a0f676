"""treatment_underload and emergency_noncompliance end to end: readings -> runner -> alerts."""

from __future__ import annotations

import numpy as np
from test_eval_support import (
    BAG,
    CEMENT,
    KILN,
    SCR,
    EvalEnv,
    at,
    index_of,
    insert_order,
    simulate_days,
    spans,
)

from ecowarn.config.registry import Registry
from ecowarn.simulator import Injection, PlannedShutdown, TreatmentOutage, TreatmentUnderload
from ecowarn.simulator.plant import Simulation

pytest_plugins = ("test_eval_support",)

POWER = (KILN, BAG, SCR)


def three_days(registry: Registry, *injections: Injection) -> Simulation:
    return simulate_days(registry, 3, injections)


async def test_underload_fires_with_learned_typical_load(eval_env: EvalEnv) -> None:
    """Bag filter at ~20% of its typical load 03:00-04:00 on day 2 -> one alert, exact span,
    typical load learned from days 0-1 (streamed day by day)."""
    sim = three_days(eval_env.registry, TreatmentUnderload((BAG,), at(2, 3), at(2, 4)))
    runner = eval_env.runner(["treatment_underload"])
    for day in range(3):
        await eval_env.write_sim(sim, devices=POWER, start=at(day, 0), end=at(day + 1, 0))
        await runner.drain()
    [alert] = await eval_env.alerts()
    assert (alert.rule, alert.subject, alert.enterprise_id) == ("treatment_underload", BAG, CEMENT)
    assert (alert.start, alert.end) == (at(2, 3), at(2, 4))
    assert alert.device_ids == [BAG, KILN]
    base = alert.evidence["baseline"]
    assert base["source"] == "learned" and base["n"] == 2880
    assert 0.6 * 160 < base["value"] < 0.8 * 160, "typical load of the simulated bag filter"
    assert alert.evidence["facts"]["threshold_kw"] == round(0.3 * base["value"], 2)
    assert "learned from 2880 running minutes" in alert.summary
    assert "袋式除尘器" in alert.summary and "60 min" in alert.summary
    assert "典型负荷" in alert.summary_zh
    assert alert.params["load_ratio"] == 0.3


async def test_underload_without_history_falls_back_to_rated_and_says_so(eval_env: EvalEnv) -> None:
    """On the first day there is no history: rated_kw stands in, named in summary and evidence."""
    sim = three_days(eval_env.registry, TreatmentUnderload((BAG,), at(0, 3), at(0, 4)))
    await eval_env.write_sim(sim, devices=POWER, start=at(0, 0), end=at(0, 12))
    await eval_env.runner(["treatment_underload"]).drain()
    [alert] = await eval_env.alerts()
    assert (alert.start, alert.end) == (at(0, 3), at(0, 4))
    assert alert.evidence["baseline"]["source"] == "rated"
    assert alert.evidence["baseline"]["value"] == 160.0
    assert alert.evidence["facts"]["threshold_kw"] == 48.0
    assert "rated 160 kW used as fallback" in alert.summary
    assert "暂用额定值" in alert.summary_zh


async def test_underload_at_40_percent_of_typical_load_is_no_alert(eval_env: EvalEnv) -> None:
    """Treatment running at 40% of its typical load (threshold 30%) for 2 h raises nothing."""
    sim = three_days(eval_env.registry)
    lo, hi = index_of(sim, at(2, 3)), index_of(sim, at(2, 5))

    def reduce(dev: str, metric: str, values: np.ndarray, flags: np.ndarray) -> None:
        if dev == BAG and metric == "p":
            values[lo:hi] *= 0.4 / 0.72  # the simulated unit runs at ~72% of rated

    await eval_env.write_sim(sim, devices=POWER, edit=reduce)
    await eval_env.runner(["treatment_underload"]).drain()
    assert await eval_env.alerts() == []


async def test_underload_is_not_treatment_off(eval_env: EvalEnv) -> None:
    """A treatment outage (0-2 kW) is treatment_off, not underload: the unit is not running."""
    sim = three_days(eval_env.registry, TreatmentOutage((KILN,), at(2, 3), at(2, 4)))
    await eval_env.write_sim(sim, devices=POWER)
    await eval_env.runner(["treatment_underload", "treatment_off"]).drain()
    assert [(a.rule, a.start, a.end) for a in await eval_env.alerts()] == [
        ("treatment_off", at(2, 3), at(2, 4))]


async def test_shutdown_order_with_production_running_fires_over_the_order(eval_env: EvalEnv) -> None:
    """A shutdown order 10:00-14:00 while the kiln keeps running -> one alert 10:00-14:00."""
    order = await insert_order(eval_env, [CEMENT], at(1, 10), at(1, 14))
    sim = three_days(eval_env.registry)
    await eval_env.write_sim(sim, devices=(KILN,), end=at(2, 0))
    await eval_env.runner(["emergency_noncompliance"]).drain()
    [alert] = await eval_env.alerts()
    assert (alert.rule, alert.subject, alert.severity) == ("emergency_noncompliance", KILN, "high")
    assert (alert.start, alert.end) == (at(1, 10), at(1, 14))
    assert alert.evidence["orders"][0]["id"] == order
    assert "shutdown" in alert.summary and "for 4 h" in alert.summary
    assert "停产" in alert.summary_zh


async def test_shutdown_order_inserted_after_the_data_is_evaluated(eval_env: EvalEnv) -> None:
    """An order inserted after the data queues its enterprise; the next drain raises the alert."""
    sim = three_days(eval_env.registry)
    await eval_env.write_sim(sim, devices=(KILN,), end=at(2, 0))
    runner = eval_env.runner(["emergency_noncompliance"])
    await runner.drain()
    assert await eval_env.alerts() == []
    await insert_order(eval_env, [CEMENT], at(1, 10), at(1, 14))
    assert await eval_env.execute("SELECT device_id FROM pending_eval") == [(CEMENT,)]
    assert await runner.drain() == 1
    assert spans(await eval_env.alerts()) == [(at(1, 10), at(1, 14))]


async def test_shutdown_order_complied_with_is_no_alert(eval_env: EvalEnv) -> None:
    """The kiln stopped 09:30-14:30 around an order 10:00-14:00: no alert."""
    sim = three_days(eval_env.registry, PlannedShutdown((KILN,), at(1, 9, 30), at(1, 14, 30)))
    await insert_order(eval_env, [CEMENT], at(1, 10), at(1, 14))
    await eval_env.write_sim(sim, devices=(KILN,), end=at(2, 0))
    await eval_env.runner(["emergency_noncompliance"]).drain()
    assert await eval_env.alerts() == []


async def test_limit_order_at_normal_load_fires_against_learned_baseline(eval_env: EvalEnv) -> None:
    """A 30% limit order on day 2 10:00-14:00 with the kiln at its usual load -> 4 violating
    hours against the baseline learned from days 0-1."""
    await insert_order(eval_env, [CEMENT], at(2, 10), at(2, 14), "limit", 30)
    await eval_env.write_sim(three_days(eval_env.registry), devices=(KILN,))
    await eval_env.runner(["emergency_noncompliance"]).drain()
    [alert] = await eval_env.alerts()
    assert (alert.start, alert.end) == (at(2, 10), at(2, 14))
    facts, base = alert.evidence["facts"], alert.evidence["baseline"]
    assert base["source"] == "learned" and base["n"] == 2880
    assert facts["hours"] == 4
    assert facts["allowed_kw"] == round(0.7 * base["value"], 2)
    assert facts["mean_hourly_mean_kw"] > facts["threshold_kw"]
    assert "cut by 30%" in alert.summary and "learned" in alert.summary


async def test_limit_order_complied_with_is_no_alert(eval_env: EvalEnv) -> None:
    """The kiln curtailed to 60% of its usual load during a 30% limit order: no alert."""
    sim = three_days(eval_env.registry)
    lo, hi = index_of(sim, at(2, 9)), index_of(sim, at(2, 15))

    def curtail(dev: str, metric: str, values: np.ndarray, flags: np.ndarray) -> None:
        if dev == KILN and metric == "p":
            values[lo:hi] *= 0.6

    await insert_order(eval_env, [CEMENT], at(2, 10), at(2, 14), "limit", 30)
    await eval_env.write_sim(sim, devices=(KILN,), edit=curtail)
    await eval_env.runner(["emergency_noncompliance"]).drain()
    assert await eval_env.alerts() == []
