"""Packet framing: ``##`` + 4-digit length + data segment + 4 hex CRC + CRLF.

Length and CRC cover the data segment only. :func:`encode_packet` builds a
packet; :class:`StreamDecoder` cuts a TCP byte stream back into packets.

The decoder takes bytes as they arrive (split anywhere, several packets per
read) and returns, in stream order, a :class:`Frame` for each good packet and a
:class:`FrameError` for everything it had to discard. Every discarded byte is
reported in exactly one error, which keeps at most ``max_raw_bytes`` of them.
Reason codes:

``bad_crc``
    the packet is delimited as its length says, but its CRC is wrong (or not
    four hex digits);
``bad_length``
    the length field is not four digits, or the packet's CRLF is not where the
    length says;
``truncated``
    a packet stops before its end: a new ``##`` starts first, or the stream
    ends (:meth:`StreamDecoder.close`);
``bad_frame``
    no CRLF within the longest possible packet;
``garbage``
    bytes outside any packet (resynchronisation skips to the next ``##``).

Memory is bounded: input is processed in slices of at most
``MAX_PACKET_BYTES``, the buffer never holds more than about two packets'
worth, and a long run of garbage (say 10 MB without ``##``) is counted, not
kept; a report is emitted every ``max_junk_run_bytes`` so a sender that never
stops is still seen.
"""

from __future__ import annotations

from dataclasses import dataclass

from ecowarn.ingest.hj212.crc import crc16, crc16_hex, parse_crc_hex
from ecowarn.ingest.hj212.errors import EncodeError

__all__ = [
    "MAX_PACKET_BYTES",
    "MAX_SEGMENT_BYTES",
    "Frame",
    "FrameError",
    "StreamDecoder",
    "encode_packet",
]

MAX_SEGMENT_BYTES = 9999  # the length field has four decimal digits
MAX_PACKET_BYTES = 2 + 4 + MAX_SEGMENT_BYTES + 4 + 2
_HEAD = b"##"
_CRLF = b"\r\n"


def encode_packet(data_segment: str) -> bytes:
    """Frame a data segment: ``##`` + length + segment + CRC + CRLF."""
    seg = data_segment.encode("utf-8")
    if len(seg) > MAX_SEGMENT_BYTES:
        raise EncodeError("segment_too_long",
                          f"data segment is {len(seg)} bytes; at most {MAX_SEGMENT_BYTES} fit "
                          "the length field (split the data into several packets)")
    if b"\r" in seg or b"\n" in seg:
        raise EncodeError("bad_segment", "a data segment cannot contain CR or LF")
    return b"%s%04d%s%s\r\n" % (_HEAD, len(seg), seg, crc16_hex(seg).encode("ascii"))


@dataclass(frozen=True, slots=True)
class Frame:
    """One packet whose length and CRC are right."""

    segment: bytes  # the data segment (what length and CRC cover)
    raw: bytes  # the whole packet as received


@dataclass(frozen=True, slots=True)
class FrameError:
    """Bytes the decoder discarded, with why.

    ``raw`` holds the first ``max_raw_bytes`` of them; ``size`` is how many
    there were in all.
    """

    reason: str
    detail: str
    raw: bytes
    size: int

    @property
    def raw_complete(self) -> bool:
        return len(self.raw) == self.size


class _Junk:
    """A run of discarded bytes being accumulated into one FrameError."""

    __slots__ = ("detail", "keep", "raw", "reason", "size")

    def __init__(self, reason: str, detail: str, keep: int) -> None:
        self.reason = reason
        self.detail = detail
        self.keep = keep
        self.raw = bytearray()
        self.size = 0

    def add(self, data: bytes | bytearray) -> None:
        room = self.keep - len(self.raw)
        if room > 0:
            self.raw += data[:room]
        self.size += len(data)

    def error(self) -> FrameError:
        detail = self.detail
        if self.reason == "garbage":
            detail = f"{self.size} bytes outside any packet (no ## start)"
        return FrameError(self.reason, detail, bytes(self.raw), self.size)


