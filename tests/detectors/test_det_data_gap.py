"""data_gap: silences of 30 minutes, in event time and in wall-clock time."""

from __future__ import annotations

import numpy as np

from ecowarn.detectors._core import Finding
from ecowarn.detectors.data_gap import DataGapParams, data_gaps, group_starts, wall_clock_silence

T0 = 1_795_363_200
P = DataGapParams()


def minutes(*ranges: tuple[int, int]) -> np.ndarray:
    return np.concatenate([T0 + 60 * np.arange(a, b, dtype=np.int64) for a, b in ranges])


def test_thirty_minute_gap_fires_from_last_to_next_reading() -> None:
    """Readings at minutes 0..10 and 40..59: a finding from minute 10 to minute 40."""
    [f] = data_gaps(minutes((0, 11), (40, 60)), P)
    assert (f.start_s, f.end_s) == (T0 + 600, T0 + 2400)
    assert f.facts == {"gap_min": 30.0, "min_gap_min": 30.0, "severity": "low"}


def test_29_minute_gap_does_not_fire() -> None:
    """Readings at minute 10 and minute 39 are 29 minutes apart: nothing."""
    assert data_gaps(minutes((0, 11), (39, 60)), P) == []


def test_unsorted_and_duplicate_times() -> None:
    """Readings in any order, with duplicates, give the same gaps."""
    t = minutes((0, 11), (40, 60))
    shuffled = np.concatenate([t[::-1], t[:5]])
    assert data_gaps(shuffled, P) == data_gaps(t, P)


def test_no_gap_after_the_last_reading_in_event_time() -> None:
    """The silence after the last reading is left to the wall-clock check."""
    assert data_gaps(minutes((0, 10)), P) == []
    assert data_gaps(np.array([T0]), P) == []


def test_severity_grows_with_the_gap() -> None:
    """A 3-hour gap is medium severity and a 24-hour gap high."""
    three_h, day = data_gaps(np.array([T0, T0 + 3 * 3600, T0 + 27 * 3600]), P)
    assert (three_h.facts["severity"], day.facts["severity"]) == ("medium", "high")


def test_wall_clock_silence_is_open() -> None:
    """30 minutes since the last arrival: an open finding from the last reading's event time."""
    f = wall_clock_silence(T0 + 5000, T0 + 6800, P, last_reading_s=T0 + 4000)
    assert f == Finding(T0 + 4000, None, {
        "silent_min": 30.0, "last_arrival_s": T0 + 5000, "last_reading_s": T0 + 4000,
        "now_s": T0 + 6800, "min_gap_min": 30.0, "severity": "low",
    })


def test_wall_clock_under_threshold_is_quiet() -> None:
    """29 min 59 s since the last arrival: nothing (a replaying device keeps arriving)."""
    assert wall_clock_silence(T0 + 5000, T0 + 6799, P) is None


def test_wall_clock_without_reading_time_starts_at_arrival() -> None:
    """Without the last reading's time the finding starts at the last arrival."""
    f = wall_clock_silence(T0, T0 + 7200, P)
    assert f is not None and (f.start_s, f.end_s) == (T0, None)
    assert f.facts["severity"] == "medium"


def test_silence_starts_group_within_five_minutes_inclusive() -> None:
    """Starts 300 s apart share a group, 360 s apart do not; chained starts share one; labels
    follow time order whatever the input order."""
    starts = np.array([T0 + 900, T0, T0 + 300, T0 + 540, T0 + 1260], dtype=np.int64)
    assert group_starts(starts, P).tolist() == [1, 0, 0, 0, 2]
    assert group_starts(np.array([T0, T0 + 360]), P).tolist() == [0, 1]
    assert group_starts(np.array([], dtype=np.int64), P).tolist() == []
    assert group_starts(np.array([T0, T0 + 60]), DataGapParams(group_window_min=0)).tolist() == [0, 1]
