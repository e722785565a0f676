"""emission_exceedance: valid hourly converted means above the limit, merged across hours."""

from __future__ import annotations

import numpy as np

from ecowarn.detectors._core import Finding
from ecowarn.detectors.exceedance import ExceedanceParams, emission_exceedance

T0 = 1_795_363_200
H = 3600
P = ExceedanceParams()
LIMIT = 50.0
REF_O2 = 10.0


def grid(n: int) -> np.ndarray:
    return T0 + 60 * np.arange(n, dtype=np.int64)


def hours(*raw: float) -> np.ndarray:
    """Minute values: each argument is one hour's constant raw concentration."""
    return np.repeat(np.asarray(raw, dtype=np.float64), 60)


def check(conc: np.ndarray, o2: float = 15.5, valid: np.ndarray | None = None) -> list[Finding]:
    ok = np.ones(conc.size, bool) if valid is None else valid
    return emission_exceedance(grid(conc.size), conc, np.full(conc.size, o2), ok, REF_O2,
                               LIMIT, P)


def test_consecutive_exceeding_hours_merge() -> None:
    """Raw 30 at 15.5% O2 converts to 60 > 50: hours 1 and 2 make one finding 01:00-03:00."""
    [f] = check(hours(20.0, 30.0, 30.0, 20.0))
    assert (f.start_s, f.end_s) == (T0 + H, T0 + 3 * H)
    assert f.facts["hours"] == 2
    assert f.facts["max_hourly_converted"] == 60.0
    assert f.facts["max_ratio_to_limit"] == 1.2
    assert f.facts["hourly"][0] == {"hour_s": T0 + H, "converted": 60.0, "raw": 30.0,
                                    "o2_pct": 15.5, "n_valid": 60}
    assert f.facts["severity"] == "medium"


def test_at_the_limit_does_not_fire() -> None:
    """A converted mean equal to the limit (raw 25 -> 50) is not an exceedance."""
    assert check(hours(25.0, 25.0)) == []


def test_dilution_is_undone_by_conversion() -> None:
    """Raw 30 is under the limit of 50, but at 15.5% O2 it converts to 60 and fires."""
    [f] = check(hours(30.0))
    assert f.facts["mean_hourly_converted"] == 60.0


def test_hour_with_44_valid_minutes_is_not_judged() -> None:
    """An exceeding hour with 44 valid minutes is invalid and does not fire."""
    valid = np.ones(60, bool)
    valid[44:] = False
    assert check(hours(40.0), valid=valid) == []


def test_invalid_hour_splits_findings() -> None:
    """Hours 0 and 2 exceed, hour 1 is invalid: two findings, not one."""
    valid = np.ones(180, bool)
    valid[60:120] = False
    first, second = check(hours(30.0, 30.0, 30.0), valid=valid)
    assert (first.start_s, first.end_s) == (T0, T0 + H)
    assert (second.start_s, second.end_s) == (T0 + 2 * H, None)


def test_marked_minutes_do_not_count() -> None:
    """15 M-flagged minutes at 200 are left out; 45 N minutes at 20 (-> 40) stay under the limit."""
    conc = np.full(60, 20.0)
    conc[:15] = 200.0
    valid = np.ones(60, bool)
    valid[:15] = False
    assert check(conc, valid=valid) == []


def test_last_complete_hour_exceeding_is_ongoing() -> None:
    """An exceedance in the last hour of the data has end None."""
    [f] = check(hours(20.0, 30.0))
    assert (f.start_s, f.end_s) == (T0 + H, None)


def test_hour_in_progress_keeps_it_open() -> None:
    """An exceeding hour followed by a half-covered hour stays open."""
    conc = np.concatenate([hours(30.0), np.full(30, 5.0)])
    [f] = check(conc)
    assert (f.start_s, f.end_s) == (T0, None)


def test_large_exceedance_is_high_severity() -> None:
    """Raw 40 converts to 80, 1.6 times the limit: high severity."""
    [f] = check(hours(20.0, 40.0, 20.0))
    assert f.facts["severity"] == "high"
    assert f.end_s == T0 + 2 * H
