"""Errors of the HJ 212 package.

One base class; every error carries a stable ``reason`` code (used as a metric
label and as the dead-letter reason) and a ``detail`` for people::

    Hj212Error                  base of everything raised here
    ├── PacketError             an inbound data segment that cannot be used
    │   ├── SegmentError        not a well-formed data segment (bad_segment,
    │   │                       missing_field, nonstandard_flag, nonstandard_mn)
    │   └── MappingError        well-formed, but not turnable into rows
    │                           (bad_datatime, missing_datatime, ...)
    └── EncodeError             an outbound packet cannot be built
                                (also a ValueError: the caller passed bad input)

Framing problems (wrong CRC, wrong length, garbage between packets...) are not
raised: the stream decoder yields them as :class:`~ingest.hj212.framing.FrameError`
records, so one bad packet never stops a connection.
"""

from __future__ import annotations

__all__ = ["EncodeError", "Hj212Error", "MappingError", "PacketError", "SegmentError"]


class Hj212Error(Exception):
    """Base of the HJ 212 package's errors; ``reason`` is a stable code."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


class PacketError(Hj212Error):
    """An inbound data segment that cannot be used."""


class SegmentError(PacketError):
    """The data segment is not well formed (or breaks strict mode)."""


class MappingError(PacketError):
    """The data segment is well formed but cannot be turned into rows."""


class EncodeError(Hj212Error, ValueError):
    """An outbound packet cannot be built from the given input."""
