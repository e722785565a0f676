"""CEMS rules end to end (readings -> runner -> alerts): emission_exceedance, flatline,
o2_dilution, bypass_suspected, undeclared_marking, pinned_below_limit."""

from __future__ import annotations

import dataclasses

import numpy as np
from test_eval_support import (
    BAG,
    KILN,
    KILN_CEMS,
    SCR,
    EvalEnv,
    at,
    index_of,
    insert_maintenance,
    simulate_days,
    spans,
)

from ecowarn.simulator import (
    Bypass,
    Exceedance,
    Flatline,
    Injection,
    Marking,
    O2Dilution,
    Pinned,
    PlannedShutdown,
    StoppedZero,
)
from ecowarn.simulator.plant import Simulation

pytest_plugins = ("test_eval_support",)

DEVICES = (KILN, BAG, SCR, KILN_CEMS)


def days(env: EvalEnv, n: int, *injections: Injection) -> Simulation:
    return simulate_days(env.registry, n, injections)


async def run(env: EvalEnv, sim: Simulation, *rules: str) -> None:
    await env.write_sim(sim, devices=DEVICES)
    await env.runner(rules).drain()


async def test_exceedance_two_hours_gives_one_alert_with_exact_hours(eval_env: EvalEnv) -> None:
    """SO2 at 1.6x its limit 06:00-08:00 -> one alert over exactly those two valid hours."""
    await run(eval_env, days(eval_env, 1, Exceedance((KILN_CEMS,), at(0, 6), at(0, 8))),
              "emission_exceedance")
    [alert] = await eval_env.alerts()
    assert (alert.subject, alert.start, alert.end) == (f"{KILN_CEMS}/so2", at(0, 6), at(0, 8))
    assert alert.device_ids == [KILN_CEMS]
    facts = alert.evidence["facts"]
    assert facts["hours"] == 2 and facts["limit"] == 35.0 and facts["converted"] is True
    assert 1.4 < facts["max_ratio_to_limit"] < 1.9
    assert [h["n_valid"] for h in facts["hourly"]] == [60, 60]
    assert alert.severity == "high"  # 1.5x the limit or more
    assert "converted to 10% O2" in alert.summary and "limit of 35 mg/m3" in alert.summary
    assert "超过排放限值" in alert.summary_zh


async def test_exceedance_still_going_is_open_then_closes(eval_env: EvalEnv) -> None:
    """Data ending inside the exceedance -> open alert (end null); later data closes it."""
    sim = days(eval_env, 1, Exceedance((KILN_CEMS,), at(0, 6), at(0, 9)))
    runner = eval_env.runner(["emission_exceedance"])
    await eval_env.write_sim(sim, devices=DEVICES, end=at(0, 8, 30))
    await runner.drain()
    assert spans(await eval_env.alerts()) == [(at(0, 6), None)]
    await eval_env.write_sim(sim, devices=DEVICES, start=at(0, 8, 30))
    await runner.drain()
    assert spans(await eval_env.alerts()) == [(at(0, 6), at(0, 9))]


async def test_exceedance_under_m_flags_is_not_judged_but_marked(eval_env: EvalEnv) -> None:
    """An exceedance hidden under M flags is no emission_exceedance (invalid minutes) but an
    undeclared_marking alert that names the hidden exceedance."""
    sim = days(eval_env, 1, Marking((KILN_CEMS,), at(0, 16), at(0, 17, 30)))
    await run(eval_env, sim, "emission_exceedance", "undeclared_marking")
    [alert] = await eval_env.alerts()
    assert (alert.rule, alert.subject) == ("undeclared_marking", KILN_CEMS)
    assert (alert.start, alert.end) == (at(0, 16), at(0, 17, 30))
    facts = alert.evidence["facts"]
    assert facts["flag_counts"] == {"M": 4 * 90}
    assert facts["metrics_marked"] == ["so2", "nox", "pm", "co"]
    assert facts["under_the_marks"]["so2"]["ratio_to_limit"] > 1.2
    assert alert.severity == "high"
    assert "without declared maintenance" in alert.summary and "its limit of 35" in alert.summary


