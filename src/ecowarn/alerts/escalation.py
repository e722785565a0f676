"""Escalation of alerts nobody has acknowledged.

An alert still ``open`` (not acknowledged, claimed or dismissed) ``after_min`` minutes
after it was raised (``created_at``: wall-clock time, so replayed old data does not
escalate at once) reaches escalation level 1; every further ``after_min`` adds a
level, up to ``max_level``. Defaults per severity: high 2 h, medium 24 h, low 72 h;
an unknown severity uses the medium time. Each level reached sets
``escalation_level`` and ``escalated_at``, appends an ``escalated`` event (internal)
and counts ``ecowarn_alerts_escalated_total{severity}``.

:class:`Escalator` owns the loop; ``sweep(now)`` is one pass (what tests call).
Rows are taken with ``FOR UPDATE SKIP LOCKED``: an officer acting on an alert at the
same moment is never blocked, and two escalators never escalate one alert twice.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any

import psycopg
from prometheus_client import CollectorRegistry, Counter
from psycopg_pool import AsyncConnectionPool

from ecowarn.alerts.audit import record_event
from ecowarn.alerts.model import SYSTEM_ESCALATOR
from ecowarn.core.aio import Backoff, run_periodically

__all__ = ["EscalationParams", "Escalator"]

log = logging.getLogger(__name__)


def _default_after_min() -> Mapping[str, int]:
    return MappingProxyType({"high": 120, "medium": 1440, "low": 4320})


@dataclass(frozen=True, slots=True)
class EscalationParams:
    after_min: Mapping[str, int] = field(default_factory=_default_after_min)
    default_after_min: int = 1440
    max_level: int = 3
    interval_s: float = 60.0

    def __post_init__(self) -> None:
        for severity, minutes in self.after_min.items():
            if minutes < 1:
                raise ValueError(f"after_min[{severity}] must be >= 1 minute")
        if self.default_after_min < 1 or self.max_level < 1 or self.interval_s <= 0:
            raise ValueError("default_after_min and max_level must be >= 1, interval_s > 0")
        object.__setattr__(self, "after_min", MappingProxyType(dict(self.after_min)))

    def level(self, severity: str, age_s: float) -> int:
        """Escalation level due for an unacknowledged alert of this age."""
        step_s = 60.0 * self.after_min.get(severity, self.default_after_min)
        return max(0, min(self.max_level, int(age_s // step_s)))


class Escalator:
    """Escalates unacknowledged alerts; ``run()`` is a task in the service's TaskGroup."""

    def __init__(self, pool: AsyncConnectionPool[Any], metrics_registry: CollectorRegistry,
                 params: EscalationParams | None = None) -> None:
        self._pool = pool
        self._params = params or EscalationParams()
        self._escalated = Counter("ecowarn_alerts_escalated_total",
                                  "Escalations of unacknowledged alerts, by severity",
                                  ["severity"], registry=metrics_registry)
        self._failures = Counter("ecowarn_escalation_failures_total",
                                 "Escalation sweeps that failed and were retried",
                                 registry=metrics_registry)

    async def run(self) -> None:
        """Sweep every ``interval_s`` until cancelled; a failed sweep is logged and retried."""
        async def step() -> None:
            try:
                await self.sweep(datetime.now(UTC))
            except (psycopg.Error, OSError):
                self._failures.inc()
                raise

        interval_s = self._params.interval_s
        await run_periodically(step, interval_s=interval_s, log=log, what="escalation sweep",
                               retry_on=(psycopg.Error, OSError),
                               backoff=Backoff(interval_s, interval_s, jitter=False))

    async def sweep(self, now: datetime) -> list[int]:
        """One pass at time ``now``; returns the ids of the alerts escalated."""
        p = self._params
        severities = list(p.after_min)
        escalated: list[int] = []
        async with self._pool.connection() as conn, conn.transaction():
            cur = await conn.execute(
                "SELECT a.id, a.severity, a.escalation_level,"
                " extract(epoch FROM (%s - a.created_at))::float8,"
                " coalesce(t.after_min, %s)"
                " FROM alerts a LEFT JOIN unnest(%s::text[], %s::int[]) AS t(severity, after_min)"
                " ON t.severity = a.severity"
                " WHERE a.status = 'open' AND a.escalation_level < %s"
                " AND a.created_at <= %s - make_interval(mins => coalesce(t.after_min, %s)"
                " * (a.escalation_level + 1))"
                " ORDER BY a.id FOR UPDATE OF a SKIP LOCKED",
                (now, p.default_after_min, severities, [p.after_min[s] for s in severities],
                 p.max_level, now, p.default_after_min))
            for alert_id, severity, current, age_s, after_min in await cur.fetchall():
                level = p.level(severity, float(age_s))
                if level <= current:
                    continue
                await conn.execute(
                    "UPDATE alerts SET escalation_level = %s, escalated_at = %s WHERE id = %s",
                    (level, now, alert_id))
                await record_event(conn, int(alert_id), "escalated", SYSTEM_ESCALATOR, public=False,
                                   reason=f"not acknowledged {int(age_s // 60)} min after it was "
                                          f"raised ({severity}: every {after_min} min)",
                                   data={"level": level, "from_level": current})
                escalated.append(int(alert_id))
                self._escalated.labels(severity).inc()
        if escalated:
            log.info("escalated alerts %s", escalated)
        return escalated
