"""What the gateway does with each decoded frame: check, map, answer. No I/O.

Per frame, in order: parse the data segment; in strict mode check Flag and MN;
drop answers (9xxx) silently; authenticate MN + PW against the registry; then
map data uploads to rows, acknowledge other uploads and notices, and reject
any other command. Each rejection keeps the raw packet; when the packet asked
for an answer and its header could be read, it also gets a 9011 whose QnRtn
says why. Data acks (9014) are queued and only sent after the sink returned.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from config.registry import Registry
from ingest.hj212.dialect import Dialect, flag_needs_reply, select_dialect
from ingest.hj212.errors import MappingError, SegmentError
from ingest.hj212.framing import Frame, FrameError
from ingest.hj212.mapping import packet_to_rows
from ingest.hj212.metrics import Hj212Metrics
from ingest.hj212.replies import data_ack, notice_ack, qn_rtn_for, request_reply
from ingest.hj212.segment import Packet, parse_segment
from ingest.model import Rejection, Row

log = logging.getLogger(__name__)

SOURCE = "hj212"
_MN_IN_RAW = re.compile(rb"MN=([^;&\r\n]{1,64})")
MAX_UNKNOWN_CODES_KEPT = 64


@dataclass(slots=True)
class Outcome:
    """What one read produced: rows and rejections for the sink, answers to send after."""

    rows: list[Row] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)
    replies: list[tuple[str, bytes]] = field(default_factory=list)  # (CN, packet)


@dataclass(slots=True)
class Counters:
    """Per-connection counts (mutable; snapshots are taken by the gateway)."""

    bytes_in: int = 0
    bytes_out: int = 0
    frames: int = 0
    accepted: int = 0
    rejected: int = 0
    ignored: int = 0
    rows: int = 0
    skipped_fields: int = 0
    replies: int = 0
    device_id: str | None = None
    unknown_codes: set[str] = field(default_factory=set)


class _Reject(Exception):
    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


class PacketHandler:
    """Turns decoder output into an :class:`Outcome` for one connection."""

    def __init__(self, registry: Registry, *, strict: bool, dialects: Sequence[Dialect],
                 metrics: Hj212Metrics, counters: Counters, peer: str) -> None:
        self._registry = registry
        self._strict = strict
        self._dialects = tuple(dialects)
        self._metrics = metrics
        self._counters = counters
        self._peer = peer

    def handle(self, item: Frame | FrameError, out: Outcome) -> None:
        self._counters.frames += 1
        if isinstance(item, FrameError):
            self._frame_error(item, out)
            return
        try:
            self._frame(item, out)
        except Exception as exc:  # a bug must not cost the connection; keep the packet
            log.exception("unexpected error handling a packet from %s", self._peer)
            self._rejected(out, "internal_error", f"{type(exc).__name__}: {exc}", item.raw,
                           None, None)

    # --- outcomes -------------------------------------------------------------------

    def _rejected(self, out: Outcome, reason: str, detail: str, raw: bytes,
                  packet: Packet | None, dialect: Dialect | None) -> None:
        device_id = packet.mn if packet is not None and packet.mn else self._mn_hint(raw)
        out.rejections.append(Rejection(source=SOURCE, reason=reason, detail=detail,
                                        payload=raw, device_id=device_id))
        self._counters.rejected += 1
        self._metrics.packets.labels("rejected").inc()
        self._metrics.rejections.labels(reason).inc()
        log.info("hj212 packet rejected (%s): %s", reason, detail,
                 extra={"device_id": device_id, "peer": self._peer})
        if packet is not None and dialect is not None and flag_needs_reply(packet.flag):
            out.replies.append((dialect.request_reply_cn,
                                request_reply(packet, qn_rtn_for(reason), dialect)))

    def _ignored(self) -> None:
        self._counters.ignored += 1
        self._metrics.packets.labels("ignored").inc()

    def _accepted(self) -> None:
        self._counters.accepted += 1
        self._metrics.packets.labels("accepted").inc()

    def _mn_hint(self, raw: bytes) -> str | None:
        """The MN in a broken packet, if it names a registered device."""
        m = _MN_IN_RAW.search(raw)
        if m is None:
            return None
        mn = m.group(1).decode("ascii", errors="replace")
        return mn if mn in self._registry.devices else None

    # --- framing errors -------------------------------------------------------------

    def _frame_error(self, err: FrameError, out: Outcome) -> None:
        packet: Packet | None = None
        dialect: Dialect | None = None
        if err.reason == "bad_crc" and err.raw_complete:
            # The header may still be readable: answer QnRtn=9 so the logger resends.
            try:
                packet = parse_segment(err.raw[6:-6], require_cp=False)
                dialect = select_dialect(packet.flag, self._dialects)
            except SegmentError:
                packet = None
        self._rejected(out, err.reason, err.detail, err.raw, packet, dialect)

    # --- good frames ----------------------------------------------------------------

    def _frame(self, frame: Frame, out: Outcome) -> None:
        try:
            packet = parse_segment(frame.segment, require_cp=self._strict)
        except SegmentError as exc:
            self._rejected(out, exc.reason, exc.detail, frame.raw, None, None)
            return
        dialect = select_dialect(packet.flag, self._dialects)
        try:
            self._check(packet, dialect)
        except _Reject as r:
            self._rejected(out, r.reason, r.detail, frame.raw, packet, dialect)
            return
        cn = packet.cn or ""
        if cn in dialect.reply_commands:
            self._ignored()  # an answer to a command we never send
            return
        try:
            self._authenticate(packet)
        except _Reject as r:
            self._rejected(out, r.reason, r.detail, frame.raw, packet, dialect)
            return
        self._counters.device_id = packet.mn
        wants_reply = flag_needs_reply(packet.flag)
        if cn in dialect.row_commands:
            try:
                mapped = packet_to_rows(packet, dialect, lenient=not self._strict)
            except MappingError as exc:
                self._rejected(out, exc.reason, exc.detail, frame.raw, packet, dialect)
                return
            out.rows.extend(mapped.rows)
            self._counters.rows += len(mapped.rows)
            self._metrics.rows.inc(len(mapped.rows))
            for s in mapped.skipped:
                self._metrics.skipped_fields.labels(s.reason).inc()
                if s.reason == "unknown_code" and \
                        len(self._counters.unknown_codes) < MAX_UNKNOWN_CODES_KEPT:
                    self._counters.unknown_codes.add(s.field)
            self._counters.skipped_fields += len(mapped.skipped)
            if mapped.unknown_codes:
                log.debug("hj212 unknown codes skipped: %s", ",".join(mapped.unknown_codes),
                          extra={"device_id": packet.mn, "peer": self._peer})
            self._accepted()
        elif cn in dialect.upload_commands:
            self._ignored()  # valid upload with nothing this service stores
        elif cn in dialect.notice_commands:
            self._ignored()
            if wants_reply:
                out.replies.append((dialect.notice_ack_cn, notice_ack(packet, dialect)))
            return
        else:
            self._rejected(out, "unsupported_command",
                           f"CN {cn!r} is not a command this platform accepts", frame.raw,
                           packet, dialect)
            return
        if wants_reply:
            out.replies.append((dialect.data_ack_cn, data_ack(packet, dialect)))

    def _check(self, packet: Packet, dialect: Dialect) -> None:
        """Strict mode: standard Flag and MN; both modes: CN present."""
        if self._strict:
            flag = packet.flag
            if flag is None or not dialect.is_standard_flag(flag):
                raise _Reject("nonstandard_flag",
                              f"Flag {packet.flag_text!r} is not a {dialect.name} Flag "
                              f"(version bits {dialect.version})")
            mn = packet.mn or ""
            if not dialect.mn_pattern.fullmatch(mn):
                raise _Reject("nonstandard_mn", f"MN {mn!r} is not 24 hex characters")
        if not packet.cn:
            raise _Reject("missing_field", "the data segment has no CN")

    def _authenticate(self, packet: Packet) -> None:
        mn = packet.mn
        if not mn:
            raise _Reject("unknown_device", "the data segment has no MN")
        device = self._registry.devices.get(mn)
        if device is None:
            raise _Reject("unknown_device", f"MN {mn!r} is not in the registry")
        if device.kind != "cems":
            raise _Reject("kind_mismatch",
                          f"MN {mn!r} is registered as a {device.kind} device, not cems")
        if device.password is not None and packet.pw != device.password:
            raise _Reject("bad_password", f"wrong PW for MN {mn!r}")
