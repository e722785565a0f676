"""Evaluation-side edits of simulated series (water analysers frozen or jittering) and the
new scenario kinds: each label's event is really in the data and the rule's pure detector
says what the label says (no services)."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta

import numpy as np
import pytest

from ecowarn.config.registry import load_registry
from ecowarn.detectors._core import Finding
from ecowarn.detectors.baseline import Baseline
from ecowarn.detectors.flatline import FlatlineParams, flatline
from ecowarn.detectors.treatment_underload import TreatmentUnderloadParams, stage_power, stage_underload
from ecowarn.evaluation._edits import WaterFreeze, WaterJitter, apply_edits
from ecowarn.evaluation._scenario import Scenario, ScenarioSize, plan_scenario, synthetic_registry
from ecowarn.evaluation.command import TEMPLATE
from ecowarn.simulator import CST, simulate
from ecowarn.simulator.plant import Simulation

START = datetime(2026, 11, 1, tzinfo=CST)
WATER_FLAT = dataclasses.replace(FlatlineParams(), min_duration_min=FlatlineParams().water_min_duration_min)


@pytest.fixture(scope="module")
def day_sim() -> tuple[Simulation, str]:
    reg = synthetic_registry(load_registry(TEMPLATE), 3, 0)
    [water] = [d.id for d in reg.devices.values() if d.kind == "water"]
    return simulate(reg, START, 2 * 1440, seed=4), water


def frozen_runs_min(values: np.ndarray) -> list[int]:
    """Lengths (minutes) of the runs of equal consecutive values."""
    change = np.flatnonzero(np.diff(values) != 0) + 1
    return [int(n) for n in np.diff(np.concatenate(([0], change, [values.size])))]


def test_freeze_holds_exactly_the_window_and_flatline_finds_it(day_sim: tuple[Simulation, str]) -> None:
    """COD frozen 06:00-20:00 (14 h): one value over exactly the window, different from the
    values either side; the original simulation is untouched; the water flatline (12 h
    minimum) finds exactly that span."""
    sim, water = day_sim
    s, e = START + timedelta(hours=6), START + timedelta(hours=20)
    before = sim.device(water).values["cod"].copy()
    edited = apply_edits(sim, [WaterFreeze(water, "cod", s, e)])
    cod = edited.device(water).values["cod"]
    i, j = sim.index(s), sim.index(e)
    assert np.unique(cod[i:j]).size == 1 and cod[i - 1] != cod[i] and cod[j] != cod[i]
    assert np.array_equal(sim.device(water).values["cod"], before)
    assert np.array_equal(cod[:i], before[:i]) and np.array_equal(cod[j:], before[j:])
    [f] = flatline(sim.times_s, cod, edited.device(water).flags["cod"], np.ones(cod.size, bool), WATER_FLAT)
    assert (f.start_s, f.end_s) == (int(s.timestamp()), int(e.timestamp()))


def test_jitter_never_repeats_and_stays_near_its_level(day_sim: tuple[Simulation, str]) -> None:
    """A jittering 16 h of total phosphorus: no run longer than one analyser cycle (2 h),
    every value within 0.5% (and one reported digit) of the level, no flatline."""
    sim, water = day_sim
    s, e = START + timedelta(hours=4), START + timedelta(hours=20)
    tp = apply_edits(sim, [WaterJitter(water, "tp", s, e)]).device(water).values["tp"]
    i, j = sim.index(s), sim.index(e)
    level = sim.device(water).values["tp"][i]
    assert max(frozen_runs_min(tp[i - 1:j + 1])) <= 120
    assert np.all(np.abs(tp[i:j] - level) <= 0.005 * level + 0.001 + 1e-9)
    assert len(frozen_runs_min(tp[i:j])) >= 8  # a new value every cycle (1-2 h)
    assert flatline(sim.times_s, tp, np.full(tp.size, "N"), np.ones(tp.size, bool), WATER_FLAT) == []


def test_edits_name_a_water_metric() -> None:
    """An edit of a metric the water analysers do not measure is refused, naming it."""
    with pytest.raises(ValueError, match="'ph' is not one of"):
        WaterFreeze("X", "ph", START, START + timedelta(hours=1))


@pytest.fixture(scope="module")
def planned() -> tuple[Scenario, Simulation]:
    reg = synthetic_registry(load_registry(TEMPLATE), 6, 4)
    sc = plan_scenario(reg, START, ScenarioSize(days=5, per_rule=2, negatives_per_kind=1), seed=3)
    sim = apply_edits(simulate(reg, START, sc.minutes, sc.seed, sc.injections), sc.edits)
    return sc, sim


def test_new_kinds_are_placed_with_their_labels(planned: tuple[Scenario, Simulation]) -> None:
    """Stage underload (one label over the stage's meters), the shared-load negative, the
    water hourly exceedance (due at its end), the frozen and the jittering analyser."""
    sc, _ = planned
    kinds = {lb.kind: lb for lb in sc.labels}
    assert not sc.shortfalls
    for kind, rule, positive in [("stage_underload", "treatment_underload", True),
                                 ("stage_shared_load", "treatment_underload", False),
                                 ("water_hourly", "emission_exceedance", True),
                                 ("water_flatline", "flatline", True),
                                 ("water_jitter", "flatline", False)]:
        assert (kinds[kind].rule, kinds[kind].positive) == (rule, positive)
    assert len(kinds["stage_underload"].device_ids) == 2
    assert kinds["water_hourly"].due == kinds["water_hourly"].end
    assert kinds["water_hourly"].start.astimezone(CST).minute == 0


def _stage_judgement(sc: Scenario, sim: Simulation, kind: str) -> list[Finding]:
    """The pure stage rule over a label's window, against the stage's typical load on the
    warm-up day (combined power where the stage runs)."""
    [lb] = [lb for lb in sc.labels if lb.kind == kind][:1]
    reg = sc.registry
    members = [reg.devices[m] for m in lb.device_ids]
    [prod] = reg.producers_treated_by(members[0].id)
    kw = np.vstack([sim.device(m.id).values["p"] for m in members])
    combined, on = stage_power(kw, [m.running_threshold_kw for m in members], 0.8)
    typical = float(np.median(combined[:1440][on[:1440]]))
    i, j = sim.index(lb.start), sim.index(lb.end)
    return stage_underload(sim.times_s[i:j], sim.device(prod.id).values["p"][i:j], prod.running_threshold_kw,
                           kw[:, i:j], [m.running_threshold_kw for m in members],
                           Baseline(typical, None, 1440, "learned"), TreatmentUnderloadParams())


def test_stage_underload_is_underload_of_the_stage(planned: tuple[Scenario, Simulation]) -> None:
    """The positive: the stage under 30% of its typical load for the whole label; the
    negative: both alternatives running, the stage above it throughout."""
    sc, sim = planned
    [f] = _stage_judgement(sc, sim, "stage_underload")
    [lb] = [lb for lb in sc.labels if lb.kind == "stage_underload"][:1]
    assert (f.start_s, f.end_s) == (int(lb.start.timestamp()), None)
    assert _stage_judgement(sc, sim, "stage_shared_load") == []


def test_water_hourly_event_exceeds_the_hour_not_the_day(planned: tuple[Scenario, Simulation]) -> None:
    """The label's first clock hour averages above the hourly limit; its local day stays
    under the daily limit."""
    sc, sim = planned
    [lb] = [lb for lb in sc.labels if lb.kind == "water_hourly"][:1]
    dev = sc.registry.devices[lb.device_ids[0]]
    metric = lb.note.split(";")[0]
    values = sim.device(dev.id).values[metric]
    i = sim.index(lb.start)
    assert values[i:i + 60].mean() > dev.limits_hourly[metric]
    day = sim.index(lb.start.astimezone(CST).replace(hour=0))
    assert values[day:day + 1440].mean() < dev.limits[metric]
