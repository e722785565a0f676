"""Facts of every rule's findings are strict JSON with a severity."""

from __future__ import annotations

import json
from collections.abc import Callable

import numpy as np
import pytest

from ecowarn.detectors._core import Finding
from ecowarn.detectors.air_hotspot import AirHotspotParams, air_hotspot
from ecowarn.detectors.baseline import Baseline
from ecowarn.detectors.bypass import BypassParams, bypass_suspected
from ecowarn.detectors.data_gap import DataGapParams, data_gaps, wall_clock_silence
from ecowarn.detectors.emergency import EmergencyParams, emergency_noncompliance
from ecowarn.detectors.exceedance import ExceedanceParams, emission_exceedance
from ecowarn.detectors.flatline import FlatlineParams, flatline
from ecowarn.detectors.marking import MarkingParams, undeclared_marking
from ecowarn.detectors.o2_dilution import O2DilutionParams, o2_dilution
from ecowarn.detectors.pinned import PinnedParams, pinned_below_limit
from ecowarn.detectors.treatment_underload import TreatmentUnderloadParams, treatment_underload

T0 = 1_795_363_200
N = 480
T = T0 + 60 * np.arange(N, dtype=np.int64)
ON = np.ones(N, bool)
B = Baseline(100.0, 4.0, 3000, "learned")


def _gap() -> list[Finding]:
    silent = wall_clock_silence(T0, T0 + 7200, DataGapParams())
    assert silent is not None
    return [*data_gaps(np.array([T0, T0 + 7200]), DataGapParams()), silent]


CASES: dict[str, Callable[[], list[Finding]]] = {
    "treatment_underload": lambda: treatment_underload(
        T, np.full(N, 500.0), 80.0, np.full(N, 20.0), 16.0, B, TreatmentUnderloadParams()),
    "emergency_shutdown": lambda: emergency_noncompliance(
        T, np.full(N, 500.0), 80.0, np.array([T0]), np.array([T0 + 99 * 3600]), "shutdown",
        None, None, EmergencyParams()),
    "emergency_limit": lambda: emergency_noncompliance(
        T, np.full(N, 500.0), 80.0, np.array([T0]), np.array([T0 + 99 * 3600]), "limit",
        30.0, Baseline(600.0, None, 0, "rated"), EmergencyParams()),
    "emission_exceedance": lambda: emission_exceedance(
        T, np.full(N, 80.0), np.full(N, 10.0), ON, 10.0, 50.0, ExceedanceParams()),
    "flatline": lambda: flatline(T, np.zeros(N), np.full(N, "N"), ON, FlatlineParams()),
    "o2_dilution": lambda: o2_dilution(T, np.full(N, 20.5), ON, O2DilutionParams()),
    "bypass_suspected": lambda: bypass_suspected(
        T, np.full(N, 900.0), 1000.0, np.zeros(N), B, BypassParams()),
    "undeclared_marking": lambda: undeclared_marking(
        T, np.full(N, "C"), np.zeros(N, bool), MarkingParams()),
    "pinned_below_limit": lambda: pinned_below_limit(
        T, np.full(N, 48.0), np.full(N, 10.0), ON, 10.0, 50.0, PinnedParams()),
    "data_gap": _gap,
    "air_hotspot": lambda: air_hotspot(
        T, ["A", "B", "C"], np.array([38.0, 38.0, 38.01]), np.array([114.0, 114.01, 114.0]),
        np.vstack([np.full(N, 200.0), np.full(N, 40.0), np.full(N, 41.0)]), AirHotspotParams()),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_facts_are_strict_json_with_severity(case: str) -> None:
    """Each rule fires once on its case; facts dump as strict JSON and carry a known severity."""
    findings = CASES[case]()
    assert len(findings) == (2 if case == "data_gap" else 1)
    for f in findings:
        json.dumps(f.facts, allow_nan=False)
        assert f.facts["severity"] in {"low", "medium", "high"}
        assert isinstance(f.start_s, int) and (f.end_s is None or isinstance(f.end_s, int))
