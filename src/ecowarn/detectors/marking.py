"""``undeclared_marking`` (异常标记): M/C/D flags that no declared maintenance covers.

``flags`` are single-character HJ 212 letters on the grid, one row per metric
(shape ``(n,)`` or ``(k, n)``; ``""`` = no reading). A point is marked when any
metric's flag is in ``marking_flags``; it counts when ``covered`` (declared
maintenance for this device, built by the runner) is False there. Marked,
uncovered runs of at least ``min_duration_min`` fire; a declaration that covers
part of a run leaves only the uncovered stretches.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from ecowarn.detectors._core import BoolArray, Finding, IntArray
from ecowarn.detectors._series import Episode, check_1d, episodes, positive
from ecowarn.detectors.hj75 import flag_in

__all__ = ["RULE_ID", "MarkingParams", "undeclared_marking"]

RULE_ID = "undeclared_marking"


@dataclass(frozen=True, slots=True)
class MarkingParams:
    min_duration_min: float = 60.0
    # Flag letters that need a declaration.
    marking_flags: str = "MCD"
    # An episode this long or longer is high severity.
    high_severity_min: float = 240.0
    # Declared maintenance of the subject's devices suppresses this rule (runner;
    # see docs/architecture.md, "Suppression").
    suppressed_by_maintenance: bool = True

    def __post_init__(self) -> None:
        positive("min_duration_min", self.min_duration_min)
        if not self.marking_flags:
            raise ValueError("marking_flags must name at least one flag")
        positive("high_severity_min", self.high_severity_min)


def undeclared_marking(times_s: IntArray, flags: npt.NDArray[np.str_], covered: BoolArray,
                       params: MarkingParams) -> list[Finding]:
    """Episodes of M/C/D marking not covered by declared maintenance."""
    f = np.atleast_2d(np.asarray(flags))
    cov = np.asarray(covered, dtype=bool)
    check_1d(times_s, covered=cov)
    if f.shape[1] != times_s.size:
        raise ValueError(f"flags has shape {f.shape}, expected (k, {times_s.size})")
    marked_rows = flag_in(f, params.marking_flags)
    cond = marked_rows.any(axis=0) & ~cov
    return [_finding(f, ep, params) for ep in episodes(times_s, cond, params.min_duration_min * 60.0)]


def _finding(f: npt.NDArray[np.str_], ep: Episode, params: MarkingParams) -> Finding:
    seg = f[:, ep.start_idx:ep.end_idx]
    counts = {letter: int(np.sum(seg == letter)) for letter in params.marking_flags}
    return Finding(ep.start_s, ep.end_s, {
        "duration_min": ep.duration_min,
        "flag_counts": {k: v for k, v in counts.items() if v},
        "marking_flags": params.marking_flags,
        "severity": "high" if ep.duration_min >= params.high_severity_min else "medium",
    })
