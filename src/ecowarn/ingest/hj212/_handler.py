"""What the gateway does with each decoded frame: check, map, answer. No I/O.

Per frame, in order: parse the data segment; in strict mode check Flag and MN;
drop answers (9xxx) silently; authenticate MN + PW against the registry; then
map data uploads to rows, acknowledge other uploads and notices, and reject
any other command. Each rejection keeps the raw packet; when the packet asked
for an answer and its header could be read, it also gets a 9011 whose QnRtn
says why. Data acks (9014) are queued and only sent after the sink returned.

A data upload split over several packets (``PNUM``/``PNO``) is reassembled by
the gateway's :class:`~ingest.hj212._split.SplitAssembler`, shared by all
connections (parts may come over different ones): each part is
checked and authenticated on its own and acknowledged when it asked for it;
the rows come from the union of the parts once the last one arrived. An
upload that does not complete in time is dead-lettered with its raw parts
(``incomplete_split_packet``); conflicting parts are dead-lettered as
``conflicting_split_packet``, a PNUM/PNO that cannot be used as
``bad_split_header``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from ecowarn.config.registry import Registry
from ecowarn.ingest.hj212._split import Abandoned, Complete, SplitAssembler, merge_parts
from ecowarn.ingest.hj212.dialect import FLAG_A, FLAG_D, Dialect, select_dialect
from ecowarn.ingest.hj212.errors import MappingError, SegmentError
from ecowarn.ingest.hj212.framing import Frame, FrameError
from ecowarn.ingest.hj212.mapping import Mapped, Route, packet_to_rows
from ecowarn.ingest.hj212.metrics import Hj212Metrics
from ecowarn.ingest.hj212.replies import data_ack, notice_ack, qn_rtn_for, request_reply
from ecowarn.ingest.hj212.segment import Packet, parse_segment
from ecowarn.store.model import Rejection, Row

log = logging.getLogger(__name__)

SOURCE = "hj212"
_MN_IN_RAW = re.compile(rb"MN=([^;&\r\n]{1,64})")
MAX_UNKNOWN_CODES_KEPT = 64
MAX_SPLIT_PARTS = 64  # a larger PNUM is refused (bad_split_header)


@dataclass(slots=True)
class Outcome:
    """What one read produced: rows and rejections for the sink, answers to send after."""

    rows: list[Row] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)
    replies: list[tuple[str, bytes]] = field(default_factory=list)  # (CN, packet)
    accepted: int = 0  # packets accepted, for the metrics (counted once per read)
    # Split uploads completed by this read: SplitAssembler.stored once the sink took them,
    # SplitAssembler.restore if it failed.
    completed: list[Complete] = field(default_factory=list)


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
    """Turns decoder output into an :class:`Outcome`: for one connection, for the gateway's
    own dead-lettering of split uploads, or for a replay."""

    def __init__(self, registry: Registry, *, strict: bool, dialects: Sequence[Dialect],
                 metrics: Hj212Metrics, counters: Counters, peer: str,
                 splits: SplitAssembler) -> None:
        self._registry = registry
        self._strict = strict
        self._lenient = not strict
        self._dialects = tuple(dialects)
        self._metrics = metrics
        self._counters = counters
        self._peer = peer
        self._splits = splits  # shared by the gateway's connections
        self._routes: dict[tuple[str, str], Route] = {}

    def _route(self, mn: str, dialect: Dialect) -> Route:
        """Where this MN's factor codes go (the registry does not change while we run)."""
        key = (mn, dialect.name)
        route = self._routes.get(key)
        if route is None:
            route = self._routes[key] = Route.for_devices(self._registry.devices_by_mn(mn), dialect)
        return route

    def count(self, out: Outcome) -> None:
        """Add what ``out`` holds to the metrics (once per read rather than per packet)."""
        if out.accepted:
            self._metrics.accepted.inc(out.accepted)
        if out.rows:
            self._metrics.rows.inc(len(out.rows))

    def handle(self, item: Frame | FrameError, out: Outcome, now: float) -> None:
        """Handle one decoder item; ``now`` is monotonic seconds (split upload timeouts).

        Call :meth:`count` once the items of a read are handled.
        """
        self._counters.frames += 1
        if isinstance(item, FrameError):
            self._frame_error(item, out)
            return
        try:
            self._frame(item, out, now)
        except Exception as exc:  # a bug must not cost the connection; keep the packet
            log.exception("unexpected error handling a packet from %s", self._peer)
            self._rejected(out, "internal_error", f"{type(exc).__name__}: {exc}", item.raw,
                           None, None)

    def expire(self, now: float, out: Outcome) -> None:
        """Dead-letter the split uploads whose time is up."""
        if self._splits.pending_uploads:
            for ab in self._splits.expire(now):
                self._abandoned(ab, out)
            self._report_pending()

    def abandon_splits(self, why: str, out: Outcome) -> None:
        """Dead-letter every incomplete split upload (the gateway shuts down, a replay ends)."""
        if self._splits.pending_uploads:
            for ab in self._splits.abandon_all(why):
                self._abandoned(ab, out)
            self._report_pending()

    def _report_pending(self) -> None:
        self._metrics.split_pending.set(self._splits.pending_uploads)

    # --- outcomes -------------------------------------------------------------------

    def _rejected(self, out: Outcome, reason: str, detail: str, raw: bytes,
                  packet: Packet | None, dialect: Dialect | None) -> None:
        device_id = packet.mn if packet is not None and packet.mn else self._mn_hint(raw)
        out.rejections.append(Rejection(source=SOURCE, reason=reason, detail=detail,
                                        payload=raw, device_id=device_id))
        self._counters.rejected += 1
        self._metrics.rejected.inc()
        self._metrics.rejections.labels(reason).inc()
        log.info("hj212 packet rejected (%s): %s", reason, detail,
                 extra={"device_id": device_id, "peer": self._peer})
        if packet is not None and dialect is not None and _wants_reply(packet):
            out.replies.append((dialect.request_reply_cn,
                                request_reply(packet, qn_rtn_for(reason), dialect)))

    def _ignored(self) -> None:
        self._counters.ignored += 1
        self._metrics.ignored.inc()

    def _accepted(self, out: Outcome) -> None:
        self._counters.accepted += 1
        out.accepted += 1

    def _abandoned(self, ab: Abandoned, out: Outcome) -> None:
        """An incomplete split upload: its parts go to the dead letters together."""
        mn = ab.key[0]
        out.rejections.append(Rejection(source=SOURCE, reason="incomplete_split_packet",
                                        detail=ab.detail, payload=ab.raw, device_id=mn))
        self._metrics.rejections.labels("incomplete_split_packet").inc()
        self._metrics.split_uploads.labels("incomplete").inc()
        log.info("hj212 split upload incomplete: %s", ab.detail,
                 extra={"device_id": mn, "peer": self._peer})

    def _mn_hint(self, raw: bytes) -> str | None:
        """The MN in a broken packet, if it names a registered device."""
        m = _MN_IN_RAW.search(raw)
        if m is None:
            return None
        mn = m.group(1).decode("ascii", errors="replace")
        return mn if self._registry.by_mn(mn) is not None else None

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

    def _frame(self, frame: Frame, out: Outcome, now: float) -> None:
        try:
            packet = parse_segment(frame.segment, require_cp=self._strict)
        except SegmentError as exc:
            self._rejected(out, exc.reason, exc.detail, frame.raw, None, None)
            return
        flag = packet.flag
        dialect = select_dialect(flag, self._dialects)
        try:
            self._check(packet, dialect)
        except _Reject as r:
            self._rejected(out, r.reason, r.detail, frame.raw, packet, dialect)
            return
        cn = packet.header.get("CN") or ""
        if cn in dialect.reply_commands:
            self._ignored()  # an answer to a command we never send
            return
        try:
            self._authenticate(packet)
        except _Reject as r:
            self._rejected(out, r.reason, r.detail, frame.raw, packet, dialect)
            return
        self._counters.device_id = packet.mn
        wants_reply = flag is not None and bool(flag & FLAG_A)
        route = self._route(packet.mn or "", dialect)
        if cn in dialect.row_commands or (route.run_states and cn in dialect.state_commands):
            header = packet.header
            if "PNUM" in header or "PNO" in header or (self._strict and flag is not None
                                                       and flag & FLAG_D):
                try:
                    pnum, pno = self._split_header(packet)
                except _Reject as r:
                    self._rejected(out, r.reason, r.detail, frame.raw, packet, dialect)
                    return
                if pnum > 1:
                    self._split_part(packet, frame.raw, pnum, pno, dialect, out, now)
                    return
            try:
                mapped = packet_to_rows(packet, dialect, lenient=self._lenient, route=route)
            except MappingError as exc:
                self._rejected(out, exc.reason, exc.detail, frame.raw, packet, dialect)
                return
            self._store(mapped, packet, out)
            self._accepted(out)
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

    def _store(self, mapped: Mapped, packet: Packet, out: Outcome) -> None:
        rows = mapped.rows
        out.rows.extend(rows)
        self._counters.rows += len(rows)
        if mapped.skipped:
            for s in mapped.skipped:
                self._metrics.skipped_fields.labels(s.reason).inc()
                if s.reason == "unknown_code" and \
                        len(self._counters.unknown_codes) < MAX_UNKNOWN_CODES_KEPT:
                    self._counters.unknown_codes.add(s.field)
            self._counters.skipped_fields += len(mapped.skipped)
            if mapped.unknown_codes:
                log.debug("hj212 unknown codes skipped: %s", ",".join(mapped.unknown_codes),
                          extra={"device_id": packet.mn, "peer": self._peer})

    # --- split uploads --------------------------------------------------------------

    def _split_header(self, packet: Packet) -> tuple[int, int]:
        """(PNUM, PNO) of a data upload that carries them; raise _Reject if unusable."""
        pnum, pno = packet.pnum, packet.pno
        if pnum is None or pno is None:
            raise _Reject("bad_split_header",
                          f"PNUM={packet.header.get('PNUM')!r} and PNO={packet.header.get('PNO')!r} "
                          "must both be decimal numbers")
        if not 1 <= pno <= pnum:
            raise _Reject("bad_split_header", f"PNO {pno} is not between 1 and PNUM {pnum}")
        if pnum > MAX_SPLIT_PARTS:
            raise _Reject("bad_split_header",
                          f"PNUM {pnum} is more than the {MAX_SPLIT_PARTS} parts accepted")
        if self._strict:
            flag = packet.flag or 0
            if not flag & FLAG_D:
                raise _Reject("bad_split_header",
                              f"PNUM/PNO given but Flag {packet.flag_text!r} has no split bit (D)")
        return pnum, pno

    def _split_part(self, packet: Packet, raw: bytes, pnum: int, pno: int, dialect: Dialect,
                    out: Outcome, now: float) -> None:
        mn = packet.mn or ""
        key = (mn, packet.qn or "", packet.cn or "")
        res = self._splits.add(key, pnum, pno, packet, raw, now)
        for ab in res.evicted:
            self._abandoned(ab, out)
        self._report_pending()
        if res.status in ("conflict", "bad_pnum"):
            reason = "conflicting_split_packet" if res.status == "conflict" else "bad_split_header"
            self._rejected(out, reason, res.detail, raw, packet, dialect)
            return
        wants_reply = _wants_reply(packet)
        if res.status == "duplicate":
            self._ignored()  # a resend: answer again, keep nothing
        else:
            self._accepted(out)
        complete = res.complete
        if complete is not None:
            out.completed.append(complete)
            try:
                mapped = packet_to_rows(merge_parts(complete.packets), dialect,
                                        lenient=self._lenient, route=self._route(mn, dialect))
            except MappingError as exc:
                self._split_rejected(out, exc.reason, exc.detail, complete.raw, mn)
                if wants_reply:
                    out.replies.append((dialect.request_reply_cn,
                                        request_reply(packet, qn_rtn_for(exc.reason), dialect)))
                return
            self._store(mapped, packet, out)
            self._metrics.split_uploads.labels("complete").inc()
        if wants_reply:
            out.replies.append((dialect.data_ack_cn, data_ack(packet, dialect)))

    def _split_rejected(self, out: Outcome, reason: str, detail: str, raw: bytes,
                        mn: str) -> None:
        """A complete split upload that cannot be stored: all its parts are dead-lettered."""
        out.rejections.append(Rejection(source=SOURCE, reason=reason, detail=detail,
                                        payload=raw, device_id=mn))
        self._metrics.rejections.labels(reason).inc()
        self._metrics.split_uploads.labels("rejected").inc()
        log.info("hj212 split upload rejected (%s): %s", reason, detail,
                 extra={"device_id": mn, "peer": self._peer})

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
        devices = self._registry.devices_by_mn(mn)
        if not devices:
            other = self._registry.devices.get(mn)
            if other is not None:
                raise _Reject("kind_mismatch", f"MN {mn!r} is registered as a {other.kind} device "
                              "without an HJ 212 mn and codes (it reports over MQTT)")
            raise _Reject("unknown_device", f"MN {mn!r} is not in the registry")
        kind = devices[0].kind
        st = packet.header.get("ST")
        # ST 32 is a wastewater source, 31 flue gas (HJ 212-2017 Appendix): a water logger
        # sending as a stack, or the reverse, is a misconfigured device, not data to guess at.
        if (st == "32" and kind == "cems") or (st == "31" and kind == "water"):
            raise _Reject("kind_mismatch", f"MN {mn!r} is registered as a {kind} device, "
                          f"but the packet says ST={st} ({'wastewater' if st == '32' else 'flue gas'})")
        password = next((d.password for d in devices if d.password is not None), None)
        if password is not None and packet.pw != password:
            raise _Reject("bad_password", f"wrong PW for MN {mn!r}")


def _wants_reply(packet: Packet) -> bool:
    """Flag asks for an answer (bit A)."""
    flag = packet.flag
    return flag is not None and bool(flag & FLAG_A)
