"""Unified social credit codes (统一社会信用代码, GB 32100-2015).

An 18-character code: registration authority (1), organisation category (1), the
registering office's administrative division code (6, GB/T 2260), the organisation code
(9, GB 11714, its last character a check of its own) and the check character (1). The
characters are the digits and the capital letters without I, O, S, V and Z.

Pure functions, no I/O: the registry loader (:mod:`ecowarn.config.registry`) rejects an
enterprise id whose check character is wrong (CONTRACT section 2); :func:`make_code`
gives sample and synthetic registries codes that pass both checks.
"""

from __future__ import annotations

__all__ = [
    "ALPHABET",
    "WEIGHTS",
    "check_char",
    "is_valid",
    "make_code",
    "org_check_char",
    "region_of",
]

ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
"""The 31 characters of a code; a character's value is its index."""

WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
"""Weights of the first 17 characters (3**i mod 31)."""

_ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)
_BODY_SPACE = 31**6  # six free characters of a generated organisation code


def check_char(first17: str) -> str:
    """The check character (18th) of the code that starts with ``first17``.

    ``31 - (sum of value * weight) mod 31``, mapped back through :data:`ALPHABET`
    (31 becomes ``0``). Raises :class:`ValueError` for a wrong length or a character
    outside the alphabet.
    """
    if len(first17) != 17:
        raise ValueError("need the first 17 characters")
    total = 0
    for ch, w in zip(first17, WEIGHTS, strict=True):
        idx = ALPHABET.find(ch)
        if idx < 0:
            raise ValueError(f"character {ch!r} is not allowed in a credit code")
        total += idx * w
    return ALPHABET[(31 - total % 31) % 31]


def is_valid(code: str) -> bool:
    """18 characters of the alphabet with the right check character."""
    if len(code) != 18 or any(c not in ALPHABET for c in code):
        return False
    return check_char(code[:17]) == code[17]


def org_check_char(first8: str) -> str:
    """The check character of a GB 11714 organisation code (the code's 17th character).

    Digits count as themselves and letters A-Z as 10-35; ``11 - sum mod 11``, where 10
    is written ``X`` and 11 ``0``. Older codes carry it; the registry does not demand it.
    """
    if len(first8) != 8:
        raise ValueError("need the first 8 characters of the organisation code")
    total = 0
    for ch, w in zip(first8, _ORG_WEIGHTS, strict=True):
        if not (ch.isascii() and (ch.isdigit() or ch.isupper())):
            raise ValueError(f"character {ch!r} is not allowed in an organisation code")
        total += (int(ch) if ch.isdigit() else ord(ch) - ord("A") + 10) * w
    r = 11 - total % 11
    return "X" if r == 10 else "0" if r == 11 else str(r)


def region_of(code: str) -> str:
    """The administrative division code of the registering office (characters 3-8)."""
    return code[2:8]


def make_code(region: str, serial: int) -> str:
    """A deterministic, valid code of an enterprise (``91``) registered in ``region``.

    The organisation code is ``MA``, ``serial`` in six base-31 characters of the alphabet
    and its GB 11714 check; the last character is the GB 32100 check. Codes of one region
    sort as their serials do (the alphabet is in ASCII order), so anything seeded over
    sorted ids keeps its order. For sample and synthetic data only: a code made here is
    well formed, not registered.
    """
    if len(region) != 6 or not region.isdigit():
        raise ValueError(f"region {region!r} is not a 6-digit division code")
    if not 0 <= serial < _BODY_SPACE:
        raise ValueError(f"serial {serial} is outside 0..{_BODY_SPACE - 1}")
    body = ""
    n = serial
    for _ in range(6):
        n, digit = divmod(n, 31)
        body = ALPHABET[digit] + body
    org8 = "MA" + body
    first17 = "91" + region + org8 + org_check_char(org8)
    return first17 + check_char(first17)