async def test_marking_59_minutes_is_no_alert(eval_env: EvalEnv) -> None:
    """C flags for 59 minutes (the minimum is 60) raise nothing."""
    sim = days(eval_env, 1, Marking((KILN_CEMS,), at(0, 16), at(0, 16, 59), flag="C"))
    await run(eval_env, sim, "undeclared_marking")
    assert await eval_env.alerts() == []


async def test_flatline_while_production_runs_fires_over_the_frozen_span(eval_env: EvalEnv) -> None:
    """NOx frozen 09:00-11:30 while the kiln runs -> one flatline alert over exactly that span."""
    await run(eval_env, days(eval_env, 1, Flatline((KILN_CEMS,), at(0, 9), at(0, 11, 30), "nox")),
              "flatline")
    [alert] = await eval_env.alerts()
    assert (alert.subject, alert.start, alert.end) == (f"{KILN_CEMS}/nox", at(0, 9), at(0, 11, 30))
    assert alert.device_ids == [KILN_CEMS, KILN]
    assert alert.evidence["facts"]["points"] == 150
    assert alert.evidence["facts"]["production_mean_kw"][KILN] > 400
    assert "stuck at" in alert.summary and "1号回转窑" in alert.summary


async def test_zeros_while_production_is_stopped_are_no_flatline(eval_env: EvalEnv) -> None:
    """Pollutants and flow reading exactly 0 for 3 h while the kiln is stopped raise nothing."""
    await run(eval_env, days(eval_env, 1, StoppedZero((KILN_CEMS,), at(0, 9), at(0, 12))),
              "flatline", "o2_dilution")
    assert await eval_env.alerts() == []


async def test_o2_near_ambient_while_running_is_dilution(eval_env: EvalEnv) -> None:
    """O2 at 19.6-20.3% 12:00-13:30 while the kiln runs -> one o2_dilution alert, exact span."""
    await run(eval_env, days(eval_env, 1, O2Dilution((KILN_CEMS,), at(0, 12), at(0, 13, 30))),
              "o2_dilution")
    [alert] = await eval_env.alerts()
    assert (alert.subject, alert.start, alert.end) == (KILN_CEMS, at(0, 12), at(0, 13, 30))
    assert alert.evidence["facts"]["o2_min_pct"] >= 19.0
    assert "near ambient air" in alert.summary and "稀释排放" in alert.summary_zh


async def test_ambient_o2_during_a_planned_stop_is_no_dilution(eval_env: EvalEnv) -> None:
    """The kiln stopped 12:00-16:00: O2 drifts to ambient, production is off, no alert."""
    await run(eval_env, days(eval_env, 1, PlannedShutdown((KILN,), at(0, 12), at(0, 16))),
              "o2_dilution", "bypass_suspected")
    assert await eval_env.alerts() == []


async def test_bypass_fires_against_learned_typical_flow(eval_env: EvalEnv) -> None:
    """Flow at 2-7% of typical 14:00-15:30 on day 1 while the kiln runs -> one alert, exact
    span, typical flow learned from day 0."""
    sim = days(eval_env, 2, Bypass((KILN_CEMS,), at(1, 14), at(1, 15, 30)))
    await run(eval_env, sim, "bypass_suspected")
    [alert] = await eval_env.alerts()
    assert (alert.subject, alert.start, alert.end) == (KILN_CEMS, at(1, 14), at(1, 15, 30))
    base = alert.evidence["baseline"]
    assert base["source"] == "learned" and base["n"] == 1440
    facts = alert.evidence["facts"]
    assert facts["flow_mean"] < 0.1 * base["value"]
    assert facts["production_mean_kw"] >= 0.5 * 800
    assert "suspected bypass" in alert.summary and "learned from 1440 running minutes" in alert.summary


