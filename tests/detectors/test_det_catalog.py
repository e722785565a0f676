"""The rule catalog and the rule parameter file."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest
import yaml

from ecowarn.detectors.catalog import (
    DEFAULT_RULES_PATH,
    RULES,
    RuleConfigError,
    default_params,
    load_rule_params,
)
from ecowarn.detectors.flatline import FlatlineParams
from ecowarn.detectors.treatment_off import TreatmentOffParams

CONTRACT_RULES = {
    "treatment_off", "treatment_underload", "emergency_noncompliance", "emission_exceedance",
    "flatline", "o2_dilution", "bypass_suspected", "undeclared_marking", "pinned_below_limit",
    "data_gap", "air_hotspot", "treatment_sequence",
}


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "rules.yaml"
    p.write_text(text, encoding="utf-8")
    return p


def test_catalog_lists_every_contract_rule() -> None:
    """RULES has exactly the rule ids of CONTRACT sections 3 and 8 (1.1 adds treatment_sequence)."""
    assert set(RULES) == CONTRACT_RULES
    assert RULES["treatment_off"] is TreatmentOffParams


def test_none_gives_defaults() -> None:
    """No file: every rule with its dataclass defaults."""
    params = load_rule_params(None)
    assert params == {rule: cls() for rule, cls in RULES.items()}


def test_shipped_file_has_every_parameter_at_its_default() -> None:
    """config/rules.yaml names every parameter of every rule, with the default value."""
    raw = yaml.safe_load(DEFAULT_RULES_PATH.read_text(encoding="utf-8"))
    assert set(raw) == set(RULES)
    for rule, cls in RULES.items():
        assert set(raw[rule]) == {f.name for f in dataclasses.fields(cls)}, rule
    assert load_rule_params(DEFAULT_RULES_PATH) == default_params()


def test_overrides_and_int_for_float(tmp_path: Path) -> None:
    """A file overrides the named keys; an integer is accepted for a float parameter."""
    params = load_rule_params(write(tmp_path, "flatline:\n  tolerance: 1\n  min_duration_min: 90\n"))
    assert params["flatline"] == FlatlineParams(tolerance=1.0, min_duration_min=90.0)
    flat = params["flatline"]
    assert isinstance(flat, FlatlineParams) and isinstance(flat.tolerance, float)
    assert params["o2_dilution"] == default_params()["o2_dilution"]


def test_unknown_rule_is_named_with_file_and_line(tmp_path: Path) -> None:
    """An unknown rule id fails with file, line and the id."""
    p = write(tmp_path, "flatline:\n  tolerance: 0\nflatlin:\n  tolerance: 0\n")
    with pytest.raises(RuleConfigError, match=rf"^{re.escape(str(p))}:3: unknown rule 'flatlin'"):
        load_rule_params(p)


def test_unknown_key_is_named_with_rule(tmp_path: Path) -> None:
    """An unknown parameter fails naming file, line, rule and key."""
    p = write(tmp_path, "data_gap:\n  min_gap_min: 30\n  min_gap_s: 1800\n")
    with pytest.raises(RuleConfigError, match=rf"^{re.escape(str(p))}:3: data_gap.min_gap_s: unknown parameter"):
        load_rule_params(p)


def test_wrong_type_is_refused(tmp_path: Path) -> None:
    """A string for a number, a float for an integer and NaN are refused."""
    for body, where in [("o2_dilution:\n  min_duration_min: an hour\n", "min_duration_min"),
                        ("pinned_below_limit:\n  min_hours: 6.5\n", "min_hours"),
                        ("flatline:\n  tolerance: .nan\n", "tolerance")]:
        with pytest.raises(RuleConfigError, match=rf":2: \w+\.{where}: "):
            load_rule_params(write(tmp_path, body))


def test_value_rejected_by_the_dataclass(tmp_path: Path) -> None:
    """A negative duration fails with file, rule and the dataclass's message naming the key."""
    p = write(tmp_path, "bypass_suspected:\n  min_duration_min: -5\n")
    with pytest.raises(RuleConfigError,
                       match=rf"^{re.escape(str(p))}:1: bypass_suspected: min_duration_min must be positive"):
        load_rule_params(p)


def test_duplicate_key_is_refused(tmp_path: Path) -> None:
    """A key given twice is an error, not a silent override."""
    p = write(tmp_path, "flatline:\n  tolerance: 0\n  tolerance: 1\n")
    with pytest.raises(RuleConfigError, match="duplicate key 'tolerance'"):
        load_rule_params(p)


def test_empty_rule_and_empty_file_keep_defaults(tmp_path: Path) -> None:
    """An empty file, or a rule with no body, keeps the defaults."""
    assert load_rule_params(write(tmp_path, "")) == default_params()
    assert load_rule_params(write(tmp_path, "flatline:\n")) == default_params()


def test_file_not_a_mapping(tmp_path: Path) -> None:
    """A list at the top level is refused."""
    with pytest.raises(RuleConfigError, match="must be a mapping"):
        load_rule_params(write(tmp_path, "- flatline\n"))


def test_missing_file(tmp_path: Path) -> None:
    """A missing file fails naming the file."""
    with pytest.raises(RuleConfigError, match=r"missing\.yaml: cannot read"):
        load_rule_params(tmp_path / "missing.yaml")
