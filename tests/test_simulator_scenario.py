"""Injections: each labelled violation produces its condition, each hard negative stays clean."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import numpy as np
import pytest

from ecowarn.config.registry import Registry
from ecowarn.simulator import (
    CST,
    AirHotspot,
    Bypass,
    DataGap,
    EarlyTreatmentStop,
    EmergencyProduction,
    Exceedance,
    Flatline,
    InjectionError,
    LateTreatmentStart,
    Marking,
    O2Dilution,
    PhOutOfRange,
    Pinned,
    PlannedShutdown,
    SiteOutage,
    StageOutage,
    StandbyOff,
    StoppedZero,
    ThresholdNoise,
    TreatmentBlip,
    TreatmentOutage,
    TreatmentUnderload,
    WaterExceedance,
    WaterSpike,
    generate,
    injection_labels,
    simulate,
)
from ecowarn.simulator.plant import Simulation

START = datetime(2026, 11, 23, 0, 0, tzinfo=CST)
KILN_CEMS = "13010500000001"


def at(hh: int, mm: int = 0) -> datetime:
    return START + timedelta(hours=hh, minutes=mm)


def treatment_off_minutes(sim: Simulation, registry: Registry, production_id: str) -> np.ndarray:
    """Minutes where production is at/above its threshold and every treatment unit below 80% of its own."""
    dev = registry.devices[production_id]
    running = sim.device(production_id).values["p"] >= dev.running_threshold_kw
    all_off = np.ones(sim.minutes, dtype=bool)
    for tid in dev.treated_by:
        all_off &= sim.device(tid).values["p"] < 0.8 * registry.devices[tid].running_threshold_kw
    return np.asarray(running & all_off)


def detector_findings(sim: Simulation, registry: Registry, production_id: str) -> list[object]:
    from ecowarn.detectors.treatment_off import TreatmentOffParams, treatment_off

    dev = registry.devices[production_id]
    treat = np.vstack([sim.device(t).values["p"] for t in dev.treated_by])
    thr = np.array([registry.devices[t].running_threshold_kw for t in dev.treated_by])
    stage_of = np.array([k for k, stage in enumerate(dev.stages) for _ in stage])
    return list(treatment_off(sim.times_s, sim.device(production_id).values["p"], treat,
                              dev.running_threshold_kw, thr, TreatmentOffParams(), stage_of))


def hourly_converted(sim: Simulation, registry: Registry, cems_id: str, metric: str) -> np.ndarray:
    """Clock-hour means of the O2-corrected concentration over minutes flagged N (NaN: none)."""
    s = sim.device(cems_id)
    ref = registry.devices[cems_id].ref_o2
    assert ref is not None
    conv = s.values[metric] * (21.0 - ref) / (21.0 - s.values["o2"])
    valid = (s.flags[metric] == "N") & s.present
    rows = np.where(valid, conv, np.nan).reshape(-1, 60)
    out = np.full(rows.shape[0], np.nan)
    has = valid.reshape(-1, 60).any(axis=1)
    out[has] = np.nanmean(rows[has], axis=1)
    return out


def window(sim: Simulation, start: datetime, end: datetime) -> np.ndarray:
    mask = np.zeros(sim.minutes, dtype=bool)
    mask[sim.index(start):sim.index(end)] = True
    return mask


# --- violations -------------------------------------------------------------------------


def test_treatment_outage_gives_exactly_its_minutes(sample_registry: Registry) -> None:
    """A 25-minute outage at 02:00 yields exactly minutes 02:00-02:24 of production-on/treatment-off."""
    inj = TreatmentOutage(("PWR-KILN-1",), at(2), at(2, 25))
    sim = simulate(sample_registry, START, 1440, seed=1, injections=[inj])
    cond = treatment_off_minutes(sim, sample_registry, "PWR-KILN-1")
    assert cond.sum() == 25
    assert np.array_equal(np.flatnonzero(cond), np.arange(120, 145))
    found = detector_findings(sim, sample_registry, "PWR-KILN-1")
    assert [(f.start_s, f.end_s) for f in found] == [  # type: ignore[attr-defined]
        (int(sim.times_s[120]), int(sim.times_s[145]))]


def test_outage_changes_nothing_outside_its_window(sample_registry: Registry) -> None:
    """Apart from energy counters after it, readings outside the outage equal the clean run."""
    inj = TreatmentOutage(("PWR-KILN-1",), at(2), at(2, 25))
    clean = simulate(sample_registry, START, 360, seed=1)
    dirty = simulate(sample_registry, START, 360, seed=1, injections=[inj])
    outside = ~window(clean, inj.start, inj.end)
    for did, s in clean.series.items():
        for m, v in s.values.items():
            if m == "e":
                continue
            same = np.array_equal(v[outside], dirty.device(did).values[m][outside])
            assert same, (did, m)
        changed = not np.array_equal(s.values.get("p", 0), dirty.device(did).values.get("p", 0))
        assert changed == (did in ("PWR-BAG-1", "PWR-DS-1", "PWR-DS-2", "PWR-SCR-1"))


def test_outage_at_night_runs_a_day_shift_line_without_treatment(sample_registry: Registry) -> None:
    """Night running of a day-shift line with its dust collector off: exactly the window, nothing more."""
    inj = TreatmentOutage(("PWR-GRIND-1",), at(23), at(23, 40))
    sim = simulate(sample_registry, START, 1440, seed=2, injections=[inj])
    cond = treatment_off_minutes(sim, sample_registry, "PWR-GRIND-1")
    assert np.array_equal(cond, window(sim, inj.start, inj.end))
    assert (sim.device("PWR-DUST-1").values["p"][22 * 60:] < 4.0).all()


def test_treatment_underload(sample_registry: Registry) -> None:
    """Underload: treatment stays above its running threshold but under 30% of its typical load."""
    inj = TreatmentUnderload(("PWR-BAG-1",), at(3), at(4, 30))
    sim = simulate(sample_registry, START, 1440, seed=3, injections=[inj])
    p = sim.device("PWR-BAG-1").values["p"]
    win = window(sim, inj.start, inj.end)
    typical = float(np.median(p[~win]))
    assert (p[win] >= 16.0).all()
    assert (p[win] < 0.3 * typical).all() and (p[win] < 0.3 * 160).all()
    assert (p[~win] > 0.5 * typical).all()
    assert (sim.device("PWR-KILN-1").values["p"][win] >= 80.0).all()
    assert not treatment_off_minutes(sim, sample_registry, "PWR-KILN-1").any()


def test_exceedance_raises_exactly_the_hours_of_its_window(sample_registry: Registry) -> None:
    """Hourly converted SO2 means exceed the limit in the injected hours and only there."""
    inj = Exceedance((KILN_CEMS,), at(2), at(5), metric="so2")
    sim = simulate(sample_registry, START, 1440, seed=4, injections=[inj])
    hourly = hourly_converted(sim, sample_registry, KILN_CEMS, "so2")
    over = np.flatnonzero(hourly > 35.0)
    assert over.tolist() == [2, 3, 4]
    assert (hourly_converted(sim, sample_registry, KILN_CEMS, "nox") < 50.0).all()


def test_flatline_freezes_one_metric_while_production_runs(sample_registry: Registry) -> None:
    """The frozen metric repeats one value, flagged N, for the window; elsewhere it never repeats long."""
    inj = Flatline((KILN_CEMS,), at(1), at(4), metric="so2")
    sim = simulate(sample_registry, START, 1440, seed=5, injections=[inj])
    s = sim.device(KILN_CEMS)
    win = window(sim, inj.start, inj.end)
    so2 = s.values["so2"]
    assert np.unique(so2[win]).size == 1
    assert (s.flags["so2"][win] == "N").all()
    assert (sim.device("PWR-KILN-1").values["p"][win] >= 80.0).all()
    outside = so2[~win]
    assert np.max(np.unique(outside, return_counts=True)[1]) < 20
    assert np.unique(s.values["nox"][win]).size > 100


def test_o2_dilution(sample_registry: Registry) -> None:
    """O2 reads at least 19.5% throughout the window while production runs, and under 12% elsewhere."""
    inj = O2Dilution(("13018200000001",), at(10), at(11, 30))
    sim = simulate(sample_registry, START, 1440, seed=6, injections=[inj])
    o2 = sim.device("13018200000001").values["o2"]
    win = window(sim, inj.start, inj.end)
    assert (o2[win] >= 19.5).all() and (o2[win] < 20.9).all()
    assert (o2[~win] <= 12.0).all()
    assert (sim.device("PWR-COKE-1").values["p"][win] >= 120.0).all()


def test_bypass(sample_registry: Registry) -> None:
    """Flow under 10% of typical while production runs at >= 50% of rated, for the window only."""
    inj = Bypass((KILN_CEMS,), at(5), at(7))
    sim = simulate(sample_registry, START, 1440, seed=7, injections=[inj])
    flow = sim.device(KILN_CEMS).values["flow"]
    win = window(sim, inj.start, inj.end)
    typical = float(np.median(flow[~win]))
    assert (flow[win] < 0.1 * typical).all()
    assert (flow[~win] > 0.5 * typical).all()
    assert (sim.device("PWR-KILN-1").values["p"][win] >= 0.5 * 800).all()


def test_marking_hides_an_exceedance(sample_registry: Registry) -> None:
    """Pollutants flagged M over the window while the raw data exceed the limit; N elsewhere."""
    inj = Marking((KILN_CEMS,), at(20), at(22), metric="so2", flag="M")
    sim = simulate(sample_registry, START, 1440, seed=8, injections=[inj])
    s = sim.device(KILN_CEMS)
    win = window(sim, inj.start, inj.end)
    for m in ("so2", "nox", "pm", "co"):
        assert (s.flags[m][win] == "M").all() and (s.flags[m][~win] == "N").all()
    assert (s.flags["o2"] == "N").all()
    hourly_n = hourly_converted(sim, sample_registry, KILN_CEMS, "so2")
    assert np.isnan(hourly_n[20:22]).all() and (hourly_n[~np.isnan(hourly_n)] < 35.0).all()
    conv = s.values["so2"] * 11.0 / (21.0 - s.values["o2"])
    assert conv[win].mean() > 35.0


def test_pinned_holds_hourly_means_just_under_the_limit(sample_registry: Registry) -> None:
    """Eight pinned hours: hourly converted means at 92-99% of the limit with a CV under 2%."""
    inj = Pinned((KILN_CEMS,), at(6), at(14), metric="nox", level=0.95)
    sim = simulate(sample_registry, START, 1440, seed=9, injections=[inj])
    hourly = hourly_converted(sim, sample_registry, KILN_CEMS, "nox")[6:14]
    assert ((hourly >= 0.92 * 50) & (hourly <= 0.99 * 50)).all()
    assert hourly.std() / hourly.mean() < 0.02
    nox = sim.device(KILN_CEMS).values["nox"][6 * 60:14 * 60]
    assert np.unique(nox).size > 300  # minute values still move


def test_data_gap_silences_the_device(sample_registry: Registry) -> None:
    """A data gap removes the device's readings for exactly the window, and nothing else."""
    inj = DataGap(("PWR-SCR-1", "AQ-0002"), at(1), at(1, 45))
    minutes = list(generate(sample_registry, START, 180, seed=10, injections=[inj]))
    for i, minute in enumerate(minutes):
        ids = {did for _, did, _ in minute.messages}
        in_gap = 60 <= i < 105
        assert ("PWR-SCR-1" in ids) != in_gap and ("AQ-0002" in ids) != in_gap
        assert len(ids) == len(sample_registry.devices) - (2 if in_gap else 0)


