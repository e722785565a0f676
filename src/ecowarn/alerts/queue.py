"""The officers' enforcement queue: one list across enterprises, riskiest first.

Risk score (0..100, two decimals; docs/enforcement.md has the reasoning)::

    score = severity + duration + repetition + credit
    severity   = 40 high | 25 medium | 10 low (other values: 10)
    duration   = min(20, 5 * log2(1 + hours))        hours = (end or now) - start
    repetition = min(20, 5 * (earlier + repeats))
                 earlier: other alerts of the same enterprise and rule that started in the
                 90 days before now (superseded ones and false alarms left out; for the
                 ``incident_rules``, data_gap, those overlapping this one in time are the
                 same incident, a site outage, and left out too);
                 repeats: repeat episodes attached to this alert
    credit     = A 0 | B 5 | C 10 | D 15 | E 20 | unknown 10

Ties go to the older alert (lower id). Scores move with time (an ongoing alert's
duration grows), so a page cursor carries the time the first page was computed at
(``as_of``) and later pages are computed at that same time: paging neither skips nor
repeats an item unless alerts change in between.

Credit levels come from the credit ledger when it exists: :func:`credit_level_of`.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from ecowarn.alerts.answers import answers_of
from ecowarn.alerts.model import ACTIVE_STATUSES

__all__ = [
    "QueueFilter",
    "RiskScore",
    "RiskWeights",
    "credit_level_of",
    "credit_levels_of",
    "list_labels",
    "queue_page",
    "risk_score",
]


def _frozen(m: Mapping[str, float]) -> Mapping[str, float]:
    return MappingProxyType(dict(m))


@dataclass(frozen=True, slots=True)
class RiskWeights:
    severity_points: Mapping[str, float] = field(
        default_factory=lambda: _frozen({"high": 40.0, "medium": 25.0, "low": 10.0}))
    other_severity_points: float = 10.0
    duration_points_per_doubling: float = 5.0
    duration_cap: float = 20.0
    repeat_points: float = 5.0
    repeat_cap: float = 20.0
    repeat_window: timedelta = timedelta(days=90)
    # Rules whose alerts of one enterprise overlapping in time are one incident (devices of a
    # site falling silent together): they do not count as repeats of each other.
    incident_rules: frozenset[str] = frozenset({"data_gap"})
    credit_points: Mapping[str, float] = field(
        default_factory=lambda: _frozen({"A": 0.0, "B": 5.0, "C": 10.0, "D": 15.0, "E": 20.0}))
    unknown_credit_points: float = 10.0


@dataclass(frozen=True, slots=True)
class RiskScore:
    total: float
    severity: float
    duration: float
    repetition: float
    credit: float

    def parts(self) -> dict[str, float]:
        return {"severity": self.severity, "duration": self.duration,
                "repetition": self.repetition, "credit": self.credit}


def risk_score(severity: str, duration_h: float, repeats: int, credit_level: str | None,
               weights: RiskWeights | None = None) -> RiskScore:
    """The documented score of one alert (see the module docstring)."""
    w = weights or RiskWeights()
    sev = w.severity_points.get(severity, w.other_severity_points)
    dur = min(w.duration_cap, w.duration_points_per_doubling * math.log2(1 + max(0.0, duration_h)))
    rep = min(w.repeat_cap, w.repeat_points * max(0, repeats))
    cred = (w.unknown_credit_points if credit_level is None
            else w.credit_points.get(credit_level, w.unknown_credit_points))
    parts = [round(x, 2) for x in (sev, dur, rep, cred)]
    return RiskScore(round(sum(parts), 2), *parts)


async def credit_levels_of(conn: psycopg.AsyncConnection[Any],
                           enterprise_ids: Sequence[str]) -> dict[str, str | None]:
    """Credit level (A..E) per enterprise from the credit ledger; None when there is none.

    When ``credit_ledger`` and the view ``credit_scores(enterprise_id, score, level)``
    exist, an enterprise listed there has that level and one not listed (no ledger
    entry) stands at 100 points, level A. Without them every level is None.
    """
    ids = sorted(set(enterprise_ids))
    cur = await conn.execute("SELECT to_regclass('credit_ledger') IS NOT NULL"
                             " AND to_regclass('credit_scores') IS NOT NULL")
    row = await cur.fetchone()
    if not ids or row is None or not row[0]:
        return dict.fromkeys(ids)
    cur = await conn.execute("SELECT enterprise_id, level FROM credit_scores"
                             " WHERE enterprise_id = ANY(%s)", (ids,))
    found = {str(r[0]): str(r[1]) for r in await cur.fetchall()}
    return {e: found.get(e, "A") for e in ids}


async def credit_level_of(conn: psycopg.AsyncConnection[Any], enterprise_id: str) -> str | None:
    """The enterprise's current credit level, or None when no credit ledger exists."""
    return (await credit_levels_of(conn, [enterprise_id]))[enterprise_id]


@dataclass(frozen=True, slots=True)
class QueueFilter:
    """``enterprise_ids``: restrict to these (a region filter resolved by the caller and
    narrowed to what the token may see, :meth:`api.auth.Visibility.narrow`);
    ``assignee``: a token id, or 0 for unassigned items; ``statuses``: default the
    active ones (not closed, not superseded)."""

    enterprise_ids: Sequence[str] | None = None
    rule: str | None = None
    statuses: Sequence[str] = ACTIVE_STATUSES
    assignee: int | None = None


