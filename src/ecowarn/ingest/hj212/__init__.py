"""HJ 212-2017 for ecowarn: CRC, framing, data segments, mapping to rows, answers, TCP gateway.

Modules, bottom-up: :mod:`~ingest.hj212.crc` (Appendix A CRC),
:mod:`~ingest.hj212.framing` (packets and the stream decoder),
:mod:`~ingest.hj212.segment` (``key=value`` grammar),
:mod:`~ingest.hj212.dialect` (what a protocol version defines: codes, commands),
:mod:`~ingest.hj212.mapping` (data uploads -> :class:`ingest.model.Row`),
:mod:`~ingest.hj212.replies` (answers and data packets we build),
:mod:`~ingest.hj212.gateway` (the asyncio TCP server) with
:mod:`~ingest.hj212.metrics`; errors in :mod:`~ingest.hj212.errors`.
"""

from ecowarn.ingest.hj212.crc import crc16, crc16_hex, parse_crc_hex
from ecowarn.ingest.hj212.dialect import (
    DIALECTS,
    HJ212_2017,
    Dialect,
    flag_needs_reply,
    flag_version,
    select_dialect,
)
from ecowarn.ingest.hj212.errors import EncodeError, Hj212Error, MappingError, PacketError, SegmentError
from ecowarn.ingest.hj212.framing import (
    MAX_PACKET_BYTES,
    MAX_SEGMENT_BYTES,
    Frame,
    FrameError,
    StreamDecoder,
    encode_packet,
)
from ecowarn.ingest.hj212.gateway import ConnectionStats, Hj212Gateway, Sink
from ecowarn.ingest.hj212.mapping import (
    CHINA_TZ,
    Mapped,
    Skipped,
    format_data_time,
    packet_to_rows,
    parse_data_time,
)
from ecowarn.ingest.hj212.metrics import Hj212Metrics
from ecowarn.ingest.hj212.replies import (
    QnRtn,
    build_data_packet,
    data_ack,
    new_qn,
    notice_ack,
    qn_rtn_for,
    request_reply,
)
from ecowarn.ingest.hj212.segment import HEADER_KEYS, Packet, format_segment, parse_segment

__all__ = [
    "CHINA_TZ",
    "DIALECTS",
    "HEADER_KEYS",
    "HJ212_2017",
    "MAX_PACKET_BYTES",
    "MAX_SEGMENT_BYTES",
    "ConnectionStats",
    "Dialect",
    "EncodeError",
    "Frame",
    "FrameError",
    "Hj212Error",
    "Hj212Gateway",
    "Hj212Metrics",
    "Mapped",
    "MappingError",
    "Packet",
    "PacketError",
    "QnRtn",
    "SegmentError",
    "Sink",
    "Skipped",
    "StreamDecoder",
    "build_data_packet",
    "crc16",
    "crc16_hex",
    "data_ack",
    "encode_packet",
    "flag_needs_reply",
    "flag_version",
    "format_data_time",
    "format_segment",
    "new_qn",
    "notice_ack",
    "packet_to_rows",
    "parse_crc_hex",
    "parse_data_time",
    "parse_segment",
    "qn_rtn_for",
    "request_reply",
    "select_dialect",
]
