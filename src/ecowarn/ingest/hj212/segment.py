"""The data segment: ``QN=..;ST=..;CN=..;PW=..;MN=..;Flag=..;CP=&&...&&``.

Header fields are ``key=value`` separated by ``;``; ``CP`` comes last and holds,
between ``&&`` and ``&&``, items separated by ``;`` whose sub-values are
separated by ``,``::

    DataTime=20261123080100;a21026-Rtd=12.3,a21026-Flag=N;a21002-Avg=40.1,a21002-Flag=N

:func:`parse_segment` checks the grammar only; what the fields mean (codes,
commands, flags) belongs to a :class:`~ingest.hj212.dialect.Dialect`.
:func:`format_segment` is its inverse.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

from ecowarn.ingest.hj212.errors import EncodeError, SegmentError

__all__ = ["HEADER_KEYS", "Packet", "format_segment", "parse_segment"]

HEADER_KEYS = ("QN", "ST", "CN", "PW", "MN", "Flag", "PNUM", "PNO")
_CP_OPEN = "CP=&&"
_CP_CLOSE = "&&"

CpItem = tuple[tuple[str, str], ...]  # one ';' item: its ',' sub-values as (key, value)


@dataclass(frozen=True, slots=True)
class Packet:
    """A parsed data segment. Header values are kept as sent (strings)."""

    header: Mapping[str, str]  # every header field, standard or not, in order
    cp: tuple[CpItem, ...]
    has_cp: bool = True

    @property
    def qn(self) -> str | None:
        return self.header.get("QN")

    @property
    def st(self) -> str | None:
        return self.header.get("ST")

    @property
    def cn(self) -> str | None:
        return self.header.get("CN")

    @property
    def pw(self) -> str | None:
        return self.header.get("PW")

    @property
    def mn(self) -> str | None:
        return self.header.get("MN")

    @property
    def flag_text(self) -> str | None:
        return self.header.get("Flag")

    @property
    def flag(self) -> int | None:
        """``Flag`` as an integer; None when absent or not a decimal number."""
        return _int_or_none(self.header.get("Flag"))

    @property
    def pnum(self) -> int | None:
        return _int_or_none(self.header.get("PNUM"))

    @property
    def pno(self) -> int | None:
        return _int_or_none(self.header.get("PNO"))

    def cp_fields(self) -> Iterable[tuple[str, str]]:
        """Every CP ``key=value`` in order, items flattened."""
        for item in self.cp:
            yield from item


def _int_or_none(text: str | None) -> int | None:
    if text is None or not text.isascii() or not text.isdigit():
        return None
    return int(text)


def _pairs(text: str, sep: str, where: str) -> list[tuple[str, str]]:
    out = []
    for part in text.split(sep):
        if not part:
            continue  # tolerate doubled or trailing separators
        key, eq, value = part.partition("=")
        if not eq or not key:
            raise SegmentError("bad_segment", f"{where}: {part[:60]!r} is not key=value")
        out.append((key, value))
    return out


def parse_segment(segment: bytes | str, *, require_cp: bool = True) -> Packet:
    """Parse a data segment; raise :class:`SegmentError` (reason ``bad_segment``)."""
    if isinstance(segment, bytes):
        try:
            text = segment.decode("utf-8")
        except UnicodeDecodeError:
            # Chinese text in some uploads comes as GBK; the fields we use are ASCII.
            text = segment.decode("gb18030", errors="replace")
    else:
        text = segment
    cp_at = text.find(_CP_OPEN)
    if cp_at < 0:
        if require_cp:
            raise SegmentError("bad_segment", "no CP=&&...&& in the data segment")
        head_text, cp_text, has_cp = text, "", False
    else:
        head_text = text[:cp_at]
        if not text.endswith(_CP_CLOSE, cp_at + len(_CP_OPEN)):
            raise SegmentError("bad_segment", "CP does not end with && at the end of the segment")
        cp_text, has_cp = text[cp_at + len(_CP_OPEN):-len(_CP_CLOSE)], True
        if head_text and not head_text.endswith(";"):
            raise SegmentError("bad_segment", "CP= is not preceded by ';'")
    header: dict[str, str] = {}
    twice: str | None = None
    for part in head_text.split(";"):
        if not part:
            continue  # tolerate doubled or trailing separators
        key, eq, value = part.partition("=")
        if not eq or not key:
            raise SegmentError("bad_segment", f"header: {part[:60]!r} is not key=value")
        if key in header:
            twice = twice or key  # reported once every item is known to be key=value
            continue
        header[key] = value
    if twice is not None:
        raise SegmentError("bad_segment", f"header field {twice} appears twice")
    cp: list[CpItem] = []
    if cp_text:
        for item in cp_text.split(";"):
            if not item:
                continue
            if "," not in item:
                key, eq, value = item.partition("=")
                if not eq or not key:
                    raise SegmentError("bad_segment", f"CP: {item[:60]!r} is not key=value")
                cp.append(((key, value),))
            else:
                pairs = _pairs(item, ",", "CP")
                if pairs:
                    cp.append(tuple(pairs))
    return Packet(header=MappingProxyType(header), cp=tuple(cp), has_cp=has_cp)


def format_segment(header: Sequence[tuple[str, str]] | Mapping[str, str],
                   cp: Iterable[Iterable[tuple[str, str]]] = ()) -> str:
    """Build a data segment from header fields (in order) and CP items.

    Raises :class:`EncodeError` for a key or value that would change the
    segment's structure (separators, ``&``, CR/LF).
    """
    pairs = list(header.items()) if isinstance(header, Mapping) else list(header)
    for key, value in pairs:
        if key == "CP":
            raise EncodeError("bad_segment", "CP is written from the cp argument")
        _check(key, value, _HEADER_FORBIDDEN)
    head = "".join(f"{k}={v};" for k, v in pairs)
    items = []
    for item in cp:
        subs = []
        for key, value in item:
            _check(key, value, _CP_FORBIDDEN)
            subs.append(f"{key}={value}")
        items.append(",".join(subs))
    return f"{head}{_CP_OPEN}{';'.join(items)}{_CP_CLOSE}"


_HEADER_FORBIDDEN = re.compile("[;&\r\n]")
_CP_FORBIDDEN = re.compile("[;,&\r\n]")


def _check(key: str, value: str, forbidden: re.Pattern[str]) -> None:
    if not key or "=" in key or forbidden.search(key) or forbidden.search(value):
        raise EncodeError("bad_segment", f"{key}={value!r} cannot be written into a segment")
