"""bypass_suspected: heavy production with almost no flue gas flow at the outlet."""

from __future__ import annotations

import numpy as np

from ecowarn.detectors._core import Finding
from ecowarn.detectors.baseline import Baseline
from ecowarn.detectors.bypass import BypassParams, bypass_suspected

T0 = 1_795_363_200
P = BypassParams()
RATED = 1000.0
FLOW_BASE = Baseline(value=100.0, mad=8.0, n=9000, source="learned")


def grid(n: int) -> np.ndarray:
    return T0 + 60 * np.arange(n, dtype=np.int64)


def check(prod: np.ndarray, flow: np.ndarray, base: Baseline | None = FLOW_BASE) -> list[Finding]:
    return bypass_suspected(grid(prod.size), prod, RATED, flow, base, P)


def test_low_flow_at_high_load_fires() -> None:
    """Production 600 kW (>= 500) with flow 5 (< 10) for minutes 60..119: 01:00-02:00."""
    flow = np.full(180, 95.0)
    flow[60:120] = 5.0
    [f] = check(np.full(180, 600.0), flow)
    assert (f.start_s, f.end_s) == (T0 + 3600, T0 + 7200)
    assert f.facts["duration_min"] == 60.0
    assert f.facts["production_threshold_kw"] == 500.0
    assert f.facts["flow_threshold"] == 10.0
    assert f.facts["flow_mean"] == 5.0
    assert f.facts["flow_baseline"] == 100.0
    assert f.facts["flow_baseline_source"] == "learned"
    assert f.facts["severity"] == "medium"


def test_59_minutes_do_not_fire() -> None:
    """One minute under the hour gives nothing."""
    flow = np.full(180, 95.0)
    flow[60:119] = 5.0
    assert check(np.full(180, 600.0), flow) == []


def test_thresholds_are_inclusive_for_load_strict_for_flow() -> None:
    """Load exactly 50% of rated counts; flow exactly 10% of typical does not."""
    assert len(check(np.full(60, 500.0), np.full(60, 9.99))) == 1
    assert check(np.full(60, 499.9), np.full(60, 5.0)) == []
    assert check(np.full(60, 600.0), np.full(60, 10.0)) == []


def test_planned_shutdown_does_not_fire() -> None:
    """Production at 0 kW and flow at 0 is a shutdown, not a bypass."""
    assert check(np.zeros(180), np.zeros(180)) == []


def test_missing_flow_is_not_low_flow() -> None:
    """NaN flow (no data) never counts as low flow."""
    assert check(np.full(120, 600.0), np.full(120, np.nan)) == []


def test_without_baseline_the_rule_cannot_judge() -> None:
    """No typical flow known: no findings."""
    assert check(np.full(120, 600.0), np.zeros(120), base=None) == []


def test_ongoing_has_no_end() -> None:
    """Low flow to the last minute is one finding with end None."""
    flow = np.full(300, 95.0)
    flow[60:] = 2.0
    [f] = check(np.full(300, 800.0), flow)
    assert (f.start_s, f.end_s) == (T0 + 3600, None)
    assert f.facts["severity"] == "high"