class StreamDecoder:
    """Incremental decoder of one connection's byte stream.

    ``feed(data)`` returns the frames and errors completed by ``data``;
    ``close()`` returns what the end of the stream completes (a truncated
    packet, a pending garbage report). The decoder keeps working after any
    error.
    """

    def __init__(self, *, max_raw_bytes: int = MAX_PACKET_BYTES,
                 max_junk_run_bytes: int = 1 << 20) -> None:
        if max_raw_bytes < 0 or max_junk_run_bytes < 1:
            raise ValueError("max_raw_bytes must be >= 0 and max_junk_run_bytes >= 1")
        self._buf = bytearray()
        self._junk: _Junk | None = None
        self._max_raw = max_raw_bytes
        self._max_junk = max_junk_run_bytes

    @property
    def buffered_bytes(self) -> int:
        """Bytes held for a packet not yet complete (0 between packets)."""
        return len(self._buf)

    def feed(self, data: bytes | bytearray | memoryview) -> list[Frame | FrameError]:
        out: list[Frame | FrameError] = []
        view = memoryview(data).cast("B")
        for start in range(0, len(view), MAX_PACKET_BYTES):
            self._buf += view[start:start + MAX_PACKET_BYTES]
            self._drain(out)
        return out

    def close(self) -> list[Frame | FrameError]:
        """End of stream: report whatever is left over."""
        out: list[Frame | FrameError] = []
        if self._buf:
            if self._buf.startswith(_HEAD):
                self._emit_junk(out)
                out.append(self._error("truncated",
                                       f"stream ended {len(self._buf)} bytes into a packet",
                                       self._buf))
            else:
                self._discard(out, len(self._buf))
            self._buf.clear()
        self._emit_junk(out)
        return out

    # --- internals ------------------------------------------------------------------

    def _error(self, reason: str, detail: str, raw: bytes | bytearray) -> FrameError:
        return FrameError(reason, detail, bytes(raw[:self._max_raw]), len(raw))

    def _emit_junk(self, out: list[Frame | FrameError]) -> None:
        if self._junk is not None and self._junk.size:
            out.append(self._junk.error())
        self._junk = None

    def _discard(self, out: list[Frame | FrameError], n: int, reason: str = "garbage",
                 detail: str = "") -> None:
        """Move the first ``n`` buffered bytes into the current junk run."""
        if self._junk is None or (reason != "garbage" and self._junk.reason != reason):
            self._emit_junk(out)
            self._junk = _Junk(reason, detail, self._max_raw)
        pos = 0
        while pos < n:
            assert self._junk is not None
            take = min(n - pos, self._max_junk - self._junk.size)
            self._junk.add(self._buf[pos:pos + take])
            pos += take
            if self._junk.size >= self._max_junk:
                self._emit_junk(out)
                self._junk = _Junk("garbage", "", self._max_raw)
        del self._buf[:n]

    def _drain(self, out: list[Frame | FrameError]) -> None:
        buf = self._buf
        while buf:
            head = buf.find(_HEAD)
            if head < 0:
                # Keep a trailing '#': it may be the first half of the next "##".
                keep = 1 if buf.endswith(b"#") else 0
                self._discard(out, len(buf) - keep)
                return
            # In a run of '#', the packet can only start at the last two.
            while buf[head + 2:head + 3] == b"#":
                head += 1
            if head > 0:
                self._discard(out, head)
            if not self._packet(out):
                return

    def _resync(self, out: list[Frame | FrameError], reason: str, detail: str) -> None:
        """Drop the broken packet at the buffer's start up to the next ``##``."""
        nxt = self._buf.find(_HEAD, 1)
        if nxt < 0:
            keep = 1 if self._buf.endswith(b"#") and len(self._buf) > 2 else 0
            self._discard(out, len(self._buf) - keep, reason, detail)
        else:
            self._discard(out, nxt, reason, detail)
        # The broken packet's report is complete once the next "##" is in view.
        if nxt >= 0:
            self._emit_junk(out)

    def _packet(self, out: list[Frame | FrameError]) -> bool:
        """Handle the packet starting the buffer; False when more bytes are needed."""
        buf = self._buf
        header = buf[2:6]
        if header and not header.isdigit():  # bytes.isdigit: ASCII digits only
            self._resync(out, "bad_length",
                         f"length field {bytes(header)!r} is not four decimal digits")
            return True
        if len(header) < 4:
            return False
        n = int(header)
        total = n + 12
        if len(buf) >= total and buf[total - 2:total] == _CRLF:
            self._emit_junk(out)
            segment = bytes(buf[6:6 + n])
            declared = parse_crc_hex(buf[6 + n:10 + n])
            actual = crc16(segment)
            if declared is None:
                out.append(self._error("bad_crc", f"CRC field {bytes(buf[6 + n:10 + n])!r} is "
                                       "not four hex digits", buf[:total]))
            elif declared != actual:
                out.append(self._error("bad_crc", f"CRC is {declared:04X}, the data segment's "
                                       f"is {actual:04X}", buf[:total]))
            else:
                out.append(Frame(segment, bytes(buf[:total])))
            del buf[:total]
            return True
        # Not delimited where the length says (or not all here yet).
        end = buf.find(_CRLF, 6)
        nxt = buf.find(_HEAD, 2)
        if nxt >= 0 and (end < 0 or nxt < end):
            self._emit_junk(out)
            out.append(self._error("truncated", f"packet declared {n} segment bytes but a new "
                                   f"packet starts {nxt} bytes in", buf[:nxt]))
            del buf[:nxt]
            return True
        if end >= 0:
            self._emit_junk(out)
            actual_len = end - 10  # "##" + 4 digits before, 4 CRC digits before CRLF
            if actual_len < 0:
                detail = f"length field says {n} but the packet is too short to hold a CRC"
            else:
                detail = f"length field says {n} but the segment is {actual_len} bytes"
                if parse_crc_hex(buf[end - 4:end]) == crc16(buf[6:6 + actual_len]):
                    detail += " (the CRC matches the actual segment)"
            out.append(self._error("bad_length", detail, buf[:end + 2]))
            del buf[:end + 2]
            return True
        if len(buf) > MAX_PACKET_BYTES:
            self._resync(out, "bad_frame", f"no CRLF within {MAX_PACKET_BYTES} bytes")
            return True
        return False
