"""Robust baselines: learned median and scaled MAD, rated fallback, incremental day summaries."""

from __future__ import annotations

import numpy as np
import pytest

from ecowarn.detectors.baseline import (
    Baseline,
    BaselineParams,
    DaySummary,
    learn_baseline,
    merge_summaries,
    rated_baseline,
    summarize_day,
)

T0 = 1_795_363_200
DAY = 86_400
MAD_SCALE = 1.482602218505602


def test_learned_median_and_scaled_mad() -> None:
    """Values 1..9 while running: median 5, MAD 2 scaled to 2 x 1.4826."""
    t = T0 + 60 * np.arange(9, dtype=np.int64)
    p = BaselineParams(min_samples=9)
    b = learn_baseline(t, np.arange(1.0, 10.0), np.ones(9, bool), T0 + 600, 100.0, p)
    assert b is not None
    assert (b.value, b.n, b.source) == (5.0, 9, "learned")
    assert b.mad == pytest.approx(2 * MAD_SCALE, rel=1e-12)


def test_only_running_points_in_the_trailing_window_count() -> None:
    """Points not running, NaN, before the window or at/after until_s are left out."""
    t = T0 + 60 * np.arange(8, dtype=np.int64)
    v = np.array([999.0, 10.0, 20.0, np.nan, 30.0, 999.0, 40.0, 999.0])
    running = np.array([True, True, True, True, True, False, True, True])
    p = BaselineParams(window_s=6 * 60, min_samples=3)
    b = learn_baseline(t, v, running, until_s=int(t[7]), rated=None, params=p)
    assert b is not None
    assert (b.value, b.n) == (25.0, 4)


def test_falls_back_to_rated_with_too_little_history() -> None:
    """Fewer than min_samples running points: the rated value, marked rated, with the count found."""
    t = T0 + 60 * np.arange(10, dtype=np.int64)
    b = learn_baseline(t, np.full(10, 50.0), np.ones(10, bool), T0 + 3600, 160.0,
                       BaselineParams(min_samples=11))
    assert b == Baseline(value=160.0, mad=None, n=10, source="rated")
    assert learn_baseline(t, np.full(10, 50.0), np.ones(10, bool), T0 + 3600, None,
                          BaselineParams(min_samples=11)) is None


def test_facts_name_the_source() -> None:
    """Evidence carries value, spread, count and source under the given prefix."""
    assert rated_baseline(160.0, 3).facts("flow_baseline") == {
        "flow_baseline": 160.0, "flow_baseline_mad": None, "flow_baseline_n": 3,
        "flow_baseline_source": "rated",
    }


def test_day_summaries_approximate_the_batch_baseline() -> None:
    """Merged per-day quantiles match the exact median within 0.5% and the MAD within 3%."""
    rng = np.random.default_rng(7)
    p = BaselineParams(min_samples=100)
    days, values, times = [], [], []
    for d in range(10):
        v = rng.normal(100.0, 10.0, 1440)
        t = T0 + d * DAY + 60 * np.arange(1440, dtype=np.int64)
        days.append(summarize_day(T0 + d * DAY, v, np.ones(1440, bool), p))
        values.append(v)
        times.append(t)
    until = T0 + 10 * DAY
    exact = learn_baseline(np.concatenate(times), np.concatenate(values),
                           np.ones(14_400, bool), until, None, p)
    merged = merge_summaries(days, until, None, p)
    assert exact is not None and merged is not None and exact.mad is not None
    assert merged.n == 14_400 and merged.source == "learned"
    assert merged.value == pytest.approx(exact.value, rel=0.005)
    assert merged.mad == pytest.approx(exact.mad, rel=0.03)


def test_merge_keeps_days_in_window_and_falls_back() -> None:
    """Only days in [until - window, until) count; too few samples give the rated value."""
    p = BaselineParams(window_s=2 * DAY, min_samples=5)
    old = DaySummary(T0 - 5 * DAY, 100, (1000.0, 1000.0))
    recent = DaySummary(T0 - DAY, 4, (10.0, 20.0))
    assert merge_summaries([old, recent], T0, 50.0, p) == rated_baseline(50.0, 4)
    fuller = DaySummary(T0 - DAY, 6, (10.0, 20.0))
    b = merge_summaries([old, fuller], T0, 50.0, p)
    assert b is not None and (b.value, b.n, b.source) == (15.0, 6, "learned")


def test_summary_of_a_stopped_day_is_empty() -> None:
    """A day without running values has n 0 and no quantiles."""
    s = summarize_day(T0, np.full(5, 3.0), np.zeros(5, bool), BaselineParams())
    assert s == DaySummary(T0, 0, ())


def test_baseline_value_must_be_finite() -> None:
    """A NaN baseline is refused."""
    with pytest.raises(ValueError, match="finite"):
        Baseline(float("nan"), None, 0, "rated")
