"""undeclared_marking: M/C/D flags for an hour without declared maintenance."""

from __future__ import annotations

import numpy as np

from ecowarn.detectors._core import Finding
from ecowarn.detectors.marking import MarkingParams, undeclared_marking

T0 = 1_795_363_200
P = MarkingParams()


def grid(n: int) -> np.ndarray:
    return T0 + 60 * np.arange(n, dtype=np.int64)


def flags_with(n: int, letter: str, start: int, end: int) -> np.ndarray:
    f = np.full(n, "N")
    f[start:end] = letter
    return f


def check(flags: np.ndarray, covered: np.ndarray | None = None) -> list[Finding]:
    n = flags.shape[-1]
    cov = np.zeros(n, bool) if covered is None else covered
    return undeclared_marking(grid(n), flags, cov, P)


def test_hour_of_m_flags_fires() -> None:
    """M from minute 30 to 89 without a declaration gives one finding 00:30-01:30."""
    [f] = check(flags_with(180, "M", 30, 90))
    assert (f.start_s, f.end_s) == (T0 + 1800, T0 + 5400)
    assert f.facts["duration_min"] == 60.0
    assert f.facts["flag_counts"] == {"M": 60}
    assert f.facts["severity"] == "medium"


def test_59_minutes_do_not_fire() -> None:
    """One minute under the hour gives nothing."""
    assert check(flags_with(180, "M", 30, 89)) == []


def test_declared_maintenance_covers_it() -> None:
    """The same flags inside declared maintenance give nothing."""
    covered = np.zeros(180, bool)
    covered[20:100] = True
    assert check(flags_with(180, "M", 30, 90), covered) == []


def test_partly_declared_leaves_the_uncovered_stretch() -> None:
    """M for minutes 30..129 with maintenance declared for 30..59 leaves 60..129 (70 min)."""
    covered = np.zeros(180, bool)
    covered[30:60] = True
    [f] = check(flags_with(180, "M", 30, 130), covered)
    assert (f.start_s, f.end_s) == (T0 + 3600, T0 + 130 * 60)
    assert f.facts["duration_min"] == 70.0


def test_mixed_c_and_d_flags_count_together() -> None:
    """Alternating C and D flags for an hour make one run."""
    f = np.full(120, "N")
    f[0:60] = np.where(np.arange(60) % 2 == 0, "C", "D")
    [finding] = check(f)
    assert (finding.start_s, finding.end_s) == (T0, T0 + 3600)
    assert finding.facts["flag_counts"] == {"C": 30, "D": 30}


def test_any_metric_marked_counts() -> None:
    """so2 flagged M then nox flagged D, back to back, make one 90-minute run."""
    flags = np.stack([flags_with(180, "M", 0, 30), flags_with(180, "D", 30, 90)])
    [f] = check(flags)
    assert (f.start_s, f.end_s) == (T0, T0 + 5400)
    assert f.facts["flag_counts"] == {"M": 30, "D": 60}


def test_other_flags_do_not_count() -> None:
    """F (stopped), S and missing readings are not markings for this rule."""
    f = np.full(240, "F")
    f[60:] = "S"
    f[120:] = ""
    assert check(f) == []


def test_ongoing_has_no_end() -> None:
    """Marking to the last minute is one finding with end None; four hours is high severity."""
    [f] = check(flags_with(300, "D", 60, 300))
    assert (f.start_s, f.end_s) == (T0 + 3600, None)
    assert f.facts["severity"] == "high"
