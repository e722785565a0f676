"""emergency_noncompliance: production during shutdown orders and above limit orders."""

from __future__ import annotations

import numpy as np
import pytest

from ecowarn.detectors._core import Finding
from ecowarn.detectors.baseline import Baseline
from ecowarn.detectors.emergency import EmergencyParams, emergency_noncompliance

T0 = 1_795_363_200
H = 3600
P = EmergencyParams()
ON_KW = 80.0
BASE = Baseline(value=1000.0, mad=50.0, n=5000, source="learned")


def grid(n: int) -> np.ndarray:
    return T0 + 60 * np.arange(n, dtype=np.int64)


def shutdown(prod: np.ndarray, start: int, end: int) -> list[Finding]:
    return emergency_noncompliance(grid(prod.size), prod, ON_KW, np.array([start]),
                                   np.array([end]), "shutdown", None, None, P)


def limit(prod: np.ndarray, start: int, end: int, pct: float = 30.0) -> list[Finding]:
    return emergency_noncompliance(grid(prod.size), prod, ON_KW, np.array([start]),
                                   np.array([end]), "limit", pct, BASE, P)


def test_shutdown_order_running_fires_clipped_to_order() -> None:
    """Production running 0..99 min against an order from minute 60 gives minutes 60..99."""
    prod = np.zeros(240)
    prod[:100] = 500.0
    [f] = shutdown(prod, T0 + H, T0 + 3 * H)
    assert (f.start_s, f.end_s) == (T0 + H, T0 + 100 * 60)
    assert f.facts["duration_min"] == 40.0
    assert f.facts["production_mean_kw"] == 500.0
    assert (f.facts["order_start_s"], f.facts["order_end_s"]) == (T0 + H, T0 + 3 * H)
    assert f.facts["severity"] == "high"


def test_shutdown_14_minutes_do_not_fire() -> None:
    """Running 14 minutes into the order is under the 15-minute minimum."""
    prod = np.zeros(240)
    prod[:74] = 500.0
    assert shutdown(prod, T0 + H, T0 + 3 * H) == []


def test_running_outside_the_order_does_not_fire() -> None:
    """Production that stops when the order starts and restarts when it ends complies."""
    prod = np.full(240, 500.0)
    prod[60:180] = 0.0
    assert shutdown(prod, T0 + H, T0 + 3 * H) == []


def test_shutdown_ongoing_while_order_continues() -> None:
    """Running to the end of the data with the order still in force: end None."""
    prod = np.zeros(120)
    prod[90:] = 500.0
    [f] = shutdown(prod, T0 + H, T0 + 5 * H)
    assert (f.start_s, f.end_s) == (T0 + 90 * 60, None)


def test_shutdown_ends_with_the_order_at_data_end() -> None:
    """An order ending where the data ends closes the finding at the order's end."""
    prod = np.full(120, 500.0)
    [f] = shutdown(prod, T0 + H, T0 + 2 * H)
    assert (f.start_s, f.end_s) == (T0 + H, T0 + 2 * H)


def test_limit_order_hours_above_allowed_fire() -> None:
    """30% limit of a 1000 kW baseline: hours at 800 and 900 kW exceed 770 kW; 760 and 600 do not."""
    prod = np.repeat([760.0, 800.0, 900.0, 600.0], 60)
    [f] = limit(prod, T0, T0 + 4 * H)
    assert (f.start_s, f.end_s) == (T0 + H, T0 + 3 * H)
    assert f.facts["hours"] == 2
    assert f.facts["allowed_kw"] == 700.0
    assert f.facts["threshold_kw"] == 770.0
    assert f.facts["max_hourly_mean_kw"] == 900.0
    assert f.facts["excess_pct"] == 28.6
    assert f.facts["hourly_mean_kw"] == [[T0 + H, 800.0], [T0 + 2 * H, 900.0]]
    assert f.facts["baseline_source"] == "learned"
    assert f.facts["severity"] == "medium"


def test_limit_hours_count_from_order_start() -> None:
    """Order hours count from the order's start (00:30-01:30, 01:30-02:30), not clock hours."""
    prod = np.full(180, 950.0)
    [f] = limit(prod, T0 + 30 * 60, T0 + 150 * 60)
    assert (f.start_s, f.end_s) == (T0 + 30 * 60, T0 + 150 * 60)
    assert f.facts["hours"] == 2
    assert f.facts["severity"] == "high"


def test_limit_at_threshold_does_not_fire() -> None:
    """An hourly mean exactly at allowed x (1 + tolerance) is within it; just above is not."""
    params = EmergencyParams(limit_tolerance=0.25)  # 50% of 1000 -> 500 x 1.25 = 625, exact

    def at(kw: float) -> list[Finding]:
        return emergency_noncompliance(grid(60), np.full(60, kw), ON_KW, np.array([T0]),
                                       np.array([T0 + H]), "limit", 50.0, BASE, params)

    assert at(625.0) == []
    assert [f.facts["threshold_kw"] for f in at(625.5)] == [625.0]


def test_limit_hour_with_too_little_data_is_not_judged() -> None:
    """An order hour with only 44 minutes of data is not judged."""
    prod = np.full(60, 900.0)
    prod[44:] = np.nan
    assert limit(prod, T0, T0 + H) == []


def test_limit_ongoing_with_hour_in_progress() -> None:
    """A violating hour followed by a half-covered hour of a continuing order: end None."""
    prod = np.repeat([600.0, 900.0, 900.0], [60, 60, 30])
    [f] = limit(prod, T0, T0 + 6 * H)
    assert (f.start_s, f.end_s) == (T0 + H, None)
    assert f.facts["hours"] == 1


def test_planned_shutdown_under_limit_order_does_not_fire() -> None:
    """Production stopped during a limit order complies."""
    assert limit(np.zeros(240), T0, T0 + 4 * H) == []


def test_limit_order_needs_pct_and_baseline() -> None:
    """A limit order without limit_pct or baseline is refused."""
    with pytest.raises(ValueError, match="limit_pct"):
        emergency_noncompliance(grid(3), np.ones(3), ON_KW, np.array([T0]), np.array([T0 + H]),
                                "limit", None, BASE, P)
    with pytest.raises(ValueError, match="baseline"):
        emergency_noncompliance(grid(3), np.ones(3), ON_KW, np.array([T0]), np.array([T0 + H]),
                                "limit", 30.0, None, P)


def test_overlapping_windows_are_refused() -> None:
    """Overlapping order windows in one call are refused."""
    with pytest.raises(ValueError, match="overlap"):
        emergency_noncompliance(grid(3), np.ones(3), ON_KW, np.array([T0, T0 + 60]),
                                np.array([T0 + H, T0 + 2 * H]), "shutdown", None, None, P)
