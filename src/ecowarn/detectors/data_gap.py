"""``data_gap`` (数据缺失): a registered device silent for too long.

Two views of one condition, both measuring *silence since the last reading*:

- Event time (:func:`data_gaps`): between consecutive reading times ``t_prev`` and
  ``t_next`` with ``t_next - t_prev >= min_gap_min``, one closed finding with
  ``start_s = t_prev`` (the last reading before the silence) and ``end_s = t_next``
  (the first reading after it). The silence after the last reading is not judged
  here (no later data yet); the runner passes the last reading before its window
  so that a gap spanning the window start is seen.
- Wall clock (:func:`wall_clock_silence`): from the arrival time of the device's
  last message and ``now``; an open finding (``end_s`` None) while the device has
  been silent for ``min_gap_min`` or more. A device replaying a backlog keeps
  arriving, so it is not silent even though its readings are old. The finding
  starts at the event time of the last reading when given (so it lines up with the
  event-time finding that later replaces it), else at the last arrival.

Silences of devices of one enterprise (or of the air stations) that start close together
are one outage (CONTRACT 1.1 section 8): :func:`group_starts` puts silence starts into
groups, a start at most ``group_window_min`` after the previous one joining its group
(single linkage: each start within the window of another one of the group; exactly
``group_window_min`` apart still joins). The runner's evaluator raises one alert per group.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ecowarn.detectors._core import Finding, IntArray
from ecowarn.detectors._series import Severity, positive, severity_by

__all__ = ["RULE_ID", "DataGapParams", "data_gaps", "group_starts", "wall_clock_silence"]

RULE_ID = "data_gap"


@dataclass(frozen=True, slots=True)
class DataGapParams:
    min_gap_min: float = 30.0
    # Gaps this long are medium severity...
    medium_severity_min: float = 120.0
    # ...and this long high.
    high_severity_min: float = 1440.0
    # Declared maintenance of the subject's devices suppresses this rule (runner;
    # see docs/architecture.md, "Suppression").
    suppressed_by_maintenance: bool = True
    # Silences of one enterprise's devices (or of the air stations) starting at most this
    # far apart are one alert (a site or network outage); 0 keeps one alert per device.
    group_window_min: float = 5.0

    def __post_init__(self) -> None:
        positive("min_gap_min", self.min_gap_min)
        if not self.group_window_min >= 0:
            raise ValueError("group_window_min must be >= 0")
        if not 0 < self.medium_severity_min <= self.high_severity_min:
            raise ValueError("need 0 < medium_severity_min <= high_severity_min")

    def severity(self, gap_min: float) -> Severity:
        return severity_by(gap_min, self.medium_severity_min, self.high_severity_min)


def data_gaps(reading_times_s: IntArray, params: DataGapParams) -> list[Finding]:
    """Closed gaps between consecutive reading times (any order, duplicates allowed)."""
    t = np.unique(np.asarray(reading_times_s, dtype=np.int64))
    if t.size < 2:
        return []
    gaps = np.diff(t)
    idx = np.flatnonzero(gaps >= params.min_gap_min * 60.0)
    out = []
    for i in idx.tolist():
        gap_min = float(gaps[i]) / 60.0
        out.append(Finding(int(t[i]), int(t[i + 1]), {
            "gap_min": gap_min,
            "min_gap_min": params.min_gap_min,
            "severity": params.severity(gap_min),
        }))
    return out


def wall_clock_silence(last_arrival_s: int, now_s: int, params: DataGapParams,
                       last_reading_s: int | None = None) -> Finding | None:
    """An open finding when nothing has arrived for ``min_gap_min``, else None.

    ``last_arrival_s`` and ``now_s`` are wall-clock epoch seconds (the caller reads
    the clock); for a device that never reported, pass its registration time.
    """
    silent_s = now_s - last_arrival_s
    if silent_s < params.min_gap_min * 60.0:
        return None
    silent_min = silent_s / 60.0
    return Finding(last_arrival_s if last_reading_s is None else last_reading_s, None, {
        "silent_min": silent_min,
        "last_arrival_s": last_arrival_s,
        "last_reading_s": last_reading_s,
        "now_s": now_s,
        "min_gap_min": params.min_gap_min,
        "severity": params.severity(silent_min),
    })


def group_starts(starts_s: IntArray, params: DataGapParams) -> IntArray:
    """Group labels (0, 1, ... in time order) of silence starts, aligned with the input.

    Sorted by time, a start at most ``group_window_min`` after the previous one is in its
    group; a longer step begins the next group.
    """
    t = np.asarray(starts_s, dtype=np.int64)
    if t.size == 0:
        return np.empty(0, np.int64)
    order = np.argsort(t, kind="stable")
    steps = np.diff(t[order]) > params.group_window_min * 60.0
    labels = np.empty(t.size, np.int64)
    labels[order] = np.concatenate(([0], np.cumsum(steps)))
    return labels
