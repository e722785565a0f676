"""Clean simulated data: determinism, realism, and the CONTRACT section 1 reading shape."""

from __future__ import annotations

import json
import math
import re
import time
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from ecowarn.config.metrics import FLAGS, KIND_METRICS
from ecowarn.config.registry import Registry
from ecowarn.simulator import CST, generate, iter_minutes, simulate
from ecowarn.simulator.plant import Simulation

START = datetime(2026, 11, 23, 0, 0, tzinfo=CST)
TS_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:00\+08:00$")


def treatment_off_minutes(sim: Simulation, registry: Registry, production_id: str) -> np.ndarray:
    """Minutes where production is at/above its threshold and every treatment unit below 80% of its own."""
    dev = registry.devices[production_id]
    running = sim.device(production_id).values["p"] >= dev.running_threshold_kw
    all_off = np.ones(sim.minutes, dtype=bool)
    for tid in dev.treated_by:
        thr = registry.devices[tid].running_threshold_kw
        all_off &= sim.device(tid).values["p"] < 0.8 * thr
    return np.asarray(running & all_off)


def hourly_converted(sim: Simulation, registry: Registry, cems_id: str, metric: str) -> np.ndarray:
    """Clock-hour means of the O2-corrected concentration over minutes flagged N."""
    s = sim.device(cems_id)
    ref = registry.devices[cems_id].ref_o2
    assert ref is not None
    conv = s.values[metric] * (21.0 - ref) / (21.0 - s.values["o2"])
    valid = (s.flags[metric] == "N") & s.present
    conv = np.where(valid, conv, np.nan).reshape(-1, 60)
    return np.asarray(np.nanmean(conv, axis=1))


def test_same_seed_same_output(sample_registry: Registry) -> None:
    """The same registry, start, length and seed give identical readings."""
    a = [(m.ts, m.messages) for m in generate(sample_registry, START, 180, seed=11)]
    b = [(m.ts, m.messages) for m in generate(sample_registry, START, 180, seed=11)]
    assert a == b
    c = [(m.ts, m.messages) for m in generate(sample_registry, START, 180, seed=12)]
    assert a != c


def test_generate_matches_arrays(sample_registry: Registry) -> None:
    """Minute-by-minute readings carry exactly the values and flags of the per-device arrays."""
    sim = simulate(sample_registry, START, 120, seed=3)
    for i, minute in enumerate(iter_minutes(sim)):
        assert minute.ts == START + timedelta(minutes=i)
        assert len(minute.messages) == len(sample_registry.devices)
        for kind, did, reading in minute.messages:
            series = sim.device(did)
            assert kind == series.kind == sample_registry.devices[did].kind
            assert reading["values"] == {m: float(v[i]) for m, v in series.values.items()}
            assert reading["flags"] == {m: str(f[i]) for m, f in series.flags.items()}


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_clean_days_never_run_production_without_treatment(sample_registry: Registry,
                                                           seed: int) -> None:
    """Two clean days (shift starts and stops included) have no production-on/treatment-off minute."""
    sim = simulate(sample_registry, START, 2 * 1440, seed=seed)
    for dev in sample_registry.production_devices():
        assert not treatment_off_minutes(sim, sample_registry, dev.id).any(), dev.id
    # The day-shift grinding line really starts and stops (twice each).
    grind = sim.device("PWR-GRIND-1").values["p"] >= 20.0
    assert np.count_nonzero(np.diff(grind.astype(int)) != 0) == 4


def test_clean_day_passes_the_treatment_off_detector(sample_registry: Registry) -> None:
    """The repository's treatment_off detector (with hysteresis, by stage: a standby unit
    idling beside its running partner is no finding) finds nothing on a clean day."""
    from ecowarn.detectors.treatment_off import TreatmentOffParams, treatment_off

    sim = simulate(sample_registry, START, 1440, seed=5)
    for dev in sample_registry.production_devices():
        treat = np.vstack([sim.device(t).values["p"] for t in dev.treated_by])
        thr = np.array([sample_registry.devices[t].running_threshold_kw for t in dev.treated_by])
        stage_of = np.array([k for k, stage in enumerate(dev.stages) for _ in stage])
        found = treatment_off(sim.times_s, sim.device(dev.id).values["p"], treat,
                              dev.running_threshold_kw, thr, TreatmentOffParams(), stage_of)
        assert found == [], dev.id


