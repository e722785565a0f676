"""What happens to credit when an officer confirms an alert.

The alert lifecycle calls :func:`on_alert_confirmed` inside the transaction that
confirms the alert, with the disposition the confirmation carries. It freezes the
evidence package and then writes the ledger entry, both linked into the hash chain; if
the confirmation rolls back, so do they. The entry is a ``deduction`` from the table,
or, for a confirmation as a first offence without penalty (``first_offence_no_penalty``,
首违不罚), a zero-point ``first_offence`` entry: nothing is deducted, and it counts as a
violation in later repeat and first-offence checks. Calling it again for an alert whose
entry stands (not reversed) is a no-op.

The work is done by a :class:`CreditService`, built once at start from the
registry and the credit configuration. The composition root installs it with
:func:`install`; :func:`on_alert_confirmed` is the module-level entry point that
delegates to it. Without an installed service (tests of other components) a
default one is used: packaged deduction table, and evidence without registry
entries, with a warning in the log.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

import psycopg
from prometheus_client import CollectorRegistry, Counter
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from ecowarn.config.registry import Registry
from ecowarn.core.aio import Backoff, run_periodically
from ecowarn.credit.chain import lock_chain, next_slot
from ecowarn.credit.errors import EntryNotFound
from ecowarn.credit.evidence import freeze_evidence
from ecowarn.credit.ledger import active_confirmation, append_entry, repair_due, repeat_count
from ecowarn.credit.params import CreditParams, load_credit_params

__all__ = ["CreditMetrics", "CreditService", "actor_info", "install", "installed", "on_alert_confirmed"]

log = logging.getLogger(__name__)

# The disposition of a confirmation without penalty (alerts.model.FIRST_OFFENCE).
FIRST_OFFENCE_DISPOSITION = "first_offence_no_penalty"
# Margin around the alert window for the raw readings of an evidence package.
DEFAULT_EVIDENCE_MARGIN = timedelta(minutes=30)
# Automatic repair runs this often; tests call repair_once() instead.
REPAIR_INTERVAL_S = 3600.0


class CreditMetrics:
    """Credit counters, registered once on ``registry``."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.entries = Counter("ecowarn_credit_entries_total", "Credit ledger entries written, by type",
                               ["type"], registry=registry)
        self.evidence = Counter("ecowarn_evidence_packages_total", "Evidence packages frozen",
                                registry=registry)


def actor_info(actor: Any) -> dict[str, Any]:
    """``{"token_id", "role", "label"}`` of whoever acts, read defensively from any object
    (or mapping) that has those attributes."""
    def get(name: str) -> Any:
        if isinstance(actor, Mapping):
            return actor.get(name)
        return getattr(actor, name, None)

    token_id = get("token_id")
    try:
        token_id = None if token_id is None else int(token_id)
    except (TypeError, ValueError):
        token_id = str(token_id)
    role, label = get("role"), get("label")
    return {"token_id": token_id, "role": None if role is None else str(role),
            "label": None if label is None else str(label)}


