"""Statistics of the enforcement workflow for a bureau (CONTRACT section 9): how many alerts, how
many went to the enterprise, how fast it answered, what the officers decided, per region, rule,
month or enterprise.

**The cohort.** Every measure counts the alerts that *started* in ``[since, until)`` (the
alert's ``start_ts``, the start of the violation or anomaly, not when it was recorded),
whatever happened to them since, as of ``now``. Alerts ``superseded`` by the detector runner
(merged into another alert by late data, retired by declared maintenance or corrected data)
are not counted: they are no longer alerts.

**Measures** (per group, and for all groups together):

- ``alerts``: alerts of the cohort.
- ``warned``: alerts dispatched to the enterprise (the officer's notice with its answer
  deadline: ``dispatched_at`` set).
- ``answered``: warned alerts with at least one answer of the enterprise (陈述申辩: an
  explanation, declared maintenance or rectification done).
- ``answer_rate`` = answered / warned (None without warned alerts).
- ``median_hours_to_answer``: median over answered alerts of the hours from the notice
  (``dispatched_at``) to the first answer; an answer given before the notice (to the risk
  warning sent when the alert opened) counts as 0 hours.
- ``confirmed``: alerts an officer confirmed as violations (a ``confirm`` step in their audit
  trail), whatever the disposition, 首违不罚 included.
- ``dismissed``: alerts an officer dismissed (a ``dismiss`` step); ``decided`` = confirmed +
  dismissed (an alert is never both).
- ``false_alarms``: alerts closed with disposition ``false_alarm``.
- ``confirmation_rate`` = confirmed / decided, ``false_alarm_rate`` = false_alarms / decided
  (None while nothing is decided): the precision officers found.
- ``first_offences``: alerts confirmed as first offences without penalty (disposition
  ``first_offence_no_penalty``).
- ``rectifications``: rectifications ordered on the cohort's alerts (withdrawn ones too).
- ``rectifications_overdue``: of those, the ones overdue at ``now``: still ``ordered`` or
  ``submitted`` when their due time has passed (exactly ``GET /rectifications?overdue=true``).

**Groups.** ``region``: the enterprise's administrative division code from the registry, cut
to ``region_digits`` (6 county, 4 city, 2 province); ``rule``: the rule id; ``month``: the
calendar month of the alert's start in China Standard Time (``YYYY-MM``); ``enterprise``: the
enterprise id. Alerts of no enterprise (air hotspots), and of an enterprise the registry no
longer lists for ``region``, fall in a group whose key is None.

Everything is computed in one SQL statement (``GROUPING SETS`` gives the groups and the total
together).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, Literal, get_args

import psycopg
from psycopg import sql

__all__ = [
    "COUNT_MEASURES",
    "CSV_BOM",
    "GROUP_BY",
    "MEASURES",
    "RATE_MEASURES",
    "REGION_DIGITS",
    "GroupBy",
    "GroupStats",
    "StatsQuery",
    "StatsResult",
    "alert_stats",
    "stats_csv",
]

GroupBy = Literal["region", "rule", "month", "enterprise"]
GROUP_BY: Final[tuple[str, ...]] = get_args(GroupBy)
REGION_DIGITS: Final = (2, 4, 6)
COUNT_MEASURES: Final = ("alerts", "warned", "answered", "confirmed", "dismissed", "decided", "false_alarms",
                         "first_offences", "rectifications", "rectifications_overdue")
RATE_MEASURES: Final = ("answer_rate", "confirmation_rate", "false_alarm_rate")
# In the order the API, the CSV and the console show them.
MEASURES: Final = ("alerts", "warned", "answered", "answer_rate", "median_hours_to_answer", "confirmed",
                   "dismissed", "decided", "confirmation_rate", "false_alarms", "false_alarm_rate",
                   "first_offences", "rectifications", "rectifications_overdue")
# Excel on Chinese Windows reads a CSV without a byte order mark as GBK and garbles UTF-8.
CSV_BOM: Final = "\ufeff"
_RATE_DIGITS = 4
_HOURS_DIGITS = 2


@dataclass(frozen=True, slots=True)
class StatsQuery:
    """What to count. ``enterprise_ids`` None: every alert, those of no enterprise included
    (an unlimited reader); a collection: only those enterprises' alerts (a jurisdiction, an
    enterprise, a region filter). ``rule``: one rule only."""

    group_by: GroupBy
    since: datetime | None = None
    until: datetime | None = None
    enterprise_ids: Collection[str] | None = None
    rule: str | None = None
    region_digits: int = 6

    def __post_init__(self) -> None:
        if self.group_by not in GROUP_BY:
            raise ValueError(f"group_by must be one of {', '.join(GROUP_BY)}")
        if self.region_digits not in REGION_DIGITS:
            raise ValueError("region_digits must be 2, 4 or 6")
        if self.since is not None and self.until is not None and self.until <= self.since:
            raise ValueError("until must be after since")


@dataclass(frozen=True, slots=True)
class GroupStats:
    """The measures of one group (``key`` None: alerts without the group's attribute, or,
    for the total, all groups)."""

    key: str | None
    alerts: int = 0
    warned: int = 0
    answered: int = 0
    median_hours_to_answer: float | None = None
    confirmed: int = 0
    dismissed: int = 0
    false_alarms: int = 0
    first_offences: int = 0
    rectifications: int = 0
    rectifications_overdue: int = 0

    @property
    def decided(self) -> int:
        return self.confirmed + self.dismissed

    @property
    def answer_rate(self) -> float | None:
        return _rate(self.answered, self.warned)

    @property
    def confirmation_rate(self) -> float | None:
        return _rate(self.confirmed, self.decided)

    @property
    def false_alarm_rate(self) -> float | None:
        return _rate(self.false_alarms, self.decided)

    def measures(self) -> dict[str, int | float | None]:
        """Every measure by name, in :data:`MEASURES` order."""
        return {m: getattr(self, m) for m in MEASURES}


def _rate(part: int, whole: int) -> float | None:
    return None if whole == 0 else round(part / whole, _RATE_DIGITS)


@dataclass(frozen=True, slots=True)
class StatsResult:
    """The groups (ordered: months and regions by key, rules and enterprises by alerts, most
    first) and the total over all of them."""

    query: StatsQuery
    groups: list[GroupStats]
    total: GroupStats
    now: datetime


_KEYS: Final[Mapping[str, sql.Composable]] = {
    "region": sql.SQL("left(reg.region, %(digits)s)"),
    "rule": sql.SQL("a.rule"),
    # The calendar month of the start in China Standard Time (UTC+8, no daylight saving).
    "month": sql.SQL("to_char((a.start_ts AT TIME ZONE 'UTC') + interval '8 hours', 'YYYY-MM')"),
    "enterprise": sql.SQL("a.enterprise_id"),
}

_QUERY: Final = sql.SQL("""
WITH reg (enterprise_id, region) AS (
    SELECT * FROM unnest(%(reg_ids)s::text[], %(reg_regions)s::text[])
), cohort AS (
    SELECT {key} AS k,
           a.dispatched_at IS NOT NULL AS warned,
           a.dispatched_at,
           ans.first_at,
           EXISTS (SELECT 1 FROM alert_events e WHERE e.alert_id = a.id AND e.kind = 'transition'
                   AND e.action = 'confirm') AS confirmed,
           EXISTS (SELECT 1 FROM alert_events e WHERE e.alert_id = a.id AND e.kind = 'transition'
                   AND e.action = 'dismiss') AS dismissed,
           (a.status = 'closed' AND a.disposition = 'false_alarm') AS false_alarm,
           (a.disposition = 'first_offence_no_penalty') AS first_offence,
           r.n AS rectifications,
           r.overdue AS overdue
    FROM alerts a
    LEFT JOIN reg ON reg.enterprise_id = a.enterprise_id
    LEFT JOIN LATERAL (SELECT min(x.created_at) AS first_at FROM alert_answers x
                       WHERE x.alert_id = a.id) ans ON true
    LEFT JOIN LATERAL (SELECT count(*) AS n,
                              count(*) FILTER (WHERE r.status IN ('ordered', 'submitted')
                                  AND (r.due_at <= %(now)s OR r.overdue_at IS NOT NULL)) AS overdue
                       FROM rectifications r WHERE r.alert_id = a.id) r ON true
    WHERE a.status <> 'superseded'
      AND (%(since)s::timestamptz IS NULL OR a.start_ts >= %(since)s)
      AND (%(until)s::timestamptz IS NULL OR a.start_ts < %(until)s)
      AND (%(ents)s::text[] IS NULL OR a.enterprise_id = ANY(%(ents)s))
      AND (%(rule)s::text IS NULL OR a.rule = %(rule)s)
)
SELECT GROUPING(k) = 1 AS is_total, k,
       count(*) AS alerts,
       count(*) FILTER (WHERE warned) AS warned,
       count(*) FILTER (WHERE warned AND first_at IS NOT NULL) AS answered,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY
           extract(epoch FROM greatest(first_at - dispatched_at, interval '0')) / 3600.0)
           FILTER (WHERE warned AND first_at IS NOT NULL) AS median_hours,
       count(*) FILTER (WHERE confirmed) AS confirmed,
       count(*) FILTER (WHERE dismissed) AS dismissed,
       count(*) FILTER (WHERE false_alarm) AS false_alarms,
       count(*) FILTER (WHERE first_offence) AS first_offences,
       coalesce(sum(rectifications), 0) AS rectifications,
       coalesce(sum(overdue), 0) AS overdue
