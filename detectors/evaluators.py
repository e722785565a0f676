"""Which rule evaluators the runner uses, built from the registry and rule parameters.

One evaluator per rule of CONTRACT section 3, in catalog order. ``params`` maps a
rule id to its params dataclass (``detectors.catalog.load_rule_params``); a rule
left out runs with its defaults.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TypeVar

from config.registry import Registry
from detectors._evalbase import Evaluator
from detectors._load import MaintenanceIndex
from detectors.air_hotspot import AirHotspotParams
from detectors.bypass import BypassParams
from detectors.data_gap import DataGapParams
from detectors.emergency import EmergencyParams
from detectors.eval_air_hotspot import AirHotspotEvaluator
from detectors.eval_bypass import BypassEvaluator
from detectors.eval_data_gap import DataGapEvaluator
from detectors.eval_emergency import EmergencyEvaluator
from detectors.eval_exceedance import ExceedanceEvaluator
from detectors.eval_flatline import FlatlineEvaluator
from detectors.eval_marking import MarkingEvaluator
from detectors.eval_o2_dilution import O2DilutionEvaluator
from detectors.eval_pinned import PinnedEvaluator
from detectors.eval_treatment_off import TreatmentOffEvaluator
from detectors.eval_treatment_underload import TreatmentUnderloadEvaluator
from detectors.exceedance import ExceedanceParams
from detectors.flatline import FlatlineParams
from detectors.marking import MarkingParams
from detectors.o2_dilution import O2DilutionParams
from detectors.pinned import PinnedParams
from detectors.runner import RuleEvaluator
from detectors.treatment_off import TreatmentOffParams
from detectors.treatment_underload import TreatmentUnderloadParams

__all__ = ["build_evaluators"]

P = TypeVar("P")


def _params(params: Mapping[str, object], rule: str, cls: type[P]) -> P:
    value = params.get(rule)
    if value is None:
        return cls()
    if not isinstance(value, cls):
        raise TypeError(f"parameters of {rule} must be {cls.__name__}, not {type(value).__name__}")
    return value


def build_evaluators(registry: Registry, params: Mapping[str, object], *,
                     last_arrival: Callable[[str], float | None] | None = None,
                     rules: frozenset[str] | None = None) -> list[RuleEvaluator]:
    """Every rule evaluator, with parameters from ``params`` (rule id -> params dataclass).

    ``last_arrival(device_id)`` gives the wall-clock time a device's last message arrived
    (for silence detection), or None when unknown. ``rules`` keeps only those rule ids.
    """
    evaluators: list[RuleEvaluator] = [
        TreatmentOffEvaluator(registry, _params(params, "treatment_off", TreatmentOffParams)),
        TreatmentUnderloadEvaluator(
            registry, _params(params, "treatment_underload", TreatmentUnderloadParams)),
        EmergencyEvaluator(registry, _params(params, "emergency_noncompliance", EmergencyParams)),
        ExceedanceEvaluator(registry, _params(params, "emission_exceedance", ExceedanceParams)),
        FlatlineEvaluator(registry, _params(params, "flatline", FlatlineParams)),
        O2DilutionEvaluator(registry, _params(params, "o2_dilution", O2DilutionParams)),
        BypassEvaluator(registry, _params(params, "bypass_suspected", BypassParams)),
        MarkingEvaluator(registry, _params(params, "undeclared_marking", MarkingParams)),
        PinnedEvaluator(registry, _params(params, "pinned_below_limit", PinnedParams)),
        DataGapEvaluator(registry, _params(params, "data_gap", DataGapParams),
                         last_arrival=last_arrival),
        AirHotspotEvaluator(registry, _params(params, "air_hotspot", AirHotspotParams)),
    ]
    index = MaintenanceIndex()  # one per batch for all of them
    for ev in evaluators:
        assert isinstance(ev, Evaluator)
        ev.maintenance_index = index
    if rules is not None:
        evaluators = [ev for ev in evaluators if ev.rule in rules]
    return evaluators
