"""The supervision plan: routine inspections each enterprise's level and positive list call
for in a period. Pure: standings and listings come from the caller.

Routine on-site inspections follow the level's ``onsite_per_year`` (:mod:`credit.supervision.config`):
``n`` a year (n dividing 12) split the year into ``n`` windows of ``12 / n`` months counted
from January (1: the year, 2: half years, 4: quarters, 12: months), one inspection per
window; a multiple of 12 gives ``n / 12`` inspections in every month. An inspection falls due
when its window closes: the plan of a period lists the windows open in it and counts the
inspections of those that close in it, so a year's plan counts ``n`` and the plans of its
twelve months add up to the same ``n``.

A firm on a positive list on the period's reference day (today while the period runs,
else its first or last day) is exempt from routine on-site inspection: its routine
inspections become off-site checks (``routine_onsite: remote``), are dropped (``skip``),
or stay as the level says (``keep``), and it is left out of random on-site draws
(``onsite_draws: exclude``; ``weighted``: its level's weight times ``onsite_weight_factor``).

Except on complaint: a listed firm about which a complaint (信访投诉,
:mod:`credit.supervision.complaints`) was received in the period is back on the on-site plan
(its level's routine inspections due in the period, at least one) and in on-site draws with
its level's full weight, with the basis ``complaint``. Inspections on a clue or an alert
stay outside the plan.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Final

from ecowarn.credit.supervision.config import SupervisionConfig
from ecowarn.credit.supervision.period import Period, month_end
from ecowarn.i18n import Lang, catalog

__all__ = ["BASES", "PlanItem", "Standing", "Window", "draw_basis", "plan_item", "reason", "windows"]

# Why an enterprise has the inspections it has.
BASES: Final = ("level", "level_exempt", "positive_list_remote", "positive_list_skip",
                "positive_list_keep", "complaint")


@dataclass(frozen=True, slots=True)
class Standing:
    """An enterprise's credit standing: score and level (100, A without ledger entries)."""

    score: int
    level: str


@dataclass(frozen=True, slots=True)
class Window:
    """One window of routine inspections, with the inspections due when it closes."""

    start: date
    end: date
    inspections: int
    closes_in_period: bool


@dataclass(frozen=True, slots=True)
class PlanItem:
    enterprise_id: str
    score: int
    level: str
    listed: bool
    lists: tuple[str, ...]          # identifiers of the lists it is on (reference day)
    onsite_per_year: int            # what its level calls for
    inspections: int                # routine on-site inspections due in the period
    remote_inspections: int         # routine off-site checks due in the period instead
    exempt: bool                    # exempt from routine on-site inspection
    basis: str                      # one of BASES
    windows: tuple[Window, ...]     # the level's windows open in the period
    remote_weight: float            # its weight in remote spot-check draws
    onsite_weight: float            # its weight in random on-site draws (0: left out)
    complaints: int = 0             # complaints about it received in the period


def _month_date(index: int) -> date:
    return date(index // 12, index % 12 + 1, 1)


def windows(per_year: int, period: Period) -> tuple[Window, ...]:
    """The windows of ``per_year`` inspections a year that are open in ``period``."""
    if per_year <= 0:
        return ()
    length = 12 // per_year if per_year <= 12 else 1
    each = max(1, per_year // 12)
    first, last = period.months
    out = []
    month = first - (first % 12) % length
    while month <= last:
        end = month + length - 1
        out.append(Window(_month_date(month), month_end(end // 12, end % 12 + 1), each, end <= last))
        month += length
    return tuple(out)


def plan_item(enterprise_id: str, standing: Standing, lists: Sequence[str], period: Period,
              config: SupervisionConfig, complaints: int = 0) -> PlanItem:
    """What ``config`` calls for in ``period`` for one enterprise at ``standing``, on the
    positive lists ``lists`` (identifiers; empty: not listed), with ``complaints`` received
    about it in the period."""
    rule = config.rule(standing.level)
    open_windows = windows(rule.onsite_per_year, period)
    due = sum(w.inspections for w in open_windows if w.closes_in_period)
    listed = bool(lists)
    inspections, remote, exempt = due, 0, rule.onsite_per_year == 0
    on_complaint = listed and complaints > 0 and config.routine_onsite != "keep"
    onsite_weight = config.weight("onsite", standing.level, listed and not complaints)
    if listed and not complaints and config.onsite_draws == "exclude":
        onsite_weight = 0.0
    if on_complaint:
        basis, inspections, exempt = "complaint", max(due, 1), False
    elif exempt:
        basis = "level_exempt"
    elif not listed:
        basis = "level"
    else:
        basis = f"positive_list_{config.routine_onsite}"
        if config.routine_onsite != "keep":
            inspections, exempt = 0, True
            remote = due if config.routine_onsite == "remote" else 0
    return PlanItem(
        enterprise_id=enterprise_id, score=standing.score, level=standing.level, listed=listed,
        lists=tuple(sorted(set(lists))), onsite_per_year=rule.onsite_per_year, inspections=inspections,
        remote_inspections=remote, exempt=exempt, basis=basis, windows=open_windows,
        remote_weight=config.weight("remote", standing.level, listed),
        onsite_weight=onsite_weight, complaints=complaints)


def draw_basis(item: PlanItem, kind: str) -> str:
    """Why an enterprise has its weight in a draw of ``kind``: ``level``, ``positive_list``
    (a listed firm's lower odds, or left out of on-site draws) or ``complaint`` (a listed
    firm back in on-site draws on a complaint received in the period)."""
    if not item.listed:
        return "level"
    return "complaint" if kind == "onsite" and item.complaints else "positive_list"


def reason(item: PlanItem, config: SupervisionConfig, lang: Lang) -> str:
    """Why the item has its inspections, in ``lang``."""
    names = [getattr(config.lists[i], lang) if i in config.lists else i for i in item.lists]
    joined = catalog(lang, "FORMS")["list"]
    return catalog(lang, "SUPERVISION")[f"basis_{item.basis}"].format(
        level=item.level, per_year=item.onsite_per_year, lists=joined.join(names), complaints=item.complaints,
        inspections=item.inspections)
