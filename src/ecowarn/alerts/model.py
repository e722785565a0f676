"""The alert lifecycle as data: statuses, actions, dispositions, actors, parameters.

::

                                                   confirm (once heard; may carry
                                                   first_offence_no_penalty)
    open ─acknowledge─► acknowledged ─dispatch─► dispatched ────────────────► confirmed ─close─► closed
      │                      │                    │    ▲                      │   ▲
      │                      │      rectification │    │ verified | rejected  │   │   (case_filed |
      │                      │      ordered       ▼    │                      ▼   │    rectification_ordered;
      │                      │                  rectifying              rectifying    first_offence_no_penalty
      │                      │                    │                                  after a first-offence
      │                      │                    │                                  confirmation)
      └──────dismiss─────────┴──────dismiss───────┴──► dismissed ─close─► closed
                                                       (explanation_accepted | false_alarm)

- ``acknowledge``: an officer has screened the clue and takes it up (claiming an open
  alert from the queue acknowledges it too).
- ``dispatch``: the notice goes to the enterprise, which may now explain itself; the
  answer deadline (``due_at``) starts here.
- ``confirm`` needs ``dispatched``: Administrative Penalty Law art. 41 lets monitoring
  data be used only after the enterprise was told and could state its case. It also
  needs the enterprise to have been heard (:mod:`alerts.hearing`): it answered and an
  officer read every answer, or the answer deadline passed without one.
- ``confirm`` may carry one disposition, ``first_offence_no_penalty`` (首违不罚,
  :mod:`alerts.first_offence`): the violation is confirmed and counts as one, but no
  points are deducted. It needs a verified rectification of the alert, a rule that allows
  it and no confirmed violation of the same rule in the window before. Such an alert
  closes with ``first_offence_no_penalty`` only (no case is filed for it, and its
  rectification is already verified).
- ``rectifying`` (``alerts.rectification``): a rectification was ordered on a dispatched
  or confirmed alert; verifying or rejecting it returns the alert to where it was.
- ``dismiss`` is possible at any point before confirmation and needs a reason.
- ``close`` needs a disposition that fits the decision: ``case_filed`` or
  ``rectification_ordered`` after ``confirmed``; ``explanation_accepted`` or
  ``false_alarm`` (reason required; kept as a label for tuning detectors) after
  ``dismissed``.
- ``closed`` and ``superseded`` (set by the detector runner when late data merges two
  episodes) are final.
"""

from __future__ import annotations

from collections.abc import Awaitable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import Any, Final, Literal, Protocol, get_args

import psycopg

__all__ = [
    "ACTIONS",
    "ACTIVE_STATUSES",
    "ANSWER_KINDS",
    "CONFIRM_DISPOSITIONS",
    "DISPOSITIONS",
    "FINAL_STATUSES",
    "FIRST_OFFENCE",
    "PUBLIC_ACTIONS",
    "STATUSES",
    "SYSTEM_DETECTOR",
    "SYSTEM_ESCALATOR",
    "TRANSITIONS",
    "Action",
    "Actor",
    "AnswerKind",
    "ConfirmHook",
    "Disposition",
    "MaintenancePolicy",
    "Status",
    "WorkflowParams",
    "allowed_actions",
    "dispositions_after",
    "no_confirm_hook",
]

Status = Literal["open", "acknowledged", "dispatched", "rectifying", "confirmed", "dismissed",
                 "closed", "superseded"]
Action = Literal["acknowledge", "dispatch", "confirm", "dismiss", "close"]
Disposition = Literal["case_filed", "rectification_ordered", "explanation_accepted",
                      "false_alarm", "first_offence_no_penalty"]
AnswerKind = Literal["explanation", "maintenance_declared", "rectification_done"]

STATUSES: Final[tuple[str, ...]] = get_args(Status)
ACTIONS: Final[tuple[str, ...]] = get_args(Action)
DISPOSITIONS: Final[tuple[str, ...]] = get_args(Disposition)
ANSWER_KINDS: Final[tuple[str, ...]] = get_args(AnswerKind)

FINAL_STATUSES: Final = frozenset({"closed", "superseded"})
# Statuses of work still to do: what the officers' queue lists by default.
ACTIVE_STATUSES: Final[tuple[str, ...]] = tuple(s for s in STATUSES if s not in FINAL_STATUSES)

TRANSITIONS: Final[Mapping[str, Mapping[str, str]]] = MappingProxyType({
    "open": {"acknowledge": "acknowledged", "dismiss": "dismissed"},
    "acknowledged": {"dispatch": "dispatched", "dismiss": "dismissed"},
    "dispatched": {"confirm": "confirmed", "dismiss": "dismissed"},
    # A rectification is ordered and not yet verified or rejected (alerts.rectification);
    # deciding it returns the alert to where it was (dispatched or confirmed).
    "rectifying": {"dismiss": "dismissed"},
    "confirmed": {"close": "closed"},
    "dismissed": {"close": "closed"},
    "closed": {},
    "superseded": {},
})

_DISPOSITIONS_AFTER: Final[Mapping[str, tuple[str, ...]]] = MappingProxyType({
    "confirmed": ("case_filed", "rectification_ordered"),
    "dismissed": ("explanation_accepted", "false_alarm"),
})

# 首违不罚: given with the confirmation, never by a close of an ordinary confirmation.
FIRST_OFFENCE: Final = "first_offence_no_penalty"
# Dispositions ``confirm`` may carry.
CONFIRM_DISPOSITIONS: Final[tuple[str, ...]] = (FIRST_OFFENCE,)

# Transitions the enterprise sees in its alert's trail (acknowledging is internal screening).
PUBLIC_ACTIONS: Final = frozenset({"dispatch", "confirm", "dismiss", "close"})


