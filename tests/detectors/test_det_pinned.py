"""pinned_below_limit: six steady valid hours just under the limit."""

from __future__ import annotations

import numpy as np

from ecowarn.detectors._core import Finding
from ecowarn.detectors.pinned import PinnedParams, pinned_below_limit

T0 = 1_795_363_200
H = 3600
P = PinnedParams()
LIMIT = 50.0


def grid(n: int) -> np.ndarray:
    return T0 + 60 * np.arange(n, dtype=np.int64)


def hours(*means: float) -> np.ndarray:
    """Minute values: each argument is one hour's mean, with +-0.5 minute-to-minute variation."""
    wiggle = np.where(np.arange(60) % 2 == 0, 0.5, -0.5)
    return np.concatenate([m + wiggle for m in means])


def check(conc: np.ndarray, valid: np.ndarray | None = None) -> list[Finding]:
    n = conc.size
    ok = np.ones(n, bool) if valid is None else valid
    # O2 equal to the reference: converted = raw.
    return pinned_below_limit(grid(n), conc, np.full(n, 10.0), ok, 10.0, LIMIT, P)


STEADY = (47.0, 47.2, 46.9, 47.1, 47.0, 47.3)


def test_six_steady_hours_fire() -> None:
    """Hours 1..6 at 46.9-47.3 (CV 0.3%) between 45 and 50 give one finding 01:00-07:00."""
    [f] = check(hours(30.0, *STEADY, 30.0))
    assert (f.start_s, f.end_s) == (T0 + H, T0 + 7 * H)
    assert f.facts["hours"] == 6
    assert f.facts["band_low"] == 45.0
    assert f.facts["band_high"] == 50.0
    assert f.facts["mean_hourly_converted"] == 47.083
    assert f.facts["cv"] == 0.00285
    assert f.facts["max_window_cv"] == 0.00285
    assert f.facts["mean_within_hour_cv"] == 0.01062
    assert f.facts["hourly_converted"][0] == [T0 + H, 47.0]
    assert f.facts["severity"] == "medium"


def test_five_hours_do_not_fire() -> None:
    """Five steady hours are one short."""
    assert check(hours(30.0, *STEADY[:5], 30.0)) == []


def test_varying_hours_in_band_do_not_fire() -> None:
    """Hourly means 45.2..49.8 in the band but with a CV of 3.8% do not fire."""
    assert check(hours(30.0, 45.2, 49.8, 46.0, 49.0, 45.5, 48.5, 30.0)) == []


def test_hour_out_of_band_breaks_the_run() -> None:
    """A 44.9 hour (under 90% of the limit) in the middle leaves runs of three."""
    assert check(hours(47.0, 47.0, 47.0, 44.9, 47.0, 47.0, 47.0, 30.0)) == []


def test_invalid_hour_breaks_the_run() -> None:
    """An hour with 44 valid minutes in the middle breaks the six."""
    conc = hours(*STEADY, 47.0, 30.0)
    valid = np.ones(conc.size, bool)
    valid[3 * 60 + 44:4 * 60] = False
    assert check(conc, valid) == []


def test_ongoing_has_no_end() -> None:
    """Steady in-band hours up to the end of the data: end None."""
    [f] = check(hours(30.0, 30.0, *STEADY, 47.1))
    assert (f.start_s, f.end_s) == (T0 + 2 * H, None)
    assert f.facts["hours"] == 7


def test_long_pinning_is_high_severity() -> None:
    """A day pinned just under the limit is high severity."""
    [f] = check(hours(*([48.0] * 24), 30.0))
    assert (f.start_s, f.end_s, f.facts["hours"]) == (T0, T0 + 24 * H, 24)
    assert f.facts["severity"] == "high"
