"""treatment_underload: treatment running far below its typical load while production runs."""

from __future__ import annotations

import numpy as np

from ecowarn.detectors._core import Finding
from ecowarn.detectors.baseline import Baseline, rated_baseline
from ecowarn.detectors.treatment_underload import TreatmentUnderloadParams, treatment_underload

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
