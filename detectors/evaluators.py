"""Which rule evaluators the runner uses, built from the registry and rule parameters."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from config.registry import Registry
from detectors.eval_treatment_off import TreatmentOffEvaluator
from detectors.runner import RuleEvaluator
from detectors.treatment_off import TreatmentOffParams

__all__ = ["build_evaluators"]


def build_evaluators(registry: Registry, params: Mapping[str, object], *,
                     last_arrival: Callable[[str], float | None] | None = None) -> list[RuleEvaluator]:
    """Every rule evaluator, with parameters from ``params`` (rule id -> params dataclass).

    ``last_arrival(device_id)`` gives the wall-clock time a device's last message arrived
    (for silence detection), or None when unknown.
    """
    treatment = params.get("treatment_off", TreatmentOffParams())
    assert isinstance(treatment, TreatmentOffParams)
    return [TreatmentOffEvaluator(registry, treatment)]
