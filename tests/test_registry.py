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
    """An unknown device kind is reported with the allowed kinds (``water`` is one since 1.1)."""
    problems = _problems(GOOD.replace("kind: cems", "kind: noise"))
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


_DS_UNITS = """\
      - id: "PWR-DS-1"
        kind: power
        role: treatment
        rated_kw: 200
      - id: "PWR-DS-2"
        kind: power
        role: treatment
        rated_kw: 200
      - id: "13010500000001"
"""
STAGED = GOOD.replace('treated_by: ["PWR-BAG-1"]', 'treated_by: ["PWR-BAG-1", ["PWR-DS-1", "PWR-DS-2"]]') \
    .replace('      - id: "13010500000001"\n', _DS_UNITS)


def test_treatment_stages_with_alternatives() -> None:
    """A list inside ``treated_by`` is one stage with alternatives; plain ids are one stage each."""
    reg = parse_registry(STAGED, "reg.yaml")
    kiln = reg.devices["PWR-KILN-1"]
    assert kiln.stages == (("PWR-BAG-1",), ("PWR-DS-1", "PWR-DS-2"))
    assert kiln.treated_by == ("PWR-BAG-1", "PWR-DS-1", "PWR-DS-2")
    assert [d.id for d in reg.producers_treated_by("PWR-DS-2")] == ["PWR-KILN-1"]
    # a 1.0 registry: one stage per id
    assert parse_registry(GOOD, "reg.yaml").devices["PWR-KILN-1"].stages == (("PWR-BAG-1",),)


def test_stage_alternative_errors_name_the_position() -> None:
    """A bad alternative is reported at its place inside the stage; a meter may not sit in two stages."""
    problems = _problems(STAGED.replace('["PWR-DS-1", "PWR-DS-2"]', '["PWR-DS-1", "PWR-NOPE"]'))
    assert any("treated_by[1][1]: treated_by references unknown device 'PWR-NOPE'" in p for p in problems)
    problems = _problems(STAGED.replace('["PWR-DS-1", "PWR-DS-2"]', '["PWR-DS-1", "PWR-BAG-1"]'))
    assert any("treated_by lists 'PWR-BAG-1' twice" in p for p in problems)
    problems = _problems(STAGED.replace('["PWR-DS-1", "PWR-DS-2"]', '["PWR-DS-1", "13010500000001"]'))
    assert any("not a power meter with role treatment" in p for p in problems)


WATER = GOOD.replace("stations:", """\
      - id: "13010500000W01"
        kind: water
        outlet: "DW001"
        limits: {cod: 50, nh3n: 5}
        limits_hourly: {cod: 100}
        ph_range: [6, 9]
        serves: ["PWR-KILN-1"]
stations:""")


def test_water_outlet() -> None:
    """A water outlet has daily limits, optional hourly limits and a pH range (default 6-9)."""
    reg = parse_registry(WATER, "reg.yaml")
    w = reg.devices["13010500000W01"]
    assert (w.kind, w.outlet, dict(w.limits), dict(w.limits_hourly), w.ph_range) == \
        ("water", "DW001", {"cod": 50, "nh3n": 5}, {"cod": 100}, (6, 9))
    assert reg.by_mn("13010500000W01") is w
    assert parse_registry(WATER.replace("        ph_range: [6, 9]\n", ""), "r").devices[w.id].ph_range == (6, 9)
    problems = _problems(WATER.replace("limits: {cod: 50, nh3n: 5}", "limits: {cod: 50, so2: 5}"))
    assert any("limit for unknown water metric 'so2'" in p for p in problems)
    problems = _problems(WATER.replace("ph_range: [6, 9]", "ph_range: [9, 6]"))
    assert any("ph_range" in p for p in problems)
    problems = _problems(WATER.replace('        outlet: "DW001"\n', '        outlet: "DW001"\n        ref_o2: 10\n'))
    assert any("ref_o2 applies to cems devices, not water outlets" in p for p in problems)


POWER_HJ212 = GOOD.replace("""        rated_kw: 800
""", """        rated_kw: 800
        mn: "88888880000001"
        password: "123456"
        codes: {"01001": p, "02001": e, "SB001": rs}
""").replace("""        rated_kw: 160
""", """        rated_kw: 160
        mn: "88888880000001"
        codes: {"01002": p, "SB002": rs}
""")


def test_power_meters_share_one_terminal_by_codes() -> None:
    """Meters of one 分表计电 terminal share its MN; their factor codes tell them apart."""
    reg = parse_registry(POWER_HJ212, "reg.yaml")
    assert reg.devices["PWR-KILN-1"].codes == {"01001": "p", "02001": "e", "SB001": "rs"}
    assert reg.devices["PWR-KILN-1"].hj212_mn == "88888880000001"
    problems = _problems(POWER_HJ212.replace('{"01002": p, "SB002": rs}', '{"01001": p}'))
    assert any("factor code(s) 01001 of MN '88888880000001' are already mapped" in p for p in problems)
    problems = _problems(POWER_HJ212.replace('"02001": e', '"02001": so2'))
    assert any("map to p, e, i or rs" in p for p in problems)
    # a power meter may not take a CEMS's MN
    taken = POWER_HJ212.replace('mn: "88888880000001"\n        password', 'mn: "13010500000001"\n        password')
    problems = _problems(taken)
    assert any("MN '13010500000001' is already used" in p for p in problems)


def test_power_code_profile_by_name() -> None:
    """``codes: <name>`` takes a named profile; an unknown name lists the known ones."""
    text = POWER_HJ212.replace('{"01001": p, "02001": e, "SB001": rs}', "handan-001") \
        .replace('{"01002": p, "SB002": rs}', '{"01002": p}')
    reg = parse_registry(text, "reg.yaml")
    assert reg.devices["PWR-KILN-1"].codes["01001"] == "p"
    assert reg.devices["PWR-KILN-1"].codes["SB001"] == "rs"
    problems = _problems(text.replace("handan-001", "nowhere"))
    assert any("unknown HJ 212 code profile 'nowhere'" in p and "handan-001" in p for p in problems)


def test_enterprise_file_fields() -> None:
    """Permit, contacts and address are kept for the enterprise file (一企一档)."""
    text = GOOD.replace('    industry: cement\n', '''    industry: cement
    address: "石家庄市某路 1 号"
    permit: {number: "91130105MA0CXXXX1X001P", valid_until: 2028-06-30}
    contacts: [{name: "张三", role: "环保负责人", phone: 13800000000}]
''')
    e = parse_registry(text, "reg.yaml").enterprises["91130105MA0CXXXX1X"]
    assert e.address == "石家庄市某路 1 号"
    assert e.permit is not None and (e.permit.number, e.permit.valid_until) == \
        ("91130105MA0CXXXX1X001P", "2028-06-30")
    assert e.contacts[0].phone == "13800000000" and e.contacts[0].role == "环保负责人"
