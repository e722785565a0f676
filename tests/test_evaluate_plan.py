"""Planning of `ecowarn evaluate` scenarios on the sample registry's patterns (no services)."""

from __future__ import annotations

from collections import Counter
from datetime import datetime

import numpy as np

from ecowarn.config.credit_code import is_valid, region_of
from ecowarn.config.registry import load_registry
from ecowarn.detectors.catalog import RULES
from ecowarn.evaluation._scenario import ScenarioSize, plan_scenario, synthetic_registry
from ecowarn.evaluation.command import TEMPLATE
from ecowarn.simulator import CST, simulate

START = datetime(2026, 11, 1, tzinfo=CST)


def test_synthetic_registry_clones_stages_and_water_outlets() -> None:
    """Clones keep treatment stages (alternatives as lists) and water outlets with their
    limits; water MNs are 14 digits like CEMS MNs."""
    reg = synthetic_registry(load_registry(TEMPLATE), 3, 4)
    kiln = reg.devices["E000-PWR-KILN-1"]
    assert kiln.stages == (("E000-PWR-BAG-1",), ("E000-PWR-DS-1", "E000-PWR-DS-2"), ("E000-PWR-SCR-1",))
    [water] = [d for d in reg.devices.values() if d.kind == "water"]
    assert len(water.id) == 14 and water.id.isdigit()
    assert water.limits_hourly == {"cod": 100.0} and water.ph_range == (6.0, 9.0)
    assert water.serves == ("E001-PWR-COKE-1",)


def test_synthetic_registry_names_in_chinese_with_valid_codes_of_their_region() -> None:
    """Clones get valid credit codes registered in their template's region, each its own
    Chinese name (a trade name in place of the sample's 某某), and stations Chinese grid names;
    the same counts give the same registry."""
    template = load_registry(TEMPLATE)
    reg = synthetic_registry(template, 40, 4)
    names = [e.name for e in reg.enterprises.values()]
    assert len(set(names)) == 40 and not any("某某" in n or n.isascii() for n in names)
    by_region = {e.region: e.name for e in template.enterprises.values()}
    for eid, ent in reg.enterprises.items():
        assert is_valid(eid) and region_of(eid) == ent.region, eid
        prefix, _, suffix = by_region[ent.region].partition("某某")
        assert ent.name.startswith(prefix) and ent.name.endswith(suffix), ent.name
    assert [s.name for s in reg.stations.values()] == ["网格1-1", "网格1-2", "网格2-1", "网格2-2"]
    again = synthetic_registry(template, 40, 4)
    assert list(again.enterprises) == list(reg.enterprises) and [e.name for e in again.enterprises.values()] == names


def test_every_rule_gets_violations_and_labels_fit_their_events() -> None:
    """A small scenario places a violation of every rule; a site outage is one label over
    all the enterprise's devices asking for one alert; water days start at local midnight."""
    reg = synthetic_registry(load_registry(TEMPLATE), 6, 4)
    sc = plan_scenario(reg, START, ScenarioSize(days=4, per_rule=2, negatives_per_kind=1), seed=3)
    rules = Counter(lb.rule for lb in sc.labels if lb.positive)
    assert set(rules) == set(RULES)
    kinds = {lb.kind: lb for lb in sc.labels}
    site = kinds["site_outage"]
    assert site.single and len(site.device_ids) >= 4
    day = kinds["water_exceedance"]
    assert day.start.astimezone(CST).hour == 0 and (day.end - day.start).days == 1 and day.due == day.end
    late = kinds["late_treatment_start"]
    assert 4 <= (late.end - late.start).total_seconds() / 60 <= 8 and late.due == late.end
    assert reg.devices[late.device_ids[0]].role == "production" and len(late.device_ids) >= 2
    standby = [lb for lb in sc.labels if lb.kind == "standby_off"]
    assert all(reg.devices[lb.device_ids[1]].role == "production" for lb in standby)
    # the labels' events are really in the data: the late stage is off at production start
    sim = simulate(reg, START, sc.minutes, sc.seed, sc.injections)
    i = int((late.start - START).total_seconds() // 60)
    stage = [sim.device(m).values["p"][i] for m in late.device_ids[1:]]
    assert max(stage) < 0.8 * reg.devices[late.device_ids[1]].running_threshold_kw
    prod = sim.device(late.device_ids[0]).values["p"]
    assert prod[i] >= reg.devices[late.device_ids[0]].running_threshold_kw
    assert np.all(~sim.device(site.device_ids[0]).present[
        int((site.start - START).total_seconds() // 60):int((site.end - START).total_seconds() // 60)])