def test_air_hotspot_adds_60_to_150_at_one_station(sample_registry: Registry) -> None:
    """pm25 at the station rises by 60-150 ug/m3 in the window; other stations are untouched."""
    inj = AirHotspot(("AQ-0004",), at(9), at(10))
    clean = simulate(sample_registry, START, 1440, seed=11)
    hot = simulate(sample_registry, START, 1440, seed=11, injections=[inj])
    win = window(clean, inj.start, inj.end)
    d25 = hot.device("AQ-0004").values["pm25"] - clean.device("AQ-0004").values["pm25"]
    d10 = hot.device("AQ-0004").values["pm10"] - clean.device("AQ-0004").values["pm10"]
    assert ((d25[win] >= 60.0) & (d25[win] <= 150.0)).all() and (d10[win] >= 60.0).all()
    assert (np.abs(d25[~win]) < 1e-9).all()
    others = [s for s in sample_registry.stations if s != "AQ-0004"]
    med = np.median(np.vstack([hot.device(s).values["pm25"] for s in others]), axis=0)
    excess = hot.device("AQ-0004").values["pm25"] - med
    assert (excess[win] > 35.0).all() and (excess[~win] < 35.0).all()


def test_emergency_production_runs_with_treatment(sample_registry: Registry) -> None:
    """Production during a shutdown window: the line runs at night, its treatment runs too."""
    inj = EmergencyProduction(("PWR-GRIND-1",), at(22), at(23, 30))
    sim = simulate(sample_registry, START, 1440, seed=12, injections=[inj])
    win = window(sim, inj.start, inj.end)
    assert (sim.device("PWR-GRIND-1").values["p"][win] >= 20.0).all()
    assert (sim.device("PWR-DUST-1").values["p"][win] >= 4.0).all()
    assert not treatment_off_minutes(sim, sample_registry, "PWR-GRIND-1").any()