def test_treatment_follows_production_by_about_ten_minutes(sample_registry: Registry) -> None:
    """Treatment starts 8-12 min before its day-shift production and stops 8-12 min after it."""
    sim = simulate(sample_registry, START, 1440, seed=9)
    prod_on = np.flatnonzero(sim.device("PWR-GRIND-1").values["p"] >= 20.0)
    treat_on = np.flatnonzero(sim.device("PWR-DUST-1").values["p"] >= 4.0)
    assert 8 <= prod_on[0] - treat_on[0] <= 12 + 15  # ramp: threshold reached after start
    assert 8 <= treat_on[-1] - prod_on[-1] <= 12 + 10
    assert 7 * 60 + 40 <= treat_on[0] <= 8 * 60 and 20 * 60 - 10 <= treat_on[-1] <= 20 * 60 + 25


def test_clean_emissions_are_plausible_and_below_limits(sample_registry: Registry) -> None:
    """Clean CEMS data: hourly converted means at 20-80% of limits, O2 8-12%, steady flow, flags N."""
    sim = simulate(sample_registry, START, 1440, seed=21)
    for dev in sample_registry.devices.values():
        if dev.kind != "cems":
            continue
        s = sim.device(dev.id)
        for metric, limit in dev.limits.items():
            hourly = hourly_converted(sim, sample_registry, dev.id, metric)
            assert (hourly > 0.2 * limit).all() and (hourly < 0.8 * limit).all(), (dev.id, metric)
        assert ((s.values["o2"] >= 8.0) & (s.values["o2"] <= 12.0)).all()
        flow = s.values["flow"]
        assert 20.0 < float(np.median(flow)) < 80.0
        assert (flow > 0.3 * np.median(flow)).all()
        assert all((f == "N").all() for f in s.flags.values())


def test_power_meter_counter_is_consistent(sample_registry: Registry) -> None:
    """The energy counter never decreases and grows by p/60 kWh per minute; current follows power."""
    sim = simulate(sample_registry, START, 1440, seed=8)
    for dev in sample_registry.devices.values():
        if dev.kind != "power":
            continue
        v = sim.device(dev.id).values
        de = np.diff(v["e"])
        assert (de >= 0).all()
        np.testing.assert_allclose(de, v["p"][1:] / 60.0, atol=0.011)
        assert np.corrcoef(v["p"], v["i"])[0, 1] > 0.9
        assert (v["p"] <= dev.rated_kw).all()  # type: ignore[operator]


def test_air_stations_share_a_diurnal_regional_level(sample_registry: Registry) -> None:
    """Stations move together; ozone peaks in the afternoon and is low at night."""
    sim = simulate(sample_registry, START, 1440, seed=4)
    pm = np.vstack([sim.device(s).values["pm25"] for s in sample_registry.stations])
    assert np.corrcoef(pm).min() > 0.7
    o3 = sim.device("AQ-0001").values["o3"]
    assert o3[13 * 60:16 * 60].mean() > 2 * o3[0:5 * 60].mean()
    wd = sim.device("AQ-0001").values["wind_dir"]
    assert ((wd >= 0) & (wd < 360)).all()


def test_every_payload_is_valid_per_contract(sample_registry: Registry) -> None:
    """Each reading: ts RFC 3339 with +08:00, finite numeric values, canonical metrics, valid flags."""
    seen_kinds = set()
    for minute in generate(sample_registry, START - timedelta(hours=8), 1440, seed=2):
        for kind, did, reading in minute.messages:
            seen_kinds.add(kind)
            assert set(reading) == {"ts", "values", "flags"}
            assert TS_RE.match(reading["ts"]), reading["ts"]
            assert datetime.fromisoformat(reading["ts"]) == minute.ts
            assert reading["values"], did
            assert set(reading["values"]) <= KIND_METRICS[kind]
            for v in reading["values"].values():
                assert isinstance(v, float) and math.isfinite(v)
            assert set(reading["flags"]) <= set(reading["values"])
            assert set(reading["flags"].values()) <= FLAGS
            json.dumps(reading, allow_nan=False)
    assert seen_kinds == {"cems", "power", "air", "water"}


