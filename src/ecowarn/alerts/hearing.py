"""The right to be heard (CONTRACT section 9; Administrative Penalty Law arts. 41 and 44-45).

An alert whose enterprise has been warned (``dispatch``) may be confirmed only once the
enterprise has been heard: it answered and an officer has read every answer, or its
answer deadline (``due_at``) passed without an answer. An answer an officer has not read
blocks the confirmation even after the deadline: what the enterprise said must be heard
before it is decided against.

:func:`assess` is the one decision, pure over the deadline, the answers' times and the
clock; the transition check (``alerts.lifecycle``) and the alert's workflow JSON (why
confirming is not possible yet, and from when it will be) both use it.

==================  =========  ===========================================================
reason              satisfied  when
==================  =========  ===========================================================
``not_warned``      no         no deadline: the alert was never dispatched
``answer_unread``   no         an answer no officer has read yet (at any time)
``awaiting_answer`` no         no answer and the deadline is ahead (``allowed_at`` = it)
``answers_read``    yes        one answer or more, all read by an officer
``deadline_passed`` yes        no answer, and the deadline passed
==================  =========  ===========================================================
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Final, Literal, get_args

from ecowarn.i18n import Lang, catalog

__all__ = ["HEARING_REASONS", "Hearing", "HearingReason", "assess", "explain"]

HearingReason = Literal["not_warned", "answer_unread", "awaiting_answer", "answers_read",
                        "deadline_passed"]
HEARING_REASONS: Final[tuple[str, ...]] = get_args(HearingReason)

_CST: Final = timezone(timedelta(hours=8))


@dataclass(frozen=True, slots=True)
class Hearing:
    """Whether the enterprise has been heard at ``as_of``.

    ``answers`` counts the answers given by then and ``unread`` those no officer had read
    by then; ``allowed_at`` is when confirming becomes possible by the clock alone (the
    deadline, while waiting for it), None otherwise (already possible, or waiting for an
    officer to read).
    """

    satisfied: bool
    reason: HearingReason
    due_at: datetime | None
    allowed_at: datetime | None
    answers: int
    unread: int
    as_of: datetime

    def as_json(self) -> dict[str, Any]:
        """The JSON shape (times in China Standard Time, ISO 8601), as the API shows it."""
        return {"satisfied": self.satisfied, "reason": self.reason,
                "allowed_at": _iso(self.allowed_at), "due_at": _iso(self.due_at),
                "answers": self.answers, "unread": self.unread, "as_of": _iso(self.as_of)}


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(_CST).isoformat()


def assess(due_at: datetime | None, answers: Iterable[tuple[datetime, datetime | None]],
           now: datetime) -> Hearing:
    """The hearing at ``now`` of an alert whose answer deadline is ``due_at`` (None: never
    dispatched), given each answer's ``(created_at, first_read_at)``. Answers made after
    ``now``, and readings after it, do not count yet."""
    given = [read for created, read in answers if created <= now]
    unread = sum(1 for read in given if read is None or read > now)

    def result(satisfied: bool, reason: HearingReason, allowed_at: datetime | None = None) -> Hearing:
        return Hearing(satisfied, reason, due_at, allowed_at, len(given), unread, now)

    if due_at is None:
        return result(False, "not_warned")
    if unread:
        return result(False, "answer_unread")
    if given:
        return result(True, "answers_read")
    if now >= due_at:
        return result(True, "deadline_passed")
    return result(False, "awaiting_answer", due_at)


def _minute(value: datetime) -> str:
    return value.astimezone(_CST).strftime("%Y-%m-%d %H:%M")


def explain(h: Hearing, lang: Lang) -> str:
    """Why confirming is (not yet) possible, in ``lang`` (catalog area ``WORKFLOW``)."""
    text = catalog(lang, "WORKFLOW")[f"hearing_{h.reason}"]
    return text.format(due="" if h.due_at is None else _minute(h.due_at), answers=h.answers,
                       unread=h.unread)
