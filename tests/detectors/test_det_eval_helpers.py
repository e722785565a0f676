"""Pure helpers of the rule evaluators: grids, maintenance windows, order merging, wording."""

from __future__ import annotations

import numpy as np
import pytest

from ecowarn.detectors.runtime._evalbase import dur_en, fmt, local_hm
from ecowarn.detectors.runtime._gap_groups import minus_windows as _minus_windows
from ecowarn.detectors.runtime._load import (
    Maintenance,
    Order,
    Series,
    binned_on_grid,
    covered_mask,
    held_on_grid,
    local_day_start,
)
from ecowarn.detectors.runtime._suppress import _covered
from ecowarn.detectors.runtime.eval_emergency import merge_windows
from ecowarn.detectors.runtime.eval_treatment_underload import combined_production

T0 = 1_795_363_200  # 2026-11-23 00:00 UTC+8


def series(t: list[int], v: list[float], f: str | None = None) -> Series:
    flags = np.array(list(f or "N" * len(t)), dtype="<U1")
    return Series(np.array(t, dtype=np.int64), np.array(v, dtype=np.float64), flags)


def test_binned_takes_the_last_reading_inside_each_minute_and_carries_nothing() -> None:
    """A minute without its own reading is NaN with flag "", however recent the last one."""
    grid = T0 + 60 * np.arange(4, dtype=np.int64)
    s = series([T0 + 10, T0 + 50, T0 + 120], [1.0, 2.0, 3.0], "NMN")
    values, flags = binned_on_grid(s, grid)
    assert values[[0, 2]].tolist() == [2.0, 3.0] and np.isnan(values[[1, 3]]).all()
    assert flags.tolist() == ["M", "", "N", ""]


def test_held_values_stand_for_hold_seconds_and_invalid_flags_are_gaps() -> None:
    """A reading holds for max_hold seconds; one flagged other than N is no value."""
    grid = T0 + 60 * np.arange(8, dtype=np.int64)
    s = series([T0, T0 + 240], [5.0, 7.0], "NC")
    kw = held_on_grid(s, grid, hold_s=180)
    assert kw[:4].tolist() == [5.0, 5.0, 5.0, 5.0]
    assert np.isnan(kw[4:]).all()


def test_covered_mask_selects_devices() -> None:
    """Only the windows of the named devices cover the grid; ends are exclusive."""
    grid = T0 + 60 * np.arange(5, dtype=np.int64)
    windows = [Maintenance(1, "A", T0 + 60, T0 + 180, "x"), Maintenance(2, "B", T0, T0 + 300, "y")]
    assert covered_mask(grid, windows, ["A"]).tolist() == [False, True, True, False, False]
    assert covered_mask(grid, windows).all()
    assert not covered_mask(grid, []).any()


def test_local_day_starts_at_midnight_utc8() -> None:
    """Local days run from 00:00 UTC+8 (16:00 UTC the day before)."""
    assert local_day_start(T0) == T0
    assert local_day_start(T0 + 86_399) == T0
    assert local_day_start(T0 - 1) == T0 - 86_400


def test_gap_minus_maintenance_keeps_the_uncovered_pieces() -> None:
    """A gap with a window inside leaves the pieces before and after it."""
    m = [Maintenance(1, "A", 100, 200, "x")]
    assert _minus_windows(0, 300, m) == [(0, 100), (200, 300)]
    assert _minus_windows(0, 150, m) == [(0, 100)]
    assert _minus_windows(120, 180, m) == []


def test_windows_cover_only_without_holes() -> None:
    """Chained windows cover a span; a hole between them does not."""
    m = [Maintenance(1, "A", 0, 100, "x"), Maintenance(2, "A", 100, 200, "y")]
    assert _covered(10, 200, m)
    assert not _covered(10, 200, [m[0], Maintenance(3, "A", 110, 200, "z")])


def test_overlapping_orders_merge_into_one_window() -> None:
    """Overlapping or touching orders make one window listing both; others stay apart."""
    a, b, c = (Order(1, 0, 100, "shutdown", None), Order(2, 100, 150, "shutdown", None),
               Order(3, 300, 400, "shutdown", None))
    assert [(s, e, [o.id for o in os]) for s, e, os in merge_windows([c, b, a])] == [
        (0, 150, [1, 2]), (300, 400, [3])]


def test_several_producers_run_when_any_of_them_runs() -> None:
    """Several producers: power in multiples of each one's threshold, the largest counts."""
    kw, on = combined_production([np.array([500.0, 1.0, np.nan])], [80.0])
    assert on == 80.0 and kw[0] == 500.0
    kw, on = combined_production([np.array([0.0, 160.0, np.nan]), np.array([40.0, 0.0, np.nan])],
                                 [80.0, 20.0])
    assert on == 1.0
    assert kw[:2].tolist() == [2.0, 2.0] and np.isnan(kw[2])


@pytest.mark.parametrize(("x", "nd", "out"), [(640.0, 1, "640"), (0.4, 1, "0.4"), (56.234, 2, "56.23"),
                                              (152000.0, 1, "152000"), (2.0, 0, "2")])
def test_numbers_in_summaries_drop_trailing_zeros(x: float, nd: int, out: str) -> None:
    """Numbers are rounded and printed without trailing zeros or exponents."""
    assert fmt(x, nd) == out


def test_durations_and_local_times_read_naturally() -> None:
    """Durations under 3 h in minutes, longer in hours; times in UTC+8."""
    assert (dur_en(37), dur_en(240)) == ("37 min", "4 h")
    assert local_hm(T0 + 600) == "11-23 00:10"
