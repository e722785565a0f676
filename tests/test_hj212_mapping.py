"""Data uploads to ecowarn rows, and the packets we build."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ecowarn.ingest.hj212 import (
    HJ212_2017,
    EncodeError,
    MappingError,
    QnRtn,
    StreamDecoder,
    build_data_packet,
    data_ack,
    encode_packet,
    new_qn,
    notice_ack,
    packet_to_rows,
    parse_data_time,
    parse_segment,
    request_reply,
)
from ecowarn.ingest.hj212.framing import Frame
from ecowarn.store.model import Row

MN = "13010500000001"
T0 = datetime(2026, 11, 23, 0, 0, tzinfo=UTC)  # 08:00 in China


def decode_one(packet: bytes) -> Frame:
    [item] = StreamDecoder().feed(packet)
    assert isinstance(item, Frame)
    return item


def rows_of(segment: str) -> tuple[Row, ...]:
    return packet_to_rows(parse_segment(segment), HJ212_2017).rows


def seg(cn: str, cp: str) -> str:
    return f"QN=20261123080000000;ST=31;CN={cn};PW=123456;MN={MN};Flag=5;CP=&&{cp}&&"


@pytest.mark.parametrize(("cn", "suffix"), [("2011", "Rtd"), ("2051", "Avg"), ("2061", "Avg"),
                                            ("2031", "Avg")])
def test_round_trip_of_each_data_command(cn: str, suffix: str) -> None:
    """build_data_packet -> framing -> parse -> rows gives back values, flags and time."""
    values: dict[str, float | None] = {"so2": 12.3, "nox": 40.1, "pm": 3.2, "co": 5.0,
                                       "o2": 8.9, "flow": 152.5, "temp": 120.0,
                                       "pressure": -0.35, "humidity": 7.5}
    flags = {"so2": "M", "nox": "C"}
    packet = build_data_packet(MN, "123456", cn, T0, values, flags)
    segment = decode_one(packet).segment.decode()
    assert f"a21026-{suffix}=12.3" in segment
    mapped = packet_to_rows(parse_segment(segment), HJ212_2017)
    assert mapped.skipped == ()
    assert {r.metric: (r.value, r.flag) for r in mapped.rows} == {
        m: (v, flags.get(m, "N")) for m, v in values.items()}
    assert all(r.device_id == MN and r.ts == T0 for r in mapped.rows)


def test_datatime_is_china_local_time() -> None:
    """DataTime 20261123080000 (UTC+8, interval start) is 2026-11-23T00:00:00Z."""
    [row] = rows_of(seg("2051", "DataTime=20261123080000;a21026-Avg=1,a21026-Flag=N"))
    assert row.ts == datetime(2026, 11, 23, 0, 0, tzinfo=UTC)
    assert row.ts.utcoffset() == timedelta(0)
    assert parse_data_time("20260101000000") == datetime(2025, 12, 31, 16, tzinfo=UTC)


@pytest.mark.parametrize("text", ["2026112308000", "20261323080000", "2026-11-23T08", ""])
def test_bad_datatime_rejects_the_packet(text: str) -> None:
    """A DataTime that is not a valid yyyyMMddHHmmss raises MappingError(bad_datatime)."""
    with pytest.raises(MappingError) as info:
        rows_of(seg("2011", f"DataTime={text};a21026-Rtd=1"))
    assert info.value.reason == "bad_datatime"


def test_missing_datatime_rejects_the_packet() -> None:
    """Without DataTime no value has a time: MappingError(missing_datatime)."""
    with pytest.raises(MappingError) as info:
        rows_of(seg("2011", "a21026-Rtd=1"))
    assert info.value.reason == "missing_datatime"


def test_primary_value_only_min_max_zs_are_skipped() -> None:
    """-Avg is stored; -Min/-Max/-ZsAvg/-Cou are reported as ignored_field, not stored."""
    mapped = packet_to_rows(parse_segment(seg(
        "2061", "DataTime=20261123080000;a21026-Min=1,a21026-Avg=2,a21026-Max=3,"
        "a21026-ZsAvg=2.5,a21026-Cou=0.4,a21026-Flag=N")), HJ212_2017)
    assert [(r.metric, r.value) for r in mapped.rows] == [("so2", 2.0)]
    assert {s.field for s in mapped.skipped} == {"a21026-Min", "a21026-Max", "a21026-ZsAvg",
                                                 "a21026-Cou"}
    assert {s.reason for s in mapped.skipped} == {"ignored_field"}


def test_rtd_is_not_taken_from_interval_data() -> None:
    """A 2051 upload stores -Avg; a lone -Rtd in it is ignored, not stored."""
    mapped = packet_to_rows(parse_segment(seg("2051", "DataTime=20261123080000;a21026-Rtd=1")),
                            HJ212_2017)
    assert mapped.rows == ()
    assert mapped.skipped[0].reason == "ignored_field"


def test_unknown_codes_are_skipped_and_recorded() -> None:
    """Unknown factors are skipped (not the packet) and listed in unknown_codes."""
    mapped = packet_to_rows(parse_segment(seg(
        "2011", "DataTime=20261123080000;w01018-Rtd=20,w01018-Flag=N;a21026-Rtd=5;"
        "a99999-Rtd=1")), HJ212_2017)
    assert [r.metric for r in mapped.rows] == ["so2"]
    assert mapped.unknown_codes == ("w01018", "a99999")


def test_legacy_2005_codes_are_mapped() -> None:
    """2005-era codes (01 smoke, 02 SO2, S01 O2, B02 flow...) become contract metrics."""
    rows = rows_of(seg("2011", "DataTime=20261123080000;01-Rtd=3,01-Flag=N;02-Rtd=12;"
                               "03-Rtd=40;S01-Rtd=9;B02-Rtd=150;S03-Rtd=110;S08-Rtd=-0.2"))
    assert {r.metric: r.value for r in rows} == {"pm": 3, "so2": 12, "nox": 40, "o2": 9,
                                                 "flow": 150, "temp": 110, "pressure": -0.2}


def test_same_metric_twice_keeps_the_first() -> None:
    """A metric sent under a 2017 and a 2005 code keeps the first; the second is reported."""
    mapped = packet_to_rows(parse_segment(seg(
        "2011", "DataTime=20261123080000;a21026-Rtd=5;02-Rtd=6")), HJ212_2017)
    assert [(r.metric, r.value) for r in mapped.rows] == [("so2", 5.0)]
    assert mapped.skipped[0].reason == "duplicate_metric"


@pytest.mark.parametrize("value", ["abc", "1_0", "nan", "inf", "1e400", "1.2.3"])
def test_bad_values_are_skipped(value: str) -> None:
    """Non-numbers and non-finite numbers are skipped as bad_value; others stay."""
    mapped = packet_to_rows(parse_segment(seg(
        "2011", f"DataTime=20261123080000;a21026-Rtd={value};a21002-Rtd=7")), HJ212_2017)
    assert [r.metric for r in mapped.rows] == ["nox"]
    assert mapped.skipped[0].reason == "bad_value"


def test_empty_value_is_stored_as_none() -> None:
    """An empty value means "no value this time": a row with value None."""
    [row] = rows_of(seg("2011", "DataTime=20261123080000;a21026-Rtd=,a21026-Flag=D"))
    assert row.value is None and row.flag == "D"


def test_value_flags() -> None:
    """-Flag gives the row's flag (default N); lower case only in lenient mode; unknown skipped."""
    text = seg("2011", "DataTime=20261123080000;a21026-Rtd=1,a21026-Flag=t;a21002-Rtd=2,"
                       "a21002-Flag=X;a34013-Rtd=3")
    lenient = packet_to_rows(parse_segment(text), HJ212_2017, lenient=True)
    assert {r.metric: r.flag for r in lenient.rows} == {"so2": "T", "pm": "N"}
    assert [(s.field, s.reason) for s in lenient.skipped] == [("a21002-Flag", "bad_value_flag")]
    strict = packet_to_rows(parse_segment(text), HJ212_2017, lenient=False)
    assert {r.metric for r in strict.rows} == {"pm"}


