"""treatment_underload: treatment running far below its typical load while production runs."""

from __future__ import annotations

import numpy as np

from ecowarn.detectors._core import Finding
from ecowarn.detectors.baseline import Baseline, rated_baseline
from ecowarn.detectors.treatment_underload import (
    TreatmentUnderloadParams,
    stage_power,
    stage_underload,
    treatment_underload,
)

T0 = 1_795_363_200
P = TreatmentUnderloadParams()
LEARNED = Baseline(value=100.0, mad=5.0, n=2000, source="learned")
PROD_ON_KW = 80.0
TREAT_ON_KW = 16.0


def grid(n: int) -> np.ndarray:
    return T0 + 60 * np.arange(n, dtype=np.int64)


def run(prod: np.ndarray, treat: np.ndarray, baseline: Baseline = LEARNED) -> list[Finding]:
    return treatment_underload(grid(prod.size), prod, PROD_ON_KW, treat, TREAT_ON_KW, baseline, P)


def test_fires_with_exact_minutes() -> None:
    """Treatment at 20 kW (threshold 30% of 100) for minutes 30..69 gives one 40-min finding."""
    prod = np.full(120, 500.0)
    treat = np.full(120, 95.0)
    treat[30:70] = 20.0
    [f] = run(prod, treat)
    assert (f.start_s, f.end_s) == (T0 + 30 * 60, T0 + 70 * 60)
    assert f.facts["duration_min"] == 40.0
    assert f.facts["threshold_kw"] == 30.0
    assert f.facts["treatment_mean_kw"] == 20.0
    assert f.facts["load_pct_of_baseline"] == 20.0
    assert f.facts["baseline"] == 100.0
    assert f.facts["baseline_source"] == "learned"
    assert f.facts["severity"] == "medium"


def test_29_minutes_do_not_fire() -> None:
    """One minute under the 30-minute minimum gives nothing."""
    treat = np.full(120, 95.0)
    treat[30:59] = 20.0
    assert run(np.full(120, 500.0), treat) == []


def test_noise_around_threshold_does_not_fire() -> None:
    """Treatment alternating 28/32 kW around the 30 kW line never holds 30 minutes."""
    treat = np.where(np.arange(120) % 2 == 0, 28.0, 32.0)
    assert run(np.full(120, 500.0), treat) == []


def test_planned_shutdown_of_both_does_not_fire() -> None:
    """Production and treatment both at 0 kW is a shutdown, not underload."""
    assert run(np.zeros(120), np.zeros(120)) == []


def test_treatment_off_is_not_underload() -> None:
    """Treatment at 0 kW while production runs belongs to treatment_off, not this rule."""
    assert run(np.full(120, 500.0), np.zeros(120)) == []


def test_ongoing_has_no_end() -> None:
    """Underload lasting to the last minute is one finding with end None."""
    treat = np.full(120, 95.0)
    treat[80:] = 20.0
    [f] = run(np.full(120, 500.0), treat)
    assert (f.start_s, f.end_s) == (T0 + 80 * 60, None)
    assert f.facts["duration_min"] == 40.0


def test_rated_fallback_is_named() -> None:
    """Without history the threshold is 30% of rated_kw (160 -> 48 kW), source rated."""
    treat = np.full(60, 150.0)
    treat[:30] = 40.0
    [f] = run(np.full(60, 500.0), treat, rated_baseline(160.0, 12))
    assert (f.start_s, f.end_s) == (T0, T0 + 30 * 60)
    assert f.facts["threshold_kw"] == 48.0
    assert f.facts["baseline_source"] == "rated"
    assert f.facts["baseline_n"] == 12


def test_long_episode_is_high_severity() -> None:
    """Four hours of underload is high severity."""
    [f] = run(np.full(240, 500.0), np.full(240, 20.0))
    assert f.facts["severity"] == "high"


# --- stages of alternatives (duty/standby): judged by the members' combined power ---------

STAGE_ON_KW = [20.0, 20.0]


def run_stage(prod: np.ndarray, duty: np.ndarray, standby: np.ndarray,
              baseline: Baseline = LEARNED) -> list[Finding]:
    return stage_underload(grid(prod.size), prod, PROD_ON_KW, np.vstack([duty, standby]),
                           STAGE_ON_KW, baseline, P)