class CreditService:
    """Evidence and ledger writes for confirmed alerts, and automatic credit repair."""

    def __init__(self, registry: Registry | None, params: CreditParams, *,
                 metrics: CreditMetrics | None = None,
                 evidence_margin: timedelta = DEFAULT_EVIDENCE_MARGIN) -> None:
        self._registry = registry
        self._params = params
        self._metrics = metrics
        self._margin = evidence_margin

    @property
    def params(self) -> CreditParams:
        return self._params

    async def on_alert_confirmed(self, conn: psycopg.AsyncConnection[Any], alert_id: int,
                                 actor: Any, *, disposition: str | None = None) -> None:
        """Freeze the alert's evidence and write its deduction, or its zero-point
        ``first_offence`` entry when ``disposition`` is ``first_offence_no_penalty``, in the
        caller's transaction."""
        who = actor_info(actor)
        async with conn.transaction():
            await lock_chain(conn)
            async with conn.cursor(row_factory=dict_row) as cur:
                await cur.execute("SELECT * FROM alerts WHERE id = %s", (alert_id,))
                alert = await cur.fetchone()
            if alert is None:
                raise EntryNotFound(f"no alert {alert_id}")
            enterprise_id = alert["enterprise_id"]
            if enterprise_id is not None:
                standing = await active_confirmation(conn, alert_id)
                if standing is not None:
                    log.info("alert %s already has %s %s; nothing to do", alert_id,
                             standing["entry_type"], standing["id"])
                    return
            else:
                cur2 = await conn.execute("SELECT id FROM evidence_packages WHERE alert_id = %s"
                                          " AND kind = 'alert' LIMIT 1",
                                          (alert_id,))
                if await cur2.fetchone() is not None:
                    log.info("alert %s (no enterprise) already has evidence; nothing to do", alert_id)
                    return
            evidence = await freeze_evidence(conn, alert, await next_slot(conn), registry=self._registry,
                                             actor=who, margin=self._margin)
            if self._metrics is not None:
                self._metrics.evidence.inc()
            if enterprise_id is None:
                log.info("alert %s concerns no enterprise: evidence %s frozen, no deduction",
                         alert_id, evidence.id)
                return
            rule, severity, start = alert["rule"], alert["severity"], alert["start_ts"]
            repeats = await repeat_count(conn, enterprise_id, rule, start, self._params.repeat_window)
            slot = await next_slot(conn)
            if disposition == FIRST_OFFENCE_DISPOSITION:
                entry_type = "first_offence"
                await append_entry(
                    conn, slot, enterprise_id=enterprise_id, entry_type=entry_type, points=0,
                    occurred_at=start, actor=who, alert_id=alert_id, rule=rule, severity=severity,
                    repeat_count=repeats, evidence_id=evidence.id,
                    reason=(f"confirmed violation {rule} ({severity}) without penalty: first offence "
                            f"corrected in time (首违不罚); {repeats} earlier in "
                            f"{self._params.repeat_window_days} days"))
            else:
                entry_type = "deduction"
                deduction = self._params.deduction(rule, severity, repeats)
                await append_entry(
                    conn, slot, enterprise_id=enterprise_id, entry_type=entry_type,
                    points=-deduction.points, occurred_at=start, actor=who, alert_id=alert_id,
                    rule=rule, severity=severity, repeat_count=repeats, evidence_id=evidence.id,
                    repair_after=slot.now + self._params.waiting(severity),
                    reason=(f"confirmed violation {rule} ({severity}); {deduction.points} points from "
                            f"table {deduction.table_key}, {repeats} earlier in "
                            f"{self._params.repeat_window_days} days"))
            if self._metrics is not None:
                self._metrics.entries.labels(entry_type).inc()

    async def repair_once(self, pool: AsyncConnectionPool[Any], *, now: datetime | None = None) -> int:
        """Run automatic credit repair once; return the number of repairs written."""
        async with pool.connection() as conn, conn.transaction():
            written = await repair_due(conn, now=now)
        if written and self._metrics is not None:
            self._metrics.entries.labels("repair").inc(len(written))
        return len(written)

    async def run_repairs(self, pool: AsyncConnectionPool[Any], *,
                          interval_s: float = REPAIR_INTERVAL_S) -> None:
        """Automatic credit repair every ``interval_s``; a task in the service's TaskGroup."""
        async def step() -> None:
            n = await self.repair_once(pool)
            if n:
                log.info("automatic credit repair: %d deductions repaired", n)

        await run_periodically(step, interval_s=interval_s, log=log, what="automatic credit repair",
                               retry_on=(psycopg.Error, OSError),
                               backoff=Backoff(interval_s, interval_s, jitter=False))


_installed: CreditService | None = None
_fallback: CreditService | None = None


def install(service: CreditService | None) -> None:
    """Make ``service`` the one :func:`on_alert_confirmed` uses (None uninstalls)."""
    global _installed
    _installed = service


def installed() -> CreditService:
    """The installed service, or the default one (with a warning, once)."""
    global _fallback
    if _installed is not None:
        return _installed
    if _fallback is None:
        log.warning("no CreditService installed: using the packaged deduction table and "
                    "freezing evidence without registry entries")
        _fallback = CreditService(None, load_credit_params())
    return _fallback


async def on_alert_confirmed(conn: psycopg.AsyncConnection[Any], alert_id: int, actor: Any, *,
                             disposition: str | None = None) -> None:
    """Freeze the evidence of a confirmed alert and write its credit deduction (or its
    zero-point ``first_offence`` entry for ``disposition="first_offence_no_penalty"``).

    Call inside the transaction that confirms the alert. ``actor`` is any object with
    ``token_id``, ``role`` and ``label`` attributes (missing ones are recorded as null).
    Idempotent: nothing happens when the alert's deduction or first offence already stands.
    Raises :class:`credit.errors.EntryNotFound` when the alert does not exist.
    """
    await installed().on_alert_confirmed(conn, alert_id, actor, disposition=disposition)
