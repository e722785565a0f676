"""Protocol dialects: what differs between versions of HJ 212, as data.

The framing, the CRC and the ``key=value`` grammar are shared; a
:class:`Dialect` holds what a version changes: the version bits of ``Flag``,
the pollutant code table, which commands carry data and which suffix holds
their value, and which commands are answered how. HJ 212-2025 (in force from
2026-01-01: heartbeat 9015, separate electricity uploads) becomes a second
instance; :func:`select_dialect` picks one by the version bits of ``Flag``.

Code tables and their sources
-----------------------------
HJ 212-2017 Appendix B (flue gas), as in CONTRACT section 1 and DOMAIN.md:
a34013 pm, a21026 so2, a21002 nox, a21005 co, a19001 o2, a00000 flow (m3/s),
a01012 temp, a01013 pressure (kPa), a01014 humidity.

HJ/T 212-2005 codes that loggers still send. DOMAIN.md names 01, 02, 03, S01
and B02; the rest come from two public code tables that agree with each other
(the 2005 table in ``lingkejia/bocon-operation-app`` ``src/lib/polcodeList05.js``
and the 2017 table with each factor's 2005 code in ``srdgame/lua-HJ212``
``hj212/tags/info.lua``): 01 烟尘 -> pm, 02 SO2 -> so2, 03 NOx -> nox,
04 CO -> co, S01 O2 -> o2, B02 废气 -> flow, S03 烟气温度 -> temp,
S05 烟气湿度 -> humidity, S08 烟气压力 -> pressure. Not mapped on purpose:
S02 (flue gas *velocity*, m/s, 2017's a01011, which is not ``flow``), S04
(dynamic pressure), S06, S07. Unit caveat: the 2017 table gives a00000 and
B02 in m3/s, but the 2005 table lists m3/s, m3/h or L/s for B02, and S08 in
kPa, mPa or Pa; the unit is not in the packet, so 2005-code values are taken
in the 2017 units. Value flag letters outside N F M S D C T B (older
firmware's letters included) are not guessed at: such a value is skipped and
counted (see :mod:`ingest.hj212.mapping`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

__all__ = [
    "DIALECTS",
    "HJ212_2017",
    "Dialect",
    "flag_needs_reply",
    "flag_version",
    "select_dialect",
]

# Flag bits: V5..V0 (protocol version) D (split packet) A (answer wanted).
FLAG_A = 0x01
FLAG_D = 0x02


def flag_needs_reply(flag: int | None) -> bool:
    """True when ``Flag`` asks the receiver for an answer (bit A)."""
    return flag is not None and bool(flag & FLAG_A)


def flag_version(flag: int) -> int:
    """The protocol version bits of ``Flag`` (1 for HJ 212-2017)."""
    return flag >> 2


def _frozen(d: Mapping[str, str]) -> Mapping[str, str]:
    return MappingProxyType(dict(d))


@dataclass(frozen=True, slots=True)
class Dialect:
    """What one version of HJ 212 defines beyond the shared grammar."""

    name: str
    version: int  # the V bits of Flag
    codes: Mapping[str, str]  # pollutant code -> ecowarn metric (this version's codes)
    legacy_codes: Mapping[str, str]  # older codes still sent by devices -> metric
    water_codes: Mapping[str, str]  # wastewater (ST=32) codes -> metric of kind water
    row_commands: Mapping[str, str]  # CN carrying values -> suffix of the stored value
    # CN carrying facility run states (``SBxxx-RS``) -> suffix; stored for power meters
    # whose codes map the SB code to ``rs``, acknowledged and ignored for anything else.
    state_commands: Mapping[str, str]
    upload_commands: frozenset[str]  # CN answered by the data ack (rows or not)
    notice_commands: frozenset[str]  # CN answered by the notice ack
    reply_commands: frozenset[str]  # answers themselves: never answered
    value_flags: frozenset[str]  # per-value flag letters
    ignored_suffixes: frozenset[str]  # suffixes read but not stored (see mapping)
    mn_pattern: re.Pattern[str]  # a standard MN (strict mode)
    reply_st: str = "91"
    data_ack_cn: str = "9014"
    request_reply_cn: str = "9011"
    notice_ack_cn: str = "9013"

    def __post_init__(self) -> None:
        overlap = set(self.codes) & set(self.legacy_codes)
        if overlap:
            raise ValueError(f"{self.name}: codes in both tables: {sorted(overlap)}")

    @property
    def reply_flag(self) -> int:
        """Flag of our answers: this version's bits, no answer wanted, not split."""
        return self.version << 2

    def metric_for(self, code: str) -> str | None:
        """The ecowarn metric of a pollutant code (this version's first, then legacy)."""
        return self.codes.get(code) or self.legacy_codes.get(code)

    def code_for(self, metric: str) -> str:
        """This version's code of an ecowarn metric (used to build packets)."""
        for code, m in self.codes.items():
            if m == metric:
                return code
        raise KeyError(metric)

    def is_standard_flag(self, flag: int) -> bool:
        """Flag has this version's bits and nothing above them."""
        return 0 <= flag <= 0xFF and flag_version(flag) == self.version


HJ212_2017 = Dialect(
    name="HJ 212-2017",
    version=1,
    codes=_frozen({
        "a34013": "pm", "a21026": "so2", "a21002": "nox", "a21005": "co", "a19001": "o2",
        "a00000": "flow", "a01012": "temp", "a01013": "pressure", "a01014": "humidity",
    }),
    legacy_codes=_frozen({
        "01": "pm", "02": "so2", "03": "nox", "04": "co", "S01": "o2", "B02": "flow",
        "S03": "temp", "S05": "humidity", "S08": "pressure",
    }),
    # 2011 real-time (-Rtd); 2051 minute, 2061 hourly, 2031 daily (-Avg).
    water_codes=_frozen({
        "w01018": "cod", "w21003": "nh3n", "w21011": "tp", "w21001": "tn", "w01001": "ph",
        "w00000": "flow",
    }),
    row_commands=_frozen({"2011": "Rtd", "2051": "Avg", "2061": "Avg", "2031": "Avg"}),
    state_commands=_frozen({"2021": "RS", "2022": "RS"}),
    # Other uploads are acknowledged but store nothing here: 2041 daily run hours,
    # 2021/2022 treatment facility run state, 2081 logger restart time.
    upload_commands=frozenset({"2011", "2051", "2061", "2031", "2041", "2021", "2022", "2081"}),
    # 1013: the logger asks for its clock to be set (a notice; answered 9013).
    notice_commands=frozenset({"1013"}),
    reply_commands=frozenset({"9011", "9012", "9013", "9014"}),
    value_flags=frozenset("NFMSDCTB"),
    ignored_suffixes=frozenset({
        "Min", "Max", "ZsRtd", "ZsMin", "ZsAvg", "ZsMax", "Cou", "EFlag", "SampleTime",
    }),
    mn_pattern=re.compile(r"[0-9A-Fa-f]{24}"),
)

DIALECTS: tuple[Dialect, ...] = (HJ212_2017,)


def select_dialect(flag: int | None, dialects: Sequence[Dialect] = DIALECTS) -> Dialect:
    """The dialect whose version bits ``Flag`` carries; the first one otherwise.

    Packets without a usable Flag (HJ/T 212-2005 loggers, odd firmware) fall
    back to the first dialect, whose legacy table covers the old codes.
    """
    if flag is not None:
        for d in dialects:
            if d.is_standard_flag(flag):
                return d
    return dialects[0]
