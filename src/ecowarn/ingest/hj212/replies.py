"""Packets we send: answers to loggers, and data uploads for simulators and benchmarks.

Answers follow HJ 212-2017 section 6: ``ST=91``, the request's ``QN``, ``PW``
and ``MN``, ``Flag`` with the version bits and no answer wanted, framed and
CRC'd like any packet.

- 9014 data ack (``CP=&&&&``) for an accepted data upload whose Flag asks for an
  answer; the gateway sends it only after the sink took the data.
- 9013 notice ack (``CP=&&&&``) for a notice (1013, a clock-setting request).
- 9011 request answer with ``QnRtn`` for anything else that asks for an answer,
  and for packets rejected with an answer wanted: 1 ready, 2 rejected, 3 wrong
  PW, 4 wrong MN, 5 wrong ST, 6 wrong Flag, 7 wrong QN, 8 wrong CN, 9 CRC
  error, 100 unknown error (:func:`qn_rtn_for` maps rejection reasons).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from enum import IntEnum

from ecowarn.ingest.hj212.dialect import HJ212_2017, Dialect
from ecowarn.ingest.hj212.errors import EncodeError
from ecowarn.ingest.hj212.framing import encode_packet
from ecowarn.ingest.hj212.mapping import CHINA_TZ, format_data_time
from ecowarn.ingest.hj212.segment import Packet, format_segment

__all__ = [
    "QnRtn",
    "build_data_packet",
    "data_ack",
    "new_qn",
    "notice_ack",
    "qn_rtn_for",
    "request_reply",
]


_UNSAFE = re.compile("[;&\r\n]")  # what format_segment refuses in a header value


class QnRtn(IntEnum):
    """Request answer codes (``QnRtn`` of CN 9011)."""

    READY = 1
    REJECTED = 2
    BAD_PW = 3
    BAD_MN = 4
    BAD_ST = 5
    BAD_FLAG = 6
    BAD_QN = 7
    BAD_CN = 8
    BAD_CRC = 9
    UNKNOWN = 100


_QN_RTN: Mapping[str, QnRtn] = {
    "bad_crc": QnRtn.BAD_CRC,
    "bad_password": QnRtn.BAD_PW,
    "unknown_device": QnRtn.BAD_MN,
    "kind_mismatch": QnRtn.BAD_MN,
    "nonstandard_mn": QnRtn.BAD_MN,
    "nonstandard_flag": QnRtn.BAD_FLAG,
    "unsupported_command": QnRtn.BAD_CN,
}


def qn_rtn_for(reason: str) -> QnRtn:
    """The QnRtn that tells a logger why its packet was rejected."""
    return _QN_RTN.get(reason, QnRtn.REJECTED)


def new_qn(now: datetime) -> str:
    """A request number: ``yyyyMMddHHmmsszzz`` in UTC+8."""
    if now.tzinfo is None:
        raise ValueError("QN needs an aware datetime (China is UTC+8)")
    local = now.astimezone(CHINA_TZ)
    return local.strftime("%Y%m%d%H%M%S") + f"{local.microsecond // 1000:03d}"


def _answer(packet: Packet, cn: str, dialect: Dialect, cp_text: str = "") -> bytes:
    """Answer header from the request's QN, PW and MN; ``cp_text`` is written as is."""
    header = packet.header
    qn, pw, mn = header.get("QN"), header.get("PW"), header.get("MN")
    if _UNSAFE.search(f"{qn}{pw}{mn}") is None:
        # The usual case, without format_segment's per-field checks (ST, CN, Flag
        # and cp_text come from the dialect and are safe by construction).
        return encode_packet(
            ("" if qn is None else f"QN={qn};") + f"ST={dialect.reply_st};CN={cn};"
            + ("" if pw is None else f"PW={pw};") + ("" if mn is None else f"MN={mn};")
            + f"Flag={dialect.reply_flag};CP=&&{cp_text}&&")
    return _answer_checked(packet, cn, dialect, cp_text)


def _answer_checked(packet: Packet, cn: str, dialect: Dialect, cp_text: str) -> bytes:
    """The general path: raises :class:`EncodeError` for a value that cannot be echoed."""
    cp = [tuple(kv.partition("=")[::2] for kv in item.split(","))
          for item in cp_text.split(";") if item]
    header: list[tuple[str, str]] = []
    if packet.qn is not None:
        header.append(("QN", packet.qn))
    header += [("ST", dialect.reply_st), ("CN", cn)]
    if packet.pw is not None:
        header.append(("PW", packet.pw))
    if packet.mn is not None:
        header.append(("MN", packet.mn))
    header.append(("Flag", str(dialect.reply_flag)))
    return encode_packet(format_segment(header, cp))


def data_ack(packet: Packet, dialect: Dialect = HJ212_2017) -> bytes:
    """The 9014 data ack of a data upload."""
    return _answer(packet, dialect.data_ack_cn, dialect)


def notice_ack(packet: Packet, dialect: Dialect = HJ212_2017) -> bytes:
    """The 9013 ack of a notice."""
    return _answer(packet, dialect.notice_ack_cn, dialect)


def request_reply(packet: Packet, qn_rtn: int, dialect: Dialect = HJ212_2017) -> bytes:
    """The 9011 answer to a request, with its QnRtn code."""
    return _answer(packet, dialect.request_reply_cn, dialect, f"QnRtn={int(qn_rtn)}")


def _number(metric: str, value: float | None) -> str:
    if value is None:
        return ""
    v = float(value)
    if not math.isfinite(v):
        raise EncodeError("bad_value", f"value of {metric} is {v}, not a finite number")
    return repr(v)  # shortest text that reads back as the same float


def build_data_packet(mn: str, pw: str, cn: str, data_time: datetime,
                      values: Mapping[str, float | None],
                      flags: Mapping[str, str] | None = None, *, qn: str | None = None,
                      st: str = "31", flag: int = 5,
                      dialect: Dialect = HJ212_2017) -> bytes:
    """A data upload as a logger sends it (for simulators, benchmarks and tests).

    ``values`` and ``flags`` are keyed by ecowarn metric (so2, nox...) and
    written with the dialect's codes; the value suffix follows ``cn`` (2011
    ``-Rtd``, 2051/2061/2031 ``-Avg``). ``data_time`` must be aware; it is
    written in UTC+8. ``None`` is written as an empty value. Raises
    :class:`EncodeError` (a ValueError) for unknown metrics, non-finite
    values, a CN without values or a segment too long for one packet.
    """
    suffix = dialect.row_commands.get(cn)
    if suffix is None:
        raise EncodeError("not_data", f"CN {cn!r} is not a data upload of {dialect.name}")
    flags = flags or {}
    for metric in flags:
        if metric not in values:
            raise EncodeError("bad_value", f"flag given for {metric!r}, which has no value")
    try:
        when = format_data_time(data_time)
    except ValueError as exc:
        raise EncodeError("bad_datatime", str(exc)) from exc
    items: list[tuple[tuple[str, str], ...]] = [(("DataTime", when),)]
    for metric, value in values.items():
        try:
            code = dialect.code_for(metric)
        except KeyError:
            raise EncodeError("unknown_metric",
                              f"{metric!r} has no {dialect.name} code") from None
        items.append(((f"{code}-{suffix}", _number(metric, value)),
                      (f"{code}-Flag", flags.get(metric, "N"))))
    header = [("QN", qn if qn is not None else new_qn(datetime.now(UTC))), ("ST", st),
              ("CN", cn), ("PW", pw), ("MN", mn), ("Flag", str(flag))]
    return encode_packet(format_segment(header, items))
