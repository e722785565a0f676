"""o2_dilution: stack O2 at or above 19% for an hour while production runs."""

from __future__ import annotations

import numpy as np

from ecowarn.detectors._core import Finding
from ecowarn.detectors.o2_dilution import O2DilutionParams, o2_dilution

T0 = 1_795_363_200
P = O2DilutionParams()


def grid(n: int) -> np.ndarray:
    return T0 + 60 * np.arange(n, dtype=np.int64)


def check(o2: np.ndarray, running: np.ndarray | None = None,
          valid: np.ndarray | None = None) -> list[Finding]:
    r = np.ones(o2.size, bool) if running is None else running
    return o2_dilution(grid(o2.size), o2, r, P, valid=valid)


def test_one_hour_at_19_fires() -> None:
    """O2 at exactly 19.0% from minute 30 to 89 gives one finding 00:30-01:30."""
    o2 = np.full(180, 10.0)
    o2[30:90] = 19.0
    [f] = check(o2)
    assert (f.start_s, f.end_s) == (T0 + 1800, T0 + 5400)
    assert f.facts["duration_min"] == 60.0
    assert f.facts["o2_mean_pct"] == 19.0
    assert f.facts["o2_threshold_pct"] == 19.0
    assert f.facts["severity"] == "medium"


def test_59_minutes_do_not_fire() -> None:
    """One minute under the hour gives nothing."""
    o2 = np.full(180, 10.0)
    o2[30:89] = 19.5
    assert check(o2) == []


def test_noise_around_19_does_not_fire() -> None:
    """O2 alternating 18.9/19.1 never holds an hour."""
    assert check(np.where(np.arange(180) % 2 == 0, 18.9, 19.1)) == []


def test_ambient_o2_during_shutdown_does_not_fire() -> None:
    """20.9% O2 for three hours with production stopped is a shutdown, not dilution."""
    assert check(np.full(180, 20.9), running=np.zeros(180, bool)) == []


def test_invalid_o2_does_not_count() -> None:
    """High O2 flagged invalid does not fire when a validity mask is given."""
    o2 = np.full(120, 20.0)
    valid = np.ones(120, bool)
    valid[50:] = False
    assert check(o2, valid=valid) == []
    assert len(check(o2)) == 1


def test_ongoing_has_no_end() -> None:
    """Dilution to the last minute is one finding with end None."""
    o2 = np.full(180, 10.0)
    o2[100:] = 20.2
    [f] = check(o2)
    assert (f.start_s, f.end_s) == (T0 + 6000, None)
    assert f.facts["o2_min_pct"] == 20.2
