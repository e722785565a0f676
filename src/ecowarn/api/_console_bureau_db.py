"""The queries behind the bureau's overview, map and search pages.

Every query takes the visible enterprise ids (``None``: every enterprise, and then the
objects of no enterprise too, like :func:`api._alerts_db.list_alerts`), so a region-limited
officer's numbers count only its jurisdiction. "Open" alerts are those still to be worked:
any status but ``closed`` and ``superseded`` (the officers' queue's default).

Today's data completeness reads today's rows only (``ts`` from local midnight to now, on the
``(device_id, metric, ts)`` key) and counts distinct minutes per device in the database, so
the cost grows with one day of data of the jurisdiction's devices, never with history.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

import psycopg

from ecowarn.alerts.model import ACTIVE_STATUSES
from ecowarn.api._alerts_db import OVERDUE_ANSWER_SQL
from ecowarn.api._credit_db import fetch_scores
from ecowarn.api._time import CST
from ecowarn.api.auth import Visibility
from ecowarn.config.registry import Registry
from ecowarn.credit.ledger import FULL_SCORE

__all__ = ["OPEN_STATUSES", "SEVERITY_ORDER", "Completeness", "enterprise_levels", "local_midnight", "minutes_today",
           "open_alert_counts", "overdue_answer_count", "overdue_rectification_count",
           "worst_open_severity"]

OPEN_STATUSES: Final[tuple[str, ...]] = ACTIVE_STATUSES
# Worst first.
SEVERITY_ORDER: Final[tuple[str, ...]] = ("high", "medium", "low")



def _scope(ids: Sequence[str] | None, column: str = "enterprise_id") -> tuple[str, list[Any]]:
    if ids is None:
        return "true", []
    return f"{column} = ANY(%s)", [list(ids)]


async def open_alert_counts(conn: psycopg.AsyncConnection[Any], ids: Sequence[str] | None,
                            ) -> dict[tuple[str, str], int]:
    """(rule, severity) -> number of open alerts."""
    where, params = _scope(ids)
    cur = await conn.execute(
        f"SELECT rule, severity, count(*) FROM alerts WHERE status = ANY(%s) AND {where}"
        " GROUP BY rule, severity", [list(OPEN_STATUSES), *params])
    return {(str(r[0]), str(r[1])): int(r[2]) for r in await cur.fetchall()}


async def overdue_answer_count(conn: psycopg.AsyncConnection[Any], ids: Sequence[str] | None,
                               now: datetime) -> int:
    where, params = _scope(ids)
    cur = await conn.execute(f"SELECT count(*) FROM alerts WHERE {OVERDUE_ANSWER_SQL} AND {where}",
                             [now, *params])
    row = await cur.fetchone()
    return int(row[0]) if row else 0


async def overdue_rectification_count(conn: psycopg.AsyncConnection[Any], ids: Sequence[str] | None,
                                      now: datetime) -> int:
    """Rectifications past their due time and not verified (as the ledger's ``overdue``)."""
    where, params = _scope(ids, "r.enterprise_id")
    cur = await conn.execute(
        "SELECT count(*) FROM rectifications r WHERE r.status IN ('ordered', 'submitted')"
        f" AND (r.due_at <= %s OR r.overdue_at IS NOT NULL) AND {where}", [now, *params])
    row = await cur.fetchone()
    return int(row[0]) if row else 0


async def worst_open_severity(conn: psycopg.AsyncConnection[Any], ids: Sequence[str] | None,
                              ) -> tuple[dict[str, str], dict[str, str]]:
    """The worst severity of the open alerts per enterprise and per device (a station's
    alerts have no enterprise)."""
    where, params = _scope(ids)
    cur = await conn.execute(
        f"SELECT enterprise_id, device_ids, severity FROM alerts WHERE status = ANY(%s) AND {where}",
        [list(OPEN_STATUSES), *params])
    by_enterprise: dict[str, str] = {}
    by_device: dict[str, str] = {}

    def worse(table: dict[str, str], key: str, severity: str) -> None:
        rank = SEVERITY_ORDER.index(severity) if severity in SEVERITY_ORDER else len(SEVERITY_ORDER)
        old = table.get(key)
        if old is None or rank < (SEVERITY_ORDER.index(old) if old in SEVERITY_ORDER else len(SEVERITY_ORDER)):
            table[key] = severity

    for enterprise_id, device_ids, severity in await cur.fetchall():
        if enterprise_id is not None:
            worse(by_enterprise, str(enterprise_id), str(severity))
        for device_id in device_ids or ():
            worse(by_device, str(device_id), str(severity))
    return by_enterprise, by_device


def local_midnight(now: datetime) -> datetime:
    """The start of ``now``'s day in China Standard Time."""
    local = now.astimezone(CST)
    return local.replace(hour=0, minute=0, second=0, microsecond=0)


@dataclass(frozen=True, slots=True)
class Completeness:
    """Today's minutes of one device: ``received`` distinct minutes with a reading out of
    ``expected`` (the minutes elapsed since local midnight)."""

    device_id: str
    received: int
    expected: int

    @property
    def share(self) -> float:
        return 0.0 if self.expected <= 0 else min(self.received, self.expected) / self.expected


async def minutes_today(conn: psycopg.AsyncConnection[Any], device_ids: Sequence[str],
                        now: datetime) -> list[Completeness]:
    """Per device: distinct minutes with a reading today (local midnight to ``now``)."""
    start = local_midnight(now)
    expected = int((now - start) // timedelta(minutes=1))
    if not device_ids:
        return []
    cur = await conn.execute(
        "SELECT device_id, count(*) FROM (SELECT DISTINCT device_id, date_bin('1 minute', ts, %s) FROM readings"
        " WHERE device_id = ANY(%s) AND ts >= %s AND ts < %s) m GROUP BY device_id",
        (start, list(device_ids), start, start + timedelta(minutes=expected)))
    found = {str(r[0]): int(r[1]) for r in await cur.fetchall()}
    return [Completeness(d, min(found.get(d, 0), expected), expected) for d in device_ids]


async def enterprise_levels(conn: psycopg.AsyncConnection[Any], registry: Registry, visible: Visibility,
                            level_of: Callable[[int], str]) -> dict[str, tuple[int, str]]:
    """Visible enterprise id -> (score, level in the active scheme, ``level_of``): the
    registry's enterprises and any with ledger entries, 100 points without (as
    ``GET /credit/scores`` and the enterprises page)."""
    scores = await fetch_scores(conn)
    out = {}
    for enterprise_id in sorted(set(registry.enterprises) | set(scores)):
        if visible.sees(enterprise_id):
            score = scores.get(enterprise_id, (FULL_SCORE, ""))[0]
            out[enterprise_id] = (score, level_of(score))
    return out