def test_start_in_another_zone_is_the_same_instant(sample_registry: Registry) -> None:
    """A start given in UTC yields the same readings, stamped in +08:00, as the same instant in CST."""
    utc = START.astimezone(UTC)
    a = [m.messages for m in generate(sample_registry, utc, 30, seed=1)]
    b = [m.messages for m in generate(sample_registry, START, 30, seed=1)]
    assert a == b


def test_bad_arguments_are_rejected(sample_registry: Registry) -> None:
    """A naive or off-minute start, or a negative seed, raises ValueError before any data."""
    with pytest.raises(ValueError, match="aware"):
        simulate(sample_registry, datetime(2026, 11, 23), 10, seed=1)
    with pytest.raises(ValueError, match="whole minute"):
        simulate(sample_registry, START + timedelta(seconds=30), 10, seed=1)
    with pytest.raises(ValueError, match="seed"):
        simulate(sample_registry, START, 10, seed=-1)


def test_one_day_is_fast(sample_registry: Registry) -> None:
    """A day of the sample registry (17 devices) is computed and walked in well under a second."""
    t0 = time.perf_counter()
    n = sum(len(m.messages) for m in generate(sample_registry, START, 1440, seed=1))
    elapsed = time.perf_counter() - t0
    assert n == 1440 * len(sample_registry.devices)
    assert elapsed < 1.0, elapsed


def test_duty_and_standby_towers_take_turns(sample_registry: Registry) -> None:
    """The kiln's two desulfurisation towers: one runs, the other idles near 0 kW; every few
    days they switch over in the daytime, the incoming one starting 5-15 min before the
    outgoing one stops, so the stage never stops while the kiln runs."""
    sim = simulate(sample_registry, START, 8 * 1440, seed=6)
    thr = sample_registry.devices["PWR-DS-1"].running_threshold_kw
    p1, p2 = sim.device("PWR-DS-1").values["p"], sim.device("PWR-DS-2").values["p"]
    on1, on2 = p1 >= thr, p2 >= thr
    assert not (~on1 & ~on2).any()
    assert on1.any() and on2.any()
    assert (np.minimum(p1, p2) < 0.2 * thr).mean() > 0.99  # the standby one idles near 0 kW
    both = np.flatnonzero(on1 & on2)
    runs = np.split(both, np.flatnonzero(np.diff(both) != 1) + 1)
    assert 1 <= len(runs) <= 4 and all(5 <= r.size <= 15 for r in runs)
    hour = (sim.times_s[both] // 3600 + 8) % 24
    assert ((hour >= 8) & (hour < 16)).all()


def test_water_outlet_is_plausible(sample_registry: Registry) -> None:
    """The coking plant's wastewater: analyser values held per 1-2 h cycle at 25-65% of the
    daily limit, pH 6.7-7.3 moving every minute, flow (L/s) positive, flags N."""
    sim = simulate(sample_registry, START, 2 * 1440, seed=7)
    dev = sample_registry.devices["13018200000002"]
    s = sim.device(dev.id)
    assert set(s.values) == KIND_METRICS["water"]
    for metric, limit in dev.limits.items():
        v = s.values[metric]
        assert ((v >= 0.24 * limit) & (v <= 0.66 * limit)).all(), metric
        changes = np.count_nonzero(np.diff(v))
        assert 2 * 24 // 2 - 2 <= changes <= 2 * 24, metric  # one value per 60 or 120 min
    ph = s.values["ph"]
    assert ((ph >= 6.7) & (ph <= 7.3)).all() and np.unique(ph).size > 20
    assert (s.values["flow"] > 0).all()
    assert all((f == "N").all() for f in s.flags.values())
