"""``treatment_underload`` (治污设施低负荷): treatment runs, but far below its typical load.

Production is running and the treatment unit is running (both with hysteresis, as
in ``treatment_off``), yet the treatment unit draws less than ``load_ratio`` (30%)
of its typical running load: a :class:`~detectors.baseline.Baseline` learned from
its history by the runner (``baseline_window_s``, ``baseline_min_samples``), or its
``rated_kw`` before enough history exists. One call checks one treatment stage
(CONTRACT 1.1 section 7): :func:`treatment_underload` a stage of one unit,
:func:`stage_underload` a stage of alternatives (duty/standby), judged by its members'
combined power against the stage's own baseline; :func:`stage_power` gives that
combined power and when the stage runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ecowarn.detectors._core import BoolArray, Finding, FloatArray, IntArray
from ecowarn.detectors._series import as_float, check_1d, episodes, positive
from ecowarn.detectors.baseline import Baseline, BaselineParams
from ecowarn.detectors.running import ON, running_state

__all__ = ["RULE_ID", "TreatmentUnderloadParams", "stage_power", "stage_underload", "treatment_underload"]

RULE_ID = "treatment_underload"


@dataclass(frozen=True, slots=True)
class TreatmentUnderloadParams:
    min_duration_min: float = 30.0
    # Underloaded below this fraction of the treatment unit's typical running load.
    load_ratio: float = 0.3
    # Equipment switches off below this fraction of its running threshold (hysteresis).
    off_ratio: float = 0.8
    # An episode this long or longer is high severity.
    high_severity_min: float = 240.0
    # History used by the runner to learn the typical load (see detectors.baseline).
    baseline_window_s: int = 30 * 86_400
    baseline_min_samples: int = 1440
    # Declared maintenance of the subject's devices suppresses this rule (runner;
    # see docs/architecture.md, "Suppression").
    suppressed_by_maintenance: bool = False

    def __post_init__(self) -> None:
        positive("min_duration_min", self.min_duration_min)
        if not 0 < self.load_ratio < 1:
            raise ValueError("load_ratio must be in (0, 1)")
        if not 0 < self.off_ratio <= 1:
            raise ValueError("off_ratio must be in (0, 1]")
        positive("high_severity_min", self.high_severity_min)
        BaselineParams(self.baseline_window_s, self.baseline_min_samples)

    def baseline_params(self) -> BaselineParams:
        return BaselineParams(window_s=self.baseline_window_s,
                              min_samples=self.baseline_min_samples)


def treatment_underload(times_s: IntArray, production_kw: FloatArray, production_on_kw: float,
                        treatment_kw: FloatArray, treatment_on_kw: float, baseline: Baseline,
                        params: TreatmentUnderloadParams) -> list[Finding]:
    """Episodes where production and treatment are ON and treatment < ratio x baseline.

    All series are on the grid ``times_s`` with NaN for no data (never underloaded).
    """
    treat = as_float(treatment_kw)
    check_1d(times_s, treatment_kw=treat)
    return stage_underload(times_s, production_kw, production_on_kw, treat[np.newaxis, :],
                           [treatment_on_kw], baseline, params)


def stage_power(members_kw: FloatArray, members_on_kw: Sequence[float],
                off_ratio: float) -> tuple[FloatArray, BoolArray]:
    """A stage's combined power and where it runs, from its members' power (one row each).

    The stage runs where any member runs (each with its own threshold and hysteresis).
    The combined power is the members' sum, NaN where any member has no value: a member
    without data may be carrying the load, so the stage's load is unknown there.
    """
    kw = np.atleast_2d(as_float(members_kw))
    if kw.shape[0] != len(members_on_kw) or kw.shape[0] == 0:
        raise ValueError(f"members_kw has {kw.shape[0]} rows for {len(members_on_kw)} thresholds")
    on = np.zeros(kw.shape[1], dtype=bool)
    for row, thr in zip(kw, members_on_kw, strict=True):
        on |= running_state(row, thr, off_ratio * thr) == ON
    return kw.sum(axis=0), on


def stage_underload(times_s: IntArray, production_kw: FloatArray, production_on_kw: float,
                    members_kw: FloatArray, members_on_kw: Sequence[float], baseline: Baseline,
                    params: TreatmentUnderloadParams) -> list[Finding]:
    """Episodes where production runs, the stage runs (any member on) and the members'
    combined power is under ``load_ratio`` times the stage's baseline.

    ``members_kw`` has one row per member on the grid ``times_s`` (NaN for no data: the
    stage is then never underloaded). A stage of one member is exactly
    :func:`treatment_underload`; with several, the facts add each member's mean and
    maximum power (``member_mean_kw``, ``member_max_kw``, in the rows' order).
    """
    prod = as_float(production_kw)
    kw = np.atleast_2d(as_float(members_kw))
    check_1d(times_s, production_kw=prod)
    for k, row in enumerate(kw):
        check_1d(times_s, **{f"members_kw[{k}]": row})
    if baseline.value <= 0:
        raise ValueError("the treatment baseline must be positive")
    prod_on = running_state(prod, production_on_kw, params.off_ratio * production_on_kw) == ON
    treat, treat_on = stage_power(kw, members_on_kw, params.off_ratio)
    threshold_kw = params.load_ratio * baseline.value
    with np.errstate(invalid="ignore"):
        cond = prod_on & treat_on & (treat < threshold_kw)
    out = []
    for ep in episodes(times_s, cond, params.min_duration_min * 60.0):
        seg = slice(ep.start_idx, ep.end_idx)
        mean_kw = float(np.mean(treat[seg]))
        members: dict[str, object] = {}
        if kw.shape[0] > 1:
            members = {"member_mean_kw": [round(float(np.mean(r[seg])), 2) for r in kw],
                       "member_max_kw": [round(float(np.max(r[seg])), 2) for r in kw]}
        out.append(Finding(ep.start_s, ep.end_s, {
            "duration_min": ep.duration_min,
            "treatment_mean_kw": round(mean_kw, 2),
            "treatment_max_kw": round(float(np.max(treat[seg])), 2),
            **members,
            "threshold_kw": round(threshold_kw, 2),
            "load_ratio": params.load_ratio,
            "load_pct_of_baseline": round(100.0 * mean_kw / baseline.value, 1),
            "production_mean_kw": round(float(np.mean(prod[seg])), 2),
            **baseline.facts(),
            "severity": "high" if ep.duration_min >= params.high_severity_min else "medium",
        }))
    return out
