"""Wastewater outlets (CONTRACT 1.1 section 8): daily means with 20 valid hours, hourly
limits, pH range; pure functions, boundaries at the parameters."""

from __future__ import annotations

import numpy as np
import pytest

from ecowarn.detectors.water import WaterParams, day_means, hour_means, ph_out_of_range, water_exceedance

DAY0 = 1_795_363_200  # 2026-11-23 00:00 UTC+8
P = WaterParams()


def hourly(values: list[float], start: int = DAY0, flags: str | None = None) -> tuple:  # type: ignore[type-arg]
    t = np.array([start + i * 3600 for i in range(len(values))], dtype=np.int64)
    f = np.array(list(flags) if flags else ["N"] * len(values))
    return t, np.array(values, dtype=np.float64), f


def test_hourly_mean_uses_valid_values_only() -> None:
    """Values flagged M/D are not used; T (above range) is; an hour with none is invalid."""
    t = np.array([DAY0, DAY0 + 600, DAY0 + 1200, DAY0 + 3600], dtype=np.int64)
    h = hour_means(t, np.array([10.0, 30.0, 500.0, 7.0]), np.array(["N", "T", "M", "D"]))
    assert h.hour_s.tolist() == [DAY0, DAY0 + 3600]
    assert h.mean[0] == 20.0 and np.isnan(h.mean[1])
    assert h.n_valid.tolist() == [2, 0]


@pytest.mark.parametrize(("valid_hours", "judged"), [(19, False), (20, True)])
def test_day_needs_twenty_valid_hours(valid_hours: int, judged: bool) -> None:
    """19 valid hours leave the day unjudged; 20 judge it."""
    flags = "N" * valid_hours + "M" * (24 - valid_hours)
    d = day_means(hour_means(*hourly([60.0] * 24, flags=flags)), P.min_valid_hours)
    assert bool(np.isfinite(d.mean[0])) is judged
    found = water_exceedance(*hourly([60.0] * 24, flags=flags), 50.0, None, P)
    assert bool(found) is judged


def test_single_spike_in_a_compliant_day_is_no_daily_exceedance() -> None:
    """One hour at 300 mg/L in a day averaging under 50: compliant without an hourly limit;
    with limits_hourly 100 that hour is an hourly exceedance."""
    values = [30.0] * 24
    values[10] = 300.0  # day mean 41.25
    assert water_exceedance(*hourly(values), 50.0, None, P) == []
    [f] = water_exceedance(*hourly(values), 50.0, 100.0, P)
    assert f.facts["basis"] == "hourly" and (f.start_s, f.end_s) == (DAY0 + 36000, DAY0 + 39600)
    assert f.facts["severity"] == "high"  # 3x the limit


def test_consecutive_exceeding_days_merge_and_the_last_may_go_on() -> None:
    """Two days at 60 against 50: one finding of two days, open (the last judged day exceeds);
    a compliant day after it closes it."""
    two = [60.0] * 48
    [f] = water_exceedance(*hourly(two), 50.0, None, P)
    assert (f.start_s, f.end_s, f.facts["periods"]) == (DAY0, None, 2)
    [f] = water_exceedance(*hourly(two + [40.0] * 24), 50.0, None, P)
    assert (f.start_s, f.end_s) == (DAY0, DAY0 + 2 * 86400)
    assert f.facts["means"] == [60.0, 60.0] and f.facts["severity"] == "high"


def test_unfinished_day_is_not_judged() -> None:
    """A day still running (complete_until before its end) waits."""
    t, v, f = hourly([60.0] * 24)
    assert water_exceedance(t, v, f, 50.0, None, P, complete_until_s=DAY0 + 23 * 3600) == []
    assert len(water_exceedance(t, v, f, 50.0, None, P, complete_until_s=DAY0 + 86400)) == 1


@pytest.mark.parametrize(("minutes", "fires"), [(59, False), (60, True)])
def test_ph_outside_range_for_an_hour(minutes: int, fires: bool) -> None:
    """Minute pH at 5.5 (range 6-9) for 59 min is nothing; 60 min fires."""
    n = 180
    t = DAY0 + np.arange(n, dtype=np.int64) * 60
    v = np.full(n, 7.0)
    v[30:30 + minutes] = 5.5
    found = ph_out_of_range(t, v, np.array(["N"] * n), 6.0, 9.0, P)
    assert bool(found) is fires
    if fires:
        assert (found[0].start_s, found[0].end_s, found[0].facts["min"]) == (DAY0 + 1800, DAY0 + 5400, 5.5)


def test_hourly_ph_value_stands_for_its_hour() -> None:
    """Hourly uploads: one hourly pH of 9.6 is an hour outside the range; a gap of readings
    longer than the hold breaks a run."""
    [f] = ph_out_of_range(*hourly([7.0, 9.6, 7.2]), 6.0, 9.0, P)
    assert (f.start_s, f.end_s, f.facts["max"]) == (DAY0 + 3600, DAY0 + 7200, 9.6)
    t = np.array([DAY0, DAY0 + 1800], dtype=np.int64)  # 30 min apart, each holds up to the next
    assert ph_out_of_range(t, np.array([10.0, 10.0]), np.array(["N", "N"]), 6, 9,
                           WaterParams(ph_max_hold_s=600)) == []
