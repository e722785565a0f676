"""What a labelled scenario holds besides readings: labels, declarations, orders, late deliveries."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

__all__ = ["Declaration", "EvalLabel", "LateDelivery", "Order"]


@dataclass(frozen=True, slots=True)
class EvalLabel:
    """What one event should do to one rule: fire (``positive``) or stay silent.

    ``single``: one alert in all is the right answer, whatever its subject (a site outage:
    CONTRACT section 8 wants one ``data_gap`` alert naming every device); further alerts on
    the label are duplicates. ``due``: when the condition becomes reportable, where that is
    not the label's start plus the rule's minimum duration (a late treatment start: when the
    stage starts; a daily water mean: when the day ends); for the processing delay.
    """

    id: int
    kind: str
    rule: str
    positive: bool
    device_ids: tuple[str, ...]
    start: datetime
    end: datetime
    note: str = ""
    single: bool = False
    due: datetime | None = None

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind, "rule": self.rule, "positive": self.positive,
                "device_ids": list(self.device_ids), "start": self.start.isoformat(),
                "end": self.end.isoformat(), "note": self.note, "single": self.single,
                "due": None if self.due is None else self.due.isoformat()}


@dataclass(frozen=True, slots=True)
class Declaration:
    """Declared maintenance of one device (``POST /api/v1/maintenance``)."""

    device_id: str
    start: datetime
    end: datetime
    reason: str


@dataclass(frozen=True, slots=True)
class Order:
    """An emergency shutdown order (``POST /api/v1/emergency-orders``)."""

    enterprise_ids: tuple[str, ...]
    start: datetime
    end: datetime
    measure: str = "shutdown"


@dataclass(frozen=True, slots=True)
class LateDelivery:
    """Readings of ``device_ids`` in ``[start, end)`` held back, then published shuffled
    once the rest of the stream has reached ``release_at`` (event time)."""

    device_ids: tuple[str, ...]
    start: datetime
    end: datetime
    release_at: datetime
