"""The rule catalog (CONTRACT section 3): rule id -> params dataclass, and the YAML loader.

The parameter file maps each rule id to its parameters::

    treatment_off:
      min_duration_min: 10.0
    flatline:
      tolerance: 0.0

Rules and parameters left out keep their defaults. An unknown rule id, unknown
parameter, wrongly typed value or a value that the dataclass rejects raises
:class:`RuleConfigError` naming the file, line, rule and key, so the service can
refuse to start.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any

import yaml

from ecowarn.config import packaged_file
from ecowarn.detectors.air_hotspot import AirHotspotParams
from ecowarn.detectors.bypass import BypassParams
from ecowarn.detectors.data_gap import DataGapParams
from ecowarn.detectors.emergency import EmergencyParams
from ecowarn.detectors.exceedance import ExceedanceParams
from ecowarn.detectors.flatline import FlatlineParams
from ecowarn.detectors.marking import MarkingParams
from ecowarn.detectors.o2_dilution import O2DilutionParams
from ecowarn.detectors.pinned import PinnedParams
from ecowarn.detectors.treatment_off import TreatmentOffParams
from ecowarn.detectors.treatment_sequence import TreatmentSequenceParams
from ecowarn.detectors.treatment_underload import TreatmentUnderloadParams

__all__ = ["DEFAULT_RULES_PATH", "RULES", "RuleConfigError", "default_params", "load_rule_params"]

DEFAULT_RULES_PATH = packaged_file("rules.yaml")

RULES: dict[str, type] = {
    "treatment_off": TreatmentOffParams,
    "treatment_underload": TreatmentUnderloadParams,
    "treatment_sequence": TreatmentSequenceParams,
    "emergency_noncompliance": EmergencyParams,
    "emission_exceedance": ExceedanceParams,
    "flatline": FlatlineParams,
    "o2_dilution": O2DilutionParams,
    "bypass_suspected": BypassParams,
    "undeclared_marking": MarkingParams,
    "pinned_below_limit": PinnedParams,
    "data_gap": DataGapParams,
    "air_hotspot": AirHotspotParams,
}


class RuleConfigError(ValueError):
    """A problem in the rule parameter file; the message names file, line, rule and key."""


def default_params() -> dict[str, object]:
    """Every rule's params with their defaults."""
    return {rule: cls() for rule, cls in RULES.items()}


def load_rule_params(path: Path | None) -> dict[str, object]:
    """Params of every rule from ``path`` (YAML); defaults for everything when ``path`` is None."""
    if path is None:
        return default_params()
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
        root = yaml.compose(text)
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise RuleConfigError(f"{source}: cannot read rule parameters: {exc}") from exc
    out = default_params()
    if root is None:
        return out
    for rule, rule_line, body in _mapping(root, source, "the file"):
        cls = RULES.get(rule)
        if cls is None:
            known = ", ".join(sorted(RULES))
            raise RuleConfigError(f"{source}:{rule_line}: unknown rule {rule!r} (known: {known})")
        if isinstance(body, yaml.ScalarNode) and body.tag == "tag:yaml.org,2002:null":
            continue
        out[rule] = _build(cls, rule, rule_line, body, source)
    return out


def _mapping(node: yaml.Node, source: str, what: str) -> list[tuple[str, int, yaml.Node]]:
    """Keys (strings, unique), their 1-based lines and value nodes of a mapping node."""
    if not isinstance(node, yaml.MappingNode):
        raise RuleConfigError(f"{source}:{node.start_mark.line + 1}: {what} must be a mapping")
    seen: set[str] = set()
    items = []
    for key_node, value_node in node.value:
        line = key_node.start_mark.line + 1
        key = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
        if not isinstance(key, str) or key_node.tag != "tag:yaml.org,2002:str":
            raise RuleConfigError(f"{source}:{line}: keys in {what} must be strings")
        if key in seen:
            raise RuleConfigError(f"{source}:{line}: duplicate key {key!r} in {what}")
        seen.add(key)
        items.append((key, line, value_node))
    return items


def _build(cls: type, rule: str, rule_line: int, body: yaml.Node, source: str) -> object:
    fields = {f.name: f for f in dataclasses.fields(cls)}
    kwargs: dict[str, Any] = {}
    for key, line, value_node in _mapping(body, source, f"rule {rule!r}"):
        where = f"{source}:{line}: {rule}.{key}"
        field = fields.get(key)
        if field is None:
            known = ", ".join(fields)
            raise RuleConfigError(f"{where}: unknown parameter (known: {known})")
        try:
            value = yaml.safe_load(yaml.serialize(value_node))
        except yaml.YAMLError as exc:  # an alias, anchor or tag that is not a plain value
            problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
            raise RuleConfigError(f"{where}: not a plain value ({problem})") from exc
        kwargs[key] = _coerce(value, str(field.type), where)
    try:
        return cls(**kwargs)
    except ValueError as exc:
        raise RuleConfigError(f"{source}:{rule_line}: {rule}: {exc}") from exc


def _coerce(value: Any, type_name: str, where: str) -> Any:
    """Check a YAML value against a params field's type (``float``, ``int``, ``str``, ``bool``,
    or one of them ``| None``)."""
    if type_name.endswith(" | None"):
        return None if value is None else _coerce(value, type_name.removesuffix(" | None"), where)
    if type_name == "float" and isinstance(value, int | float) and not isinstance(value, bool):
        if not math.isfinite(value):
            raise RuleConfigError(f"{where}: must be a finite number, got {value!r}")
        return float(value)
    if type_name == "int" and isinstance(value, int) and not isinstance(value, bool):
        return value
    if type_name == "str" and isinstance(value, str):
        return value
    if type_name == "bool" and isinstance(value, bool):
        return value
    raise RuleConfigError(f"{where}: expected {type_name}, got {value!r}")