def test_stage_fires_just_under_the_fraction_and_not_at_it() -> None:
    """Duty at 29.5 kW with the standby idle at 0.5 kW (30 kW in all, the 30% line of a 100 kW
    stage) is not under it; 29.25 + 0.5 is, for exactly the minutes it lasts."""
    prod = np.full(120, 500.0)
    standby = np.full(120, 0.5)
    at_line = np.full(120, 95.0)
    at_line[30:90] = 29.5
    assert run_stage(prod, at_line, standby) == []
    under = np.full(120, 95.0)
    under[30:90] = 29.25
    [f] = run_stage(prod, under, standby)
    assert (f.start_s, f.end_s) == (T0 + 30 * 60, T0 + 90 * 60)
    assert f.facts["treatment_mean_kw"] == 29.75
    assert f.facts["member_mean_kw"] == [29.25, 0.5]
    assert f.facts["threshold_kw"] == 30.0


def test_stage_needs_the_minimum_duration() -> None:
    """A stage under the line for 29 minutes gives nothing; for 30 minutes one finding."""
    prod, standby = np.full(120, 500.0), np.zeros(120)
    short = np.full(120, 95.0)
    short[30:59] = 25.0
    assert run_stage(prod, short, standby) == []
    enough = np.full(120, 95.0)
    enough[30:60] = 25.0
    [f] = run_stage(prod, enough, standby)
    assert f.facts["duration_min"] == 30.0


def test_two_alternatives_half_running_are_one_stage_at_its_load() -> None:
    """Both towers at 20 kW (40 kW in all, 40% of the stage's typical load): no finding,
    where judging each tower alone against that load would have found two."""
    prod, half = np.full(120, 500.0), np.full(120, 20.0)
    assert run_stage(prod, half, half) == []
    assert len(treatment_underload(grid(120), prod, PROD_ON_KW, half, 20.0, LEARNED, P)) == 1


def test_switchover_is_no_change_of_load() -> None:
    """The standby starts 10 min before the duty stops and carries the stage at full load:
    the stage never runs below its line."""
    prod = np.full(240, 500.0)
    duty, standby = np.full(240, 95.0), np.zeros(240)
    duty[120:] = 0.3
    standby[110:] = 95.0
    assert run_stage(prod, duty, standby) == []


def test_stage_is_underloaded_after_a_switchover_against_the_same_baseline() -> None:
    """After the switchover the standby runs at 20 kW: one finding from the minute the duty
    stopped, judged against the stage's baseline (not the standby's own history)."""
    prod = np.full(240, 500.0)
    duty, standby = np.full(240, 95.0), np.zeros(240)
    duty[120:] = 0.3
    standby[110:] = 20.0
    [f] = run_stage(prod, duty, standby)
    assert (f.start_s, f.end_s) == (T0 + 120 * 60, None)
    assert f.facts["member_mean_kw"] == [0.3, 20.0]


def test_stage_off_or_without_data_is_not_underloaded() -> None:
    """Both towers off is treatment_off's; a tower without data leaves the stage's load
    unknown (it may carry the stage): neither is underload."""
    prod = np.full(120, 500.0)
    assert run_stage(prod, np.zeros(120), np.full(120, 0.5)) == []
    assert run_stage(prod, np.full(120, 25.0), np.full(120, np.nan)) == []


def test_stage_of_one_meter_is_the_single_meter_rule() -> None:
    """A stage of one meter finds exactly what treatment_underload finds, facts included."""
    prod = np.full(180, 500.0)
    treat = np.full(180, 95.0)
    treat[20:100] = 22.0
    one = stage_underload(grid(180), prod, PROD_ON_KW, treat[np.newaxis, :], [TREAT_ON_KW], LEARNED, P)
    assert one == run(prod, treat)
    assert "member_mean_kw" not in one[0].facts


def test_stage_power_sums_members_and_runs_when_any_runs() -> None:
    """Combined power is the sum (NaN where a member has none); the stage runs while any
    member runs, each with its own hysteresis."""
    duty = np.array([100.0, 18.0, 0.0, 0.0, np.nan])
    standby = np.array([0.0, 0.0, 0.0, 100.0, 100.0])
    kw, on = stage_power(np.vstack([duty, standby]), [20.0, 20.0], 0.8)
    assert kw[:4].tolist() == [100.0, 18.0, 0.0, 100.0] and np.isnan(kw[4])
    assert on.tolist() == [True, True, False, True, True]