# --- hard negatives -----------------------------------------------------------------------


def test_planned_shutdown_is_clean(sample_registry: Registry) -> None:
    """Production and treatment stop together: no treatment-off minute, no exceedance, O2 to ambient."""
    inj = PlannedShutdown(("PWR-KILN-1",), at(10), at(16))
    sim = simulate(sample_registry, START, 1440, seed=13, injections=[inj])
    win = window(sim, inj.start, inj.end)
    assert (sim.device("PWR-KILN-1").values["p"][win] < 64.0).all()
    assert not treatment_off_minutes(sim, sample_registry, "PWR-KILN-1").any()
    assert detector_findings(sim, sample_registry, "PWR-KILN-1") == []
    assert (sim.device("PWR-BAG-1").values["p"][win] < 12.8).sum() > 5 * 60
    o2 = sim.device(KILN_CEMS).values["o2"]
    assert o2[13 * 60:16 * 60].min() > 19.5
    for metric, limit in sample_registry.devices[KILN_CEMS].limits.items():
        assert (hourly_converted(sim, sample_registry, KILN_CEMS, metric) < limit).all()


def test_treatment_blip_is_shorter_than_the_minimum(sample_registry: Registry) -> None:
    """A 5-minute treatment dip is 5 condition minutes, which the 10-minute rule does not report."""
    inj = TreatmentBlip(("PWR-KILN-1",), at(4), at(4, 5))
    sim = simulate(sample_registry, START, 1440, seed=14, injections=[inj])
    cond = treatment_off_minutes(sim, sample_registry, "PWR-KILN-1")
    assert np.array_equal(cond, window(sim, inj.start, inj.end))
    assert detector_findings(sim, sample_registry, "PWR-KILN-1") == []
    with pytest.raises(InjectionError, match="under 10 min"):
        TreatmentBlip(("PWR-KILN-1",), at(4), at(4, 10))


