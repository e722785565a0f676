"""The data segment grammar and protocol dialects."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ecowarn.ingest.hj212 import (
    HJ212_2017,
    EncodeError,
    SegmentError,
    flag_needs_reply,
    format_segment,
    parse_segment,
    select_dialect,
)

EXAMPLE = ("QN=20261123080100123;ST=31;CN=2011;PW=123456;MN=13010500000001;Flag=5;PNUM=2;PNO=1;"
           "CP=&&DataTime=20261123080100;a21026-Rtd=12.3,a21026-Flag=N;"
           "a21002-Avg=40.1,a21002-Flag=N&&")


def test_header_fields_and_cp_items() -> None:
    """Header fields are split on ';', CP items on ';' and sub-values on ','."""
    p = parse_segment(EXAMPLE.encode())
    assert (p.qn, p.st, p.cn, p.pw, p.mn, p.flag, p.pnum, p.pno) == (
        "20261123080100123", "31", "2011", "123456", "13010500000001", 5, 2, 1)
    assert p.cp == (
        (("DataTime", "20261123080100"),),
        (("a21026-Rtd", "12.3"), ("a21026-Flag", "N")),
        (("a21002-Avg", "40.1"), ("a21002-Flag", "N")),
    )
    assert list(p.cp_fields())[1] == ("a21026-Rtd", "12.3")


def test_empty_cp_and_missing_optional_fields() -> None:
    """CP=&&&& is an empty CP; absent header fields read as None."""
    p = parse_segment("QN=1;ST=91;CN=9014;Flag=4;CP=&&&&")
    assert p.cp == () and p.pw is None and p.mn is None and p.pnum is None


def test_non_numeric_flag_reads_as_none() -> None:
    """A Flag that is not a decimal number is kept as text but has no integer value."""
    p = parse_segment("CN=2011;Flag=A;CP=&&&&")
    assert p.flag is None and p.flag_text == "A"


@pytest.mark.parametrize("segment", [
    "QN=1;ST=31;CN=2011",                 # no CP
    "QN=1;CN=2011;CP=&&DataTime=1",       # CP not closed
    "QN=1;CN=2011CP=&&&&",                # no ';' before CP
    "QN=1;QN=2;CP=&&&&",                  # duplicate header field
    "QN=1;garbage;CP=&&&&",               # header item without '='
    "QN=1;CP=&&DataTime=1;novalue&&",     # CP item without '='
])
def test_malformed_segments_raise_segment_error(segment: str) -> None:
    """Grammar errors raise SegmentError with reason bad_segment."""
    with pytest.raises(SegmentError) as info:
        parse_segment(segment)
    assert info.value.reason == "bad_segment"


def test_missing_cp_is_tolerated_when_not_required() -> None:
    """Lenient parsing accepts a segment without CP (old firmware, heartbeats)."""
    p = parse_segment("QN=1;ST=31;CN=2011", require_cp=False)
    assert p.cn == "2011" and not p.has_cp and p.cp == ()


def test_non_utf8_bytes_do_not_raise() -> None:
    """GBK text in a value is decoded without failing the packet."""
    p = parse_segment(b"CN=3020;CP=&&i11001-Info=" + "运行".encode("gbk") + b"&&")
    assert p.cn == "3020"


def test_format_refuses_separators_in_values() -> None:
    """A value holding ';', ',' or '&' would change the structure: EncodeError."""
    with pytest.raises(EncodeError):
        format_segment([("QN", "1;2")])
    with pytest.raises(EncodeError):
        format_segment([("QN", "1")], [[("a21026-Rtd", "1,2")]])
    with pytest.raises(EncodeError):
        format_segment([("CP", "x")])


def test_flag_bits() -> None:
    """Flag bit A asks for an answer; 2017 packets carry version bits 1 (Flag 4..7)."""
    assert flag_needs_reply(5) and flag_needs_reply(7)
    assert not flag_needs_reply(4) and not flag_needs_reply(None)
    assert all(HJ212_2017.is_standard_flag(f) for f in (4, 5, 6, 7))
    assert not any(HJ212_2017.is_standard_flag(f) for f in (0, 1, 8, 9, 256))
    assert HJ212_2017.reply_flag == 4


def test_dialect_selection_falls_back_to_the_first() -> None:
    """A packet without a known version's Flag is read with the first dialect."""
    assert select_dialect(5) is HJ212_2017
    assert select_dialect(None) is HJ212_2017
    assert select_dialect(1) is HJ212_2017


def test_code_tables() -> None:
    """2017 codes and the 2005 codes devices still send map to contract metrics."""
    d = HJ212_2017
    assert {c: d.metric_for(c) for c in ("a34013", "a21026", "a21002", "a21005", "a19001",
                                          "a00000", "a01012", "a01013", "a01014")} == {
        "a34013": "pm", "a21026": "so2", "a21002": "nox", "a21005": "co", "a19001": "o2",
        "a00000": "flow", "a01012": "temp", "a01013": "pressure", "a01014": "humidity"}
    assert {c: d.metric_for(c) for c in ("01", "02", "03", "04", "S01", "B02", "S03", "S05",
                                          "S08")} == {
        "01": "pm", "02": "so2", "03": "nox", "04": "co", "S01": "o2", "B02": "flow",
        "S03": "temp", "S05": "humidity", "S08": "pressure"}
    assert d.metric_for("S02") is None  # flue gas velocity, not flow
    assert d.code_for("so2") == "a21026"


keys = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_",
               min_size=1, max_size=12)
values = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126,
                                        exclude_characters=";,&="), max_size=20)


@given(st.dictionaries(keys.filter(lambda k: k != "CP"), values, max_size=8),
       st.lists(st.lists(st.tuples(keys, values), min_size=1, max_size=4), max_size=6))
def test_property_format_then_parse_round_trips(header: dict[str, str],
                                                cp: list[list[tuple[str, str]]]) -> None:
    """Any header and CP written by format_segment parse back to the same fields."""
    text = format_segment(header, cp)
    p = parse_segment(text)
    assert dict(p.header) == header
    assert [list(item) for item in p.cp] == cp
