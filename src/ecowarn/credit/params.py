"""The credit configuration: deduction table and repair rules (``config/credit.yaml``).

Loaded once at start with :func:`load_credit_params`; a bad file raises
:class:`~credit.errors.CreditConfigError` naming the file and the key, so the
service refuses to start. The core gets a frozen :class:`CreditParams`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from types import MappingProxyType

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ecowarn.config import packaged_file
from ecowarn.credit.errors import CreditConfigError

__all__ = ["DEFAULT_CREDIT_PATH", "CreditParams", "Deduction", "load_credit_params"]

DEFAULT_CREDIT_PATH = packaged_file("credit.yaml")
_ANY = "*"


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


# --- the edge: the YAML file --------------------------------------------------------------


class _Repair(BaseModel):
    model_config = ConfigDict(extra="forbid")
    waiting_days: dict[str, int] = Field(default_factory=lambda: {"low": 30, "medium": 90, "high": 365})


class _File(BaseModel):
    model_config = ConfigDict(extra="forbid")
    repeat_window_days: int = Field(default=365, ge=1)
    deductions: dict[str, dict[str, list[int]]]
    repair: _Repair = _Repair()


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
    if problems:
        raise CreditConfigError(f"{path}: " + "; ".join(problems))
    return CreditParams(
        deductions=MappingProxyType({r: MappingProxyType({s: tuple(p) for s, p in t.items()})
                                     for r, t in f.deductions.items()}),
        repeat_window_days=f.repeat_window_days,
        waiting_days=MappingProxyType(dict(f.repair.waiting_days)),
    )