def test_threshold_noise_never_reaches_the_threshold(sample_registry: Registry) -> None:
    """Production idling at 82-97% of its threshold with treatment off is not production running."""
    inj = ThresholdNoise(("PWR-FURN-1",), at(12), at(14))
    sim = simulate(sample_registry, START, 1440, seed=15, injections=[inj])
    p = sim.device("PWR-FURN-1").values["p"]
    idle = p[sim.index(inj.start) + 1:sim.index(inj.end)]
    assert ((idle >= 0.8 * 60) & (idle < 60)).all()
    assert (sim.device("PWR-ESP-1").values["p"] < 12.0).sum() > 60
    assert not treatment_off_minutes(sim, sample_registry, "PWR-FURN-1").any()
    assert detector_findings(sim, sample_registry, "PWR-FURN-1") == []


def test_stopped_zero_reads_zero_with_production_stopped(sample_registry: Registry) -> None:
    """Zeros for pollutants and flow while the served production is stopped."""
    inj = StoppedZero(("13062700000001",), at(2), at(6))
    sim = simulate(sample_registry, START, 1440, seed=16, injections=[inj])
    win = window(sim, inj.start, inj.end)
    s = sim.device("13062700000001")
    for m in ("so2", "nox", "pm", "co", "flow"):
        assert (s.values[m][win] == 0.0).all() and (s.values[m][~win] > 0.0).all()
    assert (sim.device("PWR-FURN-1").values["p"][win] < 48.0).all()
    assert not treatment_off_minutes(sim, sample_registry, "PWR-FURN-1").any()


# --- labels and validation -----------------------------------------------------------


