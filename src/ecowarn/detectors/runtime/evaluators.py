"""Which rule evaluators the runner uses, built from the registry and rule parameters.

One evaluator per rule of CONTRACT section 3, in catalog order. ``params`` maps a
rule id to its params dataclass (``detectors.catalog.load_rule_params``); a rule
left out runs with its defaults.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TypeVar

from ecowarn.config.registry import Registry
from ecowarn.detectors.air_hotspot import AirHotspotParams
from ecowarn.detectors.bypass import BypassParams
from ecowarn.detectors.data_gap import DataGapParams
from ecowarn.detectors.emergency import EmergencyParams
from ecowarn.detectors.exceedance import ExceedanceParams
from ecowarn.detectors.flatline import FlatlineParams
from ecowarn.detectors.marking import MarkingParams
from ecowarn.detectors.o2_dilution import O2DilutionParams
from ecowarn.detectors.pinned import PinnedParams
from ecowarn.detectors.runtime._evalbase import Evaluator
from ecowarn.detectors.runtime._load import MaintenanceIndex
from ecowarn.detectors.runtime.contract import RuleEvaluator
from ecowarn.detectors.runtime.eval_air_hotspot import AirHotspotEvaluator
from ecowarn.detectors.runtime.eval_bypass import BypassEvaluator
from ecowarn.detectors.runtime.eval_data_gap import DataGapEvaluator
from ecowarn.detectors.runtime.eval_emergency import EmergencyEvaluator
from ecowarn.detectors.runtime.eval_exceedance import ExceedanceEvaluator
from ecowarn.detectors.runtime.eval_flatline import FlatlineEvaluator
from ecowarn.detectors.runtime.eval_marking import MarkingEvaluator
from ecowarn.detectors.runtime.eval_o2_dilution import O2DilutionEvaluator
from ecowarn.detectors.runtime.eval_pinned import PinnedEvaluator
from ecowarn.detectors.runtime.eval_treatment_off import TreatmentOffEvaluator
from ecowarn.detectors.runtime.eval_treatment_sequence import TreatmentSequenceEvaluator
from ecowarn.detectors.runtime.eval_treatment_underload import TreatmentUnderloadEvaluator
from ecowarn.detectors.runtime.eval_water import WaterExceedanceEvaluator
from ecowarn.detectors.runtime.eval_water_flatline import WaterFlatlineEvaluator
from ecowarn.detectors.treatment_off import TreatmentOffParams
from ecowarn.detectors.treatment_sequence import TreatmentSequenceParams
from ecowarn.detectors.treatment_underload import TreatmentUnderloadParams

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
    treatment_off = _params(params, "treatment_off", TreatmentOffParams)
    evaluators: list[RuleEvaluator] = [
        TreatmentOffEvaluator(registry, treatment_off),
        TreatmentSequenceEvaluator(registry, _params(params, "treatment_sequence", TreatmentSequenceParams),
                                   max_lag_min=treatment_off.min_duration_min),
        TreatmentUnderloadEvaluator(
            registry, _params(params, "treatment_underload", TreatmentUnderloadParams)),
        EmergencyEvaluator(registry, _params(params, "emergency_noncompliance", EmergencyParams)),
        ExceedanceEvaluator(registry, _params(params, "emission_exceedance", ExceedanceParams)),
        WaterExceedanceEvaluator(registry, _params(params, "emission_exceedance", ExceedanceParams)),
        FlatlineEvaluator(registry, _params(params, "flatline", FlatlineParams)),
        WaterFlatlineEvaluator(registry, _params(params, "flatline", FlatlineParams)),
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
