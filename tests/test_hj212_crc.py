"""The HJ 212-2017 Appendix A CRC."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from ecowarn.ingest.hj212 import crc16, crc16_hex, parse_crc_hex
from ecowarn.ingest.hj212.crc import crc16_bytewise

STANDARD_EXAMPLE = (b"QN=20160801085857223;ST=32;CN=1062;PW=100000;"
                    b"MN=010000A8900016F000169DC0;Flag=5;CP=&&RtdInterval=30&&")


def reference_crc(data: bytes) -> int:
    """Appendix A as written: byte into the register's shifted-down high half, 8 steps."""
    crc = 0xFFFF
    for byte in data:
        crc = (crc >> 8) ^ byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc


def modbus_crc(data: bytes) -> int:
    """CRC-16/MODBUS, the algorithm HJ 212 is often confused with."""
    crc = 0xFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc


def test_check_value_is_2f80_not_modbus() -> None:
    """b"123456789" gives 0x2F80 under Appendix A; MODBUS would give 0x4B37."""
    assert crc16(b"123456789") == 0x2F80
    assert modbus_crc(b"123456789") == 0x4B37
    assert crc16_hex(b"123456789") == "2F80"


def test_standard_example_prints_1c80() -> None:
    """The standard's example segment has CRC 1C80, printed high byte first."""
    assert crc16(STANDARD_EXAMPLE) == 0x1C80
    assert crc16_hex(STANDARD_EXAMPLE) == "1C80"


def test_empty_input_is_the_initial_value() -> None:
    """No bytes: the register keeps its initial 0xFFFF (there is no final XOR)."""
    assert crc16(b"") == 0xFFFF
    assert crc16_hex(b"") == "FFFF"


def test_hex_field_is_read_in_either_case() -> None:
    """CRC digits are accepted in upper or lower case; anything else is refused."""
    assert parse_crc_hex(b"1C80") == 0x1C80
    assert parse_crc_hex(b"1c80") == 0x1C80
    assert parse_crc_hex(b"1C8") is None
    assert parse_crc_hex(b"1C8G") is None
    assert parse_crc_hex(b" 1C8") is None


@given(st.binary(max_size=600))
def test_table_crc_matches_the_appendix_algorithm(data: bytes) -> None:
    """The table-driven CRC equals the bit-by-bit algorithm of Appendix A for any bytes."""
    assert crc16(data) == reference_crc(data)
    text = crc16_hex(data)
    assert len(text) == 4 and text == text.upper()
    assert parse_crc_hex(text.encode()) == crc16(data)
    assert parse_crc_hex(text.lower().encode()) == crc16(data)


@given(st.binary(min_size=590, max_size=10_011))
def test_lane_folding_matches_on_long_inputs(data: bytes) -> None:
    """The folded computation agrees with the byte-wise table for packets up to the largest."""
    assert crc16(data) == crc16_bytewise(data)


def test_lengths_around_the_fold_boundaries() -> None:
    """Every length from 0 to 300 (all eight lanes, several fold depths) and the largest segment."""
    data = bytes((i * 37 + 11) & 0xFF for i in range(10_011))
    for n in [*range(301), 9_999, 10_011]:
        assert crc16(data[:n]) == reference_crc(data[:n]), n
        assert crc16(bytearray(data[:n])) == crc16(memoryview(data[:n])) == crc16(data[:n])
