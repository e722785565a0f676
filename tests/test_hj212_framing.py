"""Packet framing and the streaming decoder."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ecowarn.ingest.hj212 import (
    MAX_PACKET_BYTES,
    EncodeError,
    Frame,
    FrameError,
    StreamDecoder,
    encode_packet,
)

SEGMENT = ("QN=20160801085857223;ST=32;CN=1062;PW=100000;MN=010000A8900016F000169DC0;"
           "Flag=5;CP=&&RtdInterval=30&&")
PACKET = encode_packet(SEGMENT)
OTHER = encode_packet("QN=20261123080100000;ST=31;CN=2011;PW=123456;MN=13010500000001;"
                      "Flag=5;CP=&&DataTime=20261123080100;a21026-Rtd=12.3,a21026-Flag=N&&")


def frames(items: list[Frame | FrameError]) -> list[Frame]:
    return [i for i in items if isinstance(i, Frame)]


def errors(items: list[Frame | FrameError]) -> list[FrameError]:
    return [i for i in items if isinstance(i, FrameError)]


def test_encode_matches_the_standard_example() -> None:
    """A packet is ## + 4-digit segment length + segment + CRC (uppercase hex) + CRLF."""
    assert PACKET == b"##0101" + SEGMENT.encode() + b"1C80\r\n"


def test_encode_refuses_a_segment_longer_than_the_length_field() -> None:
    """Four digits hold at most 9999 bytes; longer segments raise EncodeError."""
    encode_packet("x" * 9999)
    with pytest.raises(EncodeError) as info:
        encode_packet("x" * 10000)
    assert info.value.reason == "segment_too_long"
    with pytest.raises(ValueError):
        encode_packet("QN=1\r\n")


def test_one_packet_decodes_to_one_frame() -> None:
    """A whole packet in one read gives its segment and raw bytes, nothing buffered."""
    dec = StreamDecoder()
    assert dec.feed(PACKET) == [Frame(SEGMENT.encode(), PACKET)]
    assert dec.buffered_bytes == 0
    assert dec.close() == []


def test_lowercase_crc_is_accepted() -> None:
    """The CRC field may be written in lower-case hex."""
    packet = PACKET.replace(b"1C80", b"1c80")
    assert frames(StreamDecoder().feed(packet)) == [Frame(SEGMENT.encode(), packet)]


def test_packet_split_at_every_byte_boundary() -> None:
    """Wherever a read boundary falls (even inside ## or CRLF), the frame comes out once."""
    stream = PACKET + OTHER
    for cut in range(1, len(stream)):
        dec = StreamDecoder()
        out = dec.feed(stream[:cut]) + dec.feed(stream[cut:])
        assert out == [Frame(PACKET[6:-6], PACKET), Frame(OTHER[6:-6], OTHER)], cut
        assert dec.close() == []


def test_byte_by_byte_feed() -> None:
    """Feeding one byte at a time works like one big read."""
    dec = StreamDecoder()
    out: list[Frame | FrameError] = []
    for b in PACKET * 3:
        out += dec.feed(bytes([b]))
    assert out == [Frame(PACKET[6:-6], PACKET)] * 3


def test_several_packets_in_one_read() -> None:
    """Many packets in one read come out in order."""
    out = StreamDecoder().feed(PACKET + OTHER + PACKET)
    assert [f.raw for f in frames(out)] == [PACKET, OTHER, PACKET]
    assert errors(out) == []


def test_garbage_between_packets_is_reported_and_skipped() -> None:
    """Bytes outside packets become one garbage error each run; packets around survive."""
    dec = StreamDecoder()
    out = dec.feed(b"\x00junk" + PACKET + b"#noise#" + OTHER)
    assert [type(i).__name__ for i in out] == ["FrameError", "Frame", "FrameError", "Frame"]
    first, second = errors(out)
    assert (first.reason, first.raw, first.size) == ("garbage", b"\x00junk", 5)
    assert (second.reason, second.raw) == ("garbage", b"#noise#")


def test_run_of_hashes_before_a_packet() -> None:
    """Extra '#' before ## are garbage; the packet starts at the last two."""
    out = StreamDecoder().feed(b"####" + PACKET)
    assert errors(out)[0].raw == b"####"
    assert frames(out) == [Frame(PACKET[6:-6], PACKET)]


def test_wrong_crc_is_an_error_and_the_next_packet_decodes() -> None:
    """A CRC mismatch gives bad_crc with the whole packet; decoding continues."""
    bad = PACKET.replace(b"1C80", b"1C81")
    dec = StreamDecoder()
    out = dec.feed(bad + OTHER)
    assert [type(i) for i in out] == [FrameError, Frame]
    err = errors(out)[0]
    assert err.reason == "bad_crc" and err.raw == bad and err.raw_complete
    assert "1C81" in err.detail and "1C80" in err.detail


def test_non_hex_crc_is_bad_crc() -> None:
    """A CRC field that is not four hex digits is bad_crc."""
    out = StreamDecoder().feed(PACKET.replace(b"1C80", b"1CZ0"))
    assert errors(out)[0].reason == "bad_crc"