def test_non_data_command_is_not_mapped() -> None:
    """Commands without values (2041, 1062...) raise MappingError(not_data)."""
    with pytest.raises(MappingError) as info:
        rows_of(seg("2041", "DataTime=20261123080000"))
    assert info.value.reason == "not_data"


def test_data_ack_format() -> None:
    """9014: ST=91, same QN, PW and MN, Flag=4, empty CP, framed with a valid CRC."""
    request = parse_segment(seg("2011", "DataTime=20261123080000;a21026-Rtd=1"))
    ack = data_ack(request)
    frame = decode_one(ack)
    assert frame.segment.decode() == (
        f"QN=20261123080000000;ST=91;CN=9014;PW=123456;MN={MN};Flag=4;CP=&&&&")


def test_request_and_notice_replies() -> None:
    """9011 carries QnRtn; 9013 acknowledges a notice; both are valid packets."""
    request = parse_segment(f"QN=20261123080000001;ST=31;CN=1013;PW=1;MN={MN};Flag=5;CP=&&&&")
    reply = parse_segment(decode_one(request_reply(request, QnRtn.BAD_CRC)).segment)
    assert (reply.cn, reply.st, reply.qn, reply.flag, list(reply.cp_fields())) == (
        "9011", "91", "20261123080000001", 4, [("QnRtn", "9")])
    notice = parse_segment(decode_one(notice_ack(request)).segment)
    assert notice.cn == "9013" and notice.cp == ()


