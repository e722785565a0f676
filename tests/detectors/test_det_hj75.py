"""HJ 75-2017 conversion, minute validity and hourly means."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ecowarn.detectors.hj75 import HJ75Params, converted, flag_in, hourly_means, valid_minutes

T0 = 1_795_363_200  # 2026-11-23 00:00 +08:00, an hour boundary
P = HJ75Params()


def grid(n: int) -> np.ndarray:
    return T0 + 60 * np.arange(n, dtype=np.int64)


def test_converted_by_hand() -> None:
    """C * (21 - ref) / (21 - O2): 20 at 15.5% to ref 10% is 40; at the reference O2 unchanged."""
    out = converted(np.array([20.0, 35.0, 10.0]), np.array([15.5, 6.0, 11.0]), 10.0)
    assert out[0] == 40.0
    assert out[1] == 35.0 * 11.0 / 15.0
    assert out[2] == 11.0


def test_converted_guard_near_ambient() -> None:
    """O2 at or above o2_max_pct (20%) and NaN O2 give NaN; 19.9% is still converted (x10)."""
    out = converted(np.array([10.0, 10.0, 10.0, 10.0]), np.array([19.9, 20.0, 20.9, np.nan]), 10.0)
    assert out[0] == pytest.approx(100.0, rel=1e-12)
    assert np.isnan(out[1:]).all()


def test_converted_rejects_bad_reference() -> None:
    """A reference O2 of 21% or more is refused."""
    with pytest.raises(ValueError, match="ref_o2_pct"):
        converted(np.array([1.0]), np.array([10.0]), 21.0)


def test_flags_to_mask() -> None:
    """Only N is valid by default; the empty flag (no reading) never is."""
    flags = np.array(["N", "M", "", "C", "N"])
    assert valid_minutes(flags).tolist() == [True, False, False, False, True]
    assert flag_in(flags, "MC").tolist() == [False, True, False, True, False]


def test_flag_in_codes_equal_string_comparison() -> None:
    """<U1 flags compared as code points give the string comparison's mask; other widths too."""
    rng = np.random.default_rng(5)
    flags = rng.choice(np.array(["N", "M", "C", "D", "", "n", "Z"]), (20, 50))
    for letters in ("N", "MCD", "n", "X"):
        expected = np.zeros(flags.shape, bool)
        for letter in letters:
            expected |= flags == letter
        assert (flag_in(flags, letters) == expected).all()
        assert (flag_in(flags[:, ::3], letters) == expected[:, ::3]).all()
    wide = np.array(["N", "NN", "", "M"])
    assert flag_in(wide, "NM").tolist() == [True, False, False, True]


def test_hourly_mean_uses_only_valid_minutes() -> None:
    """An hour with 50 N minutes at 20 mg/m3 (O2 15.5) and 10 M minutes at 500 averages to 40."""
    t = grid(60)
    conc = np.full(60, 20.0)
    conc[50:] = 500.0
    flags = np.array(["N"] * 50 + ["M"] * 10)
    h = hourly_means(t, conc, np.full(60, 15.5), valid_minutes(flags), 10.0, P)
    assert h.hour_s.tolist() == [T0]
    assert h.n_valid.tolist() == [50]
    assert h.mean_raw.tolist() == [20.0]
    assert h.mean_o2.tolist() == [15.5]
    assert h.mean_conv.tolist() == [40.0]
    assert h.std_conv.tolist() == [0.0]
    assert h.valid.tolist() == [True]
    assert h.complete.tolist() == [True]


def test_hour_needs_45_valid_minutes() -> None:
    """45 valid minutes make a valid hour, 44 do not."""
    t = grid(120)
    valid = np.zeros(120, dtype=bool)
    valid[:45] = True
    valid[60:104] = True
    h = hourly_means(t, np.full(120, 5.0), np.full(120, 10.0), valid, 10.0, P)
    assert h.n_valid.tolist() == [45, 44]
    assert h.valid.tolist() == [True, False]


def test_guarded_o2_minute_is_invalid() -> None:
    """A minute with O2 >= 20% drops out: 45 N minutes, one at 20.5% O2, leave an invalid hour."""
    o2 = np.full(60, 10.0)
    o2[3] = 20.5
    valid = np.zeros(60, dtype=bool)
    valid[:45] = True
    h = hourly_means(grid(60), np.full(60, 5.0), o2, valid, 10.0, P)
    assert h.n_valid.tolist() == [44]
    assert h.valid.tolist() == [False]
    assert h.mean_o2.tolist() == [10.0]


def test_hourly_converted_is_mean_of_minute_conversions() -> None:
    """30 min at 10 mg/m3 and 11% O2 (11) plus 30 min at 16% O2 (22) give 16.5, not 14.67."""
    o2 = np.array([11.0] * 30 + [16.0] * 30)
    h = hourly_means(grid(60), np.full(60, 10.0), o2, np.ones(60, bool), 10.0, P)
    assert h.mean_conv.tolist() == [16.5]
    assert h.mean_o2.tolist() == [13.5]
    assert h.std_conv.tolist() == [5.5]


def test_hours_without_data_and_incomplete_last_hour() -> None:
    """Hours are contiguous (an empty hour has n_valid 0) and a half-covered last hour is incomplete."""
    t = np.concatenate([grid(60), T0 + 7200 + 60 * np.arange(30, dtype=np.int64)])
    h = hourly_means(t, np.full(90, 1.0), np.full(90, 10.0), np.ones(90, bool), 10.0, P)
    assert h.hour_s.tolist() == [T0, T0 + 3600, T0 + 7200]
    assert h.n_valid.tolist() == [60, 0, 30]
    assert math.isnan(h.mean_conv[1])
    assert h.complete.tolist() == [True, True, False]
    assert len(h) == 3


def test_hourly_shape_mismatch_names_array() -> None:
    """Arrays of the wrong length are refused, naming the array."""
    with pytest.raises(ValueError, match="o2_pct"):
        hourly_means(grid(3), np.ones(3), np.ones(2), np.ones(3, bool), 10.0, P)


def test_params_validation() -> None:
    """min_valid_minutes outside 1..60 is refused."""
    with pytest.raises(ValueError, match="min_valid_minutes"):
        HJ75Params(min_valid_minutes=61)