@pytest.mark.parametrize("declared", [b"0100", b"0102", b"0050", b"9999"])
def test_wrong_length_is_an_error_and_the_next_packet_decodes(declared: bytes) -> None:
    """A length field that does not match where CRLF is gives bad_length; decoding goes on."""
    bad = b"##" + declared + PACKET[6:]
    dec = StreamDecoder()
    out = dec.feed(bad + OTHER)
    assert errors(out)[0].reason == "bad_length"
    assert errors(out)[0].raw == bad
    assert "CRC matches" in errors(out)[0].detail
    assert frames(out) == [Frame(OTHER[6:-6], OTHER)]


def test_wrong_length_is_reported_without_waiting_for_more_bytes() -> None:
    """A too-large length is judged as soon as the packet's CRLF is seen."""
    out = StreamDecoder().feed(b"##0500" + PACKET[6:])
    assert [e.reason for e in errors(out)] == ["bad_length"]


def test_non_digit_length_is_bad_length() -> None:
    """A length field that is not four digits is bad_length; what follows is resynced."""
    dec = StreamDecoder()
    out = dec.feed(b"##01x1" + PACKET[6:] + OTHER)
    assert errors(out)[0].reason == "bad_length"
    assert errors(out)[0].raw.startswith(b"##01x1")
    assert frames(out) == [Frame(OTHER[6:-6], OTHER)]


def test_truncated_packet_followed_by_a_good_one() -> None:
    """A packet cut short by the next ## is truncated; the next one decodes."""
    dec = StreamDecoder()
    out = dec.feed(PACKET[:40] + OTHER)
    assert [type(i) for i in out] == [FrameError, Frame]
    assert errors(out)[0].reason == "truncated" and errors(out)[0].raw == PACKET[:40]


def test_truncated_packet_at_end_of_stream() -> None:
    """A half packet when the stream ends is reported by close() with its bytes."""
    dec = StreamDecoder()
    assert dec.feed(PACKET[:-3]) == []
    assert dec.buffered_bytes == len(PACKET) - 3
    [err] = dec.close()
    assert isinstance(err, FrameError)
    assert err.reason == "truncated" and err.raw == PACKET[:-3]
    assert dec.buffered_bytes == 0


def test_missing_crlf_is_bad_frame_within_the_largest_packet() -> None:
    """No CRLF within the largest possible packet: bad_frame, and the buffer is dropped."""
    dec = StreamDecoder()
    out = dec.feed(b"##0010" + b"x" * (MAX_PACKET_BYTES + 100))
    out += dec.feed(PACKET)
    assert errors(out)[0].reason == "bad_frame"
    assert frames(out) == [Frame(PACKET[6:-6], PACKET)]
    assert dec.buffered_bytes == 0


def test_ten_megabytes_without_a_packet_start_stays_bounded() -> None:
    """10 MB with no ## is reported with bounded raw bytes; memory does not grow."""
    dec = StreamDecoder(max_raw_bytes=256)
    chunk = b"A" * 65536
    out: list[Frame | FrameError] = []
    for _ in range(160):  # 10 MiB
        out += dec.feed(chunk)
        assert dec.buffered_bytes <= 1
    out += dec.feed(PACKET)
    errs = errors(out)
    assert sum(e.size for e in errs) == 160 * 65536
    assert all(e.reason == "garbage" and len(e.raw) <= 256 for e in errs)
    assert len(errs) == 10  # one report per MiB run
    assert frames(out) == [Frame(PACKET[6:-6], PACKET)]


def test_ten_megabytes_in_a_single_read_stays_bounded() -> None:
    """One 10 MB read is processed in slices: the buffer stays small."""
    dec = StreamDecoder(max_raw_bytes=128)
    out = dec.feed(b"\xff" * (10 << 20) + PACKET)
    assert dec.buffered_bytes == 0
    assert sum(e.size for e in errors(out)) == 10 << 20
    assert frames(out) == [Frame(PACKET[6:-6], PACKET)]


def test_pending_garbage_is_reported_at_close() -> None:
    """Garbage still pending when the stream ends is reported by close()."""
    dec = StreamDecoder()
    assert dec.feed(b"hello") == []
    [err] = dec.close()
    assert isinstance(err, FrameError)
    assert (err.reason, err.raw) == ("garbage", b"hello")


segments = st.text(
    alphabet=st.characters(min_codepoint=32, max_codepoint=126, exclude_characters="#"),
    max_size=300)


@settings(max_examples=200)
@given(st.lists(segments, min_size=1, max_size=5), st.data())
def test_property_any_segments_any_split(segs: list[str], data: st.DataObject) -> None:
    """Encoded segments, cut into reads anywhere, decode back to the same segments."""
    stream = b"".join(encode_packet(s) for s in segs)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=8)))
    dec = StreamDecoder()
    out: list[Frame | FrameError] = []
    prev = 0
    for cut in [*cuts, len(stream)]:
        out += dec.feed(stream[prev:cut])
        prev = cut
    out += dec.close()
    assert errors(out) == []
    assert [f.segment.decode() for f in frames(out)] == segs


@settings(max_examples=200)
@given(st.binary(max_size=400), st.binary(max_size=400))
def test_property_decoder_survives_noise(before: bytes, after: bytes) -> None:
    """Arbitrary bytes around a packet never raise, and every byte is accounted for."""
    noise_free = before.replace(b"#", b"") + b"\r\n"
    dec = StreamDecoder()
    out = dec.feed(noise_free + PACKET + after)
    out += dec.close()
    assert Frame(PACKET[6:-6], PACKET) in out
    accounted = sum(e.size for e in errors(out)) + sum(len(f.raw) for f in frames(out))
    assert accounted == len(noise_free + PACKET + after)
