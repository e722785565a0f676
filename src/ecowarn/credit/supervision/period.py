"""Supervision periods: a month (``2026-12``), a quarter (``2026-Q4``) or a year (``2026``).

Days are calendar days in China Standard Time. A period is written back in the canonical
form above (``2026-q4`` is read as ``2026-Q4``); anything else is a :class:`PeriodError`.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date
from typing import Final, Literal

from ecowarn.credit.supervision.errors import PeriodError

__all__ = ["MAX_YEAR", "MIN_YEAR", "Period", "PeriodKind", "month_end", "parse_period"]

PeriodKind = Literal["month", "quarter", "year"]
MIN_YEAR: Final = 2000
MAX_YEAR: Final = 2099
_FORMS: Final = (
    ("month", re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")),
    ("quarter", re.compile(r"^(\d{4})-[Qq]([1-4])$")),
    ("year", re.compile(r"^(\d{4})$")),
)


def month_end(year: int, month: int) -> date:
    return date(year, month, calendar.monthrange(year, month)[1])


@dataclass(frozen=True, slots=True)
class Period:
    """A calendar period; ``start`` and ``end`` are its first and last day."""

    label: str
    kind: PeriodKind
    start: date
    end: date

    @property
    def months(self) -> tuple[int, int]:
        """First and last month as month indexes (``year * 12 + month - 1``)."""
        return (self.start.year * 12 + self.start.month - 1, self.end.year * 12 + self.end.month - 1)

    def reference_date(self, today: date) -> date:
        """The day whose positive list a plan or draw of this period reads: today while the
        period runs, else its first day (a coming period) or its last (a past one)."""
        return min(max(today, self.start), self.end)


def parse_period(value: str) -> Period:
    """The period ``value`` names; :class:`PeriodError` unless it is ``YYYY-MM``,
    ``YYYY-Qn`` or ``YYYY`` with a year from 2000 to 2099."""
    text = value.strip()
    for kind, pattern in _FORMS:
        m = pattern.match(text)
        if m is None:
            continue
        year = int(m.group(1))
        if not MIN_YEAR <= year <= MAX_YEAR:
            break
        if kind == "month":
            month = int(m.group(2))
            return Period(f"{year}-{month:02d}", "month", date(year, month, 1), month_end(year, month))
        if kind == "quarter":
            quarter = int(m.group(2))
            first = 3 * quarter - 2
            return Period(f"{year}-Q{quarter}", "quarter", date(year, first, 1), month_end(year, first + 2))
        return Period(str(year), "year", date(year, 1, 1), date(year, 12, 31))
    raise PeriodError(value)
