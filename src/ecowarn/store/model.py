"""What the store keeps of ingestion: reading rows and rejected inputs (dead letters)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

__all__ = ["Rejection", "Row"]


class Row(NamedTuple):
    """One value of one metric of one device at one event time (a ``readings`` row)."""

    device_id: str
    metric: str
    ts: datetime  # timezone-aware
    value: float | None
    flag: str


@dataclass(frozen=True, slots=True)
class Rejection:
    """An input that was not stored, kept whole in the dead-letter table.

    ``reason`` is a stable code (``naive_timestamp``, ``unknown_device``...) used
    as a metric label and filter; ``detail`` tells a person what was wrong.
    """

    source: str
    reason: str
    detail: str
    payload: bytes
    topic: str | None = None
    device_id: str | None = None
