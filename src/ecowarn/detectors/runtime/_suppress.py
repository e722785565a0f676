"""Private: alerts that declared maintenance suppresses after the fact.

Evaluators that honour maintenance blank the covered times before running their
rule, so a declaration made *before* the data never lets an alert open. A
declaration made *after* queues a re-evaluation of its window (a trigger on
``maintenance``, migration 0005); the re-evaluation finds nothing where the alert
was, and :func:`apply_suppression` then retires the alert: status ``superseded``
(final, out of the officers' queue, never matched again by reconciliation) with
the covering declarations under ``suppressed_by_maintenance`` in its evidence and a
``superseded`` event in its audit trail. Only alerts still ``open`` (nobody has
taken them up) are retired; one an officer is working stays for the officer to
decide. If the condition outlasts the declaration, the next evaluation opens a new
alert for the uncovered part. An alert whose beginning a declaration now covers
keeps its identity but starts where the uncovered finding starts (reconciliation
alone only ever moves a start earlier).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

import psycopg

from ecowarn.alerts.audit import record_event
from ecowarn.alerts.model import SYSTEM_DETECTOR
from ecowarn.alerts.store import AlertDraft, ReconcileResult, move_start
from ecowarn.detectors.runtime._load import Maintenance, as_dt, epoch
from ecowarn.detectors.runtime.contract import Correction

__all__ = ["MaintenanceAware", "SelfCorrecting", "apply_corrections", "apply_suppression", "retire"]


@runtime_checkable
class MaintenanceAware(Protocol):
    async def maintenance_windows(self, conn: psycopg.AsyncConnection[Any], subject: str,
                                  since: datetime) -> list[Maintenance]: ...


def _covered(a: int, b: int, windows: Sequence[Maintenance]) -> bool:
    """Whether the windows together cover ``[a, b)``."""
    pos = a
    for m in sorted(windows, key=lambda m: m.start_s):
        if m.start_s <= pos < m.end_s:
            pos = m.end_s
    return pos >= b


@runtime_checkable
class SelfCorrecting(Protocol):
    """An evaluator whose findings are exact, so an alert its re-evaluation no longer finds
    (late data filled the gap) can be retired."""

    async def unconfirmed(self, conn: psycopg.AsyncConnection[Any], subject: str,
                          window_start: datetime, result: ReconcileResult,
                          drafts: Sequence[AlertDraft]) -> list[Correction]:
        """The open alerts from ``window_start`` on that this evaluation contradicts, and
        what to do with each (the runner applies it with :func:`apply_corrections`)."""
        ...


async def apply_corrections(conn: psycopg.AsyncConnection[Any],
                            corrections: Sequence[Correction]) -> list[int]:
    """Apply an evaluator's corrections; returns the ids of the alerts retired."""
    retired = []
    for c in corrections:
        if c.retire_reason is not None:
            await retire(conn, c.alert_id, c.retire_reason, c.evidence or {})
            retired.append(c.alert_id)
        elif c.new_start is not None:
            await move_start(conn, c.alert_id, c.new_start)
    return retired


async def retire(conn: psycopg.AsyncConnection[Any], alert_id: int, reason: str,
                 evidence: dict[str, Any]) -> None:
    """Mark an open alert ``superseded`` with ``evidence`` merged in and an audit event."""
    await conn.execute(
        "UPDATE alerts SET status = 'superseded', updated_at = now(), evidence = evidence || %s::jsonb"
        " WHERE id = %s", (json.dumps(evidence), alert_id))
    await record_event(conn, alert_id, "superseded", SYSTEM_DETECTOR, public=True,
                       from_status="open", to_status="superseded", reason=reason, data=evidence)


async def apply_suppression(conn: psycopg.AsyncConnection[Any], rule: str, subject: str,
                            window_start: datetime, result: ReconcileResult,
                            windows: Sequence[Maintenance],
                            drafts: Sequence[AlertDraft] = ()) -> list[int]:
    """Retire open alerts from ``window_start`` on that no finding of this evaluation
    confirmed and that a maintenance window overlaps; move the start of confirmed ones
    whose beginning is now covered. Returns the ids retired."""
    if not windows:
        return []
    touched = {*result.opened, *result.updated, *result.superseded}
    cur = await conn.execute(
        "SELECT id, start_ts, end_ts FROM alerts WHERE rule = %s AND subject = %s"
        " AND status = 'open' AND start_ts >= %s", (rule, subject, window_start))
    suppressed = []
    for alert_id, start, end in await cur.fetchall():
        a0, a1 = epoch(start), math.inf if end is None else epoch(end)
        if alert_id in result.updated:
            firsts = [epoch(d.start) for d in drafts
                      if d.start >= start and (end is None or d.start <= end)]
            if firsts and min(firsts) > a0 and not any(d.start <= start for d in drafts
                                                        if d.end is None or d.end >= start):
                if _covered(a0, min(firsts), windows):
                    await conn.execute("UPDATE alerts SET start_ts = %s WHERE id = %s",
                                       (as_dt(min(firsts)), alert_id))
            continue
        if alert_id in touched:
            continue
        cover = [m for m in windows if m.start_s < a1 and m.end_s > a0]
        if not cover:
            continue
        info = [{"id": m.id, "device_id": m.device_id, "start_s": m.start_s, "end_s": m.end_s,
                 "reason": m.reason} for m in cover]
        await retire(conn, int(alert_id),
                     "covered by declared maintenance " + ", ".join(f"#{m.id}" for m in cover),
                     {"suppressed_by_maintenance": info})
        suppressed.append(int(alert_id))
    return suppressed