def allowed_actions(status: str) -> tuple[str, ...]:
    """Actions that can be taken from ``status``, in lifecycle order."""
    return tuple(TRANSITIONS.get(status, {}))


def dispositions_after(status: str, decided: str | None = None) -> tuple[str, ...]:
    """Dispositions a ``close`` from ``status`` may carry; ``decided`` is the disposition
    the alert already has (a confirmation as a first offence closes as one)."""
    if status == "confirmed" and decided == FIRST_OFFENCE:
        return (FIRST_OFFENCE,)
    return _DISPOSITIONS_AFTER.get(status, ())


@dataclass(frozen=True, slots=True)
class Actor:
    """Who does something to an alert: a token (id, role, label) or the system.

    ``label`` is the token's label when the action happened (``api_tokens.label``,
    e.g. an officer's name and unit); ``token_id`` is None for the system.
    """

    token_id: int | None
    role: str  # officer | enterprise | admin | system
    label: str = ""
    enterprise_id: str | None = None


SYSTEM_DETECTOR: Final = Actor(token_id=None, role="system", label="detector")
SYSTEM_ESCALATOR: Final = Actor(token_id=None, role="system", label="escalator")

class ConfirmHook(Protocol):
    """Called inside the transaction that confirms an alert (credit ledger, evidence freeze),
    with the disposition the confirmation carries (``first_offence_no_penalty`` or None).
    Raising rolls the confirmation back."""

    def __call__(self, conn: psycopg.AsyncConnection[Any], alert_id: int, actor: Actor, /, *,
                 disposition: str | None = None) -> Awaitable[None]: ...


async def no_confirm_hook(conn: psycopg.AsyncConnection[Any], alert_id: int, actor: Actor, *,
                          disposition: str | None = None) -> None:
    """The default :class:`ConfirmHook`: nothing else happens on confirmation."""
    return None


def _frozen(mapping: Mapping[str, int]) -> Mapping[str, int]:
    return MappingProxyType(dict(mapping))


@dataclass(frozen=True, slots=True)
class MaintenancePolicy:
    """When an enterprise's own maintenance declaration takes effect without an officer
    (CONTRACT section 8: ``grace`` and ``max_hours``)."""

    grace_min: float = 60.0
    max_hours: float = 72.0

    def __post_init__(self) -> None:
        if self.grace_min < 0:
            raise ValueError("grace_min must be >= 0")
        if self.max_hours <= 0:
            raise ValueError("max_hours must be positive")

    def judge(self, role: str, start: datetime, end: datetime, now: datetime,
              ) -> tuple[Literal["approved", "pending"], list[str]]:
        """The status a new declaration gets, and why it waits (``retroactive``, ``too_long``)."""
        if role != "enterprise":
            return "approved", []
        why = []
        if start < now - timedelta(minutes=self.grace_min):
            why.append("retroactive")
        if end - start > timedelta(hours=self.max_hours):
            why.append("too_long")
        return ("pending" if why else "approved"), why


@dataclass(frozen=True, slots=True)
class WorkflowParams:
    """Answer deadlines: days from dispatch until the enterprise's answer is due, per
    severity, with per-rule overrides (``data_gap: 14``). Unknown severities use
    ``default_days``.

    首违不罚: ``first_offence_window_months`` before a violation's start in which no
    confirmed violation of the same rule may stand, and ``first_offence_rules``, the
    rules that allow it (None: every rule; empty: none)."""

    answer_deadline_days: Mapping[str, int] = field(
        default_factory=lambda: _frozen({"high": 3, "medium": 14, "low": 14}))
    answer_deadline_days_by_rule: Mapping[str, int] = field(default_factory=lambda: _frozen({}))
    default_days: int = 14
    # When an enterprise's maintenance declaration takes effect without an officer.
    maintenance: MaintenancePolicy = field(default_factory=MaintenancePolicy)
    first_offence_window_months: int = 12
    first_offence_rules: Iterable[str] | None = None

    def __post_init__(self) -> None:
        months = self.first_offence_window_months
        if isinstance(months, bool) or not isinstance(months, int) or not 1 <= months <= 120:
            raise ValueError(f"first_offence_window_months must be a whole number of months "
                             f"from 1 to 120, not {months!r}")
        if self.first_offence_rules is not None:
            if isinstance(self.first_offence_rules, str):
                raise ValueError("first_offence_rules must be a collection of rule ids, not a string")
            rules = frozenset(self.first_offence_rules)
            bad = sorted(repr(r) for r in rules if not isinstance(r, str) or not r.strip())
            if bad:
                raise ValueError(f"first_offence_rules must name rules, not {', '.join(bad)}")
            object.__setattr__(self, "first_offence_rules", rules)
        for name, mapping in (("answer_deadline_days", self.answer_deadline_days),
                              ("answer_deadline_days_by_rule", self.answer_deadline_days_by_rule)):
            for key, days in mapping.items():
                if not isinstance(days, int) or days < 1:
                    raise ValueError(f"{name}[{key}] must be a whole number of days >= 1, not {days!r}")
            object.__setattr__(self, name, _frozen(mapping))
        if self.default_days < 1:
            raise ValueError("default_days must be >= 1")

    def first_offence_allowed(self, rule: str) -> bool:
        """Whether ``rule`` is one of the rules that allow 首违不罚."""
        return self.first_offence_rules is None or rule in self.first_offence_rules

    def answer_deadline(self, rule: str, severity: str) -> timedelta:
        days = self.answer_deadline_days_by_rule.get(rule)
        if days is None:
            days = self.answer_deadline_days.get(severity, self.default_days)
        return timedelta(days=days)
