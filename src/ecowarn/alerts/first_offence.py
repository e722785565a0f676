"""首违不罚: a first offence, corrected in time, confirmed without penalty (CONTRACT section 9;
Administrative Penalty Law art. 33).

``POST /alerts/{id}/transitions {"action": "confirm", "disposition":
"first_offence_no_penalty"}`` confirms the violation without deducting points. On top of
the right to be heard (:mod:`alerts.hearing`), it needs:

- ``rule_not_allowed``: the alert's rule is one that allows it
  (:attr:`WorkflowParams.first_offence_rules`; default every rule);
- ``no_verified_rectification``: a rectification of this alert was verified
  (``rectifications.status = 'verified'``, migration 0008);
- ``prior_violation``: the enterprise has no confirmed violation of the same rule (an
  unreversed ``deduction`` or ``first_offence`` ledger entry: the ``credit_violations`` view
  of migration 0014, which :mod:`credit.ledger` reads too) whose
  violation started within ``first_offence_window_months`` (default 12) before this
  alert's start; nor a first offence of that rule within the window after it, so that
  confirming two alerts out of order cannot give two first offences in one window.

The names are the codes a refusal (:class:`~alerts.errors.FirstOffenceRefused`) lists as
``failed``. The effect, a zero-point ``first_offence`` ledger entry in the hash chain, is
written by the confirmation hook (:mod:`credit.hooks`); it counts as a violation in later
repeat and first-offence checks.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg

from ecowarn.alerts.model import WorkflowParams

__all__ = ["FirstOffenceCheck", "check_first_offence", "judge_first_offence", "shift_months"]


@dataclass(frozen=True, slots=True)
class FirstOffenceCheck:
    """The facts a first offence is judged on, and the verdict."""

    rule_allowed: bool
    rectification_verified: bool
    prior_entries: tuple[int, ...]  # ledger entries of confirmed violations that stand in the way
    window_months: int

    @property
    def failed(self) -> tuple[str, ...]:
        """The codes of the checks that failed, in the order of the module docstring."""
        return tuple(code for code, ok in (("rule_not_allowed", self.rule_allowed),
                                           ("no_verified_rectification", self.rectification_verified),
                                           ("prior_violation", not self.prior_entries)) if not ok)

    @property
    def eligible(self) -> bool:
        return not self.failed


def shift_months(value: datetime, months: int) -> datetime:
    """``value`` moved by whole calendar months (negative: back), the day clamped to the
    month's length (31 March - 1 month = 28 or 29 February)."""
    index = value.year * 12 + value.month - 1 + months
    year, month = divmod(index, 12)
    day = min(value.day, calendar.monthrange(year, month + 1)[1])
    return value.replace(year=year, month=month + 1, day=day)


def judge_first_offence(rule: str, *, params: WorkflowParams, rectification_verified: bool,
                        prior_entries: tuple[int, ...]) -> FirstOffenceCheck:
    """The verdict from the facts (pure)."""
    return FirstOffenceCheck(params.first_offence_allowed(rule), rectification_verified,
                             prior_entries, params.first_offence_window_months)


async def check_first_offence(conn: psycopg.AsyncConnection[Any], *, alert_id: int,
                              enterprise_id: str | None, rule: str, start: datetime,
                              params: WorkflowParams) -> FirstOffenceCheck:
    """Gather the facts of :func:`judge_first_offence` for an alert that started at ``start``.
    An alert of no enterprise has nothing to forgo and never qualifies (no rectification)."""
    cur = await conn.execute("SELECT EXISTS (SELECT 1 FROM rectifications WHERE alert_id = %s"
                             " AND status = 'verified')", (alert_id,))
    row = await cur.fetchone()
    verified = bool(row and row[0]) and enterprise_id is not None
    prior: list[int] = []
    if enterprise_id is not None:
        months = params.first_offence_window_months
        # Any confirmed violation of the rule in the window before, and any first offence
        # in the window after (alerts confirmed out of order cannot both go unpunished).
        cur = await conn.execute(
            "SELECT id FROM credit_violations WHERE enterprise_id = %(e)s AND rule = %(r)s"
            " AND alert_id IS DISTINCT FROM %(a)s::bigint AND ("
            " (occurred_at >= %(before)s AND occurred_at < %(start)s)"
            " OR (entry_type = 'first_offence' AND occurred_at >= %(start)s"
            "     AND occurred_at < %(after)s))"
            " ORDER BY occurred_at, id",
            {"e": enterprise_id, "r": rule, "a": alert_id, "start": start,
             "before": shift_months(start, -months), "after": shift_months(start, months)})
        prior = [int(r[0]) for r in await cur.fetchall()]
    return judge_first_offence(rule, params=params, rectification_verified=verified,
                               prior_entries=tuple(prior))
