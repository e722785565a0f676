"""The CRC of HJ 212-2017 Appendix A.

Initial value 0xFFFF; for each byte ``crc = (crc >> 8) ^ byte``, then eight
times shift right, XOR-ing 0xA001 when the bit shifted out was 1; no final XOR.
The result is printed as four hex digits, most significant first
(``f"{crc:04X}"``): the standard's example segment gives ``1C80``.

This is *not* CRC-16/MODBUS (which XORs the byte into the low half of the
register): ``b"123456789"`` gives 0x2F80 here and 0x4B37 under MODBUS.
"""

from __future__ import annotations

__all__ = ["crc16", "crc16_hex", "parse_crc_hex"]


def _table() -> tuple[int, ...]:
    # crc16 only ever runs the 8-step inner loop on a value below 0x100 (the
    # high byte of the register is shifted out first), so it can be tabulated.
    out = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
        out.append(crc)
    return tuple(out)


_TABLE = _table()
_HEX = frozenset(b"0123456789abcdefABCDEF")


def crc16(data: bytes | bytearray | memoryview) -> int:
    """The Appendix A CRC of ``data``."""
    crc = 0xFFFF
    table = _TABLE
    for byte in bytes(data):
        # (crc >> 8) ^ byte is below 0x100: its 8 shift steps are the table.
        crc = table[(crc >> 8) ^ byte]
    return crc


def crc16_hex(data: bytes | bytearray | memoryview) -> str:
    """The CRC of ``data`` as the four uppercase hex digits a packet carries."""
    return f"{crc16(data):04X}"


def parse_crc_hex(text: bytes | bytearray | memoryview) -> int | None:
    """Four hex digits (either case) -> int; None if they are not four hex digits."""
    raw = bytes(text)
    if len(raw) != 4 or any(b not in _HEX for b in raw):
        return None
    return int(raw, 16)
