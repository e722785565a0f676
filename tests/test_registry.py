"""Registry validation: every error names the file, the line and the problem."""

from __future__ import annotations

from pathlib import Path

import pytest

from ecowarn.config.registry import (
    RegistryError,
    load_registry,
    parse_registry,
    uscc_check_char,
    uscc_is_valid,
)

GOOD = """\
enterprises:
  - id: "91130105MA0CXXXX1X"
    name: "Example Cement Co."
    region: "130105"
    industry: cement
    devices:
      - id: "PWR-KILN-1"
        kind: power
        role: production
        rated_kw: 800
        treated_by: ["PWR-BAG-1"]
      - id: "PWR-BAG-1"
        kind: power
        role: treatment
        rated_kw: 160
      - id: "13010500000001"
        kind: cems
        ref_o2: 10
        limits: {pm: 10, so2: 35, nox: 50}
        serves: ["PWR-KILN-1"]
stations:
  - id: "AQ-0001"
    lat: 38.0428
    lon: 114.5149
"""


def _problems(text: str) -> list[str]:
    with pytest.raises(RegistryError) as info:
        parse_registry(text, "reg.yaml")
    return info.value.problems


def test_contract_example_credit_code_is_valid() -> None:
    """The check character of the contract's example code is X, per GB 32100."""
    assert uscc_check_char("91130105MA0CXXXX1") == "X"
    assert uscc_is_valid("91130105MA0CXXXX1X")
    assert not uscc_is_valid("91130105MA0CXXXX1Y")


def test_valid_registry_builds_devices_and_links() -> None:
    """A valid file yields devices with defaults and the production/treatment links."""
    reg = parse_registry(GOOD, "reg.yaml")
    kiln = reg.devices["PWR-KILN-1"]
    assert kiln.enterprise_id == "91130105MA0CXXXX1X"
    assert kiln.running_threshold_kw == pytest.approx(80.0)  # default 10% of rated
    assert [d.id for d in reg.producers_treated_by("PWR-BAG-1")] == ["PWR-KILN-1"]
    assert [d.id for d in reg.outlets_serving("PWR-KILN-1")] == ["13010500000001"]
    assert reg.devices["AQ-0001"].kind == "air"


def test_sample_registry_is_valid(sample_registry: object) -> None:
    """The sample registry shipped in config/ passes validation."""
    assert sample_registry is not None


def test_bad_check_digit_names_line_and_expected_character() -> None:
    """A wrong check character is reported with the line and the expected character."""
    problems = _problems(GOOD.replace("91130105MA0CXXXX1X", "91130105MA0CXXXX1Y"))
    assert problems == ["reg.yaml:2: enterprises[0].id: unified social credit code "
                        "'91130105MA0CXXXX1Y' has check character 'Y', expected 'X'"]


def test_unknown_treated_by_reference() -> None:
    """treated_by naming a device that does not exist is reported at its line."""
    problems = _problems(GOOD.replace('treated_by: ["PWR-BAG-1"]', 'treated_by: ["PWR-BAG-9"]'))
    assert problems == ["reg.yaml:11: enterprises[0].devices[0].treated_by[0]: "
                        "treated_by references unknown device 'PWR-BAG-9'"]


def test_unknown_serves_reference() -> None:
    """serves naming a device that does not exist is reported at its line."""
    problems = _problems(GOOD.replace('serves: ["PWR-KILN-1"]', 'serves: ["PWR-KILN-2"]'))
    assert problems == ["reg.yaml:20: enterprises[0].devices[2].serves[0]: "
                        "serves references unknown device 'PWR-KILN-2'"]


def test_duplicate_device_id() -> None:
    """Two devices with one id: the second is reported with the first one's line."""
    problems = _problems(GOOD.replace('id: "PWR-BAG-1"', 'id: "PWR-KILN-1"'))
    assert "reg.yaml:12: enterprises[0].devices[1].id: duplicate device id 'PWR-KILN-1' " \
           "(first at line 7)" in problems


def test_bad_kind() -> None:
    """An unknown device kind is reported with the allowed kinds."""
    problems = _problems(GOOD.replace("kind: cems", "kind: water"))
    assert len(problems) == 1
    assert problems[0].startswith("reg.yaml:17: enterprises[0].devices[2].kind: Input should be")
    assert "'cems'" in problems[0]


def test_treated_by_must_point_at_treatment_unit() -> None:
    """treated_by pointing at a production meter is an error, not silently accepted."""
    text = GOOD.replace('treated_by: ["PWR-BAG-1"]', 'treated_by: ["PWR-KILN-1"]')
    assert any("not a power meter with role treatment" in p for p in _problems(text))


def test_yaml_syntax_error_names_line() -> None:
    """Broken YAML is reported with the line the parser stopped at."""
    problems = _problems("enterprises:\n  - id: [unclosed\n")
    assert problems[0].startswith("reg.yaml:3: not valid YAML")


def test_unknown_key_is_rejected() -> None:
    """A misspelt key (treatedby) is an error, so a link is never silently lost."""
    problems = _problems(GOOD.replace("treated_by:", "treatedby:"))
    assert any(p.startswith("reg.yaml:11: enterprises[0].devices[0].treatedby:") for p in problems)


def test_missing_file_is_reported(tmp_path: Path) -> None:
    """A registry path that does not exist gives a clear error naming it."""
    with pytest.raises(RegistryError) as info:
        load_registry(tmp_path / "nope.yaml")
    assert "nope.yaml: cannot read" in info.value.problems[0]


def test_control_characters_in_device_ids_are_rejected() -> None:
    """Ids travel in MQTT topics and in the runner's delimited requests: no control characters."""
    problems = _problems(GOOD.replace('id: "PWR-BAG-1"', 'id: "PWR-BAG\\x1f1"')
                         .replace('id: "AQ-0001"', 'id: "AQ\\t0001"'))
    assert any("devices[1].id: device id 'PWR-BAG\\x1f1' must be non-empty, without control"
               in p for p in problems), problems
    assert any("stations[0].id: device id 'AQ\\t0001'" in p for p in problems), problems