_QUEUE_SQL = """
SELECT a.id, a.rule, a.subject, a.enterprise_id, a.device_ids, a.start_ts, a.end_ts, a.severity,
       a.status, a.summary, a.summary_zh, a.created_at, a.assignee_token, a.assignee_label,
       a.claimed_at, a.dispatched_at, a.due_at, a.escalation_level, a.escalated_at,
       a.repeat_count, a.last_repeat_at,
       (SELECT count(*) FROM alerts o
         WHERE o.enterprise_id = a.enterprise_id AND o.rule = a.rule AND o.id <> a.id
           AND o.start_ts >= %(since)s AND o.start_ts <= %(as_of)s
           AND o.status <> 'superseded' AND o.disposition IS DISTINCT FROM 'false_alarm'
           AND NOT (o.rule = ANY(%(incident_rules)s)
                    AND o.start_ts <= COALESCE(a.end_ts, 'infinity'::timestamptz)
                    AND COALESCE(o.end_ts, 'infinity'::timestamptz) >= a.start_ts)
       ) AS earlier
FROM alerts a
WHERE {where}
"""


async def queue_page(
    conn: psycopg.AsyncConnection[Any], f: QueueFilter, *, as_of: datetime, limit: int,
    after: tuple[float, int] | None = None, weights: RiskWeights | None = None,
) -> tuple[list[dict[str, Any]], tuple[float, int] | None]:
    """One page of the queue at time ``as_of``, riskiest first.

    Each item is the alert's row plus ``score`` (:class:`RiskScore`), ``earlier``,
    ``credit_level``, ``overdue`` and ``answers``. Returns the page and the key
    ``(score, id)`` of its last item when another page follows.
    """
    w = weights or RiskWeights()
    where: list[sql.Composable] = [sql.SQL("a.status = ANY(%(statuses)s)")]
    params: dict[str, Any] = {"statuses": list(f.statuses), "as_of": as_of,
                              "since": as_of - w.repeat_window, "incident_rules": sorted(w.incident_rules)}
    if f.enterprise_ids is not None:
        where.append(sql.SQL("a.enterprise_id = ANY(%(enterprises)s)"))
        params["enterprises"] = list(f.enterprise_ids)
    if f.rule is not None:
        where.append(sql.SQL("a.rule = %(rule)s"))
        params["rule"] = f.rule
    if f.assignee == 0:
        where.append(sql.SQL("a.assignee_token IS NULL"))
    elif f.assignee is not None:
        where.append(sql.SQL("a.assignee_token = %(assignee)s"))
        params["assignee"] = f.assignee
    query = sql.SQL(_QUEUE_SQL).format(where=sql.SQL(" AND ").join(where))
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(query, params)
        rows = await cur.fetchall()
    credit = await credit_levels_of(conn, [r["enterprise_id"] for r in rows
                                           if r["enterprise_id"] is not None])
    for r in rows:
        end = r["end_ts"] or as_of
        hours = max(0.0, (end - r["start_ts"]).total_seconds() / 3600)
        level = credit.get(r["enterprise_id"]) if r["enterprise_id"] is not None else None
        r["credit_level"] = level
        r["score"] = risk_score(r["severity"], hours, int(r["earlier"]) + int(r["repeat_count"]),
                                level, w)
        r["overdue"] = r["due_at"] is not None and r["due_at"] < as_of
    rows.sort(key=lambda r: (-r["score"].total, r["id"]))
    if after is not None:
        a_score, a_id = after
        rows = [r for r in rows if (-r["score"].total, r["id"]) > (-a_score, a_id)]
    page = rows[:limit]
    answers = await answers_of(conn, [r["id"] for r in page])
    for r in page:
        r["answers"] = answers.get(r["id"], [])
    last = (page[-1]["score"].total, int(page[-1]["id"])) if len(rows) > limit else None
    return page, last


async def list_labels(
    conn: psycopg.AsyncConnection[Any], *, rule: str | None, disposition: str | None,
    since: datetime | None, until: datetime | None, limit: int, after_id: int | None,
    enterprise_ids: Collection[str] | None = None,
) -> tuple[list[dict[str, Any]], int | None]:
    """Closed alerts with their disposition (labels for tuning detectors), newest
    closure first by id; ``since``/``until`` bound ``closed_at``; ``enterprise_ids``
    (what the token may see) leaves out every other alert, those of no enterprise too."""
    where: list[sql.Composable] = [sql.SQL("status = 'closed'")]
    params: list[Any] = []
    if enterprise_ids is not None:
        where.append(sql.SQL("enterprise_id = ANY(%s)"))
        params.append(sorted(enterprise_ids))
    for column, value, op in (("rule", rule, "="), ("disposition", disposition, "="),
                              ("closed_at", since, ">="), ("closed_at", until, "<"),
                              ("id", after_id, "<")):
        if value is not None:
            where.append(sql.SQL("{} {} %s").format(sql.Identifier(column), sql.SQL(op)))
            params.append(value)
    params.append(limit + 1)
    query = sql.SQL(
        "SELECT id, rule, subject, enterprise_id, device_ids, start_ts, end_ts, severity,"
        " params, disposition, disposition_reason, closed_at, repeat_count"
        " FROM alerts WHERE {} ORDER BY id DESC LIMIT %s").format(sql.SQL(" AND ").join(where))
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(query, params)
        rows = await cur.fetchall()
    if len(rows) > limit:
        rows = rows[:limit]
        return rows, int(rows[-1]["id"])
    return rows, None
