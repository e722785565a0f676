"""Unified social credit codes (GB 32100-2015): check character, organisation code, generation."""

from __future__ import annotations

import pytest

from ecowarn.config import packaged_file
from ecowarn.config.credit_code import (
    ALPHABET,
    WEIGHTS,
    check_char,
    is_valid,
    make_code,
    org_check_char,
    region_of,
)
from ecowarn.config.registry import load_registry, uscc_check_char, uscc_is_valid

# Codes of registered organisations as published in their licences and widely quoted as
# validation examples (Fuzhou, Beijing, Shenzhen, Shanghai, a public institution, a social
# organisation).
PUBLISHED = (
    "91350100M000100Y43",
    "91110105771583283D",
    "91110000802100433B",
    "91110108740084270C",
    "91110108735106340Y",
    "91440300359143307G",
    "9144030071526726XG",
    "91310000607216596U",
    "112302070019030687",
    "51610700305332460K",
)


def test_weights_are_powers_of_three_mod_31() -> None:
    """The 17 weights are 3**i mod 31, as GB 32100 derives them; the alphabet has 31 characters."""
    assert WEIGHTS == tuple(pow(3, i, 31) for i in range(17))
    assert len(ALPHABET) == 31 and not set("IOSVZ") & set(ALPHABET)


@pytest.mark.parametrize("code", PUBLISHED)
def test_published_codes_are_valid(code: str) -> None:
    """Published codes pass, and their 18th character is the one computed from the first 17."""
    assert is_valid(code)
    assert check_char(code[:17]) == code[17]


@pytest.mark.parametrize("code", [c for c in PUBLISHED if c.startswith("91")])
def test_published_enterprise_codes_carry_a_valid_organisation_code(code: str) -> None:
    """Characters 9-17 of an enterprise's code are a GB 11714 code with its own check character."""
    assert org_check_char(code[8:16]) == code[16]


def test_every_single_substitution_is_detected() -> None:
    """Changing any one character to any other of the alphabet makes the code invalid."""
    code = "91350100M000100Y43"
    for i in range(18):
        for ch in ALPHABET:
            if ch != code[i]:
                assert not is_valid(code[:i] + ch + code[i + 1:]), (i, ch)


def test_sum_divisible_by_31_gives_check_zero() -> None:
    """A weighted sum that is a multiple of 31 maps 31 to the character 0."""
    assert check_char("0" * 17) == "0"
    assert is_valid("0" * 18)
    first17 = "9113010500000000" + "1"  # find a last character that brings the sum to 0 mod 31
    total = sum(ALPHABET.index(c) * w for c, w in zip(first17[:16], WEIGHTS, strict=False))
    last = ALPHABET[next(v for v in range(31) if (total + v * WEIGHTS[16]) % 31 == 0)]
    assert check_char(first17[:16] + last) == "0"


@pytest.mark.parametrize("code", [
    "91350100M000100Y4",      # 17 characters
    "91350100M000100Y433",    # 19
    "91350100m000100y43",     # lower case
    "91350100M000100I43",     # I is not in the alphabet
    "91350100M000100O43",     # nor O
    "91350100M000100Y4S",     # nor S
    "91350100M000100Y44",     # wrong check character
    "",
])
def test_malformed_codes_are_invalid(code: str) -> None:
    """Wrong length, characters outside the alphabet and a wrong check character are refused."""
    assert not is_valid(code)


def test_check_char_needs_17_characters_of_the_alphabet() -> None:
    """check_char names the problem instead of returning a character for bad input."""
    with pytest.raises(ValueError, match="17"):
        check_char("9135")
    with pytest.raises(ValueError, match="'Z'"):
        check_char("91350100M000100Z4")


def test_registry_exports_the_same_functions() -> None:
    """The registry loader validates with this module's functions (one implementation)."""
    assert uscc_check_char is check_char and uscc_is_valid is is_valid


def test_make_code_is_valid_deterministic_and_distinct() -> None:
    """Generated codes pass both checks, carry their region, differ per serial and sort like it."""
    codes = [make_code("130105", n) for n in range(2000)]
    assert len(set(codes)) == len(codes) and sorted(codes) == codes  # ordered like the serials
    for code in codes:
        assert is_valid(code), code
        assert code.startswith("91") and region_of(code) == "130105"
        assert code[8:10] == "MA" and org_check_char(code[8:16]) == code[16]
    assert make_code("130105", 7) == codes[7]
    assert region_of(make_code("130627", 7)) == "130627"


def test_make_code_refuses_bad_region_and_serial() -> None:
    """A region that is not 6 digits, or a serial outside the code space, is an error."""
    with pytest.raises(ValueError, match="division code"):
        make_code("13010", 1)
    with pytest.raises(ValueError, match="serial"):
        make_code("130105", -1)
    with pytest.raises(ValueError, match="serial"):
        make_code("130105", 31**6)


def test_sample_registry_codes_are_valid_and_match_their_region() -> None:
    """Every sample enterprise has a valid code registered in its own division."""
    reg = load_registry(packaged_file("registry.example.yaml"))
    assert reg.enterprises
    for eid, ent in reg.enterprises.items():
        assert is_valid(eid), eid
        assert region_of(eid) == ent.region, eid
