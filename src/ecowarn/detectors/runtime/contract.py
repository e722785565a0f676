"""What the runner and the evaluators agree on, below both of them.

An evaluator is the I/O side of one rule (:class:`RuleEvaluator`): it maps devices to the
rule's subjects, loads what a subject's evaluation needs (through the runner's
:class:`~ecowarn.detectors.runtime._cache.SeriesCache`, passed in, or from the database),
calls the pure rule and returns alert drafts. The runner owns everything else: which
subjects to evaluate, the transaction, reconciling drafts into alerts, suppression.

Besides the members every evaluator has, optional capabilities are protocols the runner
tests with ``isinstance``: :class:`BatchAware` (look at the database once per batch),
:class:`SpanGated` (answer in-order data from the claimed spans alone),
:class:`SilenceSweeper` (judge the wall clock), and in ``_suppress``
``MaintenanceAware`` and ``SelfCorrecting``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, runtime_checkable

import psycopg

from ecowarn.alerts.store import AlertDraft
from ecowarn.detectors.runtime._cache import SeriesCache

__all__ = ["BatchAware", "Correction", "Resumed", "RuleEvaluator", "SilenceSweeper", "Span", "SpanGated",
           "SweepPlan", "SweepResult", "Window", "utc"]


@dataclass(frozen=True, slots=True)
class Window:
    """Event-time span of new data for one subject."""

    t_min: datetime
    t_max: datetime


def utc(ts_s: int) -> datetime:
    """Epoch seconds as an aware UTC datetime."""
    return datetime.fromtimestamp(ts_s, UTC)


class RuleEvaluator(Protocol):
    """One rule as the runner drives it."""

    rule: str
    # How far before the new data an evaluation reads its primary series (the runner
    # prefetches that much into its cache, for all subjects of a batch in one query).
    lookback: timedelta
    # True when findings depend on readings only through minute grid points holding the
    # last reading at or before them: readings after everything evaluated, within the
    # newest minute, cannot change them, and the runner skips the evaluation.
    held_grid: bool

    def subjects_for(self, device_id: str) -> Iterable[str]:
        """The subjects whose evaluation a new reading of ``device_id`` may change."""
        ...

    def primary_keys(self, subject: str) -> list[tuple[str, str]]:
        """(device, metric) pairs whose latest reading ends the subject's evaluated span."""
        ...

    def tail_quiet(self, subject: str, cache: SeriesCache | None) -> bool:
        """Whether the readings since the subject's last full evaluation cannot change what
        it found (nothing): answered from ``cache`` alone; False when unsure."""
        ...

    def read_until(self, subject: str) -> float | None:
        """Event time (epoch s) of the newest reading the subject's last full evaluation could
        use: with a held grid, readings after it cannot have changed that evaluation, readings
        at or before it (committed later) can. None when not known."""
        ...

    def forget(self) -> None:
        """Drop what the evaluator remembers of the database (the runner's memories went)."""
        ...

    async def evaluate(self, conn: psycopg.AsyncConnection[Any], subject: str, window: Window,
                       cache: SeriesCache | None = None) -> tuple[datetime, list[AlertDraft]]:
        """The window start actually evaluated and the findings as drafts. Reads go through
        ``cache`` when given (a runner batch), else to the database."""
        ...

    async def evaluate_many(self, conn: psycopg.AsyncConnection[Any],
                            items: Sequence[tuple[str, Window]],
                            cache: SeriesCache | None = None) -> list[tuple[datetime, list[AlertDraft]]]:
        """:meth:`evaluate` of each (subject, window) of ``items``, in one call: the same results
        in the same order as evaluating them one by one, in that order. The runner calls it
        once per rule and batch; a rule shares its queries and work across the subjects."""
        ...


@runtime_checkable
class BatchAware(Protocol):
    """An evaluator that wants to look at the database once per claimed batch."""

    async def begin_batch(self, conn: psycopg.AsyncConnection[Any], batch: int) -> None: ...


@dataclass(frozen=True, slots=True)
class Span:
    """What one device's claimed ``pending_eval`` rows of a batch cover: event times in epoch
    seconds; ``declared`` when any of them was queued by a declaration or an order (its
    bounds are not readings' times)."""

    device_id: str
    t_min: float
    t_max: float
    declared: bool


@runtime_checkable
class SpanGated(Protocol):
    """An evaluator whose rule ignores ``held_grid`` (a device's reading may change other
    subjects' findings) but can tell from a batch's claimed spans alone that they cannot
    change any finding of subjects without alerts."""

    def spans_quiet(self, spans: Sequence[Span]) -> bool:
        """Record ``spans`` (one subject set's claimed devices), and say whether they cannot
        change what the rule finds for that set's subjects, given that none of them has an
        alert: then the runner neither evaluates nor reconciles the set in this batch. False
        when unsure. Called once per batch and set, evaluated or not; the runner's
        ``forget`` (a rolled-back batch among others) makes it forget what it recorded."""
        ...


@dataclass(frozen=True, slots=True)
class Resumed:
    """An ongoing alert whose subject was heard again: it ends at ``end``, with these texts
    and ``evidence`` merged into its own."""

    alert_id: int
    subject: str
    end: datetime
    summary: str
    summary_zh: str
    evidence: dict[str, Any]


@dataclass(frozen=True, slots=True)
class SweepPlan:
    """What a wall-clock sweep found; the runner writes it (evaluators only read).

    ``opens``: drafts of ongoing findings, each reconciled for its own subject from its
    start; ``resumed``: ongoing alerts to end; ``corrections``: alerts to retire (e.g. merged
    into another one), applied after the drafts.
    """

    opens: list[AlertDraft]
    resumed: list[Resumed]
    corrections: list[Correction] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class SweepResult:
    opened: list[int]
    closed: list[int]


@runtime_checkable
class SilenceSweeper(Protocol):
    """An evaluator that also judges the wall clock (device silence), from the runner's loop."""

    rule: str

    async def sweep(self, conn: psycopg.AsyncConnection[Any], now_s: float) -> SweepPlan: ...


@dataclass(frozen=True, slots=True)
class Correction:
    """A change a self-correcting evaluator asks for on one of its open alerts: retire it
    (``retire_reason`` and ``evidence`` set) or move its start later (``new_start``)."""

    alert_id: int
    retire_reason: str | None = None
    evidence: dict[str, Any] | None = None
    new_start: datetime | None = None