def test_labels_export_as_json(sample_registry: Registry) -> None:
    """Labels are JSON-ready dicts with kind, rule, polarity, devices, window and parameters."""
    injs = [TreatmentOutage(("PWR-KILN-1",), at(2), at(2, 25)),
            Marking((KILN_CEMS,), at(5), at(6), flag="C"),
            TreatmentBlip(("PWR-KILN-1",), at(8), at(8, 5))]
    labels = injection_labels(injs)
    assert json.loads(json.dumps(labels)) == labels
    assert labels[0] == {
        "kind": "treatment_outage", "rule": "treatment_off", "positive": True,
        "device_ids": ["PWR-KILN-1"], "start": "2026-11-23T02:00:00+08:00",
        "end": "2026-11-23T02:25:00+08:00", "duration_min": 25.0, "params": {"level_kw": 2.0},
    }
    assert labels[1]["rule"] == "undeclared_marking" and labels[1]["params"]["flag"] == "C"
    assert labels[2]["positive"] is False
    sim = simulate(sample_registry, START, 60, seed=1, injections=injs)
    assert sim.labels() == labels


@pytest.mark.parametrize(("inj", "message"), [
    (TreatmentOutage(("NOPE",), START, at(1)), "no such device"),
    (TreatmentOutage(("PWR-BAG-1",), START, at(1)), "production power meter"),
    (Exceedance(("PWR-KILN-1",), START, at(1)), "needs a cems device"),
    (Exceedance((KILN_CEMS,), START, at(1), metric="co"), "no limit for 'co'"),
    (Flatline((KILN_CEMS,), START, at(1), metric="flow"), "metric 'flow'"),
    (AirHotspot((KILN_CEMS,), START, at(1)), "air station"),
    (TreatmentUnderload(("PWR-KILN-1",), START, at(1)), "treatment power meter"),
])
def test_injections_are_checked_against_the_registry(sample_registry: Registry, inj: object,
                                                     message: str) -> None:
    """An injection aimed at a missing or wrong device fails with a message naming the problem."""
    with pytest.raises(InjectionError, match=message):
        simulate(sample_registry, START, 60, seed=1, injections=[inj])  # type: ignore[list-item]


def test_injection_window_must_be_aware_and_ordered() -> None:
    """Naive times and empty windows are refused when the injection is built."""
    with pytest.raises(InjectionError, match="aware"):
        DataGap(("X",), datetime(2026, 1, 1), datetime(2026, 1, 2))
    with pytest.raises(InjectionError, match="not after"):
        DataGap(("X",), at(2), at(1))


# --- registry 1.1: stages, treatment sequence, water, site outages ----------------------

WATER = "13018200000002"
GLASS = "91130627MA0GLA2230"


def stage_of(registry: Registry, production_id: str) -> np.ndarray:
    return np.array([k for k, stage in enumerate(registry.devices[production_id].stages) for _ in stage])