def test_qn_is_china_local_time_with_milliseconds() -> None:
    """A generated QN is yyyyMMddHHmmsszzz in UTC+8."""
    assert new_qn(datetime(2026, 11, 23, 0, 1, 2, 345678, tzinfo=UTC)) == "20261123080102345"
    with pytest.raises(ValueError):
        new_qn(datetime(2026, 11, 23))


def test_build_data_packet_refuses_bad_input() -> None:
    """Unknown metrics, non-finite values, naive times and non-data CNs raise EncodeError."""
    with pytest.raises(EncodeError):
        build_data_packet(MN, "1", "2011", T0, {"p": 1.0})
    with pytest.raises(EncodeError):
        build_data_packet(MN, "1", "2011", T0, {"so2": math.nan})
    with pytest.raises(EncodeError):
        build_data_packet(MN, "1", "2011", datetime(2026, 1, 1), {"so2": 1.0})
    with pytest.raises(EncodeError):
        build_data_packet(MN, "1", "1062", T0, {"so2": 1.0})
    with pytest.raises(ValueError):
        build_data_packet(MN, "1", "2011", T0, {"so2": 1.0}, {"nox": "N"})


def test_example_packet_of_the_brief() -> None:
    """The documented CP example maps to two rows at 00:01Z."""
    text = seg("2011", "DataTime=20261123080100;a21026-Rtd=12.3,a21026-Flag=N;"
                       "a21002-Avg=40.1,a21002-Flag=N")
    mapped = packet_to_rows(parse_segment(decode_one(encode_packet(text)).segment), HJ212_2017)
    assert [(r.metric, r.value) for r in mapped.rows] == [("so2", 12.3)]
    assert mapped.rows[0].ts == datetime(2026, 11, 23, 0, 1, tzinfo=UTC)


metrics = st.sampled_from(["so2", "nox", "pm", "co", "o2", "flow", "temp", "pressure",
                           "humidity"])
finite = st.floats(allow_nan=False, allow_infinity=False)
times = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2099, 12, 31),
                     timezones=st.sampled_from([UTC, timezone(timedelta(hours=8)),
                                                timezone(timedelta(hours=-5))]))


@given(st.sampled_from(["2011", "2051", "2061", "2031"]),
       st.dictionaries(metrics, st.none() | finite, min_size=1),
       st.data(), times)
def test_property_build_decode_map_round_trip(cn: str, values: dict[str, float | None],
                                              data: st.DataObject, when: datetime) -> None:
    """Any values, flags and time survive build -> frame -> parse -> rows (to the second)."""
    flags = {m: data.draw(st.sampled_from("NFMSDCTB")) for m in values}
    packet = build_data_packet(MN, "pw", cn, when, values, flags)
    mapped = packet_to_rows(parse_segment(decode_one(packet).segment), HJ212_2017)
    expected_ts = when.astimezone(UTC).replace(microsecond=0)
    assert {r.metric: (r.value, r.flag, r.ts) for r in mapped.rows} == {
        m: (None if v is None else float(v), flags[m], expected_ts) for m, v in values.items()}