FROM cohort
GROUP BY GROUPING SETS ((k), ())
""")


def _group(key: str | None, row: Sequence[Any]) -> GroupStats:
    median = row[5]
    return GroupStats(
        key=key, alerts=int(row[2]), warned=int(row[3]), answered=int(row[4]),
        median_hours_to_answer=None if median is None else round(float(median), _HOURS_DIGITS),
        confirmed=int(row[6]), dismissed=int(row[7]), false_alarms=int(row[8]),
        first_offences=int(row[9]), rectifications=int(row[10]), rectifications_overdue=int(row[11]))


def _order(group_by: str) -> Callable[[GroupStats], tuple[Any, ...]]:
    """Months and regions in key order; rules and enterprises by alerts, most first. The
    group without a key last."""
    if group_by in ("month", "region"):
        return lambda g: (g.key is None, g.key or "")
    return lambda g: (g.key is None, -g.alerts, g.key or "")


async def alert_stats(conn: psycopg.AsyncConnection[Any], q: StatsQuery, regions: Mapping[str, str], *,
                      now: datetime | None = None) -> StatsResult:
    """The measures of ``q``'s cohort per group and in total. ``regions``: enterprise id ->
    administrative division code (the registry's); ``now`` (default: the clock) decides which
    rectifications are overdue."""
    at = now or datetime.now(UTC)
    ids = sorted(regions)
    cur = await conn.execute(_QUERY.format(key=_KEYS[q.group_by]), {
        "reg_ids": ids, "reg_regions": [regions[i] for i in ids], "digits": q.region_digits,
        "now": at, "since": q.since, "until": q.until, "rule": q.rule,
        "ents": None if q.enterprise_ids is None else sorted(q.enterprise_ids)})
    groups: list[GroupStats] = []
    total = GroupStats(key=None)
    for row in await cur.fetchall():
        if row[0]:
            total = _group(None, row)
        else:
            groups.append(_group(None if row[1] is None else str(row[1]), row))
    groups.sort(key=_order(q.group_by))
    return StatsResult(query=q, groups=groups, total=total, now=at)


def stats_csv(rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> str:
    """Rows as CSV (RFC 4180 quoting, CRLF) with a header of ``columns``, preceded by a UTF-8
    byte order mark so that Excel opens Chinese names correctly. None is an empty cell."""
    buf = io.StringIO()
    buf.write(CSV_BOM)
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow(["" if row.get(c) is None else row.get(c) for c in columns])
    return buf.getvalue()