async def test_typical_flow_learns_through_declared_maintenance(eval_env: EvalEnv) -> None:
    """Maintenance declared over the end of the history day (valid flow, kiln running) still
    leaves 1440 running minutes to learn from: suppression applies to findings, not history."""
    await insert_maintenance(eval_env, KILN_CEMS, at(0, 23, 50), at(1, 0, 10))
    sim = days(eval_env, 2, Bypass((KILN_CEMS,), at(1, 14), at(1, 15, 30)))
    await run(eval_env, sim, "bypass_suspected")
    [alert] = await eval_env.alerts()
    assert alert.evidence["baseline"]["n"] == 1440


async def test_bypass_without_flow_history_cannot_judge(eval_env: EvalEnv) -> None:
    """On the first day there is no typical flow to compare with (no rated flow): no alert."""
    await run(eval_env, days(eval_env, 1, Bypass((KILN_CEMS,), at(0, 14), at(0, 15, 30))),
              "bypass_suspected")
    assert await eval_env.alerts() == []
    rows = await eval_env.execute("SELECT series, n FROM baselines ORDER BY day_start DESC LIMIT 1")
    assert rows == [(f"flow:{KILN_CEMS}", 0)], "the empty history day is summarised once"


async def test_bypass_without_history_judges_against_design_flow(eval_env: EvalEnv) -> None:
    """With the permit's design flow in the registry, the first day's bypass is judged against
    it (source ``rated``), and the alert says the design value stood in for history."""
    sim = days(eval_env, 1, Bypass((KILN_CEMS,), at(0, 14), at(0, 15, 30)))
    flow = sim.device(KILN_CEMS).values["flow"]
    typical = float(np.nanmedian(flow[: 14 * 60]))
    cems = dataclasses.replace(eval_env.registry.devices[KILN_CEMS], design_flow=typical)
    eval_env.registry = dataclasses.replace(eval_env.registry,
                                            devices={**eval_env.registry.devices, KILN_CEMS: cems})
    await run(eval_env, sim, "bypass_suspected")
    [alert] = await eval_env.alerts()
    assert (alert.start, alert.end) == (at(0, 14), at(0, 15, 30))
    assert alert.evidence["baseline"]["source"] == "rated"
    assert alert.evidence["baseline"]["value"] == round(typical, 3)


async def test_pinned_hourly_means_fire_over_the_pinned_hours(eval_env: EvalEnv) -> None:
    """SO2 hourly means held at 95% of the limit 18:00-02:00 -> one alert over those 8 hours."""
    sim = days(eval_env, 2, Pinned((KILN_CEMS,), at(0, 18), at(1, 2)))
    await run(eval_env, sim, "pinned_below_limit", "emission_exceedance")
    [alert] = await eval_env.alerts()
    assert (alert.rule, alert.subject) == ("pinned_below_limit", f"{KILN_CEMS}/so2")
    assert (alert.start, alert.end) == (at(0, 18), at(1, 2))
    facts = alert.evidence["facts"]
    assert facts["hours"] == 8 and facts["cv"] < 0.02
    assert 31.5 <= facts["min_hourly_converted"] <= facts["max_hourly_converted"] <= 35.0
    assert "held between 31.5-35 mg/m3" in alert.summary


async def test_in_band_hours_that_vary_are_not_pinned(eval_env: EvalEnv) -> None:
    """Hourly means within 90-100% of the limit but alternating 91.5%/98.5% (CV ~3.5%): no alert."""
    sim = days(eval_env, 2, Pinned((KILN_CEMS,), at(0, 18), at(1, 2)))
    lo = index_of(sim, at(0, 18))

    def vary(dev: str, metric: str, values: np.ndarray, flags: np.ndarray) -> None:
        if dev == KILN_CEMS and metric == "so2":
            for h in range(8):
                values[lo + 60 * h: lo + 60 * (h + 1)] *= (0.915 if h % 2 else 0.985) / 0.95

    await eval_env.write_sim(sim, devices=DEVICES, edit=vary)
    await eval_env.runner(["pinned_below_limit"]).drain()
    assert await eval_env.alerts() == []