def sequence_findings(sim: Simulation, registry: Registry, production_id: str) -> list[tuple[int, int, str]]:
    """(start index, end index, event) of the pure treatment_sequence rule's findings."""
    from ecowarn.detectors.treatment_sequence import TreatmentSequenceParams, treatment_sequence

    dev = registry.devices[production_id]
    treat = np.vstack([sim.device(t).values["p"] for t in dev.treated_by])
    thr = np.array([registry.devices[t].running_threshold_kw for t in dev.treated_by])
    found = treatment_sequence(sim.times_s, sim.device(production_id).values["p"], treat,
                               dev.running_threshold_kw, thr, stage_of(registry, production_id),
                               TreatmentSequenceParams(), 10.0)
    t0 = int(sim.times_s[0])
    return [((f.start_s - t0) // 60, ((f.end_s or t0) - t0) // 60, str(f.facts["event"])) for f in found]


@pytest.mark.parametrize("production_id", ["PWR-KILN-1", "PWR-GRIND-1"])
def test_late_treatment_start_is_one_sequence_finding(sample_registry: Registry,
                                                      production_id: str) -> None:
    """Production off for an hour, restarting at 03:00 with one stage 6 min late: the
    treatment_sequence rule finds exactly 03:00-03:06 and treatment_off nothing (also for a
    day-shift line at night, which the injection runs for an hour)."""
    stage = len(sample_registry.devices[production_id].stages) - 1
    inj = LateTreatmentStart((production_id,), at(3), at(3, 6), stage=stage)
    sim = simulate(sample_registry, START, 1440, seed=31, injections=[inj])
    assert sequence_findings(sim, sample_registry, production_id) == [(180, 186, "start")]
    assert detector_findings(sim, sample_registry, production_id) == []
    p = sim.device(production_id).values["p"]
    assert (p[120:180] < 0.8 * sample_registry.devices[production_id].running_threshold_kw).all()
    assert inj.label()["params"] == {"stage": stage, "off_min": 60.0}


def test_early_treatment_stop_is_one_sequence_finding(sample_registry: Registry) -> None:
    """The coke battery's desulfurisation stops 5 min before the battery (which then stays
    off an hour): one finding 14:00-14:05, no treatment_off."""
    inj = EarlyTreatmentStop(("PWR-COKE-1",), at(14), at(14, 5))
    sim = simulate(sample_registry, START, 1440, seed=32, injections=[inj])
    assert sequence_findings(sim, sample_registry, "PWR-COKE-1") == [(840, 845, "stop")]
    assert detector_findings(sim, sample_registry, "PWR-COKE-1") == []


def test_clean_days_have_no_sequence_finding(sample_registry: Registry) -> None:
    """Two clean days (shift starts and stops, duty switchovers, planned shutdowns) give the
    treatment_sequence rule nothing: every stage leads and lags its production."""
    injs = [PlannedShutdown(("PWR-KILN-1",), at(10), at(12)),
            PlannedShutdown(("PWR-FURN-1",), at(30), at(31))]
    sim = simulate(sample_registry, START, 2 * 1440, seed=33, injections=injs)
    for dev in sample_registry.production_devices():
        assert sequence_findings(sim, sample_registry, dev.id) == [], dev.id
        assert detector_findings(sim, sample_registry, dev.id) == [], dev.id


def test_stage_outage_is_treatment_off_naming_that_stage(sample_registry: Registry) -> None:
    """Both desulfurisation towers off for 30 min while the bag filter and SCR run: one
    treatment_off finding over exactly the window, stage 1 off."""
    inj = StageOutage(("PWR-KILN-1",), at(5), at(5, 30), stage=1)
    sim = simulate(sample_registry, START, 1440, seed=34, injections=[inj])
    [f] = detector_findings(sim, sample_registry, "PWR-KILN-1")
    assert (f.start_s, f.end_s) == (int(sim.times_s[300]), int(sim.times_s[330]))  # type: ignore[attr-defined]
    assert f.facts["stages_off"] == [1]  # type: ignore[attr-defined]
    win = window(sim, inj.start, inj.end)
    assert (sim.device("PWR-BAG-1").values["p"][win] > 16.0).all()


@pytest.mark.parametrize("meter", ["PWR-DS-1", "PWR-DS-2"])
def test_standby_off_beside_a_running_partner_is_no_finding(sample_registry: Registry,
                                                            meter: str) -> None:
    """Whichever tower is on duty, the one named is off for the window and its partner runs:
    the stage runs, so treatment_off finds nothing."""
    inj = StandbyOff((meter,), at(8), at(9, 30))
    sim = simulate(sample_registry, START, 1440, seed=35, injections=[inj])
    win = window(sim, inj.start, inj.end)
    partner = "PWR-DS-2" if meter == "PWR-DS-1" else "PWR-DS-1"
    assert (sim.device(meter).values["p"][win] < 2.5).all()
    assert (sim.device(partner).values["p"][win] > 22.0).all()
    assert detector_findings(sim, sample_registry, "PWR-KILN-1") == []
    assert sequence_findings(sim, sample_registry, "PWR-KILN-1") == []


def test_water_exceedance_raises_the_daily_mean_of_its_day(sample_registry: Registry) -> None:
    """COD at 1.6x its daily limit over a whole local day: that day's mean exceeds, no other
    day's, and no hour crosses the hourly limit."""
    from ecowarn.detectors.water import WaterParams, water_exceedance

    inj = WaterExceedance((WATER,), at(24), at(48), metric="cod", factor=1.6)
    sim = simulate(sample_registry, START, 3 * 1440, seed=36, injections=[inj])
    s = sim.device(WATER)
    found = water_exceedance(sim.times_s, s.values["cod"], s.flags["cod"], 50.0, 100.0, WaterParams())
    assert [(f.start_s, f.end_s, f.facts["basis"]) for f in found] == [
        (int(at(24).timestamp()), int(at(48).timestamp()), "daily")]


def test_water_spike_leaves_the_day_compliant(sample_registry: Registry) -> None:
    """NH3-N at 3x its daily limit for one clock hour: no daily exceedance (no hourly limit)."""
    from ecowarn.detectors.water import WaterParams, water_exceedance

    inj = WaterSpike((WATER,), at(13), at(14))
    sim = simulate(sample_registry, START, 1440, seed=37, injections=[inj])
    s = sim.device(WATER)
    nh3n = s.values["nh3n"]
    assert (nh3n[window(sim, inj.start, inj.end)] > 2.5 * 5.0).all()
    assert water_exceedance(sim.times_s, nh3n, s.flags["nh3n"], 5.0, None, WaterParams()) == []
    with pytest.raises(InjectionError, match="crosses its hourly limit"):
        simulate(sample_registry, START, 60, seed=1,
                 injections=[WaterSpike((WATER,), at(0), at(0, 30), metric="cod")])


def test_ph_out_of_range_for_90_minutes(sample_registry: Registry) -> None:
    """pH 5.2 for 90 min is one pH finding of 90 min; the clean day's pH stays 6.7-7.3."""
    from ecowarn.detectors.water import WaterParams, ph_out_of_range

    inj = PhOutOfRange((WATER,), at(9), at(10, 30))
    sim = simulate(sample_registry, START, 1440, seed=38, injections=[inj])
    ph = sim.device(WATER).values["ph"]
    [f] = ph_out_of_range(sim.times_s, ph, sim.device(WATER).flags["ph"], 6.0, 9.0, WaterParams())
    assert (f.start_s, f.end_s) == (int(at(9).timestamp()), int(at(10, 30).timestamp()))
    outside = ~window(sim, inj.start, inj.end)
    assert ((ph[outside] >= 6.7) & (ph[outside] <= 7.3)).all()


def test_site_outage_silences_every_device_of_the_enterprise(sample_registry: Registry) -> None:
    """An enterprise id stands for all its devices; the label asks for one alert."""
    inj = SiteOutage((GLASS,), at(2), at(2, 45))
    sim = simulate(sample_registry, START, 240, seed=39, injections=[inj])
    devices = sample_registry.enterprises[GLASS].device_ids
    win = window(sim, inj.start, inj.end)
    for did, s in sim.series.items():
        assert (~s.present).sum() == (45 if did in devices else 0), did
        assert (s.present[win] == (did not in devices)).all()
    [label] = sim.labels()
    assert label["device_ids"] == list(devices) and label["single_alert"] is True
    assert label["rule"] == "data_gap" and label["positive"] is True


@pytest.mark.parametrize(("inj", "message"), [
    (LateTreatmentStart(("PWR-KILN-1",), START, at(0, 6), stage=3), "stage 3 does not exist"),
    (StageOutage(("PWR-COKE-1",), START, at(1), stage=1), "stage 1 does not exist"),
    (StandbyOff(("PWR-BAG-1",), START, at(1)), "no alternative"),
    (WaterExceedance((KILN_CEMS,), START, at(1)), "needs a water outlet"),
    (WaterExceedance((WATER,), START, at(1), metric="ph"), "metric 'ph'"),
    (PhOutOfRange((WATER,), START, at(1), level=7.5), "inside the outlet's range"),
    (SiteOutage(("PWR-KILN-1", "PWR-COKE-1"), START, at(1)), "one enterprise"),
])
def test_new_injections_are_checked_against_the_registry(sample_registry: Registry, inj: object,
                                                         message: str) -> None:
    """1.1 injections aimed at a missing stage, a non-alternative, a wrong kind or an
    in-range pH fail with a message naming the problem."""
    with pytest.raises(InjectionError, match=message):
        simulate(sample_registry, START, 60, seed=1, injections=[inj])  # type: ignore[list-item]


def test_sequence_lags_of_ten_minutes_are_treatment_off() -> None:
    """A stage 10 min or more late is treatment_off, refused as a sequence injection."""
    with pytest.raises(InjectionError, match="is treatment_off"):
        LateTreatmentStart(("PWR-KILN-1",), START, at(0, 10))
    with pytest.raises(InjectionError, match="off_min"):
        EarlyTreatmentStop(("PWR-KILN-1",), START, at(0, 5), off_min=20.0)
    with pytest.raises(InjectionError, match="stage index"):
        StageOutage(("PWR-KILN-1",), START, at(1), stage=1.5)  # type: ignore[arg-type]
