"""The credit configuration: deduction table and repair rules (``config/credit.yaml``).

Loaded once at start with :func:`load_credit_params`; a bad file raises
:class:`~credit.errors.CreditConfigError` naming the file and the key, so the
service refuses to start. The core gets a frozen :class:`CreditParams`.

Besides the waiting period of automatic repair (``repair.waiting_days``), the file sets
the minimum publication period before an enterprise may apply for credit repair
(``repair_publication``): a deduction's severity maps to an ordinary or a serious
record, and each class has its minimum in calendar months (national measures: ordinary
records are published 3 months to 1 year, serious ones 1 to 3 years).
"""

from __future__ import annotations

import calendar
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from types import MappingProxyType
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ecowarn.config import packaged_file
from ecowarn.credit._canonical import CST
from ecowarn.credit.errors import CreditConfigError

__all__ = ["DEFAULT_CREDIT_PATH", "PUBLICATION_CLASSES", "CreditParams", "Deduction", "add_months",
           "load_credit_params"]

DEFAULT_CREDIT_PATH = packaged_file("credit.yaml")
_ANY = "*"
# Classes of published credit records (national credit repair measures).
PUBLICATION_CLASSES = ("ordinary", "serious")
# A severity the mapping leaves out is published as the stricter class.
_UNMAPPED_CLASS = "serious"


def add_months(at: datetime, months: int) -> datetime:
    """``at`` plus ``months`` calendar months on China Standard Time's calendar; a day the
    target month lacks becomes its last day (30 November + 3 months = 28/29 February)."""
    local = at.astimezone(CST)
    index = local.month - 1 + months
    year, month = local.year + index // 12, index % 12 + 1
    day = min(local.day, calendar.monthrange(year, month)[1])
    return local.replace(year=year, month=month, day=day)


@dataclass(frozen=True, slots=True)
class Deduction:
    """What the table gives for one violation."""

    points: int          # positive number of points to deduct
    repeat_count: int    # earlier same-rule violations in the window
    table_key: str       # "rule/severity" or "*/severity" that matched, for the record


@dataclass(frozen=True, slots=True)
class CreditParams:
    # rule -> severity -> points by repeat count (index 0 = first violation)
    deductions: Mapping[str, Mapping[str, tuple[int, ...]]]
    repeat_window_days: int = 365
    waiting_days: Mapping[str, int] = field(
        default_factory=lambda: MappingProxyType({"low": 30, "medium": 90, "high": 365}))
    default_waiting_days: int = 90
    # class -> minimum publication period in months; severity -> class
    publication_months: Mapping[str, int] = field(
        default_factory=lambda: MappingProxyType({"ordinary": 3, "serious": 12}))
    publication_classes: Mapping[str, str] = field(
        default_factory=lambda: MappingProxyType({"low": "ordinary", "medium": "ordinary",
                                                  "high": "serious"}))

    def deduction(self, rule: str, severity: str, repeat_count: int) -> Deduction:
        """Points for a violation of ``rule`` at ``severity`` with ``repeat_count`` earlier ones."""
        for key in (rule, _ANY):
            points = self.deductions.get(key, {}).get(severity)
            if points:
                return Deduction(points[min(repeat_count, len(points) - 1)], repeat_count,
                                 f"{key}/{severity}")
        return Deduction(0, repeat_count, f"{_ANY}/{severity} (not in the table)")

    @property
    def repeat_window(self) -> timedelta:
        return timedelta(days=self.repeat_window_days)

    def waiting(self, severity: str) -> timedelta:
        return timedelta(days=self.waiting_days.get(severity, self.default_waiting_days))

    def publication_class(self, severity: str | None) -> str:
        """``ordinary`` or ``serious``: how a deduction of ``severity`` is published."""
        return self.publication_classes.get(severity or "", _UNMAPPED_CLASS)

    def publication_end(self, recorded_at: datetime, severity: str | None) -> datetime:
        """When the minimum publication period of a deduction recorded at ``recorded_at``
        ends: from then on the enterprise may apply for its repair."""
        return add_months(recorded_at, self.publication_months[self.publication_class(severity)])


# --- the edge: the YAML file --------------------------------------------------------------


class _Repair(BaseModel):
    model_config = ConfigDict(extra="forbid")
    waiting_days: dict[str, int] = Field(default_factory=lambda: {"low": 30, "medium": 90, "high": 365})


_Class = Literal["ordinary", "serious"]
_DEFAULT_CLASSES: dict[str, _Class] = {"low": "ordinary", "medium": "ordinary", "high": "serious"}


class _Publication(BaseModel):
    model_config = ConfigDict(extra="forbid")
    ordinary_months: int = Field(default=3, ge=0, le=120)
    serious_months: int = Field(default=12, ge=0, le=120)
    severity: dict[str, _Class] = Field(default_factory=lambda: dict(_DEFAULT_CLASSES))


class _File(BaseModel):
    model_config = ConfigDict(extra="forbid")
    repeat_window_days: int = Field(default=365, ge=1)
    deductions: dict[str, dict[str, list[int]]]
    repair: _Repair = _Repair()
    repair_publication: _Publication = _Publication()


def load_credit_params(path: Path | None = None) -> CreditParams:
    """The credit configuration from ``path`` (default: the packaged ``config/credit.yaml``)."""
    path = path or DEFAULT_CREDIT_PATH
    try:
        raw = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise CreditConfigError(f"{path}: cannot read the credit configuration: {exc}") from exc
    try:
        f = _File.model_validate(raw if raw is not None else {})
    except ValidationError as exc:
        listed = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        raise CreditConfigError(f"{path}: {listed}") from exc
    problems: list[str] = []
    for rule, table in f.deductions.items():
        for severity, points in table.items():
            if not points or any(p < 0 or p > 100 for p in points):
                problems.append(f"deductions.{rule}.{severity}: need one or more points in 0..100")
    for severity, days in f.repair.waiting_days.items():
        if days < 0:
            problems.append(f"repair.waiting_days.{severity}: must not be negative")
    publication = f.repair_publication
    if publication.serious_months < publication.ordinary_months:
        problems.append(f"repair_publication.serious_months: {publication.serious_months} is shorter "
                        f"than ordinary_months ({publication.ordinary_months}); a serious record "
                        "is published at least as long as an ordinary one")
    if problems:
        raise CreditConfigError(f"{path}: " + "; ".join(problems))
    return CreditParams(
        deductions=MappingProxyType({r: MappingProxyType({s: tuple(p) for s, p in t.items()})
                                     for r, t in f.deductions.items()}),
        repeat_window_days=f.repeat_window_days,
        waiting_days=MappingProxyType(dict(f.repair.waiting_days)),
        publication_months=MappingProxyType({"ordinary": publication.ordinary_months,
                                             "serious": publication.serious_months}),
        publication_classes=MappingProxyType(dict(publication.severity)),
    )
